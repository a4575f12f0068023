#!/usr/bin/env bash
# Installs Debian packages with apt-get (through sudo when not root), or
# says plainly what to install when that cannot be done here.
#   scripts/apt-install.sh [--no-install-recommends] WHY PACKAGE...
# WHY names what needs them, for the messages. Nothing to do without
# packages.
set -euo pipefail

opts=()
if [ "${1:-}" = "--no-install-recommends" ]; then
    opts+=(--no-install-recommends)
    shift
fi
why="$1"
shift
[ $# -gt 0 ] || exit 0
if ! command -v apt-get >/dev/null 2>&1; then
    echo "setup: $why needs: $* (Debian/Ubuntu package names); there is no apt-get here: install them with your package manager, then run make again" >&2
    exit 1
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        sudo="sudo"
    else
        echo "setup: $why needs: $*; install them as root: apt-get install $*" >&2
        exit 1
    fi
fi
echo "setup: installing $* ($why)"
export DEBIAN_FRONTEND=noninteractive
if ! $sudo apt-get install -y "${opts[@]}" "$@" >/dev/null; then
    $sudo apt-get update -qq
    $sudo apt-get install -y "${opts[@]}" "$@" >/dev/null
fi
