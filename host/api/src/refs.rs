//! How the API names a user or a group inside another object's view
//! (an agent's owner, a group's members, a user's groups).

use serde::Serialize;
use utoipa::ToSchema;

/// A group, by id and name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct GroupRef {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
}

/// A user, by id and name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct UserRef {
    /// Its id.
    pub id: String,
    /// Its sign-in name.
    pub name: String,
}
