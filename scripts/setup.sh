#!/usr/bin/env bash
# Installs what building and testing Paddock needs and is not in a fresh
# clone: the wasm32-wasip2 Rust target (plugins are WebAssembly components),
# the sandboxes' (and their network's) and the dashboard tests' Debian
# packages, the dashboard's npm packages (from its lock file), the test MCP
# servers and Schemathesis.
# Idempotent and quick when everything is present.
set -euo pipefail

if ! command -v cargo >/dev/null 2>&1; then
    echo "setup: cargo not found; install Rust with rustup (https://rustup.rs) first" >&2
    exit 1
fi
if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip2; then
    echo "setup: adding the wasm32-wasip2 Rust target"
    rustup target add wasm32-wasip2
fi

# Sandboxes: bubblewrap (the daemonless backend) with slirp4netns and
# iproute2 (`ip`), which give a sandbox granted the network a network of its
# own (never the host's), and, for the Docker backend's tests, Podman's
# Docker-compatible API with runc, plus debootstrap to build the sandbox
# image from Debian packages. Debian/Ubuntu names.
need=()
command -v bwrap >/dev/null 2>&1 || need+=(bubblewrap)
command -v slirp4netns >/dev/null 2>&1 || need+=(slirp4netns)
[ -x /usr/sbin/ip ] || [ -x /sbin/ip ] || command -v ip >/dev/null 2>&1 || need+=(iproute2)
command -v podman >/dev/null 2>&1 || need+=(podman)
command -v runc >/dev/null 2>&1 || need+=(runc)
command -v catatonit >/dev/null 2>&1 || need+=(catatonit)
command -v debootstrap >/dev/null 2>&1 || need+=(debootstrap)
# Workspaces (worktrees, diffs, merges) run git 2.38 or newer (merge-tree
# --write-tree).
command -v git >/dev/null 2>&1 || need+=(git)
# The dashboard's end-to-end tests drive Debian's Chromium (never a browser
# download).
[ -x /usr/bin/chromium ] || need+=(chromium)
if [ ${#need[@]} -gt 0 ]; then
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "setup: please install: ${need[*]} (no apt-get here)" >&2
        exit 1
    fi
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
            echo "setup: please install (as root): apt-get install ${need[*]}" >&2
            exit 1
        fi
    fi
    echo "setup: installing ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    if ! $sudo apt-get install -y "${need[@]}" >/dev/null; then
        $sudo apt-get update -qq
        $sudo apt-get install -y "${need[@]}" >/dev/null
    fi
fi

# promtool checks the /metrics exposition and a real Prometheus scrapes it
# in the tests (Debian's prometheus package; its recommends are not needed).
if ! command -v promtool >/dev/null 2>&1; then
    sudo=""
    if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then sudo="sudo"; fi
    echo "setup: installing prometheus (promtool)"
    export DEBIAN_FRONTEND=noninteractive
    if ! $sudo apt-get install -y --no-install-recommends prometheus >/dev/null; then
        $sudo apt-get update -qq
        $sudo apt-get install -y --no-install-recommends prometheus >/dev/null
    fi
fi

# The dashboard's npm packages, from its lock file.
"$(dirname "${BASH_SOURCE[0]}")/dashboard-deps.sh"

# The real MCP servers the MCP client's tests run against (npm, PyPI).
"$(dirname "${BASH_SOURCE[0]}")/mcp-servers.sh"

# Schemathesis (PyPI), which checks the API against its OpenAPI document.
"$(dirname "${BASH_SOURCE[0]}")/schemathesis.sh"
