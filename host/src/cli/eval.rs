//! `paddock eval …`: `run` an agent configuration over a tasks file in the
//! SWE-bench instance format, in-process (like `paddock workflow run`) —
//! one line on stderr per finished instance, a final summary that says
//! which evaluation was used, the outputs in `--out DIR`; exit 0 when the
//! run finished (whatever its resolved rate), 1 when it was interrupted,
//! its budget was spent or the official harness failed, 2 on a usage error
//! (including, with `--evaluate swebench`, a missing `swebench` package or
//! Docker, checked before any agent runs; the harness grades
//! `predictions.jsonl` once the agents are done) — `list` the runs, and
//! `compare` two (by id or output directory, `eval_compare`).

use super::common::{ConfigArgs, McpFileArgs, SandboxArgs, Usage, data_dir, load_config, open_app};
use crate::Cli;
use anyhow::{Result, bail};
use clap::{Args, Subcommand};
use paddock_core::eval::runner::{self, Progress, RunRequest, TemplateSource};
use paddock_core::eval::swebench::{self, SwebenchOptions};
use paddock_core::eval::{EvalError, files, list_views, tasks};
use paddock_protocol::eval::{EvalRunStatus, EvalSpec, Evaluation, InstanceStatus};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Subcommand)]
pub(crate) enum EvalCmd {
    /// Run an agent configuration over tasks (SWE-bench JSONL): each in a fresh worktree at its
    /// base commit, its patch checked; outputs in --out (rerun with the same --out to continue).
    Run(Box<EvalRunArgs>),
    /// List the evaluation runs.
    List {
        #[command(flatten)]
        config: ConfigArgs,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Compare two evaluation runs over the instances both finished: resolved rates with 95 %
    /// intervals, their difference, cost per resolved instance, tokens, wins and losses.
    Compare(super::eval_compare::CompareArgs),
}

#[derive(Args)]
pub(crate) struct EvalRunArgs {
    #[command(flatten)]
    pub(crate) config: ConfigArgs,
    #[command(flatten)]
    pub(crate) mcp: McpFileArgs,
    #[command(flatten)]
    pub(crate) sandbox: SandboxArgs,
    /// The tasks: a JSONL file of SWE-bench instances (`instance_id`, `repo`, `base_commit`,
    /// `problem_statement`, `FAIL_TO_PASS`, `PASS_TO_PASS`, optional `environment`, `test_cmd`,
    /// `test_patch`).
    #[arg(long)]
    pub(crate) tasks: PathBuf,
    /// The agent template: a stored template's name, or a YAML/JSON file holding one.
    #[arg(long)]
    pub(crate) template: String,
    /// The model, `provider/model` (or a model of the template's provider), instead of the
    /// template's.
    #[arg(long, conflicts_with = "router")]
    pub(crate) model: Option<String>,
    /// A model router of paddock.toml instead of the template's model.
    #[arg(long)]
    pub(crate) router: Option<String>,
    /// Instances run at once.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub(crate) workers: u32,
    /// Attempts per instance (best-of-N: with --evaluate local the first resolved one is kept;
    /// with none, and with swebench (the harness grades a whole run at the end, not attempt by
    /// attempt), the first that made a non-empty patch).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=20))]
    pub(crate) attempts: u32,
    /// Dollars for the whole run: no instance starts once they are spent.
    #[arg(long, value_name = "USD")]
    pub(crate) max_cost_usd: Option<f64>,
    /// Model calls per attempt (the agent's max_turns).
    #[arg(long, default_value_t = 250, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) max_steps: u32,
    /// Dollars per attempt.
    #[arg(long, default_value_t = 3.0, value_name = "USD")]
    pub(crate) max_cost_per_instance: f64,
    /// Seconds per attempt.
    #[arg(long, default_value_t = 1800, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) max_wall_time: u64,
    /// How patches are checked: none, local (each task's test_cmd in its sandbox), swebench
    /// (predictions.jsonl handed to the official harness once the agents are done; its Python
    /// package and Docker are checked before any agent runs, and the dataset must be reachable).
    #[arg(long, value_enum, default_value = "none")]
    pub(crate) evaluate: Evaluation,
    /// With --evaluate swebench: the harness's dataset, a Hugging Face name (in the local cache
    /// when there is no network) or a .json/.jsonl/.parquet file of instances
    /// [default: SWE-bench/SWE-bench_Lite].
    #[arg(long)]
    pub(crate) dataset: Option<String>,
    /// With --evaluate swebench: the dataset's split [default: test].
    #[arg(long)]
    pub(crate) split: Option<String>,
    /// With --evaluate swebench: the Python that has the `swebench` package [default:
    /// $PADDOCK_SWEBENCH_PYTHON, else the venv of scripts/eval-tools.sh next to this build, else
    /// python3].
    #[arg(long, value_name = "PATH")]
    pub(crate) swebench_python: Option<PathBuf>,
    /// With --evaluate swebench: instances the harness grades at once [default: 4].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=64))]
    pub(crate) swebench_workers: Option<u32>,
    /// With --evaluate swebench: seconds for one instance's tests in the harness [default: 1800].
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) swebench_timeout: Option<u64>,
    /// Where repositories named `owner/name` are looked up: DIR/owner__name, DIR/owner/name or
    /// DIR/name (a checkout or a bare mirror).
    #[arg(long, value_name = "DIR")]
    pub(crate) repos: Option<PathBuf>,
    /// Only these instances (comma-separated ids).
    #[arg(long, value_delimiter = ',')]
    pub(crate) instances: Vec<String>,
    /// The run's name (default: <template>-<first 8 of its id>).
    #[arg(long)]
    pub(crate) name: Option<String>,
    /// Keep each attempt's worktree (default: removed once it is evaluated; its patch is in
    /// results.jsonl).
    #[arg(long)]
    pub(crate) keep_worktrees: bool,
    /// The output directory: run.json, predictions.jsonl, results.jsonl, summary.json.
    #[arg(long)]
    pub(crate) out: PathBuf,
}

