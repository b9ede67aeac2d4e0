//! The registry: finds, starts and supervises project actors, and is the engine's front door.
//!
//! [`Registry`] is the cheap, cloneable handle the edge holds. Reads go straight to the
//! snapshot board; writes go to the one project actor that owns the project. Behind the handle a
//! [`Supervisor`] actor spawns project actors lazily on first use (one at a time, so never two
//! for one project) and restarts a failed one from the store. The registry checks push secrets;
//! it never writes project state itself except to create a project that does not exist yet.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::Duration;

use dashmap::DashMap;
use ractor::rpc::CallResult;
use ractor::{Actor, ActorId, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent, call};
use tokio::sync::{Mutex, mpsc};
use tokio::task::JoinHandle;

use uuid::Uuid;

use crate::accounts::{
    AccountError, Accounts, AccountsArguments, AccountsMessage, RefreshGrant, hash_password,
    new_user, normalize_email, verify_password,
};
use crate::chat::{ChatError, Feedback, MessageRecord, SessionRecord};
use crate::feed::{FeedSettings, Replay, Subscription};
use crate::knowledge::Document;
use crate::lead::{LeadFields, LeadRecord};
use crate::nodes::{Arrival, Nodes};
use crate::project::{
    COUNTS_KEPT_HOURS, DocumentEdit, Project, ProjectArguments, ProjectError, ProjectMessage,
    ProjectSettings, ProjectSnapshot, SnapshotBoard, validate_slug,
};
use crate::records::{HOUR_MS, Invitation, ProjectRecord, Role, UserRecord, now_ms};
use crate::secret::SecretHash;
use crate::session::{
    Access, Ask, ChatEngine, ChatStart, Session, SessionActors, SessionArguments, SessionMessage,
};
use crate::social_proof::{EventCounts, NewEvent, PushFields, SocialProofEvent};
use crate::store::{Store, StoreError};

pub struct RegistryArguments {
    pub store: Store,
    /// How long an admin's refresh token lives.
    pub refresh_ttl: Duration,
    /// Replay window and subscriber limits of every project's live feed.
    pub feed: FeedSettings,
    pub chat: ChatEngine,
    /// The longest visitor message `/api/chat` takes, told to widgets in their config.
    pub max_message_chars: usize,
    /// The other nodes: [`Nodes::single`] when there are none.
    pub nodes: Nodes,
}

/// Handle to the engine. Clones share one supervisor and one snapshot board.
#[derive(Clone)]
pub struct Registry {
    inner: Arc<RegistryInner>,
}

struct RegistryInner {
    store: Store,
    board: SnapshotBoard,
    actors: ProjectActors,
    sessions: SessionActors,
    chat: ChatEngine,
    supervisor: ActorRef<SupervisorMessage>,
    supervisor_task: Mutex<Option<JoinHandle<()>>>,
    /// The accounts actor of the moment: the supervisor replaces it when it fails.
    accounts: AccountsSlot,
    all_subscribers: Arc<AtomicUsize>,
}

type AccountsSlot = Arc<std::sync::RwLock<Option<ActorRef<AccountsMessage>>>>;

type ProjectActors = Arc<DashMap<String, ActorRef<ProjectMessage>>>;

/// How long the supervisor waits for a session to answer an eviction request.
const EVICT_TIMEOUT: Duration = Duration::from_secs(1);

/// Verified against when the email is unknown, so that case takes as long as a wrong password.
static DUMMY_HASH: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    hash_password("not anyone's password").expect("hashing a constant works")
});

impl Registry {
    pub async fn start(args: RegistryArguments) -> Result<Registry, ProjectError> {
        let board = SnapshotBoard::default();
        let actors = ProjectActors::default();
        let sessions = SessionActors::default();
        let accounts = AccountsSlot::default();
        let all_subscribers = Arc::<AtomicUsize>::default();
        let supervisor_args = SupervisorArguments {
            accounts: AccountsArguments {
                store: args.store.clone(),
                refresh_ttl_ms: args.refresh_ttl.as_millis() as u64,
            },
            accounts_slot: accounts.clone(),
            store: args.store.clone(),
            board: board.clone(),
            actors: actors.clone(),
            sessions: sessions.clone(),
            chat: args.chat.clone(),
            feed: args.feed,
            max_message_chars: args.max_message_chars,
            nodes: args.nodes.clone(),
            all_subscribers: all_subscribers.clone(),
        };
        let (supervisor, supervisor_task) = Actor::spawn(None, Supervisor, supervisor_args)
            .await
            .map_err(|error| {
            tracing::error!(%error, "registry supervisor failed to start");
            ProjectError::Unavailable
        })?;
        if let Some(arrivals) = args.nodes.fan_out.arrivals() {
            tokio::spawn(deliver_arrivals(arrivals, actors.clone()));
        }
        Ok(Registry {
            inner: Arc::new(RegistryInner {
                accounts,
                all_subscribers,
                store: args.store,
                board,
                actors,
                sessions,
                chat: args.chat,
                supervisor,
                supervisor_task: Mutex::new(Some(supervisor_task)),
            }),
        })
    }

