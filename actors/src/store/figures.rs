//! A project's conversation figures per UTC day, kept as conversations are written (rollups):
//! what a report of a period reads instead of every conversation and message in it, so its
//! cost follows the days asked for, not the traffic they held.
//!
//! Every session, message and lead record counts towards one day's [`DayTally`]: a
//! conversation on the day it started (with its rating), a message on the day it was written
//! (with its thumbs, and, for a conversation's first visitor message, its question), a lead on
//! the day it was left. A backend writing a record applies the difference between what the old
//! and the new record count ([`FigureChange`]) in the same transaction as the record, and
//! rebuilds the tallies from the records when it has none (a migrated or restored store). This
//! module never reads or writes storage itself.
//!
//! The most asked questions are kept per day as a bounded summary (Space-Saving): at most
//! [`QUESTIONS_KEPT`] a day, exact while a day has no more distinct questions than that. Past
//! that, a new question takes the place of the least asked, whose count it inherits as its
//! possible over-count: reports read the count less it (what is certain), and a question whose
//! certain count falls to nothing — its conversations erased — is dropped, text and all, as
//! are all of a day's when the day has no visitor message left.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::chat::{Feedback, MessageRecord, Role, SessionRecord};
use crate::time::DAY_MS;

/// First questions kept per day.
pub const QUESTIONS_KEPT: usize = 50;
/// A first question is counted by its first this-many characters (trimmed, lowercased).
pub const QUESTION_CHARS: usize = 200;

/// One UTC day's figures of a project's conversations.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct DayTally {
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
    pub thumbs_up: u64,
    pub thumbs_down: u64,
    /// Ratings of the conversations started this day, by score (1 first).
    pub ratings: [u64; 5],
    /// Conversations' first questions: each with how many began with it, and by how many of
    /// those it may be over-counted (inherited from the question whose place it took); at most
    /// [`QUESTIONS_KEPT`].
    pub questions: Vec<(String, u64, u64)>,
}

impl DayTally {
    /// Adds `change` to the figures (never below zero).
    pub fn apply(&mut self, change: &DayChange) {
        let add = |figure: &mut u64, delta: i64| {
            *figure = figure.saturating_add_signed(delta);
        };
        add(&mut self.conversations, change.conversations);
        add(&mut self.messages, change.messages);
        add(&mut self.answered, change.answered);
        add(&mut self.unanswered, change.unanswered);
        add(&mut self.leads, change.leads);
        add(&mut self.thumbs_up, change.thumbs_up);
        add(&mut self.thumbs_down, change.thumbs_down);
        for (figure, delta) in self.ratings.iter_mut().zip(change.ratings) {
            add(figure, delta);
        }
        for (question, &delta) in &change.questions {
            self.count_question(question, delta);
        }
        if self.messages == 0 {
            self.questions.clear();
        }
    }

    /// The first questions and how many conversations certainly began with each.
    pub fn questions(&self) -> impl Iterator<Item = (&str, u64)> {
        self.questions
            .iter()
            .map(|(question, count, over)| (question.as_str(), count.saturating_sub(*over)))
            .filter(|(_, count)| *count > 0)
    }

    /// Whether nothing is counted (a day with no figures is not stored).
    pub fn is_empty(&self) -> bool {
        *self == DayTally::default()
    }

    /// Space-Saving: a question kept is counted; a new one takes a free place, or the place of
    /// the least asked with that one's count as its possible over-count.
    fn count_question(&mut self, question: &str, delta: i64) {
        if let Some(index) = self
            .questions
            .iter()
            .position(|(kept, _, _)| kept == question)
        {
            let (_, count, over) = &mut self.questions[index];
            *count = count.saturating_add_signed(delta);
            if *count <= *over {
                self.questions.swap_remove(index);
            }
            return;
        }
        let Ok(added) = u64::try_from(delta) else {
            return; // taking back a question no longer kept
        };
        if added == 0 {
            return;
        }
        if self.questions.len() < QUESTIONS_KEPT {
            self.questions.push((question.to_owned(), added, 0));
        } else if let Some(least) = self.questions.iter_mut().min_by_key(|(_, count, _)| *count) {
            *least = (question.to_owned(), least.1 + added, least.1);
        }
    }
}

