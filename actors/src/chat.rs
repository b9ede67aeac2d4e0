//! Chat domain types: stored transcripts, session tokens, what a generation streams out, and
//! the errors a chat request can meet.
//!
//! Plain data and small rules only; the session actor (`session.rs`) owns the behaviour, and
//! the edge decides how the stream is framed on the wire.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{ErrorKind, Failure, StoreError};
use crate::secret::SecretHash;

/// A stored session: who it belongs to and the hash of its token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionRecord {
    pub id: Uuid,
    pub project: String,
    pub token_hash: SecretHash,
    pub created_at_ms: u64,
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
}

impl MessageRecord {
    /// An answer that did not help: it found nothing in the knowledge base to cite, or the
    /// model failed. (An answer the visitor walked away from is neither.)
    pub fn is_unanswered(&self) -> bool {
        self.role == Role::Assistant
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
    Delta(String),
    Sources(Vec<Source>),
    Finished,
    Failed(String),
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
    #[error("An answer is already being written for this session")]
    Busy,
    #[error("Too many conversations right now, retry shortly")]
    Overloaded,
    #[error("Chat is temporarily unavailable, retry shortly")]
    Unavailable,
    #[error(transparent)]
    InvalidLead(#[from] crate::lead::InvalidLead),
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
            ChatError::ForeignSession => ErrorKind::Forbidden,
            ChatError::Busy => ErrorKind::Conflict,
            ChatError::Overloaded | ChatError::Unavailable => ErrorKind::BRIEFLY_UNAVAILABLE,
            ChatError::InvalidLead(_) => ErrorKind::Invalid,
            ChatError::Store(error) => error.kind(),
        }
    }
}

impl SessionRecord {
    /// Whether `token` opens this session for `project`: 401 without or with a wrong token,
    /// 403 for another project's session.
    pub fn check_access(&self, project: &str, token: Option<&str>) -> Result<(), ChatError> {
        let token = token.ok_or(ChatError::MissingToken)?;
        if !self.token_hash.matches(token) {
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
