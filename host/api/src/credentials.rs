//! Secrets users hold: password hashes (argon2id, PHC strings) and
//! personal access tokens (`pdk_` and 40 base62 characters, of which the
//! store keeps the SHA-256 and the first characters, to recognise it in
//! lists).

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use rand::Rng;
use sha2::{Digest, Sha256};

/// What every personal access token starts with (so secret scanners and
/// people recognise one).
pub const TOKEN_PREFIX: &str = "pdk_";

/// How many of a token's first characters are kept to recognise it.
pub const SHOWN_PREFIX: usize = 12;

/// The shortest password a local account may have.
pub const MIN_PASSWORD: usize = 12;

/// Why a password could not be hashed.
#[derive(Debug, thiserror::Error)]
#[error("cannot hash the password: {0}")]
pub struct HashError(String);

/// The argon2id hash of `password`, as a PHC string with a random salt.
pub fn hash_password(password: &str) -> Result<String, HashError> {
    let salt_bytes: [u8; 16] = rand::rng().random();
    let salt = SaltString::encode_b64(&salt_bytes).map_err(|e| HashError(e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| HashError(e.to_string()))
}

/// Whether `password` matches the PHC string `hash` (false for a hash that
/// does not parse).
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

/// Whether `password` matches `hash`, computed off the async threads
/// (argon2id takes tens of milliseconds on purpose).
pub async fn verify_off_thread(password: String, hash: String) -> bool {
    tokio::task::spawn_blocking(move || verify_password(&password, &hash))
        .await
        .unwrap_or(false)
}

/// A new personal access token: the secret (shown once) and what is kept.
#[derive(Clone, Debug)]
pub struct MintedToken {
    /// The whole token, for the user.
    pub secret: String,
    /// Its SHA-256, hex: what the store keeps and looks up.
    pub hash: String,
    /// Its first [`SHOWN_PREFIX`] characters.
    pub prefix: String,
}

/// Makes a new personal access token.
pub fn mint_token() -> MintedToken {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut rng = rand::rng();
    let body: String = (0..40)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect();
    let secret = format!("{TOKEN_PREFIX}{body}");
    MintedToken {
        hash: token_hash(&secret),
        prefix: secret.chars().take(SHOWN_PREFIX).collect(),
        secret,
    }
}

/// The SHA-256 of a presented token, hex (what the store is searched by).
pub fn token_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_with_argon2id_and_verify() {
        let h = hash_password("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(verify_password("correct horse battery", &h));
        assert!(!verify_password("correct horse batterz", &h));
        assert!(!verify_password("x", "not a hash"));
        assert_ne!(h, hash_password("correct horse battery").unwrap(), "salted");
    }

    #[test]
    fn tokens_are_random_and_kept_as_their_hash() {
        let a = mint_token();
        let b = mint_token();
        assert_ne!(a.secret, b.secret);
        assert!(a.secret.starts_with(TOKEN_PREFIX) && a.secret.len() == 44);
        assert_eq!(a.hash, token_hash(&a.secret));
        assert!(a.secret.starts_with(&a.prefix) && a.prefix.len() == SHOWN_PREFIX);
        assert!(!a.hash.contains(&a.secret[4..]));
    }
}
