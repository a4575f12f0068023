//! The `[auth]` section of `paddock.toml`: OpenID Connect single sign-on
//! providers (`[[auth.oidc]]`) and how their claims map to roles. Parsing
//! and checking only; signing in is the API's (`paddock_api::oidc`).

use serde::{Deserialize, Serialize};

/// `[auth]`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// OpenID Connect providers people may sign in with.
    #[serde(default)]
    pub oidc: Vec<OidcProviderConfig>,
    /// Cap on each user's agents running at once, for users without a cap
    /// of their own (`max_running_agents`); none: no cap.
    #[serde(default)]
    pub max_running_agents_per_user: Option<u32>,
}

/// The role a user gets when none of the role claim's values match.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DefaultRole {
    /// A member.
    #[default]
    Member,
    /// A viewer.
    Viewer,
    /// Nobody: signing in is refused without a matching claim.
    None,
}

/// `[[auth.oidc]]`: one OpenID Connect provider.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcProviderConfig {
    /// Its name in URLs (`/auth/oidc/NAME/login`): a plain name.
    pub name: String,
    /// How the sign-in page names it ("Sign in with …"; default: `name`).
    #[serde(default)]
    pub display_name: Option<String>,
    /// The issuer URL; its discovery document is
    /// `ISSUER/.well-known/openid-configuration`.
    pub issuer: String,
    /// Paddock's client id at the provider.
    pub client_id: String,
    /// The client secret (prefer `client_secret_env`). Never serialized.
    #[serde(default, skip_serializing)]
    pub client_secret: Option<String>,
    /// The environment variable holding the client secret.
    #[serde(default)]
    pub client_secret_env: Option<String>,
    /// The scopes asked for (`openid` is always included).
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    /// The ID token claim whose values (a string or a list of strings)
    /// map to a role.
    #[serde(default = "default_role_claim")]
    pub role_claim: String,
    /// Claim values that make an admin.
    #[serde(default)]
    pub admin_values: Vec<String>,
    /// Claim values that make a member.
    #[serde(default)]
    pub member_values: Vec<String>,
    /// Claim values that make a viewer.
    #[serde(default)]
    pub viewer_values: Vec<String>,
    /// The role without a matching value (`none`: refuse the sign-in).
    #[serde(default)]
    pub default_role: DefaultRole,
    /// Create users at their first sign-in (else only users that exist
    /// with this identity may sign in).
    #[serde(default = "yes")]
    pub allow_signup: bool,
    /// How far the provider's clock may be from ours, in seconds, for the
    /// ID token's `exp`, `iat` and `nbf`.
    #[serde(default = "default_clock_skew")]
    pub clock_skew_secs: u64,
}

impl std::fmt::Debug for OidcProviderConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcProviderConfig")
            .field("name", &self.name)
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret.as_ref().map(|_| "…"))
            .field("client_secret_env", &self.client_secret_env)
            .field("scopes", &self.scopes)
            .field("role_claim", &self.role_claim)
            .field("default_role", &self.default_role)
            .field("allow_signup", &self.allow_signup)
            .finish_non_exhaustive()
    }
}

fn default_scopes() -> Vec<String> {
    ["openid", "profile", "email", "groups"]
        .map(String::from)
        .to_vec()
}

fn default_role_claim() -> String {
    "groups".into()
}

fn yes() -> bool {
    true
}

/// The default clock skew allowed on an ID token's times.
pub const DEFAULT_CLOCK_SKEW_SECS: u64 = 60;

fn default_clock_skew() -> u64 {
    DEFAULT_CLOCK_SKEW_SECS
}

/// The largest clock skew the configuration accepts (10 minutes).
pub const MAX_CLOCK_SKEW_SECS: u64 = 600;

impl OidcProviderConfig {
    /// How it is shown.
    pub fn shown_name(&self) -> &str {
        self.display_name
            .as_deref()
            .filter(|d| !d.trim().is_empty())
            .unwrap_or(&self.name)
    }

    /// The issuer without a trailing `/`, to append paths to.
    pub fn issuer_base(&self) -> &str {
        self.issuer.trim_end_matches('/')
    }

    /// The client secret: `client_secret`, else the variable
    /// `client_secret_env`. None for a public client.
    pub fn secret(&self) -> Option<String> {
        if let Some(s) = &self.client_secret {
            return Some(s.clone());
        }
        let var = self.client_secret_env.as_deref()?;
        std::env::var(var).ok().filter(|s| !s.is_empty())
    }

    /// The scopes to ask for: the configured ones, `openid` first.
    pub fn request_scopes(&self) -> Vec<String> {
        let mut out = vec!["openid".to_string()];
        for s in &self.scopes {
            if !out.contains(s) {
                out.push(s.clone());
            }
        }
        out
    }
}

fn is_http_url(url: &str) -> bool {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    rest.is_some_and(|r| {
        let host = r.split('/').next().unwrap_or("");
        !host.is_empty() && !r.contains(['?', '#', ' '])
    })
}

