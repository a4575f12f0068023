//! `shell`: Paddock's built-in shell tools.
//!
//! - `execute_bash` runs `bash -lc COMMAND` in the agent's sandbox (working
//!   directory `/workspace`), in the foreground with a timeout, or in the
//!   background as a job;
//! - `bash_job` reads a background job's output so far, or kills it.
//!
//! Commands run through the host's `exec` import. The tool logic takes a
//! [`Sandbox`] so the unit tests run it natively against a fake one.

pub mod bash;
pub mod format;
pub mod job;

use paddock_sdk::exec::{self, Command, ExecError, JobStatus, Output};
use paddock_sdk::prelude::*;

/// The sandbox's working directory: the agent's workspace.
pub const WORKSPACE: &str = "/workspace";

/// Runs commands: the host's `exec` import in the plugin, a fake in tests.
pub trait Sandbox {
    /// Run a command to completion (or to its timeout).
    fn run(&self, cmd: &Command) -> Result<Output, ExecError>;
    /// Start a command in the background; returns its job id.
    fn spawn(&self, cmd: &Command) -> Result<String, ExecError>;
    /// A background job's state and output so far.
    fn poll(&self, job: &str) -> Result<JobStatus, ExecError>;
    /// Kill a background job.
    fn kill(&self, job: &str) -> Result<JobStatus, ExecError>;
}

/// The host's `exec` import.
pub struct HostSandbox;

impl Sandbox for HostSandbox {
    fn run(&self, cmd: &Command) -> Result<Output, ExecError> {
        exec::run(cmd)
    }
    fn spawn(&self, cmd: &Command) -> Result<String, ExecError> {
        exec::spawn(cmd)
    }
    fn poll(&self, job: &str) -> Result<JobStatus, ExecError> {
        exec::poll(job)
    }
    fn kill(&self, job: &str) -> Result<JobStatus, ExecError> {
        exec::kill(job)
    }
}

/// The plugin's tools.
pub fn toolbox() -> Toolbox {
    Toolbox::new()
        .tool(
            "execute_bash",
            bash::DESCRIPTION,
            |input: bash::ExecuteBashInput, _ctx: &CallContext| {
                bash::execute_bash(&HostSandbox, input)
            },
        )
        .tool(
            "bash_job",
            job::DESCRIPTION,
            |input: job::BashJobInput, _ctx: &CallContext| job::bash_job(&HostSandbox, input),
        )
}

paddock_sdk::export_tools!(toolbox);

#[cfg(test)]
mod tests;
