#!/usr/bin/env bash
# usage: bench/field/repeat.sh BIN [N=3] [CONFIG | --broken]  -- N runs of run.sh, then the median
# of each numeric field (one "MEDIAN of N:" line). Before each run waits (at most QUIET_MAX_S=180 s)
# until the machine is quiet: under QUIET_PCT=15 % of all CPU busy over a 2 s window (other builds
# on a small box skew ready_ms). Each run is bounded by RUN_MAX_S=300 s.
# A run that fails (FAIL line, leftover processes) does not stop the others; the exit status is 1
# if any run failed.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
R=$(cd "$(dirname "$0")/../.." && pwd)/target/field
BIN=${1:?usage: repeat.sh BIN [N] [CONFIG | --broken]}; N=${2:-3}; CONFIG=${3:-$R/mcp.json}
QUIET_MAX_S=${QUIET_MAX_S:-180}; QUIET_PCT=${QUIET_PCT:-15}; RUN_MAX_S=${RUN_MAX_S:-300}
mkdir -p "$R"
LINES=$(mktemp "$R/.repeat.XXXXXX")
RUNOUT=$(mktemp "$R/.repeat-run.XXXXXX")
trap 'rm -f "$LINES" "$RUNOUT"' EXIT
wait_quiet() {
  python3 - "$QUIET_MAX_S" "$QUIET_PCT" <<'PY'
import sys, time
def busy():
    f = [int(x) for x in open("/proc/stat").readline().split()[1:]]
    return sum(f[:8]) - f[3] - f[4], sum(f[:8])
end = time.monotonic() + float(sys.argv[1])
while True:
    b0, t0 = busy(); time.sleep(2); b1, t1 = busy()
    pct = 100 * (b1 - b0) / max(1, t1 - t0)
    if pct < float(sys.argv[2]):
        print(f"quiet: {pct:.0f}% busy"); break
    if time.monotonic() > end:
        print(f"NOT quiet after {sys.argv[1]}s ({pct:.0f}% busy); running anyway"); break
PY
}
failed=0
for i in $(seq 1 "$N"); do
  quiet=$(wait_quiet)
  echo "--- run $i/$N ($quiet)"
  # timeout sends SIGTERM to bench.py, which then stops the daemon and its servers by PID
  rc=0
  timeout "$RUN_MAX_S" "$HERE/run.sh" "$BIN" "$CONFIG" 2>&1 | tee "$RUNOUT" || rc=${PIPESTATUS[0]}
  if [ "$rc" != 0 ]; then echo "--- run $i/$N: exit $rc"; failed=1; fi
  grep '^ready_ms=' "$RUNOUT" >>"$LINES" || true
done
python3 - "$LINES" <<'PY'
import statistics, sys
rows = [dict(kv.split("=", 1) for kv in l.split()) for l in open(sys.argv[1]) if l.strip()]
keys = ["ready_ms", "rss_kb", "tree_rss_kb", "tree_pss_kb", "tools", "servers_ready", "warn_lines", "error_lines",
        "info_lines", "daemon_cpu_ms", "tree_cpu_ms", "other_cpu_ms", "last_server_ready_log_ms", "listen_ms",
        "stop_ms", "leftover"]
out = []
for k in keys:
    vals = [r.get(k, "") for r in rows]
    if k == "servers_ready":
        out.append(f"{k}={'/'.join(sorted(set(vals)))}"); continue
    try:
        m = statistics.median(float(v) for v in vals)
        out.append(f"{k}={int(m) if m == int(m) else round(m, 1)}")
    except ValueError:
        out.append(f"{k}={','.join(vals)}")
print(f"MEDIAN of {len(rows)}: " + " ".join(out))
PY
exit "$failed"
