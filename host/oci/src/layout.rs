//! The wasm OCI artifact layout Paddock pushes and pulls — the CNCF wasm
//! artifact (as `wkg`, wasmCloud and wassette use it) plus one layer:
//! an OCI image manifest whose config is `application/vnd.wasm.config.v0+json`
//! (architecture `wasm`, os `wasip2`, the layers' digests), whose first
//! layer is the component (`application/wasm`) and whose second is the
//! plugin's `paddock-plugin.toml` ([`PLUGIN_MANIFEST_MEDIA_TYPE`]), the way
//! wassette ships its policy as a second layer. Signatures are separate
//! artifacts ([`SIGNATURE_ARTIFACT_TYPE`]) under cosign's tag convention.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// The OCI image manifest media type.
pub const OCI_MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
/// The config media type of wasm artifacts.
pub const WASM_CONFIG_MEDIA_TYPE: &str = "application/vnd.wasm.config.v0+json";
/// The layer media type of a wasm component.
pub const WASM_LAYER_MEDIA_TYPE: &str = "application/wasm";
/// The layer media type of a Paddock plugin manifest (`paddock-plugin.toml`).
pub const PLUGIN_MANIFEST_MEDIA_TYPE: &str = "application/vnd.paddock.plugin.manifest.v1+toml";
/// The artifact type of a Paddock signature.
pub const SIGNATURE_ARTIFACT_TYPE: &str = "application/vnd.paddock.signature.v1";
/// The config media type of a signature artifact (an empty JSON object).
pub const SIGNATURE_CONFIG_MEDIA_TYPE: &str = "application/vnd.paddock.signature.config.v1+json";
/// The layer media type of a minisign signature.
pub const MINISIGN_LAYER_MEDIA_TYPE: &str = "application/vnd.paddock.minisign.signature.v1";
/// The annotation naming a layer's file.
pub const TITLE_ANNOTATION: &str = "org.opencontainers.image.title";

/// A content descriptor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// Its media type.
    pub media_type: String,
    /// `sha256:HEX` of its bytes.
    pub digest: String,
    /// Its length in bytes.
    pub size: u64,
    /// Annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

impl Descriptor {
    /// The descriptor of `bytes`.
    pub fn of(media_type: &str, bytes: &[u8]) -> Descriptor {
        Descriptor {
            media_type: media_type.to_string(),
            digest: digest_of(bytes),
            size: bytes.len() as u64,
            annotations: BTreeMap::new(),
        }
    }

    fn titled(mut self, title: &str) -> Descriptor {
        self.annotations
            .insert(TITLE_ANNOTATION.to_string(), title.to_string());
        self
    }
}

/// An OCI image manifest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageManifest {
    /// Always 2.
    pub schema_version: u32,
    /// [`OCI_MANIFEST_MEDIA_TYPE`].
    #[serde(default)]
    pub media_type: Option<String>,
    /// The artifact type, when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// The config blob.
    pub config: Descriptor,
    /// The layers.
    pub layers: Vec<Descriptor>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// The wasm config blob.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WasmConfig {
    /// When it was made (RFC 3339), as `wkg` writes it.
    pub created: String,
    /// Always `wasm`.
    pub architecture: String,
    /// `wasip2` for components.
    pub os: String,
    /// The digests of the manifest's layers, in order.
    pub layer_digests: Vec<String>,
}

