//! The project actor: the single writer of one project's state.
//!
//! It owns the project's record (widget settings, push-secret hash) and its live [`Feed`]
//! (replay window and fan-out to this node's visitors), writes through the store (which gives
//! out event ids), announces its events to the other nodes and delivers theirs, and
//! republishes an immutable [`ProjectSnapshot`] on every change so hot reads never wait on its
//! mailbox. In cluster mode other nodes write the same project: before changing the record it
//! reads the stored one, after changing it announces the change, and every `check_interval`
//! (or when another node announces a change) it reads the store for what it was not told —
//! events, settings, the knowledge base, the project's deletion. It never authenticates
//! callers — the `Projects` handle checks secrets against the snapshot — and it never sees HTTP.

use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::Duration;

use bytes::Bytes;
use dashmap::DashMap;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use serde::Serialize;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::error::{ErrorKind, Failure};
use crate::feed::{Feed, FeedFull, FeedSettings, PageViewers, Replay, Subscription};
use crate::identity::IdentitySecret;
use crate::integrations::Integrations;
use crate::integrations::{Integration, Platform};
use crate::knowledge::{Document, KnowledgeIndex};
use crate::lead::{self, LeadRecord};
use crate::nodes::FanOut;
use crate::proactive::{CountsByRule, ProactiveAction, ProactiveReport};
use crate::records::{AssistantSettings, HOUR_MS, ProjectRecord};
use crate::secret::SecretHash;
use crate::social_proof::{InvalidEvent, NewEvent, PopupAction, PopupCounts, SocialProofEvent};
use crate::store::{Store, StoreError};
use crate::time::now_ms;
use crate::widget::{InvalidSetting, WidgetSettings};

pub const SLUG_MAX_CHARS: usize = 64;
/// How far back hourly event counts are kept, and so the longest stats window.
pub const COUNTS_KEPT_HOURS: u64 = 31 * 24;

