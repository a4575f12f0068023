//! The turn loop: what the log says comes next — a model call, a tool call
//! of the latest answer, or nothing — done step by step until the model
//! answers without tool calls, a limit is hit, the user interrupts or
//! something fails. Here too: the model call with its live deltas, how its
//! result becomes stored events, calls interrupted by a restart, and the
//! count of identical failing calls that stops a model going round in
//! circles.

use super::budgets;
use super::failover::{self, Target};
use super::tools::{ToolRun, failed_result};
use super::{Agent, AgentError, Failure, Outcome};
use crate::agent::config::RouterConfig;
use crate::agent::context::{Step, Transcript};
use crate::agent::cost::FailureCounter;
use crate::agent::redact::RedactStream;
use paddock_llm::config::ModelConfig;
use paddock_llm::{ChatMessage, ChatRequest, Completion, StreamNote, ToolCallRequest, ToolDef};
use paddock_plugins::HookPayload;
use paddock_protocol::agent::Tier;
use paddock_protocol::events::ErrorCode;
use paddock_protocol::events::{
    AgentStatus, Event, EventBody, RouteInfo, SkipReason, SkippedTarget,
};
use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// What one run keeps from step to step.
struct Run {
    /// The router choosing each call's model, if the agent names one.
    router: Option<RouterConfig>,
    /// The tools offered to the model.
    tools: Vec<ToolDef>,
    /// Their definitions' size in bytes (part of every prompt).
    tools_bytes: usize,
    /// When the run started.
    started: Instant,
    /// When its wall time runs out, if it is limited.
    deadline: Option<tokio::time::Instant>,
    /// Model calls so far.
    turns: u32,
    /// Consecutive failures of the cheap model.
    failures: FailureCounter,
    /// Identical failing tool calls in a row.
    repeats: RepeatTracker,
}

impl Agent {
    /// Runs the steps the log calls for until the run ends. Errors are
    /// store failures; every other failure is recorded in the log.
    pub(super) async fn steps(
        &self,
        transcript: &mut Transcript,
        token: &CancellationToken,
    ) -> Result<Outcome, AgentError> {
        let limits = &self.config.limits;
        let started = Instant::now();
        let deadline = limits
            .max_wall_time_secs
            .map(|s| tokio::time::Instant::now() + Duration::from_secs(s));
        // A router chooses each call's model; otherwise it is fixed.
        let router = match budgets::router_of(&self.deps.routers, self.config.router.as_deref()) {
            Ok(router) => router,
            Err(failure) => return self.fail(failure).await,
        };
        // A fixed model whose provider is gone fails before anything
        // runs; each call looks its provider up again (providers change
        // while agents run).
        if router.is_none()
            && let Err(failure) = self.resolve_model(&self.config.model)
        {
            return self.fail(failure).await;
        }
        // The agent's environment is ready before anything runs in its
        // sandbox (once per sandbox; a failed setup stops the run).
        if let Some(failure) = self.prepare_environment(token).await? {
            return self.fail(failure).await;
        }
        let tools = self.tool_defs().await;
        let tools_bytes = serde_json::to_string(&tools).map_or(0, |s| s.len());
        let mut run = Run {
            router,
            tools,
            tools_bytes,
            started,
            deadline,
            turns: 0,
            failures: FailureCounter::default(),
            repeats: RepeatTracker::default(),
        };
        loop {
            if token.is_cancelled() {
                return Ok(Outcome::Interrupted);
            }
            // A safe point: the last step is recorded, the next not begun.
            self.handing_over()?;
            if let Some(failure) = budgets::wall_time_exceeded(limits, run.started.elapsed()) {
                return self.fail(failure).await;
            }
            let next = match transcript.next_step() {
                Step::Idle => return Ok(Outcome::Done),
                Step::CallModel => self.model_step(&mut run, transcript, token).await?,
                Step::RunTool {
                    call,
                    started,
                    read_only,
                    gate,
                } => match Resume::of(&call.name, started, read_only)
                    .or_reattach(self.reattaches(&call.name))
                {
                    Resume::Abandon(message) => {
                        // It may or may not have taken effect: never run
                        // it again silently.
                        self.append(restart_note(message.clone())).await?;
                        let e = self.append(failed_result(&call, message)).await?;
                        transcript.push_event(&e.body);
                        ControlFlow::Continue(())
                    }
                    resume => {
                        if let Resume::RunAgain(note) | Resume::Reattach(note) = resume {
                            self.append(restart_note(note)).await?;
                        }
                        let ran = self.run_tool(&call, gate, started, token).await?;
                        self.tool_ended(&mut run, transcript, &call, ran).await?
                    }
                },
            };
            if let ControlFlow::Break(outcome) = next {
                return Ok(outcome);
            }
        }
    }

