//! The egress proxy: the only way out of a sandbox whose network is an
//! allow-list ([`Network::Allow`](crate::Network::Allow)).
//!
//! One [`EgressProxy`] per such sandbox listens on a unix socket on the
//! host (under the data dir's `run/egress/`, in a directory only this
//! user may enter; the socket itself is 0666 so that a sandbox running as
//! another uid — a container's user — can connect through its mount); the
//! sandbox's command server listens on
//! [`SANDBOX_PROXY`] inside the sandbox and splices each connection to
//! that socket, mounted at [`SANDBOX_SOCKET`]; commands find it through
//! [`proxy_env`]. The proxy speaks HTTP `CONNECT host:port` (HTTPS and
//! any TCP) and plain HTTP proxying (absolute-form `GET http://host/…`,
//! forwarded in origin form with `Connection: close`). For every
//! connection it:
//!
//! 1. matches the host and port against the allow-list; a host not on it
//!    goes to the [`EgressGate`] (the policy: refused, allowed by a rule,
//!    or parked until a human decides), or is refused when there is none;
//! 2. resolves the name itself (the client's resolver is never trusted);
//! 3. refuses every address that is loopback, the host's own, private,
//!    shared, link-local, metadata, or otherwise no internet destination
//!    ([`address`]) — unless the allow-list entry that matched names that
//!    address literally (an IP literal, or `localhost` for loopback);
//! 4. connects to an address it checked (never resolving again) and
//!    checks the address it is connected to once more;
//! 5. tunnels or forwards, counting bytes each way, and records the
//!    connection with the gate (allowed ones when they end; refused ones
//!    at once).
//!
//! A refusal is answered `403 Forbidden` with a plain-text body naming the
//! host and why, so curl, npm and pip show it. Heads are bounded
//! ([`http::MAX_HEAD`]), slow clients and servers time out, and garbage
//! gets a `400`.

pub mod address;
pub mod http;

use crate::exec::BoxFuture;
use crate::{HostPattern, SandboxError};
use address::Forbidden;
use paddock_protocol::network::{NetworkConnection, NetworkVerdict};
use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpStream, UnixListener, UnixStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

/// Where commands in the sandbox reach the proxy.
pub const SANDBOX_PROXY: &str = "127.0.0.1:3128";
/// Where the proxy's socket is mounted in the sandbox.
pub const SANDBOX_SOCKET: &str = "/run/paddock/egress.sock";

/// How long a client has to send its request head.
const HEAD_TIMEOUT: Duration = Duration::from_secs(30);
/// How long resolving a name may take.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long connecting to one address may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections one proxy serves at once; more are answered 503.
const MAX_CONNECTIONS: usize = 256;

/// The environment that points a sandbox's programs at the proxy:
/// `HTTP_PROXY`, `HTTPS_PROXY`, `ALL_PROXY` (and their lowercase forms,
/// which curl, wget, pip, git, cargo, Go and Python read), npm's
/// `npm_config_proxy` / `npm_config_https_proxy`, and
/// `NODE_USE_ENV_PROXY=1` (Node's own `fetch`).
///
/// `NO_PROXY` lists `localhost`, `127.0.0.1` and `::1`: inside the
/// sandbox those are the sandbox's own loopback (a dev server the agent
/// started), not the host's. An allow-list that names one of them means
/// the *host's* loopback through the proxy; [`proxy_env_for`] leaves such
/// names out of `NO_PROXY`.
pub fn proxy_env() -> Vec<(String, String)> {
    proxy_env_for(&[])
}

/// [`proxy_env`] for a sandbox with this allow-list: the loopback names
/// an entry matches go through the proxy (to the host), the others stay
/// the sandbox's own.
pub fn proxy_env_for(allow: &[HostPattern]) -> Vec<(String, String)> {
    let url = format!("http://{SANDBOX_PROXY}");
    let no_proxy = ["localhost", "127.0.0.1", "::1"]
        .into_iter()
        .filter(|name| {
            !allow
                .iter()
                .any(|p| p.is_literal_address() && names(p, name))
        })
        .collect::<Vec<_>>()
        .join(",");
    let mut env: Vec<(String, String)> = [
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
        "npm_config_proxy",
        "npm_config_https_proxy",
    ]
    .into_iter()
    .map(|k| (k.to_string(), url.clone()))
    .collect();
    env.push(("NODE_USE_ENV_PROXY".into(), "1".into()));
    env.push(("NO_PROXY".into(), no_proxy.clone()));
    env.push(("no_proxy".into(), no_proxy));
    env
}

