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
use serde_json::{Value, json};

use super::admin_reports::{DAY_MS, rfc3339};
use crate::error::ApiError;
use crate::json::{Body, Response, json_response, read_json};
use crate::router::AppState;

const PAGE_MAX: usize = 100;

pub async fn list(
    state: &AppState,
    slug: &str,
    uri: &hyper::Uri,
) -> Result<Response<Body>, ApiError> {
    let limit = match super::query_param(uri, "limit") {
        None => 50,
        Some(text) => text
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=PAGE_MAX).contains(n))
            .ok_or_else(|| ApiError::invalid(format!("limit must be 1 to {PAGE_MAX}")))?,
    };
    let filter = ConversationFilter::from_query(uri)?;
    let mut cursor = super::query_param(uri, "before")
        .map(|cursor| parse_cursor(&cursor))
        .transpose()?;
    if let Some(to_ms) = filter.to_ms {
        // Past `to`: start the scan at its end instead.
        cursor = Some(match cursor {
            Some(before) if before.0 < to_ms => before,
            _ => (to_ms, uuid::Uuid::nil()),
        });
    }
    // Filters may skip many conversations: scan in batches, up to a bound per request, and
    // hand back a cursor wherever the scan stopped.
    let mut page = Vec::new();
    let mut scanned = 0;
    let mut exhausted = false;
    let batch_size = if filter.unanswered { PAGE_MAX } else { limit };
    'scan: while scanned < FILTER_SCAN_MAX {
        let batch = state
            .engine
            .chat
            .conversations(slug, cursor, batch_size)
            .await?;
        let last_batch = batch.len() < batch_size;
        for (session, messages) in batch {
            scanned += 1;
            if filter
                .from_ms
                .is_some_and(|from| session.created_at_ms < from)
            {
                exhausted = true;
                break 'scan;
            }
            cursor = Some((session.created_at_ms, session.id));
            if filter.unanswered && !messages.iter().any(|m| m.is_unanswered()) {
                continue;
            }
            page.push((session, messages));
            if page.len() == limit {
                break 'scan;
            }
        }
        if last_batch {
            exhausted = true;
            break;
        }
    }
    let next = (!exhausted)
        .then(|| cursor.map(|(ms, id)| format!("{ms}-{id}")))
        .flatten();
    let items: Vec<Value> = page
        .iter()
        .map(|(session, messages)| {
            let first_question = messages
                .iter()
                .find(|m| m.role == helpyap_actors::chat::Role::User);
            json!({
                "sessionId": session.id,
                "createdAt": rfc3339(session.created_at_ms),
                "messages": messages.len(),
                "firstQuestion": first_question.map(|m| m.content.as_str()),
                "lastMessageAt": messages.last().map(|m| rfc3339(m.created_at_ms)),
                "unanswered": messages.iter().any(|m| m.is_unanswered()),
            })
        })
        .collect();
    Ok(json_response(
        StatusCode::OK,
        &json!({ "conversations": items, "next": next }),
    ))
}

/// Conversations scanned for one filtered page at most.
const FILTER_SCAN_MAX: usize = 5_000;

/// `from` and `to` (UTC dates, both included) and `unanswered=true`.
struct ConversationFilter {
    from_ms: Option<u64>,
    /// The first millisecond after `to`.
    to_ms: Option<u64>,
    unanswered: bool,
}

impl ConversationFilter {
    fn from_query(uri: &hyper::Uri) -> Result<ConversationFilter, ApiError> {
        let day = |name: &str| -> Result<Option<u64>, ApiError> {
            super::query_param(uri, name)
                .map(|text| {
                    parse_day(&text).ok_or_else(|| {
                        ApiError::invalid(format!("{name} must be a date like 2026-11-24"))
                    })
                })
                .transpose()
        };
        let unanswered = match super::query_param(uri, "unanswered").as_deref() {
            None | Some("false") => false,
            Some("true") => true,
            Some(_) => {
                return Err(ApiError::invalid("unanswered must be true or false"));
            }
        };
        let from_ms = day("from")?;
        let to_ms = day("to")?.map(|start| start + DAY_MS);
        if let (Some(from), Some(to)) = (from_ms, to_ms)
            && from >= to
        {
            return Err(ApiError::invalid("from must not be after to"));
        }
        Ok(ConversationFilter {
            from_ms,
            to_ms,
            unanswered,
        })
    }
}

/// The first millisecond of a UTC date `YYYY-MM-DD`.
fn parse_day(text: &str) -> Option<u64> {
    if text.len() != 10 {
        return None;
    }
    let midnight = humantime::parse_rfc3339(&format!("{text}T00:00:00Z")).ok()?;
    let ms = midnight
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_millis();
    u64::try_from(ms).ok()
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

pub async fn get(state: &AppState, slug: &str, id: &str) -> Result<Response<Body>, ApiError> {
    let id = super::parse_session_id(Some(id))?;
    let (session, messages) = state
        .engine
        .chat
        .conversation(slug, id)
        .await?
        .ok_or_else(|| ApiError::not_found("Conversation not found"))?;
    let messages: Vec<Value> = messages
        .iter()
        .map(|m| {
            json!({
                "role": m.role,
                "content": m.content,
                "sources": m.sources,
                "status": m.status,
                "feedback": m.feedback,
                "author": m.author,
                "createdAt": rfc3339(m.created_at_ms),
            })
        })
        .collect();
    Ok(json_response(
        StatusCode::OK,
        &json!({ "sessionId": session.id, "createdAt": rfc3339(session.created_at_ms), "messages": messages }),
    ))
}

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

#[derive(Deserialize)]
struct ReplyBody {
    text: Option<String>,
}

/// `POST …/conversations/{id}/reply` `{text}`: a teammate answers the visitor in the chat.
pub async fn reply(
    state: &AppState,
    user: &UserRecord,
    slug: &str,
    id: &str,
    request: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    let id = super::parse_session_id(Some(id))?;
    let body: ReplyBody = read_json(request, state.body_limits).await?;
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
        &json!({
            "role": message.role,
            "content": message.content,
            "author": message.author,
            "createdAt": rfc3339(message.created_at_ms),
        }),
    ))
}
