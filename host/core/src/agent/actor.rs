//! Who acts on an agent from outside it (a person through the API, the
//! terminal of `paddock run`): the name that `decided_by`, events and the
//! audit log show, and the user and access token the audit log records.

/// Who acts: a name for humans, and when known the user's id and the
/// personal access token they came with.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Actor {
    /// The name shown (`decided_by`, "retry requested by …", the audit
    /// entry's `actor`), e.g. `alice (REST)`.
    pub name: String,
    /// The id of the user acting.
    pub user_id: Option<String>,
    /// The id of the personal access token they acted with.
    pub token_id: Option<String>,
}

impl Actor {
    /// An actor known by name only (no user account behind it).
    pub fn named(name: impl Into<String>) -> Actor {
        Actor {
            name: name.into(),
            user_id: None,
            token_id: None,
        }
    }
}

impl std::fmt::Display for Actor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name)
    }
}
