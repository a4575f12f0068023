#!/usr/bin/env bash
# Installs what the OCI plugin tests (tests/plugins_oci.rs) run against:
# Debian's `docker-registry` (the CNCF distribution registry, which the
# tests start themselves on a free loopback port with a temporary storage
# directory) and `minisign` (the reference tool, which checks that a
# signature made by `paddock plugin sign` is a real minisign signature).
# Quick when both are there.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
need=()
command -v docker-registry >/dev/null 2>&1 || need+=(docker-registry)
command -v minisign >/dev/null 2>&1 || need+=(minisign)
[ ${#need[@]} -eq 0 ] && exit 0
# --no-install-recommends: the registry's recommends are not needed to
# run it as a plain process.
"$here/apt-install.sh" --no-install-recommends "the OCI plugin tests" "${need[@]}"
