//! `GET /api/admin/projects/{slug}/leads`: every lead the widget collected, newest first, for
//! the project's team (the router has checked the role).

use hyper::StatusCode;
use serde_json::{Value, json};

use super::admin_reports::rfc3339;
use crate::error::ApiError;
use crate::json::{Body, Response, json_response};
use crate::router::AppState;

pub async fn list(state: &AppState, slug: &str) -> Result<Response<Body>, ApiError> {
    let leads: Vec<Value> = state
        .engine
        .chat
        .leads(slug)
        .await?
        .iter()
        .rev()
        .map(|lead| {
            json!({
                "sessionId": lead.session_id,
                "email": lead.email,
                "name": lead.name,
                "message": lead.message,
                "createdAt": rfc3339(lead.created_at_ms),
            })
        })
        .collect();
    Ok(json_response(StatusCode::OK, &json!({ "leads": leads })))
}
