//! The seams between nodes: how an event committed on one node reaches the live visitors of the
//! others, and which node may write a session's answer.
//!
//! The engine reaches both only through [`FanOut`] and [`AnswerLeases`]. [`SingleNode`]
//! implements them in process — there are no other nodes, and one map says which sessions are
//! being answered. A cluster backend implements the same traits over a shared broker; nothing
//! else in the engine changes. This module never touches storage: an event is durable before
//! it is announced, and a node that missed an announcement catches up from the store.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;
use uuid::Uuid;

use crate::social_proof::SocialProofEvent;

pub(crate) mod redis_fan_out;

pub use redis_fan_out::RedisFanOut;

/// What the engine is told about the other nodes.
#[derive(Clone)]
pub struct Nodes {
    pub fan_out: Arc<dyn FanOut>,
    pub leases: Arc<dyn AnswerLeases>,
}

impl Nodes {
    /// One node on its own: today's embedded mode.
    pub fn single() -> Nodes {
        let node = Arc::new(SingleNode::default());
        Nodes {
            fan_out: node.clone(),
            leases: node,
        }
    }
}

/// A failure of the link between nodes.
#[derive(Debug, thiserror::Error)]
#[error("the link to the other nodes failed: {0}")]
pub struct NodeError(#[source] pub Box<dyn std::error::Error + Send + Sync>);

/// An event another node committed, for this node's live visitors of `slug`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arrival {
    pub slug: String,
    pub event: SocialProofEvent,
}

/// Events between nodes. Per project, a node announces its events in id order.
#[async_trait::async_trait]
pub trait FanOut: Send + Sync + 'static {
    /// Hands an event committed on this node to the other nodes. The event is durable already:
    /// a node that misses it finds it in the store with the next one it hears of.
    async fn announce(&self, slug: &str, event: &SocialProofEvent) -> Result<(), NodeError>;

    /// Events the other nodes announce, as they arrive. Taken once, by the engine; `None`
    /// when no other node can announce anything.
    fn arrivals(&self) -> Option<mpsc::UnboundedReceiver<Arrival>>;
}

/// One answer at a time per session, wherever its requests land.
#[async_trait::async_trait]
pub trait AnswerLeases: Send + Sync + 'static {
    /// The right to write `session`'s next answer, held until the lease is dropped; `None`
    /// while someone else holds it.
    async fn acquire(&self, session: Uuid) -> Result<Option<AnswerLease>, NodeError>;
}

/// Held while an answer is written; dropping it lets the next answer start.
pub struct AnswerLease {
    release: Option<Box<dyn FnOnce() + Send + Sync>>,
}

impl AnswerLease {
    /// A lease that runs `release` when dropped.
    pub fn new(release: impl FnOnce() + Send + Sync + 'static) -> AnswerLease {
        AnswerLease {
            release: Some(Box::new(release)),
        }
    }
}

impl Drop for AnswerLease {
    fn drop(&mut self) {
        if let Some(release) = self.release.take() {
            release();
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
        let answering = self.answering.clone();
        Ok(Some(AnswerLease::new(move || {
            answering
                .lock()
                .expect("never held across a panic")
                .remove(&session);
        })))
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
