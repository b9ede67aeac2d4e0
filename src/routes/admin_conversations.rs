//! A project's conversations for its team: the inbox (filtered, paged newest first), one
//! transcript, erasing one (GDPR), and a teammate's reply in the chat.
//!
//! | method and path | who | what |
//! |---|---|---|
//! | `GET /api/admin/projects/{slug}/conversations?limit=&before=&from=&to=&unanswered=` | owners, agents | newest first |
//! | `GET /api/admin/projects/{slug}/conversations/{sessionId}` | owners, agents | one transcript |
//! | `DELETE /api/admin/projects/{slug}/conversations/{sessionId}` | owners | erase it (204) |
//! | `POST /api/admin/projects/{slug}/conversations/{sessionId}/reply` | owners, agents | reply in the chat |
//!
//! The router has checked the caller's role on the project before any of these run.

use helpyap_actors::records::UserRecord;
use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use serde::Deserialize;

use crate::error::ApiError;
use crate::json::{Body, Response, json_response, read_json};
use crate::router::AppState;
use crate::views::{Conversation, InboxPage, InboxRow, ReplyView, TeamMessage};
use helpyap_actors::engine::{INBOX_PAGE_MAX, InboxQuery};
use helpyap_actors::time::{DAY_MS, parse_utc_date, rfc3339};

#[utoipa::path(
    get, path = "/api/admin/projects/{slug}/conversations", tag = "admin: conversations",
    params(("slug" = String, Path, example = "demo", description = "The project's slug"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 100, description = "Page size (50)"),
        ("before" = Option<String>, Query, description = "A `next` cursor"),
        ("from" = Option<String>, Query, format = Date, description = "First UTC day"),
        ("to" = Option<String>, Query, format = Date, description = "Last UTC day"),
        ("unanswered" = Option<bool>, Query, description = "Only conversations with an unanswered question")),
    responses((status = 200, description = "Newest first", body = crate::views::InboxPage))
)]
pub async fn list(
    state: &AppState,
    slug: &str,
    uri: &hyper::Uri,
) -> Result<Response<Body>, ApiError> {
    let query = parse_inbox_query(uri)?;
    let page = state.engine.chat.inbox(slug, query).await?;
    let items: Vec<InboxRow> = page
        .conversations
        .iter()
        .map(|(session, messages)| InboxRow::new(session, messages))
        .collect();
    let next = page.next.map(|(ms, id)| format!("{ms}-{id}"));
    Ok(json_response(
        StatusCode::OK,
        &InboxPage {
            conversations: items,
            next,
        },
    ))
}

/// `limit` (1 to 100, 50 if absent), `before` (a `next` cursor), `from` and `to` (UTC dates,
/// both included) and `unanswered=true`.
pub fn parse_inbox_query(uri: &hyper::Uri) -> Result<InboxQuery, ApiError> {
    let limit = match super::query_param(uri, "limit") {
        None => 50,
        Some(text) => text
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=INBOX_PAGE_MAX).contains(n))
            .ok_or_else(|| ApiError::invalid(format!("limit must be 1 to {INBOX_PAGE_MAX}")))?,
    };
    let day = |name: &str| -> Result<Option<u64>, ApiError> {
        super::query_param(uri, name)
            .map(|text| {
                parse_utc_date(&text).ok_or_else(|| {
                    ApiError::invalid(format!("{name} must be a date like 2026-11-24"))
                })
            })
            .transpose()
    };
    let unanswered = match super::query_param(uri, "unanswered").as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => return Err(ApiError::invalid("unanswered must be true or false")),
    };
    let from_ms = day("from")?;
    let to_ms = day("to")?.map(|start| start + DAY_MS);
    if let (Some(from), Some(to)) = (from_ms, to_ms)
        && from >= to
    {
        return Err(ApiError::invalid("from must not be after to"));
    }
    let before = super::query_param(uri, "before")
        .map(|cursor| parse_cursor(&cursor))
        .transpose()?;
    Ok(InboxQuery {
        limit,
        before,
        from_ms,
        to_ms,
        unanswered,
    })
}

