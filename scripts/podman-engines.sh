#!/usr/bin/env bash
# Stand-ins for remote container engines: a Podman Docker-compatible API
# service behind a TLS terminator that requires client certificates (mTLS),
# which is what a `tcp://` Docker engine with `--tlsverify` looks like to a
# client. Podman 4 cannot serve TLS itself, so stunnel terminates it
# (socat's OPENSSL-LISTEN cannot: it sets no session id context, so a
# client resuming a TLS session with its certificate is refused).
#
#   scripts/podman-engines.sh certs DIR
#       makes DIR/certs (once): ca.pem, server.pem + server-key.pem (for
#       127.0.0.1 and localhost), cert.pem + key.pem (the client's);
#   scripts/podman-engines.sh start DIR NAME [IMAGE_STORE]
#       starts engine NAME: `podman system service` on DIR/NAME/podman.sock
#       with a store of its own under DIR/NAME (its own containers, like
#       another machine's), reading images also from IMAGE_STORE (another
#       store's graphroot, read-only: the sandbox image built once), and
#       stunnel on a free port of 127.0.0.1 in front of it (the same port
#       when it is started again); prints its address, tcp://127.0.0.1:PORT;
#   scripts/podman-engines.sh ssh DIR NAME
#       puts an SSH server in front of started engine NAME too (the
#       `ssh://` engine: a private sshd on a free port of 127.0.0.1 whose
#       every session is a pipe to the engine's socket, which is what
#       `docker system dial-stdio` does); prints `ssh://USER@NAME`, NAME
#       being a host of DIR/ssh/config (127.0.0.1 and the port: bollard
#       passes no port to ssh). The client's key is DIR/ssh/id_ed25519;
#       DIR/ssh/bin/ssh is an `ssh` reading DIR/ssh/config, which keeps the
#       engines' host keys in DIR/ssh/known_hosts (put DIR/ssh/bin first on
#       the client's PATH);
#   scripts/podman-engines.sh stop DIR NAME
#       stops engine NAME's TLS terminator and service (the containers it
#       runs are left running, unreachable: a machine that went away);
#   scripts/podman-engines.sh remove DIR NAME
#       stops it and removes every container of its store.
#
# Needs podman, stunnel, openssl and curl, and for `ssh` openssh's client
# and server and socat (scripts/setup-test.sh installs them). Pids and logs are in DIR/NAME.
set -euo pipefail

