//! The sled store: the only module that touches sled, and the durable truth for every project.
//!
//! It owns the tree layout (documented in `docs/ARCHITECTURE.md`) and turns typed records into
//! bytes and back. It never decides *whether* a write is allowed — that is the owning actor's
//! job — and it never caches: callers keep what they need in actor state or snapshots.
//!
//! Durability: writes land in sled's in-memory log; [`Store::flush`] makes them survive
//! `kill -9`. Callers flush before acknowledging a write to a client. Flushes go through one
//! flusher thread that answers every caller waiting when a flush starts (group commit); see
//! [`Flusher`] for why sled's own `flush_async` is not used.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use serde::{Serialize, de::DeserializeOwned};
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError};

use uuid::Uuid;

use crate::accounts::{Invitation, RefreshRecord, UserRecord};
use crate::chat::{MessageRecord, SessionRecord};
use crate::knowledge::Document;
use crate::lead::LeadRecord;
use crate::project::ProjectRecord;
use crate::secret::SecretHash;
use crate::social_proof::{EventCounts, EventKind, SocialProofEvent};

/// Group commit on a thread of our own.
///
/// sled 0.34's `flush_async` waits on sled's small IO thread pool, and the buffer writes it waits
/// for are queued on that same pool: a few dozen concurrent callers fill the pool with waiters
/// and it deadlocks (hit at ~40 concurrent chats). Here one thread calls the blocking `flush`,
/// which never occupies sled's pool, and answers every request that was waiting when the flush
/// began — each of those requests was sent after its writes, so the flush covers them.
///
/// Requests carry their own `Db` handle, so the thread holds the database only while flushing
/// and dropping the last `Store` still releases sled's file lock at once.
#[derive(Clone)]
struct Flusher {
    requests: mpsc::Sender<FlushRequest>,
}

struct FlushRequest {
    db: sled::Db,
    done: tokio::sync::oneshot::Sender<Result<(), String>>,
}

impl Flusher {
    fn start() -> std::io::Result<Flusher> {
        let (requests, inbox) = mpsc::channel::<FlushRequest>();
        std::thread::Builder::new()
            .name("store-flusher".into())
            .spawn(move || {
                // Ends when every `Store` (and so every sender) is gone.
                while let Ok(first) = inbox.recv() {
                    let mut waiting = vec![first.done];
                    waiting.extend(inbox.try_iter().map(|request| request.done));
                    let result = first
                        .db
                        .flush()
                        .map(drop)
                        .map_err(|error| error.to_string());
                    drop(first.db);
                    for done in waiting {
                        let _ = done.send(result.clone());
                    }
                }
            })?;
        Ok(Flusher { requests })
    }

    async fn flush(&self, db: &sled::Db) -> Result<(), StoreError> {
        let (done, answer) = tokio::sync::oneshot::channel();
        let request = FlushRequest {
            db: db.clone(),
            done,
        };
        if self.requests.send(request).is_err() {
            return Err(StoreError::Flush("the flusher thread is gone".into()));
        }
        match answer.await {
            Ok(result) => result.map_err(StoreError::Flush),
            Err(_) => Err(StoreError::Flush("the flusher thread is gone".into())),
        }
    }
}

/// Bumped when the key layout or a record's encoding changes incompatibly.
const SCHEMA_VERSION: u64 = 1;

/// sled's page cache when nothing else is asked for (sled's own default is 1 GiB).
pub const DEFAULT_CACHE_BYTES: u64 = 128 * 1024 * 1024;

/// Errors of the storage boundary.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the store at {path}: {reason}")]
    Open { path: PathBuf, reason: String },
    #[error("store i/o failed: {0}")]
    Sled(#[from] sled::Error),
    #[error("record under {key} is corrupt: {reason}")]
    Corrupt { key: String, reason: String },
    #[error("store flush failed: {0}")]
    Flush(String),
}

