//! The seams between nodes: how an event committed on one node reaches the live visitors of the
//! others, and which node may write a session's answer.
//!
//! The engine reaches both only through [`FanOut`] and [`AnswerLeases`]. [`SingleNode`]
//! implements them in process — there are no other nodes, and one map says which sessions are
//! being answered. In cluster mode [`RedisFanOut`] carries announcements and the PostgreSQL
//! store keeps the leases; [`Nodes::check_interval`] then also tells project and session
//! actors that others write what they own. Announcements are hints: an event is durable before
//! it is announced, and a node that missed an announcement catches up from the store.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::FutureExt;
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::activity::Activity;
use crate::social_proof::SocialProofEvent;

pub(crate) mod redis_fan_out;

pub use redis_fan_out::{RedisFanOut, connection_config as redis_connection_config};

/// What the engine is told about the other nodes.
#[derive(Clone)]
pub struct Nodes {
    pub fan_out: Arc<dyn FanOut>,
    pub leases: Arc<dyn AnswerLeases>,
    /// How often a project's actor asks the store for what other nodes changed without a word
    /// reaching it (an announcement lost with its node, or with Redis); `None` when there are no
    /// other nodes. Session actors read their transcript from the store before each change
    /// when it is set, since another node may have written to it.
    pub check_interval: Option<Duration>,
}

impl Nodes {
    /// One node on its own: today's embedded mode.
    pub fn single() -> Nodes {
        let node = Arc::new(SingleNode::default());
        Nodes {
            fan_out: node.clone(),
            leases: node,
            check_interval: None,
        }
    }

    /// One node of many, told of the others through `fan_out`, checking the shared store
    /// every `check_interval`.
    pub fn cluster(
        fan_out: Arc<dyn FanOut>,
        leases: Arc<dyn AnswerLeases>,
        check_interval: Duration,
    ) -> Nodes {
        Nodes {
            fan_out,
            leases,
            check_interval: Some(check_interval),
        }
    }

    /// Whether other nodes share this node's store.
    pub fn shared(&self) -> bool {
        self.check_interval.is_some()
    }
}

/// A failure of the link between nodes.
#[derive(Debug, thiserror::Error)]
#[error("the link to the other nodes failed: {0}")]
pub struct NodeError(#[source] pub Box<dyn std::error::Error + Send + Sync>);

/// What another node tells this one.
#[derive(Debug, Clone, PartialEq)]
pub enum Arrival {
    /// An event it committed, for this node's live visitors of `slug`.
    Event {
        slug: String,
        event: SocialProofEvent,
    },
    /// It changed the project's settings or knowledge base, or deleted it: read it again.
    Changed { slug: String },
    /// Something happened in a conversation, for this node's watchers.
    Activity(Box<Activity>),
}

/// Events between nodes. Per project, a node announces its events in id order.
#[async_trait::async_trait]
pub trait FanOut: Send + Sync + 'static {
    /// Hands an event committed on this node to the other nodes. The event is durable already:
    /// a node that misses it finds it in the store with the next one it hears of.
    async fn announce(&self, slug: &str, event: &SocialProofEvent) -> Result<(), NodeError>;

    /// Tells the other nodes that the project's stored settings, knowledge base or existence
    /// changed. Durable already: a node that misses it finds out at its next check.
    async fn announce_change(&self, slug: &str) -> Result<(), NodeError>;

    /// Hands news of a conversation to the other nodes' watchers. Best effort, never waits:
    /// watchers that miss it read the store when they reconnect.
    fn announce_activity(&self, activity: &Activity);

    /// Tells the other nodes how many of this node's live visitors of `slug` are on each page
    /// (`pages`), and that none are on `left` any more. Best effort, repeated while visitors
    /// stay: what is not repeated within `fresh_for` no longer counts.
    async fn share_viewers(
        &self,
        _slug: &str,
        _pages: &[(String, usize)],
        _left: &[String],
        _fresh_for: Duration,
    ) -> Result<(), NodeError> {
        Ok(())
    }

    /// Live visitors of `slug` on `page` on the other nodes, as they last shared them.
    async fn other_viewers(&self, _slug: &str, _page: &str) -> Result<usize, NodeError> {
        Ok(0)
    }

    /// Whether announcements are being heard right now, for health reports.
    fn connected(&self) -> bool {
        true
    }

    /// What the other nodes announce (events, changes), as it arrives. Taken once, by the
    /// engine; `None` when no other node can announce anything.
    fn arrivals(&self) -> Option<mpsc::UnboundedReceiver<Arrival>>;
}

/// One answer at a time per session, wherever its requests land.
#[async_trait::async_trait]
pub trait AnswerLeases: Send + Sync + 'static {
    /// The right to write `session`'s next answer, held until the lease is dropped; `None`
    /// while someone else holds it.
    async fn acquire(&self, session: Uuid) -> Result<Option<AnswerLease>, NodeError>;
}

