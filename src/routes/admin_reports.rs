//! Reports for owners and agents: analytics per day, and CSV exports of conversations and
//! leads. The router has checked the token and the role before any of these run.
//!
//! Figures are computed from the store when asked (conversations from the project's time-ordered
//! index, pushes from the hourly counts): fine for the volumes one site produces; a cache or
//! rollups come when they are needed.

use bytes::Bytes;
use futures_util::stream;
use helpyap_actors::chat::{MessageRecord, SessionRecord};
use helpyap_actors::engine::reports::REPORT_SCAN_MAX;
use helpyap_actors::records::EventKind;
use helpyap_actors::time::rfc3339;
use http_body_util::StreamBody;
use hyper::body::Frame;
use hyper::header::{CONTENT_DISPOSITION, CONTENT_TYPE, HeaderValue};
use hyper::{StatusCode, Uri};
use unicode_normalization::UnicodeNormalization;

use crate::error::ApiError;
use crate::json::{Body, BoxError, Response, boxed, bytes_response, json_response};
use crate::router::AppState;

const DAYS_MAX: u64 = 90;

/// `GET …/analytics?days=30`: per day (UTC) conversations, visitor messages, answers with and
/// without a knowledge-base match, leads, social-proof pushes and popups delivered to live
/// visitors; plus the most asked first questions, the visitors' thumbs and who is online now.
#[utoipa::path(
    get, path = "/api/admin/projects/{slug}/analytics", tag = "admin: reports",
    params(("slug" = String, Path, example = "demo", description = "The project's slug"), ("days" = Option<u32>, Query, minimum = 1, maximum = 90, description = "Days back (30)")),
    responses((status = 200, description = "Figures per UTC day, oldest first", body = helpyap_actors::engine::Analytics))
)]
pub async fn analytics(
    state: &AppState,
    slug: &str,
    uri: &Uri,
) -> Result<Response<Body>, ApiError> {
    let days = days_param(uri)?;
    let now_ms = helpyap_actors::time::now_ms();
    let analytics = state.engine.reports.analytics(slug, days, now_ms).await?;
    Ok(json_response(StatusCode::OK, &analytics))
}

/// `?days=`: 1 to [`DAYS_MAX`], 30 when absent.
fn days_param(uri: &Uri) -> Result<u64, ApiError> {
    match super::query_param(uri, "days") {
        None => Ok(30),
        Some(text) => text
            .parse::<u64>()
            .ok()
            .filter(|d| (1..=DAYS_MAX).contains(d))
            .ok_or_else(|| ApiError::invalid(format!("days must be 1 to {DAYS_MAX}"))),
    }
}

/// `GET …/popups.csv?days=30`: popups shown and clicked per UTC day and event type, with the
/// click-through rate, oldest day first; days and types with none are left out.
#[utoipa::path(
    get, path = "/api/admin/projects/{slug}/popups.csv", tag = "admin: reports",
    params(("slug" = String, Path, example = "demo", description = "The project's slug"),
        ("days" = Option<u64>, Query, description = "Days up to today, 1 to 90 (30)")),
    responses((status = 200, description = "One row per day and event type", body = String, content_type = "text/csv; charset=utf-8"))
)]
pub async fn popups_csv(
    state: &AppState,
    slug: &str,
    uri: &Uri,
) -> Result<Response<Body>, ApiError> {
    let days = days_param(uri)?;
    let now_ms = helpyap_actors::time::now_ms();
    let mut csv = csv::Writer::from_writer(Vec::new());
    write(
        &mut csv,
        ["date", "type", "shown", "clicked", "click_through_rate"],
    )?;
    for (date, counts) in state
        .engine
        .reports
        .popups_by_day(slug, days, now_ms)
        .await?
    {
        for kind in EventKind::ALL {
            let (shown, clicked) = (counts.shown.of(kind), counts.clicked.of(kind));
            if shown + clicked == 0 {
                continue;
            }
            let rate = if shown == 0 {
                String::new()
            } else {
                format!("{:.4}", clicked as f64 / shown as f64)
            };
            let kind = serde_json::to_value(kind).unwrap_or_default();
            write(
                &mut csv,
                [
                    date.clone(),
                    kind.as_str().unwrap_or_default().to_owned(),
                    shown.to_string(),
                    clicked.to_string(),
                    rate,
                ],
            )?;
        }
    }
    attachment(csv, &format!("{slug}-popups.csv"))
}

