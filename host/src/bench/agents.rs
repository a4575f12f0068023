//! `paddock bench agents`: N concurrent agents against the scripted model,
//! one WebSocket subscriber each. Measures the token-to-subscriber latency
//! (the scripted model stamps each token `t<unix_micros>` when it sends it;
//! the subscriber subtracts that from the time it reads the frame — both
//! clocks are this process's), events/s delivered, the server's CPU and peak
//! RSS, and RSS per idle agent.
//!
//! The scripted model and the subscribers run in this process; Paddock runs
//! as a child (`paddock serve`, this same binary), so the CPU and memory
//! figures are the server's alone. The baseline, measured in the same run at
//! the same N, is the scripted model's stream read directly by a client.
//!
//! Each N runs once per wire API (`--api`): the server has one provider per
//! API, both pointing at the scripted model, and a run's agents use the
//! provider of its API; that run's baseline reads the scripted model's own
//! stream of the same API.

use super::serve::{self, Served, raise_nofile};
use anyhow::{Context, Result, bail};
use futures::{SinkExt, StreamExt};
use paddock_llm::scripted::RunningModel;
use paddock_protocol::llm::WireApi;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::Message;

/// The API token the benchmark's server takes.
const BENCH_TOKEN: &str = "bench-user-token";

/// Options of `paddock bench agents`.
#[derive(clap::Args, Debug, Clone)]
pub struct AgentBenchArgs {
    /// Numbers of concurrent agents, one run each.
    #[arg(long, value_delimiter = ',', default_value = "10,100,500")]
    pub agents: Vec<usize>,
    /// Stamped tokens each agent's answer streams.
    #[arg(long, default_value_t = 100)]
    pub tokens: u32,
    /// The scripted model's pace, per agent.
    #[arg(long, default_value_t = 50.0)]
    pub tokens_per_second: f64,
    /// Idle agents created (never messaged) to measure RSS per idle agent.
    #[arg(long, default_value_t = 500)]
    pub idle_agents: usize,
    /// Wire APIs the server's provider speaks, one run of each N per API.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "chat,responses"
    )]
    pub api: Vec<WireApi>,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Smoke size (seconds, for the tests): 2 agents, 10 tokens, 5 idle
    /// agents; each API of `--api` still runs.
    #[arg(long, conflicts_with_all = ["agents", "tokens", "idle_agents"])]
    pub smoke: bool,
}

impl AgentBenchArgs {
    /// These options with the smoke sizes when `--smoke` is given.
    pub(super) fn sized(&self) -> AgentBenchArgs {
        if !self.smoke {
            return self.clone();
        }
        AgentBenchArgs {
            agents: vec![2],
            tokens: 10,
            idle_agents: 5,
            ..self.clone()
        }
    }
}

pub(super) fn now_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

/// Latencies of one run, in µs.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct Latency {
    /// Samples (stamped tokens received).
    pub samples: usize,
    /// Median.
    pub p50_us: f64,
    /// 99th percentile.
    pub p99_us: f64,
    /// Largest.
    pub max_us: f64,
}

pub(super) fn latency(mut us: Vec<i64>) -> Latency {
    us.sort_unstable();
    let at = |q: f64| {
        if us.is_empty() {
            return 0.0;
        }
        let idx = ((us.len() as f64 - 1.0) * q).round() as usize;
        us[idx] as f64
    };
    Latency {
        samples: us.len(),
        p50_us: at(0.5),
        p99_us: at(0.99),
        max_us: us.last().copied().unwrap_or(0) as f64,
    }
}

/// Appends the latency of every `t<micros>` stamp in `text`, received at `now`.
pub(super) fn stamps(text: &str, now: i64, out: &mut Vec<i64>) {
    for word in text.split_whitespace() {
        if let Some(Ok(t)) = word.strip_prefix('t').map(str::parse::<i64>) {
            out.push(now - t);
        }
    }
}

/// CPU seconds (user + system, all threads) of a process.
pub(super) fn cpu_seconds(pid: &str) -> Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .context("unexpected /proc/PID/stat")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 and 15 of stat(5); `rest` starts at field 3.
    let ticks: u64 = fields.get(11).context("no utime")?.parse::<u64>()?
        + fields.get(12).context("no stime")?.parse::<u64>()?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    Ok(ticks as f64 / hz)
}

/// Busy CPU seconds of the whole machine (all cores), from /proc/stat.
fn machine_busy_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/stat") else {
        return 0.0;
    };
    let Some(line) = stat.lines().find(|l| l.starts_with("cpu ")) else {
        return 0.0;
    };
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest is in user).
    let busy: u64 = v.iter().take(8).sum::<u64>()
        - v.get(3).copied().unwrap_or(0)
        - v.get(4).copied().unwrap_or(0);
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    busy as f64 / hz
}

/// A field of /proc/PID/status in KiB (`VmRSS`, `VmHWM`).
fn status_kib(pid: &str, field: &str) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .with_context(|| format!("no {field} in /proc/{pid}/status"))
}

/// Resets a process's peak RSS (VmHWM) to its current RSS; false if the
/// kernel refuses.
fn reset_peak(pid: &str) -> bool {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok()
}

/// `paddock serve` as a child process, killed on drop.
struct Server {
    served: Served,
}

