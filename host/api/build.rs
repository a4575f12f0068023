//! Rebuilds the host when the built dashboard (`dashboard/dist`) changes in
//! the builds that embed it (release: no debug assertions), so that a
//! dashboard built after the host still ends up in the binary. Builds with
//! debug assertions read `dashboard/dist` at run time (rust-embed) and never
//! rerun for it; nor, when it is missing, on every build (cargo reruns a
//! build script whose watched path does not exist).
//!
//! `make dashboard` rewrites `dashboard/dist` only when the dashboard's
//! sources changed and the new build's files differ, so an unchanged
//! dashboard costs no rebuild of the host.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var_os("CARGO_CFG_DEBUG_ASSERTIONS").is_none() {
        println!("cargo:rerun-if-changed=../../dashboard/dist");
    }
}