/// What can go wrong with a project; each has a [`Failure::kind`] the edge maps to a status.
#[derive(Debug, thiserror::Error)]
pub enum ProjectError {
    #[error("Project not found")]
    NotFound,
    #[error("Invalid push secret")]
    InvalidSecret,
    #[error("Push secret is not valid for this project")]
    ForeignSecret,
    #[error(transparent)]
    InvalidEvent(#[from] InvalidEvent),
    #[error(transparent)]
    InvalidSetting(#[from] InvalidSetting),
    /// The project actor died or is restarting; the request may be retried.
    #[error("Project is temporarily unavailable, retry shortly")]
    Unavailable,
    #[error("Too many live visitors right now, retry shortly")]
    FeedFull(#[from] FeedFull),
    #[error("A project with this slug exists")]
    Exists,
    /// The knowledge base could not be indexed; nothing was changed.
    #[error("the knowledge index failed")]
    Index(#[source] tantivy::TantivyError),
    #[error("the project's store failed")]
    Store(#[source] StoreError),
}

/// A project another node deleted is not found; other store errors are the store's.
impl From<StoreError> for ProjectError {
    fn from(error: StoreError) -> ProjectError {
        match error {
            StoreError::NoSuchProject => ProjectError::NotFound,
            error => ProjectError::Store(error),
        }
    }
}

impl Failure for ProjectError {
    fn kind(&self) -> ErrorKind {
        match self {
            ProjectError::NotFound => ErrorKind::NotFound,
            ProjectError::InvalidSecret => ErrorKind::Unauthorized,
            ProjectError::ForeignSecret => ErrorKind::Forbidden,
            ProjectError::InvalidEvent(_) | ProjectError::InvalidSetting(_) => ErrorKind::Invalid,
            ProjectError::Unavailable | ProjectError::FeedFull(_) => ErrorKind::BRIEFLY_UNAVAILABLE,
            ProjectError::Exists => ErrorKind::Conflict,
            ProjectError::Index(_) => ErrorKind::Internal,
            ProjectError::Store(error) => error.kind(),
        }
    }
}

/// What `GET /api/widget/config` shows: the widget settings, and the input limits the widget
/// applies before the server would refuse a longer text.
#[derive(Serialize, utoipa::ToSchema)]
pub struct PublicConfig<'a> {
    #[serde(flatten)]
    widget: &'a WidgetSettings,
    limits: InputLimits,
}

/// The longest texts visitors may send, in characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InputLimits {
    pub message_chars: usize,
    pub lead_email_chars: usize,
    pub lead_name_chars: usize,
    pub lead_message_chars: usize,
}

impl InputLimits {
    pub fn new(max_message_chars: usize) -> InputLimits {
        InputLimits {
            message_chars: max_message_chars,
            lead_email_chars: lead::EMAIL_MAX_CHARS,
            lead_name_chars: lead::NAME_MAX_CHARS,
            lead_message_chars: lead::MESSAGE_MAX_CHARS,
        }
    }
}

/// What the owner sets on a project. `push_secret: None` keeps the current secret.
#[derive(Debug, Clone)]
pub struct ProjectSettings {
    pub widget: WidgetSettings,
    /// Normalized with [`normalize_origin`]; empty: any origin.
    pub allowed_origins: Vec<String>,
    /// Set by config seeding (see [`ProjectRecord::seed_digest`]); `None` keeps the current one.
    pub seed_digest: Option<String>,
    /// See [`ProjectRecord::retention_days`].
    pub retention_days: Option<u32>,
    pub push_secret: Option<SecretHash>,
    pub assistant: AssistantSettings,
}

impl ProjectSettings {
    /// Settings as an owner or the config file gives them: the origins normalized,
    /// conversations kept at least a day (or forever). No push-secret change. The widget is
    /// validated when the settings are applied (`Projects::configure`), after the slug.
    pub fn new(
        widget: WidgetSettings,
        allowed_origins: &[String],
        retention_days: Option<u32>,
        assistant: AssistantSettings,
    ) -> Result<ProjectSettings, InvalidSetting> {
        assistant.validate()?;
        let allowed_origins = allowed_origins
            .iter()
            .map(|origin| normalize_origin(origin))
            .collect::<Result<Vec<_>, _>>()?;
        if retention_days == Some(0) {
            return Err(InvalidSetting {
                field: "retentionDays",
                reason: "must be at least 1; leave it out to keep conversations".into(),
            });
        }
        Ok(ProjectSettings {
            widget,
            allowed_origins,
            seed_digest: None,
            retention_days,
            push_secret: None,
            assistant,
        })
    }
}

/// One change to a project's knowledge base.
#[derive(Debug)]
pub enum DocumentEdit {
    /// Add these documents, replacing any with the same ids; others stay.
    Upsert(Vec<Document>),
    Delete(String),
    /// Rebuild the search index from the stored documents.
    Reindex,
}

/// How many checks apart a node shares its live visitors per page with the other nodes.
pub const VIEWERS_SHARED_EVERY: u32 = 5;

/// Reports remembered per project and node for counting each once; past it they are all
/// forgotten (a visit's repeat after that counts again).
pub const POPUP_REPORTS_REMEMBERED: usize = 20_000;

/// What one visit reports of the popups it was shown and clicked (event ids; at most
/// [`PopupReport::MAX_IDS`] of each).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PopupReport {
    /// The visit, as a number the widget made up for it: no person behind it.
    pub visit: u64,
    pub shown: Vec<u64>,
    pub clicked: Vec<u64>,
}

impl PopupReport {
    pub const MAX_IDS: usize = 20;
}

/// The read-only view of a project that hot paths use without a mailbox hop.
#[derive(Debug)]
pub struct ProjectSnapshot {
    pub slug: String,
    /// The public `GET /api/widget/config` body, serialized once per change.
    pub widget_config_json: Bytes,
    /// A strong validator for `widget_config_json`, quoted as HTTP wants it; made once per
    /// change, so a config GET copies no bytes for it.
    pub etag: http::HeaderValue,
    /// The head of the config GET's 200 answer, built by the server on the first one and cloned
    /// for every answer after it (a clone costs less than adding its headers one by one).
    pub widget_config_head: std::sync::OnceLock<http::HeaderMap>,
    pub push_secret_hash: Option<SecretHash>,
    pub allowed_origins: Vec<String>,
    pub retention_days: Option<u32>,
    pub widget: WidgetSettings,
    pub assistant: AssistantSettings,
    pub integrations: Integrations,
    pub identity_secret: Option<IdentitySecret>,
    /// This node's live visitors per page.
    pub viewers: Arc<PageViewers>,
    /// BM25 index of the project's documents, rebuilt whenever they change.
    pub knowledge: Arc<KnowledgeIndex>,
}

/// Latest snapshot of every started project, written only by project actors. Read by nearly
/// every request, so hashed with foldhash rather than SipHash: its keys are the slugs of
/// projects that exist, never a visitor's choice.
pub type SnapshotBoard = Arc<DashMap<String, Arc<ProjectSnapshot>, foldhash::fast::RandomState>>;

pub struct Project;

pub enum ProjectMessage {
    /// Store a validated event and reply with its id once it is durable.
    Push(NewEvent, RpcReplyPort<Result<u64, StoreError>>),
    /// Replace the settings and reply once they are durable and published.
    Configure(Box<ProjectSettings>, RpcReplyPort<Result<(), ProjectError>>),
    /// Replace the push secret and reply once the new one works and the old one does not.
    SetPushSecret(SecretHash, RpcReplyPort<Result<(), ProjectError>>),
    /// A visitor's report of popups shown and clicked; counted, never answered.
    Popups(PopupReport),
    /// A visitor's report of a proactive message shown, opened or dismissed; counted, never
    /// answered.
    Proactive(ProactiveReport),
    /// Connect (or, with `None`, disconnect) a platform's webhooks.
    SetIntegration(
        Platform,
        Option<Integration>,
        RpcReplyPort<Result<(), ProjectError>>,
    ),
    /// Set (or, with `None`, remove) the identity secret.
    SetIdentitySecret(
        Option<IdentitySecret>,
        RpcReplyPort<Result<(), ProjectError>>,
    ),
    /// Replace the knowledge base and reply once it is durable and searchable.
    SetDocuments(Vec<Document>, RpcReplyPort<Result<(), ProjectError>>),
    /// Subscribe a live visitor: the events after the id, then every new one.
    /// Subscribe a live visitor (after `since`, on a page) to the project's events.
    Subscribe(
        Option<u64>,
        Option<String>,
        RpcReplyPort<Result<Subscription, FeedFull>>,
    ),
    /// How many live visitors are subscribed right now.
    Subscribers(RpcReplyPort<usize>),
    /// The events after the id, for polling.
    Replay(Option<u64>, RpcReplyPort<Replay>),
    /// Add or replace one document, or delete one by id; reply whether it changed anything,
    /// once durable and searchable.
    EditDocument(DocumentEdit, RpcReplyPort<Result<bool, ProjectError>>),
    /// Store a validated lead and reply once it is durable.
    AddLead(Box<LeadRecord>, RpcReplyPort<Result<(), StoreError>>),
    /// An event another node committed: hand it to the live visitors here.
    Deliver(Box<SocialProofEvent>),
    /// Read the store for what other nodes changed: events, settings, knowledge base, the
    /// project's deletion (another node announced a change).
    Refresh,
    /// The periodic [`ProjectMessage::Refresh`]; the next is scheduled when this one is done,
    /// so a slow store never piles them up.
    Check,
    /// Panic inside the handler, to prove supervision restarts the actor.
    #[cfg(any(test, feature = "fault-injection"))]
    Panic,
}

pub struct ProjectArguments {
    pub slug: String,
    pub store: Store,
    pub board: SnapshotBoard,
    pub feed: FeedSettings,
    /// The longest visitor message `/api/chat` takes.
    pub max_message_chars: usize,
    /// Where events committed here are announced to the other nodes.
    pub fan_out: Arc<dyn FanOut>,
    /// Live subscribers of every project, for the total cap.
    pub all_subscribers: Arc<AtomicUsize>,
    /// How often to read the store for other nodes' changes; `None` on a node of its own.
    pub check_interval: Option<Duration>,
}

pub struct ProjectState {
    record: ProjectRecord,
    knowledge: Arc<KnowledgeIndex>,
    store: Store,
    board: SnapshotBoard,
    feed: Feed,
    /// How many recent events the store keeps (the replay window's size).
    retain_events: u64,
    /// Input limits told to widgets with their config.
    limits: InputLimits,
    fan_out: Arc<dyn FanOut>,
    /// Whether other nodes write this project too.
    shared: bool,
    /// How often to read the store for what other nodes changed; `None` on a node of its own.
    check_interval: Option<Duration>,
    /// Documents were replaced but the record's new knowledge revision was not saved.
    revision_unsaved: bool,
    /// Deliveries to this node's visitors not written to the store yet, by hour.
    uncounted: std::collections::BTreeMap<u64, u64>,
    /// Popups visitors reported shown or clicked, not written to the store yet, by hour.
    uncounted_popups: std::collections::BTreeMap<u64, PopupCounts>,
    /// Proactive messages visitors reported, not written to the store yet, by hour.
    uncounted_proactive: std::collections::BTreeMap<u64, CountsByRule>,
    /// Pages this node last told the other nodes it had live visitors on.
    viewers_shared: Vec<String>,
    /// Checks since then.
    checks_since_shared: u32,
    /// Reports already counted — (visit, event id, action) — so a visit counts each popup once
    /// per action on this node; forgotten all at once past [`POPUP_REPORTS_REMEMBERED`].
    popup_reports: std::collections::HashSet<(u64, u64, PopupAction)>,
    /// The same for proactive messages: (visit, rule id, action).
    proactive_reports: std::collections::HashSet<(u64, String, ProactiveAction)>,
    /// Whether the last attempt to write them failed.
    counting_failed: bool,
    /// The hour whose old counts were last dropped.
    counts_pruned_hour: u64,
}

impl Actor for Project {
    type Msg = ProjectMessage;
    type State = ProjectState;
    type Arguments = ProjectArguments;

    async fn pre_start(
        &self,
        myself: ActorRef<ProjectMessage>,
        args: ProjectArguments,
    ) -> Result<ProjectState, ActorProcessingErr> {
        let record = args
            .store
            .project(&args.slug)
            .await?
            .ok_or_else(|| format!("project {} is not in the store", args.slug))?;
        let last_event_id = args.store.last_event_id(&args.slug).await?;
        let stored_events = args.store.events_after(&args.slug, 0).await?;
        let knowledge = Arc::new(KnowledgeIndex::build(
            &args.store.documents(&args.slug).await?,
            &record.assistant.languages,
        )?);
        let retain_events = args.feed.replay_events.max(1) as u64;
        let feed = Feed::new(
            args.feed,
            &stored_events,
            last_event_id,
            record.widget.social_proof.name_format,
            args.all_subscribers,
            now_ms(),
        );
        let mut state = ProjectState {
            record,
            knowledge,
            store: args.store,
            board: args.board,
            feed,
            retain_events,
            limits: InputLimits::new(args.max_message_chars),
            fan_out: args.fan_out,
            shared: args.check_interval.is_some(),
            check_interval: args.check_interval,
            revision_unsaved: false,
            uncounted: Default::default(),
            uncounted_popups: Default::default(),
            uncounted_proactive: Default::default(),
            viewers_shared: Vec::new(),
            checks_since_shared: 0,
            popup_reports: Default::default(),
            proactive_reports: Default::default(),
            counting_failed: false,
            counts_pruned_hour: 0,
        };
        state.publish();
        if let Some(every) = args.check_interval {
            myself.send_after(every, || ProjectMessage::Check);
        }
        Ok(state)
    }

    /// Writes the counts not written yet before the actor goes.
    async fn post_stop(
        &self,
        _myself: ActorRef<ProjectMessage>,
        state: &mut ProjectState,
    ) -> Result<(), ActorProcessingErr> {
        state.write_counts().await;
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<ProjectMessage>,
        message: ProjectMessage,
        state: &mut ProjectState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            ProjectMessage::Push(event, reply) => {
                let result = state.push(event).await;
                let _ = reply.send(result);
            }
            ProjectMessage::Configure(settings, reply) => {
                let result = state.configure(*settings).await;
                let _ = reply.send(result);
            }
            ProjectMessage::SetPushSecret(hash, reply) => {
                let _ = reply.send(state.set_push_secret(hash).await);
            }
            ProjectMessage::SetIntegration(platform, integration, reply) => {
                let _ = reply.send(state.set_integration(platform, integration).await);
            }
            ProjectMessage::SetIdentitySecret(secret, reply) => {
                let _ = reply.send(state.set_identity_secret(secret).await);
            }
            ProjectMessage::SetDocuments(documents, reply) => {
                let result = state.set_documents(documents).await;
                let _ = reply.send(result);
            }
            ProjectMessage::Subscribe(since, page, reply) => {
                state.catch_up_with(since).await;
                let _ = reply.send(state.feed.subscribe(since, page, now_ms()));
            }
            ProjectMessage::Subscribers(reply) => {
                let _ = reply.send(state.feed.subscribers());
            }
            ProjectMessage::Replay(since, reply) => {
                state.catch_up_with(since).await;
                let _ = reply.send(state.feed.replay(since, now_ms()));
            }
            ProjectMessage::EditDocument(edit, reply) => {
                let result = state.edit_document(edit).await;
                let _ = reply.send(result);
            }
            ProjectMessage::AddLead(lead, reply) => {
                let result = state.add_lead(&lead).await;
                let _ = reply.send(result);
            }
            ProjectMessage::Deliver(event) => state.deliver(*event).await,
            ProjectMessage::Popups(report) => {
                state.count_popups(report, now_ms());
                if !state.shared {
                    state.write_counts().await;
                }
            }
            ProjectMessage::Proactive(report) => {
                state.count_proactive(report, now_ms());
                if !state.shared {
                    state.write_counts().await;
                }
            }
            ProjectMessage::Refresh | ProjectMessage::Check => {
                let periodic = matches!(message, ProjectMessage::Check);
                let exists = state.refresh().await;
                if periodic && exists {
                    state.write_counts().await;
                    state.share_viewers().await;
                }
                if !exists {
                    myself.stop(Some("project deleted on another node".into()));
                } else if let Some(every) = state.check_interval.filter(|_| periodic) {
                    myself.send_after(every, || ProjectMessage::Check);
                }
            }
            #[cfg(any(test, feature = "fault-injection"))]
            ProjectMessage::Panic => {
                panic!("fault injection: project {} panicked", state.record.slug)
            }
        }
        Ok(())
    }
}

impl ProjectState {
    async fn push(&mut self, event: NewEvent) -> Result<u64, StoreError> {
        // The store gives out the id, in the same transaction as the event: an id that reached
        // the store (even when the flush below fails) is never given out again.
        let event = self
            .store
            .append_event(&self.record.slug, event, now_ms(), self.retain_events)
            .await?;
        let hour = event.created_at_ms / HOUR_MS;
        if hour != self.counts_pruned_hour {
            let keep_from = hour.saturating_sub(COUNTS_KEPT_HOURS);
            self.store
                .forget_counts_before(&self.record.slug, keep_from)
                .await?;
            self.counts_pruned_hour = hour;
        }
        self.store.flush().await?;
        // Durable first: a visitor never sees an event that a crash could take back.
        self.deliver(event.clone()).await;
        if let Err(error) = self.fan_out.announce(&self.record.slug, &event).await {
            // The other nodes catch up from the store with the next event they hear of.
            tracing::warn!(project = %self.record.slug, %error, "event not announced");
        }
        Ok(event.id)
    }

