//! Workspaces: the directories agents work in, known to Paddock. A
//! workspace is made empty, from a local directory (used in place or
//! copied), as a git worktree on a new branch of a local repository, or by
//! restoring a backup. This module owns their records, the allowed roots,
//! reading their files, their diff against where they started, committing
//! and merging worktrees into their source branch, and backups; and the
//! per-agent snapshots (`snapshot`) that show what one agent changed.
//!
//! Only worktrees run git against a repository: their git directory lives
//! in the source repository, out of the agent's reach. Every other kind is
//! diffed through a private "shadow" git directory in the data dir that
//! records the files as they were when the workspace was made, so no
//! `.git` an agent wrote is ever read by the host.

pub mod backup;
pub mod files;
pub mod git;
pub mod paths;
pub mod snapshot;

use chrono::{DateTime, Utc};
use git::{Conflict, FileChange, Git, MergeTree};
use paddock_store::{AgentRecord, DocKind, Store, StoreError};
use paths::Roots;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use utoipa::ToSchema;

/// Largest unified diff returned, in bytes (the per-file stats are always
/// complete).
pub const MAX_PATCH_BYTES: usize = 2 * 1024 * 1024;

/// Largest commit message, in bytes.
const MAX_MESSAGE: usize = 64 * 1024;

/// Why a workspace operation failed.
#[derive(Debug, thiserror::Error)]
pub enum WorkspaceError {
    /// No such workspace, backup or file.
    #[error("{0}")]
    NotFound(String),
    /// The request is malformed; the text names the field.
    #[error("{0}")]
    Invalid(String),
    /// A path leaves its workspace, or a workspace the allowed roots.
    #[error("{0}")]
    Outside(String),
    /// The request cannot be done in the current state.
    #[error("{message}")]
    Conflict {
        /// A stable code: `in_use`, `name_taken`, `nothing_to_commit`, …
        code: &'static str,
        /// What is in the way.
        message: String,
    },
    /// git failed.
    #[error("{0}")]
    Git(String),
    /// A backup does not match its recorded checksum or cannot be read.
    #[error("{0}")]
    Corrupt(String),
    /// The file system failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The error.
        source: std::io::Error,
    },
    /// The directory is larger than Paddock will bring into its data dir.
    #[error("{0}")]
    TooLarge(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl WorkspaceError {
    /// An I/O error while doing `context`.
    pub fn io(context: &str, source: std::io::Error) -> WorkspaceError {
        WorkspaceError::Io {
            context: context.to_string(),
            source,
        }
    }

    fn conflict(code: &'static str, message: impl Into<String>) -> WorkspaceError {
        WorkspaceError::Conflict {
            code,
            message: message.into(),
        }
    }
}

/// `[workspaces]` of paddock.toml.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkspacesConfig {
    /// Directories under which workspaces (and the directories agents are
    /// given through the API) may lie. Empty (the default): only Paddock's
    /// own `<data dir>/workspaces`, which is always allowed. A root may not
    /// overlap the data dir (it holds the tokens and the database).
    /// `paddock serve --workspace-root DIR` replaces this list.
    #[serde(default)]
    #[schema(value_type = Vec<String>)]
    pub roots: Vec<PathBuf>,
    /// Backups kept per workspace; making one more removes the oldest.
    /// 0 keeps them all.
    #[serde(default = "default_retention")]
    pub backup_retention: usize,
    /// Largest part of a file the files route returns, in bytes.
    #[serde(default = "default_max_file")]
    pub max_file_bytes: u64,
    /// The most a workspace made from a directory may bring into the data
    /// dir, in MiB: the files a copy takes, or (used in place) those its
    /// starting snapshot keeps (`.gitignore`d files left out). A larger
    /// directory is refused (make a git worktree of it instead). 0: no
    /// limit.
    #[serde(default = "default_max_import")]
    pub max_import_mb: u64,
}

fn default_max_import() -> u64 {
    2048
}

fn default_retention() -> usize {
    10
}

fn default_max_file() -> u64 {
    1024 * 1024
}

impl Default for WorkspacesConfig {
    fn default() -> Self {
        WorkspacesConfig {
            roots: Vec::new(),
            backup_retention: default_retention(),
            max_file_bytes: default_max_file(),
            max_import_mb: default_max_import(),
        }
    }
}

/// How a workspace was made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum WorkspaceKind {
    /// An empty directory Paddock made.
    Empty,
    /// An existing directory, used in place (never deleted by Paddock).
    Directory,
    /// A copy of an existing directory, made by Paddock.
    Copy,
    /// A git worktree on a new branch of a local repository.
    Worktree,
    /// Restored from a backup.
    Restored,
}

impl WorkspaceKind {
    /// Whether Paddock made its directory (and may delete it).
    pub fn managed(self) -> bool {
        !matches!(self, WorkspaceKind::Directory)
    }

    fn as_str(self) -> &'static str {
        match self {
            WorkspaceKind::Empty => "empty",
            WorkspaceKind::Directory => "directory",
            WorkspaceKind::Copy => "copy",
            WorkspaceKind::Worktree => "worktree",
            WorkspaceKind::Restored => "restored",
        }
    }
}

/// A workspace's record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Workspace {
    /// Its id.
    pub id: String,
    /// Its name, unique.
    pub name: String,
    /// How it was made.
    pub kind: WorkspaceKind,
    /// Its directory (canonical).
    #[schema(value_type = String)]
    pub path: PathBuf,
    /// The repository (worktree) or directory (copy) it came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub source: Option<PathBuf>,
    /// Its branch (worktree).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    /// The branch it was made from and merges into (worktree).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_branch: Option<String>,
    /// The commit it was made from (worktree).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_commit: Option<String>,
    /// The worktree's own git directory (in the source repository).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub git_dir: Option<PathBuf>,
    /// The source repository's common git directory (worktree).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub common_dir: Option<PathBuf>,
    /// The backup it was restored from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restored_from: Option<String>,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// The id of the user it belongs to: kept in the stored record (see
    /// [`Workspace::owner_id`]), shown by the API as a user reference of
    /// its own. None in records made before there were users: the local
    /// account's.
    #[serde(skip)]
    pub owner: Option<String>,
}

/// The key of a workspace's (or backup's) owner in its stored record.
const OWNER_KEY: &str = "owner";

/// A stored record's body with `owner` in it (the field the API shows
/// differently is not part of the serialized struct).
fn with_owner<T: Serialize>(record: &T, owner: Option<&str>) -> Result<serde_json::Value, String> {
    let mut body = serde_json::to_value(record).map_err(|e| e.to_string())?;
    if let (Some(o), Some(map)) = (owner, body.as_object_mut()) {
        map.insert(OWNER_KEY.into(), serde_json::Value::String(o.to_string()));
    }
    Ok(body)
}

