//! The engine's front door: [`Engine`], started once, and its handles — [`Projects`], [`Chat`],
//! [`Accounts`] and [`Reports`] — which the edge holds and clones freely.
//!
//! Reads go straight to the snapshot board or the store; writes go to the one actor that owns
//! the state (a project, a session, the accounts). Behind the handles the [`Supervisor`] spawns
//! actors lazily and restarts failed ones from the store. Every call from a handle to an actor
//! goes through [`call_value`] (or `Core::call_session`, which retries once on a session actor
//! that just stopped), so a dead or restarting actor is always "unavailable, retry". The
//! handles check push secrets and session tokens; the only writes they make themselves are
//! erasures (a conversation, a project), after stopping the actors that own the data.

use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::Duration;

use ractor::rpc::CallResult;
use ractor::{Actor, ActorRef, RpcReplyPort};
use tokio::sync::{Mutex, broadcast, mpsc};
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::accounts::{AccountError, AccountsArguments, AccountsMessage};
use crate::activity::{Activities, ActivityHub};
use crate::chat::ChatError;
use crate::dispatcher::{DispatchSettings, TurnedOff, WebhookSender};
use crate::feed::FeedSettings;
use crate::hours::HoursClock;
use crate::llm::LlmStats;
use crate::nodes::{Arrival, Nodes};
use crate::project::{ProjectError, ProjectMessage, ProjectSnapshot, SnapshotBoard, validate_slug};
use crate::records::ProjectRecord;
use crate::session::{ChatEngine, Models, SessionActors, SessionMessage};
use crate::store::{Store, StoreError};
use crate::supervisor::{
    AccountsSlot, ProjectActors, Supervisor, SupervisorArguments, SupervisorMessage,
};

mod accounts;
mod chat;
mod projects;
pub mod reports;
pub mod webhooks;

pub use accounts::Accounts;
pub use chat::{Chat, INBOX_PAGE_MAX, Identified, InboxPage, InboxQuery, ShowConversation};
pub use projects::Projects;
pub use reports::{Analytics, DayFigures, Engines, QuestionCount, Reports, Thumbs};
pub use webhooks::{WebhookChange, WebhookError, Webhooks};

pub struct EngineArguments {
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
    /// Who sends webhook deliveries, and how; `None`: this node sends none (they wait in the
    /// outbox for a node that does).
    pub webhooks: Option<(Arc<dyn WebhookSender>, DispatchSettings)>,
}

/// The running engine. Clones share one supervisor, one snapshot board and one store.
#[derive(Clone)]
pub struct Engine {
    pub projects: Projects,
    pub chat: Chat,
    pub accounts: Accounts,
    pub reports: Reports,
    pub webhooks: Webhooks,
    /// The time business hours are judged at.
    pub hours_clock: HoursClock,
    core: Arc<Core>,
}

/// What every handle shares: the store, the live actors and the way to reach them.
pub(crate) struct Core {
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
    nodes: Nodes,
    /// News of conversations for the people watching them live.
    activities: Activities,
    /// The webhook dispatcher's task, if this node runs one.
    dispatcher: Mutex<Option<JoinHandle<()>>>,
    /// Webhooks this node's dispatcher turned off.
    turned_off: broadcast::Sender<TurnedOff>,
}

