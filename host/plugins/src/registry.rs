//! The registry of installed plugins: `<data-dir>/plugins/registry.json`
//! (names, versions, hashes, requested and granted capabilities, enabled
//! state, cached tool specs) plus each plugin's component and manifest under
//! `<data-dir>/plugins/<name>/`. Changes take a file lock, re-read the file,
//! apply, and replace it atomically, so concurrent `paddock` processes never
//! lose each other's changes and a crash never leaves a torn file.

use super::capability::Capability;
use super::manifest::{Limits, World};
use super::runtime::ToolSpec;
use paddock_protocol::hooks::HookEvent;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// One installed plugin, as recorded.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PluginRecord {
    /// Unique name.
    pub name: String,
    /// The plugin's version.
    pub version: String,
    /// Its world.
    pub world: World,
    /// One line for admins.
    pub description: String,
    /// The WIT version it was built against.
    pub api_version: String,
    /// SHA-256 of the component, hex.
    pub sha256: String,
    /// Whether its tools are offered.
    pub enabled: bool,
    /// Whether it ships with Paddock.
    pub builtin: bool,
    /// What its manifest asks for.
    #[schema(value_type = Vec<String>)]
    pub requested: BTreeSet<Capability>,
    /// What an admin granted.
    #[schema(value_type = Vec<String>)]
    pub granted: BTreeSet<Capability>,
    /// Its limits.
    pub limits: Limits,
    /// Its tools (tool plugins only), as `describe` returned them.
    #[serde(default)]
    pub tools: Vec<ToolSpec>,
    /// The lifecycle events it subscribed to (`hooks` plugins only), as
    /// `events` returned them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hook_events: Vec<HookEvent>,
    /// When it was installed, seconds since the Unix epoch.
    pub installed_at: u64,
    /// Where it was installed from, when that was an OCI registry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<PluginOrigin>,
}

/// Where a plugin installed from an OCI registry came from: the reference
/// an admin asked for, the manifest digest it resolved to (pinned), and
/// who signed it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PluginOrigin {
    /// The reference as requested (`oci://REGISTRY/REPO:TAG` or `…@sha256:…`);
    /// `paddock plugin update` pulls it again.
    pub reference: String,
    /// The digest of the OCI manifest installed (`sha256:…`).
    pub digest: String,
    /// The trusted key that signed it (minisign key id, hex), or `None`
    /// when an admin allowed an unsigned install.
    #[serde(default)]
    pub signer: Option<String>,
}

/// The registry file's content.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct RegistryState {
    /// Installed plugins by name.
    #[serde(default)]
    pub plugins: BTreeMap<String, PluginRecord>,
    /// Built-in plugins an admin removed; they are not reinstalled.
    #[serde(default)]
    pub removed_builtins: BTreeSet<String>,
}

/// A registry failure.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// File I/O failed.
    #[error("plugin registry {path}: {source}")]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The registry file is corrupt.
    #[error("plugin registry {path} is not valid JSON ({message}); fix or remove it")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        message: String,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> RegistryError + '_ {
    move |source| RegistryError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// What identifies one version of the registry file: inode (every write
/// is a rename of a new file), modification time and length.
type Stamp = (u64, Option<std::time::SystemTime>, u64);

/// A state as read (or written) when the file had this stamp (`None`: no file).
type Cached = Option<(Option<Stamp>, Arc<RegistryState>)>;

/// The registry in a data directory.
#[derive(Clone, Debug)]
pub struct Registry {
    dir: PathBuf,
    /// The last state read or written, with the file's stamp then; lets the
    /// hot path (every tool call) skip parsing when nothing changed, while
    /// still seeing changes made by other processes.
    cache: Arc<Mutex<Cached>>,
}

impl Registry {
    /// The registry under `<data_dir>/plugins`, created when missing.
    pub fn open(data_dir: &Path) -> Result<Registry, RegistryError> {
        let dir = data_dir.join("plugins");
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        Ok(Registry {
            dir,
            cache: Arc::new(Mutex::new(None)),
        })
    }

