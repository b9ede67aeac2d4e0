//! JSON in and out: reading bounded request bodies into typed values, and building responses.
//!
//! Owns the body size limit (413) and body read timeout (408). It does not know any endpoint.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited, combinators::UnsyncBoxBody};
use hyper::body::Incoming;
use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE, ETAG, HeaderMap, HeaderValue, IF_NONE_MATCH};
use hyper::{Request, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

pub use hyper::Response;

/// Every response body: whole buffers, or streams (SSE). A stream's error aborts the connection.
pub type Body = UnsyncBoxBody<Bytes, BoxError>;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Every request's body: hyper's, or none for a request the server read itself (an event
/// stream asked for as a connection's first request; see `event_stream`).
pub enum RequestBody {
    Hyper(Incoming),
    Empty,
}

impl http_body::Body for RequestBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, hyper::Error>>> {
        match self.get_mut() {
            RequestBody::Hyper(body) => Pin::new(body).poll_frame(cx),
            RequestBody::Empty => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            RequestBody::Hyper(body) => body.is_end_stream(),
            RequestBody::Empty => true,
        }
    }

    fn size_hint(&self) -> http_body::SizeHint {
        match self {
            RequestBody::Hyper(body) => body.size_hint(),
            RequestBody::Empty => http_body::SizeHint::with_exact(0),
        }
    }
}

/// Boxes any body with `Bytes` frames into a response [`Body`].
pub fn boxed<B>(body: B) -> Body
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    body.map_err(Into::into).boxed_unsync()
}

/// How much of a request body the server will read, and for how long.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimits {
    pub max_bytes: usize,
    pub read_timeout: Duration,
}

/// Reads the whole body within `limits` and parses it as a JSON object.
pub async fn read_json<T: DeserializeOwned>(
    request: Request<RequestBody>,
    limits: BodyLimits,
) -> Result<T, ApiError> {
    parse_json(&read_body(request, limits).await?)
}

/// Parses a request body as a JSON object (400 otherwise): the parser every JSON endpoint and
/// the fuzz targets share.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // serde would also fill a struct from an array; every body of this API is an object.
    let first = bytes.iter().find(|byte| !byte.is_ascii_whitespace());
    if first.is_some_and(|&byte| byte != b'{') {
        return Err(ApiError::invalid(
            "Invalid JSON body: expected a JSON object",
        ));
    }
    serde_json::from_slice(bytes)
        .map_err(|error| ApiError::invalid(format!("Invalid JSON body: {error}")))
}

/// Reads the whole body within `limits`: 413 past the size cap, 408 past the read timeout.
pub async fn read_body(
    request: Request<RequestBody>,
    limits: BodyLimits,
) -> Result<Bytes, ApiError> {
    if declared_length(request.headers()).is_some_and(|length| length > limits.max_bytes as u64) {
        return Err(ApiError::payload_too_large(limits.max_bytes));
    }
    let limited = Limited::new(request.into_body(), limits.max_bytes);
    match tokio::time::timeout(limits.read_timeout, limited.collect()).await {
        Err(_elapsed) => Err(ApiError::body_timeout()),
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(error)) if error.downcast_ref::<LengthLimitError>().is_some() => {
            Err(ApiError::payload_too_large(limits.max_bytes))
        }
        Ok(Err(error)) => Err(ApiError::invalid(format!(
            "Could not read request body: {error}"
        ))),
    }
}

fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers.get(CONTENT_LENGTH)?.to_str().ok()?.parse().ok()
}

pub fn json_response(status: StatusCode, value: &impl Serialize) -> Response<Body> {
    let bytes = serde_json::to_vec(value).expect("response values are plain data and serialize");
    bytes_response(status, Bytes::from(bytes), "application/json")
}

/// Room for the headers a response ends with: nine on a widget GET (its own three — content
/// type, validator, caching — the rate limit's three, CORS's two and `X-Content-Type-Options`),
/// and a few to spare.
pub const RESPONSE_HEADERS: usize = 12;

pub fn bytes_response(
    status: StatusCode,
    bytes: Bytes,
    content_type: &'static str,
) -> Response<Body> {
    let mut response = Response::new(body_of(bytes));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    // Room, allocated once, for what the router adds (rate limit, CORS and the rest).
    headers.reserve(RESPONSE_HEADERS);
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// `body` with its `ETag`, or an empty 304 when the request's `If-None-Match` already has it.
pub fn etagged_response(
    request_headers: &HeaderMap,
    etag: HeaderValue,
    body: Bytes,
    content_type: &'static str,
) -> Response<Body> {
    let not_modified = request_headers
        .get(IF_NONE_MATCH)
        .is_some_and(|value| value == etag);
    let mut response = if not_modified {
        empty_response(StatusCode::NOT_MODIFIED)
    } else {
        bytes_response(StatusCode::OK, body, content_type)
    };
    response.headers_mut().insert(ETAG, etag);
    response
}

pub fn empty_response(status: StatusCode) -> Response<Body> {
    let mut response = Response::new(body_of(Bytes::new()));
    *response.status_mut() = status;
    response.headers_mut().reserve(RESPONSE_HEADERS);
    response
}

/// A response body of `bytes`, sent whole.
pub fn body_of(bytes: Bytes) -> Body {
    Full::new(bytes)
        .map_err(|never: Infallible| match never {})
        .boxed_unsync()
}
