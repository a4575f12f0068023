#!/usr/bin/env bash
# Installs the evaluation tools, pinned by scripts/eval-tools/requirements.txt,
# into $TARGET_DIR/eval-tools/.venv (target/eval-tools/.venv unless
# CARGO_TARGET_DIR says otherwise): the official SWE-bench harness
# (swebench; `paddock eval run --evaluate swebench` finds this venv's Python
# next to the binary, and the tests load predictions with its loader) and
# actionlint (scripts/lint-workflows.sh). scripts/setup-test.sh runs it, so
# `make test` installs them. Idempotent and quick when up to date: a stamp
# holds the hash of the pin file and of the Python version, and nothing is
# done while it matches and the tools are there. `--force` reinstalls.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
target_dir="${CARGO_TARGET_DIR:-target}"
case "$target_dir" in
    /*) ;;
    *) target_dir="$root/$target_dir" ;;
esac
dir="$target_dir/eval-tools"
venv="$dir/.venv"
pins="$root/scripts/eval-tools/requirements.txt"
stamp="$dir/.installed-stamp"

force=0
if [ "${1:-}" = "--force" ]; then force=1; fi

if ! command -v python3 >/dev/null 2>&1; then
    echo "eval-tools: python3 not found; the SWE-bench harness and actionlint need Python 3.10 or newer (with venv)" >&2
    exit 1
fi
if ! python3 -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)'; then
    echo "eval-tools: Python 3.10 or newer is needed (swebench 5.0.2); this is $(python3 --version)" >&2
    exit 1
fi

installed() {
    [ -x "$venv/bin/actionlint" ] && "$venv/bin/python" -c 'import swebench.harness.run_evaluation' 2>/dev/null
}

want="$( { sha256sum "$pins" | cut -d' ' -f1; python3 --version; } | sha256sum | cut -d' ' -f1)"
if [ "$force" -eq 0 ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x "$venv/bin/actionlint" ] && [ -x "$venv/bin/python" ]; then
    exit 0
fi

rm -f "$stamp"
echo "eval-tools: installing swebench and actionlint into $venv (pip)"
mkdir -p "$dir"
if [ ! -x "$venv/bin/python" ] && ! python3 -m venv "$venv"; then
    rm -rf "$venv"
    echo "eval-tools: python3 -m venv failed; install Python's venv module (Debian: apt-get install python3-venv)" >&2
    exit 1
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$pins"
if ! installed; then
    echo "eval-tools: the install finished but $venv has no actionlint or cannot import swebench.harness.run_evaluation" >&2
    exit 1
fi
echo "$want" >"$stamp"
echo "eval-tools: done"
