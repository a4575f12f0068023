//! The network of a sandbox granted it: the outside world, never the host.
//!
//! A command in a sandbox must not reach the host's own services: the
//! Paddock API and PostgreSQL on the host's loopback, or anything listening
//! on one of the host's other addresses. This module holds what both
//! backends need for that ([`host_ipv4_addresses`]) and the bubblewrap
//! backend's network ([`SandboxNet`]); the Docker backend closes the host
//! off inside each container (see `docker.rs`).
//!
//! A bubblewrap sandbox granted the network gets a user namespace and a
//! network namespace of its own, made with the sandbox and torn down with it;
//! every command's jail is started inside them ([`SandboxNet::join`]) and
//! keeps that network (`bwrap --share-net`), so the host's network
//! namespace is never shared. `slirp4netns` (Debian `slirp4netns`) links the
//! namespace to the outside world by user-mode NAT: what a command connects
//! to, slirp4netns connects to from the host, as Paddock's user. So, before
//! any command runs, routes in the namespace refuse (`prohibit`, "Permission
//! denied"):
//!
//! - slirp4netns's own network ([`SLIRP_NETWORK`]) but its DNS forwarder
//!   ([`SLIRP_DNS`], port 53 only, which forwards to the host's first
//!   resolver, even one on the host's loopback): its gateway would be the
//!   host's loopback (slirp4netns also runs with `--disable-host-loopback`);
//! - every IPv4 address of the host (every interface's, e.g. `192.0.2.2` or
//!   a container bridge's `10.88.0.1`), which a connection made from the host
//!   would reach. The host's addresses are read again before each command
//!   and every [`REFRESH_EVERY`], and the routes follow them.
//!
//! The namespace has no IPv6 route out (slirp4netns runs without IPv6). The
//! jail's commands cannot change any of this: they run in a user namespace
//! nested in the sandbox's, with no capability over its network namespace,
//! and cannot make user namespaces. When Paddock dies, slirp4netns exits
//! (its `--exit-fd` closes) and the namespaces go with the last process in
//! them.

use super::SandboxError;
use super::process::{self, Join, Run};
use std::collections::BTreeSet;
use std::ffi::CString;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};
use std::time::Duration;
use tokio::io::AsyncReadExt;

/// slirp4netns's network (its default `--cidr`).
pub const SLIRP_NETWORK: &str = "10.0.2.0/24";
/// The sandbox's address on it.
pub const SLIRP_GUEST: &str = "10.0.2.100";
/// Its gateway (slirp4netns itself; the host's loopback unless refused).
pub const SLIRP_GATEWAY: &str = "10.0.2.2";
/// Its DNS forwarder (to the host's first `nameserver`).
pub const SLIRP_DNS: &str = "10.0.2.3";
/// The interface slirp4netns makes in the namespace.
const TAP: &str = "tap0";
/// Its MTU (slirp4netns's largest; fewer, larger packets through the NAT).
const MTU: u32 = 65520;
/// How long slirp4netns and `ip` have to set the network up.
const SETUP_TIMEOUT: Duration = Duration::from_secs(20);
/// How often a sandbox's routes are checked against the host's addresses
/// between commands (a background job may run meanwhile).
pub const REFRESH_EVERY: Duration = Duration::from_secs(2);
/// What to install when a program is missing.
const INSTALL_HINT: &str = "a bubblewrap sandbox granted the network gets a network of its own \
     through slirp4netns, never the host's: install the `slirp4netns` and `iproute2` packages \
     (scripts/setup.sh does), or do not grant the network";

/// The host's own IPv4 addresses, of every interface, loopback ones left out
/// (what a connection made from the host to that address would reach on
/// the host itself).
pub fn host_ipv4_addresses() -> std::io::Result<BTreeSet<Ipv4Addr>> {
    let mut list: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `list`, freed below with freeifaddrs.
    if unsafe { libc::getifaddrs(&mut list) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let mut out = BTreeSet::new();
    let mut cur = list;
    while !cur.is_null() {
        // SAFETY: `cur` is a node of the list getifaddrs returned; an
        // AF_INET address is a sockaddr_in.
        unsafe {
            let ifa = &*cur;
            if !ifa.ifa_addr.is_null() && i32::from((*ifa.ifa_addr).sa_family) == libc::AF_INET {
                let sin = &*ifa.ifa_addr.cast::<libc::sockaddr_in>();
                let ip = Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
                if !ip.is_loopback() && !ip.is_unspecified() {
                    out.insert(ip);
                }
            }
            cur = ifa.ifa_next;
        }
    }
    // SAFETY: `list` came from getifaddrs and is freed once.
    unsafe { libc::freeifaddrs(list) };
    Ok(out)
}

/// The programs a sandbox's network needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetPrograms {
    /// `slirp4netns`.
    pub slirp4netns: PathBuf,
    /// `ip` (iproute2).
    pub ip: PathBuf,
}

