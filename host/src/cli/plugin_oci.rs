//! `paddock plugin push|sign|keygen|update|trust …` and
//! `paddock plugin install oci://…`: plugins through OCI registries, with
//! digests pinned and minisign signatures checked against trusted keys.

use super::common::Usage;
use anyhow::{Context, Result};
use clap::{Subcommand, ValueEnum};
use paddock_oci::install::{push, sign_remote};
use paddock_oci::signing::{self, PASSWORD_ENV};
use paddock_oci::{Oci, PendingUpdate, Reference, SettingsFile, UpdateOutcome};
use paddock_plugins::PluginHost;
use paddock_plugins::manifest::MANIFEST_FILE;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The OCI subcommands of `paddock plugin`.
#[derive(Subcommand)]
pub(crate) enum OciCmd {
    /// Publish a plugin (a directory with paddock-plugin.toml + .wasm, or a .wasm) to oci://REGISTRY/REPO:TAG.
    Push {
        /// A directory or a .wasm component.
        source: PathBuf,
        /// Where to: oci://REGISTRY/REPO:TAG.
        reference: String,
        /// The manifest, when not `paddock-plugin.toml` beside the component.
        #[arg(long)]
        manifest: Option<PathBuf>,
        /// Sign with this minisign secret key (password in $PADDOCK_SIGNING_PASSWORD if encrypted).
        #[arg(long)]
        key: Option<PathBuf>,
    },
    /// Sign a plugin already in a registry; the signature is stored beside it (tag sha256-HEX.sig).
    Sign {
        /// The artifact: oci://REGISTRY/REPO:TAG or …@sha256:….
        reference: String,
        /// The minisign secret key.
        #[arg(long)]
        key: PathBuf,
        /// Also write the signature here (a minisign .minisig file).
        #[arg(long)]
        output: Option<PathBuf>,
        /// Also write the signed OCI manifest here (what `minisign -Vm` checks).
        #[arg(long)]
        manifest_output: Option<PathBuf>,
    },
    /// Generate a signing key pair: PREFIX.key (secret, mode 0600) and PREFIX.pub.
    Keygen {
        /// The files' prefix.
        #[arg(long)]
        out: PathBuf,
        /// Encrypt the secret key with the password in $PADDOCK_SIGNING_PASSWORD.
        #[arg(long)]
        encrypt: bool,
    },
    /// Pull a registry-installed plugin's reference again. A version that requests new
    /// capabilities waits for an admin (--accept or --reject).
    Update {
        /// The plugin.
        name: String,
        /// Apply the update waiting for this plugin (grants kept; new requests not granted).
        #[arg(long, conflicts_with = "reject")]
        accept: bool,
        /// Drop the update waiting for this plugin.
        #[arg(long)]
        reject: bool,
        /// Accept an unsigned artifact (admin only).
        #[arg(long)]
        allow_unsigned: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Keys trusted to sign plugins, and the registry settings.
    Trust {
        /// What to do.
        #[command(subcommand)]
        cmd: TrustCmd,
    },
}

/// On or off.
#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum Switch {
    /// Allowed.
    On,
    /// Not allowed.
    Off,
}

/// `paddock plugin trust …`.
#[derive(Subcommand)]
pub(crate) enum TrustCmd {
    /// Trust a public key (a minisign .pub file, or the base64 key).
    Add {
        /// The .pub file or the base64 key.
        key: String,
        /// A name for admins.
        #[arg(long)]
        name: String,
    },
    /// Stop trusting a key, by id.
    Remove {
        /// The key id (16 hex digits).
        id: String,
    },
    /// Show trusted keys and registry settings.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Whether plugins without a signature may be installed at all.
    AllowUnsigned {
        /// on or off.
        value: Switch,
    },
    /// Reach a registry over plain HTTP (loopback ones always are).
    Insecure {
        /// host:port.
        registry: String,
        /// Stop doing so.
        #[arg(long)]
        remove: bool,
    },
}

fn parse_ref(text: &str) -> Result<Reference> {
    Reference::parse(text).map_err(|e| Usage(e.to_string()).into())
}

fn password() -> Option<String> {
    std::env::var(PASSWORD_ENV).ok().filter(|p| !p.is_empty())
}

