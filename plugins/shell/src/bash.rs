//! `execute_bash`.

use paddock_sdk::exec::{Command, ExecError};
use paddock_sdk::prelude::*;
use serde_json::json;

use crate::format::{self, STREAM_CAP};
use crate::{Sandbox, WORKSPACE};

/// Seconds a command may run when the call names no `timeout_secs`.
pub const DEFAULT_TIMEOUT_SECS: u64 = 30;

/// The most `timeout_secs` may be (the host's maximum too).
pub const MAX_TIMEOUT_SECS: u64 = 600;

/// How long a background job may run when the call names no
/// `timeout_secs`: an hour (the host's default limit for jobs, which it may
/// lower).
pub const BACKGROUND_TIMEOUT_SECS: u64 = 3600;

/// Longest command accepted: Linux refuses a single argument over 128 KiB.
pub const MAX_COMMAND_BYTES: usize = 128 * 1024 - 1;

pub const DESCRIPTION: &str = "\
Run a bash command in the agent's isolated sandbox and return its exit code, stdout and stderr. \
The repository is at /workspace, which is also the working directory. The command runs as \
`bash -lc COMMAND`, so pipes, `&&`, redirections, globs and variables work; each call is a new \
shell (a `cd` or `export` does not carry over to the next call: chain with `&&`). Standard input \
is empty, so nothing can prompt: use non-interactive flags (`-y`, `--yes`, `--no-edit`). The \
sandbox has no network access unless an admin granted it, so downloads and package installs \
usually fail.

The command is killed, with its whole process tree, after `timeout_secs` (default 30, maximum \
600); the output so far is still returned. A non-zero exit code is not an error of this tool: \
the result shows it with the output, so read stderr to see what failed. Each stream keeps at \
most its first and last 32 KiB; narrow long output with grep, head or tail.

Long-running processes (servers, watchers, `npm run dev`) never finish: start them with \
`background: true`, which returns a job id at once; read the job's output so far with \
`bash_job` and stop it with `bash_job` and `action: \"kill\"`. Background jobs are killed after \
`timeout_secs` when given, else after an hour, or when the agent ends.

The result reads:
exit_code: 0
duration: 1.2 s
<stdout>
…
</stdout>
<stderr></stderr>
followed by `note:` lines when the command timed out, was killed by a signal or its output was \
cut.";

// Input of `execute_bash`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExecuteBashInput {
    /// The bash command line to run, e.g. `cargo test 2>&1 | tail -n 50`
    /// or `ls -la src && cat README.md`. Runs as `bash -lc COMMAND` in
    /// /workspace.
    #[schemars(length(min = 1))]
    pub command: String,
    /// Seconds before the command and everything it started are killed
    /// (1 to 600). Defaults to 30; a background job runs up to an hour
    /// unless it is given.
    #[serde(default)]
    #[schemars(range(min = 1, max = 600))]
    pub timeout_secs: Option<u64>,
    /// Start the command as a background job and return its job id at
    /// once, for servers, watchers and other commands that do not finish.
    /// Read its output with `bash_job`. Defaults to false.
    #[serde(default)]
    pub background: bool,
}

/// The command's checks, before anything runs.
pub fn check(input: &ExecuteBashInput) -> Result<u64, ToolError> {
    if input.command.trim().is_empty() {
        return Err(ToolError::invalid_input(
            "`command` is empty: give the bash command line to run, e.g. `ls -la`",
        ));
    }
    if input.command.contains('\0') {
        return Err(ToolError::invalid_input(
            "`command` contains a NUL character, which no command line can carry",
        ));
    }
    if input.command.len() > MAX_COMMAND_BYTES {
        return Err(ToolError::invalid_input(format!(
            "`command` is {} bytes, over the {} KiB a single command line can be: write the \
             script to a file under /workspace with write_file and run `bash that-file.sh`",
            input.command.len(),
            (MAX_COMMAND_BYTES + 1) / 1024
        )));
    }
    let default = if input.background {
        BACKGROUND_TIMEOUT_SECS
    } else {
        DEFAULT_TIMEOUT_SECS
    };
    match input.timeout_secs {
        None => Ok(default),
        Some(secs) if (1..=MAX_TIMEOUT_SECS).contains(&secs) => Ok(secs),
        Some(secs) => Err(ToolError::invalid_input(format!(
            "`timeout_secs` must be between 1 and {MAX_TIMEOUT_SECS} (got {secs}); for a \
             process that should keep running, use `background: true`"
        ))),
    }
}

/// The command `execute_bash` hands to the sandbox.
pub fn command(script: &str, timeout_secs: u64) -> Command {
    Command::new(["bash", "-lc", script])
        .cwd(WORKSPACE)
        .env("PAGER", "cat")
        .env("GIT_PAGER", "cat")
        .env("GIT_TERMINAL_PROMPT", "0")
        .timeout_ms(timeout_secs * 1000)
        .max_output_bytes(STREAM_CAP)
        .stdin("")
}

/// A failed `exec` call as a tool error, keeping the host's message.
pub fn exec_error(err: ExecError) -> ToolError {
    match err {
        ExecError::Denied(m) => ToolError::denied(format!(
            "{m}; an admin can grant it with `paddock plugin grant shell exec`"
        )),
        ExecError::Unavailable(m) => ToolError::failed(format!("cannot run commands: {m}")),
        ExecError::Invalid(m) => ToolError::failed(format!("the sandbox refused the command: {m}")),
        ExecError::Failed(m) => ToolError::failed(format!("the sandbox failed to run it: {m}")),
    }
}

pub fn execute_bash(
    sandbox: &dyn Sandbox,
    input: ExecuteBashInput,
) -> Result<ToolOutput, ToolError> {
    let timeout_secs = check(&input)?;
    let cmd = command(&input.command, timeout_secs);
    if input.background {
        let job = sandbox.spawn(&cmd).map_err(exec_error)?;
        debug(format!("started background job {job}"));
        return Ok(
            ToolOutput::text(started(&job, timeout_secs)).with_structured(&json!({
                "job_id": job,
                "timeout_secs": timeout_secs,
            })),
        );
    }
    let out = sandbox.run(&cmd).map_err(exec_error)?;
    Ok(ToolOutput::text(format::render(&out, timeout_secs))
        .with_structured(&format::structured(&out)))
}

/// The answer to a background start.
pub fn started(job: &str, timeout_secs: u64) -> String {
    let id = serde_json::to_string(job).unwrap_or_else(|_| format!("\"{job}\""));
    format!(
        "started background job {id}: it runs until it ends, is killed, or reaches its \
         {timeout_secs} s timeout (or the agent ends).\n\
         Read its output so far: bash_job {{\"job_id\": {id}}}\n\
         Stop it: bash_job {{\"job_id\": {id}, \"action\": \"kill\"}}\n"
    )
}
