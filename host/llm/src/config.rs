//! A model provider's configuration (`[[providers]]` in `paddock.toml`):
//! its endpoint, key, retries and timeouts, its models and their prices.

use paddock_protocol::agent::ModelRef;
use paddock_protocol::llm::WireApi;
use serde::{Deserialize, Serialize};

/// One OpenAI-compatible endpoint.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    /// The name agents refer to it by.
    #[schema(pattern = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
    pub name: String,
    /// The API base, e.g. `https://api.openai.com/v1`.
    #[schema(pattern = r"^https?://")]
    pub base_url: String,
    /// The environment variable holding the API key (never the key itself).
    #[serde(default)]
    pub api_key_env: Option<String>,
    /// The wire API it speaks: `chat` (Chat Completions, the default) or
    /// `responses` (OpenAI's Responses API).
    #[serde(default)]
    pub api: WireApi,
    /// Models served, with prices and context windows.
    #[serde(default)]
    pub models: Vec<ModelConfig>,
    /// Retries of one request (429, 5xx, broken connections and streams).
    #[serde(default = "default_max_retries")]
    pub max_retries: u32,
    /// First backoff, doubled on each retry (with jitter).
    #[serde(default = "default_initial_backoff_ms")]
    pub initial_backoff_ms: u64,
    /// Longest single wait, including a server's `Retry-After`.
    #[serde(default = "default_max_backoff_ms")]
    pub max_backoff_ms: u64,
    /// Longest silence in a stream before the attempt counts as broken.
    #[serde(default = "default_idle_timeout_ms")]
    pub idle_timeout_ms: u64,
    /// Calls in a row that must fail (past their retries) before the
    /// provider's circuit opens and failover skips it.
    #[serde(default = "default_breaker_failures")]
    pub breaker_failures: u32,
    /// How long an open circuit stays open before the provider is tried
    /// again.
    #[serde(default = "default_breaker_cooldown_ms")]
    pub breaker_cooldown_ms: u64,
}

fn default_max_retries() -> u32 {
    6
}
fn default_initial_backoff_ms() -> u64 {
    500
}
fn default_max_backoff_ms() -> u64 {
    60_000
}
fn default_idle_timeout_ms() -> u64 {
    120_000
}
fn default_breaker_failures() -> u32 {
    3
}
fn default_breaker_cooldown_ms() -> u64 {
    30_000
}

impl ProviderConfig {
    /// A provider with default retry settings.
    pub fn new(name: &str, base_url: &str, api_key_env: Option<&str>) -> ProviderConfig {
        ProviderConfig {
            name: name.into(),
            base_url: base_url.into(),
            api_key_env: api_key_env.map(str::to_string),
            api: WireApi::default(),
            models: Vec::new(),
            max_retries: default_max_retries(),
            initial_backoff_ms: default_initial_backoff_ms(),
            max_backoff_ms: default_max_backoff_ms(),
            idle_timeout_ms: default_idle_timeout_ms(),
            breaker_failures: default_breaker_failures(),
            breaker_cooldown_ms: default_breaker_cooldown_ms(),
        }
    }

    /// The model's entry, if configured.
    pub fn model(&self, name: &str) -> Option<&ModelConfig> {
        self.models.iter().find(|m| m.name == name)
    }
}

/// A model and its prices (USD per million tokens). Prices left out come
/// from [`Price::default_for`] (the OpenAI models Paddock knows); a model
/// with neither has an unknown price, and its calls are recorded as
/// unpriced — never as free.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// Its name at the provider.
    pub name: String,
    /// Its context window in tokens.
    #[serde(default = "default_context_window")]
    pub context_window: u64,
    /// USD per million input tokens.
    #[serde(default)]
    pub input_per_mtok: Option<f64>,
    /// USD per million output tokens.
    #[serde(default)]
    pub output_per_mtok: Option<f64>,
    /// USD per million cached input tokens (default: the input price).
    #[serde(default)]
    pub cached_input_per_mtok: Option<f64>,
    /// Whether it is a reasoning model, whose reasoning (encrypted) and
    /// summaries are asked for over the Responses API. Default: guessed
    /// from the name (`o1`, `o3`, `o4-mini`, `gpt-5`, `codex-…`).
    #[serde(default)]
    pub reasoning: Option<bool>,
    /// Where the call goes when this provider fails past its retries (or
    /// its circuit is open), in order.
    #[serde(default)]
    pub failover: Vec<FailoverTarget>,
}

/// Another place serving a model: a provider of `paddock.toml` and the
/// model's name there (an Azure deployment, another region).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FailoverTarget {
    /// The provider.
    pub provider: String,
    /// The model's name at that provider (default: the same name).
    #[serde(default)]
    pub model: Option<String>,
}

fn default_context_window() -> u64 {
    128_000
}

/// A model's prices, USD per million tokens.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Price {
    /// Input (prompt) tokens not served from the cache.
    pub input_per_mtok: f64,
    /// Input tokens served from the provider's prompt cache.
    pub cached_input_per_mtok: f64,
    /// Output (completion) tokens.
    pub output_per_mtok: f64,
}

impl Price {
    /// The list price of a model Paddock knows (OpenAI's, 2026-11), by name;
    /// dated snapshots (`gpt-4o-2024-08-06`) count as their model.
    pub fn default_for(model: &str) -> Option<Price> {
        let known = |input, cached, output| {
            Some(Price {
                input_per_mtok: input,
                cached_input_per_mtok: cached,
                output_per_mtok: output,
            })
        };
        let base = model.rsplit('/').next().unwrap_or(model);
        if base == "gpt-4o-mini" || base.starts_with("gpt-4o-mini-") {
            known(0.15, 0.075, 0.60)
        } else if base == "gpt-4o" || base.starts_with("gpt-4o-20") {
            known(2.50, 1.25, 10.00)
        } else {
            None
        }
    }

