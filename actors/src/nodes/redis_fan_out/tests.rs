//! [`RedisFanOut`] on a real redis-server, started on a free port by the test and stopped by it.

use std::time::{Duration, Instant};

use super::*;
use crate::social_proof::EventKind;
use crate::testing::{Redis, free_port};

fn event(id: u64) -> SocialProofEvent {
    SocialProofEvent {
        id,
        kind: EventKind::SignedUp,
        name: Some(format!("visitor {id}")),
        location: None,
        product: None,
        message: None,
        url: None,
        image_url: None,
        created_at_ms: id,
    }
}

async fn next(arrivals: &mut mpsc::UnboundedReceiver<Arrival>) -> Arrival {
    let arrival = tokio::time::timeout(Duration::from_secs(10), arrivals.recv());
    arrival
        .await
        .expect("an arrival in time")
        .expect("still listening")
}

#[tokio::test]
async fn nodes_hear_each_others_events_not_their_own_and_again_after_redis_restarts() {
    let port = free_port();
    let redis = Redis::start(port);
    let cluster = Uuid::new_v4();
    let a = RedisFanOut::connect(&redis.url(), cluster).await.unwrap();
    let b = RedisFanOut::connect(&redis.url(), cluster).await.unwrap();
    // A node of another cluster on the same Redis hears none of it.
    let stranger = RedisFanOut::connect(&redis.url(), Uuid::new_v4())
        .await
        .unwrap();
    let mut heard_by_stranger = stranger.arrivals().unwrap();
    let mut heard_by_a = a.arrivals().unwrap();
    let mut heard_by_b = b.arrivals().unwrap();
    assert!(a.arrivals().is_none(), "taken once");

    a.announce("demo", &event(1)).await.unwrap();
    b.announce("shop", &event(7)).await.unwrap();
    b.announce_change("shop").await.unwrap();
    let at_b = next(&mut heard_by_b).await;
    let demo = |event| Arrival::Event {
        slug: "demo".into(),
        event,
    };
    assert_eq!(at_b, demo(event(1)));
    let at_a = next(&mut heard_by_a).await;
    let shop = Arrival::Event {
        slug: "shop".into(),
        event: event(7),
    };
    assert_eq!(at_a, shop);
    let changed = Arrival::Changed {
        slug: "shop".into(),
    };
    assert_eq!(next(&mut heard_by_a).await, changed);
    assert!(
        heard_by_a.try_recv().is_err(),
        "a node does not hear itself"
    );
    assert!(a.connected() && b.connected());
    assert!(heard_by_stranger.try_recv().is_err(), "clusters are apart");

    // Redis goes away and comes back empty on the same address: the nodes subscribe again.
    drop(redis);
    let lost = Instant::now() + Duration::from_secs(10);
    while b.connected() {
        assert!(
            Instant::now() < lost,
            "the lost subscription is not reported"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let redis = Redis::start(port);
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut id = 2;
    let heard = loop {
        assert!(
            Instant::now() < deadline,
            "no announcement got through after the restart"
        );
        // The publishing connection may need a moment to reconnect too.
        let _ = a.announce("demo", &event(id)).await;
        let waited = tokio::time::timeout(Duration::from_millis(300), heard_by_b.recv());
        if let Ok(Some(arrival)) = waited.await {
            break arrival;
        }
        id += 1;
    };
    let Arrival::Event { slug, event } = heard else {
        panic!("an event was announced, not a change");
    };
    assert_eq!(slug, "demo");
    assert!(event.id >= 2);
    assert!(b.connected(), "reported subscribed again");
    drop(redis);
}

#[tokio::test]
async fn viewers_are_added_up_across_nodes_while_fresh() {
    let port = free_port();
    let redis = Redis::start(port);
    let cluster = Uuid::new_v4();
    let a = RedisFanOut::connect(&redis.url(), cluster).await.unwrap();
    let b = RedisFanOut::connect(&redis.url(), cluster).await.unwrap();
    let stranger = RedisFanOut::connect(&redis.url(), Uuid::new_v4())
        .await
        .unwrap();
    let minute = Duration::from_secs(60);
    let pages = |list: &[(&str, usize)]| -> Vec<(String, usize)> {
        list.iter()
            .map(|(page, n)| (page.to_string(), *n))
            .collect()
    };
    a.share_viewers("demo", &pages(&[("/pricing", 3), ("/", 1)]), &[], minute)
        .await
        .unwrap();
    b.share_viewers("demo", &pages(&[("/pricing", 2)]), &[], minute)
        .await
        .unwrap();
    // Each node adds the others' to its own (which it counts itself).
    assert_eq!(a.other_viewers("demo", "/pricing").await.unwrap(), 2);
    assert_eq!(b.other_viewers("demo", "/pricing").await.unwrap(), 3);
    assert_eq!(b.other_viewers("demo", "/").await.unwrap(), 1);
    assert_eq!(
        b.other_viewers("shop", "/pricing").await.unwrap(),
        0,
        "per project"
    );
    assert_eq!(
        stranger.other_viewers("demo", "/pricing").await.unwrap(),
        0,
        "per cluster"
    );
    // A node's visitors leave a page; a node that stops sharing stops counting.
    a.share_viewers("demo", &pages(&[("/pricing", 4)]), &["/".into()], minute)
        .await
        .unwrap();
    assert_eq!(b.other_viewers("demo", "/").await.unwrap(), 0);
    assert_eq!(b.other_viewers("demo", "/pricing").await.unwrap(), 4);
    let brief = Duration::from_millis(50);
    a.share_viewers("demo", &pages(&[("/pricing", 4)]), &[], brief)
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while b.other_viewers("demo", "/pricing").await.unwrap() != 0 {
        assert!(Instant::now() < deadline, "a stale count stops counting");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
