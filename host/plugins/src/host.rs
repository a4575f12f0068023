//! [`PluginHost`]: the one object the rest of Paddock uses. It owns the
//! engine, the registry and the loaded plugins; installs (validating the
//! component against its world before accepting it), grants, revokes,
//! enables, disables and removes plugins; installs the built-in plugins on
//! first start; and routes tool calls to the plugin that offers the tool.

use super::capability::{self, Capability};
use super::engine::{EngineError, MAX_CONCURRENT_INSTANCES, PluginEngine};
use super::manifest::{MANIFEST_FILE, Manifest, ManifestError, World};
use super::registry::{PluginOrigin, PluginRecord, Registry, RegistryError, RegistryState};
use super::runtime::{
    CallError, CallTarget, Linkers, LoadSpec, LoadedPlugin, ToolOutput, ToolSpec,
};
use paddock_protocol::hooks::HookEvent;
use paddock_sandbox::exec::SharedExec;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::Semaphore;
use tracing::Instrument;

/// A plugin-management failure. Messages are written for the admin who
/// typed the command.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    /// The manifest was refused.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// The registry could not be read or written.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// The engine failed.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The thing to install is not usable.
    #[error("cannot install {path}: {message}")]
    Install {
        /// What was being installed.
        path: String,
        /// Why not.
        message: String,
    },
    /// No plugin of that name.
    #[error("no plugin named `{0}` is installed")]
    NotFound(String),
    /// A request that makes no sense for that plugin.
    #[error("{0}")]
    Invalid(String),
    /// A call could not be served: a tool call failed before reaching a
    /// plugin, or a call into an MCP adapter failed (it trapped, ran past
    /// its deadline or answered what the contract does not allow; the
    /// message names the adapter).
    #[error("{0}")]
    Tool(String),
}

/// A plugin as shown to admins (CLI and API).
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct PluginInfo {
    /// The recorded facts.
    #[serde(flatten)]
    pub record: PluginRecord,
    /// requested ∩ granted.
    #[schema(value_type = Vec<String>)]
    pub effective: BTreeSet<Capability>,
    /// Requested but not granted.
    #[schema(value_type = Vec<String>)]
    pub missing: BTreeSet<Capability>,
}

impl From<PluginRecord> for PluginInfo {
    fn from(record: PluginRecord) -> Self {
        let effective = capability::effective(&record.requested, &record.granted);
        let missing = record
            .requested
            .iter()
            .filter(|r| {
                capability::effective(&BTreeSet::from([(*r).clone()]), &record.granted).is_empty()
            })
            .cloned()
            .collect();
        PluginInfo {
            record,
            effective,
            missing,
        }
    }
}

/// A tool offered by an enabled plugin.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ToolInfo {
    /// The plugin offering it.
    pub plugin: String,
    /// The tool.
    #[serde(flatten)]
    pub spec: ToolSpec,
}

/// Where the host keeps its files and finds its built-ins.
#[derive(Clone, Debug)]
pub struct HostOptions {
    /// The data directory.
    pub data_dir: PathBuf,
    /// Directory of built-in plugins (`<name>/paddock-plugin.toml` + a
    /// `.wasm`), installed on first start.
    pub builtin_dir: Option<PathBuf>,
    /// Directory of the on-disk cache of compiled components (keyed by the
    /// component's hash and the engine's compatibility hash, so it can be
    /// shared between data dirs); `None` compiles every time.
    pub cache_dir: Option<PathBuf>,
}

/// A plugin to install: a directory holding `paddock-plugin.toml` and one
/// `.wasm` (or the manifest's `component`), or a `.wasm` file with its
/// manifest beside it or given explicitly.
#[derive(Clone, Debug)]
pub struct InstallSource {
    /// A directory or a `.wasm` file.
    pub path: PathBuf,
    /// An explicit manifest path.
    pub manifest: Option<PathBuf>,
}

struct Resolved {
    manifest: Manifest,
    manifest_text: String,
    component: Vec<u8>,
}