/// Runs `paddock eval …`.
pub(crate) async fn run(cli: &Cli, cmd: &EvalCmd) -> Result<ExitCode> {
    match cmd {
        EvalCmd::Run(args) => run_eval(cli, args).await,
        EvalCmd::List { config, json } => list(cli, config, *json).await,
        EvalCmd::Compare(args) => super::eval_compare::compare(cli, args.clone()).await,
    }
}

/// A usage error for what the caller got wrong, any other failure as is.
fn usage_or(e: EvalError) -> anyhow::Error {
    match e {
        EvalError::Invalid(_) | EvalError::Task { .. } => Usage(e.to_string()).into(),
        other => other.into(),
    }
}

fn canonical(flag: &str, p: &Path) -> Result<PathBuf> {
    std::fs::canonicalize(p).map_err(|e| Usage(format!("{flag} {}: {e}", p.display())).into())
}

/// One finished instance's line: `[3/10] owner__repo-1 resolved $0.0123 4 turns 12.3 s`.
pub(crate) fn progress_line(p: &Progress) -> String {
    let r = &p.result;
    let status = match r.status {
        InstanceStatus::Resolved => "resolved".to_string(),
        InstanceStatus::Unresolved => "unresolved".to_string(),
        InstanceStatus::NotEvaluated => "patched (not evaluated)".to_string(),
        InstanceStatus::LimitHit => match r.limit {
            Some(l) => format!(
                "limit hit ({})",
                serde_json::to_value(l)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default()
            ),
            None => "limit hit".to_string(),
        },
        InstanceStatus::Error => match r.error_kind {
            Some(k) => format!(
                "error ({})",
                serde_json::to_value(k)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default()
            ),
            None => "error".to_string(),
        },
    };
    let attempts = match r.kept_attempt {
        Some(k) if r.attempts.len() > 1 => format!(" (attempt {k} of {})", r.attempts.len()),
        _ => String::new(),
    };
    let why = match (&r.message, r.status) {
        (Some(m), InstanceStatus::Error | InstanceStatus::LimitHit) => format!(": {m}"),
        _ => String::new(),
    };
    format!(
        "[{}/{}] {} {status}{attempts} ${:.4} {} turns {:.1} s{why}",
        p.finished,
        p.instances,
        r.instance_id,
        r.cost_usd,
        r.turns,
        r.wall_ms as f64 / 1000.0
    )
}

