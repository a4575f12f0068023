//! `/api/evals`: evaluation runs, read-only (they are started by `paddock
//! eval run`). The list (newest first, without results), one run with its
//! per-instance results, the comparison of two runs over the instances both
//! finished, and a run's predictions as `predictions.jsonl` for download.
//! A run belongs to the user who started it: only they and admins see it
//! (404 for everyone else, never 403: that would say it exists), as for
//! workflow runs.

use super::AppState;
use super::auth::Caller;
use super::error::{ApiError, ApiPath};
use super::ownership;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use paddock_core::eval::EvalError;
use paddock_protocol::eval::{
    EvalComparison, EvalRunView, InstanceResult, InstanceStatus, Prediction,
};

impl From<EvalError> for ApiError {
    fn from(e: EvalError) -> ApiError {
        match e {
            EvalError::Store(s) => s.into(),
            other => ApiError::internal("evaluation runs", &other),
        }
    }
}

fn not_found(id: &str) -> ApiError {
    ApiError::not_found(format!("no evaluation run with id `{id}`"))
}

/// The run `id`, with its results or not, if the caller may see it: 404
/// when it does not exist or is not theirs to see.
async fn run_for(
    state: &AppState,
    caller: &Caller,
    id: &str,
    with_results: bool,
) -> Result<EvalRunView, ApiError> {
    let run = paddock_core::eval::run_view(&state.store, id, with_results)
        .await?
        .ok_or_else(|| not_found(id))?;
    if !ownership::may_see(caller, &run.owner, &[]) {
        return Err(not_found(id));
    }
    Ok(run)
}

/// The evaluation runs the caller may see (their own; every run for an
/// admin), the newest first, without their results.
#[utoipa::path(get, path = "/api/evals", tag = "evals", operation_id = "list_evals",
    responses((status = 200, body = Vec<EvalRunView>)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<EvalRunView>>, ApiError> {
    let mut runs: Vec<EvalRunView> = paddock_core::eval::list_views(&state.store)
        .await?
        .into_iter()
        .filter(|r| ownership::may_see(&caller, &r.owner, &[]))
        .collect();
    runs.sort_by_key(|r| std::cmp::Reverse(r.created_at));
    Ok(Json(runs))
}

/// One evaluation run with its per-instance results.
#[utoipa::path(get, path = "/api/evals/{id}", tag = "evals", operation_id = "get_eval",
    params(("id" = String, Path, description = "The run's id.")),
    responses((status = 200, body = EvalRunView), (status = 404, body = super::error::ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<EvalRunView>, ApiError> {
    Ok(Json(run_for(&state, &caller, &id, true).await?))
}

/// Two runs compared over the instances both finished: A is `id` (the
/// baseline), B is `other`. Each resolved rate with its 95 % Wilson
/// interval, the difference B − A with its interval, cost per resolved
/// task, tokens, wins (resolved in A only) and losses (in B only), and
/// every common instance. 404 naming the run that is not found.
#[utoipa::path(get, path = "/api/evals/{id}/compare/{other}", tag = "evals", operation_id = "compare_evals",
    params(("id" = String, Path, description = "Run A's id (the baseline)."),
        ("other" = String, Path, description = "Run B's id (the candidate).")),
    responses((status = 200, body = EvalComparison), (status = 400, body = super::error::ErrorBody),
        (status = 404, body = super::error::ErrorBody)))]
pub async fn compare(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((id, other)): ApiPath<(String, String)>,
) -> Result<Json<EvalComparison>, ApiError> {
    let a = run_for(&state, &caller, &id, true).await?;
    let b = run_for(&state, &caller, &other, true).await?;
    let cmp = paddock_core::eval::compare::compare(&a, &b)
        .map_err(|e| ApiError::invalid(format!("cannot compare `{id}` with `{other}`: {e}")))?;
    Ok(Json(cmp))
}

/// The prediction of a finished instance (none for an error: it made no
/// answer to grade): its kept attempt's patch, as `model_name_or_path`.
fn prediction(model: &str, r: &InstanceResult) -> Option<Prediction> {
    if r.status == InstanceStatus::Error {
        return None;
    }
    let kept = r
        .kept_attempt
        .and_then(|k| r.attempts.iter().find(|a| a.attempt == k))
        .or_else(|| r.attempts.last());
    Some(Prediction {
        instance_id: r.instance_id.clone(),
        model_name_or_path: model.to_string(),
        model_patch: kept.map(|a| a.patch.clone()).unwrap_or_default(),
    })
}

/// The predictions as JSON lines, one per finished non-error instance.
fn predictions_jsonl(run: &EvalRunView) -> Result<String, ApiError> {
    let mut out = String::new();
    for r in run.results.as_deref().unwrap_or_default() {
        if let Some(p) = prediction(&run.spec.model_name, r) {
            let line = serde_json::to_string(&p)
                .map_err(|e| ApiError::internal("writing the predictions", &e))?;
            out.push_str(&line);
            out.push('\n');
        }
    }
    Ok(out)
}

/// A file name made of the run's name: letters, digits, `.`, `_` and `-`.
fn file_name(name: &str) -> String {
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{safe}-predictions.jsonl")
}

/// A run's predictions, `predictions.jsonl` exactly as the official
/// `swebench` harness reads it (`instance_id`, `model_name_or_path`,
/// `model_patch`; one line per finished instance that is not an error),
/// for download.
#[utoipa::path(get, path = "/api/evals/{id}/predictions", tag = "evals", operation_id = "eval_predictions",
    params(("id" = String, Path, description = "The run's id.")),
    responses((status = 200, description = "One JSON object per line: instance_id, model_name_or_path, model_patch",
        content_type = "application/x-ndjson", body = String),
        (status = 404, body = super::error::ErrorBody)))]
