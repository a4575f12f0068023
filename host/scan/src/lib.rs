//! Scanners shared by the host and by plugins (through the SDK, which
//! re-exports them): [`shell`] parses shell command lines the way the policy
//! and the default risk assessor read them; [`secrets`] finds and redacts
//! secrets (known token shapes and given values), whole or as a stream
//! (feature `streaming`).
//!
//! Pure Rust with no host dependencies, so it builds for `wasm32-wasip2`.

pub mod secrets;
pub mod shell;