    /// Hands a stored event — committed here or on another node — to this node's live
    /// visitors, in id order: ids at or below the feed's last are old news, and an event that
    /// skips ids (announced out of order, or lost on the way) brings the ones between from the
    /// store first. Failures are logged: the event is durable, and the next one retries.
    async fn deliver(&mut self, event: SocialProofEvent) {
        let last = self.feed.last_id();
        if event.id <= last {
            return;
        }
        if event.id == last + 1 {
            self.publish_events(&[event]).await;
        } else {
            self.catch_up(event.id).await;
        }
    }

    /// A visitor who saw `since` on another node, ahead of this one: this node catches up from
    /// the store first, so the visitor gets what it missed rather than a spurious reset.
    /// (A visitor sending ids from the future costs one read of one indexed row per request,
    /// within the widget endpoints' rate limit.)
    async fn catch_up_with(&mut self, since: Option<u64>) {
        if !self.shared || since.is_none_or(|since| since <= self.feed.last_id()) {
            return;
        }
        match self.store.last_event_id(&self.record.slug).await {
            Ok(last) => self.catch_up(last).await,
            Err(error) => {
                tracing::warn!(project = %self.record.slug, %error, "event check failed");
            }
        }
    }

    /// Delivers the stored events after the feed's last, up to `until`.
    async fn catch_up(&mut self, until: u64) {
        let slug = &self.record.slug;
        match self.store.events_after(slug, self.feed.last_id()).await {
            Ok(mut missed) => {
                missed.retain(|stored| stored.id <= until);
                self.publish_events(&missed).await;
            }
            Err(error) => {
                tracing::warn!(project = %slug, %error, "missed events not read; retried later");
            }
        }
    }