/// What backs one held lease: renewing it, and giving it back.
#[async_trait::async_trait]
pub trait LeaseHolder: Send + Sync + 'static {
    /// Extends the lease; `false` when it is no longer this holder's (it expired and someone
    /// else took it).
    async fn renew(&self) -> Result<bool, NodeError>;

    /// Gives the lease back. Called once.
    async fn release(&self);
}

/// Held while an answer is written; [`AnswerLease::release`] (or dropping it, which releases
/// it in the background) lets the next answer start.
pub struct AnswerLease {
    /// `None` once released.
    holder: Option<Arc<dyn LeaseHolder>>,
    /// Renews the lease while it is held, when it would expire otherwise.
    keeper: Option<tokio::task::JoinHandle<()>>,
}

impl AnswerLease {
    /// A lease backed by `holder`, renewed every `renew_every` while held (when it expires).
    pub fn new(holder: Arc<dyn LeaseHolder>, renew_every: Option<Duration>) -> AnswerLease {
        let keeper = renew_every.map(|every| {
            let holder = holder.clone();
            tokio::spawn(async move {
                let mut ticks = tokio::time::interval(every);
                ticks.tick().await;
                loop {
                    ticks.tick().await;
                    match holder.renew().await {
                        Ok(true) => {}
                        Ok(false) => return, // lost; `confirm` says so before the answer is kept
                        Err(error) => tracing::warn!(%error, "answer lease not renewed; retrying"),
                    }
                }
            })
        });
        AnswerLease {
            holder: Some(holder),
            keeper,
        }
    }

    /// Whether the lease is still this holder's, renewing it once more. A lease that expired
    /// and was taken by another node (this one stalled), or that cannot be checked, is not:
    /// the answer written under it must not be kept.
    pub async fn confirm(&self) -> bool {
        match &self.holder {
            Some(holder) => holder.renew().await.unwrap_or(false),
            None => false,
        }
    }

    /// Gives the lease back and returns once the next answer may start, on any node.
    pub async fn release(mut self) {
        self.stop_renewing();
        if let Some(holder) = self.holder.take() {
            holder.release().await;
        }
    }

    fn stop_renewing(&mut self) {
        if let Some(keeper) = self.keeper.take() {
            keeper.abort();
        }
    }

    /// Stops renewing, as a stalled node would.
    #[cfg(test)]
    pub(crate) fn stall(&mut self) {
        self.stop_renewing();
    }
}

impl Drop for AnswerLease {
    fn drop(&mut self) {
        self.stop_renewing();
        // At once when it can be (a node of its own), else on the runtime; outside one (or
        // should it never run) a lease expires instead.
        if let Some(holder) = self.holder.take()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            let mut release = Box::pin(async move { holder.release().await });
            if (&mut release).now_or_never().is_none() {
                runtime.spawn(release);
            }
        }
    }
}

/// Both seams in process, for a node with no peers.
#[derive(Default)]
pub struct SingleNode {
    answering: Arc<Mutex<HashSet<Uuid>>>,
}

#[async_trait::async_trait]
impl FanOut for SingleNode {
    async fn announce(&self, _slug: &str, _event: &SocialProofEvent) -> Result<(), NodeError> {
        Ok(())
    }

    async fn announce_change(&self, _slug: &str) -> Result<(), NodeError> {
        Ok(())
    }

    fn announce_activity(&self, _activity: &Activity) {}

    fn arrivals(&self) -> Option<mpsc::UnboundedReceiver<Arrival>> {
        None
    }
}

#[async_trait::async_trait]
impl AnswerLeases for SingleNode {
    async fn acquire(&self, session: Uuid) -> Result<Option<AnswerLease>, NodeError> {
        let mut answering = self.answering.lock().expect("never held across a panic");
        if !answering.insert(session) {
            return Ok(None);
        }
        let held = Arc::new(LocalLease {
            answering: self.answering.clone(),
            session,
        });
        Ok(Some(AnswerLease::new(held, None)))
    }
}

/// A lease of a node on its own: an entry in its set, which never expires.
struct LocalLease {
    answering: Arc<Mutex<HashSet<Uuid>>>,
    session: Uuid,
}

#[async_trait::async_trait]
impl LeaseHolder for LocalLease {
    async fn renew(&self) -> Result<bool, NodeError> {
        Ok(true)
    }

    async fn release(&self) {
        self.answering
            .lock()
            .expect("never held across a panic")
            .remove(&self.session);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_lease_per_session_until_it_is_dropped() {
        let node = SingleNode::default();
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let held = node.acquire(a).await.unwrap().expect("free");
        assert!(node.acquire(a).await.unwrap().is_none(), "taken");
        let other = node.acquire(b).await.unwrap();
        assert!(other.is_some(), "sessions are apart");
        drop(held);
        assert!(node.acquire(a).await.unwrap().is_some(), "released");
    }
}
