//! Environments by name: those of `paddock.toml` (`[[environments]]`,
//! read-only) and those added through the API (stored), and choosing an
//! agent's — by name, or the workspace's devcontainer.json. Preparing one
//! is the sandbox crate's ([`paddock_sandbox::environment`]); the agent's
//! run decides when (`agent::runner`).
//!
//! The choice: an agent (or its template) that names no environment gets
//! its workspace's `.devcontainer/devcontainer.json` (or
//! `.devcontainer.json`) when there is one, else the plain sandbox; naming
//! `devcontainer` requires that file; any other name is an environment of
//! this registry. `devcontainer` is therefore not a name one may add.

use paddock_sandbox::environment::{EnvironmentDef, ResolvedEnvironment, devcontainer};
use paddock_store::{Store, StoreError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::RwLock;
use utoipa::ToSchema;

/// The name that stands for the workspace's devcontainer.json.
pub const DEVCONTAINER: &str = "devcontainer";

/// One `[[environments]]` entry, or the body that adds one through the API.
///
/// Read through a map so that an unknown field is refused by name (serde's
/// `flatten` would pass it over).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(try_from = "serde_json::Map<String, serde_json::Value>")]
pub struct EnvironmentConfig {
    /// Its name (letters, digits, `.`, `_`, `-`; not `devcontainer`).
    pub name: String,
    /// What it says.
    #[serde(flatten)]
    pub def: EnvironmentDef,
}

impl TryFrom<serde_json::Map<String, serde_json::Value>> for EnvironmentConfig {
    type Error = String;

    fn try_from(mut m: serde_json::Map<String, serde_json::Value>) -> Result<Self, String> {
        let name = match m.remove("name") {
            Some(serde_json::Value::String(n)) => n,
            Some(_) => return Err("name: must be a string".into()),
            None => return Err("name: missing field".into()),
        };
        let def = serde_json::from_value(serde_json::Value::Object(m))
            .map_err(|e| format!("environment `{name}`: {e}"))?;
        Ok(EnvironmentConfig { name, def })
    }
}

/// Where an environment comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EnvironmentSource {
    /// `paddock.toml` (read-only through the API).
    Config,
    /// Added through the API.
    Api,
    /// A workspace's devcontainer.json.
    Workspace,
}

/// An environment as the API lists it.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct EnvironmentInfo {
    /// Its name.
    pub name: String,
    /// Where it comes from.
    pub source: EnvironmentSource,
    /// What it says.
    pub definition: EnvironmentDef,
    /// For a workspace's: the file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// For a workspace's: the fields Paddock ignores.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignored: Vec<String>,
}