impl Server {
    fn start(
        exe: &Path,
        scratch: &Path,
        model_base: &str,
        apis: &[WireApi],
        builtin: Option<&Path>,
        cache: Option<&Path>,
    ) -> Result<Server> {
        let config = scratch.join("paddock.toml");
        std::fs::write(&config, server_config(model_base, apis))?;
        let mut cmd = Command::new(exe);
        cmd.arg("--data-dir").arg(scratch.join("data"));
        if let Some(b) = builtin {
            cmd.arg("--builtin-plugins").arg(b);
        }
        if let Some(c) = cache {
            cmd.arg("--cache-dir").arg(c);
        }
        cmd.arg("serve")
            .arg("--config")
            .arg(&config)
            .arg("--bind")
            .arg("127.0.0.1:0")
            .arg("--workspace-root")
            .arg(scratch.join("workspace"))
            .env("PADDOCK_ADMIN_TOKEN", "bench-admin-token")
            .env("PADDOCK_TOKEN", BENCH_TOKEN)
            .env_remove("PADDOCK_DATABASE_URL")
            .stderr(Stdio::inherit());
        Ok(Server {
            served: serve::start(cmd)?,
        })
    }

    fn ws_url(&self) -> String {
        format!(
            "{}/api/ws?token={BENCH_TOKEN}",
            self.served.base.replacen("http://", "ws://", 1)
        )
    }
}

/// The server's `paddock.toml`: one provider per API, named after it, each
/// serving the scripted model as `scripted`.
fn server_config(model_base: &str, apis: &[WireApi]) -> String {
    apis.iter()
        .map(|api| {
            let api = api.as_str();
            format!(
                r#"[[providers]]
name = "{api}"
base_url = "{model_base}"
api = "{api}"
[[providers.models]]
name = "scripted"
context_window = 32000
input_per_mtok = 0.0
output_per_mtok = 0.0
"#
            )
        })
        .collect()
}

#[derive(Deserialize)]
struct Created {
    id: String,
    last_seq: u64,
}

