//! The workflows shipped in the binary: `plan-implement-test` — plan (a
//! read-only agent) → implement → test (verified by the project's test
//! command, retried twice with its output) → review (read-only) → a human
//! gate showing the diff → merge; and `best-of-3` — three agents try the
//! same task at once, each on its own worktree, each verified by the
//! test command; the first passing one is kept and offered for merge.
//! Their agents are given inline (the host's default model), so they need
//! no stored template.

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

/// Best-of-3 on ordinary work.
pub const BEST_OF_3: &str = r#"
name: best-of-3
description: >-
  Three agents try the same task at once, each in its own git worktree of
  the run's worktree, each checked by the test command. The first one that
  passes (by attempt number) is kept; its worktree is offered for merge
  into the run's branch, side by side with the others in the run's view.
inputs:
  - name: task
    description: What to build or fix.
  - name: repo
    description: A local git repository (under an allowed workspace root); the run works in a new worktree of it.
  - name: test_command
    description: The command whose exit code says the work is right.
    default: make test
workspace:
  repo: "{{inputs.repo}}"
steps:
  - id: attempt
    agent:
      system_prompt: >-
        You make changes to a code base carefully and completely, and check
        them with the project's tests.
    prompt: "{{inputs.task}}\n\nWhen you are done, `{{inputs.test_command}}` must pass."
    attempts: 3
    verify:
      command: "{{inputs.test_command}}"
      timeout_secs: 600
"#;

/// The built-in definitions.
pub fn definitions() -> Vec<WorkflowDef> {
    [EXAMPLE, BEST_OF_3]
        .into_iter()
        .filter_map(|text| match parse(text, DefFormat::Yaml) {
            Ok(d) => Some(d),
            Err(e) => {
                tracing::error!(error = %e, "a built-in workflow does not parse");
                None
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_is_valid() {
        parse(EXAMPLE, DefFormat::Yaml).unwrap();
        let defs = definitions();
        assert_eq!(defs.len(), 2);
        for d in &defs {
            super::super::definition::validate(d).unwrap();
        }
        assert_eq!(defs[0].name, "plan-implement-test");
        assert_eq!(defs[1].name, "best-of-3");
        assert_eq!(defs[1].steps[0].attempts, 3);
        assert!(defs[1].steps[0].verify.is_some());
    }
}
