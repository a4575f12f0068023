//! Every `paddock bench` subcommand, run by the real binary at its smoke
//! size (`--smoke`, seconds): it must exit 0 and print each of its figures
//! as a number. Nothing is asserted about the figures' values (no timing):
//! this keeps the benchmarks from breaking unnoticed between `make bench`
//! runs.
//!
//! Needs the built-in plugins staged in `target/plugins` (`make test`
//! builds them first), the test MCP servers (`scripts/mcp-servers.sh`),
//! bubblewrap (skipped like `tests/sandbox_bwrap.rs` when it cannot make a
//! sandbox here, unless `PADDOCK_TEST_REQUIRE_SANDBOX` is set) and Podman
//! (the private service of `tests/common/podman.rs`; fails without it).

use crate::common;

use common::{Paddock, describe, paddock_bin, stdout};
use std::path::PathBuf;

/// Where `make` stages the built-in plugins: `target/plugins`.
fn builtin_plugins_dir() -> PathBuf {
    let bin = paddock_bin();
    let dir = bin
        .parent()
        .expect("the binary is in a directory")
        .join("..")
        .join("plugins");
    assert!(
        dir.join("fs-tools").is_dir(),
        "{} holds no built-in plugins: run `scripts/build-plugins.sh` (`make test` does)",
        dir.display()
    );
    dir
}

/// Runs `paddock --builtin-plugins target/plugins bench ARGS --smoke`, which
/// must succeed; its stdout.
fn bench(args: &[&str], env: &[(&str, &str)]) -> String {
    let paddock = Paddock::new();
    let out = paddock
        .command()
        .arg("--builtin-plugins")
        .arg(builtin_plugins_dir())
        .arg("bench")
        .args(args)
        .arg("--smoke")
        .envs(env.iter().copied())
        .output()
        .expect("run paddock bench");
    assert!(
        out.status.success(),
        "paddock bench {args:?}: {}",
        describe(&out)
    );
    stdout(&out)
}

/// The numbers in `text`: each starts a word or follows `(`, `+`, `-` or
/// `/` (so `p50` is a label, not 50), with a unit glued after it or not
/// (`12.5x`, `0.3s`, `45%`, `44.1MiB`). `NaN` and `inf` are not numbers.
fn numbers(text: &str) -> Vec<f64> {
    let mut out = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let starts = i == 0 || !chars[i - 1].is_alphanumeric() && chars[i - 1] != '.';
        let signed =
            matches!(chars[i], '+' | '-') && chars.get(i + 1).is_some_and(|c| c.is_ascii_digit());
        if starts && (chars[i].is_ascii_digit() || signed) {
            let begin = i;
            i += 1;
            // Digits, and a decimal point only between digits (a number
            // may end a sentence).
            while i < chars.len()
                && (chars[i].is_ascii_digit()
                    || chars[i] == '.' && chars.get(i + 1).is_some_and(|c| c.is_ascii_digit()))
            {
                i += 1;
            }
            let word: String = chars[begin..i].iter().collect();
            let value: f64 = word
                .parse()
                .unwrap_or_else(|e| panic!("`{word}` in `{text}`: {e}"));
            out.push(value);
        } else {
            i += 1;
        }
    }
    out
}

/// The numbers after `label` on the one line of `out` that starts with it
/// (leading spaces aside); there must be `count` of them.
fn figures(out: &str, label: &str, count: usize) -> Vec<f64> {
    let lines: Vec<&str> = out
        .lines()
        .filter(|l| l.trim_start().starts_with(label))
        .collect();
    assert_eq!(
        lines.len(),
        1,
        "want one line starting with `{label}`:\n{out}"
    );
    let rest = &lines[0].trim_start()[label.len()..];
    let found = numbers(rest);
    assert_eq!(
        found.len(),
        count,
        "`{label}` should carry {count} figures, has {found:?}:\n{out}"
    );
    found
}

#[test]
fn numbers_are_read_as_printed() {
    assert_eq!(
        numbers("p50 12.5 µs (3.0x / 4x the host) +7 / -0.5 µs 45% 0.3s 44.1MiB, 2."),
        vec![12.5, 3.0, 4.0, 7.0, -0.5, 45.0, 0.3, 44.1, 2.0]
    );
    assert!(numbers("p50 NaN µs inf bench1 v1.2").is_empty());
}

#[test]
fn bench_plugins() {
    let out = bench(&["plugins"], &[]);
    assert_eq!(figures(&out, "paddock bench plugins (", 2), vec![20.0, 1.0]);
    figures(&out, "read_file, fresh instance", 3);
    figures(&out, "native std::fs::read_to_string", 3);
    // ratio, µs added per call, and the target.
    figures(&out, "ratio p50:", 3);
    let compile = figures(&out, "load: compile (", 4);
    assert!(compile[0] > 0.0, "the component's size in KiB: {out}");
    figures(&out, "load: from compiled cache", 3);
    figures(&out, "cache speed-up p50:", 1);
}

