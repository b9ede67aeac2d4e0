//! [`RedisFanOut`]: events between nodes over Redis pub/sub, for cluster mode.
//!
//! Every node publishes the events it commits on one channel and hears everyone's; it skips
//! its own (they were delivered here already) and hands the others to the engine, whose
//! delivery path puts each project's events in id order and fetches any it missed from the
//! store. Redis holds nothing durable: when it loses a message, or restarts empty, the next
//! event of that project — or the node's periodic check of the store — brings the missed ones.
//! A dropped subscription is opened again with a short back-off. Changes to a project's
//! settings or knowledge base are announced on the same channel, without the data.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use redis::AsyncCommands;
use redis::aio::ConnectionManager;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use uuid::Uuid;

use super::{Arrival, FanOut, NodeError};
use crate::social_proof::SocialProofEvent;

/// The channel every node of the cluster `id` publishes its events on. Clusters sharing a Redis
/// (pub/sub channels ignore database numbers) never hear each other.
fn channel(cluster: Uuid) -> String {
    format!("helpyap:{cluster}:events")
}

/// How long a node waits before subscribing again after losing Redis.
const RESUBSCRIBE_AFTER: Duration = Duration::from_millis(500);

/// One announcement on the channel.
#[derive(Serialize, Deserialize)]
struct Announcement {
    /// The node that committed the event.
    node: Uuid,
    slug: String,
    /// `None`: the project changed; read it again.
    event: Option<SocialProofEvent>,
}

impl From<redis::RedisError> for NodeError {
    fn from(error: redis::RedisError) -> NodeError {
        NodeError(Box::new(error))
    }
}

pub struct RedisFanOut {
    channel: String,
    node: Uuid,
    /// Reconnects by itself after Redis comes back.
    publish: ConnectionManager,
    arrivals: Mutex<Option<mpsc::UnboundedReceiver<Arrival>>>,
    /// Whether the subscription is open.
    subscribed: Arc<AtomicBool>,
    listener: tokio::task::JoinHandle<()>,
}

impl RedisFanOut {
    /// Whether `url` is a Redis URL, without connecting.
    pub fn check_url(url: &str) -> Result<(), String> {
        redis::Client::open(url)
            .map(|_| ())
            .map_err(|error| format!("not a Redis URL (redis://host:6379/0): {error}"))
    }

    /// Connects to Redis at `url` and starts listening to the other nodes of `cluster`.
    pub async fn connect(url: &str, cluster: Uuid) -> Result<RedisFanOut, NodeError> {
        let channel = channel(cluster);
        let client = redis::Client::open(url)?;
        let publish = ConnectionManager::new(client.clone()).await?;
        let node = Uuid::new_v4();
        let (arrivals, inbox) = mpsc::unbounded_channel();
        // The first subscription is made here, so an event announced once `connect` returns
        // is heard.
        let mut pubsub = client.get_async_pubsub().await?;
        pubsub.subscribe(&channel).await?;
        let subscribed = Arc::new(AtomicBool::new(true));
        let listening = Listening {
            client,
            channel: channel.clone(),
            node,
            arrivals,
            subscribed: subscribed.clone(),
        };
        let listener = tokio::spawn(listen(listening, pubsub));
        Ok(RedisFanOut {
            channel,
            node,
            publish,
            arrivals: Mutex::new(Some(inbox)),
            subscribed,
            listener,
        })
    }

    async fn publish(&self, slug: &str, event: Option<&SocialProofEvent>) -> Result<(), NodeError> {
        let announcement = Announcement {
            node: self.node,
            slug: slug.to_owned(),
            event: event.cloned(),
        };
        let payload = serde_json::to_vec(&announcement).expect("events serialize");
        let mut publish = self.publish.clone();
        let _: i64 = publish.publish(&self.channel, payload).await?;
        Ok(())
    }
}

impl Drop for RedisFanOut {
    fn drop(&mut self) {
        self.listener.abort();
    }
}

/// Hands the other nodes' announcements to the engine for as long as it listens, subscribing
/// again whenever the subscription drops.
/// What the listening task needs.
struct Listening {
    client: redis::Client,
    channel: String,
    /// This node: its own announcements are skipped.
    node: Uuid,
    arrivals: mpsc::UnboundedSender<Arrival>,
    subscribed: Arc<AtomicBool>,
}

async fn listen(listening: Listening, mut pubsub: redis::aio::PubSub) {
    let Listening {
        client,
        channel,
        node,
        arrivals,
        subscribed,
    } = listening;
    loop {
        let mut messages = pubsub.into_on_message();
        while let Some(message) = messages.next().await {
            let Ok(payload) = message.get_payload::<Vec<u8>>() else {
                continue;
            };
            let Ok(announcement) = serde_json::from_slice::<Announcement>(&payload) else {
                tracing::warn!(%channel, "an unreadable announcement was skipped");
                continue;
            };
            if announcement.node == node {
                continue;
            }
            let slug = announcement.slug;
            let arrival = match announcement.event {
                Some(event) => Arrival::Event { slug, event },
                None => Arrival::Changed { slug },
            };
            if arrivals.send(arrival).is_err() {
                return; // the engine has stopped
            }
        }
        subscribed.store(false, Ordering::Relaxed);
        tracing::warn!("lost the Redis subscription; subscribing again");
        pubsub = loop {
            tokio::time::sleep(RESUBSCRIBE_AFTER).await;
            let subscribed_again = async {
                let mut pubsub = client.get_async_pubsub().await?;
                pubsub.subscribe(&channel).await?;
                Ok::<_, redis::RedisError>(pubsub)
            };
            if let Ok(pubsub) = subscribed_again.await {
                break pubsub;
            }
        };
        subscribed.store(true, Ordering::Relaxed);
        tracing::info!("subscribed to Redis again");
    }
}

#[async_trait::async_trait]
impl FanOut for RedisFanOut {
    async fn announce(&self, slug: &str, event: &SocialProofEvent) -> Result<(), NodeError> {
        self.publish(slug, Some(event)).await
    }

    async fn announce_change(&self, slug: &str) -> Result<(), NodeError> {
        self.publish(slug, None).await
    }

    fn connected(&self) -> bool {
        self.subscribed.load(Ordering::Relaxed)
    }

    fn arrivals(&self) -> Option<mpsc::UnboundedReceiver<Arrival>> {
        self.arrivals
            .lock()
            .expect("never held across a panic")
            .take()
    }
}

#[cfg(test)]
mod tests;
