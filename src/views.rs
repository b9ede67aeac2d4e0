//! How records are shown: one `Serialize` type per representation, each built from its record
//! in one place. A visitor's transcript shows a message one way, the team's inbox another; no
//! handler builds that JSON itself.

use std::collections::BTreeMap;

use helpyap_actors::activity::{Activity, Change};
use helpyap_actors::chat::{
    ConversationStatus, Feedback, Handoff, LeadContact, MessageStatus, Role, Satisfaction,
};
use helpyap_actors::records::{
    ApiTokenRecord, AssistantSettings, Document, Invitation, LeadRecord, MessageRecord,
    Role as MemberRole, SessionRecord, UserRecord,
};
use helpyap_actors::social_proof::EventCounts;
use helpyap_actors::time::rfc3339;
use helpyap_actors::webhook::{Attempt, EventType, WebhookRecord};
use helpyap_actors::{ProjectSnapshot, Source, WidgetSettings};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

/// A message in the visitor's transcript (`GET /api/widget/session`): a UI message of the AI
/// SDK, with who wrote it (`visitor`, `assistant`, or `agent` for a teammate).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VisitorMessage<'a> {
    id: String,
    role: &'static str,
    from: &'static str,
    content: &'a str,
    #[schema(value_type = Vec<TextPart>)]
    parts: [TextPart<'a>; 1],
    sources: &'a [Source],
    status: MessageStatus,
    created_at: String,
    /// A teammate's reply: the name and picture they chose (the name is null until they set
    /// one: show the team's name).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false)]
    author: Option<AuthorView<'a>>,
    /// The visitor's own thumbs on an answer, when they gave them.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false)]
    feedback: Option<Feedback>,
}

/// How a teammate is shown to visitors.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuthorView<'a> {
    #[schema(required = true)]
    name: Option<&'a str>,
    #[schema(required = true)]
    avatar_url: Option<&'a str>,
}

#[derive(Serialize, ToSchema)]
struct TextPart<'a> {
    #[schema(value_type = String, pattern = "^text$")]
    r#type: &'static str,
    text: &'a str,
}

impl<'a> VisitorMessage<'a> {
    pub fn new(session: Uuid, message: &'a MessageRecord) -> VisitorMessage<'a> {
        let (role, from) = match message.role {
            Role::User => ("user", "visitor"),
            Role::Assistant => ("assistant", "assistant"),
            Role::Agent => ("assistant", "agent"),
        };
        VisitorMessage {
            id: format!("{session}-{}", message.seq),
            role,
            from,
            content: &message.content,
            parts: [TextPart {
                r#type: "text",
                text: &message.content,
            }],
            sources: &message.sources,
            status: message.status,
            created_at: rfc3339(message.created_at_ms),
            author: (message.role == Role::Agent).then(|| {
                let signature = message.signature.as_ref();
                AuthorView {
                    name: signature.and_then(|s| s.name.as_deref()),
                    avatar_url: signature.and_then(|s| s.avatar_url.as_deref()),
                }
            }),
            feedback: message.feedback,
        }
    }
}

/// A message as the team sees it: with the visitor's thumbs and the teammate who wrote it.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TeamMessage<'a> {
    role: Role,
    content: &'a str,
    sources: &'a [Source],
    status: MessageStatus,
    #[schema(required = true)]
    feedback: Option<Feedback>,
    #[schema(required = true)]
    author: Option<&'a str>,
    /// The display name the author's reply was shown to the visitor with.
    #[schema(required = true)]
    author_name: Option<&'a str>,
    created_at: String,
}

impl<'a> From<&'a MessageRecord> for TeamMessage<'a> {
    fn from(message: &'a MessageRecord) -> TeamMessage<'a> {
        TeamMessage {
            role: message.role,
            content: &message.content,
            sources: &message.sources,
            status: message.status,
            feedback: message.feedback,
            author: message.author.as_deref(),
            author_name: message.signature.as_ref().and_then(|s| s.name.as_deref()),
            created_at: rfc3339(message.created_at_ms),
        }
    }
}