/// The harness's options from the flags (its run id is set once the run's
/// id is known), or a usage error for a harness flag without
/// `--evaluate swebench`.
fn swebench_options(
    args: &EvalRunArgs,
    docker_host: Option<String>,
) -> Result<Option<SwebenchOptions>> {
    if args.evaluate != Evaluation::Swebench {
        let given = [
            ("--dataset", args.dataset.is_some()),
            ("--split", args.split.is_some()),
            ("--swebench-python", args.swebench_python.is_some()),
            ("--swebench-workers", args.swebench_workers.is_some()),
            ("--swebench-timeout", args.swebench_timeout.is_some()),
        ];
        if let Some((flag, _)) = given.iter().find(|(_, g)| *g) {
            bail!(Usage(format!("{flag}: only with --evaluate swebench")));
        }
        return Ok(None);
    }
    let mut opts = SwebenchOptions::new("");
    if let Some(d) = &args.dataset {
        if d.trim().is_empty() {
            bail!(Usage("--dataset: empty".into()));
        }
        opts.dataset = d.clone();
    }
    if let Some(s) = &args.split {
        if s.trim().is_empty() {
            bail!(Usage("--split: empty".into()));
        }
        opts.split = s.clone();
    }
    if let Some(p) = &args.swebench_python {
        opts.python = p.clone();
    }
    if let Some(w) = args.swebench_workers {
        opts.max_workers = w;
    }
    if let Some(t) = args.swebench_timeout {
        opts.timeout_secs = t;
    }
    opts.docker_host = docker_host;
    Ok(Some(opts))
}

