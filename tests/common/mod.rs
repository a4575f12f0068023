//! Shared helpers of the end-to-end tests: each test starts the real
//! `paddock` binary against a fresh, throw-away data dir.

pub mod engines;
pub mod evals;
pub mod events;
pub mod in_process;
pub mod mcp_servers;
pub mod outside;
pub mod podman;
pub mod postgres;
pub mod scripted;
pub mod swebench;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository's root (the host crate is one of its directories).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the host crate is in the repository")
        .to_path_buf()
}

/// The `paddock` binary under test.
pub fn paddock_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_paddock"))
}

/// Where `make` stages the test plugins (`<name>/` = manifest + `.wasm`):
/// `<dir of the paddock binary>/../test-plugins`, i.e. `target/test-plugins`.
pub fn test_plugins_dir() -> PathBuf {
    let bin = paddock_bin();
    let dir = bin.parent().unwrap_or_else(|| Path::new("."));
    dir.join("..").join("test-plugins")
}

/// The compiled-component cache shared by the tests (`target/test-cache`).
pub fn shared_cache_dir() -> PathBuf {
    let bin = paddock_bin();
    let dir = bin.parent().unwrap_or_else(|| Path::new("."));
    dir.join("..").join("test-cache")
}

/// A fresh temporary data dir, removed on drop. It lies under
/// `target/test-data`, not the system's temp dir: the tests' servers allow
/// workspaces anywhere under the temp dir, and a workspace root may not
/// overlap a data dir (it holds the tokens and the database).
pub fn data_tempdir(prefix: &str) -> tempfile::TempDir {
    let bin = paddock_bin();
    let parent = bin
        .parent()
        .unwrap_or_else(|| Path::new("."))
        .join("..")
        .join("test-data");
    std::fs::create_dir_all(&parent).expect("create target/test-data");
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in(parent)
        .expect("create a temporary data dir")
}

/// One Paddock installation in a fresh temporary data dir, removed on drop.
pub struct Paddock {
    data_dir: tempfile::TempDir,
}

impl Paddock {
    /// A fresh, empty data dir.
    pub fn new() -> Paddock {
        Paddock {
            data_dir: data_tempdir("paddock-test-"),
        }
    }

    /// The data dir.
    pub fn data_dir(&self) -> &Path {
        self.data_dir.path()
    }

    /// A `paddock --data-dir D` command, ready for more arguments.
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(paddock_bin());
        cmd.arg("--data-dir").arg(self.data_dir.path());
        // Compiled components are keyed by content and engine, so the tests
        // share one cache instead of recompiling in every fresh data dir.
        cmd.env("PADDOCK_CACHE_DIR", shared_cache_dir());
        cmd
    }

    /// Runs `paddock --data-dir D ARGS...` to completion.
    pub fn cmd<I, S>(&self, args: I) -> Output
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.command()
            .args(args)
            .output()
            .expect("run the paddock binary")
    }
}

impl Default for Paddock {
    fn default() -> Self {
        Paddock::new()
    }
}

/// Runs `git -C dir ARGS...`, which must succeed; its stdout, trimmed.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .expect("run git");
    assert!(out.status.success(), "git {args:?}: {}", describe(&out));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A command's stdout, as text.
pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A command's stderr, as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Everything about a finished command, for assertion messages.
pub fn describe(out: &Output) -> String {
    format!(
        "status: {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        out.status,
        stdout(out),
        stderr(out)
    )
}

