//! The model providers as an admin sees them: those of `paddock.toml`
//! (read-only here) and those added through the API (persisted, their keys
//! sealed in the [`Vault`]), applied to the running [`Providers`] registry
//! without a restart; each one's key state (never the key), testing one for
//! real, and the default model (settable, persisted; when unset, the first
//! model of the first usable provider).
//!
//! Members' personal keys (one per provider and user, sealed in the vault
//! with the user as the secret's owner) are kept here too: loaded at start,
//! set and removed by their owner, each put into the registry as that
//! member's client of the provider and added to the redactor at once.
//!
//! Name clashes: creating a provider with the name of one from the file is
//! refused. Should the file later gain a provider of a stored one's name,
//! the file's wins and the stored one is listed with an error saying so.

use crate::agent::redact::Redactor;
use crate::agent::{ModelRef, Provider, Providers};
use crate::secrets::{SecretError, Vault};
use paddock_llm::config::ProviderConfig;
use paddock_llm::{ModelClient, ProbeReport};
use paddock_store::{KeyChange, Store, StoreError};
use serde::{Deserialize, Serialize};
use std::sync::{Arc, RwLock};

/// The setting holding the default model.
const DEFAULT_MODEL: &str = "default_model";
/// Shortest key whose last four characters are shown.
const LAST4_MIN_LEN: usize = 12;
/// Longest provider name.
const MAX_NAME: usize = 64;

/// The name a provider's key is sealed under.
pub fn key_name(provider: &str) -> String {
    format!("provider:{provider}")
}

/// The name `owner`'s personal key for `provider` is sealed under (the
/// sealing binds it to both).
pub fn personal_key_name(owner: &str, provider: &str) -> String {
    format!("user:{owner}:provider:{provider}")
}

/// The (owner, provider) a personal key's sealed name says.
fn parse_personal_key_name(name: &str) -> Option<(&str, &str)> {
    let rest = name.strip_prefix("user:")?;
    let (owner, provider) = rest.split_once(":provider:")?;
    (!owner.is_empty() && !provider.is_empty()).then_some((owner, provider))
}

/// Longest API key taken.
const MAX_KEY_LEN: usize = 4096;

/// A member's personal key as shown to them: never the key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct PersonalKeyView {
    /// The provider it is for.
    pub provider: String,
    /// Always true: a key is listed only once set.
    pub set: bool,
    /// Its last four characters, only for a key of at least 12.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last4: Option<String>,
    /// When it was last set.
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

/// What setting a personal key did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeySet {
    /// There was none: it is new.
    Set,
    /// It replaced the owner's previous key for the provider.
    Rotated,
}

impl KeySet {
    /// Its name in the audit log.
    pub fn as_str(self) -> &'static str {
        match self {
            KeySet::Set => "set",
            KeySet::Rotated => "rotated",
        }
    }
}

/// The last four characters of a key of at least [`LAST4_MIN_LEN`].
fn last4(k: &str) -> Option<String> {
    (k.chars().count() >= LAST4_MIN_LEN).then(|| {
        let chars: Vec<char> = k.chars().collect();
        chars[chars.len() - 4..].iter().collect()
    })
}

/// Why a change to the providers was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The request is not valid (the message starts with the field).
    #[error("{0}")]
    Invalid(String),
    /// No such provider.
    #[error("no provider named `{0}`")]
    NotFound(String),
    /// A provider of this name exists.
    #[error("a provider named `{0}` exists already")]
    Exists(String),
    /// The provider comes from `paddock.toml` and cannot be changed here.
    #[error(
        "provider `{0}` comes from paddock.toml and is read-only here: change it in the file and restart"
    )]
    ReadOnly(String),
    /// The store failed.
    #[error("the store failed: {0}")]
    Store(#[from] StoreError),
    /// A secret could not be opened.
    #[error("{0}")]
    Secret(#[from] SecretError),
}

/// Where a provider is configured.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProviderSource {
    /// `[[providers]]` in `paddock.toml`: read-only through the API.
    Config,
    /// Added through the API: stored in the database.
    Api,
    /// The built-in offline demo (`POST /api/demo`): a script this host
    /// serves. Read-only, never the default model, and not counted as a
    /// usable provider (it only plays its script).
    Demo,
}

/// Where a provider's API key comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum KeyState {
    /// No key: requests are sent without `Authorization`.
    None,
    /// The environment variable named by `api_key_env`.
    Env,
    /// A key stored (sealed) through the API; it wins over `api_key_env`.
    Stored,
}

/// A provider's key as shown: never the key, at most its last four
/// characters.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct KeyView {
    /// Where the key comes from.
    pub state: KeyState,
    /// The environment variable (`api_key_env`), when one is named.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub env: Option<String>,
    /// Whether there is a key (stored, or the variable is set and not empty).
    pub set: bool,
    /// The key's last four characters, only for a key of at least 12.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last4: Option<String>,
}

/// Where the default model comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DefaultModelSource {
    /// Set through the API.
    Setting,
    /// Not set: the first model of the first usable provider.
    FirstProvider,
    /// Not set, and no usable provider has a model.
    None,
}

