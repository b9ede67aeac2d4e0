//! The live feed of one project's social-proof events: the replay window that gives a visitor
//! who reconnects exactly what it missed, the broadcast that fans each event out to every live
//! subscriber, and the caps on subscribers.
//!
//! The project actor owns its `Feed` and is its only writer, so taking a subscription (replay +
//! live receiver) is atomic with respect to pushes: nothing is missed or seen twice. Each event
//! is serialized once and shared by every subscriber. This module never touches sockets and
//! never waits: a subscriber that falls more than its queue behind finds out from its receiver
//! (`Lagged`), and the edge drops it.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{broadcast, watch};

pub use crate::social_proof::PopupEvent;
use crate::social_proof::{EventKind, NameFormat, SocialProofEvent};

/// Limits of every project's feed, from the config.
#[derive(Debug, Clone)]
pub struct FeedSettings {
    /// Most events kept for replay (also how many the store keeps).
    pub replay_events: usize,
    /// Events older than this are not replayed.
    pub replay_max_age: Duration,
    /// Events a subscriber may fall behind before it is dropped.
    pub subscriber_queue: usize,
    /// Shared by every project's feed: a config reload may change them.
    pub subscriber_caps: Arc<SubscriberCaps>,
}

/// Live subscribers allowed per project and in all; changes apply to new subscriptions only.
#[derive(Debug)]
pub struct SubscriberCaps {
    per_project: AtomicUsize,
    all: AtomicUsize,
}

impl SubscriberCaps {
    pub fn new(per_project: usize, all: usize) -> Arc<SubscriberCaps> {
        Arc::new(SubscriberCaps {
            per_project: AtomicUsize::new(per_project),
            all: AtomicUsize::new(all),
        })
    }

    pub fn set(&self, per_project: usize, all: usize) {
        self.per_project.store(per_project, Ordering::Relaxed);
        self.all.store(all, Ordering::Relaxed);
    }
}

/// One event as every channel sends it.
#[derive(Debug)]
pub struct LiveEvent {
    pub id: u64,
    pub created_at_ms: u64,
    /// A [`PopupEvent`], serialized once.
    pub json: Bytes,
    /// The event as stored, to show it again when the project's name format changes.
    stored: SocialProofEvent,
}

impl LiveEvent {
    pub fn new(event: &SocialProofEvent, names: NameFormat) -> LiveEvent {
        let json = PopupEvent::new(event, names);
        LiveEvent {
            id: event.id,
            created_at_ms: event.created_at_ms,
            json: Bytes::from(serde_json::to_vec(&json).expect("events serialize")),
            stored: event.clone(),
        }
    }
}

/// What a client that asked for events after an id gets back.
#[derive(Debug)]
pub struct Replay {
    /// The client's id does not match the history kept (it fell out of the window, or comes
    /// from another history): `events` is everything kept, and the client should start over.
    pub reset: bool,
    /// Oldest first.
    pub events: Vec<Arc<LiveEvent>>,
    /// The newest id the project has given out; a client that saw `events` is up to date here.
    pub last_id: u64,
}

