//! The webhook dispatcher: a task on every node that sends what waits in the outbox.
//!
//! It claims the deliveries due (for `lease`, so no other node sends them meanwhile and a node
//! that dies lets them go), as many as it has free slots, signs each with its webhook's secret,
//! posts it through the [`WebhookSender`] (the edge's, which keeps to the address rules), and
//! settles it: done on a 2xx, else due again after an exponential back-off with jitter — until
//! `give_up_after` has passed since the first attempt, when the webhook is turned off. Every
//! attempt is logged. A turned-off webhook's deliveries wait, unsent and unlogged, until it is
//! turned on again. At least once, not strictly in order: a node that dies after sending and
//! before settling sends again after the lease; the receiver tells repeats apart by
//! `X-HelpYap-Delivery`. It never writes anything but the outbox, the log and a webhook's on/off.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::{Semaphore, broadcast};

use crate::store::{Store, StoreError};
use crate::time::now_ms;
use crate::webhook::{Attempt, Delivery, WebhookRecord, retry_delay, signature};

/// Sends one webhook request; the edge's, so the engine never makes HTTP requests itself.
#[async_trait::async_trait]
pub trait WebhookSender: Send + Sync + 'static {
    /// POSTs `body` to `url` with `headers`: the receiver's status, or why it could not be
    /// reached (refused address, timeout, connection error).
    async fn post(
        &self,
        url: &str,
        headers: Vec<(&'static str, String)>,
        body: Vec<u8>,
    ) -> Result<u16, String>;
}

#[derive(Debug, Clone, Copy)]
pub struct DispatchSettings {
    /// How often the outbox is read when the last round found little.
    pub poll: Duration,
    /// How long a claim holds a delivery.
    pub lease: Duration,
    /// The wait after the first failed attempt, doubled after each.
    pub retry_base: Duration,
    /// Retries stop this long after the first attempt, and the webhook is turned off.
    pub give_up_after: Duration,
    /// Deliveries on their way at once, per node.
    pub batch: usize,
}

/// How long a delivery for a webhook that is turned off waits before it is looked at again
/// (turning the webhook on makes it due at once).
const PARKED: Duration = Duration::from_secs(3600);

/// Sends deliveries as they come due, up to `batch` at once, until the task is aborted: a slot
/// freed by one receiver is taken by the next delivery, so one slow receiver holds one slot,
/// not the others' turn.
pub fn start(
    store: Store,
    sender: Arc<dyn WebhookSender>,
    settings: DispatchSettings,
    turned_off: broadcast::Sender<TurnedOff>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let slots = Arc::new(Semaphore::new(settings.batch));
        let mut failing = false;
        loop {
            // At least one slot free before claiming anything.
            drop(slots.clone().acquire_owned().await.expect("never closed"));
            let free = slots.available_permits();
            let lease = settings.lease.as_millis() as u64;
            let claimed = match store.claim_deliveries(now_ms(), lease, free).await {
                Ok(claimed) => {
                    failing = false;
                    claimed
                }
                Err(error) => {
                    if !failing {
                        failing = true;
                        tracing::warn!(%error, "webhook deliveries are waiting: the outbox cannot be read");
                    }
                    Vec::new()
                }
            };
            let more = claimed.len() == free;
            for delivery in claimed {
                let slot = slots
                    .clone()
                    .try_acquire_owned()
                    .expect("claimed no more than free");
                let (store, sender, told) = (store.clone(), sender.clone(), turned_off.clone());
                tokio::spawn(async move {
                    if let Err(error) = deliver(&store, &sender, settings, &delivery, &told).await {
                        tracing::warn!(%error, "a webhook delivery was not settled; it is sent again after its lease");
                    }
                    drop(slot);
                });
            }
            if !more {
                tokio::time::sleep(settings.poll).await;
            }
        }
    })
}