impl NetPrograms {
    /// Finds them on `PATH` (and in `/usr/sbin`, `/sbin`, where `ip` lives
    /// but an ordinary user's `PATH` may not look); `slirp4netns` is the
    /// configured one when set.
    pub fn find(slirp4netns: Option<&Path>) -> Result<NetPrograms, SandboxError> {
        let find = |name: &str| {
            let path = std::env::var_os("PATH").unwrap_or_default();
            std::env::split_paths(&path)
                .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(PathBuf::from))
                .map(|dir| dir.join(name))
                .find(|p| p.is_file())
                .ok_or_else(|| {
                    SandboxError::Unavailable(format!("`{name}` was not found; {INSTALL_HINT}"))
                })
        };
        let slirp4netns = match slirp4netns {
            Some(path) if path.is_file() => path.to_path_buf(),
            Some(path) => {
                return Err(SandboxError::Unavailable(format!(
                    "`{}` (sandbox.slirp4netns_path) was not found; {INSTALL_HINT}",
                    path.display()
                )));
            }
            None => find("slirp4netns")?,
        };
        Ok(NetPrograms {
            slirp4netns,
            ip: find("ip")?,
        })
    }
}

/// One bubblewrap sandbox's network: its namespaces, the slirp4netns that
/// links them to the outside, and the routes that keep the host out.
pub struct SandboxNet {
    /// `/proc/<pid>/ns/user` of the sandbox's user namespace.
    userns: OwnedFd,
    /// `/proc/<pid>/ns/net` of its network namespace.
    netns: OwnedFd,
    ip: PathBuf,
    slirp: std::sync::Mutex<Option<tokio::process::Child>>,
    /// Closed to stop slirp4netns (its `--exit-fd` is the other end).
    exit: std::sync::Mutex<Option<OwnedFd>>,
    /// The jail's `/etc/resolv.conf` (slirp4netns's DNS forwarder).
    resolv_dir: tempfile::TempDir,
    /// The host addresses the namespace's routes refuse now; held while
    /// they change.
    refused: tokio::sync::Mutex<BTreeSet<Ipv4Addr>>,
}

impl std::fmt::Debug for SandboxNet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SandboxNet")
            .field("userns", &self.userns)
            .field("netns", &self.netns)
            .finish_non_exhaustive()
    }
}

impl SandboxNet {
    /// Makes the namespaces, starts slirp4netns and sets the routes; then
    /// keeps the routes in step with the host's addresses until the network
    /// is closed or dropped. `agent` is for logs.
    pub async fn create(
        programs: &NetPrograms,
        agent: &str,
    ) -> Result<Arc<SandboxNet>, SandboxError> {
        let failed = |what: &str, e: &dyn std::fmt::Display| {
            SandboxError::Failed(format!("cannot give the sandbox its network: {what}: {e}"))
        };
        let (userns, netns) = make_namespaces()
            .await
            .map_err(|e| failed("cannot make its user and network namespaces", &e))?;
        let resolv_dir = tempfile::Builder::new()
            .prefix("paddock-net-")
            .tempdir()
            .map_err(|e| failed("cannot make a directory for its resolv.conf", &e))?;
        let (slirp, exit) = start_slirp(&programs.slirp4netns, &userns, &netns).await?;
        let net = Arc::new(SandboxNet {
            userns,
            netns,
            ip: programs.ip.clone(),
            slirp: std::sync::Mutex::new(Some(slirp)),
            exit: std::sync::Mutex::new(Some(exit)),
            resolv_dir,
            refused: tokio::sync::Mutex::new(BTreeSet::new()),
        });
        // From here on, dropping `net` stops slirp4netns.
        net.resolv_conf()
            .map_err(|e| failed("cannot write its resolv.conf", &e))?;
        let hosts =
            host_ipv4_addresses().map_err(|e| failed("cannot read the host's addresses", &e))?;
        {
            let mut refused = net.refused.lock().await;
            net.ip_batch(&setup_batch(&hosts)).await?;
            *refused = hosts;
        }
        tokio::spawn(keep_refreshed(Arc::downgrade(&net), agent.to_string()));
        Ok(net)
    }

