//! [`RedisFanOut`]: events between nodes over Redis pub/sub, for cluster mode.
//!
//! Every node publishes the events it commits on one channel and hears everyone's; it skips
//! its own (they were delivered here already) and hands the others to the engine, whose
//! delivery path puts each project's events in id order and fetches any it missed from the
//! store. Redis holds nothing durable: when it loses a message, or restarts empty, the next
//! event of that project — or the node's periodic check of the store — brings the missed ones.
//! Announcing never waits on Redis: announcements queue for one publishing task.
//! A dropped subscription is opened again with a short back-off. Changes to a project's
//! settings or knowledge base are announced on the same channel, without the data.
//!
//! Live visitors per page ("12 people are viewing this page") are shared through one hash per
//! project and page: each node's field holds its count and when it stops counting, refreshed
//! while it has visitors there; readers add up the fresh fields of the other nodes.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use redis::AsyncCommands;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use uuid::Uuid;

use super::{Arrival, FanOut, NodeError};
use crate::activity::Activity;
use crate::social_proof::SocialProofEvent;

/// The channel every node of the cluster `id` publishes its events on. Clusters sharing a Redis
/// (pub/sub channels ignore database numbers) never hear each other.
fn channel(cluster: Uuid) -> String {
    format!("helpyap:{cluster}:events")
}

/// How long a node waits before subscribing again after losing Redis.
const RESUBSCRIBE_AFTER: Duration = Duration::from_millis(500);
/// How long connecting to Redis may take before it counts as unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// How this crate's Redis connections behave: a bounded connection time, a short answer time,
/// and quick retries (redis-rs's default backs off for minutes, which would hang a node's
/// start and requests while Redis is down).
pub fn connection_config(response_timeout: Duration) -> ConnectionManagerConfig {
    ConnectionManagerConfig::new()
        .set_connection_timeout(CONNECT_TIMEOUT)
        .set_response_timeout(response_timeout)
        .set_factor(2)
        .set_max_delay(500)
        .set_number_of_retries(1)
}

/// One announcement on the channel.
#[derive(Serialize, Deserialize)]
struct Announcement {
    /// The node that committed the event.
    node: Uuid,
    slug: String,
    /// `None` (and no `activity`): the project changed; read it again.
    event: Option<SocialProofEvent>,
    /// News of a conversation, for watchers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    activity: Option<Box<Activity>>,
}

impl From<redis::RedisError> for NodeError {
    fn from(error: redis::RedisError) -> NodeError {
        NodeError(Box::new(error))
    }
}

pub struct RedisFanOut {
    node: Uuid,
    cluster: Uuid,
    /// For the viewer counts (announcements have their own, in the publishing task).
    connection: ConnectionManager,
    /// Announcements on their way to Redis: an announcing actor never waits on Redis.
    outbox: mpsc::Sender<Vec<u8>>,
    arrivals: Mutex<Option<mpsc::UnboundedReceiver<Arrival>>>,
    /// Whether the subscription is open.
    subscribed: Arc<AtomicBool>,
    listener: tokio::task::JoinHandle<()>,
    publisher: tokio::task::JoinHandle<()>,
}

/// Announcements waiting for Redis at most; past that they are dropped (the other nodes'
/// periodic checks find the events in the store).
const OUTBOX: usize = 10_000;

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
        let config = connection_config(CONNECT_TIMEOUT);
        let connection = ConnectionManager::new_with_config(client.clone(), config).await?;
        let (outbox, queued) = mpsc::channel(OUTBOX);
        let publisher = tokio::spawn(publish(connection.clone(), channel.clone(), queued));
        let node = Uuid::new_v4();
        let (arrivals, inbox) = mpsc::unbounded_channel();
        // The first subscription is made here, so an event announced once `connect` returns
        // is heard.
        let pubsub = subscribe(&client, &channel).await?;
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
            node,
            cluster,
            connection,
            outbox,
            arrivals: Mutex::new(Some(inbox)),
            subscribed,
            listener,
            publisher,
        })
    }

    /// Queues an announcement for the publisher; a full queue (Redis unreachable for long)
    /// drops it.
    fn queue(&self, slug: &str, event: Option<&SocialProofEvent>) -> Result<(), NodeError> {
        self.queue_announcement(Announcement {
            node: self.node,
            slug: slug.to_owned(),
            event: event.cloned(),
            activity: None,
        })
    }

    /// The hash of `slug`'s live visitors on `page`: one field per node.
    fn viewers_key(&self, slug: &str, page: &str) -> String {
        format!("helpyap:{}:viewers:{slug}:{page}", self.cluster)
    }

    fn queue_announcement(&self, announcement: Announcement) -> Result<(), NodeError> {
        let payload = serde_json::to_vec(&announcement).expect("events serialize");
        self.outbox
            .try_send(payload)
            .map_err(|error| NodeError(error.to_string().into()))
    }
}

