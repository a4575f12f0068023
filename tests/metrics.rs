//! Metrics end to end: an agent on the scripted model, whose usage numbers
//! are fixed by the script, so every total and cost is known exactly; the
//! `/metrics` exposition checked by `promtool check metrics` and scraped by
//! a real Prometheus server (Debian's `prometheus`, installed by
//! `scripts/setup-test.sh`).

use crate::common;

use common::scripted::*;
use serde_json::Value;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const SCRIPT: &str = r#"
model: scripted
turns:
  - text: "Reading the notes."
    tool_calls: [{name: read_file, arguments: {path: notes.txt}}]
    usage: {prompt_tokens: 1200, completion_tokens: 30, cached_tokens: 200}
  - text: "Done."
    usage: {prompt_tokens: 1500, completion_tokens: 10, cached_tokens: 1000}
"#;

/// The scripted provider's prices (tests/common): input 1.0, cached 0.5,
/// output 2.0 USD per million tokens.
fn cost(input: f64, cached: f64, output: f64) -> f64 {
    ((input - cached) * 1.0 + cached * 0.5 + output * 2.0) / 1e6
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-12
}

/// A sample's value in Prometheus text (`series` with its labels).
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_usage_cost_and_prometheus_are_exact() {
    let s = setup(SCRIPT, "", &[]).await;
    std::fs::write(s.workspace.path().join("notes.txt"), "red\n").unwrap();
    let id = s.create("read the notes").await;
    let evs = s.wait_status(&id, 0, &["idle", "error"]).await;
    assert_eq!(
        matching!(evs, EventBody::Usage { .. }).len(),
        2,
        "two model calls: {}",
        summary(&evs)
    );
    let c1 = cost(1200.0, 200.0, 30.0);
    let c2 = cost(1500.0, 1000.0, 10.0);

    // Per agent.
    let m = s.get(&format!("/api/metrics/agents/{id}")).await;
    assert_eq!(m["model"]["calls"], 2);
    assert_eq!(m["tokens"]["input"], 2700);
    assert_eq!(m["tokens"]["cached"], 1200);
    assert_eq!(m["tokens"]["output"], 40);
    assert!(close(
        m["tokens"]["cached_share"].as_f64().unwrap(),
        1200.0 / 2700.0
    ));
    assert!(close(m["cost_usd"].as_f64().unwrap(), c1 + c2), "{m}");
    assert_eq!(m["unpriced_calls"], 0);
    assert_eq!(m["turns"], 1);
    assert_eq!(m["messages"], 3);
    assert_eq!(m["conversation_tokens"], 1510);
    assert_eq!(m["status"], "idle");
    assert_eq!(m["tools"][0]["tool"], "read_file");
    assert_eq!(m["tools"][0]["calls"], 1);
    assert_eq!(m["tools"][0]["failures"], 0);
    assert_eq!(m["model"]["duration_ms"]["samples"], 2);
    assert_eq!(
        m["model"]["ttft_ms"]["samples"], 2,
        "both answers streamed text"
    );
    let all = s.get("/api/metrics/agents").await;
    assert!(all.as_array().unwrap().iter().any(|a| a["agent_id"] == id));

    // Usage, grouped.
    let u = s.get("/api/metrics/usage?group_by=model,agent,day").await;
    let rows = u["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{u}");
    assert_eq!(rows[0]["provider"], "scripted");
    assert_eq!(rows[0]["model"], "scripted");
    assert_eq!(rows[0]["agent_id"], id.as_str());
    assert_eq!(
        rows[0]["day"],
        chrono::Utc::now().date_naive().to_string().as_str()
    );
    assert_eq!(rows[0]["model_calls"], 2);
    assert_eq!(rows[0]["input_tokens"], 2700);
    assert!(close(rows[0]["cost_usd"].as_f64().unwrap(), c1 + c2));
    assert!(close(u["total"]["cost_usd"].as_f64().unwrap(), c1 + c2));
    // A range before the calls is empty; an agent filter keeps them.
    let empty = s
        .get("/api/metrics/usage?from=2020-01-01&to=2020-02-01")
        .await;
    assert_eq!(empty["total"]["model_calls"], 0);
    let mine = s.get(&format!("/api/metrics/usage?agent={id}")).await;
    assert_eq!(mine["total"]["model_calls"], 2);

    // Cost analysis.
    let ca = s.get("/api/metrics/cost-analysis").await;
    assert!(
        close(ca["spend_to_date_usd"].as_f64().unwrap(), c1 + c2),
        "{ca}"
    );
    assert!(close(ca["spend_today_usd"].as_f64().unwrap(), c1 + c2));
    assert!(ca["projected_month_usd"].as_f64().unwrap() >= c1 + c2);
    assert_eq!(ca["top_agents"][0]["agent_id"], id.as_str());
    assert_eq!(ca["top_tools"][0]["tool"], "read_file");
    assert_eq!(ca["cache"]["cached_tokens"], 1200);
    // Cache hits billed at 0.5 instead of 1.0 per million.
    assert!(close(
        ca["cache"]["saved_usd"].as_f64().unwrap(),
        1200.0 * 0.5 / 1e6
    ));

    // The same figures pushed over the WebSocket at a chosen interval.
    {
        use futures::{SinkExt, StreamExt};
        use tokio_tungstenite::tungstenite::Message;
        let (mut ws, _) = tokio_tungstenite::connect_async(s.server.ws_url())
            .await
            .unwrap();
        let send = |v: Value| Message::Text(v.to_string().into());
        ws.send(send(
            serde_json::json!({"op": "watch_metrics", "agent_id": id, "interval_ms": 10}),
        ))
        .await
        .unwrap();
        let mut updates = 0;
        let mut errors = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        ws.send(send(
            serde_json::json!({"op": "watch_metrics", "agent_id": id, "interval_ms": 300}),
        ))
        .await
        .unwrap();
        while updates < 2 && Instant::now() < deadline {
            let Some(Ok(Message::Text(t))) = ws.next().await else {
                continue;
            };
            let v: Value = serde_json::from_str(t.as_str()).unwrap();
            match v["op"].as_str() {
                Some("metrics.update") => {
                    assert_eq!(v["agent_id"], id.as_str());
                    assert_eq!(v["metrics"][0]["tokens"]["input"], 2700);
                    updates += 1;
                }
                Some("error") => errors.push(v),
                _ => {}
            }
        }
        assert_eq!(updates, 2);
        assert!(
            errors
                .iter()
                .any(|e| e["message"].as_str().unwrap_or("").contains("interval_ms")),
            "an interval of 10 ms is refused: {errors:?}"
        );
        // Every agent's, without an agent id; then 0 stops.
        ws.send(send(
            serde_json::json!({"op": "watch_metrics", "interval_ms": 250}),
        ))
        .await
        .unwrap();
        loop {
            let Some(Ok(Message::Text(t))) = ws.next().await else {
                continue;
            };
            let v: Value = serde_json::from_str(t.as_str()).unwrap();
            if v["op"] == "metrics.update" {
                assert!(v.get("agent_id").is_none());
                assert!(
                    v["metrics"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|m| m["agent_id"] == id.as_str())
                );
                break;
            }
        }
        ws.send(send(
            serde_json::json!({"op": "watch_metrics", "interval_ms": 0}),
        ))
        .await
        .unwrap();
        // Drain what was queued before the stop, then nothing more comes.
        tokio::time::sleep(Duration::from_millis(300)).await;
        while let Ok(Some(_)) = tokio::time::timeout(Duration::from_millis(50), ws.next()).await {}
        let after = tokio::time::timeout(Duration::from_millis(1200), ws.next()).await;
        assert!(after.is_err(), "an update after stopping: {after:?}");
    }

    // Prometheus text: exact counters, valid for promtool.
    let text = s
        .http
        .get(s.server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let v = |series: &str| sample(&text, series);
    assert_eq!(
        v(r#"paddock_model_calls_total{model="scripted",provider="scripted"}"#),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        v(r#"paddock_model_tokens_total{kind="cached",model="scripted",provider="scripted"}"#),
        Some(1200.0)
    );
    assert!(close(
        v(r#"paddock_model_cost_usd_total{model="scripted",provider="scripted"}"#).unwrap(),
        c1 + c2
    ));
    assert_eq!(
        v(r#"paddock_tool_calls_total{outcome="success",tool="read_file"}"#),
        Some(1.0)
    );
    assert_eq!(v(r#"paddock_agents{status="idle"}"#), Some(1.0));
    assert!(!text.contains(&id), "agent ids are not labels");
    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (Debian package prometheus; scripts/setup-test.sh installs it)");
    {
        use std::io::Write;
        let mut stdin = promtool.stdin.take().unwrap();
        stdin.write_all(text.as_bytes()).unwrap();
    }
    let out = promtool.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // A real Prometheus scrapes it.
    let target = s.server.base.trim_start_matches("http://").to_string();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: paddock\n    \
             metrics_path: /metrics\n    authorization:\n      credentials: {token}\n    \
             static_configs:\n      - targets: ['{target}']\n",
            token = common::USER_TOKEN
        ),
    )
    .unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut prom = Command::new("prometheus")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("prometheus (Debian package prometheus)");
    let started = Instant::now();
    let query = |q: &str| {
        format!(
            "http://127.0.0.1:{port}/api/v1/query?query={}",
            form_urlencoded::byte_serialize(q.as_bytes()).collect::<String>()
        )
    };
    let mut last = Value::Null;
    let scraped = loop {
        if started.elapsed() > Duration::from_secs(60) {
            break false;
        }
        if let Ok(r) = s
            .http
            .get(query(r#"paddock_model_calls_total{provider="scripted"}"#))
            .send()
            .await
            && let Ok(body) = r.json::<Value>().await
        {
            last = body.clone();
            if body["data"]["result"][0]["value"][1] == "2" {
                break true;
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let up: Value = match s.http.get(query(r#"up{job="paddock"}"#)).send().await {
        Ok(r) => r.json().await.unwrap_or(Value::Null),
        Err(_) => Value::Null,
    };
    // Every query of the Grafana dashboard is valid PromQL over metrics
    // that exist.
    let grafana: Value = serde_json::from_str(
        &std::fs::read_to_string(common::repo_root().join("deploy/grafana/paddock.json")).unwrap(),
    )
    .unwrap();
    let families: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split(' ').next())
        .collect();
    let mut bad = Vec::new();
    let names = regex::Regex::new(r"paddock_[a-z_]+").unwrap();
    for panel in grafana["panels"].as_array().unwrap() {
        for t in panel["targets"].as_array().unwrap() {
            let expr = t["expr"].as_str().unwrap().replace("$__range", "1h");
            for m in names.find_iter(&expr) {
                let name = m.as_str();
                let family = ["_bucket", "_sum", "_count"]
                    .iter()
                    .find_map(|s| name.strip_suffix(s))
                    .unwrap_or(name);
                if !families.contains(&family) {
                    bad.push(format!("{}: no metric {name}", panel["title"]));
                }
            }
            let r: Value = s
                .http
                .get(query(&expr))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap_or(Value::Null);
            if r["status"] != "success" {
                bad.push(format!("{}: {expr}: {r}", panel["title"]));
            }
        }
    }
    let _ = prom.kill();
    let _ = prom.wait();
    assert!(scraped, "Prometheus never saw the counter: {last}");
    assert_eq!(up["data"]["result"][0]["value"][1], "1", "{up}");
    assert!(
        bad.is_empty(),
        "Grafana dashboard queries:\n{}",
        bad.join("\n")
    );
}
