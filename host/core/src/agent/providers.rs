//! The model providers agents call: each [`Provider`] (its settings, its
//! client, its circuit breaker) and the [`Providers`] registry, which adds,
//! replaces and removes providers while agents run. An agent looks its
//! provider up for each model call, so a provider added or replaced
//! through the API serves the next call, and a removed one fails it with
//! a clear error.
//!
//! A member may have a personal key for a provider: the registry keeps a
//! client with that key (and a circuit breaker of its own) beside the
//! shared one, and [`Providers::get_for`] gives it to that member's agents
//! only — everyone else's calls go through the shared client.

use paddock_llm::breaker::Breaker;
use paddock_llm::config::ProviderConfig;
use paddock_llm::{LlmError, ModelClient};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// A configured provider: its settings, its client and its circuit
/// breaker (shared by every agent, and by clones).
#[derive(Clone)]
pub struct Provider {
    /// Its configuration.
    pub config: ProviderConfig,
    /// Its client.
    pub client: ModelClient,
    /// Opens after repeated failed calls, so failover passes it over.
    pub breaker: Arc<Breaker>,
}

impl Provider {
    /// The provider `config` describes, its API key read now from its
    /// `api_key_env`.
    pub fn new(config: &ProviderConfig) -> Result<Provider, LlmError> {
        Provider::with_key(config, None)
    }

    /// The provider `config` describes with this API key; without one, the
    /// key of its `api_key_env` (a key given here wins).
    pub fn with_key(config: &ProviderConfig, key: Option<&str>) -> Result<Provider, LlmError> {
        Ok(Provider {
            client: ModelClient::with_key(config, key)?,
            breaker: Arc::new(Breaker::new(
                config.breaker_failures,
                Duration::from_millis(config.breaker_cooldown_ms),
            )),
            config: config.clone(),
        })
    }
}

/// A member's personal key for one provider, and the client built with it
/// (none while the provider is not usable, or when the client could not be
/// built with this key).
struct Personal {
    key: String,
    client: Option<Arc<Provider>>,
}

/// The personal keys, by (provider, owner).
type PersonalKeys = HashMap<(String, String), Personal>;

/// The usable providers by name, and the members' personal clients;
/// changed while agents run.
#[derive(Default)]
pub struct Providers {
    shared: RwLock<HashMap<String, Arc<Provider>>>,
    personal: RwLock<PersonalKeys>,
}

impl Providers {
    /// A registry holding these providers.
    pub fn new(providers: impl IntoIterator<Item = Provider>) -> Providers {
        Providers {
            shared: RwLock::new(
                providers
                    .into_iter()
                    .map(|p| (p.config.name.clone(), Arc::new(p)))
                    .collect(),
            ),
            personal: RwLock::default(),
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, Arc<Provider>>> {
        self.shared.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, Arc<Provider>>> {
        self.shared.write().unwrap_or_else(|e| e.into_inner())
    }

    fn personal_mut(&self) -> std::sync::RwLockWriteGuard<'_, PersonalKeys> {
        self.personal.write().unwrap_or_else(|e| e.into_inner())
    }

    /// The shared provider of this name, if usable.
    pub fn get(&self, name: &str) -> Option<Arc<Provider>> {
        self.read().get(name).cloned()
    }

    /// The provider of this name for an agent of `owner`: the client with
    /// the owner's personal key when they set one, else the shared one.
    pub fn get_for(&self, name: &str, owner: Option<&str>) -> Option<Arc<Provider>> {
        let shared = self.get(name)?;
        if let Some(owner) = owner {
            let personal = self.personal.read().unwrap_or_else(|e| e.into_inner());
            if let Some(p) = personal.get(&(name.to_string(), owner.to_string()))
                && let Some(client) = &p.client
            {
                return Some(client.clone());
            }
        }
        Some(shared)
    }

    /// Uses `key` for `owner`'s agents' calls to `provider` from now on
    /// (calls already under way finish as they started). When the provider
    /// is usable, its client with this key is built now: the error is
    /// that of a key the client cannot take (the key is kept all the same,
    /// and the shared client serves meanwhile).
    pub fn set_personal_key(
        &self,
        provider: &str,
        owner: &str,
        key: String,
    ) -> Result<(), LlmError> {
        let built = self
            .get(provider)
            .map(|shared| Provider::with_key(&shared.config, Some(&key)))
            .transpose();
        let (client, error) = match built {
            Ok(c) => (c.map(Arc::new), None),
            Err(e) => (None, Some(e)),
        };
        self.personal_mut().insert(
            (provider.to_string(), owner.to_string()),
            Personal { key, client },
        );
        error.map_or(Ok(()), Err)
    }

    /// Stops using `owner`'s personal key for `provider`; true if there
    /// was one.
    pub fn remove_personal_key(&self, provider: &str, owner: &str) -> bool {
        self.personal_mut()
            .remove(&(provider.to_string(), owner.to_string()))
            .is_some()
    }

    /// Whether `owner`'s calls to `provider` go through their personal key.
    pub fn uses_personal_key(&self, provider: &str, owner: &str) -> bool {
        self.personal
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&(provider.to_string(), owner.to_string()))
            .is_some_and(|p| p.client.is_some())
    }

    /// Rebuilds the personal clients of `provider` from its shared
    /// client's configuration (none when it is gone).
    fn rebuild_personal(&self, provider: &str) {
        let shared = self.get(provider);
        let mut personal = self.personal_mut();
        for ((name, owner), p) in personal.iter_mut() {
            if name != provider {
                continue;
            }
            p.client = match &shared {
                None => None,
                Some(s) => match Provider::with_key(&s.config, Some(&p.key)) {
                    Ok(c) => Some(Arc::new(c)),
                    Err(e) => {
                        tracing::warn!(provider = %name, owner = %owner, error = %e, "a personal key cannot be used with this provider; its owner's agents use the shared key");
                        None
                    }
                },
            };
        }
    }

    /// Whether a provider of this name is usable.
    pub fn contains(&self, name: &str) -> bool {
        self.read().contains_key(name)
    }

    /// The names of the usable providers, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.read().keys().cloned().collect();
        names.sort();
        names
    }

