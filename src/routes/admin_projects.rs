//! `/api/admin/projects…`: projects for signed-in admins, with per-project roles.
//!
//! | method and path | who | what |
//! |---|---|---|
//! | `POST /api/admin/users` | admins | add a user `{email, password, admin?}` (201; 409 if taken) |
//! | `GET /api/admin/backup` | admins | the whole store as a backup file, in `admin_backup` |
//! | `…/projects/{slug}/members…`, `/api/admin/invitations…` | owners; the invited | roles and invitations, in `admin_members` |
//! | `GET /api/admin/projects` | anyone signed in | the projects they have a role on (admins: all) |
//! | `POST /api/admin/projects` | admins | create `{slug, name, …settings}` (201; 409 if taken) |
//! | `GET /api/admin/projects/{slug}` | owners | the settings, as `PUT` takes them |
//! | `PUT /api/admin/projects/{slug}` | owners | replace widget settings, popup rules, allowed origins |
//! | `DELETE /api/admin/projects/{slug}` | owners | delete it with all its data (204) |
//! | `POST /api/admin/projects/{slug}/push-secret` | owners | a new push secret, shown once |
//! | `GET /api/admin/projects/{slug}/conversations?limit=&before=&from=&to=&unanswered=` | owners, agents | newest first |
//! | `GET /api/admin/projects/{slug}/conversations/{sessionId}` | owners, agents | one transcript |
//! | `DELETE /api/admin/projects/{slug}/conversations/{sessionId}` | owners | erase it (GDPR) |
//! | `POST /api/admin/projects/{slug}/conversations/{sessionId}/reply` | owners, agents | reply in the chat |
//! | `GET /api/admin/projects/{slug}/leads` | owners, agents | every lead, newest first |
//! | `…/projects/{slug}/documents…` | owners | the knowledge base, in `admin_documents` |
//! | `GET /api/admin/projects/{slug}/analytics?days=30` | owners, agents | per-day figures |
//! | `GET /api/admin/projects/{slug}/conversations.csv`, `/leads.csv` | owners, agents | exports |
//!
//! 401 without a valid access token, 404 for an unknown project, 403 without the role on it.
//! Changes reach the project actor, the live widget config and the push check at once.

use helpyap_actors::records::{Role, UserRecord};
use helpyap_actors::{ProjectSettings, SecretHash, WidgetSettings};
use hyper::body::Incoming;
use hyper::{Method, Request, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};

use super::admin_auth::{account_error, signed_in, user_json};
use super::admin_members;
use super::admin_reports::{DAY_MS, rfc3339};
use crate::error::ApiError;
use crate::json::{Body, Response, json_response, read_json};
use crate::router::AppState;

/// What `POST` and `PUT` take and `GET` gives: the widget settings (as in the public config,
/// with `socialProof`) plus the allowed origins.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SettingsBody {
    #[serde(flatten)]
    widget: WidgetSettings,
    #[serde(default)]
    allowed_origins: Vec<String>,
    /// Days after which conversations are erased; absent or null keeps them.
    #[serde(default)]
    retention_days: Option<u32>,
}

#[derive(Deserialize)]
struct CreateBody {
    slug: Option<String>,
    #[serde(flatten)]
    settings: SettingsBody,
}