/// The owner a stored record names, if any.
fn owner_in(body: &serde_json::Value) -> Option<String> {
    body.get(OWNER_KEY)
        .and_then(serde_json::Value::as_str)
        .map(str::to_string)
}

/// A workspace from its stored record, owner included.
fn workspace_from(body: serde_json::Value) -> Result<Workspace, serde_json::Error> {
    let owner = owner_in(&body);
    let mut ws: Workspace = serde_json::from_value(body)?;
    ws.owner = owner;
    Ok(ws)
}

/// A backup from its stored record, owner included.
fn backup_from(body: serde_json::Value) -> Result<Backup, serde_json::Error> {
    let owner = owner_in(&body);
    let mut b: Backup = serde_json::from_value(body)?;
    b.owner = owner;
    Ok(b)
}

impl Workspace {
    /// The id of the user it belongs to (the local account for records
    /// made before there were users).
    pub fn owner_id(&self) -> &str {
        self.owner
            .as_deref()
            .unwrap_or(paddock_protocol::identity::LOCAL_USER)
    }

    /// A workspace of this kind at `path`, made now, with no source, branch
    /// or backup behind it.
    fn plain(id: &str, name: &str, kind: WorkspaceKind, path: PathBuf) -> Workspace {
        Workspace {
            id: id.to_string(),
            name: name.to_string(),
            kind,
            path,
            source: None,
            branch: None,
            base_branch: None,
            base_commit: None,
            git_dir: None,
            common_dir: None,
            restored_from: None,
            created_at: Utc::now(),
            owner: None,
        }
    }
}

/// An agent that uses a workspace.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct AgentUse {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its status.
    pub status: paddock_protocol::events::AgentStatus,
}

/// A workspace as the API shows it.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct WorkspaceView {
    /// Its record.
    #[serde(flatten)]
    pub workspace: Workspace,
    /// Whether its directory still exists.
    pub exists: bool,
    /// Bytes of its files (symlinks not followed).
    pub size_bytes: u64,
    /// Its files.
    pub file_count: u64,
    /// The (not deleted) agents working in it.
    pub agents: Vec<AgentUse>,
}

/// What to make (`POST /api/workspaces`). `repo` makes a worktree;
/// `path` registers a directory (or, with `copy`, copies it); neither
/// makes an empty directory.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWorkspace {
    /// A unique name: letters, digits, `.`, `_`, `-` (1 to 64), starting
    /// with a letter or digit.
    #[schema(pattern = "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
    pub name: String,
    /// A local git repository: the workspace is a worktree of it on a new
    /// branch.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub repo: Option<PathBuf>,
    /// The branch the worktree starts from and merges into (default: the
    /// one checked out in `repo`).
    #[serde(default)]
    pub base: Option<String>,
    /// The new branch's name (default: `paddock/<name>`).
    #[serde(default)]
    pub branch: Option<String>,
    /// An existing directory to use.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub path: Option<PathBuf>,
    /// Copy `path` into a directory Paddock owns instead of using it in
    /// place.
    #[serde(default)]
    pub copy: bool,
    /// The id of the user it will belong to (set by the host from the
    /// caller, never by a request).
    #[serde(skip)]
    pub owner: Option<String>,
}

/// Where the workspace made for a new agent comes from
/// ([`Workspaces::make_for_agent`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AgentSource {
    /// A new git worktree of this repository (under an allowed root).
    Worktree {
        /// The repository (or a directory inside it).
        repo: PathBuf,
        /// The branch to start from (default: the one checked out).
        base: Option<String>,
    },
    /// A copy of this directory (under an allowed root).
    Copy {
        /// The directory copied.
        path: PathBuf,
    },
}

/// A workspace's changes since it started.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct Diff {
    /// The commit compared against: where the worktree's branch and its
    /// base branch meet, or the snapshot taken when the workspace was made.
    pub base: String,
    /// What `base` is, in words: "where the branch meets main", "the files
    /// as the workspace was made", …
    pub against: String,
    /// Changed files with their line counts (untracked files included;
    /// ignored ones not).
    pub files: Vec<FileChange>,
    /// Lines added over all files.
    pub additions: u64,
    /// Lines removed over all files.
    pub deletions: u64,
    /// The unified diff.
    pub patch: String,
    /// Whether `patch` was cut at the size cap.
    pub truncated: bool,
}

/// A commit made in a worktree.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct Committed {
    /// The new commit.
    pub commit: String,
    /// Its branch.
    pub branch: String,
    /// The files it changed.
    pub files: Vec<FileChange>,
}

/// How a merge went.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MergeKind {
    /// The source branch already had every commit.
    UpToDate,
    /// The source branch moved forward to the workspace's branch.
    FastForward,
    /// A merge commit joins the two.
    MergeCommit,
}

/// A merge into the source branch that happened.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct Merged {
    /// How.
    pub result: MergeKind,
    /// The source branch.
    pub base_branch: String,
    /// Its commit now.
    pub commit: String,
    /// The files the merge changed on it.
    pub files: Vec<FileChange>,
}

/// A merge's outcome: done, or refused for these conflicts (and then
/// nothing changed).
#[derive(Clone, Debug, PartialEq)]
pub enum MergeOutcome {
    /// Merged.
    Merged(Merged),
    /// Refused; nothing was changed.
    Conflicts(Vec<Conflict>),
}

/// A backup's record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Backup {
    /// Its id.
    pub id: String,
    /// The workspace it is of.
    pub workspace_id: String,
    /// That workspace's name then.
    pub workspace_name: String,
    /// The archive (`tar.zst`) in the data dir.
    #[schema(value_type = String)]
    pub file: PathBuf,
    /// Bytes of the archive.
    pub bytes: u64,
    /// SHA-256 of the archive, checked before a restore.
    pub sha256: String,
    /// Files, directories and links in it.
    pub entries: u64,
    /// Paths left out because an archive cannot hold them (FIFOs,
    /// sockets, devices).
    #[serde(default)]
    pub skipped: Vec<String>,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// The id of the user its workspace belonged to when it was made
    /// (kept in the stored record; None: the local account's).
    #[serde(skip)]
    pub owner: Option<String>,
}

impl Backup {
    /// The id of the user it belongs to (the local account for records
    /// made before there were users).
    pub fn owner_id(&self) -> &str {
        self.owner
            .as_deref()
            .unwrap_or(paddock_protocol::identity::LOCAL_USER)
    }
}