    /// Hands events to the feed and counts the deliveries: at once on a node of its own (a
    /// write to its local store), at the next check in cluster mode (one write per check
    /// instead of one per event and node).
    async fn publish_events(&mut self, events: &[SocialProofEvent]) {
        for event in events {
            let delivered = self.feed.publish(event, now_ms()) as u64;
            if delivered > 0 {
                let hour = event.created_at_ms / HOUR_MS;
                *self.uncounted.entry(hour).or_default() += delivered;
            }
        }
        if !self.shared {
            self.write_counts().await;
        }
    }

    /// Every [`VIEWERS_SHARED_EVERY`] checks, tells the other nodes how many live visitors this
    /// node has on each page.
    async fn share_viewers(&mut self) {
        self.checks_since_shared += 1;
        let Some(every) = self.check_interval else {
            return;
        };
        if self.checks_since_shared < VIEWERS_SHARED_EVERY {
            return;
        }
        self.checks_since_shared = 0;
        let pages = self.feed.page_viewers().pages();
        let left: Vec<String> = std::mem::take(&mut self.viewers_shared)
            .into_iter()
            .filter(|page| !pages.iter().any(|(now, _)| now == page))
            .collect();
        self.viewers_shared = pages.iter().map(|(page, _)| page.clone()).collect();
        if pages.is_empty() && left.is_empty() {
            return;
        }
        // Fresh until three shares are missed.
        let fresh_for = every * VIEWERS_SHARED_EVERY * 3;
        let shared = self
            .fan_out
            .share_viewers(&self.record.slug, &pages, &left, fresh_for)
            .await;
        if let Err(error) = shared {
            tracing::debug!(project = %self.record.slug, %error, "viewers not shared");
        }
    }

