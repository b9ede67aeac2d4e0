//! `GET /widget.js` and `GET /demo[?project=SLUG]`: the embeddable widget and a sample shop page
//! that embeds it,
//! compiled into the binary so `cargo run` serves them with no build step.
//!
//! `/widget.js` revalidates cheaply (`ETag`, short max-age) so updates reach visitors within
//! minutes; `/widget.js?v=HASH`, with the current hash, may be cached for a year.

use std::sync::LazyLock;

use bytes::Bytes;
use hyper::body::Incoming;
use hyper::header::{CACHE_CONTROL, HeaderValue};
use hyper::{Request, StatusCode};
use sha2::{Digest, Sha256};

use helpyap_actors::project::validate_slug;

use crate::error::ApiError;
use crate::json::{Body, Response, bytes_response, etagged_response};
use crate::routes::query_param;

const WIDGET_JS: &str = include_str!("../../web/widget.js");
const DEMO_HTML: &str = include_str!("../../web/demo.html");

/// The first 16 hex digits of the widget's SHA-256: its version.
static WIDGET_HASH: LazyLock<String> = LazyLock::new(|| {
    Sha256::digest(WIDGET_JS.as_bytes())[..8]
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
});

pub fn widget_js(request: &Request<Incoming>) -> Response<Body> {
    let etag =
        HeaderValue::from_str(&format!("\"{}\"", *WIDGET_HASH)).expect("hex is a valid header");
    let versioned = query_param(request.uri(), "v").is_some_and(|v| v == *WIDGET_HASH);
    let mut response = etagged_response(
        request.headers(),
        etag,
        Bytes::from_static(WIDGET_JS.as_bytes()),
        "application/javascript; charset=utf-8",
    );
    let cache = if versioned {
        "public, max-age=31536000, immutable"
    } else {
        "public, max-age=300"
    };
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static(cache));
    response
}

/// The demo shop page, embedding the widget for `?project=SLUG` (default `demo`).
pub fn demo(request: &Request<Incoming>) -> Result<Response<Body>, ApiError> {
    let html = match query_param(request.uri(), "project") {
        None => Bytes::from_static(DEMO_HTML.as_bytes()),
        Some(slug) => {
            // Slugs are [a-z0-9-]: nothing in one can break out of the attribute.
            validate_slug(&slug).map_err(|error| ApiError::BadRequest(error.to_string()))?;
            let tag = format!("data-project=\"{slug}\"");
            Bytes::from(DEMO_HTML.replace("data-project=\"demo\"", &tag))
        }
    };
    let mut response = bytes_response(StatusCode::OK, html, "text/html; charset=utf-8");
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Ok(response)
}
