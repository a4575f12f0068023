//! Workflow definitions: reading one from YAML or TOML (errors name the
//! field), the checks a definition passes before it is used — names, ids,
//! kinds, bounds, jumps, the references of its templates — and reading a
//! fan-out's list. Whether the agent templates it names exist is checked
//! by [`super::Workflows::check`], which reads the store.

use super::template::{Ref, Template};
use crate::agent::resolve::AgentTemplate;
use paddock_protocol::workflow::{OnFailure, StepDef, StepKind, StepWorkspace, WorkflowDef};
use std::collections::{BTreeSet, HashMap};

/// Most steps of a workflow.
pub const MAX_STEPS: usize = 100;
/// Most inputs of a workflow.
pub const MAX_INPUTS: usize = 50;
/// Most retries of a step.
pub const MAX_RETRIES: u32 = 10;
/// Most jumps back from one step.
pub const MAX_JUMPS: u32 = 100;
/// Most fan-out items.
pub const MAX_ITEMS: usize = 100;
/// Most attempts of a best-of-N step.
pub const MAX_ATTEMPTS: u32 = 10;

/// The formats a definition is written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DefFormat {
    /// YAML (JSON is YAML too).
    Yaml,
    /// TOML.
    Toml,
}

impl DefFormat {
    /// The format a file's extension says (`yaml`, `yml`, `toml`).
    pub fn of_extension(ext: &str) -> Option<DefFormat> {
        match ext {
            "yaml" | "yml" | "json" => Some(DefFormat::Yaml),
            "toml" => Some(DefFormat::Toml),
            _ => None,
        }
    }
}

/// Reads a definition (not yet checked: see [`validate`]).
pub fn parse(text: &str, format: DefFormat) -> Result<WorkflowDef, String> {
    let value: serde_json::Value = match format {
        DefFormat::Yaml => {
            serde_yaml_ng::from_str(text).map_err(|e| format!("not valid YAML: {e}"))?
        }
        DefFormat::Toml => toml::from_str(text).map_err(|e| format!("not valid TOML: {e}"))?,
    };
    from_value(value)
}

/// Reads a definition from JSON (as the API's body, or a parsed file);
/// the error names the field (`steps[2].verify.timeout_secs: …`).
pub fn from_value(value: serde_json::Value) -> Result<WorkflowDef, String> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        if path == "." || path.is_empty() {
            e.into_inner().to_string()
        } else {
            format!("{path}: {}", e.into_inner())
        }
    })
}

/// A step's inline agent settings, read as an agent template's fields and
/// checked; the error names the field under `field`.
pub fn inline_agent(value: &serde_json::Value, field: &str) -> Result<AgentTemplate, String> {
    let t: AgentTemplate = serde_path_to_error::deserialize(value.clone()).map_err(|e| {
        let path = e.path().to_string();
        if path == "." || path.is_empty() {
            format!("{field}: {}", e.into_inner())
        } else {
            format!("{field}.{path}: {}", e.into_inner())
        }
    })?;
    t.check().map_err(|e| format!("{field}.{e}"))?;
    Ok(t)
}

