//! Agents' events read as the host's own types ([`Event`], [`EventBody`]),
//! wherever they come from (the REST log, the WebSocket, `paddock run
//! --json`), so that a test fails when the event schema changes: each event
//! must parse, and must serialize back to exactly the JSON it came from (no
//! field the types do not know, none they would write missing). Tests then
//! match on the bodies ([`matching!`]) instead of looking up JSON keys.

pub use paddock_protocol::events::{AgentStatus, Event, EventBody};
use serde_json::Value;

/// One event from its JSON, which it must be exactly.
pub fn event(v: &Value) -> Event {
    let e: Event = serde_json::from_value(v.clone())
        .unwrap_or_else(|err| panic!("not an event of the host's schema ({err}): {v}"));
    let back = serde_json::to_value(&e).expect("an event serializes");
    assert_eq!(
        &back, v,
        "the event does not read back as it came (a field the schema does not have?)"
    );
    e
}

/// Events from a JSON array, or from a page of the REST log
/// (`{"events": [...]}`).
pub fn events(v: &Value) -> Vec<Event> {
    v.get("events")
        .unwrap_or(v)
        .as_array()
        .unwrap_or_else(|| panic!("not a list of events: {v}"))
        .iter()
        .map(event)
        .collect()
}

/// The events whose body matches a pattern (and guard): with `=> expr`,
/// what the expression makes of each (the pattern's bindings are references
/// into the body); without, the events themselves.
///
/// ```ignore
/// let ok: Vec<bool> = matching!(evs, EventBody::ToolResult { success, .. } => *success);
/// let retries = matching!(evs, EventBody::Error { code, .. } if code == "model_retry" => ());
/// let calls: Vec<&Event> = matching!(evs, EventBody::ToolCall { .. });
/// ```
macro_rules! matching {
    ($evs:expr, $pat:pat if $guard:expr => $out:expr) => {
        $evs.iter()
            .filter_map(|e| match &e.body {
                $pat if $guard => Some($out),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    ($evs:expr, $pat:pat => $out:expr) => {
        $evs.iter()
            .filter_map(|e| match &e.body {
                $pat => Some($out),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    ($evs:expr, $pat:pat) => {
        $evs.iter()
            .filter(|e| matches!(&e.body, $pat))
            .collect::<Vec<&$crate::common::events::Event>>()
    };
}
pub(crate) use matching;

/// One line per event (`seq type data`), for assertion messages.
pub fn summary(evs: &[Event]) -> String {
    evs.iter()
        .map(|e| format!("{} {} {}", e.seq, e.body.type_name(), e.body.data()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The text of the latest model answer ("" when it had none).
pub fn last_text(evs: &[Event]) -> String {
    matching!(evs, EventBody::MessageAssistant { text, .. } => text.clone().unwrap_or_default())
        .pop()
        .unwrap_or_default()
}

/// Every status change, in order, with its reason.
pub fn statuses(evs: &[Event]) -> Vec<(AgentStatus, Option<String>)> {
    matching!(evs, EventBody::AgentStatus { status, reason, .. } => (*status, reason.clone()))
}

/// The latest status (an agent's log always has one).
pub fn last_status(evs: &[Event]) -> AgentStatus {
    statuses(evs)
        .last()
        .unwrap_or_else(|| panic!("no status yet:\n{}", summary(evs)))
        .0
}

/// The `seq`s, in order.
pub fn seqs(evs: &[Event]) -> Vec<u64> {
    evs.iter().map(|e| e.seq).collect()
}
