//! Installing, publishing and updating plugins through OCI registries.
//! [`Oci::fetch`] pulls an artifact, checks every blob against its digest,
//! and verifies its signature (cosign's `sha256-HEX.sig` tag) against the
//! trusted keys; [`Oci::install`] installs what it fetched with the manifest
//! digest pinned in the plugin's record. [`Oci::update`] pulls the recorded
//! reference again: a new version that requests nothing new is applied at
//! once (grants kept), one that requests new capabilities is staged under
//! `<data-dir>/plugin-updates/<name>/` until an admin accepts or rejects it.
//! [`Oci::push`] publishes (and signs) a plugin.

use crate::OciError;
use crate::client::Client;
use crate::layout::{self, ImageManifest, MINISIGN_LAYER_MEDIA_TYPE, SIGNATURE_ARTIFACT_TYPE};
use crate::reference::{Reference, Target};
use crate::signing;
use crate::trust::{SettingsFile, TrustedKey};
use paddock_plugins::{Capability, Manifest, PluginHost, PluginInfo, PluginOrigin};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// A plugin artifact pulled and verified, not installed yet.
pub struct Fetched {
    /// The reference asked for.
    pub reference: Reference,
    /// The manifest digest it resolved to.
    pub digest: String,
    /// The `paddock-plugin.toml` text.
    pub manifest_text: String,
    /// Its parsed form.
    pub manifest: Manifest,
    /// The component.
    pub component: Vec<u8>,
    /// The trusted key that signed it; `None` for an allowed unsigned one.
    pub signer: Option<TrustedKey>,
}

impl Fetched {
    fn origin(&self) -> PluginOrigin {
        PluginOrigin {
            reference: self.reference.to_string(),
            digest: self.digest.clone(),
            signer: self.signer.as_ref().map(|k| k.id.clone()),
        }
    }
}

/// An update waiting for an admin: the new version requests capabilities
/// the installed one did not.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PendingUpdate {
    /// The plugin.
    pub name: String,
    /// The reference pulled.
    pub reference: String,
    /// The new manifest digest.
    pub digest: String,
    /// The key that signed it, if signed.
    pub signer: Option<String>,
    /// The installed version.
    pub from_version: String,
    /// The new version.
    pub to_version: String,
    /// Capabilities the new version requests that the installed one did not.
    pub added: Vec<String>,
    /// Capabilities the installed version requested that the new one does not.
    pub removed: Vec<String>,
    /// Everything the new version requests.
    pub requested: Vec<String>,
    /// SHA-256 of the staged component, hex.
    pub component_sha256: String,
    /// When it was staged, seconds since the Unix epoch.
    pub staged_at: u64,
}

/// What an update did.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum UpdateOutcome {
    /// The registry has the installed digest.
    UpToDate {
        /// The plugin.
        plugin: Box<PluginInfo>,
    },
    /// Applied (nothing new requested); grants kept.
    Applied {
        /// The plugin after the update.
        plugin: Box<PluginInfo>,
    },
    /// Staged: new capabilities requested; waits for an admin.
    Pending {
        /// The staged update.
        update: Box<PendingUpdate>,
    },
}

/// What a push published.
#[derive(Clone, Debug, Serialize)]
pub struct PushOutcome {
    /// The reference pushed to, pinned by digest.
    pub pinned: String,
    /// The manifest digest.
    pub digest: String,
    /// The signing key id, when signed.
    pub signed_by: Option<String>,
}

/// OCI operations over a data directory's settings and plugin host.
pub struct Oci<'a> {
    host: &'a PluginHost,
    data_dir: PathBuf,
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn caps(set: &BTreeSet<Capability>) -> Vec<String> {
    set.iter().map(ToString::to_string).collect()
}