/// The manifest text and component of a local plugin.
fn read_local(source: &Path, manifest: Option<&Path>) -> Result<(String, Vec<u8>)> {
    let (manifest_path, wasm) = if source.is_dir() {
        (
            manifest
                .map(Path::to_path_buf)
                .unwrap_or_else(|| source.join(MANIFEST_FILE)),
            None,
        )
    } else {
        (
            manifest.map(Path::to_path_buf).unwrap_or_else(|| {
                source
                    .parent()
                    .unwrap_or(Path::new("."))
                    .join(MANIFEST_FILE)
            }),
            Some(source.to_path_buf()),
        )
    };
    let text = std::fs::read_to_string(&manifest_path)
        .with_context(|| format!("cannot read the manifest {}", manifest_path.display()))?;
    let parsed = paddock_plugins::Manifest::parse(&text, &manifest_path.display().to_string())?;
    let wasm = match (wasm, parsed.component) {
        (Some(w), _) => w,
        (None, Some(c)) => manifest_path.parent().unwrap_or(Path::new(".")).join(c),
        (None, None) => {
            let found: Vec<PathBuf> = std::fs::read_dir(source)
                .with_context(|| format!("cannot read {}", source.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "wasm"))
                .collect();
            match found.as_slice() {
                [one] => one.clone(),
                [] => {
                    return Err(Usage(format!("no .wasm component in {}", source.display())).into());
                }
                _ => {
                    return Err(Usage(format!(
                        "several .wasm files in {}; name one with `component` in the manifest",
                        source.display()
                    ))
                    .into());
                }
            }
        }
    };
    let component =
        std::fs::read(&wasm).with_context(|| format!("cannot read {}", wasm.display()))?;
    Ok((text, component))
}

fn print_pending(u: &PendingUpdate) {
    out!(
        "update for {} waits for an admin: {} -> {} ({}@{})",
        u.name,
        u.from_version,
        u.to_version,
        u.reference,
        u.digest
    );
    out!(
        "  signed by: {}",
        u.signer
            .as_deref()
            .unwrap_or("unsigned (allowed by an admin)")
    );
    out!("  it requests new capabilities:");
    for c in &u.added {
        out!("    + {c}");
    }
    for c in &u.removed {
        out!("    - {c}");
    }
    out!(
        "  nothing changes until an admin accepts: paddock plugin update {} --accept (or --reject); new capabilities stay ungranted until granted",
        u.name
    );
}

/// `paddock plugin install oci://…`.
pub(crate) async fn install(
    host: &PluginHost,
    reference: &str,
    manifest: Option<&Path>,
    allow_unsigned: bool,
) -> Result<paddock_plugins::PluginInfo> {
    if manifest.is_some() {
        return Err(Usage(
            "--manifest: an oci:// artifact carries its own paddock-plugin.toml".into(),
        )
        .into());
    }
    let reference = parse_ref(reference)?;
    Ok(Oci::new(host).install(&reference, allow_unsigned).await?)
}

