//! Admin access tokens: HS256 JWTs, algorithm pinned, `exp`/`iat`/`sub`/`fam` required, 5 s
//! leeway; the one parser of `Authorization: Bearer …` headers; and the failed-login budgets.
//!
//! Refresh tokens and passwords are the engine's (`helpyap_actors::accounts`); this module only
//! signs and checks the short-lived access token that admin requests carry. An access token
//! names the refresh-token family (the sign-in) it was minted from, so that signing out can end
//! it before it expires: the caller checks the family against the engine's revoked families.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hyper::HeaderMap;
use hyper::header::AUTHORIZATION;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::config::AuthConfig;
use crate::error::ApiError;
use crate::login_attempts::LoginAttempts;

const LEEWAY_SECONDS: u64 = 5;
const MIN_SECRET_CHARS: usize = 32;

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    /// The user's id.
    sub: String,
    /// The refresh-token family (one sign-in) this token was minted from.
    fam: String,
    iat: u64,
    exp: u64,
}

/// Who a valid access token speaks for, and from which sign-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Access {
    pub user: Uuid,
    pub family: Uuid,
}

pub struct Auth {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    pub access_ttl: Duration,
    /// How often open live streams check their caller's access again.
    pub live_recheck: Duration,
    pub login_attempts: Arc<LoginAttempts>,
}

impl Auth {
    /// The secret comes from `config.jwt_secret_env`, or is `shared` by the cluster's nodes,
    /// or is random for this process.
    pub fn new(config: &AuthConfig, shared: Option<Vec<u8>>) -> anyhow::Result<Auth> {
        let secret = match (std::env::var(&config.jwt_secret_env), shared) {
            (Ok(secret), _) if secret.chars().count() >= MIN_SECRET_CHARS => secret.into_bytes(),
            (Ok(_), _) => anyhow::bail!(
                "{} must hold at least {MIN_SECRET_CHARS} characters",
                config.jwt_secret_env
            ),
            (Err(_), Some(shared)) => {
                tracing::info!(var = %config.jwt_secret_env, "JWT secret unset: admin tokens are signed with the cluster's key, kept in PostgreSQL");
                shared
            }
            (Err(_), None) => {
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
            live_recheck: config.live_recheck,
            login_attempts: LoginAttempts::new(
                config.max_failed_logins,
                config.max_failed_logins_per_ip,
                config.lockout_window,
            ),
        })
    }

    pub fn issue(&self, access: Access) -> String {
        let now = unix_now();
        let claims = Claims {
            sub: access.user.to_string(),
            fam: access.family.to_string(),
            iat: now,
            exp: now + self.access_ttl.as_secs(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .expect("HS256 signing of plain claims cannot fail")
    }

    /// The user and sign-in of a valid `Authorization: Bearer` access token; 401 otherwise.
    /// Whether that sign-in has ended is the caller's to check.
    pub fn verify(&self, headers: &HeaderMap) -> Result<Access, ApiError> {
        let unauthorized = |reason: &str| ApiError::unauthorized(reason.to_owned());
        let token = bearer_token(headers).ok_or_else(|| unauthorized("Missing access token"))?;
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|_| unauthorized("Invalid or expired access token"))?;
        let parse =
            |id: &str| Uuid::parse_str(id).map_err(|_| unauthorized("Invalid access token"));
        Ok(Access {
            user: parse(&data.claims.sub)?,
            family: parse(&data.claims.fam)?,
        })
    }
}

/// The token of an `Authorization: Bearer <token>` header, for every endpoint that takes one.
/// The scheme is case-insensitive (RFC 9110 §11.1); `None` when absent, of another scheme, or
/// empty.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
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
        Auth::new(
            &AuthConfig {
                jwt_secret_env: "HELPYAP_TEST_SURELY_UNSET_JWT".into(),
                ..AuthConfig::default()
            },
            None,
        )
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

    fn access() -> Access {
        Access {
            user: Uuid::new_v4(),
            family: Uuid::new_v4(),
        }
    }

    #[test]
    fn a_token_it_issued_names_its_user_and_sign_in() {
        let auth = auth();
        let access = access();
        assert_eq!(auth.verify(&bearer(&auth.issue(access))).unwrap(), access);
    }

    #[test]
    fn the_bearer_scheme_is_case_insensitive_and_other_schemes_are_not_tokens() {
        let header = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(AUTHORIZATION, HeaderValue::from_str(value).unwrap());
            headers
        };
        assert_eq!(bearer_token(&header("Bearer abc")), Some("abc"));
        assert_eq!(bearer_token(&header("bearer abc")), Some("abc"));
        assert_eq!(bearer_token(&header("BEARER  abc ")), Some("abc"));
        assert_eq!(bearer_token(&header("Basic abc")), None);
        assert_eq!(bearer_token(&header("Bearer ")), None);
        assert_eq!(bearer_token(&header("Bearerabc")), None);
        assert_eq!(bearer_token(&HeaderMap::new()), None);
        let auth = auth();
        let access = access();
        let token = auth.issue(access);
        assert_eq!(
            auth.verify(&header(&format!("bearer {token}"))).unwrap(),
            access
        );
    }

    #[test]
    fn forged_expired_and_unsigned_tokens_are_refused() {
        let auth = auth();
        let user = Uuid::new_v4().to_string();
        let fam = Uuid::new_v4().to_string();
        let now = unix_now();
        let valid = serde_json::json!({ "sub": user, "fam": fam, "iat": now, "exp": now + 60 });
        let forged = sign(
            &valid,
            Header::new(Algorithm::HS256),
            b"someone else's secret, long enough",
        );
        assert!(auth.verify(&bearer(&forged)).is_err());
        let expired =
            serde_json::json!({ "sub": user, "fam": fam, "iat": now - 120, "exp": now - 60 });
        let expired =
            jsonwebtoken::encode(&Header::new(Algorithm::HS256), &expired, &auth.encoding).unwrap();
        assert!(auth.verify(&bearer(&expired)).is_err());
        let no_exp = serde_json::json!({ "sub": user, "fam": fam, "iat": now });
        let no_exp =
            jsonwebtoken::encode(&Header::new(Algorithm::HS256), &no_exp, &auth.encoding).unwrap();
        assert!(auth.verify(&bearer(&no_exp)).is_err());
        // A token that names no sign-in cannot be ended by signing out: refused.
        let no_family = serde_json::json!({ "sub": user, "iat": now, "exp": now + 60 });
        let no_family =
            jsonwebtoken::encode(&Header::new(Algorithm::HS256), &no_family, &auth.encoding)
                .unwrap();
        assert!(auth.verify(&bearer(&no_family)).is_err());
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
}