    /// One model call: its model (the router's choice or the fixed one),
    /// its prompt (masked to fit), the budgets, the call, and what its
    /// result does to the run.
    async fn model_step(
        &self,
        run: &mut Run,
        transcript: &mut Transcript,
        token: &CancellationToken,
    ) -> Result<ControlFlow<Outcome>, AgentError> {
        if let Some(failure) = budgets::turns_exhausted(&self.config.limits, run.turns) {
            return self.fail(failure).await.map(ControlFlow::Break);
        }
        run.turns += 1;
        let (model_ref, route) = match &run.router {
            None => (self.config.model.clone(), None),
            Some(r) => {
                let (tier, info) = self.route(r, transcript, run.failures.settle());
                (budgets::tier_model(r, tier).clone(), Some((tier, info)))
            }
        };
        let (provider, model) = match self.resolve_model(&model_ref) {
            Ok(found) => found,
            Err(failure) => return self.fail(failure).await.map(ControlFlow::Break),
        };
        let budget_tokens =
            budgets::mask_budget(model.context_window, self.deps.defaults.mask_threshold);
        let prepared = transcript.prepare(budget_tokens, run.tools_bytes);
        // Budgets are checked before anything is sent.
        let prompt_tokens = transcript.estimate_tokens(prepared.bytes + run.tools_bytes);
        if let Some(failure) = self
            .check_budgets(&model_ref, &model, prompt_tokens)
            .await?
        {
            return self.fail(failure).await.map(ControlFlow::Break);
        }
        self.set_status(AgentStatus::Thinking, None).await?;
        // Hooks may add notes for this call only (at the end, so the
        // cached prefix stays the same).
        let mut messages = prepared.messages;
        let notes = self
            .hooks_before_model(HookPayload::BeforeModelCall {
                agent_id: self.id.clone(),
                model: model_ref.model.clone(),
                turn: run.turns,
                last_user_message: transcript.last_user_message().unwrap_or_default(),
            })
            .await?;
        messages.extend(
            notes
                .into_iter()
                .map(|content| ChatMessage::System { content }),
        );
        let request = ChatRequest {
            model: model_ref.model.clone(),
            messages,
            tools: run.tools.clone(),
            temperature: self.config.temperature,
            max_tokens: self.config.max_tokens,
            prompt_cache_key: Some(format!("paddock-{}", self.id)),
            // Set for each failover target (`call_model`).
            reasoning: false,
            reasoning_effort: self.config.reasoning_effort,
            verbosity: self.config.verbosity,
        };
        let targets = self.targets(provider, model);
        let result = self
            .call_model(
                &targets,
                request,
                (
                    prepared.tokens_saved,
                    route.as_ref().map(|(_, info)| info.clone()),
                ),
                token,
                run.deadline,
            )
            .await?;
        match result {
            ModelResult::Answer(answer, input_tokens) => {
                if let Some((tier, _)) = &route {
                    run.failures.answered(*tier);
                }
                transcript.calibrate(prepared.bytes + run.tools_bytes, input_tokens);
                transcript.push_event(&answer.body);
                if let EventBody::MessageAssistant {
                    text,
                    tool_calls,
                    finish_reason,
                    ..
                } = &answer.body
                {
                    self.notify_hooks(HookPayload::AfterModelAnswer {
                        agent_id: self.id.clone(),
                        text: text.clone(),
                        tool_calls: tool_calls
                            .iter()
                            .map(|c| self.hook_call(c, &c.arguments))
                            .collect(),
                        finish_reason: finish_reason.clone(),
                    })
                    .await?;
                }
                Ok(ControlFlow::Continue(()))
            }
            ModelResult::Interrupted => Ok(ControlFlow::Break(Outcome::Interrupted)),
            ModelResult::Failed(failure) => match &route {
                Some((tier, info)) if escalates(*tier, &failure) => {
                    // The cheap model's failures escalate to the strong
                    // one rather than end the run.
                    run.failures.call_failed(Tier::Cheap);
                    self.append(escalation_note(
                        &failure,
                        &info.router,
                        &model_ref.model,
                        run.failures.count,
                    ))
                    .await?;
                    Ok(ControlFlow::Continue(()))
                }
                _ => self.fail(failure).await.map(ControlFlow::Break),
            },
        }
    }

