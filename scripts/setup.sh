#!/usr/bin/env bash
# Installs what building and running Paddock needs and a fresh clone does
# not have (`make run`, `make build`): the wasm32-wasip2 Rust target
# (plugins are WebAssembly components), git, the bubblewrap sandbox with
# what gives a sandbox a network of its own (slirp4netns, iproute2),
# Node.js with npm, and the dashboard's npm packages (its build).
# Test-only tools are installed by scripts/setup-test.sh (`make test`).
# Idempotent and quick when everything is present.
set -euo pipefail
here="$(dirname "${BASH_SOURCE[0]}")"

if ! command -v cargo >/dev/null 2>&1; then
    echo "setup: cargo not found; install Rust with rustup (https://rustup.rs) first" >&2
    exit 1
fi
if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip2; then
    echo "setup: adding the wasm32-wasip2 Rust target"
    rustup target add wasm32-wasip2
fi

# Debian/Ubuntu names. Agents' shell commands run in bubblewrap (the
# daemonless sandbox); slirp4netns and iproute2 (`ip`) give a sandbox that
# is granted the network a network of its own (never the host's).
# Workspaces (worktrees, diffs, merges) run git 2.38 or newer (merge-tree
# --write-tree).
need=()
command -v bwrap >/dev/null 2>&1 || need+=(bubblewrap)
command -v slirp4netns >/dev/null 2>&1 || need+=(slirp4netns)
[ -x /usr/sbin/ip ] || [ -x /sbin/ip ] || command -v ip >/dev/null 2>&1 || need+=(iproute2)
command -v git >/dev/null 2>&1 || need+=(git)
# The dashboard is built with Node.js (>= 20) and npm.
command -v node >/dev/null 2>&1 || need+=(nodejs)
command -v npm >/dev/null 2>&1 || need+=(npm)
if [ ${#need[@]} -gt 0 ]; then
    if ! "$here/apt-install.sh" "running Paddock" "${need[@]}"; then
        case " ${need[*]} " in
            *" nodejs "* | *" npm "*)
                echo "setup: Node.js (>= 20) with npm builds the dashboard: on Debian/Ubuntu \`apt-get install nodejs npm\`; elsewhere https://nodejs.org" >&2
                ;;
        esac
        exit 1
    fi
fi
# slirp4netns opens /dev/net/tun inside the sandbox's user namespace, where
# only the device's "other" bits count. Distributions' udev rules make it
# 0666 (creating an interface still needs CAP_NET_ADMIN in a namespace of
# one's own); a machine without udev keeps the kernel's 0600, and sandboxes
# granted the network then fail with "open(/dev/net/tun): Permission denied".
if [ -c /dev/net/tun ] && [ "$(stat -c %a /dev/net/tun)" != 666 ]; then
    if [ "$(id -u)" = 0 ]; then
        echo "setup: making /dev/net/tun usable from sandboxes (0666, as udev does)"
        chmod 0666 /dev/net/tun
    else
        echo "setup: /dev/net/tun is not 0666, so bubblewrap sandboxes granted the network will fail; as root: chmod 0666 /dev/net/tun" >&2
    fi
fi
node_major="$(node --version | sed -E 's/^v([0-9]+).*/\1/')"
if [ "${node_major:-0}" -lt 20 ] 2>/dev/null; then
    echo "setup: the dashboard needs Node.js 20 or newer; this is $(node --version). Install a newer one (Debian 12's own is 18: use NodeSource, https://github.com/nodesource/distributions, or nvm), then run make again" >&2
    exit 1
fi

# The dashboard's npm packages, from its lock file.
"$here/dashboard-deps.sh"
