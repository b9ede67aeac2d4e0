//! [`RedisFanOut`] on a real redis-server, started on a free port by the test and stopped by it.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::*;
use crate::social_proof::EventKind;

/// A redis-server of this test, stopped when dropped.
pub(crate) struct Redis {
    port: u16,
    child: Child,
}

impl Redis {
    pub(crate) fn start(port: u16) -> Redis {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server is installed: apt-get install redis-server");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Redis { port, child }
    }

    pub(crate) fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

fn event(id: u64) -> SocialProofEvent {
    SocialProofEvent {
        id,
        kind: EventKind::SignedUp,
        name: Some(format!("visitor {id}")),
        location: None,
        product: None,
        message: None,
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
    let a = RedisFanOut::connect(&redis.url()).await.unwrap();
    let b = RedisFanOut::connect(&redis.url()).await.unwrap();
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

    // Redis goes away and comes back empty on the same address: the nodes subscribe again.
    drop(redis);
    let lost = Instant::now() + Duration::from_secs(10);
    while b.connected() {
        assert!(Instant::now() < lost, "the lost subscription is not reported");
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