impl Engine {
    pub async fn start(args: EngineArguments) -> Result<Engine, ProjectError> {
        let board = SnapshotBoard::default();
        let actors = ProjectActors::default();
        let sessions = SessionActors::default();
        let accounts = AccountsSlot::default();
        let all_subscribers = Arc::<AtomicUsize>::default();
        let activities = Activities::new(args.nodes.fan_out.clone());
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
            activities: activities.clone(),
        };
        let (supervisor, supervisor_task) = Actor::spawn(None, Supervisor, supervisor_args)
            .await
            .map_err(|error| {
            tracing::error!(%error, "the engine's supervisor failed to start");
            ProjectError::Unavailable
        })?;
        if let Some(arrivals) = args.nodes.fan_out.arrivals() {
            let hub = activities.hub.clone();
            tokio::spawn(deliver_arrivals(arrivals, actors.clone(), hub));
        }
        let turned_off = broadcast::channel(64).0;
        let dispatcher = args.webhooks.map(|(sender, settings)| {
            crate::dispatcher::start(args.store.clone(), sender, settings, turned_off.clone())
        });
        let core = Arc::new(Core {
            activities,
            dispatcher: Mutex::new(dispatcher),
            turned_off,
            nodes: args.nodes,
            accounts,
            all_subscribers,
            store: args.store,
            board,
            actors,
            sessions,
            chat: args.chat,
            supervisor,
            supervisor_task: Mutex::new(Some(supervisor_task)),
        });
        Ok(Engine {
            projects: Projects { core: core.clone() },
            chat: Chat { core: core.clone() },
            accounts: Accounts { core: core.clone() },
            reports: Reports { core: core.clone() },
            webhooks: Webhooks { core: core.clone() },
            hours_clock: HoursClock::default(),
            core,
        })
    }

    /// Writes the next answers with `models` (a config reload); answers under way keep theirs.
    pub fn replace_models(&self, models: Models) {
        self.core.chat.replace_models(models);
    }

    /// The models new answers are written with.
    pub fn models(&self) -> Arc<Models> {
        self.core.chat.models()
    }

    /// This node's watchers of conversations: the visitor of one, the team of a project.
    pub fn activity(&self) -> &Arc<ActivityHub> {
        &self.core.activities.hub
    }

    /// Webhooks this node turns off from now on (their deliveries kept failing).
    pub fn webhooks_turned_off(&self) -> broadcast::Receiver<TurnedOff> {
        self.core.turned_off.subscribe()
    }

    /// The counters every model shares, for models built after the engine started.
    pub fn llm_stats(&self) -> Arc<LlmStats> {
        self.core.chat.stats.clone()
    }

    /// Stops every actor (their mailboxes drain first) and flushes the store.
    pub async fn stop(&self, grace: Duration) -> Result<(), StoreError> {
        if let Some(dispatcher) = self.core.dispatcher.lock().await.take() {
            // Deliveries it holds go back to the outbox when their lease ends.
            dispatcher.abort();
        }
        let supervisor = &self.core.supervisor;
        let _ = supervisor.stop_children_and_wait(None, Some(grace)).await;
        let _ = supervisor.stop_and_wait(None, Some(grace)).await;
        if let Some(task) = self.core.supervisor_task.lock().await.take() {
            let _ = task.await;
        }
        self.core.store.flush().await
    }
}

impl Core {
    /// The latest snapshot of `slug`, starting its actor if needed.
    ///
    /// The actor's start is boxed: a running project answers from the board, and this future,
    /// which every widget request holds, stays a few words rather than the start's size.
    pub(super) async fn snapshot(&self, slug: &str) -> Result<Arc<ProjectSnapshot>, ProjectError> {
        if let Some(snapshot) = self.board.get(slug) {
            return Ok(snapshot.clone());
        }
        Box::pin(self.start_for_snapshot(slug)).await
    }

    async fn start_for_snapshot(&self, slug: &str) -> Result<Arc<ProjectSnapshot>, ProjectError> {
        self.actor(slug).await?;
        self.board
            .get(slug)
            .map(|s| s.clone())
            .ok_or(ProjectError::Unavailable)
    }

    /// Takes every role and invitation on `slug` away.
    pub(super) async fn forget_members(&self, slug: &str) -> Result<(), ProjectError> {
        let accounts = self.accounts().map_err(|_| ProjectError::Unavailable)?;
        let forget = |reply| AccountsMessage::ForgetProject(slug.to_owned(), reply);
        call_actor(&accounts, forget, AccountError::Unavailable)
            .await
            .map_err(|_| ProjectError::Unavailable)
    }

    /// The live accounts actor; `Unavailable` for the moment between a failure and its restart.
    pub(super) fn accounts(&self) -> Result<ActorRef<AccountsMessage>, AccountError> {
        self.accounts
            .read()
            .expect("the accounts slot is never poisoned")
            .clone()
            .ok_or(AccountError::Unavailable)
    }

    /// `SessionNotFound` unless the session exists (in memory or stored) in an existing project.
    pub(super) async fn check_session_exists(
        &self,
        slug: &str,
        session_id: Uuid,
    ) -> Result<(), ChatError> {
        self.snapshot(slug).await.map_err(chat_error)?;
        let known = self.sessions.contains_key(&session_id)
            || self.store.session(session_id).await?.is_some();
        if known {
            Ok(())
        } else {
            Err(ChatError::SessionNotFound)
        }
    }

