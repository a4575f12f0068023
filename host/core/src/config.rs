//! `paddock.toml`: the server, model providers (with prices), agent
//! defaults and workflows. Values come from the file, then `PADDOCK_*` environment
//! variables, then flags (applied by the binary).

pub use crate::agent::config::{AgentDefaults, Budgets, RouterConfig, SpendCap};
pub use paddock_llm::config::{ModelConfig, Price, ProviderConfig};
pub use paddock_protocol::agent::{AgentLimits, Tier, check_usd};
pub use paddock_protocol::is_plain_name;
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
    pub sandbox: paddock_sandbox::SandboxConfig,
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
    /// Named environments agents may run in (`[[environments]]`: an image
    /// or a Dockerfile, variables, a user, setup commands).
    #[serde(default)]
    pub environments: Vec<crate::environments::EnvironmentConfig>,
    /// Sign-in: OpenID Connect single sign-on providers (`[[auth.oidc]]`).
    #[serde(default)]
    pub auth: crate::auth::AuthConfig,
    /// This host among several on one PostgreSQL database (used whenever
    /// `database_url` is PostgreSQL).
    #[serde(default)]
    pub cluster: crate::cluster::ClusterConfig,
    /// Workflows (`[[workflows]]`, the same shape as a workflow file);
    /// checked when the server starts (`crate::workflow::Workflows::open`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub workflows: Vec<paddock_protocol::workflow::WorkflowDef>,
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
    /// The address people reach the server at, when it is not the bound
    /// one (behind a reverse proxy): `https://paddock.example.com`. The
    /// sign-in URL printed at start is this, and single sign-on's redirect
    /// URI is `PUBLIC_URL/auth/oidc/NAME/callback` (without it, derived from
    /// a loopback request's `Host`); starting with `https://`, the
    /// dashboard's cookies are `Secure`.
    #[serde(default)]
    pub public_url: Option<String>,
    /// Believe `X-Forwarded-Proto` (set by a reverse proxy that terminates
    /// TLS): a sign-in over `https` gets `Secure` cookies. Only behind a
    /// proxy that sets the header itself.
    #[serde(default)]
    pub trust_proxy: bool,
    /// Requests a minute each credential (personal access token, service
    /// token, dashboard session) may make, in bursts of as many; past it,
    /// 429 with `Retry-After`. 0: no limit.
    #[serde(default = "default_rate_limit")]
    pub rate_limit_per_minute: u32,
}

fn default_bind() -> String {
    "127.0.0.1:7700".into()
}