/// A teammate's reply as its author is told it was added.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReplyView<'a> {
    role: Role,
    content: &'a str,
    #[schema(required = true)]
    author: Option<&'a str>,
    created_at: String,
}

impl<'a> From<&'a MessageRecord> for ReplyView<'a> {
    fn from(message: &'a MessageRecord) -> ReplyView<'a> {
        ReplyView {
            role: message.role,
            content: &message.content,
            author: message.author.as_deref(),
            created_at: rfc3339(message.created_at_ms),
        }
    }
}

/// What the visitor is told of their conversation's status: the `data` of a chat stream's
/// `data-handoff` part, and a `status` message of the live channel.
#[derive(Serialize, ToSchema)]
pub struct HandoffNotice {
    pub status: ConversationStatus,
    pub text: &'static str,
}

impl HandoffNotice {
    pub fn of(status: ConversationStatus) -> HandoffNotice {
        let text = match status {
            ConversationStatus::Waiting => {
                "Thanks! A teammate will reply here as soon as they can."
            }
            ConversationStatus::Human => "A teammate is on it and will reply here.",
            ConversationStatus::Open | ConversationStatus::Resolved => {
                "No teammate could reply in time, so the assistant is answering again."
            }
        };
        HandoffNotice { status, text }
    }

    /// What the visitor's live channel says when a teammate changed the status.
    pub fn news(status: ConversationStatus) -> HandoffNotice {
        let text = match status {
            ConversationStatus::Open => "The assistant is answering again.",
            ConversationStatus::Resolved => {
                "A teammate marked this conversation as resolved. Ask anything, and the assistant will answer."
            }
            waiting_or_human => return HandoffNotice::of(waiting_or_human),
        };
        HandoffNotice { status, text }
    }
}

/// One message of a visitor's live channel (`/api/widget/session/ws` and `/stream`).
#[derive(Serialize, ToSchema)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum VisitorNews<'a> {
    /// The first message: the channel is open (and the token accepted); read the transcript
    /// now for what came before.
    Ready,
    /// A teammate replied; the message as in the transcript.
    Message { message: VisitorMessage<'a> },
    /// Who answers changed.
    Status(HandoffNotice),
    /// Some news was dropped: read the transcript again.
    Missed,
}

impl<'a> VisitorNews<'a> {
    /// What the visitor hears of `activity`: teammates' replies and status changes (their own
    /// messages and the assistant's answers they have already).
    pub fn of(activity: &'a Activity) -> Option<VisitorNews<'a>> {
        match &activity.change {
            Change::Message(message) if message.role == Role::Agent => Some(VisitorNews::Message {
                message: VisitorMessage::new(activity.session, message),
            }),
            Change::Handoff {
                handoff,
                status_changed: true,
            } => Some(VisitorNews::Status(HandoffNotice::news(handoff.status))),
            Change::Message(_) | Change::Lead(_) | Change::Handoff { .. } => None,
        }
    }
}

/// One message of the team's live stream (`/api/admin/projects/{slug}/live`).
#[derive(Serialize, ToSchema)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum TeamNews<'a> {
    /// The first message: the stream is open; read what the view shows now.
    Ready,
    /// A message was added to a conversation; `seq` 1 starts a new conversation.
    #[serde(rename_all = "camelCase")]
    Message {
        conversation_id: Uuid,
        seq: u32,
        message: TeamMessage<'a>,
    },
    /// Who answers a conversation changed.
    #[serde(rename_all = "camelCase")]
    Handoff {
        conversation_id: Uuid,
        handoff: HandoffView,
    },
    /// The visitor left their contact.
    #[serde(rename_all = "camelCase")]
    Lead {
        conversation_id: Uuid,
        lead: LeadContactView,
    },
    /// Some news was dropped: read the inbox again.
    Missed,
}

