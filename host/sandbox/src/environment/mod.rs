//! Environments: what an agent's sandbox runs beyond the plain one — an
//! image (or a Dockerfile built locally), environment variables, a user,
//! and setup commands — and preparing one: building, running the setup
//! once, caching the result by a hash of what produced it.
//!
//! - [`EnvironmentDef`]: a definition (from `paddock.toml`, the API or a
//!   workspace's devcontainer.json, [`devcontainer`]).
//! - [`prepare`]: makes a [`PreparedEnvironment`], which reaches the
//!   sandbox as [`SandboxSpec::environment`](crate::SandboxSpec).
//!
//! Where setup results live, on both backends: the setup commands run in
//! an ordinary sandbox of the agent's backend (the same confinement as the
//! agent's commands: no capabilities, the agent's network grant, the
//! workspace at `/workspace`) with one more writable directory,
//! `/opt/paddock-env` (`$PADDOCK_ENV`, its `bin` first on `PATH`), a
//! directory of the cache (`<data dir>/environments/<hash>`). Once the
//! commands succeeded it is kept: bubblewrap mounts it read-only into every
//! sandbox of the environment; Docker bakes it into a local image
//! `paddock-env:<hash>` (`FROM` the base image, built by the engine from a
//! tar of the directory, never pulled), which the agent's container runs.
//! `onCreateCommand` and `postCreateCommand` (or an environment's `setup`)
//! run once into that cache; `updateContentCommand` fills the agent's own
//! workspace (e.g. `npm ci`), so it runs for each new agent sandbox and is
//! not cached. A Dockerfile is built once per digest of its context
//! (`paddock-env-build:<digest>`).

pub mod devcontainer;
pub mod docker;

use crate::{Backend, BackendKind, ExecSpec, OutputChunk, SandboxError, SandboxSpec};
use paddock_protocol::events::{EventBody, SetupPhase, SetupStep};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// Where an environment's setup results are, inside the sandbox.
pub const ENV_DIR: &str = "/opt/paddock-env";
/// The default `PATH` inside a sandbox with an environment (its `bin` first).
pub const ENV_PATH: &str =
    "/opt/paddock-env/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// What login shells run so that PATH keeps the environment's `bin`
/// first (Debian's /etc/profile sets PATH anew).
pub const PROFILE_LINE: &str = "# Paddock: the environment's tools first\n\
     case \":$PATH:\" in *:/opt/paddock-env/bin:*) ;; *) PATH=\"/opt/paddock-env/bin:$PATH\" ;; esac\n\
     export PATH\n";
/// How long one setup command may run.
const SETUP_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// Output kept per setup command (the tail is what a failure shows).
const SETUP_OUTPUT: usize = 256 * 1024;
/// Bytes of a failed command's output quoted in its error.
const FAILURE_TAIL: usize = 2000;
/// The file marking a cache directory whose setup succeeded.
const READY: &str = ".paddock-ready";
/// Bumped when what a cache entry holds changes.
const CACHE_VERSION: &str = "paddock-env-v1";

/// A lifecycle command: a shell line, an argv, or named commands run in
/// parallel (each a line or an argv), as devcontainer.json gives them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum CommandForm {
    /// Run by `/bin/sh -c`.
    Shell(String),
    /// Run as is, no shell.
    Argv(Vec<String>),
    /// Named commands, run in parallel; all must succeed.
    #[schema(no_recursion)]
    Parallel(BTreeMap<String, CommandForm>),
}

impl CommandForm {
    /// `(label, argv)` of each command it stands for.
    fn commands(&self) -> Vec<(String, Vec<String>)> {
        match self {
            CommandForm::Shell(line) => vec![(
                line.clone(),
                vec!["/bin/sh".into(), "-c".into(), line.clone()],
            )],
            CommandForm::Argv(argv) => vec![(argv.join(" "), argv.clone())],
            CommandForm::Parallel(named) => named
                .iter()
                .flat_map(|(name, c)| {
                    c.commands()
                        .into_iter()
                        .map(move |(label, argv)| (format!("{name}: {label}"), argv))
                })
                .collect(),
        }
    }