pub async fn handle(
    state: &AppState,
    request: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    let user = signed_in(state, &request).await?;
    let path = request.uri().path().to_owned();
    if path == "/api/admin/backup" {
        return match *request.method() {
            Method::GET => {
                require_admin(&user)?;
                tracing::info!(user = %user.id, "backup started");
                Ok(super::admin_backup::get(state))
            }
            _ => Err(ApiError::MethodNotAllowed),
        };
    }
    if let Some(rest) = path.strip_prefix("/api/admin/invitations") {
        return admin_members::invitations(state, &user, rest, request).await;
    }
    if path == "/api/admin/users" {
        return match *request.method() {
            Method::POST => add_user(state, &user, request).await,
            _ => Err(ApiError::MethodNotAllowed),
        };
    }
    let rest = path.trim_start_matches("/api/admin/projects");
    // Percent-decoded once here: slugs, session ids, document ids and emails.
    let decoded = super::path_segments(rest);
    let segments: Vec<&str> = decoded.iter().map(String::as_str).collect();
    match (request.method().clone(), segments.as_slice()) {
        (Method::GET, []) => list(state, &user).await,
        (Method::POST, []) => create(state, &user, request).await,
        (Method::GET, [slug]) => read(state, &user, slug).await,
        (Method::PUT, [slug]) => update(state, &user, slug, request).await,
        (Method::DELETE, [slug]) => {
            require_owner(state, &user, slug).await?;
            state.registry.delete_project(slug).await?;
            tracing::info!(project = %slug, user = %user.id, "project deleted");
            Ok(crate::json::empty_response(StatusCode::NO_CONTENT))
        }
        (Method::POST, [slug, "push-secret"]) => rotate_secret(state, &user, slug).await,
        (Method::GET, [slug, "conversations"]) => {
            conversations(state, &user, slug, request.uri()).await
        }
        (Method::GET, [slug, "conversations", id]) => conversation(state, &user, slug, id).await,
        (Method::DELETE, [slug, "conversations", id]) => {
            delete_conversation(state, &user, slug, id).await
        }
        (Method::POST, [slug, "conversations", id, "reply"]) => {
            reply(state, &user, slug, id, request).await
        }
        (Method::GET, [slug, "leads"]) => leads(state, &user, slug).await,
        (Method::GET, [slug, "members"]) => admin_members::list(state, &user, slug).await,
        (Method::PUT, [slug, "members"]) => admin_members::set(state, &user, slug, request).await,
        (Method::DELETE, [slug, "members", email]) => {
            admin_members::remove(state, &user, slug, email).await
        }
        (Method::GET, [slug, "analytics"]) => {
            require_member(state, &user, slug).await?;
            super::admin_reports::analytics(state, slug, request.uri()).await
        }
        (Method::GET, [slug, "conversations.csv"]) => {
            require_member(state, &user, slug).await?;
            super::admin_reports::conversations_csv(state, slug).await
        }
        (Method::GET, [slug, "leads.csv"]) => {
            require_member(state, &user, slug).await?;
            super::admin_reports::leads_csv(state, slug).await
        }
        (_, [slug, "documents", rest @ ..]) => {
            require_owner(state, &user, slug).await?;
            super::admin_documents::handle(state, slug, rest, request).await
        }
        (
            _,
            []
            | [_]
            | [_, "push-secret" | "conversations" | "leads"]
            | [_, "conversations", _]
            | [_, "conversations", _, "reply"],
        ) => Err(ApiError::MethodNotAllowed),
        _ => Err(ApiError::NotFound("Not found".into())),
    }
}

pub(super) fn role_on(user: &UserRecord, slug: &str) -> Option<Role> {
    if user.admin {
        Some(Role::Owner)
    } else {
        user.roles.get(slug).copied()
    }
}

/// 403 unless `user` is an admin (adding users, creating projects).
fn require_admin(user: &UserRecord) -> Result<(), ApiError> {
    if user.admin {
        Ok(())
    } else {
        Err(ApiError::Forbidden("Only admins may do this".into()))
    }
}

/// 404 for an unknown project, then 403 unless `user` owns it.
pub(super) async fn require_owner(
    state: &AppState,
    user: &UserRecord,
    slug: &str,
) -> Result<(), ApiError> {
    state.registry.snapshot(slug).await?;
    match role_on(user, slug) {
        Some(Role::Owner) => Ok(()),
        _ => Err(ApiError::Forbidden(
            "You need the owner role on this project".into(),
        )),
    }
}

/// 404 for an unknown project, then 403 unless `user` has any role on it.
async fn require_member(state: &AppState, user: &UserRecord, slug: &str) -> Result<(), ApiError> {
    state.registry.snapshot(slug).await?;
    match role_on(user, slug) {
        Some(_) => Ok(()),
        None => Err(ApiError::Forbidden(
            "You have no role on this project".into(),
        )),
    }
}

const PAGE_MAX: usize = 100;

