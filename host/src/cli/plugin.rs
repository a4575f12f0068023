//! `paddock plugin …`: install, grant, revoke, enable, disable, remove and
//! show plugins.

use super::common::{Usage, open_host};
use crate::Cli;
use anyhow::Result;
use clap::Subcommand;
use paddock_plugins::{Capability, InstallSource, PluginInfo};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Subcommand)]
pub(crate) enum PluginCmd {
    /// List installed plugins with their requested and granted capabilities.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show one plugin.
    Show {
        /// The plugin.
        name: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Install a plugin from a directory (paddock-plugin.toml + .wasm), a .wasm file, or oci://REGISTRY/REPO:TAG.
    Install {
        /// A directory, a .wasm component, or an OCI reference (oci://REGISTRY/REPO:TAG or …@sha256:…).
        path: PathBuf,
        /// The manifest, when not `paddock-plugin.toml` beside the component.
        #[arg(long)]
        manifest: Option<PathBuf>,
        /// From a registry: accept an unsigned artifact (admin only).
        #[arg(long)]
        allow_unsigned: bool,
    },
    /// Grant capabilities: fs:/workspace:ro|rw, fs:/host/dir:ro|rw, net:HOST:PORT, env:NAME, exec.
    Grant {
        /// The plugin.
        name: String,
        /// Capabilities to grant.
        #[arg(required = true)]
        caps: Vec<String>,
    },
    /// Revoke capabilities granted before.
    Revoke {
        /// The plugin.
        name: String,
        /// Capabilities to revoke.
        #[arg(required = true)]
        caps: Vec<String>,
    },
    /// Offer the plugin's tools to agents again.
    Enable {
        /// The plugin.
        name: String,
    },
    /// Stop offering the plugin's tools.
    Disable {
        /// The plugin.
        name: String,
    },
    /// Uninstall the plugin.
    Remove {
        /// The plugin.
        name: String,
    },
    /// Create a new tool plugin project in Rust, Python or JavaScript.
    New(super::plugin_new::NewArgs),
    /// OCI registries: push, sign, keygen, update, trust.
    #[command(flatten)]
    Oci(super::plugin_oci::OciCmd),
}

fn print_plugin(p: &PluginInfo) {
    let r = &p.record;
    let join = |set: &std::collections::BTreeSet<Capability>| {
        if set.is_empty() {
            "-".to_string()
        } else {
            set.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(" ")
        }
    };
    out!(
        "{} {} [{}] {}{}",
        r.name,
        r.version,
        r.world,
        if r.enabled { "enabled" } else { "disabled" },
        if r.builtin { " (built-in)" } else { "" }
    );
    out!("  sha256:    {}", r.sha256);
    if let Some(o) = &r.origin {
        out!("  origin:    {}", o.reference);
        out!("  digest:    {}", o.digest);
        out!("  signer:    {}", o.signer.as_deref().unwrap_or("unsigned"));
    }
    out!("  requested: {}", join(&r.requested));
    out!("  granted:   {}", join(&r.granted));
    out!("  effective: {}", join(&p.effective));
    if !r.tools.is_empty() {
        out!(
            "  tools:     {}",
            r.tools
                .iter()
                .map(|t| t.name.as_str())
                .collect::<Vec<_>>()
                .join(" ")
        );
    }
}

fn parse_caps(caps: &[String]) -> Result<Vec<Capability>> {
    caps.iter()
        .map(|c| {
            c.parse::<Capability>()
                .map_err(|e| Usage(e.to_string()).into())
        })
        .collect()
}

/// Runs `paddock plugin …`.
pub(crate) async fn run(cli: &Cli, cmd: &PluginCmd) -> Result<ExitCode> {
    if let PluginCmd::New(args) = cmd {
        return super::plugin_new::run(args);
    }
    let host = open_host(cli).await?;
    match cmd {
        PluginCmd::List { json } => {
            let plugins = host.list()?;
            if *json {
                out!("{}", serde_json::to_string_pretty(&plugins)?);
            } else if plugins.is_empty() {
                out!("no plugins installed");
            } else {
                plugins.iter().for_each(print_plugin);
            }
        }
        PluginCmd::Show { name, json } => {
            let p = host.get(name)?;
            if *json {
                out!("{}", serde_json::to_string_pretty(&p)?);
            } else {
                print_plugin(&p);
            }
        }
        PluginCmd::Install {
            path,
            manifest,
            allow_unsigned,
        } => {
            let p = match path.to_str().filter(|p| p.starts_with("oci://")) {
                Some(r) => {
                    super::plugin_oci::install(&host, r, manifest.as_deref(), *allow_unsigned)
                        .await?
                }
                None if *allow_unsigned => {
                    return Err(
                        Usage("--allow-unsigned applies to oci:// installs only".into()).into(),
                    );
                }
                None => {
                    host.install(&InstallSource {
                        path: path.clone(),
                        manifest: manifest.clone(),
                    })
                    .await?
                }
            };
            out!(
                "installed {} {} (sha256 {})",
                p.record.name,
                p.record.version,
                p.record.sha256
            );
            if let Some(o) = &p.record.origin {
                out!(
                    "  pinned {} (signed by {})",
                    o.digest,
                    o.signer.as_deref().unwrap_or("nobody: unsigned allowed")
                );
            }
            if !p.missing.is_empty() {
                let missing: Vec<String> = p.missing.iter().map(ToString::to_string).collect();
                out!(
                    "it requests capabilities not granted yet; to grant them: paddock plugin grant {} {}",
                    p.record.name,
                    missing.join(" ")
                );
            }
        }
        PluginCmd::Grant { name, caps } => {
            let p = host.grant(name, &parse_caps(caps)?)?;
            print_plugin(&p);
        }
        PluginCmd::Revoke { name, caps } => {
            let p = host.revoke(name, &parse_caps(caps)?)?;
            print_plugin(&p);
        }
        PluginCmd::Enable { name } => {
            host.set_enabled(name, true)?;
            out!("enabled {name}");
        }
        PluginCmd::Disable { name } => {
            host.set_enabled(name, false)?;
            out!("disabled {name}");
        }
        PluginCmd::Remove { name } => {
            host.remove(name)?;
            out!("removed {name}");
        }
        // Answered above, before opening the host (it needs no data dir).
        PluginCmd::New(args) => return super::plugin_new::run(args),
        PluginCmd::Oci(cmd) => return super::plugin_oci::run(&host, cmd).await,
    }
    Ok(ExitCode::SUCCESS)
}
