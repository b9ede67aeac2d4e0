//! Chat domain types: stored transcripts, session tokens, what a generation streams out, and
//! the errors a chat request can meet.
//!
//! Plain data and small rules only; the session actor (`session.rs`) owns the behaviour, and
//! the edge decides how the stream is framed on the wire.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{ErrorKind, Failure, StoreError};
use crate::identity::{DEVICE_TOKENS_MAX, IdentityError, VisitorIdentity};
use crate::intent::Intent;
use crate::secret::SecretHash;

/// A stored session: who it belongs to, the hash of its token, and who answers it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionRecord {
    pub id: Uuid,
    pub project: String,
    pub token_hash: SecretHash,
    pub created_at_ms: u64,
    /// Records written before hand-off existed read as open and unassigned.
    #[serde(default)]
    pub handoff: Handoff,
    /// The contact the visitor left for the team, if they did (the latest).
    #[serde(default)]
    pub lead: Option<LeadContact>,
    /// Who the site says the visitor is (`HelpYap.identify`), once it said so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visitor: Option<VisitorIdentity>,
    /// Tokens of the other browsers a verified visitor opened this conversation in, newest
    /// last, at most [`DEVICE_TOKENS_MAX`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub device_tokens: Vec<SecretHash>,
    /// The visitor's rating, once the conversation was resolved and they gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub satisfaction: Option<Satisfaction>,
}

/// A change to a conversation's record that the store applies to the record as stored (so two
/// nodes changing one conversation at once both count): who it belongs to, and its rating.
#[derive(Debug, Clone)]
pub enum SessionChange {
    /// The page named its visitor: the conversation becomes theirs unless it is another's.
    Claim(VisitorIdentity),
    /// The verified visitor `user_id` opened it in another browser, whose token hashes to
    /// `token`; the oldest past [`DEVICE_TOKENS_MAX`] stops working.
    AddDevice { user_id: String, token: SecretHash },
    /// The visitor rates the conversation, once it is resolved (a second rating replaces the
    /// first).
    Rate(Satisfaction),
}

impl SessionChange {
    /// Applies the change to `record`; false when it does not apply (another visitor's
    /// conversation, not a verified one of `user_id`, not resolved) or changes nothing.
    pub fn apply(&self, record: &mut SessionRecord) -> bool {
        match self {
            SessionChange::Claim(claim) => {
                match VisitorIdentity::claimed(record.visitor.as_ref(), claim) {
                    Some(visitor) if record.visitor.as_ref() != Some(&visitor) => {
                        record.visitor = Some(visitor);
                        true
                    }
                    _ => false,
                }
            }
            SessionChange::AddDevice { user_id, token } => {
                let theirs = record
                    .visitor
                    .as_ref()
                    .is_some_and(|visitor| visitor.verified && visitor.user_id == *user_id);
                if !theirs {
                    return false;
                }
                record.device_tokens.push(token.clone());
                let excess = record.device_tokens.len().saturating_sub(DEVICE_TOKENS_MAX);
                record.device_tokens.drain(..excess);
                true
            }
            SessionChange::Rate(rating) => {
                // The same score and words again (a retry) change nothing.
                let same = record.satisfaction.as_ref().is_some_and(|given| {
                    (given.score, &given.comment) == (rating.score, &rating.comment)
                });
                if record.handoff.status != ConversationStatus::Resolved || same {
                    return false;
                }
                record.satisfaction = Some(rating.clone());
                true
            }
        }
    }
}

/// A visitor's rating of a resolved conversation: 1 (very unhappy) to 5 (very happy), and what
/// they said.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Satisfaction {
    pub score: u8,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    pub created_at_ms: u64,
}

/// The longest comment kept with a rating.
pub const RATING_COMMENT_MAX_CHARS: usize = 1000;

