//! `paddock bench users`: what authorization costs. N users, each with a
//! personal access token and several agents on the scripted model, drive
//! the API (create agents, post messages, read an agent and the list) and
//! one WebSocket each (subscribed to their agents) all at once. The same
//! load runs against a server started with `--unsafe-no-auth` (no
//! credentials, no per-user filtering) in the same run; the report gives
//! p50/p99 of API calls and of event delivery (token stamped by the
//! scripted model → frame read by the user's WebSocket) for both, their
//! ratios, and the p99 authorization adds to an API call (target: < 1 ms),
//! under the load and on quiet calls made one at a time after it (the
//! cost of authorization itself, without the load's contention).
//!
//! The scripted model and the users run in this process; each server is a
//! child (`paddock serve`, this same binary) with a data dir of its own.
//! The users are made with `paddock user add NAME --role member --token`
//! before their server starts. The two loads alternate (`--passes`), so
//! that a machine that gets busier during the run does not favour one.

use super::agents::{Latency, latency, now_micros, stamps};
use super::serve::{self, Served};
use anyhow::{Context, Result, bail};
use futures::{SinkExt, StreamExt};
use serde::Deserialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// Options of `paddock bench users`.
#[derive(clap::Args, Debug, Clone)]
pub struct UserBenchArgs {
    /// Users, each with a token, one WebSocket and its agents.
    #[arg(long, default_value_t = 100)]
    pub users: usize,
    /// Agents per user.
    #[arg(long, default_value_t = 3)]
    pub agents_per_user: usize,
    /// Rounds per user: each posts a message to each of the user's agents,
    /// reads one agent and the list, and waits for the answers.
    #[arg(long, default_value_t = 5)]
    pub rounds: usize,
    /// Stamped tokens each answer streams.
    #[arg(long, default_value_t = 20)]
    pub tokens: u32,
    /// The scripted model's pace, per answer (0: unpaced).
    #[arg(long, default_value_t = 100.0)]
    pub tokens_per_second: f64,
    /// Runs of each load, alternating (without auth, then with).
    #[arg(long, default_value_t = 2)]
    pub passes: usize,
    /// Quiet calls after each load: `GET /api/agents/{id}` one at a time,
    /// the overhead of authorization alone, without the load's contention.
    #[arg(long, default_value_t = 500)]
    pub probes: usize,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Smoke size (seconds, for the tests): 3 users, 2 agents each, 2
    /// rounds, 5 tokens, one pass.
    #[arg(long, conflicts_with_all = ["users", "agents_per_user", "rounds", "tokens", "passes", "probes"])]
    pub smoke: bool,
}

impl UserBenchArgs {
    /// These options with the smoke sizes when `--smoke` is given.
    pub(super) fn sized(&self) -> UserBenchArgs {
        if !self.smoke {
            return self.clone();
        }
        UserBenchArgs {
            users: 3,
            agents_per_user: 2,
            rounds: 2,
            tokens: 5,
            passes: 1,
            probes: 20,
            ..self.clone()
        }
    }
}

/// Whether a load runs with authorization.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Personal access tokens, each user seeing only their own agents.
    Auth,
    /// `--unsafe-no-auth`: no credentials, everyone the local admin.
    NoAuth,
}

impl Mode {
    fn as_str(self) -> &'static str {
        match self {
            Mode::Auth => "auth",
            Mode::NoAuth => "no-auth",
        }
    }
}

/// The server's `paddock.toml`: the scripted model as the only provider.
fn server_config(model_base: &str) -> String {
    format!(
        r#"[[providers]]
name = "scripted"
base_url = "{model_base}"
[[providers.models]]
name = "scripted"
context_window = 32000
input_per_mtok = 0.0
output_per_mtok = 0.0
"#
    )
}

fn paddock(exe: &Path, data: &Path) -> Command {
    let mut cmd = Command::new(exe);
    cmd.arg("--data-dir")
        .arg(data)
        .env_remove("PADDOCK_DATABASE_URL")
        .env_remove("PADDOCK_TOKEN")
        .env_remove("PADDOCK_ADMIN_TOKEN");
    cmd
}