    fn check(&self, field: &str) -> Result<(), String> {
        match self {
            CommandForm::Shell(line) if line.trim().is_empty() => {
                Err(format!("`{field}`: must not be empty"))
            }
            CommandForm::Argv(argv) if argv.is_empty() || argv[0].is_empty() => {
                Err(format!("`{field}`: must name a program"))
            }
            CommandForm::Parallel(named) if named.is_empty() => {
                Err(format!("`{field}`: names no command"))
            }
            CommandForm::Parallel(named) => named.iter().try_for_each(|(name, c)| {
                if matches!(c, CommandForm::Parallel(_)) {
                    Err(format!("`{field}.{name}`: must be a string or an array"))
                } else {
                    c.check(&format!("{field}.{name}"))
                }
            }),
            _ => Ok(()),
        }
    }
}

/// A Dockerfile to build locally.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BuildDef {
    /// The Dockerfile (relative paths: to the workspace; in a
    /// devcontainer.json, to its folder).
    #[schema(value_type = String)]
    pub dockerfile: PathBuf,
    /// The build context (default: the Dockerfile's folder).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub context: Option<PathBuf>,
}

/// What an environment says.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnvironmentDef {
    /// Docker: the image (local; never pulled). Default: the sandbox's
    /// image. Ignored by bubblewrap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Docker: or a Dockerfile built locally. Ignored by bubblewrap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build: Option<BuildDef>,
    /// Environment variables of every command (`containerEnv`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// Docker: the user commands run as, a numeric `uid[:gid]`, never root
    /// (`remoteUser`; a name is ignored with a note). Default: the
    /// workspace's owner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Run once into the cache (`onCreateCommand`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_create: Option<CommandForm>,
    /// Run in each new sandbox of the environment, not cached
    /// (`updateContentCommand`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_content: Option<CommandForm>,
    /// Run once into the cache, after `on_create` (`postCreateCommand`;
    /// `setup` in `paddock.toml`).
    #[serde(default, skip_serializing_if = "Option::is_none", alias = "setup")]
    pub post_create: Option<CommandForm>,
}

impl EnvironmentDef {
    /// Checks the fields' own form; the error names the field.
    pub fn check(&self) -> Result<(), String> {
        if self.image.is_some() && self.build.is_some() {
            return Err("`image`, `build`: give one or the other".into());
        }
        if let Some(image) = &self.image
            && (image.trim().is_empty() || image.chars().any(char::is_whitespace))
        {
            return Err(format!("`image`: `{image}` is not an image name"));
        }
        if let Some(b) = &self.build
            && b.dockerfile.as_os_str().is_empty()
        {
            return Err("`build.dockerfile`: must not be empty".into());
        }
        for name in self.env.keys() {
            if name.is_empty() || name.contains(['=', '\0']) {
                return Err(format!("`containerEnv`: `{name}` is not a variable name"));
            }
        }
        if let Some(user) = &self.user {
            let uid = user.split(':').next().unwrap_or_default();
            if user == "root" || uid == "0" {
                return Err("`remoteUser`: commands never run as root".into());
            }
        }
        for (field, c) in [
            ("onCreateCommand", &self.on_create),
            ("updateContentCommand", &self.update_content),
            ("postCreateCommand", &self.post_create),
        ] {
            if let Some(c) = c {
                c.check(field)?;
            }
        }
        Ok(())
    }

    /// The numeric user, when `user` is one (a name is ignored: the
    /// sandbox cannot look it up in the image).
    fn numeric_user(&self) -> Option<String> {
        let user = self.user.as_deref()?;
        let ok = user
            .split(':')
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()));
        (ok && user.split(':').count() <= 2).then(|| user.to_string())
    }

    fn cached_commands(&self) -> Vec<(SetupPhase, &CommandForm)> {
        [
            (SetupPhase::OnCreate, &self.on_create),
            (SetupPhase::PostCreate, &self.post_create),
        ]
        .into_iter()
        .filter_map(|(p, c)| c.as_ref().map(|c| (p, c)))
        .collect()
    }
}

