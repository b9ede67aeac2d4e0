//! Live activity in a project's conversations — a message added, a hand-off changed, a lead
//! left — for the people watching right now: the visitor of that conversation and the project's
//! signed-in teammates.
//!
//! Activity is news, not truth. A session actor publishes it after the change is durable, to
//! this node's watchers through the [`ActivityHub`] and to the other nodes' through
//! [`FanOut::announce_activity`]; a watcher that falls behind, or an announcement lost with
//! Redis, loses it. So a watcher that (re)connects or is told it missed some reads the store
//! again. This module never writes anything durable, and never blocks its publisher.

use std::hash::Hash;
use std::sync::Arc;

use dashmap::DashMap;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;
use uuid::Uuid;

use crate::chat::{Handoff, LeadContact, MessageRecord};
use crate::nodes::FanOut;

/// Activity a watcher may fall behind by before it is told it missed some.
const WATCH_QUEUE: usize = 64;

/// Something that happened in conversation `session` of `project`, once durable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Activity {
    pub project: String,
    pub session: Uuid,
    pub change: Change,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    /// A message was added to the transcript; seq 1 starts a conversation.
    Message(MessageRecord),
    /// Who answers the conversation changed, or its assignment, or a teammate's reply restarted
    /// its clock.
    Handoff {
        handoff: Handoff,
        /// Whether the status itself changed (what the visitor is told of).
        status_changed: bool,
    },
    /// The visitor left their contact.
    Lead(LeadContact),
}

/// What a watcher receives next.
pub enum Watched {
    Activity(Arc<Activity>),
    /// The watcher fell behind and some activity was dropped: read the store again.
    Missed,
}

/// Activity made on this node that its email notifier may fall behind by.
const LOCAL_QUEUE: usize = 1024;

/// This node's watchers, by project (teammates) and by session (its visitor), and of what this
/// node made itself (the email notifier: each node tells of its own, so no one is told twice).
pub struct ActivityHub {
    projects: Channels<String>,
    sessions: Channels<Uuid>,
    local: broadcast::Sender<Arc<Activity>>,
}

impl Default for ActivityHub {
    fn default() -> Self {
        ActivityHub {
            projects: Channels::default(),
            sessions: Channels::default(),
            local: broadcast::channel(LOCAL_QUEUE).0,
        }
    }
}

impl ActivityHub {
    /// Hands `activity` (another node's) to this node's watchers of its project and session.
    pub fn publish(&self, activity: Activity) {
        self.publish_shared(Arc::new(activity));
    }

    fn publish_shared(&self, activity: Arc<Activity>) {
        self.projects.send(&activity.project, &activity);
        self.sessions.send(&activity.session, &activity);
    }

    /// Hands `activity`, made on this node, to its watchers and to those of what this node made.
    fn publish_local(&self, activity: Activity) {
        let activity = Arc::new(activity);
        let _ = self.local.send(activity.clone()); // no one listening: email is off
        self.publish_shared(activity);
    }

    /// Everything made on this node from now on (not what other nodes tell of).
    pub fn watch_local(&self) -> broadcast::Receiver<Arc<Activity>> {
        self.local.subscribe()
    }

    /// Everything that happens in `project`'s conversations from now on.
    pub fn watch_project(&self, project: &str) -> Watch<String> {
        self.projects.watch(project.to_owned())
    }

    /// Everything that happens in conversation `session` from now on.
    pub fn watch_session(&self, session: Uuid) -> Watch<Uuid> {
        self.sessions.watch(session)
    }

    /// Watchers on this node, for tests and gauges.
    pub fn watchers(&self) -> usize {
        self.projects.watchers() + self.sessions.watchers()
    }
}

/// One broadcast channel per key that someone watches; a key's channel goes when its last
/// watcher does.
struct Channels<K: Eq + Hash>(Arc<DashMap<K, broadcast::Sender<Arc<Activity>>>>);

impl<K: Eq + Hash> Default for Channels<K> {
    fn default() -> Self {
        Channels(Arc::default())
    }
}

impl<K: Eq + Hash + Clone> Channels<K> {
    fn send(&self, key: &K, activity: &Arc<Activity>) {
        if let Some(sender) = self.0.get(key) {
            // No receiver left: its last watch is being dropped and removes the channel.
            let _ = sender.send(activity.clone());
        }
    }

