#!/usr/bin/env bash
# Installs the pinned non-Rust tooling the end-to-end tests use, under target/ (never globally):
#   target/js  Node 22 (npm package node@22), the official MCP conformance suite 0.1.16 and
#              0.2.0-alpha.12 (as "conformance-next"), server-everything and the TypeScript SDK,
#              exactly as tests/js/package-lock.json pins them (npm ci).
#   target/py  a venv with the official Python SDK (`mcp`), as tests/py/requirements.txt pins it.
#   chromium   Debian's package (/usr/bin/chromium), driven headless by puppeteer-core (pinned in
#              package.json) in the OAuth browser tests; installed with apt-get only when absent
#              and only as root (CI runs as root); otherwise those tests skip loudly (fail in CI).
# Idempotent: a stamp (hash of the pin files) skips work that is already done, so re-runs take
# well under a second. Needs only npm (any Node >= 18 to run it), python3 with venv, and the
# npm and PyPI registries. Prints the paths the tests look for (ONEMCP_NODE, ONEMCP_PYTHON).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
js_src="$root/tests/js"
py_src="$root/tests/py"
js_dir="$root/target/js"
py_dir="$root/target/py"

hash_of() { cat "$@" | sha256sum | cut -d' ' -f1; }

# ---- Node tooling -------------------------------------------------------------------------
js_hash="$(hash_of "$js_src/package.json" "$js_src/package-lock.json")"
js_stamp="$js_dir/.installed"
if [[ -f "$js_stamp" && "$(cat "$js_stamp")" == "$js_hash" && -x "$js_dir/node_modules/.bin/node" ]] &&
  "$js_dir/node_modules/.bin/node" --version >/dev/null 2>&1; then
  echo "setup: target/js is up to date ($("$js_dir/node_modules/.bin/node" --version))"
else
  command -v npm >/dev/null || { echo "setup: npm is required to install target/js" >&2; exit 1; }
  echo "setup: installing into target/js (npm ci, pinned by tests/js/package-lock.json):"
  sed -n '/"dependencies"/,/}/p' "$js_src/package.json" | sed '1d;$d' | sed 's/^ */setup:   /'
  mkdir -p "$js_dir"
  rm -f "$js_stamp"
  cp "$js_src/package.json" "$js_src/package-lock.json" "$js_dir/"
  # node@22 ships its binary through a preinstall script (allowed in package.json allowScripts).
  (cd "$js_dir" && npm ci --no-audit --no-fund --loglevel=error)
  "$js_dir/node_modules/.bin/node" --version >/dev/null
  echo "$js_hash" >"$js_stamp"
fi

# ---- Browser (Debian chromium, for the OAuth browser tests) ---------------------------------
chromium=/usr/bin/chromium
if [[ -x "$chromium" ]]; then
  echo "setup: $chromium is present"
elif [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null; then
  echo "setup: installing Debian's chromium (apt-get, --no-install-recommends)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends chromium >/dev/null
  [[ -x "$chromium" ]] || { echo "setup: apt-get did not install $chromium" >&2; exit 1; }
else
  echo "setup: $chromium is missing and this is not root with apt-get: install Debian's chromium" \
    "(apt-get install chromium); the OAuth browser tests skip until then" >&2
fi

# ---- Python SDK ---------------------------------------------------------------------------
py_hash="$(hash_of "$py_src/requirements.txt")"
py_stamp="$py_dir/.installed"
if [[ -f "$py_stamp" && "$(cat "$py_stamp")" == "$py_hash" && -x "$py_dir/bin/python" ]]; then
  echo "setup: target/py is up to date ($("$py_dir/bin/python" -c 'import importlib.metadata as m; print("mcp", m.version("mcp"))'))"
else
  command -v python3 >/dev/null || { echo "setup: python3 is required to create target/py" >&2; exit 1; }
  echo "setup: creating target/py (venv) with:"
  grep -E '^mcp==' "$py_src/requirements.txt" | sed 's/^/setup:   /'
  rm -rf "$py_dir"
  python3 -m venv "$py_dir"
  "$py_dir/bin/python" -m pip install --quiet --disable-pip-version-check -r "$py_src/requirements.txt"
  echo "$py_hash" >"$py_stamp"
fi

echo "setup: ONEMCP_NODE=$js_dir/node_modules/.bin/node ($("$js_dir/node_modules/.bin/node" --version))"
echo "setup: ONEMCP_PYTHON=$py_dir/bin/python"
if [[ -x "$chromium" ]]; then
  echo "setup: ONEMCP_CHROMIUM=$chromium ($("$chromium" --version 2>/dev/null | head -1))"
fi