/// `GET …/conversations.csv`: one row per message, oldest conversation last.
///
/// Streamed: the conversations are read 1000 at a time, each batch with its transcripts, as
/// the download asks for more, so an export of a large project holds one batch in memory, not
/// the whole file; at most [`REPORT_SCAN_MAX`] conversations. The first batch is read before
/// answering (an unknown project is a 404); a failure after that (the store, a panic) ends the
/// download with an error, never with a file that looks whole.
#[utoipa::path(
    get, path = "/api/admin/projects/{slug}/conversations.csv", tag = "admin: reports",
    params(("slug" = String, Path, example = "demo", description = "The project's slug")),
    responses((status = 200, description = "One row per message", body = String, content_type = "text/csv; charset=utf-8"))
)]
pub async fn conversations_csv(state: &AppState, slug: &str) -> Result<Response<Body>, ApiError> {
    let first = state
        .engine
        .chat
        .conversations(slug, None, EXPORT_BATCH)
        .await?;
    let export = Export {
        engine: state.engine.clone(),
        slug: slug.to_owned(),
        next: Some(first),
        before: None,
        exported: 0,
    };
    // Driven by the body itself (no task of its own): the next batch is read once the one
    // before has been taken, and a failure or panic reaches the connection.
    let chunks = stream::try_unfold(export, Export::next_chunk);
    let mut response = Response::new(boxed(StreamBody::new(chunks)));
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    disposition(&mut response, &format!("{slug}-conversations.csv"));
    Ok(response)
}

/// Conversations read per batch of the conversations export.
const EXPORT_BATCH: usize = 1000;

/// Where a conversations export is.
struct Export {
    engine: helpyap_actors::engine::Engine,
    slug: String,
    /// The batch to write next, when already read (the first); `None` once the last was sent.
    next: Option<Vec<(SessionRecord, Vec<MessageRecord>)>>,
    /// The last conversation sent (created ms, id): the next batch is older.
    before: Option<(u64, uuid::Uuid)>,
    exported: usize,
}

impl Export {
    /// The next batch's rows (the first with the header), or `None` when all were sent.
    async fn next_chunk(mut self) -> Result<Option<(Frame<Bytes>, Export)>, BoxError> {
        if self.exported >= REPORT_SCAN_MAX {
            return Ok(None);
        }
        let first = self.before.is_none();
        let batch = match self.next.take() {
            Some(batch) => batch,
            None => {
                self.engine
                    .chat
                    .conversations(&self.slug, self.before, EXPORT_BATCH)
                    .await?
            }
        };
        if batch.is_empty() && !first {
            return Ok(None);
        }
        let mut csv = csv::Writer::from_writer(Vec::new());
        if first {
            write(
                &mut csv,
                [
                    "session_id",
                    "conversation_started",
                    "message_at",
                    "role",
                    "status",
                    "content",
                    "visitor_id",
                    "visitor_email",
                    "visitor_verified",
                ],
            )?;
        }
        let last_batch = batch.len() < EXPORT_BATCH;
        self.exported += batch.len();
        self.before = batch
            .last()
            .map(|(session, _)| (session.created_at_ms, session.id));
        for (session, messages) in batch {
            write_conversation(&mut csv, &session, messages)?;
        }
        if last_batch {
            // Ends the stream at the next call.
            self.exported = REPORT_SCAN_MAX;
        }
        let rows = csv.into_inner().map_err(|error| error.into_error())?;
        Ok(Some((Frame::data(Bytes::from(rows)), self)))
    }
}

/// A conversation's rows of the conversations CSV, one per message.
fn write_conversation(
    csv: &mut csv::Writer<Vec<u8>>,
    session: &SessionRecord,
    messages: Vec<MessageRecord>,
) -> Result<(), ApiError> {
    let (visitor_id, visitor_email, verified) = match &session.visitor {
        Some(visitor) => (
            visitor.user_id.clone(),
            visitor.email.clone().unwrap_or_default(),
            visitor.verified.to_string(),
        ),
        None => Default::default(),
    };
    for message in messages {
        let role = serde_json::to_value(message.role).unwrap_or_default();
        let status = serde_json::to_value(message.status).unwrap_or_default();
        write(
            csv,
            [
                session.id.to_string(),
                rfc3339(session.created_at_ms),
                rfc3339(message.created_at_ms),
                role.as_str().unwrap_or_default().to_owned(),
                status.as_str().unwrap_or_default().to_owned(),
                message.content,
                visitor_id.clone(),
                visitor_email.clone(),
                verified.clone(),
            ],
        )?;
    }
    Ok(())
}

