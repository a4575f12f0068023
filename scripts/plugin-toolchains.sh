#!/usr/bin/env bash
# Installs the toolchains that build Paddock plugins written in Python and
# JavaScript, from the registries, pinned by files in the SDKs:
#   - componentize-py (PyPI, sdk/python/requirements-build.txt) into the venv
#     sdk/python/.venv;
#   - componentize-js, jco (its WASI WIT files) and esbuild (npm,
#     sdk/js/package.json + package-lock.json, `npm ci`) into
#     sdk/js/node_modules, which `paddock-js build` (sdk/js/bin) uses.
# The Python and JavaScript walkthroughs and the polyglot capability tests
# build their components with these. Idempotent and quick when up to date: a
# stamp file holds the hash of the pin files (and of the Node and Python
# versions), and nothing is done while it matches and the tools are there.
# `--force` reinstalls.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
py="$root/sdk/python"
js="$root/sdk/js"
stamp="$root/sdk/.toolchains-stamp"

force=0
if [ "${1:-}" = "--force" ]; then force=1; fi

for tool in node npm python3; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "plugin-toolchains: $tool not found; building Python and JavaScript plugins needs Node.js (>= 20) with npm and Python 3 (with venv)" >&2
        exit 1
    fi
done

want="$(
    {
        sha256sum "$py/requirements-build.txt" "$js/package.json" "$js/package-lock.json"
        node --version
        python3 --version
    } | sha256sum | cut -d' ' -f1
)"

installed() {
    [ -x "$py/.venv/bin/componentize-py" ] &&
        [ -f "$js/node_modules/@bytecodealliance/componentize-js/package.json" ] &&
        [ -d "$js/node_modules/@bytecodealliance/jco/lib/wit/builtin" ] &&
        [ -f "$js/node_modules/esbuild/package.json" ]
}

if [ "$force" -eq 0 ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && installed; then
    exit 0
fi

rm -f "$stamp"
echo "plugin-toolchains: installing componentize-py into sdk/python/.venv (pip)"
if [ ! -x "$py/.venv/bin/python" ]; then
    if ! python3 -m venv "$py/.venv"; then
        rm -rf "$py/.venv"
        echo "plugin-toolchains: python3 -m venv failed; install Python's venv module (Debian: apt-get install python3-venv)" >&2
        exit 1
    fi
fi
"$py/.venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$py/requirements-build.txt"

echo "plugin-toolchains: installing componentize-js, jco and esbuild into sdk/js/node_modules (npm ci)"
(cd "$js" && npm ci --no-audit --no-fund --loglevel=error)

if ! installed; then
    echo "plugin-toolchains: the install finished but a toolchain is missing (sdk/python/.venv/bin/componentize-py, sdk/js/node_modules)" >&2
    exit 1
fi
echo "$want" >"$stamp"
echo "plugin-toolchains: done"
