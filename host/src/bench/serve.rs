//! What the benchmarks that drive a server share: a `paddock serve` child
//! (this same binary) spawned from a command the benchmark prepared, its
//! base URL read from the "paddock listening on" line of its stdout, the
//! rest of its stdout drained on a thread (so it never blocks on a full
//! pipe), and killed (`SIGKILL`) and reaped on drop; the scripted model
//! that stamps its tokens; the open-file limit raised for many sockets.

use anyhow::{Context, Result, bail};
use std::io::BufRead;
use std::process::{Child, Command, Stdio};

/// Warns when the open-file limit is low for `n` of `what` (agents,
/// users), each with a few sockets; raises it first as far as allowed.
pub(super) fn warn_nofile(n: usize, what: &str) {
    let nofile = raise_nofile();
    if nofile != 0 && (nofile as usize) < 4 * n + 64 {
        eprintln!(
            "warning: open-file limit {nofile} is low for {n} {what}; raise it (`ulimit -n`)"
        );
    }
}

/// The scripted model the load benchmarks drive: each message starting
/// with `round` is answered with `tokens` stamped tokens at
/// `tokens_per_second` (0: unpaced).
pub(super) async fn stamp_model(
    tokens: u32,
    tokens_per_second: f64,
) -> Result<paddock_llm::scripted::RunningModel> {
    let script = paddock_llm::scripted::Script::from_yaml_str(&format!(
        "model: scripted\nturns:\n  - when: {{user: \"^round\"}}\n    stamp_tokens: {tokens}\n    tokens_per_second: {tokens_per_second}\n"
    ))?;
    paddock_llm::scripted::ScriptedModel::start(script, ([127, 0, 0, 1], 0).into())
        .await
        .context("cannot start the scripted model")
}

/// Raises the soft limit on open files to the hard limit (a run holds two
/// sockets per agent in this process).
pub(super) fn raise_nofile() -> u64 {
    // SAFETY: getrlimit/setrlimit only read and write the struct passed.
    unsafe {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 0;
        }
        if lim.rlim_cur < lim.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: lim.rlim_max,
                rlim_max: lim.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                return raised.rlim_cur;
            }
        }
        lim.rlim_cur
    }
}

/// A running `paddock serve`, killed on drop.
pub(super) struct Served {
    child: Child,
    /// Its pid, as text (for `/proc/PID/…`).
    pub pid: String,
    /// `http://ADDR:PORT`, as it printed it.
    pub base: String,
}

/// Starts `cmd` (a `paddock … serve …` command; its stderr is the
/// caller's choice) with stdin closed and stdout piped, and waits for it
/// to print "paddock listening on ADDR".
pub(super) fn start(mut cmd: Command) -> Result<Served> {
    cmd.stdin(Stdio::null()).stdout(Stdio::piped());
    let mut child = cmd.spawn().context("cannot start `paddock serve`")?;
    let Some(stdout) = child.stdout.take() else {
        let _ = child.kill();
        let _ = child.wait();
        bail!("`paddock serve` has no stdout");
    };
    let mut lines = std::io::BufReader::new(stdout).lines();
    let mut base = None;
    for line in lines.by_ref() {
        let Ok(line) = line else {
            break;
        };
        if let Some(addr) = line.strip_prefix("paddock listening on ") {
            base = Some(addr.trim().to_string());
            break;
        }
    }
    // Keep draining stdout so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    let pid = child.id().to_string();
    let Some(base) = base else {
        let _ = child.kill();
        let _ = child.wait();
        bail!("`paddock serve` did not start");
    };
    Ok(Served { child, pid, base })
}

impl Served {
    /// `kill -9` and reap it.
    pub(super) fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        self.kill9();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_address_and_kills_on_drop() {
        let mut cmd = Command::new("sh");
        cmd.args([
            "-c",
            "echo starting; echo 'paddock listening on http://127.0.0.1:9'; exec sleep 30",
        ]);
        let mut s = start(cmd).unwrap();
        assert_eq!(s.base, "http://127.0.0.1:9");
        let proc = std::path::PathBuf::from(format!("/proc/{}", s.pid));
        assert!(proc.exists());
        s.kill9();
        assert!(!proc.exists(), "killed and reaped");
    }

    #[test]
    fn a_server_that_never_listens_is_an_error() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo nothing here"]);
        let e = start(cmd).err().unwrap();
        assert!(e.to_string().contains("did not start"), "{e}");
    }
}