/// Creates `n` agents (at most 16 requests in flight) on the provider of
/// `api`, or the server's default model; returns (id, last_seq).
async fn create_agents(
    http: &reqwest::Client,
    base: &str,
    workspace: &Path,
    api: Option<WireApi>,
    prefix: &str,
    n: usize,
) -> Result<Vec<Created>> {
    let gate = Arc::new(Semaphore::new(16));
    let mut tasks = Vec::with_capacity(n);
    for i in 0..n {
        let http = http.clone();
        let url = format!("{base}/api/agents");
        let mut body = serde_json::json!({
            "name": format!("{prefix}-{i}"),
            "workspace": workspace,
        });
        if let Some(api) = api {
            body["model"] = serde_json::json!({"provider": api.as_str(), "model": "scripted"});
        }
        let gate = gate.clone();
        tasks.push(tokio::spawn(async move {
            let _permit = gate.acquire_owned().await?;
            let resp = http.post(&url).json(&body).send().await?;
            let status = resp.status();
            if !status.is_success() {
                bail!("POST /api/agents: {status}: {}", resp.text().await?);
            }
            Ok::<Created, anyhow::Error>(resp.json().await?)
        }));
    }
    let mut out = Vec::with_capacity(n);
    for t in tasks {
        out.push(t.await??);
    }
    Ok(out)
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

#[derive(Deserialize)]
struct WsMsg {
    op: String,
    event: Option<WsEvent>,
    resume_after: Option<u64>,
}

#[derive(Deserialize)]
struct WsEvent {
    seq: u64,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    data: serde_json::Value,
}

/// Opens one connection subscribed to `agent` after 0, once it is confirmed.
async fn subscribe(url: &str, agent: &str) -> Result<Ws> {
    let (mut ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .context("WebSocket connect")?;
    let sub = serde_json::json!({"op": "subscribe", "agent_id": agent, "after": 0});
    ws.send(Message::Text(sub.to_string().into())).await?;
    while let Some(msg) = ws.next().await {
        if let Message::Text(t) = msg? {
            let m: WsMsg = serde_json::from_str(t.as_str())?;
            match m.op.as_str() {
                "subscribed" => return Ok(ws),
                "error" => bail!("subscribe refused: {t}"),
                _ => {}
            }
        }
    }
    bail!("the WebSocket closed before `subscribed`")
}

/// What one subscriber saw during a run.
#[derive(Default)]
struct Seen {
    events: u64,
    latencies: Vec<i64>,
    lagged: u32,
    failed: Option<String>,
    done: bool,
}

/// Reads one agent's stream until its answer is stored and it is idle again.
async fn watch(mut ws: Ws, agent: String, base_seq: u64) -> Seen {
    let mut seen = Seen::default();
    let mut answered = false;
    while let Some(msg) = ws.next().await {
        let now = now_micros();
        let text = match msg {
            Ok(Message::Text(t)) => t,
            Ok(Message::Close(_)) => break,
            Ok(_) => continue,
            Err(e) => {
                seen.failed = Some(format!("WebSocket: {e}"));
                break;
            }
        };
        let Ok(m) = serde_json::from_str::<WsMsg>(text.as_str()) else {
            continue;
        };
        match (m.op.as_str(), m.event) {
            ("event", Some(e)) => {
                if e.seq <= base_seq {
                    continue; // the replay of what happened before the run
                }
                seen.events += 1;
                match e.kind.as_str() {
                    "message.delta" => {
                        if let Some(t) = e.data.get("text").and_then(|t| t.as_str()) {
                            stamps(t, now, &mut seen.latencies);
                        }
                    }
                    "message.assistant" => answered = true,
                    "agent.status" => match e.data.get("status").and_then(|s| s.as_str()) {
                        Some("idle") if answered => {
                            seen.done = true;
                            break;
                        }
                        Some(s @ ("error" | "stopped")) => {
                            seen.failed = Some(format!("agent {s}: {}", e.data));
                            break;
                        }
                        _ => {}
                    },
                    _ => {}
                }
            }
            ("lagged", _) => {
                seen.lagged += 1;
                let sub = serde_json::json!({"op": "subscribe", "agent_id": agent,
                    "after": m.resume_after.unwrap_or(0)});
                if ws
                    .send(Message::Text(sub.to_string().into()))
                    .await
                    .is_err()
                {
                    break;
                }
            }
            _ => {}
        }
    }
    let _ = ws.close(None).await;
    seen
}

/// One run's figures.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RunReport {
    /// Concurrent agents.
    pub agents: usize,
    /// The wire API between the server and the model (and of the baseline).
    pub api: WireApi,
    /// Agents whose subscriber saw the run end (answer stored, idle).
    pub completed: usize,
    /// Subscriptions told they lagged.
    pub lagged: u32,
    /// Events delivered in the window (deltas included).
    pub events: u64,
    /// The window: first message posted to last subscriber done, s.
    pub window_s: f64,
    /// Events delivered per second.
    pub events_per_s: f64,
    /// Token → subscriber latency through Paddock.
    pub latency: Latency,
    /// Token → client latency reading the scripted model directly.
    pub baseline: Latency,
    /// Server CPU seconds in the window.
    pub server_cpu_s: f64,
    /// Server CPU as % of one core over the window.
    pub server_cpu_pct: f64,
    /// This process's CPU (model + subscribers) as % of one core.
    pub bench_cpu_pct: f64,
    /// Other processes' CPU (everything but the server and this process)
    /// as % of one core: noise from the rest of the machine.
    pub other_cpu_pct: f64,
    /// Server peak RSS during the run (VmHWM, reset before it when possible), KiB.
    pub server_peak_rss_kib: u64,
    /// Server RSS after the run, KiB.
    pub server_rss_kib: u64,
}

/// The request a baseline client sends the scripted model over `api`:
/// its URL and streamed body.
fn baseline_request(model_base: &str, api: WireApi, i: usize) -> (String, serde_json::Value) {
    let content = format!("baseline {i}");
    match api {
        WireApi::Chat => (
            format!("{model_base}/chat/completions"),
            serde_json::json!({"model": "scripted", "stream": true,
                "messages": [{"role": "user", "content": content}]}),
        ),
        WireApi::Responses => (
            format!("{model_base}/responses"),
            serde_json::json!({"model": "scripted", "stream": true,
                "input": [{"type": "message", "role": "user", "content": content}]}),
        ),
    }
}

/// Whether a request body the scripted model received is one of `api`
/// (Chat Completions send `messages`, the Responses API `input`).
fn of_api(api: WireApi, body: &serde_json::Value) -> bool {
    let field = match api {
        WireApi::Chat => "messages",
        WireApi::Responses => "input",
    };
    body.get(field).is_some()
}

/// The answer text an event's `data` carries over `api`: a Chat
/// Completions chunk's `choices[0].delta.content`, or the `delta` of a
/// Responses `response.output_text.delta` event.
fn delta_text(api: WireApi, data: &serde_json::Value) -> Option<&str> {
    match api {
        WireApi::Chat => data.pointer("/choices/0/delta/content")?.as_str(),
        WireApi::Responses => {
            if data.get("type")?.as_str()? != "response.output_text.delta" {
                return None;
            }
            data.get("delta")?.as_str()
        }
    }
}

/// Reads a server-sent-event stream of `api` as it arrives, chunk by chunk,
/// and hands on each event's answer text.
struct DeltaReader {
    api: WireApi,
    sse: paddock_llm::wire::SseDecoder,
}

impl DeltaReader {
    fn new(api: WireApi) -> DeltaReader {
        DeltaReader {
            api,
            sse: paddock_llm::wire::SseDecoder::default(),
        }
    }

    /// Takes the next bytes of the stream; calls `text` with the answer
    /// text of every event they complete.
    fn feed(&mut self, chunk: &[u8], mut text: impl FnMut(&str)) {
        for data in self.sse.feed(chunk) {
            // `[DONE]` and anything else that is not JSON carries no text.
            let Ok(v) = serde_json::from_str::<serde_json::Value>(&data) else {
                continue;
            };
            if let Some(t) = delta_text(self.api, &v) {
                text(t);
            }
        }
    }
}

impl RunReport {
    /// p50 latency Paddock adds over the direct stream, µs.
    fn added_p50_us(&self) -> f64 {
        self.latency.p50_us - self.baseline.p50_us
    }

    /// p99 latency Paddock adds over the direct stream, µs.
    fn added_p99_us(&self) -> f64 {
        self.latency.p99_us - self.baseline.p99_us
    }

    /// Server CPU per event delivered, µs.
    fn cpu_us_per_event(&self) -> f64 {
        1e6 * self.server_cpu_s / (self.events.max(1) as f64)
    }
}

/// The line comparing the Responses run of an N with the Chat run of the
/// same N: latency added at p50 and p99, and server CPU per event.
fn compare(chat: &RunReport, responses: &RunReport) -> String {
    let ms = |us: f64| us / 1000.0;
    let (c50, r50) = (chat.added_p50_us(), responses.added_p50_us());
    let (c99, r99) = (chat.added_p99_us(), responses.added_p99_us());
    let (ccpu, rcpu) = (chat.cpu_us_per_event(), responses.cpu_us_per_event());
    format!(
        "{} agents, responses vs chat: adds p50 {:.2} vs {:.2} ms ({:+.2} ms), p99 {:.2} vs {:.2} ms ({:+.2} ms); server CPU per event {:.0} vs {:.0} µs ({:.2}x)",
        responses.agents,
        ms(r50),
        ms(c50),
        ms(r50 - c50),
        ms(r99),
        ms(c99),
        ms(r99 - c99),
        rcpu,
        ccpu,
        if ccpu > 0.0 { rcpu / ccpu } else { f64::NAN }
    )
}

/// Reads the scripted model's stream of `api` directly from `n` concurrent
/// clients.
async fn baseline(
    http: &reqwest::Client,
    model_base: &str,
    api: WireApi,
    n: usize,
) -> Result<Latency> {
    let mut tasks = Vec::with_capacity(n);
    for i in 0..n {
        let http = http.clone();
        let (url, body) = baseline_request(model_base, api, i);
        tasks.push(tokio::spawn(async move {
            let resp = http.post(&url).json(&body).send().await?;
            if !resp.status().is_success() {
                bail!("scripted model {url}: {}", resp.status());
            }
            let mut out = Vec::new();
            let mut reader = DeltaReader::new(api);
            let mut stream = resp.bytes_stream();
            while let Some(chunk) = stream.next().await {
                let chunk = chunk?;
                let now = now_micros();
                reader.feed(&chunk, |t| stamps(t, now, &mut out));
            }
            Ok::<Vec<i64>, anyhow::Error>(out)
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await??);
    }
    Ok(latency(all))
}

async fn run_once(
    http: &reqwest::Client,
    server: &Server,
    model: &RunningModel,
    workspace: &Path,
    api: WireApi,
    n: usize,
    timeout: Duration,
) -> Result<RunReport> {
    let base = baseline(http, &model.base_url(), api, n).await?;
    let prefix = format!("run{n}-{}", api.as_str());
    let created =
        create_agents(http, &server.served.base, workspace, Some(api), &prefix, n).await?;
    let url = server.ws_url();
    let mut socks = Vec::with_capacity(n);
    for c in &created {
        socks.push(subscribe(&url, &c.id).await?);
    }
    // Settle: let the replays of `agent.created` arrive.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let watchers: Vec<_> = socks
        .into_iter()
        .zip(&created)
        .map(|(ws, c)| tokio::spawn(watch(ws, c.id.clone(), c.last_seq)))
        .collect();
    let peak_reset = reset_peak(&server.served.pid);
    let cpu0 = cpu_seconds(&server.served.pid)?;
    let self0 = cpu_seconds("self")?;
    let busy0 = machine_busy_seconds();
    let t0 = Instant::now();
    let mut posts = Vec::with_capacity(n);
    for c in &created {
        let http = http.clone();
        let url = format!("{}/api/agents/{}/messages", server.served.base, c.id);
        posts.push(tokio::spawn(async move {
            let resp = http
                .post(&url)
                .json(&serde_json::json!({"text": "stream the stamps"}))
                .send()
                .await?;
            if !resp.status().is_success() {
                bail!("POST messages: {}: {}", resp.status(), resp.text().await?);
            }
            Ok::<(), anyhow::Error>(())
        }));
    }
    for p in posts {
        p.await??;
    }
    let deadline = tokio::time::Instant::now() + timeout;
    let mut seen = super::join_until(watchers, deadline, || Seen {
        failed: Some("timed out".into()),
        ..Seen::default()
    })
    .await?;
    let window = t0.elapsed().as_secs_f64();
    let cpu = cpu_seconds(&server.served.pid)? - cpu0;
    let own = cpu_seconds("self")? - self0;
    let other = (machine_busy_seconds() - busy0 - cpu - own).max(0.0);
    let peak = status_kib(&server.served.pid, "VmHWM")?;
    let rss = status_kib(&server.served.pid, "VmRSS")?;
    if !peak_reset {
        tracing::warn!("cannot reset the server's VmHWM: peak RSS is since its start");
    }
    // The model's last request is the server's (the baseline's came
    // before): it must be of this run's API.
    if let Some(last) = model.requests().last()
        && !of_api(api, last)
    {
        let fields: Vec<&str> = last
            .as_object()
            .map(|o| o.keys().map(String::as_str).collect())
            .unwrap_or_default();
        bail!(
            "the server's `{}` provider sent the model a request of another API (fields: {})",
            api.as_str(),
            fields.join(", ")
        );
    }
    if let Some(f) = seen.iter().find_map(|s| s.failed.as_ref()) {
        eprintln!(
            "warning: {} of {n} agents did not finish: {f}",
            seen.iter().filter(|s| !s.done).count()
        );
    }
    let events: u64 = seen.iter().map(|s| s.events).sum();
    let all: Vec<i64> = seen
        .iter_mut()
        .flat_map(|s| std::mem::take(&mut s.latencies))
        .collect();
    Ok(RunReport {
        agents: n,
        api,
        completed: seen.iter().filter(|s| s.done).count(),
        lagged: seen.iter().map(|s| s.lagged).sum(),
        events,
        window_s: window,
        events_per_s: events as f64 / window.max(1e-9),
        latency: latency(all),
        baseline: base,
        server_cpu_s: cpu,
        server_cpu_pct: 100.0 * cpu / window.max(1e-9),
        bench_cpu_pct: 100.0 * own / window.max(1e-9),
        other_cpu_pct: 100.0 * other / window.max(1e-9),
        server_peak_rss_kib: peak,
        server_rss_kib: rss,
    })
}

/// Runs the agents benchmark; `builtin` and `cache` are passed to the server.
pub async fn agents(
    args: &AgentBenchArgs,
    builtin: Option<&Path>,
    cache: Option<&Path>,
) -> Result<()> {
    let args = &args.sized();
    if args.agents.is_empty() || args.agents.contains(&0) || args.tokens == 0 {
        bail!("--agents must list numbers of at least 1, and --tokens be at least 1");
    }
    if args.tokens_per_second.is_nan() || args.tokens_per_second < 0.0 {
        bail!("--tokens-per-second must be 0 (unpaced) or more");
    }
    // The APIs in the order given, each once.
    let mut apis: Vec<WireApi> = Vec::new();
    for &api in &args.api {
        if !apis.contains(&api) {
            apis.push(api);
        }
    }
    if apis.is_empty() {
        bail!("--api must list at least one of chat, responses");
    }
    let nofile = raise_nofile();
    let biggest = args.agents.iter().copied().max().unwrap_or(0);
    if nofile != 0 && (nofile as usize) < 3 * biggest + 64 {
        eprintln!(
            "warning: open-file limit {nofile} is low for {biggest} agents; raise it (`ulimit -n`)"
        );
    }
    let script = paddock_llm::scripted::Script::from_yaml_str(&format!(
        "model: scripted\nturns:\n  - stamp_tokens: {}\n    tokens_per_second: {}\n",
        args.tokens, args.tokens_per_second
    ))?;
    let model = paddock_llm::scripted::ScriptedModel::start(script, ([127, 0, 0, 1], 0).into())
        .await
        .context("cannot start the scripted model")?;
    let scratch = tempfile::Builder::new()
        .prefix("paddock-bench-")
        .tempdir()
        .context("cannot create a scratch directory")?;
    let workspace = scratch.path().join("workspace");
    std::fs::create_dir_all(&workspace)?;
    let exe: PathBuf = std::env::current_exe().context("cannot find the paddock binary")?;
    let server = Server::start(
        &exe,
        scratch.path(),
        &model.base_url(),
        &apis,
        builtin,
        cache,
    )?;
    let mut auth = reqwest::header::HeaderMap::new();
    auth.insert(
        reqwest::header::AUTHORIZATION,
        reqwest::header::HeaderValue::from_str(&format!("Bearer {BENCH_TOKEN}"))?,
    );
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(1024)
        .default_headers(auth)
        .build()?;

    // RSS per idle agent: before and after creating agents never messaged.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_before = status_kib(&server.served.pid, "VmRSS")?;
    let mut rss_after = rss_before;
    if args.idle_agents > 0 {
        create_agents(
            &http,
            &server.served.base,
            &workspace,
            None,
            "idle",
            args.idle_agents,
        )
        .await?;
        tokio::time::sleep(Duration::from_millis(500)).await;
        rss_after = status_kib(&server.served.pid, "VmRSS")?;
    }
    let per_idle_kib = (rss_after as f64 - rss_before as f64) / (args.idle_agents.max(1) as f64);

    let stream_s = if args.tokens_per_second > 0.0 {
        args.tokens as f64 / args.tokens_per_second
    } else {
        0.0
    };
    let timeout = Duration::from_secs_f64(stream_s * 3.0 + 60.0);
    // Each N once per API, one after the other, so that the runs compared
    // find the server in the same state.
    let mut runs = Vec::new();
    for &n in &args.agents {
        for &api in &apis {
            runs.push(run_once(&http, &server, &model, &workspace, api, n, timeout).await?);
        }
    }
    drop(server);
    model.shutdown().await;

    let report = serde_json::json!({
        "tokens": args.tokens,
        "tokens_per_second": args.tokens_per_second,
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "idle": {
            "agents": args.idle_agents,
            "server_rss_before_kib": rss_before,
            "server_rss_after_kib": rss_after,
            "rss_per_idle_agent_kib": per_idle_kib,
            "target_kib": 1024,
        },
        "apis": apis,
        "runs": runs,
        "target_p99_us": 10_000,
    });
    if args.json {
        println!("{report}");
        return Ok(());
    }
    println!(
        "paddock bench agents ({} stamped tokens per agent at {} tokens/s, one WebSocket subscriber per agent, over {}, {} cores)",
        args.tokens,
        args.tokens_per_second,
        apis.iter()
            .map(|a| a.as_str())
            .collect::<Vec<_>>()
            .join(" and "),
        report["cores"]
    );
    println!(
        "{:>6} {:<9} {:>5} {:>9} {:>7} {:>9} {:>9} {:>9} {:>9} {:>9} {:>7} {:>7} {:>7} {:>7} {:>9}",
        "agents",
        "api",
        "done",
        "events/s",
        "window",
        "p50 ms",
        "p99 ms",
        "max ms",
        "base p50",
        "base p99",
        "p99 x",
        "srv cpu",
        "bench",
        "other",
        "peak RSS"
    );
    for r in &runs {
        let ms = |us: f64| us / 1000.0;
        println!(
            "{:>6} {:<9} {:>5} {:>9.0} {:>6.1}s {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>7.1} {:>6.0}% {:>6.0}% {:>6.0}% {:>6.1}MiB",
            r.agents,
            r.api.as_str(),
            r.completed,
            r.events_per_s,
            r.window_s,
            ms(r.latency.p50_us),
            ms(r.latency.p99_us),
            ms(r.latency.max_us),
            ms(r.baseline.p50_us),
            ms(r.baseline.p99_us),
            r.latency.p99_us / r.baseline.p99_us.max(1.0),
            r.server_cpu_pct,
            r.bench_cpu_pct,
            r.other_cpu_pct,
            r.server_peak_rss_kib as f64 / 1024.0
        );
    }
    for r in &runs {
        println!(
            "{} agents, {}: Paddock adds p50 {:.2} ms, p99 {:.2} ms over the direct stream; {} events in {:.1} s, server {:.2} CPU s ({:.0} µs per event); {} lagged (target p99 < 10 ms)",
            r.agents,
            r.api.as_str(),
            r.added_p50_us() / 1000.0,
            r.added_p99_us() / 1000.0,
            r.events,
            r.window_s,
            r.server_cpu_s,
            r.cpu_us_per_event(),
            r.lagged
        );
    }
    for same_n in runs.chunks(apis.len()) {
        let of = |api| same_n.iter().find(|r| r.api == api);
        if let (Some(chat), Some(responses)) = (of(WireApi::Chat), of(WireApi::Responses)) {
            println!("{}", compare(chat, responses));
        }
    }
    println!(
        "idle: {} agents took server RSS from {:.1} MiB to {:.1} MiB: {:.1} KiB per idle agent (target < 1024 KiB)",
        args.idle_agents,
        rss_before as f64 / 1024.0,
        rss_after as f64 / 1024.0,
        per_idle_kib
    );
    println!(
        "latency: token stamped by the scripted model as sent -> frame read by the subscriber (same clock); api: the wire API between the server and the model; \"base\": the model's stream of that API read directly, no Paddock; srv cpu / bench / other: % of one core over the window used by the server / this process (model + subscribers) / the rest of the machine"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_and_percentiles() {
        let mut out = Vec::new();
        stamps("t100 t250 hello t", 300, &mut out);
        assert_eq!(out, vec![200, 50]);
        let l = latency((1..=100).collect());
        assert_eq!(l.p50_us, 51.0);
        assert_eq!(l.p99_us, 99.0);
        assert_eq!(l.max_us, 100.0);
        assert_eq!(latency(vec![]).samples, 0);
    }

    /// A Chat Completions stream as the scripted model sent it (`stamp_tokens:
    /// 2`): a role chunk, two text chunks, the finish chunk, `[DONE]`.
    const CHAT_SSE: &str = r#"data: {"choices":[{"delta":{"content":"","refusal":null,"role":"assistant"},"finish_reason":null,"index":0,"logprobs":null}],"created":1796541984,"id":"chatcmpl-49cb535eda8b4369aed60eaa9d991522","model":"scripted","object":"chat.completion.chunk","system_fingerprint":"fp_scripted"}

data: {"choices":[{"delta":{"content":"t1796541984476425 "},"finish_reason":null,"index":0,"logprobs":null}],"created":1796541984,"id":"chatcmpl-49cb535eda8b4369aed60eaa9d991522","model":"scripted","object":"chat.completion.chunk","system_fingerprint":"fp_scripted"}

data: {"choices":[{"delta":{"content":"t1796541984476434 "},"finish_reason":null,"index":0,"logprobs":null}],"created":1796541984,"id":"chatcmpl-49cb535eda8b4369aed60eaa9d991522","model":"scripted","object":"chat.completion.chunk","system_fingerprint":"fp_scripted"}

data: {"choices":[{"delta":{},"finish_reason":"stop","index":0,"logprobs":null}],"created":1796541984,"id":"chatcmpl-49cb535eda8b4369aed60eaa9d991522","model":"scripted","object":"chat.completion.chunk","system_fingerprint":"fp_scripted"}

data: [DONE]

"#;

    /// A Responses stream as the scripted model sent it (the same turn with
    /// `reasoning: plan first`): `event:` and `data:` lines; the answer text
    /// is in the two `response.output_text.delta` events only (the reasoning
    /// summary's deltas are not answer text; the `.done` events and the
    /// final response repeat the text and must not count).
    const RESPONSES_SSE: &str = r#"event: response.created
data: {"response":{"created_at":1796542016,"error":null,"id":"resp_8e9eecc395fc4642b4f07969b7b21c71","incomplete_details":null,"instructions":null,"max_output_tokens":null,"metadata":{},"model":"scripted","object":"response","output":[],"parallel_tool_calls":true,"previous_response_id":null,"reasoning":{"effort":null,"summary":null},"status":"in_progress","store":true,"temperature":1.0,"text":{"format":{"type":"text"}},"tool_choice":"auto","tools":[],"top_p":1.0,"truncation":"disabled","usage":null,"user":null},"sequence_number":0,"type":"response.created"}

event: response.in_progress
data: {"response":{"created_at":1796542016,"error":null,"id":"resp_8e9eecc395fc4642b4f07969b7b21c71","incomplete_details":null,"instructions":null,"max_output_tokens":null,"metadata":{},"model":"scripted","object":"response","output":[],"parallel_tool_calls":true,"previous_response_id":null,"reasoning":{"effort":null,"summary":null},"status":"in_progress","store":true,"temperature":1.0,"text":{"format":{"type":"text"}},"tool_choice":"auto","tools":[],"top_p":1.0,"truncation":"disabled","usage":null,"user":null},"sequence_number":1,"type":"response.in_progress"}

event: response.output_item.added
data: {"item":{"encrypted_content":null,"id":"rs_93b795fe0d51cb9b_0","summary":[],"type":"reasoning"},"output_index":0,"sequence_number":2,"type":"response.output_item.added"}

event: response.reasoning_summary_part.added
data: {"item_id":"rs_93b795fe0d51cb9b_0","output_index":0,"part":{"text":"","type":"summary_text"},"sequence_number":3,"summary_index":0,"type":"response.reasoning_summary_part.added"}

event: response.reasoning_summary_text.delta
data: {"delta":"plan ","item_id":"rs_93b795fe0d51cb9b_0","output_index":0,"sequence_number":4,"summary_index":0,"type":"response.reasoning_summary_text.delta"}

event: response.reasoning_summary_text.delta
data: {"delta":"first","item_id":"rs_93b795fe0d51cb9b_0","output_index":0,"sequence_number":5,"summary_index":0,"type":"response.reasoning_summary_text.delta"}

event: response.reasoning_summary_text.done
data: {"item_id":"rs_93b795fe0d51cb9b_0","output_index":0,"sequence_number":6,"summary_index":0,"text":"plan first","type":"response.reasoning_summary_text.done"}

event: response.reasoning_summary_part.done
data: {"item_id":"rs_93b795fe0d51cb9b_0","output_index":0,"part":{"text":"plan first","type":"summary_text"},"sequence_number":7,"summary_index":0,"type":"response.reasoning_summary_part.done"}

event: response.output_item.done
data: {"item":{"encrypted_content":null,"id":"rs_93b795fe0d51cb9b_0","summary":[{"text":"plan first","type":"summary_text"}],"type":"reasoning"},"output_index":0,"sequence_number":8,"type":"response.output_item.done"}

event: response.output_item.added
data: {"item":{"content":[],"id":"msg_93b795fe0d51cb9b_0","role":"assistant","status":"in_progress","type":"message"},"output_index":1,"sequence_number":9,"type":"response.output_item.added"}

event: response.content_part.added
data: {"content_index":0,"item_id":"msg_93b795fe0d51cb9b_0","output_index":1,"part":{"annotations":[],"logprobs":[],"text":"","type":"output_text"},"sequence_number":10,"type":"response.content_part.added"}

event: response.output_text.delta
data: {"content_index":0,"delta":"t1796542016180775 ","item_id":"msg_93b795fe0d51cb9b_0","logprobs":[],"output_index":1,"sequence_number":11,"type":"response.output_text.delta"}

event: response.output_text.delta
data: {"content_index":0,"delta":"t1796542016180784 ","item_id":"msg_93b795fe0d51cb9b_0","logprobs":[],"output_index":1,"sequence_number":12,"type":"response.output_text.delta"}

event: response.output_text.done
data: {"content_index":0,"item_id":"msg_93b795fe0d51cb9b_0","logprobs":[],"output_index":1,"sequence_number":13,"text":"t1796542016180775 t1796542016180784 ","type":"response.output_text.done"}

event: response.content_part.done
data: {"content_index":0,"item_id":"msg_93b795fe0d51cb9b_0","output_index":1,"part":{"annotations":[],"logprobs":[],"text":"t1796542016180775 t1796542016180784 ","type":"output_text"},"sequence_number":14,"type":"response.content_part.done"}

event: response.output_item.done
data: {"item":{"content":[{"annotations":[],"logprobs":[],"text":"t1796542016180775 t1796542016180784 ","type":"output_text"}],"id":"msg_93b795fe0d51cb9b_0","role":"assistant","status":"completed","type":"message"},"output_index":1,"sequence_number":15,"type":"response.output_item.done"}

event: response.completed
data: {"response":{"created_at":1796542016,"error":null,"id":"resp_8e9eecc395fc4642b4f07969b7b21c71","incomplete_details":null,"instructions":null,"max_output_tokens":null,"metadata":{},"model":"scripted","object":"response","output":[{"encrypted_content":null,"id":"rs_93b795fe0d51cb9b_0","summary":[{"text":"plan first","type":"summary_text"}],"type":"reasoning"},{"content":[{"annotations":[],"logprobs":[],"text":"t1796542016180775 t1796542016180784 ","type":"output_text"}],"id":"msg_93b795fe0d51cb9b_0","role":"assistant","status":"completed","type":"message"}],"parallel_tool_calls":true,"previous_response_id":null,"reasoning":{"effort":null,"summary":null},"status":"completed","store":true,"temperature":1.0,"text":{"format":{"type":"text"}},"tool_choice":"auto","tools":[],"top_p":1.0,"truncation":"disabled","usage":{"input_tokens":25,"input_tokens_details":{"cached_tokens":0},"output_tokens":4,"output_tokens_details":{"reasoning_tokens":2},"total_tokens":29},"user":null},"sequence_number":16,"type":"response.completed"}

"#;

    /// The texts `DeltaReader` hands on for `sse` fed in pieces of `size`
    /// bytes.
    fn texts(api: WireApi, sse: &str, size: usize) -> Vec<String> {
        let mut reader = DeltaReader::new(api);
        let mut out = Vec::new();
        for piece in sse.as_bytes().chunks(size) {
            reader.feed(piece, |t| out.push(t.to_string()));
        }
        out
    }

    #[test]
    fn chat_stream_text() {
        for size in [1, 7, CHAT_SSE.len()] {
            assert_eq!(
                texts(WireApi::Chat, CHAT_SSE, size),
                ["", "t1796541984476425 ", "t1796541984476434 "]
            );
        }
        // Read as the other API, a stream gives no text.
        assert!(texts(WireApi::Responses, CHAT_SSE, 64).is_empty());
    }

    #[test]
    fn responses_stream_text() {
        for size in [1, 7, RESPONSES_SSE.len()] {
            assert_eq!(
                texts(WireApi::Responses, RESPONSES_SSE, size),
                ["t1796542016180775 ", "t1796542016180784 "]
            );
        }
        assert!(texts(WireApi::Chat, RESPONSES_SSE, 64).is_empty());
    }

    #[test]
    fn partial_event_waits_for_its_end() {
        let mut reader = DeltaReader::new(WireApi::Responses);
        let mut out = Vec::new();
        // Cut inside the second delta's event.
        let cut = RESPONSES_SSE.find("t1796542016180784").unwrap();
        let (head, tail) = RESPONSES_SSE.split_at(cut);
        reader.feed(head.as_bytes(), |t| out.push(t.to_string()));
        assert_eq!(out, ["t1796542016180775 "]);
        reader.feed(tail.as_bytes(), |t| out.push(t.to_string()));
        assert_eq!(out, ["t1796542016180775 ", "t1796542016180784 "]);
    }

    #[tokio::test]
    async fn baseline_reads_both_apis_of_the_scripted_model() {
        let script = paddock_llm::scripted::Script::from_yaml_str(
            "model: scripted\nturns:\n  - stamp_tokens: 3\n    tokens_per_second: 0\n",
        )
        .unwrap();
        let model = paddock_llm::scripted::ScriptedModel::start(script, ([127, 0, 0, 1], 0).into())
            .await
            .unwrap();
        let http = reqwest::Client::new();
        for api in [WireApi::Chat, WireApi::Responses] {
            let l = baseline(&http, &model.base_url(), api, 2).await.unwrap();
            assert_eq!(l.samples, 6, "{api:?}: 3 stamps to each of 2 clients");
        }
        let requests = model.requests();
        assert_eq!(requests.len(), 4);
        assert!(requests[..2].iter().all(|r| of_api(WireApi::Chat, r)));
        assert!(requests[2..].iter().all(|r| of_api(WireApi::Responses, r)));
        model.shutdown().await;
    }

    #[test]
    fn baseline_requests() {
        let (url, body) = baseline_request("http://m/v1", WireApi::Chat, 3);
        assert_eq!(url, "http://m/v1/chat/completions");
        assert_eq!(body["messages"][0]["content"], "baseline 3");
        assert_eq!(body["stream"], true);
        assert!(of_api(WireApi::Chat, &body) && !of_api(WireApi::Responses, &body));
        let (url, body) = baseline_request("http://m/v1", WireApi::Responses, 4);
        assert_eq!(url, "http://m/v1/responses");
        assert_eq!(
            body,
            serde_json::json!({"model": "scripted", "stream": true, "input": [
                {"type": "message", "role": "user", "content": "baseline 4"}]})
        );
        assert!(of_api(WireApi::Responses, &body) && !of_api(WireApi::Chat, &body));
    }

    #[test]
    fn server_config_has_a_provider_per_api() {
        let text = server_config(
            "http://127.0.0.1:9/v1",
            &[WireApi::Chat, WireApi::Responses],
        );
        let config = paddock_core::config::Config::parse(&text, Path::new("paddock.toml")).unwrap();
        let providers: Vec<(&str, WireApi)> = config
            .providers
            .iter()
            .map(|p| (p.name.as_str(), p.api))
            .collect();
        assert_eq!(
            providers,
            [("chat", WireApi::Chat), ("responses", WireApi::Responses)]
        );
        assert!(
            config
                .providers
                .iter()
                .all(|p| p.models[0].name == "scripted")
        );
    }

    fn run(api: WireApi, p50: f64, p99: f64, cpu_s: f64) -> RunReport {
        let l = |p50_us, p99_us| Latency {
            samples: 10,
            p50_us,
            p99_us,
            max_us: p99_us,
        };
        RunReport {
            agents: 2,
            api,
            completed: 2,
            lagged: 0,
            events: 1000,
            window_s: 1.0,
            events_per_s: 1000.0,
            latency: l(p50 + 100.0, p99 + 200.0),
            baseline: l(100.0, 200.0),
            server_cpu_s: cpu_s,
            server_cpu_pct: 0.0,
            bench_cpu_pct: 0.0,
            other_cpu_pct: 0.0,
            server_peak_rss_kib: 0,
            server_rss_kib: 0,
        }
    }

    #[test]
    fn responses_compared_with_chat() {
        let chat = run(WireApi::Chat, 1000.0, 3000.0, 0.04);
        let responses = run(WireApi::Responses, 1500.0, 2500.0, 0.05);
        assert_eq!(
            compare(&chat, &responses),
            "2 agents, responses vs chat: adds p50 1.50 vs 1.00 ms (+0.50 ms), p99 2.50 vs 3.00 ms (-0.50 ms); server CPU per event 50 vs 40 µs (1.25x)"
        );
        let json = serde_json::to_value(&responses).unwrap();
        assert_eq!(json["api"], "responses");
    }

    #[test]
    fn proc_figures_of_self() {
        assert!(cpu_seconds("self").unwrap() >= 0.0);
        assert!(status_kib("self", "VmRSS").unwrap() > 0);
    }
}
