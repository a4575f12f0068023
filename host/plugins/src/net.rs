//! Network confinement of plugins: the `socket_addr_check` behind every
//! `wasi:sockets` use and the `wasi:http` hook that replaces the default
//! sender (which would bypass the socket check). Only granted `host:port`
//! pairs are reachable; a granted *name* never reaches a loopback, private,
//! link-local or metadata address (only a grant of that literal IP, or of
//! `localhost`, does).

use super::capability::Capability;
use std::collections::{BTreeSet, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wasmtime_wasi::sockets::SocketAddrUse;
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiHttpHooks};

/// How long a resolved name is trusted.
const DNS_TTL: Duration = Duration::from_secs(30);

/// The network grants of one plugin, with a small resolver cache.
#[derive(Clone)]
pub struct NetPolicy {
    inner: Arc<Inner>,
}

struct Inner {
    plugin: String,
    grants: BTreeSet<(String, u16)>,
    cache: Mutex<HashMap<String, (Instant, Vec<IpAddr>)>>,
}

/// True for addresses a granted *name* must never resolve to.
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || o[0] == 0
                || (o[0] == 100 && (o[1] & 0xc0) == 64) // 100.64.0.0/10 (CGNAT)
                || (o[0] == 192 && o[1] == 0 && o[2] == 0) // 192.0.0.0/24
                || (o[0] == 198 && (o[1] & 0xfe) == 18) // 198.18.0.0/15
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_internal(IpAddr::V4(v4));
            }
            let s = v6.segments();
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local
                || (s[0] & 0xffc0) == 0xfe80 // link local
                || (s[0] == 0xfd00 && s[1] == 0x0ec2) // AWS IMDS v6 (fd00:ec2::254)
        }
    }
}

