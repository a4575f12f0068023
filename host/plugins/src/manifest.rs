//! `paddock-plugin.toml`: a plugin's name, version, world, requested
//! capabilities and limits, parsed strictly (unknown keys are errors).

use super::capability::{Capability, CapabilityParseError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};

/// The file name a plugin's manifest has.
pub const MANIFEST_FILE: &str = "paddock-plugin.toml";

/// Default memory limit of one instance, in MiB.
pub const DEFAULT_MEMORY_MB: u64 = 64;
/// Largest memory limit a manifest may ask for, in MiB.
pub const MAX_MEMORY_MB: u64 = 4096;
/// Default wall-clock deadline of one call, in milliseconds.
pub const DEFAULT_TIMEOUT_MS: u64 = 10_000;
/// Longest deadline a manifest may ask for, in milliseconds.
pub const MAX_TIMEOUT_MS: u64 = 600_000;
/// Default cap on one result's size, in KiB.
pub const DEFAULT_MAX_OUTPUT_KB: u64 = 1024;
/// Largest output cap a manifest may ask for, in KiB.
pub const MAX_OUTPUT_KB: u64 = 16 * 1024;

/// Which world of `paddock:plugin` a component implements.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum World {
    /// Offers tools to agents.
    Tool,
    /// Judges tool calls.
    RiskAssessor,
    /// Sits between agents and MCP servers.
    McpAdapter,
    /// Is told about agents' lifecycle events and may answer some
    /// (`paddock:plugin@0.2.0` and later).
    Hooks,
}

impl World {
    /// The interface the world exports, e.g. `tools`.
    pub fn export_interface(self) -> &'static str {
        match self {
            World::Tool => "tools",
            World::RiskAssessor => "assessor",
            World::McpAdapter => "adapter",
            World::Hooks => "hook",
        }
    }

    /// Every world.
    pub const ALL: [World; 4] = [
        World::Tool,
        World::RiskAssessor,
        World::McpAdapter,
        World::Hooks,
    ];
}

impl fmt::Display for World {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            World::Tool => "tool",
            World::RiskAssessor => "risk-assessor",
            World::McpAdapter => "mcp-adapter",
            World::Hooks => "hooks",
        })
    }
}

/// Resource limits of every invocation of a plugin.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Limits {
    /// Linear memory limit, in MiB.
    pub memory_mb: u64,
    /// Wall-clock deadline of one call, in milliseconds.
    pub timeout_ms: u64,
    /// Cap on the size of one result, in KiB.
    pub max_output_kb: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_mb: DEFAULT_MEMORY_MB,
            timeout_ms: DEFAULT_TIMEOUT_MS,
            max_output_kb: DEFAULT_MAX_OUTPUT_KB,
        }
    }
}

/// A parsed and validated manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Manifest {
    /// Unique plugin name, `^[a-z][a-z0-9-]{0,63}$`.
    pub name: String,
    /// The plugin's own version (semver).
    pub version: String,
    /// The world its component implements.
    pub world: World,
    /// One line for admins.
    pub description: String,
    /// The component file, relative to the manifest's directory, if named.
    pub component: Option<PathBuf>,
    /// What the plugin asks for.
    pub requested: BTreeSet<Capability>,
    /// Limits of every call.
    pub limits: Limits,
}

