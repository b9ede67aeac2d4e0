//! [`Chat`]: visitors' conversations — asking, transcripts, feedback, leads — and the team's
//! view of them: the inbox, one conversation, a teammate's reply, erasure and retention.

use std::sync::Arc;
use std::time::Duration;

use ractor::RpcReplyPort;
use uuid::Uuid;

use crate::activity::Watch;
use crate::chat::{
    Author, ChatError, ConversationStatus, Feedback, Handoff, HandoffChange, LeadContact,
    MessageRecord, Satisfaction, SessionRecord, Transcript,
};
use crate::identity::IdentityClaim;
use crate::lead::{LeadFields, LeadRecord};
use crate::project::{ProjectError, ProjectMessage};
use crate::records::HOUR_MS;
use crate::session::{Access, Ask, ChatStart, SessionMessage};
use crate::store::SessionFilter;
use crate::time::now_ms;

use super::{Core, call_actor, chat_error};

/// What `identify` found: whether the project vouched for the visitor, and which conversation
/// the widget shows them.
#[derive(Debug, PartialEq)]
pub struct Identified {
    pub verified: bool,
    pub show: ShowConversation,
}

#[derive(Debug, PartialEq)]
pub enum ShowConversation {
    /// The one the browser has, now theirs.
    Current,
    /// Their latest, from another browser, with a token for this one.
    Other { session_id: Uuid, token: String },
    /// A new one: the browser's is someone else's, or there is none.
    New,
}

#[derive(Clone)]
pub struct Chat {
    pub(super) core: Arc<Core>,
}

impl Chat {
    /// Starts answering `question` in session `session_id` of project `slug`.
    /// `claim`: who the site says is asking, checked against the project's identity secret
    /// (401 when it does not vouch for them).
    pub async fn ask(
        &self,
        slug: &str,
        session_id: Uuid,
        token: Option<String>,
        claim: Option<IdentityClaim>,
        question: String,
    ) -> Result<ChatStart, ChatError> {
        let snapshot = self.core.snapshot(slug).await.map_err(chat_error)?;
        let visitor = claim
            .map(|claim| claim.check(snapshot.identity_secret.as_ref()))
            .transpose()?;
        let access = Access {
            project: slug.to_owned(),
            token,
        };
        let ask = Ask {
            access,
            visitor,
            question,
            snapshot,
        };
        self.core
            .call_session(session_id, |reply| SessionMessage::Ask(ask.clone(), reply))
            .await
    }

    /// The site names its visitor (`HelpYap.identify`): checks the claim against the project's
    /// identity secret (401 when it does not vouch for them), makes the visitor's `current`
    /// conversation (session id and token) theirs when it can, and says which conversation the
    /// widget should show — for a verified visitor on a new browser, their latest one, opened
    /// with a token of this browser's own.
    pub async fn identify(
        &self,
        slug: &str,
        claim: IdentityClaim,
        current: Option<(Uuid, Option<String>)>,
    ) -> Result<Identified, ChatError> {
        let snapshot = self.core.snapshot(slug).await.map_err(chat_error)?;
        let visitor = claim.check(snapshot.identity_secret.as_ref())?;
        let verified = visitor.verified;
        if let Some((session_id, token)) = current {
            let identify = |access, reply| SessionMessage::Identify(access, visitor.clone(), reply);
            match self.visitor_call(slug, session_id, token, identify).await {
                Ok(true) => {
                    return Ok(Identified {
                        verified,
                        show: ShowConversation::Current,
                    });
                }
                // Another visitor's, or the browser's session is not one (any more): not shown.
                Ok(false)
                | Err(
                    ChatError::SessionNotFound
                    | ChatError::MissingToken
                    | ChatError::WrongToken
                    | ChatError::ForeignSession,
                ) => {}
                Err(error) => return Err(error),
            }
        }
        let latest = match verified {
            true => {
                self.core
                    .store
                    .latest_user_session(slug, &visitor.user_id)
                    .await?
            }
            false => None,
        };
        let Some(latest) = latest else {
            return Ok(Identified {
                verified,
                show: ShowConversation::New,
            });
        };
        let user_id = visitor.user_id.clone();
        let open = |reply| SessionMessage::OpenElsewhere(user_id.clone(), reply);
        let show = match self.core.call_session(latest.id, open).await {
            Ok(token) => ShowConversation::Other {
                session_id: latest.id,
                token,
            },
            // Erased (or no longer theirs) since it was found.
            Err(ChatError::SessionNotFound) => ShowConversation::New,
            Err(error) => return Err(error),
        };
        Ok(Identified { verified, show })
    }

    /// The stored transcript of a session, for a visitor who reloads the page.
    pub async fn transcript(
        &self,
        slug: &str,
        session_id: Uuid,
        token: Option<String>,
    ) -> Result<Transcript, ChatError> {
        let transcript = |access, reply| SessionMessage::Transcript(access, reply);
        self.visitor_call(slug, session_id, token, transcript).await
    }

