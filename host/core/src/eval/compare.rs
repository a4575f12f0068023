//! Comparing two evaluation runs (`paddock eval compare`, the dashboard's
//! comparison): over the instances both runs finished, each run's resolved
//! rate with its 95 % Wilson score interval, the difference of the rates
//! with Newcombe's interval (method 10, from the two Wilson intervals), the
//! cost per resolved instance, tokens, and the instances one run resolved
//! and the other did not. Also reads a run back from its output directory
//! (`run.json` + `results.jsonl` + `predictions.jsonl`), so that two runs
//! can be compared without the store that ran them.

use paddock_protocol::eval::{
    ComparedRun, EvalComparison, EvalRunView, EvalSpec, Evaluation, InstanceComparison,
    InstanceResult, InstanceStatus, Prediction, RateDifference, RateInterval,
};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The standard normal quantile for a two-sided 95 % interval.
const Z95: f64 = 1.959_963_984_540_054;

/// Why two runs cannot be compared, or a run cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum CompareError {
    /// A view without its results (a list's view).
    #[error("run {run}: its view has no results (fetch the run with its results)")]
    NoResults {
        /// The run.
        run: String,
    },
    /// An instance with two results in one run.
    #[error("run {run}: instance {instance_id} has more than one result")]
    DuplicateInstance {
        /// The run.
        run: String,
        /// The instance.
        instance_id: String,
    },
    /// No instance finished in both runs.
    #[error("runs {a} and {b} have no finished instance in common: there is nothing to compare")]
    NothingInCommon {
        /// Run A.
        a: String,
        /// Run B.
        b: String,
    },
    /// Every common instance is an error in one run: it has no rate.
    #[error(
        "run {run}: each of the {common} instances both runs finished is an error in it: \
         it has no resolved rate to compare"
    )]
    NothingCounted {
        /// The run.
        run: String,
        /// Instances both finished.
        common: u32,
    },
    /// A file of a run's directory could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A line of `results.jsonl` or `predictions.jsonl` is not what it should be.
    #[error("{}, line {line}: {source}", path.display())]
    BadLine {
        /// The file.
        path: PathBuf,
        /// 1-based.
        line: usize,
        /// Why.
        source: serde_json::Error,
    },
    /// `run.json` is not a run's file, or misses what the comparison needs.
    #[error("{}: {why}", path.display())]
    BadRunFile {
        /// The file.
        path: PathBuf,
        /// Why.
        why: String,
    },
}

/// One run as the comparison needs it: who it is and its results.
#[derive(Clone, Debug, PartialEq)]
pub struct RunResults {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its `model_name_or_path`.
    pub model_name: String,
    /// How its patches were checked.
    pub evaluation: Evaluation,
    /// Its results, one per finished instance.
    pub results: Vec<InstanceResult>,
}

impl RunResults {
    /// A view's run (the view must carry its results).
    pub fn from_view(view: &EvalRunView) -> Result<RunResults, CompareError> {
        let results = view
            .results
            .clone()
            .ok_or_else(|| CompareError::NoResults {
                run: view.id.clone(),
            })?;
        Ok(RunResults {
            id: view.id.clone(),
            name: view.name.clone(),
            model_name: view.spec.model_name.clone(),
            evaluation: view.spec.evaluation,
            results,
        })
    }
}

/// `run.json` as far as the comparison reads it: the run's id, and its
/// name and spec when the file has them (the whole view without results
/// is welcome; other fields are ignored).
#[derive(Deserialize)]
struct RunFile {
    id: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    spec: Option<EvalSpec>,
}

