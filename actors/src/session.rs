//! The session actor: one per chat session, the single writer of its transcript.
//!
//! It checks the session token, allows one answer at a time, makes the visitor's message
//! durable before any answer streams, and stores the reply when it ends — complete, or partial
//! and marked when the visitor left or the model failed — with the sources it used and what the
//! widget should do next (open or offer the contact form). Small talk and requests for a person
//! get a short reply of its own, no model asked. The streaming itself is an [`AnswerStream`] it
//! hands out, polled by the visitor's connection task (sockets and streams live in tasks, state
//! lives here); dropping it stops the upstream request at once (unless it has already ended). The actor stops itself after an
//! idle timeout, or when the supervisor evicts it to stay under `max_sessions_in_memory` (never
//! while answering); the engine starts it again from the store on the next request.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use dashmap::DashMap;
use futures_util::{Stream, StreamExt, stream};
use ractor::rpc::CallResult;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use uuid::Uuid;

use crate::activity::{Activities, Change};
use crate::chat::{
    AnswerAction, Author, ChatError, ChatEvent, ConversationStatus, Feedback, Handoff,
    HandoffChange, LeadContact, MessageRecord, MessageStatus, Role, Satisfaction, SessionChange,
    SessionRecord, Source, Transcript, new_session_token,
};
use crate::identity::VisitorIdentity;
use crate::intent::{self, Intent};
use crate::knowledge::{KnowledgeIndex, Passage};
use crate::language::Lang;
use crate::llm::extractive::split_deltas;
use crate::llm::{LlmError, LlmProvider, LlmStats, Persona, Prompt, TextStream, Turn};
use crate::nodes::{AnswerLease, AnswerLeases};
use crate::project::ProjectSnapshot;
use crate::secret::SecretHash;
use crate::store::{Store, StoreError};
use crate::time::now_ms;
use crate::webhook::WebhookEvent;

/// `chat.handoff_timeout`'s default.
pub const DEFAULT_HANDOFF_TIMEOUT: Duration = Duration::from_secs(30 * 60);

pub type SessionActors = Arc<DashMap<Uuid, ActorRef<SessionMessage>>>;

/// A started answer.
pub struct ChatStart {
    /// Id of the assistant message being written (`<session>-<seq>`).
    pub message_id: String,
    /// Set on a session's first answer only: the token later requests must carry.
    pub new_token: Option<String>,
    /// The answer's events, ending with `Finished` or `Failed`; see [`AnswerStream`].
    pub events: AnswerStream,
}

impl std::fmt::Debug for ChatStart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatStart")
            .field("message_id", &self.message_id)
            .finish_non_exhaustive()
    }
}

/// The model side of chat, shared by all sessions.
#[derive(Clone)]
pub struct ChatEngine {
    /// Who writes answers; replaced whole on a config reload, while answers under way keep
    /// the models they started with.
    models: Arc<RwLock<Arc<Models>>>,
    pub stats: Arc<LlmStats>,
    pub idle_timeout: Duration,
    /// Session actors kept in memory; past it the supervisor evicts the oldest idle ones.
    pub max_sessions_in_memory: usize,
    /// A conversation waiting for a teammate, or with one, that long without a teammate's reply
    /// goes back to the assistant.
    pub handoff_timeout: Duration,
}

/// The models answers are written with, and how much of the conversation they see.
pub struct Models {
    pub provider: Arc<dyn LlmProvider>,
    /// Answers instead when `provider` fails before sending any text.
    pub fallback: Option<Arc<dyn LlmProvider>>,
    /// Stored messages sent to the model as history.
    pub history_messages: usize,
}

impl ChatEngine {
    pub fn new(
        models: Models,
        stats: Arc<LlmStats>,
        idle_timeout: Duration,
        max_sessions_in_memory: usize,
    ) -> ChatEngine {
        ChatEngine {
            models: Arc::new(RwLock::new(Arc::new(models))),
            stats,
            idle_timeout,
            max_sessions_in_memory,
            handoff_timeout: DEFAULT_HANDOFF_TIMEOUT,
        }
    }

    pub fn with_handoff_timeout(self, handoff_timeout: Duration) -> ChatEngine {
        ChatEngine {
            handoff_timeout,
            ..self
        }
    }

    /// The models new answers are written with.
    pub fn models(&self) -> Arc<Models> {
        self.models
            .read()
            .expect("the models lock is never poisoned")
            .clone()
    }

