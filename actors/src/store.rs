//! The storage port: the one way the engine reaches durable state, and the errors of that
//! boundary.
//!
//! [`Storage`] is async because one backend (PostgreSQL, cluster mode) is across a network; the
//! other is the embedded [`SledStore`]. Every backend must pass the contract suite in
//! `store/contract.rs`. The port stores and finds records; it never decides *whether* a write is
//! allowed — that is the owning actor's job — and it never caches: callers keep what they need
//! in actor state or snapshots.

use std::io::Write;
use std::sync::Arc;

use uuid::Uuid;

use crate::chat::SessionChange;
use crate::chat::{Handoff, LeadContact};
use crate::proactive::CountsByRule;
use crate::records::{
    ApiTokenRecord, Document, EventCounts, Invitation, LeadRecord, MessageRecord, PasswordReset,
    ProjectRecord, RefreshRecord, SessionRecord, SocialProofEvent, UserRecord,
};
use crate::secret::SecretHash;
use crate::social_proof::{NewEvent, PopupCounts};
use crate::webhook::{Attempt, Delivery, WebhookEvent, WebhookRecord};

pub mod backup;
pub mod copy;
pub mod figures;
pub(crate) mod postgres;
pub mod queries;
mod sled_store;

#[cfg(test)]
pub(crate) mod contract;

pub use crate::error::StoreError;
pub use figures::DayTally;
pub use postgres::{ClusterIdentity, PgStore};
pub use queries::{ConversationFigures, DayCounts, SessionFilter, SessionPage};
pub use sled_store::{DEFAULT_CACHE_BYTES, SledStore};

/// The sled store's schema, bumped when the key layout or a record's encoding changes; an older
/// store is migrated forward at open (after a backup file is written), a newer one refused.
/// 2: every project with events has its `event_id_floors` entry and every session its
/// `project_sessions` entry (stores of schema 1 written before those existed lack them).
/// 3: sessions may carry their visitor and other browsers' tokens, indexed in `user_sessions`.
/// 4: every conversation counts in its project's day tallies (`figures`), which an older build
/// would leave behind as it writes.
pub const SCHEMA_VERSION: u64 = 4;

/// The engine's handle on storage. Cheap to clone; all clones share one backend.
pub type Store = Arc<dyn Storage>;

/// Durable state, record by record. Writes are visible to reads at once; they survive a crash
/// once a later [`Storage::flush`] has returned. Lists come back in the documented order.
/// Where a store remembers the source of an event (a Stripe session, a Shopify order) among
/// the periodic claims' keys: `source:SLUG:SOURCE`.
pub(crate) fn source_key(slug: &str, source: &str) -> String {
    format!("source:{slug}:{source}")
}

