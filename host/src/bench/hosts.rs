//! `paddock bench hosts`: several `paddock serve` hosts on one PostgreSQL
//! database. For each number of hosts (`--hosts 1,2,3`) the same total
//! number of agents runs the same scripted task (rounds of a streamed
//! answer from the scripted model): stored events per second against the
//! run on one host; the delivery latency of stored events (event `ts`,
//! set by the owning host when it stores the event → frame read by a
//! WebSocket subscriber) to a subscriber on the agent's own host and, in
//! the same run, to one on another host (through `LISTEN/NOTIFY` and the
//! store); and, on the largest cluster, the takeover time after `kill -9`
//! of the host holding agents (until every one of its agents shows another
//! host in `GET /api/agents`), repeated `--kills` times, against
//! `lease_secs`.
//!
//! The scripted model and the subscribers run in this process; the hosts
//! are children (`paddock serve`, this same binary), each with a data dir
//! of its own, sharing a throwaway database this benchmark creates
//! (`paddock_bench_…` on `--postgres-url`) and drops, the master key and
//! the tokens.

use super::agents::{Latency, cpu_seconds, latency, now_micros};
use super::serve::{self, Served};
use anyhow::{Context, Result, bail};
use futures::{SinkExt, StreamExt};
use paddock_protocol::events::{AgentStatus, Event, EventBody};
use serde::Deserialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{Semaphore, watch};
use tokio_tungstenite::tungstenite::Message;

/// The API token every host takes.
const BENCH_TOKEN: &str = "bench-user-token";
/// How often the takeover is looked for.
const POLL: Duration = Duration::from_millis(50);

/// Options of `paddock bench hosts`.
#[derive(clap::Args, Debug, Clone)]
pub struct HostBenchArgs {
    /// Numbers of hosts, one run each (the same agents over each).
    #[arg(long, value_delimiter = ',', default_value = "1,2,3")]
    pub hosts: Vec<usize>,
    /// Agents in every run, spread over its hosts.
    #[arg(long, default_value_t = 60)]
    pub agents: usize,
    /// Rounds of the task: each agent is sent a message, answers, is idle,
    /// and is sent the next.
    #[arg(long, default_value_t = 5)]
    pub rounds: usize,
    /// Stamped tokens each answer streams.
    #[arg(long, default_value_t = 20)]
    pub tokens: u32,
    /// The scripted model's pace, per answer (0: unpaced, as fast as the
    /// hosts take them).
    #[arg(long, default_value_t = 0.0)]
    pub tokens_per_second: f64,
    /// `kill -9` of the host holding agents on the largest cluster (each
    /// killed host is restarted before the next); 0: no takeover figures.
    #[arg(long, default_value_t = 20)]
    pub kills: usize,
    /// The hosts' `[cluster] lease_secs` (the product's default is 10).
    #[arg(long, default_value_t = 10)]
    pub lease_secs: u64,
    /// The PostgreSQL server: a database `paddock_bench_…` is created on it
    /// for each run and dropped after.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    pub postgres_url: String,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Smoke size (seconds, for the tests): 6 agents, 2 rounds of 5
    /// tokens, 2 kills with `lease_secs` 2; each number of `--hosts` still
    /// runs.
    #[arg(long, conflicts_with_all = ["agents", "rounds", "tokens", "kills", "lease_secs"])]
    pub smoke: bool,
}

impl HostBenchArgs {
    /// These options with the smoke sizes when `--smoke` is given.
    pub(super) fn sized(&self) -> HostBenchArgs {
        if !self.smoke {
            return self.clone();
        }
        HostBenchArgs {
            agents: 6,
            rounds: 2,
            tokens: 5,
            kills: 2,
            lease_secs: 2,
            ..self.clone()
        }
    }

    /// Checks the options; the message names the flag.
    fn validate(&self) -> Result<()> {
        if self.hosts.is_empty() || self.hosts.iter().any(|&n| !(1..=16).contains(&n)) {
            bail!("--hosts must list numbers of hosts from 1 to 16");
        }
        if self.agents == 0 {
            bail!("--agents must be at least 1");
        }
        if self.rounds == 0 {
            bail!("--rounds must be at least 1");
        }
        if self.tokens == 0 {
            bail!("--tokens must be at least 1");
        }
        if self.tokens_per_second.is_nan() || self.tokens_per_second < 0.0 {
            bail!("--tokens-per-second must be 0 (unpaced) or more");
        }
        if !(2..=300).contains(&self.lease_secs) {
            bail!("--lease-secs must be between 2 and 300 (as `[cluster] lease_secs`)");
        }
        server_url(&self.postgres_url)?;
        Ok(())
    }
}

/// `--postgres-url`, parsed and checked.
fn server_url(text: &str) -> Result<reqwest::Url> {
    let url = reqwest::Url::parse(text)
        .with_context(|| format!("--postgres-url: `{text}` is not a URL"))?;
    if !matches!(url.scheme(), "postgres" | "postgresql") {
        bail!(
            "--postgres-url: `{}` must start with postgres:// or postgresql://",
            shown(&url)
        );
    }
    if url.host_str().is_none_or(str::is_empty) {
        bail!("--postgres-url: `{}` names no server", shown(&url));
    }
    Ok(url)
}

/// A URL as printed: without its password.
fn shown(url: &reqwest::Url) -> String {
    let mut url = url.clone();
    if url.password().is_some() {
        let _ = url.set_password(Some("***"));
    }
    url.to_string()
}