impl<'a> From<&'a Activity> for TeamNews<'a> {
    fn from(activity: &'a Activity) -> TeamNews<'a> {
        let conversation_id = activity.session;
        match &activity.change {
            Change::Message(message) => TeamNews::Message {
                conversation_id,
                seq: message.seq,
                message: TeamMessage::from(message),
            },
            Change::Handoff { handoff, .. } => TeamNews::Handoff {
                conversation_id,
                handoff: HandoffView::from(handoff),
            },
            Change::Lead(lead) => TeamNews::Lead {
                conversation_id,
                lead: LeadContactView::from(lead),
            },
        }
    }
}

/// Who answers a conversation, as the team sees it.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HandoffView {
    pub status: ConversationStatus,
    /// The teammate it is assigned to (email).
    #[schema(required = true)]
    pub assignee: Option<String>,
    /// When the status last changed or a teammate last replied; null if never.
    #[schema(required = true, format = DateTime)]
    pub since: Option<String>,
}

impl From<&Handoff> for HandoffView {
    fn from(handoff: &Handoff) -> HandoffView {
        HandoffView {
            status: handoff.status,
            assignee: handoff.assignee.clone(),
            since: (handoff.since_ms > 0).then(|| rfc3339(handoff.since_ms)),
        }
    }
}

/// The contact a visitor left on their conversation.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LeadContactView {
    pub email: String,
    #[schema(required = true)]
    pub name: Option<String>,
    #[schema(required = true)]
    pub message: Option<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
}

impl From<&LeadContact> for LeadContactView {
    fn from(lead: &LeadContact) -> LeadContactView {
        LeadContactView {
            email: lead.email.clone(),
            name: lead.name.clone(),
            message: lead.message.clone(),
            created_at: rfc3339(lead.created_at_ms),
        }
    }
}

/// A visitor's rating of their resolved conversation.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SatisfactionView<'a> {
    /// 1 (very unhappy) to 5 (very happy).
    score: u8,
    #[schema(required = true)]
    comment: Option<&'a str>,
    #[schema(format = DateTime)]
    created_at: String,
}

impl<'a> SatisfactionView<'a> {
    pub fn of(rating: Option<&'a Satisfaction>) -> Option<SatisfactionView<'a>> {
        let rating = rating?;
        Some(SatisfactionView {
            score: rating.score,
            comment: rating.comment.as_deref(),
            created_at: rfc3339(rating.created_at_ms),
        })
    }
}

/// Who the site said the visitor is (`HelpYap.identify`), as the team sees it.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VisitorView<'a> {
    user_id: &'a str,
    #[schema(required = true)]
    email: Option<&'a str>,
    #[schema(required = true)]
    name: Option<&'a str>,
    /// Whether the project's identity secret vouched for them; unverified identities are
    /// only what the page said.
    verified: bool,
}

impl<'a> VisitorView<'a> {
    pub fn of(session: &'a SessionRecord) -> Option<VisitorView<'a>> {
        let visitor = session.visitor.as_ref()?;
        Some(VisitorView {
            user_id: &visitor.user_id,
            email: visitor.email.as_deref(),
            name: visitor.name.as_deref(),
            verified: visitor.verified,
        })
    }
}

/// One conversation in the team's inbox.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InboxRow<'a> {
    session_id: Uuid,
    #[serde(flatten)]
    handoff: HandoffView,
    /// The contact the visitor left, if any.
    #[schema(required = true)]
    lead: Option<LeadContactView>,
    /// Who the site said the visitor is, if it did.
    #[schema(required = true)]
    visitor: Option<VisitorView<'a>>,
    /// The visitor's rating, once resolved and rated.
    #[schema(required = true)]
    satisfaction: Option<SatisfactionView<'a>>,
    created_at: String,
    messages: usize,
    #[schema(required = true)]
    first_question: Option<&'a str>,
    #[schema(required = true)]
    last_message_at: Option<String>,
    unanswered: bool,
}