/// What one write changes in one day's figures.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DayChange {
    pub conversations: i64,
    pub messages: i64,
    pub answered: i64,
    pub unanswered: i64,
    pub leads: i64,
    pub thumbs_up: i64,
    pub thumbs_down: i64,
    pub ratings: [i64; 5],
    pub questions: BTreeMap<String, i64>,
}

impl DayChange {
    fn is_zero(&self) -> bool {
        let counts = DayChange {
            questions: BTreeMap::new(),
            ..self.clone()
        };
        counts == DayChange::default() && self.questions.values().all(|&delta| delta == 0)
    }
}

/// What one write changes in a project's figures, by day: what the new records count less
/// what the records they replace counted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FigureChange {
    days: BTreeMap<u64, DayChange>,
}

impl FigureChange {
    /// A session record written over `old` (`None`: a new one).
    pub fn session_written(old: Option<&SessionRecord>, new: &SessionRecord) -> FigureChange {
        let mut change = FigureChange::default();
        if let Some(old) = old {
            change.count_session(old, -1);
        }
        change.count_session(new, 1);
        change
    }

    /// A message written over `old` (`None`: a new one); `first` when no visitor message comes
    /// before it in its conversation.
    pub fn message_written(
        old: Option<&MessageRecord>,
        new: &MessageRecord,
        first: bool,
    ) -> FigureChange {
        let mut change = FigureChange::default();
        if let Some(old) = old {
            change.count_message(old, first, -1);
        }
        change.count_message(new, first, 1);
        change
    }

    /// A whole conversation, its `messages` in order, counted in (`sign` 1) or taken out (-1).
    pub fn conversation(
        session: &SessionRecord,
        messages: &[MessageRecord],
        sign: i64,
    ) -> FigureChange {
        let mut change = FigureChange::default();
        change.count_session(session, sign);
        let mut asked = false;
        for message in messages {
            change.count_message(message, !asked, sign);
            asked |= message.role == Role::User;
        }
        change
    }

    /// A new lead, left at `created_at_ms`.
    pub fn lead_added(created_at_ms: u64) -> FigureChange {
        let mut change = FigureChange::default();
        change.day(created_at_ms).leads += 1;
        change
    }

    /// The days whose figures change, in order, with what changes.
    pub fn days(&self) -> impl Iterator<Item = (u64, &DayChange)> {
        self.days
            .iter()
            .filter(|(_, change)| !change.is_zero())
            .map(|(&day, change)| (day, change))
    }

    fn count_session(&mut self, session: &SessionRecord, sign: i64) {
        let day = self.day(session.created_at_ms);
        day.conversations += sign;
        if let Some(rating) = &session.satisfaction
            && let Some(count) = day
                .ratings
                .get_mut(usize::from(rating.score).wrapping_sub(1))
        {
            *count += sign;
        }
    }

    fn count_message(&mut self, message: &MessageRecord, first: bool, sign: i64) {
        let day = self.day(message.created_at_ms);
        if message.role == Role::User {
            day.messages += sign;
            if first {
                *day.questions
                    .entry(question_key(&message.content))
                    .or_default() += sign;
            }
        } else if message.is_answered() {
            day.answered += sign;
        } else if message.is_unanswered() {
            day.unanswered += sign;
        }
        match message.feedback {
            Some(Feedback::Up) => day.thumbs_up += sign,
            Some(Feedback::Down) => day.thumbs_down += sign,
            None => {}
        }
    }

    fn day(&mut self, at_ms: u64) -> &mut DayChange {
        self.days.entry(at_ms / DAY_MS).or_default()
    }
}

/// How a first question is counted: trimmed, lowercased, its first [`QUESTION_CHARS`].
fn question_key(question: &str) -> String {
    question
        .trim()
        .to_lowercase()
        .chars()
        .take(QUESTION_CHARS)
        .collect()
}

/// Every project's tallies, counted from whole conversations: a rebuild.
#[derive(Debug, Default)]
pub struct Recount {
    pub tallies: BTreeMap<(String, u64), DayTally>,
}

impl Recount {
    pub fn add(&mut self, session: &SessionRecord, messages: &[MessageRecord]) {
        self.count(
            &session.project,
            &FigureChange::conversation(session, messages, 1),
        );
    }