/// Why an environment change was refused.
#[derive(Debug, thiserror::Error)]
pub enum EnvironmentAdminError {
    /// The request is wrong (the text names the field).
    #[error("{0}")]
    Invalid(String),
    /// No such environment.
    #[error("no environment named `{0}`")]
    NotFound(String),
    /// The name is taken, or the environment is the configuration's.
    #[error("{0}")]
    Conflict(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The environments of the file and of the API.
pub struct Environments {
    config: BTreeMap<String, EnvironmentDef>,
    stored: RwLock<BTreeMap<String, EnvironmentDef>>,
    store: Store,
    cache_dir: PathBuf,
}

/// Checks an environment's name and definition; the error names the field.
pub fn check(env: &EnvironmentConfig) -> Result<(), String> {
    if !paddock_protocol::is_plain_name(&env.name) {
        return Err(format!(
            "name: `{}` must be 1-64 letters, digits, `.`, `_` or `-`, starting with a letter \
             or digit",
            env.name
        ));
    }
    if env.name == DEVCONTAINER {
        return Err(format!(
            "name: `{DEVCONTAINER}` stands for the workspace's devcontainer.json"
        ));
    }
    env.def.check()
}

impl Environments {
    /// The configured environments (checked) and those stored; results are
    /// cached under `data_dir/environments`.
    pub async fn open(
        config: &[EnvironmentConfig],
        store: Store,
        data_dir: &Path,
    ) -> Result<Environments, EnvironmentAdminError> {
        let mut from_file = BTreeMap::new();
        for (i, e) in config.iter().enumerate() {
            check(e).map_err(|m| {
                EnvironmentAdminError::Invalid(format!("environments[{i}] ({}): {m}", e.name))
            })?;
            if from_file.insert(e.name.clone(), e.def.clone()).is_some() {
                return Err(EnvironmentAdminError::Invalid(format!(
                    "environments[{i}]: `{}` is defined twice",
                    e.name
                )));
            }
        }
        let mut stored = BTreeMap::new();
        for s in store.list_environments().await? {
            match serde_json::from_value::<EnvironmentDef>(s.config) {
                Ok(def) if !from_file.contains_key(&s.name) => {
                    stored.insert(s.name, def);
                }
                Ok(_) => tracing::warn!(environment = %s.name,
                    "an environment added through the API has the name of a configured one; the configured one is used"),
                Err(e) => tracing::warn!(environment = %s.name, error = %e,
                    "a stored environment is not valid; it is left out"),
            }
        }
        Ok(Environments {
            config: from_file,
            stored: RwLock::new(stored),
            store,
            cache_dir: data_dir.join("environments"),
        })
    }

    /// Where prepared environments are cached.
    pub fn cache_dir(&self) -> &Path {
        &self.cache_dir
    }

    /// Every environment of the file and the API, by name.
    pub fn list(&self) -> Vec<EnvironmentInfo> {
        let stored = self.read();
        let mut out: Vec<EnvironmentInfo> = self
            .config
            .iter()
            .map(|(name, def)| (name, def, EnvironmentSource::Config))
            .chain(
                stored
                    .iter()
                    .map(|(name, def)| (name, def, EnvironmentSource::Api)),
            )
            .map(|(name, def, source)| EnvironmentInfo {
                name: name.clone(),
                source,
                definition: def.clone(),
                path: None,
                ignored: Vec::new(),
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    /// The devcontainer.json of a workspace, as the API lists it (None
    /// without one; an error when it does not parse).
    pub fn of_workspace(workspace: &Path) -> Result<Option<EnvironmentInfo>, String> {
        let found = devcontainer::load(workspace).map_err(|e| e.to_string())?;
        Ok(found.map(|d| EnvironmentInfo {
            name: DEVCONTAINER.into(),
            source: EnvironmentSource::Workspace,
            definition: d.def,
            path: Some(d.path.display().to_string()),
            ignored: d.ignored,
        }))
    }

    /// Whether an agent may name `name` (`devcontainer` always: the file
    /// is looked for when the agent runs).
    pub fn contains(&self, name: &str) -> bool {
        name == DEVCONTAINER || self.config.contains_key(name) || self.read().contains_key(name)
    }

    /// The names an agent may give, for error messages.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .config
            .keys()
            .chain(self.read().keys())
            .cloned()
            .collect();
        names.push(DEVCONTAINER.into());
        names.sort();
        names
    }

    /// The environment of an agent that names `name` (or none) working in
    /// `workspace`; None: the plain sandbox. The error names what is wrong
    /// (an unknown name, a missing or bad devcontainer.json).
    pub fn resolve(
        &self,
        name: Option<&str>,
        workspace: &Path,
    ) -> Result<Option<ResolvedEnvironment>, String> {
        match name {
            None | Some(DEVCONTAINER) => match devcontainer::load(workspace) {
                Ok(Some(d)) => Ok(Some(ResolvedEnvironment {
                    name: DEVCONTAINER.into(),
                    base: d
                        .path
                        .parent()
                        .map(Path::to_path_buf)
                        .unwrap_or_else(|| workspace.to_path_buf()),
                    def: d.def,
                    ignored: d.ignored,
                    confine: Some(workspace.to_path_buf()),
                })),
                Ok(None) if name.is_some() => Err(format!(
                    "environment `{DEVCONTAINER}`: the workspace {} has no \
                     .devcontainer/devcontainer.json nor .devcontainer.json",
                    workspace.display()
                )),
                Ok(None) => Ok(None),
                Err(e) => Err(e.to_string()),
            },
            Some(n) => {
                let def = self
                    .config
                    .get(n)
                    .cloned()
                    .or_else(|| self.read().get(n).cloned())
                    .ok_or_else(|| format!("environment: no environment named `{n}`"))?;
                Ok(Some(ResolvedEnvironment {
                    name: n.to_string(),
                    def,
                    base: workspace.to_path_buf(),
                    ignored: Vec::new(),
                    confine: None,
                }))
            }
        }
    }

    /// Adds an environment (stored).
    pub async fn create(
        &self,
        env: EnvironmentConfig,
    ) -> Result<EnvironmentInfo, EnvironmentAdminError> {
        check(&env).map_err(EnvironmentAdminError::Invalid)?;
        if self.contains(&env.name) {
            return Err(EnvironmentAdminError::Conflict(format!(
                "name: an environment named `{}` exists",
                env.name
            )));
        }
        let json = to_json(&env.def)?;
        self.store
            .create_environment(&env.name, &json)
            .await
            .map_err(|e| match e {
                StoreError::Conflict(_) => EnvironmentAdminError::Conflict(format!(
                    "name: an environment named `{}` exists",
                    env.name
                )),
                e => e.into(),
            })?;
        self.write().insert(env.name.clone(), env.def.clone());
        Ok(info(env, EnvironmentSource::Api))
    }

    /// Replaces an API-added environment's definition.
    pub async fn update(
        &self,
        env: EnvironmentConfig,
    ) -> Result<EnvironmentInfo, EnvironmentAdminError> {
        self.writable(&env.name)?;
        check(&env).map_err(EnvironmentAdminError::Invalid)?;
        let json = to_json(&env.def)?;
        match self.store.update_environment(&env.name, &json).await? {
            Some(_) => {
                self.write().insert(env.name.clone(), env.def.clone());
                Ok(info(env, EnvironmentSource::Api))
            }
            None => Err(EnvironmentAdminError::NotFound(env.name)),
        }
    }

    /// Removes an API-added environment (its cached results stay until
    /// the cache is cleared: another environment may share them).
    pub async fn delete(&self, name: &str) -> Result<(), EnvironmentAdminError> {
        self.writable(name)?;
        if self.store.delete_environment(name).await? {
            self.write().remove(name);
            Ok(())
        } else {
            Err(EnvironmentAdminError::NotFound(name.to_string()))
        }
    }

    fn writable(&self, name: &str) -> Result<(), EnvironmentAdminError> {
        if self.config.contains_key(name) {
            return Err(EnvironmentAdminError::Conflict(format!(
                "environment `{name}` is defined in paddock.toml; change it there"
            )));
        }
        if name == DEVCONTAINER {
            return Err(EnvironmentAdminError::Conflict(format!(
                "`{DEVCONTAINER}` is the workspace's devcontainer.json; change the file"
            )));
        }
        Ok(())
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, EnvironmentDef>> {
        self.stored.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<String, EnvironmentDef>> {
        self.stored.write().unwrap_or_else(|p| p.into_inner())
    }
}

fn info(env: EnvironmentConfig, source: EnvironmentSource) -> EnvironmentInfo {
    EnvironmentInfo {
        name: env.name,
        source,
        definition: env.def,
        path: None,
        ignored: Vec::new(),
    }
}

fn to_json(def: &EnvironmentDef) -> Result<serde_json::Value, EnvironmentAdminError> {
    serde_json::to_value(def)
        .map_err(|e| EnvironmentAdminError::Invalid(format!("cannot store the definition: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str, image: &str) -> EnvironmentConfig {
        EnvironmentConfig {
            name: name.into(),
            def: EnvironmentDef {
                image: Some(image.into()),
                ..EnvironmentDef::default()
            },
        }
    }

    #[tokio::test]
    async fn file_and_api_environments_and_the_devcontainer() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_sqlite(&dir.path().join("p.db")).await.unwrap();
        let envs = Environments::open(&[env("node", "paddock-node:1")], store.clone(), dir.path())
            .await
            .unwrap();
        envs.create(env("py", "paddock-py:1")).await.unwrap();
        for (e, want) in [
            (env("node", "x"), "exists"),
            (env("devcontainer", "x"), "stands for"),
            (env("a b", "x"), "name:"),
            (env("ok", "two words"), "`image`"),
        ] {
            let err = envs.create(e).await.unwrap_err().to_string();
            assert!(err.contains(want), "{err}");
        }
        assert!(
            envs.update(env("node", "y"))
                .await
                .unwrap_err()
                .to_string()
                .contains("paddock.toml")
        );
        envs.update(env("py", "paddock-py:2")).await.unwrap();
        let listed: Vec<(String, EnvironmentSource)> = envs
            .list()
            .into_iter()
            .map(|i| (i.name, i.source))
            .collect();
        assert_eq!(
            listed,
            [
                ("node".to_string(), EnvironmentSource::Config),
                ("py".to_string(), EnvironmentSource::Api)
            ]
        );
        // Stored: a restarted host has it.
        let again = Environments::open(&[], store.clone(), dir.path())
            .await
            .unwrap();
        let ws = tempfile::tempdir().unwrap();
        let py = again.resolve(Some("py"), ws.path()).unwrap().unwrap();
        assert_eq!(py.def.image.as_deref(), Some("paddock-py:2"));
        assert!(
            again
                .resolve(Some("nope"), ws.path())
                .unwrap_err()
                .contains("no environment named `nope`")
        );
        // No name: the workspace's devcontainer.json when it has one.
        assert_eq!(again.resolve(None, ws.path()).unwrap(), None);
        assert!(
            again
                .resolve(Some("devcontainer"), ws.path())
                .unwrap_err()
                .contains("has no .devcontainer/devcontainer.json")
        );
        std::fs::write(
            ws.path().join(".devcontainer.json"),
            "{\"image\": \"i\", \"name\": \"x\", // c\n}",
        )
        .unwrap();
        let d = again.resolve(None, ws.path()).unwrap().unwrap();
        assert_eq!(
            (d.name.as_str(), d.ignored.clone()),
            ("devcontainer", vec!["name".to_string()])
        );
        again.delete("py").await.unwrap();
        assert!(matches!(
            again.delete("py").await,
            Err(EnvironmentAdminError::NotFound(_))
        ));
        assert!(!again.contains("py") && again.contains("devcontainer"));
        // Unknown fields are refused (the definition's own check).
        let e = serde_json::from_value::<EnvironmentConfig>(
            serde_json::json!({"name": "n", "imag": "x"}),
        )
        .unwrap_err();
        assert!(e.to_string().contains("imag"), "{e}");
    }
}
