//! Delegation to sub-agents, the parts every side shares: the built-in
//! tools `delegate` and `collect` (their definitions and arguments, checked
//! with the field named), the child's delegation limits (one level less),
//! what a parent's log says about its children (which it started, which
//! results it already took), the children's reports, the count of a
//! parent's live children, and the [`Delegator`] through which the loop
//! asks the manager to make a child. The loop's side (recording, waiting,
//! resuming after a restart) is `runner::delegation`; the manager's (the
//! child's configuration and creation) is `manager`.
//!
//! Durability: a child's id is chosen before it exists and recorded in the
//! parent's `tool.call` (`child_id`), so a parent resumed after a crash
//! finds the child it started (or makes it, with that id, if the crash
//! came first) and never a second one.

use super::outcome::{RunOutcome, stored_run};
use futures::future::BoxFuture;
use paddock_llm::ToolDef;
use paddock_protocol::agent::{AgentConfig, Delegation};
use paddock_protocol::events::{AgentStatus, Event, EventBody};
use paddock_store::{AgentRecord, Store, StoreError};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::{BTreeSet, HashMap};

/// The built-in tool that starts a sub-agent.
pub const DELEGATE: &str = "delegate";
/// The built-in tool that collects sub-agents' results.
pub const COLLECT: &str = "collect";

/// The key of a `delegate` call's recorded arguments that holds the
/// child's id (added by the host before the child is made).
pub const CHILD_ID: &str = "child_id";
/// The key of a `collect` call's recorded arguments that holds the ids of
/// the children it waits for (added by the host).
pub const CHILD_IDS: &str = "child_ids";

/// Longest task, in bytes (as a user message).
const MAX_TASK: usize = 256 * 1024;

/// Longest wait a `collect` may ask for, in seconds (a day).
pub const MAX_TIMEOUT_SECS: u64 = 24 * 3600;

/// Where a child works, relative to its parent's workspace.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkspaceMode {
    /// The parent's workspace, read-write.
    #[default]
    Same,
    /// The parent's workspace, with only read-only tools.
    SameReadOnly,
    /// A new git worktree of the parent's workspace (its branch's last
    /// commit).
    Worktree,
    /// A copy of the parent's workspace.
    Copy,
}

/// The arguments of `delegate`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DelegateArgs {
    /// The child's task (its first message).
    pub task: String,
    /// A stored agent template to start from.
    #[serde(default)]
    pub template: Option<String>,
    /// Agent template fields, over the template's (not its workspace: see
    /// `workspace`).
    #[serde(default)]
    pub config: Option<serde_json::Map<String, Value>>,
    /// Where the child works.
    #[serde(default)]
    pub workspace: WorkspaceMode,
    /// Whether the call waits for the child's result (default) or returns
    /// its id at once.
    #[serde(default = "yes")]
    pub wait: bool,
    /// The child's name (default: `<parent>/<template or "sub">`).
    #[serde(default)]
    pub name: Option<String>,
}

fn yes() -> bool {
    true
}

/// When `collect` returns.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WaitFor {
    /// When every child named has finished.
    #[default]
    All,
    /// When one of them has.
    Any,
}

/// The arguments of `collect`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CollectArgs {
    /// The children (ids) to collect; default: every child this agent
    /// started whose result it has not taken yet.
    #[serde(default)]
    pub children: Option<Vec<String>>,
    /// Return when all have finished (default) or any.
    #[serde(default)]
    pub wait: WaitFor,
    /// Return after this many seconds at most, with the children still
    /// running marked so (0: do not wait).
    #[serde(default)]
    pub timeout_secs: Option<u64>,
}