impl<'a> Oci<'a> {
    /// OCI operations for `host` (settings and staged updates in its data directory).
    pub fn new(host: &'a PluginHost) -> Oci<'a> {
        Oci {
            host,
            data_dir: host.data_dir().to_path_buf(),
        }
    }

    /// The settings file.
    pub fn settings(&self) -> SettingsFile {
        SettingsFile::new(&self.data_dir)
    }

    /// Pulls `reference`, checks every blob's digest and the signature.
    /// An unsigned artifact passes only when `allow_unsigned` or the
    /// settings allow it; a signature present must verify against a
    /// trusted key either way.
    pub async fn fetch(
        &self,
        reference: &Reference,
        allow_unsigned: bool,
    ) -> Result<Fetched, OciError> {
        let settings = self.settings().read()?;
        let client = Client::new(reference, &settings.insecure_registries)?;
        let (bytes, digest) = client
            .pull_manifest(reference)
            .await?
            .ok_or_else(|| OciError::NotFound(reference.to_string()))?;
        let layout_err = |message: String| OciError::Layout {
            reference: reference.to_string(),
            message,
        };
        let parsed: ImageManifest = serde_json::from_slice(&bytes)
            .map_err(|e| layout_err(format!("the manifest is not an OCI image manifest: {e}")))?;
        let layers = layout::plugin_layers(&parsed).map_err(layout_err)?;
        let pinned = reference.with_digest(&digest);
        // The signature first: nothing else is downloaded for a refused one.
        let signer = self
            .verify_signature(&client, &pinned, &bytes, &digest, &settings.trusted_keys)
            .await?;
        if signer.is_none() && !(allow_unsigned || settings.allow_unsigned) {
            return Err(OciError::Unsigned(pinned.to_string()));
        }
        client
            .pull_blob(reference, &layers.config, "the config blob")
            .await?;
        let component = client
            .pull_blob(reference, &layers.component, "the component layer")
            .await?;
        let manifest_bytes = client
            .pull_blob(reference, &layers.manifest, "the paddock-plugin.toml layer")
            .await?;
        let manifest_text = String::from_utf8(manifest_bytes)
            .map_err(|_| layout_err("paddock-plugin.toml is not UTF-8".into()))?;
        let manifest = Manifest::parse(&manifest_text, &pinned.to_string())
            .map_err(paddock_plugins::PluginError::from)?;
        Ok(Fetched {
            reference: reference.clone(),
            digest,
            manifest_text,
            manifest,
            component,
            signer,
        })
    }

    async fn verify_signature(
        &self,
        client: &Client,
        pinned: &Reference,
        manifest: &[u8],
        digest: &str,
        trusted: &[TrustedKey],
    ) -> Result<Option<TrustedKey>, OciError> {
        let sig_ref = pinned.with_tag(&layout::signature_tag(digest));
        let Some((sig_manifest, _)) = client.pull_manifest(&sig_ref).await? else {
            return Ok(None);
        };
        let sig_manifest: ImageManifest = serde_json::from_slice(&sig_manifest).map_err(|e| {
            OciError::BadSignature(format!("the signature artifact does not parse: {e}"))
        })?;
        if sig_manifest.artifact_type.as_deref() != Some(SIGNATURE_ARTIFACT_TYPE) {
            return Err(OciError::BadSignature(format!(
                "{sig_ref} is not a Paddock signature artifact"
            )));
        }
        let layer = sig_manifest
            .layers
            .iter()
            .find(|l| l.media_type == MINISIGN_LAYER_MEDIA_TYPE)
            .ok_or_else(|| {
                OciError::BadSignature(format!("{sig_ref} holds no minisign signature"))
            })?;
        let text = client.pull_blob(&sig_ref, layer, "the signature").await?;
        let text = String::from_utf8(text)
            .map_err(|_| OciError::BadSignature("the signature is not text".into()))?;
        let key = signing::verify(manifest, digest, &text, trusted)?;
        Ok(Some(key.clone()))
    }

    /// Installs (or upgrades) the plugin `reference` names, pinning its digest.
    pub async fn install(
        &self,
        reference: &Reference,
        allow_unsigned: bool,
    ) -> Result<PluginInfo, OciError> {
        let fetched = self.fetch(reference, allow_unsigned).await?;
        let info = self
            .host
            .install_fetched(
                &fetched.manifest_text,
                fetched.component.clone(),
                fetched.origin(),
            )
            .await?;
        // An install supersedes an update staged before it.
        self.discard_pending(&info.record.name)?;
        tracing::info!(plugin = %info.record.name, reference = %reference, digest = %fetched.digest, signer = ?fetched.signer.as_ref().map(|k| &k.id), "plugin installed from a registry");
        Ok(info)
    }

    /// Pulls plugin `name`'s recorded reference again: applies a new
    /// version that requests nothing new, stages one that does.
    pub async fn update(
        &self,
        name: &str,
        allow_unsigned: bool,
    ) -> Result<UpdateOutcome, OciError> {
        let current = self.host.get(name)?;
        let origin = current.record.origin.clone().ok_or_else(|| {
            OciError::Invalid(format!(
                "plugin `{name}` was not installed from a registry; install it with `paddock plugin install oci://…`"
            ))
        })?;
        let reference = Reference::parse(&origin.reference)?;
        let fetched = self.fetch(&reference, allow_unsigned).await?;
        if fetched.digest == origin.digest {
            return Ok(UpdateOutcome::UpToDate {
                plugin: Box::new(current),
            });
        }
        if fetched.manifest.name != name {
            return Err(OciError::Invalid(format!(
                "{reference} now holds plugin `{}`, not `{name}`; refusing to update",
                fetched.manifest.name
            )));
        }
        let old = &current.record.requested;
        let new = &fetched.manifest.requested;
        let added: BTreeSet<Capability> = new.difference(old).cloned().collect();
        if added.is_empty() {
            let info = self
                .host
                .install_fetched(
                    &fetched.manifest_text,
                    fetched.component.clone(),
                    fetched.origin(),
                )
                .await?;
            self.discard_pending(name)?;
            tracing::info!(plugin = %name, digest = %fetched.digest, "plugin updated");
            return Ok(UpdateOutcome::Applied {
                plugin: Box::new(info),
            });
        }
        // Validate now, so an admin never accepts something that cannot load.
        self.host
            .check_fetched(
                &fetched.manifest_text,
                &fetched.component,
                &reference.to_string(),
            )
            .await?;
        let update = PendingUpdate {
            name: name.to_string(),
            reference: reference.to_string(),
            digest: fetched.digest.clone(),
            signer: fetched.signer.as_ref().map(|k| k.id.clone()),
            from_version: current.record.version.clone(),
            to_version: fetched.manifest.version.clone(),
            added: caps(&added),
            removed: caps(&old.difference(new).cloned().collect()),
            requested: caps(new),
            component_sha256: hex::encode(Sha256::digest(&fetched.component)),
            staged_at: now_secs(),
        };
        self.stage(&update, &fetched)?;
        tracing::info!(plugin = %name, digest = %fetched.digest, added = ?update.added, "plugin update staged; it requests new capabilities");
        Ok(UpdateOutcome::Pending {
            update: Box::new(update),
        })
    }

    fn pending_dir(&self, name: &str) -> PathBuf {
        self.data_dir.join("plugin-updates").join(name)
    }

    fn io(path: &Path) -> impl FnOnce(std::io::Error) -> OciError + '_ {
        move |source| OciError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    fn stage(&self, update: &PendingUpdate, fetched: &Fetched) -> Result<(), OciError> {
        let dir = self.pending_dir(&update.name);
        let parent = dir.parent().unwrap_or(&self.data_dir).to_path_buf();
        std::fs::create_dir_all(&parent).map_err(Self::io(&parent))?;
        // Build in a fresh directory, then swap it in: a crash leaves either
        // the old staged update or the new one, never a mix.
        let tmp = parent.join(format!(".{}.tmp{}", update.name, std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::create_dir_all(&tmp).map_err(Self::io(&tmp))?;
        let json =
            serde_json::to_vec_pretty(update).map_err(|e| OciError::Invalid(e.to_string()))?;
        for (file, bytes) in [
            ("component.wasm", fetched.component.as_slice()),
            ("paddock-plugin.toml", fetched.manifest_text.as_bytes()),
            ("update.json", json.as_slice()),
        ] {
            let p = tmp.join(file);
            std::fs::write(&p, bytes).map_err(Self::io(&p))?;
        }
        self.discard_pending(&update.name)?;
        std::fs::rename(&tmp, &dir).map_err(Self::io(&dir))
    }

    /// The update staged for `name`, if any.
    pub fn pending(&self, name: &str) -> Result<Option<PendingUpdate>, OciError> {
        let path = self.pending_dir(name).join("update.json");
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| OciError::Settings {
                    path,
                    message: e.to_string(),
                }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Self::io(&path)(e)),
        }
    }

    /// Every staged update, by plugin name.
    pub fn list_pending(&self) -> Result<Vec<PendingUpdate>, OciError> {
        let dir = self.data_dir.join("plugin-updates");
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Self::io(&dir)(e)),
        };
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().to_str().map(str::to_string))
            .filter(|n| !n.starts_with('.'))
            .collect();
        names.sort();
        let mut out = Vec::new();
        for name in names {
            if let Some(u) = self.pending(&name)? {
                out.push(u);
            }
        }
        Ok(out)
    }

    /// Applies the update staged for `name`; grants are kept, and the new
    /// requests are not granted.
    pub async fn accept(&self, name: &str) -> Result<PluginInfo, OciError> {
        let update = self
            .pending(name)?
            .ok_or_else(|| OciError::Invalid(format!("plugin `{name}` has no update waiting")))?;
        let dir = self.pending_dir(name);
        let cpath = dir.join("component.wasm");
        let mpath = dir.join("paddock-plugin.toml");
        let component = std::fs::read(&cpath).map_err(Self::io(&cpath))?;
        let manifest_text = std::fs::read_to_string(&mpath).map_err(Self::io(&mpath))?;
        if hex::encode(Sha256::digest(&component)) != update.component_sha256 {
            return Err(OciError::DigestMismatch {
                what: format!("the staged component of `{name}`"),
                expected: update.component_sha256.clone(),
                actual: hex::encode(Sha256::digest(&component)),
            });
        }
        let info = self
            .host
            .install_fetched(
                &manifest_text,
                component,
                PluginOrigin {
                    reference: update.reference.clone(),
                    digest: update.digest.clone(),
                    signer: update.signer.clone(),
                },
            )
            .await?;
        self.discard_pending(name)?;
        tracing::info!(plugin = %name, digest = %update.digest, "staged plugin update accepted");
        Ok(info)
    }

    /// Drops the update staged for `name`; errors when there is none.
    pub fn reject(&self, name: &str) -> Result<PendingUpdate, OciError> {
        let update = self
            .pending(name)?
            .ok_or_else(|| OciError::Invalid(format!("plugin `{name}` has no update waiting")))?;
        self.discard_pending(name)?;
        tracing::info!(plugin = %name, digest = %update.digest, "staged plugin update rejected");
        Ok(update)
    }

    fn discard_pending(&self, name: &str) -> Result<(), OciError> {
        let dir = self.pending_dir(name);
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Self::io(&dir)(e)),
        }
    }
}

