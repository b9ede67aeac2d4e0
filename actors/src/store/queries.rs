//! The admin reads of the storage port — an inbox page, a report's figures — and their plain
//! implementations, which read records one by one through the port.
//!
//! A key-value backend (sled) uses these as they are, within scan caps; a backend with a query
//! language answers the same questions with indexed queries (PostgreSQL) and must give the same
//! answers: the storage contract holds both to one set of expectations.

use std::collections::BTreeMap;

use uuid::Uuid;

use super::{Storage, StoreError};
use crate::chat::{ConversationStatus, Feedback, MessageRecord, Role, SessionRecord};
use crate::time::DAY_MS;

/// Conversations read for one filtered inbox page at most, by the plain implementation.
pub const INBOX_SCAN_MAX: usize = 5_000;
/// Conversations read for one report at most, by the plain implementation.
pub const REPORT_SCAN_MAX: usize = 100_000;

/// Which conversations of a project an inbox page lists, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionFilter {
    /// Older than this (created ms, session id): the previous page's `next`.
    pub before: Option<(u64, Uuid)>,
    /// Started at or after this millisecond.
    pub from_ms: Option<u64>,
    /// Only conversations holding an answer that did not help ([`MessageRecord::is_unanswered`]).
    pub unanswered: bool,
    /// Only conversations with this hand-off status.
    pub status: Option<ConversationStatus>,
    /// Only conversations assigned to this teammate (`Some(None)`: to nobody).
    pub assignee: Option<Option<String>>,
}

impl SessionFilter {
    /// Whether `session`'s own record passes the status and assignee filters.
    pub fn admits(&self, session: &SessionRecord) -> bool {
        let handoff = &session.handoff;
        self.status.is_none_or(|status| handoff.status == status)
            && self
                .assignee
                .as_ref()
                .is_none_or(|assignee| &handoff.assignee == assignee)
    }

    /// Whether it filters on more than time: pages are then read in larger batches.
    fn selective(&self) -> bool {
        self.unanswered || self.status.is_some() || self.assignee.is_some()
    }
}

/// One page of sessions, and where the next starts (`None` when nothing older is left).
#[derive(Debug, Clone, PartialEq)]
pub struct SessionPage {
    pub sessions: Vec<SessionRecord>,
    pub next: Option<(u64, Uuid)>,
}

/// A project's conversations since some moment, counted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConversationFigures {
    /// By UTC day (days since the epoch).
    pub days: BTreeMap<u64, DayCounts>,
    pub thumbs_up: u64,
    pub thumbs_down: u64,
    /// Ratings of the conversations, by score (1 first).
    pub ratings: [u64; 5],
    /// Each conversation's first visitor message, trimmed and lowercased, and how many
    /// conversations began with it.
    pub first_questions: BTreeMap<String, u64>,
}

/// One day's conversation figures.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DayCounts {
    /// Conversations started.
    pub conversations: u64,
    /// Visitor messages.
    pub messages: u64,
    /// Answers citing the knowledge base.
    pub answered: u64,
    /// Answers with no knowledge-base match, or failed.
    pub unanswered: u64,
}

impl ConversationFigures {
    /// Counts one conversation started at or after `from_ms` (its messages before it are not
    /// counted by day).
    pub fn add(&mut self, session: &SessionRecord, messages: &[MessageRecord], from_ms: u64) {
        self.days
            .entry(session.created_at_ms / DAY_MS)
            .or_default()
            .conversations += 1;
        for message in messages {
            match message.feedback {
                Some(Feedback::Up) => self.thumbs_up += 1,
                Some(Feedback::Down) => self.thumbs_down += 1,
                None => {}
            }
            if message.created_at_ms < from_ms {
                continue;
            }
            let day = self.days.entry(message.created_at_ms / DAY_MS).or_default();
            if message.role == Role::User {
                day.messages += 1;
            } else if message.is_answered() {
                day.answered += 1;
            } else if message.is_unanswered() {
                day.unanswered += 1;
            }
        }
        if let Some(first) = messages.iter().find(|m| m.role == Role::User) {
            self.add_first_question(&first.content, 1);
        }
        if let Some(rating) = &session.satisfaction
            && let Some(count) = self
                .ratings
                .get_mut(usize::from(rating.score).wrapping_sub(1))
        {
            *count += 1;
        }
    }

    /// Counts `count` conversations that began with `question` (as the visitor wrote it).
    pub fn add_first_question(&mut self, question: &str, count: u64) {
        let question = question.trim().to_lowercase();
        *self.first_questions.entry(question).or_default() += count;
    }
}

/// [`Storage::find_sessions`] by reading sessions newest first, and their messages when the
/// filter needs them, in batches: at most [`INBOX_SCAN_MAX`] per page, `next` saying where the
/// scan stopped.
pub async fn find_sessions(
    store: &(impl Storage + ?Sized),
    slug: &str,
    filter: &SessionFilter,
    limit: usize,
) -> Result<SessionPage, StoreError> {
    let limit = limit.max(1);
    let batch_size = if filter.selective() {
        limit.max(100)
    } else {
        limit
    };
    let mut cursor = filter.before;
    let mut sessions = Vec::new();
    let mut scanned = 0;
    let mut exhausted = false;
    'scan: while scanned < INBOX_SCAN_MAX {
        let batch = store.project_sessions(slug, cursor, batch_size).await?;
        let last_batch = batch.len() < batch_size;
        for session in batch {
            scanned += 1;
            if filter
                .from_ms
                .is_some_and(|from| session.created_at_ms < from)
            {
                exhausted = true;
                break 'scan;
            }
            cursor = Some((session.created_at_ms, session.id));
            if !filter.admits(&session) {
                continue;
            }
            if filter.unanswered {
                let messages = store.messages(session.id).await?;
                if !messages.iter().any(MessageRecord::is_unanswered) {
                    continue;
                }
            }
            sessions.push(session);
            if sessions.len() == limit {
                break 'scan;
            }
        }
        if last_batch {
            exhausted = true;
            break;
        }
    }
    Ok(SessionPage {
        sessions,
        next: cursor.filter(|_| !exhausted),
    })
}

/// [`Storage::conversation_figures`] by reading conversations newest first, at most
/// [`REPORT_SCAN_MAX`].
pub async fn conversation_figures(
    store: &(impl Storage + ?Sized),
    slug: &str,
    from_ms: u64,
) -> Result<ConversationFigures, StoreError> {
    const BATCH: usize = 500;
    let mut figures = ConversationFigures::default();
    let mut cursor = None;
    let mut scanned = 0;
    while scanned < REPORT_SCAN_MAX {
        let batch = store.project_sessions(slug, cursor, BATCH).await?;
        let last_batch = batch.len() < BATCH;
        for session in batch {
            if session.created_at_ms < from_ms {
                return Ok(figures); // newest first: the rest are older
            }
            scanned += 1;
            cursor = Some((session.created_at_ms, session.id));
            let messages = store.messages(session.id).await?;
            figures.add(&session, &messages, from_ms);
        }
        if last_batch {
            break;
        }
    }
    Ok(figures)
}