/// One provider as the admin sees it.
#[derive(Clone, Debug)]
pub struct ProviderEntry {
    /// Its configuration (no key in it).
    pub config: ProviderConfig,
    /// Where it is configured.
    pub source: ProviderSource,
    /// Its key, as shown.
    pub key: KeyView,
    /// Why it is not usable, if it is not.
    pub error: Option<String>,
}

/// A stored provider's key in memory (to build its client).
#[derive(Clone)]
struct StoredKey(String);

struct Entry {
    config: ProviderConfig,
    source: ProviderSource,
    key: Option<StoredKey>,
    error: Option<String>,
}

impl Entry {
    fn key_view(&self) -> KeyView {
        let last4 = |k: &str| {
            (k.chars().count() >= LAST4_MIN_LEN).then(|| {
                let chars: Vec<char> = k.chars().collect();
                chars[chars.len() - 4..].iter().collect()
            })
        };
        let env = self.config.api_key_env.clone();
        if let Some(StoredKey(k)) = &self.key {
            return KeyView {
                state: KeyState::Stored,
                env,
                set: true,
                last4: last4(k),
            };
        }
        match &env {
            Some(var) => {
                let value = std::env::var(var)
                    .ok()
                    .map(|v| v.trim().to_string())
                    .filter(|v| !v.is_empty());
                KeyView {
                    state: KeyState::Env,
                    set: value.is_some(),
                    last4: value.as_deref().and_then(last4),
                    env,
                }
            }
            None => KeyView {
                state: KeyState::None,
                env: None,
                set: false,
                last4: None,
            },
        }
    }

    fn view(&self) -> ProviderEntry {
        ProviderEntry {
            config: self.config.clone(),
            source: self.source,
            key: self.key_view(),
            error: self.error.clone(),
        }
    }
}

/// What an update does to a stored key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyUpdate {
    /// Keep the stored key (the field was absent).
    Keep,
    /// Remove it (the field was `""`).
    Remove,
    /// Replace it.
    Set(String),
}

impl KeyUpdate {
    /// The update an `api_key` field asks for: absent keeps, `""` removes.
    pub fn of(field: Option<String>) -> KeyUpdate {
        match field {
            None => KeyUpdate::Keep,
            Some(k) if k.is_empty() => KeyUpdate::Remove,
            Some(k) => KeyUpdate::Set(k),
        }
    }
}

/// The providers of the file and of the API, and the default model.
pub struct ProviderAdmin {
    store: Store,
    vault: Vault,
    registry: Arc<Providers>,
    redactor: Redactor,
    metrics: Option<Arc<crate::metrics::Metrics>>,
    entries: RwLock<Vec<Entry>>,
    default_model: RwLock<Option<ModelRef>>,
    /// Serialises changes (store, then registry, then the list).
    changes: tokio::sync::Mutex<()>,
}

