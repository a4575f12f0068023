//! `paddock bench plugins`: the fresh-instance call overhead of a plugin tool
//! against a native read, and plugin load times.

use super::{Summary, summarize};
use anyhow::{Context, Result, bail};
use paddock_plugins::{CallTarget, HostOptions, PluginHost};
use std::path::Path;
use std::time::Instant;

/// Options of `paddock bench plugins`.
#[derive(clap::Args, Debug, Clone)]
pub struct PluginBenchArgs {
    /// Tool calls to time (after a warm-up of a tenth as many).
    #[arg(long, default_value_t = 10_000)]
    pub calls: usize,
    /// Plugin loads to time, from the compiled cache and from scratch.
    #[arg(long, default_value_t = 20)]
    pub loads: usize,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Smoke size (seconds, for the tests): 20 calls, 1 load.
    #[arg(long, conflicts_with_all = ["calls", "loads"])]
    pub smoke: bool,
}

impl PluginBenchArgs {
    /// These options with the smoke sizes when `--smoke` is given.
    pub(super) fn sized(&self) -> PluginBenchArgs {
        if !self.smoke {
            return self.clone();
        }
        PluginBenchArgs {
            calls: 20,
            loads: 1,
            ..self.clone()
        }
    }
}

/// Runs the plugin benchmark with the built-in plugins in `builtin_dir`.
pub async fn plugins(args: &PluginBenchArgs, builtin_dir: &Path) -> Result<()> {
    let args = &args.sized();
    if args.calls == 0 || args.loads == 0 {
        bail!("--calls and --loads must be at least 1");
    }
    let scratch = tempfile::tempdir().context("cannot create a scratch directory")?;
    let data_dir = scratch.path().join("data");
    let workspace = scratch.path().join("workspace");
    std::fs::create_dir_all(&workspace)?;
    let content: String = (0..40)
        .map(|i| format!("line {i}: the quick brown fox\n"))
        .collect();
    std::fs::write(workspace.join("small.txt"), &content)?;

    let host = PluginHost::open(HostOptions {
        data_dir: data_dir.clone(),
        builtin_dir: Some(builtin_dir.to_path_buf()),
        cache_dir: Some(data_dir.join("cache")),
    })
    .await?;
    let (record, _) = host
        .find_tool("read_file")
        .context("the built-in read_file tool is not installed")?;
    let target = CallTarget {
        agent_id: "bench".into(),
        call_id: "bench".into(),
        workspace: Some(workspace.clone()),
        ..Default::default()
    };
    let input = r#"{"path":"small.txt"}"#;

    // Warm up: load the plugin and fault in the pool slots.
    for _ in 0..(args.calls / 10).max(10) {
        host.call_tool("read_file", input, &target).await?;
    }
    let mut wasm = Vec::with_capacity(args.calls);
    for _ in 0..args.calls {
        let t = Instant::now();
        let out = host.call_tool("read_file", input, &target).await?;
        wasm.push(t.elapsed());
        if !out.content.contains("quick brown fox") {
            bail!("read_file returned unexpected content: {}", out.content);
        }
    }
    let mut native = Vec::with_capacity(args.calls);
    for _ in 0..args.calls {
        let t = Instant::now();
        let text = std::hint::black_box(std::fs::read_to_string(workspace.join("small.txt"))?);
        native.push(t.elapsed());
        if text.len() != content.len() {
            bail!("native read returned {} bytes", text.len());
        }
    }
    let wasm = summarize(wasm);
    let native = summarize(native);

    // Plugin loads: from scratch (compile) vs from the on-disk cache.
    let component = std::fs::read(
        data_dir
            .join("plugins")
            .join(&record.name)
            .join("component.wasm"),
    )?;
    let engine = paddock_plugins::engine::PluginEngine::new()?;
    let cache = scratch.path().join("bench-cache");
    let mut compile = Vec::with_capacity(args.loads);
    for _ in 0..args.loads {
        let t = Instant::now();
        std::hint::black_box(engine.compile(&component)?);
        compile.push(t.elapsed());
    }
    engine.load(&component, Some(&cache))?; // fill the cache
    let mut cached = Vec::with_capacity(args.loads);
    for _ in 0..args.loads {
        let t = Instant::now();
        let (c, hit) = engine.load(&component, Some(&cache))?;
        cached.push(t.elapsed());
        if !hit {
            bail!("the compiled-component cache missed");
        }
        std::hint::black_box(c);
    }
    let compile = summarize(compile);
    let cached = summarize(cached);

    let report = serde_json::json!({
        "read_file_fresh_instance": wasm,
        "native_read": native,
        "overhead_ratio_p50": wasm.p50_us / native.p50_us.max(0.001),
        "call_overhead_p50_us": wasm.p50_us - native.p50_us,
        "calls": args.calls,
        "component_bytes": component.len(),
        "load_compile": compile,
        "load_cached": cached,
        "load_speedup_p50": compile.p50_us / cached.p50_us.max(0.001),
        "loads": args.loads,
        "target_call_overhead_p50_us": 100,
    });
    if args.json {
        println!("{report}");
    } else {
        println!(
            "paddock bench plugins ({} calls, {} loads)",
            args.calls, args.loads
        );
        println!(
            "{:<34} {:>10} {:>10} {:>10}",
            "", "p50 µs", "p99 µs", "mean µs"
        );
        let row = |name: &str, s: &Summary| {
            println!(
                "{name:<34} {:>10.1} {:>10.1} {:>10.1}",
                s.p50_us, s.p99_us, s.mean_us
            );
        };
        row("read_file, fresh instance", &wasm);
        row("native std::fs::read_to_string", &native);
        println!(
            "ratio p50: {:.1}x native; added per call p50: {:.1} µs (target < 100 µs)",
            wasm.p50_us / native.p50_us.max(0.001),
            wasm.p50_us - native.p50_us
        );
        row(
            &format!("load: compile ({} KiB)", component.len() / 1024),
            &compile,
        );
        row("load: from compiled cache", &cached);
        println!(
            "cache speed-up p50: {:.0}x",
            compile.p50_us / cached.p50_us.max(0.001)
        );
    }
    Ok(())
}