async fn conversations(
    state: &AppState,
    user: &UserRecord,
    slug: &str,
    uri: &hyper::Uri,
) -> Result<Response<Body>, ApiError> {
    require_member(state, user, slug).await?;
    let limit = match super::query_param(uri, "limit") {
        None => 50,
        Some(text) => text
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=PAGE_MAX).contains(n))
            .ok_or_else(|| ApiError::BadRequest(format!("limit must be 1 to {PAGE_MAX}")))?,
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
            .registry
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
                        ApiError::BadRequest(format!("{name} must be a date like 2026-11-24"))
                    })
                })
                .transpose()
        };
        let unanswered = match super::query_param(uri, "unanswered").as_deref() {
            None | Some("false") => false,
            Some("true") => true,
            Some(_) => {
                return Err(ApiError::BadRequest(
                    "unanswered must be true or false".into(),
                ));
            }
        };
        let from_ms = day("from")?;
        let to_ms = day("to")?.map(|start| start + DAY_MS);
        if let (Some(from), Some(to)) = (from_ms, to_ms)
            && from >= to
        {
            return Err(ApiError::BadRequest("from must not be after to".into()));
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
    let bad = || ApiError::BadRequest("before must be a cursor from `next`".into());
    let (ms, id) = cursor.split_once('-').ok_or_else(bad)?;
    Ok((
        ms.parse().map_err(|_| bad())?,
        id.parse().map_err(|_| bad())?,
    ))
}