    /// Writes the next answers with `models`; answers under way finish with theirs.
    pub fn replace_models(&self, models: Models) {
        *self
            .models
            .write()
            .expect("the models lock is never poisoned") = Arc::new(models);
    }
}

pub struct Session;

pub enum SessionMessage {
    Ask(Ask, RpcReplyPort<Result<ChatStart, ChatError>>),
    Transcript(Access, RpcReplyPort<Result<Transcript, ChatError>>),
    /// The visitor's thumbs on the answer with this seq; replies once durable.
    Rate(Access, u32, Feedback, RpcReplyPort<Result<(), ChatError>>),
    /// A teammate (or the visitor's lead) changes who answers; replies with the new state once
    /// durable.
    Handoff(HandoffChange, RpcReplyPort<Result<Handoff, ChatError>>),
    /// A teammate's reply from the dashboard (text, their email); replies once durable.
    AgentReply(
        String,
        Author,
        RpcReplyPort<Result<MessageRecord, ChatError>>,
    ),
    /// The visitor rates the conversation once resolved; replies once durable.
    RateConversation(Access, Satisfaction, RpcReplyPort<Result<(), ChatError>>),
    /// The site named its visitor (`HelpYap.identify`), who holds this session's token: the
    /// conversation becomes theirs unless it is another visitor's; replies whether it is
    /// theirs now.
    Identify(
        Access,
        VisitorIdentity,
        RpcReplyPort<Result<bool, ChatError>>,
    ),
    /// The verified visitor `user_id` opened the widget in another browser: replies with a
    /// token of that browser's own for this conversation.
    OpenElsewhere(String, RpcReplyPort<Result<String, ChatError>>),
    /// From the answer stream: the answer ended this way. A complete answer waits on the
    /// reply, so that it is durable before the visitor is told it is finished.
    GenerationEnded(GenerationEnded, Option<RpcReplyPort<Result<(), String>>>),
    IdleCheck,
    /// From the supervisor, over `chat.max_sessions_in_memory`: stop unless answering; replies
    /// whether it stops.
    Evict(RpcReplyPort<bool>),
}

/// Who is asking: the project of the request and the token it carried.
#[derive(Clone)]
pub struct Access {
    pub project: String,
    pub token: Option<String>,
}

#[derive(Clone)]
pub struct Ask {
    pub access: Access,
    /// Who the site says is asking, already checked against the project's identity secret.
    pub visitor: Option<VisitorIdentity>,
    pub question: String,
    pub snapshot: Arc<ProjectSnapshot>,
}

pub struct GenerationEnded {
    answer: String,
    sources: Vec<Source>,
    status: MessageStatus,
    intent: Option<Intent>,
}

pub struct SessionArguments {
    pub session_id: Uuid,
    pub store: Store,
    pub engine: ChatEngine,
    pub sessions: SessionActors,
    pub leases: Arc<dyn AnswerLeases>,
    /// Whether other nodes write this session too (cluster mode).
    pub shared: bool,
    /// Where what changes is told to those watching live.
    pub activities: Activities,
}

pub struct SessionState {
    session_id: Uuid,
    store: Store,
    engine: ChatEngine,
    sessions: SessionActors,
    /// `None` until the first answer creates the session.
    record: Option<SessionRecord>,
    messages: Vec<MessageRecord>,
    leases: Arc<dyn AnswerLeases>,
    /// Held while an answer is being written, until it is stored.
    answering: Option<AnswerLease>,
    /// Whether other nodes write this session too: the transcript is read again from the store
    /// before each use.
    shared: bool,
    activities: Activities,
    last_active: Instant,
}

impl Actor for Session {
    type Msg = SessionMessage;
    type State = SessionState;
    type Arguments = SessionArguments;

    async fn pre_start(
        &self,
        myself: ActorRef<SessionMessage>,
        args: SessionArguments,
    ) -> Result<SessionState, ActorProcessingErr> {
        let record = args.store.session(args.session_id).await?;
        let messages = match &record {
            Some(_) => args.store.messages(args.session_id).await?,
            None => Vec::new(),
        };
        let check_every = (args.engine.idle_timeout / 2).max(Duration::from_millis(50));
        myself.send_interval(check_every, || SessionMessage::IdleCheck);
        Ok(SessionState {
            session_id: args.session_id,
            store: args.store,
            engine: args.engine,
            sessions: args.sessions,
            record,
            messages,
            leases: args.leases,
            answering: None,
            shared: args.shared,
            activities: args.activities,
            last_active: Instant::now(),
        })
    }

