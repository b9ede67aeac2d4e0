//! CORS for the widget-facing endpoints: any site may embed the widget and call them.
//!
//! Answers preflights and decorates responses. Per-project allowed origins are a later layer;
//! this module only speaks the CORS protocol. No credentials (cookies) are ever allowed.

use hyper::StatusCode;
use hyper::header::{
    ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN,
    ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE, HeaderMap, HeaderValue,
};

use crate::json::{Body, Response, empty_response};

/// Response headers a widget's script may read.
const EXPOSED: &str = "X-Session-Token, ETag, Retry-After, X-RateLimit-Limit, \
     X-RateLimit-Remaining, X-RateLimit-Reset";
/// Request headers a widget's script may send.
const ALLOWED_HEADERS: &str =
    "Content-Type, Authorization, X-Session-Token, Last-Event-ID, If-None-Match";

/// Adds the headers every cross-origin widget response needs.
pub fn decorate(headers: &mut HeaderMap) {
    headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    headers.insert(
        ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static(EXPOSED),
    );
}

/// The answer to an `OPTIONS` preflight for a route allowing `methods`.
pub fn preflight(methods: &str) -> Response<Body> {
    let mut response = empty_response(StatusCode::NO_CONTENT);
    let headers = response.headers_mut();
    decorate(headers);
    headers.insert(
        ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_str(methods).expect("method names are header-safe"),
    );
    headers.insert(
        ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static(ALLOWED_HEADERS),
    );
    headers.insert(ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("86400"));
    response
}