pub async fn predictions(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let run = run_for(&state, &caller, &id, true).await?;
    let body = predictions_jsonl(&run)?;
    let disposition = HeaderValue::from_str(&format!(
        "attachment; filename=\"{}\"",
        file_name(&run.name)
    ))
    .map_err(|e| ApiError::internal("the predictions' file name", &e))?;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/x-ndjson"),
            ),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        body,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use paddock_protocol::eval::{AttemptResult, Evaluation};

    fn attempt(n: u32, status: InstanceStatus, patch: &str) -> AttemptResult {
        AttemptResult {
            attempt: n,
            agent_id: format!("agent-{n}"),
            workspace_id: None,
            status,
            error_kind: None,
            limit: None,
            message: None,
            patch: patch.to_string(),
            input_tokens: 0,
            output_tokens: 0,
            cost_usd: 0.0,
            turns: 1,
            wall_ms: 1,
            tests: None,
        }
    }

    fn result(
        id: &str,
        status: InstanceStatus,
        kept: Option<u32>,
        attempts: Vec<AttemptResult>,
    ) -> InstanceResult {
        InstanceResult {
            instance_id: id.to_string(),
            status,
            error_kind: None,
            limit: None,
            message: None,
            evaluation: Evaluation::Local,
            kept_attempt: kept,
            attempts,
            input_tokens: 0,
            output_tokens: 0,
            cost_usd: 0.0,
            turns: 1,
            wall_ms: 1,
            patch_bytes: 0,
            finished_at: Utc::now(),
        }
    }

    #[test]
    fn a_prediction_is_the_kept_attempts_patch_and_errors_have_none() {
        let r = result(
            "a__b-1",
            InstanceStatus::Resolved,
            Some(2),
            vec![
                attempt(1, InstanceStatus::Unresolved, "wrong\n"),
                attempt(2, InstanceStatus::Resolved, "right\n"),
                attempt(3, InstanceStatus::Unresolved, "later\n"),
            ],
        );
        let p = prediction("m", &r).unwrap();
        assert_eq!(p.model_patch, "right\n");
        assert_eq!(p.model_name_or_path, "m");
        // No kept attempt: the last one's.
        let r = result(
            "a__b-2",
            InstanceStatus::Unresolved,
            None,
            vec![
                attempt(1, InstanceStatus::Unresolved, "one\n"),
                attempt(2, InstanceStatus::Unresolved, "two\n"),
            ],
        );
        assert_eq!(prediction("m", &r).unwrap().model_patch, "two\n");
        // No attempt at all (a limit before any): an empty patch.
        let r = result("a__b-3", InstanceStatus::LimitHit, None, vec![]);
        assert_eq!(prediction("m", &r).unwrap().model_patch, "");
        let r = result("a__b-4", InstanceStatus::Error, None, vec![]);
        assert!(prediction("m", &r).is_none());
    }

    #[test]
    fn the_file_name_keeps_to_safe_characters() {
        assert_eq!(file_name("coder-1a2b"), "coder-1a2b-predictions.jsonl");
        assert_eq!(file_name("a \"b\"/c"), "a__b__c-predictions.jsonl");
    }
}
