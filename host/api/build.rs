//! Rebuilds the host when the built dashboard (`dashboard/dist`) changes:
//! release builds embed its files, and a dashboard built after the host
//! must still end up in the binary.

fn main() {
    println!("cargo:rerun-if-changed=../../dashboard/dist");
    println!("cargo:rerun-if-changed=build.rs");
}
