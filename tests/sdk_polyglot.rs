//! End-to-end: the Python and JavaScript SDKs (`sdk/python`, `sdk/js`).
//!
//! - The walkthroughs of `sdk/python/README.md` and `sdk/js/README.md` are
//!   replayed verbatim, as `tests/sdk_walkthrough.rs` replays the Rust one
//!   (same markers, same parser): `paddock plugin new`, the files, the build
//!   with the registry's toolchain (componentize-py, componentize-js),
//!   `plugin install`, `plugin grant` and `tool call`; then an agent on the
//!   scripted model calls the tool through a real `paddock serve`.
//! - `paddock plugin new --lang rust|python|js` scaffolds projects that
//!   build, install and answer as their README says.
//!
//! The toolchains come from `scripts/plugin-toolchains.sh` (`make test` runs
//! it through `scripts/setup-test.sh`). Built components are cached in
//! `target/polyglot-components/`, keyed by everything that goes into them
//! (the sources, the SDK, the WIT, the toolchain pins and the command), so a
//! warm run does not rebuild them; compiled components share the tests'
//! compile cache (`target/test-cache`).

use crate::common;
use crate::sdk_walkthrough::{marked_blocks, shell_quote};

use common::scripted::*;
use common::{Paddock, Server, describe, scripted_config, stdout};
use sha2::{Digest, Sha256};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A language with a non-Rust SDK.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Lang {
    /// `sdk/python`, componentize-py.
    Python,
    /// `sdk/js`, componentize-js through `paddock-js build`.
    Js,
}

impl Lang {
    fn sdk_dir(self) -> PathBuf {
        let root = common::repo_root().join("sdk");
        match self {
            Lang::Python => root.join("python"),
            Lang::Js => root.join("js"),
        }
    }

    /// The files whose content goes into every component of this language
    /// besides the plugin's own: the SDK, its WIT and the toolchain pins.
    fn toolchain_inputs(self) -> Vec<PathBuf> {
        let sdk = self.sdk_dir();
        let mut files = match self {
            Lang::Python => {
                let mut f = files_under(&sdk.join("paddock_sdk"));
                f.push(sdk.join("requirements-build.txt"));
                f
            }
            Lang::Js => {
                let mut f = files_under(&sdk.join("src"));
                f.extend(files_under(&sdk.join("bin")));
                f.push(sdk.join("package-lock.json"));
                f
            }
        };
        files.extend(files_under(&sdk.join("wit")));
        files
    }

    /// The toolchain's installed program, checked to be there.
    fn check_toolchain(self) {
        let (path, what) = match self {
            Lang::Python => (
                self.sdk_dir().join(".venv/bin/componentize-py"),
                "componentize-py",
            ),
            Lang::Js => (
                self.sdk_dir()
                    .join("node_modules/@bytecodealliance/componentize-js/package.json"),
                "componentize-js",
            ),
        };
        assert!(
            path.exists(),
            "{what} is not installed ({} is missing): run scripts/plugin-toolchains.sh",
            path.display()
        );
    }
}

/// Regular files under `dir`, recursively, sorted; `__pycache__`,
/// `node_modules` and dot-entries skipped.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || name == "__pycache__" || name == "node_modules" {
                continue;
            }
            let path = e.path();
            // Follow links (sdk/*/wit is one).
            if path.is_dir() {
                stack.push(path);
            } else if path.is_file() {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// `target/` of this workspace.
fn target_dir() -> PathBuf {
    let bin = common::paddock_bin();
    bin.parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| common::repo_root().join("target"))
}