/// Handle to the open database. Cheap to clone; all clones share one sled instance.
#[derive(Clone)]
pub struct Store {
    db: sled::Db,
    /// slug → JSON [`ProjectRecord`].
    projects: sled::Tree,
    /// SHA-256 of a push secret (32 bytes) → slug of the project it belongs to.
    push_secrets: sled::Tree,
    /// slug, 0x00, event id as u64 big-endian → JSON [`SocialProofEvent`].
    events: sled::Tree,
    /// slug, 0x00, document id → JSON [`Document`].
    documents: sled::Tree,
    /// session id (16 bytes) → JSON [`SessionRecord`].
    sessions: sled::Tree,
    /// slug, 0x00, created ms (u64 big-endian), session id (16 bytes) → empty: a project's
    /// conversations in time order.
    project_sessions: sled::Tree,
    /// session id (16 bytes), message seq as u32 big-endian → JSON [`MessageRecord`].
    messages: sled::Tree,
    /// slug, 0x00, hour (u64 big-endian), event type code → count (u64 big-endian).
    event_counts: sled::Tree,
    /// slug, 0x00, hour (u64 big-endian) → events handed to live visitors (u64 big-endian).
    delivery_counts: sled::Tree,
    /// slug, 0x00, created ms (u64 big-endian), session id (16 bytes) → JSON [`LeadRecord`].
    leads: sled::Tree,
    /// lowercased email → JSON [`UserRecord`].
    users: sled::Tree,
    /// SHA-256 of a refresh token (32 bytes) → JSON [`RefreshRecord`].
    refresh_tokens: sled::Tree,
    /// token family id (16 bytes) → empty: every token of the family is refused.
    revoked_families: sled::Tree,
    /// slug of a deleted project → the last event id it gave out (u64 big-endian): a project
    /// re-created under that slug numbers its events after it, so no id is ever reused.
    event_id_floors: sled::Tree,
    /// slug, 0x00, lowercased email → JSON [`Invitation`]: a role offered, not yet accepted.
    invitations: sled::Tree,
    flusher: Flusher,
}