/// A live subscriber: what it missed, then every new event through `live`.
pub struct Subscription {
    pub replay: Replay,
    pub live: broadcast::Receiver<Arc<LiveEvent>>,
    /// The `ETag` of the project's widget config: changes when the owner saves settings, so
    /// open widgets can take them up at once.
    pub settings: watch::Receiver<Arc<str>>,
    /// Counts this subscriber against the caps until dropped.
    pub slot: SubscriberSlot,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too many live subscribers")]
pub struct FeedFull;

/// Held by a subscriber; releases its place under the caps (and on its page) when dropped.
pub struct SubscriberSlot {
    counters: [Arc<AtomicUsize>; 2],
    _page: Option<PageSlot>,
}

impl Drop for SubscriberSlot {
    fn drop(&mut self) {
        for counter in &self.counters {
            counter.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// Distinct pages counted per project; a subscriber on a page past them is not counted on it.
pub const PAGES_COUNTED: usize = 1000;
/// Longest page path counted.
pub const PAGE_MAX_CHARS: usize = 200;

/// This node's live subscribers of one project per page (the path their widget is on), for
/// "12 people are viewing this page right now". Shared by the feed, the project's snapshot
/// (read by the edge) and the subscribers' slots, which count themselves out when dropped.
#[derive(Debug, Default)]
pub struct PageViewers {
    pages: std::sync::Mutex<std::collections::HashMap<String, usize>>,
}

impl PageViewers {
    /// Counts a subscriber on `page` until the returned slot is dropped; `None` when the page
    /// is new and [`PAGES_COUNTED`] pages are counted already.
    fn enter(self: &Arc<Self>, page: String) -> Option<PageSlot> {
        let mut pages = self.pages.lock().expect("page counts are never poisoned");
        if !pages.contains_key(&page) && pages.len() >= PAGES_COUNTED {
            return None;
        }
        *pages.entry(page.clone()).or_default() += 1;
        Some(PageSlot {
            viewers: self.clone(),
            page,
        })
    }

    /// This node's live subscribers on `page`.
    pub fn on(&self, page: &str) -> usize {
        let pages = self.pages.lock().expect("page counts are never poisoned");
        pages.get(page).copied().unwrap_or(0)
    }

    /// Every page with subscribers, and how many.
    pub fn pages(&self) -> Vec<(String, usize)> {
        let pages = self.pages.lock().expect("page counts are never poisoned");
        pages.iter().map(|(page, n)| (page.clone(), *n)).collect()
    }
}

/// One subscriber counted on a page.
struct PageSlot {
    viewers: Arc<PageViewers>,
    page: String,
}

impl Drop for PageSlot {
    fn drop(&mut self) {
        let mut pages = self
            .viewers
            .pages
            .lock()
            .expect("page counts are never poisoned");
        if let Some(count) = pages.get_mut(&self.page) {
            *count -= 1;
            if *count == 0 {
                pages.remove(&self.page);
            }
        }
    }
}

pub struct Feed {
    settings: FeedSettings,
    /// The newest events, oldest first, at most `replay_events` and none older than the max age.
    window: VecDeque<Arc<LiveEvent>>,
    /// Ids up to this one are no longer replayable.
    forgotten_up_to: u64,
    last_id: u64,
    live: broadcast::Sender<Arc<LiveEvent>>,
    /// The `ETag` of the widget config live subscribers were last told.
    config_etag: watch::Sender<Arc<str>>,
    /// How the project shows pushed names.
    names: NameFormat,
    /// Live subscribers per page.
    viewers: Arc<PageViewers>,
    project_subscribers: Arc<AtomicUsize>,
    all_subscribers: Arc<AtomicUsize>,
}

impl Feed {
    /// A feed holding the `stored` events (oldest first) of a project whose newest id is
    /// `last_id`, showing names as `names` says. `all_subscribers` is shared by every
    /// project's feed.
    pub fn new(
        settings: FeedSettings,
        stored: &[SocialProofEvent],
        last_id: u64,
        names: NameFormat,
        all_subscribers: Arc<AtomicUsize>,
        now_ms: u64,
    ) -> Feed {
        let (live, _) = broadcast::channel(settings.subscriber_queue.max(1));
        let window: VecDeque<_> = stored
            .iter()
            .rev()
            .take(settings.replay_events)
            .rev()
            .map(|event| Arc::new(LiveEvent::new(event, names)))
            .collect();
        let forgotten_up_to = window.front().map_or(last_id, |first| first.id - 1);
        let mut feed = Feed {
            settings,
            window,
            forgotten_up_to,
            last_id,
            live,
            config_etag: watch::Sender::new(Arc::from("")),
            names,
            viewers: Arc::default(),
            project_subscribers: Arc::default(),
            all_subscribers,
        };
        feed.forget_old(now_ms);
        feed
    }

    /// Adds a stored event to the window and sends it to every live subscriber, without
    /// waiting for any of them. Returns how many subscribers it was handed to.
    pub fn publish(&mut self, event: &SocialProofEvent, now_ms: u64) -> usize {
        let event = Arc::new(LiveEvent::new(event, self.names));
        self.last_id = self.last_id.max(event.id);
        self.window.push_back(event.clone());
        while self.window.len() > self.settings.replay_events {
            self.forget_first();
        }
        self.forget_old(now_ms);
        // An error only means nobody is listening. Subscribers are counted by their slots, not
        // the channel's receivers: the edge may hand a subscriber's receiver to a writer that
        // serves many (see `fanout` in the server).
        match self.live.send(event) {
            Ok(_) => self.project_subscribers.load(Ordering::Relaxed),
            Err(_) => 0,
        }
    }

    /// The events after `since`. `None` (a client with no position) gets nothing to replay;
    /// `Some(0)` (a client that has seen nothing) gets the whole window.
    pub fn replay(&mut self, since: Option<u64>, now_ms: u64) -> Replay {
        self.forget_old(now_ms);
        let all = || self.window.iter().cloned().collect::<Vec<_>>();
        let (reset, events) = match since {
            None => (false, Vec::new()),
            Some(0) => (false, all()),
            Some(id) if id > self.last_id || id < self.forgotten_up_to => (true, all()),
            Some(id) => (
                false,
                self.window
                    .iter()
                    .filter(|event| event.id > id)
                    .cloned()
                    .collect(),
            ),
        };
        Replay {
            reset,
            events,
            last_id: self.last_id,
        }
    }

    /// Subscribes a live client on `page` (a path, when it said): the replay after `since`,
    /// then every new event.
    pub fn subscribe(
        &mut self,
        since: Option<u64>,
        page: Option<String>,
        now_ms: u64,
    ) -> Result<Subscription, FeedFull> {
        let mut slot = self.take_slot()?;
        slot._page = page.and_then(|page| self.viewers.enter(page));
        Ok(Subscription {
            replay: self.replay(since, now_ms),
            live: self.live.subscribe(),
            settings: self.config_etag.subscribe(),
            slot,
        })
    }

    /// Tells live subscribers the widget config is now the one with `etag` (when it changed).
    pub fn announce_settings(&mut self, etag: &str) {
        self.config_etag.send_if_modified(|current| {
            let changed = **current != *etag;
            if changed {
                *current = Arc::from(etag);
            }
            changed
        });
    }

    /// Shows names as `names` says from now on, in the replay window too (live subscribers
    /// already sent an event keep what they saw).
    pub fn show_names(&mut self, names: NameFormat) {
        if names == self.names {
            return;
        }
        self.names = names;
        for event in &mut self.window {
            *event = Arc::new(LiveEvent::new(&event.stored, names));
        }
    }

    /// The type of event `id`, while it is in the replay window.
    pub fn kind_of(&self, id: u64) -> Option<EventKind> {
        let at = self
            .window
            .binary_search_by_key(&id, |event| event.id)
            .ok()?;
        Some(self.window[at].stored.kind)
    }

    /// The newest event id this feed has seen.
    pub fn last_id(&self) -> u64 {
        self.last_id
    }

    /// Live subscribers per page, shared with whoever wants to read them.
    pub fn page_viewers(&self) -> Arc<PageViewers> {
        self.viewers.clone()
    }

    /// Live subscribers of this project right now.
    pub fn subscribers(&self) -> usize {
        self.project_subscribers.load(Ordering::Relaxed)
    }

    fn take_slot(&self) -> Result<SubscriberSlot, FeedFull> {
        let counters = [
            self.project_subscribers.clone(),
            self.all_subscribers.clone(),
        ];
        let caps = &self.settings.subscriber_caps;
        let caps = [
            caps.per_project.load(Ordering::Relaxed),
            caps.all.load(Ordering::Relaxed),
        ];
        let slot = SubscriberSlot {
            counters,
            _page: None,
        };
        // Count first, then check, so racing projects can never overshoot the shared cap; the
        // slot's drop undoes the count when the check fails.
        let mut full = false;
        for (counter, cap) in slot.counters.iter().zip(caps) {
            full |= counter.fetch_add(1, Ordering::Relaxed) >= cap;
        }
        if full { Err(FeedFull) } else { Ok(slot) }
    }

    fn forget_old(&mut self, now_ms: u64) {
        let max_age_ms = self.settings.replay_max_age.as_millis() as u64;
        while self
            .window
            .front()
            .is_some_and(|first| now_ms.saturating_sub(first.created_at_ms) > max_age_ms)
        {
            self.forget_first();
        }
    }

    fn forget_first(&mut self) {
        if let Some(first) = self.window.pop_front() {
            self.forgotten_up_to = first.id;
        }
    }
}

#[cfg(test)]
#[path = "feed/tests.rs"]
mod tests;