/// Reads a run from its output directory: `run.json` (`{"id": …}`, with
/// its `name` and `spec` when present), `results.jsonl` (one
/// [`InstanceResult`] a line; a later line for an instance replaces an
/// earlier one, as a rerun that retried it appends) and, when `run.json`
/// has no spec, `predictions.jsonl` for the model's name. Without a spec
/// the evaluation is the one the results name, which must agree.
pub fn read_run_dir(dir: &Path) -> Result<RunResults, CompareError> {
    let run_path = dir.join("run.json");
    let text = std::fs::read_to_string(&run_path).map_err(|source| CompareError::Read {
        path: run_path.clone(),
        source,
    })?;
    let run: RunFile = serde_json::from_str(&text).map_err(|e| CompareError::BadRunFile {
        path: run_path.clone(),
        why: format!("not a run's file ({{\"id\": …}}): {e}"),
    })?;
    if run.id.trim().is_empty() {
        return Err(CompareError::BadRunFile {
            path: run_path,
            why: "`id` is empty".into(),
        });
    }

    let results_path = dir.join("results.jsonl");
    let mut by_id: BTreeMap<String, InstanceResult> = BTreeMap::new();
    for (_, result) in read_jsonl::<InstanceResult>(&results_path)? {
        by_id.insert(result.instance_id.clone(), result);
    }
    let results: Vec<InstanceResult> = by_id.into_values().collect();

    let (model_name, evaluation, template) = match &run.spec {
        Some(spec) => (
            spec.model_name.clone(),
            spec.evaluation,
            Some(spec.template.clone()),
        ),
        None => {
            let predictions_path = dir.join("predictions.jsonl");
            let model_name = read_jsonl::<Prediction>(&predictions_path)?
                .into_iter()
                .map(|(_, p)| p.model_name_or_path)
                .next()
                .ok_or_else(|| CompareError::BadRunFile {
                    path: run_path.clone(),
                    why: format!(
                        "it has no `spec`, and {} has no prediction to take the model's name from",
                        predictions_path.display()
                    ),
                })?;
            let ways: BTreeSet<&'static str> = results
                .iter()
                .map(|r| evaluation_name(r.evaluation))
                .collect();
            let evaluation = match results.first() {
                Some(first) if ways.len() == 1 => first.evaluation,
                None => Evaluation::None,
                Some(_) => {
                    return Err(CompareError::BadRunFile {
                        path: run_path,
                        why: format!(
                            "it has no `spec`, and the results were checked in more than one way \
                             ({}): which one the run used is not known",
                            ways.into_iter().collect::<Vec<_>>().join(", ")
                        ),
                    });
                }
            };
            (model_name, evaluation, None)
        }
    };
    let name = run.name.clone().unwrap_or_else(|| match template {
        // The name a run gets without `--name`.
        Some(t) => format!("{t}-{}", run.id.chars().take(8).collect::<String>()),
        None => run.id.clone(),
    });
    Ok(RunResults {
        id: run.id,
        name,
        model_name,
        evaluation,
        results,
    })
}

/// A JSONL file's values with their 1-based line numbers (blank lines skipped).
fn read_jsonl<T: serde::de::DeserializeOwned>(
    path: &Path,
) -> Result<Vec<(usize, T)>, CompareError> {
    let text = std::fs::read_to_string(path).map_err(|source| CompareError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let value = serde_json::from_str(line).map_err(|source| CompareError::BadLine {
            path: path.to_path_buf(),
            line: i + 1,
            source,
        })?;
        out.push((i + 1, value));
    }
    Ok(out)
}

/// How an evaluation is written (`local`, …).
pub fn evaluation_name(e: Evaluation) -> &'static str {
    match e {
        Evaluation::None => "none",
        Evaluation::Local => "local",
        Evaluation::Swebench => "swebench",
    }
}

/// Two views compared (both must carry their results): see [`compare_results`].
pub fn compare(a: &EvalRunView, b: &EvalRunView) -> Result<EvalComparison, CompareError> {
    compare_results(&RunResults::from_view(a)?, &RunResults::from_view(b)?)
}