/// The workspaces of one Paddock.
pub struct Workspaces {
    store: Store,
    /// `<data>/workspaces`: directories Paddock makes.
    managed: PathBuf,
    /// `<data>/workspace-git`: shadow git directories and scratch space.
    shadow: PathBuf,
    /// `<data>/backups`.
    backups: PathBuf,
    roots: Roots,
    config: WorkspacesConfig,
    locks: std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// A unique id with this prefix.
fn new_id(prefix: &str) -> String {
    let u = uuid::Uuid::new_v4().simple().to_string();
    format!("{prefix}-{}", &u[..12])
}

/// The changes from commit `base` (`against` says what it is) to `tree`,
/// new, deleted and binary files included, as a unified diff cut at
/// [`MAX_PATCH_BYTES`] with complete per-file counts.
async fn diff_of(
    git: &Git,
    base: String,
    against: String,
    tree: &str,
) -> Result<Diff, WorkspaceError> {
    let files = git::changes(git, &base, tree).await?;
    let out = git
        .ok(&[
            "diff",
            "--no-ext-diff",
            "--no-textconv",
            "--no-color",
            "-M",
            &base,
            tree,
        ])
        .await?;
    let truncated = out.stdout.len() > MAX_PATCH_BYTES;
    let mut patch = out.stdout;
    patch.truncate(MAX_PATCH_BYTES);
    Ok(Diff {
        additions: files.iter().filter_map(|f| f.additions).sum(),
        deletions: files.iter().filter_map(|f| f.deletions).sum(),
        base,
        against,
        files,
        patch: String::from_utf8_lossy(&patch).into_owned(),
        truncated,
    })
}

/// Checks a workspace name.
pub fn check_name(name: &str) -> Result<(), WorkspaceError> {
    let ok = paddock_protocol::is_plain_name(name);
    if ok {
        Ok(())
    } else {
        Err(WorkspaceError::Invalid(format!(
            "name: `{name}` must be 1 to 64 letters, digits, `.`, `_` or `-`, starting with a letter or digit"
        )))
    }
}

/// Checks a commit message: not blank, at most [`MAX_MESSAGE`] bytes, no
/// NUL (git takes it as an argument).
fn check_message(message: &str) -> Result<(), WorkspaceError> {
    if message.trim().is_empty() || message.len() > MAX_MESSAGE || message.contains('\0') {
        return Err(WorkspaceError::Invalid(format!(
            "message: must be 1 to {MAX_MESSAGE} bytes, not blank, without NUL"
        )));
    }
    Ok(())
}

/// A workspace name made from an agent's name.
pub fn slug(name: &str) -> String {
    let mut s = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            s.push(c.to_ascii_lowercase());
        } else if !s.ends_with('-') {
            s.push('-');
        }
    }
    let s: String = s.trim_matches('-').chars().take(40).collect();
    let s = s.trim_end_matches('-').to_string();
    if s.is_empty() { "agent".into() } else { s }
}

impl Workspaces {
    /// The workspaces of the data dir `data_dir`, stored in `store`.
    pub fn open(
        store: Store,
        data_dir: &Path,
        config: WorkspacesConfig,
    ) -> Result<Workspaces, WorkspaceError> {
        let managed = data_dir.join("workspaces");
        let shadow = data_dir.join("workspace-git");
        let backups = data_dir.join("backups");
        for d in [&managed, &shadow, &backups] {
            std::fs::create_dir_all(d)
                .map_err(|e| WorkspaceError::io(&format!("cannot make {}", d.display()), e))?;
        }
        let managed = std::fs::canonicalize(&managed)
            .map_err(|e| WorkspaceError::io("cannot read the workspaces directory", e))?;
        let roots = Roots::new(&config.roots, &managed, data_dir)?;
        Ok(Workspaces {
            store,
            managed,
            shadow,
            backups,
            roots,
            config,
            locks: Default::default(),
        })
    }

    /// The allowed roots.
    pub fn roots(&self) -> &Roots {
        &self.roots
    }

    /// The settings.
    pub fn config(&self) -> &WorkspacesConfig {
        &self.config
    }

    /// Serialises operations on one key (a workspace, or a repository).
    async fn lock(&self, key: &str) -> tokio::sync::OwnedMutexGuard<()> {
        let m = {
            let mut locks = self.locks.lock().unwrap_or_else(|p| p.into_inner());
            locks.entry(key.to_string()).or_default().clone()
        };
        m.lock_owned().await
    }

    fn scratch(&self) -> PathBuf {
        self.shadow.join("tmp")
    }

    fn shadow_dir(&self, id: &str) -> PathBuf {
        self.shadow.join(format!("{id}.git"))
    }

    // ---- records ----

    /// Every workspace, by name.
    pub async fn list(&self) -> Result<Vec<Workspace>, WorkspaceError> {
        let mut list = Vec::new();
        for doc in self.store.list_docs(DocKind::Workspace).await? {
            match workspace_from(doc.body) {
                Ok(w) => list.push(w),
                Err(e) => {
                    tracing::warn!(workspace = %doc.name, error = %e, "unreadable workspace record skipped")
                }
            }
        }
        list.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(list)
    }

    /// The workspace with this id or name.
    pub async fn get(&self, id_or_name: &str) -> Result<Workspace, WorkspaceError> {
        if let Some(doc) = self.store.get_doc(DocKind::Workspace, id_or_name).await? {
            return workspace_from(doc.body).map_err(|e| {
                WorkspaceError::Corrupt(format!("workspace `{id_or_name}`: bad record: {e}"))
            });
        }
        self.list()
            .await?
            .into_iter()
            .find(|w| w.name == id_or_name)
            .ok_or_else(|| WorkspaceError::NotFound(format!("no workspace `{id_or_name}`")))
    }

    /// The workspace whose directory holds `path`, if any.
    pub async fn containing(&self, path: &Path) -> Result<Option<Workspace>, WorkspaceError> {
        let real = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        Ok(self
            .list()
            .await?
            .into_iter()
            .filter(|w| real.starts_with(&w.path))
            .max_by_key(|w| w.path.as_os_str().len()))
    }

    /// The agents (not deleted), each with where its directory really is.
    async fn live_agents(&self) -> Result<Vec<(AgentRecord, PathBuf)>, WorkspaceError> {
        Ok(self
            .store
            .list_agents(false)
            .await?
            .into_iter()
            .map(|a| {
                let real = std::fs::canonicalize(&a.config.workspace)
                    .unwrap_or_else(|_| a.config.workspace.clone());
                (a, real)
            })
            .collect())
    }

    /// Of `agents`, those working in `ws`: created for it, or whose
    /// directory lies in it.
    fn users_of(agents: &[(AgentRecord, PathBuf)], ws: &Workspace) -> Vec<AgentUse> {
        agents
            .iter()
            .filter(|(a, real)| {
                a.config.workspace_id.as_deref() == Some(ws.id.as_str())
                    || real.starts_with(&ws.path)
            })
            .map(|(a, _)| AgentUse {
                id: a.id.clone(),
                name: a.name.clone(),
                status: a.status,
            })
            .collect()
    }

