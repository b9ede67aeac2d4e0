//! The writer against real loopback sockets and a real feed: what each visitor reads is what a
//! WebSocket client decodes from its socket.

use std::sync::atomic::AtomicUsize;
use std::time::Duration;

use futures_util::StreamExt;
use helpyap_actors::feed::{Feed, FeedSettings, SubscriberCaps, Subscription};
use helpyap_actors::social_proof::{EventKind, NameFormat, SocialProofEvent};
use tokio::io::AsyncWriteExt;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::Role;

use super::*;

const WAIT: Duration = Duration::from_secs(10);

fn event(id: u64, message_chars: usize) -> SocialProofEvent {
    SocialProofEvent {
        id,
        kind: EventKind::SignedUp,
        name: Some(format!("visitor {id}")),
        location: None,
        product: None,
        message: Some("m".repeat(message_chars)),
        url: None,
        image_url: None,
        created_at_ms: 1,
    }
}

/// A feed whose channel holds `capacity` events.
fn feed(capacity: usize) -> Feed {
    let settings = FeedSettings {
        replay_events: 1000,
        replay_max_age: Duration::from_secs(3600),
        subscriber_queue: capacity,
        subscriber_caps: SubscriberCaps::new(100, 100),
    };
    Feed::new(
        settings,
        &[],
        0,
        NameFormat::Full,
        Arc::new(AtomicUsize::new(0)),
        1,
    )
}

/// The server's end of a fresh loopback connection, as the server holds it, and the client's
/// end as a WebSocket client.
async fn connection() -> (Box<Connection<TcpStream>>, WebSocketStream<TcpStream>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap())
        .await
        .unwrap();
    let (accepted, _) = listener.accept().await.unwrap();
    let server = Box::new(Connection::new(accepted, WAIT, None));
    let client = WebSocketStream::from_raw_socket(client, Role::Client, None).await;
    (server, client)
}

/// Joins a visitor the way its task does: the replay framed first, then the writer takes over;
/// a task flushes what the writer leaves, as the visitor's own task would, until it is told to
/// close. The task's result is that close.
async fn join(
    writers: &Arc<Writers>,
    subscription: Subscription,
) -> (
    WebSocketStream<TcpStream>,
    tokio::task::JoinHandle<Option<Close>>,
    Arc<Visitor>,
) {
    let (socket, client) = connection().await;
    let mut first = Vec::new();
    for event in &subscription.replay.events {
        text_frame(event.json.clone(), &mut first);
    }
    let mut io = writers.join(
        "demo",
        socket,
        Vec::new(),
        subscription.live,
        First {
            bytes: first,
            last_id: subscription.replay.last_id,
        },
        Format::WebSocket,
    );
    let visitor = io.visitor();
    let ours = visitor.clone();
    let task = tokio::spawn(async move {
        loop {
            if io.flush().await.is_err() {
                return None;
            }
            visitor.attention().await;
            if let Some(closing) = visitor.closing() {
                return closing.ok();
            }
        }
    });
    (client, task, ours)
}

/// The ids of the next `n` events the client reads.
async fn read_ids(client: &mut WebSocketStream<TcpStream>, n: usize) -> Vec<u64> {
    let mut ids = Vec::new();
    while ids.len() < n {
        let message = tokio::time::timeout(WAIT, client.next())
            .await
            .expect("the events came in time")
            .expect("the socket is open")
            .unwrap();
        let Message::Text(text) = message else {
            panic!("not a text message: {message:?}")
        };
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        ids.push(json["id"].as_str().unwrap().parse().unwrap());
    }
    ids
}

#[tokio::test]
async fn every_visitor_gets_each_event_once_in_order_whenever_it_joined() {
    let writers = Arc::new(Writers::new(64));
    let mut feed = feed(64);
    feed.publish(&event(1, 10), 1);
    feed.publish(&event(2, 10), 1);
    // The first visitor's replay is 1 and 2; 3 is published before it is handed over.
    let first = feed.subscribe(Some(0), None, 1).unwrap();
    feed.publish(&event(3, 10), 1);
    let (mut early, _early_task, _) = join(&writers, first).await;
    feed.publish(&event(4, 10), 1);
    feed.publish(&event(5, 10), 1);
    // The second arrives with `since=3`, and 6 is published before it is handed over, to the
    // writer that is already running.
    let second = feed.subscribe(Some(3), None, 1).unwrap();
    feed.publish(&event(6, 10), 1);
    let (mut late, _late_task, _) = join(&writers, second).await;
    for id in 7..=20 {
        feed.publish(&event(id, 10), 1);
    }
    assert_eq!(read_ids(&mut early, 20).await, (1..=20).collect::<Vec<_>>());
    assert_eq!(read_ids(&mut late, 17).await, (4..=20).collect::<Vec<_>>());
    // And nothing after: a repeat would be the next message.
    feed.publish(&event(21, 10), 1);
    assert_eq!(read_ids(&mut early, 1).await, [21]);
    assert_eq!(read_ids(&mut late, 1).await, [21]);
}