/// An environment chosen for an agent, ready to prepare.
#[derive(Clone, Debug, PartialEq)]
pub struct ResolvedEnvironment {
    /// Its name (`devcontainer` for a workspace's).
    pub name: String,
    /// What it says; relative build paths are resolved against `base`.
    pub def: EnvironmentDef,
    /// The folder relative build paths are read from.
    pub base: PathBuf,
    /// Fields of its file that are ignored (devcontainer.json).
    pub ignored: Vec<String>,
    /// For a definition the workspace gives (its devcontainer.json, which
    /// an agent can write): the workspace, which its Dockerfile and build
    /// context must lie in (else a build could copy host files into the
    /// image the agent then reads).
    pub confine: Option<PathBuf>,
}

/// The result of preparing an environment, as the sandbox applies it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreparedEnvironment {
    /// Its name.
    pub name: String,
    /// Docker: the image the container runs (else the sandbox's image).
    pub image: Option<String>,
    /// Variables set for every command (before the command's own).
    pub env: Vec<(String, String)>,
    /// Docker: a numeric `uid[:gid]` instead of the workspace's owner.
    pub user: Option<String>,
    /// Extra host directories mounted in the sandbox.
    pub mounts: Vec<EnvMount>,
    /// The cache key it was made under.
    pub key: String,
    /// Commands run in each new sandbox (`updateContentCommand`).
    pub update_content: Option<CommandForm>,
}

/// A host directory mounted in an environment's sandbox.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnvMount {
    /// On the host.
    pub source: PathBuf,
    /// Inside the sandbox.
    pub target: String,
    /// Writable (only while the setup runs).
    pub writable: bool,
}

/// Why an environment could not be prepared.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EnvironmentError {
    /// The definition or its file is wrong (the text names the field).
    #[error("{0}")]
    Invalid(String),
    /// A build or a setup command failed.
    #[error("{phase} command `{command}` failed{}: {tail}", exit.map(|c| format!(" with exit code {c}")).unwrap_or_default())]
    Command {
        /// Its phase.
        phase: &'static str,
        /// The command.
        command: String,
        /// Its exit code (none: killed or timed out).
        exit: Option<i32>,
        /// The last of its output.
        tail: String,
    },
    /// The sandbox or the engine failed.
    #[error("{0}")]
    Sandbox(#[from] SandboxError),
}

/// Where setup progress goes (`environment.setup` event bodies).
pub type Progress = mpsc::UnboundedSender<EventBody>;

/// What [`prepare`] needs besides the environment.
pub struct PrepareRequest<'a> {
    /// The backend the agent's sandbox uses.
    pub backend: &'a dyn Backend,
    /// The sandbox configuration (the Docker engine, the default image).
    pub config: &'a crate::SandboxConfig,
    /// The agent's sandbox, as its commands get it (the setup runs in one
    /// like it, plus the cache directory).
    pub spec: SandboxSpec,
    /// `<data dir>/environments`.
    pub cache_dir: &'a Path,
    /// Where progress goes.
    pub progress: Progress,
}

/// An `environment.setup` event body being filled in.
struct Note {
    environment: String,
    step: SetupStep,
    phase: Option<SetupPhase>,
    command: Option<String>,
    output: Option<String>,
    duration_ms: Option<u64>,
    exit_code: Option<i32>,
    ignored: Vec<String>,
}

impl Note {
    fn new(name: &str, step: SetupStep) -> Note {
        Note {
            environment: name.to_string(),
            step,
            phase: None,
            command: None,
            output: None,
            duration_ms: None,
            exit_code: None,
            ignored: Vec::new(),
        }
    }

