//! Shared helpers of the end-to-end tests: each test starts the real
//! `paddock` binary against a fresh, throw-away data dir.

#![allow(dead_code)]

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The `paddock` binary under test.
pub fn paddock_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_paddock"))
}

/// Where `make` stages the test plugins (`<name>/` = manifest + `.wasm`):
/// `<dir of the paddock binary>/../test-plugins`, i.e. `target/test-plugins`.
pub fn test_plugins_dir() -> PathBuf {
    let bin = paddock_bin();
    let dir = bin.parent().unwrap_or_else(|| Path::new("."));
    dir.join("..").join("test-plugins")
}

/// The compiled-component cache shared by the tests (`target/test-cache`).
pub fn shared_cache_dir() -> PathBuf {
    let bin = paddock_bin();
    let dir = bin.parent().unwrap_or_else(|| Path::new("."));
    dir.join("..").join("test-cache")
}

/// One Paddock installation in a fresh temporary data dir, removed on drop.
pub struct Paddock {
    data_dir: tempfile::TempDir,
}

impl Paddock {
    /// A fresh, empty data dir.
    pub fn new() -> Paddock {
        Paddock {
            data_dir: tempfile::Builder::new()
                .prefix("paddock-test-")
                .tempdir()
                .expect("create a temporary data dir"),
        }
    }

    /// The data dir.
    pub fn data_dir(&self) -> &Path {
        self.data_dir.path()
    }

    /// A `paddock --data-dir D` command, ready for more arguments.
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(paddock_bin());
        cmd.arg("--data-dir").arg(self.data_dir.path());
        // Compiled components are keyed by content and engine, so the tests
        // share one cache instead of recompiling in every fresh data dir.
        cmd.env("PADDOCK_CACHE_DIR", shared_cache_dir());
        cmd
    }

    /// Runs `paddock --data-dir D ARGS...` to completion.
    pub fn cmd<I, S>(&self, args: I) -> Output
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.command()
            .args(args)
            .output()
            .expect("run the paddock binary")
    }
}

impl Default for Paddock {
    fn default() -> Self {
        Paddock::new()
    }
}

/// A command's stdout, as text.
pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A command's stderr, as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Everything about a finished command, for assertion messages.
pub fn describe(out: &Output) -> String {
    format!(
        "status: {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        out.status,
        stdout(out),
        stderr(out)
    )
}

/// The `.wasm` component in a staged plugin directory.
pub fn wasm_in(dir: &Path) -> PathBuf {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "wasm"))
        .unwrap_or_else(|| panic!("no .wasm in {}", dir.display()))
}