/// Whether the literal entry `p` names the loopback name `name` (on any
/// port).
fn names(p: &HostPattern, name: &str) -> bool {
    match p.ip() {
        Some(ip) => name.parse::<IpAddr>().is_ok_and(|n| n == ip),
        None => name == "localhost",
    }
}

/// What the gate says about a host that is not on the allow-list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GateAnswer {
    /// Let it through (a rule, or a human, allowed it).
    Allow {
        /// Why, as the connection's record says.
        reason: String,
        /// Whether a human was asked.
        asked: bool,
    },
    /// Refuse it.
    Deny {
        /// Why, as the client and the record are told.
        reason: String,
        /// Whether a human was asked.
        asked: bool,
    },
}

/// The policy's side of the proxy, set by the application
/// ([`SandboxManager::set_egress_gate`](crate::SandboxManager::set_egress_gate)).
pub trait EgressGate: Send + Sync + 'static {
    /// Judges a connection of agent `agent_id` to `host:port`, which is not
    /// on its allow-list. May wait (an approval); dropping the future means
    /// the client went away.
    fn judge<'a>(
        &'a self,
        agent_id: &'a str,
        host: &'a str,
        port: u16,
    ) -> BoxFuture<'a, GateAnswer>;
    /// Records one connection (refused, or allowed and ended).
    fn record<'a>(&'a self, agent_id: &'a str, connection: NetworkConnection) -> BoxFuture<'a, ()>;
}

/// One sandbox's proxy; stops (and removes its socket) when dropped.
pub struct EgressProxy {
    socket: PathBuf,
    cancel: CancellationToken,
}

/// What every connection of one proxy shares.
struct Ctx {
    agent_id: String,
    allow: Vec<HostPattern>,
    gate: Option<Arc<dyn EgressGate>>,
    slots: Semaphore,
}

impl EgressProxy {
    /// Listens on `socket` (its directory is made 0700: no other user of
    /// the host reaches it; the socket 0666: the sandbox's own user, which
    /// may be another uid, connects through its mount;
    /// a stale file there is replaced) for agent `agent_id`'s sandbox.
    /// Needs a tokio runtime.
    pub fn start(
        socket: PathBuf,
        agent_id: &str,
        allow: Vec<HostPattern>,
        gate: Option<Arc<dyn EgressGate>>,
    ) -> Result<EgressProxy, SandboxError> {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        let fail = |what: &str, e: std::io::Error| {
            SandboxError::Failed(format!(
                "the egress proxy cannot {what} {}: {e}",
                socket.display()
            ))
        };
        if socket.as_os_str().len() >= 108 {
            return Err(SandboxError::Failed(format!(
                "the egress proxy's socket path {} is too long for a unix socket (108 bytes); \
                 use a shorter data dir",
                socket.display()
            )));
        }
        if let Some(dir) = socket.parent() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|e| fail("make the directory of", e))?;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                .map_err(|e| fail("restrict the directory of", e))?;
        }
        match std::fs::remove_file(&socket) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(fail("replace", e)),
        }
        let std_listener =
            std::os::unix::net::UnixListener::bind(&socket).map_err(|e| fail("listen on", e))?;
        std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o666))
            .map_err(|e| fail("restrict", e))?;
        std_listener
            .set_nonblocking(true)
            .map_err(|e| fail("listen on", e))?;
        let listener = UnixListener::from_std(std_listener).map_err(|e| fail("listen on", e))?;
        let cancel = CancellationToken::new();
        let ctx = Arc::new(Ctx {
            agent_id: agent_id.to_string(),
            allow,
            gate,
            slots: Semaphore::new(MAX_CONNECTIONS),
        });
        tokio::spawn(accept_loop(listener, ctx, cancel.clone()));
        tracing::debug!(agent = %agent_id, socket = %socket.display(), "egress proxy started");
        Ok(EgressProxy { socket, cancel })
    }

    /// The socket's path on the host.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Stops accepting, ends every connection and removes the socket.
    /// Idempotent.
    pub fn stop(&self) {
        if !self.cancel.is_cancelled() {
            self.cancel.cancel();
            let _ = std::fs::remove_file(&self.socket);
        }
    }
}