/// `sha256:HEX` of `bytes`.
pub fn digest_of(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// A built artifact: the manifest's bytes and the blobs it names.
pub struct Built {
    /// The serialized manifest (its digest is the artifact's).
    pub manifest: Vec<u8>,
    /// `(descriptor, bytes)` of the config and each layer.
    pub blobs: Vec<(Descriptor, Vec<u8>)>,
}

impl Built {
    /// The manifest's digest.
    pub fn digest(&self) -> String {
        digest_of(&self.manifest)
    }
}

fn build(
    artifact_type: Option<&str>,
    config: (Descriptor, Vec<u8>),
    layers: Vec<(Descriptor, Vec<u8>)>,
    annotations: BTreeMap<String, String>,
) -> Result<Built, serde_json::Error> {
    let manifest = ImageManifest {
        schema_version: 2,
        media_type: Some(OCI_MANIFEST_MEDIA_TYPE.to_string()),
        artifact_type: artifact_type.map(str::to_string),
        config: config.0.clone(),
        layers: layers.iter().map(|(d, _)| d.clone()).collect(),
        annotations,
    };
    let mut blobs = vec![config];
    blobs.extend(layers);
    Ok(Built {
        manifest: serde_json::to_vec(&manifest)?,
        blobs,
    })
}

/// The artifact of a plugin: its component and its manifest text.
pub fn plugin_artifact(
    component: &[u8],
    manifest_text: &str,
    plugin_name: &str,
    version: &str,
) -> Result<Built, serde_json::Error> {
    let wasm =
        Descriptor::of(WASM_LAYER_MEDIA_TYPE, component).titled(&format!("{plugin_name}.wasm"));
    let toml = Descriptor::of(PLUGIN_MANIFEST_MEDIA_TYPE, manifest_text.as_bytes())
        .titled(paddock_plugins::manifest::MANIFEST_FILE);
    let config = serde_json::to_vec(&WasmConfig {
        created: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        architecture: "wasm".into(),
        os: "wasip2".into(),
        layer_digests: vec![wasm.digest.clone(), toml.digest.clone()],
    })?;
    let annotations = BTreeMap::from([
        (
            "org.opencontainers.image.title".to_string(),
            plugin_name.to_string(),
        ),
        (
            "org.opencontainers.image.version".to_string(),
            version.to_string(),
        ),
    ]);
    build(
        None,
        (Descriptor::of(WASM_CONFIG_MEDIA_TYPE, &config), config),
        vec![
            (wasm, component.to_vec()),
            (toml, manifest_text.as_bytes().to_vec()),
        ],
        annotations,
    )
}

/// The artifact holding a signature of manifest `signed_digest`.
pub fn signature_artifact(
    signed_digest: &str,
    signature: &str,
) -> Result<Built, serde_json::Error> {
    let config = b"{}".to_vec();
    let annotations = BTreeMap::from([(
        "dev.paddock.signature.digest".to_string(),
        signed_digest.to_string(),
    )]);
    build(
        Some(SIGNATURE_ARTIFACT_TYPE),
        (Descriptor::of(SIGNATURE_CONFIG_MEDIA_TYPE, &config), config),
        vec![(
            Descriptor::of(MINISIGN_LAYER_MEDIA_TYPE, signature.as_bytes())
                .titled("plugin.minisig"),
            signature.as_bytes().to_vec(),
        )],
        annotations,
    )
}

/// The tag a signature of `digest` is stored under: cosign's convention,
/// `sha256-HEX.sig`.
pub fn signature_tag(digest: &str) -> String {
    format!("{}.sig", digest.replacen(':', "-", 1))
}

/// Where the parts of a plugin artifact are in its manifest.
#[derive(Debug)]
pub struct PluginLayers {
    /// The config.
    pub config: Descriptor,
    /// The component layer.
    pub component: Descriptor,
    /// The plugin-manifest layer.
    pub manifest: Descriptor,
}

/// Checks a parsed manifest is a Paddock plugin artifact and finds its layers.
pub fn plugin_layers(m: &ImageManifest) -> Result<PluginLayers, String> {
    if m.schema_version != 2 {
        return Err(format!("schemaVersion is {}, not 2", m.schema_version));
    }
    if let Some(mt) = &m.media_type
        && mt != OCI_MANIFEST_MEDIA_TYPE
    {
        return Err(format!(
            "mediaType is `{mt}`, not `{OCI_MANIFEST_MEDIA_TYPE}`"
        ));
    }
    if m.config.media_type != WASM_CONFIG_MEDIA_TYPE {
        return Err(format!(
            "config mediaType is `{}`, not `{WASM_CONFIG_MEDIA_TYPE}` (not a wasm artifact)",
            m.config.media_type
        ));
    }
    let one = |media_type: &str| -> Result<Descriptor, String> {
        let mut found = m.layers.iter().filter(|l| l.media_type == media_type);
        match (found.next(), found.next()) {
            (Some(d), None) => Ok(d.clone()),
            (None, _) => Err(format!("no `{media_type}` layer")),
            (Some(_), Some(_)) => Err(format!("more than one `{media_type}` layer")),
        }
    };
    let component = one(WASM_LAYER_MEDIA_TYPE)?;
    let manifest = one(PLUGIN_MANIFEST_MEDIA_TYPE).map_err(|e| {
        format!("{e}: a Paddock plugin artifact carries its paddock-plugin.toml (push it with `paddock plugin push`)")
    })?;
    for d in [&m.config, &component, &manifest] {
        if !crate::reference::valid_digest(&d.digest) {
            return Err(format!(
                "descriptor digest `{}` is not sha256:HEX",
                d.digest
            ));
        }
    }
    Ok(PluginLayers {
        config: m.config.clone(),
        component,
        manifest,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plugin_artifact_round_trips() {
        let built = plugin_artifact(b"\0asm", "name = \"x\"\n", "x", "1.0.0").unwrap();
        let m: ImageManifest = serde_json::from_slice(&built.manifest).unwrap();
        let layers = plugin_layers(&m).unwrap();
        assert_eq!(layers.component.digest, digest_of(b"\0asm"));
        assert_eq!(layers.manifest.size, 11);
        let cfg: serde_json::Value = serde_json::from_slice(&built.blobs[0].1).unwrap();
        assert_eq!(cfg["architecture"], "wasm");
        assert_eq!(cfg["os"], "wasip2");
        assert_eq!(cfg["layerDigests"][0], digest_of(b"\0asm"));
        assert_eq!(built.blobs.len(), 3);
        assert_eq!(
            signature_tag("sha256:ab"),
            "sha256-ab.sig",
            "cosign's tag convention"
        );
    }

    #[test]
    fn foreign_artifacts_are_refused_with_the_reason() {
        let built = plugin_artifact(b"\0asm", "x", "x", "1").unwrap();
        let mut m: ImageManifest = serde_json::from_slice(&built.manifest).unwrap();
        m.layers.pop();
        assert!(
            plugin_layers(&m)
                .unwrap_err()
                .contains("paddock-plugin.toml")
        );
        m.config.media_type = "application/vnd.oci.image.config.v1+json".into();
        assert!(
            plugin_layers(&m)
                .unwrap_err()
                .contains("not a wasm artifact")
        );
    }
}
