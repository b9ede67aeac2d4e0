//! `GET /api/widget/session?project=SLUG&sessionId=ID` with `X-Session-Token`: the stored
//! transcript, so a reloaded page continues the conversation.
//!
//! Messages come as `{id, role, from, content, parts, sources, status, createdAt}`; `role` and
//! `parts` make them usable directly as AI SDK `UIMessage`s, so a teammate's reply is an
//! `assistant` message with `from: "agent"` (`from` is `visitor`, `assistant` or `agent`). The
//! widget polls this while open to show teammates' replies.

use crate::json::RequestBody;
use hyper::{Request, StatusCode};

use crate::error::ApiError;
use crate::json::{Body, Response, json_response};
use crate::router::AppState;
use crate::routes::query_param;
use crate::views::{LeadContactView, SatisfactionView, VisitorMessage};

#[utoipa::path(
    get, path = "/api/widget/session", tag = "widget",
    params(("project" = String, Query, example = "demo", description = "The project's slug"), ("sessionId" = String, Query, format = Uuid, description = "The chat session"),
        ("X-Session-Token" = Option<String>, Header, description = "The token the session's first answer gave")),
    responses((status = 200, description = "The stored transcript, oldest first", body = crate::views::Transcript))
)]
pub async fn get(
    state: &AppState,
    request: &Request<RequestBody>,
) -> Result<Response<Body>, ApiError> {
    let project = super::widget_project(state, request).await?;
    let session_id = super::parse_session_id(query_param(request.uri(), "sessionId").as_deref())?;
    let token = super::session_token_header(request);
    let transcript = state
        .engine
        .chat
        .transcript(&project, session_id, token)
        .await?;
    let messages: Vec<VisitorMessage> = transcript
        .messages
        .iter()
        .map(|message| VisitorMessage::new(session_id, message))
        .collect();
    Ok(json_response(
        StatusCode::OK,
        &crate::views::Transcript {
            session_id,
            messages,
            lead: transcript.lead.as_ref().map(LeadContactView::from),
            status: transcript.status,
            satisfaction: SatisfactionView::of(transcript.satisfaction.as_ref()),
        },
    ))
}
