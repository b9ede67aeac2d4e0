//! `GET /api/admin/projects/{slug}/leads`: every lead the widget collected, newest first, for
//! the project's team (the router has checked the role).

use hyper::StatusCode;

use crate::error::ApiError;
use crate::json::{Body, Response, json_response};
use crate::router::AppState;
use crate::views::LeadView;

#[utoipa::path(
    get, path = "/api/admin/projects/{slug}/leads", tag = "admin: conversations",
    params(("slug" = String, Path, example = "demo", description = "The project's slug")),
    responses((status = 200, description = "Newest first", body = crate::views::Leads))
)]
pub async fn list(state: &AppState, slug: &str) -> Result<Response<Body>, ApiError> {
    let leads = state.engine.chat.leads(slug).await?;
    let leads: Vec<LeadView> = leads.iter().rev().map(LeadView::from).collect();
    Ok(json_response(
        StatusCode::OK,
        &crate::views::Leads { leads },
    ))
}
