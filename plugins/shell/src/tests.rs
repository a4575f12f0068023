//! Native tests of the tools against a fake sandbox.

use std::cell::RefCell;

use paddock_sdk::exec::{Command, ExecError, JobStatus, Output};
use paddock_sdk::{CallContext, ToolError, ToolOutput};
use serde_json::{Value, json};

use crate::bash::{self, ExecuteBashInput};
use crate::job::{self, BashJobInput, JobAction};
use crate::{Sandbox, toolbox};

/// Records what it is asked and answers from a script.
#[derive(Default)]
struct Fake {
    calls: RefCell<Vec<String>>,
    commands: RefCell<Vec<Command>>,
    output: Option<Output>,
    status: Option<JobStatus>,
    error: Option<ExecError>,
}

fn out(code: Option<i32>, stdout: &str, stderr: &str) -> Output {
    Output {
        exit_code: code,
        stdout: stdout.into(),
        stderr: stderr.into(),
        truncated: false,
        timed_out: false,
        duration_ms: 250,
    }
}

impl Fake {
    fn answering(output: Output) -> Self {
        Fake {
            output: Some(output),
            ..Fake::default()
        }
    }

    fn failing(error: ExecError) -> Self {
        Fake {
            error: Some(error),
            ..Fake::default()
        }
    }

    fn job(running: bool, output: Output) -> Self {
        Fake {
            status: Some(JobStatus { running, output }),
            ..Fake::default()
        }
    }

    fn answer<T>(&self, what: String, ok: impl FnOnce() -> T) -> Result<T, ExecError> {
        self.calls.borrow_mut().push(what);
        match &self.error {
            Some(e) => Err(e.clone()),
            None => Ok(ok()),
        }
    }

    fn command(&self) -> Command {
        self.commands
            .borrow()
            .last()
            .cloned()
            .expect("no command ran")
    }
}

impl Sandbox for Fake {
    fn run(&self, cmd: &Command) -> Result<Output, ExecError> {
        self.commands.borrow_mut().push(cmd.clone());
        self.answer("run".into(), || {
            self.output.clone().expect("no output scripted")
        })
    }
    fn spawn(&self, cmd: &Command) -> Result<String, ExecError> {
        self.commands.borrow_mut().push(cmd.clone());
        self.answer("spawn".into(), || "job-1".to_string())
    }
    fn poll(&self, job: &str) -> Result<JobStatus, ExecError> {
        self.answer(format!("poll {job}"), || {
            self.status.clone().expect("no status")
        })
    }
    fn kill(&self, job: &str) -> Result<JobStatus, ExecError> {
        self.answer(format!("kill {job}"), || {
            self.status.clone().expect("no status")
        })
    }
}

fn input(v: Value) -> ExecuteBashInput {
    paddock_sdk::parse_input("execute_bash", &v.to_string()).unwrap()
}

fn job_input(v: Value) -> BashJobInput {
    paddock_sdk::parse_input("bash_job", &v.to_string()).unwrap()
}

fn bash_ok(fake: &Fake, v: Value) -> ToolOutput {
    bash::execute_bash(fake, input(v)).unwrap()
}

/// Calls through the toolbox, for input errors caught before anything runs
/// (the host's `exec` is not there natively).
fn invoke_err(tool: &str, v: Value) -> ToolError {
    match toolbox().invoke(tool, &v.to_string(), &CallContext::for_tests()) {
        Ok(out) => panic!("{tool} {v} succeeded: {}", out.content),
        Err(e) => e,
    }
}

fn schema(tool: &str) -> Value {
    let spec = toolbox()
        .specs()
        .into_iter()
        .find(|s| s.name == tool)
        .unwrap();
    serde_json::from_str(&spec.input_schema).unwrap()
}

// ---------------------------------------------------------------------------
// Specs and schemas
// ---------------------------------------------------------------------------

#[test]
fn tools_and_flags() {
    let specs = toolbox().specs();
    let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["execute_bash", "bash_job"]);
    assert!(specs.iter().all(|s| !s.read_only), "both may change things");
    let d = &specs[0].description;
    for needle in [
        "/workspace",
        "sandbox",
        "network",
        "default 30",
        "maximum 600",
        "background: true",
        "bash_job",
        "exit_code:",
    ] {
        assert!(
            d.contains(needle),
            "execute_bash description lacks {needle:?}"
        );
    }
}

