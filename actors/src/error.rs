//! What kind of failure an engine error is: the one thing a caller needs to act on it.
//!
//! Every error the engine hands out implements [`Failure`]: its `Display` is the message for the
//! client (a sentence, no final period, starting with the field it is about when there is one)
//! and [`Failure::kind`] says what went wrong. The edge maps kinds to status codes in one place;
//! nothing here knows about HTTP. Internal failures keep their cause as `source` for the logs.

use std::path::PathBuf;
use std::time::Duration;

/// The kinds of failure a caller tells apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// What was asked for does not exist.
    NotFound,
    /// It clashes with what is there now (it exists already; it is busy).
    Conflict,
    /// The input is wrong; the message says how.
    Invalid,
    /// The caller did not prove who they are.
    Unauthorized,
    /// The caller may not do this.
    Forbidden,
    /// Refused for now; worth trying again after `retry_after`.
    Unavailable { retry_after: Duration },
    /// A fault on our side; the message is not for clients.
    Internal,
}

impl ErrorKind {
    /// Unavailable for a moment: an actor restarting, a queue full.
    pub const BRIEFLY_UNAVAILABLE: ErrorKind = ErrorKind::Unavailable {
        retry_after: Duration::from_secs(1),
    };
}

/// An engine error: its message for clients (`Display`), its kind, its cause (`source`).
pub trait Failure: std::error::Error + Send + Sync + 'static {
    fn kind(&self) -> ErrorKind;
}

/// Errors of the storage boundary.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the store at {path}: {reason}")]
    Open { path: PathBuf, reason: String },
    #[error("store i/o failed: {0}")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The store was written by a newer release: this one must not touch it.
    #[error(
        "the store has schema {found}, newer than this build's {supported}: run the newer \
         helpyap, or restore a backup taken before the upgrade"
    )]
    NewerSchema { found: u64, supported: u64 },
    /// The backup a store gets before a migration could not be written: nothing was migrated.
    #[error("the backup before migrating failed, so nothing was migrated ({path}): {reason}")]
    BackupBeforeMigrating { path: PathBuf, reason: String },
    /// The project a write belongs to is gone (deleted, on another node, while this one still
    /// took requests for it).
    #[error("Project not found")]
    NoSuchProject,
    /// The conversation a message belongs to is gone (erased on another node).
    #[error("Session not found")]
    NoSuchSession,
    /// The database server cannot be reached right now; worth a retry.
    #[error("the database is unreachable: {0}")]
    Unreachable(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("record under {key} is corrupt: {reason}")]
    Corrupt { key: String, reason: String },
    #[error("store flush failed: {0}")]
    Flush(String),
    /// An event whose `source` (a Stripe event id…) was stored before: it is not stored again.
    #[error("this event was received before")]
    AlreadyStored,
}

impl Failure for StoreError {
    fn kind(&self) -> ErrorKind {
        match self {
            StoreError::Unreachable(_) => ErrorKind::Unavailable {
                retry_after: STORE_RETRY_AFTER,
            },
            StoreError::NoSuchProject | StoreError::NoSuchSession => ErrorKind::NotFound,
            StoreError::AlreadyStored => ErrorKind::Conflict,
            _ => ErrorKind::Internal,
        }
    }
}

/// What a client is told to wait when the database is unreachable.
const STORE_RETRY_AFTER: Duration = Duration::from_secs(5);