    pub fn add_lead(&mut self, slug: &str, created_at_ms: u64) {
        self.count(slug, &FigureChange::lead_added(created_at_ms));
    }

    fn count(&mut self, slug: &str, change: &FigureChange) {
        for (day, change) in change.days() {
            self.tallies
                .entry((slug.to_owned(), day))
                .or_default()
                .apply(change);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asked(questions: &[(&str, i64)]) -> DayChange {
        DayChange {
            questions: questions
                .iter()
                .map(|(question, count)| ((*question).to_owned(), *count))
                .collect(),
            ..DayChange::default()
        }
    }

    #[test]
    fn questions_are_exact_while_a_day_has_room_for_them() {
        let mut tally = DayTally {
            messages: 4,
            ..DayTally::default()
        };
        tally.apply(&asked(&[("a", 3), ("b", 1)]));
        tally.apply(&asked(&[("b", 1), ("a", -1)]));
        let mut kept: Vec<_> = tally.questions().collect();
        kept.sort();
        assert_eq!(kept, [("a", 2), ("b", 2)]);
        tally.apply(&asked(&[("a", -2), ("b", -2)]));
        assert!(tally.questions.is_empty(), "{tally:?}");
    }

    #[test]
    fn a_full_day_gives_the_least_asked_place_to_a_new_question_and_keeps_the_most_asked() {
        let mut tally = DayTally {
            messages: 1,
            ..DayTally::default()
        };
        tally.apply(&asked(&[("popular", 1000)]));
        for index in 0..QUESTIONS_KEPT - 1 {
            tally.apply(&asked(&[(&format!("rare {index}"), 1)]));
        }
        assert_eq!(tally.questions.len(), QUESTIONS_KEPT, "full");
        tally.apply(&asked(&[("new", 1)]));
        let count = |tally: &DayTally, asked: &str| {
            tally
                .questions()
                .find(|(question, _)| *question == asked)
                .map(|(_, count)| count)
        };
        assert_eq!(count(&tally, "popular"), Some(1000), "the most asked stays");
        let newest = tally
            .questions
            .iter()
            .find(|(question, ..)| question == "new");
        assert_eq!(
            newest.map(|(_, count, over)| (*count, *over)),
            Some((2, 1)),
            "the new one took a least asked's place and count, as its possible over-count"
        );
        assert_eq!(count(&tally, "new"), Some(1), "reported: what is certain");
        assert_eq!(tally.questions().count(), QUESTIONS_KEPT);

        // Its conversation erased: nothing certain is left, so the text goes too.
        tally.apply(&asked(&[("new", -1)]));
        assert!(
            !tally
                .questions
                .iter()
                .any(|(question, ..)| question == "new"),
            "{:?}",
            tally.questions
        );
        assert_eq!(count(&tally, "popular"), Some(1000));

        // A day with no visitor message left keeps no question.
        tally.apply(&DayChange {
            messages: -1,
            ..DayChange::default()
        });
        assert!(tally.questions.is_empty());
    }

    #[test]
    fn a_rewritten_record_changes_only_what_it_counts_differently() {
        use crate::chat::{MessageStatus, Source};
        let mut answer = MessageRecord {
            seq: 2,
            role: Role::Assistant,
            content: "It ships in 2 days".into(),
            created_at_ms: 3 * DAY_MS + 5,
            sources: vec![Source {
                id: "shipping.md".into(),
                title: "Shipping".into(),
                url: None,
            }],
            status: MessageStatus::Complete,
            feedback: None,
            author: None,
            signature: None,
            intent: None,
        };
        let same = FigureChange::message_written(Some(&answer), &answer, false);
        assert_eq!(same.days().count(), 0, "{same:?}");
        let before = answer.clone();
        answer.feedback = Some(Feedback::Down);
        let thumbed = FigureChange::message_written(Some(&before), &answer, false);
        let days: Vec<_> = thumbed.days().collect();
        assert_eq!(
            days,
            [(
                3,
                &DayChange {
                    thumbs_down: 1,
                    ..DayChange::default()
                }
            )]
        );
        assert_eq!(question_key("  How MUCH?  "), "how much?");
        assert_eq!(
            question_key(&"é".repeat(300)).chars().count(),
            QUESTION_CHARS
        );
    }
}
