//! The admin's OCI settings, `<data-dir>/plugins/oci.json`: the public keys
//! trusted to sign plugins, whether unsigned plugins may be installed, and
//! the registries reached over plain HTTP. The CLI and the server read the
//! same file; changes take a lock and replace the file atomically.

use crate::OciError;
pub use crate::signing::TrustedKey;
use crate::signing::{key_id, parse_public};
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The settings.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OciSettings {
    /// Keys trusted to sign plugins.
    #[serde(default)]
    pub trusted_keys: Vec<TrustedKey>,
    /// Whether plugins without a signature may be installed (a signature
    /// that is present must still verify against a trusted key).
    #[serde(default)]
    pub allow_unsigned: bool,
    /// Registries (`host:port`) reached over plain HTTP; loopback ones
    /// always are.
    #[serde(default)]
    pub insecure_registries: Vec<String>,
}

/// The settings file of a data directory.
#[derive(Clone, Debug)]
pub struct SettingsFile {
    dir: PathBuf,
}

impl SettingsFile {
    /// The file under `<data_dir>/plugins`.
    pub fn new(data_dir: &Path) -> SettingsFile {
        SettingsFile {
            dir: data_dir.join("plugins"),
        }
    }

    fn path(&self) -> PathBuf {
        self.dir.join("oci.json")
    }

    fn io(&self, path: &Path, e: std::io::Error) -> OciError {
        OciError::Io {
            path: path.to_path_buf(),
            source: e,
        }
    }

    /// Reads the settings (defaults when the file does not exist).
    pub fn read(&self) -> Result<OciSettings, OciError> {
        let path = self.path();
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| OciError::Settings {
                path,
                message: e.to_string(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(OciSettings::default()),
            Err(e) => Err(self.io(&path, e)),
        }
    }

    /// Applies `change` under the lock and saves the result.
    pub fn modify<R>(
        &self,
        change: impl FnOnce(&mut OciSettings) -> Result<R, OciError>,
    ) -> Result<R, OciError> {
        std::fs::create_dir_all(&self.dir).map_err(|e| self.io(&self.dir, e))?;
        let lock_path = self.dir.join("oci.lock");
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| self.io(&lock_path, e))?;
        lock.lock().map_err(|e| self.io(&lock_path, e))?;
        let mut settings = self.read()?;
        let out = change(&mut settings)?;
        let path = self.path();
        let tmp = self.dir.join(format!("oci.json.tmp{}", std::process::id()));
        let bytes = serde_json::to_vec_pretty(&settings).map_err(|e| OciError::Settings {
            path: path.clone(),
            message: e.to_string(),
        })?;
        let mut f = File::create(&tmp).map_err(|e| self.io(&tmp, e))?;
        f.write_all(&bytes).map_err(|e| self.io(&tmp, e))?;
        f.sync_all().map_err(|e| self.io(&tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| self.io(&path, e))?;
        Ok(out)
    }

    /// Trusts a public key (a `.pub` file's text or base64) under `name`.
    pub fn trust(&self, public_key: &str, name: &str) -> Result<TrustedKey, OciError> {
        let pk = parse_public(public_key)?;
        if name.is_empty() || name.len() > 100 || name.chars().any(char::is_control) {
            return Err(OciError::Key(
                "name: give 1 to 100 printable characters".into(),
            ));
        }
        let key = TrustedKey {
            id: key_id(pk.keynum()),
            name: name.to_string(),
            public_key: pk.to_base64(),
            added_at: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
        };
        self.modify(|s| {
            s.trusted_keys.retain(|k| k.id != key.id);
            s.trusted_keys.push(key.clone());
            Ok(())
        })?;
        Ok(key)
    }

    /// Stops trusting key `id`.
    pub fn untrust(&self, id: &str) -> Result<(), OciError> {
        self.modify(|s| {
            let before = s.trusted_keys.len();
            s.trusted_keys.retain(|k| !k.id.eq_ignore_ascii_case(id));
            if s.trusted_keys.len() == before {
                return Err(OciError::Key(format!("no trusted key has id `{id}`")));
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trust_and_untrust_persist() {
        let dir = tempfile::tempdir().unwrap();
        let keys = crate::signing::keygen(&dir.path().join("k"), None).unwrap();
        let file = SettingsFile::new(dir.path());
        assert_eq!(file.read().unwrap(), OciSettings::default());
        let pub_text = std::fs::read_to_string(&keys.public_path).unwrap();
        let k = file.trust(&pub_text, "ci").unwrap();
        assert_eq!(k.id, keys.id);
        assert_eq!(file.read().unwrap().trusted_keys, vec![k.clone()]);
        assert!(file.trust("garbage", "x").is_err());
        assert!(file.untrust("0000000000000000").is_err());
        file.untrust(&k.id).unwrap();
        assert!(file.read().unwrap().trusted_keys.is_empty());
    }
}
