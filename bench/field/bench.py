#!/usr/bin/env python3
"""One benchmark run of 1mcp in front of the servers of CONFIG (stdlib only; run.sh calls this).

usage: bench.py BIN [CONFIG | --broken]
       CONFIG defaults to target/field/mcp.json; --broken means target/field/mcp-broken.json
       (the 14 plus 3 broken servers). Both are written by setup.sh / gen-config.py.
env:   READY_MAX_S (120), STOP_MAX_S (10), POLL_MS (50)
All paths are under <repo>/target/field (R below), computed from this file's location.

Steps: start `BIN serve --no-auth -c CONFIG --host 127.0.0.1 --port 0 -d R/cfgdir` (stderr ->
daemon.stderr.log; ONE_MCP_* variables are removed from its environment);
read the port from CFGDIR/server.pid (JSON, must name our pid); poll GET /health/ready every
POLL_MS until 200; GET /health; MCP client over streamable HTTP at /mcp (initialize 2025-06-18,
notifications/initialized, tools/list); RSS of the daemon and of its process tree; SIGTERM to the
daemon, wait at most STOP_MAX_S, then check that none of its former descendants is still alive
(survivors are ours: they are reported, then stopped by PID). Counts INFO/WARN/ERROR lines.

Everything runs in this one process (no fork per poll), so the poller competes as little as
possible with the 14 servers for the 2 cores while they start.
If this process gets SIGTERM/SIGINT (e.g. from repeat.sh's timeout), it stops the daemon and
its former descendants by PID before exiting.
Artefacts: R/runs/<stamp>-<pid>/; summary line appended to R/results.txt.
"""
import datetime, http.client, json, os, re, signal, subprocess, sys, time

# <repo>/target/field, from this file's location (<repo>/bench/field/bench.py)
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__))))
R = os.path.join(REPO, "target", "field")
LEVEL_RE = re.compile(r"^(\S+)\s+(TRACE|DEBUG|INFO|WARN|ERROR)\s+(.*)$")


# ---------- /proc helpers ----------
def proc_stat(pid):
    try:
        s = open(f"/proc/{pid}/stat").read()
    except OSError:
        return None
    f = s[s.rindex(")") + 2:].split()
    tick = os.sysconf("SC_CLK_TCK")
    return {"state": f[0], "ppid": int(f[1]), "start": f[19], "comm": s[s.index("(") + 1:s.rindex(")")],
            "cpu_ms": (int(f[11]) + int(f[12])) * 1000 // tick}


def descendants(root):
    kids = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            st = proc_stat(d)
            if st:
                kids.setdefault(st["ppid"], []).append(int(d))
    out, todo = [], [root]
    while todo:
        for k in kids.get(todo.pop(), []):
            out.append(k)
            todo.append(k)
    return out


def status_kb(pid, key="VmRSS"):
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def pss_kb(pid):
    try:
        for line in open(f"/proc/{pid}/smaps_rollup"):
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def busy_ms():
    """Non-idle CPU time of the whole machine so far (all cores), from /proc/stat."""
    f = [int(x) for x in open("/proc/stat").readline().split()[1:]]
    return (sum(f[:8]) - f[3] - f[4]) * 1000 // os.sysconf("SC_CLK_TCK")


def cmdline(pid):
    try:
        return open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


# ---------- HTTP ----------
def http_get(port, path, timeout=1.0):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


class McpClient:
    """Streamable HTTP: JSON or SSE answers; session id from the Mcp-Session-Id header."""

    def __init__(self, port, path="/mcp"):
        self.port, self.path, self.session, self.proto = port, path, None, "2025-06-18"

    def request(self, method, body=None, timeout=60):
        h = {"Accept": "application/json, text/event-stream"}
        if body is not None:
            h["Content-Type"] = "application/json"
        if self.session:
            h["Mcp-Session-Id"] = self.session
            h["MCP-Protocol-Version"] = self.proto
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            c.request(method, self.path, body=json.dumps(body).encode() if body is not None else None, headers=h)
            r = c.getresponse()
            data = r.read().decode()
            if r.getheader("Mcp-Session-Id"):
                self.session = r.getheader("Mcp-Session-Id")
            return r.status, r.getheader("Content-Type") or "", data
        finally:
            c.close()

    def call(self, msg):
        status, ctype, data = self.request("POST", msg)
        if "id" not in msg:
            return status, None
        if status != 200:
            raise RuntimeError(f"{msg['method']}: HTTP {status}: {data[:300]}")
        if ctype.startswith("text/event-stream"):
            for event in data.replace("\r\n", "\n").split("\n\n"):
                payload = "\n".join(l[5:].lstrip() for l in event.split("\n") if l.startswith("data:"))
                if payload:
                    m = json.loads(payload)
                    if m.get("id") == msg["id"]:
                        return status, m
            raise RuntimeError(f"{msg['method']}: no answer with id {msg['id']} in SSE: {data[:300]!r}")
        return status, json.loads(data)

    def list_tools(self):
        _, init = self.call({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": self.proto, "capabilities": {},
            "clientInfo": {"name": "fourteen-bench", "version": "1"}}})
        if "error" in init:
            raise RuntimeError(f"initialize: {init['error']}")
        self.proto = init["result"].get("protocolVersion", self.proto)
        st, _ = self.call({"jsonrpc": "2.0", "method": "notifications/initialized"})
        t0 = time.monotonic()
        tools, cursor, n = [], None, 0
        while True:
            n += 1
            _, r = self.call({"jsonrpc": "2.0", "id": 1 + n, "method": "tools/list",
                              "params": {"cursor": cursor} if cursor else {}})
            if "error" in r:
                raise RuntimeError(f"tools/list: {r['error']}")
            tools += r["result"].get("tools", [])
            cursor = r["result"].get("nextCursor")
            if not cursor or n >= 100:
                break
        ms = (time.monotonic() - t0) * 1000
        try:
            self.request("DELETE", timeout=5)
        except OSError:
            pass
        return {"tools": [t["name"] for t in tools], "tools_list_ms": round(ms), "pages": n,
                "initialized_status": st, "serverInfo": init["result"].get("serverInfo"),
                "protocolVersion": self.proto}