    /// Counts what visitors reported of the popups they were shown: each event (of the replay
    /// window: older ones are not counted) once per visit and action, in the hour reported.
    fn count_popups(&mut self, report: PopupReport, now_ms: u64) {
        if self.popup_reports.len() > POPUP_REPORTS_REMEMBERED {
            self.popup_reports.clear();
        }
        let hour = now_ms / HOUR_MS;
        for (action, ids) in [
            (PopupAction::Shown, &report.shown),
            (PopupAction::Clicked, &report.clicked),
        ] {
            for &id in ids {
                let Some(kind) = self.feed.kind_of(id) else {
                    continue;
                };
                if self.popup_reports.insert((report.visit, id, action)) {
                    self.uncounted_popups
                        .entry(hour)
                        .or_default()
                        .add(action, kind, 1);
                }
            }
        }
    }

    /// Counts a visit's report of a proactive message: once per visit, rule and action, in the
    /// hour reported, for rules the project has (a page with older settings may name one
    /// deleted since: not counted).
    fn count_proactive(&mut self, report: ProactiveReport, now_ms: u64) {
        if !self
            .record
            .widget
            .proactive
            .iter()
            .any(|rule| rule.id == report.rule)
        {
            return;
        }
        if self.proactive_reports.len() > POPUP_REPORTS_REMEMBERED {
            self.proactive_reports.clear();
        }
        if self
            .proactive_reports
            .insert((report.visit, report.rule.clone(), report.action))
        {
            self.uncounted_proactive
                .entry(now_ms / HOUR_MS)
                .or_default()
                .entry(report.rule)
                .or_default()
                .add(report.action, 1);
        }
    }