impl Store {
    /// Opens (or creates) the store in `path`. A store that cannot be opened — locked by
    /// another process, unreadable, corrupt, or of a newer schema — is an error with a
    /// message fit for an operator, never a panic.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        Store::open_with_cache(path, DEFAULT_CACHE_BYTES)
    }

    /// Opens the store with sled's page cache bounded to `cache_bytes`.
    pub fn open_with_cache(path: &Path, cache_bytes: u64) -> Result<Store, StoreError> {
        let open_error = |reason: String| StoreError::Open {
            path: path.to_owned(),
            reason,
        };
        // sled 0.34 can panic on some corrupt files instead of returning an error.
        let opened = catch_unwind(AssertUnwindSafe(|| {
            sled::Config::new()
                .path(path)
                .cache_capacity(cache_bytes)
                .open()
        }));
        let db = match opened {
            Ok(Ok(db)) => db,
            Ok(Err(error)) => return Err(open_error(describe_open_error(error))),
            Err(_) => return Err(open_error(
                "the data files are corrupt (sled panicked while reading them); restore a backup"
                    .into(),
            )),
        };
        let store = Store {
            projects: db.open_tree("projects")?,
            push_secrets: db.open_tree("push_secrets")?,
            events: db.open_tree("events")?,
            documents: db.open_tree("documents")?,
            sessions: db.open_tree("sessions")?,
            project_sessions: db.open_tree("project_sessions")?,
            messages: db.open_tree("messages")?,
            event_counts: db.open_tree("event_counts")?,
            delivery_counts: db.open_tree("delivery_counts")?,
            leads: db.open_tree("leads")?,
            users: db.open_tree("users")?,
            refresh_tokens: db.open_tree("refresh_tokens")?,
            revoked_families: db.open_tree("revoked_families")?,
            event_id_floors: db.open_tree("event_id_floors")?,
            invitations: db.open_tree("invitations")?,
            flusher: Flusher::start()
                .map_err(|error| open_error(format!("cannot start the flusher thread: {error}")))?,
            db,
        };
        store
            .check_schema()
            .map_err(|error| open_error(error.to_string()))?;
        store.index_sessions()?;
        Ok(store)
    }

    /// Makes every write so far durable. Await it before acknowledging a write.
    pub async fn flush(&self) -> Result<(), StoreError> {
        self.flusher.flush(&self.db).await
    }

    pub fn project(&self, slug: &str) -> Result<Option<ProjectRecord>, StoreError> {
        self.projects
            .get(slug)?
            .map(|bytes| decode(slug, &bytes))
            .transpose()
    }

    pub fn project_slugs(&self) -> Result<Vec<String>, StoreError> {
        self.projects
            .iter()
            .keys()
            .map(|key| Ok(String::from_utf8_lossy(&key?).into_owned()))
            .collect()
    }

    /// Writes `record`, keeping the push-secret index in step in the same transaction:
    /// `previous_secret` (if any) stops resolving, the record's new secret starts to.
    pub fn put_project(
        &self,
        record: &ProjectRecord,
        previous_secret: Option<&SecretHash>,
    ) -> Result<(), StoreError> {
        let value = encode(record);
        let result = (&self.projects, &self.push_secrets).transaction(|(projects, secrets)| {
            if let Some(old) = previous_secret {
                secrets.remove(old.as_bytes().as_slice())?;
            }
            if let Some(new) = &record.push_secret_hash {
                secrets.insert(new.as_bytes().as_slice(), record.slug.as_bytes())?;
            }
            projects.insert(record.slug.as_bytes(), value.as_slice())?;
            Ok::<(), ConflictableTransactionError<()>>(())
        });
        match result {
            Ok(()) => Ok(()),
            Err(TransactionError::Storage(error)) => Err(error.into()),
            Err(TransactionError::Abort(())) => unreachable!("the transaction never aborts"),
        }
    }

    /// Which project, if any, a push secret belongs to.
    pub fn project_for_secret(&self, hash: &SecretHash) -> Result<Option<String>, StoreError> {
        Ok(self
            .push_secrets
            .get(hash.as_bytes())?
            .map(|slug| String::from_utf8_lossy(&slug).into_owned()))
    }

    /// Appends one event and counts it in its hour, in one transaction; then, when
    /// `forget_up_to` is set, drops that project's events with ids at or below it (the replay
    /// window's tail).
    pub fn append_event(
        &self,
        slug: &str,
        event: &SocialProofEvent,
        forget_up_to: Option<u64>,
    ) -> Result<(), StoreError> {
        let value = encode(event);
        let count_key = count_key(slug, event.created_at_ms / HOUR_MS, event.kind);
        let result = (&self.events, &self.event_counts).transaction(|(events, counts)| {
            events.insert(event_key(slug, event.id), value.as_slice())?;
            let count = counts.get(&count_key)?.map_or(0, |bytes| be_u64(&bytes));
            counts.insert(count_key.as_slice(), &(count + 1).to_be_bytes())?;
            Ok::<(), ConflictableTransactionError<()>>(())
        });
        match result {
            Ok(()) => {}
            Err(TransactionError::Storage(error)) => return Err(error.into()),
            Err(TransactionError::Abort(())) => unreachable!("the transaction never aborts"),
        }
        let mut batch = sled::Batch::default();
        if let Some(last_forgotten) = forget_up_to {
            let start = event_key(slug, 0);
            let end = event_key(slug, last_forgotten);
            for key in self.events.range(start..=end).keys() {
                batch.remove(key?);
            }
        }
        self.events.apply_batch(batch)?;
        Ok(())
    }

    /// Events of `slug` per type, counted from the start of hour `from_hour` (hours since the
    /// Unix epoch) on.
    pub fn event_counts(&self, slug: &str, from_hour: u64) -> Result<EventCounts, StoreError> {
        let mut counts = EventCounts::default();
        let range = count_key(slug, from_hour, EventKind::ALL[0])
            ..=count_key(slug, u64::MAX, EventKind::Custom);
        for entry in self.event_counts.range(range) {
            let (key, value) = entry?;
            let kind = EventKind::ALL
                .get(usize::from(key[key.len() - 1]))
                .copied()
                .ok_or_else(|| StoreError::Corrupt {
                    key: String::from_utf8_lossy(&key).into_owned(),
                    reason: "unknown event type code".into(),
                })?;
            counts.add(kind, be_u64(&value));
        }
        Ok(counts)
    }

    /// Events of `slug` per hour since `from_hour`, oldest first.
    pub fn event_counts_by_hour(
        &self,
        slug: &str,
        from_hour: u64,
    ) -> Result<Vec<(u64, EventCounts)>, StoreError> {
        let mut hours: Vec<(u64, EventCounts)> = Vec::new();
        let range = count_key(slug, from_hour, EventKind::ALL[0])
            ..=count_key(slug, u64::MAX, EventKind::Custom);
        for entry in self.event_counts.range(range) {
            let (key, value) = entry?;
            let hour = be_u64(&key[key.len() - 9..key.len() - 1]);
            let kind = EventKind::ALL
                .get(usize::from(key[key.len() - 1]))
                .copied()
                .ok_or_else(|| StoreError::Corrupt {
                    key: String::from_utf8_lossy(&key).into_owned(),
                    reason: "unknown event type code".into(),
                })?;
            if hours.last().is_none_or(|(last, _)| *last != hour) {
                hours.push((hour, EventCounts::default()));
            }
            hours
                .last_mut()
                .expect("just pushed")
                .1
                .add(kind, be_u64(&value));
        }
        Ok(hours)
    }

    /// Drops the hourly counts of `slug` before hour `before_hour`.
    pub fn forget_counts_before(&self, slug: &str, before_hour: u64) -> Result<(), StoreError> {
        let mut batch = sled::Batch::default();
        let range =
            count_key(slug, 0, EventKind::ALL[0])..count_key(slug, before_hour, EventKind::ALL[0]);
        for key in self.event_counts.range(range).keys() {
            batch.remove(key?);
        }
        self.event_counts.apply_batch(batch)?;
        let mut batch = sled::Batch::default();
        let range = event_key(slug, 0)..event_key(slug, before_hour);
        for key in self.delivery_counts.range(range).keys() {
            batch.remove(key?);
        }
        self.delivery_counts.apply_batch(batch)?;
        Ok(())
    }

    /// The store's size on disk, in bytes.
    pub fn size_on_disk(&self) -> Result<u64, StoreError> {
        Ok(self.db.size_on_disk()?)
    }

    /// Counts `delivered` events handed to live visitors of `slug` in `hour`. Not flushed on
    /// its own: a crash may lose the last moments of these figures, never an event.
    pub fn add_deliveries(&self, slug: &str, hour: u64, delivered: u64) -> Result<(), StoreError> {
        self.delivery_counts
            .update_and_fetch(event_key(slug, hour), |old| {
                let count = old.map_or(0, be_u64) + delivered;
                Some(count.to_be_bytes().to_vec())
            })?;
        Ok(())
    }

    /// Events handed to live visitors of `slug` per hour since `from_hour`, oldest first.
    pub fn deliveries_by_hour(
        &self,
        slug: &str,
        from_hour: u64,
    ) -> Result<Vec<(u64, u64)>, StoreError> {
        self.delivery_counts
            .range(event_key(slug, from_hour)..=event_key(slug, u64::MAX))
            .map(|entry| {
                let (key, value) = entry?;
                Ok((be_u64(&key[key.len() - 8..]), be_u64(&value)))
            })
            .collect()
    }

    pub fn user(&self, email: &str) -> Result<Option<UserRecord>, StoreError> {
        self.users
            .get(email.as_bytes())?
            .map(|bytes| decode(email, &bytes))
            .transpose()
    }

    /// Users are few (the people who run a site), so a scan is fine.
    pub fn user_by_id(&self, id: Uuid) -> Result<Option<UserRecord>, StoreError> {
        Ok(self.users()?.into_iter().find(|user| user.id == id))
    }

    pub fn users(&self) -> Result<Vec<UserRecord>, StoreError> {
        self.users
            .iter()
            .map(|entry| {
                let (key, value) = entry?;
                decode(&String::from_utf8_lossy(&key), &value)
            })
            .collect()
    }

    pub fn put_user(&self, user: &UserRecord) -> Result<(), StoreError> {
        self.users.insert(user.email.as_bytes(), encode(user))?;
        Ok(())
    }

    pub fn refresh(&self, hash: &SecretHash) -> Result<Option<RefreshRecord>, StoreError> {
        self.refresh_tokens
            .get(hash.as_bytes())?
            .map(|bytes| decode("refresh token", &bytes))
            .transpose()
    }

    pub fn put_refresh(&self, hash: &SecretHash, record: &RefreshRecord) -> Result<(), StoreError> {
        self.refresh_tokens
            .insert(hash.as_bytes(), encode(record))?;
        Ok(())
    }

    pub fn family_revoked(&self, family: Uuid) -> Result<bool, StoreError> {
        Ok(self.revoked_families.contains_key(family.as_bytes())?)
    }

    pub fn revoke_family(&self, family: Uuid) -> Result<(), StoreError> {
        self.revoked_families.insert(family.as_bytes(), &[])?;
        Ok(())
    }

    pub fn put_invitation(&self, invitation: &Invitation) -> Result<(), StoreError> {
        let key = invitation_key(&invitation.project, &invitation.email);
        self.invitations.insert(key, encode(invitation))?;
        Ok(())
    }

    pub fn invitation(&self, slug: &str, email: &str) -> Result<Option<Invitation>, StoreError> {
        self.invitations
            .get(invitation_key(slug, email))?
            .map(|bytes| decode(email, &bytes))
            .transpose()
    }

    /// Removes an invitation; whether there was one.
    pub fn delete_invitation(&self, slug: &str, email: &str) -> Result<bool, StoreError> {
        Ok(self
            .invitations
            .remove(invitation_key(slug, email))?
            .is_some())
    }

    /// The pending invitations to project `slug`, by email.
    pub fn project_invitations(&self, slug: &str) -> Result<Vec<Invitation>, StoreError> {
        self.invitations
            .scan_prefix(prefix(slug))
            .map(|entry| {
                let (key, value) = entry?;
                decode(&String::from_utf8_lossy(&key), &value)
            })
            .collect()
    }

    /// The pending invitations of `email`, to any project (a scan: invitations are few).
    pub fn invitations_for(&self, email: &str) -> Result<Vec<Invitation>, StoreError> {
        let mut found = Vec::new();
        for entry in self.invitations.iter() {
            let (key, value) = entry?;
            let invitation: Invitation = decode(&String::from_utf8_lossy(&key), &value)?;
            if invitation.email == email {
                found.push(invitation);
            }
        }
        Ok(found)
    }

    pub fn put_lead(&self, slug: &str, lead: &LeadRecord) -> Result<(), StoreError> {
        let mut key = event_key(slug, lead.created_at_ms);
        key.extend_from_slice(lead.session_id.as_bytes());
        self.leads.insert(key, encode(lead))?;
        Ok(())
    }

    /// Every lead of `slug`, oldest first.
    pub fn leads(&self, slug: &str) -> Result<Vec<LeadRecord>, StoreError> {
        let mut prefix = slug.as_bytes().to_vec();
        prefix.push(0);
        self.leads
            .scan_prefix(prefix)
            .map(|entry| {
                let (key, value) = entry?;
                decode(&String::from_utf8_lossy(&key), &value)
            })
            .collect()
    }

    /// Events of `slug` with an id greater than `after`, oldest first.
    pub fn events_after(
        &self,
        slug: &str,
        after: u64,
    ) -> Result<Vec<SocialProofEvent>, StoreError> {
        let start = event_key(slug, after.saturating_add(1));
        let end = event_key(slug, u64::MAX);
        self.events
            .range(start..=end)
            .map(|entry| {
                let (key, value) = entry?;
                decode(&String::from_utf8_lossy(&key), &value)
            })
            .collect()
    }

    /// The highest event id ever given out under `slug` — by this project, or by a deleted
    /// one of the same slug — or 0.
    pub fn last_event_id(&self, slug: &str) -> Result<u64, StoreError> {
        let range = event_key(slug, 0)..=event_key(slug, u64::MAX);
        let stored = match self.events.range(range).next_back() {
            Some(entry) => {
                let (key, _) = entry?;
                let id_bytes = &key[key.len() - 8..];
                u64::from_be_bytes(id_bytes.try_into().expect("event keys end in 8 id bytes"))
            }
            None => 0,
        };
        let floor = self
            .event_id_floors
            .get(slug.as_bytes())?
            .map_or(0, |bytes| be_u64(&bytes));
        Ok(stored.max(floor))
    }

    /// Every document of `slug`, in id order.
    pub fn documents(&self, slug: &str) -> Result<Vec<Document>, StoreError> {
        self.documents
            .scan_prefix(prefix(slug))
            .map(|entry| {
                let (key, value) = entry?;
                decode(&String::from_utf8_lossy(&key), &value)
            })
            .collect()
    }

    /// Replaces all of `slug`'s documents with `documents`, atomically.
    pub fn replace_documents(&self, slug: &str, documents: &[Document]) -> Result<(), StoreError> {
        let mut batch = sled::Batch::default();
        for key in self.documents.scan_prefix(prefix(slug)).keys() {
            batch.remove(key?);
        }
        for document in documents {
            let mut key = prefix(slug);
            key.extend_from_slice(document.id.as_bytes());
            batch.insert(key, encode(document));
        }
        self.documents.apply_batch(batch)?;
        Ok(())
    }

    pub fn session(&self, id: Uuid) -> Result<Option<SessionRecord>, StoreError> {
        let key = id.as_bytes();
        self.sessions
            .get(key)?
            .map(|bytes| decode(&id.to_string(), &bytes))
            .transpose()
    }

    /// Writes a session and its place in its project's conversation index, together.
    pub fn put_session(&self, record: &SessionRecord) -> Result<(), StoreError> {
        let value = encode(record);
        let index_key = project_session_key(&record.project, record.created_at_ms, record.id);
        let result = (&self.sessions, &self.project_sessions).transaction(|(sessions, index)| {
            sessions.insert(record.id.as_bytes(), value.as_slice())?;
            index.insert(index_key.as_slice(), &[])?;
            Ok::<(), ConflictableTransactionError<()>>(())
        });
        match result {
            Ok(()) => Ok(()),
            Err(TransactionError::Storage(error)) => Err(error.into()),
            Err(TransactionError::Abort(())) => unreachable!("the transaction never aborts"),
        }
    }

    /// Deletes a session, its messages and its index entry (a visitor's right to erasure).
    pub fn delete_session(&self, record: &SessionRecord) -> Result<(), StoreError> {
        let mut messages = sled::Batch::default();
        for key in self.messages.scan_prefix(record.id.as_bytes()).keys() {
            messages.remove(key?);
        }
        self.messages.apply_batch(messages)?;
        self.project_sessions.remove(project_session_key(
            &record.project,
            record.created_at_ms,
            record.id,
        ))?;
        self.sessions.remove(record.id.as_bytes())?;
        Ok(())
    }

    /// Deletes a project and everything it owns: conversations, leads, events and their counts,
    /// documents, invitations, and its push-secret index entry. What stays is the last event
    /// id it gave out, as the floor of the next project of that slug.
    pub fn delete_project(&self, record: &ProjectRecord) -> Result<(), StoreError> {
        let mut prefix = record.slug.as_bytes().to_vec();
        prefix.push(0);
        let last_event_id = self.last_event_id(&record.slug)?;
        self.event_id_floors
            .insert(record.slug.as_bytes(), &last_event_id.to_be_bytes())?;
        let sessions = self.project_sessions(&record.slug, None, usize::MAX)?;
        for session in &sessions {
            self.delete_session(session)?;
        }
        for tree in [
            &self.events,
            &self.event_counts,
            &self.delivery_counts,
            &self.documents,
            &self.leads,
            &self.project_sessions,
            &self.invitations,
        ] {
            let mut batch = sled::Batch::default();
            for key in tree.scan_prefix(&prefix).keys() {
                batch.remove(key?);
            }
            tree.apply_batch(batch)?;
        }
        if let Some(hash) = &record.push_secret_hash {
            self.push_secrets.remove(hash.as_bytes())?;
        }
        self.projects.remove(record.slug.as_bytes())?;
        Ok(())
    }

    /// Stores written before the conversation index existed get it built once.
    fn index_sessions(&self) -> Result<(), StoreError> {
        if !self.project_sessions.is_empty() {
            return Ok(());
        }
        for entry in self.sessions.iter() {
            let (key, value) = entry?;
            let record: SessionRecord = decode(&String::from_utf8_lossy(&key), &value)?;
            let index_key = project_session_key(&record.project, record.created_at_ms, record.id);
            self.project_sessions.insert(index_key, &[])?;
        }
        Ok(())
    }

    /// Up to `limit` sessions of `slug`, newest first, older than `before` (created ms, id).
    pub fn project_sessions(
        &self,
        slug: &str,
        before: Option<(u64, Uuid)>,
        limit: usize,
    ) -> Result<Vec<SessionRecord>, StoreError> {
        let start = project_session_key(slug, 0, Uuid::nil());
        let end = match before {
            Some((created_ms, id)) => project_session_key(slug, created_ms, id),
            None => project_session_key(slug, u64::MAX, Uuid::max()),
        };
        let mut sessions = Vec::new();
        for key in self.project_sessions.range(start..end).keys().rev() {
            let key = key?;
            let id =
                Uuid::from_slice(&key[key.len() - 16..]).map_err(|error| StoreError::Corrupt {
                    key: String::from_utf8_lossy(&key).into_owned(),
                    reason: error.to_string(),
                })?;
            sessions.extend(self.session(id)?);
            if sessions.len() == limit {
                break;
            }
        }
        Ok(sessions)
    }

    pub fn append_message(&self, session: Uuid, message: &MessageRecord) -> Result<(), StoreError> {
        let mut key = session.as_bytes().to_vec();
        key.extend_from_slice(&message.seq.to_be_bytes());
        self.messages.insert(key, encode(message))?;
        Ok(())
    }

    /// The transcript of `session`, oldest first.
    pub fn messages(&self, session: Uuid) -> Result<Vec<MessageRecord>, StoreError> {
        self.messages
            .scan_prefix(session.as_bytes())
            .map(|entry| {
                let (_, value) = entry?;
                decode(&session.to_string(), &value)
            })
            .collect()
    }

    fn check_schema(&self) -> Result<(), StoreError> {
        const KEY: &[u8] = b"schema_version";
        match self.db.get(KEY)? {
            None => {
                self.db.insert(KEY, &SCHEMA_VERSION.to_be_bytes())?;
                self.db.flush()?;
                Ok(())
            }
            Some(bytes) => {
                let found = <[u8; 8]>::try_from(bytes.as_ref())
                    .map(u64::from_be_bytes)
                    .ok();
                match found {
                    Some(SCHEMA_VERSION) => Ok(()),
                    other => Err(StoreError::Corrupt {
                        key: "schema_version".into(),
                        reason: format!("expected schema {SCHEMA_VERSION}, found {other:?}"),
                    }),
                }
            }
        }
    }
}

