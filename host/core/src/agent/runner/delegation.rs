//! The agent's side of delegation: running the built-in `delegate` and
//! `collect` calls once the policy let them — the limits (live children,
//! restricted templates), the child's id recorded in the call's
//! `tool.call` before the child is made, the child made through the
//! manager ([`Delegator`]), and the wait for children's runs through
//! their logs (`outcome::await_run`), which an interrupt of the parent
//! ends. After a restart a started call is taken up again with the
//! children its `tool.call` recorded: none is made twice.

use super::tools::{Builtin, ToolRun};
use super::{Agent, AgentError};
use crate::agent::delegate::{
    self, CHILD_ID, CHILD_IDS, ChildReport, ChildState, ChildrenLog, Collected, Delegator, WaitFor,
};
use crate::agent::outcome::{RunOutcome, await_run};
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use paddock_llm::ToolCallRequest;
use paddock_protocol::events::{AgentStatus, Event, EventBody};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Most bytes of one child's report in a result (its answer is cut).
const REPORT_BYTES: usize = 16 * 1024;

/// How a wait for children ended.
enum Waited {
    /// Each child's outcome (None: still running; `Some(None)`: its log is
    /// gone).
    Done(Vec<Option<Option<RunOutcome>>>),
    /// The parent was interrupted.
    Interrupted,
}

impl Agent {
    /// Whether a started call of tool `name` re-attaches after a restart
    /// (a delegation tool of an agent that may delegate).
    pub(super) fn reattaches(&self, name: &str) -> bool {
        self.config.delegation.is_some() && Builtin::named(name).is_some()
    }

    /// Runs a built-in call whose `arguments` were checked and that the
    /// policy let through; `started` when its `tool.call` was recorded
    /// before a restart.
    pub(super) async fn run_builtin(
        &self,
        call: &ToolCallRequest,
        builtin: Builtin,
        arguments: &Value,
        started: bool,
        token: &CancellationToken,
    ) -> Result<ToolRun, AgentError> {
        let recorded = if started {
            self.recorded_arguments(&call.id).await?
        } else {
            None
        };
        match builtin {
            Builtin::Delegate => self.delegate(call, arguments, recorded, token).await,
            Builtin::Collect => self.collect(call, arguments, recorded, token).await,
        }
    }

    /// The arguments the `tool.call` of `call_id` recorded, if there is one.
    async fn recorded_arguments(&self, call_id: &str) -> Result<Option<Value>, AgentError> {
        let events = self.log_events().await?;
        Ok(events.into_iter().rev().find_map(|e| match &e.body {
            EventBody::ToolCall {
                call_id: id,
                arguments,
                ..
            } if id == call_id => Some(arguments.clone()),
            _ => None,
        }))
    }

    /// Its whole stored log.
    async fn log_events(&self) -> Result<Vec<Event>, AgentError> {
        let mut all = Vec::new();
        let mut after = 0;
        loop {
            let page = self.deps.store.events_after(&self.id, after, 1000).await?;
            let Some(last) = page.last().map(|e| e.seq) else {
                return Ok(all);
            };
            after = last;
            all.extend(page);
        }
    }

    /// The manager, through which children are made.
    fn delegator(&self) -> Option<Arc<dyn Delegator>> {
        self.deps.delegator.get().and_then(std::sync::Weak::upgrade)
    }