impl<'a> InboxRow<'a> {
    pub fn new(session: &'a SessionRecord, messages: &'a [MessageRecord]) -> InboxRow<'a> {
        let first_question = messages.iter().find(|m| m.role == Role::User);
        InboxRow {
            session_id: session.id,
            handoff: HandoffView::from(&session.handoff),
            lead: session.lead.as_ref().map(LeadContactView::from),
            visitor: VisitorView::of(session),
            satisfaction: SatisfactionView::of(session.satisfaction.as_ref()),
            created_at: rfc3339(session.created_at_ms),
            messages: messages.len(),
            first_question: first_question.map(|m| m.content.as_str()),
            last_message_at: messages.last().map(|m| rfc3339(m.created_at_ms)),
            unanswered: messages.iter().any(MessageRecord::is_unanswered),
        }
    }
}

/// A lead as the team sees it.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LeadView<'a> {
    session_id: Uuid,
    email: &'a str,
    #[schema(required = true)]
    name: Option<&'a str>,
    #[schema(required = true)]
    message: Option<&'a str>,
    created_at: String,
}

impl<'a> From<&'a LeadRecord> for LeadView<'a> {
    fn from(lead: &'a LeadRecord) -> LeadView<'a> {
        LeadView {
            session_id: lead.session_id,
            email: &lead.email,
            name: lead.name.as_deref(),
            message: lead.message.as_deref(),
            created_at: rfc3339(lead.created_at_ms),
        }
    }
}

/// A project's settings as the dashboard edits them: the widget settings (as in the public
/// config, with `socialProof`), the allowed origins, retention, and whether pushes can work.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProjectView<'a> {
    slug: &'a str,
    #[serde(flatten)]
    widget: &'a WidgetSettings,
    allowed_origins: &'a [String],
    #[schema(required = true)]
    retention_days: Option<u32>,
    assistant: &'a AssistantSettings,
    has_push_secret: bool,
}

impl<'a> From<&'a ProjectSnapshot> for ProjectView<'a> {
    fn from(project: &'a ProjectSnapshot) -> ProjectView<'a> {
        ProjectView {
            slug: &project.slug,
            widget: &project.widget,
            allowed_origins: &project.allowed_origins,
            retention_days: project.retention_days,
            assistant: &project.assistant,
            has_push_secret: project.push_secret_hash.is_some(),
        }
    }
}

/// A curated answer: the question it answers and the answer given.
#[derive(Serialize, ToSchema)]
pub struct CuratedAnswer<'a> {
    id: &'a str,
    question: &'a str,
    answer: &'a str,
}

impl<'a> CuratedAnswer<'a> {
    /// `None` for documents that are not curated answers.
    pub fn of(document: &'a Document) -> Option<CuratedAnswer<'a>> {
        Some(CuratedAnswer {
            id: &document.id,
            question: document.question.as_deref()?,
            answer: document.passages.first().map_or("", String::as_str),
        })
    }
}

#[derive(Serialize, ToSchema)]
pub struct CuratedAnswers<'a> {
    pub faq: Vec<CuratedAnswer<'a>>,
}

/// A knowledge-base document in the dashboard's list: its passages counted, not shown.
#[derive(Serialize, ToSchema)]
pub struct DocumentSummary<'a> {
    id: &'a str,
    title: &'a str,
    #[schema(required = true)]
    url: Option<&'a str>,
    passages: usize,
    fetched: bool,
}

impl<'a> From<&'a Document> for DocumentSummary<'a> {
    fn from(document: &'a Document) -> DocumentSummary<'a> {
        DocumentSummary {
            id: &document.id,
            title: &document.title,
            url: document.url.as_deref(),
            passages: document.passages.len(),
            fetched: document.fetched,
        }
    }
}

/// A user as sign-in and the admin API show them; never the password hash.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserView<'a> {
    id: Uuid,
    email: &'a str,
    admin: bool,
    roles: &'a BTreeMap<String, MemberRole>,
    /// The name visitors see on this user's replies; null: the project's team name.
    #[schema(required = true)]
    display_name: Option<&'a str>,
    #[schema(required = true)]
    avatar_url: Option<&'a str>,
    /// Emailed when a visitor of their projects leaves their contact.
    email_notifications: bool,
}

