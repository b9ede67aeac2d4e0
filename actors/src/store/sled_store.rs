//! The sled adapter of the storage port: the embedded single-node store, and the only module
//! that touches sled.
//!
//! It owns the tree layout (documented in `docs/ARCHITECTURE.md`) and turns typed records into
//! bytes and back. Multi-record writes are sled transactions; the next event id of a project is
//! read and moved inside the transaction that stores the event.
//!
//! Durability: writes land in sled's in-memory log; [`Storage::flush`] makes them survive
//! `kill -9`. Flushes go through one flusher thread that answers every caller waiting when a
//! flush starts (group commit); see [`Flusher`] for why sled's own `flush_async` is not used.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use serde::{Serialize, de::DeserializeOwned};
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError, TransactionalTree};

use uuid::Uuid;

use super::figures::{DayTally, FigureChange};
use super::{SCHEMA_VERSION, Storage, StoreError, source_key};
use crate::chat::SessionChange;
use crate::chat::{Handoff, LeadContact};
use crate::proactive::{CountsByRule, ProactiveAction};
use crate::records::{
    ApiTokenRecord, Document, EventCounts, EventKind, HOUR_MS, Invitation, LeadRecord,
    MessageRecord, PasswordReset, ProjectRecord, RefreshRecord, SessionRecord, SocialProofEvent,
    UserRecord,
};
use crate::secret::SecretHash;
use crate::social_proof::{NewEvent, PopupAction, PopupCounts};
use crate::time::now_ms;
use crate::webhook::{Attempt, Delivery, WebhookEvent, WebhookRecord};

/// The tree of the day tallies; backups leave it out (see `figures`).
pub(super) const FIGURES_TREE: &[u8] = b"figures";

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

/// sled's page cache when nothing else is asked for (sled's own default is 1 GiB).
pub const DEFAULT_CACHE_BYTES: u64 = 128 * 1024 * 1024;

impl From<sled::Error> for StoreError {
    fn from(error: sled::Error) -> StoreError {
        StoreError::Backend(Box::new(error))
    }
}

/// Handle to the open database. Cheap to clone; all clones share one sled instance.
#[derive(Clone)]
pub struct SledStore {
    pub(super) db: sled::Db,
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
    /// slug, 0x00, verified user id, 0x00, created ms (u64 big-endian), session id → empty: a
    /// verified visitor's conversations in time order.
    user_sessions: sled::Tree,
    /// session id (16 bytes), message seq as u32 big-endian → JSON [`MessageRecord`].
    messages: sled::Tree,
    /// slug, 0x00, hour (u64 big-endian), event type code → count (u64 big-endian).
    event_counts: sled::Tree,
    /// slug, 0x00, hour (u64 big-endian) → events handed to live visitors (u64 big-endian).
    delivery_counts: sled::Tree,
    /// slug, 0x00, hour as u64 big-endian, event type code, action code → popups as u64.
    popup_counts: sled::Tree,
    /// slug, 0x00, hour as u64 big-endian, rule id, 0x00, action code → proactive messages as
    /// u64.
    proactive_counts: sled::Tree,
    /// slug, 0x00, created ms (u64 big-endian), session id (16 bytes) → JSON [`LeadRecord`].
    leads: sled::Tree,
    /// SHA-256 of an API token (32 bytes) → JSON [`ApiTokenRecord`]; few, so listed by scanning.
    api_tokens: sled::Tree,
    /// slug, 0x00, webhook id → JSON [`WebhookRecord`].
    webhooks: sled::Tree,
    /// slug → JSON list of the project's enabled webhooks and what they hear.
    webhook_subs: sled::Tree,
    /// due ms (u64 big-endian), event id, webhook id → JSON [`Delivery`].
    webhook_outbox: sled::Tree,
    /// webhook id, at ms (u64 big-endian), event id → JSON [`Attempt`].
    webhook_log: sled::Tree,
    /// Changes of webhooks, one at a time (each rewrites its project's `webhook_subs`).
    config_writes: std::sync::Arc<std::sync::Mutex<()>>,
    /// lowercased email → JSON [`UserRecord`].
    users: sled::Tree,
    /// SHA-256 of a refresh token (32 bytes) → JSON [`RefreshRecord`].
    refresh_tokens: sled::Tree,
    /// token family id (16 bytes) → empty: every token of the family is refused.
    revoked_families: sled::Tree,
    /// SHA-256 of a password reset token (32 bytes) → JSON [`PasswordReset`]; removed when used.
    password_resets: sled::Tree,
    /// slug → the last digest period claimed (u64 big-endian).
    digests: sled::Tree,
    /// slug → the last event id given out under it (u64 big-endian), written with each event
    /// and kept when the project is deleted: a project re-created under that slug numbers its
    /// events after it, so no id is ever reused.
    event_id_floors: sled::Tree,
    /// slug, 0x00, lowercased email → JSON [`Invitation`]: a role offered, not yet accepted.
    invitations: sled::Tree,
    /// slug, 0x00, day since the epoch (u64 big-endian) → JSON [`DayTally`], kept by the
    /// transactions that write sessions and messages; `0xff` → empty once every record counts.
    figures: sled::Tree,
    flusher: Flusher,
}

impl SledStore {
    /// Opens (or creates) the store in `path`. A store that cannot be opened — locked by
    /// another process, unreadable, corrupt, or of a newer schema — is an error with a
    /// message fit for an operator, never a panic.
    pub fn open(path: &Path) -> Result<SledStore, StoreError> {
        SledStore::open_with_cache(path, DEFAULT_CACHE_BYTES)
    }

