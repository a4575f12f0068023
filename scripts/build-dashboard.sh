#!/usr/bin/env bash
# Builds the web dashboard (`npm run build`: API types, type check, Vite)
# and puts it in dashboard/dist only when it differs from what is there:
# release builds of the host embed dashboard/dist and cargo rebuilds the
# host whenever its files are rewritten (host/build.rs), so a build that
# gives the same files must leave them untouched. `make dashboard` runs
# this when one of the dashboard's sources changed.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
target_dir="${CARGO_TARGET_DIR:-target}"
case "$target_dir" in
    /*) ;;
    *) target_dir="$root/$target_dir" ;;
esac
staging="$target_dir/dashboard-dist"
dist="$root/dashboard/dist"

rm -rf "$staging"
mkdir -p "$target_dir"
# The arguments go to `vite build`, the last command of the build script.
npm --prefix "$root/dashboard" run build -- --outDir "$staging" --emptyOutDir
if [ -d "$dist" ] && diff -r -q "$staging" "$dist" >/dev/null; then
    rm -rf "$staging"
    echo "build-dashboard: dashboard/dist is up to date (same files)"
else
    rm -rf "$dist"
    mv "$staging" "$dist"
    echo "build-dashboard: dashboard/dist updated"
fi