    async fn post_stop(
        &self,
        myself: ActorRef<SessionMessage>,
        state: &mut SessionState,
    ) -> Result<(), ActorProcessingErr> {
        state.sessions.remove_if(&state.session_id, |_, actor| {
            actor.get_id() == myself.get_id()
        });
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<SessionMessage>,
        message: SessionMessage,
        state: &mut SessionState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            SessionMessage::Ask(ask, reply) => {
                state.last_active = Instant::now();
                let result = state.ask(ask, myself).await;
                let _ = reply.send(result);
            }
            SessionMessage::Transcript(access, reply) => {
                state.last_active = Instant::now();
                let result = match state.reload().await {
                    Ok(()) => state.check_access(&access).map(|()| {
                        let record = state.record.as_ref();
                        Transcript {
                            messages: state.messages.clone(),
                            lead: record.and_then(|record| record.lead.clone()),
                            status: record
                                .map(|record| record.handoff.status)
                                .unwrap_or_default(),
                            satisfaction: record.and_then(|record| record.satisfaction.clone()),
                        }
                    }),
                    Err(error) => Err(error.into()),
                };
                let _ = reply.send(result);
            }
            SessionMessage::Rate(access, seq, feedback, reply) => {
                state.last_active = Instant::now();
                let result = state.rate(&access, seq, feedback).await;
                let _ = reply.send(result);
            }
            SessionMessage::Handoff(change, reply) => {
                state.last_active = Instant::now();
                let result = state.change_handoff(change).await;
                let _ = reply.send(result);
            }
            SessionMessage::AgentReply(text, author, reply) => {
                state.last_active = Instant::now();
                let result = state.agent_reply(text, author).await;
                let _ = reply.send(result);
            }
            SessionMessage::RateConversation(access, rating, reply) => {
                state.last_active = Instant::now();
                let result = state.rate_conversation(&access, rating).await;
                let _ = reply.send(result);
            }
            SessionMessage::Identify(access, visitor, reply) => {
                state.last_active = Instant::now();
                let result = state.identify(&access, visitor).await;
                let _ = reply.send(result);
            }
            SessionMessage::OpenElsewhere(user_id, reply) => {
                state.last_active = Instant::now();
                let result = state.open_elsewhere(&user_id).await;
                let _ = reply.send(result);
            }
            SessionMessage::GenerationEnded(ended, reply) => {
                state.last_active = Instant::now();
                let held = match &state.answering {
                    Some(lease) => lease.confirm().await,
                    None => true,
                };
                let result = if held {
                    state.store_answer(ended).await
                } else {
                    // This node stalled past the lease and another took it over: its answer
                    // would interleave with theirs.
                    tracing::warn!(session = %state.session_id, "answer not kept: its lease was lost");
                    Ok(())
                };
                // Released once the answer is stored (the next one reads it as history), and
                // before the visitor hears the answer ended, so a next question on any node
                // finds the session free.
                if let Some(lease) = state.answering.take() {
                    lease.release().await;
                }
                if let Some(reply) = reply {
                    let outcome = result.as_ref().map(|_| ()).map_err(ToString::to_string);
                    let _ = reply.send(outcome);
                }
                result?;
            }
            SessionMessage::IdleCheck => {
                if state.answering.is_none()
                    && state.last_active.elapsed() >= state.engine.idle_timeout
                {
                    myself.stop(Some("idle".into()));
                }
            }
            SessionMessage::Evict(reply) => {
                if state.answering.is_some() {
                    let _ = reply.send(false);
                } else {
                    // Out of the map first, so no new request finds the stopping actor.
                    state.sessions.remove_if(&state.session_id, |_, actor| {
                        actor.get_id() == myself.get_id()
                    });
                    let _ = reply.send(true);
                    myself.stop(Some("evicted".into()));
                }
            }
        }
        Ok(())
    }
}