/// The plugin host.
pub struct PluginHost {
    engine: PluginEngine,
    linkers: Linkers,
    registry: Registry,
    data_dir: PathBuf,
    cache_dir: Option<PathBuf>,
    /// Linked plugins, each with the registry facts it was linked for; a
    /// plugin is relinked when its component, grants or limits change, even
    /// when another process (the CLI) changed them.
    loaded: RwLock<BTreeMap<String, (LinkedFor, Arc<LoadedPlugin>)>>,
    exec: Option<SharedExec>,
    /// One permit per instance slot of the pooling allocator.
    slots: Arc<Semaphore>,
}

/// What a linked plugin depends on in its registry record.
#[derive(PartialEq)]
struct LinkedFor {
    sha256: String,
    granted: BTreeSet<Capability>,
    limits: super::manifest::Limits,
}

impl LinkedFor {
    fn of(record: &PluginRecord) -> LinkedFor {
        LinkedFor {
            sha256: record.sha256.clone(),
            granted: record.granted.clone(),
            limits: record.limits,
        }
    }

    fn matches(&self, record: &PluginRecord) -> bool {
        self.sha256 == record.sha256
            && self.granted == record.granted
            && self.limits == record.limits
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn install_err(path: &Path, message: impl Into<String>) -> PluginError {
    PluginError::Install {
        path: path.display().to_string(),
        message: message.into(),
    }
}

impl PluginHost {
    /// Opens the host on a data directory, installing built-in plugins that
    /// are new or were rebuilt.
    pub async fn open(options: HostOptions) -> Result<PluginHost, PluginError> {
        let engine = PluginEngine::new()?;
        let linkers = Linkers::new(engine.engine())
            .map_err(|e| EngineError::Config(super::runtime::root_message(&e)))?;
        let registry = Registry::open(&options.data_dir)?;
        let host = PluginHost {
            engine,
            linkers,
            registry,
            data_dir: options.data_dir.clone(),
            cache_dir: options.cache_dir.clone(),
            loaded: RwLock::new(BTreeMap::new()),
            exec: None,
            slots: Arc::new(Semaphore::new(MAX_CONCURRENT_INSTANCES as usize)),
        };
        if let Some(dir) = &options.builtin_dir {
            host.install_builtins(dir).await?;
        }
        Ok(host)
    }

    /// The data directory the host keeps its files in.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Sets the backend behind the `exec` import of plugins granted `exec`.
    pub fn set_exec_backend(&mut self, exec: SharedExec) {
        self.exec = Some(exec);
        if let Ok(mut loaded) = self.loaded.write() {
            loaded.clear();
        }
    }

    /// Every installed plugin.
    pub fn list(&self) -> Result<Vec<PluginInfo>, PluginError> {
        Ok(self
            .registry
            .snapshot()?
            .plugins
            .values()
            .cloned()
            .map(PluginInfo::from)
            .collect())
    }

    /// Names of installed, enabled plugins of `world`, sorted.
    pub fn enabled_of(&self, world: World) -> Result<Vec<String>, PluginError> {
        self.enabled_where(|r| r.world == world)
    }

    /// Names of installed, enabled plugins whose record passes `keep`,
    /// sorted; read from the registry's cached snapshot without copying
    /// the records (it runs at every step of every agent with hooks).
    pub(super) fn enabled_where(
        &self,
        keep: impl Fn(&PluginRecord) -> bool,
    ) -> Result<Vec<String>, PluginError> {
        Ok(self
            .registry
            .snapshot()?
            .plugins
            .values()
            .filter(|r| r.enabled && keep(r))
            .map(|r| r.name.clone())
            .collect())
    }

    /// Installed plugin `name`.
    pub fn get(&self, name: &str) -> Result<PluginInfo, PluginError> {
        self.registry
            .snapshot()?
            .plugins
            .get(name)
            .cloned()
            .map(PluginInfo::from)
            .ok_or_else(|| PluginError::NotFound(name.to_string()))
    }

    /// The tools of every enabled plugin, sorted by name.
    pub fn tools(&self) -> Result<Vec<ToolInfo>, PluginError> {
        let mut tools: Vec<ToolInfo> = self
            .registry
            .snapshot()?
            .plugins
            .values()
            .filter(|p| p.enabled)
            .flat_map(|p| {
                p.tools.iter().map(|spec| ToolInfo {
                    plugin: p.name.clone(),
                    spec: spec.clone(),
                })
            })
            .collect();
        tools.sort_by(|a, b| a.spec.name.cmp(&b.spec.name));
        Ok(tools)
    }

    fn resolve(source: &InstallSource) -> Result<Resolved, PluginError> {
        let path = &source.path;
        let meta = std::fs::metadata(path).map_err(|e| install_err(path, e.to_string()))?;
        let (manifest_path, wasm_path) = if meta.is_dir() {
            let manifest_path = source
                .manifest
                .clone()
                .unwrap_or_else(|| path.join(MANIFEST_FILE));
            (manifest_path, None)
        } else {
            let manifest_path = match &source.manifest {
                Some(m) => m.clone(),
                None => path.parent().unwrap_or(Path::new(".")).join(MANIFEST_FILE),
            };
            (manifest_path, Some(path.clone()))
        };
        if !manifest_path.is_file() {
            return Err(install_err(
                path,
                format!(
                    "no manifest: {} does not exist (pass --manifest FILE)",
                    manifest_path.display()
                ),
            ));
        }
        let manifest_text =
            std::fs::read_to_string(&manifest_path).map_err(|source| ManifestError::Read {
                path: manifest_path.clone(),
                source,
            })?;
        let manifest = Manifest::parse(&manifest_text, &manifest_path.display().to_string())?;
        let manifest_dir = manifest_path
            .parent()
            .unwrap_or(Path::new("."))
            .to_path_buf();
        let wasm_path = match (wasm_path, &manifest.component) {
            (Some(w), _) => w,
            (None, Some(c)) => manifest_dir.join(c),
            (None, None) => {
                let mut wasms: Vec<PathBuf> = std::fs::read_dir(path)
                    .map_err(|e| install_err(path, e.to_string()))?
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.extension().is_some_and(|x| x == "wasm"))
                    .collect();
                match wasms.len() {
                    1 => wasms.remove(0),
                    0 => return Err(install_err(path, "no .wasm component in the directory")),
                    n => {
                        return Err(install_err(
                            path,
                            format!(
                                "{n} .wasm files in the directory; name one with `component` in the manifest"
                            ),
                        ));
                    }
                }
            }
        };
        let component =
            std::fs::read(&wasm_path).map_err(|e| install_err(&wasm_path, e.to_string()))?;
        Ok(Resolved {
            manifest,
            manifest_text,
            component,
        })
    }

    /// Compiles and links a component for a manifest, and for tool plugins
    /// calls `describe`: the full validation an install needs.
    async fn validate(
        &self,
        manifest: &Manifest,
        component: &[u8],
        granted: &BTreeSet<Capability>,
    ) -> Result<(String, Vec<ToolSpec>, Vec<HookEvent>), String> {
        let (compiled, _) = self
            .engine
            .load(component, self.cache_dir.as_deref())
            .map_err(|e| e.to_string())?;
        let loaded = LoadedPlugin::link(
            self.engine.engine(),
            &self.linkers,
            &compiled,
            LoadSpec {
                name: &manifest.name,
                world: manifest.world,
                effective: capability::effective(&manifest.requested, granted),
                limits: manifest.limits,
            },
            self.exec.clone(),
            self.slots.clone(),
        )?;
        let loaded = Arc::new(loaded);
        let tools = if manifest.world == World::Tool {
            loaded
                .describe()
                .await
                .map_err(|e| format!("its `describe` failed: {e}"))?
        } else {
            Vec::new()
        };
        let hook_events = if manifest.world == World::Hooks {
            loaded
                .hook_events()
                .await
                .map_err(|e| format!("its `events` failed: {e}"))?
        } else {
            Vec::new()
        };
        Ok((loaded.api_version().to_string(), tools, hook_events))
    }

    /// Installs (or upgrades) a plugin. A new plugin starts enabled with no
    /// grants; an upgrade keeps its grants and enabled state.
    pub async fn install(&self, source: &InstallSource) -> Result<PluginInfo, PluginError> {
        let resolved = Self::resolve(source)?;
        self.install_resolved(resolved, &source.path, false, None)
            .await
    }

    /// Installs (or upgrades) a plugin from a manifest and component fetched
    /// elsewhere (an OCI registry), recording `origin`. Validated exactly as
    /// [`PluginHost::install`]; an upgrade keeps its grants.
    pub async fn install_fetched(
        &self,
        manifest_text: &str,
        component: Vec<u8>,
        origin: PluginOrigin,
    ) -> Result<PluginInfo, PluginError> {
        let manifest = Manifest::parse(manifest_text, &origin.reference)?;
        let at = PathBuf::from(&origin.reference);
        let resolved = Resolved {
            manifest,
            manifest_text: manifest_text.to_string(),
            component,
        };
        self.install_resolved(resolved, &at, false, Some(origin))
            .await
    }

    /// Checks that a fetched component is a valid plugin for its manifest
    /// (compiles, links against its world, answers `describe`) without
    /// installing it; returns the parsed manifest.
    pub async fn check_fetched(
        &self,
        manifest_text: &str,
        component: &[u8],
        origin: &str,
    ) -> Result<Manifest, PluginError> {
        let manifest = Manifest::parse(manifest_text, origin)?;
        self.validate(&manifest, component, &BTreeSet::new())
            .await
            .map_err(|m| install_err(Path::new(origin), m))?;
        Ok(manifest)
    }

    async fn install_resolved(
        &self,
        r: Resolved,
        origin: &Path,
        builtin: bool,
        source: Option<PluginOrigin>,
    ) -> Result<PluginInfo, PluginError> {
        let name = r.manifest.name.clone();
        let previous = self.registry.read()?.plugins.remove(&name);
        let granted = match (&previous, builtin) {
            // A rebuilt built-in keeps the admin's revocations, and gets what
            // its new version requests for the first time (built-ins are
            // granted what they request; nobody has decided against these).
            (Some(p), true) if p.builtin => p
                .granted
                .iter()
                .cloned()
                .chain(r.manifest.requested.difference(&p.requested).cloned())
                .collect(),
            (Some(p), _) => p.granted.clone(),
            (None, true) => r.manifest.requested.clone(),
            (None, false) => BTreeSet::new(),
        };
        let (api_version, tools, hook_events) = self
            .validate(&r.manifest, &r.component, &granted)
            .await
            .map_err(|m| install_err(origin, m))?;
        let sha256 = hex::encode(Sha256::digest(&r.component));
        let enabled = previous.as_ref().is_none_or(|p| p.enabled);
        let record = PluginRecord {
            name: name.clone(),
            version: r.manifest.version.clone(),
            world: r.manifest.world,
            description: r.manifest.description.clone(),
            api_version,
            sha256,
            enabled,
            builtin,
            requested: r.manifest.requested.clone(),
            granted,
            limits: r.manifest.limits,
            tools,
            hook_events,
            installed_at: now_secs(),
            origin: source,
        };
        let stored = record.clone();
        self.registry.modify(|state| {
            if enabled {
                check_tool_clash(state, &stored).map_err(|m| install_err(origin, m))?;
            }
            self.registry
                .store_files(&name, &r.component, &r.manifest_text)?;
            state.removed_builtins.remove(&name);
            state.plugins.insert(name.clone(), stored);
            Ok::<_, PluginError>(())
        })?;
        self.forget(&name);
        tracing::info!(plugin = %name, version = %record.version, sha256 = %record.sha256, builtin, "plugin installed");
        Ok(record.into())
    }

    async fn install_builtins(&self, dir: &Path) -> Result<(), PluginError> {
        let entries = match std::fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!(dir = %dir.display(), error = %e, "built-in plugins not found; run `make build`");
                return Ok(());
            }
        };
        let mut dirs: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_dir())
            .collect();
        dirs.sort();
        for path in dirs {
            let resolved = match Self::resolve(&InstallSource {
                path: path.clone(),
                manifest: None,
            }) {
                Ok(r) => r,
                Err(e) => {
                    tracing::error!(error = %e, "skipping broken built-in plugin");
                    continue;
                }
            };
            let state = self.registry.read()?;
            let name = &resolved.manifest.name;
            let sha = hex::encode(Sha256::digest(&resolved.component));
            let install = match state.plugins.get(name) {
                _ if state.removed_builtins.contains(name) => false,
                None => true,
                Some(p) => {
                    let m = &resolved.manifest;
                    p.builtin
                        && (p.sha256 != sha
                            || p.version != m.version
                            || p.requested != m.requested
                            || p.limits != m.limits)
                }
            };
            if install && let Err(e) = self.install_resolved(resolved, &path, true, None).await {
                tracing::error!(error = %e, "could not install built-in plugin");
            }
        }
        Ok(())
    }

    fn forget(&self, name: &str) {
        if let Ok(mut loaded) = self.loaded.write() {
            loaded.remove(name);
        }
    }

    fn modify_record(
        &self,
        name: &str,
        change: impl FnOnce(&mut RegistryState, &mut PluginRecord) -> Result<(), PluginError>,
    ) -> Result<PluginInfo, PluginError> {
        let record = self.registry.modify(|state| {
            let mut record = state
                .plugins
                .get(name)
                .cloned()
                .ok_or_else(|| PluginError::NotFound(name.to_string()))?;
            change(state, &mut record)?;
            state.plugins.insert(name.to_string(), record.clone());
            Ok::<_, PluginError>(record)
        })?;
        self.forget(name);
        Ok(record.into())
    }

    /// Grants capabilities. Each must match something the plugin requests.
    pub fn grant(&self, name: &str, caps: &[Capability]) -> Result<PluginInfo, PluginError> {
        let info = self.modify_record(name, |_, record| {
            for cap in caps {
                if !capability::grant_applies(&record.requested, cap) {
                    let requested: Vec<String> = record.requested.iter().map(ToString::to_string).collect();
                    return Err(PluginError::Invalid(format!(
                        "plugin `{name}` does not request `{cap}`, so granting it would have no effect; it requests: {}",
                        if requested.is_empty() { "nothing".to_string() } else { requested.join(", ") }
                    )));
                }
                record.granted.insert(cap.clone());
            }
            Ok(())
        })?;
        tracing::info!(plugin = %name, caps = ?caps.iter().map(ToString::to_string).collect::<Vec<_>>(), "capabilities granted");
        Ok(info)
    }

    /// Revokes capabilities (exactly as granted).
    pub fn revoke(&self, name: &str, caps: &[Capability]) -> Result<PluginInfo, PluginError> {
        let info = self.modify_record(name, |_, record| {
            for cap in caps {
                if !record.granted.remove(cap) {
                    let granted: Vec<String> =
                        record.granted.iter().map(ToString::to_string).collect();
                    return Err(PluginError::Invalid(format!(
                        "plugin `{name}` was not granted `{cap}`; its grants are: {}",
                        if granted.is_empty() {
                            "none".to_string()
                        } else {
                            granted.join(", ")
                        }
                    )));
                }
            }
            Ok(())
        })?;
        tracing::info!(plugin = %name, caps = ?caps.iter().map(ToString::to_string).collect::<Vec<_>>(), "capabilities revoked");
        Ok(info)
    }

    /// Replaces a plugin's grants as a whole.
    pub fn set_grants(&self, name: &str, caps: &[Capability]) -> Result<PluginInfo, PluginError> {
        let info = self.modify_record(name, |_, record| {
            for cap in caps {
                if !capability::grant_applies(&record.requested, cap) {
                    return Err(PluginError::Invalid(format!(
                        "plugin `{name}` does not request `{cap}`"
                    )));
                }
            }
            record.granted = caps.iter().cloned().collect();
            Ok(())
        })?;
        Ok(info)
    }

    /// Enables or disables a plugin.
    pub fn set_enabled(&self, name: &str, enabled: bool) -> Result<PluginInfo, PluginError> {
        self.modify_record(name, |state, record| {
            record.enabled = enabled;
            if enabled {
                check_tool_clash(state, record).map_err(PluginError::Invalid)?;
            }
            Ok(())
        })
    }

    /// Removes a plugin and its files. A removed built-in is not
    /// reinstalled on the next start.
    pub fn remove(&self, name: &str) -> Result<(), PluginError> {
        self.registry.modify(|state| {
            let record = state
                .plugins
                .remove(name)
                .ok_or_else(|| PluginError::NotFound(name.to_string()))?;
            if record.builtin {
                state.removed_builtins.insert(name.to_string());
            }
            self.registry.remove_files(name)?;
            Ok::<_, PluginError>(())
        })?;
        self.forget(name);
        Ok(())
    }

    pub(super) fn load_record(
        &self,
        record: &PluginRecord,
    ) -> Result<Arc<LoadedPlugin>, PluginError> {
        if let Ok(loaded) = self.loaded.read()
            && let Some((linked_for, plugin)) = loaded.get(&record.name)
            && linked_for.matches(record)
        {
            return Ok(plugin.clone());
        }
        let path = self.registry.component_path(&record.name);
        let bytes = std::fs::read(&path)
            .map_err(|e| PluginError::Invalid(format!("cannot read {}: {e}", path.display())))?;
        let started = Instant::now();
        let (component, cached) = self.engine.load(&bytes, self.cache_dir.as_deref())?;
        let plugin = LoadedPlugin::link(
            self.engine.engine(),
            &self.linkers,
            &component,
            LoadSpec {
                name: &record.name,
                world: record.world,
                effective: capability::effective(&record.requested, &record.granted),
                limits: record.limits,
            },
            self.exec.clone(),
            self.slots.clone(),
        )
        .map_err(|m| {
            PluginError::Invalid(format!("plugin `{}` cannot be loaded: {m}", record.name))
        })?;
        tracing::debug!(plugin = %record.name, cached, elapsed_ms = started.elapsed().as_millis() as u64, "plugin loaded");
        let plugin = Arc::new(plugin);
        if let Ok(mut loaded) = self.loaded.write() {
            loaded.insert(record.name.clone(), (LinkedFor::of(record), plugin.clone()));
        }
        Ok(plugin)
    }

    /// Finds the enabled plugin offering tool `name`.
    pub fn find_tool(&self, name: &str) -> Result<(PluginRecord, ToolSpec), PluginError> {
        let state = self.registry.snapshot()?;
        let (record, spec) = find_in(&state, name)?;
        Ok((record.clone(), spec.clone()))
    }

    /// Calls a tool by name in a fresh instance of its plugin.
    pub async fn call_tool(
        &self,
        name: &str,
        input: &str,
        target: &CallTarget,
    ) -> Result<ToolOutput, ToolCallFailure> {
        let state = self
            .registry
            .snapshot()
            .map_err(|e| ToolCallFailure::Host(e.into()))?;
        let (record, _) = find_in(&state, name).map_err(ToolCallFailure::Host)?;
        let plugin = self.load_record(record).map_err(ToolCallFailure::Host)?;
        let span = tracing::info_span!("tool_call", tool = name, plugin = %record.name, agent = %target.agent_id, call = %target.call_id);
        async {
            let started = Instant::now();
            let result = plugin.invoke(name, input, target).await;
            match &result {
                Ok(_) => tracing::debug!(
                    elapsed_us = started.elapsed().as_micros() as u64,
                    "tool call succeeded"
                ),
                Err(e) => tracing::info!(kind = e.kind(), error = %e, "tool call failed"),
            }
            result.map_err(ToolCallFailure::Call)
        }
        .instrument(span)
        .await
    }
}

