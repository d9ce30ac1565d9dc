#!/usr/bin/env python3
"""Writes target/field/mcp.json (1MCP / Claude Desktop shape) for the 14 servers installed by setup.sh,
target/field/mcp-broken.json (the same 14 plus 3 broken ones), and the target/field/ws/ fixtures.
Standard library only; setup.sh runs it. usage: gen-config.py"""
import json, os, sqlite3, subprocess

# <repo>/target/field, from this file's location (<repo>/bench/field/gen-config.py)
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__))))
R = os.path.join(REPO, "target", "field")
BIN = f"{R}/npm/node_modules/.bin"
PY = f"{R}/py/bin"          # mcp>=2.3: time, fetch, git
PY1 = f"{R}/py-mcp1/bin"    # mcp<2:    calculator, shell, sqlite (2025.4.25 says mcp>=1.6 but breaks on mcp 2.x)
WS = f"{R}/ws"
NODE_PATH = f"{R}/node22/node_modules/.bin:/usr/local/bin:/usr/bin:/bin"  # Node 22.23.3 from the npm package node@22.23.3
PLAIN_PATH = "/usr/local/bin:/usr/bin:/bin"

# fixtures
os.makedirs(f"{WS}/files", exist_ok=True)
os.makedirs(f"{WS}/home", exist_ok=True)
with open(f"{WS}/files/hello.txt", "w") as f:
    f.write("hello from fourteen\n")
if not os.path.isdir(f"{WS}/repo/.git"):
    os.makedirs(f"{WS}/repo", exist_ok=True)
    g = lambda *a: subprocess.run(["git", "-C", f"{WS}/repo", *a], check=True, capture_output=True)
    g("init", "-b", "main")
    with open(f"{WS}/repo/README.md", "w") as f:
        f.write("# bench repo\n")
    g("add", "README.md")
    g("-c", "user.name=bench", "-c", "user.email=bench@localhost", "-c", "commit.gpgsign=false",
      "commit", "-m", "initial commit")
for db in ("mcp-sqlite.db", "sqlite.db"):
    c = sqlite3.connect(f"{WS}/{db}")
    c.execute("create table if not exists notes(id integer primary key, body text)")
    if not c.execute("select count(*) from notes").fetchone()[0]:
        c.execute("insert into notes(body) values ('hello')")
    c.commit(); c.close()

node_env = {"PATH": NODE_PATH}
servers = {
    "filesystem": {"command": f"{BIN}/mcp-server-filesystem", "args": [f"{WS}/files"], "env": node_env},
    "memory": {"command": f"{BIN}/mcp-server-memory", "args": [],
               "env": {**node_env, "MEMORY_FILE_PATH": f"{WS}/memory.jsonl"}},
    "everything": {"command": f"{BIN}/mcp-server-everything", "args": ["stdio"], "env": node_env},
    "sequential-thinking": {"command": f"{BIN}/mcp-server-sequential-thinking", "args": [], "env": node_env},
    # HOME redirected so its ~/.claude-server-commander config/state lands in ws/home, not the real HOME
    "desktop-commander": {"command": f"{BIN}/desktop-commander", "args": ["--no-onboarding"],
                          "env": {**node_env, "HOME": f"{WS}/home"}},
    "mcp-sqlite": {"command": f"{BIN}/mcp-sqlite-server", "args": [f"{WS}/mcp-sqlite.db"], "env": node_env},
    "mastra-docs": {"command": f"{BIN}/mcp-docs-server", "args": [], "env": node_env},
    "time": {"command": f"{PY}/mcp-server-time", "args": ["--local-timezone", "UTC"], "env": {"PATH": PLAIN_PATH}},
    "fetch": {"command": f"{PY}/mcp-server-fetch", "args": [], "env": {"PATH": PLAIN_PATH}},
    "git": {"command": f"{PY}/mcp-server-git", "args": ["--repository", f"{WS}/repo"], "env": {"PATH": PLAIN_PATH}},
    "sqlite": {"command": f"{PY1}/mcp-server-sqlite", "args": ["--db-path", f"{WS}/sqlite.db"], "env": {"PATH": PLAIN_PATH}},
    "calculator": {"command": f"{PY1}/mcp-server-calculator", "args": [], "env": {"PATH": PLAIN_PATH}},
    "shell": {"command": f"{PY1}/mcp-shell-server", "args": [],
              "env": {"PATH": PLAIN_PATH, "ALLOW_COMMANDS": "ls,cat,echo,pwd"}},
    "hello-world": {"command": f"{BIN}/mcp-hello-world", "args": [], "env": node_env},
}
# three servers that never become ready: missing binary, exits 3 with a stderr line, never answers
broken = {
    "broken-missing": {"command": "/nonexistent/mcp-server"},
    "broken-exits": {"command": "/bin/sh", "args": ["-c", "echo bad config >&2; exit 3"]},
    "broken-silent": {"command": "/bin/sh", "args": ["-c", "exec sleep 3600"], "connectionTimeout": 5000},
}
for name, cfg in (("mcp.json", servers), ("mcp-broken.json", {**servers, **broken})):
    with open(f"{R}/{name}", "w") as f:
        json.dump({"mcpServers": cfg}, f, indent=2)
        f.write("\n")
    print(f"wrote {R}/{name} with {len(cfg)} servers")