    fn watch(&self, key: K) -> Watch<K> {
        let receiver = self
            .0
            .entry(key.clone())
            .or_insert_with(|| broadcast::channel(WATCH_QUEUE).0)
            .subscribe();
        Watch {
            receiver: Some(receiver),
            key,
            channels: self.0.clone(),
        }
    }

    fn watchers(&self) -> usize {
        self.0.iter().map(|entry| entry.receiver_count()).sum()
    }
}

/// One watcher's receiver; dropping it unsubscribes.
pub struct Watch<K: Eq + Hash> {
    /// `None` only while being dropped.
    receiver: Option<broadcast::Receiver<Arc<Activity>>>,
    key: K,
    channels: Arc<DashMap<K, broadcast::Sender<Arc<Activity>>>>,
}

impl<K: Eq + Hash> Watch<K> {
    /// The next activity, or `None` when the hub is gone.
    pub async fn next(&mut self) -> Option<Watched> {
        let receiver = self.receiver.as_mut()?;
        match receiver.recv().await {
            Ok(activity) => Some(Watched::Activity(activity)),
            Err(RecvError::Lagged(_)) => Some(Watched::Missed),
            Err(RecvError::Closed) => None,
        }
    }
}

impl<K: Eq + Hash> Drop for Watch<K> {
    fn drop(&mut self) {
        drop(self.receiver.take());
        self.channels
            .remove_if(&self.key, |_, sender| sender.receiver_count() == 0);
    }
}

/// Where session actors publish: this node's hub and the other nodes.
#[derive(Clone)]
pub struct Activities {
    pub hub: Arc<ActivityHub>,
    fan_out: Arc<dyn FanOut>,
}

impl Activities {
    pub fn new(fan_out: Arc<dyn FanOut>) -> Activities {
        Activities {
            hub: Arc::default(),
            fan_out,
        }
    }

    /// Tells every watcher, here and on the other nodes, of `change` in conversation
    /// `session` of `project`. Never waits.
    pub fn publish(&self, project: &str, session: Uuid, change: Change) {
        let activity = Activity {
            project: project.to_owned(),
            session,
            change,
        };
        self.fan_out.announce_activity(&activity);
        self.hub.publish_local(activity);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::ConversationStatus;

    fn handoff(project: &str, session: Uuid) -> Activity {
        let handoff = Handoff {
            status: ConversationStatus::Human,
            assignee: None,
            since_ms: 1,
        };
        Activity {
            project: project.into(),
            session,
            change: Change::Handoff {
                handoff,
                status_changed: true,
            },
        }
    }

    async fn next(watch: &mut Watch<impl Eq + Hash>) -> Arc<Activity> {
        match watch.next().await {
            Some(Watched::Activity(activity)) => activity,
            _ => panic!("expected activity"),
        }
    }

    #[tokio::test]
    async fn watchers_get_their_project_or_session_only() {
        let hub = ActivityHub::default();
        let (mine, other) = (Uuid::new_v4(), Uuid::new_v4());
        let mut team = hub.watch_project("acme");
        let mut visitor = hub.watch_session(mine);
        hub.publish(handoff("globex", other));
        hub.publish(handoff("acme", other));
        hub.publish(handoff("acme", mine));
        let first = next(&mut team).await;
        assert_eq!((first.project.as_str(), first.session), ("acme", other));
        assert_eq!(next(&mut team).await.session, mine);
        assert_eq!(
            next(&mut visitor).await.session,
            mine,
            "only its own session"
        );
    }

    #[tokio::test]
    async fn a_watcher_that_falls_behind_is_told_and_channels_go_with_their_watchers() {
        let hub = ActivityHub::default();
        let session = Uuid::new_v4();
        let mut slow = hub.watch_session(session);
        let fast = hub.watch_session(session);
        assert_eq!(hub.watchers(), 2);
        for _ in 0..WATCH_QUEUE + 1 {
            hub.publish(handoff("acme", session));
        }
        assert!(matches!(slow.next().await, Some(Watched::Missed)));
        assert!(matches!(slow.next().await, Some(Watched::Activity(_))));
        drop(fast);
        assert_eq!(hub.sessions.0.len(), 1, "one watcher left");
        drop(slow);
        assert_eq!(hub.watchers(), 0);
        assert!(
            hub.sessions.0.is_empty(),
            "the channel went with its last watcher"
        );
    }
}