async fn run_eval(cli: &Cli, args: &EvalRunArgs) -> Result<ExitCode> {
    if !(args.max_cost_per_instance > 0.0 && args.max_cost_per_instance.is_finite()) {
        bail!(Usage("--max-cost-per-instance: must be above 0".into()));
    }
    if let Some(x) = args.max_cost_usd
        && !(x > 0.0 && x.is_finite())
    {
        bail!(Usage("--max-cost-usd: must be above 0".into()));
    }
    let only = (!args.instances.is_empty()).then_some(args.instances.as_slice());
    let tasks = tasks::read_tasks(&args.tasks, only).map_err(usage_or)?;
    let template = {
        let p = Path::new(&args.template);
        if p.is_file() {
            let t = runner::read_template_file(p).map_err(usage_or)?;
            TemplateSource::File(p.to_path_buf(), Box::new(t))
        } else {
            TemplateSource::Stored(args.template.clone())
        }
    };
    std::fs::create_dir_all(&args.out)
        .map_err(|e| Usage(format!("--out {}: {e}", args.out.display())))?;
    let out = canonical("--out", &args.out)?;
    let repos = match &args.repos {
        Some(r) => Some(canonical("--repos", r)?),
        None => None,
    };

    // The repositories may be anywhere the user points: they are roots of
    // this run's worktrees.
    let mut config = load_config(cli, &args.config)?;
    // The harness's pieces are checked before any agent runs: agents whose
    // patches cannot be graded are not paid for.
    let mut swebench = swebench_options(args, config.sandbox.docker_host.clone())?;
    if let Some(opts) = &swebench {
        swebench::check_package(&opts.python)
            .await
            .map_err(|e| Usage(e.to_string()))?;
        let docker = swebench::check_docker(opts.docker_host.as_deref())
            .await
            .map_err(|e| Usage(e.to_string()))?;
        eprintln!(
            "the official SWE-bench harness will grade the patches ({} with `swebench`, Docker at \
             {docker}, dataset {} split {})",
            opts.python.display(),
            opts.dataset,
            opts.split
        );
    }
    if let Some(r) = &repos {
        config.workspaces.roots.push(r.clone());
    }
    for t in &tasks {
        let p = Path::new(&t.repo);
        if (p.is_absolute() || t.repo.starts_with("./") || t.repo.starts_with("../"))
            && let Ok(c) = std::fs::canonicalize(p)
        {
            config.workspaces.roots.push(c);
        }
    }
    let app = open_app(cli, config, false, &args.sandbox, &args.mcp, None).await?;
    let default_model = app.default_model();

    let tmpl_for_name = match &template {
        TemplateSource::File(_, t) => (**t).clone(),
        TemplateSource::Stored(name) => app
            .store
            .get_doc(paddock_store::DocKind::AgentTemplate, name)
            .await?
            .and_then(|d| serde_json::from_value(d.body).ok())
            .ok_or_else(|| {
                Usage(format!(
                    "--template: no agent template named `{name}` (and no such file)"
                ))
            })?,
    };
    let spec = EvalSpec {
        tasks_file: args.tasks.display().to_string(),
        instances: u32::try_from(tasks.len()).unwrap_or(u32::MAX),
        template: template.name(),
        model: args.model.clone(),
        router: args.router.clone(),
        model_name: runner::model_name(
            args.model.as_deref(),
            args.router.as_deref(),
            &tmpl_for_name,
            default_model.as_ref(),
        ),
        workers: args.workers,
        attempts: args.attempts,
        max_steps: args.max_steps,
        max_cost_per_instance_usd: args.max_cost_per_instance,
        max_wall_time_secs: args.max_wall_time,
        max_cost_usd: args.max_cost_usd,
        evaluation: args.evaluate,
        repos_dir: repos.as_ref().map(|r| r.display().to_string()),
        out_dir: out.display().to_string(),
    };
    let request = RunRequest {
        tasks,
        spec,
        template,
        name: args.name.clone(),
        owner: paddock_protocol::identity::LOCAL_USER.to_string(),
        keep_worktrees: args.keep_worktrees,
    };
    eprintln!(
        "evaluating {} instance(s) of {} with {} worker(s) (data in {})",
        request.spec.instances,
        args.tasks.display(),
        request.spec.workers,
        data_dir(cli)?.display()
    );
    let store = app.store.clone();
    let tasks_run = request.tasks.clone();
    let on_progress = |p: &Progress| eprintln!("{}", progress_line(p));
    let manager = app.manager.clone();
    let running = runner::run(manager, default_model, request, &on_progress);
    let interrupted = tokio::signal::ctrl_c();
    let report = tokio::select! {
        r = running => r,
        _ = interrupted => {
            eprintln!("interrupted: rerun with the same --out to continue");
            if let Some(run) = files::read_run_file(&out)? {
                store.set_eval_run_status(&run.id, EvalRunStatus::Interrupted).await?;
            }
            app.sandbox.shutdown().await;
            app.mcp.shutdown().await;
            return Ok(ExitCode::from(1));
        }
    };
    let report = match report {
        Ok(r) => r,
        Err(e) => {
            if let Ok(Some(run)) = files::read_run_file(&out) {
                let _ = store
                    .set_eval_run_status(&run.id, EvalRunStatus::Interrupted)
                    .await;
            }
            app.sandbox.shutdown().await;
            app.mcp.shutdown().await;
            return Err(usage_or(e));
        }
    };
    app.manager.drain().await;
    app.sandbox.shutdown().await;
    app.mcp.shutdown().await;

    let mut summary = report.summary.clone();
    let mut graded_note = None;
    if let Some(opts) = swebench.as_mut() {
        opts.run_id = report.id.clone();
        eprintln!(
            "handing {} to the official SWE-bench harness (its output: {})",
            out.join("predictions.jsonl").display(),
            out.join(swebench::HARNESS_LOG).display()
        );
        match runner::grade_with_swebench(&store, &report, &tasks_run, &out, opts).await {
            Ok(Some(grade)) => {
                graded_note = Some(format!(
                    "the official SWE-bench harness graded {} instance(s) (dataset {} split {}); \
                     its report: {}",
                    grade.graded,
                    opts.dataset,
                    opts.split,
                    grade.report.report_path.display()
                ));
                summary = grade.summary;
            }
            Ok(None) => {
                graded_note = Some(match &summary.swebench_report {
                    Some(r) => format!(
                        "no patch was left for the official SWE-bench harness to grade; its \
                         earlier report: {r}"
                    ),
                    None => "no patch was left for the official SWE-bench harness to grade".into(),
                });
            }
            Err(e) => {
                eprintln!(
                    "error: {e}\nthe patches are not graded (their results say not evaluated); \
                     rerun with the same --out to grade them"
                );
                return Ok(ExitCode::from(1));
            }
        }
    }

    let s = &summary;
    let t = &s.totals;
    let rate = match t.resolved_rate {
        Some(r) if s.evaluation != Evaluation::None => format!(
            ", {:.1}% resolved ({} of {} counted)",
            r * 100.0,
            t.resolved,
            t.finished - t.errors
        ),
        _ => String::new(),
    };
    eprintln!(
        "run {} ({}): {} of {} instance(s) finished{rate}; {} resolved, {} unresolved, {} patched, {} limit hit, {} error(s); ${:.4}, {} tokens in, {} out",
        report.name,
        report.id,
        t.finished,
        t.instances,
        t.resolved,
        t.unresolved,
        t.not_evaluated,
        t.limit_hit,
        t.errors,
        t.cost_usd,
        t.input_tokens,
        t.output_tokens
    );
    match graded_note {
        Some(note) => eprintln!("{}: {note}", s.evaluated_by),
        None => eprintln!("{}", s.evaluated_by),
    }
    eprintln!("outputs in {}", out.display());
    match report.status {
        EvalRunStatus::Finished => Ok(ExitCode::SUCCESS),
        EvalRunStatus::BudgetSpent => {
            eprintln!(
                "error: the run's budget (--max-cost-usd) is spent: {} instance(s) not started",
                t.instances - t.finished
            );
            Ok(ExitCode::from(1))
        }
        other => {
            eprintln!("error: the run ended {other:?}");
            Ok(ExitCode::from(1))
        }
    }
}

