#!/usr/bin/env bash
# Validates the deployment files offline (`make validate-deploy`, and
# `make test`), with validators from PyPI pinned by
# deploy/validate/requirements.txt and installed into
# $TARGET_DIR/deploy-validate/.venv (quick when up to date: a stamp holds
# the hash of the pin file and of the Python version):
#   1. deploy/kubernetes: the base and every overlay rendered (the Kustomize
#      subset they use, by deploy/validate/validate.py; also by
#      `kubectl kustomize` when kubectl is installed, which must render the
#      same objects), each object checked against the Kubernetes 1.30 and
#      1.37 schemas that kubernetes-validate ships (strict), then the
#      cross-object checks (selectors, references, probes, security
#      context, grace period, shared workspaces);
#   2. deploy/docker-compose.yml against the Compose specification's schema
#      (check-jsonschema's vendor.compose-spec), then its cross-service checks;
#   3. deploy/Dockerfile parsed by BuildKit's parser (PyPI dockerfile), its
#      files, scripts, crates and toolchain versions, and the image against
#      the manifests (user, port, paths, entrypoint);
#   4. a self-check: broken copies of these files must each fail;
#   5. the paddock.toml files read by Paddock's own parser, when a binary is
#      built.
# The renderings are left in $TARGET_DIR/deploy-validate/rendered.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
target_dir="${CARGO_TARGET_DIR:-target}"
case "$target_dir" in
    /*) ;;
    *) target_dir="$root/$target_dir" ;;
esac
dir="$target_dir/deploy-validate"
venv="$dir/.venv"
pins="$root/deploy/validate/requirements.txt"
stamp="$dir/.installed-stamp"

if ! command -v python3 >/dev/null 2>&1; then
    echo "validate-deploy: python3 not found; validating the deployment files needs Python 3.11 or newer (with venv)" >&2
    exit 1
fi
if ! python3 -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)'; then
    echo "validate-deploy: Python 3.11 or newer is needed (tomllib); this is $(python3 --version)" >&2
    exit 1
fi

want="$( { sha256sum "$pins" | cut -d' ' -f1; python3 --version; } | sha256sum | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ] || [ ! -x "$venv/bin/check-jsonschema" ]; then
    rm -f "$stamp"
    echo "validate-deploy: installing kubernetes-validate, check-jsonschema and dockerfile into $venv (pip)"
    mkdir -p "$dir"
    if [ ! -x "$venv/bin/python" ] && ! python3 -m venv "$venv"; then
        rm -rf "$venv"
        echo "validate-deploy: python3 -m venv failed; install Python's venv module (Debian: apt-get install python3-venv)" >&2
        exit 1
    fi
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$pins"
    echo "$want" >"$stamp"
fi

py="$venv/bin/python"
check="$root/deploy/validate/validate.py"
compose="$root/deploy/docker-compose.yml"

"$py" "$check" kubernetes "$root/deploy" "$dir/rendered"
if ! out="$("$venv/bin/check-jsonschema" --builtin-schema vendor.compose-spec "$compose" 2>&1)"; then
    echo "validate-deploy: FAILED: $compose does not follow the Compose specification:" >&2
    echo "$out" >&2
    exit 1
fi
echo "validate-deploy: docker-compose.yml follows the Compose specification (check-jsonschema, vendor.compose-spec)"
"$py" "$check" compose "$compose"
"$py" "$check" dockerfile "$root/deploy"
"$py" "$check" self-check "$root/deploy" "$venv/bin/check-jsonschema"

# The paddock.toml files, read by Paddock's own config parser when a binary
# is built ($PADDOCK_BIN, else the debug or release build): a key it does not
# know is an error there. `paddock policy rules` loads the config and prints
# the rules, with a throw-away data dir.
# A build older than a source of the host may not know a key the sources
# do: such a binary is passed over (it would fail a good file).
bin="${PADDOCK_BIN:-}"
stale=""
if [ -z "$bin" ]; then
    for b in "$target_dir/debug/paddock" "$target_dir/release/paddock"; do
        [ -x "$b" ] || continue
        if [ -n "$(find "$root/host" -name '*.rs' -newer "$b" -print -quit)" ]; then
            stale="$stale ${b#"$root"/}"
            continue
        fi
        bin="$b"
        break
    done
fi
configs=("$root/deploy/kubernetes/base/paddock.toml" "$root/deploy/kubernetes/overlays/bubblewrap/paddock.toml" "$root/deploy/compose/paddock.toml")
if [ -n "$bin" ]; then
    scratch="$(mktemp -d)"
    trap 'rm -rf "$scratch"' EXIT
    for config in "${configs[@]}"; do
        if ! out="$(env -u PADDOCK_DATABASE_URL -u PADDOCK_CONFIG "$bin" --data-dir "$scratch/data" policy rules --config "$config" 2>&1)"; then
            echo "validate-deploy: FAILED: ${config#"$root"/} is not a configuration $bin accepts:" >&2
            echo "$out" >&2
            exit 1
        fi
    done
    echo "validate-deploy: ${#configs[@]} paddock.toml files accepted by ${bin#"$root"/}"
else
    echo "validate-deploy: no up-to-date paddock binary${stale:+ (older than the sources:$stale)}: the paddock.toml files were checked as TOML only (build, or set PADDOCK_BIN, to check them with Paddock's parser)"
fi
echo "validate-deploy: all deployment files valid"