fn describe_open_error(error: sled::Error) -> String {
    match error {
        // sled wraps the lock's WouldBlock in an error of its own, so match on both.
        sled::Error::Io(io)
            if io.kind() == std::io::ErrorKind::WouldBlock
                || io.to_string().contains("could not acquire lock") =>
        {
            "it is locked by another process (is a helpyap server already running on it?)".into()
        }
        sled::Error::Io(io) => format!("i/o error: {io}"),
        sled::Error::Corruption { .. } => {
            "the data files are corrupt; restore a backup or move the directory away".into()
        }
        other => other.to_string(),
    }
}

fn prefix(slug: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(slug.len() + 1);
    key.extend_from_slice(slug.as_bytes());
    key.push(0);
    key
}

fn event_key(slug: &str, id: u64) -> Vec<u8> {
    let mut key = Vec::with_capacity(slug.len() + 9);
    key.extend_from_slice(slug.as_bytes());
    key.push(0);
    key.extend_from_slice(&id.to_be_bytes());
    key
}

pub const HOUR_MS: u64 = 3_600_000;

/// slug, 0x00, created ms (u64 big-endian), session id (16 bytes).
fn project_session_key(slug: &str, created_ms: u64, id: Uuid) -> Vec<u8> {
    let mut key = event_key(slug, created_ms);
    key.extend_from_slice(id.as_bytes());
    key
}

/// slug, 0x00, hour since the Unix epoch (u64 big-endian), event type code (one byte).
fn count_key(slug: &str, hour: u64, kind: EventKind) -> Vec<u8> {
    let mut key = event_key(slug, hour);
    key.push(kind.code());
    key
}

fn invitation_key(slug: &str, email: &str) -> Vec<u8> {
    let mut key = prefix(slug);
    key.extend_from_slice(email.as_bytes());
    key
}

fn be_u64(bytes: &[u8]) -> u64 {
    bytes.try_into().map(u64::from_be_bytes).unwrap_or(0)
}

fn encode<T: Serialize>(record: &T) -> Vec<u8> {
    serde_json::to_vec(record).expect("records are plain data and always serialize")
}

fn decode<T: DeserializeOwned>(key: &str, bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|error| StoreError::Corrupt {
        key: key.to_owned(),
        reason: error.to_string(),
    })
}

pub mod backup;

#[cfg(test)]
mod tests;
