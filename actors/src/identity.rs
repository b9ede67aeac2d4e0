//! Who a visitor is, as the site tells the widget: `HelpYap.identify({userId, email, name},
//! userHash)`.
//!
//! Owns the visitor's identity as a conversation carries it, the project's identity secret, and
//! the one check of a `userHash`: HMAC-SHA256(secret, userId) in hex, computed by the site's
//! server, compared in constant time. With a secret set, an identity must carry its hash (or it
//! is refused) and a verified one follows the visitor across browsers; without one, identities
//! are kept as told and shown as unverified, and never followed. It stores nothing and never
//! logs an identity.

use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// The longest `userId`, `name` and `email` kept.
pub const USER_ID_MAX_CHARS: usize = 200;
pub const NAME_MAX_CHARS: usize = 200;
pub const EMAIL_MAX_CHARS: usize = 254;
/// How many other browsers one conversation follows its verified visitor to: each gets a
/// token of its own; past this the oldest stops working.
pub const DEVICE_TOKENS_MAX: usize = 8;

/// A visitor as the site named them, on the conversation they had.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VisitorIdentity {
    pub user_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Whether a `userHash` made with the project's identity secret vouched for `user_id`.
    pub verified: bool,
}

impl VisitorIdentity {
    /// Who a conversation's visitor is once `claim` names them: the claim, when the
    /// conversation is nobody's or theirs already (a verified identity is never downgraded by
    /// an unverified claim of the same user); `None` when it is another user's.
    pub fn claimed(
        current: Option<&VisitorIdentity>,
        claim: &VisitorIdentity,
    ) -> Option<VisitorIdentity> {
        match current {
            None => Some(claim.clone()),
            Some(current) if current.user_id != claim.user_id => None,
            Some(current) if current.verified && !claim.verified => Some(current.clone()),
            Some(_) => Some(claim.clone()),
        }
    }
}

/// What a page sends about its signed-in visitor, before it is checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IdentityClaim {
    pub user_id: String,
    pub email: Option<String>,
    pub name: Option<String>,
    pub user_hash: Option<String>,
}

/// A project's identity secret: kept as it is (checking a hash needs it), never shown back
/// whole after it is made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IdentitySecret {
    pub secret: String,
    pub created_at_ms: u64,
}

impl IdentitySecret {
    /// A new random secret (`iv_` and 256 bits in hex).
    pub fn generate(now_ms: u64) -> IdentitySecret {
        IdentitySecret {
            secret: crate::secret::new_token("iv"),
            created_at_ms: now_ms,
        }
    }

    /// The secret's last four characters, to tell which one is set.
    pub fn ending(&self) -> String {
        let chars: Vec<char> = self.secret.chars().collect();
        chars[chars.len().saturating_sub(4)..].iter().collect()
    }

