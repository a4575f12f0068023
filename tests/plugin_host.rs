//! The plugin host as a library, in one process: faults of one call never
//! disturb the host or other calls, every call gets a fresh instance, guest
//! code does not block the async executor, compiled components are cached,
//! and built-in plugins are installed (and upgraded) on first start. MCP
//! adapters: the calls into them, their faults, and the built-in redactor.

use crate::common;

use common::wasm_in;
use paddock_plugins::engine::PluginEngine;
use paddock_plugins::{
    CallDecision, CallError, CallTarget, HostOptions, InstallSource, McpCall, McpTool, PluginError,
    PluginHost, ShownTool, ToolCallFailure,
};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

fn test_plugin(name: &str) -> PathBuf {
    common::test_plugins_dir().join(name)
}

fn target(workspace: &Path) -> CallTarget {
    CallTarget {
        agent_id: "agent-1".into(),
        call_id: "call-1".into(),
        workspace: Some(workspace.to_path_buf()),
        ..Default::default()
    }
}

async fn host_with_probe(dir: &Path) -> PluginHost {
    let host = PluginHost::open(HostOptions {
        data_dir: dir.join("data"),
        builtin_dir: None,
        cache_dir: Some(dir.join("cache")),
    })
    .await
    .unwrap();
    host.install(&InstallSource {
        path: test_plugin("probe"),
        manifest: None,
    })
    .await
    .unwrap();
    host.grant("probe", &["fs:/workspace:rw".parse().unwrap()])
        .unwrap();
    host
}