    /// `delegate`: checks the limits, records the child's id, makes the
    /// child, and waits for its run (or returns its id).
    async fn delegate(
        &self,
        call: &ToolCallRequest,
        arguments: &Value,
        recorded: Option<Value>,
        token: &CancellationToken,
    ) -> Result<ToolRun, AgentError> {
        let args = match delegate::parse_delegate(arguments) {
            Ok(args) => args,
            Err(e) => return self.refuse(call, e).await,
        };
        let Some(delegation) = self.config.delegation.clone() else {
            return self
                .refuse(call, "this agent may not delegate".into())
                .await;
        };
        let Some(delegator) = self.delegator() else {
            return self
                .refuse(
                    call,
                    "not started: this host cannot start sub-agents now".into(),
                )
                .await;
        };
        let child_id = match recorded.as_ref().and_then(delegate::recorded_child) {
            // Resumed: the child recorded before the restart.
            Some(id) => id,
            None => {
                if let Err(e) = delegate::check_template(
                    &delegation,
                    args.template.as_deref(),
                    args.config.is_some(),
                ) {
                    return self.refuse(call, e).await;
                }
                let live = delegate::live_children(&self.deps.store, &self.id).await?;
                if let Err(e) = delegate::check_children(&delegation, live) {
                    return self.refuse(call, e).await;
                }
                let id = uuid::Uuid::new_v4().to_string();
                self.set_status(AgentStatus::ExecutingTool, None).await?;
                // The child is in the log before it exists.
                self.append(EventBody::ToolCall {
                    call_id: call.id.clone(),
                    tool: call.name.clone(),
                    arguments: delegate::with_recorded(arguments, CHILD_ID, json!(id)),
                    read_only: false,
                    sandbox: None,
                })
                .await?;
                id
            }
        };
        self.set_status(AgentStatus::ExecutingTool, None).await?;
        let started = Instant::now();
        let spawned = match delegator
            .spawn(&self.id, &self.config, &child_id, &args)
            .await
        {
            Ok(s) => s,
            Err(e) => {
                return self
                    .finish(call, false, format!("not started: {e}"), started)
                    .await;
            }
        };
        if !args.wait {
            let report = ChildReport::of(&child_id, &spawned.name, None, ChildState::Started);
            return self.finish(call, true, to_json(&report), started).await;
        }
        let ids = [child_id.clone()];
        let outcomes = match self.wait_for(&ids, WaitFor::All, None, token).await? {
            Waited::Done(o) => o,
            Waited::Interrupted => return Ok(ToolRun::Interrupted),
        };
        let (report, success) = match outcomes.into_iter().next().flatten() {
            Some(outcome) => report_of(&child_id, &spawned.name, outcome),
            // Its task is not in its log (yet): nothing to wait on.
            None => (
                ChildReport::of(&child_id, &spawned.name, None, ChildState::Running),
                false,
            ),
        };
        self.finish(call, success, to_json(&report), started).await
    }

    /// `collect`: the children named (or every uncollected one), recorded,
    /// then waited for as asked.
    async fn collect(
        &self,
        call: &ToolCallRequest,
        arguments: &Value,
        recorded: Option<Value>,
        token: &CancellationToken,
    ) -> Result<ToolRun, AgentError> {
        let args = match delegate::parse_collect(arguments) {
            Ok(args) => args,
            Err(e) => return self.refuse(call, e).await,
        };
        let ids = match recorded.as_ref().and_then(delegate::recorded_children) {
            Some(ids) => ids,
            None => {
                let ids =
                    match &args.children {
                        Some(named) => {
                            for (i, id) in named.iter().enumerate() {
                                let mine =
                                    self.deps.store.get_agent(id).await?.is_some_and(|r| {
                                        r.config.parent.as_deref() == Some(&self.id)
                                    });
                                if !mine {
                                    return self
                                    .refuse(
                                        call,
                                        format!(
                                            "children[{i}]: `{id}` is not a sub-agent of this agent"
                                        ),
                                    )
                                    .await;
                                }
                            }
                            named.clone()
                        }
                        None => ChildrenLog::of(&self.log_events().await?).uncollected(),
                    };
                if ids.is_empty() {
                    return self
                        .refuse(
                            call,
                            "nothing to collect: every sub-agent's result was collected already (or none was started)".into(),
                        )
                        .await;
                }
                self.set_status(AgentStatus::ExecutingTool, None).await?;
                self.append(EventBody::ToolCall {
                    call_id: call.id.clone(),
                    tool: call.name.clone(),
                    arguments: delegate::with_recorded(arguments, CHILD_IDS, json!(ids)),
                    read_only: true,
                    sandbox: None,
                })
                .await?;
                ids
            }
        };
        self.set_status(AgentStatus::ExecutingTool, None).await?;
        let started = Instant::now();
        let timeout = args.timeout_secs.map(Duration::from_secs);
        let outcomes = match self.wait_for(&ids, args.wait, timeout, token).await? {
            Waited::Done(o) => o,
            Waited::Interrupted => return Ok(ToolRun::Interrupted),
        };
        let mut children = Vec::new();
        for (id, outcome) in ids.iter().zip(outcomes) {
            let name = self
                .deps
                .store
                .get_agent(id)
                .await?
                .map_or_else(|| id.clone(), |r| r.name);
            let report = match outcome {
                None => ChildReport::of(id, &name, None, ChildState::Running),
                Some(o) => report_of(id, &name, o).0,
            };
            children.push(report);
        }
        self.finish(call, true, to_json(&Collected { children }), started)
            .await
    }