impl SessionState {
    async fn ask(
        &mut self,
        ask: Ask,
        myself: ActorRef<SessionMessage>,
    ) -> Result<ChatStart, ChatError> {
        if self.record.is_some() && self.check_access(&ask.access).is_err() {
            // Another node may have opened it to another browser since this one read it.
            if self.shared {
                self.reread().await?;
            }
            self.check_access(&ask.access)?;
        }
        let lease = self
            .leases
            .acquire(self.session_id)
            .await
            .map_err(|error| {
                tracing::warn!(%error, "answer lease unavailable");
                ChatError::Unavailable
            })?
            .ok_or(ChatError::Busy)?;
        // Under the lease, so no other node adds an answer while this one is written.
        self.reload().await?;
        let new_token = match &self.record {
            Some(_) => {
                self.check_access(&ask.access)?;
                if let Some(visitor) = &ask.visitor
                    && !self.adopt(visitor.clone()).await?
                {
                    return Err(ChatError::OthersConversation);
                }
                None
            }
            // An unknown session starts here; a token it may carry names nothing and is ignored.
            None => Some(new_session_token()),
        };
        // A teammate answers this conversation: the question waits for them, and no model is
        // asked. Past the hand-off timeout without their reply, the assistant takes it back.
        let mut handed_back = false;
        if let Some(record) = &self.record
            && record.handoff.status.pauses_assistant()
        {
            let status = record.handoff.status;
            let waited_ms = now_ms().saturating_sub(record.handoff.since_ms);
            if u128::from(waited_ms) < self.engine.handoff_timeout.as_millis() {
                let kept = self.add_message(visitor_message(ask.question)).await?;
                lease.release().await;
                return Ok(ChatStart {
                    // No answer follows: the id is the visitor's message's, so a widget that
                    // tracks the last seq it saw still sees the teammate's reply after it.
                    message_id: format!("{}-{}", self.session_id, kept.seq),
                    new_token,
                    events: Box::pin(stream::iter([
                        ChatEvent::Handoff(status),
                        ChatEvent::Finished,
                    ])),
                });
            }
            let back = Handoff {
                status: ConversationStatus::Open,
                assignee: None,
                since_ms: now_ms(),
            };
            self.set_handoff(back, None).await?;
            handed_back = true;
        }

        let models = self.engine.models();
        let knowledge = ask.snapshot.knowledge.clone();
        let intent = intent::detect(&ask.question);
        let (prompt, texts, language) = match intent {
            // Small talk and asking for a person get a short reply of our own, model or not.
            Some((intent, lang)) => (None, canned(intent.reply(lang)), lang),
            None => {
                let history = self.history(models.history_messages);
                let widget = &ask.snapshot.widget;
                let persona = Persona {
                    name: &widget.name,
                    company: &widget.company,
                    instructions: &ask.snapshot.assistant.instructions,
                };
                let prompt = Prompt::new(&ask.question, history, &ask.snapshot.knowledge, persona);
                let texts = self.start_answer(&models, &prompt)?;
                let language = prompt.language;
                (Some(prompt), texts, language)
            }
        };

        // The question is durable before any of the answer is sent.
        if let Some(token) = &new_token {
            let record = SessionRecord {
                id: self.session_id,
                project: ask.access.project.clone(),
                token_hash: SecretHash::of(token),
                created_at_ms: now_ms(),
                handoff: Default::default(),
                lead: None,
                visitor: ask.visitor.clone(),
                device_tokens: Vec::new(),
                satisfaction: None,
            };
            self.store.put_session(&record).await?;
            self.record = Some(record);
        }
        self.add_message(visitor_message(ask.question)).await?;

        let passages = prompt
            .as_ref()
            .map(|prompt| prompt.passages.clone())
            .unwrap_or_default();
        let fallback = models.fallback.clone().zip(prompt);
        LlmStats::count(&self.engine.stats.answers);
        let relay = Relay {
            texts: Some(texts),
            fallback,
            knowledge,
            passages,
            intent: intent.map(|(intent, _)| intent),
            language,
            answer: String::new(),
            session: myself,
            stats: self.engine.stats.clone(),
            reported: false,
            storing: None,
            then: VecDeque::new(),
        };
        self.answering = Some(lease);
        let mut events: AnswerStream = Box::pin(relay);
        if handed_back {
            // The visitor hears first that the assistant has taken the conversation back.
            let notice = stream::once(async { ChatEvent::Handoff(ConversationStatus::Open) });
            events = Box::pin(notice.chain(events));
        }
        Ok(ChatStart {
            message_id: format!("{}-{}", self.session_id, self.messages.len() + 1),
            new_token,
            events,
        })
    }