impl Drop for EgressProxy {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn accept_loop(listener: UnixListener, ctx: Arc<Ctx>, cancel: CancellationToken) {
    loop {
        let conn = tokio::select! {
            _ = cancel.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok((conn, _)) => conn,
                Err(e) => {
                    tracing::warn!(agent = %ctx.agent_id, error = %e, "egress proxy: accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let (ctx, cancel) = (ctx.clone(), cancel.clone());
        tokio::spawn(async move {
            tokio::select! {
                _ = cancel.cancelled() => {}
                _ = serve(conn, &ctx) => {}
            }
        });
    }
}

/// How the proxy came to let a connection through.
struct Allowed {
    reason: String,
    asked: bool,
    /// The entry that matched names its address literally.
    literal: Option<HostPattern>,
}

/// Serves one client connection to its end.
async fn serve(mut client: UnixStream, ctx: &Ctx) {
    let started = Instant::now();
    let Ok(_slot) = ctx.slots.try_acquire() else {
        let body = format!(
            "Paddock's egress proxy is serving {MAX_CONNECTIONS} connections of this sandbox already"
        );
        let _ = client
            .write_all(&http::answer(503, "Service Unavailable", &body))
            .await;
        return;
    };
    let (head, mut early) = match tokio::time::timeout(HEAD_TIMEOUT, read_head(&mut client)).await {
        Ok(Ok(read)) => read,
        Ok(Err(http::HeadError::TooLarge)) => {
            let body = format!("Paddock's egress proxy: {}", http::HeadError::TooLarge);
            let _ = client
                .write_all(&http::answer(431, "Request Header Fields Too Large", &body))
                .await;
            return;
        }
        Ok(Err(e)) => {
            let _ = client
                .write_all(&http::answer(
                    400,
                    "Bad Request",
                    &format!("Paddock's egress proxy: {e}"),
                ))
                .await;
            return;
        }
        Err(_) => {
            let _ = client
                .write_all(&http::answer(
                    408,
                    "Request Timeout",
                    "Paddock's egress proxy: no request head in time",
                ))
                .await;
            return;
        }
    };
    let req = match http::parse(&head) {
        Ok(r) => r,
        Err(e) => {
            let _ = client
                .write_all(&http::answer(
                    400,
                    "Bad Request",
                    &format!("Paddock's egress proxy: {e}"),
                ))
                .await;
            return;
        }
    };
    let mut record = NetworkConnection {
        host: req.host.clone(),
        port: req.port,
        address: None,
        verdict: NetworkVerdict::Refused,
        reason: String::new(),
        asked: false,
        bytes_sent: 0,
        bytes_received: 0,
        duration_ms: 0,
    };
    let allowed = match judge(ctx, &req.host, req.port, &mut client, &mut early).await {
        Some(Ok(a)) => a,
        Some(Err((reason, asked))) => {
            record.asked = asked;
            return refuse(ctx, &mut client, record, reason, started).await;
        }
        // The client went away while the gate decided.
        None => return,
    };
    record.asked = allowed.asked;
    let addresses = match resolve(&req.host, req.port).await {
        Ok(a) => a,
        Err(reason) => {
            record.reason = format!("{}; {reason}", allowed.reason);
            return unreachable(ctx, &mut client, record, &reason, started).await;
        }
    };
    let host_addrs = address::host_addresses();
    let mut usable = Vec::new();
    let mut refused: Vec<(IpAddr, Forbidden)> = Vec::new();
    for a in &addresses {
        match check(a.ip(), allowed.literal.as_ref(), &host_addrs) {
            Ok(()) => usable.push(*a),
            Err(why) => refused.push((a.ip(), why)),
        }
    }
    if usable.is_empty() {
        let (ip, why) = refused
            .first()
            .copied()
            .unwrap_or((IpAddr::from([0, 0, 0, 0]), Forbidden::Unspecified));
        record.address = Some(ip.to_string());
        let reason = if req.host.parse::<IpAddr>().is_ok() {
            format!(
                "{ip} is {}; only an allow-list entry naming this address itself allows it",
                why.describe()
            )
        } else {
            format!(
                "{} resolves to {ip}, {}; a name never reaches such an address (only an \
                 allow-list entry naming the address itself, an IP literal or localhost, does)",
                req.host,
                why.describe()
            )
        };
        return refuse(ctx, &mut client, record, reason, started).await;
    }
    let (mut upstream, peer) = match connect(&usable).await {
        Ok(c) => c,
        Err(reason) => {
            record.address = usable.first().map(|a| a.ip().to_string());
            record.reason = format!("{}; {reason}", allowed.reason);
            return unreachable(ctx, &mut client, record, &reason, started).await;
        }
    };
    record.address = Some(peer.ip().to_string());
    // What we are connected to must be what we checked, and still pass.
    let fresh = address::host_addresses();
    if !usable.contains(&peer) || check(peer.ip(), allowed.literal.as_ref(), &fresh).is_err() {
        drop(upstream);
        let reason = format!(
            "connected to {peer}, which is not an address checked for {}",
            req.host
        );
        return refuse(ctx, &mut client, record, reason, started).await;
    }
    record.verdict = NetworkVerdict::Allowed;
    record.reason = allowed.reason;
    let first = match &req.kind {
        http::Kind::Connect => {
            if client.write_all(http::ESTABLISHED).await.is_err() {
                return finish(ctx, record, started).await;
            }
            early
        }
        http::Kind::Forward(head) => {
            let mut first = head.clone();
            first.extend_from_slice(&early);
            first
        }
    };
    if !first.is_empty() {
        if upstream.write_all(&first).await.is_err() {
            return finish(ctx, record, started).await;
        }
        record.bytes_sent += first.len() as u64;
    }
    let (sent, received) = splice(client, upstream).await;
    record.bytes_sent += sent;
    record.bytes_received += received;
    finish(ctx, record, started).await
}

/// Reads a request head; returns it and whatever the client sent after it.
async fn read_head(client: &mut UnixStream) -> Result<(Vec<u8>, Vec<u8>), http::HeadError> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = http::head_end(&buf) {
            let rest = buf.split_off(end);
            return Ok((buf, rest));
        }
        if buf.len() > http::MAX_HEAD {
            return Err(http::HeadError::TooLarge);
        }
        let n = client
            .read(&mut chunk)
            .await
            .map_err(|e| http::HeadError::Bad(format!("reading the request failed: {e}")))?;
        if n == 0 {
            return Err(http::HeadError::Bad(
                "the client closed the connection before its request head ended".into(),
            ));
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// The allow-list, then the gate. None when the client went away while
/// the gate decided; `Err((reason, asked))` when refused.
async fn judge(
    ctx: &Ctx,
    host: &str,
    port: u16,
    client: &mut UnixStream,
    early: &mut Vec<u8>,
) -> Option<Result<Allowed, (String, bool)>> {
    if let Some(entry) = ctx.allow.iter().find(|p| p.matches(host, port)) {
        return Some(Ok(Allowed {
            reason: format!("on the allow-list (`{entry}`)"),
            asked: false,
            literal: entry.is_literal_address().then(|| entry.clone()),
        }));
    }
    let Some(gate) = &ctx.gate else {
        return Some(Err((not_listed(ctx, host, port), false)));
    };
    let verdict = gate.judge(&ctx.agent_id, host, port);
    tokio::pin!(verdict);
    // Meanwhile, read what the client sends (a request body) up to a bound,
    // to notice when it goes away.
    let mut chunk = [0u8; 4096];
    let answer = loop {
        if early.len() >= http::MAX_HEAD {
            break verdict.await;
        }
        tokio::select! {
            answer = &mut verdict => break answer,
            read = client.read(&mut chunk) => match read {
                Ok(0) | Err(_) => return None,
                Ok(n) => early.extend_from_slice(&chunk[..n]),
            },
        }
    };
    Some(match answer {
        GateAnswer::Allow { reason, asked } => Ok(Allowed {
            reason,
            asked,
            literal: None,
        }),
        GateAnswer::Deny { reason, asked } => Err((reason, asked)),
    })
}

/// Why a host that is not on the allow-list is refused when no gate
/// decides.
fn not_listed(ctx: &Ctx, host: &str, port: u16) -> String {
    let list = ctx
        .allow
        .iter()
        .map(|p| p.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    format!("{host}:{port} is not on this agent's network allow-list ({list})")
}

/// Whether `ip` may be connected to: an internet address, or the address
/// the matched `literal` entry names (`localhost`: any loopback address).
fn check(
    ip: IpAddr,
    literal: Option<&HostPattern>,
    host: &BTreeSet<IpAddr>,
) -> Result<(), Forbidden> {
    let Some(why) = address::classify(ip, host) else {
        return Ok(());
    };
    let named = literal.is_some_and(|entry| match entry.ip() {
        Some(named) => address::canonical(named) == address::canonical(ip),
        None => address::canonical(ip).is_loopback(),
    });
    if named { Ok(()) } else { Err(why) }
}

/// The addresses of `host` (itself, when it is an address literal).
async fn resolve(host: &str, port: u16) -> Result<Vec<SocketAddr>, String> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    match tokio::time::timeout(RESOLVE_TIMEOUT, tokio::net::lookup_host((host, port))).await {
        Ok(Ok(addrs)) => {
            let mut out: Vec<SocketAddr> = Vec::new();
            for a in addrs {
                if !out.contains(&a) {
                    out.push(a);
                }
            }
            if out.is_empty() {
                Err(format!("{host} has no address"))
            } else {
                Ok(out)
            }
        }
        Ok(Err(e)) => Err(format!("cannot resolve {host}: {e}")),
        Err(_) => Err(format!(
            "resolving {host} took over {} s",
            RESOLVE_TIMEOUT.as_secs()
        )),
    }
}

/// Connects to the first of `addrs` that answers; returns the stream and
/// the address it is connected to.
async fn connect(addrs: &[SocketAddr]) -> Result<(TcpStream, SocketAddr), String> {
    let mut last = String::from("no address to connect to");
    for a in addrs {
        match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(a)).await {
            Ok(Ok(s)) => match s.peer_addr() {
                Ok(peer) => return Ok((s, peer)),
                Err(e) => last = format!("connected to {a} but cannot read its address: {e}"),
            },
            Ok(Err(e)) => last = format!("connecting to {a} failed: {e}"),
            Err(_) => {
                last = format!(
                    "connecting to {a} took over {} s",
                    CONNECT_TIMEOUT.as_secs()
                )
            }
        }
    }
    Err(last)
}

/// Copies both ways until both sides are done (or one fails); returns the
/// bytes sent (client → server) and received.
async fn splice(client: UnixStream, upstream: TcpStream) -> (u64, u64) {
    let (cr, cw) = client.into_split();
    let (ur, uw) = upstream.into_split();
    let (sent, received) = (AtomicU64::new(0), AtomicU64::new(0));
    {
        let up = pump(cr, uw, &sent);
        let down = pump(ur, cw, &received);
        tokio::pin!(up, down);
        tokio::select! {
            clean = &mut up => if clean { down.await; },
            clean = &mut down => if clean { up.await; },
        }
    }
    (
        sent.load(Ordering::Relaxed),
        received.load(Ordering::Relaxed),
    )
}

/// Copies `from` to `to` until end of file (then shuts `to`'s write side);
/// true when it ended cleanly.
async fn pump<R, W>(mut from: R, mut to: W, count: &AtomicU64) -> bool
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) => break,
            Ok(n) => n,
            Err(_) => return false,
        };
        if to.write_all(&buf[..n]).await.is_err() {
            return false;
        }
        count.fetch_add(n as u64, Ordering::Relaxed);
    }
    to.shutdown().await.is_ok()
}

