//! The admin reads of the storage port — an inbox page, a report's figures — and the plain
//! implementation of the inbox's, which reads records one by one through the port.
//!
//! A key-value backend (sled) uses it as it is, within scan caps; a backend with a query
//! language answers the same questions with indexed queries (PostgreSQL) and must give the same
//! answers: the storage contract holds both to one set of expectations. A report's figures are
//! summed from the days' tallies every backend keeps as it writes (`figures`).

use std::collections::BTreeMap;

use uuid::Uuid;

use super::figures::DayTally;
use super::{Storage, StoreError};
use crate::chat::{ConversationStatus, MessageRecord, SessionRecord};

/// Conversations read for one filtered inbox page at most, by the plain implementation.
pub const INBOX_SCAN_MAX: usize = 5_000;
/// Conversations in one export at most.
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

/// A project's conversations of a period, counted: the sum of its days' [`DayTally`]s (the
/// first questions, of each day's most asked).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConversationFigures {
    /// By UTC day (days since the epoch).
    pub days: BTreeMap<u64, DayCounts>,
    pub thumbs_up: u64,
    pub thumbs_down: u64,
    /// Ratings of the conversations started in the period, by score (1 first).
    pub ratings: [u64; 5],
    /// Conversations' first visitor messages, trimmed and lowercased, and how many
    /// conversations of the period began with each.
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
    /// Leads left.
    pub leads: u64,
}

impl ConversationFigures {
    /// The figures of a period from its days' tallies.
    pub fn of_days(tallies: &[(u64, DayTally)]) -> ConversationFigures {
        let mut figures = ConversationFigures::default();
        for (day, tally) in tallies {
            figures.days.insert(
                *day,
                DayCounts {
                    conversations: tally.conversations,
                    messages: tally.messages,
                    answered: tally.answered,
                    unanswered: tally.unanswered,
                    leads: tally.leads,
                },
            );
            figures.thumbs_up += tally.thumbs_up;
            figures.thumbs_down += tally.thumbs_down;
            for (sum, count) in figures.ratings.iter_mut().zip(tally.ratings) {
                *sum += count;
            }
            for (question, count) in tally.questions() {
                *figures
                    .first_questions
                    .entry(question.to_owned())
                    .or_default() += count;
            }
        }
        figures
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
