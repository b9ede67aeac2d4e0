//! `GET /api/widget/salespop/stats?project=SLUG&window=24h`: how many events of each type a
//! project got lately, for popups like "27 people signed up today".
//!
//! Answers `{"window": "24h", "counts": {"purchased": 3, …}, "total": 31}`. Counts are kept per
//! hour, so the window is rounded up to whole hours (the current hour counts as one); it
//! defaults to `social_proof.stats_window` and may be at most 31 days.

use std::time::Duration;

use crate::json::RequestBody;
use helpyap_actors::project::COUNTS_KEPT_HOURS;
use hyper::header::{CACHE_CONTROL, HeaderValue};
use hyper::{Request, StatusCode};

use crate::error::ApiError;
use crate::json::{Body, Response, json_response};
use crate::router::AppState;

const HOUR: u64 = 3600;

#[utoipa::path(
    get, path = "/api/widget/salespop/stats", tag = "social proof",
    params(("project" = String, Query, example = "demo", description = "The project's slug"), ("window" = Option<String>, Query, description = "A duration such as `24h` or `7days`, at most 31 days")),
    responses((status = 200, description = "Events per type in the window (whole hours)", body = crate::views::Stats))
)]
pub async fn get(
    state: &AppState,
    request: &Request<RequestBody>,
) -> Result<Response<Body>, ApiError> {
    let project = super::widget_project(state, request).await?;
    let window = match super::query_param(request.uri(), "window") {
        None => state.live_settings.stats_window,
        Some(text) => humantime::parse_duration(&text)
            .map_err(|_| ApiError::invalid("window must be a duration such as 24h or 7days"))?,
    };
    let hours = window.as_secs().div_ceil(HOUR).max(1);
    if hours > COUNTS_KEPT_HOURS {
        return Err(ApiError::invalid(format!(
            "window may be at most {} days",
            COUNTS_KEPT_HOURS / 24
        )));
    }
    let counts = state.engine.reports.event_counts(&project, hours).await?;
    let window = humantime::format_duration(Duration::from_secs(hours * HOUR)).to_string();
    let mut response = json_response(
        StatusCode::OK,
        &crate::views::Stats {
            window,
            total: counts.total(),
            counts,
        },
    );
    response.headers_mut().insert(
        CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=60"),
    );
    Ok(response)
}
