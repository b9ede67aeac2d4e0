//! The webhook side of [`SledStore`]: webhooks, the outbox and the delivery log.
//!
//! `webhook_subs` holds, per project, its enabled webhooks and what they hear, so a
//! transaction that writes a record can put the news of it into `webhook_outbox` by reading one
//! key (sled transactions cannot scan). It is rewritten with every change of the project's
//! webhooks, one change at a time (`config_writes`).

use serde::{Deserialize, Serialize};
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError, TransactionalTree};
use uuid::Uuid;

use super::{SledStore, decode, decode_all, encode, prefix};
use crate::store::StoreError;
use crate::webhook::{Attempt, Delivery, EventType, LOG_KEEP, WebhookEvent, WebhookRecord};

/// One enabled webhook of a project, as transactions read it.
#[derive(Serialize, Deserialize)]
struct Subscription {
    id: Uuid,
    events: Vec<EventType>,
}

/// due ms (u64 big-endian), event id, webhook id: due order.
fn outbox_key(due_ms: u64, event: Uuid, webhook: Uuid) -> Vec<u8> {
    let mut key = Vec::with_capacity(40);
    key.extend_from_slice(&due_ms.to_be_bytes());
    key.extend_from_slice(event.as_bytes());
    key.extend_from_slice(webhook.as_bytes());
    key
}

fn delivery_key(delivery: &Delivery) -> Vec<u8> {
    outbox_key(delivery.due_ms, delivery.event.id, delivery.webhook)
}

/// webhook id, at ms (u64 big-endian), event id: a webhook's attempts in time order.
fn log_key(attempt: &Attempt) -> Vec<u8> {
    let mut key = Vec::with_capacity(40);
    key.extend_from_slice(attempt.webhook.as_bytes());
    key.extend_from_slice(&attempt.at_ms.to_be_bytes());
    key.extend_from_slice(attempt.event.id.as_bytes());
    key
}

fn webhook_key(slug: &str, id: Uuid) -> Vec<u8> {
    let mut key = prefix(slug);
    key.extend_from_slice(id.as_bytes());
    key
}

/// Puts a row per webhook of `news`'s project that hears it into the outbox, due at once.
pub(super) fn queue_news(
    subs: &TransactionalTree,
    outbox: &TransactionalTree,
    news: &[WebhookEvent],
    now_ms: u64,
) -> Result<(), ConflictableTransactionError<StoreError>> {
    let Some(project) = news.first().map(|event| event.project.as_str()) else {
        return Ok(());
    };
    let Some(bytes) = subs.get(project.as_bytes())? else {
        return Ok(());
    };
    let subscriptions: Vec<Subscription> =
        decode("webhook_subs", &bytes).map_err(ConflictableTransactionError::Abort)?;
    for event in news {
        for subscription in subscriptions
            .iter()
            .filter(|s| s.events.contains(&event.kind))
        {
            let delivery = Delivery::new(subscription.id, event.clone(), now_ms);
            outbox.insert(delivery_key(&delivery), encode(&delivery))?;
        }
    }
    Ok(())
}

/// The error of a transaction whose closure aborts with a [`StoreError`].
pub(super) fn transaction_error(error: TransactionError<StoreError>) -> StoreError {
    match error {
        TransactionError::Abort(error) => error,
        TransactionError::Storage(error) => error.into(),
    }
}

impl SledStore {
    /// Whether `news` may have webhooks to go to: its project has enabled ones.
    pub(super) fn heard(&self, news: &[WebhookEvent]) -> Result<bool, StoreError> {
        match news.first() {
            Some(event) => Ok(self.webhook_subs.contains_key(event.project.as_bytes())?),
            None => Ok(false),
        }
    }

    pub(super) fn project_webhooks(&self, slug: &str) -> Result<Vec<WebhookRecord>, StoreError> {
        let mut webhooks: Vec<WebhookRecord> = decode_all(self.webhooks.scan_prefix(prefix(slug)))?;
        webhooks.sort_by_key(|webhook| (webhook.created_at_ms, webhook.id));
        Ok(webhooks)
    }

