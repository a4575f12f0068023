//! End-to-end: `paddock plugin install` refuses what is not a valid plugin,
//! saying what is wrong, and manages a valid one (list, enable, disable,
//! remove).
//!
//! Needs the probe and wrong-world test plugins staged in
//! `target/test-plugins/` (`make` does it); the broken ones are fixtures in
//! `tests/fixtures/plugins/`.

use crate::common;

use common::{Paddock, describe, stderr, stdout, wasm_in};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::Output;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/plugins")
        .join(name)
}

fn staged(name: &str) -> PathBuf {
    let dir = common::test_plugins_dir().join(name);
    assert!(
        dir.join("paddock-plugin.toml").is_file(),
        "the `{name}` test plugin is not staged in {} (run `make test-plugins`)",
        dir.display()
    );
    dir
}

/// A copy of a fixture dir with the probe's (valid) component next to its
/// manifest, so that only the manifest can be at fault.
fn with_probe_component(fixture_name: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        fixture(fixture_name).join("paddock-plugin.toml"),
        dir.path().join("paddock-plugin.toml"),
    )
    .unwrap();
    std::fs::copy(wasm_in(&staged("probe")), dir.path().join("plugin.wasm")).unwrap();
    dir
}

fn install(paddock: &Paddock, path: &Path) -> Output {
    paddock.cmd(["plugin".as_ref(), "install".as_ref(), path.as_os_str()])
}

/// Install must fail with a message on stderr containing every one of
/// `needles` (case-insensitive), and leave nothing installed.
fn assert_refused(paddock: &Paddock, out: &Output, needles: &[&str]) {
    assert!(
        !out.status.success(),
        "install should have failed:\n{}",
        describe(out)
    );
    let err = stderr(out).to_lowercase();
    for needle in needles {
        assert!(
            err.contains(&needle.to_lowercase()),
            "install error should mention `{needle}`:\n{}",
            describe(out)
        );
    }
    assert!(
        installed(paddock).is_empty(),
        "a refused install left a plugin behind: {:?}",
        installed(paddock)
    );
}

/// The plugin entries of `plugin list --json` (a JSON array, or an object
/// holding one under `plugins`).
fn list_json(paddock: &Paddock) -> Vec<Value> {
    let out = paddock.cmd(["plugin", "list", "--json"]);
    assert!(out.status.success(), "plugin list:\n{}", describe(&out));
    let value: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("plugin list --json is not JSON ({e}):\n{}", describe(&out)));
    match value {
        Value::Array(items) => items,
        Value::Object(mut map) => match map.remove("plugins") {
            Some(Value::Array(items)) => items,
            _ => panic!("plugin list --json has no `plugins` array: {map:?}"),
        },
        other => panic!("plugin list --json: unexpected {other}"),
    }
}

/// Names of the installed plugins (built-ins included, if the host lists them
/// in a fresh data dir; none of the names used here are built-in).
fn installed(paddock: &Paddock) -> Vec<String> {
    list_json(paddock)
        .iter()
        .filter_map(|p| p.get("name").and_then(Value::as_str).map(String::from))
        .filter(|n| {
            [
                "probe",
                "wrong-world",
                "not-a-component",
                "core-module",
                "bad-manifest",
                "bad-manifest-field",
            ]
            .contains(&n.as_str())
        })
        .collect()
}

fn entry(paddock: &Paddock, name: &str) -> Value {
    list_json(paddock)
        .into_iter()
        .find(|p| p.get("name").and_then(Value::as_str) == Some(name))
        .unwrap_or_else(|| panic!("`{name}` is not in plugin list --json"))
}

fn echo(paddock: &Paddock, workspace: &Path) -> Output {
    paddock.cmd([
        "tool".as_ref(),
        "call".as_ref(),
        "probe_echo".as_ref(),
        "--workspace".as_ref(),
        workspace.as_os_str(),
        "--input".as_ref(),
        "{}".as_ref(),
    ])
}

#[test]
fn refuses_a_file_that_is_not_webassembly() {
    let paddock = Paddock::new();
    let out = install(&paddock, &fixture("not-a-component"));
    assert_refused(
        &paddock,
        &out,
        &["not-a-component", "not a WebAssembly component"],
    );
}

#[test]
fn refuses_a_core_module() {
    let paddock = Paddock::new();
    let out = install(&paddock, &fixture("core-module"));
    assert_refused(
        &paddock,
        &out,
        &["core-module", "not a WebAssembly component", "core"],
    );
}

#[test]
fn refuses_a_component_of_another_world() {
    let paddock = Paddock::new();
    let out = install(&paddock, &staged("wrong-world"));
    assert_refused(&paddock, &out, &["tools@0.1.0"]);
    let err = stderr(&out).to_lowercase();
    assert!(
        err.contains("world") || err.contains("export"),
        "the error should say the component is of the wrong world:\n{}",
        describe(&out)
    );
}

