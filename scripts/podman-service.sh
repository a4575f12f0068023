#!/usr/bin/env bash
# Starts Podman's Docker-compatible API on a private socket, with a private
# configuration and image store under DIR (nothing in /etc/containers or the
# user's own Podman setup is touched), and prints the DOCKER_HOST to use:
#
#   export DOCKER_HOST=$(scripts/podman-service.sh ~/.local/share/paddock/podman)
#
# Idempotent: when the socket already answers, only prints its address.
# The service keeps running in the background (`--time=0`: no idle exit);
# its pid is in DIR/podman.pid and its log in DIR/podman.log. Commands that
# use the same store (e.g. `scripts/sandbox-image.sh --engine podman`) need
# the environment printed by `scripts/podman-service.sh --env DIR`.
set -euo pipefail

usage() {
    echo "usage: $0 [--env] DIR" >&2
    echo "  starts 'podman system service' on unix://DIR/podman.sock and prints that address;" >&2
    echo "  --env prints the CONTAINERS_CONF/CONTAINERS_STORAGE_CONF exports for DIR instead" >&2
    exit 2
}

print_env=0
if [ "${1:-}" = "--env" ]; then
    print_env=1
    shift
fi
[ $# -eq 1 ] || usage
dir=$1

if ! command -v podman >/dev/null 2>&1; then
    echo "podman-service: podman is not installed (Debian/Ubuntu: apt-get install podman runc catatonit)" >&2
    exit 1
fi

mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
# The service (and conmon, which writes files such as `oom` to its working
# directory) runs from DIR, not from wherever this was called.
cd "$dir"
sock="$dir/podman.sock"
conf="$dir/containers.conf"
storage="$dir/storage.conf"

# Private configuration: runc with cgroupfs works both with and without
# systemd (containers, CI); no default ulimits (the sandbox sets its own);
# events to a file (no journald needed).
cat >"$conf.tmp" <<CONF
[containers]
default_ulimits = []

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
CONF
mv "$conf.tmp" "$conf"

cat >"$storage.tmp" <<CONF
[storage]
driver = "overlay"
graphroot = "$dir/root"
runroot = "$dir/run"
CONF
mv "$storage.tmp" "$storage"

if [ "$print_env" = 1 ]; then
    echo "export CONTAINERS_CONF='$conf'"
    echo "export CONTAINERS_STORAGE_CONF='$storage'"
    exit 0
fi

export CONTAINERS_CONF="$conf"
export CONTAINERS_STORAGE_CONF="$storage"

answers() {
    if command -v curl >/dev/null 2>&1; then
        curl -fsS --max-time 2 --unix-socket "$sock" http://d/_ping >/dev/null 2>&1
    else
        [ -S "$sock" ] && podman --url "unix://$sock" version >/dev/null 2>&1
    fi
}

if ! answers; then
    # Only one starter at a time (tests run in parallel).
    exec 9>"$dir/podman.lock"
    if command -v flock >/dev/null 2>&1; then
        flock 9
    fi
    if ! answers; then
        rm -f "$sock"
        nohup podman system service --time=0 "unix://$sock" >>"$dir/podman.log" 2>&1 </dev/null 9>&- &
        echo $! >"$dir/podman.pid"
        for _ in $(seq 1 150); do
            if answers; then
                break
            fi
            if ! kill -0 "$(cat "$dir/podman.pid")" 2>/dev/null; then
                echo "podman-service: 'podman system service' exited; its log ($dir/podman.log) ends with:" >&2
                tail -n 20 "$dir/podman.log" >&2
                exit 1
            fi
            sleep 0.2
        done
        if ! answers; then
            echo "podman-service: no answer on $sock after 30 s; see $dir/podman.log" >&2
            exit 1
        fi
    fi
fi
echo "unix://$sock"
