//! Chat domain types: stored transcripts, session tokens, what a generation streams out, and
//! the errors a chat request can meet.
//!
//! Plain data and small rules only; the session actor (`session.rs`) owns the behaviour, and
//! the edge decides how the stream is framed on the wire.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{ErrorKind, Failure, StoreError};
use crate::identity::{IdentityError, VisitorIdentity};
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
    /// last, at most [`DEVICE_TOKENS_MAX`](crate::identity::DEVICE_TOKENS_MAX).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub device_tokens: Vec<SecretHash>,
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
            ChatError::InvalidLead(_) => ErrorKind::Invalid,
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

    #[test]
    fn tokens_are_long_random_and_distinct() {
        let first = new_session_token();
        assert_eq!(first.len(), 3 + 64);
        assert!(first.starts_with("st_"));
        assert_ne!(first, new_session_token());
    }
}
