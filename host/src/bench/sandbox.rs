//! `paddock bench sandbox`: per backend, without and with the network
//! granted, and for both ways of running commands in the same run — the
//! per-command path (a new bubblewrap jail or Docker exec per command:
//! "before") and the persistent sandbox (a fork by `paddock-sandboxd` in a
//! long-lived jail or container: "after") — the time to create a sandbox
//! and run its first command, and the per-command overhead of `true`
//! against the same command run directly on the host; and (`bench::environment`)
//! the start of an environment, uncached and cached.

use super::{Summary, summarize};
use anyhow::{Context, Result, bail};
use paddock_sandbox::{
    Backend, BackendKind, ExecSpec, SandboxConfig, SandboxMode, SandboxSpec, bwrap::BwrapBackend,
    docker::DockerBackend,
};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Options of `paddock bench sandbox`.
#[derive(clap::Args, Debug, Clone)]
pub struct SandboxBenchArgs {
    /// Commands to time per backend (after a warm-up of a tenth as many).
    #[arg(long, default_value_t = 500)]
    pub runs: usize,
    /// Sandboxes to create per backend (creation + first command).
    #[arg(long, default_value_t = 10)]
    pub creates: usize,
    /// Backends to measure (default: every one that works here).
    #[arg(long, value_delimiter = ',')]
    pub backends: Vec<String>,
    /// paddock.toml for its [sandbox] section (image, docker_host).
    #[arg(long)]
    pub config: Option<std::path::PathBuf>,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Measure only sandboxes without the network (by default each backend
    /// is measured without and with it).
    #[arg(long)]
    pub no_network: bool,
    /// Smoke size (seconds, for the tests): 10 runs, 1 creation.
    #[arg(long, conflicts_with_all = ["runs", "creates"])]
    pub smoke: bool,
}

impl SandboxBenchArgs {
    /// These options with the smoke sizes when `--smoke` is given.
    pub(super) fn sized(&self) -> SandboxBenchArgs {
        if !self.smoke {
            return self.clone();
        }
        SandboxBenchArgs {
            runs: 10,
            creates: 1,
            ..self.clone()
        }
    }
}

/// One backend's figures.
#[derive(Debug, serde::Serialize)]
struct BackendFigures {
    backend: BackendKind,
    mode: SandboxMode,
    network: bool,
    create_first_command: Summary,
    per_command: Summary,
    overhead_p50_us: f64,
    overhead_p99_us: f64,
}

/// Runs the benchmark.
pub async fn sandbox(args: &SandboxBenchArgs) -> Result<()> {
    let args = &args.sized();
    if args.runs == 0 || args.creates == 0 {
        bail!("--runs and --creates must be at least 1");
    }
    let config = match &args.config {
        Some(p) => paddock_core::config::Config::load(p)?.sandbox,
        None => SandboxConfig::default(),
    };
    let scratch = tempfile::tempdir().context("cannot create a scratch directory")?;
    let workspace = scratch.path().join("workspace");
    std::fs::create_dir_all(&workspace)?;
    // The docker backend runs commands as the workspace's owner, never root.
    #[cfg(unix)]
    if nix_is_root() {
        std::os::unix::fs::chown(&workspace, Some(1000), Some(1000))?;
    }

    let host = host_true(args.runs).await?;
    let mut figures = Vec::new();
    let mut skipped = Vec::new();
    let want = |k: &str| args.backends.is_empty() || args.backends.iter().any(|b| b == k);
    let networks: &[bool] = if args.no_network {
        &[false]
    } else {
        &[false, true]
    };
    let host_id = format!("bench{}", std::process::id());
    // Each backend twice, in the same run: the per-command path (before)
    // and the persistent sandbox (after).
    let mut backends: Vec<(SandboxMode, Arc<dyn Backend>)> = Vec::new();
    for mode in [SandboxMode::PerCommand, SandboxMode::Persistent] {
        let config = SandboxConfig {
            mode,
            ..config.clone()
        };
        let label = mode_name(mode);
        if want("bwrap") {
            let b = BwrapBackend::new(&config, &host_id);
            match b.probe().await {
                Ok(()) => backends.push((mode, Arc::new(b))),
                Err(e) => skipped.push(format!("bwrap ({label}): {e}")),
            }
        }
        if want("docker") {
            match DockerBackend::connect(&config, &host_id).await {
                Ok(b) => match b.probe().await {
                    Ok(()) => backends.push((mode, Arc::new(b))),
                    Err(e) => skipped.push(format!("docker ({label}): {e}")),
                },
                Err(e) => skipped.push(format!("docker ({label}): {e}")),
            }
        }
    }
    let mut environments = Vec::new();
    for (mode, backend) in backends {
        // Environments (an uncached vs a cached start) in the default mode.
        if mode == SandboxMode::Persistent {
            match super::environment::environment_start(
                backend.clone(),
                &config,
                &workspace,
                &scratch.path().join("environments"),
            )
            .await
            {
                Ok(f) => environments.push(f),
                Err(e) => skipped.push(format!("{} environment: {e:#}", backend.kind())),
            }
        }
        for &network in networks {
            match measure(backend.clone(), mode, &workspace, args, &host, network).await {
                Ok(f) => figures.push(f),
                // A backend that cannot give sandboxes the network here
                // (e.g. no slirp4netns) is still measured without it.
                Err(e) if network => skipped.push(format!(
                    "{} ({}) with network: {e:#}",
                    backend.kind(),
                    mode_name(mode)
                )),
                Err(e) => return Err(e),
            }
        }
    }
    figures.sort_by_key(|f| {
        (
            f.backend.as_str(),
            f.network,
            f.mode != SandboxMode::PerCommand,
        )
    });
    if args.json {
        let body = serde_json::json!({
            "host_true": host,
            "backends": figures,
            "environments": environments,
            "skipped": skipped,
        });
        println!("{body}");
        return Ok(());
    }
    println!(
        "sandbox benchmark: {} runs of `true` per backend, {} creations",
        args.runs, args.creates
    );
    println!(
        "  host (baseline)   `true` directly:  p50 {:>9.0} µs  p99 {:>9.0} µs",
        host.p50_us, host.p99_us
    );
    for f in &figures {
        let network = if f.network {
            "network granted"
        } else {
            "no network"
        };
        let mode = match f.mode {
            SandboxMode::PerCommand => "per-command: a new jail/exec per command (before)",
            SandboxMode::Persistent => "persistent: a fork by paddock-sandboxd (after)",
        };
        println!("  {} ({network}), {mode}", f.backend);
        println!(
            "    create + first command:         p50 {:>9.0} µs  p99 {:>9.0} µs",
            f.create_first_command.p50_us, f.create_first_command.p99_us
        );
        println!(
            "    `true` in the sandbox:           p50 {:>9.0} µs  p99 {:>9.0} µs  ({:.1}x / {:.1}x the host)",
            f.per_command.p50_us,
            f.per_command.p99_us,
            ratio(f.per_command.p50_us, host.p50_us),
            ratio(f.per_command.p99_us, host.p99_us)
        );
        println!(
            "    overhead per command:            p50 {:>9.0} µs  p99 {:>9.0} µs",
            f.overhead_p50_us, f.overhead_p99_us
        );
    }
    for e in &environments {
        println!(
            "  {} environment start (prepare + create + first command): uncached {:.0} ms, cached {:.0} ms",
            e.backend, e.uncached_ms, e.cached_ms
        );
    }
    for s in &skipped {
        println!("  skipped {s}");
    }
    Ok(())
}

fn mode_name(mode: SandboxMode) -> &'static str {
    match mode {
        SandboxMode::PerCommand => "per-command",
        SandboxMode::Persistent => "persistent",
    }
}

fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 { a / b } else { f64::NAN }
}

#[cfg(unix)]
fn nix_is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

fn true_cmd() -> ExecSpec {
    ExecSpec {
        argv: vec!["true".into()],
        cwd: "/workspace".into(),
        env: Vec::new(),
        timeout: Duration::from_secs(60),
        max_output_bytes: 64 * 1024,
        stdin: None,
        background: false,
    }
}

/// `true` run directly on the host, as the baseline.
async fn host_true(runs: usize) -> Result<Summary> {
    let mut samples = Vec::with_capacity(runs);
    for i in 0..runs + runs / 10 {
        let t = Instant::now();
        let status = tokio::process::Command::new("true")
            .status()
            .await
            .context("cannot run `true` on the host")?;
        if !status.success() {
            bail!("`true` failed on the host");
        }
        if i >= runs / 10 {
            samples.push(t.elapsed());
        }
    }
    Ok(summarize(samples))
}

async fn measure(
    backend: Arc<dyn Backend>,
    mode: SandboxMode,
    workspace: &Path,
    args: &SandboxBenchArgs,
    host: &Summary,
    network: bool,
) -> Result<BackendFigures> {
    let spec = |n: usize| SandboxSpec {
        agent_id: format!("bench-{n}"),
        workspace: workspace.to_path_buf(),
        network: network.into(),
        read_only: Vec::new(),
        limits: Default::default(),
        environment: None,
        egress: None,
    };
    let mut creates = Vec::with_capacity(args.creates);
    for n in 0..args.creates {
        let t = Instant::now();
        let sb = backend.create(spec(n)).await?;
        let out = sb.exec(true_cmd(), None).await?;
        creates.push(t.elapsed());
        sb.destroy().await?;
        if out.exit_code != Some(0) {
            bail!(
                "`true` failed in the {} sandbox: {}",
                backend.kind(),
                out.stderr
            );
        }
    }
    let sb = backend.create(spec(args.creates)).await?;
    let mut samples = Vec::with_capacity(args.runs);
    for i in 0..args.runs + args.runs / 10 {
        let t = Instant::now();
        let out = sb.exec(true_cmd(), None).await?;
        if i >= args.runs / 10 {
            samples.push(t.elapsed());
        }
        if out.exit_code != Some(0) {
            bail!(
                "`true` failed in the {} sandbox: {}",
                backend.kind(),
                out.stderr
            );
        }
    }
    sb.destroy().await?;
    let per_command = summarize(samples);
    Ok(BackendFigures {
        backend: backend.kind(),
        mode,
        network,
        create_first_command: summarize(creates),
        overhead_p50_us: per_command.p50_us - host.p50_us,
        overhead_p99_us: per_command.p99_us - host.p99_us,
        per_command,
    })
}