impl<'a> From<&'a UserRecord> for UserView<'a> {
    fn from(user: &'a UserRecord) -> UserView<'a> {
        UserView {
            id: user.id,
            email: &user.email,
            admin: user.admin,
            roles: &user.roles,
            display_name: user.profile.display_name.as_deref(),
            avatar_url: user.profile.avatar_url.as_deref(),
            email_notifications: user.profile.notify_email,
        }
    }
}

/// A webhook as its project's owners see it: never its secret.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookView<'a> {
    id: Uuid,
    url: &'a str,
    events: &'a [EventType],
    enabled: bool,
    /// Why it was turned off, if it was.
    #[schema(required = true)]
    disabled_reason: Option<&'a str>,
    #[schema(format = DateTime)]
    created_at: String,
}

impl<'a> From<&'a WebhookRecord> for WebhookView<'a> {
    fn from(webhook: &'a WebhookRecord) -> WebhookView<'a> {
        WebhookView {
            id: webhook.id,
            url: &webhook.url,
            events: &webhook.events,
            enabled: webhook.enabled,
            disabled_reason: webhook.disabled_reason.as_deref(),
            created_at: rfc3339(webhook.created_at_ms),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct Webhooks<'a> {
    pub webhooks: Vec<WebhookView<'a>>,
}

/// A webhook just made, or its secret rotated: the signing secret, shown this once.
#[derive(Serialize, ToSchema)]
pub struct WebhookCreated<'a> {
    /// `whsec_…`: verify `X-HelpYap-Signature` with it.
    pub secret: &'a str,
    #[serde(flatten)]
    pub details: WebhookView<'a>,
}

impl<'a> From<&'a WebhookRecord> for WebhookCreated<'a> {
    fn from(webhook: &'a WebhookRecord) -> WebhookCreated<'a> {
        WebhookCreated {
            secret: &webhook.secret,
            details: WebhookView::from(webhook),
        }
    }
}

/// One attempt of a delivery, in a webhook's log.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryView<'a> {
    /// The event's id: `X-HelpYap-Delivery`, the same on every attempt.
    delivery_id: Uuid,
    #[serde(rename = "type")]
    kind: EventType,
    #[schema(format = DateTime)]
    at: String,
    /// The receiver's answer; null when it could not be reached.
    #[schema(required = true)]
    status: Option<u16>,
    latency_ms: u64,
    #[schema(required = true)]
    error: Option<&'a str>,
    /// 1 for the first attempt.
    attempt: u32,
    succeeded: bool,
}

