//! `paddock bench …`: measurements of Paddock's own overheads, each printed
//! against a baseline measured in the same run. Each has a `--smoke` size
//! (seconds) that `tests/bench.rs` runs, so a benchmark that breaks fails
//! the tests; the figures themselves are never asserted.

mod agents;
mod environment;
mod hosts;
mod mcp;
mod plugins;
mod policy;
mod sandbox;
mod serve;
mod users;

pub use agents::{AgentBenchArgs, agents};
pub use hosts::{HostBenchArgs, hosts};
pub use mcp::{McpBenchArgs, mcp};
pub use plugins::{PluginBenchArgs, plugins};
pub use policy::{PolicyBenchArgs, policy};
pub use sandbox::{SandboxBenchArgs, sandbox};
pub use users::{UserBenchArgs, users};

use std::time::Duration;

/// Waits for each task until `deadline`: one still running then is
/// aborted and stands as `timed_out()`; one that panicked is an error.
pub(crate) async fn join_until<T>(
    tasks: Vec<tokio::task::JoinHandle<T>>,
    deadline: tokio::time::Instant,
    timed_out: impl Fn() -> T,
) -> Result<Vec<T>, tokio::task::JoinError> {
    let mut out = Vec::with_capacity(tasks.len());
    for task in tasks {
        let abort = task.abort_handle();
        match tokio::time::timeout_at(deadline, task).await {
            Ok(done) => out.push(done?),
            Err(_) => {
                abort.abort();
                out.push(timed_out());
            }
        }
    }
    Ok(out)
}

/// Percentiles of a sample.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Summary {
    /// Median, µs.
    pub p50_us: f64,
    /// 99th percentile, µs.
    pub p99_us: f64,
    /// Mean, µs.
    pub mean_us: f64,
}

/// Summarises durations.
pub fn summarize(mut samples: Vec<Duration>) -> Summary {
    samples.sort();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    let at = |q: f64| {
        let idx = ((samples.len() as f64 - 1.0) * q).round() as usize;
        samples.get(idx).copied().map(us).unwrap_or(0.0)
    };
    let mean = if samples.is_empty() {
        0.0
    } else {
        samples.iter().copied().map(us).sum::<f64>() / samples.len() as f64
    };
    Summary {
        p50_us: at(0.50),
        p99_us: at(0.99),
        mean_us: mean,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles() {
        let s = summarize((1..=100).map(Duration::from_micros).collect());
        assert!((s.p50_us - 51.0).abs() < 1.01, "{s:?}");
        assert!((s.p99_us - 99.0).abs() < 1.01, "{s:?}");
        assert!((s.mean_us - 50.5).abs() < 0.01);
        assert_eq!(summarize(vec![]).p50_us, 0.0);
    }

    /// Parses `paddock bench X ARGS` for the options struct `A`.
    fn parse<A: clap::Args + clap::FromArgMatches>(args: &[&str]) -> Result<A, clap::Error> {
        let cmd = A::augment_args(clap::Command::new("bench"));
        let matches =
            cmd.try_get_matches_from(std::iter::once("bench").chain(args.iter().copied()))?;
        A::from_arg_matches(&matches)
    }

    #[test]
    fn smoke_sizes_replace_the_defaults_and_conflict_with_explicit_sizes() {
        let p = parse::<PluginBenchArgs>(&["--smoke"]).unwrap().sized();
        assert_eq!((p.calls, p.loads), (20, 1));
        let p = parse::<PluginBenchArgs>(&[]).unwrap().sized();
        assert_eq!((p.calls, p.loads), (10_000, 20));
        assert!(parse::<PluginBenchArgs>(&["--smoke", "--loads", "3"]).is_err());

        let a = parse::<AgentBenchArgs>(&["--smoke", "--json"])
            .unwrap()
            .sized();
        assert_eq!((a.agents, a.tokens, a.idle_agents), (vec![2], 10, 5));
        assert!(a.json);
        let a = parse::<AgentBenchArgs>(&[]).unwrap().sized();
        assert_eq!(
            (a.agents, a.tokens, a.idle_agents),
            (vec![10, 100, 500], 100, 500)
        );
        assert!(parse::<AgentBenchArgs>(&["--smoke", "--agents", "3"]).is_err());

        let m = parse::<McpBenchArgs>(&["--smoke", "--transports", "stdio"])
            .unwrap()
            .sized();
        assert_eq!((m.calls, m.transports), (20, vec!["stdio".to_string()]));
        assert_eq!(parse::<McpBenchArgs>(&[]).unwrap().sized().calls, 1000);
        assert!(parse::<McpBenchArgs>(&["--smoke", "--calls", "3"]).is_err());

        let p = parse::<PolicyBenchArgs>(&["--smoke"]).unwrap().sized();
        assert_eq!((p.calls, p.rules), (20, 100));
        assert_eq!(parse::<PolicyBenchArgs>(&[]).unwrap().sized().calls, 2000);
        assert!(parse::<PolicyBenchArgs>(&["--smoke", "--calls", "3"]).is_err());

        let s = parse::<SandboxBenchArgs>(&["--smoke", "--backends", "bwrap"])
            .unwrap()
            .sized();
        assert_eq!((s.runs, s.creates), (10, 1));
        assert_eq!(s.backends, vec!["bwrap".to_string()]);
        let s = parse::<SandboxBenchArgs>(&[]).unwrap().sized();
        assert_eq!((s.runs, s.creates), (500, 10));
        assert!(parse::<SandboxBenchArgs>(&["--smoke", "--creates", "3"]).is_err());

        let u = parse::<UserBenchArgs>(&["--smoke"]).unwrap().sized();
        assert_eq!(
            (
                u.users,
                u.agents_per_user,
                u.rounds,
                u.tokens,
                u.passes,
                u.probes
            ),
            (3, 2, 2, 5, 1, 20)
        );
        let u = parse::<UserBenchArgs>(&[]).unwrap().sized();
        assert_eq!((u.users, u.agents_per_user, u.passes), (100, 3, 2));
        assert!(parse::<UserBenchArgs>(&["--smoke", "--users", "3"]).is_err());

        let h = parse::<HostBenchArgs>(&["--smoke", "--hosts", "1,2"])
            .unwrap()
            .sized();
        assert_eq!(
            (h.agents, h.rounds, h.tokens, h.kills, h.lease_secs),
            (6, 2, 5, 2, 2)
        );
        assert_eq!(h.hosts, vec![1, 2]);
        let h = parse::<HostBenchArgs>(&[]).unwrap().sized();
        assert_eq!(
            (h.hosts, h.agents, h.kills, h.lease_secs),
            (vec![1, 2, 3], 60, 20, 10)
        );
        assert_eq!(
            h.postgres_url,
            "postgres://postgres@127.0.0.1:5432/postgres"
        );
        assert!(parse::<HostBenchArgs>(&["--smoke", "--lease-secs", "3"]).is_err());
        assert!(parse::<HostBenchArgs>(&["--smoke", "--kills", "3"]).is_err());
    }
}
