//! `GET /widget.js`, `GET /demo[?project=SLUG]` and `GET /admin…`: the embeddable widget, a
//! sample shop page that embeds it, and the admin dashboard, compiled into the binary so
//! `cargo run` serves them with no build step.
//!
//! `/widget.js` revalidates cheaply (`ETag`, short max-age) so updates reach visitors within
//! minutes; `/widget.js?v=HASH`, with the current hash, may be cached for a year. Dashboard
//! files carry a strict Content-Security-Policy: scripts and styles from this server only, no
//! framing by other sites (the widget preview frame by the dashboard only).

use std::sync::LazyLock;

use bytes::Bytes;
use hyper::body::Incoming;
use hyper::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, HeaderValue, REFERRER_POLICY, X_FRAME_OPTIONS,
};
use hyper::{Request, StatusCode};
use sha2::{Digest, Sha256};

use helpyap_actors::project::validate_slug;

use crate::error::ApiError;
use crate::json::{Body, Response, bytes_response, etagged_response};
use crate::routes::query_param;

const WIDGET_JS: &str = include_str!("../../web/widget.js");
const DEMO_HTML: &str = include_str!("../../web/demo.html");

/// The dashboard's files: path, content type, body.
const ADMIN_FILES: [(&str, &str, &str); 5] = [
    (
        "/admin/admin.js",
        "application/javascript; charset=utf-8",
        include_str!("../../web/admin/admin.js"),
    ),
    (
        "/admin/admin.css",
        "text/css; charset=utf-8",
        include_str!("../../web/admin/admin.css"),
    ),
    (
        "/admin/preview.html",
        "text/html; charset=utf-8",
        include_str!("../../web/admin/preview.html"),
    ),
    (
        "/admin/preview.js",
        "application/javascript; charset=utf-8",
        include_str!("../../web/admin/preview.js"),
    ),
    (
        "/admin/",
        "text/html; charset=utf-8",
        include_str!("../../web/admin/index.html"),
    ),
];

/// The dashboard: its own files only, no inline script or style, never framed.
const ADMIN_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
    img-src 'self' data: blob:; connect-src 'self'; frame-src 'self'; object-src 'none'; \
    base-uri 'none'; form-action 'self'; frame-ancestors 'none'";
/// The preview frame runs the widget, whose styles live in a `<style>` in its Shadow DOM; only
/// the dashboard may frame it.
const PREVIEW_CSP: &str = "default-src 'self'; script-src 'self'; \
    style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; \
    object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'self'";

/// The first 16 hex digits of the widget's SHA-256: its version.
static WIDGET_HASH: LazyLock<String> =
    LazyLock::new(|| hex::encode(&Sha256::digest(WIDGET_JS.as_bytes())[..8]));

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
            validate_slug(&slug).map_err(|error| ApiError::invalid(error.to_string()))?;
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

/// `GET /admin`, `/admin/` and the dashboard's files, with its security headers.
pub fn admin(request: &Request<Incoming>) -> Result<Response<Body>, ApiError> {
    let path = match request.uri().path() {
        "/admin" | "/admin/index.html" => "/admin/",
        path => path,
    };
    let (path, content_type, body) = ADMIN_FILES
        .iter()
        .find(|(file, _, _)| *file == path)
        .ok_or_else(|| ApiError::not_found("Not found"))?;
    let mut response = bytes_response(
        StatusCode::OK,
        Bytes::from_static(body.as_bytes()),
        content_type,
    );
    let preview = *path == "/admin/preview.html";
    let (csp, frames) = if preview {
        (PREVIEW_CSP, "SAMEORIGIN")
    } else {
        (ADMIN_CSP, "DENY")
    };
    let headers = response.headers_mut();
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(csp));
    headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static(frames));
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    Ok(response)
}