    /// Waits for the runs of the children `ids` (each from its task) until
    /// all or any have ended, `timeout` passes, or the parent is
    /// interrupted.
    async fn wait_for(
        &self,
        ids: &[String],
        wait: WaitFor,
        timeout: Option<Duration>,
        token: &CancellationToken,
    ) -> Result<Waited, AgentError> {
        let store = &self.deps.store;
        let mut outcomes: Vec<Option<Option<RunOutcome>>> = vec![None; ids.len()];
        let mut pending = FuturesUnordered::new();
        for (i, id) in ids.iter().enumerate() {
            let Some(after) = delegate::task_seq(store, id).await? else {
                // No task (the child's log is gone, or never had one).
                if store.get_agent(id).await?.is_none() {
                    outcomes[i] = Some(None);
                }
                continue;
            };
            let bus = self.deps.bus.clone();
            let store = store.clone();
            let id = id.clone();
            pending.push(async move { (i, await_run(&store, &bus, &id, after).await) });
        }
        let far = tokio::time::Instant::now() + Duration::from_secs(365 * 24 * 3600);
        let deadline = timeout.map_or(far, |t| tokio::time::Instant::now() + t);
        let sleep = tokio::time::sleep_until(deadline);
        tokio::pin!(sleep);
        loop {
            let done = outcomes.iter().filter(|o| o.is_some()).count();
            if done == ids.len() || (wait == WaitFor::Any && done > 0) || pending.is_empty() {
                return Ok(Waited::Done(outcomes));
            }
            tokio::select! {
                biased;
                _ = token.cancelled() => return Ok(Waited::Interrupted),
                _ = &mut sleep => return Ok(Waited::Done(outcomes)),
                next = pending.next() => match next {
                    Some((i, outcome)) => outcomes[i] = Some(outcome?),
                    None => return Ok(Waited::Done(outcomes)),
                },
            }
        }
    }

    /// Stores the result of a delegation call that ran since `started`.
    async fn finish(
        &self,
        call: &ToolCallRequest,
        success: bool,
        content: String,
        started: Instant,
    ) -> Result<ToolRun, AgentError> {
        let failed_with = (!success).then(|| content.clone());
        let event = self
            .append(EventBody::ToolResult {
                call_id: call.id.clone(),
                tool: call.name.clone(),
                success,
                content,
                duration_ms: started.elapsed().as_millis() as u64,
                truncated_bytes: 0,
                stripped_chars: 0,
                exit_code: None,
                approval_wait_ms: None,
            })
            .await?;
        Ok(ToolRun::Done(event, failed_with))
    }
}

/// The report of a child whose wait ended with `outcome` (`None`: its log
/// is gone), and whether its run succeeded.
fn report_of(id: &str, name: &str, outcome: Option<RunOutcome>) -> (ChildReport, bool) {
    match outcome {
        Some(o) => {
            let mut report = ChildReport::of(id, name, Some(&o), ChildState::Finished);
            if let Some(text) = &mut report.report {
                cut(text, REPORT_BYTES);
            }
            (report, o.succeeded())
        }
        None => (ChildReport::of(id, name, None, ChildState::Gone), false),
    }
}

/// Cuts `text` to at most `max` bytes (at a character boundary), saying so.
fn cut(text: &mut String, max: usize) {
    if text.len() <= max {
        return;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let cut = text.len() - end;
    text.truncate(end);
    text.push_str(&format!("\n[… {cut} more bytes cut]"));
}

/// A report as the JSON text of a result.
fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value)
        .unwrap_or_else(|e| format!("(the report could not be written: {e})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_report_is_cut_at_a_character_boundary() {
        let mut s = "é".repeat(10);
        cut(&mut s, 5);
        assert!(s.starts_with("éé\n[… 16 more bytes cut]"), "{s}");
        let mut short = "fine".to_string();
        cut(&mut short, 5);
        assert_eq!(short, "fine");
    }

    #[test]
    fn a_gone_child_is_a_failed_report() {
        let (r, ok) = report_of("a", "n", None);
        assert_eq!((r.state, ok), (ChildState::Gone, false));
    }
}
