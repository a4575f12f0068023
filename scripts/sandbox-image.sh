#!/usr/bin/env bash
# Builds Paddock's default sandbox image (paddock-sandbox:latest) locally,
# from Debian packages only: nothing is pulled from any image registry.
#
#   scripts/sandbox-image.sh [--engine docker|podman] [--tag TAG]
#
# A minimal Debian bookworm root file system is made with debootstrap (needs
# root and the debootstrap package; the only network access is Debian's
# mirror), trimmed (no apt lists or caches, no man pages), cached as a
# tarball under ${PADDOCK_CACHE_DIR:-${XDG_CACHE_HOME:-~/.cache}/paddock},
# then imported into the engine. Idempotent: does nothing when TAG already
# exists built from the same package list; a rebuild from the cached tarball
# takes seconds.
#
# For Podman with a private store (scripts/podman-service.sh), export the
# environment printed by `scripts/podman-service.sh --env DIR` first.
set -euo pipefail

engine=""
tag="paddock-sandbox:latest"
suite="${PADDOCK_SANDBOX_SUITE:-bookworm}"
mirror="${PADDOCK_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
# What agents' commands need: a shell and coreutils (minbase), git, Python,
# make and patch for builds and test runners, procps for ps/pkill, TLS roots;
# and iproute2, whose `ip` Paddock runs (as root, in a privileged exec, before
# any command) to keep a network-enabled container off the host's addresses.
packages="bash,ca-certificates,coreutils,diffutils,findutils,git,grep,iproute2,make,patch,procps,python3,sed,xz-utils"

usage() {
    echo "usage: $0 [--engine docker|podman] [--tag TAG]" >&2
    exit 2
}

while [ $# -gt 0 ]; do
    case "$1" in
        --engine) engine="${2:-}"; shift 2 || usage ;;
        --engine=*) engine="${1#--engine=}"; shift ;;
        --tag) tag="${2:-}"; shift 2 || usage ;;
        --tag=*) tag="${1#--tag=}"; shift ;;
        -h|--help) usage ;;
        *) usage ;;
    esac
done
[ -n "$tag" ] || usage

if [ -z "$engine" ]; then
    if command -v docker >/dev/null 2>&1; then
        engine=docker
    elif command -v podman >/dev/null 2>&1; then
        engine=podman
    else
        echo "sandbox-image: neither docker nor podman is installed" >&2
        exit 1
    fi
fi
case "$engine" in
    docker|podman) ;;
    *) echo "sandbox-image: --engine must be docker or podman, not '$engine'" >&2; exit 2 ;;
esac
if ! command -v "$engine" >/dev/null 2>&1; then
    echo "sandbox-image: $engine is not installed" >&2
    exit 1
fi

# The recipe's identity: a different package list (or suite) is a different
# rootfs and a different image.
recipe="v1 $suite minbase $packages"
hash=$(printf '%s' "$recipe" | sha256sum | cut -c1-16)
label="paddock.sandbox.recipe"

current=$("$engine" image inspect --format "{{ index .Config.Labels \"$label\" }}" "$tag" 2>/dev/null || true)
if [ "$current" = "$hash" ]; then
    echo "sandbox-image: $tag is up to date ($label=$hash)"
    exit 0
fi

cache_dir="${PADDOCK_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/paddock}"
tarball="$cache_dir/sandbox-rootfs-$hash.tar"
mkdir -p "$cache_dir"

if [ ! -f "$tarball" ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "sandbox-image: building the root file system needs root (debootstrap);" >&2
        echo "  run: sudo $0 --engine $engine --tag $tag" >&2
        echo "  (it is then cached in $tarball and later builds need no root)" >&2
        exit 1
    fi
    if ! command -v debootstrap >/dev/null 2>&1; then
        echo "sandbox-image: debootstrap is not installed (Debian/Ubuntu: apt-get install debootstrap)" >&2
        exit 1
    fi
    # One builder at a time per cache dir.
    exec 8>"$cache_dir/sandbox-rootfs.lock"
    if command -v flock >/dev/null 2>&1; then
        flock 8
    fi
    if [ ! -f "$tarball" ]; then
        rootfs=$(mktemp -d "$cache_dir/rootfs.XXXXXX")
        trap 'rm -rf "$rootfs" "$tarball.tmp"' EXIT
        echo "sandbox-image: debootstrap $suite ($packages) into $rootfs; this takes a few minutes" >&2
        if ! debootstrap --variant=minbase --include="$packages" "$suite" "$rootfs" "$mirror" \
            >"$cache_dir/debootstrap.log" 2>&1; then
            echo "sandbox-image: debootstrap failed; the end of $cache_dir/debootstrap.log:" >&2
            tail -n 30 "$cache_dir/debootstrap.log" >&2
            exit 1
        fi
        # Trim: package caches and lists, documentation, logs.
        rm -rf "$rootfs"/var/cache/apt/* "$rootfs"/var/lib/apt/lists/* \
            "$rootfs"/var/cache/debconf/*-old "$rootfs"/var/log/* \
            "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* \
            "$rootfs"/usr/share/locale/* "$rootfs"/tmp/* "$rootfs"/root/.cache
        find "$rootfs"/usr/share/doc -mindepth 2 ! -name copyright -delete 2>/dev/null || true
        find "$rootfs" -name __pycache__ -type d -prune -exec rm -rf {} + 2>/dev/null || true
        # Mount points the engine fills in; the workspace is bind-mounted here.
        mkdir -p "$rootfs/workspace"
        chmod 1777 "$rootfs/tmp"
        tar --numeric-owner -C "$rootfs" -cf "$tarball.tmp" .
        mv "$tarball.tmp" "$tarball"
        rm -rf "$rootfs"
        trap - EXIT
    fi
    exec 8>&-
fi

echo "sandbox-image: importing $tarball as $tag ($engine)" >&2
"$engine" import \
    --change 'CMD ["sleep","infinity"]' \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'WORKDIR /workspace' \
    --change "LABEL $label=$hash" \
    "$tarball" "$tag" >/dev/null
echo "sandbox-image: built $tag ($label=$hash)"