/// Two runs compared over the instances both finished. Each run's rate
/// counts those instances less its errors; its cost and tokens are summed
/// over all of them (errors included). Wins are the instances resolved in
/// A and not in B, losses the reverse; the difference is B's rate minus
/// A's. Instances are listed by id.
pub fn compare_results(a: &RunResults, b: &RunResults) -> Result<EvalComparison, CompareError> {
    let a_by_id = index(a)?;
    let b_by_id = index(b)?;
    let common: Vec<&str> = a_by_id
        .keys()
        .filter(|id| b_by_id.contains_key(*id))
        .copied()
        .collect();
    if common.is_empty() {
        return Err(CompareError::NothingInCommon {
            a: a.id.clone(),
            b: b.id.clone(),
        });
    }
    let only_in = |x: &BTreeMap<&str, &InstanceResult>, y: &BTreeMap<&str, &InstanceResult>| {
        x.keys()
            .filter(|id| !y.contains_key(*id))
            .map(|id| id.to_string())
            .collect::<Vec<_>>()
    };
    let common_n = u32::try_from(common.len()).unwrap_or(u32::MAX);
    let side_a = side(a, &a_by_id, &common, common_n)?;
    let side_b = side(b, &b_by_id, &common, common_n)?;

    let mut wins = Vec::new();
    let mut losses = Vec::new();
    let mut instances = Vec::with_capacity(common.len());
    for id in &common {
        let (ra, rb) = (a_by_id[id], b_by_id[id]);
        let (a_res, b_res) = (
            ra.status == InstanceStatus::Resolved,
            rb.status == InstanceStatus::Resolved,
        );
        if a_res && !b_res {
            wins.push(id.to_string());
        } else if b_res && !a_res {
            losses.push(id.to_string());
        }
        instances.push(InstanceComparison {
            instance_id: id.to_string(),
            a: ra.status,
            b: rb.status,
            a_cost_usd: ra.cost_usd,
            b_cost_usd: rb.cost_usd,
        });
    }
    let difference = newcombe_difference(&side_a.rate, &side_b.rate);
    Ok(EvalComparison {
        only_in_a: only_in(&a_by_id, &b_by_id),
        only_in_b: only_in(&b_by_id, &a_by_id),
        a: side_a,
        b: side_b,
        common: common_n,
        wins,
        losses,
        difference,
        instances,
    })
}

/// A run's results by instance; two results for one instance are an error.
fn index(run: &RunResults) -> Result<BTreeMap<&str, &InstanceResult>, CompareError> {
    let mut by_id = BTreeMap::new();
    for r in &run.results {
        if by_id.insert(r.instance_id.as_str(), r).is_some() {
            return Err(CompareError::DuplicateInstance {
                run: run.id.clone(),
                instance_id: r.instance_id.clone(),
            });
        }
    }
    Ok(by_id)
}

/// One run's figures over the common instances.
fn side(
    run: &RunResults,
    by_id: &BTreeMap<&str, &InstanceResult>,
    common: &[&str],
    common_n: u32,
) -> Result<ComparedRun, CompareError> {
    let (mut resolved, mut errors) = (0u32, 0u32);
    let (mut cost, mut input, mut output) = (0.0f64, 0u64, 0u64);
    for id in common {
        let r = by_id[id];
        match r.status {
            InstanceStatus::Resolved => resolved += 1,
            InstanceStatus::Error => errors += 1,
            InstanceStatus::Unresolved
            | InstanceStatus::NotEvaluated
            | InstanceStatus::LimitHit => {}
        }
        cost += r.cost_usd;
        input += r.input_tokens;
        output += r.output_tokens;
    }
    let counted = common_n - errors;
    let rate = wilson(resolved, counted).ok_or_else(|| CompareError::NothingCounted {
        run: run.id.clone(),
        common: common_n,
    })?;
    Ok(ComparedRun {
        id: run.id.clone(),
        name: run.name.clone(),
        model_name: run.model_name.clone(),
        evaluation: run.evaluation,
        rate,
        cost_usd: cost,
        cost_per_resolved_usd: (resolved > 0).then(|| cost / f64::from(resolved)),
        input_tokens: input,
        output_tokens: output,
        errors,
    })
}