/// The throwaway database of one run; dropped (`WITH (FORCE)`) by
/// [`BenchDb::remove`], or on drop if that was never called.
struct BenchDb {
    /// The server's URL (its own database, to create and drop others).
    server: String,
    name: String,
    /// The database's URL, for the hosts.
    url: String,
    removed: bool,
}

/// A connection to the server's own database, for `CREATE` and `DROP
/// DATABASE` (statement logging off: dropping a database may take a
/// second, which is not worth a warning).
async fn admin(server: &str) -> Result<sqlx::PgConnection, sqlx::Error> {
    use sqlx::ConnectOptions;
    use std::str::FromStr;
    sqlx::postgres::PgConnectOptions::from_str(server)?
        .disable_statement_logging()
        .connect()
        .await
}

/// Drops database `name` (ours: letters, digits and `_`).
async fn drop_database(server: &str, name: &str) -> Result<(), sqlx::Error> {
    let mut conn = admin(server).await?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
    )))
    .execute(&mut conn)
    .await?;
    Ok(())
}

impl BenchDb {
    /// Creates `paddock_bench_<pid>_<random>_<suffix>` on the server.
    async fn create(server: &reqwest::Url, suffix: &str) -> Result<BenchDb> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let name = format!(
            "paddock_bench_{}_{:08x}_{suffix}",
            std::process::id(),
            nanos ^ std::process::id().rotate_left(16)
        );
        let created = async {
            let mut conn = admin(server.as_str()).await?;
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
                .execute(&mut conn)
                .await
        };
        created.await.with_context(|| {
            format!(
                "--postgres-url: cannot create the database {name} on {}: start PostgreSQL or point --postgres-url at a server where this user may create databases",
                shown(server)
            )
        })?;
        let mut url = server.clone();
        url.set_path(&format!("/{name}"));
        Ok(BenchDb {
            server: server.to_string(),
            name,
            url: url.to_string(),
            removed: false,
        })
    }

    /// Drops the database (its hosts must be stopped).
    async fn remove(mut self) -> Result<()> {
        self.removed = true;
        drop_database(&self.server, &self.name)
            .await
            .with_context(|| format!("cannot drop the benchmark's database {}", self.name))
    }
}

impl Drop for BenchDb {
    fn drop(&mut self) {
        if self.removed {
            return;
        }
        let (server, name) = (self.server.clone(), self.name.clone());
        // Dropped from async code after an error: a runtime of its own on a
        // thread of its own.
        let _ = std::thread::spawn(move || {
            if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                let _ = rt.block_on(drop_database(&server, &name));
            }
        })
        .join();
    }
}

/// What every host of a cluster shares.
struct Shared {
    exe: PathBuf,
    db_url: String,
    master_key: String,
    config: PathBuf,
    workspace: PathBuf,
    builtin: Option<PathBuf>,
    cache: Option<PathBuf>,
}

/// One host of the cluster (stopped when `served` is `None`).
struct Host {
    id: String,
    dir: PathBuf,
    served: Option<Served>,
}

impl Host {
    fn base(&self) -> Result<&str> {
        match &self.served {
            Some(s) => Ok(&s.base),
            None => bail!("host {} is not running", self.id),
        }
    }
}

/// Several `paddock serve` on one database.
struct Cluster {
    shared: Shared,
    hosts: Vec<Host>,
}

/// The hosts' `paddock.toml`: the scripted model, and `[cluster]`.
fn host_config(model_base: &str, lease_secs: u64, capacity: usize) -> String {
    format!(
        r#"[[providers]]
name = "scripted"
base_url = "{model_base}"
[[providers.models]]
name = "scripted"
context_window = 32000
input_per_mtok = 0.0
output_per_mtok = 0.0

[cluster]
lease_secs = {lease_secs}
capacity = {capacity}
"#
    )
}

/// The end of a host's log, for an error.
fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

impl Cluster {
    /// Starts `n` hosts, one after the other (the first migrates the
    /// database), each ready (`/readyz`) before the next.
    async fn start(
        http: &reqwest::Client,
        shared: Shared,
        scratch: &Path,
        n: usize,
    ) -> Result<Cluster> {
        let mut cluster = Cluster {
            shared,
            hosts: Vec::with_capacity(n),
        };
        for i in 0..n {
            let dir = scratch.join(format!("host-{i}"));
            std::fs::create_dir_all(&dir)?;
            cluster.hosts.push(Host {
                id: format!("bench-host-{i}"),
                dir,
                served: None,
            });
            cluster.restart(http, i).await?;
        }
        Ok(cluster)
    }