    fn body(self) -> EventBody {
        EventBody::EnvironmentSetup {
            environment: self.environment,
            step: self.step,
            phase: self.phase,
            command: self.command,
            output: self.output,
            cached: None,
            duration_ms: self.duration_ms,
            exit_code: self.exit_code,
            ignored: self.ignored,
            detail: None,
        }
    }
}

/// The cache key of an environment on a backend from a base (the base
/// image's id on Docker): a SHA-256 of everything that shapes the cached
/// result — the base, the variables, the user and the cached commands.
pub fn cache_key(kind: BackendKind, base: &str, def: &EnvironmentDef) -> String {
    let mut h = Sha256::new();
    let mut put = |part: &str| {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    };
    put(CACHE_VERSION);
    put(kind.as_str());
    put(base);
    for (k, v) in &def.env {
        put(k);
        put(v);
    }
    put(def.user.as_deref().unwrap_or(""));
    for (phase, c) in def.cached_commands() {
        put(phase.as_str());
        put(&serde_json::to_string(c).unwrap_or_default());
    }
    hex::encode(h.finalize())[..24].to_string()
}

/// Prepares `env` for the agent whose sandbox `req.spec` describes: builds
/// its image (Docker), runs its cached setup commands once (or finds their
/// result in the cache) and says how the agent's sandbox applies it.
/// Progress (and the ignored devcontainer fields) go to `req.progress`;
/// the `finished` or `failed` step is the caller's to send (it knows when
/// the update commands are done too).
pub async fn prepare(
    env: &ResolvedEnvironment,
    req: PrepareRequest<'_>,
) -> Result<(PreparedEnvironment, bool), EnvironmentError> {
    let def = &env.def;
    def.check().map_err(EnvironmentError::Invalid)?;
    let kind = req.backend.kind();
    let mut notes = env.ignored.clone();
    if kind != BackendKind::Docker {
        if def.image.is_some() {
            notes.push("image (bubblewrap runs the host's system)".into());
        }
        if def.build.is_some() {
            notes.push("build (bubblewrap runs the host's system)".into());
        }
    }
    if def.user.is_some() && (kind != BackendKind::Docker || def.numeric_user().is_none()) {
        notes.push(format!(
            "remoteUser `{}` (commands run as the workspace's owner{})",
            def.user.as_deref().unwrap_or_default(),
            if kind == BackendKind::Docker {
                "; give a numeric uid to choose another"
            } else {
                ""
            }
        ));
    }
    let _ = req.progress.send(
        Note {
            ignored: notes,
            ..Note::new(&env.name, SetupStep::Started)
        }
        .body(),
    );
    let engine = if kind == BackendKind::Docker {
        Some(docker::Engine::connect(req.config).await?)
    } else {
        None
    };
    // The base: an image (built when the environment has a Dockerfile).
    let (base_image, base_id) = match &engine {
        Some(engine) => {
            let image = match &def.build {
                Some(build) => engine.build(env, build, &req.progress).await?,
                None => def
                    .image
                    .clone()
                    .unwrap_or_else(|| req.config.image.clone()),
            };
            let id = engine.image_id(&image).await?;
            (Some(image), id)
        }
        None => (None, "host".to_string()),
    };
    let key = cache_key(kind, &base_id, def);
    let env_vars: Vec<(String, String)> = def
        .env
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .chain([
            ("PADDOCK_ENV".to_string(), ENV_DIR.to_string()),
            ("PATH".to_string(), ENV_PATH.to_string()),
        ])
        .collect();
    let user = if kind == BackendKind::Docker {
        def.numeric_user()
    } else {
        None
    };
    let mut prepared = PreparedEnvironment {
        name: env.name.clone(),
        image: base_image.clone(),
        env: env_vars,
        user,
        mounts: Vec::new(),
        key: key.clone(),
        update_content: def.update_content.clone(),
    };
    let commands = def.cached_commands();
    if commands.is_empty() {
        return Ok((prepared, false));
    }
    let dir = req.cache_dir.join(&key);
    let env_image = format!("paddock-env:{key}");
    let cached = match &engine {
        Some(engine) => engine.image_id(&env_image).await.is_ok(),
        None => dir.join(READY).is_file(),
    };
    if !cached {
        if !dir.join(READY).is_file() {
            run_setup(env, &req, &prepared, &dir, &commands).await?;
        }
        if let Some(engine) = &engine {
            let base = base_image.as_deref().unwrap_or(&req.config.image);
            engine
                .bake(base, &dir, &env_image, &env.name, &req.progress)
                .await?;
        }
    }
    match &engine {
        Some(_) => prepared.image = Some(env_image),
        None => {
            prepared.mounts.push(EnvMount {
                source: dir,
                target: ENV_DIR.into(),
                writable: false,
            });
            // Login shells (`bash -l`) reset PATH in /etc/profile: the
            // jail's copy puts the environment's `bin` back in front.
            let profile = req.cache_dir.join(format!("{key}.profile"));
            let host = std::fs::read_to_string("/etc/profile").unwrap_or_default();
            std::fs::write(&profile, format!("{host}\n{PROFILE_LINE}")).map_err(|e| {
                SandboxError::Failed(format!("cannot write {}: {e}", profile.display()))
            })?;
            prepared.mounts.push(EnvMount {
                source: profile,
                target: "/etc/profile".into(),
                writable: false,
            });
        }
    }
    Ok((prepared, cached))
}

