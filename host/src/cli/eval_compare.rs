//! `paddock eval compare RUN_A RUN_B`: two evaluation runs compared over the
//! instances both finished (`paddock_core::eval::compare`), as a table or
//! as JSON (`--json`, the `EvalComparison`). Each run is named by its
//! output directory (`run.json` + `results.jsonl`), read directly, so no
//! store is needed.

use crate::cli::Usage;
use anyhow::{Context, Result};
use clap::Args;
use paddock_core::eval::compare::{self as cmp, RunResults};
use paddock_protocol::eval::{ComparedRun, EvalComparison, InstanceStatus, RateInterval};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args, Clone, Debug)]
pub(crate) struct CompareArgs {
    /// Run A: its output directory (holding `run.json` and `results.jsonl`).
    #[arg(value_name = "RUN_A")]
    pub(crate) run_a: PathBuf,
    /// Run B, the one measured against A (the difference is B's rate minus A's).
    #[arg(value_name = "RUN_B")]
    pub(crate) run_b: PathBuf,
    /// Print the comparison as JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

/// Reads one side: a directory, or an error naming the argument.
fn load(which: &str, path: &std::path::Path) -> Result<RunResults> {
    if !path.is_dir() {
        return Err(Usage(format!(
            "{which} {}: not a directory; name a run by its output directory (the `--out` of \
             `paddock eval run`, holding run.json and results.jsonl)",
            path.display()
        ))
        .into());
    }
    cmp::read_run_dir(path).with_context(|| format!("{which}: cannot read the run"))
}

pub(crate) async fn compare(_cli: &crate::Cli, args: CompareArgs) -> Result<ExitCode> {
    let a = load("RUN_A", &args.run_a)?;
    let b = load("RUN_B", &args.run_b)?;
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