    /// The latest snapshot of `slug`, starting its actor if needed.
    pub async fn snapshot(&self, slug: &str) -> Result<Arc<ProjectSnapshot>, ProjectError> {
        if let Some(snapshot) = self.inner.board.get(slug) {
            return Ok(snapshot.clone());
        }
        self.actor(slug).await?;
        self.inner
            .board
            .get(slug)
            .map(|s| s.clone())
            .ok_or(ProjectError::Unavailable)
    }

    /// Authenticates a push with the project's secret, validates it and stores it durably.
    /// Returns the new event's id.
    pub async fn push(
        &self,
        slug: &str,
        secret: &str,
        fields: PushFields,
    ) -> Result<u64, ProjectError> {
        let snapshot = self.snapshot(slug).await?;
        let secret_ok = snapshot
            .push_secret_hash
            .as_ref()
            .is_some_and(|hash| hash.matches(secret));
        if !secret_ok {
            let owner = self
                .inner
                .store
                .project_for_secret(&SecretHash::of(secret))
                .await?;
            return Err(match owner {
                Some(other) if other != slug => ProjectError::ForeignSecret,
                _ => ProjectError::InvalidSecret,
            });
        }
        let event = NewEvent::validate(fields)?;
        let actor = self.actor(slug).await?;
        match call!(actor, ProjectMessage::Push, event) {
            Ok(result) => Ok(result?),
            Err(_) => Err(ProjectError::Unavailable),
        }
    }

    /// Applies a config-file seed unless this very seed was applied before (its digest is in
    /// `settings.seed_digest`): then the project keeps what was changed since, e.g. in the
    /// dashboard. Returns whether it applied the seed.
    pub async fn seed(&self, slug: &str, settings: ProjectSettings) -> Result<bool, ProjectError> {
        let unchanged = self.inner.store.project(slug).await?.is_some_and(|record| {
            record.seed_digest.is_some() && record.seed_digest == settings.seed_digest
        });
        if unchanged {
            return Ok(false);
        }
        self.configure(slug, settings).await?;
        Ok(true)
    }

    /// Creates the project if it does not exist, then applies `settings` to it.
    pub async fn configure(
        &self,
        slug: &str,
        settings: ProjectSettings,
    ) -> Result<(), ProjectError> {
        validate_slug(slug)?;
        settings.widget.validate()?;
        if self.inner.store.project(slug).await?.is_none() {
            // A new project starts with no members, whatever a request that raced the deletion
            // of an earlier project of this slug managed to grant or offer.
            self.forget_members(slug).await?;
            let now = now_ms();
            let record = ProjectRecord {
                slug: slug.to_owned(),
                widget: settings.widget.clone(),
                push_secret_hash: None,
                allowed_origins: Vec::new(),
                seed_digest: None,
                retention_days: None,
                created_at_ms: now,
                updated_at_ms: now,
            };
            let created = call!(
                self.inner.supervisor,
                SupervisorMessage::Create,
                Box::new(record)
            );
            created.map_err(|_| ProjectError::Unavailable)??;
        }
        let actor = self.actor(slug).await?;
        match call!(actor, ProjectMessage::Configure, Box::new(settings)) {
            Ok(result) => Ok(result?),
            Err(_) => Err(ProjectError::Unavailable),
        }
    }

    /// Stored events of `slug` with ids above `after`, oldest first (at most `retain_events`).
    pub async fn events_after(
        &self,
        slug: &str,
        after: u64,
    ) -> Result<Vec<SocialProofEvent>, ProjectError> {
        if self.inner.store.project(slug).await?.is_none() {
            return Err(ProjectError::NotFound);
        }
        Ok(self.inner.store.events_after(slug, after).await?)
    }

    /// Every stored project, in slug order.
    pub async fn projects(&self) -> Result<Vec<ProjectRecord>, ProjectError> {
        let mut projects = Vec::new();
        for slug in self.inner.store.project_slugs().await? {
            projects.extend(self.inner.store.project(&slug).await?);
        }
        Ok(projects)
    }

    /// Creates a project; `Exists` when the slug is taken.
    pub async fn create_project(
        &self,
        slug: &str,
        settings: ProjectSettings,
    ) -> Result<(), ProjectError> {
        validate_slug(slug)?;
        if self.inner.store.project(slug).await?.is_some() {
            return Err(ProjectError::Exists);
        }
        self.configure(slug, settings).await
    }

    /// Subscribes a live visitor of `slug`: the events after `since`, then every new one.
    pub async fn subscribe(
        &self,
        slug: &str,
        since: Option<u64>,
    ) -> Result<Subscription, ProjectError> {
        let actor = self.actor(slug).await?;
        match call!(actor, ProjectMessage::Subscribe, since) {
            Ok(result) => Ok(result?),
            Err(_) => Err(ProjectError::Unavailable),
        }
    }

    /// How many live visitors of `slug` are subscribed to its popups right now.
    pub async fn live_subscribers(&self, slug: &str) -> Result<usize, ProjectError> {
        let actor = self.actor(slug).await?;
        call!(actor, ProjectMessage::Subscribers).map_err(|_| ProjectError::Unavailable)
    }