async fn deliver(
    store: &Store,
    sender: &Arc<dyn WebhookSender>,
    settings: DispatchSettings,
    delivery: &Delivery,
    turned_off: &broadcast::Sender<TurnedOff>,
) -> Result<(), StoreError> {
    let webhooks = store.webhooks(&delivery.event.project).await?;
    let webhook = webhooks
        .into_iter()
        .find(|webhook| webhook.id == delivery.webhook);
    let Some(webhook) = webhook else {
        return store.settle_delivery(delivery, None, None).await; // deleted: nowhere to go
    };
    if !webhook.enabled {
        // Kept for when it is turned on again, which makes it due at once.
        let later = now_ms() + PARKED.as_millis() as u64;
        return store.settle_delivery(delivery, Some(later), None).await;
    }
    let started_ms = now_ms();
    let mut attempt = Attempt {
        webhook: delivery.webhook,
        event: delivery.event.clone(),
        at_ms: started_ms,
        status: None,
        latency_ms: 0,
        error: None,
        attempt: delivery.attempts + 1,
    };
    let body = serde_json::to_vec(&delivery.event).expect("events serialize");
    let unix = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs());
    let headers = vec![
        ("content-type", "application/json".to_owned()),
        (
            "user-agent",
            concat!("HelpYap-Webhooks/", env!("CARGO_PKG_VERSION")).to_owned(),
        ),
        ("x-helpyap-event", delivery.event.kind.as_str().to_owned()),
        ("x-helpyap-delivery", delivery.event.id.to_string()),
        (
            "x-helpyap-signature",
            signature(&webhook.secret, unix, &body),
        ),
    ];
    let clock = Instant::now();
    let sent = sender.post(&webhook.url, headers, body).await;
    attempt.latency_ms = clock.elapsed().as_millis() as u64;
    match sent {
        Ok(status) => attempt.status = Some(status),
        Err(error) => attempt.error = Some(error),
    }
    if attempt.succeeded() {
        return store.settle_delivery(delivery, None, Some(&attempt)).await;
    }
    let first_ms = delivery.first_attempt_ms.unwrap_or(started_ms);
    let give_up_ms = settings.give_up_after.as_millis() as u64;
    if started_ms.saturating_sub(first_ms) >= give_up_ms {
        store
            .settle_delivery(delivery, None, Some(&attempt))
            .await?;
        return turn_off(store, &webhook, &attempt, turned_off).await;
    }
    let wait = retry_delay(settings.retry_base, attempt.attempt, jitter());
    let retry_at = now_ms() + wait.as_millis() as u64;
    store
        .settle_delivery(delivery, Some(retry_at), Some(&attempt))
        .await
}

/// Turns a webhook whose deliveries kept failing off, saying why; nothing else of it changes.
async fn turn_off(
    store: &Store,
    webhook: &WebhookRecord,
    last: &Attempt,
    turned_off: &broadcast::Sender<TurnedOff>,
) -> Result<(), StoreError> {
    let last = match (last.status, &last.error) {
        (Some(status), _) => format!("it answered {status}"),
        (None, Some(error)) => error.clone(),
        (None, None) => "it failed".into(),
    };
    tracing::warn!(project = %webhook.project, webhook = %webhook.id, %last, "webhook turned off: its deliveries kept failing");
    let reason = format!("turned off: deliveries kept failing; the last time {last}");
    if store
        .disable_webhook(&webhook.project, webhook.id, &reason)
        .await?
    {
        // Told to whoever listens on this node (the owners' email); no one: email is off.
        let _ = turned_off.send(TurnedOff {
            project: webhook.project.clone(),
            url: webhook.url.clone(),
            reason,
        });
    }
    Ok(())
}

/// A webhook this node turned off because its deliveries kept failing.
#[derive(Debug, Clone)]
pub struct TurnedOff {
    pub project: String,
    pub url: String,
    pub reason: String,
}

/// A factor between 0.8 and 1.2, so that retries of many deliveries spread out.
fn jitter() -> f64 {
    let mut bytes = [0u8; 4];
    let _ = getrandom::fill(&mut bytes);
    0.8 + 0.4 * f64::from(u32::from_le_bytes(bytes)) / f64::from(u32::MAX)
}
