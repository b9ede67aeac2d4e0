//! Reports for owners and agents: analytics per day, and CSV exports of conversations and
//! leads. Reached through `admin_projects`, which checks the token and the role first.
//!
//! Figures are computed from the store when asked (conversations from the project's time-ordered
//! index, pushes from the hourly counts): fine for the volumes one site produces; a cache or
//! rollups come when they are needed.

use std::collections::BTreeMap;
use std::time::{Duration, UNIX_EPOCH};

use bytes::Bytes;
use helpyap_actors::chat::{Feedback, Role as MessageRole};
use helpyap_actors::store::HOUR_MS;
use hyper::header::{CONTENT_DISPOSITION, HeaderValue};
use hyper::{StatusCode, Uri};
use serde_json::json;

use crate::error::ApiError;
use crate::json::{Body, Response, bytes_response, json_response};
use crate::router::AppState;

const DAY_MS: u64 = 24 * HOUR_MS;
const DAYS_MAX: u64 = 90;
/// Conversations read for one report at most.
const SCAN_MAX: usize = 100_000;

/// `GET …/analytics?days=30`: per day (UTC) conversations, visitor messages, leads and
/// social-proof pushes, plus the most asked first questions and the visitors' thumbs.
pub async fn analytics(
    state: &AppState,
    slug: &str,
    uri: &Uri,
) -> Result<Response<Body>, ApiError> {
    let days = match super::query_param(uri, "days") {
        None => 30,
        Some(text) => text
            .parse::<u64>()
            .ok()
            .filter(|d| (1..=DAYS_MAX).contains(d))
            .ok_or_else(|| ApiError::BadRequest(format!("days must be 1 to {DAYS_MAX}")))?,
    };
    let now_ms = UNIX_EPOCH
        .elapsed()
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let first_day = now_ms / DAY_MS + 1 - days;
    let mut per_day: BTreeMap<u64, [u64; 4]> = (first_day..first_day + days)
        .map(|day| (day, [0; 4]))
        .collect();
    let mut questions: BTreeMap<String, u64> = BTreeMap::new();
    let (mut thumbs_up, mut thumbs_down) = (0u64, 0u64);

    for (session, messages) in state.registry.conversations(slug, None, SCAN_MAX).await? {
        if session.created_at_ms / DAY_MS < first_day {
            break; // newest first: the rest are older
        }
        if let Some(day) = per_day.get_mut(&(session.created_at_ms / DAY_MS)) {
            day[0] += 1;
        }
        for message in messages.iter().filter(|m| m.role == MessageRole::User) {
            if let Some(day) = per_day.get_mut(&(message.created_at_ms / DAY_MS)) {
                day[1] += 1;
            }
        }
        for message in &messages {
            match message.feedback {
                Some(Feedback::Up) => thumbs_up += 1,
                Some(Feedback::Down) => thumbs_down += 1,
                None => {}
            }
        }
        if let Some(first) = messages.iter().find(|m| m.role == MessageRole::User) {
            let question = first.content.trim().to_lowercase();
            *questions.entry(question).or_default() += 1;
        }
    }
    for lead in state.registry.leads(slug)? {
        if let Some(day) = per_day.get_mut(&(lead.created_at_ms / DAY_MS)) {
            day[2] += 1;
        }
    }
    for (hour, counts) in state.registry.event_counts_by_hour(slug, first_day * 24)? {
        if let Some(day) = per_day.get_mut(&(hour / 24)) {
            day[3] += counts.total();
        }
    }
    let mut top: Vec<(String, u64)> = questions.into_iter().collect();
    top.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    top.truncate(10);
    let days: Vec<_> = per_day
        .iter()
        .map(|(day, [conversations, messages, leads, pushes])| {
            json!({
                "date": date(day * DAY_MS),
                "conversations": conversations,
                "messages": messages,
                "leads": leads,
                "pushes": pushes,
            })
        })
        .collect();
    let top: Vec<_> = top
        .iter()
        .map(|(q, n)| json!({ "question": q, "count": n }))
        .collect();
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "days": days,
            "topQuestions": top,
            "feedback": { "up": thumbs_up, "down": thumbs_down },
        }),
    ))
}

/// `GET …/conversations.csv`: one row per message, oldest conversation last.
pub async fn conversations_csv(state: &AppState, slug: &str) -> Result<Response<Body>, ApiError> {
    let mut csv = csv::Writer::from_writer(Vec::new());
    write(
        &mut csv,
        [
            "session_id",
            "conversation_started",
            "message_at",
            "role",
            "status",
            "content",
        ],
    )?;
    for (session, messages) in state.registry.conversations(slug, None, SCAN_MAX).await? {
        for message in messages {
            let role = serde_json::to_value(message.role).unwrap_or_default();
            let status = serde_json::to_value(message.status).unwrap_or_default();
            write(
                &mut csv,
                [
                    session.id.to_string(),
                    rfc3339(session.created_at_ms),
                    rfc3339(message.created_at_ms),
                    role.as_str().unwrap_or_default().to_owned(),
                    status.as_str().unwrap_or_default().to_owned(),
                    message.content,
                ],
            )?;
        }
    }
    attachment(csv, &format!("{slug}-conversations.csv"))
}

/// `GET …/leads.csv`: one row per lead, newest first.
pub fn leads_csv(state: &AppState, slug: &str) -> Result<Response<Body>, ApiError> {
    let mut csv = csv::Writer::from_writer(Vec::new());
    write(
        &mut csv,
        ["created_at", "email", "name", "message", "session_id"],
    )?;
    for lead in state.registry.leads(slug)?.into_iter().rev() {
        write(
            &mut csv,
            [
                rfc3339(lead.created_at_ms),
                lead.email,
                lead.name.unwrap_or_default(),
                lead.message.unwrap_or_default(),
                lead.session_id.to_string(),
            ],
        )?;
    }
    attachment(csv, &format!("{slug}-leads.csv"))
}

/// Writes one row, defusing cells a spreadsheet would run as a formula.
fn write<I, S>(csv: &mut csv::Writer<Vec<u8>>, cells: I) -> Result<(), ApiError>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let cells: Vec<String> = cells
        .into_iter()
        .map(|cell| {
            let cell = cell.as_ref();
            if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
                format!("'{cell}")
            } else {
                cell.to_owned()
            }
        })
        .collect();
    csv.write_record(&cells)
        .map_err(|error| ApiError::Internal(format!("writing CSV: {error}")))
}

fn attachment(csv: csv::Writer<Vec<u8>>, filename: &str) -> Result<Response<Body>, ApiError> {
    let bytes = csv
        .into_inner()
        .map_err(|error| ApiError::Internal(format!("writing CSV: {error}")))?;
    let mut response = bytes_response(
        StatusCode::OK,
        Bytes::from(bytes),
        "text/csv; charset=utf-8",
    );
    let disposition = format!("attachment; filename=\"{filename}\"");
    response.headers_mut().insert(
        CONTENT_DISPOSITION,
        HeaderValue::from_str(&disposition).expect("slugs are header-safe"),
    );
    Ok(response)
}

fn rfc3339(ms: u64) -> String {
    humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(ms)).to_string()
}

fn date(ms: u64) -> String {
    rfc3339(ms)[..10].to_owned()
}
