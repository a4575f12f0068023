//! Secrets at rest: the master key (where it comes from, creating it on
//! first start), sealing and opening values with XChaCha20-Poly1305 (a
//! random nonce per value, the secret's name as associated data, so a
//! sealed value cannot be moved to another name), the check that refuses
//! to start with the wrong master key, and rotating the master key.
//!
//! The store only ever holds sealed values ([`paddock_store::SealedSecret`]):
//! a database dump, or a PostgreSQL server, holds no usable key without the
//! master key, which lives outside the database (a file with mode 0600, or
//! an environment variable the admin sets).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use chacha20poly1305::aead::rand_core::RngCore as _;
use chacha20poly1305::aead::{Aead, KeyInit, OsRng, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use paddock_store::{SealedSecret, Store, StoreError};
use sha2::{Digest, Sha256};
use std::fmt;
use std::path::{Path, PathBuf};

/// The environment variable holding the master key (base64 of 32 bytes).
pub const MASTER_KEY_ENV: &str = "PADDOCK_MASTER_KEY";
/// The environment variable naming a file that holds the master key.
pub const MASTER_KEY_FILE_ENV: &str = "PADDOCK_MASTER_KEY_FILE";
/// The master key's file in the data dir, used when neither is set.
pub const MASTER_KEY_FILE_NAME: &str = "master.key";
/// The secret whose value proves the master key is the one that sealed
/// the database's secrets.
pub const KEY_CHECK: &str = "paddock:key-check";
const KEY_CHECK_TEXT: &str = "paddock master key check v1";
/// Bytes of a master key.
pub const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 24;

/// Where the master key came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeySource {
    /// `$PADDOCK_MASTER_KEY`.
    Env,
    /// A file the admin named (`--master-key-file` or
    /// `$PADDOCK_MASTER_KEY_FILE`).
    File(PathBuf),
    /// `<data-dir>/master.key`; `created` when this start created it.
    DataDir {
        /// The file.
        path: PathBuf,
        /// Whether it was created now.
        created: bool,
    },
}

impl fmt::Display for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeySource::Env => write!(f, "${MASTER_KEY_ENV}"),
            KeySource::File(p) => write!(
                f,
                "the file {} (--master-key-file or ${MASTER_KEY_FILE_ENV})",
                p.display()
            ),
            KeySource::DataDir { path, .. } => {
                write!(f, "{} (the data dir's master key file)", path.display())
            }
        }
    }
}

/// What can go wrong with secrets.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The master key given is not 32 bytes of base64.
    #[error(
        "the master key from {from} is not usable: {reason} (expected the base64 of {KEY_LEN} random bytes, e.g. from `head -c 32 /dev/urandom | base64`)"
    )]
    BadKey {
        /// Where it came from.
        from: KeySource,
        /// What is wrong.
        reason: String,
    },
    /// The master key file cannot be read or written.
    #[error("master key file {path}: {error}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        error: std::io::Error,
    },
    /// The master key is not the one that sealed the stored secrets.
    #[error(
        "the master key from {from} (id {key_id}) is not the one that sealed this database's secrets (sealed with key id {stored_id}). Start Paddock with the master key it used before: set {MASTER_KEY_ENV}, pass --master-key-file (or {MASTER_KEY_FILE_ENV}), or restore <data-dir>/{MASTER_KEY_FILE_NAME}. If that key is lost, the stored provider keys are lost with it: delete the rows of the `secrets` table and enter the keys again."
    )]
    WrongKey {
        /// Where the key in use came from.
        from: KeySource,
        /// Its id.
        key_id: String,
        /// The id of the key that sealed the stored secrets.
        stored_id: String,
    },
    /// A sealed value does not open: another key sealed it, or it (or its
    /// name) was altered.
    #[error("secret `{name}` cannot be opened: it was sealed with another master key, or altered")]
    Open {
        /// The secret.
        name: String,
    },
    /// A stored value is not even well-formed.
    #[error("secret `{name}` is malformed: {reason}")]
    Malformed {
        /// The secret.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// The store failed.
    #[error("the store failed: {0}")]
    Store(#[from] StoreError),
}

/// The 32-byte master key every secret is sealed with. Never printed.
#[derive(Clone)]
pub struct MasterKey([u8; KEY_LEN]);

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MasterKey(id {})", self.id())
    }
}