#[test]
fn execute_bash_schema() {
    let s = schema("execute_bash");
    assert_eq!(s["type"], "object");
    assert_eq!(s["required"], json!(["command"]));
    assert_eq!(s["additionalProperties"], false);
    let p = &s["properties"];
    assert_eq!(p["command"]["type"], "string");
    assert_eq!(p["command"]["minLength"], 1);
    assert_eq!(p["timeout_secs"]["type"], "integer");
    assert_eq!(p["timeout_secs"]["minimum"], 1);
    assert_eq!(p["timeout_secs"]["maximum"], 600);
    assert_eq!(p["background"]["type"], "boolean");
    assert_eq!(p["background"]["default"], false);
    for field in ["command", "timeout_secs", "background"] {
        let d = p[field]["description"].as_str().unwrap_or_default();
        assert!(d.len() > 20, "{field} needs a description: {s}");
        assert!(!d.contains('\n'), "unwrapped: {d}");
    }
}

#[test]
fn bash_job_schema() {
    let s = schema("bash_job");
    assert_eq!(s["required"], json!(["job_id"]));
    assert_eq!(s["additionalProperties"], false);
    let p = &s["properties"];
    assert_eq!(p["job_id"]["type"], "string");
    assert_eq!(p["action"]["type"], "string");
    assert_eq!(p["action"]["enum"], json!(["poll", "kill"]));
    assert_eq!(p["action"]["default"], "poll");
    assert!(s.get("$defs").is_none(), "enum is inlined: {s}");
    for field in ["job_id", "action"] {
        assert!(p[field]["description"].as_str().unwrap_or_default().len() > 20);
    }
}

// ---------------------------------------------------------------------------
// Input validation
// ---------------------------------------------------------------------------

#[test]
fn rejects_bad_input_before_running() {
    for (v, needle) in [
        (json!({}), "missing field `command`"),
        (json!({"command": ""}), "`command` is empty"),
        (json!({"command": "  \n"}), "`command` is empty"),
        (json!({"command": "a\u{0}b"}), "NUL"),
        (
            json!({"command": "ls", "timeout_secs": 0}),
            "between 1 and 600",
        ),
        (
            json!({"command": "ls", "timeout_secs": 601}),
            "between 1 and 600",
        ),
        (
            json!({"command": "ls", "timeout_secs": -5}),
            "invalid value",
        ),
        (
            json!({"command": "ls", "timeout_secs": "60"}),
            "invalid type",
        ),
        (
            json!({"command": "ls", "background": "yes"}),
            "invalid type",
        ),
        (
            json!({"command": "ls", "timeout": 5}),
            "unknown field `timeout`",
        ),
        (json!({"command": ["ls"]}), "invalid type"),
    ] {
        let err = invoke_err("execute_bash", v.clone());
        assert_eq!(err.kind(), "invalid-input", "{v}: {err:?}");
        assert!(err.message().contains(needle), "{v}: {err:?}");
    }
    let long = "x".repeat(bash::MAX_COMMAND_BYTES + 1);
    let err = invoke_err("execute_bash", json!({ "command": long }));
    assert!(err.message().contains("write_file"), "{err:?}");
}

#[test]
fn timeouts_default_and_bounds() {
    let t = |v: Value| bash::check(&input(v));
    assert_eq!(t(json!({"command": "ls"})), Ok(30));
    assert_eq!(t(json!({"command": "ls", "timeout_secs": null})), Ok(30));
    assert_eq!(t(json!({"command": "ls", "background": true})), Ok(3600));
    assert_eq!(t(json!({"command": "ls", "timeout_secs": 1})), Ok(1));
    assert_eq!(t(json!({"command": "ls", "timeout_secs": 600})), Ok(600));
    assert_eq!(
        t(json!({"command": "ls", "timeout_secs": 90, "background": true})),
        Ok(90)
    );
}

