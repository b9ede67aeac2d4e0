//! Unit tests of the feed: replay rules, the window's bounds, fan-out and the caps.

use super::*;
use crate::social_proof::EventKind;

const MINUTE_MS: u64 = 60_000;

fn settings() -> FeedSettings {
    FeedSettings {
        replay_events: 3,
        replay_max_age: Duration::from_secs(3600),
        subscriber_queue: 4,
        subscriber_caps: SubscriberCaps::new(2, 3),
    }
}

fn event(id: u64, created_at_ms: u64) -> SocialProofEvent {
    SocialProofEvent {
        id,
        kind: EventKind::SignedUp,
        name: Some(format!("visitor {id}")),
        location: None,
        product: None,
        message: None,
        url: None,
        image_url: None,
        created_at_ms,
    }
}

fn ids(events: &[Arc<LiveEvent>]) -> Vec<u64> {
    events.iter().map(|event| event.id).collect()
}

fn feed_with(ids: std::ops::RangeInclusive<u64>) -> Feed {
    let stored: Vec<_> = ids.clone().map(|id| event(id, id * MINUTE_MS)).collect();
    Feed::new(
        settings(),
        &stored,
        *ids.end(),
        NameFormat::Full,
        Arc::default(),
        10 * MINUTE_MS,
    )
}

#[test]
fn replays_exactly_what_was_missed() {
    let mut feed = feed_with(1..=3);
    let replay = feed.replay(Some(1), 10 * MINUTE_MS);
    assert!(!replay.reset);
    assert_eq!(ids(&replay.events), [2, 3]);
    assert_eq!(replay.last_id, 3);
    assert!(feed.replay(Some(3), 10 * MINUTE_MS).events.is_empty());
    assert!(feed.replay(None, 10 * MINUTE_MS).events.is_empty());
    assert_eq!(ids(&feed.replay(Some(0), 10 * MINUTE_MS).events), [1, 2, 3]);
}

#[test]
fn a_position_outside_the_window_resets() {
    // Five stored, three kept: 1 and 2 are gone.
    let mut feed = feed_with(1..=5);
    assert_eq!(ids(&feed.replay(Some(2), 10 * MINUTE_MS).events), [3, 4, 5]);
    let lost = feed.replay(Some(1), 10 * MINUTE_MS);
    assert!(lost.reset, "event 2 was missed and cannot be replayed");
    assert_eq!(ids(&lost.events), [3, 4, 5]);
    let future = feed.replay(Some(9), 10 * MINUTE_MS);
    assert!(future.reset, "an id from another history");
}

#[test]
fn publishing_slides_the_window_and_old_events_age_out() {
    let mut feed = feed_with(1..=3);
    feed.publish(&event(4, 10 * MINUTE_MS), 10 * MINUTE_MS);
    assert_eq!(ids(&feed.replay(Some(0), 10 * MINUTE_MS).events), [2, 3, 4]);
    assert_eq!(ids(&feed.replay(Some(1), 10 * MINUTE_MS).events), [2, 3, 4]);
    // An hour after event 3, only event 4 is young enough.
    let later = 63 * MINUTE_MS + 1;
    assert_eq!(ids(&feed.replay(Some(0), later).events), [4]);
    assert!(feed.replay(Some(2), later).reset);
    assert!(!feed.replay(Some(3), later).reset);
}

#[test]
fn subscribers_get_the_replay_then_every_new_event_once() {
    let mut feed = feed_with(1..=2);
    let mut subscription = feed.subscribe(Some(1), None, 10 * MINUTE_MS).unwrap();
    feed.publish(&event(3, 10 * MINUTE_MS), 10 * MINUTE_MS);
    assert_eq!(ids(&subscription.replay.events), [2]);
    assert_eq!(subscription.live.try_recv().unwrap().id, 3);
    assert!(subscription.live.try_recv().is_err());
    let json: serde_json::Value =
        serde_json::from_slice(&feed.replay(Some(2), 10 * MINUTE_MS).events[0].json).unwrap();
    assert_eq!(json["id"], "3");
    assert_eq!(json["type"], "signed_up");
    assert_eq!(json["name"], "visitor 3");
    assert_eq!(json["createdAt"], "1970-01-01T00:10:00.000Z");
}

