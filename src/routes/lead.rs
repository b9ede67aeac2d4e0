//! `POST /api/widget/lead`: a visitor the assistant could not help asks for a human.
//!
//! Body `{projectSlug, sessionId, sessionToken, email, name?, message?}`; the token (or the
//! `X-Session-Token` header) must open the session, as for chat: 401 missing or wrong, 403 a
//! session of another project, 404 an unknown project or session. 400 for a missing email, one
//! that is not a single plain address (no `mailto:` parameters, display names or lists), or
//! over-long fields. 201 once the lead is on disk. Rate limited with chat.

use crate::json::RequestBody;
use helpyap_actors::lead::LeadFields;
use hyper::{Request, StatusCode};
use serde::Deserialize;

use crate::error::ApiError;
use crate::json::{Body, Response, json_response};
use crate::router::AppState;

#[derive(Deserialize, utoipa::ToSchema)]
struct LeadBody {
    #[schema(required = true, nullable = false, format = Email)]
    email: Option<String>,
    name: Option<String>,
    message: Option<String>,
}

#[utoipa::path(
    post, path = "/api/widget/lead", tag = "widget",
    request_body = super::SessionEnvelope<LeadBody>,
    params(("X-Session-Token" = Option<String>, Header, description = "The session's token (or `sessionToken` in the body)")),
    responses((status = 201, description = "The lead is on disk", body = crate::views::LeadReceived))
)]
pub async fn post(
    state: &AppState,
    request: Request<RequestBody>,
) -> Result<Response<Body>, ApiError> {
    let post: super::SessionPost<LeadBody> = super::read_session_post(state, request).await?;
    let (project, session_id, body) = (post.project, post.session_id, post.rest);
    let fields = LeadFields {
        email: body.email,
        name: body.name,
        message: body.message,
    };
    state
        .engine
        .chat
        .add_lead(&project, session_id, post.token, fields)
        .await?;
    tracing::info!(%project, session = %session_id, "lead received");
    Ok(json_response(
        StatusCode::CREATED,
        &crate::views::LeadReceived { received: true },
    ))
}