async fn conversation(
    state: &AppState,
    user: &UserRecord,
    slug: &str,
    id: &str,
) -> Result<Response<Body>, ApiError> {
    require_member(state, user, slug).await?;
    let id = super::parse_session_id(Some(id))?;
    let (session, messages) = state
        .registry
        .conversation(slug, id)
        .await?
        .ok_or_else(|| ApiError::NotFound("Conversation not found".into()))?;
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

async fn delete_conversation(
    state: &AppState,
    user: &UserRecord,
    slug: &str,
    id: &str,
) -> Result<Response<Body>, ApiError> {
    require_owner(state, user, slug).await?;
    let id = super::parse_session_id(Some(id))?;
    if !state.registry.delete_conversation(slug, id).await? {
        return Err(ApiError::NotFound("Conversation not found".into()));
    }
    tracing::info!(project = %slug, session = %id, user = %user.id, "conversation deleted");
    Ok(crate::json::empty_response(StatusCode::NO_CONTENT))
}

#[derive(Deserialize)]
struct ReplyBody {
    text: Option<String>,
}

/// `POST …/conversations/{id}/reply` `{text}`: a teammate answers the visitor in the chat.
async fn reply(
    state: &AppState,
    user: &UserRecord,
    slug: &str,
    id: &str,
    request: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    require_member(state, user, slug).await?;
    let id = super::parse_session_id(Some(id))?;
    let body: ReplyBody = read_json(request, state.body_limits).await?;
    let text = body.text.as_deref().map(str::trim).unwrap_or_default();
    if text.is_empty() {
        return Err(ApiError::BadRequest("text is required".into()));
    }
    let max = helpyap_actors::chat::AGENT_REPLY_MAX_CHARS;
    if text.chars().count() > max {
        return Err(ApiError::BadRequest(format!(
            "a reply must be at most {max} characters"
        )));
    }
    let message = state
        .registry
        .agent_reply(slug, id, text.to_owned(), user.email.clone())
        .await
        .map_err(|error| match error {
            helpyap_actors::ChatError::SessionNotFound => {
                ApiError::NotFound("Conversation not found".into())
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

#[derive(Deserialize)]
struct NewUserBody {
    email: Option<String>,
    password: Option<String>,
    #[serde(default)]
    admin: bool,
}

async fn add_user(
    state: &AppState,
    user: &UserRecord,
    request: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    require_admin(user)?;
    let body: NewUserBody = read_json(request, state.body_limits).await?;
    let (Some(email), Some(password)) = (body.email, body.password) else {
        return Err(ApiError::BadRequest(
            "email and password are required".into(),
        ));
    };
    let added = state
        .registry
        .add_user(&email, password, body.admin)
        .await
        .map_err(account_error)?;
    tracing::info!(user = %added.id, by = %user.id, "user added");
    Ok(json_response(StatusCode::CREATED, &user_json(&added)))
}

async fn leads(
    state: &AppState,
    user: &UserRecord,
    slug: &str,
) -> Result<Response<Body>, ApiError> {
    require_member(state, user, slug).await?;
    let leads: Vec<Value> = state
        .registry
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

async fn list(state: &AppState, user: &UserRecord) -> Result<Response<Body>, ApiError> {
    let projects: Vec<Value> = state
        .registry
        .projects()
        .await?
        .into_iter()
        .filter_map(|project| {
            let role = role_on(user, &project.slug)?;
            Some(json!({ "slug": project.slug, "name": project.widget.name, "role": role }))
        })
        .collect();
    Ok(json_response(
        StatusCode::OK,
        &json!({ "projects": projects }),
    ))
}

async fn create(
    state: &AppState,
    user: &UserRecord,
    request: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    require_admin(user)?;
    let body: CreateBody = read_json(request, state.body_limits).await?;
    let slug = body
        .slug
        .ok_or_else(|| ApiError::BadRequest("slug is required".into()))?;
    let settings = project_settings(body.settings, None)?;
    state.registry.create_project(&slug, settings).await?;
    tracing::info!(project = %slug, user = %user.id, "project created");
    read_response(state, &slug, StatusCode::CREATED).await
}

async fn read(state: &AppState, user: &UserRecord, slug: &str) -> Result<Response<Body>, ApiError> {
    require_owner(state, user, slug).await?;
    read_response(state, slug, StatusCode::OK).await
}

async fn update(
    state: &AppState,
    user: &UserRecord,
    slug: &str,
    request: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    require_owner(state, user, slug).await?;
    let body: SettingsBody = read_json(request, state.body_limits).await?;
    state
        .registry
        .configure(slug, project_settings(body, None)?)
        .await?;
    read_response(state, slug, StatusCode::OK).await
}

async fn rotate_secret(
    state: &AppState,
    user: &UserRecord,
    slug: &str,
) -> Result<Response<Body>, ApiError> {
    require_owner(state, user, slug).await?;
    let snapshot = state.registry.snapshot(slug).await?;
    let secret = new_push_secret();
    let settings = ProjectSettings {
        widget: snapshot.widget.clone(),
        allowed_origins: snapshot.allowed_origins.clone(),
        push_secret: Some(SecretHash::of(&secret)),
        seed_digest: None,
        retention_days: snapshot.retention_days,
    };
    state.registry.configure(slug, settings).await?;
    tracing::info!(project = %slug, user = %user.id, "push secret rotated");
    Ok(json_response(
        StatusCode::OK,
        &json!({ "pushSecret": secret, "note": "Shown once: store it now. The previous secret no longer works." }),
    ))
}

fn project_settings(
    body: SettingsBody,
    push_secret: Option<SecretHash>,
) -> Result<ProjectSettings, ApiError> {
    let allowed_origins = body
        .allowed_origins
        .iter()
        .map(|origin| helpyap_actors::project::normalize_origin(origin))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| ApiError::BadRequest(error.to_string()))?;
    if body.retention_days == Some(0) {
        return Err(ApiError::BadRequest(
            "retentionDays must be at least 1 (or null)".into(),
        ));
    }
    Ok(ProjectSettings {
        widget: body.widget,
        allowed_origins,
        push_secret,
        seed_digest: None,
        retention_days: body.retention_days,
    })
}

async fn read_response(
    state: &AppState,
    slug: &str,
    status: StatusCode,
) -> Result<Response<Body>, ApiError> {
    let snapshot = state.registry.snapshot(slug).await?;
    let mut body = serde_json::to_value(&snapshot.widget).expect("settings serialize");
    let object = body.as_object_mut().expect("settings are an object");
    object.insert("slug".into(), json!(slug));
    object.insert("allowedOrigins".into(), json!(snapshot.allowed_origins));
    object.insert("retentionDays".into(), json!(snapshot.retention_days));
    object.insert(
        "hasPushSecret".into(),
        json!(snapshot.push_secret_hash.is_some()),
    );
    Ok(json_response(status, &body))
}

/// `sp_` and 256 random bits.
fn new_push_secret() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the OS random source is available");
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("sp_{hex}")
}