/// `resolved` of `counted` with its 95 % Wilson score interval; none when
/// nothing was counted (or more resolved than counted).
pub fn wilson(resolved: u32, counted: u32) -> Option<RateInterval> {
    if counted == 0 || resolved > counted {
        return None;
    }
    let n = f64::from(counted);
    let p = f64::from(resolved) / n;
    let z2 = Z95 * Z95;
    let denom = 1.0 + z2 / n;
    let centre = (p + z2 / (2.0 * n)) / denom;
    let half = Z95 / denom * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    Some(RateInterval {
        resolved,
        counted,
        rate: p,
        // At 0 and at n one end is exactly the rate; rounding must not put
        // it a hair outside [0, 1].
        low: if resolved == 0 {
            0.0
        } else {
            (centre - half).max(0.0)
        },
        high: if resolved == counted {
            1.0
        } else {
            (centre + half).min(1.0)
        },
    })
}

/// B's rate minus A's with its 95 % interval by Newcombe's method 10 (the
/// hybrid score interval, from each rate's Wilson interval).
pub fn newcombe_difference(a: &RateInterval, b: &RateInterval) -> RateDifference {
    let delta = b.rate - a.rate;
    let low = delta - ((b.rate - b.low).powi(2) + (a.high - a.rate).powi(2)).sqrt();
    let high = delta + ((b.high - b.rate).powi(2) + (a.rate - a.low).powi(2)).sqrt();
    RateDifference {
        delta,
        low: low.max(-1.0),
        high: high.min(1.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    fn close(x: f64, want: f64) {
        assert!((x - want).abs() < 5e-5, "{x} is not {want} (to 4 places)");
    }

    #[test]
    fn wilson_matches_known_intervals() {
        // 8 of 10: [0.4902, 0.9433] (Wilson 1927; Newcombe 1998, table I).
        let r = wilson(8, 10).unwrap();
        assert_eq!((r.resolved, r.counted), (8, 10));
        close(r.rate, 0.8);
        close(r.low, 0.4902);
        close(r.high, 0.9433);
        // Newcombe 1998's examples: 81/263 → [0.2553, 0.3662], 0/10 → [0, 0.2775],
        // 1/29 → [0.0061, 0.1718].
        let r = wilson(81, 263).unwrap();
        close(r.low, 0.2553);
        close(r.high, 0.3662);
        let r = wilson(0, 10).unwrap();
        assert_eq!(r.low, 0.0);
        close(r.high, 0.2775);
        let r = wilson(1, 29).unwrap();
        close(r.low, 0.0061);
        close(r.high, 0.1718);
        let r = wilson(10, 10).unwrap();
        assert_eq!(r.high, 1.0);
        close(r.low, 0.7225);
        assert!(wilson(0, 0).is_none());
        assert!(wilson(3, 2).is_none());
    }

    #[test]
    fn newcombe_method_10_matches_the_paper() {
        // Newcombe 1998, table II, example (a): 56/70 − 48/80 = 0.2,
        // method 10: [0.0524, 0.3339]. Here B is 56/70, A is 48/80.
        let a = wilson(48, 80).unwrap();
        let b = wilson(56, 70).unwrap();
        let d = newcombe_difference(&a, &b);
        close(d.delta, 0.2);
        close(d.low, 0.0524);
        close(d.high, 0.3339);
        // (b) 9/10 − 3/10 = 0.6: [0.1705, 0.8090].
        let d = newcombe_difference(&wilson(3, 10).unwrap(), &wilson(9, 10).unwrap());
        close(d.delta, 0.6);
        close(d.low, 0.1705);
        close(d.high, 0.8090);
        // Swapped: the interval mirrors.
        let d = newcombe_difference(&wilson(9, 10).unwrap(), &wilson(3, 10).unwrap());
        close(d.low, -0.8090);
        close(d.high, -0.1705);
    }

    fn result(id: &str, status: InstanceStatus, cost: f64, tokens: (u64, u64)) -> InstanceResult {
        InstanceResult {
            instance_id: id.into(),
            status,
            error_kind: (status == InstanceStatus::Error)
                .then_some(paddock_protocol::eval::EvalErrorKind::RepoMissing),
            limit: None,
            message: None,
            evaluation: Evaluation::Local,
            kept_attempt: Some(1),
            attempts: Vec::new(),
            input_tokens: tokens.0,
            output_tokens: tokens.1,
            cost_usd: cost,
            turns: 2,
            wall_ms: 1000,
            patch_bytes: 10,
            finished_at: Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap(),
        }
    }

    fn run(id: &str, results: Vec<InstanceResult>) -> RunResults {
        RunResults {
            id: id.into(),
            name: format!("name-{id}"),
            model_name: format!("model-{id}"),
            evaluation: Evaluation::Local,
            results,
        }
    }

    use InstanceStatus::{Error, LimitHit, Resolved, Unresolved};

    #[test]
    fn compares_over_the_common_instances() {
        let a = run(
            "A",
            vec![
                result("i1", Resolved, 0.5, (100, 10)),
                result("i2", Resolved, 0.25, (200, 20)),
                result("i3", Unresolved, 1.0, (300, 30)),
                result("i4", Error, 0.0, (0, 0)),
                result("i5", LimitHit, 3.0, (400, 40)),
                result("only-a", Resolved, 9.0, (9, 9)),
            ],
        );
        let b = run(
            "B",
            vec![
                result("i5", Resolved, 0.75, (50, 5)),
                result("i4", Resolved, 0.25, (60, 6)),
                result("i3", Resolved, 0.5, (70, 7)),
                result("i2", Unresolved, 0.5, (80, 8)),
                result("i1", Resolved, 0.25, (90, 9)),
                result("only-b", Unresolved, 9.0, (9, 9)),
                result("another-b", Error, 9.0, (9, 9)),
            ],
        );
        let c = compare_results(&a, &b).unwrap();
        assert_eq!(c.common, 5);
        assert_eq!(c.only_in_a, ["only-a"]);
        assert_eq!(c.only_in_b, ["another-b", "only-b"]);
        // A: 2 resolved of 4 counted (i4 is an error); $4.75 over the five.
        assert_eq!((c.a.rate.resolved, c.a.rate.counted, c.a.errors), (2, 4, 1));
        close(c.a.rate.rate, 0.5);
        close(c.a.cost_usd, 4.75);
        close(c.a.cost_per_resolved_usd.unwrap(), 2.375);
        assert_eq!((c.a.input_tokens, c.a.output_tokens), (1000, 100));
        // B: 4 of 5; $2.25.
        assert_eq!((c.b.rate.resolved, c.b.rate.counted, c.b.errors), (4, 5, 0));
        close(c.b.rate.rate, 0.8);
        close(c.b.cost_usd, 2.25);
        close(c.b.cost_per_resolved_usd.unwrap(), 0.5625);
        assert_eq!((c.b.input_tokens, c.b.output_tokens), (350, 35));
        assert_eq!(
            (c.a.name.as_str(), c.b.model_name.as_str()),
            ("name-A", "model-B")
        );
        // Resolved in A only: i2. In B only: i3, i4 (an error in A), i5.
        assert_eq!(c.wins, ["i2"]);
        assert_eq!(c.losses, ["i3", "i4", "i5"]);
        close(c.difference.delta, 0.3);
        let (wa, wb) = (wilson(2, 4).unwrap(), wilson(4, 5).unwrap());
        close(
            c.difference.low,
            0.3 - ((0.8 - wb.low).powi(2) + (wa.high - 0.5).powi(2)).sqrt(),
        );
        let ids: Vec<&str> = c.instances.iter().map(|i| i.instance_id.as_str()).collect();
        assert_eq!(ids, ["i1", "i2", "i3", "i4", "i5"]);
        assert_eq!((c.instances[3].a, c.instances[3].b), (Error, Resolved));
        close(c.instances[4].a_cost_usd, 3.0);
        close(c.instances[4].b_cost_usd, 0.75);
    }

    #[test]
    fn refuses_what_cannot_be_compared() {
        let a = run("A", vec![result("i1", Resolved, 0.0, (0, 0))]);
        let b = run("B", vec![result("i2", Resolved, 0.0, (0, 0))]);
        let e = compare_results(&a, &b).unwrap_err();
        assert!(matches!(e, CompareError::NothingInCommon { .. }), "{e}");
        let b = run("B", vec![result("i1", Error, 0.0, (0, 0))]);
        let e = compare_results(&a, &b).unwrap_err();
        assert!(
            matches!(&e, CompareError::NothingCounted { run, common: 1 } if run == "B"),
            "{e}"
        );
        let b = run(
            "B",
            vec![
                result("i1", Resolved, 0.0, (0, 0)),
                result("i1", Unresolved, 0.0, (0, 0)),
            ],
        );
        let e = compare_results(&a, &b).unwrap_err();
        assert!(
            e.to_string()
                .contains("instance i1 has more than one result"),
            "{e}"
        );
        // None resolved: no cost per resolved.
        let a = run("A", vec![result("i1", Unresolved, 1.0, (0, 0))]);
        let b = run("B", vec![result("i1", Unresolved, 1.0, (0, 0))]);
        let c = compare_results(&a, &b).unwrap();
        assert_eq!(c.a.cost_per_resolved_usd, None);
        assert_eq!(
            (c.difference.delta, c.wins.len(), c.losses.len()),
            (0.0, 0, 0)
        );
    }

    #[test]
    fn reads_a_run_directory() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("run.json"), r#"{"id":"0123456789ab","extra":1}"#).unwrap();
        let line = |r: &InstanceResult| serde_json::to_string(r).unwrap();
        std::fs::write(
            d.join("results.jsonl"),
            format!(
                "{}\n\n{}\n{}\n",
                line(&result("i1", Error, 0.0, (0, 0))),
                line(&result("i2", Unresolved, 1.0, (1, 1))),
                // A rerun retried i1: the later line wins.
                line(&result("i1", Resolved, 0.5, (2, 2))),
            ),
        )
        .unwrap();
        let e = read_run_dir(d).unwrap_err();
        assert!(e.to_string().contains("predictions.jsonl"), "{e}");
        std::fs::write(
            d.join("predictions.jsonl"),
            r#"{"instance_id":"i1","model_name_or_path":"prov/m","model_patch":""}"#,
        )
        .unwrap();
        let r = read_run_dir(d).unwrap();
        assert_eq!(r.id, "0123456789ab");
        assert_eq!(r.name, "0123456789ab");
        assert_eq!(r.model_name, "prov/m");
        assert_eq!(r.evaluation, Evaluation::Local);
        assert_eq!(r.results.len(), 2);
        assert_eq!(r.results[0].status, Resolved);

        // A bad line is named by its number.
        std::fs::write(d.join("results.jsonl"), "{\"instance_id\":\"x\"}\n").unwrap();
        let e = read_run_dir(d).unwrap_err();
        assert!(
            matches!(&e, CompareError::BadLine { line: 1, .. }) && e.to_string().contains("status"),
            "{e}"
        );
        // No id.
        std::fs::write(d.join("run.json"), r#"{"name":"x"}"#).unwrap();
        let e = read_run_dir(d).unwrap_err();
        assert!(e.to_string().contains("missing field `id`"), "{e}");
        // No directory.
        let e = read_run_dir(&d.join("nowhere")).unwrap_err();
        assert!(matches!(e, CompareError::Read { .. }), "{e}");
    }
}