impl<'a> From<&'a Attempt> for DeliveryView<'a> {
    fn from(attempt: &'a Attempt) -> DeliveryView<'a> {
        DeliveryView {
            delivery_id: attempt.event.id,
            kind: attempt.event.kind,
            at: rfc3339(attempt.at_ms),
            status: attempt.status,
            latency_ms: attempt.latency_ms,
            error: attempt.error.as_deref(),
            attempt: attempt.attempt,
            succeeded: attempt.succeeded(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct Deliveries<'a> {
    pub deliveries: Vec<DeliveryView<'a>>,
}

/// An API token as its project's owners see it: never the token itself.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiTokenView<'a> {
    id: Uuid,
    name: &'a str,
    role: MemberRole,
    created_by: &'a str,
    #[schema(format = DateTime)]
    created_at: String,
    /// To the minute; null if never used.
    #[schema(required = true, format = DateTime)]
    last_used_at: Option<String>,
}

impl<'a> From<&'a ApiTokenRecord> for ApiTokenView<'a> {
    fn from(token: &'a ApiTokenRecord) -> ApiTokenView<'a> {
        ApiTokenView {
            id: token.id,
            name: &token.name,
            role: token.role,
            created_by: &token.created_by,
            created_at: rfc3339(token.created_at_ms),
            last_used_at: token.last_used_ms.map(rfc3339),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ApiTokens<'a> {
    pub tokens: Vec<ApiTokenView<'a>>,
}

/// A token just made: the token itself, shown this once.
#[derive(Serialize, ToSchema)]
pub struct ApiTokenCreated<'a> {
    /// `hy_…`: send it as `Authorization: Bearer`.
    pub token: String,
    #[serde(flatten)]
    pub details: ApiTokenView<'a>,
}

/// Someone with a role on a project, in its member list.
#[derive(Serialize, ToSchema)]
pub struct MemberView<'a> {
    email: &'a str,
    role: MemberRole,
    admin: bool,
}

impl<'a> MemberView<'a> {
    /// `user` as a member of `slug`, if they have a role on it.
    pub fn of(user: &'a UserRecord, slug: &str) -> Option<MemberView<'a>> {
        Some(MemberView {
            email: &user.email,
            role: user.role_on(slug)?,
            admin: user.admin,
        })
    }
}

/// An invitation as the project's owners see it.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InvitationView<'a> {
    email: &'a str,
    role: MemberRole,
    invited_at: String,
}

impl<'a> From<&'a Invitation> for InvitationView<'a> {
    fn from(invitation: &'a Invitation) -> InvitationView<'a> {
        InvitationView {
            email: &invitation.email,
            role: invitation.role,
            invited_at: rfc3339(invitation.created_at_ms),
        }
    }
}

/// An invitation as the invited user sees it: to which project, by its widget's name.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MyInvitationView<'a> {
    project: &'a str,
    name: &'a str,
    role: MemberRole,
    invited_at: String,
}

impl<'a> MyInvitationView<'a> {
    pub fn new(invitation: &'a Invitation, project: &'a ProjectSnapshot) -> MyInvitationView<'a> {
        MyInvitationView {
            project: &invitation.project,
            name: &project.widget.name,
            role: invitation.role,
            invited_at: rfc3339(invitation.created_at_ms),
        }
    }
}

/// `GET /healthz`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Health {
    #[schema(value_type = String, pattern = "^(ok|degraded)$")]
    pub status: &'static str,
    pub store: HealthStore,
    pub live_projects: u64,
    pub live_sessions: u64,
    pub live_streams: u64,
    pub llm: HealthLlm,
    /// In cluster mode only.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false)]
    pub cluster: Option<HealthCluster>,
}

#[derive(Serialize, ToSchema)]
pub struct HealthStore {
    /// `sled` or `postgresql`.
    #[schema(value_type = String)]
    pub engine: &'static str,
    pub ok: bool,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HealthLlm {
    pub answers: u64,
    pub upstream_errors: u64,
    pub fallbacks: u64,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HealthCluster {
    pub redis: bool,
    #[schema(value_type = String, pattern = "^(shared|local)$")]
    pub rate_limits: &'static str,
}

/// `GET /api/widget/session`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Transcript<'a> {
    pub session_id: Uuid,
    pub messages: Vec<VisitorMessage<'a>>,
    /// The contact the visitor left for the team, if they did.
    #[schema(required = true)]
    pub lead: Option<LeadContactView>,
    /// Who answers the conversation now; once `resolved` the visitor may rate it.
    pub status: ConversationStatus,
    /// Their rating, once they gave one.
    #[schema(required = true)]
    pub satisfaction: Option<SatisfactionView<'a>>,
}

#[derive(Serialize, ToSchema)]
pub struct LeadReceived {
    pub received: bool,
}

#[derive(Serialize, ToSchema)]
pub struct PushAccepted {
    /// The event's id, a whole number as a string.
    pub id: String,
}

/// `GET /api/widget/salespop/stats`.
#[derive(Serialize, ToSchema)]
pub struct Stats {
    /// The window counted, in whole hours, e.g. `1day`.
    pub window: String,
    pub counts: EventCounts,
    pub total: u64,
}

/// Login and refresh.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Tokens<'a> {
    pub access_token: String,
    #[schema(value_type = String, pattern = "^Bearer$")]
    pub token_type: &'static str,
    /// Seconds the access token lives.
    pub expires_in: u64,
    pub refresh_token: String,
    pub user: UserView<'a>,
}