#[test]
fn a_subscriber_that_falls_behind_lags_without_holding_up_publishing() {
    let mut feed = feed_with(1..=1);
    let mut slow = feed.subscribe(None, None, 0).unwrap();
    for id in 2..=10 {
        feed.publish(&event(id, 10 * MINUTE_MS), 10 * MINUTE_MS);
    }
    assert!(matches!(
        slow.live.try_recv(),
        Err(broadcast::error::TryRecvError::Lagged(_))
    ));
}

#[test]
fn caps_count_per_project_and_in_total_and_free_on_drop() {
    let all = Arc::new(AtomicUsize::new(0));
    let mut a = Feed::new(settings(), &[], 0, NameFormat::Full, all.clone(), 0);
    let mut b = Feed::new(settings(), &[], 0, NameFormat::Full, all.clone(), 0);
    let a1 = a.subscribe(None, None, 0).unwrap();
    let _a2 = a.subscribe(None, None, 0).unwrap();
    assert!(a.subscribe(None, None, 0).is_err(), "two per project");
    let _b1 = b.subscribe(None, None, 0).unwrap();
    assert!(b.subscribe(None, None, 0).is_err(), "three in total");
    assert_eq!(all.load(Ordering::Relaxed), 3);
    drop(a1);
    assert_eq!(a.subscribers(), 1);
    assert!(b.subscribe(None, None, 0).is_ok());
}

#[test]
fn changed_caps_apply_to_the_next_subscription_and_keep_the_open_ones() {
    let settings = settings();
    let caps = settings.subscriber_caps.clone();
    let mut feed = Feed::new(settings, &[], 0, NameFormat::Full, Arc::default(), 0);
    let held: Vec<_> = (0..2)
        .map(|_| feed.subscribe(None, None, 0).unwrap())
        .collect();
    assert!(feed.subscribe(None, None, 0).is_err());
    caps.set(3, 3);
    let third = feed.subscribe(None, None, 0).unwrap();
    caps.set(1, 3);
    assert!(
        feed.subscribe(None, None, 0).is_err(),
        "lowered below what is open"
    );
    assert_eq!(feed.subscribers(), 3, "the open ones stay");
    drop((held, third));
}

mod properties {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// Whatever was published and whatever position a client comes back with, it gets
        /// exactly the retained events after its position, in order, once each — or, when its
        /// position is outside the window, a reset and the whole window.
        #[test]
        fn replay_is_exactly_what_was_missed(
            window in 1usize..8,
            published in 0u64..30,
            since in 0u64..35,
        ) {
            let settings = FeedSettings { replay_events: window, ..settings() };
            let mut feed = Feed::new(settings, &[], 0, NameFormat::Full, Arc::default(), 0);
            for id in 1..=published {
                feed.publish(&event(id, id), id);
            }
            let replay = feed.replay(Some(since), published);
            let got = ids(&replay.events);
            let first_kept = published.saturating_sub(window as u64) + 1;
            let kept: Vec<u64> = (first_kept..=published).collect();
            prop_assert!(got.windows(2).all(|pair| pair[0] < pair[1]), "ordered, no repeats");
            prop_assert_eq!(replay.last_id, published);
            if since == 0 {
                prop_assert!(!replay.reset);
                prop_assert_eq!(got, kept);
            } else if since > published || since + 1 < first_kept {
                prop_assert!(replay.reset, "since {} outside {}..={}", since, first_kept, published);
                prop_assert_eq!(got, kept);
            } else {
                prop_assert!(!replay.reset);
                let missed: Vec<u64> = (since + 1..=published).collect();
                prop_assert_eq!(got, missed);
            }
        }
    }
}