impl ProviderAdmin {
    /// Sets up the file's providers, then the stored ones (their keys
    /// opened with the vault and added to the redactor), into `registry`;
    /// a provider that cannot be set up is listed with its error (and the
    /// start-up log says what to do).
    pub async fn open(
        file: &[ProviderConfig],
        store: Store,
        vault: Vault,
        registry: Arc<Providers>,
        redactor: Redactor,
        metrics: Option<Arc<crate::metrics::Metrics>>,
    ) -> Result<ProviderAdmin, AdminError> {
        let mut entries = Vec::new();
        for p in file {
            let error = match Provider::new(p) {
                Ok(provider) => {
                    registry.insert(provider);
                    None
                }
                Err(e) => {
                    tracing::warn!(
                        provider = %p.name,
                        error = %e,
                        "provider unavailable: set its key's environment variable and restart, or add a provider with a stored key in the dashboard"
                    );
                    Some(e.to_string())
                }
            };
            entries.push(Entry {
                config: p.clone(),
                source: ProviderSource::Config,
                key: None,
                error,
            });
        }
        for stored in store.list_providers().await? {
            let config: ProviderConfig = match serde_json::from_value(stored.config) {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(provider = %stored.name, error = %e, "stored provider unreadable; left out");
                    continue;
                }
            };
            let key = vault.get(&key_name(&config.name)).await?.map(StoredKey);
            if let Some(StoredKey(k)) = &key {
                redactor.add(k);
            }
            if file.iter().any(|f| f.name == config.name) {
                tracing::warn!(provider = %config.name, "a stored provider has the name of one in paddock.toml; the file's is used");
                entries.push(clashing(config, key));
                continue;
            }
            let error = match Provider::with_key(&config, key.as_ref().map(|k| k.0.as_str())) {
                Ok(provider) => {
                    registry.insert(provider);
                    None
                }
                Err(e) => {
                    tracing::warn!(provider = %config.name, error = %e, "provider unavailable");
                    Some(e.to_string())
                }
            };
            entries.push(Entry {
                config,
                source: ProviderSource::Api,
                key,
                error,
            });
        }
        for (owner, sealed) in store.all_owned_secrets().await? {
            let Some((named_owner, provider)) = parse_personal_key_name(&sealed.name) else {
                continue;
            };
            if named_owner != owner {
                tracing::warn!(secret = %sealed.name, "a personal key is stored under another user's name; left out");
                continue;
            }
            let key = match vault.open_sealed(&sealed) {
                Ok(k) => k,
                Err(e) => {
                    tracing::warn!(secret = %sealed.name, error = %e, "a personal key cannot be opened; left out");
                    continue;
                }
            };
            redactor.add(&key);
            if let Err(e) = registry.set_personal_key(provider, &owner, key) {
                tracing::warn!(provider = %provider, owner = %owner, error = %e, "a personal key cannot be used; its owner's agents use the shared key");
            }
        }
        let default_model = match store.get_setting(DEFAULT_MODEL).await? {
            Some(v) => serde_json::from_value(v).ok(),
            None => None,
        };
        let admin = ProviderAdmin {
            store,
            vault,
            registry,
            redactor,
            metrics,
            entries: RwLock::new(entries),
            default_model: RwLock::new(default_model),
            changes: tokio::sync::Mutex::new(()),
        };
        admin.note_models();
        Ok(admin)
    }

    fn entries(&self) -> std::sync::RwLockReadGuard<'_, Vec<Entry>> {
        self.entries.read().unwrap_or_else(|e| e.into_inner())
    }

    fn entries_mut(&self) -> std::sync::RwLockWriteGuard<'_, Vec<Entry>> {
        self.entries.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Makes every configured model known to the metrics (zero series).
    fn note_models(&self) {
        if let Some(m) = &self.metrics {
            m.known_models(
                &self
                    .entries()
                    .iter()
                    .flat_map(|p| {
                        p.config
                            .models
                            .iter()
                            .map(|m| (p.config.name.clone(), m.name.clone()))
                    })
                    .collect::<Vec<_>>(),
            );
        }
    }

    /// The running registry.
    pub fn registry(&self) -> &Arc<Providers> {
        &self.registry
    }

    /// Every provider: the file's in file order, then the API's oldest first.
    pub fn list(&self) -> Vec<ProviderEntry> {
        self.entries().iter().map(Entry::view).collect()
    }

    /// One provider.
    pub fn get(&self, name: &str) -> Option<ProviderEntry> {
        self.entries()
            .iter()
            .find(|e| e.config.name == name)
            .map(Entry::view)
    }

    /// Every provider's configuration (prices and models for cost reports).
    pub fn configs(&self) -> Vec<ProviderConfig> {
        self.entries().iter().map(|e| e.config.clone()).collect()
    }

    /// Whether any provider but the demo is usable.
    pub fn any_usable(&self) -> bool {
        self.entries().iter().any(|e| {
            e.source != ProviderSource::Demo
                && e.error.is_none()
                && self.registry.contains(&e.config.name)
        })
    }

    /// Adds the built-in demo's provider (see [`ProviderSource::Demo`]),
    /// listed last.
    pub fn add_demo(&self, config: ProviderConfig, provider: Provider) {
        self.registry.insert(provider);
        self.entries_mut().push(Entry {
            config,
            source: ProviderSource::Demo,
            key: None,
            error: None,
        });
        self.note_models();
    }

    /// Checks a provider's configuration and key, each error naming its
    /// field. Failover targets must name a provider that exists (or this
    /// one).
    pub fn validate(&self, config: &ProviderConfig, key: &KeyUpdate) -> Result<(), AdminError> {
        let invalid = |m: String| Err(AdminError::Invalid(m));
        let name = &config.name;
        if name.is_empty() || name.len() > MAX_NAME {
            return invalid(format!("name: must be 1 to {MAX_NAME} characters"));
        }
        if !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            || !name.starts_with(|c: char| c.is_ascii_alphanumeric())
        {
            return invalid(format!(
                "name: `{name}` must start with a letter or digit and hold only letters, digits, `-`, `_` and `.`"
            ));
        }
        if name == "test" {
            // `/api/config/providers/test` tests an unsaved provider.
            return invalid("name: `test` is reserved; choose another name".into());
        }
        match reqwest_url(&config.base_url) {
            Ok(()) => {}
            Err(why) => return invalid(format!("base_url: {why}")),
        }
        if let Some(var) = &config.api_key_env
            && (var.is_empty() || var.contains('='))
        {
            return invalid("api_key_env: must be the name of an environment variable".into());
        }
        const HOUR_MS: u64 = 3_600_000;
        if config.max_retries > 100 {
            return invalid("max_retries: must be at most 100".into());
        }
        if !(1..=1000).contains(&config.breaker_failures) {
            return invalid("breaker_failures: must be 1 to 1000".into());
        }
        for (field, ms, min) in [
            ("initial_backoff_ms", config.initial_backoff_ms, 0),
            ("max_backoff_ms", config.max_backoff_ms, 0),
            ("idle_timeout_ms", config.idle_timeout_ms, 1),
            ("breaker_cooldown_ms", config.breaker_cooldown_ms, 0),
        ] {
            if !(min..=24 * HOUR_MS).contains(&ms) {
                return invalid(format!(
                    "{field}: must be {min} to {} (a day)",
                    24 * HOUR_MS
                ));
            }
        }
        if config.initial_backoff_ms > config.max_backoff_ms {
            return invalid("initial_backoff_ms: must not exceed max_backoff_ms".into());
        }
        let mut seen = std::collections::BTreeSet::new();
        for (i, m) in config.models.iter().enumerate() {
            if m.name.trim().is_empty() {
                return invalid(format!("models[{i}].name: must not be empty"));
            }
            if !seen.insert(m.name.as_str()) {
                return invalid(format!("models[{i}].name: `{}` is listed twice", m.name));
            }
            if !(1..=100_000_000).contains(&m.context_window) {
                return invalid(format!(
                    "models[{i}].context_window: must be 1 to 100000000"
                ));
            }
            for (field, price) in [
                ("input_per_mtok", m.input_per_mtok),
                ("output_per_mtok", m.output_per_mtok),
                ("cached_input_per_mtok", m.cached_input_per_mtok),
            ] {
                if price.is_some_and(|p| !p.is_finite() || p < 0.0) {
                    return invalid(format!(
                        "models[{i}].{field}: must be a number of at least 0"
                    ));
                }
            }
            for (j, t) in m.failover_refs().enumerate() {
                let field = format!("models[{i}].failover[{j}]");
                let known = t.provider == *name
                    || self.entries().iter().any(|e| e.config.name == t.provider);
                if !known {
                    return invalid(format!(
                        "{field}.provider: `{}` is not a configured provider",
                        t.provider
                    ));
                }
                if t.provider == *name && t.model == m.name {
                    return invalid(format!("{field}: names the model itself"));
                }
            }
        }
        if let KeyUpdate::Set(k) = key
            && (k.trim() != k || !k.chars().all(|c| c.is_ascii_graphic()))
        {
            return invalid(
                "api_key: must be printable ASCII without spaces (paste the key alone)".into(),
            );
        }
        Ok(())
    }

    /// Adds a provider (and its key, sealed) and makes it usable at once.
    pub async fn create(
        &self,
        config: ProviderConfig,
        api_key: Option<String>,
    ) -> Result<ProviderEntry, AdminError> {
        let key = KeyUpdate::of(api_key);
        self.validate(&config, &key)?;
        let _changing = self.changes.lock().await;
        if let Some(e) = self.entries().iter().find(|e| e.config.name == config.name) {
            return Err(match e.source {
                ProviderSource::Config | ProviderSource::Demo => {
                    AdminError::ReadOnly(config.name.clone())
                }
                ProviderSource::Api => AdminError::Exists(config.name.clone()),
            });
        }
        let key = match key {
            KeyUpdate::Set(k) => Some(StoredKey(k)),
            KeyUpdate::Keep | KeyUpdate::Remove => None,
        };
        let sealed = key
            .as_ref()
            .map(|k| self.vault.seal(&key_name(&config.name), &k.0));
        let json = config_json(&config)?;
        self.store
            .create_provider(&config.name, &json, sealed.as_ref())
            .await
            .map_err(|e| match e {
                StoreError::Conflict(_) => AdminError::Exists(config.name.clone()),
                e => AdminError::Store(e),
            })?;
        let entry = self.apply(config, key);
        let view = entry.view();
        self.entries_mut().push(entry);
        self.note_models();
        Ok(view)
    }

    /// Replaces an API provider's configuration; its key as `key` says.
    pub async fn update(
        &self,
        config: ProviderConfig,
        key: KeyUpdate,
    ) -> Result<ProviderEntry, AdminError> {
        self.validate(&config, &key)?;
        let _changing = self.changes.lock().await;
        let name = config.name.clone();
        let old_key = self.stored(&name)?;
        let (change, new_key) = match key {
            KeyUpdate::Keep => (KeyChange::Keep, old_key),
            KeyUpdate::Remove => (KeyChange::Remove, None),
            KeyUpdate::Set(k) => (
                KeyChange::Set(self.vault.seal(&key_name(&name), &k)),
                Some(StoredKey(k)),
            ),
        };
        let json = config_json(&config)?;
        if self
            .store
            .update_provider(&name, &json, &key_name(&name), &change)
            .await?
            .is_none()
        {
            return Err(AdminError::NotFound(name));
        }
        let entry = if self.in_file(&name) {
            clashing(config, new_key)
        } else {
            self.apply(config, new_key)
        };
        let view = entry.view();
        let mut entries = self.entries_mut();
        if let Some(slot) = entries
            .iter_mut()
            .find(|e| e.config.name == name && e.source == ProviderSource::Api)
        {
            *slot = entry;
        }
        drop(entries);
        self.note_models();
        Ok(view)
    }

    /// Removes an API provider and its key. Agents on it fail their next
    /// model call (the provider is no longer configured); a default model
    /// on it is unset.
    pub async fn delete(&self, name: &str) -> Result<(), AdminError> {
        let _changing = self.changes.lock().await;
        self.stored(name)?;
        self.store.delete_provider(name, &key_name(name)).await?;
        // A file provider of the same name (a clash) keeps its place.
        if !self.in_file(name) {
            self.registry.remove(name);
        }
        self.entries_mut()
            .retain(|e| !(e.config.name == name && e.source == ProviderSource::Api));
        let on_it = self
            .default_model
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .is_some_and(|m| m.provider == name);
        if on_it {
            self.store.delete_setting(DEFAULT_MODEL).await?;
            *self
                .default_model
                .write()
                .unwrap_or_else(|e| e.into_inner()) = None;
        }
        Ok(())
    }

    /// The stored key of the API provider `name`: NotFound when there is
    /// none, ReadOnly when the name is only the file's.
    fn stored(&self, name: &str) -> Result<Option<StoredKey>, AdminError> {
        let entries = self.entries();
        if let Some(e) = entries
            .iter()
            .find(|e| e.config.name == name && e.source == ProviderSource::Api)
        {
            return Ok(e.key.clone());
        }
        if entries.iter().any(|e| e.config.name == name) {
            return Err(AdminError::ReadOnly(name.to_string()));
        }
        Err(AdminError::NotFound(name.to_string()))
    }

    /// Whether `paddock.toml` defines a provider of this name.
    fn in_file(&self, name: &str) -> bool {
        self.entries()
            .iter()
            .any(|e| e.config.name == name && e.source == ProviderSource::Config)
    }

    /// The entry of an API provider with this key, put into the registry
    /// when its client can be set up; the key joins the redactor.
    fn apply(&self, config: ProviderConfig, key: Option<StoredKey>) -> Entry {
        if let Some(StoredKey(k)) = &key {
            self.redactor.add(k);
        }
        let error = match Provider::with_key(&config, key.as_ref().map(|k| k.0.as_str())) {
            Ok(provider) => {
                self.registry.insert(provider);
                None
            }
            Err(e) => {
                self.registry.remove(&config.name);
                Some(e.to_string())
            }
        };
        Entry {
            config,
            source: ProviderSource::Api,
            key,
            error,
        }
    }

    /// Tests a configured provider for real (its key as configured).
    pub async fn test(&self, name: &str) -> Result<ProbeReport, AdminError> {
        let (config, key) = {
            let entries = self.entries();
            let Some(e) = entries.iter().find(|e| e.config.name == name) else {
                return Err(AdminError::NotFound(name.to_string()));
            };
            (e.config.clone(), e.key.clone())
        };
        Ok(self.probe(&config, key.map(|k| k.0)).await)
    }

    /// Tests a provider before it is saved: `config` with `api_key` (when
    /// absent, the key stored for a provider of that name, if any).
    pub async fn test_unsaved(
        &self,
        config: ProviderConfig,
        api_key: Option<String>,
    ) -> Result<ProbeReport, AdminError> {
        let key = KeyUpdate::of(api_key);
        // A test of an edit may reuse a file provider's name.
        self.validate(&config, &key)?;
        let key = match key {
            KeyUpdate::Set(k) => Some(k),
            KeyUpdate::Remove => None,
            KeyUpdate::Keep => self
                .entries()
                .iter()
                .find(|e| e.config.name == config.name && e.source == ProviderSource::Api)
                .and_then(|e| e.key.clone())
                .map(|k| k.0),
        };
        if let Some(k) = &key {
            // A key typed to be tested is a secret too, saved or not.
            self.redactor.add(k);
        }
        Ok(self.probe(&config, key).await)
    }

    async fn probe(&self, config: &ProviderConfig, key: Option<String>) -> ProbeReport {
        let started = std::time::Instant::now();
        let mut report = match ModelClient::with_key(config, key.as_deref()) {
            Ok(client) => {
                client
                    .probe(
                        &config.base_url,
                        config.models.first().map(|m| m.name.as_str()),
                    )
                    .await
            }
            Err(e) => ProbeReport {
                ok: false,
                models: Vec::new(),
                message: e.to_string(),
                http_status: None,
                duration_ms: started.elapsed().as_millis() as u64,
            },
        };
        report.message = self.redactor.redact(&report.message);
        report
    }

    /// The model an agent gets when it names none, and where that choice
    /// comes from: the setting when its provider is usable, else the first
    /// model of the first usable provider (the file's first, in order).
    pub fn default_model(&self) -> (Option<ModelRef>, DefaultModelSource) {
        if let Some(m) = self
            .default_model
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            && self.registry.contains(&m.provider)
        {
            return (Some(m), DefaultModelSource::Setting);
        }
        let first = self.entries().iter().find_map(|e| {
            if e.error.is_some()
                || e.source == ProviderSource::Demo
                || !self.registry.contains(&e.config.name)
            {
                return None;
            }
            e.config.models.first().map(|m| ModelRef {
                provider: e.config.name.clone(),
                model: m.name.clone(),
            })
        });
        match first {
            Some(m) => (Some(m), DefaultModelSource::FirstProvider),
            None => (None, DefaultModelSource::None),
        }
    }

    /// Sets (persists) the default model; its provider must be usable.
    pub async fn set_default_model(&self, model: ModelRef) -> Result<(), AdminError> {
        if self
            .entries()
            .iter()
            .any(|e| e.config.name == model.provider && e.source == ProviderSource::Demo)
        {
            return Err(AdminError::Invalid(format!(
                "provider: `{}` is the offline demo, which only plays its script; it cannot be the default model",
                model.provider
            )));
        }
        if !self.registry.contains(&model.provider) {
            let known = self.registry.names();
            return Err(AdminError::Invalid(format!(
                "provider: `{}` is not a usable provider (usable: {})",
                model.provider,
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            )));
        }
        if model.model.trim().is_empty() {
            return Err(AdminError::Invalid("model: must not be empty".into()));
        }
        let value =
            serde_json::to_value(&model).map_err(|e| AdminError::Invalid(format!("model: {e}")))?;
        self.store.put_setting(DEFAULT_MODEL, &value).await?;
        *self
            .default_model
            .write()
            .unwrap_or_else(|e| e.into_inner()) = Some(model);
        Ok(())
    }

    /// Unsets the default model (today's rule applies again).
    pub async fn clear_default_model(&self) -> Result<(), AdminError> {
        self.store.delete_setting(DEFAULT_MODEL).await?;
        *self
            .default_model
            .write()
            .unwrap_or_else(|e| e.into_inner()) = None;
        Ok(())
    }
}

