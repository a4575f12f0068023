//! The `[sandbox]` section of `paddock.toml`: which backend, the Docker
//! image and engines, resource limits and command defaults.

use serde::{Deserialize, Serialize};
use std::net::Ipv4Addr;
use std::path::PathBuf;

/// Which backend to use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendChoice {
    /// Docker when an engine answers, else bubblewrap.
    #[default]
    Auto,
    /// Docker (or Podman's Docker-compatible API).
    Docker,
    /// Bubblewrap.
    Bwrap,
    /// No sandbox; refused unless `--unsafe-no-sandbox` is given.
    None,
}

impl std::str::FromStr for BackendChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(BackendChoice::Auto),
            "docker" => Ok(BackendChoice::Docker),
            "bwrap" => Ok(BackendChoice::Bwrap),
            "none" => Ok(BackendChoice::None),
            other => Err(format!(
                "unknown sandbox backend `{other}` (expected auto, docker or bwrap)"
            )),
        }
    }
}

/// How commands reach a sandbox.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SandboxMode {
    /// One long-lived sandbox per agent with `paddock-sandboxd` inside:
    /// each command is a fork in it (the default; milliseconds).
    #[default]
    Persistent,
    /// A new bubblewrap jail or Docker exec per command (kept to compare).
    PerCommand,
}

impl std::str::FromStr for SandboxMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "persistent" => Ok(SandboxMode::Persistent),
            "per-command" => Ok(SandboxMode::PerCommand),
            other => Err(format!(
                "unknown sandbox mode `{other}` (expected persistent or per-command)"
            )),
        }
    }
}

/// Resource limits of one sandbox (the seed's as defaults).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SandboxLimits {
    /// Memory in MiB (container limit; address-space rlimit and cgroup
    /// limit for bubblewrap).
    #[serde(default = "default_memory_mb")]
    pub memory_mb: u64,
    /// CPUs (fractions allowed).
    #[serde(default = "default_cpus")]
    pub cpus: f64,
    /// Processes and threads.
    #[serde(default = "default_pids")]
    pub pids: u64,
    /// Largest file a command may write, in MiB.
    #[serde(default = "default_file_size_mb")]
    pub file_size_mb: u64,
    /// Size of the private `/tmp`, in MiB.
    #[serde(default = "default_tmp_size_mb")]
    pub tmp_size_mb: u64,
    /// CPU seconds per process.
    #[serde(default = "default_cpu_time_secs")]
    pub cpu_time_secs: u64,
}

fn default_memory_mb() -> u64 {
    2048
}
fn default_cpus() -> f64 {
    1.0
}
fn default_pids() -> u64 {
    512
}
fn default_file_size_mb() -> u64 {
    1024
}
fn default_tmp_size_mb() -> u64 {
    512
}
fn default_cpu_time_secs() -> u64 {
    900
}

impl Default for SandboxLimits {
    fn default() -> Self {
        SandboxLimits {
            memory_mb: default_memory_mb(),
            cpus: default_cpus(),
            pids: default_pids(),
            file_size_mb: default_file_size_mb(),
            tmp_size_mb: default_tmp_size_mb(),
            cpu_time_secs: default_cpu_time_secs(),
        }
    }
}

/// The `[sandbox]` section.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SandboxConfig {
    /// `auto` (default), `docker` or `bwrap`.
    #[serde(default)]
    pub backend: BackendChoice,
    /// Docker image of the per-agent containers (built locally with
    /// `scripts/sandbox-image.sh`; never pulled).
    #[serde(default = "default_image")]
    pub image: String,
    /// Docker API address (`unix:///…` or `tcp://…`); default `DOCKER_HOST`,
    /// else `/var/run/docker.sock`. A pool of one engine; `engines` names
    /// several (not both).
    #[serde(default)]
    pub docker_host: Option<String>,
    /// The Docker backend's pool of container engines
    /// (`[[sandbox.engines]]`, see [`EngineConfig`]): each agent's sandbox
    /// is placed on the least-loaded healthy engine with room and stays
    /// there. Empty: the one engine of `docker_host`.
    #[serde(default)]
    pub engines: Vec<EngineConfig>,
    /// Who commands run as inside containers: `auto` (default), the numeric
    /// `uid:gid` that owns the agent's workspace (refused when that is root:
    /// chown the workspace to a regular user or set this), or an explicit
    /// numeric `uid[:gid]`. Root (`0`, `0:0`, `root`) is always refused.
    #[serde(default = "default_user")]
    pub user: String,
    /// `persistent` (default: a command server in one long-lived sandbox
    /// per agent) or `per-command` (a jail or exec per command).
    #[serde(default)]
    pub mode: SandboxMode,
    /// The statically linked `paddock-sandboxd` (default: next to the
    /// `paddock` executable; `make sandboxd` builds it there).
    #[serde(default)]
    pub sandboxd_path: Option<PathBuf>,
    /// The bubblewrap binary (default: `bwrap` on `PATH`).
    #[serde(default)]
    pub bwrap_path: Option<PathBuf>,
    /// The slirp4netns binary that gives bubblewrap sandboxes granted the
    /// network their own (default: `slirp4netns` on `PATH` or in `/usr/bin`).
    #[serde(default)]
    pub slirp4netns_path: Option<PathBuf>,
    /// Resource limits of every sandbox.
    #[serde(default)]
    pub limits: SandboxLimits,
    /// Timeout of a command that names none, in seconds.
    #[serde(default = "default_timeout_secs")]
    pub default_timeout_secs: u64,
    /// Longest timeout a command may ask for, in seconds.
    #[serde(default = "default_max_timeout_secs")]
    pub max_timeout_secs: u64,
    /// Longest a background job may run, in seconds.
    #[serde(default = "default_max_job_secs")]
    pub max_job_secs: u64,
    /// Most bytes kept of stdout and of stderr per command.
    #[serde(default = "default_max_output_bytes")]
    pub max_output_bytes: u64,
    /// Background jobs one agent may have at once.
    #[serde(default = "default_max_jobs")]
    pub max_jobs_per_agent: usize,
}

