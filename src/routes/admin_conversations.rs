//! A project's conversations for its team: the inbox (filtered, paged newest first), one
//! transcript, erasing one (GDPR), and a teammate's reply in the chat.
//!
//! | method and path | who | what |
//! |---|---|---|
//! | `GET /api/admin/projects/{slug}/conversations?limit=&before=&from=&to=&unanswered=` | owners, agents | newest first |
//! | `GET /api/admin/projects/{slug}/conversations/{sessionId}` | owners, agents | one transcript |
//! | `PATCH /api/admin/projects/{slug}/conversations/{sessionId}` | owners, agents | `{status?, assignee?}`: take over, hand back, resolve, reopen, assign |
//! | `DELETE /api/admin/projects/{slug}/conversations/{sessionId}` | owners | erase it (204) |
//! | `POST /api/admin/projects/{slug}/conversations/{sessionId}/reply` | owners, agents | reply in the chat |
//!
//! The router has checked the caller's role on the project before any of these run.

use crate::json::RequestBody;
use helpyap_actors::accounts::normalize_email;
use helpyap_actors::chat::Signature;
use helpyap_actors::records::UserRecord;
use helpyap_actors::{Author, ConversationStatus, HandoffChange};
use hyper::{Request, StatusCode};
use serde::Deserialize;

use crate::error::ApiError;
use crate::json::{Body, Response, json_response, read_json};
use crate::router::AppState;
use crate::views::{Conversation, HandoffView, InboxPage, InboxRow, ReplyView, TeamMessage};
use helpyap_actors::engine::{INBOX_PAGE_MAX, InboxQuery};
use helpyap_actors::time::{DAY_MS, parse_utc_date, rfc3339};

#[utoipa::path(
    get, path = "/api/admin/projects/{slug}/conversations", tag = "admin: conversations",
    params(("slug" = String, Path, example = "demo", description = "The project's slug"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 100, description = "Page size (50)"),
        ("before" = Option<String>, Query, description = "A `next` cursor"),
        ("from" = Option<String>, Query, format = Date, description = "First UTC day"),
        ("to" = Option<String>, Query, format = Date, description = "Last UTC day"),
        ("unanswered" = Option<bool>, Query, description = "Only conversations with an unanswered question"),
        ("status" = Option<helpyap_actors::ConversationStatus>, Query, description = "Only conversations with this status"),
        ("assignee" = Option<String>, Query, description = "Only conversations assigned to this teammate's email, or `none`")),
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
/// both included), `unanswered=true`, `status` (`open`, `waiting`, `human`, `resolved`) and
/// `assignee` (a teammate's email, or `none`).
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
    let status = super::query_param(uri, "status")
        .map(|text| {
            ConversationStatus::ALL
                .into_iter()
                .find(|status| status.as_str() == text)
                .ok_or_else(|| ApiError::invalid("status must be open, waiting, human or resolved"))
        })
        .transpose()?;
    let assignee = super::query_param(uri, "assignee").map(|text| match text.as_str() {
        "none" => None,
        _ => Some(text.trim().to_lowercase()),
    });
    Ok(InboxQuery {
        limit,
        before,
        from_ms,
        to_ms,
        unanswered,
        status,
        assignee,
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
            handoff: HandoffView::from(&session.handoff),
            lead: session
                .lead
                .as_ref()
                .map(crate::views::LeadContactView::from),
            visitor: crate::views::VisitorView::of(&session),
            satisfaction: crate::views::SatisfactionView::of(session.satisfaction.as_ref()),
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

/// What `PATCH` changes; at least one of the two.
#[derive(Deserialize, utoipa::ToSchema)]
struct HandoffBody {
    status: Option<ConversationStatus>,
    /// A teammate's email, or null to unassign.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, format = Email)]
    assignee: Option<Option<String>>,
}

/// A field that is present, even as null (`Some(None)`), apart from one that is absent (`None`).
fn present<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(deserializer).map(Some)
}

/// `PATCH …/conversations/{id}` `{status?, assignee?}`: a teammate takes the conversation over
/// (`human`: the assistant is paused), hands it back (`open`), resolves or reopens it, or
/// assigns it to a member of the project (`null`: to nobody).
#[utoipa::path(
    patch, path = "/api/admin/projects/{slug}/conversations/{session_id}", tag = "admin: conversations",
    params(("slug" = String, Path, example = "demo", description = "The project's slug"), ("session_id" = String, Path, format = Uuid)),
    request_body = HandoffBody,
    responses((status = 200, description = "Who answers now", body = crate::views::HandoffView))
)]
pub async fn patch(
    state: &AppState,
    user: &UserRecord,
    slug: &str,
    id: &str,
    request: Request<RequestBody>,
) -> Result<Response<Body>, ApiError> {
    let id = super::parse_session_id(Some(id))?;
    let body: HandoffBody = read_json(request, state.body_limits()).await?;
    if body.status.is_none() && body.assignee.is_none() {
        return Err(ApiError::invalid("status or assignee is required"));
    }
    let assignee = match body.assignee {
        Some(Some(email)) => Some(Some(member_email(state, slug, &email).await?)),
        other => other,
    };
    let change = HandoffChange::Set {
        status: body.status,
        assignee,
    };
    let handoff = state
        .engine
        .chat
        .change_handoff(slug, id, change)
        .await
        .map_err(conversation_error)?;
    tracing::info!(project = %slug, session = %id, user = %user.id, status = handoff.status.as_str(), "conversation handed over");
    Ok(json_response(StatusCode::OK, &HandoffView::from(&handoff)))
}

/// A chat error of the team's API: an unknown session is an unknown conversation (404).
fn conversation_error(error: helpyap_actors::ChatError) -> ApiError {
    match error {
        helpyap_actors::ChatError::SessionNotFound => ApiError::not_found("Conversation not found"),
        other => other.into(),
    }
}

/// `email`, normalized, when it is a member (or an admin) who may answer on `slug`; 400 if not.
async fn member_email(state: &AppState, slug: &str, email: &str) -> Result<String, ApiError> {
    let not_member = || ApiError::invalid("assignee must be a member of this project");
    let email = normalize_email(email).map_err(|_| not_member())?;
    let account = state.engine.accounts.user_by_email(&email).await?;
    match account {
        Some(account) if account.admin || account.role_on(slug).is_some() => Ok(email),
        _ => Err(not_member()),
    }
}

/// `user` as the author of a reply: visitors see the name and picture of their profile.
fn author(user: &UserRecord) -> Author {
    Author {
        email: user.email.clone(),
        signature: Signature {
            name: user.profile.display_name.clone(),
            avatar_url: user.profile.avatar_url.clone(),
        },
        // An API token acts as a user with no password: it replies, but is no assignee.
        assignable: !user.password_hash.is_empty(),
    }
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
    request: Request<RequestBody>,
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
        .agent_reply(slug, id, text.to_owned(), author(user))
        .await
        .map_err(conversation_error)?;
    tracing::info!(project = %slug, session = %id, user = %user.id, "agent replied");
    Ok(json_response(
        StatusCode::CREATED,
        &ReplyView::from(&message),
    ))
}