/// Makes `n` members with a token each (`paddock user add … --token`);
/// returns the tokens.
fn make_users(exe: &Path, data: &Path, n: usize) -> Result<Vec<String>> {
    let mut tokens = Vec::with_capacity(n);
    for i in 0..n {
        let out = paddock(exe, data)
            .args([
                "user",
                "add",
                &format!("bench-user-{i}"),
                "--role",
                "member",
            ])
            .args(["--token", "--scope", "write"])
            .stdin(Stdio::null())
            .output()
            .context("cannot run `paddock user add`")?;
        if !out.status.success() {
            bail!(
                "`paddock user add` failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let stdout = String::from_utf8_lossy(&out.stdout);
        let Some(token) = stdout.lines().rev().find(|l| !l.trim().is_empty()) else {
            bail!("`paddock user add --token` printed no token");
        };
        tokens.push(token.trim().to_string());
    }
    Ok(tokens)
}

fn start_server(exe: &Path, dir: &Path, model_base: &str, mode: Mode) -> Result<Served> {
    let config = dir.join("paddock.toml");
    std::fs::write(&config, server_config(model_base))?;
    let mut cmd = paddock(exe, &dir.join("data"));
    cmd.arg("serve")
        .arg("--config")
        .arg(&config)
        .arg("--bind")
        .arg("127.0.0.1:0")
        .arg("--workspace-root")
        .arg(dir.join("workspace"));
    if mode == Mode::NoAuth {
        cmd.arg("--unsafe-no-auth");
    }
    cmd.stderr(Stdio::null());
    serve::start(cmd)
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

#[derive(Deserialize)]
struct WsMsg {
    op: String,
    event: Option<WsEvent>,
}

#[derive(Deserialize)]
struct WsEvent {
    agent_id: String,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    data: serde_json::Value,
}

/// One user's WebSocket, subscribed to each of `agents` (after their
/// creation) once every subscription is confirmed.
async fn connect(base: &str, token: Option<&str>, agents: &[String]) -> Result<Ws> {
    let url = format!("{}/api/ws", base.replacen("http://", "ws://", 1));
    let mut req = url.into_client_request()?;
    if let Some(t) = token {
        req.headers_mut()
            .insert("authorization", format!("Bearer {t}").parse()?);
    }
    let (mut ws, _) = tokio_tungstenite::connect_async(req)
        .await
        .context("WebSocket connect")?;
    for a in agents {
        let sub = serde_json::json!({"op": "subscribe", "agent_id": a, "after": 1});
        ws.send(Message::Text(sub.to_string().into())).await?;
    }
    let mut confirmed = 0;
    while confirmed < agents.len() {
        let Some(msg) = ws.next().await else {
            bail!("the WebSocket closed before its subscriptions were confirmed");
        };
        if let Message::Text(t) = msg? {
            let m: WsMsg = serde_json::from_str(t.as_str())?;
            match m.op.as_str() {
                "subscribed" => confirmed += 1,
                "error" => bail!("subscribe refused: {t}"),
                _ => {}
            }
        }
    }
    Ok(ws)
}

/// Reads a user's WebSocket: the latency of every stamped token (into
/// `latencies`), and one `done` per answered run (an agent idle again
/// after its answer).
async fn read_events(
    mut ws: Ws,
    done: mpsc::UnboundedSender<Result<(), String>>,
    latencies: Arc<Mutex<Vec<i64>>>,
) {
    let mut answered: HashMap<String, bool> = HashMap::new();
    while let Some(msg) = ws.next().await {
        let now = now_micros();
        let text = match msg {
            Ok(Message::Text(t)) => t,
            Ok(Message::Close(_)) | Err(_) => break,
            Ok(_) => continue,
        };
        let Ok(m) = serde_json::from_str::<WsMsg>(text.as_str()) else {
            continue;
        };
        let Some(e) = m.event else {
            continue;
        };
        let agent = e.agent_id;
        match e.kind.as_str() {
            "message.delta" => {
                if let Some(t) = e.data.get("text").and_then(|t| t.as_str()) {
                    let mut l = latencies.lock().unwrap_or_else(|e| e.into_inner());
                    stamps(t, now, &mut l);
                }
            }
            "message.assistant" => {
                answered.insert(agent, true);
            }
            "agent.status" => match e.data.get("status").and_then(|s| s.as_str()) {
                Some("idle") if answered.remove(&agent).is_some() => {
                    let _ = done.send(Ok(()));
                }
                Some(s @ ("error" | "limited" | "stopped")) => {
                    let _ = done.send(Err(format!("agent {agent} {s}: {}", e.data)));
                }
                _ => {}
            },
            _ => {}
        }
    }
}

/// What one user measured.
#[derive(Default)]
struct UserSeen {
    first_agent: Option<String>,
    api_us: Vec<i64>,
    events_us: Vec<i64>,
    errors: Vec<String>,
}

/// Times one API call; a failure is an error of the user's load.
async fn call(
    req: reqwest::RequestBuilder,
    what: &str,
    seen: &mut UserSeen,
) -> Option<serde_json::Value> {
    let t0 = Instant::now();
    let resp = req.send().await;
    let body = match resp {
        Ok(r) => {
            let status = r.status();
            let body = r.bytes().await;
            seen.api_us.push(t0.elapsed().as_micros() as i64);
            match body {
                Ok(b) if status.is_success() => b,
                Ok(b) => {
                    seen.errors
                        .push(format!("{what}: {status}: {}", String::from_utf8_lossy(&b)));
                    return None;
                }
                Err(e) => {
                    seen.errors.push(format!("{what}: {e}"));
                    return None;
                }
            }
        }
        Err(e) => {
            seen.errors.push(format!("{what}: {e}"));
            return None;
        }
    };
    if body.is_empty() {
        return Some(serde_json::Value::Null);
    }
    serde_json::from_slice(&body).ok()
}

/// One user's load: create the agents, open the WebSocket, then the
/// rounds.
async fn user_load(
    http: reqwest::Client,
    base: String,
    token: Option<String>,
    workspace: PathBuf,
    user: usize,
    args: UserBenchArgs,
    timeout: Duration,
) -> UserSeen {
    let mut seen = UserSeen::default();
    let auth = |r: reqwest::RequestBuilder| match &token {
        Some(t) => r.bearer_auth(t),
        None => r,
    };
    let mut agents = Vec::with_capacity(args.agents_per_user);
    for i in 0..args.agents_per_user {
        let body = serde_json::json!({"name": format!("u{user}-a{i}"), "workspace": workspace});
        let req = auth(http.post(format!("{base}/api/agents")).json(&body));
        match call(req, "POST /api/agents", &mut seen).await {
            Some(v) => match v["id"].as_str() {
                Some(id) => agents.push(id.to_string()),
                None => seen.errors.push(format!("POST /api/agents: no id in {v}")),
            },
            None => return seen,
        }
    }
    seen.first_agent = agents.first().cloned();
    let ws = match connect(&base, token.as_deref(), &agents).await {
        Ok(ws) => ws,
        Err(e) => {
            seen.errors.push(format!("WebSocket: {e:#}"));
            return seen;
        }
    };
    let (done_tx, mut done_rx) = mpsc::unbounded_channel();
    let latencies = Arc::new(Mutex::new(Vec::new()));
    let reader = tokio::spawn(read_events(ws, done_tx, latencies.clone()));
    'rounds: for round in 0..args.rounds {
        for id in &agents {
            let text = format!("round {round}");
            let req = auth(
                http.post(format!("{base}/api/agents/{id}/messages"))
                    .json(&serde_json::json!({"text": text})),
            );
            if call(req, "POST /api/agents/{id}/messages", &mut seen)
                .await
                .is_none()
            {
                break 'rounds;
            }
        }
        if let Some(id) = agents.first() {
            let req = auth(http.get(format!("{base}/api/agents/{id}")));
            call(req, "GET /api/agents/{id}", &mut seen).await;
        }
        let req = auth(http.get(format!("{base}/api/agents")));
        call(req, "GET /api/agents", &mut seen).await;
        for _ in 0..agents.len() {
            match tokio::time::timeout(timeout, done_rx.recv()).await {
                Ok(Some(Ok(()))) => {}
                Ok(Some(Err(e))) => {
                    seen.errors.push(e);
                    break 'rounds;
                }
                Ok(None) => {
                    seen.errors.push("the WebSocket closed".into());
                    break 'rounds;
                }
                Err(_) => {
                    seen.errors
                        .push(format!("round {round}: no answer in time"));
                    break 'rounds;
                }
            }
        }
    }
    reader.abort();
    seen.events_us = std::mem::take(&mut *latencies.lock().unwrap_or_else(|e| e.into_inner()));
    seen
}

/// One load's figures.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LoadReport {
    /// With or without authorization.
    pub mode: Mode,
    /// Which pass (0-based).
    pub pass: usize,
    /// API calls made (answered, successfully or not).
    pub api_calls: usize,
    /// API call latency (client-side round trip).
    pub api: Latency,
    /// Token → user's WebSocket latency.
    pub events: Latency,
    /// Quiet `GET /api/agents/{id}` calls, one at a time, after the load.
    pub quiet: Latency,
    /// Failed calls and runs.
    pub errors: usize,
    /// The first few failures.
    pub first_errors: Vec<String>,
    /// The load's wall time, s.
    pub window_s: f64,
}

async fn run_load(
    exe: &Path,
    scratch: &Path,
    model_base: &str,
    mode: Mode,
    pass: usize,
    args: &UserBenchArgs,
    timeout: Duration,
) -> Result<(LoadReport, Samples)> {
    let dir = scratch.join(format!("{}-{pass}", mode.as_str()));
    let workspace = dir.join("workspace");
    std::fs::create_dir_all(&workspace)?;
    let tokens: Vec<Option<String>> = match mode {
        Mode::Auth => make_users(exe, &dir.join("data"), args.users)?
            .into_iter()
            .map(Some)
            .collect(),
        Mode::NoAuth => vec![None; args.users],
    };
    let server = start_server(exe, &dir, model_base, mode)?;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(4 * args.users.max(1))
        .build()?;
    let t0 = Instant::now();
    let first_token = tokens.first().cloned().flatten();
    let loads: Vec<_> = tokens
        .into_iter()
        .enumerate()
        .map(|(i, token)| {
            tokio::spawn(user_load(
                http.clone(),
                server.base.clone(),
                token,
                workspace.clone(),
                i,
                args.clone(),
                timeout,
            ))
        })
        .collect();
    let mut api = Vec::new();
    let mut events = Vec::new();
    let mut errors = Vec::new();
    let mut probe_agent = None;
    for l in loads {
        let seen = l.await?;
        if probe_agent.is_none() {
            probe_agent = seen.first_agent;
        }
        api.extend(seen.api_us);
        events.extend(seen.events_us);
        errors.extend(seen.errors);
    }
    let window = t0.elapsed().as_secs_f64();
    // Quiet calls: the load is over, one call at a time.
    let mut quiet = Vec::with_capacity(args.probes);
    if let Some(id) = &probe_agent {
        let mut seen = UserSeen::default();
        for _ in 0..args.probes {
            let mut req = http.get(format!("{}/api/agents/{id}", server.base));
            if let Some(t) = &first_token {
                req = req.bearer_auth(t);
            }
            call(req, "GET /api/agents/{id} (quiet)", &mut seen).await;
        }
        quiet = seen.api_us;
        errors.extend(seen.errors);
    }
    drop(server);
    let report = LoadReport {
        mode,
        pass,
        api_calls: api.len(),
        api: latency(api.clone()),
        events: latency(events.clone()),
        quiet: latency(quiet.clone()),
        errors: errors.len(),
        first_errors: errors.into_iter().take(5).collect(),
        window_s: window,
    };
    Ok((report, Samples { api, events, quiet }))
}

/// The figures of one mode over all its passes (samples pooled).
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Pooled {
    /// API call latency under the load, all passes.
    pub api: Latency,
    /// Event delivery latency, all passes.
    pub events: Latency,
    /// Quiet API calls, all passes.
    pub quiet: Latency,
}

/// Every sample of one mode (or one load).
#[derive(Default)]
struct Samples {
    api: Vec<i64>,
    events: Vec<i64>,
    quiet: Vec<i64>,
}

/// The ratio of two latencies (NaN when the baseline is 0).
fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 { a / b } else { f64::NAN }
}

