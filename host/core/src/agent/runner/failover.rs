//! Failover: where a model call may go — the model's own provider, then
//! the failover targets its configuration names, in order — which failures
//! pass the call on, which targets a circuit breaker passes over, and what
//! the log says about each.

use super::{Agent, Provider};
use paddock_llm::LlmError;
use paddock_llm::config::ModelConfig;
use paddock_protocol::agent::ModelRef;
use paddock_protocol::events::{ErrorCode, EventBody, SkipReason, SkippedTarget};
use std::sync::Arc;

/// One place that may serve a call: a provider and the model's entry there.
pub(super) struct Target {
    /// The provider (looked up for this call).
    pub provider: Arc<Provider>,
    /// The model there (its name is the one sent).
    pub model: ModelConfig,
}

impl Target {
    /// What a `usage` event says of this target when it did not serve.
    pub fn skipped(&self, why: SkipReason, message: String) -> SkippedTarget {
        SkippedTarget {
            provider: self.provider.config.name.clone(),
            model: self.model.name.clone(),
            why,
            message,
        }
    }

    fn describe(&self) -> String {
        format!(
            "provider `{}` (model `{}`)",
            self.provider.config.name, self.model.name
        )
    }
}

impl Agent {
    /// The targets of a call to `model` at `provider`: that one first, then
    /// each of the model's failover targets whose provider is configured
    /// (the configuration's check refuses unknown ones at start).
    pub(super) fn targets(&self, provider: Arc<Provider>, model: ModelConfig) -> Vec<Target> {
        let refs: Vec<ModelRef> = model.failover_refs().collect();
        let mut out = Vec::with_capacity(1 + refs.len());
        out.push(Target { provider, model });
        for m in refs {
            match self.resolve_model(&m) {
                Ok((provider, model)) => out.push(Target { provider, model }),
                Err(failure) => {
                    tracing::warn!(provider = %m.provider, "failover target skipped: {}", failure.message);
                }
            }
        }
        out
    }
}

/// Whether a failed call passes on to the next target: when the target
/// itself is the trouble — it failed past its retries (or the agent's retry
/// budget), or refused the key or the model (401, 403, 404). A request
/// the provider finds malformed would fail anywhere, and does not.
pub(super) fn fails_over(e: &LlmError) -> bool {
    match e {
        LlmError::RetriesExhausted { .. } | LlmError::BudgetExhausted { .. } => true,
        LlmError::Rejected { status, .. } => matches!(status, 401 | 403 | 404),
        _ => false,
    }
}

/// The recoverable `error` event of a target that failed, naming the next.
pub(super) fn failover_note(from: &Target, error: &LlmError, to: &Target) -> EventBody {
    EventBody::Error {
        code: ErrorCode::ModelFailover,
        message: format!(
            "{} failed ({error}); the call goes to {} (text streamed so far is discarded)",
            from.describe(),
            to.describe()
        ),
        recoverable: true,
        attempt: None,
        max_attempts: None,
        retry_in_ms: None,
    }
}

/// Whether target `index` of `count` is passed over because its circuit
/// is open: never the last one, which is always tried (a call with every
/// circuit open still gets an answer when one has recovered).
pub(super) fn passed_over(target: &Target, index: usize, count: usize) -> Option<SkippedTarget> {
    if index + 1 == count {
        return None;
    }
    target
        .provider
        .breaker
        .check()
        .err()
        .map(|open| target.skipped(SkipReason::CircuitOpen, open.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use paddock_llm::config::ProviderConfig;

    fn provider(name: &str, breaker_failures: u32) -> Provider {
        let mut config = ProviderConfig::new(name, "http://127.0.0.1:9/v1", None);
        config.breaker_failures = breaker_failures;
        Provider::new(&config).unwrap()
    }

    #[test]
    fn which_failures_pass_the_call_on() {
        let exhausted = LlmError::RetriesExhausted {
            provider: "p".into(),
            attempts: 3,
            max_retries: 2,
            last: "HTTP 500".into(),
        };
        assert!(fails_over(&exhausted));
        assert!(fails_over(&LlmError::BudgetExhausted {
            provider: "p".into(),
            attempts: 2,
            last: "HTTP 429".into(),
        }));
        for (status, passes) in [
            (401, true),
            (403, true),
            (404, true),
            (400, false),
            (422, false),
        ] {
            let e = LlmError::Rejected {
                provider: "p".into(),
                status,
                message: "no".into(),
                attempts: 1,
            };
            assert_eq!(fails_over(&e), passes, "{status}");
        }
        assert!(!fails_over(&LlmError::Protocol {
            provider: "p".into(),
            message: "bad".into(),
            attempts: 1,
        }));
    }

    #[test]
    fn an_open_circuit_passes_a_target_over_unless_it_is_the_last() {
        let (a, b) = (Arc::new(provider("a", 1)), Arc::new(provider("b", 1)));
        let ta = Target {
            provider: a.clone(),
            model: ModelConfig::named("m"),
        };
        let tb = Target {
            provider: b.clone(),
            model: ModelConfig::named("m-eu"),
        };
        assert_eq!(passed_over(&ta, 0, 2), None);
        a.breaker.failed();
        let skipped = passed_over(&ta, 0, 2).unwrap();
        assert_eq!(skipped.why, SkipReason::CircuitOpen);
        assert_eq!(
            (skipped.provider.as_str(), skipped.model.as_str()),
            ("a", "m")
        );
        assert!(
            skipped.message.contains("circuit is open"),
            "{}",
            skipped.message
        );
        b.breaker.failed();
        assert_eq!(
            passed_over(&tb, 1, 2),
            None,
            "the last target is always tried"
        );
        let e = LlmError::RetriesExhausted {
            provider: "a".into(),
            attempts: 2,
            max_retries: 1,
            last: "HTTP 500".into(),
        };
        let EventBody::Error {
            code,
            message,
            recoverable,
            ..
        } = failover_note(&ta, &e, &tb)
        else {
            panic!("not an error event");
        };
        assert_eq!(code, ErrorCode::ModelFailover);
        assert!(recoverable);
        assert!(
            message.contains("provider `a` (model `m`) failed")
                && message.contains("goes to provider `b` (model `m-eu`)"),
            "{message}"
        );
    }
}
