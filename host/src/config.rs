//! `paddock.toml`: the server, model providers (with prices), and agent
//! defaults. Values come from the file, then `PADDOCK_*` environment
//! variables, then flags (applied by the binary).

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// A configuration problem, named precisely.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid.
    #[error("{path} is not valid: {message}")]
    Invalid {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
}

/// The whole configuration.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The API server.
    #[serde(default)]
    pub server: ServerConfig,
    /// The store: `sqlite://…` or `postgres://…` (default: SQLite in the
    /// data dir).
    #[serde(default)]
    pub database_url: Option<String>,
    /// Model providers.
    #[serde(default)]
    pub providers: Vec<ProviderConfig>,
    /// Defaults and rules for every agent.
    #[serde(default)]
    pub agents: AgentDefaults,
    /// Where shell commands run.
    #[serde(default)]
    pub sandbox: crate::sandbox::SandboxConfig,
    /// Rules, approval mode and approval timeout.
    #[serde(default)]
    pub policy: crate::policy::PolicyConfig,
    /// Global spending caps over all agents (`PUT /api/config/budgets`
    /// overrides them).
    #[serde(default)]
    pub budgets: Budgets,
    /// Model routers: a cheap and a strong model an agent may use instead
    /// of one model (`router = "NAME"`).
    #[serde(default)]
    pub routers: Vec<RouterConfig>,
    /// Where workspaces may be, backups kept, files read.
    #[serde(default)]
    pub workspaces: crate::workspace::WorkspacesConfig,
}

/// Global spending caps in USD, over all agents' model calls (UTC day and
/// calendar month). None: no cap.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Budgets {
    /// Dollars per UTC day.
    #[serde(default)]
    #[schema(minimum = 0)]
    pub daily_usd: Option<f64>,
    /// Dollars per calendar month (UTC).
    #[serde(default)]
    #[schema(minimum = 0)]
    pub monthly_usd: Option<f64>,
}

impl Budgets {
    /// Checks that every cap is a finite, non-negative number; the error
    /// names the field.
    pub fn validate(&self, prefix: &str) -> Result<(), String> {
        check_usd(prefix, "daily_usd", self.daily_usd)?;
        check_usd(prefix, "monthly_usd", self.monthly_usd)
    }
}

/// Whether `name` is a plain name, as templates, prompts and workspaces
/// have: 1 to 64 of `A-Z a-z 0-9 . _ -`, starting with a letter or digit
/// (so it is safe in paths, branch names and URLs).
pub fn is_plain_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// A dollar amount must be finite and not negative.
pub fn check_usd(prefix: &str, field: &str, v: Option<f64>) -> Result<(), String> {
    match v {
        Some(x) if !x.is_finite() || x < 0.0 => Err(format!(
            "{prefix}{field}: must be a number of dollars, zero or more (got {x})"
        )),
        _ => Ok(()),
    }
}

/// Which model a router uses for the first call of a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    /// The cheap model (reading and searching).
    #[default]
    Cheap,
    /// The strong model (editing, or after the cheap one failed).
    Strong,
}

impl Tier {
    /// `cheap` or `strong`.
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Cheap => "cheap",
            Tier::Strong => "strong",
        }
    }
}

/// A model router: each model call of an agent that names it goes to the
/// cheap model when the previous turn only read (read-only tools), to the
/// strong one when it called a tool that is not read-only or when the
/// cheap model failed `escalate_after_failures` times in a row.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RouterConfig {
    /// The name agents refer to it by (`router = "NAME"`).
    pub name: String,
    /// The model for turns that only read and search.
    pub cheap: crate::agent::ModelRef,
    /// The model for turns that edit, and after the cheap one fails.
    pub strong: crate::agent::ModelRef,
    /// Consecutive failures of the cheap model (a failed model call, or a
    /// turn whose tool calls all failed) after which the strong model
    /// takes the next call (default 2).
    #[serde(default = "default_escalate_after_failures")]
    pub escalate_after_failures: u32,
    /// The model of a run's first call (default `cheap`).
    #[serde(default)]
    pub first_call: Tier,
}

fn default_escalate_after_failures() -> u32 {
    2
}

/// The API server.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Address to bind (default `127.0.0.1:7700`).
    #[serde(default = "default_bind")]
    pub bind: String,
    /// Origins allowed to open the WebSocket besides the server's own.
    #[serde(default)]
    pub allowed_origins: Vec<String>,
}

fn default_bind() -> String {
    "127.0.0.1:7700".into()
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            bind: default_bind(),
            allowed_origins: Vec::new(),
        }
    }
}

/// One OpenAI-compatible endpoint.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    /// The name agents refer to it by.
    pub name: String,
    /// The API base, e.g. `https://api.openai.com/v1`.
    pub base_url: String,
    /// The environment variable holding the API key (never the key itself).
    #[serde(default)]
    pub api_key_env: Option<String>,
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