/// For a test that needs variables in this process's own environment:
/// setting them here would race with every other test of this process
/// (reading the environment while another thread changes it is undefined
/// behaviour), so the test runs again, alone, in a child process of this
/// test binary started with `env`. Returns true in that child, where the
/// test's body runs; in the test process it asserts that the child ran
/// exactly this one test and that it passed, and returns false.
///
/// `module` is the test's `module_path!()`, `test` its function's name.
pub fn in_child_with_env(module: &str, test: &str, env: &[(&str, &str)]) -> bool {
    const CHILD: &str = "PADDOCK_E2E_CHILD_TEST";
    // Test names leave out the crate's name.
    let path = module.split_once("::").map_or("", |(_, m)| m);
    let name = format!("{path}::{test}");
    if std::env::var_os(CHILD).is_some_and(|v| v == name.as_str()) {
        return true;
    }
    let out = Command::new(std::env::current_exe().expect("the test binary's path"))
        .args([name.as_str(), "--exact", "--test-threads=1", "--nocapture"])
        .env(CHILD, &name)
        .envs(env.iter().copied())
        .output()
        .expect("run the test binary again");
    assert!(
        out.status.success(),
        "{name} in a child: {}",
        describe(&out)
    );
    assert!(
        stdout(&out).contains("test result: ok. 1 passed;"),
        "the child ran exactly {name}: {}",
        describe(&out)
    );
    false
}

/// The `.wasm` component in a staged plugin directory.
pub fn wasm_in(dir: &Path) -> PathBuf {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "wasm"))
        .unwrap_or_else(|| panic!("no .wasm in {}", dir.display()))
}

/// The admin token the servers of the tests use.
pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789";
/// The (user) API token the servers of the tests use.
pub const USER_TOKEN: &str = "test-user-token-0123456789";

/// The session cookie a `Set-Cookie` header sets (`name=value`), checked
/// HttpOnly, SameSite=Strict and for the whole site.
pub fn session_cookie(r: &reqwest::Response) -> String {
    let set = r
        .headers()
        .get("set-cookie")
        .expect("a session cookie")
        .to_str()
        .unwrap()
        .to_string();
    assert!(set.contains("HttpOnly"), "{set}");
    assert!(set.contains("SameSite=Strict"), "{set}");
    assert!(set.contains("Path=/"), "{set}");
    set.split(';').next().unwrap().to_string()
}

/// The value of the CSRF cookie (`paddock_csrf_<port>`) a sign-in's
/// `Set-Cookie` headers set, checked readable by the page and
/// SameSite=Strict: what a change made with the session cookie sends as
/// `X-Paddock-CSRF`.
pub fn csrf_token(r: &reqwest::Response) -> String {
    let set = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.starts_with("paddock_csrf_"))
        .expect("a CSRF cookie");
    assert!(!set.contains("HttpOnly"), "{set}");
    assert!(set.contains("SameSite=Strict"), "{set}");
    let pair = set.split(';').next().unwrap();
    pair.split_once('=').unwrap().1.to_string()
}

/// An HTTP client that sends the user token with every request (what the
/// CLI and scripts do with the data dir's `api-token`).
pub fn client() -> reqwest::Client {
    client_with(USER_TOKEN)
}

/// An HTTP client that sends this bearer token with every request (a
/// request's own `Authorization` header wins).
pub fn client_with(token: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {token}").parse().expect("a header value"),
    );
    reqwest::Client::builder()
        .default_headers(headers)
        .timeout(std::time::Duration::from_secs(60))
        .build()
        .expect("an HTTP client")
}

/// A `paddock serve` child process on a free loopback port, killed on drop.
pub struct Server {
    child: std::process::Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The lines the server printed at start.
    pub banner: Vec<String>,
}

impl Server {
    /// Starts `paddock --data-dir D serve --config CONFIG --bind BIND`
    /// (`127.0.0.1:0` when `bind` is None) with extra environment variables,
    /// and waits until it listens.
    pub fn start(p: &Paddock, config: &Path, bind: Option<&str>, env: &[(&str, &str)]) -> Server {
        Server::start_with_args(p, config, bind, env, &[])
    }

    /// Like [`Server::start`], with more arguments for `serve`. A server
    /// bound to an unspecified address (`0.0.0.0`) is reached at 127.0.0.1.
    pub fn start_with_args(
        p: &Paddock,
        config: &Path,
        bind: Option<&str>,
        env: &[(&str, &str)],
        args: &[&str],
    ) -> Server {
        Server::start_logging(p, config, bind, env, args, std::process::Stdio::inherit())
    }