/// Runs the cached commands in a sandbox like the agent's with the cache
/// directory writable at [`ENV_DIR`]; the directory is kept only when
/// they all succeed.
async fn run_setup(
    env: &ResolvedEnvironment,
    req: &PrepareRequest<'_>,
    prepared: &PreparedEnvironment,
    dir: &Path,
    commands: &[(SetupPhase, &CommandForm)],
) -> Result<(), EnvironmentError> {
    let io = |what: &str, e: std::io::Error| {
        EnvironmentError::Sandbox(SandboxError::Failed(format!("cannot {what}: {e}")))
    };
    std::fs::create_dir_all(req.cache_dir).map_err(|e| io("make the environment cache", e))?;
    let work = req.cache_dir.join(format!(
        "{}.tmp-{}",
        prepared.key,
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    ));
    std::fs::create_dir_all(work.join("bin")).map_err(|e| io("make the setup directory", e))?;
    // Docker's commands run as the workspace's owner; bubblewrap's act as
    // Paddock's own user (a user namespace), who made the directory.
    if req.backend.kind() == BackendKind::Docker {
        give_to_workspace_owner(&work, &req.spec.workspace);
    }
    let mut spec = req.spec.clone();
    spec.agent_id = format!("{}-setup", spec.agent_id);
    spec.environment = Some(PreparedEnvironment {
        mounts: vec![EnvMount {
            source: work.clone(),
            target: ENV_DIR.into(),
            writable: true,
        }],
        ..prepared.clone()
    });
    let result = async {
        let sandbox = req.backend.create(spec).await?;
        let ran = async {
            for (phase, form) in commands {
                run_form(&*sandbox, &env.name, *phase, form, &req.progress).await?;
            }
            Ok::<(), EnvironmentError>(())
        }
        .await;
        if let Err(e) = sandbox.destroy().await {
            tracing::warn!(environment = %env.name, error = %e, "could not destroy the setup sandbox");
        }
        ran
    }
    .await;
    match result {
        Ok(()) => {
            std::fs::write(work.join(READY), &prepared.key)
                .map_err(|e| io("mark the environment ready", e))?;
            // Another agent may have prepared the same environment
            // meanwhile (and may be using it): theirs is kept.
            if dir.join(READY).is_file() {
                let _ = std::fs::remove_dir_all(&work);
                return Ok(());
            }
            if dir.exists() {
                // A leftover without its mark (a crash mid-rename).
                let _ = std::fs::remove_dir_all(dir);
            }
            match std::fs::rename(&work, dir) {
                Ok(()) => Ok(()),
                Err(_) if dir.join(READY).is_file() => {
                    let _ = std::fs::remove_dir_all(&work);
                    Ok(())
                }
                Err(e) => Err(io("keep the environment", e)),
            }
        }
        Err(e) => {
            let _ = std::fs::remove_dir_all(&work);
            Err(e)
        }
    }
}

