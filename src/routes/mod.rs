//! The endpoint handlers, one module per endpoint, plus the small helpers they share.
//!
//! A handler reads its input, calls the engine, and shapes the answer. Policies shared by all
//! routes (rate limits, CORS, errors to responses) live in `router`, not here.

pub mod chat;
pub mod health;
pub mod salespop_push;
pub mod session;
pub mod widget_config;

use hyper::{Request, Uri};
use uuid::Uuid;

use crate::error::ApiError;

/// The first value of query parameter `name`, percent-decoded.
pub fn query_param(uri: &Uri, name: &str) -> Option<String> {
    let query = uri.query()?;
    form_urlencoded::parse(query.as_bytes())
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

/// A session id, which must be a UUID.
pub fn parse_session_id(value: Option<&str>) -> Result<Uuid, ApiError> {
    let value = value.ok_or_else(|| ApiError::BadRequest("sessionId is required".into()))?;
    Uuid::parse_str(value).map_err(|_| ApiError::BadRequest("sessionId must be a UUID".into()))
}

/// The `X-Session-Token` request header, if present and readable.
pub fn session_token_header<B>(request: &Request<B>) -> Option<String> {
    let value = request.headers().get("x-session-token")?.to_str().ok()?;
    (!value.is_empty()).then(|| value.to_owned())
}