    /// After a tool call's step: its result joins the conversation, and a
    /// model that keeps making the same failing call is stopped.
    async fn tool_ended(
        &self,
        run: &mut Run,
        transcript: &mut Transcript,
        call: &ToolCallRequest,
        ran: ToolRun,
    ) -> Result<ControlFlow<Outcome>, AgentError> {
        let (result, failed_with) = match ran {
            ToolRun::Done(result, failed_with) => (result, failed_with),
            ToolRun::Interrupted => return Ok(ControlFlow::Break(Outcome::Interrupted)),
        };
        transcript.push_event(&result.body);
        run.failures.tool_ended(failed_with.is_some());
        match run.repeats.ended(
            call,
            failed_with.as_deref(),
            self.deps.defaults.max_repeated_failures,
        ) {
            Some(failure) => self.fail(failure).await.map(ControlFlow::Break),
            None => Ok(ControlFlow::Continue(())),
        }
    }

    /// Calls the model at the first target that serves, in order: a
    /// target whose circuit is open is passed over (unless it is the
    /// last), one that fails past its retries passes the call on. Deltas
    /// stream live through one redacting stream per kind (answer text and
    /// reasoning summary), which holds back a tail that could be the start
    /// of a secret and lets it out when the answer ends, is interrupted or
    /// — discarded — is retried or failed over. Stores the answer and its
    /// `usage` event (with the tokens masking saved, the route of a routed
    /// call, and the targets that did not serve).
    async fn call_model(
        &self,
        targets: &[Target],
        mut request: ChatRequest,
        (tokens_saved, route): (u64, Option<RouteInfo>),
        token: &CancellationToken,
        deadline: Option<tokio::time::Instant>,
    ) -> Result<ModelResult, AgentError> {
        let started = Instant::now();
        let far = tokio::time::Instant::now() + Duration::from_secs(365 * 24 * 3600);
        let timeout = tokio::time::sleep_until(deadline.unwrap_or(far));
        tokio::pin!(timeout);
        let redactor = self.deps.redactor.current();
        let mut stream = LiveAnswer {
            partial: String::new(),
            text: redactor.stream(),
            reasoning: redactor.stream(),
            // When the first text arrived (time to first token).
            first_text: None,
        };
        let mut skipped = Vec::new();
        for (index, target) in targets.iter().enumerate() {
            if let Some(passed) = failover::passed_over(target, index, targets.len()) {
                tracing::info!(provider = %target.provider.config.name, "failover: circuit open, passed over");
                skipped.push(passed);
                continue;
            }
            request.model.clone_from(&target.model.name);
            // Whether to ask for reasoning is the target's model's own.
            request.reasoning =
                target.model.is_reasoning() || self.config.reasoning_effort.is_some();
            // The provider's first try and its retries.
            let max_attempts = target.provider.config.max_retries.saturating_add(1);
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<StreamNote>();
            let mut on_note = move |n: StreamNote| {
                let _ = tx.send(n);
            };
            // Boxed so that dropping it on interrupt closes the HTTP stream
            // at once, not when this function returns.
            let mut call = Box::pin(target.provider.client.complete(
                &request,
                &self.budget,
                &mut on_note,
            ));
            let result = loop {
                tokio::select! {
                    biased;
                    _ = token.cancelled() => {
                        drop(call);
                        let partial = stream.finish(self);
                        // Keep what the user already saw.
                        if let Some(kept) = interrupted_answer(partial) {
                            self.append(kept).await?;
                        }
                        return Ok(ModelResult::Interrupted);
                    }
                    _ = &mut timeout => {
                        return Ok(ModelResult::Failed(Failure::new(
                            ErrorCode::LimitTime,
                            "the run reached its wall-time limit during a model call".into(),
                        )));
                    }
                    Some(note) = rx.recv() => self.on_note(note, &mut stream, max_attempts).await?,
                    result = call.as_mut() => break result,
                }
            };
            drop(call);
            while let Ok(note) = rx.try_recv() {
                self.on_note(note, &mut stream, max_attempts).await?;
            }
            let completion = match result {
                Ok(c) => c,
                Err(e) => {
                    let passes = failover::fails_over(&e);
                    if passes {
                        target.provider.breaker.failed();
                    }
                    match targets.get(index + 1) {
                        Some(next) if passes => {
                            stream.discard();
                            self.append(failover::failover_note(target, &e, next))
                                .await?;
                            skipped.push(target.skipped(SkipReason::Failed, e.to_string()));
                            continue;
                        }
                        _ => {
                            return Ok(ModelResult::Failed(Failure::new(
                                ErrorCode::ModelFailed,
                                format!("the model call failed: {e}"),
                            )));
                        }
                    }
                }
            };
            target.provider.breaker.succeeded();
            // The held-back tails go out before the answer is stored.
            let first_text = stream.first_text;
            stream.finish(self);
            let answer = self.append(answer_body(&completion)).await?;
            self.append(usage_body(
                &target.provider.config.name,
                &target.model,
                &completion,
                (
                    started.elapsed(),
                    first_text.map(|t| t.duration_since(started)),
                ),
                (tokens_saved, route),
                skipped,
            ))
            .await?;
            return Ok(ModelResult::Answer(answer, completion.usage.input_tokens));
        }
        // Only reached with no target at all, which `targets` never gives.
        Ok(ModelResult::Failed(Failure::new(
            ErrorCode::ModelFailed,
            "the model call failed: no provider could serve it".into(),
        )))
    }