impl Drop for MasterKey {
    fn drop(&mut self) {
        self.0 = [0; KEY_LEN];
        // Keep the wipe from being optimised away.
        std::hint::black_box(&self.0);
    }
}

impl MasterKey {
    /// A new random key (from the operating system's generator).
    pub fn generate() -> MasterKey {
        let mut key = [0u8; KEY_LEN];
        OsRng.fill_bytes(&mut key);
        MasterKey(key)
    }

    /// The key encoded in `text` (base64 of 32 bytes, surrounding
    /// whitespace ignored); the error says what is wrong, never the text.
    pub fn from_base64(text: &str) -> Result<MasterKey, String> {
        let bytes = B64
            .decode(text.trim())
            .map_err(|e| format!("not base64 ({e})"))?;
        let key: [u8; KEY_LEN] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| format!("{} bytes instead of {KEY_LEN}", bytes.len()))?;
        Ok(MasterKey(key))
    }

    /// The key as base64 (what the key file holds).
    pub fn to_base64(&self) -> String {
        B64.encode(self.0)
    }

    /// A short fingerprint naming the key (stored beside each sealed
    /// value; it reveals nothing of the key).
    pub fn id(&self) -> String {
        let mut h = Sha256::new();
        h.update(b"paddock master key id\0");
        h.update(self.0);
        hex::encode(&h.finalize()[..8])
    }

    /// The master key: `$PADDOCK_MASTER_KEY`, else the file `file` (the
    /// `--master-key-file` flag) or `$PADDOCK_MASTER_KEY_FILE`, else
    /// `<data_dir>/master.key`, created (mode 0600) when missing.
    pub fn load(
        file: Option<&Path>,
        data_dir: &Path,
    ) -> Result<(MasterKey, KeySource), SecretError> {
        if let Some(text) = std::env::var_os(MASTER_KEY_ENV) {
            let source = KeySource::Env;
            let text = text.into_string().map_err(|_| SecretError::BadKey {
                from: source.clone(),
                reason: "not valid UTF-8".into(),
            })?;
            let key = MasterKey::from_base64(&text).map_err(|reason| SecretError::BadKey {
                from: source.clone(),
                reason,
            })?;
            return Ok((key, source));
        }
        let named = file
            .map(Path::to_path_buf)
            .or_else(|| std::env::var_os(MASTER_KEY_FILE_ENV).map(PathBuf::from));
        if let Some(path) = named {
            let key = read_key_file(&path, KeySource::File(path.clone()))?;
            return Ok((key, KeySource::File(path)));
        }
        let path = data_dir.join(MASTER_KEY_FILE_NAME);
        match std::fs::symlink_metadata(&path) {
            Ok(_) => {
                let source = KeySource::DataDir {
                    path: path.clone(),
                    created: false,
                };
                let key = read_key_file(&path, source.clone())?;
                Ok((key, source))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = MasterKey::generate();
                create_key_file(&path, &key)?;
                Ok((
                    key,
                    KeySource::DataDir {
                        path,
                        created: true,
                    },
                ))
            }
            Err(error) => Err(SecretError::Io { path, error }),
        }
    }

    /// Writes the key to a new file `path` (refused if it exists),
    /// created with mode 0600.
    pub fn create_file(&self, path: &Path) -> Result<(), SecretError> {
        create_key_file(path, self)
    }

    /// Writes the key to `path`, replacing what is there atomically: a new
    /// file created with mode 0600 beside it, then renamed over it.
    pub fn replace_file(&self, path: &Path) -> Result<(), SecretError> {
        let io = |error| SecretError::Io {
            path: path.to_path_buf(),
            error,
        };
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| MASTER_KEY_FILE_NAME.to_string());
        let tmp = dir.join(format!(".{name}.{:016x}.tmp", rand::random::<u64>()));
        create_key_file(&tmp, self)?;
        std::fs::rename(&tmp, path).map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            io(e)
        })?;
        // The rename is durable once the directory is synced.
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }

    /// `value` sealed under this key as the secret `name`.
    pub fn seal(&self, name: &str, value: &str) -> SealedSecret {
        let cipher = XChaCha20Poly1305::new(chacha20poly1305::Key::from_slice(&self.0));
        let mut nonce = [0u8; NONCE_LEN];
        OsRng.fill_bytes(&mut nonce);
        // Encryption with a valid key and nonce cannot fail (only a
        // message beyond 256 GiB could); an empty ciphertext then fails to
        // open later, loudly, rather than storing anything in clear.
        let ciphertext = cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: value.as_bytes(),
                    aad: name.as_bytes(),
                },
            )
            .unwrap_or_default();
        SealedSecret {
            name: name.to_string(),
            nonce: B64.encode(nonce),
            ciphertext: B64.encode(ciphertext),
            key_id: self.id(),
            updated_at: chrono::Utc::now(),
        }
    }

    /// The value of a sealed secret: fails when another key sealed it, or
    /// when its name, nonce or ciphertext was altered.
    pub fn open(&self, sealed: &SealedSecret) -> Result<String, SecretError> {
        let malformed = |reason: String| SecretError::Malformed {
            name: sealed.name.clone(),
            reason,
        };
        let nonce = B64
            .decode(&sealed.nonce)
            .map_err(|e| malformed(format!("nonce: {e}")))?;
        if nonce.len() != NONCE_LEN {
            return Err(malformed(format!(
                "nonce: {} bytes instead of {NONCE_LEN}",
                nonce.len()
            )));
        }
        let ciphertext = B64
            .decode(&sealed.ciphertext)
            .map_err(|e| malformed(format!("ciphertext: {e}")))?;
        let cipher = XChaCha20Poly1305::new(chacha20poly1305::Key::from_slice(&self.0));
        let plain = cipher
            .decrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: &ciphertext,
                    aad: sealed.name.as_bytes(),
                },
            )
            .map_err(|_| SecretError::Open {
                name: sealed.name.clone(),
            })?;
        String::from_utf8(plain).map_err(|_| malformed("not UTF-8 once opened".into()))
    }
}

