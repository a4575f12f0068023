//! End-to-end: environments through agents on each backend. A Node project
//! whose `.devcontainer/devcontainer.json` names what it needs runs
//! `npm test` in the sandbox: on bubblewrap with the host's own Node.js,
//! on Docker in an image built locally from a Dockerfile `FROM
//! paddock-sandbox:latest` that adds the host's Node.js (no registry is
//! reached). Its `postCreateCommand` writes a tool the test needs into
//! `$PADDOCK_ENV/bin`: it runs for the first agent and is served from the
//! cache for the second (both times printed); a failing setup command
//! leaves the agent in `error` with `environment_setup_failed`, naming the
//! command, and a retry tries again. Named environments of
//! `paddock.toml` and of the API, and the unknown name's 400.

use crate::common;

use common::scripted::*;
use paddock_protocol::events::{ErrorCode, SetupPhase, SetupStep};
use serde_json::{Value, json};
use std::path::Path;
use std::time::{Duration, Instant};

const BWRAP: &str = "[sandbox]\nbackend = \"bwrap\"\n";

/// The agent runs `npm test` and reports.
const NPM_TEST: &str = r#"
model: scripted
turns:
  - text: "Running the tests."
    tool_calls: [{name: execute_bash, arguments: {command: "npm test 2>&1", timeout_secs: 120}}]
  - text: "Done."
"#;

/// A Node project: a package whose test needs the `greet` tool the
/// environment's setup makes, and the devcontainer.json (JSONC) saying so.
fn node_project(ws: &Path, devcontainer_extra: &str, post_create: &str) {
    std::fs::write(
        ws.join("package.json"),
        r#"{"name": "tiny", "version": "1.0.0", "scripts": {"test": "node test.js"}}"#,
    )
    .unwrap();
    std::fs::write(
        ws.join("test.js"),
        r#"const assert = require('assert');
const { execFileSync } = require('child_process');
const out = execFileSync('greet', ['node']).toString().trim();
assert.strictEqual(out, 'hello node');
assert.strictEqual(process.env.GREETING_STYLE, 'plain');
console.log('node tests passed on ' + process.version);
"#,
    )
    .unwrap();
    std::fs::create_dir_all(ws.join(".devcontainer")).unwrap();
    std::fs::write(
        ws.join(".devcontainer/devcontainer.json"),
        format!(
            r#"{{
  // A tiny Node project.
  "name": "tiny",
  {devcontainer_extra}
  "containerEnv": {{"GREETING_STYLE": "plain",}},
  "postCreateCommand": {post_create},
  "customizations": {{"vscode": {{"extensions": ["x"]}}}},
}}"#
        ),
    )
    .unwrap();
}

/// The setup command that writes `greet` into the environment's `bin`.
/// (It takes two seconds more, as a real setup would take its time, so
/// that the cached start is visibly quicker.)
const MAKE_GREET: &str = r#""printf '#!/bin/sh\necho hello $1\n' > $PADDOCK_ENV/bin/greet && chmod +x $PADDOCK_ENV/bin/greet && sleep 2 && echo made greet""#;

fn setup_steps(evs: &[Event]) -> Vec<(String, Option<bool>)> {
    matching!(evs, EventBody::EnvironmentSetup { step, cached, .. }
        => (format!("{step:?}"), *cached))
}

fn bash_results(evs: &[Event]) -> Vec<(bool, String)> {
    matching!(evs, EventBody::ToolResult { tool, success, content, .. } if tool == "execute_bash"
        => (*success, content.clone()))
}

/// A workspace (its files are given to uid 1000 by `own_by_1000` for the
/// Docker sandbox when the tests run as root).
fn workspace() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("paddock-env-ws-")
        .tempdir()
        .unwrap()
}

fn own_by_1000(dir: &Path) {
    if unsafe { libc::getuid() } == 0 {
        for entry in walk(dir) {
            std::os::unix::fs::lchown(&entry, Some(1000), Some(1000)).unwrap();
        }
    }
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = vec![dir.to_path_buf()];
    if dir.is_dir() {
        for e in std::fs::read_dir(dir).unwrap() {
            out.extend(walk(&e.unwrap().path()));
        }
    }
    out
}