#[tokio::test]
async fn a_visitor_that_stops_reading_is_closed_with_1013_while_the_others_get_everything() {
    // As configured: the feed's channel holds the queue a visitor may fall behind.
    let queue = 8;
    let writers = Arc::new(Writers::new(queue));
    let mut feed = feed(queue);
    let (mut reader, _reader_task, _) =
        join(&writers, feed.subscribe(None, None, 1).unwrap()).await;
    let (_stalled, _stalled_task, stalled) =
        join(&writers, feed.subscribe(None, None, 1).unwrap()).await;
    // Far more than the kernel's buffers hold for a client that reads nothing.
    let published = 1000;
    let read = tokio::spawn(async move { read_ids(&mut reader, published as usize).await });
    for id in 1..=published {
        feed.publish(&event(id, 16_000), 1);
        // Pushes spread over time: the writer and the reader go round.
        tokio::task::yield_now().await;
    }
    let ids = read.await.unwrap();
    assert_eq!(ids, (1..=published).collect::<Vec<_>>());
    assert_eq!(stalled.closing(), Some(Ok(TOO_SLOW)));
    // Nothing is added once it is behind.
    let kept = stalled.lock().pending.len();
    for id in published + 1..=published + 20 {
        feed.publish(&event(id, 16_000), 1);
        tokio::task::yield_now().await;
    }
    assert_eq!(
        stalled.lock().pending.len(),
        kept,
        "written to after it was closed"
    );
}

#[tokio::test]
async fn nothing_is_written_after_the_visitors_task_stops_it() {
    let writers = Arc::new(Writers::new(64));
    let mut feed = feed(64);
    let (mut stopped, _task, visitor) =
        join(&writers, feed.subscribe(None, None, 1).unwrap()).await;
    let (mut other, _other_task, _) = join(&writers, feed.subscribe(None, None, 1).unwrap()).await;
    feed.publish(&event(1, 10), 1);
    assert_eq!(read_ids(&mut stopped, 1).await, [1]);
    assert_eq!(read_ids(&mut other, 1).await, [1]);
    // As when its task sends a close frame, or ends an SSE body.
    visitor.stop();
    feed.publish(&event(2, 10), 1);
    // The other visitor comes after it in the writer's pass.
    assert_eq!(read_ids(&mut other, 1).await, [2]);
    assert!(
        futures_util::FutureExt::now_or_never(stopped.next()).is_none(),
        "an event followed the close"
    );
}

/// A reader on a slow link takes a long replay over longer than the write-stall limit, but
/// never stalls that long: it is not cut off, and the replay's buffer is let go once out.
#[tokio::test]
async fn a_slow_reader_that_keeps_taking_its_replay_is_not_cut_off() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let client = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    client.set_recv_buffer_size(16 * 1024).unwrap();
    let client = tokio::net::TcpSocket::from_std_stream(client.into());
    let mut client = client
        .connect(listener.local_addr().unwrap())
        .await
        .unwrap();
    let (accepted, _) = listener.accept().await.unwrap();
    socket2::SockRef::from(&accepted)
        .set_send_buffer_size(16 * 1024)
        .unwrap();
    let limit = Duration::from_millis(300);
    let socket = Box::new(Connection::new(accepted, limit, None));
    let replay = vec![b'x'; 4 * 1024 * 1024];
    let writers = Arc::new(Writers::new(64));
    let mut feed = feed(64);
    let subscription = feed.subscribe(None, None, 1).unwrap();
    let first = First {
        bytes: replay.clone(),
        last_id: subscription.replay.last_id,
    };
    let mut io = writers.join(
        "demo",
        socket,
        Vec::new(),
        subscription.live,
        first,
        Format::Sse,
    );
    let started = tokio::time::Instant::now();
    let reader = tokio::spawn(async move {
        let mut read = 0;
        let mut buf = vec![0; 64 * 1024];
        while read < 4 * 1024 * 1024 {
            read += tokio::io::AsyncReadExt::read(&mut client, &mut buf)
                .await
                .unwrap();
            // A slow link: the whole replay takes several times the limit.
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });
    io.flush().await.expect("a moving write is never cut off");
    assert!(
        started.elapsed() > limit,
        "the reader was not slow enough to tell"
    );
    reader.await.unwrap();
    assert_eq!(
        io.visitor().lock().pending.capacity(),
        0,
        "the replay's buffer was kept"
    );
}

