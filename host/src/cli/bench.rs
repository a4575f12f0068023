//! `paddock bench …`: Paddock's overheads, each against a baseline
//! measured in the same run (the measurements are the library's `bench`).

use super::common::{builtin_dir, data_dir};
use crate::Cli;
use anyhow::{Context, Result};
use clap::Subcommand;
use std::process::ExitCode;

#[derive(Subcommand)]
pub(crate) enum BenchCmd {
    /// Fresh-instance call overhead of read_file vs a native read, and plugin load times.
    Plugins(crate::bench::PluginBenchArgs),
    /// N concurrent agents streaming to WebSocket subscribers: latency, events/s, CPU, RSS.
    Agents(crate::bench::AgentBenchArgs),
    /// Per sandbox backend: creation + first command, and per-command overhead of `true`.
    Sandbox(crate::bench::SandboxBenchArgs),
    /// MCP tool-call round trip over stdio and HTTP: Paddock vs a direct rmcp client.
    Mcp(crate::bench::McpBenchArgs),
    /// Policy decision latency: 100 rules + the built-in assessor vs its parts.
    Policy(crate::bench::PolicyBenchArgs),
    /// 100 users with tokens driving the API and a WebSocket each: authorization's overhead vs --unsafe-no-auth.
    Users(crate::bench::UserBenchArgs),
    /// 1, 2 and 3 hosts on one PostgreSQL: events/s, cross-host vs same-host delivery, takeover after kill -9.
    Hosts(crate::bench::HostBenchArgs),
}

/// Runs `paddock bench …`.
pub(crate) async fn run(cli: &Cli, cmd: &BenchCmd) -> Result<ExitCode> {
    match cmd {
        BenchCmd::Plugins(args) => {
            let builtin =
                builtin_dir(cli).context("built-in plugins not found: run `make build` first")?;
            crate::bench::plugins(args, &builtin, cli.cache_dir.as_deref()).await?;
            Ok(ExitCode::SUCCESS)
        }
        BenchCmd::Agents(args) => {
            let cache = match &cli.cache_dir {
                Some(c) => c.clone(),
                None => data_dir(cli)?.join("cache").join("components"),
            };
            crate::bench::agents(args, builtin_dir(cli).as_deref(), Some(&cache)).await?;
            Ok(ExitCode::SUCCESS)
        }
        BenchCmd::Mcp(args) => {
            crate::bench::mcp(args, builtin_dir(cli).as_deref()).await?;
            Ok(ExitCode::SUCCESS)
        }
        BenchCmd::Policy(args) => {
            let builtin =
                builtin_dir(cli).context("built-in plugins not found: run `make build` first")?;
            crate::bench::policy(args, &builtin).await?;
            Ok(ExitCode::SUCCESS)
        }
        BenchCmd::Sandbox(args) => {
            crate::bench::sandbox(args).await?;
            Ok(ExitCode::SUCCESS)
        }
        BenchCmd::Users(args) => {
            crate::bench::users(args).await?;
            Ok(ExitCode::SUCCESS)
        }
        BenchCmd::Hosts(args) => {
            let cache = match &cli.cache_dir {
                Some(c) => c.clone(),
                None => data_dir(cli)?.join("cache").join("components"),
            };
            crate::bench::hosts(args, builtin_dir(cli).as_deref(), Some(&cache)).await?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
