#!/usr/bin/env bash
# Installs the real OpenID provider that the single sign-on tests
# (tests/oidc.rs) run against: the npm package `oidc-provider` (and `jose`,
# with which the test provider re-signs the ID tokens it tampers with),
# pinned by tests/oidc/package.json + package-lock.json, with `npm ci` into
# tests/oidc/node_modules.
# Idempotent and quick when up to date: a stamp file holds the hash of the
# pin files (and of the Node version), and nothing is done while it matches
# and the package is there. `--force` reinstalls.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dir="$root/tests/oidc"
stamp="$dir/.installed-stamp"

force=0
if [ "${1:-}" = "--force" ]; then force=1; fi

for tool in node npm; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "oidc-provider: $tool not found; the single sign-on tests need Node.js (>= 20) with npm" >&2
        exit 1
    fi
done

want="$(
    cd "$dir"
    {
        sha256sum package.json package-lock.json
        node --version
    } | sha256sum | cut -d' ' -f1
)"

installed() {
    [ -f "$dir/node_modules/oidc-provider/package.json" ] &&
        [ -f "$dir/node_modules/jose/package.json" ]
}

if [ "$force" -eq 0 ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && installed; then
    exit 0
fi

rm -f "$stamp"
echo "oidc-provider: installing the test OpenID provider into tests/oidc (npm ci)"
(
    cd "$dir"
    npm ci --no-audit --no-fund --loglevel=error
)
if ! installed; then
    echo "oidc-provider: the install finished but oidc-provider is missing from tests/oidc/node_modules" >&2
    exit 1
fi
echo "$want" >"$stamp"
echo "oidc-provider: done"