/// An account made through an invitation link: the email to sign in with.
#[derive(Serialize, ToSchema)]
pub struct Joined<'a> {
    pub email: &'a str,
}

/// `GET /api/admin/me`: the user, and the longest texts the dashboard may send.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Me<'a> {
    #[serde(flatten)]
    pub user: UserView<'a>,
    pub limits: DashboardLimits,
    /// Whether this server sends email (`[email] smtp_url` is set).
    pub email_enabled: bool,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DashboardLimits {
    pub reply_chars: usize,
    pub project_name_chars: usize,
    pub company_chars: usize,
    pub welcome_chars: usize,
    pub quick_reply_chars: usize,
}

impl DashboardLimits {
    pub const CURRENT: DashboardLimits = DashboardLimits {
        reply_chars: helpyap_actors::chat::AGENT_REPLY_MAX_CHARS,
        project_name_chars: helpyap_actors::widget::NAME_MAX_CHARS,
        company_chars: helpyap_actors::widget::NAME_MAX_CHARS,
        welcome_chars: helpyap_actors::widget::WELCOME_MAX_CHARS,
        quick_reply_chars: helpyap_actors::widget::QUICK_REPLY_MAX_CHARS,
    };
}

#[derive(Serialize, ToSchema)]
pub struct MyInvitations<'a> {
    pub invitations: Vec<MyInvitationView<'a>>,
}

#[derive(Serialize, ToSchema)]
pub struct Accepted {
    pub project: String,
    pub role: helpyap_actors::records::Role,
}

#[derive(Serialize, ToSchema)]
pub struct Members<'a> {
    pub members: Vec<MemberView<'a>>,
    pub invitations: Vec<InvitationView<'a>>,
}

/// A role set (200) or offered (202, `invited: true`).
#[derive(Serialize, ToSchema)]
pub struct MemberSet {
    pub email: String,
    pub role: helpyap_actors::records::Role,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false)]
    pub invited: Option<bool>,
}

#[derive(Serialize, ToSchema)]
pub struct ProjectList {
    pub projects: Vec<ProjectListItem>,
}

#[derive(Serialize, ToSchema)]
pub struct ProjectListItem {
    pub slug: String,
    pub name: String,
    pub role: helpyap_actors::records::Role,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PushSecret {
    pub push_secret: String,
    pub note: String,
}

#[derive(Serialize, ToSchema)]
pub struct InboxPage<'a> {
    pub conversations: Vec<InboxRow<'a>>,
    /// The `before` of the next page; null on the last.
    #[schema(required = true)]
    pub next: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Conversation<'a> {
    pub session_id: Uuid,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[serde(flatten)]
    pub handoff: HandoffView,
    /// The contact the visitor left, if any.
    #[schema(required = true)]
    pub lead: Option<LeadContactView>,
    /// Who the site said the visitor is, if it did.
    #[schema(required = true)]
    pub visitor: Option<VisitorView<'a>>,
    /// The visitor's rating, once resolved and rated.
    #[schema(required = true)]
    pub satisfaction: Option<SatisfactionView<'a>>,
    pub messages: Vec<TeamMessage<'a>>,
}

#[derive(Serialize, ToSchema)]
pub struct Leads<'a> {
    pub leads: Vec<LeadView<'a>>,
}

#[derive(Serialize, ToSchema)]
pub struct Documents<'a> {
    pub documents: Vec<DocumentSummary<'a>>,
}

/// One page fetched, or a sitemap's pages with those that failed.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum Fetched<'a> {
    Page(DocumentSummary<'a>),
    Sitemap(SitemapFetched<'a>),
}

#[derive(Serialize, ToSchema)]
pub struct SitemapFetched<'a> {
    pub documents: Vec<DocumentSummary<'a>>,
    pub failed: Vec<FetchFailure>,
}

#[derive(Serialize, ToSchema)]
pub struct FetchFailure {
    pub url: String,
    pub error: String,
}