/// Whether an input's name is valid: a letter or `_`, then letters,
/// digits and `_` (1 to 64).
fn input_name_ok(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Whether a step id is valid: 1 to 32 of `a-z 0-9 _ -`.
fn step_id_ok(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 32
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

/// What a template field may refer to.
#[derive(Clone, Copy)]
struct Scope<'a> {
    inputs: &'a BTreeSet<&'a str>,
    /// Steps before this one, by id.
    earlier: &'a BTreeSet<&'a str>,
    /// Every step id (to tell a later step from an unknown one).
    all: &'a BTreeSet<&'a str>,
    item: bool,
    run: bool,
    steps: bool,
}

/// Parses a template field and checks its references.
fn check_template(field: &str, text: &str, scope: &Scope<'_>) -> Result<Template, String> {
    let t = Template::parse(text).map_err(|e| format!("{field}: {e}"))?;
    for r in t.refs() {
        let bad = |why: &str| Err(format!("{field}: {why} `{r}`"));
        match r {
            Ref::Input(n) if !scope.inputs.contains(n.as_str()) => {
                return bad("unknown reference (no such input)");
            }
            Ref::StepOutput(s) | Ref::StepVerifyOutput(s) => {
                if !scope.steps {
                    return bad("a step's output cannot be used here");
                }
                if !scope.all.contains(s.as_str()) {
                    return bad("unknown reference");
                }
                if !scope.earlier.contains(s.as_str()) {
                    return bad("a step can only use the output of a step before it");
                }
            }
            Ref::Item if !scope.item => return bad("`item` is only known in a fan-out's prompt:"),
            Ref::RunId | Ref::RunWorkspace if !scope.run => {
                return bad("the run is not known here:");
            }
            _ => {}
        }
    }
    Ok(t)
}

/// Checks a definition on its own (everything but whether the agent
/// templates it names exist); the error starts with the field
/// (`steps[3].on_failure.goto: no step `impl``).
pub fn validate(def: &WorkflowDef) -> Result<(), String> {
    if !paddock_protocol::is_plain_name(&def.name) {
        return Err(format!(
            "name: `{}` is not a valid name (1 to 64 of A-Z a-z 0-9 . _ -, starting with a letter or digit)",
            def.name
        ));
    }
    if def.description.len() > 4096 {
        return Err("description: longer than 4096 bytes".into());
    }
    if def.inputs.len() > MAX_INPUTS {
        return Err(format!("inputs: at most {MAX_INPUTS} inputs"));
    }
    let mut inputs = BTreeSet::new();
    for (i, input) in def.inputs.iter().enumerate() {
        if !input_name_ok(&input.name) {
            return Err(format!(
                "inputs[{i}].name: `{}` is not a valid input name (a letter or `_`, then letters, digits and `_`, at most 64)",
                input.name
            ));
        }
        if !inputs.insert(input.name.as_str()) {
            return Err(format!(
                "inputs[{i}].name: duplicate input `{}`",
                input.name
            ));
        }
        if input.required == Some(true) && input.default.is_some() {
            return Err(format!(
                "inputs[{i}].required: an input with a `default` is not required"
            ));
        }
    }
    let none = BTreeSet::new();
    let input_scope = Scope {
        inputs: &inputs,
        earlier: &none,
        all: &none,
        item: false,
        run: false,
        steps: false,
    };
    if let Some(ws) = &def.workspace {
        match (&ws.repo, &ws.workspace_id) {
            (Some(repo), None) => {
                check_template("workspace.repo", repo, &input_scope)?;
                if let Some(base) = &ws.base {
                    check_template("workspace.base", base, &input_scope)?;
                }
            }
            (None, Some(id)) => {
                if ws.base.is_some() {
                    return Err("workspace.base: only with `repo` (a new worktree)".into());
                }
                check_template("workspace.workspace_id", id, &input_scope)?;
            }
            _ => {
                return Err(
                    "workspace: give `repo` (a new worktree for each run) or `workspace_id` (an existing workspace)"
                        .into(),
                );
            }
        }
    }
    if def.steps.is_empty() {
        return Err("steps: a workflow needs at least one step".into());
    }
    if def.steps.len() > MAX_STEPS {
        return Err(format!("steps: at most {MAX_STEPS} steps"));
    }
    let all: BTreeSet<&str> = def.steps.iter().map(|s| s.id.as_str()).collect();
    let index: HashMap<&str, usize> = def
        .steps
        .iter()
        .enumerate()
        .map(|(i, s)| (s.id.as_str(), i))
        .rev()
        .collect();
    let mut earlier = BTreeSet::new();
    for (i, step) in def.steps.iter().enumerate() {
        let at = format!("steps[{i}]");
        if !step_id_ok(&step.id) {
            return Err(format!(
                "{at}.id: `{}` is not a valid step id (1 to 32 of a-z 0-9 _ -)",
                step.id
            ));
        }
        if earlier.contains(step.id.as_str()) {
            return Err(format!("{at}.id: duplicate step id `{}`", step.id));
        }
        let scope = Scope {
            inputs: &inputs,
            earlier: &earlier,
            all: &all,
            item: false,
            run: true,
            steps: true,
        };
        check_step(def, step, &at, &scope)?;
        if let OnFailure::Goto { goto, max } = &step.on_failure {
            let Some(&to) = index.get(goto.as_str()) else {
                return Err(format!("{at}.on_failure.goto: no step `{goto}`"));
            };
            if to > i {
                return Err(format!(
                    "{at}.on_failure.goto: `{goto}` comes after this step (a jump goes back to an earlier step, or to this one)"
                ));
            }
            match max {
                None => {
                    return Err(format!(
                        "{at}.on_failure: a jump back to `{goto}` needs a bound (`max`): a cycle without a bound"
                    ));
                }
                Some(m) if *m == 0 || *m > MAX_JUMPS => {
                    return Err(format!(
                        "{at}.on_failure.max: must be between 1 and {MAX_JUMPS}"
                    ));
                }
                Some(_) => {}
            }
            if matches!(step.kind(), Some(StepKind::Merge)) {
                return Err(format!(
                    "{at}.on_failure: a merge step cannot jump back (resolve its conflicts by hand)"
                ));
            }
        }
        earlier.insert(step.id.as_str());
    }
    Ok(())
}

/// Checks one step (its kind's fields and its templates).
fn check_step(
    def: &WorkflowDef,
    step: &StepDef,
    at: &str,
    scope: &Scope<'_>,
) -> Result<(), String> {
    let kind = step.kind().ok_or_else(|| {
        format!("{at}: give exactly one of template (or agent), gate, fanout, merge")
    })?;
    if kind != StepKind::Agent {
        if step.prompt.is_some() {
            return Err(format!(
                "{at}.prompt: only an agent step has a prompt (a fan-out has `fanout.prompt`)"
            ));
        }
        if step.verify.is_some() {
            return Err(format!("{at}.verify: only an agent step has a verify"));
        }
    }
    if step.retries > 0 && step.verify.is_none() {
        return Err(format!(
            "{at}.retries: needs a `verify` (a step is retried after its verify fails)"
        ));
    }
    if step.retries > MAX_RETRIES {
        return Err(format!("{at}.retries: must be between 0 and {MAX_RETRIES}"));
    }
    check_attempts(def, step, kind, at)?;
    if matches!(kind, StepKind::Gate | StepKind::Merge) && step.workspace != StepWorkspace::Run {
        return Err(format!(
            "{at}.workspace: only a step with agents works in a workspace"
        ));
    }
    if step.workspace != StepWorkspace::Run && def.workspace.is_none() {
        return Err(format!(
            "{at}.workspace: `{}` needs the workflow's `workspace`",
            match step.workspace {
                StepWorkspace::RunReadOnly => "run_read_only",
                StepWorkspace::Copy => "copy",
                StepWorkspace::Worktree => "worktree",
                StepWorkspace::Run => "run",
            }
        ));
    }
    if let Some(agent) = &step.agent {
        inline_agent(agent, &format!("{at}.agent"))?;
    }
    if let Some(t) = &step.template
        && !paddock_protocol::is_plain_name(t)
    {
        return Err(format!("{at}.template: no agent template named `{t}`"));
    }
    match kind {
        StepKind::Agent => {
            let prompt = step
                .prompt
                .as_deref()
                .ok_or_else(|| format!("{at}.prompt: an agent step needs a prompt"))?;
            if prompt.trim().is_empty() {
                return Err(format!("{at}.prompt: must not be blank"));
            }
            check_template(&format!("{at}.prompt"), prompt, scope)?;
            if let Some(v) = &step.verify {
                if v.command.trim().is_empty() {
                    return Err(format!("{at}.verify.command: must not be blank"));
                }
                if v.timeout_secs == 0 || v.timeout_secs > 86_400 {
                    return Err(format!(
                        "{at}.verify.timeout_secs: must be between 1 and 86400"
                    ));
                }
                check_template(&format!("{at}.verify.command"), &v.command, scope)?;
            }
        }
        StepKind::Gate => {
            let g = step.gate.as_ref().map(|g| g.message.as_str()).unwrap_or("");
            if g.trim().is_empty() {
                return Err(format!("{at}.gate.message: must not be blank"));
            }
            check_template(&format!("{at}.gate.message"), g, scope)?;
        }
        StepKind::Fanout => {
            let Some(f) = &step.fanout else {
                return Err(format!("{at}.fanout: required"));
            };
            if f.template.is_none() && f.agent.is_none() {
                return Err(format!(
                    "{at}.fanout: give `template` or `agent` (the items' agent settings)"
                ));
            }
            if let Some(t) = &f.template
                && !paddock_protocol::is_plain_name(t)
            {
                return Err(format!(
                    "{at}.fanout.template: no agent template named `{t}`"
                ));
            }
            if let Some(agent) = &f.agent {
                inline_agent(agent, &format!("{at}.fanout.agent"))?;
            }
            if !(1..=16).contains(&f.max_parallel) {
                return Err(format!(
                    "{at}.fanout.max_parallel: must be between 1 and 16"
                ));
            }
            check_template(&format!("{at}.fanout.over"), &f.over, scope)?;
            if f.prompt.trim().is_empty() {
                return Err(format!("{at}.fanout.prompt: must not be blank"));
            }
            let item_scope = Scope {
                item: true,
                ..*scope
            };
            check_template(&format!("{at}.fanout.prompt"), &f.prompt, &item_scope)?;
        }
        StepKind::Merge => {
            if def
                .workspace
                .as_ref()
                .is_none_or(|w| w.repo.is_none() && w.workspace_id.is_none())
            {
                return Err(format!(
                    "{at}.merge: needs the run's worktree (the workflow's `workspace.repo`)"
                ));
            }
        }
    }
    Ok(())
}

/// Checks a step's `attempts` and `max_parallel` (best-of-N).
fn check_attempts(
    def: &WorkflowDef,
    step: &StepDef,
    kind: StepKind,
    at: &str,
) -> Result<(), String> {
    if !(1..=MAX_ATTEMPTS).contains(&step.attempts) {
        return Err(format!(
            "{at}.attempts: must be between 1 and {MAX_ATTEMPTS}"
        ));
    }
    if step.attempts == 1 {
        if step.max_parallel.is_some() {
            return Err(format!(
                "{at}.max_parallel: only a step of several `attempts` runs them in parallel"
            ));
        }
        return Ok(());
    }
    if kind != StepKind::Agent {
        return Err(format!(
            "{at}.attempts: only an agent step makes several attempts"
        ));
    }
    if step.verify.is_none() {
        return Err(format!(
            "{at}.attempts: several attempts need a `verify` (it says which ones pass)"
        ));
    }
    if step.workspace != StepWorkspace::Run {
        return Err(format!(
            "{at}.workspace: a step of several `attempts` gives each its own worktree of the run's workspace; leave `workspace` out"
        ));
    }
    if def
        .workspace
        .as_ref()
        .is_none_or(|w| w.repo.is_none() && w.workspace_id.is_none())
    {
        return Err(format!(
            "{at}.attempts: each attempt works in its own git worktree of the run's workspace, so the workflow needs a `workspace` (`repo`, or a `workspace_id` that is a git worktree)"
        ));
    }
    if let Some(m) = step.max_parallel
        && !(1..=step.attempts).contains(&m)
    {
        return Err(format!(
            "{at}.max_parallel: must be between 1 and the step's attempts ({})",
            step.attempts
        ));
    }
    Ok(())
}

/// A fan-out's items: the text as a YAML list when it is one (each item a
/// string, or compact JSON for a structure), else its lines with blank
/// ones dropped and a leading `- `, `* ` or `1. ` (`1) `) removed.
pub fn items(text: &str) -> Vec<String> {
    if let Ok(serde_json::Value::Array(list)) = serde_yaml_ng::from_str::<serde_json::Value>(text) {
        return list
            .into_iter()
            .map(|v| match v {
                serde_json::Value::String(s) => s.trim().to_string(),
                other => other.to_string(),
            })
            .filter(|s| !s.is_empty())
            .collect();
    }
    text.lines()
        .map(|l| {
            let l = l.trim();
            let l = l
                .strip_prefix("- ")
                .or_else(|| l.strip_prefix("* "))
                .unwrap_or(l);
            let digits = l.chars().take_while(|c| c.is_ascii_digit()).count();
            let l = if digits > 0 {
                l[digits..]
                    .strip_prefix(". ")
                    .or_else(|| l[digits..].strip_prefix(") "))
                    .unwrap_or(l)
            } else {
                l
            };
            l.trim().to_string()
        })
        .filter(|l| !l.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(text: &str) -> Result<(), String> {
        validate(&parse(text, DefFormat::Yaml)?)
    }

    const GOOD: &str = r#"
name: plan-implement-test
description: an example
inputs:
  - name: task
  - name: repo
    default: "."
workspace:
  repo: "{{inputs.repo}}"
steps:
  - id: plan
    template: planner
    prompt: "Plan this: {{inputs.task}}"
    workspace: run_read_only
  - id: implement
    template: coder
    prompt: "Implement the plan:\n{{steps.plan.output}}"
  - id: test
    template: coder
    prompt: Make the tests pass.
    verify:
      command: make test
    retries: 2
    on_failure: {goto: implement, max: 2}
  - id: approve
    gate:
      message: "Merge {{inputs.task}}?"
  - id: each
    fanout:
      over: "{{steps.plan.output}}"
      agent: {system_prompt: "be brief"}
      prompt: "Do {{item}}"
  - id: merge
    merge: true
"#;

    #[test]
    fn a_good_definition_passes_in_yaml_and_toml() {
        let def = parse(GOOD, DefFormat::Yaml).unwrap();
        validate(&def).unwrap();
        assert_eq!(def.steps[2].verify.as_ref().unwrap().timeout_secs, 600);
        assert_eq!(def.steps[4].fanout.as_ref().unwrap().max_parallel, 4);
        assert!(def.inputs[0].is_required());
        assert!(!def.inputs[1].is_required());
        let toml_text = r#"
name = "t"
[[inputs]]
name = "task"
[[steps]]
id = "a"
agent = { system_prompt = "x" }
prompt = "do {{inputs.task}}"
verify = { command = "true", timeout_secs = 5 }
retries = 1
on_failure = "stop"
[[steps]]
id = "b"
gate = { message = "ok? {{steps.a.verify_output}}" }
"#;
        let t = parse(toml_text, DefFormat::Toml).unwrap();
        validate(&t).unwrap();
        assert_eq!(t.steps[0].verify.as_ref().unwrap().timeout_secs, 5);
        // The same definition as JSON round-trips.
        let back = from_value(serde_json::to_value(&def).unwrap()).unwrap();
        assert_eq!(back, def);
    }

    fn with(replace: &str, by: &str) -> Result<(), String> {
        assert!(GOOD.contains(replace), "{replace}");
        yaml(&GOOD.replacen(replace, by, 1))
    }

    #[track_caller]
    fn refused(r: Result<(), String>, starts: &str) {
        let e = r.expect_err("should be refused");
        assert!(e.starts_with(starts), "{e} (expected {starts}…)");
    }

    #[test]
    fn each_mistake_names_its_field() {
        refused(
            with("name: plan-implement-test", "name: 'bad name'"),
            "name:",
        );
        refused(
            with("  - name: repo\n", "  - name: task\n"),
            "inputs[1].name: duplicate",
        );
        refused(
            with("  - name: repo\n", "  - name: 9x\n"),
            "inputs[1].name:",
        );
        refused(
            with("  - id: implement", "  - id: plan"),
            "steps[1].id: duplicate step id",
        );
        refused(
            with("  - id: implement", "  - id: Implement"),
            "steps[1].id:",
        );
        refused(
            with("{goto: implement, max: 2}", "{goto: impl, max: 2}"),
            "steps[2].on_failure.goto: no step `impl`",
        );
        refused(
            with("{goto: implement, max: 2}", "{goto: implement}"),
            "steps[2].on_failure: a jump back to `implement` needs a bound",
        );
        refused(
            with("{goto: implement, max: 2}", "{goto: approve, max: 2}"),
            "steps[2].on_failure.goto: `approve` comes after",
        );
        refused(
            with("{goto: implement, max: 2}", "{goto: implement, max: 0}"),
            "steps[2].on_failure.max:",
        );
        refused(
            with("{goto: implement, max: 2}", "jump"),
            "steps[2].on_failure: expected `stop`",
        );
        refused(
            with(
                "{{steps.plan.output}}\"\n  - id: test",
                "{{steps.plna.output}}\"\n  - id: test",
            ),
            "steps[1].prompt: unknown reference `steps.plna.output`",
        );
        refused(
            with(
                "Plan this: {{inputs.task}}",
                "Plan this: {{steps.implement.output}}",
            ),
            "steps[0].prompt: a step can only use the output of a step before it",
        );
        refused(
            with("Plan this: {{inputs.task}}", "Plan this: {{inputs.tsk}}"),
            "steps[0].prompt: unknown reference",
        );
        refused(
            with("Plan this: {{inputs.task}}", "Plan this: {{item}}"),
            "steps[0].prompt: `item` is only known in a fan-out",
        );
        refused(
            with("Plan this: {{inputs.task}}", "Plan this: {{inputs.task"),
            "steps[0].prompt: a `{{` is not closed",
        );
        refused(
            with(
                "    template: planner\n",
                "    template: planner\n    merge: true\n",
            ),
            "steps[0]: give exactly one of",
        );
        refused(
            with("    template: planner\n", ""),
            "steps[0]: give exactly one of",
        );
        refused(
            with(
                "    template: planner\n",
                "    template: planner\n    bogus: 1\n",
            ),
            "steps[0].bogus: unknown field `bogus`",
        );
        refused(
            with(
                "      command: make test\n",
                "      command: make test\n      timeout_secs: 0\n",
            ),
            "steps[2].verify.timeout_secs:",
        );
        refused(
            with("    retries: 2\n", "    retries: 20\n"),
            "steps[2].retries:",
        );
        refused(
            with(
                "    prompt: \"Implement",
                "    retries: 1\n    prompt: \"Implement",
            ),
            "steps[1].retries: needs a `verify`",
        );
        refused(
            with("    gate:\n", "    workspace: copy\n    gate:\n"),
            "steps[3].workspace:",
        );
        refused(
            with(
                "      agent: {system_prompt: \"be brief\"}",
                "      agent: {temperature: 9}",
            ),
            "steps[4].fanout.agent.temperature:",
        );
        refused(
            with(
                "      agent: {system_prompt: \"be brief\"}",
                "      agent: {colour: red}",
            ),
            "steps[4].fanout.agent.colour: unknown field `colour`",
        );
        refused(
            with(
                "      prompt: \"Do {{item}}\"",
                "      prompt: \"Do\"\n      max_parallel: 17",
            ),
            "steps[4].fanout.max_parallel:",
        );
        refused(
            with("workspace:\n  repo: \"{{inputs.repo}}\"\n", ""),
            "steps[0].workspace: `run_read_only` needs the workflow's `workspace`",
        );
        refused(
            with(
                "  repo: \"{{inputs.repo}}\"",
                "  repo: \"{{steps.plan.output}}\"",
            ),
            "workspace.repo: a step's output cannot be used here",
        );
        refused(
            with(
                "  repo: \"{{inputs.repo}}\"",
                "  repo: x\n  workspace_id: y",
            ),
            "workspace: give `repo`",
        );
        refused(yaml("name: x\nsteps: []\n"), "steps: a workflow needs");
        refused(yaml("name: x\n"), "missing field `steps`");
        refused(
            yaml("name: x\nsteps:\n  - id: a\n    agent: {}\n"),
            "steps[0].prompt: an agent step needs a prompt",
        );
        refused(
            yaml("name: x\nsteps:\n  - id: a\n    merge: true\n"),
            "steps[0].merge: needs the run's worktree",
        );
        refused(
            parse("name = 1", DefFormat::Toml).and_then(|d| validate(&d)),
            "name: invalid type",
        );
        assert!(
            parse("name: [", DefFormat::Yaml)
                .unwrap_err()
                .starts_with("not valid YAML")
        );
    }

    #[test]
    fn items_read_lists_and_lines() {
        assert_eq!(items("- a\n- b\n"), vec!["a", "b"]);
        assert_eq!(items("[x, 2]"), vec!["x", "2"]);
        assert_eq!(
            items("Plan:\n\n1. first thing\n2) second\n* third\n"),
            vec!["Plan:", "first thing", "second", "third"]
        );
        assert!(items("  \n\n").is_empty());
        assert_eq!(items("just one line"), vec!["just one line"]);
    }

    #[test]
    fn attempts_need_an_agent_step_a_verify_and_a_run_workspace() {
        let base =
            "name: b\nworkspace: {repo: /r}\nsteps:\n  - id: a\n    template: t\n    prompt: go\n";
        yaml(&format!(
            "{base}    attempts: 3\n    verify: {{command: \"true\"}}\n    retries: 1\n"
        ))
        .unwrap();
        yaml(&format!(
            "{base}    attempts: 3\n    max_parallel: 2\n    verify: {{command: \"true\"}}\n"
        ))
        .unwrap();
        for (extra, field, why) in [
            ("    attempts: 3\n", "steps[0].attempts", "need a `verify`"),
            ("    attempts: 0\n", "steps[0].attempts", "between 1 and 10"),
            (
                "    attempts: 11\n    verify: {command: x}\n",
                "steps[0].attempts",
                "between 1 and 10",
            ),
            (
                "    attempts: 2\n    max_parallel: 3\n    verify: {command: x}\n",
                "steps[0].max_parallel",
                "between 1 and",
            ),
            (
                "    max_parallel: 1\n",
                "steps[0].max_parallel",
                "several `attempts`",
            ),
            (
                "    attempts: 2\n    workspace: copy\n    verify: {command: x}\n",
                "steps[0].workspace",
                "own worktree",
            ),
        ] {
            let e = yaml(&format!("{base}{extra}")).unwrap_err();
            assert!(e.starts_with(field) && e.contains(why), "{extra}: {e}");
        }
        let e = yaml("name: b\nsteps:\n  - id: a\n    template: t\n    prompt: go\n    attempts: 2\n    verify: {command: x}\n").unwrap_err();
        assert!(
            e.starts_with("steps[0].attempts") && e.contains("needs a `workspace`"),
            "{e}"
        );
        let e = yaml("name: b\nworkspace: {repo: /r}\nsteps:\n  - id: g\n    gate: {message: ok}\n    attempts: 2\n").unwrap_err();
        assert!(
            e.starts_with("steps[0].attempts") && e.contains("only an agent step"),
            "{e}"
        );
    }
}