    /// Handles a note of the model stream: a text delta goes into the
    /// answer so far and, through its redacting stream, out to subscribers;
    /// a reasoning delta likewise, as `message.reasoning`; a retry discards
    /// both and is recorded (with the attempt, of `max_attempts`, and the
    /// wait before the next).
    async fn on_note(
        &self,
        note: StreamNote,
        live: &mut LiveAnswer<'_>,
        max_attempts: u32,
    ) -> Result<(), AgentError> {
        match note {
            StreamNote::Delta(text) => {
                live.first_text.get_or_insert_with(Instant::now);
                live.partial.push_str(&text);
                self.delta(live.text.push(&text));
            }
            StreamNote::Reasoning(text) => {
                self.reasoning_delta(live.reasoning.push(&text));
            }
            StreamNote::Retrying {
                attempt,
                wait_ms,
                reason,
            } => {
                live.discard();
                self.append(retry_note(attempt, max_attempts, wait_ms, &reason))
                    .await?;
            }
        }
        Ok(())
    }
}

/// What one model call has streamed live so far.
struct LiveAnswer<'r> {
    /// The answer's text so far (kept if the user interrupts).
    partial: String,
    /// The redacting stream of the text deltas.
    text: RedactStream<'r>,
    /// The redacting stream of the reasoning-summary deltas.
    reasoning: RedactStream<'r>,
    /// When the current attempt's first text arrived.
    first_text: Option<Instant>,
}

impl LiveAnswer<'_> {
    /// An attempt was abandoned (retried or failed over): what it streamed
    /// is dropped, the time to first text starts over.
    fn discard(&mut self) {
        self.partial.clear();
        self.text.discard();
        self.reasoning.discard();
        self.first_text = None;
    }

    /// The answer ended: the held-back tails go out; returns the text.
    fn finish(&mut self, agent: &Agent) -> String {
        agent.reasoning_delta(self.reasoning.finish());
        agent.delta(self.text.finish());
        std::mem::take(&mut self.partial)
    }
}

/// How a model call ended.
enum ModelResult {
    /// The stored answer and the provider's count of prompt tokens.
    Answer(Arc<Event>, u64),
    /// The user interrupted it (what was streamed is stored).
    Interrupted,
    /// It failed; nothing was stored.
    Failed(Failure),
}

