//! `paddock bench …`: measurements of Paddock's own overheads, each printed
//! against a baseline measured in the same run (never asserted in tests).

mod agents;
mod mcp;
mod plugins;
mod policy;
mod sandbox;

pub use agents::{AgentBenchArgs, agents};
pub use mcp::{McpBenchArgs, mcp};
pub use plugins::{PluginBenchArgs, plugins};
pub use policy::{PolicyBenchArgs, policy};
pub use sandbox::{SandboxBenchArgs, sandbox};

use std::time::Duration;

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
}