    /// The model's answer to `prompt`, or the fallback's when the model refuses at once (at
    /// capacity, or its circuit is open).
    fn start_answer(&self, models: &Models, prompt: &Prompt) -> Result<TextStream, ChatError> {
        match models.provider.answer(prompt) {
            Ok(texts) => Ok(texts),
            Err(refusal @ (LlmError::Overloaded | LlmError::CircuitOpen)) => {
                let refused = match refusal {
                    LlmError::Overloaded => ChatError::Overloaded,
                    _ => ChatError::Unavailable,
                };
                let Some(fallback) = &models.fallback else {
                    return Err(refused);
                };
                LlmStats::count(&self.engine.stats.fallbacks);
                fallback.answer(prompt).map_err(|_| refused)
            }
            Err(_) => Err(ChatError::Unavailable),
        }
    }

    async fn rate(
        &mut self,
        access: &Access,
        seq: u32,
        feedback: Feedback,
    ) -> Result<(), ChatError> {
        self.reload().await?;
        self.check_access(access)?;
        let message = self
            .messages
            .iter_mut()
            .find(|message| message.seq == seq && message.role == Role::Assistant)
            .ok_or(ChatError::MessageNotFound)?;
        message.feedback = Some(feedback);
        let news = [WebhookEvent::feedback(
            &access.project,
            self.session_id,
            seq,
            feedback,
            now_ms(),
        )];
        self.store
            .append_message_with_news(self.session_id, message, &news)
            .await?;
        Ok(self.store.flush().await?)
    }

    /// A teammate's reply: the conversation is theirs now (`human`, assigned to them unless it
    /// is someone's), and the hand-off timeout starts again.
    async fn agent_reply(
        &mut self,
        text: String,
        author: Author,
    ) -> Result<MessageRecord, ChatError> {
        self.reload().await?;
        if self.record.is_none() {
            return Err(ChatError::SessionNotFound);
        }
        let message = MessageRecord {
            seq: 0,
            role: Role::Agent,
            content: text,
            created_at_ms: now_ms(),
            sources: Vec::new(),
            status: MessageStatus::Complete,
            feedback: None,
            author: Some(author.email.clone()),
            signature: Some(author.signature),
            intent: None,
        };
        let message = self.add_message(message).await?;
        // From the record as it is now (adding the message may have read it again).
        let assignee = self
            .record
            .as_ref()
            .and_then(|record| record.handoff.assignee.clone());
        let handoff = Handoff {
            status: ConversationStatus::Human,
            assignee: assignee.or(author.assignable.then_some(author.email)),
            since_ms: now_ms(),
        };
        // The reply is durable and the visitor sees it: a failure here is logged, not answered,
        // or a retry would send it twice.
        if let Err(error) = self.set_handoff(handoff, None).await {
            tracing::warn!(%error, session = %self.session_id, "reply kept; the conversation was not marked as a teammate's");
        }
        Ok(message)
    }

    async fn change_handoff(&mut self, change: HandoffChange) -> Result<Handoff, ChatError> {
        self.reload().await?;
        let Some(record) = &self.record else {
            return Err(ChatError::SessionNotFound);
        };
        let mut handoff = record.handoff.clone();
        let mut lead = None;
        match change {
            HandoffChange::Set { status, assignee } => {
                if let Some(status) = status {
                    handoff.status = status;
                }
                if let Some(assignee) = assignee {
                    handoff.assignee = assignee;
                }
            }
            HandoffChange::LeftLead(contact) => {
                lead = Some(contact);
                if handoff.status.pauses_assistant() {
                    // A teammate has it already: the contact is kept, the status stays.
                    self.set_handoff(handoff.clone(), lead.as_ref()).await?;
                    return Ok(handoff);
                }
                handoff.status = ConversationStatus::Waiting;
            }
        }
        handoff.since_ms = now_ms();
        self.set_handoff(handoff.clone(), lead.as_ref()).await?;
        Ok(handoff)
    }