/// What to do with a tool call of the latest answer, given whether a
/// `tool.call` was recorded for it before the host stopped.
#[derive(Debug, PartialEq)]
enum Resume {
    /// It never started: run it.
    Fresh,
    /// It started and only reads: note the restart and run it again.
    RunAgain(String),
    /// It started and may have changed something: note the restart and
    /// record it as failed with this message, without running it.
    Abandon(String),
    /// It started and is a delegation tool, whose log records the
    /// sub-agents it started or waits for: note the restart and take the
    /// call up again on them (never starting a second child).
    Reattach(String),
}

impl Resume {
    /// The resumption of call `tool`, `started` before a restart, of a
    /// tool that is `read_only` or not.
    fn of(tool: &str, started: bool, read_only: bool) -> Resume {
        match (started, read_only) {
            (false, _) => Resume::Fresh,
            (true, true) => Resume::RunAgain(format!(
                "the host restarted while `{tool}` was running; running this read-only call again"
            )),
            (true, false) => Resume::Abandon(format!(
                "the host restarted while `{tool}` was running; it may or may not have taken effect. \
                 Check its effects before calling it again."
            )),
        }
    }
}

impl Resume {
    /// The same, for a call whose tool re-attaches to what its log
    /// recorded (`reattach`: a delegation tool) when it had started.
    fn or_reattach(self, reattach: bool) -> Resume {
        match self {
            Resume::RunAgain(_) | Resume::Abandon(_) if reattach => Resume::Reattach(
                "the host restarted during this delegation call; taking it up again with the sub-agents its log recorded".into(),
            ),
            other => other,
        }
    }
}

/// The recoverable `error` event saying that the host restarted mid-call.
fn restart_note(message: String) -> EventBody {
    EventBody::Error {
        code: ErrorCode::HostRestarted,
        message,
        recoverable: true,
        attempt: None,
        max_attempts: None,
        retry_in_ms: None,
    }
}

/// Whether a failed model call of `tier` escalates to the strong model
/// instead of ending the run: only a cheap model's call failure does (a
/// limit reached during the call still ends it).
fn escalates(tier: Tier, failure: &Failure) -> bool {
    tier == Tier::Cheap && failure.code == ErrorCode::ModelFailed
}

/// The recoverable `error` event of a cheap model's failure that the next
/// call escalates, with its router, model and failures in a row.
fn escalation_note(failure: &Failure, router: &str, model: &str, count: u32) -> EventBody {
    EventBody::Error {
        code: ErrorCode::ModelFailed,
        message: format!(
            "{} (router `{router}`: cheap model `{model}`, {count} failure(s) in a row)",
            failure.message
        ),
        recoverable: true,
        attempt: None,
        max_attempts: None,
        retry_in_ms: None,
    }
}

/// The recoverable `error` event of a model attempt the client retries:
/// attempt `attempt` of `max_attempts` failed, the next starts in
/// `wait_ms`.
fn retry_note(attempt: u32, max_attempts: u32, wait_ms: u64, reason: &str) -> EventBody {
    EventBody::Error {
        code: ErrorCode::ModelRetry,
        message: format!(
            "model attempt {attempt} of {max_attempts} failed ({reason}); retrying in {wait_ms} ms (text streamed so far is discarded)"
        ),
        recoverable: true,
        attempt: Some(attempt),
        max_attempts: Some(max_attempts),
        retry_in_ms: Some(wait_ms),
    }
}

/// What an interrupted answer leaves: the text streamed so far, if any.
fn interrupted_answer(partial: String) -> Option<EventBody> {
    (!partial.is_empty()).then_some(EventBody::MessageAssistant {
        text: Some(partial),
        tool_calls: Vec::new(),
        finish_reason: "interrupted".into(),
        reasoning: Vec::new(),
    })
}

/// The stored answer of a completed model call.
fn answer_body(completion: &Completion) -> EventBody {
    EventBody::MessageAssistant {
        text: completion.content.clone(),
        tool_calls: completion.tool_calls.clone(),
        finish_reason: completion.finish_reason.as_str().to_string(),
        reasoning: completion.reasoning.clone(),
    }
}

