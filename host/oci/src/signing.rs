//! Minisign signatures over plugin artifacts: key generation, signing an
//! OCI manifest's bytes (their digest is the artifact's, and they name the
//! digests of the component, config and plugin manifest, so one signature
//! covers all of them), and verifying against the admin's trusted keys.
//! The files are minisign's own formats: the `minisign` tool verifies a
//! Paddock signature (`minisign -Vm manifest.json -x sig -P KEY`).

use crate::OciError;
use minisign::{KeyPair, PublicKey, PublicKeyBox, SecretKey, SecretKeyBox, SignatureBox};
use serde::{Deserialize, Serialize};
use std::io::Cursor;
use std::path::{Path, PathBuf};

/// A public key trusted to sign plugins.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TrustedKey {
    /// The minisign key id (16 hex digits).
    pub id: String,
    /// A name for admins.
    pub name: String,
    /// The public key, base64.
    pub public_key: String,
    /// When it was added, seconds since the Unix epoch.
    pub added_at: u64,
}

/// The environment variable holding a signing key's password.
pub const PASSWORD_ENV: &str = "PADDOCK_SIGNING_PASSWORD";

/// A key id as minisign prints it: 16 uppercase hex digits.
pub fn key_id(keynum: &[u8]) -> String {
    let mut b = [0u8; 8];
    let n = keynum.len().min(8);
    b[..n].copy_from_slice(&keynum[..n]);
    format!("{:016X}", u64::from_le_bytes(b))
}

fn sig_err(message: impl Into<String>) -> OciError {
    OciError::Key(message.into())
}

/// A key pair written by [`keygen`].
pub struct Generated {
    /// The secret key file.
    pub secret_path: PathBuf,
    /// The public key file.
    pub public_path: PathBuf,
    /// The key id.
    pub id: String,
    /// The public key, base64 (what `paddock plugin trust add` takes).
    pub public_key: String,
}

/// Generates a key pair into `<prefix>.key` (mode 0600; encrypted with
/// `password` when given) and `<prefix>.pub`, refusing to overwrite.
pub fn keygen(prefix: &Path, password: Option<String>) -> Result<Generated, OciError> {
    let secret_path = PathBuf::from(format!("{}.key", prefix.display()));
    let public_path = PathBuf::from(format!("{}.pub", prefix.display()));
    for p in [&secret_path, &public_path] {
        if p.exists() {
            return Err(sig_err(format!(
                "{} exists; choose another --out or remove it",
                p.display()
            )));
        }
    }
    let KeyPair { pk, sk } = match password {
        Some(p) => KeyPair::generate_encrypted_keypair(Some(p)),
        None => KeyPair::generate_unencrypted_keypair(),
    }
    .map_err(|e| sig_err(format!("cannot generate a key pair: {e}")))?;
    let id = key_id(pk.keynum());
    let sk_text = sk
        .to_box(Some("paddock plugin signing key"))
        .map_err(|e| sig_err(e.to_string()))?
        .to_string();
    let pk_text = pk.to_box().map_err(|e| sig_err(e.to_string()))?.to_string();
    write_new(&secret_path, sk_text.as_bytes(), 0o600)?;
    write_new(&public_path, pk_text.as_bytes(), 0o644)?;
    Ok(Generated {
        secret_path,
        public_path,
        id,
        public_key: pk.to_base64(),
    })
}

fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<(), OciError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let io = |e: std::io::Error| OciError::Io {
        path: path.to_path_buf(),
        source: e,
    };
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(io)?;
    f.write_all(bytes).map_err(io)?;
    f.sync_all().map_err(io)
}

/// Loads a secret key file; an encrypted one needs `password`.
pub fn load_secret(path: &Path, password: Option<String>) -> Result<SecretKey, OciError> {
    let text = std::fs::read_to_string(path).map_err(|e| OciError::Io {
        path: path.to_path_buf(),
        source: e,
    })?;
    let sk_box = SecretKeyBox::from_string(&text).map_err(|e| {
        sig_err(format!(
            "{} is not a minisign secret key: {e}",
            path.display()
        ))
    })?;
    let sk = match password {
        Some(p) => SecretKey::from_box(sk_box, Some(p)),
        None => SecretKey::from_unencrypted_box(sk_box),
    }
    .map_err(|e| {
        sig_err(format!(
            "cannot open the secret key {}: {e} (an encrypted key needs its password in {PASSWORD_ENV})",
            path.display()
        ))
    })?;
    Ok(sk)
}