    /// Stores `handoff` (and `lead`, when given) on the session record, then keeps the record
    /// as the store has it: memory changes only once the store has.
    async fn set_handoff(
        &mut self,
        handoff: Handoff,
        lead: Option<&LeadContact>,
    ) -> Result<(), StoreError> {
        let mut news = Vec::new();
        let status_changed = self
            .record
            .as_ref()
            .is_some_and(|before| before.handoff.status != handoff.status);
        if let Some(before) = self.record.as_ref().filter(|_| status_changed) {
            news.push(WebhookEvent::status(
                &before.project,
                self.session_id,
                &handoff,
            ));
        }
        let record = self
            .store
            .update_handoff_with_news(self.session_id, &handoff, lead, &news)
            .await?;
        self.store.flush().await?;
        if let Some(lead) = lead {
            self.publish(&record.project, Change::Lead(lead.clone()));
        }
        let handoff = record.handoff.clone();
        self.publish(
            &record.project,
            Change::Handoff {
                handoff,
                status_changed,
            },
        );
        self.record = Some(record);
        Ok(())
    }

    /// Tells those watching this conversation live (its visitor, the project's team).
    fn publish(&self, project: &str, change: Change) {
        self.activities.publish(project, self.session_id, change);
    }

    /// Reads the transcript again when another node may have written to it since.
    async fn reload(&mut self) -> Result<(), StoreError> {
        if self.shared {
            self.reread().await?;
        }
        Ok(())
    }

    async fn reread(&mut self) -> Result<(), StoreError> {
        self.record = self.store.session(self.session_id).await?;
        self.messages = match &self.record {
            Some(_) => self.store.messages(self.session_id).await?,
            None => Vec::new(),
        };
        Ok(())
    }

    /// Adds `message` at the end of the transcript as the store has it, durably: when another
    /// node (an agent's reply, say) took the next seq first, it reads the transcript again and
    /// takes the one after. `NoSuchSession` when the conversation was erased meanwhile.
    async fn add_message(
        &mut self,
        mut message: MessageRecord,
    ) -> Result<MessageRecord, StoreError> {
        for _ in 0..ADD_MESSAGE_TRIES {
            message.seq = self.messages.len() as u32 + 1;
            let news = match &self.record {
                Some(record) => WebhookEvent::message(&record.project, self.session_id, &message),
                None => Vec::new(),
            };
            let added = self
                .store
                .insert_message_with_news(self.session_id, &message, &news)
                .await?;
            if added {
                self.store.flush().await?;
                if let Some(record) = &self.record {
                    self.publish(&record.project, Change::Message(message.clone()));
                }
                self.messages.push(message.clone());
                return Ok(message);
            }
            self.reread().await?;
            if self.record.is_none() {
                return Err(StoreError::NoSuchSession);
            }
        }
        Err(StoreError::Corrupt {
            key: self.session_id.to_string(),
            reason: "the transcript kept changing under its writer".into(),
        })
    }

    async fn rate_conversation(
        &mut self,
        access: &Access,
        rating: Satisfaction,
    ) -> Result<(), ChatError> {
        self.reload().await?;
        self.check_access(access)?;
        let news = [WebhookEvent::rated(
            &access.project,
            self.session_id,
            &rating,
        )];
        let stored = self
            .change_session(SessionChange::Rate(rating.clone()), &news)
            .await?;
        let kept = stored
            .satisfaction
            .is_some_and(|given| (given.score, given.comment) == (rating.score, rating.comment));
        if !kept {
            return Err(ChatError::NotResolved);
        }
        Ok(())
    }

    async fn identify(
        &mut self,
        access: &Access,
        visitor: VisitorIdentity,
    ) -> Result<bool, ChatError> {
        self.reload().await?;
        self.check_access(access)?;
        self.adopt(visitor).await
    }

    /// Makes `visitor` this conversation's unless it is another visitor's (see
    /// [`VisitorIdentity::claimed`]); returns whether it is theirs.
    async fn adopt(&mut self, visitor: VisitorIdentity) -> Result<bool, ChatError> {
        let user_id = visitor.user_id.clone();
        let record = self
            .change_session(SessionChange::Claim(visitor), &[])
            .await?;
        Ok(record
            .visitor
            .is_some_and(|stored| stored.user_id == user_id))
    }

    async fn open_elsewhere(&mut self, user_id: &str) -> Result<String, ChatError> {
        let token = new_session_token();
        let hash = SecretHash::of(&token);
        let change = SessionChange::AddDevice {
            user_id: user_id.to_owned(),
            token: hash.clone(),
        };
        let record = self.change_session(change, &[]).await?;
        if !record.device_tokens.contains(&hash) {
            // No longer a verified conversation of theirs.
            return Err(ChatError::SessionNotFound);
        }
        Ok(token)
    }