    /// `user_hash` as the site's server computes it for `user_id`.
    pub fn hash_of(&self, user_id: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(self.secret.as_bytes())
            .expect("HMAC takes a key of any length");
        mac.update(user_id.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// Whether `user_hash` (hex, either case) is this secret's hash of `user_id`, compared in
    /// constant time.
    pub fn vouches_for(&self, user_id: &str, user_hash: &str) -> bool {
        let expected = self.hash_of(user_id);
        let given = user_hash.trim().to_ascii_lowercase();
        expected.as_bytes().ct_eq(given.as_bytes()).into()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    #[error("{0}")]
    Invalid(&'static str),
    #[error("userHash is required: this project verifies identities")]
    MissingHash,
    #[error("userHash does not match userId")]
    WrongHash,
}

impl crate::error::Failure for IdentityError {
    fn kind(&self) -> crate::error::ErrorKind {
        match self {
            IdentityError::Invalid(_) => crate::error::ErrorKind::Invalid,
            IdentityError::MissingHash | IdentityError::WrongHash => {
                crate::error::ErrorKind::Unauthorized
            }
        }
    }
}

impl IdentityClaim {
    /// The identity this claim makes under the project's `secret`: verified when the secret
    /// vouches for it, refused when it does not (or carries no hash), unverified when the
    /// project has no secret. Fields are checked first (400).
    pub fn check(self, secret: Option<&IdentitySecret>) -> Result<VisitorIdentity, IdentityError> {
        // Hashed exactly as sent: the site's server signed these bytes.
        let user_id = self.user_id;
        if user_id.is_empty() || user_id.chars().count() > USER_ID_MAX_CHARS {
            return Err(IdentityError::Invalid("userId must be 1 to 200 characters"));
        }
        if user_id.chars().any(char::is_control) {
            return Err(IdentityError::Invalid(
                "userId must not contain control characters",
            ));
        }
        let email = optional(
            self.email,
            EMAIL_MAX_CHARS,
            "email must be at most 254 characters",
        )?;
        if email
            .as_deref()
            .is_some_and(|email| !crate::lead::is_plain_address(email))
        {
            return Err(IdentityError::Invalid("email must be an email address"));
        }
        let name = optional(
            self.name,
            NAME_MAX_CHARS,
            "name must be at most 200 characters",
        )?;
        let verified = match secret {
            None => false,
            Some(secret) => {
                let hash = self.user_hash.ok_or(IdentityError::MissingHash)?;
                if !secret.vouches_for(&user_id, &hash) {
                    return Err(IdentityError::WrongHash);
                }
                true
            }
        };
        Ok(VisitorIdentity {
            user_id,
            email,
            name,
            verified,
        })
    }
}

/// A trimmed optional field: empty is none, control characters and overlong are refused.
fn optional(
    value: Option<String>,
    max: usize,
    too_long: &'static str,
) -> Result<Option<String>, IdentityError> {
    let Some(value) = value.map(|value| value.trim().to_owned()) else {
        return Ok(None);
    };
    if value.is_empty() {
        return Ok(None);
    }
    if value.chars().count() > max {
        return Err(IdentityError::Invalid(too_long));
    }
    if value.chars().any(char::is_control) {
        return Err(IdentityError::Invalid(
            "email and name must not contain control characters",
        ));
    }
    Ok(Some(value))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn secret() -> IdentitySecret {
        IdentitySecret {
            secret: "iv_test_secret".into(),
            created_at_ms: 0,
        }
    }

    fn claim(user_hash: Option<&str>) -> IdentityClaim {
        IdentityClaim {
            user_id: "user-42".into(),
            email: Some(" ana@example.com ".into()),
            name: Some("Ana".into()),
            user_hash: user_hash.map(str::to_owned),
        }
    }

    #[test]
    fn the_hash_is_hmac_sha256_of_the_user_id_in_hex() {
        // What a site's server gets from `openssl dgst -sha256 -hmac SECRET`.
        let computed = secret().hash_of("user-42");
        assert_eq!(computed.len(), 64);
        let openssl = std::process::Command::new("openssl")
            .args(["dgst", "-sha256", "-hmac", "iv_test_secret", "-r"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                use std::io::Write;
                child.stdin.take().unwrap().write_all(b"user-42")?;
                child.wait_with_output()
            });
        let openssl = openssl.expect("openssl runs");
        let openssl = String::from_utf8(openssl.stdout).unwrap();
        assert_eq!(openssl.split_whitespace().next(), Some(computed.as_str()));
    }

    #[test]
    fn a_matching_hash_verifies_and_a_wrong_or_missing_one_is_refused() {
        let secret = secret();
        let good = secret.hash_of("user-42");
        let identity = claim(Some(&good)).check(Some(&secret)).unwrap();
        assert!(identity.verified);
        assert_eq!(identity.email.as_deref(), Some("ana@example.com"));
        let upper = good.to_ascii_uppercase();
        assert!(claim(Some(&upper)).check(Some(&secret)).unwrap().verified);
        let other = secret.hash_of("user-43");
        assert_eq!(
            claim(Some(&other)).check(Some(&secret)),
            Err(IdentityError::WrongHash)
        );
        assert_eq!(
            claim(Some("zz")).check(Some(&secret)),
            Err(IdentityError::WrongHash)
        );
        assert_eq!(
            claim(None).check(Some(&secret)),
            Err(IdentityError::MissingHash)
        );
    }

    #[test]
    fn without_a_secret_identities_are_kept_unverified_whatever_the_hash() {
        let identity = claim(Some("anything")).check(None).unwrap();
        assert!(!identity.verified);
        assert_eq!(identity.user_id, "user-42");
    }

    #[test]
    fn bad_fields_are_refused_before_the_hash_is_looked_at() {
        let secret = secret();
        let mut empty = claim(None);
        empty.user_id = String::new();
        assert!(matches!(
            empty.check(Some(&secret)),
            Err(IdentityError::Invalid(_))
        ));
        // Not trimmed: the site's server signed exactly what it sent.
        let mut padded = claim(None);
        padded.user_id = " user-42".into();
        padded.user_hash = Some(secret.hash_of(" user-42"));
        assert_eq!(padded.check(Some(&secret)).unwrap().user_id, " user-42");
        let mut long = claim(None);
        long.user_id = "x".repeat(201);
        assert!(matches!(long.check(None), Err(IdentityError::Invalid(_))));
        let mut control = claim(None);
        control.user_id = "a\u{0}b".into();
        assert!(matches!(
            control.check(None),
            Err(IdentityError::Invalid(_))
        ));
        let mut email = claim(None);
        email.email = Some("not an email".into());
        assert!(matches!(email.check(None), Err(IdentityError::Invalid(_))));
        let mut blank = claim(None);
        blank.email = Some(" ".into());
        blank.name = Some(String::new());
        let identity = blank.check(None).unwrap();
        assert_eq!((identity.email, identity.name), (None, None));
    }

    /// Ana, a signed-in visitor, verified or not.
    pub(crate) fn ana(verified: bool) -> VisitorIdentity {
        VisitorIdentity {
            user_id: "user-42".into(),
            email: None,
            name: Some("Ana".into()),
            verified,
        }
    }

    #[test]
    fn a_conversation_is_claimed_only_by_its_own_visitor() {
        let ben = VisitorIdentity {
            user_id: "user-7".into(),
            ..ana(true)
        };
        let claimed = VisitorIdentity::claimed;
        assert_eq!(claimed(None, &ana(false)), Some(ana(false)), "a guest's");
        assert_eq!(claimed(Some(&ana(false)), &ana(true)), Some(ana(true)));
        assert_eq!(
            claimed(Some(&ana(true)), &ana(false)),
            Some(ana(true)),
            "kept verified"
        );
        assert_eq!(claimed(Some(&ana(true)), &ben), None, "another's");
        let unverified_ben = VisitorIdentity {
            verified: false,
            ..ben
        };
        assert_eq!(
            claimed(Some(&ana(false)), &unverified_ben),
            None,
            "unverified too"
        );
    }

    #[test]
    fn generated_secrets_are_random_and_show_only_their_ending() {
        let first = IdentitySecret::generate(1);
        assert!(first.secret.starts_with("iv_"));
        assert_ne!(first.secret, IdentitySecret::generate(1).secret);
        assert_eq!(first.ending(), first.secret[first.secret.len() - 4..]);
    }
}