async fn list(cli: &Cli, config: &ConfigArgs, json: bool) -> Result<ExitCode> {
    let config = load_config(cli, config)?;
    let app = open_app(
        cli,
        config,
        false,
        &SandboxArgs {
            sandbox: None,
            unsafe_no_sandbox: false,
        },
        &McpFileArgs { mcp_config: None },
        None,
    )
    .await?;
    let views = list_views(&app.store).await?;
    if json {
        out!("{}", serde_json::to_string_pretty(&views)?);
        return Ok(ExitCode::SUCCESS);
    }
    out!(
        "{:<36}  {:<24}  {:<12}  {:>9}  {:>8}  {:>10}  {}",
        "ID",
        "NAME",
        "STATUS",
        "FINISHED",
        "RESOLVED",
        "COST",
        "EVALUATION"
    );
    for v in views {
        let status = serde_json::to_value(v.status)?;
        let evaluation = serde_json::to_value(v.spec.evaluation)?;
        let rate = match v.totals.resolved_rate {
            Some(r) if v.spec.evaluation != Evaluation::None => format!("{:.1}%", r * 100.0),
            _ => "-".into(),
        };
        out!(
            "{:<36}  {:<24}  {:<12}  {:>9}  {:>8}  {:>10}  {}",
            v.id,
            v.name,
            status.as_str().unwrap_or_default(),
            format!("{}/{}", v.totals.finished, v.totals.instances),
            rate,
            format!("${:.4}", v.totals.cost_usd),
            evaluation.as_str().unwrap_or_default()
        );
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use paddock_protocol::eval::{EvalErrorKind, InstanceResult};

    #[test]
    fn a_progress_line_says_status_cost_turns_and_time() {
        let result = InstanceResult {
            instance_id: "owner__repo-1".into(),
            status: InstanceStatus::Resolved,
            error_kind: None,
            limit: None,
            message: None,
            evaluation: Evaluation::Local,
            kept_attempt: Some(1),
            attempts: vec![],
            input_tokens: 1,
            output_tokens: 1,
            cost_usd: 0.0123,
            turns: 4,
            wall_ms: 12_345,
            patch_bytes: 10,
            finished_at: chrono::Utc::now(),
        };
        let p = Progress {
            finished: 3,
            instances: 10,
            result: result.clone(),
        };
        assert_eq!(
            progress_line(&p),
            "[3/10] owner__repo-1 resolved $0.0123 4 turns 12.3 s"
        );
        let p = Progress {
            result: InstanceResult {
                status: InstanceStatus::Error,
                error_kind: Some(EvalErrorKind::RepoMissing),
                message: Some("repository `a/b` not found".into()),
                ..result
            },
            ..p
        };
        assert_eq!(
            progress_line(&p),
            "[3/10] owner__repo-1 error (repo_missing) $0.0123 4 turns 12.3 s: repository `a/b` not found"
        );
    }
}