/// Runs an OCI subcommand.
pub(crate) async fn run(host: &PluginHost, cmd: &OciCmd) -> Result<ExitCode> {
    let settings = SettingsFile::new(host.data_dir());
    match cmd {
        OciCmd::Push {
            source,
            reference,
            manifest,
            key,
        } => {
            let reference = parse_ref(reference)?;
            let (text, component) = read_local(source, manifest.as_deref())?;
            let sk = key
                .as_deref()
                .map(|k| signing::load_secret(k, password()))
                .transpose()?;
            let pushed = push(
                &reference,
                &text,
                &component,
                sk.as_ref(),
                &settings.read()?.insecure_registries,
            )
            .await?;
            out!("pushed {reference}");
            out!("  digest: {}", pushed.digest);
            out!("  pinned: {}", pushed.pinned);
            match pushed.signed_by {
                Some(id) => out!("  signed by key {id}"),
                None => out!(
                    "  unsigned (sign it with: paddock plugin sign {} --key KEY)",
                    pushed.pinned
                ),
            }
        }
        OciCmd::Sign {
            reference,
            key,
            output,
            manifest_output,
        } => {
            let reference = parse_ref(reference)?;
            let sk = signing::load_secret(key, password())?;
            let (digest, manifest, signature) =
                sign_remote(&reference, &sk, &settings.read()?.insecure_registries).await?;
            if let Some(p) = output {
                std::fs::write(p, &signature)
                    .with_context(|| format!("cannot write {}", p.display()))?;
            }
            if let Some(p) = manifest_output {
                std::fs::write(p, &manifest)
                    .with_context(|| format!("cannot write {}", p.display()))?;
            }
            out!("signed {}", reference.with_digest(&digest));
        }
        OciCmd::Keygen { out, encrypt } => {
            let pw = if *encrypt {
                Some(password().ok_or_else(|| {
                    Usage(format!("--encrypt: set the password in ${PASSWORD_ENV}"))
                })?)
            } else {
                None
            };
            let g = signing::keygen(out, pw)?;
            out!("key id {}", g.id);
            out!(
                "  secret key: {} (keep it private)",
                g.secret_path.display()
            );
            out!("  public key: {}", g.public_path.display());
            out!(
                "admins trust it with: paddock plugin trust add {} --name NAME",
                g.public_key
            );
        }
        OciCmd::Update {
            name,
            accept,
            reject,
            allow_unsigned,
            json,
        } => {
            let oci = Oci::new(host);
            if *accept {
                let p = oci.accept(name).await?;
                out!(
                    "updated {} to {} ({})",
                    p.record.name,
                    p.record.version,
                    p.record
                        .origin
                        .as_ref()
                        .map(|o| o.digest.as_str())
                        .unwrap_or("-")
                );
                if !p.missing.is_empty() {
                    let missing: Vec<String> = p.missing.iter().map(ToString::to_string).collect();
                    out!(
                        "its new requests are not granted; to grant them: paddock plugin grant {} {}",
                        p.record.name,
                        missing.join(" ")
                    );
                }
                return Ok(ExitCode::SUCCESS);
            }
            if *reject {
                let u = oci.reject(name)?;
                out!(
                    "dropped the update of {name} to {} ({})",
                    u.to_version,
                    u.digest
                );
                return Ok(ExitCode::SUCCESS);
            }
            let outcome = oci.update(name, *allow_unsigned).await?;
            if *json {
                out!("{}", serde_json::to_string_pretty(&outcome)?);
                return Ok(ExitCode::SUCCESS);
            }
            match outcome {
                UpdateOutcome::UpToDate { plugin } => out!(
                    "{name} is up to date ({})",
                    plugin
                        .record
                        .origin
                        .as_ref()
                        .map(|o| o.digest.as_str())
                        .unwrap_or("-")
                ),
                UpdateOutcome::Applied { plugin } => out!(
                    "updated {name} to {} ({}); it requests nothing new",
                    plugin.record.version,
                    plugin
                        .record
                        .origin
                        .as_ref()
                        .map(|o| o.digest.as_str())
                        .unwrap_or("-")
                ),
                UpdateOutcome::Pending { update } => print_pending(&update),
            }
        }
        OciCmd::Trust { cmd } => match cmd {
            TrustCmd::Add { key, name } => {
                let text = if Path::new(key).is_file() {
                    std::fs::read_to_string(key).with_context(|| format!("cannot read {key}"))?
                } else {
                    key.clone()
                };
                let k = settings.trust(&text, name)?;
                out!("trusted key {} ({})", k.id, k.name);
            }
            TrustCmd::Remove { id } => {
                settings.untrust(id)?;
                out!("no longer trusted: {id}");
            }
            TrustCmd::List { json } => {
                let s = settings.read()?;
                if *json {
                    out!("{}", serde_json::to_string_pretty(&s)?);
                } else {
                    out!(
                        "unsigned installs: {}",
                        if s.allow_unsigned {
                            "allowed"
                        } else {
                            "refused"
                        }
                    );
                    if !s.insecure_registries.is_empty() {
                        out!("plain-HTTP registries: {}", s.insecure_registries.join(" "));
                    }
                    if s.trusted_keys.is_empty() {
                        out!("no trusted keys");
                    }
                    for k in &s.trusted_keys {
                        out!("{} {} {}", k.id, k.name, k.public_key);
                    }
                }
            }
            TrustCmd::AllowUnsigned { value } => {
                let on = matches!(value, Switch::On);
                settings.modify(|s| {
                    s.allow_unsigned = on;
                    Ok(())
                })?;
                out!(
                    "unsigned installs are {}",
                    if on { "allowed" } else { "refused" }
                );
            }
            TrustCmd::Insecure { registry, remove } => {
                // Validate as a registry host by parsing a reference to it.
                parse_ref(&format!("oci://{registry}/x"))?;
                settings.modify(|s| {
                    s.insecure_registries.retain(|r| r != registry);
                    if !*remove {
                        s.insecure_registries.push(registry.clone());
                    }
                    Ok(())
                })?;
                out!(
                    "{registry} is reached over {}",
                    if *remove { "HTTPS" } else { "plain HTTP" }
                );
            }
        },
    }
    Ok(ExitCode::SUCCESS)
}