    /// Writes (or, with `None`, removes) webhook `id` of `slug` and the project's
    /// subscriptions with it.
    pub(super) fn write_webhook(
        &self,
        slug: &str,
        id: Uuid,
        webhook: Option<&WebhookRecord>,
    ) -> Result<bool, StoreError> {
        let _one_at_a_time = self
            .config_writes
            .lock()
            .expect("never held across a panic");
        self.write_webhook_held(slug, id, webhook)
    }

    /// [`SledStore::write_webhook`], with `config_writes` held by the caller.
    fn write_webhook_held(
        &self,
        slug: &str,
        id: Uuid,
        webhook: Option<&WebhookRecord>,
    ) -> Result<bool, StoreError> {
        let mut webhooks = self.project_webhooks(slug)?;
        let existed = webhooks.iter().any(|other| other.id == id);
        webhooks.retain(|other| other.id != id);
        webhooks.extend(webhook.cloned());
        let subscriptions: Vec<Subscription> = webhooks
            .iter()
            .filter(|webhook| webhook.enabled)
            .map(|webhook| Subscription {
                id: webhook.id,
                events: webhook.events.clone(),
            })
            .collect();
        let key = webhook_key(slug, id);
        (&self.webhooks, &self.webhook_subs)
            .transaction(|(records, subs)| {
                match webhook {
                    Some(webhook) => records.insert(key.as_slice(), encode(webhook))?,
                    None => records.remove(key.as_slice())?,
                };
                if subscriptions.is_empty() {
                    subs.remove(slug.as_bytes())?;
                } else {
                    subs.insert(slug.as_bytes(), encode(&subscriptions))?;
                }
                Ok::<_, ConflictableTransactionError<StoreError>>(())
            })
            .map_err(transaction_error)?;
        Ok(existed)
    }

    /// Removes webhook `id`'s deliveries waiting and its log.
    pub(super) fn forget_webhook(&self, id: Uuid) -> Result<(), StoreError> {
        for (key, _) in self.waiting_for(id)? {
            self.webhook_outbox.remove(key)?;
        }
        for key in self.webhook_log.scan_prefix(id.as_bytes()).keys() {
            self.webhook_log.remove(key?)?;
        }
        Ok(())
    }

    /// Removes every webhook of `slug`, with their deliveries and logs.
    pub(super) fn forget_project_webhooks(&self, slug: &str) -> Result<(), StoreError> {
        for webhook in self.project_webhooks(slug)? {
            self.write_webhook(slug, webhook.id, None)?;
            self.forget_webhook(webhook.id)?;
        }
        Ok(())
    }

    pub(super) fn claim(
        &self,
        now_ms: u64,
        lease_ms: u64,
        limit: usize,
    ) -> Result<Vec<Delivery>, StoreError> {
        let due = self
            .webhook_outbox
            .range(..outbox_key(now_ms + 1, Uuid::nil(), Uuid::nil()))
            .take(limit);
        let mut claimed = Vec::new();
        for entry in due {
            let (key, value) = entry?;
            let mut delivery: Delivery = decode("webhook_outbox", &value)?;
            delivery.due_ms = now_ms + lease_ms;
            let moved = self
                .webhook_outbox
                .transaction(|outbox| {
                    let held = outbox.remove(&key)?.is_some();
                    if held {
                        outbox.insert(delivery_key(&delivery), encode(&delivery))?;
                    }
                    Ok::<_, ConflictableTransactionError<StoreError>>(held)
                })
                .map_err(transaction_error)?;
            if moved {
                claimed.push(delivery);
            }
        }
        Ok(claimed)
    }

