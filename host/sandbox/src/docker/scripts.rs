//! The small `sh` scripts the Docker backend runs inside a container.
//!
//! Docker has no API to kill an exec'd process, so every command runs under
//! [`RUN`], which starts it in a session of its own (`setsid`) and records
//! the session id in `/tmp/.paddock/<exec-id>.fg` (or `.bg` for a background
//! job). [`KILL`], run as a second exec, kills that session. When a
//! foreground command ends, [`RUN`] itself kills every process it left
//! behind: everything except pid 1 (the init), the container's main process,
//! exec roots (parent pid 0: other commands' wrappers, this one) and the
//! sessions of commands still running or of background jobs. Only `sh`
//! builtins and `setsid` are used; processes are found through
//! `/proc/<pid>/stat` (no procps needed).
//!
//! The clean-up after a foreground command uses only builtins until the
//! leftovers are dead (a fork bomb may hold every pid), and kills the
//! command's own process group first, in one call. Markers of background
//! jobs whose processes are all gone are then removed. The scripts carry no
//! comments: they show in `ps` inside the sandbox.
//!
//! A command can tamper with these files (they belong to its own user); that
//! only weakens clean-up inside its own sandbox, never containment, which
//! rests on the container's limits.
//!
//! [`CLOSE_HOST`] is the one script run as root (a privileged exec, before
//! any command of a network-enabled container): it adds the routes that
//! keep the container off the host's addresses.

/// The container's main process: records its pid, then sleeps forever
/// under the init (which reaps orphaned processes).
pub(super) const MAIN: &str =
    "mkdir -p /tmp/.paddock && echo $$ >/tmp/.paddock/main.pid && exec sleep infinity";

/// What [`RUN`] writes to stderr (alone) and exits with when the working
/// directory does not exist.
pub(super) const NO_CWD_MARK: &str = "\u{1}paddock: no such working directory\n";

/// The exit status that goes with [`NO_CWD_MARK`].
pub(super) const NO_CWD_STATUS: i64 = 125;

/// Runs one command: `sh -c RUN paddock-run <exec-id> fg|bg <cwd> argv…`.
pub(super) const RUN: &str = r#"d=/tmp/.paddock
id=$1 mode=$2 cwd=$3
shift 3
if ! cd -- "$cwd" 2>/dev/null; then
    printf '\001paddock: no such working directory\n' >&2
    exit 125
fi
[ -d "$d" ] || mkdir -p "$d" 2>/dev/null
exec 3<&0
setsid /bin/sh -c 'echo $$ >"$1.$2"; if [ -e "$1.kill" ]; then exit 137; fi; shift 2; exec "$@"' paddock-cmd "$d/$id" "$mode" "$@" <&3 3<&- &
child=$!
exec 3<&- 2>/dev/null
wait "$child"
status=$?
if [ "$mode" = fg ]; then
    sid=
    { read -r sid <"$d/$id.fg"; } 2>/dev/null
    case "$sid" in ''|*[!0-9]*|1) ;; *) kill -KILL -- "-$sid" 2>/dev/null ;; esac
    main=1
    { read -r main <"$d/main.pid"; } 2>/dev/null
    round=0
    while [ "$round" -lt 50 ]; do
        round=$((round + 1))
        keep=" "
        for f in "$d"/*.fg "$d"/*.bg; do
            [ "$f" = "$d/$id.fg" ] && continue
            { read -r s <"$f" && keep="$keep$s "; } 2>/dev/null
        done
        live=" "
        killed=0
        for p in /proc/[0-9]*; do
            p=${p#/proc/}
            { read -r line <"/proc/$p/stat"; } 2>/dev/null || continue
            set -- ${line##*) }
            live="$live$4 "
            if [ "$p" = "$$" ] || [ "$p" = 1 ] || [ "$p" = "$main" ]; then continue; fi
            if [ "$2" = 0 ] || [ "$4" = 1 ]; then continue; fi
            case "$keep" in *" $4 "*) continue ;; esac
            kill -KILL "$p" 2>/dev/null && killed=1
        done
        [ "$killed" = 0 ] && break
    done
    for f in "$d"/*.bg; do
        { read -r s <"$f"; } 2>/dev/null || continue
        case "$live" in *" $s "*) ;; *) rm -f "$f" ;; esac
    done
    rm -f "$d/$id.fg"
fi
rm -f "$d/$id.kill"
exit "$status"
"#;

/// Kills one command's session: `sh -c KILL paddock-kill <exec-id>`. Leaves
/// a `.kill` marker so a command that has not recorded its session yet
/// exits as soon as it does.
pub(super) const KILL: &str = r#"d=/tmp/.paddock
id=$1
{ : >"$d/$id.kill"; } 2>/dev/null || { mkdir -p "$d"; : >"$d/$id.kill"; }
round=0
while [ "$round" -lt 50 ]; do
    round=$((round + 1))
    sid=
    for f in "$d/$id.fg" "$d/$id.bg"; do
        { read -r sid <"$f"; } 2>/dev/null && break
    done
    case "$sid" in ''|*[!0-9]*|1) break ;; esac
    kill -KILL -- "-$sid" 2>/dev/null
    killed=0
    for p in /proc/[0-9]*; do
        p=${p#/proc/}
        [ "$p" = "$$" ] && continue
        { read -r line <"/proc/$p/stat"; } 2>/dev/null || continue
        set -- ${line##*) }
        if [ "$4" = "$sid" ] && [ "$1" != Z ]; then
            kill -KILL "$p" 2>/dev/null && killed=1
        fi
    done
    [ "$killed" = 0 ] && break
done
rm -f "$d/$id.bg"
"#;

/// Keeps a network-enabled container off the host, run once as root in a
/// privileged exec before any command (and again when the host's addresses
/// change): `sh -c CLOSE_HOST paddock-net [+|-]<ipv4>…`. Refuses
/// (`prohibit` routes) the bridge's own network (other containers: other
/// agents' sandboxes), the container's gateways (the host's side of the
/// bridge) and each `+`/bare address (the host's own), lifts the refusal of
/// each `-` address (no longer the host's). The default route stays: its
/// gateway is reached on the link, not routed to. Fails when IPv6 is on in the
/// container (the engine is asked to turn it off) or `ip` is missing. The
/// commands, without capabilities, cannot change the routes.
pub(super) const CLOSE_HOST: &str = r#"v6=/proc/sys/net/ipv6/conf/all/disable_ipv6
if [ -e "$v6" ]; then
    off=
    { read -r off <"$v6"; } 2>/dev/null
    if [ "$off" != 1 ]; then
        echo "IPv6 is on in the container" >&2
        exit 3
    fi
fi
if ! command -v ip >/dev/null 2>&1; then
    echo "the image has no ip (iproute2)" >&2
    exit 127
fi
routes=$(ip -4 route show default) || exit 4
links=$(ip -4 route show scope link proto kernel) || exit 4
set -f
prev=
gateways=
for w in $routes; do
    [ "$prev" = via ] && gateways="$gateways $w"
    prev=$w
done
for w in $links; do
    case "$w" in
        */*) ip -4 route replace prohibit "$w" || exit 5 ;;
    esac
done
for a in $gateways "$@"; do
    case "$a" in
        -*) ip -4 route del prohibit "${a#-}/32" 2>/dev/null ;;
        *) ip -4 route replace prohibit "${a#+}/32" || exit 5 ;;
    esac
done
ip -4 route show
"#;

/// The exit status of [`CLOSE_HOST`] when the image has no `ip`.
pub(super) const CLOSE_HOST_NO_IP: i64 = 127;