    /// Applies `change` to the stored record, with `news` for the webhooks when it applied,
    /// durably, and keeps what the store answers.
    async fn change_session(
        &mut self,
        change: SessionChange,
        news: &[WebhookEvent],
    ) -> Result<SessionRecord, ChatError> {
        if self.record.is_none() {
            return Err(ChatError::SessionNotFound);
        }
        let stored = self
            .store
            .change_session(self.session_id, &change, news)
            .await?;
        self.store.flush().await?;
        self.record = Some(stored.clone());
        Ok(stored)
    }

    fn check_access(&self, access: &Access) -> Result<(), ChatError> {
        let Some(record) = &self.record else {
            return Err(ChatError::SessionNotFound);
        };
        record.check_access(&access.project, access.token.as_deref())
    }

    /// The last stored turns, the model's only view of the conversation.
    fn history(&self, keep: usize) -> Vec<Turn> {
        let skip = self.messages.len().saturating_sub(keep);
        self.messages[skip..]
            .iter()
            .filter(|message| !message.content.is_empty())
            .map(|message| Turn {
                from_user: message.role == Role::User,
                text: message.content.clone(),
            })
            .collect()
    }

    async fn store_answer(&mut self, ended: GenerationEnded) -> Result<(), ActorProcessingErr> {
        if ended.answer.is_empty() && ended.status != MessageStatus::Complete {
            return Ok(());
        }
        // An agent on another node may have replied while the answer was written.
        self.reload().await?;
        if self.record.is_none() {
            return Ok(()); // erased meanwhile
        }
        let stored = self
            .add_message(MessageRecord {
                seq: 0,
                role: Role::Assistant,
                content: ended.answer,
                created_at_ms: now_ms(),
                sources: ended.sources,
                status: ended.status,
                feedback: None,
                author: None,
                signature: None,
                intent: ended.intent,
            })
            .await;
        match stored {
            Err(StoreError::NoSuchSession) => Ok(()), // erased meanwhile, on another node
            stored => Ok(stored.map(|_| ())?),
        }
    }
}

/// How often a new message tries for the next seq before giving up.
const ADD_MESSAGE_TRIES: usize = 5;

/// An answer as it is written: the model's deltas, then its sources and the end, or a failure.
/// It has no task of its own: the visitor's connection polls it, so each delta goes from the
/// model's stream to the visitor's socket in that one task. Dropped before its end — the
/// visitor left — it drops the model's stream at once (cancelling the request upstream, unless
/// the model's last text had come) and has the session store what was said so far, marked
/// interrupted.
pub type AnswerStream = Pin<Box<dyn Stream<Item = ChatEvent> + Send>>;

/// The visitor's message, as stored.
fn visitor_message(text: String) -> MessageRecord {
    MessageRecord {
        seq: 0,
        role: Role::User,
        content: text,
        created_at_ms: now_ms(),
        sources: Vec::new(),
        status: MessageStatus::Complete,
        feedback: None,
        author: None,
        signature: None,
        intent: None,
    }
}

/// A reply of our own, streamed like a model's.
fn canned(reply: &str) -> TextStream {
    Box::pin(stream::iter(split_deltas(reply).into_iter().map(Ok)))
}

/// The state of one answer between the model and the visitor.
struct Relay {
    /// `None` once the model's part is over.
    texts: Option<TextStream>,
    /// Answers instead when `texts` fails before any text.
    fallback: Option<(Arc<dyn LlmProvider>, Prompt)>,
    knowledge: Arc<KnowledgeIndex>,
    /// What the answer may cite, best first.
    passages: Vec<Passage>,
    /// Set when the reply is to small talk or a request for a person, not a question.
    intent: Option<Intent>,
    /// The visitor's language.
    language: Lang,
    answer: String,
    session: ActorRef<SessionMessage>,
    stats: Arc<LlmStats>,
    /// The session has been told how the answer ended.
    reported: bool,
    /// The finished answer being stored; its events come once it is.
    storing: Option<Pin<Box<dyn Future<Output = VecDeque<ChatEvent>> + Send>>>,
    /// Events due next: after the answer is stored, its sources, action and `Finished`.
    then: VecDeque<ChatEvent>,
}

