#!/usr/bin/env bash
# usage: bench/field/run.sh BIN [CONFIG | --broken]   -- one benchmark run of 1mcp.
# CONFIG defaults to target/field/mcp.json (the 14 servers); --broken = target/field/mcp-broken.json
# (the 14 plus 3 broken servers). Run bench/field/setup.sh first.
# The work is in bench.py (stdlib Python: one process does the launch, the 50 ms /health/ready
# polling, /health, the MCP client over /mcp, RSS, SIGTERM and the leftover check).
# Daemon config dir: target/field/cfgdir; artefacts: target/field/runs/<stamp>-<pid>/;
# one summary line per run appended to target/field/results.txt.
# env: READY_MAX_S=120 STOP_MAX_S=10 POLL_MS=50
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
[ $# -ge 1 ] || { sed -n '2,8p' "$0" >&2; exit 2; }
exec python3 "$HERE/bench.py" "$@"
