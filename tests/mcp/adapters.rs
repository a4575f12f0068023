//! MCP adapters between agents and a real server (server-everything over
//! stdio): the test adapter hides, renames, refuses and rewrites; the
//! built-in `mcp-redact` is on by default and takes secrets out of results;
//! a server naming an adapter that is not installed fails with the reason.

use crate::common::mcp_servers::server_everything;
use crate::common::{shared_cache_dir, test_plugins_dir};
use paddock_mcp::{FileSource, McpManager};
use paddock_plugins::{HostOptions, InstallSource, PluginHost};
use serde_json::{Value, json};
use std::path::Path;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// A token-shaped value the server holds in its environment.
const TOKEN: &str = "ghp_0123456789abcdefghijklmnopqrstuvwxyzAB";

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

/// A plugin host with the built-in mcp-redact and the test adapter.
async fn plugins(dir: &Path) -> Arc<PluginHost> {
    let builtins = dir.join("builtins");
    copy_dir(
        &test_plugins_dir().join("../plugins/mcp-redact"),
        &builtins.join("mcp-redact"),
    );
    let host = PluginHost::open(HostOptions {
        data_dir: dir.join("data"),
        builtin_dir: Some(builtins),
        cache_dir: Some(shared_cache_dir()),
    })
    .await
    .unwrap();
    host.install(&InstallSource {
        path: test_plugins_dir().join("adapter-probe"),
        manifest: None,
    })
    .await
    .unwrap();
    Arc::new(host)
}

async fn call(m: &Arc<McpManager>, tool: &str, args: Value) -> Result<String, String> {
    m.call(tool, args, &CancellationToken::new())
        .await
        .map(|o| o.text)
        .map_err(|e| e.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adapters_shape_a_real_servers_traffic() {
    let dir = tempfile::tempdir().unwrap();
    let plugins = plugins(dir.path()).await;
    let file = dir.path().join("mcpServers.json");
    let ev = server_everything();
    std::fs::write(
        &file,
        json!({"mcpServers": {
            "probed": {"command": ev, "adapters": ["adapter-probe"]},
            "plain": {"command": ev, "env": {"SERVICE_TOKEN": TOKEN}},
            "bare": {"command": ev, "env": {"SERVICE_TOKEN": TOKEN}, "adapters": []},
            "missing": {"command": ev, "adapters": ["no-such-adapter"]},
        }})
        .to_string(),
    )
    .unwrap();
    let m = McpManager::open(
        Some(&FileSource {
            path: file,
            required: true,
        }),
        None,
        Some(plugins),
    )
    .await
    .unwrap();
    let tools = m
        .tools_for(&[
            "probed".into(),
            "plain".into(),
            "bare".into(),
            "missing".into(),
        ])
        .await;
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_str()).collect();

    // adapter-probe: `echo` shown as `say`, `get-env` hidden.
    assert!(names.contains(&"probed__say"), "{names:?}");
    assert!(!names.contains(&"probed__echo"), "{names:?}");
    assert!(!names.contains(&"probed__get-env"), "{names:?}");
    assert!(names.contains(&"probed__get-sum"), "{names:?}");
    let text = call(&m, "probed__say", json!({"message": "hi"}))
        .await
        .unwrap();
    assert!(text.contains("hi"), "{text}");
    let text = call(&m, "probed__say", json!({"message": "rewrite:quiet"}))
        .await
        .unwrap();
    assert!(
        text.contains("QUIET"),
        "rewritten before the server saw it: {text}"
    );
    let e = call(&m, "probed__say", json!({"message": "forbidden"}))
        .await
        .unwrap_err();
    assert!(
        e.contains(
            "refused by MCP adapter `adapter-probe`: refused by adapter-probe: forbidden argument"
        ),
        "{e}"
    );
    let e = call(&m, "probed__get-env", json!({})).await.unwrap_err();
    assert!(e.contains("unknown MCP tool `probed__get-env`"), "{e}");

    // mcp-redact, on by default: the server's secret never reaches the agent.
    let text = call(&m, "plain__get-env", json!({})).await.unwrap();
    assert!(text.contains("SERVICE_TOKEN"), "{text}");
    assert!(!text.contains(TOKEN), "{text}");
    assert!(text.contains("[REDACTED]"), "{text}");
    // …and without adapters it would have (the test is not vacuous).
    let text = call(&m, "bare__get-env", json!({})).await.unwrap();
    assert!(text.contains(TOKEN), "{text}");

    // A named adapter that is not installed: the server does not run, and
    // says why.
    assert!(
        !names.iter().any(|n| n.starts_with("missing__")),
        "{names:?}"
    );
    let err = m.view("missing").unwrap().health.last_error.unwrap();
    assert!(err.contains("no-such-adapter"), "{err}");
    assert!(err.contains("not installed"), "{err}");
    m.shutdown().await;
}