    /// Events of `slug` handed to live visitors, per hour since `from_hour`.
    pub async fn deliveries_by_hour(
        &self,
        slug: &str,
        from_hour: u64,
    ) -> Result<Vec<(u64, u64)>, ProjectError> {
        Ok(self.inner.store.deliveries_by_hour(slug, from_hour).await?)
    }

    /// How many events of each type `slug` got in the last `hours` hours (the current hour
    /// counting as one), at most [`COUNTS_KEPT_HOURS`].
    pub async fn event_counts(&self, slug: &str, hours: u64) -> Result<EventCounts, ProjectError> {
        self.snapshot(slug).await?;
        let hours = hours.clamp(1, COUNTS_KEPT_HOURS);
        let now_hour = now_ms() / HOUR_MS;
        Ok(self
            .inner
            .store
            .event_counts(slug, now_hour + 1 - hours)
            .await?)
    }

    /// The events of `slug` after `since`, for polling.
    pub async fn replay(&self, slug: &str, since: Option<u64>) -> Result<Replay, ProjectError> {
        let actor = self.actor(slug).await?;
        call!(actor, ProjectMessage::Replay, since).map_err(|_| ProjectError::Unavailable)
    }

    /// A project's documents, in id order.
    pub async fn documents(&self, slug: &str) -> Result<Vec<Document>, ProjectError> {
        self.snapshot(slug).await?;
        Ok(self.inner.store.documents(slug).await?)
    }

    /// Adds, replaces or deletes one document; answers use the change as soon as this returns.
    /// `false` when a deleted document did not exist.
    pub async fn edit_document(
        &self,
        slug: &str,
        edit: DocumentEdit,
    ) -> Result<bool, ProjectError> {
        let actor = self.actor(slug).await?;
        match call!(actor, ProjectMessage::EditDocument, edit) {
            Ok(result) => Ok(result?),
            Err(_) => Err(ProjectError::Unavailable),
        }
    }

    /// Replaces a project's knowledge base; answers use it as soon as this returns.
    pub async fn set_documents(
        &self,
        slug: &str,
        documents: Vec<Document>,
    ) -> Result<(), ProjectError> {
        let actor = self.actor(slug).await?;
        match call!(actor, ProjectMessage::SetDocuments, documents) {
            Ok(result) => Ok(result?),
            Err(_) => Err(ProjectError::Unavailable),
        }
    }

    /// Starts answering `question` in session `session_id` of project `slug`.
    pub async fn chat(
        &self,
        slug: &str,
        session_id: Uuid,
        token: Option<String>,
        question: String,
    ) -> Result<ChatStart, ChatError> {
        let snapshot = self.snapshot(slug).await.map_err(chat_error)?;
        let access = Access {
            project: slug.to_owned(),
            token,
        };
        let ask = Ask {
            access,
            question,
            snapshot,
        };
        self.call_session(session_id, |reply| SessionMessage::Ask(ask.clone(), reply))
            .await
    }

    /// The stored transcript of a session, for a visitor who reloads the page.
    pub async fn transcript(
        &self,
        slug: &str,
        session_id: Uuid,
        token: Option<String>,
    ) -> Result<Vec<MessageRecord>, ChatError> {
        self.check_session_exists(slug, session_id).await?;
        let access = Access {
            project: slug.to_owned(),
            token,
        };
        self.call_session(session_id, |reply| {
            SessionMessage::Transcript(access.clone(), reply)
        })
        .await
    }

    /// Adds a teammate's reply to conversation `session_id` of `slug`; the visitor sees it in
    /// the transcript. `SessionNotFound` when no such session belongs to the project.
    pub async fn agent_reply(
        &self,
        slug: &str,
        session_id: Uuid,
        text: String,
        author: String,
    ) -> Result<MessageRecord, ChatError> {
        let record = self.inner.store.session(session_id).await?;
        if record.is_none_or(|record| record.project != slug) {
            return Err(ChatError::SessionNotFound);
        }
        self.call_session(session_id, |reply| {
            SessionMessage::AgentReply(text.clone(), author.clone(), reply)
        })
        .await
    }

    /// Stores a lead from the visitor of session `session_id`, who must hold its token.
    pub async fn add_lead(
        &self,
        slug: &str,
        session_id: Uuid,
        token: Option<String>,
        fields: LeadFields,
    ) -> Result<(), ChatError> {
        self.snapshot(slug).await.map_err(chat_error)?;
        let record = self
            .inner
            .store
            .session(session_id)
            .await?
            .ok_or(ChatError::SessionNotFound)?;
        record.check_access(slug, token.as_deref())?;
        let lead = LeadRecord::validate(session_id, fields, now_ms())?;
        let actor = self.actor(slug).await.map_err(chat_error)?;
        match call!(actor, ProjectMessage::AddLead, Box::new(lead)) {
            Ok(result) => Ok(result?),
            Err(_) => Err(ChatError::Unavailable),
        }
    }