    /// Writes the deliveries and popup reports not counted yet; what fails to be written is
    /// kept for next time.
    async fn write_counts(&mut self) {
        let mut failed = None;
        for (hour, delivered) in std::mem::take(&mut self.uncounted) {
            let counted = self
                .store
                .add_deliveries(&self.record.slug, hour, delivered)
                .await;
            if let Err(error) = counted {
                *self.uncounted.entry(hour).or_default() += delivered;
                failed = Some(error);
            }
        }
        for (hour, counts) in std::mem::take(&mut self.uncounted_popups) {
            let counted = self
                .store
                .add_popup_counts(&self.record.slug, hour, &counts)
                .await;
            if let Err(error) = counted {
                self.uncounted_popups
                    .entry(hour)
                    .or_default()
                    .merge(&counts);
                failed = Some(error);
            }
        }
        for (hour, counts) in std::mem::take(&mut self.uncounted_proactive) {
            let counted = self
                .store
                .add_proactive_counts(&self.record.slug, hour, &counts)
                .await;
            if let Err(error) = counted {
                let kept = self.uncounted_proactive.entry(hour).or_default();
                for (rule, counts) in counts {
                    kept.entry(rule).or_default().merge(&counts);
                }
                failed = Some(error);
            }
        }
        match failed {
            // Said once per project and outage, not at every check.
            Some(error) if !self.counting_failed => {
                tracing::warn!(project = %self.record.slug, %error, "deliveries not counted yet; retrying at each check");
                self.counting_failed = true;
            }
            Some(_) => {}
            None => self.counting_failed = false,
        }
    }

    async fn add_lead(&self, lead: &LeadRecord) -> Result<(), StoreError> {
        let slug = &self.record.slug;
        let contact = crate::chat::LeadContact {
            email: lead.email.clone(),
            name: lead.name.clone(),
            message: lead.message.clone(),
            created_at_ms: lead.created_at_ms,
        };
        let news = [crate::webhook::WebhookEvent::lead(
            slug,
            lead.session_id,
            &contact,
        )];
        self.store.put_lead_with_news(slug, lead, &news).await?;
        self.store.flush().await
    }

    /// What other nodes changed without a word reaching this one: events (an announcement
    /// lost with its node or with Redis), then the record, and the knowledge base when its
    /// revision moved. False when the project is gone: this actor must stop. Failures are
    /// logged and retried at the next check.
    async fn refresh(&mut self) -> bool {
        let slug = self.record.slug.clone();
        match self.store.last_event_id(&slug).await {
            Ok(last) if last > self.feed.last_id() => self.catch_up(last).await,
            Ok(_) => {}
            Err(error) => tracing::warn!(project = %slug, %error, "event check failed"),
        }
        let stored = match self.store.project(&slug).await {
            Ok(Some(stored)) => stored,
            Ok(None) => {
                self.board.remove(&slug);
                self.uncounted.clear(); // nothing to count them for
                self.uncounted_popups.clear();
                self.uncounted_proactive.clear();
                return false;
            }
            Err(error) => {
                tracing::warn!(project = %slug, %error, "settings check failed");
                return true;
            }
        };
        if let Err(error) = self.adopt(stored).await {
            tracing::warn!(project = %slug, %error, "knowledge base not reloaded; retried later");
        }
        true
    }

    /// Takes `stored` (written by another node) as this project's record, rebuilding the
    /// knowledge index when its revision moved, and publishes the result.
    async fn adopt(&mut self, stored: ProjectRecord) -> Result<(), ProjectError> {
        if stored == self.record {
            return Ok(());
        }
        if stored.knowledge_revision != self.record.knowledge_revision {
            let documents = self.store.documents(&stored.slug).await?;
            let knowledge = KnowledgeIndex::build(&documents, &stored.assistant.languages)
                .map_err(ProjectError::Index)?;
            self.knowledge = Arc::new(knowledge);
        }
        self.record = stored;
        self.publish();
        Ok(())
    }