#[test]
fn bench_agents() {
    let out = bench(&["agents"], &[]);
    figures(&out, "paddock bench agents (", 3);
    // agents, api, done, events/s, window, p50, p99, max, base p50, base
    // p99, p99 x, srv cpu, bench, other, peak RSS: one run per API.
    let rows: Vec<(&str, Vec<f64>)> = out
        .lines()
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            words.next()?.parse::<u64>().ok()?;
            let api = words.next().filter(|w| ["chat", "responses"].contains(w))?;
            Some((api, numbers(l)))
        })
        .collect();
    let apis: Vec<&str> = rows.iter().map(|(api, _)| *api).collect();
    assert_eq!(
        apis,
        ["chat", "responses"],
        "one run of 2 agents per API:\n{out}"
    );
    for (api, run) in &rows {
        assert_eq!(run.len(), 14, "{api}: {run:?}:\n{out}");
        assert_eq!(run[0], 2.0, "agents: {out}");
        assert_eq!(
            run[1], 2.0,
            "every agent's run over {api} must end (answer stored, idle): {out}"
        );
        // added p50, added p99, events, window, server CPU s, µs per event,
        // lagged, the target.
        let summary = figures(&out, &format!("2 agents, {api}: Paddock adds"), 8);
        assert!(summary[2] > 0.0, "events were delivered over {api}: {out}");
    }
    // Added p50 and p99 of each and their difference, server CPU per event
    // of each and their ratio.
    figures(&out, "2 agents, responses vs chat:", 9);
    // idle agents, RSS before and after, per idle agent, the target.
    assert_eq!(figures(&out, "idle:", 5)[0], 5.0);
}

#[test]
fn bench_mcp() {
    let server = common::mcp_servers::server_everything();
    let out = bench(&["mcp", "--server", &server.display().to_string()], &[]);
    assert_eq!(
        figures(&out, "MCP tool-call round trip (echo),", 1),
        vec![20.0]
    );
    assert!(
        !out.contains("built-in plugins not found"),
        "the mcp-redact path must be measured: {out}"
    );
    for transport in ["stdio", "http"] {
        let rows: Vec<&str> = out
            .lines()
            .filter(|l| l.split_whitespace().next() == Some(transport))
            .collect();
        assert_eq!(rows.len(), 3, "three {transport} paths:\n{out}");
        for (path, count) in [
            ("direct rmcp client", 2),
            ("paddock (no adapter)", 4),
            ("paddock + mcp-redact", 4),
        ] {
            let row = rows
                .iter()
                .find(|r| r.contains(path))
                .unwrap_or_else(|| panic!("no {transport} row for `{path}`:\n{out}"));
            let (_, rest) = row.split_once(path).expect("the path is in the row");
            assert_eq!(
                numbers(rest).len(),
                count,
                "{transport} `{path}`: p50, p99 (and the overheads): {row}"
            );
        }
    }
}

#[test]
fn bench_users() {
    let out = bench(&["users"], &[]);
    let head = figures(&out, "paddock bench users (", 7);
    assert_eq!(
        head[..4],
        [3.0, 2.0, 2.0, 5.0],
        "users, agents, rounds, tokens: {out}"
    );
    for load in ["no-auth ", "auth "] {
        // calls, api p50, p99, max, event p50, p99, errors.
        let row = figures(&out, load, 7);
        assert!(
            row[0] >= 3.0 * (2.0 + 2.0 * 4.0),
            "every call was timed: {out}"
        );
        assert_eq!(row[6], 0.0, "no errors: {out}");
    }
    figures(&out, "ratios auth / no-auth:", 4);
    // p50 and p99 added, and the target.
    figures(&out, "authorization adds", 3);
    // Quiet calls: p50, p99 of each mode, what auth adds at p50 and p99.
    figures(&out, "quiet calls (", 6);
}

#[test]
fn bench_policy() {
    let out = bench(&["policy"], &[]);
    let head = figures(&out, "policy decision latency:", 3);
    assert_eq!(head[0], 100.0, "rules: {out}");
    assert!(head[1] >= 1.0, "the built-in assessor was heard: {out}");
    assert_eq!(head[2], 20.0, "decisions per path: {out}");
    for path in [
        "rules only (no assessor)",
        "one bare default-assessor call",
        "full decision (rules + assessor)",
    ] {
        // p50, p99, mean, × bare p50.
        figures(&out, path, 4);
    }
    // The target and the full decision's p50.
    figures(&out, "target: full decision <", 2);
}

/// The three figure lines of a measured backend (`bwrap (no network)`),
/// for both the per-command path and the persistent sandbox (measured in
/// the same run).
fn backend_figures(out: &str, heading: &str) {
    for mode in ["per-command:", "persistent:"] {
        mode_figures(out, heading, mode);
    }
}