    /// Up to `limit` conversations of `slug`, newest first, older than `before` (created ms,
    /// session id), each with its messages.
    pub async fn conversations(
        &self,
        slug: &str,
        before: Option<(u64, Uuid)>,
        limit: usize,
    ) -> Result<Vec<(SessionRecord, Vec<MessageRecord>)>, ProjectError> {
        self.snapshot(slug).await?;
        let sessions = self
            .inner
            .store
            .project_sessions(slug, before, limit)
            .await?;
        let mut conversations = Vec::with_capacity(sessions.len());
        for session in sessions {
            let messages = self.inner.store.messages(session.id).await?;
            conversations.push((session, messages));
        }
        Ok(conversations)
    }

    /// Pushed events of `slug` per hour since `from_hour`.
    pub async fn event_counts_by_hour(
        &self,
        slug: &str,
        from_hour: u64,
    ) -> Result<Vec<(u64, EventCounts)>, ProjectError> {
        Ok(self
            .inner
            .store
            .event_counts_by_hour(slug, from_hour)
            .await?)
    }

    /// One conversation of `slug`; `None` when no such session belongs to it.
    pub async fn conversation(
        &self,
        slug: &str,
        session_id: Uuid,
    ) -> Result<Option<(SessionRecord, Vec<MessageRecord>)>, ProjectError> {
        self.snapshot(slug).await?;
        let Some(session) = self.inner.store.session(session_id).await? else {
            return Ok(None);
        };
        if session.project != slug {
            return Ok(None);
        }
        let messages = self.inner.store.messages(session_id).await?;
        Ok(Some((session, messages)))
    }

    /// Deletes a conversation of `slug` for good: its live actor is stopped first, so no answer
    /// in flight can write it back. `false` when no such session belongs to the project.
    pub async fn delete_conversation(
        &self,
        slug: &str,
        session_id: Uuid,
    ) -> Result<bool, ProjectError> {
        self.snapshot(slug).await?;
        let Some(session) = self.inner.store.session(session_id).await? else {
            return Ok(false);
        };
        if session.project != slug {
            return Ok(false);
        }
        if let Some((_, actor)) = self.inner.sessions.remove(&session_id) {
            let _ = actor
                .stop_and_wait(
                    Some("conversation deleted".into()),
                    Some(Duration::from_secs(5)),
                )
                .await;
        }
        self.inner.store.delete_session(&session).await?;
        self.inner.store.flush().await?;
        Ok(true)
    }

    /// Deletes project `slug` with all its data. Its actor and its live sessions are stopped
    /// first, so nothing writes to it meanwhile; later requests for it get `NotFound`.
    pub async fn delete_project(&self, slug: &str) -> Result<(), ProjectError> {
        let record = self
            .inner
            .store
            .project(slug)
            .await?
            .ok_or(ProjectError::NotFound)?;
        let grace = Some(Duration::from_secs(5));
        for session in self
            .inner
            .store
            .project_sessions(slug, None, usize::MAX)
            .await?
        {
            if let Some((_, actor)) = self.inner.sessions.remove(&session.id) {
                let _ = actor
                    .stop_and_wait(Some("project deleted".into()), grace)
                    .await;
            }
        }
        if let Some((_, actor)) = self.inner.actors.remove(slug) {
            let _ = actor
                .stop_and_wait(Some("project deleted".into()), grace)
                .await;
        }
        self.inner.board.remove(slug);
        // Roles and invitations first: should the rest fail, nobody keeps a role on the slug
        // that a project created under it later would hand them.
        self.forget_members(slug).await?;
        self.inner.store.delete_project(&record).await?;
        self.inner.store.flush().await?;
        Ok(())
    }

    /// Takes every role and invitation on `slug` away.
    async fn forget_members(&self, slug: &str) -> Result<(), ProjectError> {
        let accounts = self.accounts().map_err(|_| ProjectError::Unavailable)?;
        call!(accounts, AccountsMessage::ForgetProject, slug.to_owned())
            .map_err(|_| ProjectError::Unavailable)?
            .map_err(|_| ProjectError::Unavailable)
    }

    /// Erases every conversation older than its project's retention period, as of `now_ms`.
    /// Returns how many it erased.
    pub async fn purge_expired(&self, now_ms: u64) -> Result<usize, ProjectError> {
        let mut erased = 0;
        for project in self.projects().await? {
            let Some(days) = project.retention_days else {
                continue;
            };
            let cutoff = now_ms.saturating_sub(u64::from(days) * 24 * HOUR_MS);
            // Newest first: everything from the first expired one on is expired too.
            let expired: Vec<Uuid> = self
                .inner
                .store
                .project_sessions(&project.slug, Some((cutoff, Uuid::nil())), usize::MAX)
                .await?
                .into_iter()
                .map(|session| session.id)
                .collect();
            for session_id in expired {
                if self.delete_conversation(&project.slug, session_id).await? {
                    erased += 1;
                }
            }
        }
        Ok(erased)
    }

    /// Every lead of `slug`, oldest first.
    pub async fn leads(&self, slug: &str) -> Result<Vec<LeadRecord>, ProjectError> {
        Ok(self.inner.store.leads(slug).await?)
    }

