//! `paddock eval compare RUN_A RUN_B`: two evaluation runs compared over the
//! instances both finished (`paddock_core::eval::compare`), as a table or
//! as JSON (`--json`, the `EvalComparison`). Each run is named by its id
//! in the store (as `paddock eval list` shows it; read through
//! `paddock_core::eval::run_view`) or by its output directory (its
//! `run.json` and `results.jsonl`, read directly): an existing directory is
//! a directory, anything else an id. The store is opened only when an id is
//! given.

use super::common::ConfigArgs;
use crate::cli::Usage;
use anyhow::{Context, Result};
use clap::Args;
use paddock_core::eval::compare::{self as cmp, RunResults};
use paddock_protocol::eval::{ComparedRun, EvalComparison, InstanceStatus, RateInterval};
use std::path::Path;
use std::process::ExitCode;

#[derive(Args, Clone)]
pub(crate) struct CompareArgs {
    #[command(flatten)]
    pub(crate) config: ConfigArgs,
    /// Run A: its id (see `paddock eval list`) or its output directory (the `--out` of
    /// `paddock eval run`, holding run.json and results.jsonl).
    #[arg(value_name = "RUN_A")]
    pub(crate) run_a: String,
    /// Run B, the one measured against A (the difference is B's rate minus A's): an id or an
    /// output directory.
    #[arg(value_name = "RUN_B")]
    pub(crate) run_b: String,
    /// Print the comparison as JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

/// Reads one side: an output directory, or a run of the store by id
/// (`store` opened on first need), or an error naming the argument.
async fn load(
    cli: &crate::Cli,
    config: &ConfigArgs,
    store: &mut Option<paddock_store::Store>,
    which: &str,
    arg: &str,
) -> Result<RunResults> {
    let path = Path::new(arg);
    if path.is_dir() {
        return cmp::read_run_dir(path).with_context(|| format!("{which}: cannot read the run"));
    }
    let id = arg.trim();
    if id.is_empty() {
        return Err(Usage(format!(
            "{which}: empty; name a run by its id or its output directory"
        ))
        .into());
    }
    let s = match store.take() {
        Some(s) => s,
        None => super::user::open_store(cli, config).await?,
    };
    let view = paddock_core::eval::run_view(&s, id, true).await;
    *store = Some(s);
    let view = view
        .with_context(|| format!("{which}: cannot read run {id}"))?
        .ok_or_else(|| {
            Usage(format!(
                "{which} `{arg}`: neither an output directory nor the id of a run in this data \
                 dir (see `paddock eval list`)"
            ))
        })?;
    Ok(RunResults::from_view(&view)?)
}

pub(crate) async fn compare(cli: &crate::Cli, args: CompareArgs) -> Result<ExitCode> {
    let mut store = None;
    let read = async {
        let a = load(cli, &args.config, &mut store, "RUN_A", &args.run_a).await?;
        let b = load(cli, &args.config, &mut store, "RUN_B", &args.run_b).await?;
        Ok::<_, anyhow::Error>((a, b))
    }
    .await;
    if let Some(s) = store {
        s.close().await;
    }
    let (a, b) = read?;
    let comparison = cmp::compare_results(&a, &b)?;
    if args.json {
        out!("{}", serde_json::to_string_pretty(&comparison)?);
    } else {
        out!("{}", table(&comparison));
    }
    Ok(ExitCode::SUCCESS)
}

/// `0.667` as `66.7 %`.
fn pct(x: f64) -> String {
    format!("{:.1} %", x * 100.0)
}

fn rate(r: &RateInterval) -> String {
    format!(
        "{}/{} = {} [{}, {}]",
        r.resolved,
        r.counted,
        pct(r.rate),
        pct(r.low),
        pct(r.high)
    )
}

fn usd(x: f64) -> String {
    format!("${x:.4}")
}

fn status(s: InstanceStatus) -> &'static str {
    match s {
        InstanceStatus::Resolved => "resolved",
        InstanceStatus::Unresolved => "unresolved",
        InstanceStatus::NotEvaluated => "not evaluated",
        InstanceStatus::LimitHit => "limit hit",
        InstanceStatus::Error => "error",
    }
}

/// The comparison as a readable table.
fn table(c: &EvalComparison) -> String {
    let side = |r: &ComparedRun| -> Vec<String> {
        vec![
            format!("{} ({})", r.name, r.id),
            r.model_name.clone(),
            cmp::evaluation_name(r.evaluation).to_string(),
            rate(&r.rate),
            r.errors.to_string(),
            usd(r.cost_usd),
            r.cost_per_resolved_usd.map_or_else(|| "-".into(), usd),
            r.input_tokens.to_string(),
            r.output_tokens.to_string(),
        ]
    };
    let labels = [
        "run",
        "model",
        "evaluation",
        "resolved (95 % CI)",
        "errors",
        "cost",
        "cost per resolved",
        "tokens in",
        "tokens out",
    ];
    let (a, b) = (side(&c.a), side(&c.b));
    let w0 = labels.iter().map(|l| l.chars().count()).max().unwrap_or(0);
    let w1 = a
        .iter()
        .map(|v| v.chars().count())
        .max()
        .unwrap_or(0)
        .max(1);
    let mut s = String::new();
    let line = |s: &mut String, l: &str, x: &str, y: &str| {
        s.push_str(&format!("{l:<w0$}  {x:<w1$}  {y}\n"));
    };
    line(&mut s, "", "A", "B");
    for (i, l) in labels.iter().enumerate() {
        line(&mut s, l, &a[i], &b[i]);
    }
    s.push('\n');
    s.push_str(&format!(
        "over the {} instances both runs finished ({} only in A, {} only in B)\n",
        c.common,
        c.only_in_a.len(),
        c.only_in_b.len()
    ));
    if c.a.evaluation != c.b.evaluation {
        s.push_str(&format!(
            "note: the runs were evaluated differently ({} and {}): their rates are not alike\n",
            cmp::evaluation_name(c.a.evaluation),
            cmp::evaluation_name(c.b.evaluation)
        ));
    }
    s.push_str(&format!(
        "difference (B - A): {:+.1} points, 95 % CI [{:+.1}, {:+.1}] (Newcombe)\n",
        c.difference.delta * 100.0,
        c.difference.low * 100.0,
        c.difference.high * 100.0
    ));
    let by_id = |id: &str| c.instances.iter().find(|i| i.instance_id == id);
    for (title, ids) in [
        ("wins (resolved in A, not in B)", &c.wins),
        ("losses (resolved in B, not in A)", &c.losses),
    ] {
        s.push_str(&format!("\n{title}: {}\n", ids.len()));
        for id in ids {
            if let Some(i) = by_id(id) {
                s.push_str(&format!(
                    "  {id}  A {} ({}), B {} ({})\n",
                    status(i.a),
                    usd(i.a_cost_usd),
                    status(i.b),
                    usd(i.b_cost_usd)
                ));
            }
        }
    }
    for (title, ids) in [("only in A", &c.only_in_a), ("only in B", &c.only_in_b)] {
        if !ids.is_empty() {
            s.push_str(&format!("\n{title}: {}\n", ids.join(", ")));
        }
    }
    s.trim_end().to_string()
}