impl Drop for RedisFanOut {
    fn drop(&mut self) {
        self.listener.abort();
        self.publisher.abort();
    }
}

/// Publishes queued announcements in order, one at a time; one that fails is dropped (once
/// logged per outage): the other nodes find its event in the store.
async fn publish(
    mut connection: ConnectionManager,
    channel: String,
    mut queued: mpsc::Receiver<Vec<u8>>,
) {
    let mut failing = false;
    while let Some(payload) = queued.recv().await {
        let published: redis::RedisResult<i64> = connection.publish(&channel, payload).await;
        match published {
            Ok(_) if failing => {
                failing = false;
                tracing::info!("announcing to the other nodes through Redis again");
            }
            Ok(_) => {}
            Err(error) if !failing => {
                failing = true;
                tracing::warn!(%error, "announcements to the other nodes are failing; they catch up from the store");
            }
            Err(_) => {}
        }
    }
}

/// What the listening task needs.
struct Listening {
    client: redis::Client,
    channel: String,
    /// This node: its own announcements are skipped.
    node: Uuid,
    arrivals: mpsc::UnboundedSender<Arrival>,
    subscribed: Arc<AtomicBool>,
}

/// Hands the other nodes' announcements to the engine for as long as it listens, subscribing
/// again whenever the subscription drops.
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
            let arrival = match (announcement.event, announcement.activity) {
                (_, Some(activity)) => Arrival::Activity(activity),
                (Some(event), None) => Arrival::Event { slug, event },
                (None, None) => Arrival::Changed { slug },
            };
            if arrivals.send(arrival).is_err() {
                return; // the engine has stopped
            }
        }
        subscribed.store(false, Ordering::Relaxed);
        tracing::warn!("lost the Redis subscription; subscribing again");
        pubsub = loop {
            tokio::time::sleep(RESUBSCRIBE_AFTER).await;
            if let Ok(pubsub) = subscribe(&client, &channel).await {
                break pubsub;
            }
        };
        subscribed.store(true, Ordering::Relaxed);
        tracing::info!("subscribed to Redis again");
    }
}

/// A subscription to `channel`, within [`CONNECT_TIMEOUT`].
async fn subscribe(client: &redis::Client, channel: &str) -> Result<redis::aio::PubSub, NodeError> {
    let subscribed = async {
        let mut pubsub = client.get_async_pubsub().await?;
        pubsub.subscribe(channel).await?;
        Ok::<_, redis::RedisError>(pubsub)
    };
    match tokio::time::timeout(CONNECT_TIMEOUT, subscribed).await {
        Ok(subscribed) => Ok(subscribed?),
        Err(elapsed) => Err(NodeError(Box::new(elapsed))),
    }
}

#[async_trait::async_trait]
impl FanOut for RedisFanOut {
    async fn announce(&self, slug: &str, event: &SocialProofEvent) -> Result<(), NodeError> {
        self.queue(slug, Some(event))
    }

    async fn announce_change(&self, slug: &str) -> Result<(), NodeError> {
        self.queue(slug, None)
    }

    fn announce_activity(&self, activity: &Activity) {
        let announcement = Announcement {
            node: self.node,
            slug: activity.project.clone(),
            event: None,
            activity: Some(Box::new(activity.clone())),
        };
        if let Err(error) = self.queue_announcement(announcement) {
            tracing::debug!(%error, "conversation news not announced to the other nodes");
        }
    }

    async fn share_viewers(
        &self,
        slug: &str,
        pages: &[(String, usize)],
        left: &[String],
        fresh_for: Duration,
    ) -> Result<(), NodeError> {
        let until = crate::time::now_ms() + fresh_for.as_millis() as u64;
        let node = self.node.to_string();
        let mut pipe = redis::pipe();
        for (page, count) in pages {
            let key = self.viewers_key(slug, page);
            pipe.hset(&key, &node, format!("{count} {until}")).ignore();
            pipe.pexpire(&key, fresh_for.as_millis() as i64).ignore();
        }
        for page in left {
            pipe.hdel(self.viewers_key(slug, page), &node).ignore();
        }
        let mut connection = self.connection.clone();
        pipe.query_async::<()>(&mut connection).await?;
        Ok(())
    }

    async fn other_viewers(&self, slug: &str, page: &str) -> Result<usize, NodeError> {
        let mut connection = self.connection.clone();
        let fields: Vec<(String, String)> =
            connection.hgetall(self.viewers_key(slug, page)).await?;
        let now = crate::time::now_ms();
        let node = self.node.to_string();
        Ok(fields
            .iter()
            .filter(|(field, _)| *field != node)
            .filter_map(|(_, value)| {
                let (count, until) = value.split_once(' ')?;
                let fresh = until.parse::<u64>().ok()? > now;
                fresh.then(|| count.parse::<usize>().ok()).flatten()
            })
            .sum())
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