    /// The record to change: the stored one when other nodes may have changed it.
    async fn current_record(&mut self) -> Result<ProjectRecord, ProjectError> {
        if self.shared {
            let stored = self.store.project(&self.record.slug).await?;
            self.adopt(stored.ok_or(ProjectError::NotFound)?).await?;
        }
        Ok(self.record.clone())
    }

    async fn configure(&mut self, settings: ProjectSettings) -> Result<(), ProjectError> {
        let mut record = self.current_record().await?;
        record.widget = settings.widget;
        record.allowed_origins = settings.allowed_origins;
        record.retention_days = settings.retention_days;
        if record.assistant.languages != settings.assistant.languages {
            // Documents are indexed per language: the index is rebuilt here, and on the other
            // nodes when they see the revision move.
            let documents = self.store.documents(&record.slug).await?;
            let knowledge = KnowledgeIndex::build(&documents, &settings.assistant.languages)
                .map_err(ProjectError::Index)?;
            self.knowledge = Arc::new(knowledge);
            record.knowledge_revision = Uuid::new_v4();
        }
        record.assistant = settings.assistant;
        if let Some(digest) = settings.seed_digest {
            record.seed_digest = Some(digest);
        }
        if let Some(hash) = settings.push_secret {
            record.push_secret_hash = Some(hash);
        }
        self.save(record).await
    }

    /// Connects or disconnects one platform, leaving the rest of the record as it is.
    async fn set_integration(
        &mut self,
        platform: Platform,
        integration: Option<Integration>,
    ) -> Result<(), ProjectError> {
        let mut record = self.current_record().await?;
        record.integrations.set(platform, integration);
        self.save(record).await
    }

    /// Sets or removes the identity secret, leaving the rest of the record as it is.
    async fn set_identity_secret(
        &mut self,
        secret: Option<IdentitySecret>,
    ) -> Result<(), ProjectError> {
        let mut record = self.current_record().await?;
        record.identity_secret = secret;
        self.save(record).await
    }

    /// Replaces the push secret alone: the previous one stops working at once on this node,
    /// and on the others when they hear of it (see "Cluster mode" in ARCHITECTURE.md).
    async fn set_push_secret(&mut self, hash: SecretHash) -> Result<(), ProjectError> {
        let record = ProjectRecord {
            push_secret_hash: Some(hash),
            ..self.current_record().await?
        };
        self.save(record).await
    }

    /// Writes a changed record, with its push-secret index, publishes the new snapshot and
    /// tells the other nodes.
    async fn save(&mut self, mut record: ProjectRecord) -> Result<(), ProjectError> {
        if record == self.record {
            return Ok(());
        }
        record.updated_at_ms = now_ms();
        let previous_secret = self.record.push_secret_hash.as_ref();
        let previous_secret =
            previous_secret.filter(|old| Some(*old) != record.push_secret_hash.as_ref());
        self.store.put_project(&record, previous_secret).await?;
        self.store.flush().await?;
        self.record = record;
        self.publish();
        if let Err(error) = self.fan_out.announce_change(&self.record.slug).await {
            // The other nodes find the change at their next check.
            tracing::warn!(project = %self.record.slug, %error, "change not announced");
        }
        Ok(())
    }

    async fn edit_document(&mut self, edit: DocumentEdit) -> Result<bool, ProjectError> {
        let mut documents = self.store.documents(&self.record.slug).await?;
        let changed = match edit {
            DocumentEdit::Upsert(new) => {
                // The same documents again (a restart loading its knowledge_dir) change nothing,
                // unless the revision of the last change never made it to the store.
                let same = !self.revision_unsaved && new.iter().all(|doc| documents.contains(doc));
                documents.retain(|existing| !new.iter().any(|doc| doc.id == existing.id));
                documents.extend(new);
                documents.sort_by(|a, b| a.id.cmp(&b.id));
                !same
            }
            DocumentEdit::Delete(id) => {
                let before = documents.len();
                documents.retain(|existing| existing.id != id);
                documents.len() != before
            }
            DocumentEdit::Reindex => true,
        };
        if changed {
            self.set_documents(documents).await?;
        }
        Ok(changed)
    }

    /// Replaces the knowledge base, then moves the record's knowledge revision so other nodes
    /// rebuild their index from the stored documents.
    async fn set_documents(&mut self, documents: Vec<Document>) -> Result<(), ProjectError> {
        // The record as stored first: another node may have changed the languages.
        let current = self.current_record().await?;
        let knowledge = KnowledgeIndex::build(&documents, &current.assistant.languages)
            .map_err(ProjectError::Index)?;
        let record = ProjectRecord {
            knowledge_revision: Uuid::new_v4(),
            ..current
        };
        self.store
            .replace_documents(&self.record.slug, &documents)
            .await?;
        self.knowledge = Arc::new(knowledge);
        // Should the revision not be saved, the other nodes would never rebuild: the next edit
        // saves one even if its documents are already stored.
        self.revision_unsaved = true;
        self.save(record).await?;
        self.revision_unsaved = false;
        Ok(())
    }