    /// Adds an admin user; the password is hashed on a blocking thread.
    pub async fn add_user(
        &self,
        email: &str,
        password: String,
        admin: bool,
    ) -> Result<UserRecord, AccountError> {
        let email = email.to_owned();
        let user = tokio::task::spawn_blocking(move || new_user(&email, &password, admin))
            .await
            .map_err(|_| AccountError::Unavailable)??;
        call!(
            self.accounts()?,
            AccountsMessage::AddUser,
            Box::new(user.clone())
        )
        .map_err(|_| AccountError::Unavailable)??;
        Ok(user)
    }

    /// Gives user `user_id` `role` on project `slug`, or takes their role away (`None`).
    pub async fn grant(
        &self,
        user_id: Uuid,
        slug: &str,
        role: Option<Role>,
    ) -> Result<(), AccountError> {
        call!(
            self.accounts()?,
            AccountsMessage::Grant,
            user_id,
            slug.to_owned(),
            role
        )
        .map_err(|_| AccountError::Unavailable)?
    }

    /// Offers `role` on project `slug` to whoever signs in with `email` (normalized), on
    /// behalf of `invited_by`; replaces an earlier offer to the same email.
    pub async fn invite(
        &self,
        slug: &str,
        email: &str,
        role: Role,
        invited_by: Uuid,
    ) -> Result<(), AccountError> {
        let invitation = Invitation {
            project: slug.to_owned(),
            email: email.to_owned(),
            role,
            invited_by,
            created_at_ms: now_ms(),
        };
        call!(
            self.accounts()?,
            AccountsMessage::Invite,
            Box::new(invitation)
        )
        .map_err(|_| AccountError::Unavailable)?
    }

    /// User `user_id` accepts their invitation to `slug`; returns the role they now have.
    pub async fn accept_invitation(&self, user_id: Uuid, slug: &str) -> Result<Role, AccountError> {
        call!(
            self.accounts()?,
            AccountsMessage::Accept,
            user_id,
            slug.to_owned()
        )
        .map_err(|_| AccountError::Unavailable)?
    }

    /// Removes the invitation of `email` (normalized) to `slug`: declined or withdrawn.
    pub async fn remove_invitation(&self, slug: &str, email: &str) -> Result<(), AccountError> {
        call!(
            self.accounts()?,
            AccountsMessage::Uninvite,
            slug.to_owned(),
            email.to_owned()
        )
        .map_err(|_| AccountError::Unavailable)?
    }

    /// Pending invitations to project `slug`.
    pub async fn project_invitations(&self, slug: &str) -> Result<Vec<Invitation>, AccountError> {
        Ok(self.inner.store.project_invitations(slug).await?)
    }

    /// Pending invitations of `email` (normalized), to any project.
    pub async fn invitations_for(&self, email: &str) -> Result<Vec<Invitation>, AccountError> {
        Ok(self.inner.store.invitations_for(email).await?)
    }

    /// The live accounts actor; `Unavailable` for the moment between a failure and its restart.
    fn accounts(&self) -> Result<ActorRef<AccountsMessage>, AccountError> {
        self.inner
            .accounts
            .read()
            .expect("the accounts slot is never poisoned")
            .clone()
            .ok_or(AccountError::Unavailable)
    }

    /// A user by (any-case) email.
    pub async fn user_by_email(&self, email: &str) -> Result<Option<UserRecord>, AccountError> {
        Ok(self.inner.store.user(&normalize_email(email)?).await?)
    }

    /// Every user, in email order.
    pub async fn users(&self) -> Result<Vec<UserRecord>, AccountError> {
        Ok(self.inner.store.users().await?)
    }

    /// How many admin users exist.
    pub async fn user_count(&self) -> Result<usize, AccountError> {
        Ok(self.inner.store.users().await?.len())
    }

    /// Checks an email and password; on success starts a refresh-token family. A wrong email
    /// costs the same hashing time as a wrong password, so timing does not tell which.
    pub async fn login(
        &self,
        email: &str,
        password: String,
    ) -> Result<(UserRecord, RefreshGrant), AccountError> {
        let email = normalize_email(email).map_err(|_| AccountError::WrongCredentials)?;
        let user = self.inner.store.user(&email).await?;
        let hash = user
            .as_ref()
            .map_or_else(|| DUMMY_HASH.clone(), |u| u.password_hash.clone());
        let matches = tokio::task::spawn_blocking(move || verify_password(&password, &hash))
            .await
            .map_err(|_| AccountError::Unavailable)?;
        let user = user
            .filter(|_| matches)
            .ok_or(AccountError::WrongCredentials)?;
        let grant = call!(self.accounts()?, AccountsMessage::Issue, user.id)
            .map_err(|_| AccountError::Unavailable)??;
        Ok((user, grant))
    }

    /// Exchanges a refresh token for its user and the next token of its family.
    pub async fn refresh(&self, token: String) -> Result<(UserRecord, RefreshGrant), AccountError> {
        call!(self.accounts()?, AccountsMessage::Refresh, token)
            .map_err(|_| AccountError::Unavailable)?
    }