    /// Opens the store with sled's page cache bounded to `cache_bytes`.
    pub fn open_with_cache(path: &Path, cache_bytes: u64) -> Result<SledStore, StoreError> {
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
        let store = SledStore {
            projects: db.open_tree("projects")?,
            push_secrets: db.open_tree("push_secrets")?,
            events: db.open_tree("events")?,
            documents: db.open_tree("documents")?,
            sessions: db.open_tree("sessions")?,
            project_sessions: db.open_tree("project_sessions")?,
            user_sessions: db.open_tree("user_sessions")?,
            messages: db.open_tree("messages")?,
            event_counts: db.open_tree("event_counts")?,
            delivery_counts: db.open_tree("delivery_counts")?,
            popup_counts: db.open_tree("popup_counts")?,
            proactive_counts: db.open_tree("proactive_counts")?,
            leads: db.open_tree("leads")?,
            users: db.open_tree("users")?,
            refresh_tokens: db.open_tree("refresh_tokens")?,
            revoked_families: db.open_tree("revoked_families")?,
            password_resets: db.open_tree("password_resets")?,
            digests: db.open_tree("digests")?,
            event_id_floors: db.open_tree("event_id_floors")?,
            invitations: db.open_tree("invitations")?,
            figures: db.open_tree(FIGURES_TREE)?,
            api_tokens: db.open_tree("api_tokens")?,
            webhooks: db.open_tree("webhooks")?,
            webhook_subs: db.open_tree("webhook_subs")?,
            webhook_outbox: db.open_tree("webhook_outbox")?,
            webhook_log: db.open_tree("webhook_log")?,
            config_writes: Default::default(),
            flusher: Flusher::start()
                .map_err(|error| open_error(format!("cannot start the flusher thread: {error}")))?,
            db,
        };
        store.migrate(path).map_err(|error| match error {
            refused @ (StoreError::NewerSchema { .. }
            | StoreError::BackupBeforeMigrating { .. }) => refused,
            error => open_error(error.to_string()),
        })?;
        store
            .ensure_figures()
            .map_err(|error| open_error(error.to_string()))?;
        Ok(store)
    }

    /// Brings an older store up to [`SCHEMA_VERSION`], one step at a time, after writing a
    /// backup of it beside the store (`<store>.schema-N-backup.jsonl`); refuses a newer one. A
    /// new store is marked with the current schema.
    fn migrate(&self, path: &Path) -> Result<(), StoreError> {
        const KEY: &[u8] = b"schema_version";
        let found = match self.db.get(KEY)? {
            // A new store (every store was marked from schema 1 on).
            None => {
                self.db.insert(KEY, &SCHEMA_VERSION.to_be_bytes())?;
                self.db.flush()?;
                return Ok(());
            }
            Some(bytes) => <[u8; 8]>::try_from(bytes.as_ref())
                .map(u64::from_be_bytes)
                .map_err(|_| StoreError::Corrupt {
                    key: "schema_version".into(),
                    reason: "not a version number".into(),
                })?,
        };
        if found > SCHEMA_VERSION {
            return Err(StoreError::NewerSchema {
                found,
                supported: SCHEMA_VERSION,
            });
        }
        if found == SCHEMA_VERSION {
            return Ok(());
        }
        let backup = self.backup_before_migrating(path, found)?;
        tracing::info!(from = found, to = SCHEMA_VERSION, backup = %backup.display(), "migrating the store");
        for version in found + 1..=SCHEMA_VERSION {
            match version {
                2 => self.migrate_to_2()?,
                // Conversations may carry the visitor a page named, their other browsers'
                // tokens and an entry in `user_sessions`: nothing to change, but a schema-2
                // build would drop them, so it refuses this store.
                3 => {}
                // Conversations count in `figures`: rebuilt at open (`ensure_figures`), but a
                // schema-3 build would write conversations without counting them.
                4 => {}
                _ => unreachable!("a migration for every schema up to SCHEMA_VERSION"),
            }
            self.db.insert(KEY, &version.to_be_bytes())?;
            self.db.flush()?;
        }
        Ok(())
    }

    /// Writes the whole store, as it is, to a new file beside it.
    fn backup_before_migrating(&self, path: &Path, schema: u64) -> Result<PathBuf, StoreError> {
        let name = path.file_name().map_or_else(
            || "store".into(),
            |name| name.to_string_lossy().into_owned(),
        );
        let stamp = crate::time::utc_date(crate::time::now_ms());
        let mut target =
            path.with_file_name(format!("{name}.schema-{schema}-backup-{stamp}.jsonl"));
        let mut copy = 1;
        while target.exists() {
            copy += 1;
            target = path.with_file_name(format!(
                "{name}.schema-{schema}-backup-{stamp}-{copy}.jsonl"
            ));
        }
        let failed = |reason: String| StoreError::BackupBeforeMigrating {
            path: target.clone(),
            reason,
        };
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&target)
            .map_err(|error| failed(error.to_string()))?;
        let mut out = std::io::BufWriter::new(file);
        self.write_backup(&mut out, schema)
            .map_err(|error| failed(error.to_string()))?;
        out.into_inner()
            .map_err(|error| failed(error.to_string()))?
            .sync_all()
            .map_err(|error| failed(error.to_string()))?;
        Ok(target)
    }

    /// Schema 2: the last id given out recorded for every project with events, and every
    /// session in its project's conversation index.
    fn migrate_to_2(&self) -> Result<(), StoreError> {
        for entry in self.projects.iter() {
            let (slug, _) = entry?;
            let slug = String::from_utf8_lossy(&slug).into_owned();
            let newest = self.newest_event_id(&slug)?;
            let floor = self
                .event_id_floors
                .get(slug.as_bytes())?
                .map_or(0, |bytes| be_u64(&bytes));
            if newest > floor {
                self.event_id_floors
                    .insert(slug.as_bytes(), &newest.to_be_bytes())?;
            }
        }
        for entry in self.sessions.iter() {
            let (key, value) = entry?;
            let record: SessionRecord = decode(&String::from_utf8_lossy(&key), &value)?;
            let index_key = project_session_key(&record.project, record.created_at_ms, record.id);
            self.project_sessions.insert(index_key, &[])?;
        }
        Ok(())
    }

    /// [`Storage::append_message_with_news`] when `replace`, else
    /// [`Storage::insert_message_with_news`]: the message, its news and what it changes in the
    /// project's day tallies, in one transaction.
    async fn write_message(
        &self,
        session: Uuid,
        message: &MessageRecord,
        news: &[WebhookEvent],
        replace: bool,
    ) -> Result<bool, StoreError> {
        let key = figures::message_key(session, message.seq);
        let first = !self.asked_before(session, message.seq)?;
        let value = encode(message);
        let trees = (
            &self.messages,
            &self.sessions,
            &self.figures,
            &self.webhook_subs,
            &self.webhook_outbox,
        );
        trees
            .transaction(|(messages, sessions, tallies, subs, outbox)| {
                let Some(stored) = sessions.get(session.as_bytes())? else {
                    return Err(ConflictableTransactionError::Abort(
                        StoreError::NoSuchSession,
                    ));
                };
                let project = decode::<SessionRecord>("sessions", &stored)
                    .map_err(ConflictableTransactionError::Abort)?
                    .project;
                if !replace && messages.get(key.as_slice())?.is_some() {
                    return Ok(false);
                }
                let old = messages
                    .insert(key.as_slice(), value.as_slice())?
                    .map(|bytes| decode::<MessageRecord>("messages", &bytes))
                    .transpose()
                    .map_err(ConflictableTransactionError::Abort)?;
                let change = FigureChange::message_written(old.as_ref(), message, first);
                figures::apply(tallies, &project, &change)?;
                webhooks::queue_news(subs, outbox, news, now_ms())?;
                Ok(true)
            })
            .map_err(webhooks::transaction_error)
    }

    /// The id of the newest event of `slug` still stored, or 0.
    fn newest_event_id(&self, slug: &str) -> Result<u64, StoreError> {
        let range = event_key(slug, 0)..=event_key(slug, u64::MAX);
        Ok(match self.events.range(range).next_back() {
            Some(entry) => be_u64(&entry?.0[slug.len() + 1..]),
            None => 0,
        })
    }
}