    /// What a command's process joins before exec (see [`Join`]).
    pub fn join(&self) -> Join {
        Join {
            user: self.userns.as_raw_fd(),
            net: self.netns.as_raw_fd(),
        }
    }

    /// The file the jail sees as `/etc/resolv.conf` (rewritten if something
    /// removed it).
    pub fn resolv_conf(&self) -> std::io::Result<PathBuf> {
        let path = self.resolv_dir.path().join("resolv.conf");
        if !path.is_file() {
            std::fs::write(&path, format!("nameserver {SLIRP_DNS}\n"))?;
        }
        Ok(path)
    }

    /// The process id of its slirp4netns while it runs.
    pub fn nat_pid(&self) -> Option<u32> {
        lock(&self.slirp).as_ref()?.id()
    }

    /// Whether slirp4netns has been stopped.
    fn is_closed(&self) -> bool {
        lock(&self.exit).is_none()
    }

    /// Makes the routes refuse the host's addresses as they are now; an
    /// error means the routes may be stale and no command may run.
    pub async fn refresh(&self) -> Result<(), SandboxError> {
        let now = host_ipv4_addresses()
            .map_err(|e| SandboxError::Failed(format!("cannot read the host's addresses: {e}")))?;
        let mut refused = self.refused.lock().await;
        if *refused == now {
            return Ok(());
        }
        let batch = refresh_batch(&refused, &now);
        tracing::info!(added = ?now.difference(&refused).collect::<Vec<_>>(),
            removed = ?refused.difference(&now).collect::<Vec<_>>(),
            "the host's addresses changed; updating a sandbox's routes");
        self.ip_batch(&batch).await?;
        *refused = now;
        Ok(())
    }

    /// Stops slirp4netns (the namespaces go with the last process in them)
    /// and waits for it. Idempotent.
    pub async fn close(&self) {
        drop(lock(&self.exit).take());
        let child = lock(&self.slirp).take();
        if let Some(mut child) = child {
            let _ = child.start_kill();
            let _ = tokio::time::timeout(Duration::from_secs(10), child.wait()).await;
        }
    }

    /// Runs `ip -batch -` in the namespaces, as their root.
    async fn ip_batch(&self, batch: &str) -> Result<(), SandboxError> {
        let mut command = std::process::Command::new(&self.ip);
        command.args(["-batch", "-"]).env_clear().current_dir("/");
        let outcome = process::run(Run {
            command,
            stdin: Some(batch.to_string()),
            timeout: SETUP_TIMEOUT,
            max_output_bytes: 16 * 1024,
            sink: None,
            rlimits: None,
            cgroup: None,
            join: Some(self.join()),
            cancel: None,
            jailed: false,
        })
        .await
        .map_err(|e| {
            SandboxError::Failed(format!(
                "cannot set the sandbox's routes: cannot run {}: {e}",
                self.ip.display()
            ))
        })?;
        if outcome.exit_code == Some(0) {
            return Ok(());
        }
        Err(SandboxError::Failed(format!(
            "cannot set the sandbox's routes ({} -batch): {}",
            self.ip.display(),
            outcome.stderr.trim()
        )))
    }
}

impl Drop for SandboxNet {
    fn drop(&mut self) {
        drop(lock(&self.exit).take());
        if let Some(mut child) = lock(&self.slirp).take() {
            // kill_on_drop: the runtime reaps it.
            let _ = child.start_kill();
        }
    }
}

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Keeps a network's routes in step with the host's addresses while it is
/// open.
async fn keep_refreshed(net: Weak<SandboxNet>, agent: String) {
    loop {
        tokio::time::sleep(REFRESH_EVERY).await;
        let Some(net) = net.upgrade() else { return };
        if net.is_closed() {
            return;
        }
        if let Err(e) = net.refresh().await {
            tracing::warn!(%agent, error = %e, "cannot update the sandbox's routes; its next command will try again");
        }
    }
}

/// The routes of a new namespace: loopback up, the slirp4netns interface
/// with the sandbox's address and no route to its network but the DNS
/// forwarder, the default route through slirp4netns, and its network and
/// the host's addresses refused.
fn setup_batch(hosts: &BTreeSet<Ipv4Addr>) -> String {
    let mut b = format!(
        "link set lo up\n\
         link set {TAP} mtu {MTU}\n\
         addr add {SLIRP_GUEST}/24 dev {TAP} noprefixroute\n\
         link set {TAP} up\n\
         route add {SLIRP_DNS}/32 dev {TAP}\n\
         route add default via {SLIRP_GATEWAY} dev {TAP} onlink\n\
         route add prohibit {SLIRP_NETWORK}\n"
    );
    for host in hosts {
        b.push_str(&format!("route replace prohibit {host}/32\n"));
    }
    b
}

