#!/usr/bin/env bash
# Installs the dashboard's npm packages with `npm ci` (exactly the lock
# file). Quick when up to date: a stamp holds the hash of the lock file and
# the Node version, and nothing is done while it matches.
set -euo pipefail

dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/../dashboard" && pwd)"
for tool in node npm; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "dashboard-deps: $tool not found; the dashboard needs Node.js (>= 20) with npm" >&2
        exit 1
    fi
done
want="$(cd "$dir" && { sha256sum package.json package-lock.json; node --version; } | sha256sum | cut -d' ' -f1)"
stamp="$dir/node_modules/.paddock-stamp"
if [ -d "$dir/node_modules" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    exit 0
fi
echo "dashboard-deps: npm ci in dashboard/"
(cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
echo "$want" >"$stamp"
