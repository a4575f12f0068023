//! Plugins from OCI registries: references ([`reference`]), the wasm
//! artifact layout ([`layout`]), a distribution-API client ([`client`]),
//! minisign signatures ([`signing`]), the admin's trusted keys and settings
//! ([`trust`]), and installing, publishing and updating plugins with their
//! digests pinned and signatures checked ([`install`]).

pub mod client;
pub mod install;
pub mod layout;
pub mod reference;
pub mod signing;
pub mod trust;

pub use install::{Oci, PendingUpdate, PushOutcome, UpdateOutcome};
pub use reference::Reference;
pub use trust::{OciSettings, SettingsFile, TrustedKey};

use std::path::PathBuf;

/// A failure installing, publishing or verifying a plugin artifact.
/// Messages are written for the admin who asked.
#[derive(Debug, thiserror::Error)]
pub enum OciError {
    /// The reference does not parse.
    #[error(transparent)]
    Reference(#[from] reference::ReferenceError),
    /// The registry could not be reached or answered nonsense.
    #[error("registry {registry}: {message}")]
    Registry {
        /// `host:port`.
        registry: String,
        /// What happened.
        message: String,
    },
    /// The registry answered an error status.
    #[error("registry {registry}: {what}: HTTP {status} {body}")]
    Status {
        /// `host:port`.
        registry: String,
        /// What was asked.
        what: String,
        /// The status.
        status: u16,
        /// The start of the body.
        body: String,
    },
    /// There is no such artifact.
    #[error("{0} does not exist in the registry")]
    NotFound(String),
    /// Content did not match its digest (tampered or corrupt).
    #[error(
        "{what}: content does not match its digest (expected {expected}, got {actual}); refusing it"
    )]
    DigestMismatch {
        /// Which content.
        what: String,
        /// The digest it should have.
        expected: String,
        /// The digest it has.
        actual: String,
    },
    /// Content over its limit.
    #[error("{what} is larger than {limit} bytes")]
    TooLarge {
        /// Which content.
        what: String,
        /// The limit.
        limit: u64,
    },
    /// The artifact is not a Paddock plugin artifact.
    #[error("{reference} is not a Paddock plugin artifact: {message}")]
    Layout {
        /// The reference.
        reference: String,
        /// Why not.
        message: String,
    },
    /// No signature, and unsigned installs are not allowed.
    #[error(
        "{0} is not signed; refusing it (sign it with `paddock plugin sign`, or an admin allows unsigned installs with --allow-unsigned)"
    )]
    Unsigned(String),
    /// Signed by a key the admin does not trust.
    #[error(
        "the signature was made by key {0}, which is not trusted (trust it with `paddock plugin trust add`); refusing it"
    )]
    UntrustedKey(String),
    /// A signature that does not verify.
    #[error("bad signature: {0}; refusing it")]
    BadSignature(String),
    /// A key could not be made, read or parsed.
    #[error("{0}")]
    Key(String),
    /// The settings file is corrupt.
    #[error("OCI settings {path} are not valid ({message}); fix or remove the file")]
    Settings {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        message: String,
    },
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The plugin host refused or failed.
    #[error(transparent)]
    Plugin(#[from] paddock_plugins::PluginError),
    /// A request that makes no sense in the current state.
    #[error("{0}")]
    Invalid(String),
}
