//! Several hosts on one database: a host's state and what the API shows
//! of it.

use serde::{Deserialize, Serialize};

/// Where a host stands in the cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum HostState {
    /// Running agents and taking new ones.
    Live,
    /// Handing its agents over before it exits (`SIGTERM`); takes none.
    Draining,
    /// Its heartbeat stopped for longer than a lease: its agents are (or
    /// are being) taken over by the others.
    Unreachable,
    /// It stopped cleanly.
    Stopped,
}

impl HostState {
    /// Its name as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            HostState::Live => "live",
            HostState::Draining => "draining",
            HostState::Unreachable => "unreachable",
            HostState::Stopped => "stopped",
        }
    }

    /// Reads a stored name.
    pub fn parse(s: &str) -> Option<HostState> {
        match s {
            "live" => Some(HostState::Live),
            "draining" => Some(HostState::Draining),
            "unreachable" => Some(HostState::Unreachable),
            "stopped" => Some(HostState::Stopped),
            _ => None,
        }
    }
}

/// One Paddock host, as `GET /api/hosts` lists it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HostView {
    /// Its id (`[cluster] host_id`, by default the machine's name and a
    /// random suffix).
    pub id: String,
    /// Where it says it can be reached (`[cluster] advertise_url`).
    pub advertise_url: Option<String>,
    /// Its Paddock version.
    pub version: String,
    /// Live, draining, unreachable or stopped.
    pub state: HostState,
    /// Whether this is the host that answered.
    pub this: bool,
    /// How many agents it runs at most (`[cluster] capacity`; 0 for a
    /// single host, which has no cap).
    pub capacity: u32,
    /// The agents it runs now (holds the lease of).
    pub agents: u32,
    /// Of those, the ones at work (thinking, running a tool, waiting for
    /// an approval).
    pub busy: u32,
    /// `agents / capacity`, 0 to 1: what placement compares (0 for a
    /// single host).
    pub load: f64,
    /// When it started.
    pub started_at: chrono::DateTime<chrono::Utc>,
    /// Its last heartbeat.
    pub heartbeat_at: chrono::DateTime<chrono::Utc>,
    /// Milliseconds since its last heartbeat, by the database's clock.
    pub heartbeat_age_ms: u64,
    /// The ids of its agents the caller may see.
    pub agent_ids: Vec<String>,
}
