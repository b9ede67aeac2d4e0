//! `GET /api/widget/config?project=SLUG`: the public widget configuration, exactly as the seed
//! API shows it.
//!
//! Served from the project's immutable snapshot: no mailbox hop, no serialization per request,
//! and a response head built once per snapshot (with the router's headers, whose per-request
//! values the router writes over). Answers `If-None-Match` with 304 so widgets can revalidate
//! cheaply.

use hyper::header::{CACHE_CONTROL, CONTENT_TYPE, ETAG, HeaderMap, HeaderValue, IF_NONE_MATCH};
use hyper::{Request, StatusCode};

use helpyap_actors::project::ProjectSnapshot;

use crate::error::ApiError;
use crate::json::{Body, RESPONSE_HEADERS, RequestBody, Response, body_of, empty_response};
use crate::rate_limit::RateDecision;
use crate::route::{OpenRoute, Route};
use crate::router::{self, AppState};

/// Revalidate every time: settings changes must reach visitors at once.
const NO_CACHE: HeaderValue = HeaderValue::from_static("no-cache");

#[utoipa::path(
    get, path = "/api/widget/config", tag = "widget",
    params(("project" = String, Query, example = "demo", description = "The project's slug"), ("If-None-Match" = Option<String>, Header, description = "An `ETag` from an earlier answer")),
    responses(
        (status = 200, description = "The widget's settings and input limits", body = helpyap_actors::project::PublicConfig,
            headers(("ETag" = String, description = "Changes whenever the settings do"))),
        (status = 304, description = "Unchanged since the `ETag` sent"),
    )
)]
pub async fn get(
    state: &AppState,
    request: &Request<RequestBody>,
) -> Result<Response<Body>, ApiError> {
    let slug = super::project_param(request.uri())?;
    let snapshot = super::project_for_origin(state, request.headers(), &slug).await?;
    let unchanged = request
        .headers()
        .get(IF_NONE_MATCH)
        .is_some_and(|tag| tag == snapshot.etag);
    if unchanged {
        let mut response = empty_response(StatusCode::NOT_MODIFIED);
        let headers = response.headers_mut();
        headers.insert(ETAG, snapshot.etag.clone());
        headers.insert(CACHE_CONTROL, NO_CACHE);
        return Ok(response);
    }
    let head = snapshot.widget_config_head.get_or_init(|| head(&snapshot));
    let mut response = Response::new(body_of(snapshot.widget_config_json.clone()));
    *response.headers_mut() = head.clone();
    Ok(response)
}

/// Every header a 200 answer for `snapshot` is sent with: its own, and those the router adds
/// on this route, the rate limit's numbers as placeholders that the router writes over on
/// every answer.
fn head(snapshot: &ProjectSnapshot) -> HeaderMap {
    let spec = Route::Open(OpenRoute::WidgetConfig).spec();
    let mut head = HeaderMap::with_capacity(RESPONSE_HEADERS);
    head.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    head.insert(ETAG, snapshot.etag.clone());
    head.insert(CACHE_CONTROL, NO_CACHE);
    let counted = spec.rate_class.map(|_| RateDecision::PLACEHOLDER);
    router::add_headers(&mut head, spec.cross_origin, counted);
    head
}