/// Parses a public key: a minisign `.pub` file's text or the bare base64 line.
pub fn parse_public(text: &str) -> Result<PublicKey, OciError> {
    let trimmed = text.trim();
    let parsed = if trimmed.starts_with("untrusted comment:") {
        PublicKeyBox::from_string(trimmed).and_then(PublicKey::from_box)
    } else {
        PublicKey::from_base64(trimmed)
    };
    parsed.map_err(|e| sig_err(format!("not a minisign public key: {e}")))
}

/// Signs `manifest` (an OCI manifest's bytes, whose digest is `digest`);
/// returns the signature file's text. The trusted comment names the digest.
pub fn sign(sk: &SecretKey, manifest: &[u8], digest: &str) -> Result<String, OciError> {
    let pk = PublicKey::from_secret_key(sk).map_err(|e| sig_err(e.to_string()))?;
    let comment = format!("paddock plugin artifact {digest}");
    let sig = minisign::sign(
        Some(&pk),
        sk,
        Cursor::new(manifest),
        Some(&comment),
        Some(&format!(
            "signature from paddock key {}",
            key_id(pk.keynum())
        )),
    )
    .map_err(|e| sig_err(format!("cannot sign: {e}")))?;
    Ok(sig.into_string())
}

/// Verifies `signature` (a minisign signature file's text) over `manifest`
/// against `trusted`; returns the key that signed it.
pub fn verify<'a>(
    manifest: &[u8],
    digest: &str,
    signature: &str,
    trusted: &'a [TrustedKey],
) -> Result<&'a TrustedKey, OciError> {
    let sig = SignatureBox::from_string(signature)
        .map_err(|e| OciError::BadSignature(format!("the signature does not parse: {e}")))?;
    let signer = key_id(sig.keynum());
    let key = trusted
        .iter()
        .find(|k| k.id == signer)
        .ok_or_else(|| OciError::UntrustedKey(signer.clone()))?;
    let pk = parse_public(&key.public_key)?;
    minisign::verify(&pk, &sig, Cursor::new(manifest), true, false, false).map_err(|e| {
        OciError::BadSignature(format!(
            "signature by key {signer} does not verify for {digest}: {e}"
        ))
    })?;
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trusted(g: &Generated) -> TrustedKey {
        TrustedKey {
            id: g.id.clone(),
            name: "t".into(),
            public_key: g.public_key.clone(),
            added_at: 0,
        }
    }

    #[test]
    fn sign_verify_and_refusals() {
        let dir = tempfile::tempdir().unwrap();
        let a = keygen(&dir.path().join("a"), None).unwrap();
        let b = keygen(&dir.path().join("b"), None).unwrap();
        assert!(
            keygen(&dir.path().join("a"), None).is_err(),
            "never overwrites a key"
        );
        let sk = load_secret(&a.secret_path, None).unwrap();
        let sig = sign(&sk, b"manifest", "sha256:x").unwrap();
        let keys = [trusted(&a), trusted(&b)];
        assert_eq!(verify(b"manifest", "d", &sig, &keys).unwrap().id, a.id);
        assert!(matches!(
            verify(b"other", "d", &sig, &keys),
            Err(OciError::BadSignature(_))
        ));
        assert!(matches!(
            verify(b"manifest", "d", &sig, &keys[1..]),
            Err(OciError::UntrustedKey(id)) if id == a.id
        ));
        let pub_file = std::fs::read_to_string(&a.public_path).unwrap();
        assert_eq!(parse_public(&pub_file).unwrap().to_base64(), a.public_key);
    }

    #[test]
    fn encrypted_keys_need_their_password() {
        let dir = tempfile::tempdir().unwrap();
        let g = keygen(&dir.path().join("e"), Some("pw".into())).unwrap();
        assert!(load_secret(&g.secret_path, None).is_err());
        assert!(load_secret(&g.secret_path, Some("nope".into())).is_err());
        assert!(load_secret(&g.secret_path, Some("pw".into())).is_ok());
    }
}
