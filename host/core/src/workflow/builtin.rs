//! The workflow shipped in the binary: `plan-implement-test` — plan (a
//! read-only agent) → implement → test (verified by the project's test
//! command, retried twice with its output) → review (read-only) → a human
//! gate showing the diff → merge. Its agents are given inline (the host's
//! default model), so it needs no stored template.

use super::definition::{DefFormat, parse};
use paddock_protocol::workflow::WorkflowDef;

/// The example's text, as a user would write it.
pub const EXAMPLE: &str = r#"
name: plan-implement-test
description: >-
  Plan a change (read-only), implement it, run the project's tests until
  they pass (two retries, fed the failing output), review it (read-only),
  ask a human to approve the diff, then merge the run's worktree into its
  base branch.
inputs:
  - name: task
    description: What to build or fix.
  - name: repo
    description: A local git repository (under an allowed workspace root); the run works in a new worktree of it.
  - name: base
    description: "The branch to start from and merge into (empty: the one checked out)."
    default: ""
  - name: test_command
    description: The command whose exit code says the tests pass.
    default: make test
workspace:
  repo: "{{inputs.repo}}"
  base: "{{inputs.base}}"
steps:
  - id: plan
    agent:
      system_prompt: >-
        You plan changes to a code base. Read what you need, change nothing,
        and answer with a short numbered plan.
    workspace: run_read_only
    prompt: "Plan this change:\n{{inputs.task}}"
  - id: implement
    agent:
      system_prompt: You implement changes to a code base carefully and completely.
    prompt: "Implement this change:\n{{inputs.task}}\n\nThe plan:\n{{steps.plan.output}}"
  - id: test
    agent:
      system_prompt: You make a project's tests pass without weakening them.
    prompt: "Run `{{inputs.test_command}}` and make it pass."
    verify:
      command: "{{inputs.test_command}}"
      timeout_secs: 600
    retries: 2
  - id: review
    agent:
      system_prompt: >-
        You review changes. Read the code, change nothing, and answer with
        what is wrong or missing, or that it is ready.
    workspace: run_read_only
    prompt: "Review the change made for:\n{{inputs.task}}"
  - id: approve
    gate:
      message: "Merge the change for: {{inputs.task}}?\n\nThe review:\n{{steps.review.output}}"
  - id: merge
    merge: true
"#;

/// The built-in definitions.
pub fn definitions() -> Vec<WorkflowDef> {
    match parse(EXAMPLE, DefFormat::Yaml) {
        Ok(d) => vec![d],
        Err(e) => {
            tracing::error!(error = %e, "the built-in workflow does not parse");
            Vec::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_is_valid() {
        parse(EXAMPLE, DefFormat::Yaml).unwrap();
        let defs = definitions();
        assert_eq!(defs.len(), 1);
        super::super::definition::validate(&defs[0]).unwrap();
        assert_eq!(defs[0].name, "plan-implement-test");
    }
}
