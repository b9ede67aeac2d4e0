//! The endpoint handlers, one module per endpoint, plus the small helpers they share.
//!
//! A handler reads its input, calls the engine, and shapes the answer. Policies shared by all
//! routes (rate limits, CORS, errors to responses) live in `router`, not here.

pub mod health;
pub mod salespop_push;
pub mod widget_config;

use hyper::Uri;

/// The first value of query parameter `name`, percent-decoded.
pub fn query_param(uri: &Uri, name: &str) -> Option<String> {
    let query = uri.query()?;
    form_urlencoded::parse(query.as_bytes())
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}