/// Runs one lifecycle command (its named parts in parallel) in `sandbox`,
/// reporting each command, its output and its end.
pub async fn run_form(
    sandbox: &dyn crate::Sandbox,
    name: &str,
    phase: SetupPhase,
    form: &CommandForm,
    progress: &Progress,
) -> Result<(), EnvironmentError> {
    let runs = form
        .commands()
        .into_iter()
        .map(|(label, argv)| run_one(sandbox, name, phase, label, argv, progress));
    for r in futures::future::join_all(runs).await {
        r?;
    }
    Ok(())
}

async fn run_one(
    sandbox: &dyn crate::Sandbox,
    name: &str,
    phase: SetupPhase,
    label: String,
    argv: Vec<String>,
    progress: &Progress,
) -> Result<(), EnvironmentError> {
    let _ = progress.send(
        Note {
            phase: Some(phase),
            command: Some(label.clone()),
            ..Note::new(name, SetupStep::Command)
        }
        .body(),
    );
    let started = Instant::now();
    let (tx, mut rx) = mpsc::unbounded_channel::<OutputChunk>();
    let forward = {
        let progress = progress.clone();
        let (name, label) = (name.to_string(), label.clone());
        async move {
            while let Some(chunk) = rx.recv().await {
                let _ = progress.send(
                    Note {
                        phase: Some(phase),
                        command: Some(label.clone()),
                        output: Some(chunk.text),
                        ..Note::new(&name, SetupStep::Output)
                    }
                    .body(),
                );
            }
        }
    };
    let cmd = ExecSpec {
        argv,
        cwd: "/workspace".into(),
        env: Vec::new(),
        timeout: SETUP_TIMEOUT,
        max_output_bytes: SETUP_OUTPUT,
        stdin: None,
        background: false,
    };
    let (out, ()) = tokio::join!(sandbox.exec(cmd, Some(tx)), forward);
    let out = out?;
    let duration_ms = started.elapsed().as_millis() as u64;
    let _ = progress.send(
        Note {
            phase: Some(phase),
            command: Some(label.clone()),
            duration_ms: Some(duration_ms),
            exit_code: out.exit_code,
            ..Note::new(name, SetupStep::CommandDone)
        }
        .body(),
    );
    if out.exit_code == Some(0) && !out.timed_out {
        return Ok(());
    }
    let mut all = out.stdout;
    all.push_str(&out.stderr);
    if out.timed_out {
        all.push_str("\n[timed out]");
    }
    Err(EnvironmentError::Command {
        phase: phase_field(phase),
        command: label,
        exit: out.exit_code,
        tail: tail(&all),
    })
}

/// The devcontainer.json name of a phase.
pub fn phase_field(phase: SetupPhase) -> &'static str {
    match phase {
        SetupPhase::Build => "build",
        SetupPhase::OnCreate => "onCreateCommand",
        SetupPhase::UpdateContent => "updateContentCommand",
        SetupPhase::PostCreate => "postCreateCommand",
    }
}

/// The last [`FAILURE_TAIL`] bytes of `text` (at a character boundary),
/// trimmed.
pub fn tail(text: &str) -> String {
    let text = text.trim();
    let mut start = text.len().saturating_sub(FAILURE_TAIL);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    text[start..].to_string()
}