#[async_trait::async_trait]
pub trait Storage: Send + Sync + 'static {
    /// Makes every write so far durable. Await it before acknowledging a write.
    async fn flush(&self) -> Result<(), StoreError>;

    /// What keeps the records, for health reports: "sled" or "postgresql".
    fn backend(&self) -> &'static str;

    /// Whether the store answers right now (a database server may be down).
    async fn check(&self) -> Result<(), StoreError> {
        Ok(())
    }

    async fn project(&self, slug: &str) -> Result<Option<ProjectRecord>, StoreError>;

    /// Every project's slug, in byte order.
    async fn project_slugs(&self) -> Result<Vec<String>, StoreError>;

    /// Writes `record`, keeping the push-secret index in step in the same transaction:
    /// `previous_secret` (if any) stops resolving, the record's new secret starts to.
    async fn put_project(
        &self,
        record: &ProjectRecord,
        previous_secret: Option<&SecretHash>,
    ) -> Result<(), StoreError>;

    /// Adds to `slug`'s counts of popups shown and clicked in `hour` (hours since the epoch).
    async fn add_popup_counts(
        &self,
        slug: &str,
        hour: u64,
        counts: &PopupCounts,
    ) -> Result<(), StoreError>;

    /// `slug`'s popups shown and clicked per hour from `from_hour` on, oldest first; hours
    /// with none are left out. `forget_counts_before` drops old hours of these too.
    async fn popup_counts_by_hour(
        &self,
        slug: &str,
        from_hour: u64,
    ) -> Result<Vec<(u64, PopupCounts)>, StoreError>;

    /// Adds to `slug`'s counts of proactive messages shown, opened and dismissed in `hour`,
    /// per rule id.
    async fn add_proactive_counts(
        &self,
        slug: &str,
        hour: u64,
        counts: &CountsByRule,
    ) -> Result<(), StoreError>;

    /// `slug`'s proactive message counts per hour from `from_hour` on, oldest first, each hour's
    /// by rule id; hours with none are left out. `forget_counts_before` drops old hours too.
    async fn proactive_counts_by_hour(
        &self,
        slug: &str,
        from_hour: u64,
    ) -> Result<Vec<(u64, CountsByRule)>, StoreError>;

    /// Which project, if any, a push secret belongs to.
    async fn project_for_secret(&self, hash: &SecretHash) -> Result<Option<String>, StoreError>;

    /// Gives `event` the next id of `slug` — one more than any id ever given out under that
    /// slug, also by a deleted project of the same slug — and stores it and its hourly count
    /// in one transaction, with its `socialproof.pushed` webhook event into the outbox for the
    /// webhooks that hear it; then drops the events more than `keep` ids older (the replay
    /// tail). An event whose `source` was stored before is [`StoreError::AlreadyStored`], with
    /// nothing written; the source is remembered in the same transaction as the event.
    async fn append_event(
        &self,
        slug: &str,
        event: NewEvent,
        created_at_ms: u64,
        keep: u64,
    ) -> Result<SocialProofEvent, StoreError>;

    /// Events of `slug` with an id greater than `after`, oldest first.
    async fn events_after(
        &self,
        slug: &str,
        after: u64,
    ) -> Result<Vec<SocialProofEvent>, StoreError>;

    /// The highest event id ever given out under `slug` — by this project, or by a deleted
    /// one of the same slug — or 0.
    async fn last_event_id(&self, slug: &str) -> Result<u64, StoreError>;

    /// Events of `slug` per type, counted from the start of hour `from_hour` (hours since the
    /// Unix epoch) on.
    async fn event_counts(&self, slug: &str, from_hour: u64) -> Result<EventCounts, StoreError> {
        let mut counts = EventCounts::default();
        for (_, hour) in self.event_counts_by_hour(slug, from_hour).await? {
            counts.merge(&hour);
        }
        Ok(counts)
    }

    /// Events of `slug` per hour since `from_hour`, oldest first; hours without events are
    /// left out.
    async fn event_counts_by_hour(
        &self,
        slug: &str,
        from_hour: u64,
    ) -> Result<Vec<(u64, EventCounts)>, StoreError>;

    /// Drops the hourly event and delivery counts of `slug` before hour `before_hour`.
    async fn forget_counts_before(&self, slug: &str, before_hour: u64) -> Result<(), StoreError>;

    /// Counts `delivered` events handed to live visitors of `slug` in `hour`. Need not be
    /// flushed on its own: a crash may lose the last moments of these figures, never an event.
    async fn add_deliveries(&self, slug: &str, hour: u64, delivered: u64)
    -> Result<(), StoreError>;

    /// Writes a project's stored events as they are (ids kept), its hourly counts and the
    /// last id it gave out, into a store holding none of the project's events: moving an
    /// install from one store to another (see [`copy`]). The next id given out is `last_id + 1`.
    async fn import_events(
        &self,
        slug: &str,
        events: &[SocialProofEvent],
        last_id: u64,
        counts: &[(u64, EventCounts)],
    ) -> Result<(), StoreError>;

    /// Events handed to live visitors of `slug` per hour since `from_hour`, oldest first.
    async fn deliveries_by_hour(
        &self,
        slug: &str,
        from_hour: u64,
    ) -> Result<Vec<(u64, u64)>, StoreError>;

    /// The storage's size in bytes.
    async fn size_on_disk(&self) -> Result<u64, StoreError>;

    /// The user whose (normalized) login is `email`.
    async fn user(&self, email: &str) -> Result<Option<UserRecord>, StoreError>;

    async fn user_by_id(&self, id: Uuid) -> Result<Option<UserRecord>, StoreError>;

    /// Every user, by email.
    async fn users(&self) -> Result<Vec<UserRecord>, StoreError>;

    /// Creates or replaces the user with `user.email`.
    async fn put_user(&self, user: &UserRecord) -> Result<(), StoreError>;

    async fn refresh(&self, hash: &SecretHash) -> Result<Option<RefreshRecord>, StoreError>;

    async fn put_refresh(
        &self,
        hash: &SecretHash,
        record: &RefreshRecord,
    ) -> Result<(), StoreError>;

    async fn family_revoked(&self, family: Uuid) -> Result<bool, StoreError>;

    /// Claims a periodic job (`key`: a project's digest, its re-sync) for the period starting
    /// at `period` (ms): `true` for the first claim of a period later than any claimed before,
    /// on any node.
    async fn claim_period(&self, key: &str, period: u64) -> Result<bool, StoreError>;

    /// The token families (sign-ins) user `user` has refresh tokens of.
    async fn user_families(&self, user: Uuid) -> Result<Vec<Uuid>, StoreError>;

    /// Keeps a password reset link's record under its token's hash.
    async fn put_password_reset(
        &self,
        hash: &SecretHash,
        reset: &PasswordReset,
    ) -> Result<(), StoreError>;

    /// Removes every password reset link of user `user` (one was used, or a newer one made).
    async fn forget_password_resets(&self, user: Uuid) -> Result<(), StoreError>;

    /// Takes the password reset under `hash`: it is gone once read, so a link works once.
    async fn take_password_reset(
        &self,
        hash: &SecretHash,
    ) -> Result<Option<PasswordReset>, StoreError>;

    async fn revoke_family(&self, family: Uuid) -> Result<(), StoreError>;

    /// Creates or replaces the invitation of `invitation.email` to `invitation.project`.
    async fn put_invitation(&self, invitation: &Invitation) -> Result<(), StoreError>;

    async fn invitation(&self, slug: &str, email: &str) -> Result<Option<Invitation>, StoreError>;

    /// Removes an invitation; whether there was one.
    async fn delete_invitation(&self, slug: &str, email: &str) -> Result<bool, StoreError>;

    /// The pending invitations to project `slug`, by email.
    async fn project_invitations(&self, slug: &str) -> Result<Vec<Invitation>, StoreError>;

    /// The pending invitations of `email`, to any project, by project.
    async fn invitations_for(&self, email: &str) -> Result<Vec<Invitation>, StoreError>;

    /// The API token whose SHA-256 is `hash`.
    async fn api_token(&self, hash: &SecretHash) -> Result<Option<ApiTokenRecord>, StoreError>;

    /// Creates or replaces the API token with `token.token_hash`.
    async fn put_api_token(&self, token: &ApiTokenRecord) -> Result<(), StoreError>;

    /// Notes that the API token with this hash was used at `at_ms`; nothing when there is no
    /// such token (revoked meanwhile: it never comes back).
    async fn note_api_token_use(&self, hash: &SecretHash, at_ms: u64) -> Result<(), StoreError>;

    /// Project `slug`'s API tokens, oldest first.
    async fn project_api_tokens(&self, slug: &str) -> Result<Vec<ApiTokenRecord>, StoreError>;

    /// Removes API token `id` of project `slug`; whether there was one.
    async fn delete_api_token(&self, slug: &str, id: Uuid) -> Result<bool, StoreError>;

    async fn put_lead(&self, slug: &str, lead: &LeadRecord) -> Result<(), StoreError> {
        self.put_lead_with_news(slug, lead, &[]).await
    }

    /// [`Storage::put_lead`], and `news` into the webhook outbox in the same transaction (a row
    /// per enabled webhook of the project that hears its type).
    async fn put_lead_with_news(
        &self,
        slug: &str,
        lead: &LeadRecord,
        news: &[WebhookEvent],
    ) -> Result<(), StoreError>;

    /// Project `slug`'s webhooks, oldest first.
    async fn webhooks(&self, slug: &str) -> Result<Vec<WebhookRecord>, StoreError>;

    /// Creates or replaces the webhook with `webhook.id`.
    async fn put_webhook(&self, webhook: &WebhookRecord) -> Result<(), StoreError>;

    /// Removes webhook `id` of project `slug`, with its deliveries waiting and its log; whether
    /// there was one.
    async fn delete_webhook(&self, slug: &str, id: Uuid) -> Result<bool, StoreError>;

    /// Turns webhook `id` of `slug` off, saying why, changing nothing else of it; whether it was
    /// on (and is still there): only then is anyone told.
    async fn disable_webhook(&self, slug: &str, id: Uuid, reason: &str)
    -> Result<bool, StoreError>;

    /// Makes every delivery waiting for webhook `id` due at `now_ms` (it was turned on again).
    async fn wake_deliveries(&self, id: Uuid, now_ms: u64) -> Result<(), StoreError>;

    /// Up to `limit` deliveries due at `now_ms`, each made due again `lease_ms` later (so no
    /// other node takes them meanwhile, and a node that dies holding them lets them go).
    async fn claim_deliveries(
        &self,
        now_ms: u64,
        lease_ms: u64,
        limit: usize,
    ) -> Result<Vec<Delivery>, StoreError>;

    /// Ends a claimed delivery: either drops it or makes it due again at `retry_at_ms`, and logs
    /// `attempt` when one was made (while its webhook exists; the last
    /// [`crate::webhook::LOG_KEEP`] are kept). A delivery claimed again meanwhile (its lease ran
    /// out) is left to its new holder.
    async fn settle_delivery(
        &self,
        claimed: &Delivery,
        retry_at_ms: Option<u64>,
        attempt: Option<&Attempt>,
    ) -> Result<(), StoreError>;

    /// Puts a delivery in the outbox (a redelivery), unless its event waits for its webhook
    /// already.
    async fn enqueue_delivery(&self, delivery: &Delivery) -> Result<(), StoreError>;

    /// Webhook `id`'s logged attempts, newest first.
    async fn webhook_log(&self, id: Uuid) -> Result<Vec<Attempt>, StoreError>;

    /// Every lead of `slug`, oldest first.
    async fn leads(&self, slug: &str) -> Result<Vec<LeadRecord>, StoreError>;

    /// Every document of `slug`, in id order.
    async fn documents(&self, slug: &str) -> Result<Vec<Document>, StoreError>;

    /// Replaces all of `slug`'s documents with `documents`, atomically.
    async fn replace_documents(&self, slug: &str, documents: &[Document])
    -> Result<(), StoreError>;

    async fn session(&self, id: Uuid) -> Result<Option<SessionRecord>, StoreError>;

    /// Writes a session and its place in its project's conversation index, together, with what
    /// it changes in its project's day tallies.
    async fn put_session(&self, record: &SessionRecord) -> Result<(), StoreError>;

    /// Changes only the hand-off and (when given) the lead of an existing session, atomically
    /// against any other write to it, and returns the session as stored. `NoSuchSession` when it
    /// was erased: a late change never brings a conversation back.
    async fn update_handoff(
        &self,
        id: Uuid,
        handoff: &Handoff,
        lead: Option<&LeadContact>,
    ) -> Result<SessionRecord, StoreError> {
        self.update_handoff_with_news(id, handoff, lead, &[]).await
    }

    /// [`Storage::update_handoff`], and `news` into the webhook outbox with it.
    async fn update_handoff_with_news(
        &self,
        id: Uuid,
        handoff: &Handoff,
        lead: Option<&LeadContact>,
        news: &[WebhookEvent],
    ) -> Result<SessionRecord, StoreError>;

    /// Applies `change` to an existing session (its visitor, other browsers' tokens or rating;
    /// nothing else) on the record as stored, atomically against any other write to it — with
    /// `news` into the webhook outbox when it applied — and returns the session as stored. A verified visitor's sessions are found by
    /// [`Storage::latest_user_session`]. `NoSuchSession` when it was erased.
    async fn change_session(
        &self,
        id: Uuid,
        change: &SessionChange,
        news: &[WebhookEvent],
    ) -> Result<SessionRecord, StoreError>;

    /// The newest conversation of `slug` whose visitor was verified as `user_id` (the record
    /// checked, not only the index).
    async fn latest_user_session(
        &self,
        slug: &str,
        user_id: &str,
    ) -> Result<Option<SessionRecord>, StoreError>;

    /// Deletes a session, its messages and its index entry (a visitor's right to erasure), and
    /// takes them out of its project's day tallies, together.
    async fn delete_session(&self, record: &SessionRecord) -> Result<(), StoreError>;

    /// Up to `limit` sessions of `slug`, newest first, older than `before` (created ms, id).
    async fn project_sessions(
        &self,
        slug: &str,
        before: Option<(u64, Uuid)>,
        limit: usize,
    ) -> Result<Vec<SessionRecord>, StoreError>;

    /// A page of `slug`'s conversations matching `filter`, newest first, at most `limit`.
    async fn find_sessions(
        &self,
        slug: &str,
        filter: &SessionFilter,
        limit: usize,
    ) -> Result<SessionPage, StoreError> {
        queries::find_sessions(self, slug, filter, limit).await
    }

    /// The tallies of `slug`'s days from `from_day` (days since the epoch) on, in day order;
    /// days with nothing counted left out.
    async fn figure_days(
        &self,
        slug: &str,
        from_day: u64,
    ) -> Result<Vec<(u64, DayTally)>, StoreError>;

    /// `slug`'s conversation figures of the days from `from_day` on.
    async fn conversation_figures(
        &self,
        slug: &str,
        from_day: u64,
    ) -> Result<ConversationFigures, StoreError> {
        Ok(ConversationFigures::of_days(
            &self.figure_days(slug, from_day).await?,
        ))
    }

    /// Writes `message` into the transcript of `session` under its `seq`, replacing what is
    /// there (a rated answer, a copied transcript), with what it changes in the project's day
    /// tallies. `NoSuchSession` when the session is not stored (erased).
    async fn append_message(
        &self,
        session: Uuid,
        message: &MessageRecord,
    ) -> Result<(), StoreError> {
        self.append_message_with_news(session, message, &[]).await
    }

    /// [`Storage::append_message`], and `news` into the webhook outbox with it.
    async fn append_message_with_news(
        &self,
        session: Uuid,
        message: &MessageRecord,
        news: &[WebhookEvent],
    ) -> Result<(), StoreError>;

    /// Adds a new message to the transcript of `session` under its `seq`; `false`, writing
    /// nothing, when that seq is taken (another node wrote first: read the transcript again).
    /// `NoSuchSession` when the session is not stored (erased).
    async fn insert_message(
        &self,
        session: Uuid,
        message: &MessageRecord,
    ) -> Result<bool, StoreError> {
        self.insert_message_with_news(session, message, &[]).await
    }

    /// [`Storage::insert_message`], and `news` into the webhook outbox with it (only when the
    /// message was added).
    async fn insert_message_with_news(
        &self,
        session: Uuid,
        message: &MessageRecord,
        news: &[WebhookEvent],
    ) -> Result<bool, StoreError>;

    /// The transcript of `session`, in `seq` order.
    async fn messages(&self, session: Uuid) -> Result<Vec<MessageRecord>, StoreError>;

    /// The transcripts of `sessions`, each in `seq` order, in the order given (an erased
    /// session's is empty): an inbox page's or an export batch's in one read where the backend
    /// is across a network.
    async fn transcripts(&self, sessions: &[Uuid]) -> Result<Vec<Vec<MessageRecord>>, StoreError> {
        let mut transcripts = Vec::with_capacity(sessions.len());
        for &session in sessions {
            transcripts.push(self.messages(session).await?);
        }
        Ok(transcripts)
    }

    /// Deletes a project and everything it owns: conversations, leads, events and their counts,
    /// documents, invitations, and its push-secret index entry. What stays is the last event
    /// id it gave out, as the floor of the next project of that slug.
    async fn delete_project(&self, record: &ProjectRecord) -> Result<(), StoreError>;

    /// Writes the whole store to `out` in the backup format (`store/backup.rs`). Blocking:
    /// call it off the async threads.
    fn backup_to(&self, out: &mut dyn Write) -> Result<backup::BackupSummary, backup::BackupError>;
}