/// The arguments of a `delegate` call as the model gave them (the host's
/// `child_id`, when recorded, is left out), checked.
pub fn parse_delegate(arguments: &Value) -> Result<DelegateArgs, String> {
    let mut given = arguments.clone();
    if let Some(map) = given.as_object_mut() {
        map.remove(CHILD_ID);
    }
    let args: DelegateArgs = serde_json::from_value(given)
        .map_err(|e| format!("invalid arguments for `{DELEGATE}`: {e}"))?;
    if args.task.trim().is_empty() {
        return Err("task: must not be empty".into());
    }
    if args.task.len() > MAX_TASK {
        return Err(format!(
            "task: {} bytes is over the limit of {MAX_TASK}",
            args.task.len()
        ));
    }
    if let Some(name) = &args.name
        && (name.trim().is_empty() || name.len() > 100 || name.chars().any(char::is_control))
    {
        return Err("name: must be 1 to 100 characters, without control characters".into());
    }
    if let Some(t) = &args.template
        && t.trim().is_empty()
    {
        return Err("template: must not be empty".into());
    }
    if let Some(config) = &args.config {
        for field in ["workspace", "workspace_id", "worktree"] {
            if config.contains_key(field) {
                return Err(format!(
                    "config.{field}: a child's workspace is chosen by `workspace` (same, same_read_only, worktree or copy)"
                ));
            }
        }
        if config.contains_key("delegation") {
            return Err(
                "config.delegation: a child's delegation is its parent's, one level less".into(),
            );
        }
    }
    Ok(args)
}

/// The arguments of a `collect` call as the model gave them (the host's
/// `child_ids`, when recorded, left out), checked.
pub fn parse_collect(arguments: &Value) -> Result<CollectArgs, String> {
    let mut given = arguments.clone();
    if let Some(map) = given.as_object_mut() {
        map.remove(CHILD_IDS);
    }
    let args: CollectArgs = serde_json::from_value(given)
        .map_err(|e| format!("invalid arguments for `{COLLECT}`: {e}"))?;
    if let Some(t) = args.timeout_secs
        && t > MAX_TIMEOUT_SECS
    {
        return Err(format!("timeout_secs: at most {MAX_TIMEOUT_SECS} (a day)"));
    }
    if let Some(children) = &args.children {
        if children.is_empty() {
            return Err("children: name at least one (or leave it out for all)".into());
        }
        for (i, c) in children.iter().enumerate() {
            if children[..i].contains(c) {
                return Err(format!("children[{i}]: `{c}` is listed twice"));
            }
        }
    }
    Ok(args)
}

/// The id a `delegate` call's recorded arguments hold.
pub fn recorded_child(arguments: &Value) -> Option<String> {
    arguments
        .get(CHILD_ID)
        .and_then(Value::as_str)
        .map(str::to_string)
}

/// The ids a `collect` call's recorded arguments hold.
pub fn recorded_children(arguments: &Value) -> Option<Vec<String>> {
    arguments.get(CHILD_IDS).and_then(Value::as_array).map(|a| {
        a.iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect()
    })
}

/// `arguments` (an object) with `key` set to `value`: what is recorded.
pub fn with_recorded(arguments: &Value, key: &str, value: Value) -> Value {
    let mut recorded = arguments.clone();
    if let Some(map) = recorded.as_object_mut() {
        map.insert(key.to_string(), value);
    }
    recorded
}

/// The delegation a child of a parent with `parent`'s gets: one level
/// less deep, none below the last level.
pub fn child_delegation(parent: &Delegation) -> Option<Delegation> {
    (parent.max_depth > 1).then(|| Delegation {
        max_depth: parent.max_depth - 1,
        ..parent.clone()
    })
}

/// The refusal of a child from `template` (or from an inline `config`)
/// under the parent's delegation, if its templates are restricted.
pub fn check_template(
    delegation: &Delegation,
    template: Option<&str>,
    inline: bool,
) -> Result<(), String> {
    let Some(allowed) = &delegation.templates else {
        return Ok(());
    };
    let list = allowed.join(", ");
    match template {
        Some(t) if !allowed.iter().any(|a| a == t) => Err(format!(
            "template: this agent may only delegate to the templates {list} (delegation.templates)"
        )),
        None => Err(format!(
            "template: required: this agent may only delegate to the templates {list} (delegation.templates)"
        )),
        Some(_) if inline => Err(format!(
            "config: this agent may only delegate to the templates {list} as they are (delegation.templates), without an inline configuration"
        )),
        Some(_) => Ok(()),
    }
}

