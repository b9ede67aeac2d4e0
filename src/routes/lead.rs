//! `POST /api/widget/lead`: a visitor the assistant could not help asks for a human.
//!
//! Body `{projectSlug, sessionId, sessionToken, email, name?, message?}`; the token (or the
//! `X-Session-Token` header) must open the session, as for chat: 401 missing or wrong, 403 a
//! session of another project, 404 an unknown project or session. 400 for a missing or
//! malformed email or over-long fields. 201 once the lead is on disk. Rate limited with chat.

use helpyap_actors::lead::LeadFields;
use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use serde::Deserialize;
use serde_json::json;

use crate::error::ApiError;
use crate::json::{Body, Response, json_response, read_json};
use crate::router::AppState;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LeadBody {
    project_slug: Option<String>,
    session_id: Option<String>,
    session_token: Option<String>,
    email: Option<String>,
    name: Option<String>,
    message: Option<String>,
}

pub async fn post(
    state: &AppState,
    request: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    let header_token = super::session_token_header(&request);
    let headers = request.headers().clone();
    let body: LeadBody = read_json(request, state.body_limits).await?;
    let project = body
        .project_slug
        .filter(|slug| !slug.is_empty())
        .ok_or_else(|| ApiError::BadRequest("projectSlug is required".into()))?;
    super::project_for_origin(state, &headers, &project).await?;
    let session_id = super::parse_session_id(body.session_id.as_deref())?;
    let token = body
        .session_token
        .filter(|t| !t.is_empty())
        .or(header_token);
    let fields = LeadFields {
        email: body.email,
        name: body.name,
        message: body.message,
    };
    state
        .registry
        .add_lead(&project, session_id, token, fields)
        .await?;
    tracing::info!(%project, session = %session_id, "lead received");
    Ok(json_response(
        StatusCode::CREATED,
        &json!({ "received": true }),
    ))
}