/// Polled where the visitor's connection polls the answer: no task or future of its own
/// between the model's stream and the visitor's.
impl Stream for Relay {
    type Item = ChatEvent;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<ChatEvent>> {
        let this = self.get_mut();
        if let Some(storing) = &mut this.storing {
            this.then = ready!(storing.as_mut().poll(cx));
            this.storing = None;
        }
        if let Some(event) = this.then.pop_front() {
            return Poll::Ready(Some(event));
        }
        loop {
            let Some(texts) = this.texts.as_mut() else {
                return Poll::Ready(None);
            };
            match ready!(texts.poll_next_unpin(cx)) {
                Some(Ok(delta)) => {
                    LlmStats::count(&this.stats.text_chunks);
                    this.answer.push_str(&delta);
                    return Poll::Ready(Some(ChatEvent::Delta(delta)));
                }
                Some(Err(error)) => {
                    LlmStats::count(&this.stats.upstream_errors);
                    tracing::warn!(%error, "answer failed upstream");
                    match this.fallback.take() {
                        Some((provider, prompt)) if this.answer.is_empty() => {
                            LlmStats::count(&this.stats.fallbacks);
                            match provider.answer(&prompt) {
                                Ok(fallback_texts) => this.texts = Some(fallback_texts),
                                Err(_) => return Poll::Ready(Some(this.fail(&error))),
                            }
                        }
                        _ => return Poll::Ready(Some(this.fail(&error))),
                    }
                }
                None => {
                    this.storing = Some(this.complete());
                    return Pin::new(this).poll_next(cx);
                }
            }
        }
    }
}

impl Relay {
    /// The passages `answer` drew on. A model answering in the visitor's language from
    /// passages in another shares few of their words: unless it said it found nothing, the best
    /// passage is its source.
    fn cited(&self, answer: &str) -> Vec<&Passage> {
        let cited = self.knowledge.cited(answer, &self.passages);
        let across = self
            .passages
            .first()
            .is_some_and(|passage| passage.lang != self.language);
        if cited.is_empty() && across && !answer.contains(self.language.phrases().not_found) {
            return self.passages.first().into_iter().collect();
        }
        cited
    }

    fn fail(&mut self, error: &LlmError) -> ChatEvent {
        self.report_unfinished(MessageStatus::Failed);
        ChatEvent::Failed(error.for_visitor())
    }

    /// Durable first: a visitor never sees "finished" for an answer a crash could take back.
    /// The returned future stores the answer and gives the events that end it.
    fn complete(&mut self) -> Pin<Box<dyn Future<Output = VecDeque<ChatEvent>> + Send>> {
        self.texts = None;
        self.reported = true;
        let answer = std::mem::take(&mut self.answer);
        let sources: Vec<Source> = match self.intent {
            Some(_) => Vec::new(),
            None => self
                .cited(&answer)
                .into_iter()
                .map(|passage| Source {
                    id: passage.document_id.clone(),
                    title: passage.title.clone(),
                    url: passage.url.clone(),
                })
                .collect(),
        };
        let action = match self.intent {
            Some(Intent::Human) => Some(AnswerAction::Contact),
            Some(_) => None,
            None if sources.is_empty() => Some(AnswerAction::OfferContact),
            None => None,
        };
        let ended = GenerationEnded {
            answer,
            sources: sources.clone(),
            status: MessageStatus::Complete,
            intent: self.intent,
        };
        let session = self.session.clone();
        Box::pin(async move {
            let stored = session
                .call(
                    |reply| SessionMessage::GenerationEnded(ended, Some(reply)),
                    None,
                )
                .await;
            let mut events = VecDeque::new();
            match stored {
                Ok(CallResult::Success(Ok(()))) => {
                    if !sources.is_empty() {
                        events.push_back(ChatEvent::Sources(sources));
                    }
                    events.extend(action.map(ChatEvent::Action));
                    events.push_back(ChatEvent::Finished);
                }
                _ => events.push_back(ChatEvent::Failed("the answer could not be saved".into())),
            }
            events
        })
    }

    /// Stops the model's part (cancelling it upstream) and has the session store the answer as
    /// it stands.
    fn report_unfinished(&mut self, status: MessageStatus) {
        self.texts = None;
        self.reported = true;
        let ended = GenerationEnded {
            answer: std::mem::take(&mut self.answer),
            sources: Vec::new(),
            status,
            intent: self.intent,
        };
        let _ = self
            .session
            .send_message(SessionMessage::GenerationEnded(ended, None));
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        if !self.reported {
            self.report_unfinished(MessageStatus::Interrupted);
        }
    }
}
