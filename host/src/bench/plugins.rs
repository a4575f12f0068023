//! `paddock bench plugins`: the fresh-instance call overhead of a plugin tool
//! against a native read, and plugin load times; with `--python-probe` /
//! `--js-probe`, the per-call cost of the same tool in a Python and a
//! JavaScript plugin beside the Rust one, measured in the same run.

use super::{Summary, summarize};
use anyhow::{Context, Result, bail};
use paddock_plugins::{CallTarget, HostOptions, PluginHost};
use std::path::{Path, PathBuf};
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
    /// Smoke size (seconds, for the tests): 20 calls, 1 load, 5 calls per language.
    #[arg(long, conflicts_with_all = ["calls", "loads", "lang_calls"])]
    pub smoke: bool,
    /// A Python plugin offering `probe_echo` (a directory with its manifest
    /// and component: plugins/testing/py-probe built with componentize-py):
    /// its per-call cost is measured beside the Rust probe's.
    #[arg(long)]
    pub python_probe: Option<PathBuf>,
    /// A JavaScript plugin offering `probe_echo` (plugins/testing/js-probe
    /// built with `paddock-js build`), measured likewise.
    #[arg(long)]
    pub js_probe: Option<PathBuf>,
    /// The Rust plugin offering `probe_echo` the others are compared with
    /// (default: `test-plugins/probe` beside the built-in plugins).
    #[arg(long)]
    pub rust_probe: Option<PathBuf>,
    /// `probe_echo` calls timed per language (after 3 warm-up calls).
    #[arg(long, default_value_t = 200)]
    pub lang_calls: usize,
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
            lang_calls: 5,
            ..self.clone()
        }
    }
}

/// Runs the plugin benchmark with the built-in plugins in `builtin_dir`;
/// the language probes' components are compiled once into `cache_dir` when
/// given (`--cache-dir`), so that repeated runs load them from there.
pub async fn plugins(
    args: &PluginBenchArgs,
    builtin_dir: &Path,
    cache_dir: Option<&Path>,
) -> Result<()> {
    let args = &args.sized();
    if args.calls == 0 || args.loads == 0 || args.lang_calls == 0 {
        bail!("--calls, --loads and --lang-calls must be at least 1");
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

    let languages = language_costs(args, builtin_dir, scratch.path(), cache_dir).await?;

    let mut report = serde_json::json!({
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
    if let Some(langs) = &languages {
        report["languages"] = serde_json::to_value(langs)?;
    }
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
        if let Some(langs) = &languages {
            println!(
                "per-call cost by language (probe_echo, fresh instance, {} calls each)",
                args.lang_calls
            );
            println!(
                "{:<34} {:>10} {:>10} {:>10} {:>10} {:>12}",
                "", "p50 µs", "p99 µs", "mean µs", "x Rust", "compile ms"
            );
            for l in langs {
                println!(
                    "{:<34} {:>10.1} {:>10.1} {:>10.1} {:>10.1} {:>12}",
                    format!("{} ({} KiB)", l.language, l.component_bytes / 1024),
                    l.call.p50_us,
                    l.call.p99_us,
                    l.call.mean_us,
                    l.ratio_to_rust_p50,
                    l.compile_ms
                        .map_or_else(|| "-".to_string(), |ms| format!("{ms:.0}"))
                );
            }
        }
    }
    Ok(())
}

/// The per-call cost of one language's `probe_echo`.
#[derive(Debug, serde::Serialize)]
struct LanguageCost {
    /// `rust`, `python` or `javascript`.
    language: &'static str,
    /// Calls of `probe_echo`, each in a fresh instance.
    call: Summary,
    /// p50 against the Rust probe's p50, measured in the same run.
    ratio_to_rust_p50: f64,
    /// Compiling the component (Cranelift), once, in milliseconds (not
    /// measured with `--smoke`).
    compile_ms: Option<f64>,
    /// The component's size.
    component_bytes: usize,
}

/// Times `probe_echo` in the Rust probe and in the Python and JavaScript
/// probes given; `None` when neither is given.
async fn language_costs(
    args: &PluginBenchArgs,
    builtin_dir: &Path,
    scratch: &Path,
    cache_dir: Option<&Path>,
) -> Result<Option<Vec<LanguageCost>>> {
    if args.python_probe.is_none() && args.js_probe.is_none() {
        return Ok(None);
    }
    let rust = match &args.rust_probe {
        Some(dir) => dir.clone(),
        None => builtin_dir.join("..").join("test-plugins").join("probe"),
    };
    let mut probes = vec![("rust", rust)];
    if let Some(dir) = &args.python_probe {
        probes.push(("python", dir.clone()));
    }
    if let Some(dir) = &args.js_probe {
        probes.push(("javascript", dir.clone()));
    }
    let mut out: Vec<LanguageCost> = Vec::new();
    for (language, dir) in probes {
        let (call, compile_ms, component_bytes) =
            time_probe_echo(&dir, &scratch.join(language), cache_dir, args)
                .await
                .with_context(|| format!("the {language} probe in {}", dir.display()))?;
        let rust_p50 = out.first().map_or(call.p50_us, |r| r.call.p50_us);
        out.push(LanguageCost {
            language,
            ratio_to_rust_p50: call.p50_us / rust_p50.max(0.001),
            call,
            compile_ms,
            component_bytes,
        });
    }
    Ok(Some(out))
}

/// Installs the probe in `dir` into a fresh data dir under `scratch` (each
/// probe alone: their tool names are the same) and times `lang_calls` calls
/// of `probe_echo`; also times one compile of its component (not with
/// `--smoke`).
async fn time_probe_echo(
    dir: &Path,
    scratch: &Path,
    cache_dir: Option<&Path>,
    args: &PluginBenchArgs,
) -> Result<(Summary, Option<f64>, usize)> {
    let calls = args.lang_calls;
    let data_dir = scratch.join("data");
    let workspace = scratch.join("workspace");
    std::fs::create_dir_all(&workspace)?;
    let host = PluginHost::open(HostOptions {
        data_dir: data_dir.clone(),
        builtin_dir: None,
        cache_dir: Some(cache_dir.map_or_else(|| data_dir.join("cache"), Path::to_path_buf)),
    })
    .await?;
    let info = host
        .install(&paddock_plugins::InstallSource {
            path: dir.to_path_buf(),
            manifest: None,
        })
        .await?;
    let target = CallTarget {
        agent_id: "bench".into(),
        call_id: "bench".into(),
        workspace: Some(workspace),
        ..Default::default()
    };
    for _ in 0..3 {
        host.call_tool("probe_echo", "{}", &target).await?;
    }
    let mut times = Vec::with_capacity(calls);
    for _ in 0..calls {
        let t = Instant::now();
        let out = host.call_tool("probe_echo", "{}", &target).await?;
        times.push(t.elapsed());
        if !out.content.starts_with("ok") {
            bail!("probe_echo returned unexpected content: {}", out.content);
        }
    }
    let component = std::fs::read(
        data_dir
            .join("plugins")
            .join(&info.record.name)
            .join("component.wasm"),
    )?;
    let compile_ms = if args.smoke {
        None
    } else {
        let engine = paddock_plugins::engine::PluginEngine::new()?;
        let t = Instant::now();
        std::hint::black_box(engine.compile(&component)?);
        Some(t.elapsed().as_secs_f64() * 1000.0)
    };
    Ok((summarize(times), compile_ms, component.len()))
}