    /// Adds the provider, replacing one of the same name (calls already
    /// under way finish on the old one).
    pub fn insert(&self, provider: Provider) {
        let name = provider.config.name.clone();
        self.write().insert(name.clone(), Arc::new(provider));
        self.rebuild_personal(&name);
    }

    /// Removes the provider of this name; true if there was one. Its
    /// personal keys are kept (a provider added again under this name
    /// uses them).
    pub fn remove(&self, name: &str) -> bool {
        let removed = self.write().remove(name).is_some();
        self.rebuild_personal(name);
        removed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn providers_come_and_go_while_lookups_hold_theirs() {
        let registry = Providers::new([Provider::new(&ProviderConfig::new(
            "a",
            "http://127.0.0.1:9/v1",
            None,
        ))
        .unwrap()]);
        let held = registry.get("a").unwrap();
        let mut replaced = ProviderConfig::new("a", "http://127.0.0.1:10/v1", None);
        replaced.max_retries = 1;
        registry.insert(Provider::new(&replaced).unwrap());
        registry.insert(
            Provider::new(&ProviderConfig::new("b", "http://127.0.0.1:9/v1", None)).unwrap(),
        );
        assert_eq!(registry.names(), ["a", "b"]);
        assert_eq!(registry.get("a").unwrap().config.max_retries, 1);
        assert_eq!(
            held.config.max_retries, 6,
            "a held provider stays as it was"
        );
        assert!(registry.remove("a"));
        assert!(!registry.remove("a"));
        assert!(!registry.contains("a"));
        assert!(registry.get("a").is_none());
    }

    #[test]
    fn a_personal_key_serves_its_owner_only_and_follows_the_provider() {
        let registry = Providers::new([Provider::new(&ProviderConfig::new(
            "a",
            "http://127.0.0.1:9/v1",
            None,
        ))
        .unwrap()]);
        let shared = registry.get("a").unwrap();
        assert!(Arc::ptr_eq(
            &registry.get_for("a", Some("alice")).unwrap(),
            &shared
        ));
        registry
            .set_personal_key("a", "alice", "sk-alice-0123456789".into())
            .unwrap();
        let own = registry.get_for("a", Some("alice")).unwrap();
        assert!(!Arc::ptr_eq(&own, &shared), "alice gets her own client");
        assert!(
            !Arc::ptr_eq(&own.breaker, &shared.breaker),
            "and her own breaker"
        );
        assert!(Arc::ptr_eq(
            &registry.get_for("a", Some("bob")).unwrap(),
            &shared
        ));
        assert!(Arc::ptr_eq(&registry.get_for("a", None).unwrap(), &shared));
        assert!(registry.uses_personal_key("a", "alice"));
        assert!(!registry.uses_personal_key("a", "bob"));

        // Replacing the provider rebuilds her client from the new settings.
        let mut replaced = ProviderConfig::new("a", "http://127.0.0.1:10/v1", None);
        replaced.max_retries = 2;
        registry.insert(Provider::new(&replaced).unwrap());
        assert_eq!(
            registry
                .get_for("a", Some("alice"))
                .unwrap()
                .config
                .max_retries,
            2
        );
        assert!(registry.uses_personal_key("a", "alice"));

        // Gone, then back: the key is kept for the provider's return.
        registry.remove("a");
        assert!(registry.get_for("a", Some("alice")).is_none());
        assert!(!registry.uses_personal_key("a", "alice"));
        registry.insert(Provider::new(&replaced).unwrap());
        assert!(registry.uses_personal_key("a", "alice"));

        // A key for a provider not configured yet waits for it.
        registry
            .set_personal_key("b", "alice", "sk-alice-b".into())
            .unwrap();
        assert!(registry.get_for("b", Some("alice")).is_none());

        assert!(registry.remove_personal_key("a", "alice"));
        assert!(!registry.remove_personal_key("a", "alice"));
        let shared = registry.get("a").unwrap();
        assert!(Arc::ptr_eq(
            &registry.get_for("a", Some("alice")).unwrap(),
            &shared
        ));
    }
}
