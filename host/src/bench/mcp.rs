//! `paddock bench mcp`: round-trip latency of a trivial MCP tool call
//! (`echo` of `@modelcontextprotocol/server-everything`) over stdio and
//! streamable HTTP, through Paddock's MCP manager (with no adapter, and with
//! the built-in `mcp-redact` adapter when the built-in plugins are found)
//! against a plain rmcp client of the same server, measured in the same run
//! with the paths interleaved.

use super::{Summary, summarize};
use anyhow::{Context, Result, bail};
use paddock_mcp::{FileSource, McpManager};
use paddock_plugins::{HostOptions, PluginHost};
use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Options of `paddock bench mcp`.
#[derive(clap::Args, Debug, Clone)]
pub struct McpBenchArgs {
    /// Calls per path and transport (after a warm-up of a tenth as many).
    #[arg(long, default_value_t = 1000)]
    pub calls: usize,
    /// The server-everything program.
    #[arg(
        long,
        default_value = "tests/mcp-servers/node_modules/.bin/mcp-server-everything"
    )]
    pub server: PathBuf,
    /// Transports to measure: stdio, http.
    #[arg(long, value_delimiter = ',', default_values_t = ["stdio".to_string(), "http".to_string()])]
    pub transports: Vec<String>,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Smoke size (seconds, for the tests): 20 calls per path and transport.
    #[arg(long, conflicts_with = "calls")]
    pub smoke: bool,
}

impl McpBenchArgs {
    /// These options with the smoke sizes when `--smoke` is given.
    pub(super) fn sized(&self) -> McpBenchArgs {
        if !self.smoke {
            return self.clone();
        }
        McpBenchArgs {
            calls: 20,
            ..self.clone()
        }
    }
}

#[derive(Debug, serde::Serialize)]
struct Row {
    transport: String,
    path: String,
    latency: Summary,
    overhead_p50_us: Option<f64>,
    overhead_p99_us: Option<f64>,
}

/// A server-everything in streamable-HTTP mode, killed on drop.
struct HttpServer {
    child: tokio::process::Child,
    url: String,
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

async fn http_server(program: &Path) -> Result<HttpServer> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let child = tokio::process::Command::new(program)
        .arg("streamableHttp")
        .env("PORT", port.to_string())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("cannot start {}", program.display()))?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        if Instant::now() > deadline {
            bail!("server-everything did not listen on port {port} within 30 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(HttpServer {
        child,
        url: format!("http://127.0.0.1:{port}/mcp"),
    })
}

type Direct = rmcp::service::RunningService<rmcp::RoleClient, ()>;

async fn direct(transport: &str, program: &Path, url: &str) -> Result<Direct> {
    Ok(match transport {
        "stdio" => {
            let cmd = tokio::process::Command::new(program);
            ().serve(rmcp::transport::TokioChildProcess::new(cmd)?)
                .await?
        }
        _ => {
            ().serve(rmcp::transport::StreamableHttpClientTransport::from_uri(
                url,
            ))
            .await?
        }
    })
}

fn echo_args() -> serde_json::Map<String, serde_json::Value> {
    let mut m = serde_json::Map::new();
    m.insert("message".into(), "ping".into());
    m
}

