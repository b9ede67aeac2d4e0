//! Admin access tokens: HS256 JWTs, algorithm pinned, `exp`/`iat`/`sub` required, 5 s leeway;
//! and the per-account failed-login lockout.
//!
//! Refresh tokens and passwords are the engine's (`helpyap_actors::accounts`); this module only
//! signs and checks the short-lived access token that admin requests carry as
//! `Authorization: Bearer …`.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use dashmap::DashMap;
use hyper::HeaderMap;
use hyper::header::AUTHORIZATION;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::config::AuthConfig;
use crate::error::ApiError;

const LEEWAY_SECONDS: u64 = 5;
const MIN_SECRET_CHARS: usize = 32;
/// Accounts with recent failed logins tracked at once before stale ones are dropped.
const MAX_TRACKED_ACCOUNTS: usize = 10_000;

#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    /// The user's id.
    pub sub: String,
    pub iat: u64,
    pub exp: u64,
}

pub struct Auth {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    pub access_ttl: Duration,
    max_failed_logins: u32,
    lockout_window: Duration,
    /// Failed logins per (normalized) email: count and when the window opened.
    failures: DashMap<String, (u32, Instant)>,
}

impl Auth {
    /// The secret comes from `config.jwt_secret_env`, or is random for this process.
    pub fn new(config: &AuthConfig) -> anyhow::Result<Auth> {
        let secret = match std::env::var(&config.jwt_secret_env) {
            Ok(secret) if secret.chars().count() >= MIN_SECRET_CHARS => secret.into_bytes(),
            Ok(_) => anyhow::bail!(
                "{} must hold at least {MIN_SECRET_CHARS} characters",
                config.jwt_secret_env
            ),
            Err(_) => {
                tracing::warn!(var = %config.jwt_secret_env, "JWT secret unset: using a random one; admin access tokens end at restart");
                let mut bytes = vec![0u8; 32];
                getrandom::fill(&mut bytes)
                    .map_err(|e| anyhow::anyhow!("no OS randomness: {e}"))?;
                bytes
            }
        };
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = LEEWAY_SECONDS;
        validation.set_required_spec_claims(&["exp", "iat", "sub"]);
        Ok(Auth {
            encoding: EncodingKey::from_secret(&secret),
            decoding: DecodingKey::from_secret(&secret),
            validation,
            access_ttl: config.access_ttl,
            max_failed_logins: config.max_failed_logins,
            lockout_window: config.lockout_window,
            failures: DashMap::new(),
        })
    }

    pub fn issue(&self, user: Uuid) -> String {
        let now = unix_now();
        let claims = Claims {
            sub: user.to_string(),
            iat: now,
            exp: now + self.access_ttl.as_secs(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .expect("HS256 signing of plain claims cannot fail")
    }

    /// The user id in a valid `Authorization: Bearer` access token; 401 otherwise.
    pub fn verify(&self, headers: &HeaderMap) -> Result<Uuid, ApiError> {
        let unauthorized = |reason: &str| ApiError::Unauthorized(reason.to_owned());
        let token = headers
            .get(AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .ok_or_else(|| unauthorized("Missing access token"))?;
        let data = jsonwebtoken::decode::<Claims>(token.trim(), &self.decoding, &self.validation)
            .map_err(|_| unauthorized("Invalid or expired access token"))?;
        Uuid::parse_str(&data.claims.sub).map_err(|_| unauthorized("Invalid access token"))
    }

    /// 429 with the time left while `email` is locked out after too many failures.
    pub fn check_lockout(&self, email: &str) -> Result<(), ApiError> {
        if let Some(entry) = self.failures.get(email) {
            let (count, opened) = *entry;
            let elapsed = opened.elapsed();
            if count >= self.max_failed_logins && elapsed < self.lockout_window {
                return Err(ApiError::RateLimited {
                    retry_after: self.lockout_window - elapsed,
                });
            }
        }
        Ok(())
    }

    pub fn record_failure(&self, email: &str) {
        // Bounded: a spray of made-up emails cannot grow this without end.
        if self.failures.len() >= MAX_TRACKED_ACCOUNTS {
            let window = self.lockout_window;
            self.failures
                .retain(|_, (_, opened)| opened.elapsed() < window);
        }
        let mut entry = self
            .failures
            .entry(email.to_owned())
            .or_insert((0, Instant::now()));
        if entry.1.elapsed() >= self.lockout_window {
            *entry = (0, Instant::now());
        }
        entry.0 += 1;
    }

    pub fn clear_failures(&self, email: &str) {
        self.failures.remove(email);
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    fn auth() -> Auth {
        Auth::new(&AuthConfig {
            jwt_secret_env: "HELPYAP_TEST_SURELY_UNSET_JWT".into(),
            ..AuthConfig::default()
        })
        .unwrap()
    }

    fn bearer(token: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            AUTHORIZATION,
            HeaderValue::from_str(&format!("Bearer {token}")).unwrap(),
        );
        headers
    }

    fn sign(claims: &serde_json::Value, header: Header, secret: &[u8]) -> String {
        jsonwebtoken::encode(&header, claims, &EncodingKey::from_secret(secret)).unwrap()
    }

    #[test]
    fn a_token_it_issued_names_its_user() {
        let auth = auth();
        let user = Uuid::new_v4();
        assert_eq!(auth.verify(&bearer(&auth.issue(user))).unwrap(), user);
    }

    #[test]
    fn forged_expired_and_unsigned_tokens_are_refused() {
        let auth = auth();
        let user = Uuid::new_v4().to_string();
        let now = unix_now();
        let valid = serde_json::json!({ "sub": user, "iat": now, "exp": now + 60 });
        let forged = sign(
            &valid,
            Header::new(Algorithm::HS256),
            b"someone else's secret, long enough",
        );
        assert!(auth.verify(&bearer(&forged)).is_err());
        let expired = serde_json::json!({ "sub": user, "iat": now - 120, "exp": now - 60 });
        let expired =
            jsonwebtoken::encode(&Header::new(Algorithm::HS256), &expired, &auth.encoding).unwrap();
        assert!(auth.verify(&bearer(&expired)).is_err());
        let no_exp = serde_json::json!({ "sub": user, "iat": now });
        let no_exp =
            jsonwebtoken::encode(&Header::new(Algorithm::HS256), &no_exp, &auth.encoding).unwrap();
        assert!(auth.verify(&bearer(&no_exp)).is_err());
        // alg: none — a header and claims with an empty signature.
        use base64::Engine;
        let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        let none = format!(
            "{}.{}.",
            b64(br#"{"alg":"none","typ":"JWT"}"#),
            b64(valid.to_string().as_bytes())
        );
        assert!(auth.verify(&bearer(&none)).is_err());
        // Our own key under another algorithm: refused because the algorithm is pinned.
        let other_alg =
            jsonwebtoken::encode(&Header::new(Algorithm::HS512), &valid, &auth.encoding).unwrap();
        assert!(auth.verify(&bearer(&other_alg)).is_err());
        assert!(auth.verify(&HeaderMap::new()).is_err());
    }

    #[test]
    fn an_account_is_locked_after_too_many_failures() {
        let auth = auth();
        for _ in 0..AuthConfig::default().max_failed_logins {
            assert!(auth.check_lockout("ann@example.com").is_ok());
            auth.record_failure("ann@example.com");
        }
        assert!(auth.check_lockout("ann@example.com").is_err());
        assert!(auth.check_lockout("bob@example.com").is_ok(), "per account");
        auth.clear_failures("ann@example.com");
        assert!(auth.check_lockout("ann@example.com").is_ok());
    }
}
