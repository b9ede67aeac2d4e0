//! `GET /api/widget/config?project=SLUG`: the public widget configuration, exactly as the seed
//! API shows it.
//!
//! Served from the project's immutable snapshot: no mailbox hop, no serialization per request.
//! Answers `If-None-Match` with 304 so widgets can revalidate cheaply.

use hyper::body::Incoming;
use hyper::header::{CACHE_CONTROL, ETAG, HeaderValue, IF_NONE_MATCH};
use hyper::{Request, StatusCode};

use crate::error::ApiError;
use crate::json::{Body, Response, bytes_response, empty_response};
use crate::router::AppState;

pub async fn get(
    state: &AppState,
    request: &Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    let slug = super::project_param(request.uri())?;
    let snapshot = super::project_for_origin(state, request.headers(), &slug).await?;
    let etag = HeaderValue::from_str(&snapshot.etag).expect("etags are quoted hex digits");
    let not_modified = request
        .headers()
        .get(IF_NONE_MATCH)
        .is_some_and(|value| value == etag);
    let mut response = if not_modified {
        empty_response(StatusCode::NOT_MODIFIED)
    } else {
        bytes_response(
            StatusCode::OK,
            snapshot.widget_config_json.clone(),
            "application/json",
        )
    };
    let headers = response.headers_mut();
    headers.insert(ETAG, etag);
    // Revalidate every time: settings changes must reach visitors at once.
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Ok(response)
}