/// Why a manifest was refused.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The file could not be read.
    #[error("cannot read manifest {path}: {source}")]
    Read {
        /// The manifest's path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The TOML did not parse or had unknown or mistyped keys.
    #[error("manifest {path} is not valid: {message}")]
    Parse {
        /// The manifest's path.
        path: String,
        /// The parser's message (with line and column).
        message: String,
    },
    /// A field has a value that is not allowed.
    #[error("manifest {path}: field `{field}`: {message}")]
    Field {
        /// The manifest's path.
        path: String,
        /// The field's name.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    name: String,
    version: String,
    world: String,
    #[serde(default)]
    description: String,
    component: Option<PathBuf>,
    #[serde(default)]
    capabilities: RawCapabilities,
    #[serde(default)]
    limits: RawLimits,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawCapabilities {
    #[serde(default)]
    fs: Vec<String>,
    #[serde(default)]
    net: Vec<String>,
    #[serde(default)]
    env: Vec<String>,
    #[serde(default)]
    exec: bool,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    memory_mb: Option<u64>,
    timeout_ms: Option<u64>,
    max_output_kb: Option<u64>,
}

/// True when `name` is a valid plugin name.
pub fn valid_plugin_name(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() <= 64
        && chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

impl Manifest {
    /// Reads and validates a manifest file.
    pub fn load(path: &Path) -> Result<Manifest, ManifestError> {
        let text = std::fs::read_to_string(path).map_err(|source| ManifestError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Manifest::parse(&text, &path.display().to_string())
    }

    /// Parses and validates manifest text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Manifest, ManifestError> {
        let raw: RawManifest = toml::from_str(text).map_err(|e| ManifestError::Parse {
            path: origin.to_string(),
            message: e.to_string().trim_end().to_string(),
        })?;
        let field = |field: &'static str, message: String| ManifestError::Field {
            path: origin.to_string(),
            field,
            message,
        };
        if !valid_plugin_name(&raw.name) {
            return Err(field(
                "name",
                format!(
                    "`{}` must start with a lowercase letter and contain only a-z, 0-9 and `-` (at most 64)",
                    raw.name
                ),
            ));
        }
        if !is_semver(&raw.version) {
            return Err(field(
                "version",
                format!("`{}` is not a version like 1.2.3", raw.version),
            ));
        }
        let world = match raw.world.as_str() {
            "tool" => World::Tool,
            "risk-assessor" => World::RiskAssessor,
            "mcp-adapter" => World::McpAdapter,
            "hooks" => World::Hooks,
            other => {
                return Err(field(
                    "world",
                    format!(
                        "`{other}` is not one of `tool`, `risk-assessor`, `mcp-adapter`, `hooks`"
                    ),
                ));
            }
        };
        let mut requested = BTreeSet::new();
        let caps = &raw.capabilities;
        let add = |set: &mut BTreeSet<Capability>,
                   f: &'static str,
                   parsed: Result<Capability, CapabilityParseError>| {
            parsed
                .map(|c| {
                    set.insert(c);
                })
                .map_err(|e| field(f, e.to_string()))
        };
        for e in &caps.fs {
            add(&mut requested, "capabilities.fs", Capability::parse_fs(e))?;
        }
        for e in &caps.net {
            add(&mut requested, "capabilities.net", Capability::parse_net(e))?;
        }
        for e in &caps.env {
            add(&mut requested, "capabilities.env", Capability::parse_env(e))?;
        }
        if caps.exec {
            requested.insert(Capability::Exec);
        }
        if world != World::Tool && requested.contains(&Capability::Exec) {
            return Err(field(
                "capabilities.exec",
                format!("only `tool` plugins can run commands, this is a `{world}` plugin"),
            ));
        }
        let limit = |f: &'static str, v: Option<u64>, default: u64, max: u64| match v {
            None => Ok(default),
            Some(v) if (1..=max).contains(&v) => Ok(v),
            Some(v) => Err(field(f, format!("{v} is outside 1..={max}"))),
        };
        let limits = Limits {
            memory_mb: limit(
                "limits.memory_mb",
                raw.limits.memory_mb,
                DEFAULT_MEMORY_MB,
                MAX_MEMORY_MB,
            )?,
            timeout_ms: limit(
                "limits.timeout_ms",
                raw.limits.timeout_ms,
                DEFAULT_TIMEOUT_MS,
                MAX_TIMEOUT_MS,
            )?,
            max_output_kb: limit(
                "limits.max_output_kb",
                raw.limits.max_output_kb,
                DEFAULT_MAX_OUTPUT_KB,
                MAX_OUTPUT_KB,
            )?,
        };
        if let Some(c) = &raw.component
            && (c.is_absolute() || c.components().any(|p| p.as_os_str() == ".."))
        {
            // Relative paths below the manifest's directory only, so that a
            // manifest cannot make the installer read arbitrary files.
            return Err(field(
                "component",
                format!(
                    "`{}` must be a relative path below the manifest's directory",
                    c.display()
                ),
            ));
        }
        Ok(Manifest {
            name: raw.name,
            version: raw.version,
            world,
            description: raw.description,
            component: raw.component,
            requested,
            limits,
        })
    }
}

fn is_semver(v: &str) -> bool {
    let core = v.split(['-', '+']).next().unwrap_or("");
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
name = "fs-tools"
version = "0.1.0"
world = "tool"
description = "files"
[capabilities]
fs = ["/workspace:rw"]
net = ["api.github.com:443"]
env = ["GITHUB_TOKEN"]
exec = true
[limits]
memory_mb = 128
timeout_ms = 5000
"#;

    #[test]
    fn parses_a_full_manifest() {
        let m = Manifest::parse(GOOD, "m.toml").unwrap();
        assert_eq!(m.name, "fs-tools");
        assert_eq!(m.world, World::Tool);
        assert_eq!(m.requested.len(), 4);
        assert!(m.requested.contains(&Capability::Exec));
        assert_eq!(
            m.limits,
            Limits {
                memory_mb: 128,
                timeout_ms: 5000,
                max_output_kb: DEFAULT_MAX_OUTPUT_KB
            }
        );
    }

    #[test]
    fn minimal_manifest_gets_defaults_and_no_capabilities() {
        let m = Manifest::parse("name='a'\nversion='1.0.0'\nworld='hooks'", "m").unwrap();
        assert_eq!(m.world, World::Hooks);
        let m = Manifest::parse("name='a'\nversion='1.0.0'\nworld='risk-assessor'", "m").unwrap();
        assert!(m.requested.is_empty());
        assert_eq!(m.limits, Limits::default());
    }

    fn err(text: &str) -> String {
        Manifest::parse(text, "m.toml").unwrap_err().to_string()
    }

    #[test]
    fn refuses_bad_manifests_with_the_field_named() {
        assert!(err("name = ").contains("not valid"), "{}", err("name = "));
        let e = err("name='a'\nversion='1.0.0'\nworld='tool'\ncolour='red'");
        assert!(e.contains("colour"), "{e}");
        let e = err("name='A b'\nversion='1.0.0'\nworld='tool'");
        assert!(e.contains("field `name`"), "{e}");
        let e = err("name='a'\nversion='one'\nworld='tool'");
        assert!(e.contains("field `version`"), "{e}");
        let e = err("name='a'\nversion='1.0.0'\nworld='gadget'");
        assert!(e.contains("field `world`"), "{e}");
        let e = err("name='a'\nversion='1.0.0'\nworld='tool'\n[capabilities]\nfs=['workspace']");
        assert!(e.contains("capabilities.fs"), "{e}");
        let e = err("name='a'\nversion='1.0.0'\nworld='tool'\n[limits]\nmemory_mb=0");
        assert!(e.contains("limits.memory_mb"), "{e}");
        let e = err("name='a'\nversion='1.0.0'\nworld='tool'\ncomponent='../x.wasm'");
        assert!(e.contains("field `component`"), "{e}");
        let e = err("name='a'\nversion='1.0.0'\nworld='risk-assessor'\n[capabilities]\nexec=true");
        assert!(e.contains("capabilities.exec"), "{e}");
        let e = err("name='a'\nversion='1.0.0'\nworld='tool'\n[capabilities]\nexec='yes'");
        assert!(e.contains("exec"), "{e}");
    }
}