    /// The agents (not deleted) working in `ws`.
    pub async fn agents_using(&self, ws: &Workspace) -> Result<Vec<AgentUse>, WorkspaceError> {
        Ok(Self::users_of(&self.live_agents().await?, ws))
    }

    /// The agents (not deleted) working in each of `list`, in its order
    /// (the agents read once for all).
    pub async fn agents_using_each(
        &self,
        list: &[Workspace],
    ) -> Result<Vec<Vec<AgentUse>>, WorkspaceError> {
        let agents = self.live_agents().await?;
        Ok(list.iter().map(|ws| Self::users_of(&agents, ws)).collect())
    }

    /// Host directories an agent's sandbox mounts read-only for its
    /// workspace: a worktree's repository git directory, so that `git`
    /// works in `/workspace` (reading history; commits go through
    /// Paddock). Nothing for other kinds.
    pub async fn sandbox_mounts(&self, workspace_id: Option<&str>) -> Vec<PathBuf> {
        let Some(id) = workspace_id else {
            return Vec::new();
        };
        match self.get(id).await {
            Ok(ws) if ws.kind == WorkspaceKind::Worktree => {
                ws.common_dir.into_iter().filter(|d| d.is_dir()).collect()
            }
            Ok(_) => Vec::new(),
            Err(e) => {
                tracing::warn!(workspace = %id, error = %e, "the agent's workspace is unknown; no git directory mounted");
                Vec::new()
            }
        }
    }

    /// A workspace with its size and the agents using it.
    pub async fn view(&self, ws: Workspace) -> Result<WorkspaceView, WorkspaceError> {
        let mut views = self.views(vec![ws]).await?;
        views
            .pop()
            .ok_or_else(|| WorkspaceError::NotFound("no workspace".into()))
    }

    /// Workspaces with their sizes and the agents using them (the agents
    /// read once for all).
    pub async fn views(&self, list: Vec<Workspace>) -> Result<Vec<WorkspaceView>, WorkspaceError> {
        let agents = self.live_agents().await?;
        let mut views = Vec::with_capacity(list.len());
        for ws in list {
            let path = ws.path.clone();
            // A worktree's `.git` is git's pointer, not one of its files.
            let worktree = ws.kind == WorkspaceKind::Worktree;
            let (exists, (size_bytes, file_count)) =
                tokio::task::spawn_blocking(move || (path.is_dir(), files::size(&path, worktree)))
                    .await
                    .unwrap_or((false, (0, 0)));
            views.push(WorkspaceView {
                agents: Self::users_of(&agents, &ws),
                workspace: ws,
                exists,
                size_bytes,
                file_count,
            });
        }
        Ok(views)
    }

    async fn save(&self, ws: &Workspace) -> Result<(), WorkspaceError> {
        let body = with_owner(ws, ws.owner.as_deref())
            .map_err(|e| WorkspaceError::Invalid(format!("cannot store the workspace: {e}")))?;
        self.store
            .put_doc(DocKind::Workspace, &ws.id, &body)
            .await?;
        Ok(())
    }

    async fn check_name_free(&self, name: &str) -> Result<(), WorkspaceError> {
        check_name(name)?;
        if self.list().await?.iter().any(|w| w.name == name) {
            return Err(WorkspaceError::conflict(
                "name_taken",
                format!("name: a workspace named `{name}` exists"),
            ));
        }
        Ok(())
    }

    /// A free workspace name starting with `base` (`base`, `base-2`, …).
    pub async fn free_name(&self, base: &str) -> Result<String, WorkspaceError> {
        let taken: Vec<String> = self.list().await?.into_iter().map(|w| w.name).collect();
        let mut name = base.to_string();
        let mut n = 1;
        while taken.contains(&name) {
            n += 1;
            name = format!("{base}-{n}");
        }
        Ok(name)
    }

    /// Makes the workspace of a new agent named `agent`, belonging to
    /// `owner`, from `source`: a worktree (branch `paddock/<name>`) or a
    /// copy, named after the agent (a free name). Used by the API's
    /// creation request (`worktree`) and by delegation (a child in a
    /// worktree or a copy of its parent's workspace); the caller removes
    /// it with [`Workspaces::unmake_for_agent`] when the agent is then not
    /// created. Errors name the source's fields (`repo`, `base`, `path`).
    pub async fn make_for_agent(
        &self,
        agent: &str,
        source: AgentSource,
        owner: Option<String>,
    ) -> Result<Workspace, WorkspaceError> {
        let name = self.free_name(&slug(agent)).await?;
        let req = match source {
            AgentSource::Worktree { repo, base } => NewWorkspace {
                name,
                repo: Some(repo),
                base,
                owner,
                ..NewWorkspace::default()
            },
            AgentSource::Copy { path } => NewWorkspace {
                name,
                path: Some(path),
                copy: true,
                owner,
                ..NewWorkspace::default()
            },
        };
        self.create(req).await
    }

    /// Removes a workspace [`Workspaces::make_for_agent`] made for an agent
    /// that was not created (its files, and a worktree's branch); a
    /// failure is logged.
    pub async fn unmake_for_agent(&self, ws: &Workspace) {
        let branch = ws.kind == WorkspaceKind::Worktree;
        if let Err(e) = self.delete(ws, true, branch).await {
            tracing::warn!(workspace = %ws.id, error = %e, "could not remove the workspace of an agent that was not created");
        }
    }

    // ---- making ----

    /// Makes a workspace.
    pub async fn create(&self, req: NewWorkspace) -> Result<Workspace, WorkspaceError> {
        let _guard = self.lock("create").await;
        self.check_name_free(&req.name).await?;
        if req.repo.is_some() && req.path.is_some() {
            return Err(WorkspaceError::Invalid(
                "repo, path: give one or the other".into(),
            ));
        }
        if req.repo.is_none() && (req.base.is_some() || req.branch.is_some()) {
            return Err(WorkspaceError::Invalid(
                "base, branch: only for a worktree (with `repo`)".into(),
            ));
        }
        if req.copy && req.path.is_none() {
            return Err(WorkspaceError::Invalid("copy: needs `path`".into()));
        }
        let id = new_id("ws");
        let ws = if let Some(repo) = &req.repo {
            self.make_worktree(&id, &req, repo).await?
        } else {
            let (kind, path, source) = match &req.path {
                Some(p) => {
                    let real = self.roots.check("path", p)?;
                    if !real.is_dir() {
                        return Err(WorkspaceError::Invalid(format!(
                            "path: `{}` is not a directory",
                            p.display()
                        )));
                    }
                    self.check_import_size(&real, req.copy).await?;
                    if req.copy {
                        let dest = self.managed.join(&id);
                        let from = real.clone();
                        let to = dest.clone();
                        tokio::task::spawn_blocking(move || copy_tree(&from, &to))
                            .await
                            .map_err(|e| WorkspaceError::Git(format!("copy: {e}")))??;
                        (WorkspaceKind::Copy, dest, Some(real))
                    } else {
                        (WorkspaceKind::Directory, real, None)
                    }
                }
                None => {
                    let dest = self.managed.join(&id);
                    std::fs::create_dir(&dest)
                        .map_err(|e| WorkspaceError::io("cannot make the directory", e))?;
                    (WorkspaceKind::Empty, dest, None)
                }
            };
            Workspace {
                source,
                ..Workspace::plain(&id, &req.name, kind, path)
            }
        };
        let ws = Workspace {
            owner: req.owner.clone(),
            ..ws
        };
        self.register(&ws).await?;
        tracing::info!(workspace = %ws.id, name = %ws.name, kind = ws.kind.as_str(), path = %ws.path.display(), "workspace made");
        Ok(ws)
    }

