//! `GET /widget.js`, `GET /demo[?project=SLUG]` and `GET /admin…`: the embeddable widget, a
//! sample shop page that embeds it, and the admin dashboard, compiled into the binary so
//! `cargo run` serves them with no build step.
//!
//! `/widget.js` revalidates cheaply (`ETag`, short max-age) so updates reach visitors within
//! minutes; `/widget.js?v=HASH`, with the current hash, may be cached for a year; it goes out
//! gzipped to clients that take it. Dashboard
//! files carry a strict Content-Security-Policy: scripts and styles from this server only, no
//! framing by other sites (the widget preview frame by the dashboard only).

use std::io::Write;
use std::sync::LazyLock;

use crate::json::RequestBody;
use bytes::Bytes;
use flate2::Compression;
use flate2::write::GzEncoder;
use hyper::HeaderMap;
use hyper::header::{
    ACCEPT_ENCODING, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_SECURITY_POLICY, HeaderValue,
    REFERRER_POLICY, VARY, X_FRAME_OPTIONS,
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

/// The widget gzipped once, at its first request: about a third of its size on the wire.
static WIDGET_GZIP: LazyLock<Bytes> = LazyLock::new(|| {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::best());
    encoder
        .write_all(WIDGET_JS.as_bytes())
        .expect("writing to memory cannot fail");
    Bytes::from(encoder.finish().expect("writing to memory cannot fail"))
});

pub fn widget_js(request: &Request<RequestBody>) -> Response<Body> {
    let gzip = accepts_gzip(request.headers());
    // Each encoding is its own representation, with its own validator.
    let (body, tag) = if gzip {
        (WIDGET_GZIP.clone(), format!("\"{}-gzip\"", *WIDGET_HASH))
    } else {
        (
            Bytes::from_static(WIDGET_JS.as_bytes()),
            format!("\"{}\"", *WIDGET_HASH),
        )
    };
    let etag = HeaderValue::from_str(&tag).expect("hex is a valid header");
    let versioned = query_param(request.uri(), "v").is_some_and(|v| v == *WIDGET_HASH);
    let mut response = etagged_response(
        request.headers(),
        etag,
        body,
        "application/javascript; charset=utf-8",
    );
    if gzip && response.status() == StatusCode::OK {
        response
            .headers_mut()
            .insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    response
        .headers_mut()
        .insert(VARY, HeaderValue::from_static("Accept-Encoding"));
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

/// Whether the client takes gzip: named in `Accept-Encoding` (or `*`) without `q=0`.
fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(ACCEPT_ENCODING)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|coding| {
            let mut parts = coding.split(';').map(str::trim);
            let name = parts.next().unwrap_or("");
            let refused = parts.any(|param| {
                param
                    .strip_prefix("q=")
                    .and_then(|q| q.parse::<f32>().ok())
                    .is_some_and(|q| q == 0.0)
            });
            (name.eq_ignore_ascii_case("gzip") || name == "*") && !refused
        })
}

/// The demo shop page, embedding the widget for `?project=SLUG` (default `demo`).
pub fn demo(request: &Request<RequestBody>) -> Result<Response<Body>, ApiError> {
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
pub fn admin(request: &Request<RequestBody>) -> Result<Response<Body>, ApiError> {
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