fn default_image() -> String {
    "paddock-sandbox:latest".into()
}
fn default_user() -> String {
    "auto".into()
}
fn default_timeout_secs() -> u64 {
    30
}
fn default_max_timeout_secs() -> u64 {
    600
}
fn default_max_job_secs() -> u64 {
    3600
}
fn default_max_output_bytes() -> u64 {
    1024 * 1024
}
fn default_max_jobs() -> usize {
    8
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            backend: BackendChoice::Auto,
            image: default_image(),
            docker_host: None,
            engines: Vec::new(),
            user: default_user(),
            mode: SandboxMode::default(),
            sandboxd_path: None,
            bwrap_path: None,
            slirp4netns_path: None,
            limits: SandboxLimits::default(),
            default_timeout_secs: default_timeout_secs(),
            max_timeout_secs: default_max_timeout_secs(),
            max_job_secs: default_max_job_secs(),
            max_output_bytes: default_max_output_bytes(),
            max_jobs_per_agent: default_max_jobs(),
        }
    }
}

/// One container engine of the Docker backend's pool
/// (`[[sandbox.engines]]`). The workspace reaches a remote engine through a
/// shared file system: the engine's machine sees each workspace at the
/// host's path, or at the path `path_map` turns it into.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineConfig {
    /// The engine's Docker API: `unix:///path/to/socket` (an engine on this
    /// machine), `tcp://host:port` (with `tls`: client certificates) or
    /// `ssh://[user@]host` (runs `docker system dial-stdio` there; a port
    /// goes in the ssh configuration, as a `Host` with its `Port`).
    pub url: String,
    /// The client certificate, its key and the CA the engine's certificate
    /// is checked against; required for `tcp://`.
    #[serde(default)]
    pub tls: Option<EngineTls>,
    /// The private key `ssh` uses for an `ssh://` engine (default: ssh's own
    /// configuration).
    #[serde(default)]
    pub ssh_key: Option<PathBuf>,
    /// Most sandboxes on this engine at once (default 16).
    #[serde(default = "default_engine_capacity")]
    pub capacity: u32,
    /// Where the engine's machine sees the host's directories: the longest
    /// `host` prefix of a path is replaced by its `engine` prefix (bind
    /// mounts of the workspace, git directories and environment caches).
    /// Paths under no prefix are used as they are.
    #[serde(default)]
    pub path_map: Vec<PathMapping>,
    /// The IPv4 addresses of the engine's machine, which network-enabled
    /// sandboxes on a remote engine must not reach (with the engine's
    /// bridge and gateway, always refused). A remote engine without them
    /// takes no network-enabled sandbox. Unused for `unix://` engines,
    /// whose machine's addresses are read from this host.
    #[serde(default)]
    pub host_addresses: Vec<Ipv4Addr>,
}

/// TLS client certificates of a `tcp://` engine (what `docker --tlsverify`
/// uses: `ca.pem`, `cert.pem`, `key.pem`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineTls {
    /// The CA certificate the engine's certificate must be signed by.
    pub ca: PathBuf,
    /// The client certificate (PEM).
    pub cert: PathBuf,
    /// The client certificate's private key (PEM).
    pub key: PathBuf,
}

/// One host path prefix and where the engine's machine sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PathMapping {
    /// An absolute path prefix on this host.
    pub host: PathBuf,
    /// The same directory on the engine's machine (absolute).
    pub engine: PathBuf,
}

fn default_engine_capacity() -> u32 {
    16
}