def log_ts_ms(ts):
    return datetime.datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp() * 1000


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    if len(sys.argv) > 3:
        sys.exit(__doc__)
    binary = os.path.realpath(sys.argv[1])
    arg = sys.argv[2] if len(sys.argv) > 2 else f"{R}/mcp.json"
    config = os.path.realpath(f"{R}/mcp-broken.json" if arg == "--broken" else arg)
    if not os.path.isfile(config):
        sys.exit(f"no config {config}: run bench/field/setup.sh first")
    cfgdir = f"{R}/cfgdir"
    ready_max = float(os.environ.get("READY_MAX_S", "120"))
    stop_max = float(os.environ.get("STOP_MAX_S", "10"))
    poll = float(os.environ.get("POLL_MS", "50")) / 1000
    if not os.access(binary, os.X_OK):
        sys.exit(f"not executable: {binary}")
    nservers = len(json.load(open(config))["mcpServers"])
    out = f"{R}/runs/{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    os.makedirs(out, exist_ok=True)
    os.makedirs(cfgdir, exist_ok=True)
    pidfile = f"{cfgdir}/server.pid"
    try:
        os.unlink(pidfile)
    except FileNotFoundError:
        pass
    logpath = f"{out}/daemon.stderr.log"
    argv = [binary, "serve", "--no-auth", "-c", config, "--host", "127.0.0.1", "--port", "0", "-d", cfgdir]
    env = {k: v for k, v in os.environ.items() if not k.startswith("ONE_MCP_")}
    res = {"bin": binary, "config": config, "out": out, "argv": argv}

    with open(logpath, "wb") as err, open(f"{out}/daemon.stdout.log", "wb") as so:
        res["load1"] = float(open("/proc/loadavg").read().split()[0])
        busy0 = busy_ms()
        t0_wall = time.time() * 1000
        t0 = time.monotonic()
        d = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=so, stderr=err, env=env)
    res["pid"] = d.pid
    ms = lambda: round((time.monotonic() - t0) * 1000)

    def stop_all():
        """Stop the daemon (SIGTERM, at most STOP_MAX_S, then SIGKILL), then any of its former
        descendants still alive (same pid and start time), by PID."""
        if d.poll() is not None:
            return
        tree = [(p, (proc_stat(p) or {}).get("start")) for p in descendants(d.pid)]
        d.send_signal(signal.SIGTERM)
        try:
            d.wait(stop_max)
        except subprocess.TimeoutExpired:
            d.kill()
            d.wait()
        for p, start in tree:
            st = proc_stat(p)
            if start and st and st["start"] == start and st["state"] != "Z":
                try:
                    os.kill(p, signal.SIGKILL)
                except ProcessLookupError:
                    pass

    def on_signal(signum, _frame):
        raise SystemExit(128 + signum)  # runs the finally below, which stops everything by PID

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    deadline = t0 + ready_max

    def fail(why):
        res["fail"] = why
        json.dump(res, open(f"{out}/result.json", "w"), indent=1)
        stop_all()
        line = f"FAIL {why} out={out}"
        print(line)
        open(f"{R}/results.txt", "a").write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {line}\n")
        sys.exit(1)

    try:
        # 1. server.pid (JSON: pid, url, port, host, transport, startedAt, configDir, logFile)
        port = None
        while time.monotonic() < deadline:
            if d.poll() is not None:
                fail(f"daemon exited early rc={d.returncode}; see {logpath}")
            try:
                info = json.load(open(pidfile))
                if info.get("pid") == d.pid:
                    port = info["port"]
                    break
            except (OSError, ValueError, KeyError):
                pass
            time.sleep(0.01)
        if port is None:
            fail(f"no server.pid naming pid {d.pid} within {ready_max:.0f}s")
        res["pidfile_ms"] = ms()
        res["listen_ms"] = round(log_ts_ms(info["startedAt"]) - t0_wall)
        json.dump(info, open(f"{out}/server.pid.json", "w"), indent=1)

        # 2. /health/ready every POLL_MS until 200
        code, polls = None, 0
        while time.monotonic() < deadline:
            if d.poll() is not None:
                fail(f"daemon exited while starting rc={d.returncode}; see {logpath}")
            polls += 1
            try:
                code, body = http_get(port, "/health/ready")
            except OSError:
                code = None
            if code == 200:
                break
            time.sleep(poll)
        if code != 200:
            fail(f"/health/ready not 200 within {ready_max:.0f}s (last {code})")
        res["ready_ms"] = ms()
        busy_ready = busy_ms()
        res["ready_polls"] = polls
        open(f"{out}/ready.json", "wb").write(body)

        # 3. /health
        hcode, hbody = http_get(port, "/health", timeout=5)
        open(f"{out}/health.json", "wb").write(hbody)
        health = json.loads(hbody)
        details = health["servers"]["details"]
        res["health_code"], res["health_status"] = hcode, health.get("status")
        res["servers"] = [{k: s.get(k) for k in ("name", "status", "tools", "error", "restarts") if s.get(k) is not None}
                          for s in details]
        res["servers_ready"] = sum(1 for s in details if s.get("status") == "ready")
        res["health_tools"] = sum(s.get("tools", 0) for s in details)

        # 4. MCP client
        try:
            mcp = McpClient(port).list_tools()
            json.dump(mcp, open(f"{out}/tools.json", "w"), indent=1)
            res["tools"], res["tools_list_ms"] = len(mcp["tools"]), mcp["tools_list_ms"]
        except Exception as ex:  # noqa: BLE001 - report and go on to the rest of the run
            res["tools"], res["tools_list_ms"], res["mcp_error"] = "ERR", "-", str(ex)

        # 5. memory
        kids = descendants(d.pid)
        res["rss_kb"] = status_kb(d.pid)
        res["hwm_kb"] = status_kb(d.pid, "VmHWM")
        res["tree_rss_kb"] = res["rss_kb"] + sum(status_kb(p) for p in kids)
        res["tree_pss_kb"] = pss_kb(d.pid) + sum(pss_kb(p) for p in kids)
        res["procs"] = 1 + len(kids)
        # CPU used so far (user+sys): the daemon itself, and the whole tree (servers' start-up work)
        res["daemon_cpu_ms"] = (proc_stat(d.pid) or {}).get("cpu_ms", 0)
        res["tree_cpu_ms"] = res["daemon_cpu_ms"] + sum((proc_stat(p) or {}).get("cpu_ms", 0) for p in kids)
        # CPU the rest of the machine used between our start and ready (noise: other builds etc.);
        # includes this poller's own few ms
        res["other_cpu_ms"] = max(0, busy_ready - busy0 - res["tree_cpu_ms"])
        names = {}
        for line in open(logpath, errors="replace"):
            m = re.search(r'server process started server="([^"]+)" pid=(\d+)', line)
            if m:
                names[int(m.group(2))] = m.group(1)
        res["children"] = [{"pid": p, "server": names.get(p), "ppid": (proc_stat(p) or {}).get("ppid"),
                            "start": (proc_stat(p) or {}).get("start"), "rss_kb": status_kb(p),
                            "pss_kb": pss_kb(p), "cmd": cmdline(p)[:200]} for p in kids]
        res["children"] = [c for c in res["children"] if c["start"]]

        # 6. stop
        ts = time.monotonic()
        d.send_signal(signal.SIGTERM)
        try:
            res["exit"] = d.wait(stop_max)
        except subprocess.TimeoutExpired:
            res["exit"] = "timeout"
        res["stop_ms"] = round((time.monotonic() - ts) * 1000)
        left = []
        for c in res["children"]:
            st = proc_stat(c["pid"])
            if st and st["start"] == c["start"] and st["state"] != "Z":
                left.append(c)
        res["leftover"] = len(left)
        res["leftover_procs"] = [f"{c['pid']}:{c['server']}:{c['cmd'][:80]}" for c in left]
        for c in left:  # ours: stop by PID so the next run starts clean
            try:
                os.kill(c["pid"], signal.SIGTERM)
            except ProcessLookupError:
                pass
        if left:
            time.sleep(2)
            for c in left:
                st = proc_stat(c["pid"])
                if st and st["start"] == c["start"]:
                    try:
                        os.kill(c["pid"], signal.SIGKILL)
                    except ProcessLookupError:
                        pass
    finally:
        stop_all()  # no-op after a normal run or fail(); on an exception or a signal, stops everything

    # 7. log
    counts = {k: 0 for k in ("TRACE", "DEBUG", "INFO", "WARN", "ERROR")}
    last_ready, last_name = None, "-"
    for line in open(logpath, errors="replace"):
        m = LEVEL_RE.match(line)
        if m:
            counts[m.group(2)] += 1
            if m.group(2) == "INFO" and m.group(3).startswith("server ready"):
                last_ready = log_ts_ms(m.group(1))
                last_name = (re.search(r'server="([^"]+)"', m.group(3)) or [None, "-"])[1]
    res.update({"warn_lines": counts["WARN"], "error_lines": counts["ERROR"], "info_lines": counts["INFO"]})
    res["last_server_ready_log_ms"] = round(last_ready - t0_wall) if last_ready else "-"
    res["last_ready"] = last_name
    json.dump(res, open(f"{out}/result.json", "w"), indent=1)

    for s in res["servers"]:
        extra = f" error={s['error']!r}" if s.get("error") else ""
        extra += f" restarts={s['restarts']}" if s.get("restarts") else ""
        c = next((c for c in res["children"] if c["server"] == s["name"]), None)
        mem = f" rss_kb={c['rss_kb']}" if c else ""
        print(f"  {s['name']:20s} {s['status']:10s} tools={s.get('tools', '-')}{mem}{extra}")
    if res.get("mcp_error"):
        print(f"  mcp client error: {res['mcp_error']}")
    if res["leftover"]:
        print(f"  LEFTOVER after stop: {res['leftover_procs']}")
    summary = (f"ready_ms={res['ready_ms']} rss_kb={res['rss_kb']} tree_rss_kb={res['tree_rss_kb']} "
               f"tools={res['tools']} servers_ready={res['servers_ready']}/{nservers} "
               f"warn_lines={res['warn_lines']} error_lines={res['error_lines']} info_lines={res['info_lines']} "
               f"tree_pss_kb={res['tree_pss_kb']} hwm_kb={res['hwm_kb']} procs={res['procs']} "
               f"listen_ms={res['listen_ms']} last_server_ready_log_ms={res['last_server_ready_log_ms']} last_ready={res['last_ready']} "
               f"daemon_cpu_ms={res['daemon_cpu_ms']} tree_cpu_ms={res['tree_cpu_ms']} other_cpu_ms={res['other_cpu_ms']} load1={res['load1']} "
               f"tools_list_ms={res['tools_list_ms']} health={res['health_status']}/{res['health_code']} "
               f"health_tools={res['health_tools']} stop_ms={res['stop_ms']} exit={res['exit']} "
               f"leftover={res['leftover']} bin={os.path.basename(binary)}")
    print(summary)
    open(f"{out}/summary.txt", "w").write(summary + "\n")
    open(f"{R}/results.txt", "a").write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {summary} out={out}\n")
    sys.exit(0 if res["exit"] != "timeout" and not res["leftover"] else 1)


if __name__ == "__main__":
    main()