/// The refusal when a parent already has `live` children at its limit.
pub fn check_children(delegation: &Delegation, live: usize) -> Result<(), String> {
    let max = delegation.max_children as usize;
    if live >= max {
        return Err(format!(
            "not started: this agent already has {live} live sub-agent(s), its limit (delegation.max_children = {max}); collect or wait for one first"
        ));
    }
    Ok(())
}

/// The tool definitions of delegation offered to the model.
pub fn tool_defs() -> [ToolDef; 2] {
    [
        ToolDef {
            name: DELEGATE.into(),
            description: "Start a sub-agent on a task: an agent of its own (own log, policy, approvals, sandbox), from a stored template or an inline configuration, working in this workspace (`same`, `same_read_only`), a new git worktree of it (`worktree`) or a copy (`copy`). With `wait` (default) the result is the sub-agent's final answer and what it changed; without, its id at once (collect it later with `collect`).".into(),
            parameters: json!({
                "type": "object",
                "properties": {
                    "task": {"type": "string", "description": "What the sub-agent should do (its first message)."},
                    "template": {"type": "string", "description": "A stored agent template to start from."},
                    "config": {"type": "object", "description": "Agent template fields over the template's (model, system_prompt, tools, limits, approval_mode, …; not the workspace)."},
                    "workspace": {"type": "string", "enum": ["same", "same_read_only", "worktree", "copy"], "description": "Where it works (default same)."},
                    "wait": {"type": "boolean", "description": "Wait for its result (default true)."},
                    "name": {"type": "string", "description": "Its name."}
                },
                "required": ["task"],
                "additionalProperties": false
            }),
        },
        ToolDef {
            name: COLLECT.into(),
            description: "Collect the results of sub-agents started with `delegate` and `wait: false`: each one's final answer and what it changed, or that it is still running.".into(),
            parameters: json!({
                "type": "object",
                "properties": {
                    "children": {"type": "array", "items": {"type": "string"}, "description": "Their ids (default: every sub-agent whose result was not collected yet)."},
                    "wait": {"type": "string", "enum": ["all", "any"], "description": "Return when all have finished (default) or any."},
                    "timeout_secs": {"type": "integer", "minimum": 0, "description": "Return after this many seconds at most."}
                },
                "additionalProperties": false
            }),
        },
    ]
}

/// Where a child stands in a report.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChildState {
    /// Started; its result is collected later.
    Started,
    /// Its run ended (the report says how).
    Finished,
    /// Still running.
    Running,
    /// Its log is gone (purged).
    Gone,
}

/// One child in a `delegate` or `collect` result (JSON, for the model and
/// for the host reading its own log back).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChildReport {
    /// The child's id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Where it stands.
    pub state: ChildState,
    /// Its status when its run ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<AgentStatus>,
    /// Its final answer and what it changed ([`RunOutcome::report`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report: Option<String>,
}

impl ChildReport {
    /// The report of child `id` named `name`: finished with `outcome`, or
    /// in `state`.
    pub fn of(
        id: &str,
        name: &str,
        outcome: Option<&RunOutcome>,
        state: ChildState,
    ) -> ChildReport {
        match outcome {
            Some(o) => ChildReport {
                id: id.into(),
                name: name.into(),
                state: ChildState::Finished,
                status: Some(o.status),
                report: Some(o.report()),
            },
            None => ChildReport {
                id: id.into(),
                name: name.into(),
                state,
                status: None,
                report: None,
            },
        }
    }
}

/// A `collect` result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Collected {
    /// Each child asked for, in order.
    pub children: Vec<ChildReport>,
}

/// What a parent's log says about its children.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ChildrenLog {
    /// The children its `delegate` calls recorded, in order.
    pub started: Vec<String>,
    /// Those whose finished result a `delegate` (waiting) or `collect`
    /// result already gave it.
    pub collected: BTreeSet<String>,
}