    /// Ends the login a refresh token belongs to.
    pub async fn logout(&self, token: String) -> Result<(), AccountError> {
        call!(self.accounts()?, AccountsMessage::Logout, token)
            .map_err(|_| AccountError::Unavailable)?
    }

    /// Whether the sign-in (refresh-token family) an access token was minted from has ended:
    /// signed out, or its tokens replayed.
    pub async fn sign_in_ended(&self, family: Uuid) -> Result<bool, AccountError> {
        Ok(self.inner.store.family_revoked(family).await?)
    }

    /// A user by id, as an access token names it.
    pub async fn user(&self, id: Uuid) -> Result<Option<UserRecord>, AccountError> {
        Ok(self.inner.store.user_by_id(id).await?)
    }

    /// Records the visitor's thumbs on answer `seq` of their session.
    pub async fn rate(
        &self,
        slug: &str,
        session_id: Uuid,
        token: Option<String>,
        seq: u32,
        feedback: Feedback,
    ) -> Result<(), ChatError> {
        self.check_session_exists(slug, session_id).await?;
        let access = Access {
            project: slug.to_owned(),
            token,
        };
        self.call_session(session_id, |reply| {
            SessionMessage::Rate(access.clone(), seq, feedback, reply)
        })
        .await
    }

    /// Counters of the model side, for health and metrics.
    pub fn llm_stats(&self) -> &crate::llm::LlmStats {
        &self.inner.chat.stats
    }

    /// The number of session actors alive now.
    pub fn live_sessions(&self) -> usize {
        self.inner.sessions.len()
    }

    /// Visitors subscribed to live popups, over all projects.
    pub fn live_subscribers_total(&self) -> usize {
        self.inner
            .all_subscribers
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Writes a backup of the whole store to `out` while the server runs (blocking: call it off
    /// the async threads).
    pub fn backup_to(
        &self,
        out: &mut impl std::io::Write,
    ) -> Result<crate::store::backup::BackupSummary, crate::store::backup::BackupError> {
        self.inner.store.backup_to(out)
    }

    /// The store's size on disk, in bytes.
    pub async fn store_size(&self) -> Result<u64, StoreError> {
        self.inner.store.size_on_disk().await
    }

    /// The number of project actors alive now.
    pub fn live_projects(&self) -> usize {
        self.inner.actors.len()
    }

    /// Makes a project actor panic, to exercise supervision.
    #[cfg(feature = "fault-injection")]
    pub async fn crash_project(&self, slug: &str) -> Result<(), ProjectError> {
        let actor = self.actor(slug).await?;
        actor
            .send_message(ProjectMessage::Panic)
            .map_err(|_| ProjectError::Unavailable)
    }

    /// Stops every actor (their mailboxes drain first) and flushes the store.
    pub async fn stop(&self, grace: Duration) -> Result<(), StoreError> {
        let supervisor = &self.inner.supervisor;
        let _ = supervisor.stop_children_and_wait(None, Some(grace)).await;
        let _ = supervisor.stop_and_wait(None, Some(grace)).await;
        if let Some(task) = self.inner.supervisor_task.lock().await.take() {
            let _ = task.await;
        }
        self.inner.store.flush().await
    }

    /// `SessionNotFound` unless the session exists (in memory or stored) in an existing project.
    async fn check_session_exists(&self, slug: &str, session_id: Uuid) -> Result<(), ChatError> {
        self.snapshot(slug).await.map_err(chat_error)?;
        let known = self.inner.sessions.contains_key(&session_id)
            || self.inner.store.session(session_id).await?.is_some();
        if known {
            Ok(())
        } else {
            Err(ChatError::SessionNotFound)
        }
    }

    /// Sends the message `message` builds to the session's actor, starting the actor when
    /// needed. An actor that stopped (idle or evicted) between lookup and send is replaced once.
    async fn call_session<T: Send + 'static>(
        &self,
        session_id: Uuid,
        message: impl Fn(RpcReplyPort<Result<T, ChatError>>) -> SessionMessage,
    ) -> Result<T, ChatError> {
        for _ in 0..2 {
            let session = self.session(session_id).await?;
            match session.call(&message, None).await {
                Ok(CallResult::Success(result)) => return result,
                _ => {
                    self.inner
                        .sessions
                        .remove_if(&session_id, |_, actor| actor.get_id() == session.get_id());
                }
            }
        }
        Err(ChatError::Unavailable)
    }

    async fn session(&self, session_id: Uuid) -> Result<ActorRef<SessionMessage>, ChatError> {
        if let Some(session) = self.inner.sessions.get(&session_id) {
            return Ok(session.clone());
        }
        match call!(
            self.inner.supervisor,
            SupervisorMessage::StartSession,
            session_id
        ) {
            Ok(result) => result,
            Err(_) => Err(ChatError::Unavailable),
        }
    }

    async fn actor(&self, slug: &str) -> Result<ActorRef<ProjectMessage>, ProjectError> {
        if let Some(actor) = self.inner.actors.get(slug) {
            return Ok(actor.clone());
        }
        // Answer unknown projects here, concurrently, rather than queueing on the supervisor.
        if validate_slug(slug).is_err() || self.inner.store.project(slug).await?.is_none() {
            return Err(ProjectError::NotFound);
        }
        match call!(
            self.inner.supervisor,
            SupervisorMessage::Start,
            slug.to_owned()
        ) {
            Ok(result) => result,
            Err(_) => Err(ProjectError::Unavailable),
        }
    }
}

/// Hands events other nodes committed to this node's actor of their project. A project with
/// no actor here has no live visitors here, and one that starts later reads the store. Ends
/// when the fan-out closes.
async fn deliver_arrivals(mut arrivals: mpsc::UnboundedReceiver<Arrival>, actors: ProjectActors) {
    while let Some(Arrival { slug, event }) = arrivals.recv().await {
        let actor = actors.get(&slug).map(|actor| actor.clone());
        if let Some(actor) = actor {
            // A stopped actor drops it; its successor starts from the store.
            let _ = actor.cast(ProjectMessage::Deliver(Box::new(event)));
        }
    }
}

/// Spawns and restarts project actors; the only place that links them into the tree.
pub struct Supervisor;

pub enum SupervisorMessage {
    /// Start the project's actor unless it runs already; reply with its reference.
    Start(
        String,
        RpcReplyPort<Result<ActorRef<ProjectMessage>, ProjectError>>,
    ),
    /// Write a new project's first record unless the project exists already.
    Create(Box<ProjectRecord>, RpcReplyPort<Result<(), ProjectError>>),
    /// Start the session's actor unless it runs already; reply with its reference.
    StartSession(
        Uuid,
        RpcReplyPort<Result<ActorRef<SessionMessage>, ChatError>>,
    ),
}

pub struct SupervisorArguments {
    store: Store,
    board: SnapshotBoard,
    actors: ProjectActors,
    sessions: SessionActors,
    chat: ChatEngine,
    feed: FeedSettings,
    max_message_chars: usize,
    nodes: Nodes,
    all_subscribers: Arc<AtomicUsize>,
    accounts: AccountsArguments,
    accounts_slot: AccountsSlot,
}

pub struct SupervisorState {
    args: SupervisorArguments,
    /// What each live child serves, to restart or forget the right one when it ends.
    children: HashMap<ActorId, Child>,
    /// Session actors by start order (the key), oldest first: eviction candidates.
    session_order: BTreeMap<u64, ActorRef<SessionMessage>>,
    sessions_started: u64,
}

enum Child {
    Project(String),
    /// A session, and its key in `session_order`.
    Session(Uuid, u64),
    Accounts,
}

impl Actor for Supervisor {
    type Msg = SupervisorMessage;
    type State = SupervisorState;
    type Arguments = SupervisorArguments;

