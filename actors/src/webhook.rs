//! Signed webhooks: what a project's webhook hears, the event it is sent, how a delivery is
//! signed, and when a failed one is tried again.
//!
//! An event is made once, when what it reports happens, and stored in the outbox by the store
//! in the same transaction as the record it reports (one row per webhook that hears it); every
//! delivery of it sends the same body, so the receiver sees the same `X-HelpYap-Delivery` on
//! each retry. This module holds no state and never sends anything: the dispatcher does.

use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::Sha256;
use uuid::Uuid;

use crate::chat::{Feedback, Handoff, LeadContact, MessageRecord, Role, Satisfaction};
use crate::social_proof::SocialProofEvent;
use crate::time::rfc3339;

/// The events a webhook may hear.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
pub enum EventType {
    #[serde(rename = "conversation.created")]
    ConversationCreated,
    #[serde(rename = "message.created")]
    MessageCreated,
    #[serde(rename = "conversation.status_changed")]
    StatusChanged,
    #[serde(rename = "lead.created")]
    LeadCreated,
    #[serde(rename = "feedback.created")]
    FeedbackCreated,
    #[serde(rename = "conversation.rated")]
    ConversationRated,
    #[serde(rename = "socialproof.pushed")]
    SocialProofPushed,
}

impl EventType {
    pub const ALL: [EventType; 7] = [
        EventType::ConversationCreated,
        EventType::MessageCreated,
        EventType::StatusChanged,
        EventType::LeadCreated,
        EventType::FeedbackCreated,
        EventType::ConversationRated,
        EventType::SocialProofPushed,
    ];

    /// As written on the wire (`message.created`).
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::ConversationCreated => "conversation.created",
            EventType::MessageCreated => "message.created",
            EventType::StatusChanged => "conversation.status_changed",
            EventType::LeadCreated => "lead.created",
            EventType::FeedbackCreated => "feedback.created",
            EventType::ConversationRated => "conversation.rated",
            EventType::SocialProofPushed => "socialproof.pushed",
        }
    }
}

/// A project's webhook: where its events go and which. The signing secret is kept as it is
/// (signing needs it); it is shown to owners once, when made or rotated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookRecord {
    pub id: Uuid,
    pub project: String,
    pub url: String,
    pub events: Vec<EventType>,
    pub secret: String,
    pub enabled: bool,
    /// Why it was turned off (every delivery failing for `give_up_after`), if it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled_reason: Option<String>,
    pub created_at_ms: u64,
}

impl WebhookRecord {
    /// Whether it is sent `kind` events now.
    pub fn hears(&self, kind: EventType) -> bool {
        self.enabled && self.events.contains(&kind)
    }
}

/// One event, as every delivery of it sends it: `{"id","type","createdAt","project","data"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookEvent {
    /// Also the `X-HelpYap-Delivery` header: the same on every retry.
    pub id: Uuid,
    #[serde(rename = "type")]
    pub kind: EventType,
    pub created_at: String,
    pub project: String,
    pub data: Value,
}

impl WebhookEvent {
    fn new(kind: EventType, project: &str, at_ms: u64, data: Value) -> WebhookEvent {
        WebhookEvent {
            // Time-ordered: the outbox hands out a project's events in the order they happened
            // (they may still arrive out of order: deliveries are sent side by side).
            id: Uuid::now_v7(),
            kind,
            created_at: rfc3339(at_ms),
            project: project.to_owned(),
            data,
        }
    }

    /// The events of a message added to conversation `session`: `message.created`, and
    /// `conversation.created` before it for the conversation's first message.
    pub fn message(project: &str, session: Uuid, message: &MessageRecord) -> Vec<WebhookEvent> {
        let from = match message.role {
            Role::User => "visitor",
            Role::Assistant => "assistant",
            Role::Agent => "agent",
        };
        let mut data = json!({
            "conversationId": session,
            "seq": message.seq,
            "from": from,
            "content": message.content,
            "status": message.status,
            "createdAt": rfc3339(message.created_at_ms),
        });
        if let Some(author) = &message.author {
            data["author"] = json!(author);
        }
        let created = message.created_at_ms;
        let mut events = Vec::with_capacity(2);
        if message.seq == 1 {
            let started = json!({ "conversationId": session, "createdAt": rfc3339(created) });
            events.push(WebhookEvent::new(
                EventType::ConversationCreated,
                project,
                created,
                started,
            ));
        }
        events.push(WebhookEvent::new(
            EventType::MessageCreated,
            project,
            created,
            data,
        ));
        events
    }

    /// `conversation.status_changed`.
    pub fn status(project: &str, session: Uuid, handoff: &Handoff) -> WebhookEvent {
        let data = json!({
            "conversationId": session,
            "status": handoff.status,
            "assignee": handoff.assignee,
            "since": rfc3339(handoff.since_ms),
        });
        WebhookEvent::new(EventType::StatusChanged, project, handoff.since_ms, data)
    }

    /// `lead.created`.
    pub fn lead(project: &str, session: Uuid, lead: &LeadContact) -> WebhookEvent {
        let data = json!({
            "conversationId": session,
            "email": lead.email,
            "name": lead.name,
            "message": lead.message,
            "createdAt": rfc3339(lead.created_at_ms),
        });
        WebhookEvent::new(EventType::LeadCreated, project, lead.created_at_ms, data)
    }

