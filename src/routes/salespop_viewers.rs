//! `GET /api/widget/salespop/viewers?project=SLUG&page=/pricing`: how many live visitors are on
//! a page right now, for "12 people are viewing this page right now".
//!
//! Answers `{"page": "/pricing", "viewers": 12}`: the visitors whose popup connection (WebSocket
//! or SSE, which send `page=`) is open on that path, on every node of a cluster (the other
//! nodes' counts are a few seconds old; this node's when they cannot be asked). Not cached.
//! 404 unless the project shows them (`socialProof.liveViewers.enabled`).

use crate::json::RequestBody;
use hyper::header::{CACHE_CONTROL, HeaderValue};
use hyper::{Request, StatusCode};
use serde::Serialize;

use crate::error::ApiError;
use crate::json::{Body, Response, json_response};
use crate::router::AppState;

#[derive(Serialize, utoipa::ToSchema)]
pub struct Viewers {
    #[schema(example = "/pricing")]
    page: String,
    viewers: usize,
}

#[utoipa::path(
    get, path = "/api/widget/salespop/viewers", tag = "social proof",
    params(("project" = String, Query, example = "demo", description = "The project's slug"),
        ("page" = String, Query, example = "/pricing", description = "A page's path")),
    responses((status = 200, description = "Live visitors on the page now", body = Viewers))
)]
pub async fn get(
    state: &AppState,
    request: &Request<RequestBody>,
) -> Result<Response<Body>, ApiError> {
    let project = super::project_param(request.uri())?;
    let snapshot = super::project_for_origin(state, request.headers(), &project).await?;
    if !snapshot.widget.social_proof.live_viewers.enabled {
        // How many visitors a site has is the owner's to publish: not without `liveViewers`.
        return Err(ApiError::not_found(
            "Live viewer counts are off for this project",
        ));
    }
    let page =
        super::page_param(request.uri())?.ok_or_else(|| ApiError::invalid("page is required"))?;
    let viewers = state.engine.projects.viewers(&project, &page).await?;
    let mut response = json_response(StatusCode::OK, &Viewers { page, viewers });
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}