/// `GET …/satisfaction.csv`: one row per rated conversation, newest conversation first.
#[utoipa::path(
    get, path = "/api/admin/projects/{slug}/satisfaction.csv", tag = "admin: reports",
    params(("slug" = String, Path, example = "demo", description = "The project's slug")),
    responses((status = 200, description = "One row per rating", body = String, content_type = "text/csv; charset=utf-8"))
)]
pub async fn satisfaction_csv(state: &AppState, slug: &str) -> Result<Response<Body>, ApiError> {
    let mut csv = csv::Writer::from_writer(Vec::new());
    write(
        &mut csv,
        [
            "rated_at",
            "score",
            "comment",
            "session_id",
            "conversation_started",
            "assignee",
            "visitor_id",
            "visitor_email",
        ],
    )?;
    // The sessions alone: a rating is on its conversation's record.
    for session in state.engine.chat.sessions(slug, REPORT_SCAN_MAX).await? {
        let Some(rating) = &session.satisfaction else {
            continue;
        };
        let visitor = session.visitor.as_ref();
        write(
            &mut csv,
            [
                rfc3339(rating.created_at_ms),
                rating.score.to_string(),
                rating.comment.clone().unwrap_or_default(),
                session.id.to_string(),
                rfc3339(session.created_at_ms),
                session.handoff.assignee.clone().unwrap_or_default(),
                visitor.map(|v| v.user_id.clone()).unwrap_or_default(),
                visitor.and_then(|v| v.email.clone()).unwrap_or_default(),
            ],
        )?;
    }
    attachment(csv, &format!("{slug}-satisfaction.csv"))
}

/// `GET …/leads.csv`: one row per lead, newest first.
#[utoipa::path(
    get, path = "/api/admin/projects/{slug}/leads.csv", tag = "admin: reports",
    params(("slug" = String, Path, example = "demo", description = "The project's slug")),
    responses((status = 200, description = "One row per lead", body = String, content_type = "text/csv; charset=utf-8"))
)]
pub async fn leads_csv(state: &AppState, slug: &str) -> Result<Response<Body>, ApiError> {
    let mut csv = csv::Writer::from_writer(Vec::new());
    write(
        &mut csv,
        ["created_at", "email", "name", "message", "session_id"],
    )?;
    for lead in state.engine.chat.leads(slug).await?.into_iter().rev() {
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

/// Writes one row, defusing cells a spreadsheet could run as a formula.
fn write<I, S>(csv: &mut csv::Writer<Vec<u8>>, cells: I) -> Result<(), ApiError>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let cells: Vec<String> = cells
        .into_iter()
        .map(|cell| {
            let cell = cell.as_ref();
            if reads_as_formula(cell) {
                format!("'{cell}")
            } else {
                cell.to_owned()
            }
        })
        .collect();
    csv.write_record(&cells)
        .map_err(|error| ApiError::internal(format!("writing CSV: {error}")))
}

/// Whether a spreadsheet could take `cell` for a formula: it starts with `= + - @`, a tab or a CR
/// once invisible characters are skipped and compatibility forms (fullwidth `＝`, small `﹢`,
/// superscript `⁺`, …) are folded, or with the minus sign `−` that superscript minus folds to.
/// NFKD rather than NFKC, which would compose `=` or `＝` and a following U+0338 into `≠`.
/// Only the check folds: the cell is exported as written, after a `'` that makes it all text.
fn reads_as_formula(cell: &str) -> bool {
    cell.nfkd()
        .find(|&c| !is_invisible(c))
        .is_some_and(|first| matches!(first, '=' | '+' | '-' | '\u{2212}' | '@' | '\t' | '\r'))
}

/// Unicode's default-ignorable code points (Unicode 15.1), which render as nothing: the soft
/// hyphen, zero-width spaces and joiners, bidi marks, embeddings and isolates, fillers,
/// variation selectors, tags.
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{034F}'
            | '\u{061C}'
            | '\u{115F}'..='\u{1160}'
            | '\u{17B4}'..='\u{17B5}'
            | '\u{180B}'..='\u{180F}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}'
            | '\u{3164}'
            | '\u{FE00}'..='\u{FE0F}'
            | '\u{FEFF}'
            | '\u{FFA0}'
            | '\u{FFF0}'..='\u{FFF8}'
            | '\u{1BCA0}'..='\u{1BCA3}'
            | '\u{1D173}'..='\u{1D17A}'
            | '\u{E0000}'..='\u{E0FFF}'
    )
}