    /// `feedback.created`: the visitor's thumbs on answer `seq`.
    pub fn feedback(
        project: &str,
        session: Uuid,
        seq: u32,
        feedback: Feedback,
        at_ms: u64,
    ) -> WebhookEvent {
        let data = json!({ "conversationId": session, "seq": seq, "rating": feedback });
        WebhookEvent::new(EventType::FeedbackCreated, project, at_ms, data)
    }

    /// `conversation.rated`: the visitor's rating of their resolved conversation.
    pub fn rated(project: &str, session: Uuid, rating: &Satisfaction) -> WebhookEvent {
        let data = json!({
            "conversationId": session,
            "score": rating.score,
            "comment": rating.comment,
            "createdAt": rfc3339(rating.created_at_ms),
        });
        WebhookEvent::new(
            EventType::ConversationRated,
            project,
            rating.created_at_ms,
            data,
        )
    }

    /// `socialproof.pushed`: the event as visitors get it.
    pub fn pushed(project: &str, event: &SocialProofEvent) -> WebhookEvent {
        let data = serde_json::to_value(crate::social_proof::PopupEvent::new(
            event,
            crate::social_proof::NameFormat::Full,
        ))
        .expect("popup events serialize");
        WebhookEvent::new(
            EventType::SocialProofPushed,
            project,
            event.created_at_ms,
            data,
        )
    }
}

/// One event on its way to one webhook: a row of the outbox, due at `due_ms`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Delivery {
    pub webhook: Uuid,
    pub event: WebhookEvent,
    pub due_ms: u64,
    /// Attempts made so far.
    pub attempts: u32,
    /// When the first attempt was made; retries stop `give_up_after` later.
    pub first_attempt_ms: Option<u64>,
}

impl Delivery {
    pub fn new(webhook: Uuid, event: WebhookEvent, due_ms: u64) -> Delivery {
        Delivery {
            webhook,
            event,
            due_ms,
            attempts: 0,
            first_attempt_ms: None,
        }
    }
}

/// One attempt, in a webhook's delivery log (the last [`LOG_KEEP`] are kept).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Attempt {
    pub webhook: Uuid,
    pub event: WebhookEvent,
    pub at_ms: u64,
    /// The receiver's status; `None` when it could not be reached.
    pub status: Option<u16>,
    pub latency_ms: u64,
    /// Why it failed, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// 1 for the first attempt.
    pub attempt: u32,
}

impl Attempt {
    pub fn succeeded(&self) -> bool {
        self.status
            .is_some_and(|status| (200..300).contains(&status))
    }
}

/// Attempts kept per webhook.
pub const LOG_KEEP: usize = 100;

/// `X-HelpYap-Signature` of `body` sent at Unix time `timestamp`: `t=UNIX,v1=HEX`, where `v1`
/// is HMAC-SHA256(secret, "{t}.{body}").
pub fn signature(secret: &str, timestamp: u64, body: &[u8]) -> String {
    format!(
        "t={timestamp},v1={}",
        signature_hex(secret, timestamp, body)
    )
}

/// The `v1` part of [`signature`]: HMAC-SHA256(secret, "{timestamp}.{body}") in hex. Stripe
/// signs its webhooks the same way (`integrations`).
pub fn signature_hex(secret: &str, timestamp: u64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// How long to wait after failed attempt number `attempts` (1 for the first): `base` doubled
/// each time, at most an hour, times `jitter` (0.8 to 1.2, from the caller's randomness).
pub fn retry_delay(base: Duration, attempts: u32, jitter: f64) -> Duration {
    let doubled = base.saturating_mul(1u32 << attempts.saturating_sub(1).min(16));
    doubled
        .min(Duration::from_secs(3600))
        .mul_f64(jitter.clamp(0.8, 1.2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_is_hmac_sha256_of_the_timestamp_a_dot_and_the_body() {
        // Computed independently: printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac whsec_test
        let signed = signature("whsec_test", 1_700_000_000, br#"{"a":1}"#);
        assert_eq!(
            signed,
            "t=1700000000,v1=38877139021993b830af32feea6e18a8da83eb2f6e49ee50bd9e4cf4ca4d3789"
        );
    }

    #[test]
    fn retries_back_off_doubling_up_to_an_hour() {
        let base = Duration::from_secs(10);
        assert_eq!(retry_delay(base, 1, 1.0), Duration::from_secs(10));
        assert_eq!(retry_delay(base, 4, 1.0), Duration::from_secs(80));
        assert_eq!(retry_delay(base, 40, 1.0), Duration::from_secs(3600));
        assert_eq!(
            retry_delay(base, 1, 5.0),
            Duration::from_secs(12),
            "jitter is bounded"
        );
    }

    #[test]
    fn the_first_message_also_starts_a_conversation() {
        let message = crate::store::contract::message(1, "hi");
        let events = WebhookEvent::message("demo", Uuid::nil(), &message);
        let kinds: Vec<_> = events.iter().map(|event| event.kind).collect();
        assert_eq!(
            kinds,
            [EventType::ConversationCreated, EventType::MessageCreated]
        );
        let second = crate::store::contract::message(2, "more");
        assert_eq!(WebhookEvent::message("demo", Uuid::nil(), &second).len(), 1);
        let body = serde_json::to_value(&events[1]).unwrap();
        assert_eq!(body["type"], "message.created");
        assert_eq!(body["data"]["content"], "hi");
        assert_eq!(body["project"], "demo");
    }
}