fn read_key_file(path: &Path, source: KeySource) -> Result<MasterKey, SecretError> {
    let text = std::fs::read_to_string(path).map_err(|error| SecretError::Io {
        path: path.to_path_buf(),
        error,
    })?;
    #[cfg(unix)]
    if let Ok(meta) = std::fs::metadata(path) {
        use std::os::unix::fs::PermissionsExt as _;
        if meta.permissions().mode() & 0o077 != 0 {
            tracing::warn!(
                file = %path.display(),
                "the master key file is readable by other users; make it private (chmod 600)"
            );
        }
    }
    MasterKey::from_base64(&text).map_err(|reason| SecretError::BadKey {
        from: source,
        reason,
    })
}

/// Creates `path` (which must not exist) with mode 0600 from the start and
/// writes the key to it.
fn create_key_file(path: &Path, key: &MasterKey) -> Result<(), SecretError> {
    use std::io::Write as _;
    let io = |error| SecretError::Io {
        path: path.to_path_buf(),
        error,
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(io)?;
    file.write_all(format!("{}\n", key.to_base64()).as_bytes())
        .map_err(io)?;
    file.sync_all().map_err(io)
}

/// The secrets of one store, opened with the master key.
#[derive(Clone, Debug)]
pub struct Vault {
    store: Store,
    key: std::sync::Arc<MasterKey>,
    source: KeySource,
}

impl Vault {
    /// The vault of `store` under `key`, after checking that `key` is the
    /// one that sealed its secrets ([`SecretError::WrongKey`] otherwise). A
    /// store with no secrets takes any key, and records the check.
    pub async fn open(
        store: Store,
        key: MasterKey,
        source: KeySource,
    ) -> Result<Vault, SecretError> {
        let wrong = |stored_id: String| SecretError::WrongKey {
            from: source.clone(),
            key_id: key.id(),
            stored_id,
        };
        match store.get_secret(KEY_CHECK).await? {
            Some(check) => {
                if key.open(&check).ok().as_deref() != Some(KEY_CHECK_TEXT) {
                    return Err(wrong(check.key_id));
                }
            }
            None => {
                // A store from before the check, or a fresh one: any
                // existing secret must open.
                if let Some(first) = store.list_secrets().await?.into_iter().next()
                    && key.open(&first).is_err()
                {
                    return Err(wrong(first.key_id));
                }
                store
                    .put_secret(&key.seal(KEY_CHECK, KEY_CHECK_TEXT))
                    .await?;
            }
        }
        Ok(Vault {
            store,
            key: std::sync::Arc::new(key),
            source,
        })
    }

    /// Where the master key came from.
    pub fn source(&self) -> &KeySource {
        &self.source
    }

    /// `value` sealed as the secret `name` (not stored yet).
    pub fn seal(&self, name: &str, value: &str) -> SealedSecret {
        self.key.seal(name, value)
    }

    /// The value of a secret already read from the store.
    pub fn open_sealed(&self, sealed: &SealedSecret) -> Result<String, SecretError> {
        self.key.open(sealed)
    }

    /// The value of the stored secret `name`, if any.
    pub async fn get(&self, name: &str) -> Result<Option<String>, SecretError> {
        match self.store.get_secret(name).await? {
            Some(sealed) => self.key.open(&sealed).map(Some),
            None => Ok(None),
        }
    }
}

/// Reseals every secret of `store` from `old` to `new` in one transaction
/// (nothing changes if one of them does not open with `old`). Returns how
/// many secrets were resealed (the key check included).
pub async fn rotate(store: &Store, old: &MasterKey, new: &MasterKey) -> Result<usize, SecretError> {
    let mut failure = None;
    let done = store
        .reseal_secrets(|sealed| match old.open(&sealed) {
            Ok(value) => Ok(new.seal(&sealed.name, &value)),
            Err(e) => {
                let message = e.to_string();
                failure = Some(e);
                Err(message)
            }
        })
        .await;
    match (done, failure) {
        (Ok(n), _) => Ok(n),
        (Err(_), Some(e)) => Err(e),
        (Err(e), None) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_and_open_round_trip_with_a_fresh_nonce_each_time() {
        let key = MasterKey::generate();
        let a = key.seal("provider:p", "sk-test-value-1234");
        let b = key.seal("provider:p", "sk-test-value-1234");
        assert_ne!(a.nonce, b.nonce);
        assert_ne!(a.ciphertext, b.ciphertext);
        assert!(!a.ciphertext.contains("sk-test"));
        assert_eq!(key.open(&a).unwrap(), "sk-test-value-1234");
        assert_eq!(a.key_id, key.id());
    }

    #[test]
    fn a_wrong_key_does_not_open() {
        let sealed = MasterKey::generate().seal("n", "value");
        let Err(SecretError::Open { name }) = MasterKey::generate().open(&sealed) else {
            panic!("opened with another key");
        };
        assert_eq!(name, "n");
    }

    #[test]
    fn tampering_is_detected() {
        let key = MasterKey::generate();
        let sealed = key.seal("n", "value");
        let mut bytes = B64.decode(&sealed.ciphertext).unwrap();
        bytes[0] ^= 1;
        let flipped = SealedSecret {
            ciphertext: B64.encode(&bytes),
            ..sealed.clone()
        };
        assert!(matches!(key.open(&flipped), Err(SecretError::Open { .. })));
        let mut nonce = B64.decode(&sealed.nonce).unwrap();
        nonce[3] ^= 0x80;
        let renonced = SealedSecret {
            nonce: B64.encode(&nonce),
            ..sealed.clone()
        };
        assert!(matches!(key.open(&renonced), Err(SecretError::Open { .. })));
        let short = SealedSecret {
            nonce: B64.encode([0u8; 12]),
            ..sealed
        };
        assert!(matches!(
            key.open(&short),
            Err(SecretError::Malformed { .. })
        ));
    }

    #[test]
    fn the_name_is_bound_to_the_value() {
        let key = MasterKey::generate();
        let sealed = key.seal("provider:a", "value");
        let moved = SealedSecret {
            name: "provider:b".into(),
            ..sealed
        };
        assert!(matches!(key.open(&moved), Err(SecretError::Open { .. })));
    }

    #[test]
    fn keys_parse_from_base64_and_never_print() {
        let key = MasterKey::generate();
        let text = key.to_base64();
        let back = MasterKey::from_base64(&format!("  {text}\n")).unwrap();
        assert_eq!(back.id(), key.id());
        assert!(!format!("{key:?}").contains(&text));
        assert!(
            MasterKey::from_base64("c2hvcnQ=")
                .unwrap_err()
                .contains("5 bytes")
        );
        assert!(MasterKey::from_base64("not base64!").is_err());
    }

    #[test]
    fn the_data_dir_key_is_created_private_once() {
        let dir = tempfile::tempdir().unwrap();
        let (key, source) = MasterKey::load(None, dir.path()).unwrap();
        let path = dir.path().join(MASTER_KEY_FILE_NAME);
        assert_eq!(
            source,
            KeySource::DataDir {
                path: path.clone(),
                created: true
            }
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let (again, source) = MasterKey::load(None, dir.path()).unwrap();
        assert_eq!(again.id(), key.id());
        assert!(matches!(source, KeySource::DataDir { created: false, .. }));
        // An explicit file wins over the data dir's.
        let other = dir.path().join("other.key");
        let new = MasterKey::generate();
        new.replace_file(&other).unwrap();
        let (from_file, source) = MasterKey::load(Some(&other), dir.path()).unwrap();
        assert_eq!(from_file.id(), new.id());
        assert_eq!(source, KeySource::File(other.clone()));
        // Replacing keeps the mode.
        MasterKey::generate().replace_file(&path).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(&other, "bm90IGEga2V5").unwrap();
        let Err(SecretError::BadKey { from, reason }) = MasterKey::load(Some(&other), dir.path())
        else {
            panic!("a bad key file loaded");
        };
        assert_eq!(from, KeySource::File(other));
        assert!(reason.contains("bytes instead of 32"), "{reason}");
    }

    #[tokio::test]
    async fn the_vault_refuses_a_wrong_key_and_rotation_keeps_values() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_sqlite(&dir.path().join("db.sqlite"))
            .await
            .unwrap();
        let key = MasterKey::generate();
        let kept = MasterKey::from_base64(&key.to_base64()).unwrap();
        // A fresh store takes any key and records the check.
        let vault = Vault::open(store.clone(), key, KeySource::Env)
            .await
            .unwrap();
        store
            .put_secret(&vault.seal("s", "the value"))
            .await
            .unwrap();
        assert_eq!(vault.get("s").await.unwrap().as_deref(), Some("the value"));
        let Err(e) = Vault::open(store.clone(), MasterKey::generate(), KeySource::Env).await else {
            panic!("opened with the wrong key");
        };
        let text = e.to_string();
        assert!(
            text.contains("$PADDOCK_MASTER_KEY") && text.contains("not the one"),
            "{text}"
        );
        // Rotation: the old key no longer opens, the new one does.
        let new = MasterKey::generate();
        assert_eq!(rotate(&store, &kept, &new).await.unwrap(), 2);
        assert!(
            Vault::open(store.clone(), kept.clone(), KeySource::Env)
                .await
                .is_err()
        );
        let vault = Vault::open(store.clone(), new.clone(), KeySource::Env)
            .await
            .unwrap();
        assert_eq!(vault.get("s").await.unwrap().as_deref(), Some("the value"));
        // Rotating with a key that does not open changes nothing.
        let Err(SecretError::Open { .. }) = rotate(&store, &kept, &MasterKey::generate()).await
        else {
            panic!("rotated with the wrong old key");
        };
        assert_eq!(vault.get("s").await.unwrap().as_deref(), Some("the value"));
    }
}