    /// Starts host `i` (again: same id, same data dir) and waits until it
    /// is ready.
    async fn restart(&mut self, http: &reqwest::Client, i: usize) -> Result<()> {
        let s = &self.shared;
        let host = &mut self.hosts[i];
        let log = host.dir.join("serve.log");
        let stderr = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .with_context(|| format!("cannot open {}", log.display()))?;
        let mut cmd = Command::new(&s.exe);
        cmd.arg("--data-dir").arg(host.dir.join("data"));
        if let Some(b) = &s.builtin {
            cmd.arg("--builtin-plugins").arg(b);
        }
        if let Some(c) = &s.cache {
            cmd.arg("--cache-dir").arg(c);
        }
        cmd.arg("serve")
            .arg("--config")
            .arg(&s.config)
            .arg("--bind")
            .arg("127.0.0.1:0")
            .arg("--workspace-root")
            .arg(&s.workspace)
            .env("PADDOCK_DATABASE_URL", &s.db_url)
            .env("PADDOCK_MASTER_KEY", &s.master_key)
            .env("PADDOCK_HOST_ID", &host.id)
            .env("PADDOCK_ADMIN_TOKEN", "bench-admin-token")
            .env("PADDOCK_TOKEN", BENCH_TOKEN)
            .env_remove("PADDOCK_MASTER_KEY_FILE")
            .env_remove("PADDOCK_ADVERTISE_URL")
            .stderr(Stdio::from(stderr));
        let served =
            serve::start(cmd).with_context(|| format!("host {}: {}", host.id, log_tail(&log)))?;
        let ready = format!("{}/readyz", served.base);
        host.served = Some(served);
        let started = Instant::now();
        loop {
            if let Ok(r) = http.get(&ready).send().await
                && r.status().is_success()
            {
                return Ok(());
            }
            if started.elapsed() > Duration::from_secs(60) {
                bail!(
                    "host {} never became ready ({ready}): {}",
                    host.id,
                    log_tail(&log)
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }

    fn stop_all(&mut self) {
        for h in &mut self.hosts {
            h.served = None;
        }
    }

    /// The hosts' CPU seconds so far (the running ones').
    fn cpu_seconds(&self) -> f64 {
        self.hosts
            .iter()
            .filter_map(|h| h.served.as_ref())
            .filter_map(|s| cpu_seconds(&s.pid).ok())
            .sum()
    }
}

/// An agent as `GET /api/agents` lists it (the fields used here).
#[derive(Deserialize, Debug, Clone)]
struct Listed {
    id: String,
    #[serde(default)]
    host: Option<String>,
    last_seq: u64,
}

async fn list(http: &reqwest::Client, base: &str) -> Result<Vec<Listed>> {
    let resp = http.get(format!("{base}/api/agents")).send().await?;
    let status = resp.status();
    if !status.is_success() {
        bail!("GET /api/agents: {status}: {}", resp.text().await?);
    }
    Ok(resp.json().await?)
}

/// Creates `n` agents, agent `i` through host `i % hosts` (at most 16
/// requests in flight); placement picks where each runs.
async fn create_agents(
    http: &reqwest::Client,
    bases: &[String],
    workspace: &Path,
    n: usize,
) -> Result<Vec<String>> {
    let gate = Arc::new(Semaphore::new(16));
    let mut tasks = Vec::with_capacity(n);
    for i in 0..n {
        let http = http.clone();
        let url = format!("{}/api/agents", bases[i % bases.len()]);
        let body = serde_json::json!({"name": format!("bench-{i}"), "workspace": workspace});
        let gate = gate.clone();
        tasks.push(tokio::spawn(async move {
            let _permit = gate.acquire_owned().await?;
            let resp = http.post(&url).json(&body).send().await?;
            let status = resp.status();
            if !status.is_success() {
                bail!("POST /api/agents: {status}: {}", resp.text().await?);
            }
            let v: serde_json::Value = resp.json().await?;
            match v["id"].as_str() {
                Some(id) => Ok::<String, anyhow::Error>(id.to_string()),
                None => bail!("POST /api/agents: no id in {v}"),
            }
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

fn ws_url(base: &str) -> String {
    format!(
        "{}/api/ws?token={BENCH_TOKEN}",
        base.replacen("http://", "ws://", 1)
    )
}

/// Opens a connection subscribed to `agent` after `after`, once confirmed.
async fn subscribe(base: &str, agent: &str, after: u64) -> Result<Ws> {
    let (mut ws, _) = tokio_tungstenite::connect_async(ws_url(base))
        .await
        .context("WebSocket connect")?;
    let sub = serde_json::json!({"op": "subscribe", "agent_id": agent, "after": after});
    ws.send(Message::Text(sub.to_string().into())).await?;
    while let Some(msg) = ws.next().await {
        if let Message::Text(t) = msg? {
            let v: serde_json::Value = serde_json::from_str(t.as_str())?;
            match v["op"].as_str() {
                Some("subscribed") => return Ok(ws),
                Some("error") => bail!("subscribe refused: {t}"),
                _ => {}
            }
        }
    }
    bail!("the WebSocket closed before `subscribed`")
}

/// A frame a subscriber read.
enum Frame {
    /// A stored event and when it was read (µs since the epoch).
    Stored(Box<Event>, i64),
    /// Told it lagged: resubscribe after this seq.
    Lagged(u64),
    /// Anything else (deltas, acks).
    Other,
    /// The connection ended, or failed.
    Closed(Option<String>),
}

async fn next_frame(ws: &mut Ws) -> Frame {
    let Some(msg) = ws.next().await else {
        return Frame::Closed(None);
    };
    let now = now_micros();
    let text = match msg {
        Ok(Message::Text(t)) => t,
        Ok(Message::Close(_)) => return Frame::Closed(None),
        Ok(_) => return Frame::Other,
        Err(e) => return Frame::Closed(Some(format!("WebSocket: {e}"))),
    };
    let Ok(v) = serde_json::from_str::<serde_json::Value>(text.as_str()) else {
        return Frame::Other;
    };
    match v["op"].as_str() {
        Some("event") => match serde_json::from_value::<Event>(v["event"].clone()) {
            Ok(e) if e.body.is_durable() => Frame::Stored(Box::new(e), now),
            _ => Frame::Other,
        },
        Some("lagged") => Frame::Lagged(v["resume_after"].as_u64().unwrap_or(0)),
        _ => Frame::Other,
    }
}

async fn resubscribe(ws: &mut Ws, agent: &str, after: u64) -> bool {
    let sub = serde_json::json!({"op": "subscribe", "agent_id": agent, "after": after});
    ws.send(Message::Text(sub.to_string().into())).await.is_ok()
}

/// What one subscriber measured.
#[derive(Default)]
struct Seen {
    /// Delivery latencies of stored events, µs.
    latencies: Vec<i64>,
    /// The last seq it read.
    last_seq: u64,
    lagged: u32,
    rounds_done: usize,
    failed: Option<String>,
}

impl Seen {
    /// Takes one frame into the figures: the new stored event (None for a
    /// replayed one, or any other frame); Err when the subscription ended
    /// (`failed` says why). A lag is healed by resubscribing after the
    /// last seq read.
    async fn take(
        &mut self,
        frame: Frame,
        ws: &mut Ws,
        agent: &str,
    ) -> Result<Option<Box<Event>>, ()> {
        match frame {
            Frame::Stored(e, now) => {
                if e.seq <= self.last_seq {
                    return Ok(None); // replayed after a lag
                }
                self.last_seq = e.seq;
                self.latencies.push(now - e.ts.timestamp_micros());
                Ok(Some(e))
            }
            Frame::Lagged(after) => {
                self.lagged += 1;
                if resubscribe(ws, agent, after).await {
                    Ok(None)
                } else {
                    self.failed = Some("the WebSocket closed".into());
                    Err(())
                }
            }
            Frame::Other => Ok(None),
            Frame::Closed(why) => {
                self.failed = Some(why.unwrap_or_else(|| "the WebSocket closed".into()));
                Err(())
            }
        }
    }
}

/// The subscriber on an agent's own host, which also drives its task:
/// posts round 0, waits for the answer and the agent idle again, posts the
/// next round.
async fn drive(
    mut ws: Ws,
    http: reqwest::Client,
    base: String,
    agent: String,
    start_seq: u64,
    rounds: usize,
) -> Seen {
    let mut seen = Seen {
        last_seq: start_seq,
        ..Seen::default()
    };
    let post = |round: usize| {
        let http = http.clone();
        let url = format!("{base}/api/agents/{agent}/messages");
        async move {
            let resp = http
                .post(&url)
                .json(&serde_json::json!({"text": format!("round {round}")}))
                .send()
                .await
                .map_err(|e| format!("POST messages: {e}"))?;
            if !resp.status().is_success() {
                let status = resp.status();
                return Err(format!(
                    "POST messages: {status}: {}",
                    resp.text().await.unwrap_or_default()
                ));
            }
            Ok(())
        }
    };
    if let Err(e) = post(0).await {
        seen.failed = Some(e);
        return seen;
    }
    let mut answered = false;
    loop {
        let frame = next_frame(&mut ws).await;
        let Ok(taken) = seen.take(frame, &mut ws, &agent).await else {
            break;
        };
        let Some(e) = taken else { continue };
        match &e.body {
            EventBody::MessageAssistant { .. } => answered = true,
            EventBody::AgentStatus { status, .. } => match status {
                AgentStatus::Idle if answered => {
                    answered = false;
                    seen.rounds_done += 1;
                    if seen.rounds_done == rounds {
                        break;
                    }
                    if let Err(e) = post(seen.rounds_done).await {
                        seen.failed = Some(e);
                        break;
                    }
                }
                AgentStatus::Error | AgentStatus::Limited | AgentStatus::Stopped => {
                    seen.failed = Some(format!("agent {agent} {}: {:?}", status.as_str(), e.body));
                    break;
                }
                _ => {}
            },
            _ => {}
        }
    }
    let _ = ws.close(None).await;
    seen
}

/// A subscriber on another host (or a second one on the same host with a
/// single host): reads until it has seen the seq `until` is set to.
async fn follow(
    mut ws: Ws,
    agent: String,
    start_seq: u64,
    mut until: watch::Receiver<u64>,
) -> Seen {
    let mut seen = Seen {
        last_seq: start_seq,
        ..Seen::default()
    };
    loop {
        let target = *until.borrow();
        if target > 0 && seen.last_seq >= target {
            break;
        }
        let frame = tokio::select! {
            f = next_frame(&mut ws) => f,
            changed = until.changed() => {
                if changed.is_err() {
                    seen.failed = Some("stopped before the end of the log".into());
                    break;
                }
                continue;
            }
        };
        if seen.take(frame, &mut ws, &agent).await.is_err() {
            break;
        }
    }
    let _ = ws.close(None).await;
    seen
}

/// One number of hosts' figures.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RunReport {
    /// Hosts.
    pub hosts: usize,
    /// Agents (the same in every run).
    pub agents: usize,
    /// Agents each host ran, in host order.
    pub placement: Vec<usize>,
    /// Agents that finished every round.
    pub completed: usize,
    /// Stored events in the window (Σ last_seq after − before).
    pub events: u64,
    /// First message posted → every agent idle after its last round, s.
    pub window_s: f64,
    /// Stored events per second.
    pub events_per_s: f64,
    /// events_per_s / the one-host run's (or the first run's).
    pub events_per_s_ratio: f64,
    /// Stored event → subscriber on the agent's own host.
    pub same_host: Latency,
    /// Stored event → subscriber on another host (none with one host).
    pub cross_host: Option<Latency>,
    /// The hosts' CPU seconds in the window, all together.
    pub hosts_cpu_s: f64,
    /// Hosts' CPU per stored event, µs.
    pub cpu_us_per_event: f64,
    /// Subscriptions told they lagged.
    pub lagged: u32,
    /// Subscribers that failed or did not see the whole log.
    pub errors: usize,
    /// The first few failures.
    pub first_errors: Vec<String>,
}

/// The takeover figures.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TakeoverReport {
    /// Hosts in the cluster.
    pub hosts: usize,
    /// `kill -9`s made.
    pub kills: usize,
    /// `[cluster] lease_secs`.
    pub lease_secs: u64,
    /// Agents the killed host held, each time.
    pub agents_moved: Vec<usize>,
    /// kill → every agent of the killed host shown on another host, each
    /// time, ms.
    pub takeover_ms: Vec<f64>,
    /// Median, ms.
    pub p50_ms: f64,
    /// Largest, ms.
    pub max_ms: f64,
    /// Smallest, ms.
    pub min_ms: f64,
}

/// The median (nearest rank) of `v`, which must be sorted.
fn median(v: &[f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v[((v.len() as f64 - 1.0) * 0.5).round() as usize]
}

/// Where each agent runs: the index of its host, from `GET /api/agents`
/// on the first host, once every agent has one (with one host, an agent
/// without a host is on it).
async fn placement(
    http: &reqwest::Client,
    cluster: &Cluster,
    ids: &[String],
) -> Result<HashMap<String, (usize, u64)>> {
    let index: HashMap<&str, usize> = cluster
        .hosts
        .iter()
        .enumerate()
        .map(|(i, h)| (h.id.as_str(), i))
        .collect();
    let started = Instant::now();
    loop {
        let listed = list(http, cluster.hosts[0].base()?).await?;
        let mut out = HashMap::new();
        for a in listed.iter().filter(|a| ids.contains(&a.id)) {
            let at = match a.host.as_deref() {
                Some(h) => index.get(h).copied(),
                None if cluster.hosts.len() == 1 => Some(0),
                None => None,
            };
            if let Some(i) = at {
                out.insert(a.id.clone(), (i, a.last_seq));
            }
        }
        if out.len() == ids.len() {
            return Ok(out);
        }
        if started.elapsed() > Duration::from_secs(30) {
            bail!(
                "{} of {} agents have no host after 30 s",
                ids.len() - out.len(),
                ids.len()
            );
        }
        tokio::time::sleep(POLL).await;
    }
}

/// One run: `n` hosts, the agents, their rounds.
async fn run_hosts(
    http: &reqwest::Client,
    cluster: &Cluster,
    workspace: &Path,
    args: &HostBenchArgs,
    timeout: Duration,
) -> Result<RunReport> {
    let n = cluster.hosts.len();
    let bases: Vec<String> = cluster
        .hosts
        .iter()
        .map(|h| h.base().map(str::to_string))
        .collect::<Result<_>>()?;
    let ids = create_agents(http, &bases, workspace, args.agents).await?;
    let placed = placement(http, cluster, &ids).await?;
    let mut on_host = vec![0usize; n];
    for (i, _) in placed.values() {
        on_host[*i] += 1;
    }
    // Two subscribers per agent: on its host, and on the next host (the
    // same one with a single host), all confirmed before the first message.
    let mut owners = Vec::with_capacity(ids.len());
    let mut others = Vec::with_capacity(ids.len());
    for id in &ids {
        let (at, seq) = placed[id];
        owners.push(subscribe(&bases[at], id, seq).await?);
        others.push(subscribe(&bases[(at + 1) % n], id, seq).await?);
    }
    let cpu0 = cluster.cpu_seconds();
    let t0 = Instant::now();
    let mut drivers = Vec::with_capacity(ids.len());
    let mut followers = Vec::with_capacity(ids.len());
    let mut stops = Vec::with_capacity(ids.len());
    for ((id, own), other) in ids.iter().zip(owners).zip(others) {
        let (at, seq) = placed[id];
        drivers.push(tokio::spawn(drive(
            own,
            http.clone(),
            bases[at].clone(),
            id.clone(),
            seq,
            args.rounds,
        )));
        let (tx, rx) = watch::channel(0u64);
        stops.push(tx);
        followers.push(tokio::spawn(follow(other, id.clone(), seq, rx)));
    }
    let deadline = tokio::time::Instant::now() + timeout;
    let mut driven = super::join_until(drivers, deadline, || Seen {
        failed: Some("timed out".into()),
        ..Seen::default()
    })
    .await?;
    let window = t0.elapsed().as_secs_f64();
    let cpu = cluster.cpu_seconds() - cpu0;
    let end: HashMap<String, u64> = list(http, &bases[0])
        .await?
        .into_iter()
        .map(|a| (a.id, a.last_seq))
        .collect();
    let mut events = 0;
    for (id, stop) in ids.iter().zip(&stops) {
        let last = end.get(id).copied().unwrap_or(0);
        events += last.saturating_sub(placed[id].1);
        let _ = stop.send(last.max(1));
    }
    // The other subscribers get a few seconds to catch up with the logs.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    let mut followed = Vec::with_capacity(ids.len());
    for (f, id) in followers.into_iter().zip(&ids) {
        let abort = f.abort_handle();
        match tokio::time::timeout_at(deadline, f).await {
            Ok(s) => followed.push(s?),
            Err(_) => {
                abort.abort();
                followed.push(Seen {
                    failed: Some(format!(
                        "agent {id}: the subscriber on another host did not see the whole log in time"
                    )),
                    ..Seen::default()
                });
            }
        }
    }
    drop(stops);
    let mut same = Vec::new();
    let mut cross = Vec::new();
    let mut errors = Vec::new();
    let mut lagged = 0;
    for (s, id) in driven.iter_mut().zip(&ids) {
        lagged += s.lagged;
        same.append(&mut s.latencies);
        if let Some(f) = &s.failed {
            errors.push(format!("agent {id}: {f}"));
        } else if s.rounds_done < args.rounds {
            errors.push(format!(
                "agent {id}: {} of {} rounds",
                s.rounds_done, args.rounds
            ));
        }
    }
    for (s, id) in followed.iter_mut().zip(&ids) {
        lagged += s.lagged;
        // It read each seq once from where it subscribed: fewer is a gap.
        let stored = end
            .get(id)
            .copied()
            .unwrap_or(0)
            .saturating_sub(placed[id].1);
        if s.failed.is_none() && (s.latencies.len() as u64) < stored {
            errors.push(format!(
                "agent {id}: the subscriber on another host read {} of its {stored} stored events",
                s.latencies.len()
            ));
        }
        if n == 1 {
            same.append(&mut s.latencies);
        } else {
            cross.append(&mut s.latencies);
        }
        if let Some(f) = &s.failed {
            errors.push(f.clone());
        }
    }
    let completed = driven
        .iter()
        .filter(|s| s.failed.is_none() && s.rounds_done == args.rounds)
        .count();
    let events_per_s = events as f64 / window.max(1e-9);
    Ok(RunReport {
        hosts: n,
        agents: ids.len(),
        placement: on_host,
        completed,
        events,
        window_s: window,
        events_per_s,
        events_per_s_ratio: f64::NAN,
        same_host: latency(same),
        cross_host: (n > 1).then(|| latency(cross)),
        hosts_cpu_s: cpu,
        cpu_us_per_event: 1e6 * cpu / (events.max(1) as f64),
        lagged,
        errors: errors.len(),
        first_errors: errors.into_iter().take(5).collect(),
    })
}

/// `kill -9` of the host holding the most agents, `kills` times; each time
/// the time until a survivor lists every one of its agents on another
/// host, then the killed host is restarted.
async fn takeovers(
    http: &reqwest::Client,
    cluster: &mut Cluster,
    kills: usize,
    lease_secs: u64,
    quiet: bool,
) -> Result<TakeoverReport> {
    let n = cluster.hosts.len();
    let patience = Duration::from_secs(lease_secs * 3 + 30);
    let mut moved = Vec::with_capacity(kills);
    let mut times = Vec::with_capacity(kills);
    for k in 0..kills {
        let listed = list(http, cluster.hosts[0].base()?).await?;
        let mut held: Vec<Vec<String>> = vec![Vec::new(); n];
        for a in &listed {
            if let Some(i) = cluster
                .hosts
                .iter()
                .position(|h| Some(h.id.as_str()) == a.host.as_deref())
            {
                held[i].push(a.id.clone());
            }
        }
        let Some(victim) = (0..n).max_by_key(|&i| (held[i].len(), std::cmp::Reverse(i))) else {
            bail!("no hosts");
        };
        if held[victim].is_empty() {
            bail!("kill {k}: no host holds an agent");
        }
        let survivor = (victim + 1) % n;
        let survivor_base = cluster.hosts[survivor].base()?.to_string();
        let victim_id = cluster.hosts[victim].id.clone();
        let theirs = std::mem::take(&mut held[victim]);
        let killed = Instant::now();
        if let Some(mut s) = cluster.hosts[victim].served.take() {
            s.kill9();
        }
        let took = loop {
            let now = list(http, &survivor_base).await?;
            let hosts: HashMap<&str, Option<&str>> = now
                .iter()
                .map(|a| (a.id.as_str(), a.host.as_deref()))
                .collect();
            let all_moved = theirs
                .iter()
                .all(|id| matches!(hosts.get(id.as_str()), Some(Some(h)) if *h != victim_id));
            if all_moved {
                break killed.elapsed();
            }
            if killed.elapsed() > patience {
                bail!(
                    "kill {k}: {victim_id}'s {} agents were not all taken over in {} s",
                    theirs.len(),
                    patience.as_secs()
                );
            }
            tokio::time::sleep(POLL).await;
        };
        if !quiet {
            eprintln!(
                "kill {}/{kills}: {victim_id} held {} agents, taken over in {:.2} s",
                k + 1,
                theirs.len(),
                took.as_secs_f64()
            );
        }
        moved.push(theirs.len());
        times.push(took.as_secs_f64() * 1000.0);
        cluster.restart(http, victim).await?;
    }
    let mut sorted = times.clone();
    sorted.sort_by(f64::total_cmp);
    Ok(TakeoverReport {
        hosts: n,
        kills,
        lease_secs,
        agents_moved: moved,
        p50_ms: median(&sorted),
        max_ms: sorted.last().copied().unwrap_or(0.0),
        min_ms: sorted.first().copied().unwrap_or(0.0),
        takeover_ms: times,
    })
}

/// The ratio of two figures (NaN when the baseline is 0).
fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 { a / b } else { f64::NAN }
}

/// Runs the hosts benchmark; `builtin` and `cache` are passed to the hosts.
pub async fn hosts(
    args: &HostBenchArgs,
    builtin: Option<&Path>,
    cache: Option<&Path>,
) -> Result<()> {
    let args = &args.sized();
    args.validate()?;
    let server = server_url(&args.postgres_url)?;
    // The host counts in the order given, each once.
    let mut counts: Vec<usize> = Vec::new();
    for &n in &args.hosts {
        if !counts.contains(&n) {
            counts.push(n);
        }
    }
    let takeover_at = counts.iter().copied().filter(|&n| n >= 2).max();
    super::serve::warn_nofile(args.agents, "agents");
    let model = super::serve::stamp_model(args.tokens, args.tokens_per_second).await?;
    let scratch = tempfile::Builder::new()
        .prefix("paddock-bench-hosts-")
        .tempdir()
        .context("cannot create a scratch directory")?;
    let workspace = scratch.path().join("workspace");
    std::fs::create_dir_all(&workspace)?;
    let exe: PathBuf = std::env::current_exe().context("cannot find the paddock binary")?;
    let master_key = paddock_core::secrets::MasterKey::generate().to_base64();
    let mut auth = reqwest::header::HeaderMap::new();
    auth.insert(
        reqwest::header::AUTHORIZATION,
        reqwest::header::HeaderValue::from_str(&format!("Bearer {BENCH_TOKEN}"))?,
    );
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .default_headers(auth)
        .build()?;
    let stream_s = if args.tokens_per_second > 0.0 {
        f64::from(args.tokens) / args.tokens_per_second
    } else {
        0.0
    };
    let timeout = Duration::from_secs_f64(args.rounds as f64 * (stream_s * 5.0 + 10.0) + 120.0);
    let mut runs: Vec<RunReport> = Vec::new();
    let mut takeover = None;
    for &n in &counts {
        let dir = scratch.path().join(format!("{n}-hosts"));
        std::fs::create_dir_all(&dir)?;
        let config = dir.join("paddock.toml");
        std::fs::write(
            &config,
            host_config(&model.base_url(), args.lease_secs, args.agents.max(200)),
        )?;
        let db = BenchDb::create(&server, &format!("{n}h")).await?;
        let shared = Shared {
            exe: exe.clone(),
            db_url: db.url.clone(),
            master_key: master_key.clone(),
            config,
            workspace: workspace.clone(),
            builtin: builtin.map(Path::to_path_buf),
            cache: cache.map(Path::to_path_buf),
        };
        let outcome = async {
            let mut cluster = Cluster::start(&http, shared, &dir, n).await?;
            let run = run_hosts(&http, &cluster, &workspace, args, timeout).await;
            let run = match run {
                Ok(r) => r,
                Err(e) => {
                    cluster.stop_all();
                    return Err(e);
                }
            };
            if !args.json {
                eprintln!(
                    "{n} host(s): {} events in {:.1} s, {} of {} agents done, {} errors",
                    run.events, run.window_s, run.completed, run.agents, run.errors
                );
            }
            let took = if Some(n) == takeover_at && args.kills > 0 {
                let t =
                    takeovers(&http, &mut cluster, args.kills, args.lease_secs, args.json).await;
                Some(t)
            } else {
                None
            };
            cluster.stop_all();
            Ok::<_, anyhow::Error>((run, took))
        }
        .await;
        db.remove().await?;
        let (run, took) = outcome?;
        runs.push(run);
        if let Some(t) = took {
            takeover = Some(t?);
        }
    }
    model.shutdown().await;
    let base_rate = runs
        .iter()
        .find(|r| r.hosts == 1)
        .or(runs.first())
        .map(|r| r.events_per_s)
        .unwrap_or(0.0);
    let base_hosts = runs
        .iter()
        .find(|r| r.hosts == 1)
        .or(runs.first())
        .map(|r| r.hosts)
        .unwrap_or(1);
    for r in &mut runs {
        r.events_per_s_ratio = ratio(r.events_per_s, base_rate);
    }
    let errors: usize = runs.iter().map(|r| r.errors).sum();
    let shown_server = format!(
        "{}:{}",
        server.host_str().unwrap_or_default(),
        server.port().unwrap_or(5432)
    );
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let pace = if args.tokens_per_second > 0.0 {
        format!("{} tokens/s", args.tokens_per_second)
    } else {
        "unpaced".to_string()
    };
    if args.json {
        let report = serde_json::json!({
            "agents": args.agents,
            "rounds": args.rounds,
            "tokens": args.tokens,
            "tokens_per_second": args.tokens_per_second,
            "lease_secs": args.lease_secs,
            "postgres": shown_server,
            "cores": cores,
            "baseline_hosts": base_hosts,
            "runs": runs,
            "takeover": takeover,
            "errors": errors,
        });
        println!("{report}");
    } else {
        print_table(
            args,
            &runs,
            takeover.as_ref(),
            &shown_server,
            cores,
            &pace,
            base_hosts,
        );
    }
    if errors > 0 {
        bail!("{errors} agents or subscribers failed (see above)");
    }
    Ok(())
}

fn print_table(
    args: &HostBenchArgs,
    runs: &[RunReport],
    takeover: Option<&TakeoverReport>,
    server: &str,
    cores: usize,
    pace: &str,
    base_hosts: usize,
) {
    let ms = |us: f64| us / 1000.0;
    println!(
        "paddock bench hosts ({} agents, {} rounds of {} stamped tokens {pace}, lease_secs {}, {} cores)",
        args.agents, args.rounds, args.tokens, args.lease_secs, cores
    );
    println!(
        "{:>5} {:<12} {:>5} {:>7} {:>7} {:>9} {:>7} {:>9} {:>9} {:>9} {:>9} {:>7} {:>8} {:>6}",
        "hosts",
        "placement",
        "done",
        "events",
        "window",
        "events/s",
        "ratio",
        "same p50",
        "same p99",
        "cross p50",
        "cross p99",
        "p99 x",
        "cpu/evt",
        "lagged"
    );
    for r in runs {
        let placement = r
            .placement
            .iter()
            .map(|p| p.to_string())
            .collect::<Vec<_>>()
            .join("/");
        let (c50, c99, x) = match &r.cross_host {
            Some(c) => (
                format!("{:.2}ms", ms(c.p50_us)),
                format!("{:.2}ms", ms(c.p99_us)),
                format!("{:.2}x", ratio(c.p99_us, r.same_host.p99_us)),
            ),
            None => ("-".into(), "-".into(), "-".into()),
        };
        println!(
            "{:>5} {:<12} {:>5} {:>7} {:>6.1}s {:>9.0} {:>6.2}x {:>7.2}ms {:>7.2}ms {:>9} {:>9} {:>7} {:>6.0}µs {:>6}",
            r.hosts,
            placement,
            r.completed,
            r.events,
            r.window_s,
            r.events_per_s,
            r.events_per_s_ratio,
            ms(r.same_host.p50_us),
            ms(r.same_host.p99_us),
            c50,
            c99,
            x,
            r.cpu_us_per_event,
            r.lagged
        );
    }
    for r in runs.iter().filter(|r| r.hosts != base_hosts) {
        let Some(c) = &r.cross_host else {
            continue;
        };
        println!(
            "{} hosts vs {base_hosts}: events/s {:.2}x; delivery to another host p50 {:.2} ms, p99 {:.2} ms vs the agent's own host p50 {:.2} ms, p99 {:.2} ms ({:+.2} ms at p99, {:.2}x)",
            r.hosts,
            r.events_per_s_ratio,
            ms(c.p50_us),
            ms(c.p99_us),
            ms(r.same_host.p50_us),
            ms(r.same_host.p99_us),
            ms(c.p99_us - r.same_host.p99_us),
            ratio(c.p99_us, r.same_host.p99_us)
        );
    }
    match takeover {
        Some(t) => println!(
            "takeover (kill -9 of the host holding the most agents; {} hosts, {} kills, {:.1} agents moved on average): p50 {:.2} s, max {:.2} s, min {:.2} s against lease_secs {}",
            t.hosts,
            t.kills,
            t.agents_moved.iter().sum::<usize>() as f64 / t.kills.max(1) as f64,
            t.p50_ms / 1000.0,
            t.max_ms / 1000.0,
            t.min_ms / 1000.0,
            t.lease_secs
        ),
        None => println!("takeover: not measured (needs --kills > 0 and a run of 2 or more hosts)"),
    }
    for r in runs.iter().filter(|r| r.errors > 0) {
        println!(
            "{} hosts: {} errors, first: {}",
            r.hosts,
            r.errors,
            r.first_errors.join(" | ")
        );
    }
    println!(
        "PostgreSQL at {server}, a database of its own per run; events: stored events (Σ last_seq) from the first message posted to every agent idle after its last round; delivery: event ts (set by the owning host as it stores it) -> frame read by a WebSocket subscriber in this process (same clock), on the agent's own host (same) and on the next host (cross, through LISTEN/NOTIFY and the store), in the same run; cpu/evt: all hosts' CPU per stored event; takeover: kill -9 -> a survivor's GET /api/agents (polled every 50 ms) shows each of the killed host's agents on another host; expected: the lease runs out between 2/3 of lease_secs and lease_secs after the kill (renewed every third), then up to a second for the takeover loop"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_are_checked_and_name_the_flag() {
        let ok = HostBenchArgs {
            hosts: vec![1, 2, 3],
            agents: 6,
            rounds: 2,
            tokens: 5,
            tokens_per_second: 0.0,
            kills: 2,
            lease_secs: 2,
            postgres_url: "postgres://postgres@127.0.0.1:5432/postgres".into(),
            json: false,
            smoke: false,
        };
        ok.validate().unwrap();
        let bad = |f: fn(&mut HostBenchArgs), flag: &str| {
            let mut a = ok.clone();
            f(&mut a);
            let e = a.validate().unwrap_err().to_string();
            assert!(e.contains(flag), "{e}");
        };
        bad(|a| a.hosts = vec![], "--hosts");
        bad(|a| a.hosts = vec![0], "--hosts");
        bad(|a| a.agents = 0, "--agents");
        bad(|a| a.lease_secs = 1, "--lease-secs");
        bad(|a| a.tokens_per_second = -1.0, "--tokens-per-second");
        bad(|a| a.postgres_url = "mysql://x/y".into(), "--postgres-url");
        bad(|a| a.postgres_url = "not a url".into(), "--postgres-url");
    }

    #[test]
    fn passwords_are_not_shown() {
        let u = server_url("postgres://bench:secret@db.example:5433/postgres").unwrap();
        let s = shown(&u);
        assert!(!s.contains("secret") && s.contains("***"), "{s}");
    }

    #[test]
    fn config_parses_with_the_cluster_settings() {
        let text = host_config("http://127.0.0.1:9/v1", 2, 200);
        let config = paddock_core::config::Config::parse(&text, Path::new("paddock.toml")).unwrap();
        assert_eq!(config.cluster.lease_secs, 2);
        assert_eq!(config.cluster.capacity, 200);
        assert_eq!(config.providers[0].name, "scripted");
    }

    #[test]
    fn medians() {
        assert_eq!(median(&[]), 0.0);
        assert_eq!(median(&[1.0, 2.0, 3.0]), 2.0);
        assert_eq!(median(&[1.0, 2.0, 3.0, 4.0]), 3.0);
    }
}