    /// Sends the message `message` builds to the session's actor, starting the actor when
    /// needed. An actor that stopped (idle or evicted) between lookup and send is replaced once.
    pub(super) async fn call_session<T: Send + 'static>(
        &self,
        session_id: Uuid,
        message: impl Fn(RpcReplyPort<Result<T, ChatError>>) -> SessionMessage,
    ) -> Result<T, ChatError> {
        for _ in 0..2 {
            let session = self.session(session_id).await?;
            match session.call(&message, None).await {
                Ok(CallResult::Success(result)) => return result,
                _ => {
                    self.sessions
                        .remove_if(&session_id, |_, actor| actor.get_id() == session.get_id());
                }
            }
        }
        Err(ChatError::Unavailable)
    }

    pub(super) async fn session(
        &self,
        session_id: Uuid,
    ) -> Result<ActorRef<SessionMessage>, ChatError> {
        if let Some(session) = self.sessions.get(&session_id) {
            return Ok(session.clone());
        }
        call_actor(
            &self.supervisor,
            |reply| SupervisorMessage::StartSession(session_id, reply),
            ChatError::Unavailable,
        )
        .await
    }

    pub(super) async fn actor(&self, slug: &str) -> Result<ActorRef<ProjectMessage>, ProjectError> {
        if let Some(actor) = self.actors.get(slug) {
            return Ok(actor.clone());
        }
        // Answer unknown projects here, concurrently, rather than queueing on the supervisor.
        if validate_slug(slug).is_err() || self.store.project(slug).await?.is_none() {
            return Err(ProjectError::NotFound);
        }
        call_actor(
            &self.supervisor,
            |reply| SupervisorMessage::Start(slug.to_owned(), reply),
            ProjectError::Unavailable,
        )
        .await
    }

    /// Every stored project, in slug order.
    pub(super) async fn project_records(&self) -> Result<Vec<ProjectRecord>, ProjectError> {
        let mut projects = Vec::new();
        for slug in self.store.project_slugs().await? {
            projects.extend(self.store.project(&slug).await?);
        }
        Ok(projects)
    }
}

/// Asks `actor` with the message `build` makes and returns its answer; an actor that is dead,
/// stopping or restarting answers `unavailable` (worth a retry).
pub(crate) async fn call_value<M, T, F>(
    actor: &ActorRef<M>,
    build: impl FnOnce(RpcReplyPort<T>) -> M,
    unavailable: F,
) -> Result<T, F>
where
    M: ractor::Message,
    T: Send + 'static,
{
    match actor.call(build, None).await {
        Ok(CallResult::Success(value)) => Ok(value),
        _ => Err(unavailable),
    }
}

/// [`call_value`] for an actor whose answer is itself a `Result`: both errors come back as one.
pub(crate) async fn call_actor<M, T, E, F>(
    actor: &ActorRef<M>,
    build: impl FnOnce(RpcReplyPort<Result<T, E>>) -> M,
    unavailable: F,
) -> Result<T, F>
where
    M: ractor::Message,
    T: Send + 'static,
    E: Send + 'static,
    F: From<E>,
{
    call_value(actor, build, unavailable)
        .await?
        .map_err(F::from)
}

/// Hands events other nodes committed, and news of their changes, to this node's actor of
/// the project (a project with no actor here has no live visitors or snapshot here, and one
/// that starts later reads the store), and news of conversations to this node's watchers.
/// Ends when the fan-out closes.
async fn deliver_arrivals(
    mut arrivals: mpsc::UnboundedReceiver<Arrival>,
    actors: ProjectActors,
    hub: Arc<ActivityHub>,
) {
    while let Some(arrival) = arrivals.recv().await {
        let (slug, message) = match arrival {
            Arrival::Event { slug, event } => (slug, ProjectMessage::Deliver(Box::new(event))),
            Arrival::Changed { slug } => (slug, ProjectMessage::Refresh),
            Arrival::Activity(activity) => {
                hub.publish(*activity);
                continue;
            }
        };
        let actor = actors.get(&slug).map(|actor| actor.clone());
        if let Some(actor) = actor {
            // A stopped actor drops it; its successor starts from the store.
            let _ = actor.cast(message);
        }
    }
}

pub(crate) fn chat_error(error: ProjectError) -> ChatError {
    match error {
        ProjectError::NotFound => ChatError::ProjectNotFound,
        ProjectError::Store(error) => ChatError::Store(error),
        _ => ChatError::Unavailable,
    }
}

#[cfg(test)]
mod tests;