impl ProviderAdmin {
    /// `owner`'s personal keys, by provider (never the keys).
    pub async fn personal_keys(&self, owner: &str) -> Result<Vec<PersonalKeyView>, AdminError> {
        let mut out = Vec::new();
        for sealed in self.store.owned_secrets(owner).await? {
            let Some((named, provider)) = parse_personal_key_name(&sealed.name) else {
                continue;
            };
            if named != owner {
                continue;
            }
            let key = self.vault.open_sealed(&sealed)?;
            out.push(PersonalKeyView {
                provider: provider.to_string(),
                set: true,
                last4: last4(&key),
                updated_at: sealed.updated_at,
            });
        }
        Ok(out)
    }

    /// Sets `owner`'s personal key for `provider` (a configured provider,
    /// not the demo): added to the redactor first, sealed and stored, then
    /// used for the owner's agents' next calls to the provider.
    pub async fn set_personal_key(
        &self,
        owner: &str,
        provider: &str,
        key: String,
    ) -> Result<(PersonalKeyView, KeySet), AdminError> {
        // A typed key is a secret from the moment it arrives.
        if !key.is_empty() {
            self.redactor.add(&key);
        }
        if key.is_empty() || key.len() > MAX_KEY_LEN {
            return Err(AdminError::Invalid(format!(
                "api_key: must be 1 to {MAX_KEY_LEN} characters"
            )));
        }
        if key.trim() != key || !key.chars().all(|c| c.is_ascii_graphic()) {
            return Err(AdminError::Invalid(
                "api_key: must be printable ASCII without spaces (paste the key alone)".into(),
            ));
        }
        let config = self.personal_provider(provider)?;
        if let Err(e) = ModelClient::with_key(&config, Some(&key)) {
            return Err(AdminError::Invalid(format!("api_key: {e}")));
        }
        let _changing = self.changes.lock().await;
        let sealed = self.vault.seal(&personal_key_name(owner, provider), &key);
        let rotated = self.store.put_owned_secret(&sealed, owner).await?;
        if let Err(e) = self.registry.set_personal_key(provider, owner, key.clone()) {
            tracing::warn!(provider = %provider, owner = %owner, error = %e, "a personal key cannot be used; the owner's agents use the shared key");
        }
        let view = PersonalKeyView {
            provider: provider.to_string(),
            set: true,
            last4: last4(&key),
            updated_at: sealed.updated_at,
        };
        Ok((
            view,
            if rotated {
                KeySet::Rotated
            } else {
                KeySet::Set
            },
        ))
    }

