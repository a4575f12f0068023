#!/usr/bin/env bash
# Installs Schemathesis (PyPI), which the OpenAPI test (tests/openapi.rs)
# runs against a real `paddock serve`, into the venv
# tests/schemathesis/.venv, pinned by tests/schemathesis/requirements.txt.
# Idempotent and quick when up to date: a stamp file holds the hash of the
# pin file and of the Python version, and nothing is done while it matches
# and the program is there. `--force` reinstalls.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dir="$root/tests/schemathesis"
stamp="$dir/.installed-stamp"

force=0
if [ "${1:-}" = "--force" ]; then force=1; fi

if ! command -v python3 >/dev/null 2>&1; then
    echo "schemathesis: python3 not found; the OpenAPI test needs Python 3 (with venv)" >&2
    exit 1
fi

want="$(cd "$dir" && { sha256sum requirements.txt; python3 --version; } | sha256sum | cut -d' ' -f1)"

installed() {
    [ -x "$dir/.venv/bin/schemathesis" ]
}

if [ "$force" -eq 0 ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && installed; then
    exit 0
fi

rm -f "$stamp"
echo "schemathesis: installing Schemathesis into tests/schemathesis/.venv (pip)"
if [ ! -x "$dir/.venv/bin/python" ]; then
    if ! python3 -m venv "$dir/.venv"; then
        rm -rf "$dir/.venv"
        echo "schemathesis: python3 -m venv failed; install Python's venv module (Debian: apt-get install python3-venv)" >&2
        exit 1
    fi
fi
"$dir/.venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$dir/requirements.txt"

if ! installed; then
    echo "schemathesis: the install finished but tests/schemathesis/.venv/bin/schemathesis is missing" >&2
    exit 1
fi
echo "$want" >"$stamp"
echo "schemathesis: done"