    fn stamp(&self) -> Result<Option<Stamp>, RegistryError> {
        let path = self.file();
        match std::fs::metadata(&path) {
            Ok(m) => Ok(Some((m.ino(), m.modified().ok(), m.len()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(&path)(e)),
        }
    }

    /// The current state, shared; re-read only when the file changed.
    pub fn snapshot(&self) -> Result<Arc<RegistryState>, RegistryError> {
        let stamp = self.stamp()?;
        if let Ok(cache) = self.cache.lock()
            && let Some((cached, state)) = cache.as_ref()
            && *cached == stamp
        {
            return Ok(state.clone());
        }
        // Stamped before reading: if the file changes in between, the newer
        // content is cached under the older stamp and simply re-read next time.
        let state = Arc::new(self.read()?);
        if let Ok(mut cache) = self.cache.lock() {
            *cache = Some((stamp, state.clone()));
        }
        Ok(state)
    }

    fn file(&self) -> PathBuf {
        self.dir.join("registry.json")
    }

    /// The directory holding plugin `name`'s files.
    pub fn plugin_dir(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// The path of plugin `name`'s component.
    pub fn component_path(&self, name: &str) -> PathBuf {
        self.plugin_dir(name).join("component.wasm")
    }

    /// Reads the current state.
    pub fn read(&self) -> Result<RegistryState, RegistryError> {
        let path = self.file();
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| RegistryError::Corrupt {
                path,
                message: e.to_string(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(RegistryState::default()),
            Err(e) => Err(io(&path)(e)),
        }
    }

    /// Applies `change` under the registry lock and saves the result when
    /// `change` succeeds. Returns what `change` returned.
    pub fn modify<R, E: From<RegistryError>>(
        &self,
        change: impl FnOnce(&mut RegistryState) -> Result<R, E>,
    ) -> Result<R, E> {
        let lock_path = self.dir.join("registry.lock");
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io(&lock_path))?;
        lock.lock().map_err(io(&lock_path))?;
        let mut state = self.read()?;
        let out = change(&mut state)?;
        self.write(&state)?;
        // The lock is released when `lock` is dropped.
        Ok(out)
    }

    fn write(&self, state: &RegistryState) -> Result<(), RegistryError> {
        let path = self.file();
        let tmp = self
            .dir
            .join(format!("registry.json.tmp{}", std::process::id()));
        let bytes = serde_json::to_vec_pretty(state).map_err(|e| RegistryError::Corrupt {
            path: path.clone(),
            message: e.to_string(),
        })?;
        let mut f = File::create(&tmp).map_err(io(&tmp))?;
        f.write_all(&bytes).map_err(io(&tmp))?;
        f.sync_all().map_err(io(&tmp))?;
        std::fs::rename(&tmp, &path).map_err(io(&path))?;
        let stamp = self.stamp()?;
        if let Ok(mut cache) = self.cache.lock() {
            *cache = Some((stamp, Arc::new(state.clone())));
        }
        Ok(())
    }

    /// Stores a plugin's component and manifest text in its directory,
    /// atomically replacing earlier files.
    pub fn store_files(
        &self,
        name: &str,
        component: &[u8],
        manifest: &str,
    ) -> Result<(), RegistryError> {
        let dir = self.plugin_dir(name);
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        for (file, bytes) in [
            ("component.wasm", component),
            ("paddock-plugin.toml", manifest.as_bytes()),
        ] {
            let dest = dir.join(file);
            let tmp = dir.join(format!("{file}.tmp{}", std::process::id()));
            std::fs::write(&tmp, bytes).map_err(io(&tmp))?;
            std::fs::rename(&tmp, &dest).map_err(io(&dest))?;
        }
        Ok(())
    }

    /// Deletes a plugin's files.
    pub fn remove_files(&self, name: &str) -> Result<(), RegistryError> {
        let dir = self.plugin_dir(name);
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io(&dir)(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(name: &str) -> PluginRecord {
        PluginRecord {
            name: name.into(),
            version: "1.0.0".into(),
            world: World::Tool,
            description: String::new(),
            api_version: "0.1.0".into(),
            sha256: "00".into(),
            enabled: true,
            builtin: false,
            requested: BTreeSet::from(["env:A".parse().unwrap()]),
            granted: BTreeSet::new(),
            limits: Limits::default(),
            tools: vec![],
            hook_events: vec![],
            installed_at: 0,
            origin: None,
        }
    }

    #[test]
    fn modifications_persist_and_failed_ones_do_not() {
        let dir = tempfile::tempdir().unwrap();
        let reg = Registry::open(dir.path()).unwrap();
        assert!(reg.read().unwrap().plugins.is_empty());
        reg.modify(|s| {
            s.plugins.insert("a".into(), record("a"));
            Ok::<_, RegistryError>(())
        })
        .unwrap();
        let again = Registry::open(dir.path()).unwrap();
        assert_eq!(again.read().unwrap().plugins["a"], record("a"));
        let failed: Result<(), RegistryError> = again.modify(|s| {
            s.plugins.clear();
            Err(RegistryError::Corrupt {
                path: PathBuf::new(),
                message: "no".into(),
            })
        });
        assert!(failed.is_err());
        assert_eq!(again.read().unwrap().plugins.len(), 1);
    }

    #[test]
    fn concurrent_writers_do_not_lose_changes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_path_buf();
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let path = path.clone();
                std::thread::spawn(move || {
                    let reg = Registry::open(&path).unwrap();
                    reg.modify(|s| {
                        let name = format!("p{i}");
                        s.plugins.insert(name.clone(), record(&name));
                        Ok::<_, RegistryError>(())
                    })
                    .unwrap();
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(
            Registry::open(&path).unwrap().read().unwrap().plugins.len(),
            8
        );
    }

    #[test]
    fn snapshots_see_changes_from_other_handles() {
        let dir = tempfile::tempdir().unwrap();
        let a = Registry::open(dir.path()).unwrap();
        let b = Registry::open(dir.path()).unwrap();
        assert!(a.snapshot().unwrap().plugins.is_empty());
        let first = a.snapshot().unwrap();
        assert!(
            Arc::ptr_eq(&first, &a.snapshot().unwrap()),
            "unchanged file is not re-read"
        );
        b.modify(|s| {
            s.plugins.insert("x".into(), record("x"));
            Ok::<_, RegistryError>(())
        })
        .unwrap();
        assert!(
            a.snapshot().unwrap().plugins.contains_key("x"),
            "a change by another handle (process) is seen"
        );
        a.modify(|s| {
            s.plugins.remove("x");
            Ok::<_, RegistryError>(())
        })
        .unwrap();
        assert!(b.snapshot().unwrap().plugins.is_empty());
        assert!(a.snapshot().unwrap().plugins.is_empty());
    }

    #[test]
    fn a_corrupt_registry_is_reported_not_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let reg = Registry::open(dir.path()).unwrap();
        std::fs::write(dir.path().join("plugins/registry.json"), b"{not json").unwrap();
        let err = reg.read().unwrap_err().to_string();
        assert!(err.contains("not valid JSON"), "{err}");
        let res: Result<(), RegistryError> = reg.modify(|_| Ok(()));
        assert!(res.is_err());
        assert_eq!(
            std::fs::read(dir.path().join("plugins/registry.json")).unwrap(),
            b"{not json"
        );
    }
}
