//! The egress allow-list through the real binary: an agent whose network
//! is an allow-list gets an egress proxy with its sandbox; connections
//! through it (made here on its unix socket, as the sandbox's command
//! server would) reach a listed test server, are refused for other hosts,
//! the host's loopback services (the Paddock API, PostgreSQL), a private
//! address a rule allows, and a name that resolves to loopback; a rule
//! `ask network(…)` parks an approval and the connection goes on once it
//! is granted; every connection is a `network.connection` event.
//!
//! The sandbox's own end (127.0.0.1:3128 in the jail spliced to this
//! socket by the command server) is the persistent sandboxes' part; until
//! it lands, the proxy is driven at its socket.

use crate::common::scripted::*;
use paddock_protocol::network::{NetworkConnection, NetworkVerdict};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

const SCRIPT: &str = r#"
scenarios:
  - match: "^work"
    turns:
      - tool_calls: [{name: execute_bash, arguments: {command: "echo started; sleep 40", timeout_secs: 60}}]
      - text: "done"
"#;

/// A TCP echo server on 127.0.0.1.
async fn echo_server() -> u16 {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut b = [0u8; 1024];
                while let Ok(n) = s.read(&mut b).await {
                    if n == 0 || s.write_all(&b[..n]).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    port
}

/// The egress proxy's socket of the (only) sandbox, once it exists.
async fn proxy_socket(s: &Setup, id: &str) -> PathBuf {
    let root = s.paddock.data_dir().join("run").join("egress");
    let started = Instant::now();
    loop {
        let found = std::fs::read_dir(&root).ok().and_then(|owners| {
            owners.flatten().find_map(|owner| {
                std::fs::read_dir(owner.path())
                    .ok()?
                    .flatten()
                    .find_map(|f| {
                        let p = f.path();
                        (p.extension().is_some_and(|e| e == "sock")).then_some(p)
                    })
            })
        });
        if let Some(p) = found {
            return p;
        }
        if started.elapsed() > Duration::from_secs(20) {
            panic!(
                "no egress socket under {}: {}",
                root.display(),
                summary(&s.events(id).await)
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `CONNECT target`; Ok(the tunnel) on 200, Err(the whole answer) else.
async fn connect(socket: &Path, target: &str) -> Result<UnixStream, String> {
    let mut c = UnixStream::connect(socket).await.unwrap();
    c.write_all(format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if c.read(&mut b).await.unwrap() == 0 {
            break;
        }
        head.push(b[0]);
    }
    if head.starts_with(b"HTTP/1.1 200") {
        return Ok(c);
    }
    let mut rest = Vec::new();
    let _ = c.read_to_end(&mut rest).await;
    head.extend(rest);
    Err(String::from_utf8_lossy(&head).into_owned())
}

fn connections(evs: &[Event]) -> Vec<NetworkConnection> {
    evs.iter()
        .filter_map(|e| match &e.body {
            EventBody::NetworkConnection(c) => Some(c.clone()),
            _ => None,
        })
        .collect()
}

async fn wait_connections(s: &Setup, id: &str, n: usize) -> Vec<NetworkConnection> {
    let started = Instant::now();
    loop {
        let c = connections(&s.events(id).await);
        if c.len() >= n {
            return c;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "only {} connections recorded: {c:?}",
            c.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn an_allow_list_lets_its_hosts_through_refuses_the_rest_and_records_it_all() {
    let echo = echo_server().await;
    let s = setup(SCRIPT, "[sandbox]\nbackend = \"bwrap\"\n", &[]).await;
    let api_port = s.server.base.rsplit(':').next().unwrap().to_string();
    let id = s
        .create_with(
            "work",
            json!({
                "approval_mode": "auto",
                "network": [format!("127.0.0.1:{echo}"), "vm", "pypi.org"],
                "rules": ["ask network(asked.invalid)", "allow network(10.9.8.7)"],
            }),
        )
        .await;
    let socket = proxy_socket(&s, &id).await;

    // The listed test server, through a tunnel, both ways.
    let mut t = connect(&socket, &format!("127.0.0.1:{echo}"))
        .await
        .unwrap();
    t.write_all(b"ping").await.unwrap();
    let mut b = [0u8; 4];
    t.read_exact(&mut b).await.unwrap();
    assert_eq!(&b, b"ping");
    drop(t);

    // Refused: another host, the API and PostgreSQL on the host's
    // loopback, a private address a rule allows, a listed name that
    // resolves to loopback (`vm` is 127.0.0.1 in /etc/hosts).
    for (target, why) in [
        (
            "example.com:443".to_string(),
            "not on this agent's network allow-list",
        ),
        (
            format!("127.0.0.1:{api_port}"),
            "not on this agent's network allow-list",
        ),
        (
            "127.0.0.1:5432".to_string(),
            "not on this agent's network allow-list",
        ),
        ("10.9.8.7:80".to_string(), "a private network address"),
        (
            "vm:22".to_string(),
            "vm resolves to 127.0.0.1, a loopback address",
        ),
    ] {
        let answer = connect(&socket, &target).await.err().unwrap_or_else(|| {
            panic!("{target} was let through");
        });
        assert!(
            answer.starts_with("HTTP/1.1 403 Forbidden"),
            "{target}: {answer}"
        );
        assert!(answer.contains(why), "{target}: {answer}");
    }

    // `ask`: the connection waits for a human, then goes on (the name
    // does not resolve: 502, not 403).
    let asking = tokio::spawn({
        let socket = socket.clone();
        async move { connect(&socket, "asked.invalid:443").await.err().unwrap() }
    });
    let started = Instant::now();
    let approval = loop {
        let list = s.get(&format!("/api/approvals?agent={id}")).await;
        if let Some(a) = list["approvals"].as_array().and_then(|a| a.first()) {
            break a.clone();
        }
        assert!(started.elapsed() < DEADLINE, "no network approval");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(approval["tool"], "network");
    assert_eq!(
        approval["request"]["arguments"],
        json!({"host": "asked.invalid", "port": 443})
    );
    assert_eq!(
        approval["request"]["remember"]["agent"],
        "allow network(asked.invalid:443)"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        !asking.is_finished(),
        "the connection waits for the decision"
    );
    let call = approval["call_id"].as_str().unwrap();
    let r = s
        .http
        .post(s.server.url(&format!("/api/agents/{id}/approvals/{call}")))
        .json(&json!({"approved": true, "remember": "agent"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let answer = asking.await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 502"), "{answer}");
    assert!(answer.contains("asked.invalid"), "{answer}");

    // Every connection is an event.
    let c = wait_connections(&s, &id, 7).await;
    let ok = c
        .iter()
        .find(|c| c.host == "127.0.0.1" && c.port == echo)
        .unwrap();
    assert_eq!(ok.verdict, NetworkVerdict::Allowed);
    assert_eq!((ok.bytes_sent, ok.bytes_received), (4, 4));
    let refused: Vec<&NetworkConnection> = c
        .iter()
        .filter(|c| c.verdict == NetworkVerdict::Refused)
        .collect();
    assert_eq!(refused.len(), 5, "{c:?}");
    assert!(
        refused
            .iter()
            .any(|c| c.host == "vm" && c.address.as_deref() == Some("127.0.0.1"))
    );
    let asked = c.iter().find(|c| c.host == "asked.invalid").unwrap();
    assert!(
        asked.asked && asked.verdict == NetworkVerdict::Allowed,
        "{asked:?}"
    );
    let evs = s.events(&id).await;
    assert!(
        evs.iter().any(|e| matches!(&e.body, EventBody::ApprovalDecided { tool, approved: true, rule: Some(r), .. }
            if tool == "network" && r == "allow network(asked.invalid:443)")),
        "{}",
        summary(&evs)
    );
    // Remembered for the agent: the next connection is not asked about.
    let again = connect(&socket, "asked.invalid:443").await.err().unwrap();
    assert!(again.starts_with("HTTP/1.1 502"), "{again}");
    let rules: Value = s.get("/api/policy/rules").await;
    assert!(
        rules
            .to_string()
            .contains("allow network(asked.invalid:443)"),
        "{rules}"
    );
}

/// A plain HTTP server on 127.0.0.1 that answers every request `hello`.
async fn http_server() -> u16 {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut got = Vec::new();
                let mut b = [0u8; 1024];
                while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut b).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => got.extend_from_slice(&b[..n]),
                    }
                }
                let _ = s
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 17\r\nConnection: close\r\n\r\nhello from host\r\n")
                    .await;
            });
        }
    });
    port
}

/// What the sandbox's command printed (its `tool.result` content).
fn command_output(evs: &[Event]) -> String {
    evs.iter()
        .find_map(|e| match &e.body {
            EventBody::ToolResult { tool, content, .. } if tool == "execute_bash" => {
                Some(content.clone())
            }
            _ => None,
        })
        .unwrap_or_default()
}

/// Inside a real bubblewrap sandbox (persistent, with the command
/// server's egress bridge): curl reaches the listed server through the
/// proxy, is refused for another host and the host's loopback services
/// (403 with the reason), and a program that ignores the proxy variables
/// fails at once (no route), not after a hang.
#[tokio::test]
async fn in_a_bwrap_sandbox_only_the_proxy_leads_out() {
    let port = http_server().await;
    let script = format!(
        r#"
scenarios:
  - match: "^curl"
    turns:
      - tool_calls: [{{name: execute_bash, arguments: {{command: "curl -sS http://127.0.0.1:{port}/; echo; curl -sS http://example.com/; echo; curl -sS -o /dev/null -w 'postgres %{{http_code}}' http://127.0.0.1:5432/; echo; s=$(date +%s%N); curl --noproxy '*' -sS -m 20 http://93.184.216.34/ 2>&1; echo \"direct exit=$? ms=$(( ($(date +%s%N) - s) / 1000000 ))\"", timeout_secs: 60}}}}]
      - text: "done"
"#
    );
    let s = setup(&script, "[sandbox]\nbackend = \"bwrap\"\n", &[]).await;
    let id = s
        .create_with(
            "curl",
            json!({"approval_mode": "auto", "network": [format!("127.0.0.1:{port}")]}),
        )
        .await;
    let evs = s.wait_status(&id, 0, &["idle", "error"]).await;
    let out = command_output(&evs);
    assert!(out.contains("hello from host"), "{out}\n{}", summary(&evs));
    assert!(
        out.contains("Paddock refused the connection to example.com:80"),
        "{out}"
    );
    assert!(out.contains("postgres 403"), "{out}");
    let direct = out
        .lines()
        .find(|l| l.starts_with("direct exit="))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(!direct.starts_with("direct exit=0"), "{out}");
    let ms: u64 = direct.rsplit("ms=").next().unwrap().trim().parse().unwrap();
    assert!(ms < 5000, "ignoring the proxy took {ms} ms: {out}");
    eprintln!("a direct connection failed in {ms} ms: {direct}");
    let c = wait_connections(&s, &id, 3).await;
    assert!(
        c.iter().any(|c| c.port == port
            && c.verdict == NetworkVerdict::Allowed
            && c.bytes_received > 0),
        "{c:?}"
    );
    assert!(
        c.iter()
            .any(|c| c.host == "example.com" && c.verdict == NetworkVerdict::Refused),
        "{c:?}"
    );
    assert!(
        c.iter()
            .any(|c| c.port == 5432 && c.verdict == NetworkVerdict::Refused),
        "{c:?}"
    );
}

/// The same inside a Docker sandbox (Podman's Docker API, the image built
/// locally): Python's urllib, which reads the proxy variables, reaches the
/// listed server and is refused elsewhere; a socket that ignores them
/// fails at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_a_docker_sandbox_only_the_proxy_leads_out() {
    let engine = crate::common::podman::engine();
    let port = http_server().await;
    let py = format!(
        "import socket, time, urllib.request, urllib.error\n\
         print(urllib.request.urlopen('http://127.0.0.1:{port}/').read().decode().strip())\n\
         try:\n    urllib.request.urlopen('http://example.com/')\n\
         except urllib.error.HTTPError as e:\n    print('example', e.code, e.read().decode().strip())\n\
         t = time.time()\n\
         try:\n    socket.create_connection(('93.184.216.34', 80), timeout=20)\n    print('direct connected')\n\
         except OSError as e:\n    print('direct failed ms=%d %s' % ((time.time() - t) * 1000, e))\n"
    );
    let script = r#"
scenarios:
  - match: "^py"
    turns:
      - tool_calls: [{name: execute_bash, arguments: {command: "python3 /workspace/p.py", timeout_secs: 60}}]
      - text: "done"
"#;
    let config = format!(
        "[sandbox]\nbackend = \"docker\"\ndocker_host = \"{}\"\n",
        engine.endpoint
    );
    let s = setup(script, &config, &[]).await;
    std::fs::write(s.workspace.path().join("p.py"), py).unwrap();
    std::os::unix::fs::chown(s.workspace.path(), Some(1000), Some(1000)).unwrap();
    let id = s
        .create_with(
            "py",
            json!({"approval_mode": "auto", "network": [format!("127.0.0.1:{port}")]}),
        )
        .await;
    let evs = s.wait_status(&id, 0, &["idle", "error"]).await;
    let out = command_output(&evs);
    assert!(out.contains("hello from host"), "{out}\n{}", summary(&evs));
    assert!(
        out.contains("example 403 Paddock refused the connection to example.com:80"),
        "{out}"
    );
    let direct = out
        .lines()
        .find(|l| l.starts_with("direct "))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(direct.starts_with("direct failed"), "{out}");
    let ms: u64 = direct
        .trim_start_matches("direct failed ms=")
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(ms < 5000, "ignoring the proxy took {ms} ms: {out}");
    eprintln!("docker: a direct connection failed in {ms} ms: {direct}");
    let c = wait_connections(&s, &id, 2).await;
    assert!(
        c.iter()
            .any(|c| c.port == port && c.verdict == NetworkVerdict::Allowed),
        "{c:?}"
    );
}

/// A network approval pending when the host is killed is cancelled at the
/// next start (its connection died with the host), recorded as
/// `approval.decided`.
#[tokio::test]
async fn a_network_approval_left_by_a_killed_host_is_cancelled_at_the_next_start() {
    let mut s = setup(SCRIPT, "[sandbox]\nbackend = \"bwrap\"\n", &[]).await;
    let id = s
        .create_with(
            "work",
            json!({"approval_mode": "auto", "network": ["pypi.org"], "rules": ["ask network(*)"]}),
        )
        .await;
    let socket = proxy_socket(&s, &id).await;
    let asking = tokio::spawn(async move { connect(&socket, "asked.invalid:443").await });
    let started = Instant::now();
    loop {
        let list = s.get(&format!("/api/approvals?agent={id}")).await;
        if list["approvals"].as_array().is_some_and(|a| !a.is_empty()) {
            break;
        }
        assert!(started.elapsed() < DEADLINE, "no network approval");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    s.server.kill9();
    let refused = asking.await.unwrap();
    assert!(refused.is_err(), "the connection died with the host");
    s.server = crate::common::Server::start(&s.paddock, &s.config, None, &[]);
    let list = s.get(&format!("/api/approvals?agent={id}")).await;
    assert_eq!(list["approvals"], json!([]), "{list}");
    let evs = s.events(&id).await;
    assert!(
        evs.iter().any(|e| matches!(&e.body, EventBody::ApprovalDecided { tool, status, by, .. }
            if tool == "network" && *status == paddock_store::ApprovalStatus::Cancelled && by == "restart")),
        "{}",
        summary(&evs)
    );
}
