//! The model providers agents call: each [`Provider`] (its settings, its
//! client, its circuit breaker) and the [`Providers`] registry, which adds,
//! replaces and removes providers while agents run. An agent looks its
//! provider up for each model call, so a provider added or replaced
//! through the API serves the next call, and a removed one fails it with
//! a clear error.

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

/// The usable providers by name; changed while agents run.
#[derive(Default)]
pub struct Providers(RwLock<HashMap<String, Arc<Provider>>>);

impl Providers {
    /// A registry holding these providers.
    pub fn new(providers: impl IntoIterator<Item = Provider>) -> Providers {
        Providers(RwLock::new(
            providers
                .into_iter()
                .map(|p| (p.config.name.clone(), Arc::new(p)))
                .collect(),
        ))
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, Arc<Provider>>> {
        self.0.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, Arc<Provider>>> {
        self.0.write().unwrap_or_else(|e| e.into_inner())
    }

    /// The provider of this name, if usable.
    pub fn get(&self, name: &str) -> Option<Arc<Provider>> {
        self.read().get(name).cloned()
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
        self.write()
            .insert(provider.config.name.clone(), Arc::new(provider));
    }

    /// Removes the provider of this name; true if there was one.
    pub fn remove(&self, name: &str) -> bool {
        self.write().remove(name).is_some()
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
}