    /// The cost in USD of a call's tokens. Cached tokens are part of the
    /// input tokens and billed at the cached price.
    pub fn cost(&self, usage: &crate::TokenUsage) -> f64 {
        let cached = usage.cached_tokens.min(usage.input_tokens);
        let fresh = usage.input_tokens - cached;
        (fresh as f64 * self.input_per_mtok
            + cached as f64 * self.cached_input_per_mtok
            + usage.output_tokens as f64 * self.output_per_mtok)
            / 1_000_000.0
    }
}

impl ModelConfig {
    /// A model with no configured price and the default context window.
    pub fn named(name: &str) -> ModelConfig {
        ModelConfig {
            name: name.to_string(),
            context_window: default_context_window(),
            input_per_mtok: None,
            output_per_mtok: None,
            cached_input_per_mtok: None,
            reasoning: None,
            failover: Vec::new(),
        }
    }

    /// Its failover targets as model references, in order (a target that
    /// names no model serves this one's name).
    pub fn failover_refs(&self) -> impl Iterator<Item = ModelRef> + '_ {
        self.failover.iter().map(|t| ModelRef {
            provider: t.provider.clone(),
            model: t.model.clone().unwrap_or_else(|| self.name.clone()),
        })
    }

    /// Whether it is a reasoning model: as configured, else guessed from
    /// its name.
    pub fn is_reasoning(&self) -> bool {
        self.reasoning.unwrap_or_else(|| {
            let base = self.name.rsplit('/').next().unwrap_or(&self.name);
            ["o1", "o3", "o4", "gpt-5", "codex-"]
                .iter()
                .any(|p| base.starts_with(p))
        })
    }

    /// Its prices: the configured ones, completed from the known list
    /// price; None when the input or output price is unknown.
    pub fn price(&self) -> Option<Price> {
        let default = Price::default_for(&self.name);
        let input = self.input_per_mtok.or(default.map(|d| d.input_per_mtok))?;
        let output = self
            .output_per_mtok
            .or(default.map(|d| d.output_per_mtok))?;
        let cached = self.cached_input_per_mtok.unwrap_or(match default {
            // With the list input price, the list cached price; with a
            // configured input price, that price.
            Some(d) if self.input_per_mtok.is_none() => d.cached_input_per_mtok,
            _ => input,
        });
        Some(Price {
            input_per_mtok: input,
            cached_input_per_mtok: cached,
            output_per_mtok: output,
        })
    }

    /// The cost in USD of a call's tokens, None when the price is unknown.
    pub fn cost(&self, usage: &crate::TokenUsage) -> Option<f64> {
        self.price().map(|p| p.cost(usage))
    }
}

#[cfg(test)]
mod price_tests {
    use super::*;
    use crate::TokenUsage;

    fn usage(input: u64, cached: u64, output: u64) -> TokenUsage {
        TokenUsage {
            input_tokens: input,
            output_tokens: output,
            cached_tokens: cached,
            reasoning_tokens: 0,
        }
    }

    #[test]
    fn known_models_have_list_prices_and_others_none() {
        let p = ModelConfig::named("gpt-4o").price().unwrap();
        assert_eq!(
            (p.input_per_mtok, p.cached_input_per_mtok, p.output_per_mtok),
            (2.5, 1.25, 10.0)
        );
        let mini = ModelConfig::named("gpt-4o-mini-2024-07-18")
            .price()
            .unwrap();
        assert_eq!(mini.output_per_mtok, 0.60);
        assert!(ModelConfig::named("gpt-4o-2024-08-06").price().is_some());
        assert_eq!(ModelConfig::named("llama3:8b").price(), None);
        assert_eq!(
            ModelConfig::named("llama3:8b").cost(&usage(10, 0, 10)),
            None
        );
        assert_eq!(ModelConfig::named("gpt-4omega").price(), None);
    }

    #[test]
    fn configured_prices_win_and_fill_in_from_the_list() {
        let mut m = ModelConfig::named("gpt-4o");
        m.input_per_mtok = Some(3.0);
        let p = m.price().unwrap();
        // A configured input price without a cached one bills cache hits at it.
        assert_eq!(
            (p.input_per_mtok, p.cached_input_per_mtok, p.output_per_mtok),
            (3.0, 3.0, 10.0)
        );
        let mut local = ModelConfig::named("llama3:8b");
        local.input_per_mtok = Some(0.0);
        assert_eq!(local.price(), None, "an output price is still missing");
        local.output_per_mtok = Some(0.0);
        assert_eq!(
            local.cost(&usage(1000, 0, 1000)),
            Some(0.0),
            "configured free is free"
        );
    }

    #[test]
    fn cost_bills_cached_tokens_at_the_cached_price() {
        let p = ModelConfig::named("gpt-4o").price().unwrap();
        // 1M input of which 400k cached, 100k output.
        let c = p.cost(&usage(1_000_000, 400_000, 100_000));
        assert!(
            (c - (0.6 * 2.5 + 0.4 * 1.25 + 0.1 * 10.0)).abs() < 1e-9,
            "{c}"
        );
        // More cached than input (a provider's rounding) never goes negative.
        assert!(p.cost(&usage(10, 20, 0)) >= 0.0);
    }
}
