#!/usr/bin/env bash
# Lints the GitHub Actions workflows (.github/workflows/*.yml) with
# actionlint from PyPI (installed by scripts/eval-tools.sh into
# $TARGET_DIR/eval-tools/.venv; `make test` runs both), which also runs
# Debian's shellcheck (installed by scripts/setup-test.sh) on every `run:`
# script, then checks the
# linter itself: broken copies of eval.yml, each with one mistake it must
# report, so that the lint cannot pass by checking nothing.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
target_dir="${CARGO_TARGET_DIR:-target}"
case "$target_dir" in
    /*) ;;
    *) target_dir="$root/$target_dir" ;;
esac
actionlint="$target_dir/eval-tools/.venv/bin/actionlint"
if [ ! -x "$actionlint" ]; then
    echo "lint-workflows: $actionlint is missing: install it with scripts/eval-tools.sh (make test does)" >&2
    exit 1
fi

shopt -s nullglob
workflows=("$root"/.github/workflows/*.yml "$root"/.github/workflows/*.yaml)
if [ "${#workflows[@]}" -eq 0 ]; then
    echo "lint-workflows: FAILED: no workflow under $root/.github/workflows" >&2
    exit 1
fi
if ! out="$(cd "$root" && "$actionlint" -no-color -oneline "${workflows[@]#"$root"/}" 2>&1)"; then
    echo "lint-workflows: FAILED: actionlint found mistakes:" >&2
    echo "$out" >&2
    exit 1
fi
echo "lint-workflows: ${#workflows[@]} workflow file(s) pass actionlint ($("$actionlint" -version | head -n1))"

# The self-check: each broken copy must fail, with the message expected.
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
mkdir -p "$scratch/.github/workflows"
eval_yml="$root/.github/workflows/eval.yml"
broken=0
expect_failure() {
    local name="$1" pattern="$2" python_edit="$3"
    local copy="$scratch/.github/workflows/eval.yml"
    if ! python3 - "$eval_yml" "$copy" "$python_edit" <<'PY'
import sys
src, dst, edit = sys.argv[1], sys.argv[2], sys.argv[3]
text = open(src).read()
old, new = edit.split("\n=>\n")
if old not in text:
    sys.exit(f"lint-workflows: the self-check's edit does not apply to eval.yml any more: {old!r}")
open(dst, "w").write(text.replace(old, new, 1))
PY
    then
        exit 1
    fi
    local got
    if got="$(cd "$scratch" && "$actionlint" -no-color -oneline .github/workflows/eval.yml 2>&1)"; then
        echo "lint-workflows: FAILED: self-check '$name': actionlint passed a broken copy of eval.yml" >&2
        exit 1
    fi
    if ! grep -qE -- "$pattern" <<<"$got"; then
        echo "lint-workflows: FAILED: self-check '$name': actionlint failed, but not with /$pattern/:" >&2
        echo "$got" >&2
        exit 1
    fi
    broken=$((broken + 1))
}
# A secret in a job-level `if` (it is not available there).
expect_failure "secret in a job's if" 'context "secrets" is not allowed here' \
    $'    runs-on: ubuntu-24.04\n=>\n    if: secrets.OPENAI_API_KEY != \'\'\n    runs-on: ubuntu-24.04'
# A step output that no step sets.
expect_failure "unknown step" 'property "nokey" is not defined' \
    $'      - name: Check out\n        if: steps.key.outputs.run == \'true\'\n=>\n      - name: Check out\n        if: steps.nokey.outputs.run == \'true\''
# A job without a runner.
expect_failure "no runs-on" '"runs-on" section is missing' \
    $'    runs-on: ubuntu-24.04\n=>\n'
# A broken expression.
expect_failure "bad expression" 'parse|unexpected' \
    $'${{ github.event.pull_request.number }}\n=>\n${{ github.event.pull_request.number == }}'
# An unquoted variable in a `run:` script (shellcheck, through actionlint).
if command -v shellcheck >/dev/null 2>&1; then
    expect_failure "unquoted variable" 'SC2086' \
        $'mkdir -p "$RUNNER_TEMP/repos"\n=>\nmkdir -p $RUNNER_TEMP/repos'
else
    echo "lint-workflows: shellcheck is not installed: the run: scripts were not checked (scripts/setup-test.sh installs it)" >&2
    exit 1
fi
echo "lint-workflows: self-check: actionlint refused all $broken broken copies of eval.yml"