/// Chowns `dir` to the owner of `workspace` when Paddock runs as root (the
/// Docker sandbox's commands run as the workspace's owner).
fn give_to_workspace_owner(dir: &Path, workspace: &Path) {
    use std::os::unix::fs::MetadataExt;
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return;
    }
    if let Ok(meta) = std::fs::metadata(workspace) {
        for d in [dir.to_path_buf(), dir.join("bin")] {
            let _ = std::os::unix::fs::chown(&d, Some(meta.uid()), Some(meta.gid()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def() -> EnvironmentDef {
        EnvironmentDef {
            env: BTreeMap::from([("A".into(), "1".into())]),
            post_create: Some(CommandForm::Shell("make tool".into())),
            ..EnvironmentDef::default()
        }
    }

    #[test]
    fn the_cache_key_follows_what_shapes_the_result() {
        let k = cache_key(BackendKind::Docker, "sha256:aaa", &def());
        assert_eq!(k.len(), 24);
        assert_eq!(k, cache_key(BackendKind::Docker, "sha256:aaa", &def()));
        let mut changed = Vec::new();
        changed.push(cache_key(BackendKind::Bwrap, "sha256:aaa", &def()));
        changed.push(cache_key(BackendKind::Docker, "sha256:bbb", &def()));
        let mut d = def();
        d.env.insert("A".into(), "2".into());
        changed.push(cache_key(BackendKind::Docker, "sha256:aaa", &d));
        let mut d = def();
        d.post_create = Some(CommandForm::Shell("make tool2".into()));
        changed.push(cache_key(BackendKind::Docker, "sha256:aaa", &d));
        let mut d = def();
        d.on_create = d.post_create.take();
        changed.push(cache_key(BackendKind::Docker, "sha256:aaa", &d));
        let mut d = def();
        d.user = Some("1001".into());
        changed.push(cache_key(BackendKind::Docker, "sha256:aaa", &d));
        for c in &changed {
            assert_ne!(*c, k);
        }
        // The update command fills the workspace each time: not in the key.
        let mut d = def();
        d.update_content = Some(CommandForm::Shell("npm ci".into()));
        assert_eq!(cache_key(BackendKind::Docker, "sha256:aaa", &d), k);
    }

    #[test]
    fn commands_and_checks() {
        let c = CommandForm::Parallel(BTreeMap::from([
            ("a".into(), CommandForm::Shell("echo a".into())),
            (
                "b".into(),
                CommandForm::Argv(vec!["echo".into(), "b".into()]),
            ),
        ]));
        assert_eq!(
            c.commands(),
            [
                (
                    "a: echo a".to_string(),
                    vec!["/bin/sh".to_string(), "-c".into(), "echo a".into()]
                ),
                (
                    "b: echo b".to_string(),
                    vec!["echo".to_string(), "b".into()]
                ),
            ]
        );
        let mut d = def();
        d.user = Some("0:0".into());
        assert!(d.check().unwrap_err().contains("remoteUser"));
        let mut d = def();
        d.post_create = Some(CommandForm::Argv(vec![]));
        assert!(d.check().unwrap_err().contains("postCreateCommand"));
        let mut d = def();
        d.image = Some("a".into());
        d.build = Some(BuildDef {
            dockerfile: "D".into(),
            context: None,
        });
        assert!(d.check().unwrap_err().contains("`image`, `build`"));
        let mut d = def();
        d.user = Some("1000:1000".into());
        assert_eq!(d.numeric_user().as_deref(), Some("1000:1000"));
        d.user = Some("node".into());
        assert_eq!(d.numeric_user(), None);
    }

    #[test]
    fn a_definition_reads_from_toml_and_json_with_setup_as_post_create() {
        let d: EnvironmentDef = serde_json::from_value(serde_json::json!({
            "image": "paddock-node:1", "env": {"A": "1"}, "setup": ["make", "tool"]
        }))
        .unwrap();
        assert_eq!(
            d.post_create,
            Some(CommandForm::Argv(vec!["make".into(), "tool".into()]))
        );
        assert!(
            serde_json::from_value::<EnvironmentDef>(serde_json::json!({"imagee": "x"}))
                .unwrap_err()
                .to_string()
                .contains("imagee")
        );
    }

    #[test]
    fn the_tail_is_cut_at_a_character() {
        let long = "é".repeat(3000);
        let t = tail(&long);
        assert!(t.len() <= FAILURE_TAIL && t.chars().all(|c| c == 'é'));
    }
}