/// Answers 403 with `reason` and records the refusal.
async fn refuse(
    ctx: &Ctx,
    client: &mut UnixStream,
    mut record: NetworkConnection,
    reason: String,
    started: Instant,
) {
    tracing::info!(agent = %ctx.agent_id, host = %record.host, port = record.port, reason = %reason, "egress refused");
    let body = format!(
        "Paddock refused the connection to {}:{}: {reason}",
        record.host, record.port
    );
    let _ = client
        .write_all(&http::answer(403, "Forbidden", &body))
        .await;
    let _ = client.shutdown().await;
    record.verdict = NetworkVerdict::Refused;
    record.reason = reason;
    finish(ctx, record, started).await;
}

/// Answers 502 for an allowed host that could not be resolved or
/// connected to (`why`), and records the connection as allowed (its
/// reason already says what failed).
async fn unreachable(
    ctx: &Ctx,
    client: &mut UnixStream,
    mut record: NetworkConnection,
    why: &str,
    started: Instant,
) {
    let body = format!(
        "Paddock's egress proxy: cannot reach {}:{}: {why}",
        record.host, record.port
    );
    let _ = client
        .write_all(&http::answer(502, "Bad Gateway", &body))
        .await;
    record.verdict = NetworkVerdict::Allowed;
    finish(ctx, record, started).await;
}

/// Records a finished connection with the gate.
async fn finish(ctx: &Ctx, mut record: NetworkConnection, started: Instant) {
    record.duration_ms = started.elapsed().as_millis() as u64;
    if let Some(gate) = &ctx.gate {
        gate.record(&ctx.agent_id, record).await;
    }
}

#[cfg(test)]
mod tests;