/// The route changes from refusing `before` to refusing `now`.
fn refresh_batch(before: &BTreeSet<Ipv4Addr>, now: &BTreeSet<Ipv4Addr>) -> String {
    let mut b = String::new();
    for host in now.difference(before) {
        b.push_str(&format!("route replace prohibit {host}/32\n"));
    }
    for host in before.difference(now) {
        b.push_str(&format!("route del prohibit {host}/32\n"));
    }
    b
}

/// A pipe, both ends close-on-exec: (read, write).
fn pipe() -> std::io::Result<(OwnedFd, OwnedFd)> {
    let mut fds: [RawFd; 2] = [-1; 2];
    // SAFETY: pipe2 writes two descriptors into `fds`.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: both are fresh descriptors that nothing else owns.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Makes a user namespace (this process's uid and gid as its root) and a
/// network namespace owned by it, held by a short-lived child, and returns
/// them open.
async fn make_namespaces() -> std::io::Result<(OwnedFd, OwnedFd)> {
    // SAFETY: geteuid/getegid cannot fail.
    let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
    let files: Vec<(CString, Vec<u8>)> = [
        ("/proc/self/setgroups", "deny".to_string()),
        ("/proc/self/uid_map", format!("0 {uid} 1")),
        ("/proc/self/gid_map", format!("0 {gid} 1")),
    ]
    .into_iter()
    .map(|(path, text)| {
        CString::new(path)
            .map(|p| (p, text.into_bytes()))
            .map_err(std::io::Error::other)
    })
    .collect::<std::io::Result<_>>()?;
    // The holder waits for its stdin to close.
    let mut holder = std::process::Command::new("/bin/sh");
    holder
        .args(["-c", "read -r _"])
        .env_clear()
        .current_dir("/")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    // SAFETY: the hook makes only async-signal-safe calls (unshare, open,
    // write, close) on data prepared before fork.
    unsafe {
        holder.pre_exec(move || {
            if libc::unshare(libc::CLONE_NEWUSER | libc::CLONE_NEWNET) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            for (path, text) in &files {
                let fd = libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
                if fd < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                let written = libc::write(fd, text.as_ptr().cast(), text.len());
                let error = std::io::Error::last_os_error();
                libc::close(fd);
                if usize::try_from(written).ok() != Some(text.len()) {
                    return Err(error);
                }
            }
            Ok(())
        });
    }
    let mut holder = tokio::process::Command::from(holder)
        .kill_on_drop(true)
        .spawn()?;
    let pid = holder
        .id()
        .ok_or_else(|| std::io::Error::other("the namespace holder exited at once"))?;
    let open = |kind: &str| -> std::io::Result<OwnedFd> {
        Ok(std::fs::File::open(format!("/proc/{pid}/ns/{kind}"))?.into())
    };
    let namespaces = open("user").and_then(|user| Ok((user, open("net")?)));
    drop(holder.stdin.take());
    let _ = holder.start_kill();
    let _ = holder.wait().await;
    namespaces
}

/// Starts slirp4netns on the namespaces and waits until it is ready;
/// returns it and the write end of its exit pipe.
async fn start_slirp(
    program: &Path,
    userns: &OwnedFd,
    netns: &OwnedFd,
) -> Result<(tokio::process::Child, OwnedFd), SandboxError> {
    let io = |what: &str, e: std::io::Error| {
        SandboxError::Failed(format!("cannot give the sandbox its network: {what}: {e}"))
    };
    let (exit_read, exit_write) = pipe().map_err(|e| io("cannot make a pipe", e))?;
    let (ready_read, ready_write) = pipe().map_err(|e| io("cannot make a pipe", e))?;
    let inherit = [
        exit_read.as_raw_fd(),
        ready_write.as_raw_fd(),
        userns.as_raw_fd(),
        netns.as_raw_fd(),
    ];
    let mut command = std::process::Command::new(program);
    command
        .arg("--disable-host-loopback")
        .arg("--enable-seccomp")
        .arg(format!("--mtu={MTU}"))
        .arg(format!("--exit-fd={}", exit_read.as_raw_fd()))
        .arg(format!("--ready-fd={}", ready_write.as_raw_fd()))
        .arg(format!(
            "--userns-path=/proc/self/fd/{}",
            userns.as_raw_fd()
        ))
        .arg("--netns-type=path")
        .arg(format!("/proc/self/fd/{}", netns.as_raw_fd()))
        .arg(TAP)
        .env_clear()
        .current_dir("/")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    // SAFETY: the hook makes only async-signal-safe calls (fcntl, setsid).
    unsafe {
        command.pre_exec(move || {
            for fd in inherit {
                if libc::fcntl(fd, libc::F_SETFD, 0) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            // Out of Paddock's process group: a terminal's Ctrl-C reaches
            // Paddock, which then stops it.
            if libc::setsid() == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = tokio::process::Command::from(command)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                SandboxError::Unavailable(format!(
                    "`{}` was not found; {INSTALL_HINT}",
                    program.display()
                ))
            } else {
                io(&format!("cannot start {}", program.display()), e)
            }
        })?;
    // Only slirp4netns holds these ends now: its exit shows as end of file.
    drop((exit_read, ready_write));
    let mut stderr = child.stderr.take();
    let ready = async {
        let mut pipe = tokio::net::unix::pipe::Receiver::from_owned_fd(ready_read)?;
        let mut byte = [0u8; 1];
        pipe.read(&mut byte).await
    };
    let said = match tokio::time::timeout(SETUP_TIMEOUT, ready).await {
        Ok(Ok(1)) => None,
        Ok(Ok(_)) => Some("it exited before it was ready".to_string()),
        Ok(Err(e)) => Some(format!("cannot wait for it: {e}")),
        Err(_) => Some(format!(
            "it was not ready within {} s",
            SETUP_TIMEOUT.as_secs()
        )),
    };
    if let Some(why) = said {
        let _ = child.start_kill();
        let _ = child.wait().await;
        let mut text = String::new();
        if let Some(mut err) = stderr.take() {
            let _ =
                tokio::time::timeout(Duration::from_secs(2), err.read_to_string(&mut text)).await;
        }
        return Err(SandboxError::Failed(format!(
            "cannot give the sandbox its network: {} failed ({why}): {}",
            program.display(),
            text.trim()
        )));
    }
    // What it says later (it says little) goes to the log; reading it keeps
    // the pipe from filling.
    if let Some(mut err) = stderr {
        tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            while let Ok(n) = err.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                tracing::debug!(said = %String::from_utf8_lossy(&buf[..n]).trim(), "slirp4netns");
            }
        });
    }
    Ok((child, exit_write))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `ip` lists, but loopback.
    fn listed_by_ip() -> BTreeSet<Ipv4Addr> {
        let out = std::process::Command::new(NetPrograms::find(None).unwrap().ip)
            .args(["-o", "-4", "addr", "show"])
            .output()
            .unwrap();
        // `2: eth0    inet 192.0.2.2/24 brd … scope global eth0`
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split_whitespace().skip_while(|w| *w != "inet").nth(1))
            .filter_map(|a| a.split('/').next()?.parse().ok())
            .filter(|a: &Ipv4Addr| !a.is_loopback())
            .collect()
    }

    #[test]
    fn the_host_addresses_are_what_ip_lists_but_loopback() {
        // Other processes may add or remove addresses meanwhile (a
        // container bridge): compare a reading that did not change.
        let mut last = None;
        for _ in 0..20 {
            let before = host_ipv4_addresses().unwrap();
            let listed = listed_by_ip();
            if host_ipv4_addresses().unwrap() == before {
                assert_eq!(before, listed);
                return;
            }
            last = Some((before, listed));
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the host's addresses never held still: {last:?}");
    }

    #[test]
    fn routes_refuse_the_slirp_network_and_every_host_address() {
        let hosts: BTreeSet<Ipv4Addr> = ["192.0.2.2", "10.88.0.1"]
            .iter()
            .map(|a| a.parse().unwrap())
            .collect();
        let b = setup_batch(&hosts);
        let lines: Vec<&str> = b.lines().collect();
        for want in [
            "addr add 10.0.2.100/24 dev tap0 noprefixroute",
            "route add 10.0.2.3/32 dev tap0",
            "route add default via 10.0.2.2 dev tap0 onlink",
            "route add prohibit 10.0.2.0/24",
            "route replace prohibit 192.0.2.2/32",
            "route replace prohibit 10.88.0.1/32",
        ] {
            assert!(lines.contains(&want), "{want} missing from {b}");
        }
        let later: BTreeSet<Ipv4Addr> = ["192.0.2.2", "172.17.0.1"]
            .iter()
            .map(|a| a.parse().unwrap())
            .collect();
        assert_eq!(
            refresh_batch(&hosts, &later),
            "route replace prohibit 172.17.0.1/32\nroute del prohibit 10.88.0.1/32\n"
        );
        assert_eq!(refresh_batch(&later, &later), "");
    }
}
