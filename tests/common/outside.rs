//! What a sandbox's network may and may not reach, for real: an "outside"
//! host (a network namespace of the test's own, linked to the host by a
//! veth pair, with its own address routed from the host and a TCP
//! listener), a listener on every address of the host, the host's
//! PostgreSQL on 127.0.0.1:5432, and a probe script (Python) run in the
//! sandbox that tries each of them, and the sandbox's gateway.
//!
//! Making the outside host needs root (`ip netns add`); [`OutsideHost::start`]
//! says why when it cannot. Shared by the sandbox suites: one counter names
//! the namespaces of the whole test process.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

/// Prefix of the namespaces and interfaces made here.
const PREFIX: &str = "pdkt";

fn ip(args: &[&str]) -> Result<String, String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("cannot run `ip`: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "`ip {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// A TCP listener that answers each connection with `greeting` and counts
/// them; stops when dropped.
pub struct Listener {
    pub port: u16,
    hits: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Listener {
    /// Listens on `0.0.0.0` (every address of the namespace it is made in).
    pub fn any(greeting: &'static str) -> Listener {
        Listener::start(greeting, None)
    }

    /// Listens in the named network namespace (`/run/netns/<name>`).
    fn in_netns(greeting: &'static str, netns: &str) -> Listener {
        Listener::start(greeting, Some(format!("/run/netns/{netns}")))
    }

    fn start(greeting: &'static str, netns: Option<String>) -> Listener {
        let hits = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = std::sync::mpsc::channel();
        let (h, s) = (hits.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            if let Some(path) = netns {
                // Only this thread moves into the namespace.
                let file = std::fs::File::open(&path).expect("open the netns");
                use std::os::fd::AsRawFd;
                assert_eq!(
                    unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) },
                    0,
                    "setns {path}: {}",
                    std::io::Error::last_os_error()
                );
            }
            let listener = TcpListener::bind("0.0.0.0:0").unwrap();
            listener.set_nonblocking(true).unwrap();
            tx.send(listener.local_addr().unwrap().port()).unwrap();
            while !s.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((mut conn, _)) => {
                        h.fetch_add(1, Ordering::SeqCst);
                        let _ = conn.set_nonblocking(false);
                        let _ = conn.write_all(greeting.as_bytes());
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        let port = rx.recv().expect("the listener started");
        Listener {
            port,
            hits,
            stop,
            thread: Some(thread),
        }
    }

    /// Connections accepted so far.
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A host outside this one: its own network namespace, address and
/// listener, routed from the host over a veth pair. Removed when dropped.
pub struct OutsideHost {
    netns: String,
    host_if: String,
    /// Its address (routed from the host).
    pub addr: Ipv4Addr,
    /// The host's address on the link to it (a new address of the host).
    pub host_side: Ipv4Addr,
    /// Answers `outside\n`.
    pub listener: Option<Listener>,
}

impl OutsideHost {
    /// Makes one; `Err` says why it cannot be made here (e.g. not root).
    pub fn start() -> Result<OutsideHost, String> {
        if unsafe { libc::geteuid() } != 0 {
            return Err("making a network namespace for the outside host needs root".into());
        }
        remove_stale();
        use std::sync::atomic::AtomicU32;
        static N: AtomicU32 = AtomicU32::new(0);
        let pid = std::process::id();
        let n = N.fetch_add(1, Ordering::SeqCst);
        let netns = format!("{PREFIX}-{pid}-{n}");
        let host_if = format!("{PREFIX}{}h{n}", pid % 100_000);
        let peer_if = format!("{PREFIX}{}o{n}", pid % 100_000);
        // A /30 in 10.231.0.0/16 that no address or route of the host uses.
        let used = ip(&["-4", "route", "show", "table", "all"])? + &ip(&["-4", "-o", "addr"])?;
        let start = (pid as usize).wrapping_mul(7).wrapping_add(n as usize * 13);
        let third = (0..250)
            .map(|i| (start + i) % 250 + 1)
            .find(|k| !used.contains(&format!("10.231.{k}.")))
            .ok_or("no free 10.231.x.0/30 subnet")?;
        let (host_addr, addr) = (format!("10.231.{third}.1"), format!("10.231.{third}.2"));
        ip(&["netns", "add", &netns])?;
        let made = OutsideHost {
            netns: netns.clone(),
            host_if: host_if.clone(),
            addr: addr.parse().unwrap(),
            host_side: host_addr.parse().unwrap(),
            listener: None,
        };
        ip(&[
            "link", "add", &host_if, "type", "veth", "peer", "name", &peer_if,
        ])?;
        ip(&["link", "set", &peer_if, "netns", &netns])?;
        ip(&["addr", "add", &format!("{host_addr}/30"), "dev", &host_if])?;
        ip(&["link", "set", &host_if, "up"])?;
        ip(&["-n", &netns, "link", "set", "lo", "up"])?;
        ip(&[
            "-n",
            &netns,
            "addr",
            "add",
            &format!("{addr}/30"),
            "dev",
            &peer_if,
        ])?;
        ip(&["-n", &netns, "link", "set", &peer_if, "up"])?;
        ip(&["-n", &netns, "route", "add", "default", "via", &host_addr])?;
        let mut made = made;
        made.listener = Some(Listener::in_netns("outside\n", &netns));
        Ok(made)
    }

    pub fn port(&self) -> u16 {
        self.listener.as_ref().map_or(0, |l| l.port)
    }

    pub fn hits(&self) -> usize {
        self.listener.as_ref().map_or(0, Listener::hits)
    }
}

impl Drop for OutsideHost {
    fn drop(&mut self) {
        drop(self.listener.take());
        let _ = ip(&["link", "del", &self.host_if]);
        let _ = ip(&["netns", "del", &self.netns]);
    }
}

/// Removes what a killed earlier run left: namespaces `pdkt-<pid>-<n>` of
/// processes that are gone, with their veth pairs.
fn remove_stale() {
    let Ok(list) = ip(&["netns", "list"]) else {
        return;
    };
    for line in list.lines() {
        let name = line.split_whitespace().next().unwrap_or("");
        let Some(rest) = name.strip_prefix(&format!("{PREFIX}-")) else {
            continue;
        };
        let pid = rest.split('-').next().unwrap_or("");
        if pid.parse::<u32>().is_ok() && !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            let _ = ip(&["netns", "del", name]);
        }
    }
}

/// The host's IPv4 addresses but loopback ones (from `ip`).
pub fn host_addresses() -> Vec<Ipv4Addr> {
    ip(&["-o", "-4", "addr", "show"])
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_whitespace().skip_while(|w| *w != "inet").nth(1))
        .filter_map(|a| a.split('/').next()?.parse().ok())
        .filter(|a: &Ipv4Addr| !a.is_loopback())
        .collect()
}

/// The host's own default gateway (never probed: it is another machine).
pub fn host_gateway() -> Option<Ipv4Addr> {
    let routes = std::fs::read_to_string("/proc/net/route").ok()?;
    routes.lines().skip(1).find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        (f.get(1) == Some(&"00000000") && f.get(2) != Some(&"00000000"))
            .then(|| u32::from_str_radix(f[2], 16).ok())
            .flatten()
            .map(|g| Ipv4Addr::from(u32::from_be(g)))
    })
}

/// Whether PostgreSQL answers on the host at 127.0.0.1:5432 (an SSLRequest
/// gets `S` or `N`): the probe's PostgreSQL target means something only
/// then.
pub fn postgres_answers() -> bool {
    let Ok(mut conn) =
        TcpStream::connect_timeout(&"127.0.0.1:5432".parse().unwrap(), Duration::from_secs(5))
    else {
        return false;
    };
    let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
    let mut answer = [0u8; 1];
    conn.write_all(&[0, 0, 0, 8, 4, 210, 22, 47]).is_ok()
        && conn.read_exact(&mut answer).is_ok()
        && matches!(&answer, b"S" | b"N")
}

/// One probe target: a name, an address and a port.
#[derive(Clone, Debug)]
pub struct Target {
    pub name: String,
    pub addr: String,
    pub port: u16,
}

impl Target {
    pub fn new(name: impl Into<String>, addr: impl ToString, port: u16) -> Target {
        Target {
            name: name.into(),
            addr: addr.to_string(),
            port,
        }
    }
}

/// The targets every network test tries: the outside host, a listener on
/// every address of the host (through 127.0.0.1 and each other address),
/// PostgreSQL at 127.0.0.1:5432; the probe adds the sandbox's gateway (to
/// the listener's port and 5432) unless it is the host's own gateway.
pub fn targets(outside: &OutsideHost, host: &Listener) -> Vec<Target> {
    let mut t = vec![
        Target::new("outside", outside.addr, outside.port()),
        Target::new("host-loopback", "127.0.0.1", host.port),
        Target::new("postgres-loopback", "127.0.0.1", 5432),
    ];
    for (i, addr) in host_addresses().into_iter().enumerate() {
        t.push(Target::new(format!("host-address-{i}"), addr, host.port));
    }
    t
}

/// A Python script that tries each target (and the sandbox's gateway, on
/// `gateway_port` and 5432, unless it is `skip_gateway`) and prints one line
/// per target: `<name> REACHED <first bytes>` or `<name> REFUSED <error>`.
/// To a PostgreSQL port it sends an SSLRequest, which PostgreSQL answers
/// with one byte.
pub fn probe_script(
    targets: &[Target],
    gateway_port: u16,
    skip_gateway: Option<Ipv4Addr>,
) -> String {
    let list = targets
        .iter()
        .map(|t| format!("({:?}, {:?}, {})", t.name, t.addr, t.port))
        .collect::<Vec<_>>()
        .join(", ");
    let skip = skip_gateway.map(|g| g.to_string()).unwrap_or_default();
    format!(
        r#"python3 - <<'EOF'
import socket
targets = [{list}]
gw = None
for line in open('/proc/net/route').read().splitlines()[1:]:
    f = line.split()
    if f[1] == '00000000' and f[2] != '00000000':
        gw = '.'.join(str(b) for b in bytes.fromhex(f[2])[::-1])
if gw and gw != {skip:?}:
    targets += [('gateway', gw, {gateway_port}), ('postgres-gateway', gw, 5432)]
for name, addr, port in targets:
    try:
        s = socket.create_connection((addr, port), timeout=5)
        s.settimeout(5)
        if port == 5432:
            s.sendall(bytes([0, 0, 0, 8, 4, 210, 22, 47]))
        print(name, addr, port, 'REACHED', s.recv(16), flush=True)
    except Exception as e:
        print(name, addr, port, 'REFUSED', type(e).__name__, e, flush=True)
EOF"#
    )
}

/// The probe's output as `name → (reached, line)`.
pub fn results(stdout: &str) -> BTreeMap<String, (bool, String)> {
    stdout
        .lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let name = words.next()?.to_string();
            let verdict = words.nth(2)?;
            matches!(verdict, "REACHED" | "REFUSED")
                .then(|| (name, (verdict == "REACHED", line.to_string())))
        })
        .collect()
}

/// Checks a probe's output: the outside host was reached and nothing else
/// was, and every one of the `targets` and the gateway was tried.
pub fn assert_only_outside(stdout: &str, targets: usize) {
    let seen = results(stdout);
    for (name, (reached, line)) in &seen {
        if name != "outside" {
            assert!(!reached, "the sandbox reached the host: {line}");
        }
    }
    let (reached, line) = &seen["outside"];
    assert!(*reached && line.contains("outside"), "{line}");
    assert_eq!(
        seen.len(),
        targets + 2,
        "every target and the gateway: {stdout}"
    );
}

/// Checks a probe's output without the network: every one of the `targets`
/// was tried and none reached.
pub fn assert_nothing_reached(stdout: &str, targets: usize) {
    let seen = results(stdout);
    assert_eq!(seen.len(), targets, "{stdout}");
    assert!(seen.values().all(|(reached, _)| !reached), "{stdout}");
}