    /// Refuses a directory whose copy (`copy`) or starting snapshot would
    /// bring more than `[workspaces] max_import_mb` into the data dir.
    async fn check_import_size(&self, dir: &Path, copy: bool) -> Result<(), WorkspaceError> {
        let limit_mb = self.config.max_import_mb;
        if limit_mb == 0 {
            return Ok(());
        }
        let limit = limit_mb.saturating_mul(1024 * 1024);
        let walked = dir.to_path_buf();
        let bytes = tokio::task::spawn_blocking(move || files::import_size(&walked, copy, limit))
            .await
            .map_err(|e| WorkspaceError::Git(format!("size: {e}")))?;
        if bytes <= limit {
            return Ok(());
        }
        let what = if copy {
            "a copy takes all its files"
        } else {
            "a directory used in place is snapshotted (its .gitignore'd files left out) to diff against"
        };
        Err(WorkspaceError::TooLarge(format!(
            "path: `{}` holds more than {limit_mb} MiB to bring into Paddock's data dir ({what}); \
             make a git worktree of it (`repo`) instead, or raise `[workspaces] max_import_mb`",
            dir.display()
        )))
    }

    /// Takes the shadow snapshot (all but worktrees) and stores the record;
    /// on failure, removes what was made.
    async fn register(&self, ws: &Workspace) -> Result<(), WorkspaceError> {
        let done = async {
            if ws.kind != WorkspaceKind::Worktree {
                self.init_shadow(ws).await?;
            }
            self.save(ws).await
        }
        .await;
        if done.is_err() {
            self.undo_create(ws).await;
        }
        done
    }

    /// Removes what a failed creation made.
    async fn undo_create(&self, ws: &Workspace) {
        let _ = std::fs::remove_dir_all(self.shadow_dir(&ws.id));
        if ws.kind == WorkspaceKind::Worktree {
            if let Err(e) = self.remove_worktree(ws, true).await {
                tracing::warn!(workspace = %ws.id, error = %e, "could not undo a worktree");
            }
        } else if ws.kind.managed() {
            let _ = std::fs::remove_dir_all(&ws.path);
        }
    }

    async fn make_worktree(
        &self,
        id: &str,
        req: &NewWorkspace,
        repo: &Path,
    ) -> Result<Workspace, WorkspaceError> {
        let repo = self.roots.check("repo", repo)?;
        // The repository's common git directory, as git finds it from there.
        let out = git::in_checkout(
            &repo,
            &["rev-parse", "--path-format=absolute", "--git-common-dir"],
        )
        .await?;
        if out.code != 0 {
            return Err(WorkspaceError::Invalid(format!(
                "repo: `{}` is not a git repository",
                repo.display()
            )));
        }
        let common = PathBuf::from(out.text());
        // `repo` may be a directory inside a repository: that repository
        // must be under an allowed root too.
        let common = self.roots.check("repo", &common)?;
        let git = Git::new(&common, None);
        let base_branch = match &req.base {
            Some(b) => b.clone(),
            None => {
                let head = Git::new(&common, Some(&repo))
                    .run_env(&["symbolic-ref", "--quiet", "--short", "HEAD"], &[])
                    .await?;
                if head.code != 0 {
                    return Err(WorkspaceError::Invalid(format!(
                        "base: `{}` has no branch checked out; name the branch to start from",
                        repo.display()
                    )));
                }
                head.text()
            }
        };
        let base_commit = git
            .commit_of(&format!("refs/heads/{base_branch}"))
            .await?
            .ok_or_else(|| {
                WorkspaceError::Invalid(format!(
                    "base: `{base_branch}` is not a branch of `{}` with a commit",
                    repo.display()
                ))
            })?;
        let branch = req
            .branch
            .clone()
            .unwrap_or_else(|| format!("paddock/{}", req.name));
        let valid = git
            .run_env(&["check-ref-format", "--branch", &branch], &[])
            .await?;
        if valid.code != 0 {
            return Err(WorkspaceError::Invalid(format!(
                "branch: `{branch}` is not a valid branch name"
            )));
        }
        if git
            .commit_of(&format!("refs/heads/{branch}"))
            .await?
            .is_some()
        {
            return Err(WorkspaceError::conflict(
                "branch_exists",
                format!("branch: `{branch}` already exists in `{}`", repo.display()),
            ));
        }
        let path = self.managed.join(id);
        let path_s = path.to_string_lossy().into_owned();
        git.ok(&[
            "worktree",
            "add",
            "--quiet",
            "-b",
            &branch,
            &path_s,
            &base_commit,
        ])
        .await?;
        // The worktree's own git directory, read once now that Paddock made
        // it (never again from a `.git` file the agent could rewrite).
        let pointer = std::fs::read_to_string(path.join(".git"))
            .map_err(|e| WorkspaceError::io("cannot read the new worktree", e))?;
        let git_dir = pointer
            .trim()
            .strip_prefix("gitdir: ")
            .map(PathBuf::from)
            .ok_or_else(|| WorkspaceError::Git("the new worktree has no gitdir".into()))?;
        Ok(Workspace {
            source: Some(repo),
            branch: Some(branch),
            base_branch: Some(base_branch),
            base_commit: Some(base_commit),
            git_dir: Some(git_dir),
            common_dir: Some(common),
            ..Workspace::plain(id, &req.name, WorkspaceKind::Worktree, path)
        })
    }

    /// The shadow git directory of a workspace that is not a worktree,
    /// with the workspace's files as they are now as its baseline.
    async fn init_shadow(&self, ws: &Workspace) -> Result<(), WorkspaceError> {
        let dir = self.shadow_dir(&ws.id);
        let dir_s = dir.to_string_lossy().into_owned();
        Git::new(&dir, None)
            .ok(&["init", "--quiet", "--bare", &dir_s])
            .await?;
        let git = self.shadow_git(ws);
        git.ok(&["config", "core.bare", "false"]).await?;
        let tree = git.snapshot(&self.scratch(), None, true).await?;
        let commit = git
            .commit_tree(&tree, &[], "Paddock: the workspace as it was made")
            .await?;
        git.ok(&["update-ref", "refs/heads/baseline", &commit])
            .await?;
        Ok(())
    }

