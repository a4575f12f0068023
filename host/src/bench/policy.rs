//! `paddock bench policy`: decision latency per tool call — 100 rules and
//! the built-in `default-assessor` — against its parts measured in the same
//! run, interleaved: the rules alone (no assessor enabled) and one bare
//! assessor call. Target: full decision under 200 µs p50 (release build).

use super::{Summary, summarize};
use anyhow::{Context, Result, bail};
use paddock_core::policy::{ApprovalMode, Call, ConfigRule, Policy, PolicyConfig, Subject};
use paddock_plugins::{HostOptions, PluginHost, World};
use paddock_store::Store;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Options of `paddock bench policy`.
#[derive(clap::Args, Debug, Clone)]
pub struct PolicyBenchArgs {
    /// Decisions per path (after a warm-up of a tenth as many).
    #[arg(long, default_value_t = 2000)]
    pub calls: usize,
    /// Rules in the rule set.
    #[arg(long, default_value_t = 100)]
    pub rules: usize,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Smoke size (seconds, for the tests): 20 decisions per path (the
    /// rule set keeps its size).
    #[arg(long, conflicts_with = "calls")]
    pub smoke: bool,
}

impl PolicyBenchArgs {
    /// These options with the smoke sizes when `--smoke` is given.
    pub(super) fn sized(&self) -> PolicyBenchArgs {
        if !self.smoke {
            return self.clone();
        }
        PolicyBenchArgs {
            calls: 20,
            ..self.clone()
        }
    }
}

#[derive(Debug, serde::Serialize)]
struct Row {
    path: &'static str,
    latency: Summary,
    ratio_p50: f64,
}

/// `n` realistic rules; none matches the benchmark's calls, so every rule
/// is tried (the worst case for matching).
fn rule_set(n: usize) -> Vec<ConfigRule> {
    let shapes = [
        "deny execute_bash(rm -rf /{i}*)",
        "ask execute_bash(git push origin release-{i}*)",
        "allow execute_bash(cargo test -p crate{i}*)",
        "ask write_file(path=*.secret{i})",
        "deny srv{i}__*",
        "allow read_file(path=docs/{i}/*)",
        "ask edit_file(path=config/{i}.toml)",
        "deny execute_bash(curl *evil{i}.example*)",
    ];
    (0..n)
        .map(|i| ConfigRule::Text(shapes[i % shapes.len()].replace("{i}", &i.to_string())))
        .collect()
}

/// Runs the benchmark with the built-in plugins of `builtin_dir`.
pub async fn policy(args: &PolicyBenchArgs, builtin_dir: &Path) -> Result<()> {
    let args = &args.sized();
    if args.calls == 0 {
        bail!("--calls must be at least 1");
    }
    let scratch = tempfile::tempdir()?;
    let data_dir = scratch.path().join("data");
    let store = Store::open_sqlite(&data_dir.join("paddock.db")).await?;
    let host = Arc::new(
        PluginHost::open(HostOptions {
            data_dir: data_dir.clone(),
            builtin_dir: Some(builtin_dir.to_path_buf()),
            cache_dir: Some(data_dir.join("cache")),
        })
        .await?,
    );
    let assessors = host.enabled_of(World::RiskAssessor)?;
    if !assessors.iter().any(|a| a == "default-assessor") {
        bail!(
            "the built-in default-assessor is not in {} (run `make build`)",
            builtin_dir.display()
        );
    }
    let config = PolicyConfig {
        default_mode: ApprovalMode::AskRisky,
        approval_timeout_secs: None,
        rules: rule_set(args.rules),
    };
    let policy = Policy::open(config, store.clone(), host.clone())
        .await
        .context("the benchmark's rules")?;
    let subject = Subject {
        agent_id: "bench",
        template: None,
        rules: &[],
        mode: ApprovalMode::AskRisky,
    };
    let inputs = [
        (
            "execute_bash",
            serde_json::json!({"command": "cargo test --workspace && git status"}),
        ),
        (
            "write_file",
            serde_json::json!({"path": "src/lib.rs", "content": "fn main() {}\n"}),
        ),
        ("read_file", serde_json::json!({"path": "README.md"})),
    ];
    let texts: Vec<String> = inputs.iter().map(|(_, a)| a.to_string()).collect();
    let full = async |i: usize| {
        let (tool, args) = &inputs[i % inputs.len()];
        let call = Call {
            tool,
            arguments: args,
            read_only: false,
            call_id: "c",
        };
        let started = Instant::now();
        let d = policy.decide(&subject, &call).await;
        (started.elapsed(), d.verdicts.len())
    };
    let bare = async |i: usize| -> Result<Duration> {
        let (tool, _) = &inputs[i % inputs.len()];
        let started = Instant::now();
        host.assess(
            "default-assessor",
            tool,
            &texts[i % inputs.len()],
            "bench",
            "c",
        )
        .await?;
        Ok(started.elapsed())
    };
    for i in 0..(args.calls / 10).max(10) {
        full(i).await;
        bare(i).await?;
    }
    let mut with_assessor = Vec::with_capacity(args.calls);
    let mut assessor_only = Vec::with_capacity(args.calls);
    for i in 0..args.calls {
        let (d, verdicts) = full(i).await;
        if verdicts != assessors.len() {
            bail!(
                "a decision heard {verdicts} of {} assessors",
                assessors.len()
            );
        }
        with_assessor.push(d);
        assessor_only.push(bare(i).await?);
    }
    // The rules alone: the same decisions with every assessor disabled.
    for a in &assessors {
        host.set_enabled(a, false)?;
    }
    let mut rules_only = Vec::with_capacity(args.calls);
    for i in 0..args.calls {
        rules_only.push(full(i).await.0);
    }
    let full_s = summarize(with_assessor);
    let rows = vec![
        Row {
            path: "rules only (no assessor)",
            latency: summarize(rules_only),
            ratio_p50: 0.0,
        },
        Row {
            path: "one bare default-assessor call",
            latency: summarize(assessor_only),
            ratio_p50: 0.0,
        },
        Row {
            path: "full decision (rules + assessor)",
            latency: full_s,
            ratio_p50: 0.0,
        },
    ];
    let bare_p50 = rows[1].latency.p50_us.max(f64::MIN_POSITIVE);
    let rows: Vec<Row> = rows
        .into_iter()
        .map(|r| Row {
            ratio_p50: r.latency.p50_us / bare_p50,
            ..r
        })
        .collect();
    if args.json {
        println!(
            "{}",
            serde_json::json!({"rules": args.rules, "calls": args.calls, "rows": rows,
                "target_p50_us": 200.0, "met": full_s.p50_us < 200.0})
        );
    } else {
        println!(
            "policy decision latency: {} rules, {} assessor(s), {} decisions per path",
            args.rules,
            assessors.len(),
            args.calls
        );
        println!(
            "{:<36} {:>10} {:>10} {:>10} {:>12}",
            "path", "p50 µs", "p99 µs", "mean µs", "× bare p50"
        );
        for r in &rows {
            println!(
                "{:<36} {:>10.1} {:>10.1} {:>10.1} {:>12.2}",
                r.path, r.latency.p50_us, r.latency.p99_us, r.latency.mean_us, r.ratio_p50
            );
        }
        println!(
            "target: full decision < 200 µs p50 — {} ({:.1} µs)",
            if full_s.p50_us < 200.0 {
                "met"
            } else {
                "NOT met"
            },
            full_s.p50_us
        );
    }
    store.close().await;
    Ok(())
}
