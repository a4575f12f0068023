//! `assessor-probe`: a test risk assessor whose behaviour the call's input
//! chooses, so the host's assessor calls can be checked end to end. It is
//! never installed by default.
//!
//! The input field `"probe"` says what to do:
//! - `"trap"`: panics (the host must contain the trap and ask);
//! - `"hang"`: loops forever (the host must stop it at its deadline);
//! - `"alloc"`: allocates until it runs out of memory (a trap);
//! - `"slow"` with `"ms": N`: busy-waits N milliseconds, then allows (low)
//!   with the reason `probe: slow`;
//! - `"deny"`, `"ask"`, `"allow"`, with an optional `"level"` (`low`,
//!   `medium`, `high`, `critical`; by default high for deny, medium for ask,
//!   low for allow): that verdict, with the reason `probe: <verb>`;
//! - absent: low/allow with the reason `probe: nothing to say`;
//! - anything else: medium/ask with the reason `probe: unknown probe "…"`.

use paddock_sdk::assessor::{Action, Assessment, Level, ToolCall};
use serde_json::Value;

/// The probe's verdict on `call` (or its fault).
pub fn assess(call: &ToolCall) -> Assessment {
    let Some(probe) = call.input.get("probe") else {
        return Assessment::allow("probe: nothing to say");
    };
    match probe.as_str() {
        Some("trap") => panic!("assessor-probe: trap requested"),
        Some("hang") => spin(),
        Some("alloc") => alloc(),
        Some("slow") => {
            let ms = call.input.get("ms").and_then(Value::as_u64).unwrap_or(0);
            busy_wait(ms);
            Assessment::allow("probe: slow")
        }
        Some(verb @ ("deny" | "ask" | "allow")) => {
            let (action, default) = match verb {
                "deny" => (Action::Deny, Level::High),
                "ask" => (Action::Ask, Level::Medium),
                _ => (Action::Allow, Level::Low),
            };
            let level = call
                .str_field("level")
                .and_then(|l| l.parse().ok())
                .unwrap_or(default);
            Assessment::new(level, action, format!("probe: {verb}"))
        }
        _ => Assessment::ask(Level::Medium, format!("probe: unknown probe {probe}")),
    }
}

paddock_sdk::export_assessor!(assess);

/// Never returns and never calls the host: only an epoch deadline stops it.
fn spin() -> ! {
    let mut counter: u64 = 0;
    loop {
        counter = std::hint::black_box(counter.wrapping_add(1));
    }
}

/// Allocates 1 MiB chunks, touching every page, until allocation fails
/// (Rust then aborts: a trap).
fn alloc() -> ! {
    let mut chunks: Vec<Vec<u8>> = Vec::new();
    loop {
        let mut chunk = vec![0u8; 1 << 20];
        for i in (0..chunk.len()).step_by(4096) {
            chunk[i] = 1;
        }
        chunks.push(std::hint::black_box(chunk));
    }
}

/// Burns CPU for `ms` milliseconds.
fn busy_wait(ms: u64) {
    let start = std::time::Instant::now();
    let limit = std::time::Duration::from_millis(ms);
    let mut counter: u64 = 0;
    while start.elapsed() < limit {
        counter = std::hint::black_box(counter.wrapping_add(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(input: Value) -> Assessment {
        assess(&ToolCall::new("execute_bash", input))
    }

    #[test]
    fn verdicts_on_cue() {
        assert_eq!(run(json!({})), Assessment::allow("probe: nothing to say"));
        assert_eq!(
            run(json!({"probe": "deny"})),
            Assessment::deny(Level::High, "probe: deny")
        );
        assert_eq!(
            run(json!({"probe": "deny", "level": "critical"})),
            Assessment::deny(Level::Critical, "probe: deny")
        );
        assert_eq!(
            run(json!({"probe": "ask"})),
            Assessment::ask(Level::Medium, "probe: ask")
        );
        assert_eq!(
            run(json!({"probe": "ask", "level": "low"})),
            Assessment::ask(Level::Low, "probe: ask")
        );
        assert_eq!(
            run(json!({"probe": "allow", "level": "bogus"})),
            Assessment::allow("probe: allow")
        );
        assert_eq!(run(json!({"probe": 3})).action, Action::Ask);
    }

    #[test]
    fn slow_waits_then_allows() {
        let start = std::time::Instant::now();
        assert_eq!(
            run(json!({"probe": "slow", "ms": 30})),
            Assessment::allow("probe: slow")
        );
        assert!(start.elapsed() >= std::time::Duration::from_millis(30));
    }

    #[test]
    #[should_panic(expected = "trap requested")]
    fn trap_panics() {
        run(json!({"probe": "trap"}));
    }
}