    /// Removes `owner`'s personal key for `provider`; their agents use the
    /// shared key from their next call. False if there was none.
    pub async fn remove_personal_key(
        &self,
        owner: &str,
        provider: &str,
    ) -> Result<bool, AdminError> {
        let _changing = self.changes.lock().await;
        let removed = self
            .store
            .delete_owned_secret(&personal_key_name(owner, provider), owner)
            .await?;
        let in_use = self.registry.remove_personal_key(provider, owner);
        Ok(removed || in_use)
    }

    /// The configuration of a provider that takes personal keys: any
    /// configured provider but the demo.
    fn personal_provider(&self, provider: &str) -> Result<ProviderConfig, AdminError> {
        // The file's come first: a stored provider of a file's name is the
        // file's.
        let entries = self.entries();
        let Some(e) = entries.iter().find(|e| e.config.name == provider) else {
            return Err(AdminError::NotFound(provider.to_string()));
        };
        if e.source == ProviderSource::Demo {
            return Err(AdminError::Invalid(format!(
                "provider: `{provider}` is the offline demo, which takes no key"
            )));
        }
        Ok(e.config.clone())
    }
}

/// A stored provider whose name `paddock.toml` uses too: listed with the
/// clash as its error, never in the registry (the file's wins).
fn clashing(config: ProviderConfig, key: Option<StoredKey>) -> Entry {
    let error = format!(
        "paddock.toml defines a provider named `{}` too; the file's is used. Delete this one, or add it again under another name",
        config.name
    );
    Entry {
        config,
        source: ProviderSource::Api,
        key,
        error: Some(error),
    }
}