    async fn pre_start(
        &self,
        myself: ActorRef<SupervisorMessage>,
        args: SupervisorArguments,
    ) -> Result<SupervisorState, ActorProcessingErr> {
        let mut state = SupervisorState {
            args,
            children: HashMap::new(),
            session_order: BTreeMap::new(),
            sessions_started: 0,
        };
        state.spawn_accounts(&myself).await?;
        Ok(state)
    }

    async fn handle(
        &self,
        myself: ActorRef<SupervisorMessage>,
        message: SupervisorMessage,
        state: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            SupervisorMessage::Start(slug, reply) => {
                let result = match state.args.actors.get(&slug).map(|a| a.clone()) {
                    Some(actor) => Ok(actor),
                    None => state.spawn(&myself, slug).await,
                };
                let _ = reply.send(result);
            }
            SupervisorMessage::Create(record, reply) => {
                let result = state.create(*record).await;
                let _ = reply.send(result);
            }
            SupervisorMessage::StartSession(session_id, reply) => {
                let result = match state.args.sessions.get(&session_id).map(|a| a.clone()) {
                    Some(session) => Ok(session),
                    None => state.spawn_session(&myself, session_id).await,
                };
                let _ = reply.send(result);
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<SupervisorMessage>,
        event: SupervisionEvent,
        state: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        match event {
            SupervisionEvent::ActorFailed(cell, error) => {
                let slug = match state.forget(cell.get_id()) {
                    Some(Child::Project(slug)) => slug,
                    Some(Child::Session(session_id, _)) => {
                        // Its state is in the store; the next request starts it again.
                        tracing::error!(session = %session_id, %error, "session actor failed");
                        return Ok(());
                    }
                    Some(Child::Accounts) => {
                        // Its state is all in the store: a new one carries on.
                        tracing::error!(%error, "accounts actor failed; restarting it");
                        state.spawn_accounts(&myself).await?;
                        return Ok(());
                    }
                    None => return Ok(()),
                };
                tracing::error!(project = %slug, %error, "project actor failed; restarting it from the store");
                if let Err(error) = state.spawn(&myself, slug.clone()).await {
                    // It is started again lazily by the next request for the project.
                    tracing::error!(project = %slug, %error, "project actor restart failed");
                }
            }
            SupervisionEvent::ActorTerminated(cell, _, _) => {
                state.forget(cell.get_id());
            }
            _ => {}
        }
        Ok(())
    }
}

impl SupervisorState {
    /// Starts the accounts actor, linked (so stopping the supervisor's children stops it too and
    /// releases the store), and publishes it to the registry.
    async fn spawn_accounts(
        &mut self,
        myself: &ActorRef<SupervisorMessage>,
    ) -> Result<(), ActorProcessingErr> {
        let (accounts, _) = Actor::spawn_linked(
            None,
            Accounts,
            self.args.accounts.clone(),
            myself.get_cell(),
        )
        .await?;
        self.children.insert(accounts.get_id(), Child::Accounts);
        *self.args.accounts_slot.write().expect("never poisoned") = Some(accounts);
        Ok(())
    }

