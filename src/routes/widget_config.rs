//! `GET /api/widget/config?project=SLUG`: the public widget configuration, exactly as the seed
//! API shows it.
//!
//! Served from the project's immutable snapshot: no mailbox hop, no serialization per request.
//! Answers `If-None-Match` with 304 so widgets can revalidate cheaply.

use crate::json::RequestBody;
use hyper::Request;
use hyper::header::{CACHE_CONTROL, HeaderValue};

use crate::error::ApiError;
use crate::json::{Body, Response, etagged_response};
use crate::router::AppState;

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
    let mut response = etagged_response(
        request.headers(),
        snapshot.etag.clone(),
        snapshot.widget_config_json.clone(),
        "application/json",
    );
    // Revalidate every time: settings changes must reach visitors at once.
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Ok(response)
}