fn default_rate_limit() -> u32 {
    1200
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            bind: default_bind(),
            allowed_origins: Vec::new(),
            public_url: None,
            trust_proxy: false,
            rate_limit_per_minute: default_rate_limit(),
        }
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
            if p.breaker_failures == 0 {
                return Err(format!(
                    "provider `{}`: breaker_failures must be at least 1",
                    p.name
                ));
            }
            for m in &p.models {
                for (i, t) in m.failover_refs().enumerate() {
                    let field = format!("provider `{}`, model `{}`: failover[{i}]", p.name, m.name);
                    if self.provider(&t.provider).is_none() {
                        return Err(format!(
                            "{field}.provider `{}` is not a configured provider",
                            t.provider
                        ));
                    }
                    if t.provider == p.name && t.model == m.name {
                        return Err(format!("{field} names the model itself"));
                    }
                }
            }
        }
        if !(0.1..=1.0).contains(&self.agents.mask_threshold) {
            return Err("agents.mask_threshold must be between 0.1 and 1.0".into());
        }
        self.budgets.validate("budgets.")?;
        if let Some(url) = &self.server.public_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(format!(
                "server.public_url: `{url}` must start with http:// or https://"
            ));
        }
        self.auth.validate()?;
        self.cluster.validate()?;
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
    use paddock_llm::TokenUsage;

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
                reasoning_tokens: 0,
            })
            .unwrap_or(f64::NAN);
        assert!((cost - (0.6 * 2.5 + 0.4 * 1.25 + 0.1 * 10.0)).abs() < 1e-9);
    }

    #[test]
    fn the_example_config_parses() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../paddock.example.toml");
        let c = Config::load(&path).unwrap();
        // Only OpenAI, by its key's variable: without the key a fresh
        // server has no usable provider (and the dashboard its setup).
        assert_eq!(c.providers.len(), 1);
        assert_eq!(c.providers[0].name, "openai");
        assert_eq!(
            c.providers[0].api_key_env.as_deref(),
            Some("OPENAI_API_KEY")
        );
        assert_eq!(c.server.bind, "127.0.0.1:7700");
        // The commented local provider parses once uncommented.
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let at = lines
            .iter()
            .position(|l| *l == "# name = \"local\"")
            .unwrap();
        let local: String = lines[at - 1..]
            .iter()
            .take_while(|l| l.starts_with("# "))
            .map(|l| format!("{}\n", &l[2..]))
            .collect();
        let c = Config::parse(&local, Path::new("local.toml")).unwrap();
        assert_eq!(c.providers[0].name, "local");
        assert_eq!(c.providers[0].models[0].name, "qwen2.5-coder:7b");
    }

    #[test]
    fn server_settings_for_a_team_have_defaults_and_are_checked() {
        let c = Config::parse("", Path::new("p.toml")).unwrap();
        assert_eq!(c.server.rate_limit_per_minute, 1200);
        assert_eq!(
            (c.server.public_url.clone(), c.server.trust_proxy),
            (None, false)
        );
        let c = Config::parse(
            "[server]\npublic_url = \"https://p.example\"\ntrust_proxy = true\nrate_limit_per_minute = 0\n",
            Path::new("p.toml"),
        )
        .unwrap();
        assert_eq!(c.server.public_url.as_deref(), Some("https://p.example"));
        assert!(c.server.trust_proxy);
        assert_eq!(c.server.rate_limit_per_minute, 0);
        let e = Config::parse(
            "[server]\npublic_url = \"p.example\"\n",
            Path::new("p.toml"),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("public_url"), "{e}");
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

    #[test]
    fn single_sign_on_and_the_public_url_are_checked() {
        let c = Config::parse(
            "[server]\npublic_url = \"https://paddock.example.com/\"\n\
             [[auth.oidc]]\nname = \"corp\"\nissuer = \"https://id.example.com\"\nclient_id = \"p\"\n",
            Path::new("p.toml"),
        )
        .unwrap();
        assert_eq!(c.auth.oidc[0].name, "corp");
        assert_eq!(
            c.server.public_url.as_deref(),
            Some("https://paddock.example.com/")
        );
        let e = Config::parse(
            "[[auth.oidc]]\nname = \"corp\"\nissuer = \"ftp://id\"\nclient_id = \"p\"\n",
            Path::new("p.toml"),
        )
        .unwrap_err();
        assert!(e.to_string().contains("auth.oidc[0].issuer"), "{e}");
        let e =
            Config::parse("[server]\npublic_url = \"paddock\"\n", Path::new("p.toml")).unwrap_err();
        assert!(e.to_string().contains("public_url"), "{e}");
    }

    #[test]
    fn failover_targets_and_wire_apis_are_checked() {
        let base = "[[providers]]\nname = \"openai\"\nbase_url = \"https://api.openai.com/v1\"\napi = \"responses\"\n\
                    [[providers.models]]\nname = \"gpt-5\"\n";
        let ok = format!(
            "{base}failover = [{{provider = \"azure\", model = \"gpt5-deploy\"}}]\n\
             [[providers]]\nname = \"azure\"\nbase_url = \"https://x.openai.azure.com/openai/v1\"\n"
        );
        let c = Config::parse(&ok, Path::new("p.toml")).unwrap();
        let p = c.provider("openai").unwrap();
        assert_eq!(p.api, paddock_protocol::llm::WireApi::Responses);
        assert_eq!(
            c.provider("azure").unwrap().api,
            paddock_protocol::llm::WireApi::Chat
        );
        let m = p.model("gpt-5").unwrap();
        assert_eq!(m.failover[0].provider, "azure");
        assert!(m.is_reasoning());
        for (text, words) in [
            (
                format!("{base}failover = [{{provider = \"nowhere\"}}]\n"),
                "provider `openai`, model `gpt-5`: failover[0].provider `nowhere` is not a configured provider",
            ),
            (
                format!("{base}failover = [{{provider = \"openai\"}}]\n"),
                "failover[0] names the model itself",
            ),
            (
                base.replace("api = \"responses\"", "api = \"completions\""),
                "completions",
            ),
            (
                base.replace("api = \"responses\"", "breaker_failures = 0"),
                "breaker_failures must be at least 1",
            ),
        ] {
            let e = Config::parse(&text, Path::new("p.toml")).unwrap_err();
            assert!(e.to_string().contains(words), "{text}: {e}");
        }
    }
}