usage() {
    sed -n '2,34p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

[ $# -ge 2 ] || usage
cmd=$1
dir=$2
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
certs="$dir/certs"

need() {
    for tool in "$@"; do
        if ! command -v "$tool" >/dev/null 2>&1; then
            echo "podman-engines: $tool is not installed (scripts/setup-test.sh installs it)" >&2
            exit 1
        fi
    done
}

make_certs() {
    need openssl
    [ -s "$certs/key.pem" ] && return 0
    mkdir -p "$certs"
    local tmp
    tmp=$(mktemp -d "$certs/.new.XXXXXX")
    (
        cd "$tmp"
        openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=paddock test engines CA" \
            -keyout ca-key.pem -out ca.pem 2>/dev/null
        openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" \
            -keyout server-key.pem -out server.csr 2>/dev/null
        printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' >server.ext
        openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 3650 \
            -extfile server.ext -out server.pem 2>/dev/null
        openssl req -newkey rsa:2048 -nodes -subj "/CN=paddock" \
            -keyout key.pem -out client.csr 2>/dev/null
        printf 'extendedKeyUsage=clientAuth\n' >client.ext
        openssl x509 -req -in client.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 3650 \
            -extfile client.ext -out cert.pem 2>/dev/null
        rm -f ./*.csr ./*.ext ca.srl
        chmod 600 ./*key.pem
    )
    # key.pem last: its presence means the set is complete.
    for f in ca.pem ca-key.pem server.pem server-key.pem cert.pem key.pem; do
        mv "$tmp/$f" "$certs/$f"
    done
    rmdir "$tmp"
}

engine_env() {
    local home=$1
    export CONTAINERS_CONF="$home/containers.conf"
    export CONTAINERS_STORAGE_CONF="$home/storage.conf"
}

# The pid in FILE, if that process is alive.
alive() {
    local pid
    pid=$(cat "$1" 2>/dev/null) || return 1
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

# Stops the process in FILE (SIGTERM, or the signal given), SIGKILL after 5 s.
stop_pid() {
    local pid
    if pid=$(alive "$1"); then
        kill "-${2:-TERM}" "$pid" 2>/dev/null || true
        for _ in $(seq 1 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$1"
}

answers_tls() {
    curl -fsS --max-time 3 --cacert "$certs/ca.pem" --cert "$certs/cert.pem" \
        --key "$certs/key.pem" "https://127.0.0.1:$1/_ping" >/dev/null 2>&1
}

start() {
    local name=$1 images=${2:-}
    if [ -n "$images" ]; then
        images=$(cd "$images" && pwd)
    fi
    need podman stunnel curl python3
    make_certs
    local home="$dir/$name"
    mkdir -p "$home"
    local sock="$home/podman.sock"
    if port=$(cat "$home/port" 2>/dev/null) && alive "$home/stunnel.pid" >/dev/null \
        && alive "$home/podman.pid" >/dev/null && answers_tls "$port"; then
        echo "tcp://127.0.0.1:$port"
        return 0
    fi
    stop_pid "$home/stunnel.pid"
    stop_pid "$home/podman.pid"

    # A store of its own (its containers are its own, as on another
    # machine); the sandbox image read from IMAGE_STORE.
    cat >"$home/containers.conf" <<CONF
[containers]
default_ulimits = []

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
# Each exec session's conmon waits this long for the API to read its exit
# (Docker's 5 minutes by default); the tests read it at once.
exit_command_delay = 5
CONF
    {
        echo "[storage]"
        echo "driver = \"overlay\""
        echo "graphroot = \"$home/root\""
        echo "runroot = \"$home/run\""
        if [ -n "$images" ]; then
            echo "[storage.options]"
            echo "additionalimagestores = [\"$images\"]"
        fi
    } >"$home/storage.conf"
    engine_env "$home"

    rm -f "$sock"
    # The service (and conmon, which writes files to its working
    # directory) runs from the engine's directory.
    cd "$home"
    nohup podman system service --time=0 "unix://$sock" >>"$home/podman.log" 2>&1 </dev/null &
    echo $! >"$home/podman.pid"
    for _ in $(seq 1 150); do
        curl -fsS --max-time 2 --unix-socket "$sock" http://d/_ping >/dev/null 2>&1 && break
        if ! alive "$home/podman.pid" >/dev/null; then
            echo "podman-engines: the service of $name exited; $home/podman.log ends with:" >&2
            tail -n 20 "$home/podman.log" >&2
            exit 1
        fi
        sleep 0.2
    done

    # A restarted engine keeps its address.
    local port
    port=$(cat "$home/port" 2>/dev/null) || port=
    if [ -z "$port" ]; then
        port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
        echo "$port" >"$home/port"
    fi
    # A client without a certificate signed by the CA is refused.
    cat >"$home/stunnel.conf" <<CONF
foreground = yes
pid =
output = $home/stunnel.log
[docker]
accept = 127.0.0.1:$port
connect = $sock
cert = $certs/server.pem
key = $certs/server-key.pem
CAfile = $certs/ca.pem
requireCert = yes
verifyChain = yes
CONF
    nohup stunnel "$home/stunnel.conf" >>"$home/stunnel.log" 2>&1 </dev/null &
    echo $! >"$home/stunnel.pid"
    for _ in $(seq 1 100); do
        answers_tls "$port" && break
        if ! alive "$home/stunnel.pid" >/dev/null; then
            echo "podman-engines: stunnel in front of $name exited; $home/stunnel.log ends with:" >&2
            tail -n 20 "$home/stunnel.log" >&2
            exit 1
        fi
        sleep 0.1
    done
    if ! answers_tls "$port"; then
        echo "podman-engines: $name does not answer on https://127.0.0.1:$port; see $home/*.log" >&2
        exit 1
    fi
    echo "tcp://127.0.0.1:$port"
}

# An SSH server in front of engine NAME.
ssh_front() {
    local name=$1
    need sshd ssh ssh-keygen ssh-keyscan socat python3
    local home="$dir/$name" keys="$dir/ssh"
    local sock="$home/podman.sock"
    if ! alive "$home/podman.pid" >/dev/null; then
        echo "podman-engines: start $name before putting ssh in front of it" >&2
        exit 1
    fi
    mkdir -p "$keys/bin" "$keys/hosts"
    [ -s "$keys/id_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C paddock-tests -f "$keys/id_ed25519"
    [ -s "$keys/host_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C paddock-tests -f "$keys/host_ed25519"
    cp "$keys/id_ed25519.pub" "$keys/authorized_keys"
    cat >"$keys/config" <<CONF
UserKnownHostsFile $keys/known_hosts
Include $keys/hosts/*
CONF
    cat >"$keys/bin/ssh.tmp" <<SH
#!/bin/sh
exec $(command -v ssh) -F $keys/config "\$@"
SH
    chmod +x "$keys/bin/ssh.tmp"
    mv "$keys/bin/ssh.tmp" "$keys/bin/ssh"
    stop_pid "$home/sshd.pid"
    local port
    port=$(cat "$home/ssh_port" 2>/dev/null) || port=
    if [ -z "$port" ]; then
        port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
        echo "$port" >"$home/ssh_port"
    fi
    local user
    user=$(id -un)
    cat >"$home/sshd_config" <<CONF
Port $port
ListenAddress 127.0.0.1
HostKey $keys/host_ed25519
PidFile $home/sshd.pid
AuthorizedKeysFile $keys/authorized_keys
AllowUsers $user
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
X11Forwarding no
AllowTcpForwarding no
ForceCommand exec socat - UNIX-CONNECT:$sock
CONF
    # The privilege separation directory sshd insists on.
    [ -d /run/sshd ] || mkdir -p /run/sshd 2>/dev/null || true
    "$(command -v sshd)" -f "$home/sshd_config" -E "$home/sshd.log"
    for _ in $(seq 1 50); do
        ssh-keyscan -p "$port" 127.0.0.1 >/dev/null 2>&1 && break
        sleep 0.1
    done
    if ! ssh-keyscan -p "$port" 127.0.0.1 >/dev/null 2>&1; then
        echo "podman-engines: sshd in front of $name does not answer; $home/sshd.log ends with:" >&2
        tail -n 20 "$home/sshd.log" >&2
        exit 1
    fi
    printf 'Host %s\n    HostName 127.0.0.1\n    Port %s\n' "$name" "$port" >"$keys/hosts/$name"
    echo "ssh://$user@$name"
}

# As a machine that went away: no goodbye to the clients.
stop() {
    local home="$dir/$1"
    stop_pid "$home/podman.pid" KILL
    stop_pid "$home/stunnel.pid" KILL
    stop_pid "$home/sshd.pid"
}

# Forgets engine NAME's ssh host entry.
forget_ssh() {
    rm -f "$dir/ssh/hosts/$1"
}

remove() {
    local home="$dir/$1"
    stop "$1"
    forget_ssh "$1"
    [ -f "$home/storage.conf" ] || return 0
    need podman
    engine_env "$home"
    local ids
    ids=$(podman ps -aq 2>/dev/null || true)
    if [ -n "$ids" ]; then
        # shellcheck disable=SC2086
        podman rm -f -t 0 $ids >/dev/null 2>&1 || true
    fi
}

case "$cmd" in
certs) make_certs ;;
start)
    [ $# -ge 3 ] || usage
    start "$3" "${4:-}"
    ;;
ssh)
    [ $# -eq 3 ] || usage
    ssh_front "$3"
    ;;
stop)
    [ $# -eq 3 ] || usage
    stop "$3"
    ;;
remove)
    [ $# -eq 3 ] || usage
    remove "$3"
    ;;
*) usage ;;
esac