/// Runs the build `command` (a shell line, run in `project`), which writes
/// `project/out`, unless a component built from the same inputs is cached;
/// returns the component's path. `key_text` names the build as written
/// (without this machine's paths), `inputs` are the plugin's own files.
fn cached_build(
    lang: Lang,
    project: &Path,
    inputs: &[PathBuf],
    key_text: &str,
    command: &str,
    out: &str,
) -> PathBuf {
    lang.check_toolchain();
    let mut hasher = Sha256::new();
    hasher.update(format!("{lang:?}\n{key_text}\n"));
    let sdk = lang.sdk_dir();
    for file in lang.toolchain_inputs() {
        let rel = file.strip_prefix(&sdk).unwrap_or(&file);
        hasher.update(rel.to_string_lossy().as_bytes());
        hasher.update([0]);
        hasher.update(fs::read(&file).expect("read an SDK file"));
        hasher.update([0]);
    }
    for file in inputs {
        let rel = file.strip_prefix(project).unwrap_or(file);
        hasher.update(rel.to_string_lossy().as_bytes());
        hasher.update([0]);
        hasher.update(fs::read(file).expect("read a plugin source"));
        hasher.update([0]);
    }
    let key = hex::encode(hasher.finalize());
    let cache_dir = target_dir().join("polyglot-components");
    let cached = cache_dir.join(format!("{key}.wasm"));
    let dest = project.join(out);
    if cached.is_file() {
        eprintln!("polyglot: {out} from the cache ({})", cached.display());
        fs::copy(&cached, &dest).expect("copy the cached component");
        return dest;
    }
    eprintln!("polyglot: building {out}: {command}");
    let result = Command::new("sh")
        .arg("-c")
        .arg(command)
        .current_dir(project)
        .output()
        .expect("run the build");
    assert!(
        result.status.success(),
        "`{command}` failed:\n{}",
        describe(&result)
    );
    assert!(
        dest.is_file(),
        "`{command}` did not write {}",
        dest.display()
    );
    fs::create_dir_all(&cache_dir).expect("create the component cache");
    // A file of its own, renamed into place: tests building the same
    // component at once each leave a whole one.
    let tmp = tempfile::NamedTempFile::new_in(&cache_dir).expect("cache the component");
    fs::copy(&dest, tmp.path()).expect("cache the component");
    tmp.persist(&cached).expect("cache the component");
    dest
}

/// The build command of `lang` for a plugin module in `project` (relative
/// to it), as a shell line with this checkout's paths.
fn build_command(lang: Lang, world: &str, source: &str, out: &str, extra_path: &str) -> String {
    let sdk = lang.sdk_dir();
    match lang {
        Lang::Python => format!(
            "{} -d {} -w {world} componentize -p {} -p {} {source} -o {out}",
            shell_quote(&sdk.join(".venv/bin/componentize-py").to_string_lossy()),
            shell_quote(&sdk.join("wit").to_string_lossy()),
            shell_quote(&sdk.to_string_lossy()),
            shell_quote(extra_path),
        ),
        Lang::Js => format!(
            "node {} build {source} -o {out} --world {world}",
            shell_quote(&sdk.join("bin/paddock-js.mjs").to_string_lossy()),
        ),
    }
}

/// The probe of `lang` (`plugins/testing/py-probe` or `js-probe`) built
/// and staged with its manifest in a fresh directory; returns it.
pub(crate) fn staged_probe(lang: Lang) -> tempfile::TempDir {
    let (dir, source, module) = match lang {
        Lang::Python => ("py-probe", "app.py", "app"),
        Lang::Js => ("js-probe", "probe.js", "probe.js"),
    };
    let src = common::repo_root().join("plugins/testing").join(dir);
    let stage = tempfile::tempdir().expect("stage dir");
    for f in [source, "paddock-plugin.toml"] {
        fs::copy(src.join(f), stage.path().join(f)).expect("copy the probe");
    }
    let out = format!("{}.wasm", dir.replace('-', "_"));
    let command = build_command(lang, "tool", module, &out, &stage.path().to_string_lossy());
    cached_build(
        lang,
        stage.path(),
        &[stage.path().join(source)],
        &format!("probe {dir}"),
        &command,
        &out,
    );
    stage
}