impl NetPolicy {
    /// The policy for `plugin` with its effective capabilities.
    pub fn new(plugin: &str, effective: &BTreeSet<Capability>) -> NetPolicy {
        let grants = effective
            .iter()
            .filter_map(|c| match c {
                Capability::Net { host, port } => Some((host.clone(), *port)),
                _ => None,
            })
            .collect();
        NetPolicy {
            inner: Arc::new(Inner {
                plugin: plugin.to_string(),
                grants,
                cache: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// True when the plugin was granted any network access.
    pub fn any(&self) -> bool {
        !self.inner.grants.is_empty()
    }

    /// True when some grant names a host (so the guest needs DNS lookups).
    pub fn needs_name_lookup(&self) -> bool {
        self.inner
            .grants
            .iter()
            .any(|(h, _)| h.parse::<IpAddr>().is_err() && h != "localhost")
    }

    fn log_denied(&self, what: &str) {
        tracing::warn!(
            plugin = %self.inner.plugin,
            missing_capability = %what,
            "plugin tried to use a capability it was not granted"
        );
    }

    /// The addresses a grant of `host` may reach.
    async fn addresses_of(&self, host: &str, port: u16) -> Vec<IpAddr> {
        if let Ok(ip) = host.parse::<IpAddr>() {
            return vec![ip];
        }
        if host == "localhost" {
            return vec![
                IpAddr::from([127, 0, 0, 1]),
                IpAddr::from([0u16, 0, 0, 0, 0, 0, 0, 1]),
            ];
        }
        if let Ok(cache) = self.inner.cache.lock()
            && let Some((at, ips)) = cache.get(host)
            && at.elapsed() < DNS_TTL
        {
            return ips.clone();
        }
        let resolved: Vec<IpAddr> = match tokio::net::lookup_host((host, port)).await {
            Ok(addrs) => addrs
                .map(|a| a.ip())
                .filter(|ip| !is_internal(*ip))
                .collect(),
            Err(e) => {
                tracing::debug!(plugin = %self.inner.plugin, host, error = %e, "granted host did not resolve");
                Vec::new()
            }
        };
        if let Ok(mut cache) = self.inner.cache.lock() {
            cache.insert(host.to_string(), (Instant::now(), resolved.clone()));
        }
        resolved
    }

    /// Whether the guest may connect to `addr`.
    pub async fn allows(&self, addr: SocketAddr) -> bool {
        for (host, port) in &self.inner.grants {
            if *port == addr.port() && self.addresses_of(host, *port).await.contains(&addr.ip()) {
                return true;
            }
        }
        false
    }

    /// The check installed as the WASI context's `socket_addr_check`.
    pub async fn check_socket(&self, addr: SocketAddr, usage: SocketAddrUse) -> bool {
        let ok = match usage {
            SocketAddrUse::TcpConnect => self.allows(addr).await,
            // wasmtime-wasi checks the implicit bind to an ephemeral port
            // that precedes every connect. Harmless on its own: listening is
            // checked separately (`TcpListen`) and always refused.
            SocketAddrUse::TcpBind => addr.ip().is_unspecified() && addr.port() == 0,
            // Plugins never listen, and UDP is not offered.
            _ => false,
        };
        if !ok {
            let what = match usage {
                SocketAddrUse::TcpConnect => format!("net:{addr}"),
                other => format!("{other:?} on {addr} (plugins cannot listen or use UDP)"),
            };
            self.log_denied(&what);
        }
        ok
    }

    /// Checks an HTTP request's authority against the grants (and that the
    /// name resolves to a non-internal address); the error is what the guest
    /// sees.
    async fn check_http(&self, uri: &http::Uri) -> Result<(), HttpError> {
        let host = uri
            .host()
            .ok_or(HttpError::HttpRequestUriInvalid)?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        let port = uri.port_u16().unwrap_or(match uri.scheme_str() {
            Some("http") => 80,
            _ => 443,
        });
        if !self.inner.grants.contains(&(host.clone(), port)) {
            self.log_denied(&format!("net:{host}:{port}"));
            return Err(HttpError::HttpRequestDenied);
        }
        if self.addresses_of(&host, port).await.is_empty() {
            // The name resolved to nothing, or only to internal addresses.
            self.log_denied(&format!(
                "net:{host}:{port} (resolves only to internal addresses)"
            ));
            return Err(HttpError::DestinationIpProhibited);
        }
        Ok(())
    }
}

/// The `wasi:http` hooks of one invocation.
pub struct HttpHooks {
    /// The plugin's network policy.
    pub policy: NetPolicy,
}

impl WasiHttpHooks for HttpHooks {
    fn send_request(
        &mut self,
        request: http::Request<wasmtime_wasi_http::WasiBody>,
        options: Option<RequestOptions>,
        fut: Box<dyn Future<Output = Result<(), HttpError>> + Send>,
    ) -> Box<
        dyn Future<
                Output = wasmtime_wasi_http::Result<(
                    http::Response<wasmtime_wasi_http::WasiBody>,
                    Box<dyn Future<Output = Result<(), HttpError>> + Send>,
                )>,
            > + Send,
    > {
        // Like the default sender, errors of response processing are not
        // reported back through `fut`.
        drop(fut);
        let policy = self.policy.clone();
        Box::new(async move {
            policy.check_http(request.uri()).await?;
            use http_body_util::BodyExt;
            let (res, io) = wasmtime_wasi_http::default_send_request(request, options).await?;
            Ok((
                res.map(BodyExt::boxed_unsync),
                Box::new(io) as Box<dyn Future<Output = Result<(), HttpError>> + Send>,
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(grants: &[&str]) -> NetPolicy {
        let caps = grants.iter().map(|g| g.parse().unwrap()).collect();
        NetPolicy::new("test", &caps)
    }

    #[tokio::test]
    async fn only_granted_addresses_connect_and_nothing_listens() {
        let p = policy(&["net:127.0.0.1:8080", "net:localhost:9000"]);
        let addr = |s: &str| s.parse::<SocketAddr>().unwrap();
        assert!(
            p.check_socket(addr("127.0.0.1:8080"), SocketAddrUse::TcpConnect)
                .await
        );
        assert!(
            !p.check_socket(addr("127.0.0.1:8081"), SocketAddrUse::TcpConnect)
                .await
        );
        assert!(
            !p.check_socket(addr("127.0.0.2:8080"), SocketAddrUse::TcpConnect)
                .await
        );
        assert!(
            p.check_socket(addr("[::1]:9000"), SocketAddrUse::TcpConnect)
                .await
        );
        assert!(
            p.check_socket(addr("0.0.0.0:0"), SocketAddrUse::TcpBind)
                .await
        );
        assert!(
            !p.check_socket(addr("0.0.0.0:8080"), SocketAddrUse::TcpBind)
                .await
        );
        assert!(
            !p.check_socket(addr("127.0.0.1:0"), SocketAddrUse::TcpBind)
                .await
        );
        assert!(
            !p.check_socket(addr("0.0.0.0:0"), SocketAddrUse::TcpListen)
                .await
        );
        assert!(
            !p.check_socket(addr("127.0.0.1:8080"), SocketAddrUse::UdpSend)
                .await
        );
        assert!(
            !policy(&[])
                .check_socket(addr("127.0.0.1:8080"), SocketAddrUse::TcpConnect)
                .await
        );
    }

    #[test]
    fn internal_addresses() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fe80::1",
            "fd00:ec2::254",
            "::ffff:127.0.0.1",
        ] {
            assert!(is_internal(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["140.82.112.3", "1.1.1.1", "2606:4700::1111"] {
            assert!(!is_internal(ip.parse().unwrap()), "{ip}");
        }
    }

    #[tokio::test]
    async fn http_needs_an_exact_grant() {
        let p = policy(&["net:127.0.0.1:8080"]);
        assert!(
            p.check_http(&"http://127.0.0.1:8080/x".parse().unwrap())
                .await
                .is_ok()
        );
        assert!(
            p.check_http(&"http://127.0.0.1:8081/x".parse().unwrap())
                .await
                .is_err()
        );
        assert!(
            p.check_http(&"https://127.0.0.1/x".parse().unwrap())
                .await
                .is_err()
        );
        // A granted name that resolves only to internal addresses is refused.
        let p = policy(&["net:localhost.localdomain.invalid:80"]);
        assert!(
            p.check_http(&"http://localhost.localdomain.invalid/".parse().unwrap())
                .await
                .is_err()
        );
    }
}