impl Satisfaction {
    /// A rating as a visitor sent it: a score of 1 to 5 and an optional comment (trimmed; empty
    /// is none; at most [`RATING_COMMENT_MAX_CHARS`], no control characters but newlines).
    pub fn validate(
        score: Option<i64>,
        comment: Option<String>,
        created_at_ms: u64,
    ) -> Result<Satisfaction, ChatError> {
        let score = score
            .and_then(|score| u8::try_from(score).ok())
            .filter(|score| (1..=5).contains(score))
            .ok_or(ChatError::InvalidRating(
                "score must be a whole number from 1 to 5",
            ))?;
        let comment = comment
            .map(|comment| comment.trim().to_owned())
            .filter(|comment| !comment.is_empty());
        if let Some(comment) = &comment {
            if comment.chars().count() > RATING_COMMENT_MAX_CHARS {
                return Err(ChatError::InvalidRating(
                    "comment must be at most 1000 characters",
                ));
            }
            if comment.chars().any(|c| c.is_control() && c != '\n') {
                return Err(ChatError::InvalidRating(
                    "comment must not contain control characters",
                ));
            }
        }
        Ok(Satisfaction {
            score,
            comment,
            created_at_ms,
        })
    }
}

/// A visitor's contact on their conversation: what they left in the lead form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LeadContact {
    pub email: String,
    pub name: Option<String>,
    pub message: Option<String>,
    pub created_at_ms: u64,
}

/// A transcript as its visitor gets it back: the messages, and the contact they left.
#[derive(Debug, Clone, PartialEq)]
pub struct Transcript {
    pub messages: Vec<MessageRecord>,
    pub lead: Option<LeadContact>,
    /// Who answers it now: a resolved conversation may be rated.
    pub status: ConversationStatus,
    pub satisfaction: Option<Satisfaction>,
}

/// Who answers a conversation: the assistant (`open`), nobody yet while the visitor waits for a
/// teammate (`waiting`), a teammate (`human`: the assistant is paused), or nobody (`resolved`).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum ConversationStatus {
    #[default]
    Open,
    Waiting,
    Human,
    Resolved,
}

impl ConversationStatus {
    pub const ALL: [ConversationStatus; 4] = [
        ConversationStatus::Open,
        ConversationStatus::Waiting,
        ConversationStatus::Human,
        ConversationStatus::Resolved,
    ];

    /// Whether the assistant steps aside: the visitor's messages wait for a teammate.
    pub fn pauses_assistant(self) -> bool {
        matches!(
            self,
            ConversationStatus::Waiting | ConversationStatus::Human
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ConversationStatus::Open => "open",
            ConversationStatus::Waiting => "waiting",
            ConversationStatus::Human => "human",
            ConversationStatus::Resolved => "resolved",
        }
    }
}

/// A conversation's hand-off state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Handoff {
    pub status: ConversationStatus,
    /// The teammate it is assigned to, by email.
    pub assignee: Option<String>,
    /// When the status last changed or a teammate last replied; the hand-off timeout runs from
    /// here.
    pub since_ms: u64,
}

/// A change a teammate (or the visitor's lead) makes to a conversation's hand-off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HandoffChange {
    /// The status and the assignee as given (`None`: unchanged; `Some(None)`: unassigned).
    Set {
        status: Option<ConversationStatus>,
        assignee: Option<Option<String>>,
    },
    /// The visitor left a lead, asking for a human: kept on the conversation, which waits for a
    /// teammate unless one already has it.
    LeftLead(LeadContact),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Assistant,
    /// A human teammate replying from the dashboard.
    Agent,
}

/// How an assistant message ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum MessageStatus {
    Complete,
    /// The visitor went away mid-answer; `content` is what was sent before.
    Interrupted,
    /// The model failed mid-answer; `content` is what was sent before.
    Failed,
}

/// One message of a transcript.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageRecord {
    /// Position in the session, from 1.
    pub seq: u32,
    pub role: Role,
    pub content: String,
    pub created_at_ms: u64,
    #[serde(default)]
    pub sources: Vec<Source>,
    pub status: MessageStatus,
    /// The visitor's thumbs on an answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feedback: Option<Feedback>,
    /// Who wrote an `Agent` message (their email); never shown to visitors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// How visitors see the author of an `Agent` message, as their profile was when they wrote.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<Signature>,
    /// An assistant reply to small talk or a request for a person, not to a question: neither
    /// answered nor unanswered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intent: Option<Intent>,
}

/// The name and picture a teammate's reply is shown with (from their profile).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Signature {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub avatar_url: Option<String>,
}