fn mode_figures(out: &str, heading: &str, mode: &str) {
    let lines: Vec<&str> = out.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.trim().starts_with(&format!("{heading}, {mode}")))
        .unwrap_or_else(|| panic!("`{heading}, {mode}` was not measured:\n{out}"));
    let block = lines[at + 1..]
        .iter()
        .take(3)
        .copied()
        .collect::<Vec<_>>()
        .join("\n");
    figures(&block, "create + first command:", 2);
    // p50, p99 and both as multiples of the host's.
    figures(&block, "`true` in the sandbox:", 4);
    figures(&block, "overhead per command:", 2);
}

fn sandbox_run(backend: &str, env: &[(&str, &str)]) -> String {
    let out = bench(&["sandbox", "--backends", backend], env);
    assert_eq!(
        figures(&out, "sandbox benchmark:", 2),
        vec![10.0, 1.0],
        "runs and creations"
    );
    figures(&out, "host (baseline)", 2);
    out
}

#[test]
fn bench_sandbox_bwrap() {
    let out = sandbox_run("bwrap", &[]);
    let skipped = |what: &str| {
        let line = out.lines().find(|l| l.trim_start().starts_with(what))?;
        if std::env::var_os("PADDOCK_TEST_REQUIRE_SANDBOX").is_some() {
            panic!("required but unavailable: {line}");
        }
        eprintln!("SKIPPED: {line}");
        Some(())
    };
    if !out.contains("bwrap (no network)") && skipped("skipped bwrap (").is_some() {
        return;
    }
    backend_figures(&out, "bwrap (no network)");
    // An environment's start, uncached then cached.
    figures(&out, "bwrap environment start", 2);
    let network_skipped = out
        .lines()
        .find(|l| l.trim_start().starts_with("skipped bwrap (") && l.contains("with network:"));
    match network_skipped {
        Some(line) if std::env::var_os("PADDOCK_TEST_REQUIRE_SANDBOX").is_some() => {
            panic!("required but unavailable: {line}")
        }
        Some(line) => eprintln!("SKIPPED: {line}"),
        None => backend_figures(&out, "bwrap (network granted)"),
    }
}

#[test]
fn bench_sandbox_docker() {
    let engine = common::podman::engine();
    let out = sandbox_run("docker", &[("DOCKER_HOST", engine.endpoint.as_str())]);
    assert!(!out.contains("skipped"), "docker must be measured: {out}");
    backend_figures(&out, "docker (no network)");
    backend_figures(&out, "docker (network granted)");
    figures(&out, "docker environment start", 2);
}

/// `bench hosts` needs PostgreSQL: the server of `tests/common/postgres.rs`
/// (`PADDOCK_TEST_POSTGRES_URL`, default 127.0.0.1:5432), on which it
/// creates and drops databases of its own.
#[test]
fn bench_hosts() {
    let server = std::env::var("PADDOCK_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let out = bench(&["hosts", "--postgres-url", &server], &[]);
    assert_eq!(
        figures(&out, "paddock bench hosts (", 5)[..4],
        [6.0, 2.0, 5.0, 2.0],
        "agents, rounds, tokens, lease_secs: {out}"
    );
    // hosts, placement (one per host), done, events, window, events/s,
    // ratio, same p50, p99, [cross p50, p99, p99 x], cpu/evt, lagged.
    let rows: Vec<Vec<f64>> = out
        .lines()
        .filter(|l| {
            let mut words = l.split_whitespace();
            words.next().is_some_and(|w| w.parse::<u64>().is_ok())
                && words
                    .next()
                    .is_some_and(|w| w.contains(|c: char| c.is_ascii_digit()))
        })
        .map(numbers)
        .collect();
    assert_eq!(rows.len(), 3, "one row per number of hosts:\n{out}");
    for (i, row) in rows.iter().enumerate() {
        let n = i + 1;
        assert_eq!(row[0], n as f64, "{out}");
        let cross = if n > 1 { 3 } else { 0 };
        assert_eq!(row.len(), 10 + n + cross, "{n} hosts: {row:?}:\n{out}");
        let placed: f64 = row[1..=n].iter().sum();
        assert_eq!(placed, 6.0, "every agent is placed on a host: {out}");
        assert_eq!(row[n + 1], 6.0, "every agent finished its rounds: {out}");
        assert!(row[n + 2] > 0.0, "events were stored: {out}");
    }
    for n in [2, 3] {
        // events/s ratio; cross p50, p99; same p50, p99; p99 added and ratio.
        figures(&out, &format!("{n} hosts vs 1:"), 7);
    }
    // hosts, kills, agents moved, p50, max, min, lease_secs.
    let takeover = figures(&out, "takeover (kill -9", 7);
    assert_eq!(takeover[..2], [3.0, 2.0], "3 hosts, 2 kills: {out}");
    assert_eq!(takeover[6], 2.0, "lease_secs: {out}");
}
