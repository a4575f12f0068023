#!/usr/bin/env bash
# Installs the real MCP servers that the tests of Paddock's MCP client run
# against, pinned by the files in tests/mcp-servers/:
#   - npm (package.json + package-lock.json, `npm ci`) into
#     tests/mcp-servers/node_modules: @modelcontextprotocol/server-everything;
#   - PyPI (requirements.txt) into the venv tests/mcp-servers/.venv:
#     mcp-server-time and mcp-server-git.
# Idempotent and quick when up to date: a stamp file holds the hash of the
# pin files (and of the Node and Python versions), and nothing is done while
# it matches and the servers are there. `--force` reinstalls.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dir="$root/tests/mcp-servers"
stamp="$dir/.installed-stamp"

force=0
if [ "${1:-}" = "--force" ]; then force=1; fi

for tool in node npm python3; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "mcp-servers: $tool not found; the MCP tests need Node.js (>= 20) with npm and Python 3 (with venv)" >&2
        exit 1
    fi
done

want="$(
    cd "$dir"
    {
        sha256sum package.json package-lock.json requirements.txt
        node --version
        python3 --version
    } | sha256sum | cut -d' ' -f1
)"

installed() {
    [ -x "$dir/node_modules/.bin/mcp-server-everything" ] &&
        [ -x "$dir/.venv/bin/mcp-server-time" ] &&
        [ -x "$dir/.venv/bin/mcp-server-git" ]
}

if [ "$force" -eq 0 ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && installed; then
    exit 0
fi

rm -f "$stamp"
echo "mcp-servers: installing the test MCP servers into tests/mcp-servers (npm ci, pip)"
(
    cd "$dir"
    npm ci --no-audit --no-fund --loglevel=error
)
if [ ! -x "$dir/.venv/bin/python" ]; then
    if ! python3 -m venv "$dir/.venv"; then
        rm -rf "$dir/.venv"
        echo "mcp-servers: python3 -m venv failed; install Python's venv module (Debian: apt-get install python3-venv)" >&2
        exit 1
    fi
fi
"$dir/.venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$dir/requirements.txt"

if ! installed; then
    echo "mcp-servers: the install finished but a server is missing from tests/mcp-servers" >&2
    exit 1
fi
echo "$want" >"$stamp"
echo "mcp-servers: done"