/// Publishes a plugin (its manifest text and component) to `reference`
/// (a tag), signing it with `key` when given. Validates the manifest first.
pub async fn push(
    reference: &Reference,
    manifest_text: &str,
    component: &[u8],
    key: Option<&minisign::SecretKey>,
    insecure: &[String],
) -> Result<PushOutcome, OciError> {
    let Target::Tag(tag) = &reference.target else {
        return Err(OciError::Invalid(format!(
            "push to a tag (oci://REGISTRY/REPO:TAG), not a digest: {reference}"
        )));
    };
    let manifest = Manifest::parse(manifest_text, &reference.to_string())
        .map_err(paddock_plugins::PluginError::from)?;
    let built =
        layout::plugin_artifact(component, manifest_text, &manifest.name, &manifest.version)
            .map_err(|e| OciError::Invalid(e.to_string()))?;
    let client = Client::new(reference, insecure)?;
    for (d, bytes) in &built.blobs {
        client.push_blob(reference, d, bytes).await?;
    }
    let digest = client
        .push_manifest(reference, tag, &built.manifest)
        .await?;
    let signed_by = match key {
        Some(sk) => Some(sign_pushed(&client, reference, &built.manifest, &digest, sk).await?),
        None => None,
    };
    Ok(PushOutcome {
        pinned: reference.with_digest(&digest).to_string(),
        digest,
        signed_by,
    })
}