#[async_trait::async_trait]
impl Storage for SledStore {
    async fn flush(&self) -> Result<(), StoreError> {
        self.flusher.flush(&self.db).await
    }

    fn backend(&self) -> &'static str {
        "sled"
    }

    async fn project(&self, slug: &str) -> Result<Option<ProjectRecord>, StoreError> {
        self.projects
            .get(slug)?
            .map(|bytes| decode(slug, &bytes))
            .transpose()
    }

    async fn project_slugs(&self) -> Result<Vec<String>, StoreError> {
        self.projects
            .iter()
            .keys()
            .map(|key| Ok(String::from_utf8_lossy(&key?).into_owned()))
            .collect()
    }

    async fn put_project(
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

    async fn project_for_secret(&self, hash: &SecretHash) -> Result<Option<String>, StoreError> {
        Ok(self
            .push_secrets
            .get(hash.as_bytes())?
            .map(|slug| String::from_utf8_lossy(&slug).into_owned()))
    }

    async fn append_event(
        &self,
        slug: &str,
        event: NewEvent,
        created_at_ms: u64,
        keep: u64,
    ) -> Result<SocialProofEvent, StoreError> {
        // The last id given out is read and moved inside the transaction, so concurrent appends
        // to one project conflict there and sled runs them one after the other.
        let count_key = count_key(slug, created_at_ms / HOUR_MS, event.kind);
        // A source is remembered, with when, among the periodic claims' keys.
        let source_key = event.source.as_ref().map(|source| source_key(slug, source));
        let numbered = |events: &TransactionalTree,
                        counts: &TransactionalTree,
                        floors: &TransactionalTree,
                        claims: &TransactionalTree| {
            if let Some(key) = &source_key {
                if claims.get(key.as_bytes())?.is_some() {
                    return Err(ConflictableTransactionError::Abort(
                        StoreError::AlreadyStored,
                    ));
                }
                claims.insert(key.as_bytes(), &created_at_ms.to_be_bytes())?;
            }
            let last = floors
                .get(slug.as_bytes())?
                .map_or(0, |bytes| be_u64(&bytes));
            let id = last + 1;
            let event = event.clone().into_event(id, created_at_ms);
            events.insert(event_key(slug, id), encode(&event))?;
            let count = counts.get(&count_key)?.map_or(0, |bytes| be_u64(&bytes));
            counts.insert(count_key.as_slice(), &(count + 1).to_be_bytes())?;
            floors.insert(slug.as_bytes(), &id.to_be_bytes())?;
            Ok::<_, ConflictableTransactionError<StoreError>>(event)
        };
        let event = if self.webhook_subs.contains_key(slug.as_bytes())? {
            // Its `socialproof.pushed` event goes into the outbox with it.
            let trees = (
                &self.event_counts,
                &self.event_id_floors,
                &self.webhook_subs,
            );
            (
                &self.events,
                trees.0,
                trees.1,
                trees.2,
                &self.webhook_outbox,
                &self.digests,
            )
                .transaction(|(events, counts, floors, subs, outbox, claims)| {
                    let event = numbered(events, counts, floors, claims)?;
                    let news = [crate::webhook::WebhookEvent::pushed(slug, &event)];
                    webhooks::queue_news(subs, outbox, &news, created_at_ms)?;
                    Ok(event)
                })
        } else {
            (
                &self.events,
                &self.event_counts,
                &self.event_id_floors,
                &self.digests,
            )
                .transaction(|(events, counts, floors, claims)| {
                    numbered(events, counts, floors, claims)
                })
        }
        .map_err(webhooks::transaction_error)?;
        if let Some(last_forgotten) = event.id.checked_sub(keep).filter(|&last| last > 0) {
            let mut batch = sled::Batch::default();
            for key in self
                .events
                .range(event_key(slug, 0)..=event_key(slug, last_forgotten))
                .keys()
            {
                batch.remove(key?);
            }
            self.events.apply_batch(batch)?;
        }
        Ok(event)
    }

    async fn event_counts_by_hour(
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

    async fn forget_counts_before(&self, slug: &str, before_hour: u64) -> Result<(), StoreError> {
        let mut batch = sled::Batch::default();
        let range =
            count_key(slug, 0, EventKind::ALL[0])..count_key(slug, before_hour, EventKind::ALL[0]);
        for key in self.event_counts.range(range).keys() {
            batch.remove(key?);
        }
        self.event_counts.apply_batch(batch)?;
        for tree in [
            &self.delivery_counts,
            &self.popup_counts,
            &self.proactive_counts,
        ] {
            let mut batch = sled::Batch::default();
            for key in tree
                .range(event_key(slug, 0)..event_key(slug, before_hour))
                .keys()
            {
                batch.remove(key?);
            }
            tree.apply_batch(batch)?;
        }
        // Sources as old: no platform retries a webhook for that long.
        let mut batch = sled::Batch::default();
        for entry in self.digests.scan_prefix(source_key(slug, "")) {
            let (key, stored_at) = entry?;
            if be_u64(&stored_at) < before_hour * HOUR_MS {
                batch.remove(key);
            }
        }
        self.digests.apply_batch(batch)?;
        Ok(())
    }

    async fn size_on_disk(&self) -> Result<u64, StoreError> {
        Ok(self.db.size_on_disk()?)
    }

    async fn add_deliveries(
        &self,
        slug: &str,
        hour: u64,
        delivered: u64,
    ) -> Result<(), StoreError> {
        self.delivery_counts
            .update_and_fetch(event_key(slug, hour), |old| {
                let count = old.map_or(0, be_u64) + delivered;
                Some(count.to_be_bytes().to_vec())
            })?;
        Ok(())
    }

    async fn import_events(
        &self,
        slug: &str,
        events: &[SocialProofEvent],
        last_id: u64,
        counts: &[(u64, EventCounts)],
    ) -> Result<(), StoreError> {
        let mut stored = sled::Batch::default();
        for event in events {
            stored.insert(event_key(slug, event.id), encode(event));
        }
        let mut counted = sled::Batch::default();
        for (hour, of_hour) in counts {
            for (kind, count) in of_hour.counted() {
                counted.insert(count_key(slug, *hour, kind), &count.to_be_bytes());
            }
        }
        self.events.apply_batch(stored)?;
        self.event_counts.apply_batch(counted)?;
        self.event_id_floors
            .insert(slug.as_bytes(), &last_id.to_be_bytes())?;
        Ok(())
    }

    async fn add_popup_counts(
        &self,
        slug: &str,
        hour: u64,
        counts: &PopupCounts,
    ) -> Result<(), StoreError> {
        for (action, kind, count) in counts.counted() {
            let mut key = count_key(slug, hour, kind);
            key.push(action.code());
            self.popup_counts.update_and_fetch(key, |old| {
                Some((old.map_or(0, be_u64) + count).to_be_bytes().to_vec())
            })?;
        }
        Ok(())
    }

    async fn popup_counts_by_hour(
        &self,
        slug: &str,
        from_hour: u64,
    ) -> Result<Vec<(u64, PopupCounts)>, StoreError> {
        let mut hours: Vec<(u64, PopupCounts)> = Vec::new();
        let range = event_key(slug, from_hour)..=event_key(slug, u64::MAX);
        for entry in self.popup_counts.range(range) {
            let (key, value) = entry?;
            let codes = &key[key.len() - 10..];
            let hour = be_u64(&codes[..8]);
            let kind = EventKind::ALL.get(usize::from(codes[8])).copied();
            let action = PopupAction::from_code(codes[9]);
            let (Some(kind), Some(action)) = (kind, action) else {
                return Err(StoreError::Corrupt {
                    key: String::from_utf8_lossy(&key).into_owned(),
                    reason: "unknown event type or popup action code".into(),
                });
            };
            if hours.last().is_none_or(|(last, _)| *last != hour) {
                hours.push((hour, PopupCounts::default()));
            }
            let counts = &mut hours.last_mut().expect("just pushed").1;
            counts.add(action, kind, be_u64(&value));
        }
        Ok(hours)
    }

    async fn add_proactive_counts(
        &self,
        slug: &str,
        hour: u64,
        counts: &CountsByRule,
    ) -> Result<(), StoreError> {
        for (rule, counts) in counts {
            for (action, count) in counts.counted() {
                let mut key = event_key(slug, hour);
                key.extend_from_slice(rule.as_bytes());
                key.extend_from_slice(&[0, action.code()]);
                self.proactive_counts.update_and_fetch(key, |old| {
                    Some((old.map_or(0, be_u64) + count).to_be_bytes().to_vec())
                })?;
            }
        }
        Ok(())
    }

    async fn proactive_counts_by_hour(
        &self,
        slug: &str,
        from_hour: u64,
    ) -> Result<Vec<(u64, CountsByRule)>, StoreError> {
        let mut hours: Vec<(u64, CountsByRule)> = Vec::new();
        let start = event_key(slug, from_hour);
        // Past every key of `slug`: its keys go on with a 0 byte after it.
        let mut end = slug.as_bytes().to_vec();
        end.push(1);
        let after_slug = slug.len() + 1;
        for entry in self.proactive_counts.range(start..end) {
            let (key, value) = entry?;
            let corrupt = || StoreError::Corrupt {
                key: String::from_utf8_lossy(&key).into_owned(),
                reason: "not slug, hour, rule, 0, action".into(),
            };
            let rest = &key[after_slug..];
            if rest.len() < 11 || rest[rest.len() - 2] != 0 {
                return Err(corrupt());
            }
            let hour = be_u64(&rest[..8]);
            let rule = std::str::from_utf8(&rest[8..rest.len() - 2]).map_err(|_| corrupt())?;
            let action = ProactiveAction::from_code(rest[rest.len() - 1]).ok_or_else(corrupt)?;
            if hours.last().is_none_or(|(last, _)| *last != hour) {
                hours.push((hour, CountsByRule::new()));
            }
            let of_hour = &mut hours.last_mut().expect("just pushed").1;
            of_hour
                .entry(rule.to_owned())
                .or_default()
                .add(action, be_u64(&value));
        }
        Ok(hours)
    }

    async fn deliveries_by_hour(
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

    async fn user(&self, email: &str) -> Result<Option<UserRecord>, StoreError> {
        self.users
            .get(email.as_bytes())?
            .map(|bytes| decode(email, &bytes))
            .transpose()
    }

    async fn user_by_id(&self, id: Uuid) -> Result<Option<UserRecord>, StoreError> {
        Ok(self.users().await?.into_iter().find(|user| user.id == id))
    }

    async fn users(&self) -> Result<Vec<UserRecord>, StoreError> {
        decode_all(self.users.iter())
    }

    async fn put_user(&self, user: &UserRecord) -> Result<(), StoreError> {
        self.users.insert(user.email.as_bytes(), encode(user))?;
        Ok(())
    }

    async fn refresh(&self, hash: &SecretHash) -> Result<Option<RefreshRecord>, StoreError> {
        self.refresh_tokens
            .get(hash.as_bytes())?
            .map(|bytes| decode("refresh token", &bytes))
            .transpose()
    }

    async fn put_refresh(
        &self,
        hash: &SecretHash,
        record: &RefreshRecord,
    ) -> Result<(), StoreError> {
        self.refresh_tokens
            .insert(hash.as_bytes(), encode(record))?;
        Ok(())
    }

    async fn family_revoked(&self, family: Uuid) -> Result<bool, StoreError> {
        Ok(self.revoked_families.contains_key(family.as_bytes())?)
    }

    async fn revoke_family(&self, family: Uuid) -> Result<(), StoreError> {
        self.revoked_families.insert(family.as_bytes(), &[])?;
        Ok(())
    }

    async fn claim_period(&self, key: &str, period: u64) -> Result<bool, StoreError> {
        let mut claimed = false;
        self.digests.update_and_fetch(key.as_bytes(), |last| {
            let last = last.map_or(0, be_u64);
            claimed = period > last;
            Some(period.max(last).to_be_bytes().to_vec())
        })?;
        Ok(claimed)
    }

    async fn user_families(&self, user: Uuid) -> Result<Vec<Uuid>, StoreError> {
        let tokens: Vec<RefreshRecord> = decode_all(self.refresh_tokens.iter())?;
        let mut families: Vec<Uuid> = tokens
            .into_iter()
            .filter(|token| token.user_id == user)
            .map(|token| token.family)
            .collect();
        families.sort();
        families.dedup();
        Ok(families)
    }

    async fn put_password_reset(
        &self,
        hash: &SecretHash,
        reset: &PasswordReset,
    ) -> Result<(), StoreError> {
        self.password_resets
            .insert(hash.as_bytes(), encode(reset))?;
        Ok(())
    }

    async fn forget_password_resets(&self, user: Uuid) -> Result<(), StoreError> {
        for entry in self.password_resets.iter() {
            let (key, value) = entry?;
            let reset: PasswordReset = decode("password reset", &value)?;
            if reset.user_id == user {
                self.password_resets.remove(key)?;
            }
        }
        Ok(())
    }

    async fn take_password_reset(
        &self,
        hash: &SecretHash,
    ) -> Result<Option<PasswordReset>, StoreError> {
        self.password_resets
            .remove(hash.as_bytes())?
            .map(|bytes| decode("password reset", &bytes))
            .transpose()
    }

    async fn put_invitation(&self, invitation: &Invitation) -> Result<(), StoreError> {
        let key = invitation_key(&invitation.project, &invitation.email);
        self.invitations.insert(key, encode(invitation))?;
        Ok(())
    }

    async fn invitation(&self, slug: &str, email: &str) -> Result<Option<Invitation>, StoreError> {
        self.invitations
            .get(invitation_key(slug, email))?
            .map(|bytes| decode(email, &bytes))
            .transpose()
    }

    async fn delete_invitation(&self, slug: &str, email: &str) -> Result<bool, StoreError> {
        Ok(self
            .invitations
            .remove(invitation_key(slug, email))?
            .is_some())
    }

    async fn project_invitations(&self, slug: &str) -> Result<Vec<Invitation>, StoreError> {
        decode_all(self.invitations.scan_prefix(prefix(slug)))
    }

    async fn invitations_for(&self, email: &str) -> Result<Vec<Invitation>, StoreError> {
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

    async fn api_token(&self, hash: &SecretHash) -> Result<Option<ApiTokenRecord>, StoreError> {
        self.api_tokens
            .get(hash.as_bytes())?
            .map(|bytes| decode("api token", &bytes))
            .transpose()
    }

    async fn put_api_token(&self, token: &ApiTokenRecord) -> Result<(), StoreError> {
        self.api_tokens
            .insert(token.token_hash.as_bytes(), encode(token))?;
        Ok(())
    }

    async fn note_api_token_use(&self, hash: &SecretHash, at_ms: u64) -> Result<(), StoreError> {
        // Atomic, and only on a token that is there: a revoked one stays revoked.
        let mut corrupt = None;
        self.api_tokens
            .update_and_fetch(hash.as_bytes(), |current| {
                let current = current?;
                match decode::<ApiTokenRecord>("api token", current) {
                    Ok(mut token) => {
                        token.last_used_ms = Some(at_ms);
                        Some(encode(&token))
                    }
                    Err(error) => {
                        corrupt = Some(error);
                        Some(current.to_vec())
                    }
                }
            })?;
        corrupt.map_or(Ok(()), Err)
    }

    async fn project_api_tokens(&self, slug: &str) -> Result<Vec<ApiTokenRecord>, StoreError> {
        let mut tokens: Vec<ApiTokenRecord> = decode_all(self.api_tokens.iter())?;
        tokens.retain(|token| token.project == slug);
        tokens.sort_by_key(|token| (token.created_at_ms, token.id));
        Ok(tokens)
    }

    async fn delete_api_token(&self, slug: &str, id: Uuid) -> Result<bool, StoreError> {
        let tokens = self.project_api_tokens(slug).await?;
        let Some(token) = tokens.iter().find(|token| token.id == id) else {
            return Ok(false);
        };
        Ok(self
            .api_tokens
            .remove(token.token_hash.as_bytes())?
            .is_some())
    }

    async fn put_lead_with_news(
        &self,
        slug: &str,
        lead: &LeadRecord,
        news: &[WebhookEvent],
    ) -> Result<(), StoreError> {
        let mut key = event_key(slug, lead.created_at_ms);
        key.extend_from_slice(lead.session_id.as_bytes());
        let trees = (
            &self.leads,
            &self.figures,
            &self.webhook_subs,
            &self.webhook_outbox,
        );
        trees
            .transaction(|(leads, tallies, subs, outbox)| {
                if leads.insert(key.as_slice(), encode(lead))?.is_none() {
                    let change = FigureChange::lead_added(lead.created_at_ms);
                    figures::apply(tallies, slug, &change)?;
                }
                webhooks::queue_news(subs, outbox, news, now_ms())
            })
            .map_err(webhooks::transaction_error)
    }

    async fn webhooks(&self, slug: &str) -> Result<Vec<WebhookRecord>, StoreError> {
        self.project_webhooks(slug)
    }

    async fn put_webhook(&self, webhook: &WebhookRecord) -> Result<(), StoreError> {
        self.write_webhook(&webhook.project, webhook.id, Some(webhook))?;
        Ok(())
    }

    async fn delete_webhook(&self, slug: &str, id: Uuid) -> Result<bool, StoreError> {
        let existed = self.write_webhook(slug, id, None)?;
        if existed {
            self.forget_webhook(id)?;
        }
        Ok(existed)
    }

    async fn claim_deliveries(
        &self,
        now_ms: u64,
        lease_ms: u64,
        limit: usize,
    ) -> Result<Vec<Delivery>, StoreError> {
        self.claim(now_ms, lease_ms, limit)
    }

    async fn settle_delivery(
        &self,
        claimed: &Delivery,
        retry_at_ms: Option<u64>,
        attempt: Option<&Attempt>,
    ) -> Result<(), StoreError> {
        self.settle(claimed, retry_at_ms, attempt)
    }

    async fn disable_webhook(
        &self,
        slug: &str,
        id: Uuid,
        reason: &str,
    ) -> Result<bool, StoreError> {
        self.disable(slug, id, reason)
    }

    async fn wake_deliveries(&self, id: Uuid, now_ms: u64) -> Result<(), StoreError> {
        self.wake(id, now_ms)
    }

    async fn enqueue_delivery(&self, delivery: &Delivery) -> Result<(), StoreError> {
        self.enqueue(delivery)
    }

    async fn webhook_log(&self, id: Uuid) -> Result<Vec<Attempt>, StoreError> {
        self.log_of(id)
    }

    async fn leads(&self, slug: &str) -> Result<Vec<LeadRecord>, StoreError> {
        let mut prefix = slug.as_bytes().to_vec();
        prefix.push(0);
        decode_all(self.leads.scan_prefix(prefix))
    }

    async fn events_after(
        &self,
        slug: &str,
        after: u64,
    ) -> Result<Vec<SocialProofEvent>, StoreError> {
        let start = event_key(slug, after.saturating_add(1));
        let end = event_key(slug, u64::MAX);
        decode_all(self.events.range(start..=end))
    }

    async fn last_event_id(&self, slug: &str) -> Result<u64, StoreError> {
        Ok(self
            .event_id_floors
            .get(slug.as_bytes())?
            .map_or(0, |bytes| be_u64(&bytes)))
    }

    async fn documents(&self, slug: &str) -> Result<Vec<Document>, StoreError> {
        decode_all(self.documents.scan_prefix(prefix(slug)))
    }

    async fn replace_documents(
        &self,
        slug: &str,
        documents: &[Document],
    ) -> Result<(), StoreError> {
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

    async fn session(&self, id: Uuid) -> Result<Option<SessionRecord>, StoreError> {
        let key = id.as_bytes();
        self.sessions
            .get(key)?
            .map(|bytes| decode(&id.to_string(), &bytes))
            .transpose()
    }

    async fn put_session(&self, record: &SessionRecord) -> Result<(), StoreError> {
        let value = encode(record);
        let index_key = project_session_key(&record.project, record.created_at_ms, record.id);
        let user_key = user_session_key(record);
        let trees = (
            &self.sessions,
            &self.project_sessions,
            &self.user_sessions,
            &self.figures,
        );
        trees
            .transaction(|(sessions, index, users, tallies)| {
                let old: Option<SessionRecord> = sessions
                    .insert(record.id.as_bytes(), value.as_slice())?
                    .map(|bytes| decode("sessions", &bytes))
                    .transpose()
                    .map_err(ConflictableTransactionError::Abort)?;
                index.insert(index_key.as_slice(), &[])?;
                if let Some(key) = &user_key {
                    users.insert(key.as_slice(), &[])?;
                }
                let change = FigureChange::session_written(old.as_ref(), record);
                figures::apply(tallies, &record.project, &change)
            })
            .map_err(webhooks::transaction_error)
    }

    async fn update_handoff_with_news(
        &self,
        id: Uuid,
        handoff: &Handoff,
        lead: Option<&LeadContact>,
        news: &[WebhookEvent],
    ) -> Result<SessionRecord, StoreError> {
        if self.heard(news)? {
            return (&self.sessions, &self.webhook_subs, &self.webhook_outbox)
                .transaction(|(sessions, subs, outbox)| {
                    let Some(current) = sessions.get(id.as_bytes())? else {
                        return Err(ConflictableTransactionError::Abort(
                            StoreError::NoSuchSession,
                        ));
                    };
                    let mut record: SessionRecord = decode("sessions", &current)
                        .map_err(ConflictableTransactionError::Abort)?;
                    record.handoff = handoff.clone();
                    if let Some(lead) = lead {
                        record.lead = Some(lead.clone());
                    }
                    sessions.insert(id.as_bytes(), encode(&record))?;
                    webhooks::queue_news(subs, outbox, news, now_ms())?;
                    Ok(record)
                })
                .map_err(webhooks::transaction_error);
        }
        // Compare and swap: a write that came in between is kept, and this change applied on top.
        loop {
            let Some(current) = self.sessions.get(id.as_bytes())? else {
                return Err(StoreError::NoSuchSession);
            };
            let mut record: SessionRecord = decode("sessions", &current)?;
            record.handoff = handoff.clone();
            if let Some(lead) = lead {
                record.lead = Some(lead.clone());
            }
            let swapped = self.sessions.compare_and_swap(
                id.as_bytes(),
                Some(&current),
                Some(encode(&record)),
            )?;
            if swapped.is_ok() {
                return Ok(record);
            }
        }
    }

    async fn change_session(
        &self,
        id: Uuid,
        change: &SessionChange,
        news: &[WebhookEvent],
    ) -> Result<SessionRecord, StoreError> {
        let trees = (
            &self.sessions,
            &self.user_sessions,
            &self.figures,
            &self.webhook_subs,
            &self.webhook_outbox,
        );
        trees
            .transaction(|(sessions, users, tallies, subs, outbox)| {
                let Some(current) = sessions.get(id.as_bytes())? else {
                    return Err(ConflictableTransactionError::Abort(
                        StoreError::NoSuchSession,
                    ));
                };
                let mut record: SessionRecord =
                    decode("sessions", &current).map_err(ConflictableTransactionError::Abort)?;
                let old = record.clone();
                let before = user_session_key(&record);
                if !change.apply(&mut record) {
                    return Ok(record);
                }
                let figures = FigureChange::session_written(Some(&old), &record);
                figures::apply(tallies, &record.project, &figures)?;
                let after = user_session_key(&record);
                if before != after {
                    if let Some(old) = before {
                        users.remove(old)?;
                    }
                    if let Some(key) = after {
                        users.insert(key, &[])?;
                    }
                }
                sessions.insert(id.as_bytes(), encode(&record))?;
                webhooks::queue_news(subs, outbox, news, now_ms())?;
                Ok(record)
            })
            .map_err(webhooks::transaction_error)
    }

    async fn latest_user_session(
        &self,
        slug: &str,
        user_id: &str,
    ) -> Result<Option<SessionRecord>, StoreError> {
        let prefix = user_prefix(slug, user_id);
        for key in self.user_sessions.scan_prefix(&prefix).keys().rev() {
            let key = key?;
            let id = key
                .len()
                .checked_sub(16)
                .and_then(|start| Uuid::from_slice(&key[start..]).ok())
                .ok_or_else(|| StoreError::Corrupt {
                    key: String::from_utf8_lossy(&key).into_owned(),
                    reason: "a user's session key must end in a session id".into(),
                })?;
            // The index is a hint: the record says whose the conversation is.
            let record = self.session(id).await?;
            if let Some(record) =
                record.filter(|record| user_session_key(record) == Some(key.to_vec()))
            {
                return Ok(Some(record));
            }
        }
        Ok(None)
    }

    async fn delete_session(&self, record: &SessionRecord) -> Result<(), StoreError> {
        let trees = (
            &self.sessions,
            &self.project_sessions,
            &self.user_sessions,
            &self.messages,
            &self.figures,
        );
        // The transcript's keys are found by a scan (transactions cannot scan) and read again
        // inside the transaction, which also looks for a message after the last: one written
        // meanwhile makes it start over.
        loop {
            let keys = self
                .messages
                .scan_prefix(record.id.as_bytes())
                .keys()
                .collect::<Result<Vec<_>, _>>()?;
            // Seqs start at 1; none follows the largest.
            let next = keys
                .last()
                .map_or(Some(1), |key| seq_of(key).checked_add(1));
            let erased = trees
                .transaction(|(sessions, index, users, messages, tallies)| {
                    if let Some(next) = next
                        && messages
                            .get(figures::message_key(record.id, next))?
                            .is_some()
                    {
                        return Ok(false);
                    }
                    let mut transcript = Vec::with_capacity(keys.len());
                    for key in &keys {
                        if let Some(bytes) = messages.remove(key)? {
                            transcript.push(
                                decode::<MessageRecord>("messages", &bytes)
                                    .map_err(ConflictableTransactionError::Abort)?,
                            );
                        }
                    }
                    // The record and its index entries together, as stored now (its visitor
                    // may have changed since the caller read it).
                    let stored = sessions
                        .remove(record.id.as_bytes())?
                        .map(|bytes| decode::<SessionRecord>("sessions", &bytes))
                        .transpose()
                        .map_err(ConflictableTransactionError::Abort)?;
                    if let Some(stored) = &stored {
                        let change = FigureChange::conversation(stored, &transcript, -1);
                        figures::apply(tallies, &stored.project, &change)?;
                    }
                    let stored = stored.unwrap_or_else(|| record.clone());
                    index.remove(project_session_key(
                        &stored.project,
                        stored.created_at_ms,
                        stored.id,
                    ))?;
                    if let Some(key) = user_session_key(&stored) {
                        users.remove(key)?;
                    }
                    Ok(true)
                })
                .map_err(webhooks::transaction_error)?;
            if erased {
                return Ok(());
            }
        }
    }

    async fn delete_project(&self, record: &ProjectRecord) -> Result<(), StoreError> {
        let mut prefix = record.slug.as_bytes().to_vec();
        prefix.push(0);
        let last_event_id = self.last_event_id(&record.slug).await?;
        self.event_id_floors
            .insert(record.slug.as_bytes(), &last_event_id.to_be_bytes())?;
        let sessions = self
            .project_sessions(&record.slug, None, usize::MAX)
            .await?;
        for session in &sessions {
            self.delete_session(session).await?;
        }
        for tree in [
            &self.events,
            &self.event_counts,
            &self.delivery_counts,
            &self.popup_counts,
            &self.proactive_counts,
            &self.documents,
            &self.leads,
            &self.project_sessions,
            &self.user_sessions,
            &self.invitations,
            &self.figures,
        ] {
            let mut batch = sled::Batch::default();
            for key in tree.scan_prefix(&prefix).keys() {
                batch.remove(key?);
            }
            tree.apply_batch(batch)?;
        }
        let mut sources = sled::Batch::default();
        for key in self
            .digests
            .scan_prefix(source_key(&record.slug, ""))
            .keys()
        {
            sources.remove(key?);
        }
        self.digests.apply_batch(sources)?;
        if let Some(hash) = &record.push_secret_hash {
            self.push_secrets.remove(hash.as_bytes())?;
        }
        for token in self.project_api_tokens(&record.slug).await? {
            self.api_tokens.remove(token.token_hash.as_bytes())?;
        }
        self.forget_project_webhooks(&record.slug)?;
        self.projects.remove(record.slug.as_bytes())?;
        Ok(())
    }

    async fn project_sessions(
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
            sessions.extend(self.session(id).await?);
            if sessions.len() == limit {
                break;
            }
        }
        Ok(sessions)
    }

    async fn append_message_with_news(
        &self,
        session: Uuid,
        message: &MessageRecord,
        news: &[WebhookEvent],
    ) -> Result<(), StoreError> {
        self.write_message(session, message, news, true)
            .await
            .map(|_| ())
    }

    async fn insert_message_with_news(
        &self,
        session: Uuid,
        message: &MessageRecord,
        news: &[WebhookEvent],
    ) -> Result<bool, StoreError> {
        self.write_message(session, message, news, false).await
    }

    async fn figure_days(
        &self,
        slug: &str,
        from_day: u64,
    ) -> Result<Vec<(u64, DayTally)>, StoreError> {
        self.day_tallies(slug, from_day)
    }

    async fn messages(&self, session: Uuid) -> Result<Vec<MessageRecord>, StoreError> {
        self.messages
            .scan_prefix(session.as_bytes())
            .map(|entry| {
                let (_, value) = entry?;
                decode(&session.to_string(), &value)
            })
            .collect()
    }

    fn backup_to(
        &self,
        out: &mut dyn std::io::Write,
    ) -> Result<super::backup::BackupSummary, super::backup::BackupError> {
        self.write_backup(out, SCHEMA_VERSION)
    }
}

/// Why a store that another process (or, for a moment after it closes, this one) holds cannot
/// be opened.
const LOCKED: &str = "it is locked by another process (is a helpyap server already running on it?)";

impl SledStore {
    /// Opens the store a restore has just written. sled's threads let go of its lock a moment
    /// after the restore closes it, so a lock still held is waited for, up to five seconds.
    pub fn open_restored(path: &Path) -> Result<SledStore, StoreError> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            match SledStore::open(path) {
                Err(StoreError::Open { reason, .. })
                    if reason == LOCKED && std::time::Instant::now() < deadline =>
                {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                opened => return opened,
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
            LOCKED.into()
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

/// slug, 0x00, created ms (u64 big-endian), session id (16 bytes).
fn project_session_key(slug: &str, created_ms: u64, id: Uuid) -> Vec<u8> {
    let mut key = event_key(slug, created_ms);
    key.extend_from_slice(id.as_bytes());
    key
}

/// slug, 0x00, user id, 0x00: the start of a verified visitor's keys in `user_sessions`.
fn user_prefix(slug: &str, user_id: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(slug.len() + user_id.len() + 2);
    key.extend_from_slice(slug.as_bytes());
    key.push(0);
    key.extend_from_slice(user_id.as_bytes());
    key.push(0);
    key
}

/// The session's key in `user_sessions` when its visitor is verified (user ids hold no
/// control characters, so never `0x00`).
fn user_session_key(record: &SessionRecord) -> Option<Vec<u8>> {
    let visitor = record.visitor.as_ref().filter(|visitor| visitor.verified)?;
    let mut key = user_prefix(&record.project, &visitor.user_id);
    key.extend_from_slice(&record.created_at_ms.to_be_bytes());
    key.extend_from_slice(record.id.as_bytes());
    Some(key)
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

/// The seq at the end of a `messages` key.
fn seq_of(key: &[u8]) -> u32 {
    key.get(16..)
        .and_then(|bytes| bytes.try_into().ok())
        .map_or(0, u32::from_be_bytes)
}

fn be_u64(bytes: &[u8]) -> u64 {
    bytes.try_into().map(u64::from_be_bytes).unwrap_or(0)
}

fn encode<T: Serialize>(record: &T) -> Vec<u8> {
    serde_json::to_vec(record).expect("records are plain data and always serialize")
}

/// Every record of `entries`, in key order.
fn decode_all<T: DeserializeOwned>(
    entries: impl Iterator<Item = sled::Result<(sled::IVec, sled::IVec)>>,
) -> Result<Vec<T>, StoreError> {
    entries
        .map(|entry| {
            let (key, value) = entry?;
            decode(&String::from_utf8_lossy(&key), &value)
        })
        .collect()
}

fn decode<T: DeserializeOwned>(key: &str, bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|error| StoreError::Corrupt {
        key: key.to_owned(),
        reason: error.to_string(),
    })
}

mod figures;
mod webhooks;

#[cfg(test)]
pub(crate) mod tests;