#[test]
fn bash_job_input_errors() {
    for (v, needle) in [
        (json!({}), "missing field `job_id`"),
        (json!({"job_id": " "}), "`job_id` is empty"),
        (
            json!({"job_id": "1", "action": "stop"}),
            "unknown variant `stop`",
        ),
        (json!({"job_id": 1}), "invalid type"),
    ] {
        let err = invoke_err("bash_job", v.clone());
        assert_eq!(err.kind(), "invalid-input", "{v}: {err:?}");
        assert!(err.message().contains(needle), "{v}: {err:?}");
    }
    assert_eq!(job_input(json!({"job_id": "x"})).action, JobAction::Poll);
    assert_eq!(
        job_input(json!({"job_id": "x", "action": "kill"})).action,
        JobAction::Kill
    );
}

// ---------------------------------------------------------------------------
// Running
// ---------------------------------------------------------------------------

#[test]
fn runs_bash_lc_in_the_workspace() {
    let fake = Fake::answering(out(Some(0), "hi\n", ""));
    let result = bash_ok(&fake, json!({"command": "echo hi | cat"}));
    let cmd = fake.command();
    assert_eq!(cmd.argv, ["bash", "-lc", "echo hi | cat"]);
    assert_eq!(cmd.cwd.as_deref(), Some("/workspace"));
    assert_eq!(cmd.timeout_ms, Some(30_000));
    assert_eq!(cmd.max_output_bytes, Some(64 * 1024));
    assert_eq!(
        cmd.stdin.as_deref(),
        Some(""),
        "stdin is empty, never inherited"
    );
    assert!(cmd.env.contains(&("PAGER".into(), "cat".into())));
    assert!(
        cmd.env
            .contains(&("GIT_TERMINAL_PROMPT".into(), "0".into()))
    );
    assert_eq!(*fake.calls.borrow(), ["run"]);
    assert_eq!(
        result.content,
        "exit_code: 0\nduration: 250 ms\n<stdout>\nhi\n</stdout>\n<stderr></stderr>\n"
    );
    let s: Value = serde_json::from_str(result.structured.as_deref().unwrap()).unwrap();
    assert_eq!(s["exit_code"], 0);
    assert_eq!(s["timed_out"], false);
}

#[test]
fn custom_timeout_reaches_the_sandbox() {
    let fake = Fake::answering(out(Some(0), "", ""));
    bash_ok(&fake, json!({"command": "sleep 1", "timeout_secs": 120}));
    assert_eq!(fake.command().timeout_ms, Some(120_000));
}

#[test]
fn non_zero_exit_is_a_result_not_an_error() {
    let fake = Fake::answering(out(Some(101), "running 1 test\n", "test failed\n"));
    let r = bash_ok(&fake, json!({"command": "cargo test"}));
    assert!(r.content.starts_with("exit_code: 101\n"), "{}", r.content);
    assert!(
        r.content.contains("<stderr>\ntest failed\n</stderr>"),
        "{}",
        r.content
    );
}

#[test]
fn timeout_is_reported_with_output_so_far() {
    let mut o = out(None, "compiling…\n", "");
    o.timed_out = true;
    let fake = Fake::answering(o);
    let r = bash_ok(&fake, json!({"command": "make", "timeout_secs": 5}));
    assert!(
        r.content.starts_with("exit_code: none (timed out)\n"),
        "{}",
        r.content
    );
    assert!(r.content.contains("compiling…"), "{}", r.content);
    assert!(
        r.content
            .contains("note: timed out: killed after 5 s; output so far above."),
        "{}",
        r.content
    );
}

#[test]
fn exec_errors_are_tool_errors_with_the_hosts_message() {
    let cases = [
        (
            ExecError::Denied("plugin `shell` was not granted the `exec` capability".into()),
            "denied",
            "paddock plugin grant shell exec",
        ),
        (
            ExecError::Unavailable("no sandbox backend configured".into()),
            "failed",
            "cannot run commands: no sandbox backend configured",
        ),
        (ExecError::Invalid("bad cwd".into()), "failed", "bad cwd"),
        (
            ExecError::Failed("docker died".into()),
            "failed",
            "docker died",
        ),
    ];
    for (e, kind, needle) in cases {
        for background in [false, true] {
            let fake = Fake::failing(e.clone());
            let err = bash::execute_bash(
                &fake,
                input(json!({"command": "ls", "background": background})),
            )
            .unwrap_err();
            assert_eq!(err.kind(), kind, "{e:?}");
            assert!(err.message().contains(needle), "{err:?}");
        }
    }
}