/// Runs the users benchmark.
pub async fn users(args: &UserBenchArgs) -> Result<()> {
    let args = &args.sized();
    if args.users == 0 || args.agents_per_user == 0 || args.rounds == 0 || args.passes == 0 {
        bail!("--users, --agents-per-user, --rounds and --passes must be at least 1");
    }
    if args.tokens == 0 {
        bail!("--tokens must be at least 1");
    }
    if args.tokens_per_second.is_nan() || args.tokens_per_second < 0.0 {
        bail!("--tokens-per-second must be 0 (unpaced) or more");
    }
    super::serve::warn_nofile(args.users, "users");
    let model = super::serve::stamp_model(args.tokens, args.tokens_per_second).await?;
    let scratch = tempfile::Builder::new()
        .prefix("paddock-bench-users-")
        .tempdir()
        .context("cannot create a scratch directory")?;
    let exe: PathBuf = std::env::current_exe().context("cannot find the paddock binary")?;
    let stream_s = if args.tokens_per_second > 0.0 {
        f64::from(args.tokens) / args.tokens_per_second
    } else {
        0.0
    };
    let timeout = Duration::from_secs_f64(stream_s * 10.0 + 120.0);
    let mut loads = Vec::new();
    let mut samples: HashMap<&'static str, Samples> = HashMap::new();
    for pass in 0..args.passes {
        for mode in [Mode::NoAuth, Mode::Auth] {
            let (r, taken) = run_load(
                &exe,
                scratch.path(),
                &model.base_url(),
                mode,
                pass,
                args,
                timeout,
            )
            .await?;
            if !args.json {
                eprintln!(
                    "pass {pass} {}: {} API calls, p99 {:.2} ms; {} event samples; {} errors in {:.1} s",
                    mode.as_str(),
                    r.api_calls,
                    r.api.p99_us / 1000.0,
                    r.events.samples,
                    r.errors,
                    r.window_s
                );
            }
            let pooled = samples.entry(mode.as_str()).or_default();
            pooled.api.extend(taken.api);
            pooled.events.extend(taken.events);
            pooled.quiet.extend(taken.quiet);
            loads.push(r);
        }
    }
    model.shutdown().await;

    let mut pool = |mode: Mode| {
        let s = samples.remove(mode.as_str()).unwrap_or_default();
        Pooled {
            api: latency(s.api),
            events: latency(s.events),
            quiet: latency(s.quiet),
        }
    };
    let (auth, open) = (pool(Mode::Auth), pool(Mode::NoAuth));
    let added_p50 = auth.api.p50_us - open.api.p50_us;
    let added_p99 = auth.api.p99_us - open.api.p99_us;
    let quiet_p50 = auth.quiet.p50_us - open.quiet.p50_us;
    let quiet_p99 = auth.quiet.p99_us - open.quiet.p99_us;
    let errors: usize = loads.iter().map(|l| l.errors).sum();
    let report = serde_json::json!({
        "users": args.users,
        "agents_per_user": args.agents_per_user,
        "rounds": args.rounds,
        "tokens": args.tokens,
        "tokens_per_second": args.tokens_per_second,
        "passes": args.passes,
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "loads": loads,
        "auth": auth,
        "no_auth": open,
        "api_p50_ratio": ratio(auth.api.p50_us, open.api.p50_us),
        "api_p99_ratio": ratio(auth.api.p99_us, open.api.p99_us),
        "events_p50_ratio": ratio(auth.events.p50_us, open.events.p50_us),
        "events_p99_ratio": ratio(auth.events.p99_us, open.events.p99_us),
        "auth_added_api_p50_us": added_p50,
        "auth_added_api_p99_us": added_p99,
        "auth_added_quiet_p50_us": quiet_p50,
        "auth_added_quiet_p99_us": quiet_p99,
        "target_added_p99_us": 1000,
        "errors": errors,
    });
    if args.json {
        println!("{report}");
    } else {
        let ms = |us: f64| us / 1000.0;
        println!(
            "paddock bench users ({} users × {} agents, {} rounds, {} stamped tokens per answer at {} tokens/s, {} pass(es) each, {} cores)",
            args.users,
            args.agents_per_user,
            args.rounds,
            args.tokens,
            args.tokens_per_second,
            args.passes,
            report["cores"]
        );
        println!(
            "{:<8} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>7}",
            "load", "calls", "api p50", "api p99", "api max", "evt p50", "evt p99", "errors"
        );
        for (name, p, mode) in [
            ("no-auth", &open, Mode::NoAuth),
            ("auth", &auth, Mode::Auth),
        ] {
            println!(
                "{:<8} {:>9} {:>7.2}ms {:>7.2}ms {:>7.2}ms {:>7.2}ms {:>7.2}ms {:>7}",
                name,
                p.api.samples,
                ms(p.api.p50_us),
                ms(p.api.p99_us),
                ms(p.api.max_us),
                ms(p.events.p50_us),
                ms(p.events.p99_us),
                loads
                    .iter()
                    .filter(|l| l.mode == mode)
                    .map(|l| l.errors)
                    .sum::<usize>()
            );
        }
        println!(
            "ratios auth / no-auth: API p50 {:.2}x, p99 {:.2}x; event delivery p50 {:.2}x, p99 {:.2}x",
            ratio(auth.api.p50_us, open.api.p50_us),
            ratio(auth.api.p99_us, open.api.p99_us),
            ratio(auth.events.p50_us, open.events.p50_us),
            ratio(auth.events.p99_us, open.events.p99_us),
        );
        println!(
            "authorization adds {:+.3} ms at p50 and {:+.3} ms at p99 per API call under the load (target < 1 ms at p99){}",
            ms(added_p50),
            ms(added_p99),
            if added_p99 < 1000.0 {
                ""
            } else {
                ": OVER TARGET"
            }
        );
        println!(
            "quiet calls (GET /api/agents/{{id}} one at a time after each load): no-auth p50 {:.3} ms p99 {:.3} ms, auth p50 {:.3} ms p99 {:.3} ms: authorization adds {:+.3} ms at p50 and {:+.3} ms at p99{}",
            ms(open.quiet.p50_us),
            ms(open.quiet.p99_us),
            ms(auth.quiet.p50_us),
            ms(auth.quiet.p99_us),
            ms(quiet_p50),
            ms(quiet_p99),
            if quiet_p99 < 1000.0 {
                ""
            } else {
                ": OVER TARGET"
            }
        );
        for l in loads.iter().filter(|l| l.errors > 0) {
            println!(
                "{} pass {}: {} errors, first: {}",
                l.mode.as_str(),
                l.pass,
                l.errors,
                l.first_errors.join(" | ")
            );
        }
        println!(
            "api: client round trip of POST /api/agents, POST …/messages, GET /api/agents/{{id}}, GET /api/agents; events: token stamped by the scripted model as sent -> frame read by the user's WebSocket (same clock); the passes' samples are pooled"
        );
    }
    if errors > 0 {
        bail!("{errors} calls or runs failed (see above)");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratios_and_modes() {
        assert_eq!(ratio(2.0, 1.0), 2.0);
        assert!(ratio(1.0, 0.0).is_nan());
        assert_eq!(Mode::NoAuth.as_str(), "no-auth");
        assert!(server_config("http://x/v1").contains("base_url = \"http://x/v1\""));
    }
}
