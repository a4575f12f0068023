//! Who acts: the roles of users, the scopes of their access tokens, and
//! what an agent may be shared with.

use serde::{Deserialize, Serialize};

/// The id of the built-in local account: the single local admin of a
/// one-person install (the login link, the data dir's token files and
/// `PADDOCK_TOKEN`/`PADDOCK_ADMIN_TOKEN` act as it), and the owner of
/// everything created before there were users.
pub const LOCAL_USER: &str = "local";

/// What a user may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Reads what they are shown; changes nothing.
    Viewer,
    /// Their own agents, workspaces and approvals (and agents shared with
    /// them); templates and prompts; reads the catalogue.
    Member,
    /// Everything: plugins, grants, global rules, budgets, providers,
    /// users, and every agent.
    Admin,
}

impl Role {
    /// Its name as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Member => "member",
            Role::Admin => "admin",
        }
    }

    /// Reads a stored name.
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "viewer" => Some(Role::Viewer),
            "member" => Some(Role::Member),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

/// What an access token may do, within its user's role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// Reads only (GET).
    Read,
    /// Reads and changes, but no admin route.
    Write,
    /// Everything the user's role allows.
    Admin,
}

impl Scope {
    /// Its name as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Write => "write",
            Scope::Admin => "admin",
        }
    }

    /// Reads a stored name.
    pub fn parse(s: &str) -> Option<Scope> {
        match s {
            "read" => Some(Scope::Read),
            "write" => Some(Scope::Write),
            "admin" => Some(Scope::Admin),
            _ => None,
        }
    }
}

/// Whom an agent is shared with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ShareKind {
    /// A user, by id.
    User,
    /// A group, by id: every member.
    Group,
}

impl ShareKind {
    /// Its name as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            ShareKind::User => "user",
            ShareKind::Group => "group",
        }
    }

    /// Reads a stored name.
    pub fn parse(s: &str) -> Option<ShareKind> {
        match s {
            "user" => Some(ShareKind::User),
            "group" => Some(ShareKind::Group),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_order_by_power() {
        for r in [Role::Viewer, Role::Member, Role::Admin] {
            assert_eq!(Role::parse(r.as_str()), Some(r));
            assert_eq!(serde_json::to_value(r).unwrap(), r.as_str());
        }
        for s in [Scope::Read, Scope::Write, Scope::Admin] {
            assert_eq!(Scope::parse(s.as_str()), Some(s));
        }
        for k in [ShareKind::User, ShareKind::Group] {
            assert_eq!(ShareKind::parse(k.as_str()), Some(k));
        }
        assert!(Role::Viewer < Role::Member && Role::Member < Role::Admin);
        assert!(Scope::Read < Scope::Write && Scope::Write < Scope::Admin);
        assert_eq!(Role::parse("user"), None);
    }
}