/// Who writes a teammate's reply: their email (for the team) and how visitors see them.
#[derive(Debug, Clone)]
pub struct Author {
    pub email: String,
    pub signature: Signature,
    /// A member the conversation may be assigned to (not an API token).
    pub assignable: bool,
}

impl MessageRecord {
    /// An answer that did not help: it found nothing in the knowledge base to cite, or the
    /// model failed. (An answer the visitor walked away from is neither.)
    pub fn is_unanswered(&self) -> bool {
        self.role == Role::Assistant
            && self.intent.is_none()
            && match self.status {
                MessageStatus::Complete => self.sources.is_empty(),
                MessageStatus::Failed => true,
                MessageStatus::Interrupted => false,
            }
    }

    /// An answer grounded in the knowledge base.
    pub fn is_answered(&self) -> bool {
        self.role == Role::Assistant
            && self.status == MessageStatus::Complete
            && !self.sources.is_empty()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Feedback {
    Up,
    Down,
}

/// A knowledge-base document an answer drew on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Source {
    pub id: String,
    pub title: String,
    #[schema(required = true)]
    pub url: Option<String>,
}

/// What a generation sends to the visitor, in order: deltas, then sources and `Finished`, or
/// `Failed` after any deltas.
#[derive(Debug, Clone, PartialEq)]
pub enum ChatEvent {
    /// Who answers changed or holds: `waiting`/`human` — the message waits for a teammate and
    /// no answer follows; `open` — no teammate replied in time and the assistant answers again.
    Handoff(ConversationStatus),
    Delta(String),
    Sources(Vec<Source>),
    /// What the widget should do after the answer: after the sources, before `Finished`.
    Action(AnswerAction),
    Finished,
    Failed(String),
}

/// Something the widget does after an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnswerAction {
    /// The visitor asked for a person: open the contact form.
    Contact,
    /// The assistant found nothing: offer the contact form with a button.
    OfferContact,
}

impl AnswerAction {
    pub fn as_str(self) -> &'static str {
        match self {
            AnswerAction::Contact => "contact",
            AnswerAction::OfferContact => "offer-contact",
        }
    }
}

/// Longest reply a teammate may send, in characters.
pub const AGENT_REPLY_MAX_CHARS: usize = 4000;

