//! `wrong-world`: a component of the `risk-assessor` world shipped with a
//! manifest that claims the `tool` world. Installing it must fail, because it
//! does not export `paddock:plugin/tools@0.1.0`.

wit_bindgen::generate!({
    path: "../../../wit/v0.1.0",
    world: "risk-assessor",
});

use exports::paddock::plugin::assessor::Guest;
use paddock::plugin::types::{Action, Assessment, RiskLevel, ToolCall};

struct WrongWorld;

export!(WrongWorld);

impl Guest for WrongWorld {
    fn assess(call: ToolCall) -> Assessment {
        Assessment {
            level: RiskLevel::Low,
            action: Action::Ask,
            reason: format!("wrong-world has no opinion on `{}`", call.tool),
        }
    }
}