#[test]
fn background_spawns_and_says_how_to_read_it() {
    let fake = Fake::answering(out(Some(0), "", ""));
    let r = bash_ok(&fake, json!({"command": "npm run dev", "background": true}));
    assert_eq!(*fake.calls.borrow(), ["spawn"]);
    assert_eq!(fake.command().timeout_ms, Some(3_600_000));
    assert_eq!(fake.command().argv, ["bash", "-lc", "npm run dev"]);
    assert!(
        r.content.contains("started background job \"job-1\""),
        "{}",
        r.content
    );
    assert!(
        r.content.contains(r#"bash_job {"job_id": "job-1"}"#),
        "{}",
        r.content
    );
    assert!(
        r.content
            .contains(r#"bash_job {"job_id": "job-1", "action": "kill"}"#),
        "{}",
        r.content
    );
    let s: Value = serde_json::from_str(r.structured.as_deref().unwrap()).unwrap();
    assert_eq!(s["job_id"], "job-1");
}

// ---------------------------------------------------------------------------
// Jobs
// ---------------------------------------------------------------------------

fn job_ok(fake: &Fake, v: Value) -> String {
    job::bash_job(fake, job_input(v)).unwrap().content
}

#[test]
fn poll_running_job() {
    let mut o = out(None, "listening on :3000\n", "");
    o.duration_ms = 12_000;
    let fake = Fake::job(true, o);
    let text = job_ok(&fake, json!({"job_id": " job-1 "}));
    assert_eq!(*fake.calls.borrow(), ["poll job-1"]);
    assert_eq!(
        text,
        "job: job-1\nstatus: running\nrunning for: 12.0 s\n<stdout>\nlistening on :3000\n</stdout>\n<stderr></stderr>\n"
    );
}

#[test]
fn poll_ended_job() {
    let fake = Fake::job(false, out(Some(1), "", "Error: port in use\n"));
    let text = job_ok(&fake, json!({"job_id": "job-1", "action": "poll"}));
    assert!(
        text.starts_with("job: job-1\nstatus: ended\nexit_code: 1\nran for: 250 ms\n"),
        "{text}"
    );
    assert!(text.contains("port in use"), "{text}");
}

#[test]
fn poll_job_that_timed_out() {
    let mut o = out(None, "tick\n", "");
    o.timed_out = true;
    o.duration_ms = 600_000;
    let text = job_ok(&Fake::job(false, o), json!({"job_id": "j"}));
    assert!(text.contains("exit_code: none (timed out)"), "{text}");
    assert!(
        text.contains("note: timed out: the job was killed at its time limit, after 600.0 s"),
        "{text}"
    );
    assert_eq!(text.matches("note:").count(), 1, "{text}");
}

#[test]
fn kill_job() {
    let fake = Fake::job(false, out(None, "served 3 requests\n", ""));
    let text = job_ok(&fake, json!({"job_id": "job-1", "action": "kill"}));
    assert_eq!(*fake.calls.borrow(), ["kill job-1"]);
    assert!(
        text.starts_with("job: job-1\nstatus: killed\nran for:"),
        "{text}"
    );
    assert!(text.contains("served 3 requests"), "{text}");
    assert!(!text.contains("note:"), "{text}");
}

#[test]
fn kill_job_that_had_ended() {
    let fake = Fake::job(false, out(Some(0), "done\n", ""));
    let text = job_ok(&fake, json!({"job_id": "job-1", "action": "kill"}));
    assert!(
        text.starts_with("job: job-1\nstatus: had already ended\nexit_code: 0\n"),
        "{text}"
    );
}

#[test]
fn unknown_job_is_invalid_input() {
    let fake = Fake::failing(ExecError::Invalid("no background job `nope`".into()));
    let err = job::bash_job(&fake, job_input(json!({"job_id": "nope"}))).unwrap_err();
    assert_eq!(err.kind(), "invalid-input");
    assert!(
        err.message()
            .starts_with("no background job `nope`: give a job id that execute_bash returned"),
        "{err:?}"
    );
    let fake = Fake::failing(ExecError::Unavailable("no sandbox".into()));
    let err = job::bash_job(&fake, job_input(json!({"job_id": "j"}))).unwrap_err();
    assert_eq!(err.kind(), "failed");
    assert!(err.message().contains("no sandbox"), "{err:?}");
}