impl AuthConfig {
    /// Checks every provider; an error names the field
    /// (`auth.oidc[0].issuer: …`).
    pub fn validate(&self) -> Result<(), String> {
        if self.max_running_agents_per_user == Some(0) {
            return Err(
                "auth.max_running_agents_per_user: must be at least 1 (leave it out for no cap)"
                    .into(),
            );
        }
        let mut names = std::collections::BTreeSet::new();
        for (i, p) in self.oidc.iter().enumerate() {
            let field = |f: &str| format!("auth.oidc[{i}].{f}");
            if !paddock_protocol::is_plain_name(&p.name) {
                return Err(format!(
                    "{}: `{}` is not a plain name (letters, digits, `-`, `_`, `.`)",
                    field("name"),
                    p.name
                ));
            }
            if !names.insert(p.name.as_str()) {
                return Err(format!(
                    "{}: provider `{}` is defined twice",
                    field("name"),
                    p.name
                ));
            }
            if !is_http_url(&p.issuer) {
                return Err(format!(
                    "{}: `{}` must be an http:// or https:// URL without query or fragment",
                    field("issuer"),
                    p.issuer
                ));
            }
            if p.client_id.trim().is_empty() {
                return Err(format!("{}: must not be empty", field("client_id")));
            }
            if p.client_secret.is_some() && p.client_secret_env.is_some() {
                return Err(format!(
                    "{}: give client_secret or client_secret_env, not both",
                    field("client_secret")
                ));
            }
            if p.client_secret.as_deref().is_some_and(|s| s.is_empty()) {
                return Err(format!("{}: must not be empty", field("client_secret")));
            }
            if let Some(var) = &p.client_secret_env
                && (var.is_empty() || var.contains('='))
            {
                return Err(format!(
                    "{}: `{var}` is not a variable name",
                    field("client_secret_env")
                ));
            }
            if let Some(s) = p.scopes.iter().find(|s| s.is_empty() || s.contains(' ')) {
                return Err(format!(
                    "{}: `{s}` is not a scope (one word each)",
                    field("scopes")
                ));
            }
            if p.role_claim.trim().is_empty() {
                return Err(format!("{}: must not be empty", field("role_claim")));
            }
            if p.clock_skew_secs > MAX_CLOCK_SKEW_SECS {
                return Err(format!(
                    "{}: {} is more than {MAX_CLOCK_SKEW_SECS} seconds",
                    field("clock_skew_secs"),
                    p.clock_skew_secs
                ));
            }
        }
        Ok(())
    }
}

/// Whether `url` is a valid `[server] public_url` (`http(s)://host[:port]`
/// with an optional path, no query).
pub fn is_public_url(url: &str) -> bool {
    is_http_url(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<AuthConfig, String> {
        let c: AuthConfig = toml::from_str(text).map_err(|e| e.to_string())?;
        c.validate()?;
        Ok(c)
    }

    #[test]
    fn defaults_and_fields() {
        let c = parse(
            "[[oidc]]\nname = \"corp\"\nissuer = \"https://id.example.com/\"\nclient_id = \"paddock\"\n\
             client_secret_env = \"CORP_SECRET\"\nadmin_values = [\"paddock-admins\"]\n",
        )
        .unwrap();
        let p = &c.oidc[0];
        assert_eq!(p.shown_name(), "corp");
        assert_eq!(p.issuer_base(), "https://id.example.com");
        assert_eq!(p.role_claim, "groups");
        assert_eq!(p.default_role, DefaultRole::Member);
        assert!(p.allow_signup);
        assert_eq!(p.clock_skew_secs, 60);
        assert_eq!(p.request_scopes(), ["openid", "profile", "email", "groups"]);
        assert!(!format!("{p:?}").contains("CORP_SECRET=") && format!("{p:?}").contains("corp"));
        let c = parse(
            "[[oidc]]\nname = \"x\"\nissuer = \"http://127.0.0.1:9\"\nclient_id = \"c\"\n\
             client_secret = \"s3cret\"\nscopes = [\"email\"]\ndefault_role = \"none\"\n",
        )
        .unwrap();
        assert_eq!(c.oidc[0].request_scopes(), ["openid", "email"]);
        assert_eq!(c.oidc[0].default_role, DefaultRole::None);
        assert_eq!(c.oidc[0].secret().as_deref(), Some("s3cret"));
        assert!(!format!("{:?}", c.oidc[0]).contains("s3cret"));
        let shown = toml::to_string(&c).unwrap();
        assert!(!shown.contains("s3cret"), "{shown}");
    }

    #[test]
    fn errors_name_the_field() {
        let ok = "name = \"a\"\nissuer = \"https://id\"\nclient_id = \"c\"\n";
        for (text, words) in [
            (
                "name = \"a b\"\nissuer = \"https://id\"\nclient_id = \"c\"\n".to_string(),
                "auth.oidc[0].name",
            ),
            (
                "name = \"a\"\nissuer = \"id.example\"\nclient_id = \"c\"\n".into(),
                "auth.oidc[0].issuer",
            ),
            (
                "name = \"a\"\nissuer = \"https://id\"\nclient_id = \" \"\n".into(),
                "auth.oidc[0].client_id",
            ),
            (
                format!("{ok}client_secret = \"s\"\nclient_secret_env = \"S\"\n"),
                "auth.oidc[0].client_secret",
            ),
            (format!("{ok}scopes = [\"a b\"]\n"), "auth.oidc[0].scopes"),
            (
                format!("{ok}clock_skew_secs = 6000\n"),
                "auth.oidc[0].clock_skew_secs",
            ),
            (format!("{ok}default_role = \"admin\"\n"), "admin"),
            (format!("{ok}rolee = \"x\"\n"), "rolee"),
        ] {
            let e = parse(&format!("[[oidc]]\n{text}")).unwrap_err();
            assert!(e.contains(words), "{text}: {e}");
        }
        let e = parse(&format!("[[oidc]]\n{ok}[[oidc]]\n{ok}")).unwrap_err();
        assert!(
            e.contains("auth.oidc[1].name") && e.contains("twice"),
            "{e}"
        );
    }
}