    fn shadow_git(&self, ws: &Workspace) -> Git {
        Git::new(self.shadow_dir(&ws.id), Some(&ws.path))
    }

    /// A worktree's git view (its own git directory and work tree).
    fn worktree_git(ws: &Workspace) -> Result<(Git, &str, &str), WorkspaceError> {
        match (&ws.git_dir, &ws.branch, &ws.base_branch) {
            (Some(g), Some(branch), Some(base)) if ws.kind == WorkspaceKind::Worktree => {
                Ok((Git::new(g, Some(&ws.path)), branch, base))
            }
            _ => Err(WorkspaceError::conflict(
                "not_a_worktree",
                format!(
                    "workspace `{}` is a {} workspace; commit and merge are for git worktrees",
                    ws.name,
                    ws.kind.as_str()
                ),
            )),
        }
    }

    fn require_dir(ws: &Workspace) -> Result<(), WorkspaceError> {
        if ws.path.is_dir() {
            Ok(())
        } else {
            Err(WorkspaceError::conflict(
                "missing",
                format!(
                    "the directory of workspace `{}` ({}) is gone",
                    ws.name,
                    ws.path.display()
                ),
            ))
        }
    }

    // ---- reading ----

    /// The entries of a directory, or a file's content.
    pub async fn files(
        &self,
        ws: &Workspace,
        rel: &str,
        include_ignored: bool,
    ) -> Result<FilesView, WorkspaceError> {
        Self::require_dir(ws)?;
        let root = paths::canonical(&ws.path)?;
        let target = paths::resolve(&root, rel)?;
        let cap = self.config.max_file_bytes;
        tokio::task::spawn_blocking(move || {
            if target.is_dir() {
                Ok(FilesView::Dir {
                    path: target
                        .strip_prefix(&root)
                        .unwrap_or(&target)
                        .to_string_lossy()
                        .into_owned(),
                    entries: files::list(&root, &target, include_ignored)?,
                })
            } else {
                Ok(FilesView::File(files::read(&root, &target, cap)?))
            }
        })
        .await
        .map_err(|e| WorkspaceError::Git(format!("files: {e}")))?
    }

    /// The workspace's changes since its base.
    pub async fn diff(&self, ws: &Workspace) -> Result<Diff, WorkspaceError> {
        Self::require_dir(ws)?;
        let _guard = self.lock(&ws.id).await;
        let (git, base, against, tree) = if ws.kind == WorkspaceKind::Worktree {
            let (git, _, base_branch) = Self::worktree_git(ws)?;
            let (base, against) = self.worktree_base(ws, &git, base_branch).await?;
            let tree = git.snapshot(&self.scratch(), Some("HEAD"), false).await?;
            (git, base, against, tree)
        } else {
            let git = self.shadow_git(ws);
            let base = git
                .commit_of("refs/heads/baseline")
                .await?
                .ok_or_else(|| WorkspaceError::Git("the workspace has no baseline".into()))?;
            let tree = git
                .snapshot(&self.scratch(), Some("refs/heads/baseline"), true)
                .await?;
            (
                git,
                base,
                "the files as the workspace was made".to_string(),
                tree,
            )
        };
        diff_of(&git, base, against, &tree).await
    }

    /// Where a worktree's changes start: the merge base of its branch and
    /// the base branch (the recorded start when that branch is gone).
    async fn worktree_base(
        &self,
        ws: &Workspace,
        git: &Git,
        base_branch: &str,
    ) -> Result<(String, String), WorkspaceError> {
        let base_ref = format!("refs/heads/{base_branch}");
        if git.commit_of(&base_ref).await?.is_some() {
            let out = git.run_env(&["merge-base", &base_ref, "HEAD"], &[]).await?;
            if out.code == 0 {
                return Ok((out.text(), format!("where the branch meets {base_branch}")));
            }
        }
        let start = ws
            .base_commit
            .clone()
            .ok_or_else(|| WorkspaceError::Git("the worktree has no base commit".into()))?;
        Ok((start, "the commit it was made from".into()))
    }

    // ---- committing and merging ----

    /// Commits every change of a worktree (untracked files included,
    /// ignored ones not) on its branch.
    pub async fn commit(&self, ws: &Workspace, message: &str) -> Result<Committed, WorkspaceError> {
        check_message(message)?;
        let (git, branch, _) = Self::worktree_git(ws)?;
        Self::require_dir(ws)?;
        let _guard = self.lock(&ws.id).await;
        let head = git
            .commit_of("HEAD")
            .await?
            .ok_or_else(|| WorkspaceError::Git("the worktree has no HEAD commit".into()))?;
        let tree = git.snapshot(&self.scratch(), Some("HEAD"), false).await?;
        let head_tree = git
            .ok(&["rev-parse", &format!("{head}^{{tree}}")])
            .await?
            .text();
        if tree == head_tree {
            return Err(WorkspaceError::conflict(
                "nothing_to_commit",
                format!("workspace `{}` has no changes to commit", ws.name),
            ));
        }
        let commit = git.commit_tree(&tree, &[&head], message).await?;
        let branch_ref = format!("refs/heads/{branch}");
        let moved = git
            .run_env(&["update-ref", &branch_ref, &commit, &head], &[])
            .await?;
        if moved.code != 0 {
            return Err(WorkspaceError::conflict(
                "branch_moved",
                format!("branch `{branch}` moved while committing; try again"),
            ));
        }
        // The index follows the new commit (the files already match it).
        git.ok(&["read-tree", "--reset", &commit]).await?;
        let files = git::changes(&git, &head, &commit).await?;
        tracing::info!(workspace = %ws.id, %commit, files = files.len(), "workspace committed");
        Ok(Committed {
            commit,
            branch: branch.to_string(),
            files,
        })
    }