impl ChildrenLog {
    /// Reads the parent's events.
    pub fn of(events: &[Event]) -> ChildrenLog {
        let mut log = ChildrenLog::default();
        let mut calls: HashMap<String, &'static str> = HashMap::new();
        for e in events {
            match &e.body {
                EventBody::ToolCall {
                    call_id,
                    tool,
                    arguments,
                    ..
                } if tool == DELEGATE => {
                    calls.insert(call_id.clone(), DELEGATE);
                    if let Some(id) = recorded_child(arguments)
                        && !log.started.contains(&id)
                    {
                        log.started.push(id);
                    }
                }
                EventBody::ToolCall { call_id, tool, .. } if tool == COLLECT => {
                    calls.insert(call_id.clone(), COLLECT);
                }
                EventBody::ToolResult {
                    call_id, content, ..
                } => match calls.get(call_id.as_str()).copied() {
                    Some(DELEGATE) => {
                        if let Ok(r) = serde_json::from_str::<ChildReport>(content)
                            && r.state == ChildState::Finished
                        {
                            log.collected.insert(r.id);
                        }
                    }
                    Some(_) => {
                        if let Ok(c) = serde_json::from_str::<Collected>(content) {
                            log.collected.extend(
                                c.children
                                    .into_iter()
                                    .filter(|r| r.state != ChildState::Running)
                                    .map(|r| r.id),
                            );
                        }
                    }
                    None => {}
                },
                _ => {}
            }
        }
        log
    }

    /// The children whose results were not collected yet, in order.
    pub fn uncollected(&self) -> Vec<String> {
        self.started
            .iter()
            .filter(|id| !self.collected.contains(*id))
            .cloned()
            .collect()
    }
}

/// The seq of the child's task (its first user message), if posted.
pub async fn task_seq(store: &Store, child: &str) -> Result<Option<u64>, StoreError> {
    let mut after = 0;
    loop {
        let page = store.events_after(child, after, 200).await?;
        let Some(last) = page.last().map(|e| e.seq) else {
            return Ok(None);
        };
        if let Some(e) = page
            .iter()
            .find(|e| matches!(e.body, EventBody::MessageUser { .. }))
        {
            return Ok(Some(e.seq));
        }
        after = last;
    }
}

/// The children of `parent` (not deleted), oldest first.
pub async fn children_of(store: &Store, parent: &str) -> Result<Vec<AgentRecord>, StoreError> {
    Ok(store
        .list_agents(false)
        .await?
        .into_iter()
        .filter(|r| r.config.parent.as_deref() == Some(parent))
        .collect())
}

/// The sub-agents of `id` (theirs too, nearest first) among `records`.
pub fn descendants<'a>(records: &'a [AgentRecord], id: &str) -> Vec<&'a AgentRecord> {
    let links: Vec<(&str, Option<&str>)> = records
        .iter()
        .map(|r| (r.id.as_str(), r.config.parent.as_deref()))
        .collect();
    descendant_indexes(&links, id)
        .into_iter()
        .map(|i| &records[i])
        .collect()
}

/// Where in `links` (each an agent's id and its parent's) the sub-agents
/// of `id` are (theirs too, nearest first; a loop ends the walk).
pub fn descendant_indexes(links: &[(&str, Option<&str>)], id: &str) -> Vec<usize> {
    let mut out = Vec::new();
    let mut seen: BTreeSet<&str> = BTreeSet::from([id]);
    let mut parents = vec![id];
    let mut next = 0;
    while let Some(parent) = parents.get(next).copied() {
        next += 1;
        for (i, (child, of)) in links.iter().enumerate() {
            if *of == Some(parent) && seen.insert(child) {
                out.push(i);
                parents.push(child);
            }
        }
    }
    out
}

/// How many children of `parent` are live: not deleted, and their task's
/// run has not ended (or not started).
pub async fn live_children(store: &Store, parent: &str) -> Result<usize, StoreError> {
    let mut live = 0;
    for child in children_of(store, parent).await? {
        let ended = match task_seq(store, &child.id).await? {
            Some(seq) => stored_run(store, &child.id, seq).await?.is_some(),
            None => false,
        };
        if !ended {
            live += 1;
        }
    }
    Ok(live)
}