    pub(super) fn settle(
        &self,
        claimed: &Delivery,
        retry_at_ms: Option<u64>,
        attempt: Option<&Attempt>,
    ) -> Result<(), StoreError> {
        let key = delivery_key(claimed);
        let retry = retry_at_ms.map(|due_ms| Delivery {
            due_ms,
            attempts: claimed.attempts + u32::from(attempt.is_some()),
            first_attempt_ms: claimed.first_attempt_ms.or(attempt.map(|a| a.at_ms)),
            ..claimed.clone()
        });
        // A webhook deleted meanwhile gets no log rows that nothing would ever remove.
        let attempt =
            attempt.filter(|_| self.webhook_exists(&claimed.event.project, claimed.webhook));
        (&self.webhook_outbox, &self.webhook_log)
            .transaction(|(outbox, log)| {
                if outbox.remove(key.as_slice())?.is_some()
                    && let Some(retry) = &retry
                {
                    outbox.insert(delivery_key(retry), encode(retry))?;
                }
                if let Some(attempt) = attempt {
                    log.insert(log_key(attempt), encode(attempt))?;
                }
                Ok::<_, ConflictableTransactionError<StoreError>>(())
            })
            .map_err(transaction_error)?;
        let Some(attempt) = attempt else {
            return Ok(());
        };
        let logged: Vec<_> = self
            .webhook_log
            .scan_prefix(attempt.webhook.as_bytes())
            .keys()
            .collect::<Result<_, _>>()?;
        for key in logged.iter().take(logged.len().saturating_sub(LOG_KEEP)) {
            self.webhook_log.remove(key)?;
        }
        Ok(())
    }

    pub(super) fn enqueue(&self, delivery: &Delivery) -> Result<(), StoreError> {
        let waiting = self.waiting_for(delivery.webhook)?;
        if !waiting
            .iter()
            .any(|(_, other)| other.event.id == delivery.event.id)
        {
            self.webhook_outbox
                .insert(delivery_key(delivery), encode(delivery))?;
        }
        Ok(())
    }

    /// The deliveries waiting for webhook `id`, with their keys.
    fn waiting_for(&self, id: Uuid) -> Result<Vec<(sled::IVec, Delivery)>, StoreError> {
        let mut waiting = Vec::new();
        for entry in self.webhook_outbox.iter() {
            let (key, value) = entry?;
            let delivery: Delivery = decode("webhook_outbox", &value)?;
            if delivery.webhook == id {
                waiting.push((key, delivery));
            }
        }
        Ok(waiting)
    }

    fn webhook_exists(&self, slug: &str, id: Uuid) -> bool {
        self.webhooks
            .contains_key(webhook_key(slug, id))
            .unwrap_or(false)
    }

    pub(super) fn disable(&self, slug: &str, id: Uuid, reason: &str) -> Result<bool, StoreError> {
        // Read and written under the lock: a rotation or deletion meanwhile is kept.
        let _one_at_a_time = self
            .config_writes
            .lock()
            .expect("never held across a panic");
        let Some(bytes) = self.webhooks.get(webhook_key(slug, id))? else {
            return Ok(false);
        };
        let mut webhook: WebhookRecord = decode("webhooks", &bytes)?;
        if !webhook.enabled {
            return Ok(false); // off already: the first reason stands
        }
        webhook.enabled = false;
        webhook.disabled_reason = Some(reason.to_owned());
        self.write_webhook_held(slug, id, Some(&webhook))?;
        Ok(true)
    }

    pub(super) fn wake(&self, id: Uuid, now_ms: u64) -> Result<(), StoreError> {
        for (key, mut delivery) in self.waiting_for(id)? {
            delivery.due_ms = now_ms;
            self.webhook_outbox
                .transaction(|outbox| {
                    if outbox.remove(&key)?.is_some() {
                        outbox.insert(delivery_key(&delivery), encode(&delivery))?;
                    }
                    Ok::<_, ConflictableTransactionError<StoreError>>(())
                })
                .map_err(transaction_error)?;
        }
        Ok(())
    }

    pub(super) fn log_of(&self, id: Uuid) -> Result<Vec<Attempt>, StoreError> {
        let mut attempts: Vec<Attempt> = decode_all(self.webhook_log.scan_prefix(id.as_bytes()))?;
        attempts.reverse();
        Ok(attempts)
    }
}