#[derive(Debug, thiserror::Error)]
pub enum ChatError {
    #[error("Project not found")]
    ProjectNotFound,
    #[error("Session not found")]
    SessionNotFound,
    #[error("Session token required: send the X-Session-Token you were given")]
    MissingToken,
    #[error("Invalid session token")]
    WrongToken,
    #[error("Session belongs to another project")]
    ForeignSession,
    #[error("This conversation belongs to another signed-in visitor: start a new one")]
    OthersConversation,
    #[error("A conversation can be rated once it is resolved")]
    NotResolved,
    #[error("{0}")]
    InvalidRating(&'static str),
    #[error("An answer is already being written for this session")]
    Busy,
    #[error("Too many conversations right now, retry shortly")]
    Overloaded,
    #[error("Chat is temporarily unavailable, retry shortly")]
    Unavailable,
    #[error(transparent)]
    InvalidLead(#[from] crate::lead::InvalidLead),
    #[error(transparent)]
    Identity(#[from] IdentityError),
    #[error("Answer not found")]
    MessageNotFound,
    #[error("the chat's store failed")]
    Store(#[source] StoreError),
}

/// A project or session another node deleted is what it is; other store errors are the store's.
impl From<StoreError> for ChatError {
    fn from(error: StoreError) -> ChatError {
        match error {
            StoreError::NoSuchProject => ChatError::ProjectNotFound,
            StoreError::NoSuchSession => ChatError::SessionNotFound,
            error => ChatError::Store(error),
        }
    }
}

impl Failure for ChatError {
    fn kind(&self) -> ErrorKind {
        match self {
            ChatError::ProjectNotFound
            | ChatError::SessionNotFound
            | ChatError::MessageNotFound => ErrorKind::NotFound,
            ChatError::MissingToken | ChatError::WrongToken => ErrorKind::Unauthorized,
            ChatError::ForeignSession | ChatError::OthersConversation => ErrorKind::Forbidden,
            ChatError::Busy => ErrorKind::Conflict,
            ChatError::Overloaded | ChatError::Unavailable => ErrorKind::BRIEFLY_UNAVAILABLE,
            ChatError::InvalidLead(_) | ChatError::InvalidRating(_) => ErrorKind::Invalid,
            ChatError::NotResolved => ErrorKind::Conflict,
            ChatError::Identity(error) => error.kind(),
            ChatError::Store(error) => error.kind(),
        }
    }
}

impl SessionRecord {
    /// Whether `token` opens this session for `project`: 401 without or with a wrong token,
    /// 403 for another project's session.
    pub fn check_access(&self, project: &str, token: Option<&str>) -> Result<(), ChatError> {
        let token = token.ok_or(ChatError::MissingToken)?;
        let opens = |hash: &SecretHash| hash.matches(token);
        if !opens(&self.token_hash) && !self.device_tokens.iter().any(opens) {
            return Err(ChatError::WrongToken);
        }
        if self.project != project {
            return Err(ChatError::ForeignSession);
        }
        Ok(())
    }
}

/// A new session token: `st_` and 256 random bits.
pub fn new_session_token() -> String {
    crate::secret::new_token("st")
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::identity::tests::ana;

    fn guest_conversation() -> SessionRecord {
        SessionRecord {
            id: uuid::Uuid::nil(),
            project: "demo".into(),
            token_hash: SecretHash::of("st_first"),
            created_at_ms: 0,
            handoff: Default::default(),
            lead: None,
            visitor: None,
            device_tokens: Vec::new(),
            satisfaction: None,
        }
    }

    #[test]
    fn another_browser_is_added_only_for_the_verified_visitor_and_the_oldest_goes() {
        let mut record = SessionRecord {
            visitor: Some(ana(false)),
            ..guest_conversation()
        };
        let add = |n: usize| SessionChange::AddDevice {
            user_id: "user-42".into(),
            token: SecretHash::of(&format!("st_{n}")),
        };
        assert!(!add(0).apply(&mut record), "not for an unverified visitor");
        record.visitor = Some(ana(true));
        for n in 0..DEVICE_TOKENS_MAX + 2 {
            assert!(add(n).apply(&mut record));
        }
        assert_eq!(record.device_tokens.len(), DEVICE_TOKENS_MAX);
        assert_eq!(
            record.device_tokens[0],
            SecretHash::of("st_2"),
            "the two oldest went"
        );
        let other = SessionChange::AddDevice {
            user_id: "user-7".into(),
            token: SecretHash::of("st_x"),
        };
        assert!(!other.apply(&mut record));
        assert!(
            !SessionChange::Claim(ana(true)).apply(&mut record),
            "no change"
        );
    }

    #[test]
    fn a_rating_is_kept_only_on_a_resolved_conversation_and_checked_first() {
        let mut record = guest_conversation();
        let rating = Satisfaction::validate(Some(5), Some("  Quick, thanks! ".into()), 9).unwrap();
        assert_eq!(rating.comment.as_deref(), Some("Quick, thanks!"));
        assert!(
            !SessionChange::Rate(rating.clone()).apply(&mut record),
            "open"
        );
        record.handoff.status = ConversationStatus::Resolved;
        assert!(SessionChange::Rate(rating.clone()).apply(&mut record));
        assert_eq!(record.satisfaction, Some(rating));
        for (score, comment) in [
            (Some(0), None),
            (Some(6), None),
            (None, None),
            (Some(3), Some("x".repeat(1001))),
            (Some(3), Some("bell\u{7}".into())),
        ] {
            assert!(matches!(
                Satisfaction::validate(score, comment, 0),
                Err(ChatError::InvalidRating(_))
            ));
        }
        let blank = Satisfaction::validate(Some(1), Some(" \n ".into()), 0).unwrap();
        assert_eq!(blank.comment, None);
    }

    #[test]
    fn tokens_are_long_random_and_distinct() {
        let first = new_session_token();
        assert_eq!(first.len(), 3 + 64);
        assert!(first.starts_with("st_"));
        assert_ne!(first, new_session_token());
    }
}