/// Runs one agent on `ws` and waits for it; returns its events and how
/// long it took from creation to its last status.
async fn run_agent(s: &Setup, ws: &Path, extra: Value) -> (String, Vec<Event>, Duration) {
    let mut body = json!({"workspace": ws});
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    let started = Instant::now();
    let id = s.create_with("run the tests", body).await;
    let evs = wait_long(s, &id, 0, &["idle", "error"]).await;
    (id, evs, started.elapsed())
}

/// `wait_status` with room for a first image build.
async fn wait_long(s: &Setup, id: &str, after: u64, statuses: &[&str]) -> Vec<Event> {
    let started = Instant::now();
    loop {
        let evs = s.events(id).await;
        let last = evs.iter().rev().find_map(|e| match &e.body {
            EventBody::AgentStatus { status, .. } if e.seq > after => Some(*status),
            _ => None,
        });
        if let Some(st) = last
            && statuses.contains(&st.as_str())
        {
            return evs;
        }
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "agent {id} never reached {statuses:?}: {}",
            summary(&evs)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// How long preparing the environment took (its `finished` event).
fn preparation_ms(evs: &[Event]) -> u64 {
    let ms = matching!(evs, EventBody::EnvironmentSetup { step: SetupStep::Finished, duration_ms: Some(ms), .. } => *ms);
    ms[0]
}

/// Prints both agents' times and checks that the cache saved the setup's
/// two seconds (read from the preparation itself: the agents' whole times
/// depend on what else the machine runs).
fn report(backend: &str, first: (&[Event], Duration), second: (&[Event], Duration)) {
    let (uncached, cached) = (preparation_ms(first.0), preparation_ms(second.0));
    eprintln!(
        "{backend} environment: first agent {} ms (preparing {uncached} ms: setup runs), \
         second agent {} ms (preparing {cached} ms: cached)",
        first.1.as_millis(),
        second.1.as_millis(),
    );
    assert!(
        uncached >= 2000,
        "the setup's sleep did not run: {uncached} ms"
    );
    assert!(
        cached + 1500 < uncached,
        "the cache saved nothing: {cached} ms"
    );
}

/// Checks an agent that ran `npm test` in its environment.
fn assert_passed(evs: &[Event], cached: bool) {
    assert_eq!(last_status(evs), AgentStatus::Idle, "{}", summary(evs));
    let steps = setup_steps(evs);
    assert_eq!(
        steps.first().map(|s| s.0.as_str()),
        Some("Started"),
        "{steps:?}"
    );
    assert_eq!(
        steps.last(),
        Some(&("Finished".to_string(), Some(cached))),
        "{steps:?}"
    );
    let ignored = matching!(evs, EventBody::EnvironmentSetup { ignored, .. } if !ignored.is_empty()
        => ignored.clone());
    assert_eq!(
        ignored[0],
        ["customizations", "name"],
        "ignored with a note"
    );
    let ran = matching!(evs, EventBody::EnvironmentSetup { step: SetupStep::Output, output: Some(o), .. } => o.clone()).concat();
    assert_eq!(ran.contains("made greet"), !cached, "{ran}");
    let bash = bash_results(evs);
    assert!(
        bash[0].0 && bash[0].1.contains("node tests passed on v"),
        "{bash:?}"
    );
}

/// The failing setup: the agent is in `error` with the code and a reason
/// naming the command; a retry tries again (and fails again).
async fn a_failing_setup_names_its_command(s: &Setup, extra: &str) {
    let ws = workspace();
    node_project(
        ws.path(),
        extra,
        r#""echo preparing; echo broken >&2; exit 3""#,
    );
    own_by_1000(ws.path());
    let (id, evs, _) = run_agent(s, ws.path(), json!({})).await;
    assert_eq!(last_status(&evs), AgentStatus::Error, "{}", summary(&evs));
    let (reason, code) = evs
        .iter()
        .rev()
        .find_map(|e| match &e.body {
            EventBody::AgentStatus { reason, code, .. } => Some((reason.clone(), *code)),
            _ => None,
        })
        .unwrap();
    let reason = reason.unwrap_or_default();
    assert_eq!(code, Some(ErrorCode::EnvironmentSetupFailed));
    assert!(
        reason.contains("postCreateCommand")
            && reason.contains("echo preparing; echo broken >&2; exit 3")
            && reason.contains("exit code 3")
            && reason.contains("broken"),
        "{reason}"
    );
    let failed = matching!(evs, EventBody::EnvironmentSetup { step: SetupStep::Failed, exit_code, .. } => *exit_code);
    assert_eq!(failed, [Some(3)]);
    assert!(
        bash_results(&evs).is_empty(),
        "nothing ran after the failure"
    );
    let agent = s.agent(&id).await;
    assert_eq!(agent["error_code"], "environment_setup_failed", "{agent}");
    // A retry prepares again.
    let last = evs.last().unwrap().seq;
    let r = s
        .http
        .post(s.server.url(&format!("/api/agents/{id}/retry")))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    let evs = wait_long(s, &id, last + 1, &["error"]).await;
    let failed = matching!(evs, EventBody::EnvironmentSetup { step: SetupStep::Failed, .. } => ());
    assert_eq!(failed.len(), 2, "the retry ran the setup again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bwrap_a_node_project_sets_up_once_and_is_cached_the_second_time() {
    let s = setup(NPM_TEST, BWRAP, &[]).await;
    let first = workspace();
    node_project(first.path(), "", MAKE_GREET);
    let (_, evs1, uncached) = run_agent(&s, first.path(), json!({})).await;
    assert_passed(&evs1, false);
    // The host's own Node.js, in the jail.
    assert!(bash_results(&evs1)[0].1.contains(&host_node_version()));
    // A second agent on the same project: the setup is not run again.
    let second = workspace();
    node_project(second.path(), "", MAKE_GREET);
    let (_, evs2, cached) = run_agent(&s, second.path(), json!({})).await;
    assert_passed(&evs2, true);
    report("bwrap", (&evs1, uncached), (&evs2, cached));
    a_failing_setup_names_its_command(&s, "").await;
}

fn host_node_version() -> String {
    let out = std::process::Command::new("node")
        .arg("--version")
        .output()
        .expect("node is installed (scripts/setup.sh installs it)");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A Dockerfile context: the sandbox image plus the host's Node.js and npm
/// (a Debian package's files, copied; nothing is pulled).
fn node_image_context(dir: &Path) {
    let node = std::fs::canonicalize("/usr/bin/node").unwrap();
    std::fs::copy(&node, dir.join("node")).unwrap();
    let npm = Path::new("/usr/lib/node_modules/npm");
    let out = std::process::Command::new("cp")
        .args(["-a"])
        .arg(npm)
        .arg(dir.join("npm"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(
        dir.join("npm-wrapper"),
        "#!/bin/sh\nexec node /usr/local/lib/node_modules/npm/bin/npm-cli.js \"$@\"\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("Dockerfile"),
        "FROM paddock-sandbox:latest\n\
         COPY node /usr/local/bin/node\n\
         COPY npm /usr/local/lib/node_modules/npm\n\
         COPY npm-wrapper /usr/local/bin/npm\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    for f in ["node", "npm-wrapper"] {
        std::fs::set_permissions(dir.join(f), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_a_node_project_builds_its_image_sets_up_once_and_is_cached() {
    let engine = common::podman::engine();
    let config = format!(
        "[sandbox]\nbackend = \"docker\"\ndocker_host = \"{}\"\n",
        engine.endpoint
    );
    let s = setup(NPM_TEST, &config, &[]).await;
    // A marker makes this run's image (and so its cache) new.
    let marker = format!("{:08x}", rand::random::<u32>());
    let build = r#""build": {"dockerfile": "Dockerfile", "context": "image"},"#;
    let project = |ws: &Path| {
        node_project(ws, build, MAKE_GREET);
        let ctx = ws.join(".devcontainer/image");
        std::fs::create_dir_all(&ctx).unwrap();
        node_image_context(&ctx);
        std::fs::write(ctx.join("marker"), &marker).unwrap();
        std::fs::rename(ctx.join("Dockerfile"), ws.join(".devcontainer/Dockerfile")).unwrap();
        let mut df = std::fs::read_to_string(ws.join(".devcontainer/Dockerfile")).unwrap();
        df.push_str("COPY marker /etc/paddock-test-marker\n");
        std::fs::write(ws.join(".devcontainer/Dockerfile"), df).unwrap();
        own_by_1000(ws);
    };
    let first = workspace();
    project(first.path());
    let (_, evs1, uncached) = run_agent(&s, first.path(), json!({})).await;
    assert_passed(&evs1, false);
    let built = matching!(evs1, EventBody::EnvironmentSetup { step: SetupStep::Command, phase: Some(SetupPhase::Build), .. } => ());
    assert_eq!(
        built.len(),
        1,
        "the Dockerfile was built: {}",
        summary(&evs1)
    );
    let image = matching!(evs1, EventBody::EnvironmentSetup { step: SetupStep::Finished, detail: Some(d), .. } => d.clone());
    assert!(image[0].starts_with("image paddock-env:"), "{image:?}");
    let second = workspace();
    project(second.path());
    let (_, evs2, cached) = run_agent(&s, second.path(), json!({})).await;
    assert_passed(&evs2, true);
    let built =
        matching!(evs2, EventBody::EnvironmentSetup { phase: Some(SetupPhase::Build), .. } => ());
    assert!(built.is_empty(), "not built again: {}", summary(&evs2));
    report("docker", (&evs1, uncached), (&evs2, cached));
    a_failing_setup_names_its_command(&s, r#""image": "paddock-sandbox:latest","#).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn named_environments_from_the_file_and_the_api() {
    let config = format!(
        "{BWRAP}\n[[environments]]\nname = \"tools\"\nenv = {{ GREETING_STYLE = \"plain\" }}\n\
         setup = {MAKE_GREET}\n"
    );
    let s = setup(NPM_TEST, &config, &[]).await;
    let admin = common::client_with(common::ADMIN_TOKEN);
    let url = s.server.url("/api/config/environments");
    // Unknown names are refused, naming the field.
    let r = s
        .http
        .post(s.server.url("/api/agents"))
        .json(&json!({"name": "t", "workspace": s.workspace.path(), "environment": "nope"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("environment: no environment named `nope`"),
        "{body}"
    );
    // The API adds one (admin only), lists both with their source.
    let added = json!({"name": "tools2", "env": {"GREETING_STYLE": "plain"}, "post_create": MAKE_GREET.trim_matches('"')});
    let r = s.http.post(&url).json(&added).send().await.unwrap();
    assert_eq!(r.status(), 403, "a user cannot add one");
    let r = admin.post(&url).json(&added).send().await.unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let r = admin
        .post(&url)
        .json(&json!({"name": "bad", "imag": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let listed: Value = s.get("/api/config/environments").await;
    let sources: Vec<(String, String)> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["name"].as_str().unwrap().to_string(),
                e["source"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(
        sources.contains(&("tools".into(), "config".into())),
        "{listed}"
    );
    assert!(
        sources.contains(&("tools2".into(), "api".into())),
        "{listed}"
    );
    let r = admin
        .delete(s.server.url("/api/config/environments/tools"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409, "paddock.toml's is read-only here");
    // An agent on a project without devcontainer.json names one.
    for name in ["tools", "tools2"] {
        let ws = workspace();
        node_project(ws.path(), "", "\"true\"");
        std::fs::remove_dir_all(ws.path().join(".devcontainer")).unwrap();
        let (_, evs, _) = run_agent(&s, ws.path(), json!({"environment": name})).await;
        assert_eq!(last_status(&evs), AgentStatus::Idle, "{}", summary(&evs));
        let bash = bash_results(&evs);
        assert!(
            bash[0].0 && bash[0].1.contains("node tests passed"),
            "{name}: {bash:?}"
        );
    }
    let r = admin
        .delete(s.server.url("/api/config/environments/tools2"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
}
