//! Push secrets at rest: only their SHA-256 is ever stored, and checks run in constant time.
//!
//! Push secrets are long random tokens (`sp_` + 32 random bytes when generated), so a single
//! unsalted SHA-256 is the right tool — as for API keys — and a password hash (argon2) is not:
//! it would cost milliseconds on every push. Plain-text secrets never leave this module's callers'
//! stack frames and are never logged.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// A new random token: `prefix`, `_`, and 256 random bits in hex (push secrets `sp_`, session
/// tokens `st_`, refresh tokens `rt_`).
pub fn new_token(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the OS random source is available");
    format!("{prefix}_{}", hex::encode(bytes))
}

/// SHA-256 of a push secret.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretHash([u8; 32]);

impl SecretHash {
    pub fn of(secret: &str) -> SecretHash {
        SecretHash(Sha256::digest(secret.as_bytes()).into())
    }

    /// Whether `secret` hashes to this value, compared in constant time.
    pub fn matches(&self, secret: &str) -> bool {
        self.0.ct_eq(&SecretHash::of(secret).0).into()
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    fn from_hex(hex: &str) -> Option<SecretHash> {
        if hex.len() != 64 || !hex.is_ascii() {
            return None;
        }
        let mut bytes = [0u8; 32];
        for (idx, byte) in bytes.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&hex[idx * 2..idx * 2 + 2], 16).ok()?;
        }
        Some(SecretHash(bytes))
    }
}

impl std::fmt::Debug for SecretHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Even a hash is not worth printing in full; a prefix is enough to tell two apart.
        write!(f, "SecretHash({}…)", &self.to_hex()[..8])
    }
}

impl Serialize for SecretHash {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for SecretHash {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let hex = String::deserialize(deserializer)?;
        SecretHash::from_hex(&hex).ok_or_else(|| serde::de::Error::custom("expected 64 hex digits"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_only_the_same_secret() {
        let hash = SecretHash::of("sp_correct");
        assert!(hash.matches("sp_correct"));
        assert!(!hash.matches("sp_correcT"));
        assert!(!hash.matches(""));
    }

    #[test]
    fn round_trips_through_json_as_hex() {
        let hash = SecretHash::of("sp_x");
        let json = serde_json::to_string(&hash).unwrap();
        assert_eq!(json.len(), 66, "64 hex digits in quotes: {json}");
        assert!(!json.contains("sp_x"));
        let back: SecretHash = serde_json::from_str(&json).unwrap();
        assert_eq!(back, hash);
        assert!(serde_json::from_str::<SecretHash>("\"zz\"").is_err());
    }
}
