//! The plugin host as a library, in one process: faults of one call never
//! disturb the host or other calls, every call gets a fresh instance, guest
//! code does not block the async executor, compiled components are cached,
//! and built-in plugins are installed (and upgraded) on first start.

mod common;

use common::wasm_in;
use paddock::plugins::engine::PluginEngine;
use paddock::plugins::{
    CallError, CallTarget, HostOptions, InstallSource, PluginHost, ToolCallFailure,
};
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

fn call_error(r: Result<paddock::plugins::ToolOutput, ToolCallFailure>) -> CallError {
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