async fn sign_pushed(
    client: &Client,
    reference: &Reference,
    manifest: &[u8],
    digest: &str,
    sk: &minisign::SecretKey,
) -> Result<String, OciError> {
    let signature = signing::sign(sk, manifest, digest)?;
    let built = layout::signature_artifact(digest, &signature)
        .map_err(|e| OciError::Invalid(e.to_string()))?;
    for (d, bytes) in &built.blobs {
        client.push_blob(reference, d, bytes).await?;
    }
    client
        .push_manifest(reference, &layout::signature_tag(digest), &built.manifest)
        .await?;
    let pk = minisign::PublicKey::from_secret_key(sk).map_err(|e| OciError::Key(e.to_string()))?;
    Ok(signing::key_id(pk.keynum()))
}

/// Signs the artifact `reference` names as it is in the registry (pulling
/// its manifest) and stores the signature beside it. Returns the signed
/// digest, the manifest's bytes and the signature text.
pub async fn sign_remote(
    reference: &Reference,
    sk: &minisign::SecretKey,
    insecure: &[String],
) -> Result<(String, Vec<u8>, String), OciError> {
    let client = Client::new(reference, insecure)?;
    let (bytes, digest) = client
        .pull_manifest(reference)
        .await?
        .ok_or_else(|| OciError::NotFound(reference.to_string()))?;
    let parsed: ImageManifest = serde_json::from_slice(&bytes).map_err(|e| OciError::Layout {
        reference: reference.to_string(),
        message: e.to_string(),
    })?;
    layout::plugin_layers(&parsed).map_err(|message| OciError::Layout {
        reference: reference.to_string(),
        message,
    })?;
    sign_pushed(&client, reference, &bytes, &digest, sk).await?;
    let signature = {
        // Read back what was stored, so the caller sees the registry's copy.
        let sig_ref = reference.with_tag(&layout::signature_tag(&digest));
        let (m, _) = client
            .pull_manifest(&sig_ref)
            .await?
            .ok_or_else(|| OciError::NotFound(sig_ref.to_string()))?;
        let m: ImageManifest =
            serde_json::from_slice(&m).map_err(|e| OciError::BadSignature(e.to_string()))?;
        let layer = m
            .layers
            .first()
            .ok_or_else(|| OciError::BadSignature("no layer".into()))?;
        let text = client.pull_blob(&sig_ref, layer, "the signature").await?;
        String::from_utf8(text).map_err(|_| OciError::BadSignature("not text".into()))?
    };
    Ok((digest, bytes, signature))
}