/// A child that exists: its name and the seq of its task message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Spawned {
    /// Its name.
    pub name: String,
    /// The seq of its task (its run's outcome follows it).
    pub task_seq: u64,
}

/// What the loop asks of the manager (which implements it): make a child
/// of a parent, or find the one it already made.
pub trait Delegator: Send + Sync {
    /// Makes the child `child_id` of the agent `parent_id` (configured
    /// `parent`) as `args` ask, owned by the parent's owner — or, when a
    /// child with that id exists already (the parent resumes after a
    /// restart), finds it (posting its task if the crash came before).
    /// The error is a refusal for the model (the field named).
    fn spawn<'a>(
        &'a self,
        parent_id: &'a str,
        parent: &'a AgentConfig,
        child_id: &'a str,
        args: &'a DelegateArgs,
    ) -> BoxFuture<'a, Result<Spawned, String>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delegate_arguments_are_checked_with_the_field_named() {
        let args = parse_delegate(&json!({"task": "fix it"})).unwrap();
        assert_eq!(args.workspace, WorkspaceMode::Same);
        assert!(args.wait, "waits by default");
        let args = parse_delegate(&json!({
            "task": "review", "template": "reviewer", "workspace": "same_read_only",
            "wait": false, "name": "rev", "child_id": "recorded"
        }))
        .unwrap();
        assert_eq!(
            (args.workspace, args.wait, args.template.as_deref()),
            (WorkspaceMode::SameReadOnly, false, Some("reviewer"))
        );
        assert_eq!(
            parse_delegate(&json!({"task": "  "})),
            Err("task: must not be empty".into())
        );
        let e = parse_delegate(&json!({"task": "x", "workspace": "elsewhere"})).unwrap_err();
        assert!(e.contains("unknown variant `elsewhere`"), "{e}");
        let e = parse_delegate(&json!({"task": "x", "colour": 1})).unwrap_err();
        assert!(e.contains("unknown field `colour`"), "{e}");
        assert!(
            parse_delegate(&json!({}))
                .unwrap_err()
                .contains("missing field `task`")
        );
        assert_eq!(
            parse_delegate(&json!({"task": "x", "config": {"workspace": "/etc"}})),
            Err("config.workspace: a child's workspace is chosen by `workspace` (same, same_read_only, worktree or copy)".into())
        );
        assert!(
            parse_delegate(&json!({"task": "x", "config": {"delegation": {}}}))
                .unwrap_err()
                .starts_with("config.delegation:")
        );
        assert!(
            parse_delegate(&json!({"task": "x", "name": ""}))
                .unwrap_err()
                .starts_with("name:")
        );
    }

    #[test]
    fn collect_arguments_are_checked_with_the_field_named() {
        assert_eq!(parse_collect(&json!({})).unwrap(), CollectArgs::default());
        let args =
            parse_collect(&json!({"children": ["a", "b"], "wait": "any", "timeout_secs": 5}))
                .unwrap();
        assert_eq!(args.wait, WaitFor::Any);
        assert_eq!(args.timeout_secs, Some(5));
        assert_eq!(
            parse_collect(&json!({"children": ["a", "a"]})),
            Err("children[1]: `a` is listed twice".into())
        );
        assert!(
            parse_collect(&json!({"children": []}))
                .unwrap_err()
                .starts_with("children:")
        );
        assert!(
            parse_collect(&json!({"timeout_secs": 100000}))
                .unwrap_err()
                .starts_with("timeout_secs:")
        );
        assert!(
            parse_collect(&json!({"wait": "some"}))
                .unwrap_err()
                .contains("unknown variant `some`")
        );
        let recorded = with_recorded(&json!({}), CHILD_IDS, json!(["x"]));
        assert_eq!(parse_collect(&recorded).unwrap(), CollectArgs::default());
        assert_eq!(recorded_children(&recorded), Some(vec!["x".to_string()]));
    }

    #[test]
    fn a_child_gets_one_level_less_and_none_below_the_last() {
        let d = Delegation {
            max_depth: 2,
            max_children: 3,
            templates: None,
        };
        let child = child_delegation(&d).unwrap();
        assert_eq!((child.max_depth, child.max_children), (1, 3));
        assert_eq!(
            child_delegation(&child),
            None,
            "a last-level child may not delegate"
        );
    }

    #[test]
    fn the_live_children_limit_names_itself() {
        let d = Delegation {
            max_children: 2,
            ..Delegation::default()
        };
        assert_eq!(check_children(&d, 1), Ok(()));
        let e = check_children(&d, 2).unwrap_err();
        assert!(e.contains("delegation.max_children = 2"), "{e}");
    }

    #[test]
    fn restricted_templates_are_enforced() {
        let open = Delegation::default();
        assert_eq!(check_template(&open, None, true), Ok(()));
        let only = Delegation {
            templates: Some(vec!["reviewer".into()]),
            ..Delegation::default()
        };
        assert_eq!(check_template(&only, Some("reviewer"), false), Ok(()));
        assert!(
            check_template(&only, Some("coder"), false)
                .unwrap_err()
                .starts_with("template:")
        );
        assert!(
            check_template(&only, None, false)
                .unwrap_err()
                .starts_with("template: required")
        );
        assert!(
            check_template(&only, Some("reviewer"), true)
                .unwrap_err()
                .starts_with("config:")
        );
    }

    fn event(seq: u64, body: EventBody) -> Event {
        Event {
            seq,
            agent_id: "p".into(),
            ts: chrono::DateTime::from_timestamp(0, 0).unwrap_or_default(),
            body,
        }
    }

    fn call(seq: u64, id: &str, tool: &str, arguments: Value) -> Event {
        event(
            seq,
            EventBody::ToolCall {
                call_id: id.into(),
                tool: tool.into(),
                arguments,
                read_only: false,
                sandbox: None,
            },
        )
    }

    fn result(seq: u64, id: &str, tool: &str, content: String) -> Event {
        event(
            seq,
            EventBody::ToolResult {
                call_id: id.into(),
                tool: tool.into(),
                success: true,
                content,
                duration_ms: 0,
                truncated_bytes: 0,
                stripped_chars: 0,
                exit_code: None,
                approval_wait_ms: None,
            },
        )
    }

    #[test]
    fn the_log_says_which_children_were_started_and_collected() {
        let report = |id: &str, state| ChildReport::of(id, id, None, state);
        let finished = |id: &str| ChildReport {
            state: ChildState::Finished,
            ..report(id, ChildState::Finished)
        };
        let evs = vec![
            call(
                1,
                "c1",
                DELEGATE,
                json!({"task": "a", "wait": false, "child_id": "A"}),
            ),
            result(
                2,
                "c1",
                DELEGATE,
                serde_json::to_string(&report("A", ChildState::Started)).unwrap(),
            ),
            call(
                3,
                "c2",
                DELEGATE,
                json!({"task": "b", "wait": false, "child_id": "B"}),
            ),
            result(
                4,
                "c2",
                DELEGATE,
                serde_json::to_string(&report("B", ChildState::Started)).unwrap(),
            ),
            call(5, "c3", DELEGATE, json!({"task": "c", "child_id": "C"})),
            result(
                6,
                "c3",
                DELEGATE,
                serde_json::to_string(&finished("C")).unwrap(),
            ),
            call(7, "c4", COLLECT, json!({"child_ids": ["A", "B"]})),
            result(
                8,
                "c4",
                COLLECT,
                serde_json::to_string(&Collected {
                    children: vec![finished("A"), report("B", ChildState::Running)],
                })
                .unwrap(),
            ),
            call(9, "c5", "read_file", json!({"path": "x"})),
            result(
                10,
                "c5",
                "read_file",
                "{\"id\": \"B\", \"name\": \"B\", \"state\": \"finished\"}".into(),
            ),
        ];
        let log = ChildrenLog::of(&evs);
        assert_eq!(log.started, ["A", "B", "C"]);
        assert_eq!(
            log.uncollected(),
            ["B"],
            "B still runs; another tool's text does not count"
        );
    }
}