impl ProviderConfig {
    /// A provider with default retry settings.
    pub fn new(name: &str, base_url: &str, api_key_env: Option<&str>) -> ProviderConfig {
        ProviderConfig {
            name: name.into(),
            base_url: base_url.into(),
            api_key_env: api_key_env.map(str::to_string),
            models: Vec::new(),
            max_retries: default_max_retries(),
            initial_backoff_ms: default_initial_backoff_ms(),
            max_backoff_ms: default_max_backoff_ms(),
            idle_timeout_ms: default_idle_timeout_ms(),
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
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
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
    pub fn cost(&self, usage: &crate::llm::TokenUsage) -> f64 {
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
        }
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
    pub fn cost(&self, usage: &crate::llm::TokenUsage) -> Option<f64> {
        self.price().map(|p| p.cost(usage))
    }
}

/// Defaults and rules for every agent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentDefaults {
    /// Environment variables whose values are secrets: redacted from tool
    /// output and every stored event.
    #[serde(default)]
    pub secret_env: Vec<String>,
    /// Tool outputs longer than this many bytes are cut to head and tail.
    #[serde(default = "default_tool_output_max_bytes")]
    pub tool_output_max_bytes: usize,
    /// Fraction of the context window at which old tool outputs are masked.
    #[serde(default = "default_mask_threshold")]
    pub mask_threshold: f64,
    /// Identical failing tool calls in a row that stop the agent.
    #[serde(default = "default_max_repeated_failures")]
    pub max_repeated_failures: u32,
    /// Default limits of a new agent.
    #[serde(default)]
    pub limits: AgentLimits,
}

fn default_tool_output_max_bytes() -> usize {
    16 * 1024
}
fn default_mask_threshold() -> f64 {
    0.7
}
fn default_max_repeated_failures() -> u32 {
    3
}

impl Default for AgentDefaults {
    fn default() -> Self {
        AgentDefaults {
            secret_env: Vec::new(),
            tool_output_max_bytes: default_tool_output_max_bytes(),
            mask_threshold: default_mask_threshold(),
            max_repeated_failures: default_max_repeated_failures(),
            limits: AgentLimits::default(),
        }
    }
}

/// Hard limits of one agent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentLimits {
    /// Model calls per user message.
    #[serde(default = "default_max_turns")]
    #[schema(minimum = 1)]
    pub max_turns: u32,
    /// Dollars over the agent's life.
    #[serde(default)]
    #[schema(minimum = 0)]
    pub max_cost_usd: Option<f64>,
    /// Dollars per UTC day.
    #[serde(default)]
    #[schema(minimum = 0)]
    pub daily_usd: Option<f64>,
    /// Dollars per calendar month (UTC).
    #[serde(default)]
    #[schema(minimum = 0)]
    pub monthly_usd: Option<f64>,
    /// Seconds of one run (from a user message to the answer).
    #[serde(default)]
    pub max_wall_time_secs: Option<u64>,
    /// Model-request retries over the agent's life.
    #[serde(default = "default_retry_budget")]
    pub retry_budget: u32,
}

fn default_max_turns() -> u32 {
    50
}
fn default_retry_budget() -> u32 {
    30
}

impl Default for AgentLimits {
    fn default() -> Self {
        AgentLimits {
            max_turns: default_max_turns(),
            max_cost_usd: None,
            daily_usd: None,
            monthly_usd: None,
            max_wall_time_secs: None,
            retry_budget: default_retry_budget(),
        }
    }
}

impl AgentLimits {
    /// Checks the dollar limits (finite, not negative); the error names the
    /// field after `prefix`.
    pub fn validate(&self, prefix: &str) -> Result<(), String> {
        check_usd(prefix, "max_cost_usd", self.max_cost_usd)?;
        check_usd(prefix, "daily_usd", self.daily_usd)?;
        check_usd(prefix, "monthly_usd", self.monthly_usd)
    }
}

impl Config {
    /// Reads `path`; a missing file is an error (the caller decides whether
    /// a default file is optional).
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Config::parse(&text, path)
    }

    /// Parses the text of `path`.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| ConfigError::Invalid {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        config.validate().map_err(|message| ConfigError::Invalid {
            path: path.display().to_string(),
            message,
        })?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), String> {
        let mut seen = std::collections::BTreeSet::new();
        for p in &self.providers {
            if !seen.insert(p.name.as_str()) {
                return Err(format!("provider `{}` is defined twice", p.name));
            }
            if !(p.base_url.starts_with("http://") || p.base_url.starts_with("https://")) {
                return Err(format!(
                    "provider `{}`: base_url must start with http:// or https://",
                    p.name
                ));
            }
        }
        if !(0.1..=1.0).contains(&self.agents.mask_threshold) {
            return Err("agents.mask_threshold must be between 0.1 and 1.0".into());
        }
        self.budgets.validate("budgets.")?;
        self.agents.limits.validate("agents.limits.")?;
        let mut routers = std::collections::BTreeSet::new();
        for r in &self.routers {
            if !routers.insert(r.name.as_str()) {
                return Err(format!("router `{}` is defined twice", r.name));
            }
            if r.escalate_after_failures == 0 {
                return Err(format!(
                    "router `{}`: escalate_after_failures must be at least 1",
                    r.name
                ));
            }
            for (which, m) in [("cheap", &r.cheap), ("strong", &r.strong)] {
                if self.provider(&m.provider).is_none() {
                    return Err(format!(
                        "router `{}`: {which}.provider `{}` is not a configured provider",
                        r.name, m.provider
                    ));
                }
            }
        }
        Ok(())
    }

    /// The router named `name`.
    pub fn router(&self, name: &str) -> Option<&RouterConfig> {
        self.routers.iter().find(|r| r.name == name)
    }

    /// The provider named `name`.
    pub fn provider(&self, name: &str) -> Option<&ProviderConfig> {
        self.providers.iter().find(|p| p.name == name)
    }
}

