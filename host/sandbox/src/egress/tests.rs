//! The proxy against real listeners: a TCP server on the host's loopback
//! (reached only through entries naming it literally), clients on the
//! unix socket, and gates that allow, deny or wait.

use super::*;
use std::sync::Mutex;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// A gate that records what it is told and answers as set.
#[derive(Default)]
struct TestGate {
    answer: Mutex<Option<GateAnswer>>,
    /// When set, `judge` waits for this before answering.
    hold: Mutex<Option<oneshot::Receiver<()>>>,
    judged: Mutex<Vec<(String, u16)>>,
    records: Mutex<Vec<NetworkConnection>>,
    dropped: Arc<AtomicU64>,
    recorded: tokio::sync::Notify,
}

struct DropFlag(Arc<AtomicU64>);
impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

impl EgressGate for TestGate {
    fn judge<'a>(
        &'a self,
        _agent_id: &'a str,
        host: &'a str,
        port: u16,
    ) -> BoxFuture<'a, GateAnswer> {
        self.judged.lock().unwrap().push((host.to_string(), port));
        let hold = self.hold.lock().unwrap().take();
        let flag = DropFlag(self.dropped.clone());
        Box::pin(async move {
            if let Some(rx) = hold {
                let _ = rx.await;
            }
            std::mem::forget(flag);
            self.answer
                .lock()
                .unwrap()
                .clone()
                .unwrap_or(GateAnswer::Deny {
                    reason: "the test gate denies".into(),
                    asked: false,
                })
        })
    }
    fn record<'a>(&'a self, agent_id: &'a str, c: NetworkConnection) -> BoxFuture<'a, ()> {
        assert_eq!(agent_id, "a1");
        self.records.lock().unwrap().push(c);
        self.recorded.notify_waiters();
        Box::pin(async {})
    }
}

impl TestGate {
    fn allowing() -> Arc<TestGate> {
        let g = TestGate::default();
        *g.answer.lock().unwrap() = Some(GateAnswer::Allow {
            reason: "allowed by rule `allow network(*)`".into(),
            asked: false,
        });
        Arc::new(g)
    }

    async fn wait_records(&self, n: usize) -> Vec<NetworkConnection> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let notified = self.recorded.notified();
            if self.records.lock().unwrap().len() >= n {
                return self.records.lock().unwrap().clone();
            }
            assert!(Instant::now() < deadline, "no record came");
            let _ = tokio::time::timeout(Duration::from_millis(100), notified).await;
        }
    }
}

/// An echo server on 127.0.0.1 that answers a plain HTTP request with the
/// request head it got.
async fn server() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = l.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let mut got = Vec::new();
                loop {
                    let n = s.read(&mut buf).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    got.extend_from_slice(&buf[..n]);
                    if got.starts_with(b"GET ") {
                        if http::head_end(&got).is_some() {
                            let body = String::from_utf8_lossy(&got).into_owned();
                            let reply = format!(
                                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                                body.len()
                            );
                            let _ = s.write_all(reply.as_bytes()).await;
                            return;
                        }
                    } else {
                        let _ = s.write_all(&got).await;
                        got.clear();
                    }
                }
            });
        }
    });
    port
}

fn proxy(allow: &[&str], gate: Option<Arc<TestGate>>) -> (tempfile::TempDir, EgressProxy) {
    let dir = tempfile::tempdir().unwrap();
    let allow = allow.iter().map(|p| p.parse().unwrap()).collect();
    let gate = gate.map(|g| g as Arc<dyn EgressGate>);
    let p = EgressProxy::start(dir.path().join("run/egress/a1.sock"), "a1", allow, gate).unwrap();
    (dir, p)
}

/// Sends `request` and reads the answer to its end.
async fn ask(p: &EgressProxy, request: &str) -> String {
    let mut c = UnixStream::connect(p.socket()).await.unwrap();
    c.write_all(request.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), c.read_to_end(&mut out))
        .await
        .unwrap()
        .unwrap();
    String::from_utf8_lossy(&out).into_owned()
}