/// Why a tool call produced no output.
#[derive(Debug, thiserror::Error)]
pub enum ToolCallFailure {
    /// The tool could not be reached (unknown, disabled, unloadable).
    #[error(transparent)]
    Host(PluginError),
    /// The plugin ran and failed.
    #[error(transparent)]
    Call(CallError),
}

/// The enabled plugin offering tool `name`, and the tool's spec.
fn find_in<'a>(
    state: &'a RegistryState,
    name: &str,
) -> Result<(&'a PluginRecord, &'a ToolSpec), PluginError> {
    let mut disabled = None;
    for p in state.plugins.values() {
        if let Some(spec) = p.tools.iter().find(|t| t.name == name) {
            if p.enabled {
                return Ok((p, spec));
            }
            disabled = Some(p.name.clone());
        }
    }
    Err(PluginError::Tool(match disabled {
        Some(p) => format!("tool `{name}` belongs to plugin `{p}`, which is disabled"),
        None => format!("no enabled plugin offers a tool named `{name}` (see `paddock tool list`)"),
    }))
}

/// Refuses a plugin whose tool names are taken by another enabled plugin.
fn check_tool_clash(state: &RegistryState, record: &PluginRecord) -> Result<(), String> {
    for other in state.plugins.values() {
        if other.name == record.name || !other.enabled {
            continue;
        }
        if let Some(t) = record
            .tools
            .iter()
            .find(|t| other.tools.iter().any(|o| o.name == t.name))
        {
            return Err(format!(
                "tool `{}` is already offered by enabled plugin `{}`; disable or remove it first",
                t.name, other.name
            ));
        }
    }
    Ok(())
}