/// The `usage` event of a completed call to `model` (its name is the one
/// sent) of `provider`: its tokens, its cost (0, and not known, without a
/// price), its `(duration, time to first text)`, the `(tokens masking
/// saved, route)`, and the failover targets that did not serve it.
fn usage_body(
    provider: &str,
    model: &ModelConfig,
    completion: &Completion,
    (duration, first_text): (Duration, Option<Duration>),
    (tokens_saved, route): (u64, Option<RouteInfo>),
    failover: Vec<SkippedTarget>,
) -> EventBody {
    let cost = model.cost(&completion.usage);
    EventBody::Usage {
        provider: provider.to_string(),
        model: model.name.clone(),
        input_tokens: completion.usage.input_tokens,
        output_tokens: completion.usage.output_tokens,
        cached_tokens: completion.usage.cached_tokens,
        reasoning_tokens: completion.usage.reasoning_tokens,
        cost_usd: cost.unwrap_or(0.0),
        price_known: cost.is_some(),
        duration_ms: duration.as_millis() as u64,
        ttft_ms: first_text.map(|t| t.as_millis() as u64),
        attempts: completion.attempts,
        masked_tokens_saved: tokens_saved,
        route,
        failover,
    }
}

/// Counts identical failing calls in a row.
#[derive(Default)]
struct RepeatTracker {
    last: Option<(String, String)>,
    count: u32,
}

impl RepeatTracker {
    /// Records a failed call; returns how many identical failures in a row.
    fn failed(&mut self, call: &ToolCallRequest) -> u32 {
        let key = (call.name.clone(), canonical(&call.arguments));
        if self.last.as_ref() == Some(&key) {
            self.count += 1;
        } else {
            self.last = Some(key);
            self.count = 1;
        }
        self.count
    }

    fn succeeded(&mut self) {
        self.last = None;
        self.count = 0;
    }

    /// Records how `call` ended (`failed_with` its message when it failed);
    /// the failure that stops the run when it failed identically `max`
    /// times in a row.
    fn ended(
        &mut self,
        call: &ToolCallRequest,
        failed_with: Option<&str>,
        max: u32,
    ) -> Option<Failure> {
        let Some(message) = failed_with else {
            self.succeeded();
            return None;
        };
        (self.failed(call) >= max).then(|| {
            Failure::new(
                ErrorCode::RepeatedToolFailure,
                format!(
                    "the model called `{}` with the same arguments {} times in a row and it failed each time ({message}); stopping",
                    call.name, self.count
                ),
            )
        })
    }
}