/// Replays the walkthrough of `readme`, then has an agent call `tool` with
/// `input` and checks it answers `expect`.
async fn replay_walkthrough(lang: Lang, readme: &Path, tool: &str, input: &str, expect: &str) {
    let text = fs::read_to_string(readme).expect("read the README");
    let blocks = marked_blocks(&text);
    for kind in ["paddock-plugin.toml", "run", "output"] {
        assert!(
            blocks.iter().any(|b| b.kind == kind),
            "{} has no `<!-- walkthrough: {kind} -->` block",
            readme.display()
        );
    }
    let sdk_parent = common::repo_root().join("sdk");
    let sdk_parent = fs::canonicalize(&sdk_parent).expect("find sdk/");
    let paddock = Paddock::new();
    let paddock_prefix = format!(
        "PADDOCK_CACHE_DIR={} {} --data-dir {} ",
        shell_quote(&common::shared_cache_dir().to_string_lossy()),
        shell_quote(&common::paddock_bin().to_string_lossy()),
        shell_quote(&paddock.data_dir().to_string_lossy())
    );
    let scratch = tempfile::Builder::new()
        .prefix("paddock-walkthrough-")
        .tempdir()
        .expect("scratch dir");
    let mut cwd = scratch.path().to_path_buf();
    let mut written: Vec<PathBuf> = Vec::new();
    let mut last_stdout: Option<String> = None;
    let mut builds = 0;

    for block in &blocks {
        match block.kind.as_str() {
            "run" => {
                for line in block.body.lines().map(str::trim) {
                    if line.is_empty() || line.starts_with('#') {
                        continue;
                    }
                    if let Some(dir) = line.strip_prefix("cd ") {
                        cwd = cwd.join(dir.trim());
                        assert!(
                            cwd.is_dir(),
                            "`{line}`: {} is not a directory",
                            cwd.display()
                        );
                        continue;
                    }
                    let mut command = line.replace(
                        "../paddock/sdk",
                        &shell_quote(&sdk_parent.to_string_lossy()),
                    );
                    if let Some(rest) = command.strip_prefix("paddock ") {
                        command = format!("{paddock_prefix}{rest}");
                    }
                    eprintln!("walkthrough $ {line}");
                    let is_build = match lang {
                        Lang::Python => line.starts_with("componentize-py "),
                        Lang::Js => line.contains("paddock-js.mjs build"),
                    };
                    if is_build {
                        let out = line
                            .split_whitespace()
                            .skip_while(|w| *w != "-o")
                            .nth(1)
                            .unwrap_or_else(|| panic!("the build `{line}` names no `-o` output"));
                        if lang == Lang::Python {
                            command = command.replacen(
                                "componentize-py",
                                &shell_quote(
                                    &lang
                                        .sdk_dir()
                                        .join(".venv/bin/componentize-py")
                                        .to_string_lossy(),
                                ),
                                1,
                            );
                        }
                        cached_build(lang, &cwd, &written, line, &command, out);
                        builds += 1;
                        last_stdout = None;
                        continue;
                    }
                    let out = Command::new("sh")
                        .arg("-c")
                        .arg(&command)
                        .current_dir(&cwd)
                        .output()
                        .expect("run sh");
                    assert!(
                        out.status.success(),
                        "walkthrough command `{line}` failed:\n{}",
                        describe(&out)
                    );
                    last_stdout = Some(stdout(&out));
                }
            }
            "output" => {
                let got = last_stdout
                    .as_deref()
                    .expect("a walkthrough `output` block must follow a command");
                assert_eq!(
                    got.trim_end(),
                    block.body.trim_end(),
                    "the last walkthrough command printed something else than {} says",
                    readme.display()
                );
            }
            file => {
                assert!(
                    !file.contains("..") && !file.starts_with('/'),
                    "walkthrough file {file:?} must be relative to the project"
                );
                let path = cwd.join(file);
                assert!(
                    path.is_file(),
                    "the walkthrough replaces {file}, which `paddock plugin new` should have created"
                );
                fs::write(&path, &block.body).expect("write walkthrough file");
                if !written.contains(&path) {
                    written.push(path);
                }
            }
        }
    }
    assert_eq!(builds, 1, "the walkthrough should build the component once");
    assert!(
        blocks.last().is_some_and(|b| b.kind == "output"),
        "the walkthrough should end with the tool call's expected output"
    );

    // The same installation, served: an agent calls the tool.
    let script = format!(
        r#"
turns:
  - tool_calls: [{{name: {tool}, arguments: {input}}}]
  - when: {{tool: "{expect}"}}
    text: "done"
"#
    );
    let model = model(&script).await;
    let config = scripted_config(paddock.data_dir(), &model.base_url(), "");
    let server = Server::start(&paddock, &config, None, &[]);
    let http = common::client();
    let r = http
        .post(server.url("/api/agents"))
        .json(&serde_json::json!({"name": "t", "workspace": cwd, "task": "count the words"}))
        .send()
        .await
        .expect("create an agent");
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap_or_default());
    let v: serde_json::Value = r.json().await.expect("agent JSON");
    let id = v["id"].as_str().expect("agent id").to_string();
    let evs = wait_status(&http, &server, &id, 2, &["idle", "error"]).await;
    let results = matching!(evs, EventBody::ToolResult { tool: t, success, content, .. } if t == tool => (*success, content.clone()));
    assert_eq!(results.len(), 1, "{}", summary(&evs));
    assert!(
        results[0].0,
        "the tool failed through the agent:\n{}",
        summary(&evs)
    );
    assert_eq!(results[0].1.trim_end(), expect, "{}", summary(&evs));
    assert_eq!(last_text(&evs), "done", "{}", summary(&evs));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_walkthrough_builds_installs_grants_and_calls_a_tool() {
    let readme = common::repo_root().join("sdk/python/README.md");
    replay_walkthrough(
        Lang::Python,
        &readme,
        "word_count",
        r#"{path: notes.txt}"#,
        "3 words in notes.txt",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn js_walkthrough_builds_installs_grants_and_calls_a_tool() {
    let readme = common::repo_root().join("sdk/js/README.md");
    replay_walkthrough(
        Lang::Js,
        &readme,
        "word_count",
        r#"{path: notes.txt}"#,
        "3 words in notes.txt",
    )
    .await;
}

// ---------------------------------------------------------------- plugin new

/// `paddock plugin new --lang LANG greeter-x --dir DIR`; returns DIR.
fn plugin_new(lang: &str, parent: &Path) -> PathBuf {
    let dir = parent.join(format!("greeter-{lang}"));
    let out = Command::new(common::paddock_bin())
        .args(["plugin", "new", "--lang", lang, "greeter-x", "--dir"])
        .arg(&dir)
        .output()
        .expect("run paddock plugin new");
    assert!(
        out.status.success(),
        "plugin new --lang {lang}:\n{}",
        describe(&out)
    );
    assert!(stdout(&out).starts_with("created "), "{}", describe(&out));
    dir
}

/// Installs the component `wasm` with the project's manifest into a fresh
/// data dir and calls its greeting tool.
fn install_and_greet(project: &Path, wasm: &Path) {
    let paddock = Paddock::new();
    let out = paddock.cmd([
        "plugin".as_ref(),
        "install".as_ref(),
        wasm.as_os_str(),
        "--manifest".as_ref(),
        project.join("paddock-plugin.toml").as_os_str(),
    ]);
    assert!(out.status.success(), "install:\n{}", describe(&out));
    let call = |input: &str| {
        paddock.cmd([
            "tool".as_ref(),
            "call".as_ref(),
            "greeter_x".as_ref(),
            "--workspace".as_ref(),
            project.as_os_str(),
            "--input".as_ref(),
            input.as_ref(),
        ])
    };
    let out = call(r#"{"name":"Ada"}"#);
    assert!(out.status.success(), "call:\n{}", describe(&out));
    assert_eq!(stdout(&out).trim_end(), "Hello, Ada!");
    // Bad input is the tool error the scaffold's code or schema says.
    let out = call(r#"{"name":" "}"#);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(
        common::stderr(&out).contains("invalid-input")
            && common::stderr(&out).contains("`name` is empty"),
        "{}",
        describe(&out)
    );
}

#[test]
fn plugin_new_scaffolds_python_and_js_projects_that_build_and_answer() {
    let parent = tempfile::tempdir().expect("scratch");
    for (lang, name, source, module) in [
        (Lang::Python, "python", "app.py", "app"),
        (Lang::Js, "js", "tool.js", "tool.js"),
    ] {
        let dir = plugin_new(name, parent.path());
        for f in [source, "paddock-plugin.toml", "README.md"] {
            assert!(dir.join(f).is_file(), "{name}: no {f} in {}", dir.display());
        }
        let readme = fs::read_to_string(dir.join("README.md")).expect("README");
        assert!(readme.contains("greeter_x.wasm"), "{readme}");
        let command = build_command(lang, "tool", module, "greeter_x.wasm", ".");
        let wasm = cached_build(
            lang,
            &dir,
            &[dir.join(source)],
            &format!("plugin new {name}"),
            &command,
            "greeter_x.wasm",
        );
        install_and_greet(&dir, &wasm);
    }
}

#[test]
fn plugin_new_scaffolds_a_rust_project_that_builds_and_answers() {
    let parent = tempfile::tempdir().expect("scratch");
    let dir = plugin_new("rust", parent.path());
    for f in [
        "Cargo.toml",
        "src/lib.rs",
        "paddock-plugin.toml",
        "README.md",
    ] {
        assert!(dir.join(f).is_file(), "rust: no {f}");
    }
    let lock = common::repo_root().join("Cargo.lock");
    fs::copy(&lock, dir.join("Cargo.lock")).expect("copy Cargo.lock");
    // The walkthrough's target dir: the SDK is built there already.
    let target = target_dir().join("walkthrough");
    let out = Command::new("cargo")
        .args(["build", "--release", "--target", "wasm32-wasip2"])
        .current_dir(&dir)
        .env("CARGO_TARGET_DIR", &target)
        .env_remove("CARGO_MANIFEST_DIR")
        .env_remove("CARGO_PKG_NAME")
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .output()
        .expect("run cargo");
    assert!(out.status.success(), "cargo build:\n{}", describe(&out));
    install_and_greet(&dir, &target.join("wasm32-wasip2/release/greeter_x.wasm"));
}

#[test]
fn plugin_new_refuses_bad_names_and_existing_directories() {
    let parent = tempfile::tempdir().expect("scratch");
    let out = Command::new(common::paddock_bin())
        .args(["plugin", "new", "--lang", "python", "Bad_Name", "--dir"])
        .arg(parent.path().join("x"))
        .output()
        .expect("run paddock");
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(
        common::stderr(&out).contains("NAME: "),
        "{}",
        describe(&out)
    );
    assert!(!parent.path().join("x").exists());

    fs::write(parent.path().join("keep.txt"), "mine").expect("write");
    let out = Command::new(common::paddock_bin())
        .args(["plugin", "new", "--lang", "js", "ok-name", "--dir"])
        .arg(parent.path())
        .output()
        .expect("run paddock");
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(
        common::stderr(&out).contains("--dir: "),
        "{}",
        describe(&out)
    );
    assert_eq!(
        fs::read_to_string(parent.path().join("keep.txt")).expect("read"),
        "mine"
    );
}

// ---------------------------------------------------------------- bench

#[test]
fn bench_reports_python_and_js_per_call_cost_beside_rust() {
    let py = staged_probe(Lang::Python);
    let js = staged_probe(Lang::Js);
    let builtin = target_dir().join("plugins");
    let paddock = Paddock::new();
    let out = paddock
        .command()
        .arg("--builtin-plugins")
        .arg(&builtin)
        .args(["bench", "plugins", "--smoke", "--json", "--python-probe"])
        .arg(py.path())
        .arg("--js-probe")
        .arg(js.path())
        .output()
        .expect("run paddock bench");
    assert!(out.status.success(), "{}", describe(&out));
    let report: serde_json::Value =
        serde_json::from_str(stdout(&out).trim()).expect("one JSON object");
    let langs = report["languages"].as_array().expect("languages");
    let names: Vec<&str> = langs
        .iter()
        .filter_map(|l| l["language"].as_str())
        .collect();
    assert_eq!(names, ["rust", "python", "javascript"], "{report}");
    for l in langs {
        let p50 = l["call"]["p50_us"].as_f64().expect("p50");
        let ratio = l["ratio_to_rust_p50"].as_f64().expect("ratio");
        assert!(p50 > 0.0 && ratio > 0.0, "{l}");
        assert!(l["component_bytes"].as_u64().is_some_and(|b| b > 0), "{l}");
    }
    assert_eq!(langs[0]["ratio_to_rust_p50"].as_f64(), Some(1.0));
}

// ---------------------------------------------------------------- native

#[test]
fn the_sdks_own_native_tests_pass() {
    let py = Command::new("python3")
        .args(["-m", "unittest", "discover", "-s", "tests"])
        .current_dir(Lang::Python.sdk_dir())
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .expect("run python3");
    assert!(py.status.success(), "sdk/python tests:\n{}", describe(&py));
    let js = Command::new("node")
        .args(["--test", "test/"])
        .current_dir(Lang::Js.sdk_dir())
        .output()
        .expect("run node");
    assert!(js.status.success(), "sdk/js tests:\n{}", describe(&js));
}
