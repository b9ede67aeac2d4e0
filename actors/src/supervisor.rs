//! The supervisor: the actor that spawns project, session and accounts actors on demand (one
//! at a time, so never two for one project or session), evicts idle sessions past the cap, and
//! restarts a failed actor from the store. The only place that links actors into the tree.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::Duration;

use dashmap::DashMap;
use ractor::rpc::CallResult;
use ractor::{Actor, ActorId, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};
use uuid::Uuid;

use crate::accounts::{Accounts, AccountsArguments, AccountsMessage};
use crate::activity::Activities;
use crate::chat::ChatError;
use crate::feed::FeedSettings;
use crate::nodes::Nodes;
use crate::project::{Project, ProjectArguments, ProjectError, ProjectMessage, SnapshotBoard};
use crate::records::ProjectRecord;
use crate::session::{ChatEngine, Session, SessionActors, SessionArguments, SessionMessage};
use crate::store::Store;

pub(crate) type AccountsSlot = Arc<std::sync::RwLock<Option<ActorRef<AccountsMessage>>>>;

pub(crate) type ProjectActors = Arc<DashMap<String, ActorRef<ProjectMessage>>>;

/// How long the supervisor waits for a session to answer an eviction request.
const EVICT_TIMEOUT: Duration = Duration::from_secs(1);

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
    pub(crate) store: Store,
    pub(crate) board: SnapshotBoard,
    pub(crate) actors: ProjectActors,
    pub(crate) sessions: SessionActors,
    pub(crate) chat: ChatEngine,
    pub(crate) feed: FeedSettings,
    pub(crate) max_message_chars: usize,
    pub(crate) nodes: Nodes,
    pub(crate) all_subscribers: Arc<AtomicUsize>,
    pub(crate) activities: Activities,
    pub(crate) accounts: AccountsArguments,
    pub(crate) accounts_slot: AccountsSlot,
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
    /// releases the store), and publishes it to the engine.
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
            check_interval: self.args.nodes.check_interval,
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
            shared: self.args.nodes.shared(),
            activities: self.args.activities.clone(),
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