/// Runs the benchmark.
pub async fn mcp(args: &McpBenchArgs, builtin: Option<&Path>) -> Result<()> {
    let args = &args.sized();
    if args.calls == 0 {
        bail!("--calls must be at least 1");
    }
    let program = args.server.canonicalize().with_context(|| {
        format!(
            "{} not found: run scripts/mcp-servers.sh (make setup does), or pass --server",
            args.server.display()
        )
    })?;
    let scratch = tempfile::tempdir()?;
    let plugins = match builtin {
        Some(dir) => Some(Arc::new(
            PluginHost::open(HostOptions {
                data_dir: scratch.path().join("data"),
                builtin_dir: Some(dir.to_path_buf()),
                cache_dir: Some(scratch.path().join("cache")),
            })
            .await?,
        )),
        None => None,
    };
    let mut rows = Vec::new();
    for transport in &args.transports {
        let http = match transport.as_str() {
            "stdio" => None,
            "http" => Some(http_server(&program).await?),
            other => bail!("unknown transport `{other}` (stdio, http)"),
        };
        let url = http.as_ref().map(|h| h.url.clone()).unwrap_or_default();
        let entry = |adapters: serde_json::Value| match transport.as_str() {
            "stdio" => serde_json::json!({"command": program, "adapters": adapters}),
            _ => serde_json::json!({"url": url, "adapters": adapters}),
        };
        let mut servers = serde_json::json!({"bare": entry(serde_json::json!([]))});
        if plugins.is_some() {
            servers["redact"] = entry(serde_json::json!(["mcp-redact"]));
        }
        let file = scratch.path().join(format!("{transport}.json"));
        std::fs::write(
            &file,
            serde_json::json!({"mcpServers": servers}).to_string(),
        )?;
        let manager = McpManager::open(
            Some(&FileSource {
                path: file,
                required: true,
            }),
            None,
            plugins.clone(),
        )
        .await?;
        let mut names = vec!["bare".to_string()];
        if plugins.is_some() {
            names.push("redact".into());
        }
        if manager.tools_for(&names).await.len() < names.len() {
            bail!("the MCP manager could not start server-everything over {transport}");
        }
        let client = direct(transport, &program, &url).await?;
        let cancel = CancellationToken::new();
        let mut samples: Vec<Vec<Duration>> = vec![Vec::new(); names.len() + 1];
        let warmup = (args.calls / 10).max(1);
        let rounds = 10;
        let per_round = args.calls.div_ceil(rounds);
        for round in 0..=rounds {
            // Round 0 is the warm-up; then the paths take turns.
            let n = if round == 0 { warmup } else { per_round };
            for path in 0..samples.len() {
                for _ in 0..n {
                    let started = Instant::now();
                    if path == 0 {
                        client
                            .call_tool(
                                CallToolRequestParams::new("echo").with_arguments(echo_args()),
                            )
                            .await?;
                    } else {
                        manager
                            .call(
                                &format!("{}__echo", names[path - 1]),
                                serde_json::Value::Object(echo_args()),
                                &cancel,
                            )
                            .await?;
                    }
                    if round > 0 {
                        samples[path].push(started.elapsed());
                    }
                }
            }
        }
        let mut summaries = samples.into_iter().map(summarize);
        let base = summaries.next().unwrap_or(summarize(Vec::new()));
        rows.push(Row {
            transport: transport.clone(),
            path: "direct rmcp client".into(),
            latency: base,
            overhead_p50_us: None,
            overhead_p99_us: None,
        });
        for (name, s) in names.iter().zip(summaries) {
            rows.push(Row {
                transport: transport.clone(),
                path: if name == "bare" {
                    "paddock (no adapter)".into()
                } else {
                    "paddock + mcp-redact".into()
                },
                latency: s,
                overhead_p50_us: Some(s.p50_us - base.p50_us),
                overhead_p99_us: Some(s.p99_us - base.p99_us),
            });
        }
        let mut client = client;
        let _ = client.close().await;
        manager.shutdown().await;
        drop(http);
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    println!(
        "MCP tool-call round trip (echo), {} calls per path, paths interleaved",
        args.calls
    );
    println!(
        "{:<10} {:<22} {:>10} {:>10} {:>22}",
        "transport", "path", "p50 µs", "p99 µs", "host overhead p50/p99"
    );
    for r in &rows {
        let overhead = match (r.overhead_p50_us, r.overhead_p99_us) {
            (Some(a), Some(b)) => format!("{a:+.0} / {b:+.0} µs"),
            _ => "(baseline)".into(),
        };
        println!(
            "{:<10} {:<22} {:>10.0} {:>10.0} {:>22}",
            r.transport, r.path, r.latency.p50_us, r.latency.p99_us, overhead
        );
    }
    if plugins.is_none() {
        println!("(built-in plugins not found: the mcp-redact path was not measured)");
    }
    Ok(())
}