fn call_error(r: Result<paddock_plugins::ToolOutput, ToolCallFailure>) -> CallError {
    match r {
        Err(ToolCallFailure::Call(e)) => e,
        other => panic!("expected a plugin call error, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_are_contained_and_the_host_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let ws = tempfile::tempdir().unwrap();
    let host = Arc::new(host_with_probe(dir.path()).await);
    let t = target(ws.path());

    let faults = [
        ("probe_spin", "{}"),
        ("probe_sleep", r#"{"ms":60000}"#),
        ("probe_alloc", r#"{"bytes":67108864}"#),
        ("probe_alloc", r#"{"bytes":4294967295}"#),
        ("probe_panic", r#"{"message":"deliberate panic 42"}"#),
        ("probe_bad_utf8", "{}"),
        ("probe_big_output", r#"{"bytes":1000000}"#),
    ];
    let mut handles = Vec::new();
    for (tool, input) in faults {
        let (host, t) = (host.clone(), t.clone());
        handles.push(tokio::spawn(async move {
            (tool, input, host.call_tool(tool, input, &t).await)
        }));
    }
    // Normal calls run while the faulty ones are in flight.
    for _ in 0..20 {
        let out = host.call_tool("probe_echo", "{}", &t).await.unwrap();
        assert!(out.content.starts_with("ok"), "{}", out.content);
    }
    for h in handles {
        let (tool, input, result) = h.await.unwrap();
        let err = call_error(result);
        let text = err.to_string();
        match tool {
            "probe_spin" | "probe_sleep" => {
                assert!(matches!(err, CallError::Timeout { .. }), "{tool}: {text}")
            }
            "probe_alloc" => assert!(
                matches!(err, CallError::OutOfMemory { .. }) || text.contains("memory"),
                "{tool} {input}: {text}"
            ),
            "probe_panic" => {
                assert!(matches!(err, CallError::Trap { .. }), "{text}");
                assert!(
                    text.contains("deliberate panic 42"),
                    "the guest's stderr is attached: {text}"
                );
            }
            "probe_bad_utf8" => assert!(matches!(err, CallError::Trap { .. }), "{text}"),
            "probe_big_output" => {
                assert!(matches!(err, CallError::OutputTooLarge { .. }), "{text}")
            }
            _ => unreachable!(),
        }
        assert_eq!(err.kind(), "plugin");
    }
    // And after all of them, still fine.
    let out = host.call_tool("probe_echo", "{}", &t).await.unwrap();
    assert!(out.content.contains("agent_id=agent-1"), "{}", out.content);
}

#[tokio::test(flavor = "current_thread")]
async fn spinning_guest_code_does_not_block_the_executor() {
    // One executor thread: if guest code blocked it, nothing else could run
    // until the spinning call was stopped at its 2 s deadline.
    let dir = tempfile::tempdir().unwrap();
    let ws = tempfile::tempdir().unwrap();
    let host = Arc::new(host_with_probe(dir.path()).await);
    let t = target(ws.path());
    let spin_done = Arc::new(AtomicBool::new(false));
    let spin = {
        let (host, t, done) = (host.clone(), t.clone(), spin_done.clone());
        tokio::spawn(async move {
            let r = host.call_tool("probe_spin", "{}", &t).await;
            done.store(true, Ordering::SeqCst);
            r
        })
    };
    // Let the spinning call start running guest code.
    tokio::task::yield_now().await;
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let out = host.call_tool("probe_echo", "{}", &t).await.unwrap();
    assert!(out.content.starts_with("ok"));
    assert!(
        !spin_done.load(Ordering::SeqCst),
        "the normal call had to wait for the spinning one to be killed"
    );
    assert!(matches!(
        call_error(spin.await.unwrap()),
        CallError::Timeout { .. }
    ));
}

#[tokio::test]
async fn every_call_gets_a_fresh_instance() {
    let dir = tempfile::tempdir().unwrap();
    let ws = tempfile::tempdir().unwrap();
    let host = host_with_probe(dir.path()).await;
    for _ in 0..5 {
        let out = host
            .call_tool("probe_counter", "{}", &target(ws.path()))
            .await
            .unwrap();
        assert_eq!(out.content.trim(), "1", "state leaked between calls");
    }
}

#[tokio::test]
async fn compiled_components_are_cached_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let wasm = wasm_in(&test_plugin("probe"));
    let bytes = std::fs::read(wasm).unwrap();
    let cache = dir.path().join("cache");
    let engine = PluginEngine::new().unwrap();
    let (_, hit) = engine.load(&bytes, Some(&cache)).unwrap();
    assert!(!hit, "an empty cache cannot hit");
    // A new engine (a restarted host) loads it from the cache.
    let engine = PluginEngine::new().unwrap();
    let (_, hit) = engine.load(&bytes, Some(&cache)).unwrap();
    assert!(hit, "the compiled component was not reused");
    // A corrupt cache entry is ignored and replaced, not trusted.
    for entry in std::fs::read_dir(&cache).unwrap() {
        std::fs::write(entry.unwrap().path(), b"garbage").unwrap();
    }
    let (_, hit) = engine.load(&bytes, Some(&cache)).unwrap();
    assert!(!hit);
    let (_, hit) = engine.load(&bytes, Some(&cache)).unwrap();
    assert!(hit);
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, to.join(p.file_name().unwrap())).unwrap();
    }
}

#[tokio::test]
async fn builtins_are_installed_on_first_start_and_upgraded_keeping_grants() {
    let dir = tempfile::tempdir().unwrap();
    let builtins = dir.path().join("builtins");
    copy_dir(&test_plugin("probe"), &builtins.join("probe"));
    let open = || {
        PluginHost::open(HostOptions {
            data_dir: dir.path().join("data"),
            builtin_dir: Some(builtins.clone()),
            cache_dir: Some(dir.path().join("cache")),
        })
    };
    let host = open().await.unwrap();
    let p = host.get("probe").unwrap();
    assert!(p.record.builtin);
    assert_eq!(
        p.record.granted, p.record.requested,
        "built-ins get what they request"
    );
    let sha = p.record.sha256.clone();

    // An admin narrows the grants; a restart does not undo that.
    host.revoke("probe", &["exec".parse().unwrap()]).unwrap();
    drop(host);
    let host = open().await.unwrap();
    assert!(
        !host
            .get("probe")
            .unwrap()
            .record
            .granted
            .contains(&"exec".parse().unwrap())
    );

    // A rebuilt built-in (different bytes) is upgraded, keeping the grants.
    let wasm = wasm_in(&builtins.join("probe"));
    let mut bytes = std::fs::read(&wasm).unwrap();
    // Append a custom section: same code, different hash.
    bytes.extend_from_slice(&[0, 4, 1, b'x', b'y', b'z']);
    std::fs::write(&wasm, &bytes).unwrap();
    // The new version also requests a capability for the first time.
    let manifest = builtins.join("probe/paddock-plugin.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    let text = text.replace(r#""PROBE_SECRET"]"#, r#""PROBE_SECRET", "PROBE_NEW"]"#);
    assert!(
        text.contains("PROBE_NEW"),
        "the probe manifest changed shape: {text}"
    );
    std::fs::write(&manifest, text).unwrap();
    drop(host);
    let host = open().await.unwrap();
    let p = host.get("probe").unwrap();
    assert_ne!(
        p.record.sha256, sha,
        "the rebuilt built-in was not upgraded"
    );
    assert!(
        !p.record.granted.contains(&"exec".parse().unwrap()),
        "grants were reset by the upgrade"
    );
    assert!(
        p.record.granted.contains(&"env:PROBE_NEW".parse().unwrap()),
        "a capability the built-in requests for the first time is granted"
    );

    // A removed built-in stays removed.
    host.remove("probe").unwrap();
    drop(host);
    let host = open().await.unwrap();
    assert!(host.get("probe").is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn a_call_stuck_in_a_blocking_open_times_out_and_the_host_keeps_serving() {
    // Opening a FIFO for reading blocks in the host until a writer appears;
    // the epoch deadline cannot interrupt that. The caller must still get a
    // timeout, and other calls must still run (one executor thread here).
    let dir = tempfile::tempdir().unwrap();
    let ws = tempfile::tempdir().unwrap();
    let fifo = ws.path().join("pipe");
    let status = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(status.success());
    let host = Arc::new(host_with_probe(dir.path()).await);
    let t = target(ws.path());

    // Releases the stuck open eventually, and records when it did.
    let writer_opened = Arc::new(AtomicBool::new(false));
    let watchdog = {
        let (fifo, opened) = (fifo.clone(), writer_opened.clone());
        std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_secs(10));
            opened.store(true, Ordering::SeqCst);
            let _ = std::fs::OpenOptions::new().write(true).open(&fifo);
        })
    };
    let stuck = host
        .call_tool("probe_read", r#"{"path":"/workspace/pipe"}"#, &t)
        .await;
    assert!(
        !writer_opened.load(Ordering::SeqCst),
        "the call only returned once the FIFO got a writer"
    );
    assert!(matches!(call_error(stuck), CallError::Timeout { .. }));
    let out = host.call_tool("probe_echo", "{}", &t).await.unwrap();
    assert!(out.content.starts_with("ok"));
    watchdog.join().unwrap();
}

#[tokio::test]
async fn grant_changes_by_another_process_apply_to_a_running_host() {
    let dir = tempfile::tempdir().unwrap();
    let ws = tempfile::tempdir().unwrap();
    let running = host_with_probe(dir.path()).await;
    let t = target(ws.path());
    let write = r#"{"path":"/workspace/a.txt","content":"x"}"#;
    running.call_tool("probe_write", write, &t).await.unwrap();

    // Another process (the CLI) narrows the grant to read-only.
    let other = PluginHost::open(HostOptions {
        data_dir: dir.path().join("data"),
        builtin_dir: None,
        cache_dir: Some(dir.path().join("cache")),
    })
    .await
    .unwrap();
    other
        .set_grants("probe", &["fs:/workspace:ro".parse().unwrap()])
        .unwrap();

    let err = running
        .call_tool("probe_write", write, &t)
        .await
        .unwrap_err();
    assert!(matches!(err, ToolCallFailure::Call(_)), "{err}");
    // Reading still works: the plugin was relinked with the new grant.
    let out = running
        .call_tool("probe_read", r#"{"path":"/workspace/a.txt"}"#, &t)
        .await
        .unwrap();
    assert!(out.content.contains('x'), "{}", out.content);

    // Disabling from another process hides the tools at once.
    other.set_enabled("probe", false).unwrap();
    let err = running.call_tool("probe_echo", "{}", &t).await.unwrap_err();
    assert!(err.to_string().contains("disabled"), "{err}");
}

// ---------------------------------------------------------------------------
// MCP adapters
// ---------------------------------------------------------------------------

fn mcp_tool(name: &str, description: &str) -> McpTool {
    McpTool {
        name: name.into(),
        description: description.into(),
        input_schema: json!({"type": "object", "properties": {"message": {"type": "string"}}}),
    }
}

fn mcp_call(tool: &str, arguments: serde_json::Value) -> McpCall {
    McpCall {
        server: "everything".into(),
        tool: tool.into(),
        arguments,
    }
}

async fn host_with_adapter_probe(dir: &Path) -> PluginHost {
    let host = host_with_probe(dir).await;
    host.install(&InstallSource {
        path: test_plugin("adapter-probe"),
        manifest: None,
    })
    .await
    .unwrap();
    host
}

#[tokio::test]
async fn an_adapter_hides_renames_refuses_and_rewrites() {
    let dir = tempfile::tempdir().unwrap();
    let host = host_with_adapter_probe(dir.path()).await;
    assert_eq!(
        host.enabled_of(paddock_plugins::World::McpAdapter).unwrap(),
        vec!["adapter-probe".to_string()],
        "only mcp-adapter plugins are adapters"
    );

    let listed = vec![
        mcp_tool("echo", "Echoes the message."),
        mcp_tool("get-env", "Prints the environment."),
        mcp_tool("printEnv", "Prints the environment too."),
        mcp_tool("secret", "Internal [hidden] tool."),
        mcp_tool("add", "Adds two numbers."),
    ];
    let shown = host
        .adapter_list_tools("adapter-probe", "everything", listed.clone())
        .await
        .unwrap();
    assert_eq!(
        shown,
        vec![
            ShownTool {
                original: "echo".into(),
                tool: McpTool {
                    name: "say".into(),
                    ..listed[0].clone()
                },
            },
            ShownTool {
                original: "add".into(),
                tool: listed[4].clone(),
            },
        ]
    );

    // The renamed tool is routed back to the server's name.
    let d = host
        .adapter_on_call("adapter-probe", &mcp_call("say", json!({"message": "hi"})))
        .await
        .unwrap();
    assert_eq!(
        d,
        CallDecision::Forward(mcp_call("echo", json!({"message": "hi"})))
    );
    // Rewritten arguments.
    let d = host
        .adapter_on_call(
            "adapter-probe",
            &mcp_call("say", json!({"message": "rewrite:hello there", "n": 1})),
        )
        .await
        .unwrap();
    assert_eq!(
        d,
        CallDecision::Forward(mcp_call("echo", json!({"message": "HELLO THERE", "n": 1})))
    );
    // Refused, with the adapter's text.
    let d = host
        .adapter_on_call(
            "adapter-probe",
            &mcp_call("add", json!({"a": {"deep": "forbidden"}})),
        )
        .await
        .unwrap();
    assert_eq!(
        d,
        CallDecision::Refuse("refused by adapter-probe: forbidden argument".into())
    );
    // Other calls pass unchanged; absent arguments count as `{}`.
    let d = host
        .adapter_on_call("adapter-probe", &mcp_call("add", serde_json::Value::Null))
        .await
        .unwrap();
    assert_eq!(d, CallDecision::Forward(mcp_call("add", json!({}))));
    // Results come back as they went in.
    let result = json!({"content": [{"type": "text", "text": "hi"}], "isError": false});
    let out = host
        .adapter_on_result(
            "adapter-probe",
            &mcp_call("echo", json!({"message": "hi"})),
            result.clone(),
        )
        .await
        .unwrap();
    assert_eq!(out, result);
}

#[tokio::test]
async fn adapter_faults_and_misuse_are_errors_naming_the_adapter() {
    let dir = tempfile::tempdir().unwrap();
    let host = host_with_adapter_probe(dir.path()).await;
    let ok_call = mcp_call("add", json!({"a": 1}));

    // A trap and a runaway loop are contained.
    let err = host
        .adapter_on_call("adapter-probe", &mcp_call("trap-me", json!({})))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("`adapter-probe`") && err.contains("crashed"),
        "{err}"
    );
    assert!(
        err.contains("trap-me was called"),
        "the guest's panic message: {err}"
    );
    let started = std::time::Instant::now();
    let err = host
        .adapter_on_call("adapter-probe", &mcp_call("spin-me", json!({})))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("`adapter-probe`") && err.contains("timed out after 1000 ms"),
        "{err}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(10));

    // Answers the contract does not allow.
    let err = host
        .adapter_list_tools(
            "adapter-probe",
            "everything",
            vec![mcp_tool("bad-schema", "x"), mcp_tool("add", "y")],
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("`adapter-probe`") && err.contains("`bad-schema` must be a JSON object"),
        "{err}"
    );
    let err = host
        .adapter_on_call("adapter-probe", &mcp_call("bad-arguments", json!({})))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("`adapter-probe`") && err.contains("not a JSON object"),
        "{err}"
    );
    let err = host
        .adapter_on_call("adapter-probe", &mcp_call("other-server", json!({})))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("`adapter-probe`") && err.contains("`elsewhere`"),
        "{err}"
    );
    let err = host
        .adapter_on_result(
            "adapter-probe",
            &mcp_call("bad-result", json!({})),
            json!({"content": []}),
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("`adapter-probe`") && err.contains("not JSON"),
        "{err}"
    );
    // Arguments the host cannot pass on are refused before the guest runs.
    let err = host
        .adapter_on_call("adapter-probe", &mcp_call("add", json!([1, 2])))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("`adapter-probe`") && err.contains("must be a JSON object"),
        "{err}"
    );

    // After all of that the adapter still works.
    let d = host
        .adapter_on_call("adapter-probe", &ok_call)
        .await
        .unwrap();
    assert_eq!(d, CallDecision::Forward(ok_call.clone()));

    // An unknown plugin, a plugin of another world, a disabled adapter.
    let err = host
        .adapter_on_call("no-such-adapter", &ok_call)
        .await
        .unwrap_err();
    assert!(matches!(err, PluginError::NotFound(_)), "{err}");
    assert!(err.to_string().contains("`no-such-adapter`"), "{err}");
    let err = host
        .adapter_list_tools("probe", "everything", vec![mcp_tool("add", "y")])
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("`probe`") && err.contains("`tool` plugin, not an MCP adapter"),
        "{err}"
    );
    host.set_enabled("adapter-probe", false).unwrap();
    assert!(
        host.enabled_of(paddock_plugins::World::McpAdapter)
            .unwrap()
            .is_empty()
    );
    let err = host
        .adapter_on_result("adapter-probe", &ok_call, json!({"content": []}))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("`adapter-probe`") && err.contains("disabled"),
        "{err}"
    );
}

