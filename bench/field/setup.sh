#!/usr/bin/env bash
# usage: bench/field/setup.sh   -- installs the 14 servers from the pins in bench/field/ into
# <repo>/target/field/ (idempotent: a part is reinstalled only if missing or its pin file changed),
# then runs gen-config.py (target/field/mcp.json, mcp-broken.json and the ws/ fixtures).
#   target/field/node22   node@22.23.3 from npm (node22/package-lock.json); first in the npm servers' PATH
#   target/field/npm      the 8 npm servers (npm/package-lock.json, installed with npm ci)
#   target/field/py       venv, mcp 2.x: time, fetch, git        (requirements-py.txt)
#   target/field/py-mcp1  venv, mcp<2:   calculator, shell, sqlite (requirements-py-mcp1.txt)
# Needs: npm (any recent version), python3 (3.11 recorded) with venv, git, network to npm and PyPI.
# env: PYTHON=python3  INSTALL_MAX_S=1800 (bound on each npm/pip step)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
R=$(cd "$(dirname "$0")/../.." && pwd)/target/field
PYTHON=${PYTHON:-python3}
T=${INSTALL_MAX_S:-1800}
mkdir -p "$R"

# npm_part DIR CHECK_BIN: copy the pins of bench/field/DIR to target/field/DIR and `npm ci` there
npm_part() {
  local dir=$1 check=$2
  if [ -x "$R/$dir/node_modules/.bin/$check" ] && cmp -s "$HERE/$dir/package-lock.json" "$R/$dir/package-lock.json" \
     && cmp -s "$HERE/$dir/package.json" "$R/$dir/package.json"; then
    echo "setup: $dir: up to date"; return
  fi
  echo "setup: $dir: npm ci"
  mkdir -p "$R/$dir"
  cp "$HERE/$dir/package.json" "$HERE/$dir/package-lock.json" "$R/$dir/"
  timeout "$T" npm ci --prefix "$R/$dir" --no-audit --no-fund
}

# venv_part DIR REQS CHECK_BIN: venv at target/field/DIR with exactly REQS
venv_part() {
  local dir=$1 reqs=$2 check=$3
  if [ -x "$R/$dir/bin/$check" ] && cmp -s "$HERE/$reqs" "$R/$dir/$reqs"; then
    echo "setup: $dir: up to date"; return
  fi
  echo "setup: $dir: pip install -r $reqs"
  rm -rf "$R/$dir"
  "$PYTHON" -m venv "$R/$dir"
  timeout "$T" "$R/$dir/bin/pip" install --disable-pip-version-check --no-input -r "$HERE/$reqs"
  cp "$HERE/$reqs" "$R/$dir/$reqs"   # marks the venv as complete for these pins
}

npm_part node22 node
export PATH="$R/node22/node_modules/.bin:$PATH"   # so install scripts (sqlite3 build) run on Node 22
v=$(node --version)
[ "$v" = v22.23.3 ] || { echo "setup: expected node v22.23.3 from $R/node22, got $v" >&2; exit 1; }
npm_part npm mcp-server-everything
venv_part py requirements-py.txt mcp-server-git
venv_part py-mcp1 requirements-py-mcp1.txt mcp-shell-server
"$PYTHON" "$HERE/gen-config.py"