/// Opens a tunnel; returns the stream after the `200`.
async fn tunnel(p: &EgressProxy, target: &str) -> Result<UnixStream, String> {
    let mut c = UnixStream::connect(p.socket()).await.unwrap();
    c.write_all(format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut got = Vec::new();
    let mut b = [0u8; 1];
    while http::head_end(&got).is_none() {
        if c.read(&mut b).await.unwrap() == 0 {
            break;
        }
        got.push(b[0]);
    }
    let head = String::from_utf8_lossy(&got).into_owned();
    if head.starts_with("HTTP/1.1 200") {
        Ok(c)
    } else {
        let mut rest = String::new();
        let _ = c.read_to_string(&mut rest).await;
        Err(head + &rest)
    }
}

#[tokio::test]
async fn a_literal_entry_reaches_its_address_and_the_tunnel_is_counted() {
    let port = server().await;
    let gate = Arc::new(TestGate::default());
    let (_d, p) = proxy(&[&format!("127.0.0.1:{port}")], Some(gate.clone()));
    let mut t = tunnel(&p, &format!("127.0.0.1:{port}")).await.unwrap();
    t.write_all(b"ping").await.unwrap();
    let mut b = [0u8; 4];
    t.read_exact(&mut b).await.unwrap();
    assert_eq!(&b, b"ping");
    drop(t);
    let r = gate.wait_records(1).await;
    assert_eq!(r[0].verdict, NetworkVerdict::Allowed);
    assert_eq!(r[0].address.as_deref(), Some("127.0.0.1"));
    assert_eq!((r[0].bytes_sent, r[0].bytes_received), (4, 4));
    assert!(r[0].reason.contains("allow-list"), "{}", r[0].reason);
    assert!(gate.judged.lock().unwrap().is_empty(), "listed: no gate");
}

#[tokio::test]
async fn plain_http_is_forwarded_in_origin_form() {
    let port = server().await;
    let gate = Arc::new(TestGate::default());
    let (_d, p) = proxy(&["localhost"], Some(gate.clone()));
    let answer = ask(
        &p,
        &format!(
            "GET http://localhost:{port}/x?y=1 HTTP/1.1\r\nHost: localhost:{port}\r\n\
             Proxy-Connection: keep-alive\r\n\r\n"
        ),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
    assert!(answer.contains("GET /x?y=1 HTTP/1.1\r\n"), "{answer}");
    assert!(answer.contains("Connection: close\r\n"), "{answer}");
    assert!(!answer.contains("Proxy-Connection"), "{answer}");
    let r = gate.wait_records(1).await;
    assert_eq!(r[0].verdict, NetworkVerdict::Allowed);
    assert!(r[0].bytes_received > 0 && r[0].bytes_sent > 0, "{:?}", r[0]);
}

#[tokio::test]
async fn a_host_not_on_the_list_is_refused_with_a_403_that_says_why() {
    let (_d, p) = proxy(&["pypi.org"], None);
    let answer = ask(
        &p,
        "GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 403 Forbidden"), "{answer}");
    assert!(
        answer.contains("example.com:80 is not on this agent's network allow-list (pypi.org)"),
        "{answer}"
    );
    let e = tunnel(&p, "pypi.org:22").await.err().unwrap();
    assert!(e.contains("403") && e.contains("pypi.org:22"), "{e}");
}

#[tokio::test]
async fn the_gate_decides_unlisted_hosts_but_never_opens_forbidden_addresses() {
    let port = server().await;
    let gate = TestGate::allowing();
    let (_d, p) = proxy(&["pypi.org"], Some(gate.clone()));
    // Allowed by the gate, but a name that resolves to loopback…
    let e = tunnel(&p, &format!("localhost:{port}"))
        .await
        .err()
        .unwrap();
    assert!(e.contains("403"), "{e}");
    assert!(e.contains("localhost resolves to"), "{e}");
    assert!(e.contains("loopback"), "{e}");
    // …an address literal on loopback, a private one, metadata…
    for (target, why) in [
        (format!("127.0.0.1:{port}"), "loopback"),
        ("10.1.2.3:80".to_string(), "private"),
        ("169.254.169.254:80".to_string(), "metadata"),
        ("[::ffff:127.0.0.1]:80".to_string(), "loopback"),
    ] {
        let e = tunnel(&p, &target).await.err().unwrap();
        assert!(e.contains("403") && e.contains(why), "{target}: {e}");
    }
    let r = gate.wait_records(5).await;
    assert!(r.iter().all(|c| c.verdict == NetworkVerdict::Refused));
    assert!(
        r[0].address
            .as_deref()
            .is_some_and(|a| a == "127.0.0.1" || a == "::1"),
        "{:?}",
        r[0].address
    );
    assert_eq!(gate.judged.lock().unwrap().len(), 5);
}

#[tokio::test]
async fn a_literal_entry_allows_only_its_own_address_and_port() {
    let port = server().await;
    let (_d, p) = proxy(&[&format!("127.0.0.1:{port}"), "localhost:1"], None);
    let e = tunnel(&p, &format!("127.0.0.2:{port}"))
        .await
        .err()
        .unwrap();
    assert!(e.contains("not on this agent's network allow-list"), "{e}");
    let e = tunnel(&p, &format!("localhost:{port}"))
        .await
        .err()
        .unwrap();
    assert!(e.contains("not on this agent's network allow-list"), "{e}");
    let e = tunnel(&p, "[::1]:1").await.err().unwrap();
    assert!(e.contains("403"), "{e}");
}

#[tokio::test]
async fn a_parked_decision_lets_the_client_wait_then_go_on() {
    let port = server().await;
    let gate = TestGate::allowing();
    let (tx, rx) = oneshot::channel();
    *gate.hold.lock().unwrap() = Some(rx);
    // The gate allows `approved.invalid` once released; the name does not
    // resolve, so after waiting the client is told that (502).
    let (_d, p) = proxy(&[&format!("127.0.0.1:{port}")], Some(gate.clone()));
    let client = tokio::spawn({
        let path = p.socket().to_path_buf();
        async move {
            let mut c = UnixStream::connect(path).await.unwrap();
            c.write_all(b"CONNECT approved.invalid:443 HTTP/1.1\r\n\r\n")
                .await
                .unwrap();
            let mut out = String::new();
            c.read_to_string(&mut out).await.unwrap();
            out
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!client.is_finished(), "the client waits for the decision");
    tx.send(()).unwrap();
    let out = client.await.unwrap();
    assert!(out.starts_with("HTTP/1.1 502"), "{out}");
    assert!(out.contains("approved.invalid"), "{out}");
    let r = gate.wait_records(1).await;
    assert_eq!(r[0].verdict, NetworkVerdict::Allowed);
    assert!(r[0].reason.contains("allow network(*)"), "{}", r[0].reason);
}

#[tokio::test]
async fn a_client_that_leaves_while_the_gate_waits_drops_the_question() {
    let gate = TestGate::allowing();
    let (_tx, rx) = oneshot::channel::<()>();
    *gate.hold.lock().unwrap() = Some(rx);
    let (_d, p) = proxy(&["pypi.org"], Some(gate.clone()));
    let mut c = UnixStream::connect(p.socket()).await.unwrap();
    c.write_all(b"CONNECT other.example:443 HTTP/1.1\r\n\r\n")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(gate.judged.lock().unwrap().len(), 1);
    drop(c);
    let deadline = Instant::now() + Duration::from_secs(5);
    while gate.dropped.load(Ordering::SeqCst) == 0 {
        assert!(
            Instant::now() < deadline,
            "the gate's future was not dropped"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn garbage_gets_a_400_and_an_endless_head_a_431() {
    let (_d, p) = proxy(&["pypi.org"], None);
    for bad in [
        "hello\r\n\r\n",
        "GET /relative HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET https://pypi.org/ HTTP/1.1\r\n\r\n",
        "\u{0}\u{1}\u{2}\r\n\r\n",
    ] {
        let a = ask(&p, bad).await;
        assert!(a.starts_with("HTTP/1.1 400 Bad Request"), "{bad:?}: {a}");
    }
    let mut c = UnixStream::connect(p.socket()).await.unwrap();
    let line = format!("X-Filler: {}\r\n", "a".repeat(1000));
    let _ = c.write_all(b"GET http://pypi.org/ HTTP/1.1\r\n").await;
    for _ in 0..40 {
        if c.write_all(line.as_bytes()).await.is_err() {
            break;
        }
    }
    let mut out = Vec::new();
    let _ = c.read_to_end(&mut out).await;
    let out = String::from_utf8_lossy(&out);
    assert!(out.starts_with("HTTP/1.1 431"), "{out}");
}

#[tokio::test]
async fn the_sockets_directory_is_private_and_the_socket_goes_with_the_proxy() {
    use std::os::unix::fs::PermissionsExt;
    let (_d, p) = proxy(&["pypi.org"], None);
    let path = p.socket().to_path_buf();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o666, "{mode:o}: a container's user connects");
    let dir = std::fs::metadata(path.parent().unwrap())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(dir & 0o777, 0o700, "{dir:o}");
    drop(p);
    assert!(!path.exists());
    assert!(UnixStream::connect(&path).await.is_err());
}

#[test]
fn the_proxy_environment_keeps_the_sandboxs_own_loopback_unless_listed() {
    let env: std::collections::HashMap<_, _> = proxy_env().into_iter().collect();
    for k in ["HTTP_PROXY", "HTTPS_PROXY", "https_proxy", "ALL_PROXY"] {
        assert_eq!(env[k], "http://127.0.0.1:3128", "{k}");
    }
    assert_eq!(env["NO_PROXY"], "localhost,127.0.0.1,::1");
    let listed: Vec<HostPattern> = vec![
        "localhost".parse().unwrap(),
        "127.0.0.1:8080".parse().unwrap(),
    ];
    let env: std::collections::HashMap<_, _> = proxy_env_for(&listed).into_iter().collect();
    assert_eq!(env["no_proxy"], "::1");
}