fn config_json(config: &ProviderConfig) -> Result<serde_json::Value, AdminError> {
    serde_json::to_value(config).map_err(|e| AdminError::Invalid(format!("provider: {e}")))
}

/// Whether `url` is an http(s) URL a client can be built for.
fn reqwest_url(url: &str) -> Result<(), String> {
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(format!("`{url}` must start with http:// or https://"));
    }
    let probe = ProviderConfig::new("check", url, None);
    ModelClient::new(&probe)
        .map(|_| ())
        .map_err(|_| format!("`{url}` is not a valid URL"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secrets::{KeySource, MasterKey};

    async fn admin(file: &[ProviderConfig]) -> (ProviderAdmin, tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_sqlite(&dir.path().join("db.sqlite"))
            .await
            .unwrap();
        let key = MasterKey::generate();
        std::fs::write(dir.path().join("k"), key.to_base64()).unwrap();
        let vault = Vault::open(store.clone(), key, KeySource::Env)
            .await
            .unwrap();
        let a = ProviderAdmin::open(
            file,
            store.clone(),
            vault,
            Arc::new(Providers::default()),
            Redactor::default(),
            None,
        )
        .await
        .unwrap();
        (a, dir, store)
    }

    fn api(name: &str) -> ProviderConfig {
        let mut c = ProviderConfig::new(name, "http://127.0.0.1:9/v1", None);
        c.models.push(paddock_llm::config::ModelConfig::named("m"));
        c
    }

    #[tokio::test]
    async fn providers_are_added_changed_and_removed_live() {
        let file = api("file");
        let (a, _dir, store) = admin(std::slice::from_ref(&file)).await;
        assert_eq!(
            a.default_model().0.unwrap().provider,
            "file",
            "the first provider's first model"
        );
        let key = "sk-test-0123456789abcdef".to_string();
        let view = a.create(api("mine"), Some(key.clone())).await.unwrap();
        assert_eq!(view.key.state, KeyState::Stored);
        assert_eq!(view.key.last4.as_deref(), Some("cdef"));
        assert!(a.registry().contains("mine"));
        assert!(
            a.redactor
                .redact(&key)
                .contains(crate::agent::redact::REDACTED)
        );
        assert!(matches!(
            a.create(api("mine"), None).await,
            Err(AdminError::Exists(_))
        ));
        assert!(matches!(
            a.create(api("file"), None).await,
            Err(AdminError::ReadOnly(_))
        ));
        assert!(matches!(
            a.update(api("file"), KeyUpdate::Keep).await,
            Err(AdminError::ReadOnly(_))
        ));
        assert!(matches!(
            a.delete("file").await,
            Err(AdminError::ReadOnly(_))
        ));
        assert!(matches!(
            a.delete("nope").await,
            Err(AdminError::NotFound(_))
        ));
        // The key is sealed in the store.
        let sealed = store.get_secret(&key_name("mine")).await.unwrap().unwrap();
        assert!(!sealed.ciphertext.contains("sk-test"));
        // Absent keeps, "" removes.
        let kept = a.update(api("mine"), KeyUpdate::Keep).await.unwrap();
        assert_eq!(kept.key.state, KeyState::Stored);
        let short = a
            .update(api("mine"), KeyUpdate::Set("short-key".into()))
            .await
            .unwrap();
        assert_eq!(short.key.last4, None, "a short key shows nothing");
        let removed = a
            .update(api("mine"), KeyUpdate::of(Some(String::new())))
            .await
            .unwrap();
        assert_eq!(removed.key.state, KeyState::None);
        assert!(store.get_secret(&key_name("mine")).await.unwrap().is_none());
        // The default model.
        a.set_default_model(ModelRef {
            provider: "mine".into(),
            model: "m".into(),
        })
        .await
        .unwrap();
        assert_eq!(a.default_model().1, DefaultModelSource::Setting);
        let Err(AdminError::Invalid(m)) = a
            .set_default_model(ModelRef {
                provider: "gone".into(),
                model: "m".into(),
            })
            .await
        else {
            panic!("an unknown provider as default");
        };
        assert!(m.starts_with("provider:"), "{m}");
        a.delete("mine").await.unwrap();
        assert!(!a.registry().contains("mine"));
        assert_eq!(
            a.default_model(),
            (
                Some(ModelRef {
                    provider: "file".into(),
                    model: "m".into()
                }),
                DefaultModelSource::FirstProvider
            )
        );
        assert!(
            store
                .list_secrets()
                .await
                .unwrap()
                .iter()
                .all(|s| s.name != key_name("mine"))
        );
    }

    #[tokio::test]
    async fn personal_keys_serve_their_owner_and_come_back_after_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_sqlite(&dir.path().join("db.sqlite"))
            .await
            .unwrap();
        let key = MasterKey::generate();
        let copy = MasterKey::from_base64(&key.to_base64()).unwrap();
        let vault = Vault::open(store.clone(), key, KeySource::Env)
            .await
            .unwrap();
        let redactor = Redactor::default();
        let a = ProviderAdmin::open(
            &[api("file")],
            store.clone(),
            vault,
            Arc::new(Providers::default()),
            redactor.clone(),
            None,
        )
        .await
        .unwrap();
        let mine = "sk-alice-personal-0123456789wxyz".to_string();
        let (view, how) = a
            .set_personal_key("alice", "file", mine.clone())
            .await
            .unwrap();
        assert_eq!(how, KeySet::Set);
        assert_eq!(
            (view.provider.as_str(), view.set, view.last4.as_deref()),
            ("file", true, Some("wxyz"))
        );
        assert!(
            redactor
                .redact(&mine)
                .contains(crate::agent::redact::REDACTED)
        );
        let shared = a.registry().get("file").unwrap();
        let hers = a.registry().get_for("file", Some("alice")).unwrap();
        assert!(!Arc::ptr_eq(&hers, &shared));
        assert!(Arc::ptr_eq(
            &a.registry().get_for("file", Some("bob")).unwrap(),
            &shared
        ));
        // Sealed, owned, and nobody else's.
        let sealed = store.owned_secrets("alice").await.unwrap();
        assert_eq!(sealed.len(), 1);
        assert!(!sealed[0].ciphertext.contains("sk-alice"));
        assert!(store.owned_secrets("bob").await.unwrap().is_empty());
        assert!(a.personal_keys("bob").await.unwrap().is_empty());
        let (_, how) = a
            .set_personal_key("alice", "file", "short".into())
            .await
            .unwrap();
        assert_eq!(how, KeySet::Rotated);
        let listed = a.personal_keys("alice").await.unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].last4, None, "a short key shows nothing");
        a.set_personal_key("alice", "file", mine.clone())
            .await
            .unwrap();

        // Refusals name the field.
        for (provider, key, field) in [("file", "has space", "api_key:"), ("file", "", "api_key:")]
        {
            let Err(AdminError::Invalid(m)) =
                a.set_personal_key("alice", provider, key.into()).await
            else {
                panic!("{provider} {key:?} was taken");
            };
            assert!(m.starts_with(field), "{m}");
        }
        assert!(matches!(
            a.set_personal_key("alice", "nope", mine.clone()).await,
            Err(AdminError::NotFound(_))
        ));
        drop(a);

        // After a restart: loaded, used, redacted.
        let vault = Vault::open(store.clone(), copy, KeySource::Env)
            .await
            .unwrap();
        let redactor = Redactor::default();
        let again = ProviderAdmin::open(
            &[api("file")],
            store.clone(),
            vault,
            Arc::new(Providers::default()),
            redactor.clone(),
            None,
        )
        .await
        .unwrap();
        assert!(again.registry().uses_personal_key("file", "alice"));
        assert!(
            redactor
                .redact(&mine)
                .contains(crate::agent::redact::REDACTED)
        );
        assert_eq!(
            again.personal_keys("alice").await.unwrap()[0]
                .last4
                .as_deref(),
            Some("wxyz")
        );
        assert!(again.remove_personal_key("alice", "file").await.unwrap());
        assert!(!again.remove_personal_key("alice", "file").await.unwrap());
        assert!(!again.registry().uses_personal_key("file", "alice"));
        assert!(again.personal_keys("alice").await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn validation_names_the_field() {
        let (a, _dir, _store) = admin(&[]).await;
        let mut bad = api("ok");
        bad.base_url = "ftp://x".into();
        let Err(AdminError::Invalid(m)) = a.create(bad, None).await else {
            panic!()
        };
        assert!(m.starts_with("base_url:"), "{m}");
        let Err(AdminError::Invalid(m)) = a.create(api("bad name"), None).await else {
            panic!()
        };
        assert!(m.starts_with("name:"), "{m}");
        let Err(AdminError::Invalid(m)) = a.create(api("ok"), Some("has space".into())).await
        else {
            panic!()
        };
        assert!(m.starts_with("api_key:"), "{m}");
        let mut fo = api("ok");
        fo.models[0]
            .failover
            .push(paddock_llm::config::FailoverTarget {
                provider: "nope".into(),
                model: None,
            });
        let Err(AdminError::Invalid(m)) = a.create(fo, None).await else {
            panic!()
        };
        assert!(m.starts_with("models[0].failover[0].provider:"), "{m}");
        assert_eq!(a.default_model(), (None, DefaultModelSource::None));
    }

    #[tokio::test]
    async fn stored_providers_come_back_and_a_file_clash_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_sqlite(&dir.path().join("db.sqlite"))
            .await
            .unwrap();
        let key = MasterKey::generate();
        let copy = MasterKey::from_base64(&key.to_base64()).unwrap();
        let vault = Vault::open(store.clone(), key, KeySource::Env)
            .await
            .unwrap();
        let a = ProviderAdmin::open(
            &[],
            store.clone(),
            vault.clone(),
            Arc::new(Providers::default()),
            Redactor::default(),
            None,
        )
        .await
        .unwrap();
        a.create(api("x"), Some("sk-stored-key-0123456789".into()))
            .await
            .unwrap();
        drop(a);
        let vault = Vault::open(store.clone(), copy, KeySource::Env)
            .await
            .unwrap();
        let redactor = Redactor::default();
        let again = ProviderAdmin::open(
            &[api("x")],
            store,
            vault,
            Arc::new(Providers::default()),
            redactor.clone(),
            None,
        )
        .await
        .unwrap();
        let list = again.list();
        assert_eq!(list.len(), 2);
        assert_eq!(list[0].source, ProviderSource::Config);
        assert_eq!(list[1].source, ProviderSource::Api);
        assert!(
            list[1].error.as_deref().unwrap().contains("paddock.toml"),
            "{list:?}"
        );
        assert!(
            !redactor
                .redact("sk-stored-key-0123456789")
                .contains("0123456789")
        );
    }
}
