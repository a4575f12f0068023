//! `git`: Paddock's built-in git tool, `git_operation`.
//!
//! Runs `git OPERATION ARGS…` (an argv, never a shell string) in the agent's
//! sandbox, in `/workspace`, after [`validate::validate`] has checked the
//! arguments. Commands run through the host's `exec` import; the tool logic
//! takes a [`Sandbox`] so the unit tests run it natively against a fake.

pub mod format;
pub mod run;
pub mod validate;

use paddock_sdk::exec::{self, Command, ExecError, Output};
use paddock_sdk::prelude::*;

/// The sandbox's working directory: the agent's workspace.
pub const WORKSPACE: &str = "/workspace";

/// Runs commands: the host's `exec` import in the plugin, a fake in tests.
pub trait Sandbox {
    /// Run a command to completion (or to its timeout).
    fn run(&self, cmd: &Command) -> Result<Output, ExecError>;
}

/// The host's `exec` import.
pub struct HostSandbox;

impl Sandbox for HostSandbox {
    fn run(&self, cmd: &Command) -> Result<Output, ExecError> {
        exec::run(cmd)
    }
}

/// The plugin's tools.
pub fn toolbox() -> Toolbox {
    Toolbox::new().tool(
        "git_operation",
        run::DESCRIPTION,
        |input: run::GitInput, _ctx: &CallContext| run::git_operation(&HostSandbox, input),
    )
}

paddock_sdk::export_tools!(toolbox);

#[cfg(test)]
mod tests;