#[test]
fn a_new_name_format_applies_to_the_replay_window_too() {
    let mut feed = Feed::new(settings(), &[], 0, NameFormat::Full, Arc::default(), 0);
    let named = SocialProofEvent {
        name: Some("Sarah Kim".into()),
        ..event(1, MINUTE_MS)
    };
    feed.publish(&named, MINUTE_MS);
    let shown = |feed: &mut Feed| {
        let replay = feed.replay(Some(0), MINUTE_MS);
        String::from_utf8(replay.events[0].json.to_vec()).unwrap()
    };
    assert!(shown(&mut feed).contains("\"name\":\"Sarah Kim\""));
    feed.show_names(NameFormat::FirstInitial);
    assert!(shown(&mut feed).contains("\"name\":\"Sarah K.\""));
    feed.show_names(NameFormat::Anonymous);
    let hidden = shown(&mut feed);
    assert!(
        hidden.contains("\"name\":null") && !hidden.contains("Sarah"),
        "{hidden}"
    );
    // New events too.
    feed.publish(&SocialProofEvent { id: 2, ..named }, MINUTE_MS);
    let replay = feed.replay(Some(1), MINUTE_MS);
    assert!(!String::from_utf8_lossy(&replay.events[0].json).contains("Sarah"));
}

#[test]
fn subscribers_are_counted_per_page_until_they_go() {
    let mut settings = settings();
    settings.subscriber_caps = SubscriberCaps::new(10, 10);
    let mut feed = Feed::new(settings, &[], 0, NameFormat::Full, Arc::default(), 0);
    let viewers = feed.page_viewers();
    let pricing = |feed: &mut Feed| feed.subscribe(None, Some("/pricing".into()), 0).unwrap();
    let (a, b) = (pricing(&mut feed), pricing(&mut feed));
    let _home = feed.subscribe(None, Some("/".into()), 0).unwrap();
    let _nowhere = feed.subscribe(None, None, 0).unwrap();
    assert_eq!(
        (viewers.on("/pricing"), viewers.on("/"), viewers.on("/blog")),
        (2, 1, 0)
    );
    drop(a);
    assert_eq!(viewers.on("/pricing"), 1);
    drop(b);
    assert_eq!(viewers.on("/pricing"), 0);
    assert_eq!(
        viewers.pages(),
        [("/".to_owned(), 1)],
        "a page nobody is on is forgotten"
    );
}

#[test]
fn pages_counted_are_bounded() {
    let mut settings = settings();
    settings.subscriber_caps = SubscriberCaps::new(PAGES_COUNTED + 10, PAGES_COUNTED + 10);
    let mut feed = Feed::new(settings, &[], 0, NameFormat::Full, Arc::default(), 0);
    let held: Vec<_> = (0..=PAGES_COUNTED)
        .map(|n| feed.subscribe(None, Some(format!("/p/{n}")), 0).unwrap())
        .collect();
    let viewers = feed.page_viewers();
    assert_eq!(viewers.pages().len(), PAGES_COUNTED);
    assert_eq!(
        viewers.on(&format!("/p/{PAGES_COUNTED}")),
        0,
        "past the bound: not counted"
    );
    assert_eq!(
        feed.subscribers(),
        PAGES_COUNTED + 1,
        "but subscribed all the same"
    );
    drop(held);
    assert!(viewers.pages().is_empty());
}

/// The edge may hand a subscriber's receiver to a writer that serves many, and keep spare
/// receivers of its own: a delivery is counted per subscriber all the same.
#[test]
fn deliveries_are_counted_per_subscriber_not_per_receiver() {
    let mut feed = feed_with(1..=3);
    assert_eq!(feed.publish(&event(4, 10 * MINUTE_MS), 10 * MINUTE_MS), 0);
    let first = feed.subscribe(None, None, 10 * MINUTE_MS).unwrap();
    let second = feed.subscribe(None, None, 10 * MINUTE_MS).unwrap();
    let spare = [first.live.resubscribe(), first.live.resubscribe()];
    assert_eq!(feed.publish(&event(5, 10 * MINUTE_MS), 10 * MINUTE_MS), 2);
    drop(second);
    assert_eq!(feed.publish(&event(6, 10 * MINUTE_MS), 10 * MINUTE_MS), 1);
    drop((first, spare));
    assert_eq!(feed.publish(&event(7, 10 * MINUTE_MS), 10 * MINUTE_MS), 0);
}
