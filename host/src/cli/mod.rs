//! The subcommands of `paddock`, one module each (`paddock serve` in
//! `serve`, `paddock run` in `run`, …); `common` holds what they share.

/// Prints a line to stdout; a closed pipe (`paddock … | head`) is not an error.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

pub(crate) mod bench;
pub(crate) mod common;
pub(crate) mod eval;
pub(crate) mod eval_compare;
pub(crate) mod export;
pub(crate) mod mcp;
pub(crate) mod plugin;
pub(crate) mod plugin_new;
pub(crate) mod plugin_oci;
pub(crate) mod policy;
pub(crate) mod run;
pub(crate) mod secrets;
pub(crate) mod serve;
pub(crate) mod tool;
pub(crate) mod user;
pub(crate) mod workflow;

pub(crate) use common::Usage;