#[test]
fn refuses_a_manifest_that_does_not_parse() {
    let paddock = Paddock::new();
    let dir = with_probe_component("bad-manifest");
    let out = install(&paddock, dir.path());
    // The fixture's syntax error is on line 6.
    assert_refused(&paddock, &out, &["manifest", "line 6"]);
}

#[test]
fn refuses_a_manifest_with_a_bad_field() {
    let paddock = Paddock::new();
    let dir = with_probe_component("bad-manifest-field");
    let out = install(&paddock, dir.path());
    assert_refused(
        &paddock,
        &out,
        &["manifest", "capabilities.fs", "workspace"],
    );

    // An unknown key is an error too, naming the key.
    let manifest = dir.path().join("paddock-plugin.toml");
    std::fs::write(
        &manifest,
        "name = \"bad-manifest-field\"\nversion = \"0.1.0\"\nworld = \"tool\"\ncolour = \"red\"\n",
    )
    .unwrap();
    let out = install(&paddock, dir.path());
    assert_refused(&paddock, &out, &["manifest", "colour"]);
}

#[test]
fn installs_lists_disables_enables_and_removes_the_probe() {
    let paddock = Paddock::new();
    let workspace = tempfile::tempdir().unwrap();
    let source = staged("probe");
    let wasm = std::fs::read(wasm_in(&source)).unwrap();
    let sha256 = hex::encode(Sha256::digest(&wasm));

    let out = install(&paddock, &source);
    assert!(out.status.success(), "install:\n{}", describe(&out));
    assert!(
        stdout(&out).contains("installed probe 0.1.0"),
        "{}",
        describe(&out)
    );

    // The list records the component's sha256.
    let listed = entry(&paddock, "probe");
    assert_eq!(
        listed.get("sha256").and_then(Value::as_str),
        Some(sha256.as_str()),
        "plugin list --json should record the component's sha256: {listed}"
    );
    assert_eq!(listed.get("enabled"), Some(&Value::Bool(true)), "{listed}");

    // Installed means callable (probe_echo needs no capability).
    let out = echo(&paddock, workspace.path());
    assert!(out.status.success(), "probe_echo:\n{}", describe(&out));
    assert!(stdout(&out).starts_with("ok"), "{}", describe(&out));

    // Disabled: not callable, and the error says why.
    let out = paddock.cmd(["plugin", "disable", "probe"]);
    assert!(out.status.success(), "disable:\n{}", describe(&out));
    let out = echo(&paddock, workspace.path());
    assert!(
        matches!(out.status.code(), Some(1 | 2)),
        "a disabled plugin's tool should not run:\n{}",
        describe(&out)
    );
    assert!(
        stderr(&out).to_lowercase().contains("disabled"),
        "the error should say the plugin is disabled:\n{}",
        describe(&out)
    );
    assert!(!stdout(&out).starts_with("ok"), "{}", describe(&out));
    let listed = entry(&paddock, "probe");
    assert_eq!(
        listed.get("enabled"),
        Some(&Value::Bool(false)),
        "plugin list --json should show it disabled: {listed}"
    );

    // Enabled again: callable again.
    let out = paddock.cmd(["plugin", "enable", "probe"]);
    assert!(out.status.success(), "enable:\n{}", describe(&out));
    let out = echo(&paddock, workspace.path());
    assert!(out.status.success(), "probe_echo:\n{}", describe(&out));

    // Removed: gone from the list, not callable.
    let out = paddock.cmd(["plugin", "remove", "probe"]);
    assert!(out.status.success(), "remove:\n{}", describe(&out));
    assert!(installed(&paddock).is_empty(), "{:?}", installed(&paddock));
    let out = echo(&paddock, workspace.path());
    assert!(
        matches!(out.status.code(), Some(1 | 2)),
        "a removed plugin's tool should not run:\n{}",
        describe(&out)
    );

    // And it can be installed afresh.
    let out = install(&paddock, &source);
    assert!(out.status.success(), "reinstall:\n{}", describe(&out));
}

#[test]
fn installs_a_bare_component_with_a_separate_manifest() {
    let paddock = Paddock::new();
    let source = staged("probe");
    let out = paddock.cmd([
        "plugin".as_ref(),
        "install".as_ref(),
        wasm_in(&source).as_os_str(),
        "--manifest".as_ref(),
        source.join("paddock-plugin.toml").as_os_str(),
    ]);
    assert!(out.status.success(), "install:\n{}", describe(&out));
    assert!(
        stdout(&out).contains("installed probe 0.1.0"),
        "{}",
        describe(&out)
    );
    assert_eq!(installed(&paddock), vec!["probe".to_string()]);
}