    /// Merges a worktree's branch into its base branch: fast-forward when
    /// it can, else a merge commit. Refused, with nothing changed, when the
    /// worktree has uncommitted changes, when files conflict (reported one
    /// by one), or when the base branch's checkout has local changes in
    /// the way.
    pub async fn merge(
        &self,
        ws: &Workspace,
        message: Option<&str>,
    ) -> Result<MergeOutcome, WorkspaceError> {
        let (git, branch, base_branch) = Self::worktree_git(ws)?;
        Self::require_dir(ws)?;
        if let Some(m) = message {
            check_message(m)?;
        }
        let _guard = self.lock(&ws.id).await;
        // One merge at a time into a repository.
        let repo_key = ws
            .common_dir
            .as_ref()
            .map(|c| c.to_string_lossy().into_owned())
            .unwrap_or_default();
        let _repo_guard = self.lock(&repo_key).await;
        let head = git
            .commit_of(&format!("refs/heads/{branch}"))
            .await?
            .ok_or_else(|| {
                WorkspaceError::conflict("missing", format!("branch `{branch}` is gone"))
            })?;
        let tree = git.snapshot(&self.scratch(), Some("HEAD"), false).await?;
        let uncommitted = git::changes(&git, "HEAD", &tree).await?;
        if !uncommitted.is_empty() {
            return Err(WorkspaceError::conflict(
                "uncommitted_changes",
                format!(
                    "workspace `{}` has uncommitted changes ({}); commit them first",
                    ws.name,
                    uncommitted
                        .iter()
                        .map(|f| f.path.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        let base_ref = format!("refs/heads/{base_branch}");
        let base = git.commit_of(&base_ref).await?.ok_or_else(|| {
            WorkspaceError::conflict(
                "missing",
                format!("the source branch `{base_branch}` is gone"),
            )
        })?;
        let done = |result, commit: String, files| {
            MergeOutcome::Merged(Merged {
                result,
                base_branch: base_branch.to_string(),
                commit,
                files,
            })
        };
        if git.is_ancestor(&head, &base).await? {
            return Ok(done(MergeKind::UpToDate, base, Vec::new()));
        }
        let (kind, new) = if git.is_ancestor(&base, &head).await? {
            (MergeKind::FastForward, head.clone())
        } else {
            match git::merge_tree(&git, &base, &head).await? {
                MergeTree::Conflicts(c) => {
                    tracing::info!(workspace = %ws.id, conflicts = c.len(), "merge refused: conflicts");
                    return Ok(MergeOutcome::Conflicts(c));
                }
                MergeTree::Clean(tree) => {
                    let msg = message.map(str::to_string).unwrap_or_else(|| {
                        format!(
                            "Merge branch '{branch}' into {base_branch}\n\nWorkspace `{}` (Paddock).",
                            ws.name
                        )
                    });
                    let commit = git.commit_tree(&tree, &[&base, &head], &msg).await?;
                    (MergeKind::MergeCommit, commit)
                }
            }
        };
        self.advance(ws, &git, base_branch, &base, &new).await?;
        let files = git::changes(&git, &base, &new).await?;
        tracing::info!(workspace = %ws.id, base = %base_branch, commit = %new, result = ?kind, "workspace merged");
        Ok(done(kind, new, files))
    }

    /// Moves `base_branch` from `old` to `new`, updating its checkout when
    /// one has it checked out (refused, with nothing changed, when local
    /// changes there are in the way).
    async fn advance(
        &self,
        ws: &Workspace,
        git: &Git,
        base_branch: &str,
        old: &str,
        new: &str,
    ) -> Result<(), WorkspaceError> {
        let base_ref = format!("refs/heads/{base_branch}");
        let common = ws.common_dir.clone().unwrap_or_default();
        let checkout = Git::new(&common, None)
            .worktrees()
            .await?
            .into_iter()
            .find(|(_, b)| b.as_deref() == Some(base_ref.as_str()));
        match checkout {
            Some((dir, _)) => {
                // `merge --ff-only` checks for local changes in the way
                // before it touches anything.
                let out = git::in_checkout(&dir, &["merge", "--ff-only", "--quiet", new]).await?;
                if out.code != 0 {
                    return Err(WorkspaceError::conflict(
                        "source_dirty",
                        format!(
                            "`{base_branch}` is checked out in {} with changes in the way; nothing was merged: {}",
                            dir.display(),
                            out.stderr
                        ),
                    ));
                }
            }
            None => {
                let out = git
                    .run_env(&["update-ref", &base_ref, new, old], &[])
                    .await?;
                if out.code != 0 {
                    return Err(WorkspaceError::conflict(
                        "branch_moved",
                        format!(
                            "`{base_branch}` moved during the merge; nothing was merged, try again"
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    // ---- deleting ----

    /// Forgets a workspace, refused while an agent uses it. With
    /// `remove_files`, its directory goes too (a worktree is removed from
    /// its repository; a directory used in place is never deleted); with
    /// `delete_branch`, a worktree's branch.
    pub async fn delete(
        &self,
        ws: &Workspace,
        remove_files: bool,
        delete_branch: bool,
    ) -> Result<(), WorkspaceError> {
        if remove_files && !ws.kind.managed() {
            return Err(WorkspaceError::Invalid(format!(
                "remove_files: `{}` is a directory Paddock did not make; it is never deleted (unregister it without remove_files)",
                ws.path.display()
            )));
        }
        if delete_branch && ws.kind != WorkspaceKind::Worktree {
            return Err(WorkspaceError::Invalid(
                "delete_branch: only a worktree has a branch".into(),
            ));
        }
        if delete_branch && !remove_files {
            return Err(WorkspaceError::Invalid(
                "delete_branch: needs remove_files (the worktree has the branch checked out)"
                    .into(),
            ));
        }
        let _guard = self.lock(&ws.id).await;
        let users = self.agents_using(ws).await?;
        if !users.is_empty() {
            return Err(WorkspaceError::conflict(
                "in_use",
                format!(
                    "workspace `{}` is used by {}; delete {} first",
                    ws.name,
                    users
                        .iter()
                        .map(|a| format!("agent `{}` ({})", a.name, a.id))
                        .collect::<Vec<_>>()
                        .join(", "),
                    if users.len() == 1 { "it" } else { "them" }
                ),
            ));
        }
        if remove_files {
            if ws.kind == WorkspaceKind::Worktree {
                self.remove_worktree(ws, delete_branch).await?;
            } else if ws.path.exists() {
                std::fs::remove_dir_all(&ws.path)
                    .map_err(|e| WorkspaceError::io("cannot remove the directory", e))?;
            }
        }
        let shadow = self.shadow_dir(&ws.id);
        if shadow.exists() {
            std::fs::remove_dir_all(&shadow)
                .map_err(|e| WorkspaceError::io("cannot remove the shadow git directory", e))?;
        }
        self.store.delete_doc(DocKind::Workspace, &ws.id).await?;
        tracing::info!(workspace = %ws.id, remove_files, delete_branch, "workspace deleted");
        Ok(())
    }

    async fn remove_worktree(
        &self,
        ws: &Workspace,
        delete_branch: bool,
    ) -> Result<(), WorkspaceError> {
        let Some(common) = &ws.common_dir else {
            return Ok(());
        };
        let git = Git::new(common, None);
        if ws.path.exists() {
            let path = ws.path.to_string_lossy().into_owned();
            git.ok(&["worktree", "remove", "--force", "--force", &path])
                .await?;
        } else {
            git.ok(&["worktree", "prune"]).await?;
        }
        if delete_branch && let Some(b) = &ws.branch {
            git.ok(&["branch", "--quiet", "-D", b]).await?;
        }
        Ok(())
    }

    // ---- backups ----

    /// Archives a workspace's files (a worktree's `.git` pointer left out)
    /// and drops the oldest backups beyond the retention setting.
    pub async fn backup(&self, ws: &Workspace) -> Result<Backup, WorkspaceError> {
        Self::require_dir(ws)?;
        let _guard = self.lock(&ws.id).await;
        let id = new_id("bk");
        let file = self.backups.join(format!("{id}.tar.zst"));
        let (dir, dest) = (ws.path.clone(), file.clone());
        let skip: &'static [&'static str] = if ws.kind == WorkspaceKind::Worktree {
            &[".git"]
        } else {
            &[]
        };
        let archived = tokio::task::spawn_blocking(move || backup::create(&dir, &dest, skip))
            .await
            .map_err(|e| WorkspaceError::Git(format!("backup: {e}")))??;
        let record = Backup {
            id: id.clone(),
            workspace_id: ws.id.clone(),
            workspace_name: ws.name.clone(),
            file,
            bytes: archived.bytes,
            sha256: archived.sha256,
            entries: archived.entries,
            skipped: archived.skipped,
            created_at: Utc::now(),
            owner: ws.owner.clone(),
        };
        let body = with_owner(&record, record.owner.as_deref())
            .map_err(|e| WorkspaceError::Invalid(format!("cannot store the backup: {e}")))?;
        if let Err(e) = self
            .store
            .put_doc(DocKind::WorkspaceBackup, &id, &body)
            .await
        {
            let _ = std::fs::remove_file(&record.file);
            return Err(e.into());
        }
        tracing::info!(workspace = %ws.id, backup = %id, bytes = record.bytes, "workspace backed up");
        self.prune_backups(&ws.id).await?;
        Ok(record)
    }

    async fn prune_backups(&self, workspace_id: &str) -> Result<(), WorkspaceError> {
        let keep = self.config.backup_retention;
        if keep == 0 {
            return Ok(());
        }
        // Newest first.
        let mine = self.backups(Some(workspace_id)).await?;
        for old in mine.into_iter().skip(keep) {
            self.remove_backup(&old).await?;
        }
        Ok(())
    }

    /// The backups (of one workspace, or all), newest first.
    pub async fn backups(&self, workspace_id: Option<&str>) -> Result<Vec<Backup>, WorkspaceError> {
        let mut list: Vec<Backup> = self
            .store
            .list_docs(DocKind::WorkspaceBackup)
            .await?
            .into_iter()
            .filter_map(|d| backup_from(d.body).ok())
            .filter(|b| workspace_id.is_none_or(|w| b.workspace_id == w))
            .collect();
        list.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
        Ok(list)
    }

    /// One backup.
    pub async fn backup_of(&self, id: &str) -> Result<Backup, WorkspaceError> {
        let doc = self
            .store
            .get_doc(DocKind::WorkspaceBackup, id)
            .await?
            .ok_or_else(|| WorkspaceError::NotFound(format!("no backup `{id}`")))?;
        backup_from(doc.body)
            .map_err(|e| WorkspaceError::Corrupt(format!("backup `{id}`: bad record: {e}")))
    }

    /// Deletes a backup and its archive.
    pub async fn remove_backup(&self, b: &Backup) -> Result<(), WorkspaceError> {
        match std::fs::remove_file(&b.file) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(WorkspaceError::io("cannot remove the backup", e)),
        }
        self.store
            .delete_doc(DocKind::WorkspaceBackup, &b.id)
            .await?;
        Ok(())
    }

    /// Restores a backup as a new workspace named `name`, after checking
    /// the archive against its SHA-256; it belongs to the backup's owner.
    pub async fn restore(&self, b: &Backup, name: &str) -> Result<Workspace, WorkspaceError> {
        self.restore_for(b, name, b.owner.as_deref()).await
    }

    /// Restores a backup as a new workspace named `name` belonging to
    /// `owner` (a user id; None: the local account), after checking the
    /// archive against its SHA-256.
    pub async fn restore_for(
        &self,
        b: &Backup,
        name: &str,
        owner: Option<&str>,
    ) -> Result<Workspace, WorkspaceError> {
        let _guard = self.lock("create").await;
        self.check_name_free(name).await?;
        let id = new_id("ws");
        let dest = self.managed.join(&id);
        std::fs::create_dir(&dest)
            .map_err(|e| WorkspaceError::io("cannot make the directory", e))?;
        let (archive, sha, to) = (b.file.clone(), b.sha256.clone(), dest.clone());
        let restored = tokio::task::spawn_blocking(move || backup::restore(&archive, &sha, &to))
            .await
            .map_err(|e| WorkspaceError::Git(format!("restore: {e}")))
            .and_then(|r| r);
        let ws = Workspace {
            restored_from: Some(b.id.clone()),
            owner: owner.map(str::to_string),
            ..Workspace::plain(&id, name, WorkspaceKind::Restored, dest)
        };
        if let Err(e) = restored {
            self.undo_create(&ws).await;
            return Err(e);
        }
        self.register(&ws).await?;
        tracing::info!(workspace = %ws.id, backup = %b.id, "backup restored");
        Ok(ws)
    }
}

/// What `GET /api/workspaces/{id}/files` returns: a directory's entries or
/// a file's content.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FilesView {
    /// A directory.
    Dir {
        /// Its path from the workspace root (`""` for the root).
        path: String,
        /// Its entries, directories first.
        entries: Vec<files::Entry>,
    },
    /// A file.
    File(files::FileContent),
}

/// Copies a directory tree, keeping symlinks as symlinks and file modes.
fn copy_tree(from: &Path, to: &Path) -> Result<(), WorkspaceError> {
    let fail = |e: std::io::Error| WorkspaceError::io("cannot copy the directory", e);
    std::fs::create_dir(to).map_err(fail)?;
    // Directory modes are set last: a read-only one must take its files
    // first.
    let mut modes = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        for item in std::fs::read_dir(from.join(&rel)).map_err(fail)? {
            let item = item.map_err(fail)?;
            let rel_path = rel.join(item.file_name());
            let src = from.join(&rel_path);
            let dst = to.join(&rel_path);
            let meta = src.symlink_metadata().map_err(fail)?;
            if meta.file_type().is_symlink() {
                let target = std::fs::read_link(&src).map_err(fail)?;
                std::os::unix::fs::symlink(target, &dst).map_err(fail)?;
            } else if meta.is_dir() {
                std::fs::create_dir(&dst).map_err(fail)?;
                modes.push((dst, meta.permissions()));
                stack.push(rel_path);
            } else if meta.is_file() {
                std::fs::copy(&src, &dst).map_err(fail)?;
            }
        }
    }
    for (dir, mode) in modes.into_iter().rev() {
        std::fs::set_permissions(&dir, mode).map_err(fail)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
