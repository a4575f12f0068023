//! `paddock-sandboxd`: the command server that runs inside a persistent
//! sandbox (the bubblewrap jail's pid 1, or a Docker container's main
//! process) and runs each command as a fork of itself, plus the wire
//! protocol the host speaks to it ([`proto`]).
//!
//! The crate uses only `std` and `libc` so that the server links statically
//! and runs in any image (Debian, Alpine, a user's devcontainer image) and
//! in the bubblewrap jail on top of the host's `/usr`.
//!
//! - [`proto`]: frames and their bodies (a request, output, the exit).
//! - [`server`]: the server (listening, forking, reaping, killing what a
//!   command leaves behind, the egress bridge).

pub mod proto;
pub mod server;