/// Where `paddock.toml` is looked for when `--config` is not given.
pub fn default_path(data_dir: &Path) -> PathBuf {
    data_dir.join("paddock.toml")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::TokenUsage;

    #[test]
    fn parses_providers_and_prices() {
        let c = Config::parse(
            r#"
[[providers]]
name = "openai"
base_url = "https://api.openai.com/v1"
api_key_env = "OPENAI_API_KEY"
[[providers.models]]
name = "gpt-4o"
input_per_mtok = 2.5
output_per_mtok = 10.0
cached_input_per_mtok = 1.25
"#,
            Path::new("paddock.toml"),
        )
        .unwrap();
        let m = c.provider("openai").unwrap().model("gpt-4o").unwrap();
        let cost = m
            .cost(&TokenUsage {
                input_tokens: 1_000_000,
                output_tokens: 100_000,
                cached_tokens: 400_000,
            })
            .unwrap_or(f64::NAN);
        assert!((cost - (0.6 * 2.5 + 0.4 * 1.25 + 0.1 * 10.0)).abs() < 1e-9);
    }

    #[test]
    fn the_example_config_parses() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../paddock.example.toml");
        let c = Config::load(&path).unwrap();
        assert_eq!(c.providers.len(), 2);
        assert_eq!(c.server.bind, "127.0.0.1:7700");
    }

    #[test]
    fn parses_budgets_and_routers_and_checks_them() {
        let base = "[[providers]]\nname = \"o\"\nbase_url = \"http://x\"\n";
        let c = Config::parse(
            &format!(
                "{base}[budgets]\ndaily_usd = 1.5\n[agents.limits]\ndaily_usd = 0.5\nmonthly_usd = 3.0\n\
                 [[routers]]\nname = \"auto\"\ncheap = {{provider = \"o\", model = \"gpt-4o-mini\"}}\n\
                 strong = {{provider = \"o\", model = \"gpt-4o\"}}\n"
            ),
            Path::new("p.toml"),
        )
        .unwrap();
        assert_eq!(c.budgets.daily_usd, Some(1.5));
        assert_eq!(c.budgets.monthly_usd, None);
        assert_eq!(c.agents.limits.daily_usd, Some(0.5));
        let r = c.router("auto").unwrap();
        assert_eq!((r.escalate_after_failures, r.first_call), (2, Tier::Cheap));
        assert_eq!(r.strong.model, "gpt-4o");
        for (bad, words) in [
            ("[budgets]\ndaily_usd = -1.0\n", "budgets.daily_usd"),
            (
                "[agents.limits]\nmonthly_usd = -2.0\n",
                "agents.limits.monthly_usd",
            ),
            (
                "[[routers]]\nname = \"r\"\ncheap = {provider = \"nope\", model = \"m\"}\nstrong = {provider = \"o\", model = \"m\"}\n",
                "cheap.provider `nope`",
            ),
            (
                "[[routers]]\nname = \"r\"\ncheap = {provider = \"o\", model = \"m\"}\nstrong = {provider = \"o\", model = \"m\"}\nescalate_after_failures = 0\n",
                "escalate_after_failures",
            ),
            (
                "[[routers]]\nname = \"r\"\ncheap = {provider = \"o\", model = \"m\"}\nstrong = {provider = \"o\", model = \"m\"}\nfirst_call = \"medium\"\n",
                "medium",
            ),
        ] {
            let e = Config::parse(&format!("{base}{bad}"), Path::new("p.toml")).unwrap_err();
            assert!(e.to_string().contains(words), "{e}");
        }
    }

    #[test]
    fn refuses_unknown_fields_and_duplicates() {
        let e = Config::parse("[server]\nbindd = \"x\"\n", Path::new("p.toml")).unwrap_err();
        assert!(e.to_string().contains("bindd"), "{e}");
        let e = Config::parse(
            "[[providers]]\nname=\"a\"\nbase_url=\"http://x\"\n[[providers]]\nname=\"a\"\nbase_url=\"http://y\"\n",
            Path::new("p.toml"),
        )
        .unwrap_err();
        assert!(e.to_string().contains("twice"), "{e}");
    }
}

#[cfg(test)]
mod price_tests {
    use super::*;
    use crate::llm::TokenUsage;

    fn usage(input: u64, cached: u64, output: u64) -> TokenUsage {
        TokenUsage {
            input_tokens: input,
            output_tokens: output,
            cached_tokens: cached,
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