#[tokio::test]
async fn mcp_redact_is_an_effective_builtin_and_redacts_tokens_and_granted_values() {
    const GRANTED: &str = "brave-test-key-1f2e3d";
    const NOT_GRANTED: &str = "not-granted-value-9a8b7c";
    const GHP: &str = "ghp_abcdefghijklmnopqrstuvwxyz0123456789";
    // The host reads the granted variable from its process's environment.
    if !common::in_child_with_env(
        module_path!(),
        "mcp_redact_is_an_effective_builtin_and_redacts_tokens_and_granted_values",
        &[
            ("BRAVE_API_KEY", GRANTED),
            ("PADDOCK_TEST_NOT_GRANTED_SECRET", NOT_GRANTED),
        ],
    ) {
        return;
    }
    let staged = common::test_plugins_dir().join("../plugins/mcp-redact");
    assert!(
        staged.join("paddock-plugin.toml").is_file(),
        "build-plugins.sh stages mcp-redact as a built-in: {}",
        staged.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let builtins = dir.path().join("builtins");
    copy_dir(&staged, &builtins.join("mcp-redact"));
    let host = PluginHost::open(HostOptions {
        data_dir: dir.path().join("data"),
        builtin_dir: Some(builtins),
        cache_dir: Some(common::shared_cache_dir()),
    })
    .await
    .unwrap();
    assert_eq!(
        host.enabled_of(paddock_plugins::World::McpAdapter).unwrap(),
        vec!["mcp-redact".to_string()]
    );
    let info = host.get("mcp-redact").unwrap();
    assert!(info.record.builtin && info.record.enabled);
    assert!(
        info.effective
            .contains(&"env:BRAVE_API_KEY".parse().unwrap()),
        "granted by default: {:?}",
        info.effective
    );

    // Tools and calls pass unchanged.
    let listed = vec![mcp_tool("brave_web_search", "Search the web.")];
    let shown = host
        .adapter_list_tools("mcp-redact", "brave", listed.clone())
        .await
        .unwrap();
    assert_eq!(
        shown,
        vec![ShownTool {
            original: "brave_web_search".into(),
            tool: listed[0].clone(),
        }]
    );
    let call = McpCall {
        server: "brave".into(),
        tool: "brave_web_search".into(),
        arguments: json!({"query": GRANTED}),
    };
    assert_eq!(
        host.adapter_on_call("mcp-redact", &call).await.unwrap(),
        CallDecision::Forward(call.clone())
    );

    // Every string of the result is redacted, at any depth.
    let result = json!({
        "content": [
            {"type": "text", "text": format!("token {GHP}, key {GRANTED}, other {NOT_GRANTED}")},
            {"type": "resource", "resource": {"uri": "file:///x", "text": format!("k={GRANTED}")}}
        ],
        "structuredContent": {"items": [{"token": GHP}, 3, GRANTED]},
        "isError": false
    });
    let out = host
        .adapter_on_result("mcp-redact", &call, result)
        .await
        .unwrap();
    assert_eq!(
        out,
        json!({
            "content": [
                {"type": "text", "text": format!("token [REDACTED], key [REDACTED], other {NOT_GRANTED}")},
                {"type": "resource", "resource": {"uri": "file:///x", "text": "k=[REDACTED]"}}
            ],
            "structuredContent": {"items": [{"token": "[REDACTED]"}, 3, "[REDACTED]"]},
            "isError": false
        }),
        "only token shapes and granted values are redacted"
    );

    // Revoking the grant: the value is no longer known to the adapter.
    host.revoke("mcp-redact", &["env:BRAVE_API_KEY".parse().unwrap()])
        .unwrap();
    let out = host
        .adapter_on_result(
            "mcp-redact",
            &call,
            json!({"content": [{"type": "text", "text": GRANTED}]}),
        )
        .await
        .unwrap();
    assert_eq!(out["content"][0]["text"], GRANTED);
}
