//! `GET /api/widget/availability?project=SLUG`: whether the project's team is in now, by its
//! business hours, and when that changes — so the widget can say when the team is back and
//! turn "Talk to a human" into "Leave a message".
//!
//! `{"open": bool, "changesAt": RFC 3339 | null}`; always open, never changing, when the project
//! keeps no business hours. Not cached: it depends on the time.

use crate::json::RequestBody;
use hyper::header::{CACHE_CONTROL, HeaderValue};
use hyper::{Request, StatusCode};
use serde::Serialize;

use crate::error::ApiError;
use crate::json::{Body, Response, json_response};
use crate::router::AppState;

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AvailabilityView {
    /// Whether the team is in now.
    open: bool,
    /// When `open` flips next (the end of this opening, or when the team is back); null when
    /// it does not within a year.
    #[schema(required = true, format = DateTime)]
    changes_at: Option<String>,
}

#[utoipa::path(
    get, path = "/api/widget/availability", tag = "widget",
    params(("project" = String, Query, example = "demo", description = "The project's slug")),
    responses((status = 200, description = "Whether the team is in, and until when", body = AvailabilityView))
)]
pub async fn get(
    state: &AppState,
    request: &Request<RequestBody>,
) -> Result<Response<Body>, ApiError> {
    let project = super::project_param(request.uri())?;
    let snapshot = super::project_for_origin(state, request.headers(), &project).await?;
    let now_ms = state.engine.hours_clock.now_ms();
    let availability = snapshot.widget.business_hours.at(now_ms);
    let view = AvailabilityView {
        open: availability.open,
        changes_at: availability
            .changes_at_ms
            .map(helpyap_actors::time::rfc3339),
    };
    let mut response = json_response(StatusCode::OK, &view);
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}
