//! [`Webhooks`]: a project's signed webhooks — made, changed, deleted, their secret rotated,
//! their delivery log read and a delivery sent again. The settings are written here, through
//! the store; the outbox is the store's and the dispatcher's.

use std::sync::Arc;

use uuid::Uuid;

use crate::error::{ErrorKind, Failure};
use crate::secret::new_token;
use crate::store::StoreError;
use crate::time::now_ms;
use crate::webhook::{Attempt, Delivery, EventType, WebhookRecord};

use super::Core;

/// Webhooks per project.
pub const MAX_WEBHOOKS: usize = 10;

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("events must name at least one event")]
    NoEvents,
    #[error("A project may have at most {MAX_WEBHOOKS} webhooks; delete one first")]
    TooMany,
    #[error("No such webhook")]
    NotFound,
    #[error("No such delivery in this webhook's log")]
    NoSuchDelivery,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Failure for WebhookError {
    fn kind(&self) -> ErrorKind {
        match self {
            WebhookError::NoEvents => ErrorKind::Invalid,
            WebhookError::TooMany => ErrorKind::Conflict,
            WebhookError::NotFound | WebhookError::NoSuchDelivery => ErrorKind::NotFound,
            WebhookError::Store(error) => error.kind(),
        }
    }
}

/// A change to a webhook: each field given replaces the stored one.
#[derive(Debug, Clone, Default)]
pub struct WebhookChange {
    /// Checked by the caller against the address rules.
    pub url: Option<String>,
    pub events: Option<Vec<EventType>>,
    pub enabled: Option<bool>,
}

#[derive(Clone)]
pub struct Webhooks {
    pub(super) core: Arc<Core>,
}

impl Webhooks {
    /// Project `slug`'s webhooks, oldest first.
    pub async fn list(&self, slug: &str) -> Result<Vec<WebhookRecord>, WebhookError> {
        Ok(self.core.store.webhooks(slug).await?)
    }

    /// A new webhook of `slug` sending `events` to `url` (checked by the caller), with a new
    /// signing secret.
    pub async fn create(
        &self,
        slug: &str,
        url: String,
        events: Vec<EventType>,
    ) -> Result<WebhookRecord, WebhookError> {
        if self.core.store.webhooks(slug).await?.len() >= MAX_WEBHOOKS {
            return Err(WebhookError::TooMany);
        }
        let webhook = WebhookRecord {
            id: Uuid::new_v4(),
            project: slug.to_owned(),
            url,
            events: checked(events)?,
            secret: new_token("whsec"),
            enabled: true,
            disabled_reason: None,
            created_at_ms: now_ms(),
        };
        self.core.store.put_webhook(&webhook).await?;
        self.core.store.flush().await?;
        Ok(webhook)
    }

    /// Changes webhook `id` of `slug`; turning it on again clears why it was off.
    pub async fn update(
        &self,
        slug: &str,
        id: Uuid,
        change: WebhookChange,
    ) -> Result<WebhookRecord, WebhookError> {
        let mut webhook = self.find(slug, id).await?;
        if let Some(url) = change.url {
            webhook.url = url;
        }
        if let Some(events) = change.events {
            webhook.events = checked(events)?;
        }
        let turned_on = change.enabled == Some(true) && !webhook.enabled;
        if let Some(enabled) = change.enabled {
            webhook.enabled = enabled;
            if enabled {
                webhook.disabled_reason = None;
            }
        }
        let webhook = self.save(webhook).await?;
        if turned_on {
            // What waited while it was off goes out now.
            self.core.store.wake_deliveries(id, now_ms()).await?;
        }
        Ok(webhook)
    }

    /// A new signing secret for webhook `id`; the old one signs nothing more.
    pub async fn rotate_secret(&self, slug: &str, id: Uuid) -> Result<WebhookRecord, WebhookError> {
        let webhook = self.find(slug, id).await?;
        self.save(WebhookRecord {
            secret: new_token("whsec"),
            ..webhook
        })
        .await
    }

    pub async fn delete(&self, slug: &str, id: Uuid) -> Result<(), WebhookError> {
        if !self.core.store.delete_webhook(slug, id).await? {
            return Err(WebhookError::NotFound);
        }
        Ok(self.core.store.flush().await?)
    }

    /// Webhook `id`'s last attempts, newest first.
    pub async fn log(&self, slug: &str, id: Uuid) -> Result<Vec<Attempt>, WebhookError> {
        self.find(slug, id).await?;
        Ok(self.core.store.webhook_log(id).await?)
    }

    /// Sends the event of delivery `event` (from the log) to webhook `id` again, now: the same
    /// body and delivery id.
    pub async fn redeliver(&self, slug: &str, id: Uuid, event: Uuid) -> Result<(), WebhookError> {
        self.find(slug, id).await?;
        let log = self.core.store.webhook_log(id).await?;
        let attempt = log
            .into_iter()
            .find(|attempt| attempt.event.id == event)
            .ok_or(WebhookError::NoSuchDelivery)?;
        let delivery = Delivery::new(id, attempt.event, now_ms());
        self.core.store.enqueue_delivery(&delivery).await?;
        Ok(self.core.store.flush().await?)
    }

    async fn find(&self, slug: &str, id: Uuid) -> Result<WebhookRecord, WebhookError> {
        let webhooks = self.core.store.webhooks(slug).await?;
        webhooks
            .into_iter()
            .find(|webhook| webhook.id == id)
            .ok_or(WebhookError::NotFound)
    }

    async fn save(&self, webhook: WebhookRecord) -> Result<WebhookRecord, WebhookError> {
        self.core.store.put_webhook(&webhook).await?;
        self.core.store.flush().await?;
        Ok(webhook)
    }
}

/// `events`, sorted, without repeats; at least one.
fn checked(mut events: Vec<EventType>) -> Result<Vec<EventType>, WebhookError> {
    events.sort();
    events.dedup();
    if events.is_empty() {
        return Err(WebhookError::NoEvents);
    }
    Ok(events)
}