    /// Like [`Server::start_with_args`], its stderr (the log) going to
    /// `stderr` (e.g. a file, to look through afterwards).
    pub fn start_logging(
        p: &Paddock,
        config: &Path,
        bind: Option<&str>,
        env: &[(&str, &str)],
        args: &[&str],
        stderr: std::process::Stdio,
    ) -> Server {
        use std::io::BufRead;
        let mut cmd = p.command();
        cmd.arg("serve");
        // The tests' workspaces are temporary directories; a test that
        // names roots of its own gets only those.
        if !args.contains(&"--workspace-root") {
            cmd.arg("--workspace-root").arg(std::env::temp_dir());
        }
        cmd.args(args)
            .arg("--config")
            .arg(config)
            .arg("--bind")
            .arg(bind.unwrap_or("127.0.0.1:0"))
            .env("PADDOCK_ADMIN_TOKEN", ADMIN_TOKEN)
            .env("PADDOCK_TOKEN", USER_TOKEN)
            .stdout(std::process::Stdio::piped())
            .stderr(stderr);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("start paddock serve");
        let stdout = child.stdout.take().expect("serve's stdout");
        let mut lines = std::io::BufReader::new(stdout).lines();
        let mut banner = Vec::new();
        let mut base = None;
        for line in lines.by_ref() {
            let line = line.expect("read serve's stdout");
            banner.push(line.clone());
            if let Some(addr) = line.strip_prefix("paddock listening on ") {
                base = Some(addr.trim().replacen("://0.0.0.0:", "://127.0.0.1:", 1));
            }
            // The banner's last line: the one-time sign-in link.
            if line.starts_with("open the dashboard") {
                break;
            }
        }
        let Some(base) = base else {
            let _ = child.kill();
            panic!("paddock serve did not start: {banner:?}");
        };
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Server {
            child,
            base,
            banner,
        }
    }

    /// `base + path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The one-time sign-in link it printed.
    pub fn login_link(&self) -> String {
        self.banner
            .iter()
            .find_map(|l| l.strip_prefix("open the dashboard (this link signs you in once): "))
            .unwrap_or_else(|| panic!("no sign-in link in {:?}", self.banner))
            .to_string()
    }

    /// `ws://…/api/ws?token=…` with the user token (the upgrade is the one
    /// place a token may come in the query).
    pub fn ws_url(&self) -> String {
        format!("{}?token={USER_TOKEN}", self.ws_url_plain())
    }

    /// `ws://…/api/ws`, without credentials.
    pub fn ws_url_plain(&self) -> String {
        format!("{}/api/ws", self.base.replacen("http://", "ws://", 1))
    }

    /// Stops the server with SIGTERM (a clean shutdown) and waits for it.
    pub fn terminate(&mut self) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM);
        }
        let _ = self.child.wait();
    }

    /// Sends the server a signal (e.g. `SIGSTOP`, `SIGCONT`).
    pub fn signal(&self, signal: libc::c_int) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, signal);
        }
    }

    /// Whether the server has exited (without waiting).
    pub fn exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    /// Kills the server with SIGKILL (a crash) and waits for it.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// A `paddock.toml` naming one provider, `scripted`, at `base_url` with
/// model `scripted`, quick retries, and `extra` appended verbatim.
pub fn scripted_config(dir: &Path, base_url: &str, extra: &str) -> PathBuf {
    let path = dir.join("paddock.toml");
    let text = format!(
        r#"[[providers]]
name = "scripted"
base_url = "{base_url}"
initial_backoff_ms = 20
max_backoff_ms = 3000
idle_timeout_ms = 1500
[[providers.models]]
name = "scripted"
context_window = 32000
input_per_mtok = 1.0
output_per_mtok = 2.0
cached_input_per_mtok = 0.5
{extra}
"#
    );
    std::fs::write(&path, text).expect("write paddock.toml");
    path
}