#[tokio::test]
async fn a_project_restart_closes_its_visitors_with_1001_and_the_writer_ends() {
    let writers = Arc::new(Writers::new(64));
    let mut feed = feed(64);
    let (_client, task, _) = join(&writers, feed.subscribe(None, None, 1).unwrap()).await;
    feed.publish(&event(1, 10), 1);
    drop(feed);
    let close = tokio::time::timeout(WAIT, task).await.unwrap().unwrap();
    assert_eq!(close, Some(RESTARTING));
    assert!(writers.lock().is_empty(), "the writer left the registry");
}

#[tokio::test]
async fn the_writer_ends_with_its_last_visitor_and_a_new_one_starts_it_again() {
    let writers = Arc::new(Writers::new(64));
    let mut feed = feed(64);
    let (client, task, _) = join(&writers, feed.subscribe(None, None, 1).unwrap()).await;
    assert_eq!(writers.lock().len(), 1);
    // The visitor's task ends (its socket dropped), as when the visitor leaves.
    task.abort();
    drop(client);
    tokio::time::timeout(WAIT, async {
        while !writers.lock().is_empty() {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the writer ended with its last visitor");
    let (mut client, _task, _) = join(&writers, feed.subscribe(None, None, 1).unwrap()).await;
    feed.publish(&event(1, 10), 1);
    assert_eq!(read_ids(&mut client, 1).await, [1]);
}

#[tokio::test]
async fn a_visitor_whose_connection_breaks_is_let_go() {
    let writers = Arc::new(Writers::new(64));
    let mut feed = feed(64);
    let (mut client, task, _) = join(&writers, feed.subscribe(None, None, 1).unwrap()).await;
    client.get_mut().shutdown().await.unwrap();
    drop(client);
    // A write to a socket whose peer has gone fails once the peer has answered the one before.
    let mut id = 0;
    let result = tokio::time::timeout(WAIT, async {
        loop {
            id += 1;
            feed.publish(&event(id, 1000), 1);
            if task.is_finished() {
                break;
            }
            tokio::task::yield_now().await;
        }
    })
    .await;
    assert!(result.is_ok(), "the broken visitor's task ended");
    assert_eq!(
        task.await.unwrap(),
        None,
        "no close frame for a broken socket"
    );
}

#[tokio::test]
async fn an_sse_visitor_gets_each_event_as_one_chunk_beside_websocket_visitors() {
    let writers = Arc::new(Writers::new(64));
    let mut feed = feed(64);
    let (mut websocket, _task, _) = join(&writers, feed.subscribe(None, None, 1).unwrap()).await;
    let (socket, client) = connection().await;
    let mut sse_client = client.into_inner();
    let subscription = feed.subscribe(None, None, 1).unwrap();
    let first = First {
        bytes: b"HTTP/1.1 200 OK\r\n\r\n".to_vec(),
        last_id: subscription.replay.last_id,
    };
    let mut io = writers.join(
        "demo",
        socket,
        Vec::new(),
        subscription.live,
        first,
        Format::Sse,
    );
    io.flush().await.unwrap();
    let mut expected = b"HTTP/1.1 200 OK\r\n\r\n".to_vec();
    for id in 1..=3 {
        let event = event(id, 10);
        feed.publish(&event, 1);
        let live = LiveEvent::new(&event, NameFormat::Full);
        event_stream::chunk(&mut expected, &sse_event(&live).encode().unwrap());
    }
    let mut read = vec![0; expected.len()];
    tokio::time::timeout(
        WAIT,
        tokio::io::AsyncReadExt::read_exact(&mut sse_client, &mut read),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&read),
        String::from_utf8_lossy(&expected)
    );
    assert_eq!(read_ids(&mut websocket, 3).await, [1, 2, 3]);
}
