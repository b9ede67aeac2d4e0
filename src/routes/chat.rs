//! `POST /api/chat`: a visitor's question in, a streamed answer out.
//!
//! Accepts the seed's `{projectSlug, sessionId, messages: [{role, content}], sessionToken?}` (and
//! `user`, the visitor `HelpYap.identify` named) and
//! AI SDK `UIMessage`s (`parts: [{type: "text", text}]`). Only the last message — the visitor's
//! question — is used: the server's stored transcript is the history, so client-sent assistant
//! or system turns change nothing. The token may also come in the `X-Session-Token` header.

use std::net::IpAddr;

use crate::json::RequestBody;
use hyper::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use hyper::{Request, StatusCode};
use serde::Deserialize;

use crate::error::ApiError;
use crate::json::{Body, Response, boxed};
use crate::router::AppState;
use crate::ui_stream;

#[derive(Deserialize, utoipa::ToSchema)]
struct ChatBody {
    /// The last must be the visitor's (`user`); earlier turns are ignored.
    #[schema(required = true, nullable = false, min_items = 1)]
    messages: Option<Vec<IncomingMessage>>,
    /// The signed-in visitor, as `HelpYap.identify` named them: the conversation becomes
    /// theirs (401 when the project verifies identities and `userHash` does not match).
    user: Option<super::identify::UserBody>,
}

#[derive(Deserialize, utoipa::ToSchema)]
struct IncomingMessage {
    #[schema(pattern = "^(user|assistant|system)$", example = "user")]
    role: String,
    content: Option<String>,
    parts: Option<Vec<Part>>,
}

#[derive(Deserialize, utoipa::ToSchema)]
struct Part {
    #[serde(rename = "type")]
    kind: String,
    text: Option<String>,
}

#[utoipa::path(
    post, path = "/api/chat", tag = "widget",
    request_body = super::SessionEnvelope<ChatBody>,
    params(("X-Session-Token" = Option<String>, Header, description = "The session's token (or `sessionToken` in the body)")),
    responses(
        (status = 200, description = "The answer as an AI SDK UI message stream (server-sent events); `X-Session-Token` on a session's first answer",
            body = crate::openapi::ServerSentEvent, content_type = "text/event-stream",
            headers(("X-Session-Token" = String, description = "Set on a new session's first answer: later requests must carry it"))),
        (status = 409, description = "An answer is already being written for this session", body = crate::error::ErrorBody),
    )
)]
pub async fn post(
    state: &AppState,
    client: IpAddr,
    request: Request<RequestBody>,
) -> Result<Response<Body>, ApiError> {
    let post: super::SessionPost<ChatBody> = super::read_session_post(state, request).await?;
    let (project, session_id, token) = (post.project, post.session_id, post.token);
    let question = question(post.rest.messages.unwrap_or_default(), &state.chat_limits())?;
    let claim = post
        .rest
        .user
        .map(super::identify::UserBody::claim)
        .transpose()?;
    let slot = state.open_stream(client)?;

    let start = state
        .engine
        .chat
        .ask(&project, session_id, token, claim, question)
        .await?;
    tracing::debug!(%project, session = %session_id, "answer started");
    let sse = ui_stream::body(start.message_id, start.events, state.chat_keep_alive, slot);
    let mut response = Response::new(boxed(sse));
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    let (name, value) = ui_stream::PROTOCOL_HEADER;
    headers.insert(name, HeaderValue::from_static(value));
    if let Some(token) = start.new_token {
        headers.insert(
            "x-session-token",
            HeaderValue::from_str(&token).expect("tokens are hex"),
        );
    }
    *response.status_mut() = StatusCode::OK;
    Ok(response)
}

/// A chat body's question as the endpoint reads it, session envelope included (the fuzz
/// target's entry).
pub fn parse_question(json: &[u8], limits: &ChatLimits) -> Result<String, ApiError> {
    let envelope: super::SessionEnvelope<ChatBody> = super::parse_session_envelope(json)?;
    question(envelope.rest.messages.unwrap_or_default(), limits)
}

/// The visitor's question: the last message, which must be the user's.
fn question(messages: Vec<IncomingMessage>, limits: &ChatLimits) -> Result<String, ApiError> {
    if messages.is_empty() {
        return Err(ApiError::invalid("messages must not be empty"));
    }
    if messages.len() > limits.max_messages {
        let max = limits.max_messages;
        return Err(ApiError::invalid(format!(
            "at most {max} messages per request"
        )));
    }
    if let Some(unknown) = messages
        .iter()
        .find(|m| !matches!(m.role.as_str(), "user" | "assistant" | "system"))
    {
        return Err(ApiError::invalid(format!(
            "unknown role {:?}",
            unknown.role
        )));
    }
    let last = messages.last().expect("checked non-empty");
    if last.role != "user" {
        return Err(ApiError::invalid("the last message must be the user's"));
    }
    let text = match (&last.content, &last.parts) {
        (Some(content), _) => content.clone(),
        (None, Some(parts)) => parts
            .iter()
            .filter(|part| part.kind == "text")
            .filter_map(|part| part.text.as_deref())
            .collect::<Vec<_>>()
            .join(""),
        (None, None) => String::new(),
    };
    let text = text.trim();
    if text.is_empty() {
        return Err(ApiError::invalid("The last message has no text"));
    }
    let max = limits.max_message_chars;
    if text.chars().count() > max {
        return Err(ApiError::invalid(format!(
            "a message must be at most {max} characters"
        )));
    }
    Ok(text.to_owned())
}

/// Limits on what one chat request may carry.
#[derive(Debug, Clone, Copy)]
pub struct ChatLimits {
    pub max_messages: usize,
    pub max_message_chars: usize,
}