/// Arguments in a canonical form (sorted keys), or as sent if not JSON.
fn canonical(arguments: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(arguments) {
        Ok(v) => v.to_string(),
        Err(_) => arguments.trim().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::ModelRef;
    use paddock_llm::{FinishReason, TokenUsage};

    fn call(name: &str, args: &str) -> ToolCallRequest {
        ToolCallRequest {
            id: "x".into(),
            name: name.into(),
            arguments: args.into(),
        }
    }

    #[test]
    fn repeats_count_identical_failures_in_a_row() {
        let call = |args: &str| call("read_file", args);
        let mut r = RepeatTracker::default();
        assert_eq!(r.failed(&call(r#"{"path":"a","n":1}"#)), 1);
        assert_eq!(
            r.failed(&call(r#"{"n":1, "path":"a"}"#)),
            2,
            "same arguments, other order"
        );
        assert_eq!(r.failed(&call(r#"{"path":"b"}"#)), 1);
        r.succeeded();
        assert_eq!(r.failed(&call(r#"{"path":"b"}"#)), 1);
    }

    #[test]
    fn a_run_stops_exactly_at_the_repeat_limit() {
        let same = call("write_file", r#"{"path":"a"}"#);
        let mut r = RepeatTracker::default();
        assert_eq!(r.ended(&same, Some("denied"), 3), None);
        assert_eq!(r.ended(&same, Some("denied"), 3), None);
        let stop = r.ended(&same, Some("denied"), 3);
        assert_eq!(
            stop,
            Some(Failure::new(
                ErrorCode::RepeatedToolFailure,
                "the model called `write_file` with the same arguments 3 times in a row and it failed each time (denied); stopping".into()
            ))
        );
    }

    #[test]
    fn a_success_or_another_call_breaks_the_streak() {
        let a = call("bash", r#"{"command":"make"}"#);
        let mut r = RepeatTracker::default();
        assert_eq!(r.ended(&a, Some("exit 2"), 2), None);
        assert_eq!(r.ended(&a, None, 2), None, "a success");
        assert_eq!(r.ended(&a, Some("exit 2"), 2), None, "counts from 1 again");
        assert_eq!(
            r.ended(&call("bash", r#"{"command":"make test"}"#), Some("x"), 2),
            None,
            "other arguments"
        );
        assert_eq!(
            r.ended(&call("sh", r#"{"command":"make test"}"#), Some("x"), 2),
            None,
            "another tool with the same arguments"
        );
        assert!(
            r.ended(&call("sh", r#"{"command":"make test"}"#), Some("x"), 2)
                .is_some()
        );
    }

    #[test]
    fn a_limit_of_one_stops_at_the_first_failure() {
        let mut r = RepeatTracker::default();
        let stop = r.ended(&call("t", "{}"), Some("boom"), 1);
        assert!(
            stop.is_some_and(|f| f.message.contains("1 times in a row")),
            "stops at once"
        );
    }

    #[test]
    fn canonical_arguments_sort_keys_and_keep_what_is_not_json() {
        assert_eq!(
            canonical(r#"{ "b": [1, 2], "a": {"d": 1, "c": 2} }"#),
            r#"{"a":{"c":2,"d":1},"b":[1,2]}"#
        );
        assert_eq!(canonical("  not json  "), "not json");
        assert_eq!(canonical(r#""a string""#), r#""a string""#);
        assert_ne!(
            canonical(r#"{"n": 1}"#),
            canonical(r#"{"n": "1"}"#),
            "a number is not its text"
        );
    }

    #[test]
    fn calls_cut_short_by_a_restart_run_again_only_when_they_only_read() {
        assert_eq!(Resume::of("read_file", false, false), Resume::Fresh);
        assert_eq!(Resume::of("read_file", false, true), Resume::Fresh);
        assert_eq!(
            Resume::of("read_file", true, true),
            Resume::RunAgain(
                "the host restarted while `read_file` was running; running this read-only call again"
                    .into()
            )
        );
        let Resume::Abandon(m) = Resume::of("bash", true, false) else {
            panic!("a call that may write is not run again");
        };
        assert!(
            m.starts_with(
                "the host restarted while `bash` was running; it may or may not have taken effect."
            ),
            "{m}"
        );
        let EventBody::Error {
            code, recoverable, ..
        } = restart_note(m)
        else {
            panic!("not an error event");
        };
        assert_eq!((code.as_str(), recoverable), ("host_restarted", true));
    }

    #[test]
    fn a_started_delegation_call_reattaches_instead_of_being_abandoned() {
        assert_eq!(
            Resume::of("delegate", false, false).or_reattach(true),
            Resume::Fresh
        );
        assert!(matches!(
            Resume::of("delegate", true, false).or_reattach(true),
            Resume::Reattach(_)
        ));
        assert!(matches!(
            Resume::of("collect", true, true).or_reattach(true),
            Resume::Reattach(_)
        ));
        assert!(matches!(
            Resume::of("bash", true, false).or_reattach(false),
            Resume::Abandon(_)
        ));
    }

    #[test]
    fn only_a_cheap_model_call_failure_escalates() {
        let failed = Failure::new(ErrorCode::ModelFailed, "the model call failed: 500".into());
        let late = Failure::new(ErrorCode::LimitTime, "wall time".into());
        assert!(escalates(Tier::Cheap, &failed));
        assert!(
            !escalates(Tier::Strong, &failed),
            "the strong model has no fallback"
        );
        assert!(!escalates(Tier::Cheap, &late), "a limit ends the run");
        assert_eq!(
            escalation_note(&failed, "r", "mini", 2),
            EventBody::Error {
                code: ErrorCode::ModelFailed,
                message: "the model call failed: 500 (router `r`: cheap model `mini`, 2 failure(s) in a row)".into(),
                recoverable: true,
                attempt: None,
                max_attempts: None,
                retry_in_ms: None,
            }
        );
    }

    #[test]
    fn an_interrupted_answer_keeps_only_text_the_user_saw() {
        assert_eq!(interrupted_answer(String::new()), None);
        assert_eq!(
            interrupted_answer("Let me".into()),
            Some(EventBody::MessageAssistant {
                text: Some("Let me".into()),
                tool_calls: Vec::new(),
                finish_reason: "interrupted".into(),
                reasoning: Vec::new(),
            })
        );
    }

    #[test]
    fn a_retry_is_recorded_as_recoverable() {
        assert_eq!(
            retry_note(2, 4, 750, "HTTP 503"),
            EventBody::Error {
                code: ErrorCode::ModelRetry,
                message: "model attempt 2 of 4 failed (HTTP 503); retrying in 750 ms (text streamed so far is discarded)".into(),
                recoverable: true,
                attempt: Some(2),
                max_attempts: Some(4),
                retry_in_ms: Some(750),
            }
        );
    }

    #[test]
    fn an_abandoned_attempt_drops_what_it_streamed() {
        let redactor = crate::agent::redact::Redactor::with_values(Vec::new()).current();
        let mut live = LiveAnswer {
            partial: "Hel".into(),
            text: redactor.stream(),
            reasoning: redactor.stream(),
            first_text: Some(Instant::now()),
        };
        assert_eq!(live.text.push("Hello there, "), "Hello there, ");
        live.discard();
        assert_eq!(live.partial, "");
        assert_eq!(live.first_text, None, "the time to first text starts over");
    }

    fn completion() -> Completion {
        Completion {
            content: Some("done".into()),
            tool_calls: vec![call("read_file", r#"{"path":"a"}"#)],
            reasoning: vec![paddock_protocol::llm::ReasoningItem {
                id: "rs_1".into(),
                summary: vec!["Reading a first.".into()],
                encrypted_content: Some("opaque".into()),
            }],
            finish_reason: FinishReason::ToolCalls,
            usage: TokenUsage {
                input_tokens: 1_000_000,
                output_tokens: 500_000,
                cached_tokens: 0,
                reasoning_tokens: 200_000,
            },
            attempts: 2,
        }
    }

    #[test]
    fn a_completion_becomes_its_answer_and_usage() {
        let c = completion();
        assert_eq!(
            answer_body(&c),
            EventBody::MessageAssistant {
                text: Some("done".into()),
                tool_calls: c.tool_calls.clone(),
                finish_reason: "tool_calls".into(),
                reasoning: c.reasoning.clone(),
            }
        );
        let priced = ModelConfig {
            input_per_mtok: Some(2.0),
            output_per_mtok: Some(8.0),
            ..ModelConfig::named("house-model")
        };
        let route = RouteInfo {
            router: "r".into(),
            tier: Tier::Cheap,
            reason: "first call".into(),
            strong: ModelRef {
                provider: "p".into(),
                model: "big".into(),
            },
        };
        let skipped = vec![SkippedTarget {
            provider: "primary".into(),
            model: "house-model".into(),
            why: SkipReason::Failed,
            message: "HTTP 500".into(),
        }];
        let usage = usage_body(
            "p",
            &priced,
            &c,
            (Duration::from_millis(1500), Some(Duration::from_millis(40))),
            (123, Some(route.clone())),
            skipped.clone(),
        );
        assert_eq!(
            usage,
            EventBody::Usage {
                provider: "p".into(),
                model: "house-model".into(),
                input_tokens: 1_000_000,
                output_tokens: 500_000,
                cached_tokens: 0,
                cost_usd: 6.0,
                price_known: true,
                duration_ms: 1500,
                ttft_ms: Some(40),
                attempts: 2,
                masked_tokens_saved: 123,
                route: Some(route),
                reasoning_tokens: 200_000,
                failover: skipped,
            }
        );
    }

    #[test]
    fn a_model_without_a_price_costs_nothing_known() {
        let usage = usage_body(
            "p",
            &ModelConfig::named("house-model"),
            &completion(),
            (Duration::ZERO, None),
            (0, None),
            Vec::new(),
        );
        let EventBody::Usage {
            cost_usd,
            price_known,
            ttft_ms,
            ..
        } = usage
        else {
            panic!("not a usage event");
        };
        assert_eq!((cost_usd, price_known, ttft_ms), (0.0, false, None));
    }
}