    /// The news of session `session_id` of `slug` from now on, for its visitor, who must hold
    /// its token. Nothing is replayed: the watcher reads the transcript after this returns.
    pub async fn watch(
        &self,
        slug: &str,
        session_id: Uuid,
        token: Option<&str>,
    ) -> Result<Watch<Uuid>, ChatError> {
        self.check_session(slug, session_id).await?;
        let watch = self.core.activities.hub.watch_session(session_id);
        let record = self.core.store.session(session_id).await?;
        let record = record.ok_or(ChatError::SessionNotFound)?;
        record.check_access(slug, token)?;
        Ok(watch)
    }

    /// `SessionNotFound` unless session `session_id` exists in project `slug`.
    pub async fn check_session(&self, slug: &str, session_id: Uuid) -> Result<(), ChatError> {
        self.core.check_session_exists(slug, session_id).await
    }

    /// The news of every conversation of `slug` from now on, for its team.
    pub fn watch_team(&self, slug: &str) -> Watch<String> {
        self.core.activities.hub.watch_project(slug)
    }

    /// Changes who answers conversation `session_id` of `slug` (status, assignee).
    /// `SessionNotFound` when no such session belongs to the project.
    pub async fn change_handoff(
        &self,
        slug: &str,
        session_id: Uuid,
        change: HandoffChange,
    ) -> Result<Handoff, ChatError> {
        let record = self.core.store.session(session_id).await?;
        if record.is_none_or(|record| record.project != slug) {
            return Err(ChatError::SessionNotFound);
        }
        self.core
            .call_session(session_id, |reply| {
                SessionMessage::Handoff(change.clone(), reply)
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
        author: Author,
    ) -> Result<MessageRecord, ChatError> {
        let record = self.core.store.session(session_id).await?;
        if record.is_none_or(|record| record.project != slug) {
            return Err(ChatError::SessionNotFound);
        }
        self.core
            .call_session(session_id, |reply| {
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
        self.core.snapshot(slug).await.map_err(chat_error)?;
        let record = self
            .core
            .store
            .session(session_id)
            .await?
            .ok_or(ChatError::SessionNotFound)?;
        record.check_access(slug, token.as_deref())?;
        let lead = LeadRecord::validate(session_id, fields, now_ms())?;
        let contact = LeadContact {
            email: lead.email.clone(),
            name: lead.name.clone(),
            message: lead.message.clone(),
            created_at_ms: lead.created_at_ms,
        };
        let actor = self.core.actor(slug).await.map_err(chat_error)?;
        call_actor(
            &actor,
            |reply| ProjectMessage::AddLead(Box::new(lead), reply),
            ChatError::Unavailable,
        )
        .await?;
        // The visitor asked for a human: the conversation waits for a teammate. The lead is
        // durable already, so a failure here is logged, not answered: a retried lead would be a
        // second one.
        let waiting = self
            .core
            .call_session(session_id, |reply| {
                SessionMessage::Handoff(HandoffChange::LeftLead(contact.clone()), reply)
            })
            .await;
        if let Err(error) = waiting {
            tracing::warn!(%error, session = %session_id, "lead kept; the conversation was not marked waiting");
        }
        Ok(())
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
        let rate = |access, reply| SessionMessage::Rate(access, seq, feedback, reply);
        self.visitor_call(slug, session_id, token, rate).await
    }

    /// Records the visitor's rating of their conversation, once it is resolved (409 before);
    /// a second rating replaces the first.
    pub async fn rate_conversation(
        &self,
        slug: &str,
        session_id: Uuid,
        token: Option<String>,
        rating: Satisfaction,
    ) -> Result<(), ChatError> {
        let rate = |access, reply| SessionMessage::RateConversation(access, rating.clone(), reply);
        self.visitor_call(slug, session_id, token, rate).await
    }

    /// Asks an existing session's actor on behalf of its visitor, who shows `token`.
    async fn visitor_call<T: Send + 'static>(
        &self,
        slug: &str,
        session_id: Uuid,
        token: Option<String>,
        message: impl Fn(Access, RpcReplyPort<Result<T, ChatError>>) -> SessionMessage,
    ) -> Result<T, ChatError> {
        self.core.check_session_exists(slug, session_id).await?;
        let access = Access {
            project: slug.to_owned(),
            token,
        };
        let message = |reply| message(access.clone(), reply);
        self.core.call_session(session_id, message).await
    }

    /// Up to `limit` conversations of `slug`, newest first, without their messages.
    pub async fn sessions(
        &self,
        slug: &str,
        limit: usize,
    ) -> Result<Vec<SessionRecord>, ProjectError> {
        self.core.snapshot(slug).await?;
        Ok(self.core.store.project_sessions(slug, None, limit).await?)
    }

    /// The store itself, for tests that write records in bulk (thousands of conversations).
    #[cfg(feature = "test-engines")]
    pub fn store(&self) -> &crate::store::Store {
        &self.core.store
    }

    /// Up to `limit` conversations of `slug`, newest first, older than `before` (created ms,
    /// session id), each with its messages.
    pub async fn conversations(
        &self,
        slug: &str,
        before: Option<(u64, Uuid)>,
        limit: usize,
    ) -> Result<Vec<(SessionRecord, Vec<MessageRecord>)>, ProjectError> {
        self.core.snapshot(slug).await?;
        let sessions = self
            .core
            .store
            .project_sessions(slug, before, limit)
            .await?;
        self.with_transcripts(sessions).await
    }

    /// `sessions`, each with its messages, read at once.
    async fn with_transcripts(
        &self,
        sessions: Vec<SessionRecord>,
    ) -> Result<Vec<(SessionRecord, Vec<MessageRecord>)>, ProjectError> {
        let ids: Vec<Uuid> = sessions.iter().map(|session| session.id).collect();
        let transcripts = self.core.store.transcripts(&ids).await?;
        Ok(sessions.into_iter().zip(transcripts).collect())
    }

    /// One conversation of `slug`; `None` when no such session belongs to it.
    pub async fn conversation(
        &self,
        slug: &str,
        session_id: Uuid,
    ) -> Result<Option<(SessionRecord, Vec<MessageRecord>)>, ProjectError> {
        self.core.snapshot(slug).await?;
        let Some(session) = self.core.store.session(session_id).await? else {
            return Ok(None);
        };
        if session.project != slug {
            return Ok(None);
        }
        let messages = self.core.store.messages(session_id).await?;
        Ok(Some((session, messages)))
    }

    /// Deletes a conversation of `slug` for good: its live actor here is stopped first, and the
    /// store refuses messages for a deleted session, so no answer in flight on any node writes it
    /// back. `false` when no such session belongs to the project.
    pub async fn delete_conversation(
        &self,
        slug: &str,
        session_id: Uuid,
    ) -> Result<bool, ProjectError> {
        self.core.snapshot(slug).await?;
        let Some(session) = self.core.store.session(session_id).await? else {
            return Ok(false);
        };
        if session.project != slug {
            return Ok(false);
        }
        if let Some((_, actor)) = self.core.sessions.remove(&session_id) {
            let _ = actor
                .stop_and_wait(
                    Some("conversation deleted".into()),
                    Some(Duration::from_secs(5)),
                )
                .await;
        }
        self.core.store.delete_session(&session).await?;
        self.core.store.flush().await?;
        Ok(true)
    }

    /// Erases every conversation older than its project's retention period, as of `now_ms`.
    /// Returns how many it erased.
    pub async fn purge_expired(&self, now_ms: u64) -> Result<usize, ProjectError> {
        let mut erased = 0;
        for project in self.core.project_records().await? {
            let Some(days) = project.retention_days else {
                continue;
            };
            let cutoff = now_ms.saturating_sub(u64::from(days) * 24 * HOUR_MS);
            // Newest first: everything from the first expired one on is expired too.
            let expired: Vec<Uuid> = self
                .core
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
        self.core.snapshot(slug).await?;
        Ok(self.core.store.leads(slug).await?)
    }

    /// A page of `slug`'s inbox, newest first, as `query` filters it, with each conversation's
    /// messages; `next` says where the next page starts (`None` when nothing older is left).
    pub async fn inbox(&self, slug: &str, query: InboxQuery) -> Result<InboxPage, ProjectError> {
        self.core.snapshot(slug).await?;
        let limit = query.limit.clamp(1, INBOX_PAGE_MAX);
        let mut before = query.before;
        if let Some(to_ms) = query.to_ms {
            // Past `to`: start at its end instead.
            before = Some(match before {
                Some(before) if before.0 < to_ms => before,
                _ => (to_ms, Uuid::nil()),
            });
        }
        let filter = SessionFilter {
            before,
            from_ms: query.from_ms,
            unanswered: query.unanswered,
            status: query.status,
            assignee: query.assignee,
        };
        let page = self.core.store.find_sessions(slug, &filter, limit).await?;
        Ok(InboxPage {
            conversations: self.with_transcripts(page.sessions).await?,
            next: page.next,
        })
    }
}

/// The largest inbox page.
pub const INBOX_PAGE_MAX: usize = 100;

/// Which conversations an inbox page shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboxQuery {
    /// 1 to [`INBOX_PAGE_MAX`].
    pub limit: usize,
    /// Older than this (created ms, session id): a page's `next`.
    pub before: Option<(u64, Uuid)>,
    /// Started at or after this millisecond.
    pub from_ms: Option<u64>,
    /// Started before this millisecond.
    pub to_ms: Option<u64>,
    /// Only conversations with an unanswered answer.
    pub unanswered: bool,
    /// Only conversations with this status.
    pub status: Option<ConversationStatus>,
    /// Only conversations assigned to this teammate (`Some(None)`: to nobody).
    pub assignee: Option<Option<String>>,
}

/// One inbox page: conversations with their messages, and where the next page starts.
#[derive(Debug)]
pub struct InboxPage {
    pub conversations: Vec<(SessionRecord, Vec<MessageRecord>)>,
    pub next: Option<(u64, Uuid)>,
}