    fn publish(&mut self) {
        self.feed
            .show_names(self.record.widget.social_proof.name_format);
        let config = PublicConfig {
            widget: &self.record.widget,
            limits: self.limits,
        };
        let json = serde_json::to_vec(&config).expect("widget settings always serialize");
        let digest = Sha256::digest(&json);
        let etag = format!("\"{}\"", hex::encode(&digest[..8]));
        let snapshot = ProjectSnapshot {
            slug: self.record.slug.clone(),
            widget_config_json: Bytes::from(json),
            etag: http::HeaderValue::from_str(&etag).expect("quoted hex digits are header-safe"),
            widget_config_head: std::sync::OnceLock::new(),
            push_secret_hash: self.record.push_secret_hash.clone(),
            allowed_origins: self.record.allowed_origins.clone(),
            retention_days: self.record.retention_days,
            widget: self.record.widget.clone(),
            assistant: self.record.assistant.clone(),
            integrations: self.record.integrations.clone(),
            identity_secret: self.record.identity_secret.clone(),
            viewers: self.feed.page_viewers(),
            knowledge: self.knowledge.clone(),
        };
        self.board
            .insert(self.record.slug.clone(), Arc::new(snapshot));
        // After the new snapshot is served, so a widget told reads the new config.
        self.feed.announce_settings(&etag);
    }
}

/// Slugs are 1–64 characters of `a-z`, `0-9` and inner `-`: safe in URLs, keys and file names.
pub fn validate_slug(slug: &str) -> Result<(), InvalidSetting> {
    let well_formed = !slug.is_empty()
        && slug.len() <= SLUG_MAX_CHARS
        && slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !slug.starts_with('-')
        && !slug.ends_with('-');
    if well_formed {
        Ok(())
    } else {
        Err(InvalidSetting {
            field: "slug",
            reason: format!(
                "{slug:?} must be 1-{SLUG_MAX_CHARS} characters of a-z, 0-9 and inner hyphens"
            ),
        })
    }
}

impl ProjectSnapshot {
    /// Whether a browser page from `origin` may use this project's widget endpoints.
    pub fn allows_origin(&self, origin: &str) -> bool {
        self.allowed_origins.is_empty()
            || normalize_origin(origin).is_ok_and(|origin| self.allowed_origins.contains(&origin))
    }
}

/// An origin as browsers send it — `scheme://host[:port]`, http or https, no path — lowercased
/// and without a default port, so equal origins compare equal.
pub fn normalize_origin(origin: &str) -> Result<String, InvalidSetting> {
    let bad = || InvalidSetting {
        field: "allowedOrigins",
        reason: format!("{origin:?} must look like https://shop.example.com (no path)"),
    };
    let lower = origin.trim().to_ascii_lowercase();
    let (scheme, rest) = lower.split_once("://").ok_or_else(bad)?;
    let default_port = match scheme {
        "https" => ":443",
        "http" => ":80",
        _ => return Err(bad()),
    };
    let host_port = rest.strip_suffix('/').unwrap_or(rest);
    let well_formed = !host_port.is_empty()
        && host_port.len() <= 255
        && host_port
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b));
    if !well_formed {
        return Err(bad());
    }
    let host_port = host_port.strip_suffix(default_port).unwrap_or(host_port);
    Ok(format!("{scheme}://{host_port}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_normalize_and_reject_what_browsers_never_send() {
        for (given, normal) in [
            ("https://Shop.Example.com", "https://shop.example.com"),
            ("https://shop.example.com/", "https://shop.example.com"),
            ("https://shop.example.com:443", "https://shop.example.com"),
            ("http://localhost:8080", "http://localhost:8080"),
            ("http://[::1]:3000", "http://[::1]:3000"),
        ] {
            assert_eq!(normalize_origin(given).unwrap(), normal);
        }
        for bad in [
            "shop.example.com",
            "ftp://x",
            "https://",
            "https://a.com/path",
            "null",
            "https://a b",
        ] {
            assert!(normalize_origin(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn slug_rules() {
        for good in [
            "demo",
            "my-store",
            "a",
            "shop42",
            &"x".repeat(SLUG_MAX_CHARS),
        ] {
            assert!(validate_slug(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "-a",
            "a-",
            "My-Store",
            "a_b",
            "a b",
            "é",
            &"x".repeat(SLUG_MAX_CHARS + 1),
        ] {
            assert!(validate_slug(bad).is_err(), "{bad}");
        }
    }
}