fn attachment(csv: csv::Writer<Vec<u8>>, filename: &str) -> Result<Response<Body>, ApiError> {
    let bytes = csv
        .into_inner()
        .map_err(|error| ApiError::internal(format!("writing CSV: {error}")))?;
    let mut response = bytes_response(
        StatusCode::OK,
        Bytes::from(bytes),
        "text/csv; charset=utf-8",
    );
    disposition(&mut response, filename);
    Ok(response)
}

/// Makes `response` a download named `filename`.
fn disposition(response: &mut Response<Body>, filename: &str) {
    let disposition = format!("attachment; filename=\"{filename}\"");
    response.headers_mut().insert(
        CONTENT_DISPOSITION,
        HeaderValue::from_str(&disposition).expect("slugs are header-safe"),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The cell as a spreadsheet reads it back from a one-cell export.
    fn exported(cell: &str) -> String {
        let mut csv = csv::Writer::from_writer(Vec::new());
        write(&mut csv, [cell]).unwrap();
        let bytes = csv.into_inner().unwrap();
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(bytes.as_slice());
        reader.records().next().unwrap().unwrap()[0].to_owned()
    }

    #[test]
    fn formulas_are_defused() {
        for formula in ["=1+1", "+1", "-1", "@SUM(1)", "\t=1", "\r=1"] {
            assert_eq!(exported(formula), format!("'{formula}"), "{formula:?}");
        }
    }

    #[test]
    fn formulas_behind_invisible_characters_are_defused() {
        for invisible in [
            '\u{00AD}',  // soft hyphen
            '\u{034F}',  // combining grapheme joiner
            '\u{061C}',  // Arabic letter mark
            '\u{180E}',  // Mongolian vowel separator
            '\u{200B}',  // zero width space
            '\u{200C}',  // zero width non-joiner
            '\u{200D}',  // zero width joiner
            '\u{200E}',  // left-to-right mark
            '\u{200F}',  // right-to-left mark
            '\u{202A}',  // left-to-right embedding
            '\u{202B}',  // right-to-left embedding
            '\u{202C}',  // pop directional formatting
            '\u{202D}',  // left-to-right override
            '\u{202E}',  // right-to-left override
            '\u{2060}',  // word joiner
            '\u{2063}',  // invisible separator
            '\u{2066}',  // left-to-right isolate
            '\u{2067}',  // right-to-left isolate
            '\u{2068}',  // first strong isolate
            '\u{2069}',  // pop directional isolate
            '\u{FE0F}',  // variation selector 16
            '\u{FEFF}',  // zero width no-break space (byte order mark)
            '\u{E0041}', // tag latin capital letter a
        ] {
            for formula in ["=1+1", "+1", "-1", "@SUM(1)", "\t=1", "\r=1"] {
                let cell = format!("{invisible}{formula}");
                assert_eq!(exported(&cell), format!("'{cell}"), "{cell:?}");
            }
        }
        let stacked = "\u{200B}\u{FEFF}\u{202E}\u{2066}=1";
        assert_eq!(exported(stacked), format!("'{stacked}"));
    }

    #[test]
    fn formulas_in_compatibility_forms_are_defused() {
        for cell in [
            "＝1+1",         // fullwidth
            "＋1",           // fullwidth
            "－1",           // fullwidth
            "＠SUM(1)",      // fullwidth
            "﹦1",           // small form
            "﹢1",           // small form
            "﹣1",           // small form
            "﹫SUM(1)",      // small form
            "⁼1",            // superscript
            "⁺1",            // superscript
            "⁻1",            // superscript
            "₌1",            // subscript
            "₊1",            // subscript
            "₋1",            // subscript
            "−1",            // minus sign, which ⁻ and ₋ fold to
            "\u{200B}＝1",   // invisible, then fullwidth
            "＝\u{0338}1+1", // NFKC would compose these two into ≠
            "=\u{0338}1+1",
        ] {
            assert_eq!(exported(cell), format!("'{cell}"), "{cell:?}");
        }
    }

    #[test]
    fn other_cells_are_kept_as_written() {
        for cell in [
            "",
            "hello",
            "ann@example.com",
            "1+1",
            " =1",
            "\u{200B}hello",
            "ＡＢＣ",
            "ｶﾀｶﾅ",
            "ﬁne",
            "≤ 5",
            "— a dash",
        ] {
            assert_eq!(exported(cell), cell, "{cell:?}");
        }
    }
}