    async fn spawn(
        &mut self,
        myself: &ActorRef<SupervisorMessage>,
        slug: String,
    ) -> Result<ActorRef<ProjectMessage>, ProjectError> {
        let args = ProjectArguments {
            slug: slug.clone(),
            store: self.args.store.clone(),
            board: self.args.board.clone(),
            feed: self.args.feed.clone(),
            max_message_chars: self.args.max_message_chars,
            fan_out: self.args.nodes.fan_out.clone(),
            all_subscribers: self.args.all_subscribers.clone(),
        };
        let (actor, _task) = Actor::spawn_linked(None, Project, args, myself.get_cell())
            .await
            .map_err(|error| {
                tracing::error!(project = %slug, %error, "project actor failed to start");
                ProjectError::Unavailable
            })?;
        self.children
            .insert(actor.get_id(), Child::Project(slug.clone()));
        self.args.actors.insert(slug, actor.clone());
        Ok(actor)
    }

    async fn spawn_session(
        &mut self,
        myself: &ActorRef<SupervisorMessage>,
        session_id: Uuid,
    ) -> Result<ActorRef<SessionMessage>, ChatError> {
        if self.args.sessions.len() >= self.args.chat.max_sessions_in_memory {
            self.evict_sessions().await;
        }
        let args = SessionArguments {
            session_id,
            store: self.args.store.clone(),
            engine: self.args.chat.clone(),
            sessions: self.args.sessions.clone(),
            leases: self.args.nodes.leases.clone(),
        };
        let (session, _task) = Actor::spawn_linked(None, Session, args, myself.get_cell())
            .await
            .map_err(|error| {
                tracing::error!(session = %session_id, %error, "session actor failed to start");
                ChatError::Unavailable
            })?;
        self.sessions_started += 1;
        let order = self.sessions_started;
        self.session_order.insert(order, session.clone());
        self.children
            .insert(session.get_id(), Child::Session(session_id, order));
        self.args.sessions.insert(session_id, session.clone());
        Ok(session)
    }

    /// Stops the longest-running sessions that are not answering until one place is free
    /// under `max_sessions_in_memory`. Their transcripts are stored; a later request starts
    /// them again. When every session is answering, none is stopped and the new one starts
    /// anyway: answers in flight are bounded by `llm.max_concurrent_streams`.
    async fn evict_sessions(&mut self) {
        let max = self.args.chat.max_sessions_in_memory;
        let mut tried = 0;
        while self.args.sessions.len() >= max {
            let Some((&order, session)) = self.session_order.range(tried + 1..).next() else {
                break;
            };
            let session = session.clone();
            tried = order;
            if let Ok(CallResult::Success(true)) = session
                .call(SessionMessage::Evict, Some(EVICT_TIMEOUT))
                .await
            {
                tracing::debug!(session = ?session.get_id(), "session evicted to stay under max_sessions_in_memory");
            }
        }
    }

    async fn create(&mut self, record: ProjectRecord) -> Result<(), ProjectError> {
        // Only this actor creates projects, so check-then-write cannot race with another create.
        if self.args.store.project(&record.slug).await?.is_none() {
            self.args.store.put_project(&record, None).await?;
            self.args.store.flush().await?;
        }
        Ok(())
    }

    fn forget(&mut self, actor_id: ActorId) -> Option<Child> {
        let child = self.children.remove(&actor_id)?;
        match &child {
            Child::Project(slug) => {
                self.args
                    .actors
                    .remove_if(slug, |_, actor| actor.get_id() == actor_id);
            }
            Child::Session(session_id, order) => {
                self.session_order.remove(order);
                self.args
                    .sessions
                    .remove_if(session_id, |_, actor| actor.get_id() == actor_id);
            }
            Child::Accounts => {
                let mut slot = self.args.accounts_slot.write().expect("never poisoned");
                if slot
                    .as_ref()
                    .is_some_and(|actor| actor.get_id() == actor_id)
                {
                    *slot = None;
                }
            }
        }
        Some(child)
    }
}

fn chat_error(error: ProjectError) -> ChatError {
    match error {
        ProjectError::NotFound => ChatError::ProjectNotFound,
        ProjectError::Store(error) => ChatError::Store(error),
        _ => ChatError::Unavailable,
    }
}

#[cfg(test)]
mod tests;
