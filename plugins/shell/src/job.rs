//! `bash_job`: read or kill a background job started by `execute_bash`.

use paddock_sdk::exec::{ExecError, JobStatus};
use paddock_sdk::prelude::*;

use crate::Sandbox;
use crate::bash::exec_error;
use crate::format;

pub const DESCRIPTION: &str = "\
Read the output so far of a background job started by `execute_bash` with `background: true`, \
or kill it. `action: \"poll\"` (the default) returns at once whether the job is still running, \
its exit code once it has ended, and its stdout and stderr so far (each keeps at most its \
first and last 32 KiB). `action: \"kill\"` stops the job and everything it started, and returns \
its final output. Polling does not wait: to give a server time to start, run e.g. `sleep 5` \
with execute_bash first. Jobs belong to the agent's sandbox and end with it.";

// What to do with the job.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[schemars(inline)]
pub enum JobAction {
    // The job's state and output so far. (Plain comments: doc comments on
    // variants would turn the schema's `enum` into a `oneOf`.)
    #[default]
    Poll,
    // Kill the job (and its whole process tree), then return its output.
    Kill,
}

// Input of `bash_job`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BashJobInput {
    /// The job id `execute_bash` returned when it started the job.
    #[schemars(length(min = 1))]
    pub job_id: String,
    /// `poll` (default): the state and output so far; `kill`: stop the job
    /// and return its final output.
    #[serde(default)]
    pub action: JobAction,
}

pub fn bash_job(sandbox: &dyn Sandbox, input: BashJobInput) -> Result<ToolOutput, ToolError> {
    let job = input.job_id.trim();
    if job.is_empty() {
        return Err(ToolError::invalid_input(
            "`job_id` is empty: give the id execute_bash returned for the background job",
        ));
    }
    let status = match input.action {
        JobAction::Poll => sandbox.poll(job),
        JobAction::Kill => sandbox.kill(job),
    }
    .map_err(|e| match e {
        ExecError::Invalid(m) => ToolError::invalid_input(format!(
            "{m}: give a job id that execute_bash returned for `background: true` (jobs end \
             with the agent's sandbox; start it again if it is gone)"
        )),
        other => exec_error(other),
    })?;
    Ok(
        ToolOutput::text(render(job, input.action, &status)).with_structured(&structured(
            job,
            input.action,
            &status,
        )),
    )
}

/// A job's state as the model reads it:
///
/// ```text
/// job: 7
/// status: running
/// running for: 12.0 s
/// <stdout>
/// …
/// ```
pub fn render(job: &str, action: JobAction, status: &JobStatus) -> String {
    let out = &status.output;
    let mut text = format!("job: {job}\n");
    let truncated = format::was_truncated(out);
    if status.running && action == JobAction::Poll {
        // Output so far; exit codes and their notes do not apply yet.
        text.push_str("status: running\n");
        let notes: Vec<String> = truncated
            .then(format::truncation_note)
            .into_iter()
            .collect();
        text.push_str(&format::body("running for", out, &notes));
        return text;
    }
    let mut notes = format::notes(out, out.duration_ms.div_ceil(1000), truncated);
    match action {
        JobAction::Kill => {
            // The kill is what this call asked for: no "killed by a signal"
            // note. A job that had already ended says so.
            notes.retain(|n| !n.starts_with("killed by a signal"));
            if status.running || out.exit_code.is_none() && !out.timed_out {
                text.push_str("status: killed\n");
            } else {
                text.push_str("status: had already ended\n");
                text.push_str(&format::exit_line(out));
                text.push('\n');
            }
        }
        JobAction::Poll => {
            text.push_str("status: ended\n");
            text.push_str(&format::exit_line(out));
            text.push('\n');
        }
    }
    if out.timed_out {
        notes.retain(|n| !n.starts_with("timed out"));
        notes.insert(
            0,
            format!(
                "timed out: the job was killed at its time limit, after {}; output so far \
                 above. Without `timeout_secs` a background job may run for up to an hour.",
                format::human_duration(out.duration_ms)
            ),
        );
    }
    text.push_str(&format::body("ran for", out, &notes));
    text
}

fn structured(job: &str, action: JobAction, status: &JobStatus) -> serde_json::Value {
    let mut v = format::structured(&status.output);
    v["job_id"] = job.into();
    v["running"] = status.running.into();
    v["action"] = match action {
        JobAction::Poll => "poll",
        JobAction::Kill => "kill",
    }
    .into();
    v
}