/// `CREATEDMS-UUID`, as `next` gives it.
fn parse_cursor(cursor: &str) -> Result<(u64, uuid::Uuid), ApiError> {
    let bad = || ApiError::invalid("before must be a cursor from `next`");
    let (ms, id) = cursor.split_once('-').ok_or_else(bad)?;
    Ok((
        ms.parse().map_err(|_| bad())?,
        id.parse().map_err(|_| bad())?,
    ))
}

#[utoipa::path(
    get, path = "/api/admin/projects/{slug}/conversations/{session_id}", tag = "admin: conversations",
    params(("slug" = String, Path, example = "demo", description = "The project's slug"), ("session_id" = String, Path, format = Uuid)),
    responses((status = 200, description = "One transcript", body = crate::views::Conversation))
)]
pub async fn get(state: &AppState, slug: &str, id: &str) -> Result<Response<Body>, ApiError> {
    let id = super::parse_session_id(Some(id))?;
    let (session, messages) = state
        .engine
        .chat
        .conversation(slug, id)
        .await?
        .ok_or_else(|| ApiError::not_found("Conversation not found"))?;
    let messages: Vec<TeamMessage> = messages.iter().map(TeamMessage::from).collect();
    Ok(json_response(
        StatusCode::OK,
        &Conversation {
            session_id: session.id,
            created_at: rfc3339(session.created_at_ms),
            messages,
        },
    ))
}

#[utoipa::path(
    delete, path = "/api/admin/projects/{slug}/conversations/{session_id}", tag = "admin: conversations",
    params(("slug" = String, Path, example = "demo", description = "The project's slug"), ("session_id" = String, Path, format = Uuid)),
    responses((status = 204, description = "Erased"))
)]
pub async fn delete(
    state: &AppState,
    user: &UserRecord,
    slug: &str,
    id: &str,
) -> Result<Response<Body>, ApiError> {
    let id = super::parse_session_id(Some(id))?;
    if !state.engine.chat.delete_conversation(slug, id).await? {
        return Err(ApiError::not_found("Conversation not found"));
    }
    tracing::info!(project = %slug, session = %id, user = %user.id, "conversation deleted");
    Ok(crate::json::empty_response(StatusCode::NO_CONTENT))
}

#[derive(Deserialize, utoipa::ToSchema)]
struct ReplyBody {
    #[schema(required = true, nullable = false, min_length = 1, max_length = 4000)]
    text: Option<String>,
}

/// `POST …/conversations/{id}/reply` `{text}`: a teammate answers the visitor in the chat.
#[utoipa::path(
    post, path = "/api/admin/projects/{slug}/conversations/{session_id}/reply", tag = "admin: conversations",
    params(("slug" = String, Path, example = "demo", description = "The project's slug"), ("session_id" = String, Path, format = Uuid)), request_body = ReplyBody,
    responses((status = 201, description = "The reply is in the transcript", body = crate::views::ReplyView))
)]
pub async fn reply(
    state: &AppState,
    user: &UserRecord,
    slug: &str,
    id: &str,
    request: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    let id = super::parse_session_id(Some(id))?;
    let body: ReplyBody = read_json(request, state.body_limits()).await?;
    let text = body.text.as_deref().map(str::trim).unwrap_or_default();
    if text.is_empty() {
        return Err(ApiError::invalid("text is required"));
    }
    let max = helpyap_actors::chat::AGENT_REPLY_MAX_CHARS;
    if text.chars().count() > max {
        return Err(ApiError::invalid(format!(
            "a reply must be at most {max} characters"
        )));
    }
    let message = state
        .engine
        .chat
        .agent_reply(slug, id, text.to_owned(), user.email.clone())
        .await
        .map_err(|error| match error {
            helpyap_actors::ChatError::SessionNotFound => {
                ApiError::not_found("Conversation not found")
            }
            other => other.into(),
        })?;
    tracing::info!(project = %slug, session = %id, user = %user.id, "agent replied");
    Ok(json_response(
        StatusCode::CREATED,
        &ReplyView::from(&message),
    ))
}
