//! Live social proof: WebSocket, SSE and polling deliver every pushed event to the visitors of
//! its project, replay what a reconnecting visitor missed, and drop visitors who stop reading.

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::{WebSocketStream, client_async};

use crate::support::{
    DEMO_SECRET, OTHER_SECRET, TestServer, client, expect_error, get_json, health, push,
};

/// How fast a pushed event must reach a live visitor.
const DELIVERY: Duration = Duration::from_secs(1);
/// How long other waits may take before the test calls the message lost (CI machines are busy).
const PATIENCE: Duration = Duration::from_secs(5);

pub(crate) type Ws = WebSocketStream<TcpStream>;

pub(crate) async fn ws(server: &TestServer, query: &str) -> Ws {
    let stream = TcpStream::connect(server.addr).await.unwrap();
    let url = format!("ws://{}/api/widget/salespop/ws?{query}", server.addr);
    let (socket, response) = client_async(url, stream).await.unwrap();
    assert_eq!(response.status(), 101);
    socket
}

/// The next text message as JSON; pings are answered by tungstenite as we read.
pub(crate) async fn ws_next(socket: &mut Ws) -> Value {
    ws_next_within(socket, PATIENCE).await
}

pub(crate) async fn ws_next_within(socket: &mut Ws, limit: Duration) -> Value {
    loop {
        let message = tokio::time::timeout(limit, socket.next())
            .await
            .expect("no message in time")
            .expect("socket ended")
            .unwrap();
        match message {
            Message::Text(text) => return serde_json::from_str(&text).unwrap(),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("unexpected message {other:?}"),
        }
    }
}

/// An SSE response read frame by frame.
pub(crate) struct Sse {
    response: reqwest::Response,
    pending: String,
}

#[derive(Debug, Default)]
pub(crate) struct Frame {
    pub id: Option<String>,
    pub event: Option<String>,
    pub retry: Option<String>,
    pub data: Option<String>,
}

impl Sse {
    pub(crate) async fn open(server: &TestServer, query: &str, last_event_id: Option<&str>) -> Sse {
        let mut request = client().get(server.url(&format!("/api/widget/salespop/stream?{query}")));
        if let Some(id) = last_event_id {
            request = request.header("Last-Event-ID", id);
        }
        Sse::of(request.send().await.unwrap())
    }

    /// Reads `response`, which must be a 200 event stream.
    pub(crate) fn of(response: reqwest::Response) -> Sse {
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        Sse {
            response,
            pending: String::new(),
        }
    }

    /// The JSON of the next `data:` frame, within `limit`.
    pub(crate) async fn next_json_within(&mut self, limit: Duration) -> Value {
        let next = async {
            loop {
                if let Some(data) = self.next().await.expect("stream ended").data {
                    return serde_json::from_str(&data).unwrap();
                }
            }
        };
        tokio::time::timeout(limit, next)
            .await
            .expect("no news in time")
    }

    /// The next frame that is not a comment; `None` when the stream ended.
    pub(crate) async fn next(&mut self) -> Option<Frame> {
        loop {
            if let Some(end) = self.pending.find("\n\n") {
                let block: String = self.pending.drain(..end + 2).collect();
                let mut frame = Frame::default();
                for line in block.lines() {
                    let (field, value) = line.split_once(": ").unwrap_or((line, ""));
                    let value = Some(value.to_owned());
                    match field {
                        "id" => frame.id = value,
                        "event" => frame.event = value,
                        "retry" => frame.retry = value,
                        "data" => frame.data = value,
                        _ => {}
                    }
                }
                if frame.id.is_some()
                    || frame.event.is_some()
                    || frame.retry.is_some()
                    || frame.data.is_some()
                {
                    return Some(frame);
                }
                continue;
            }
            let chunk = tokio::time::timeout(PATIENCE, self.response.chunk())
                .await
                .expect("no frame in time")
                .ok()??;
            self.pending.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    }

    /// The next event frame's id and JSON.
    pub(crate) async fn next_event(&mut self) -> (String, Value) {
        loop {
            let frame = self.next().await.expect("stream ended");
            if let (Some(id), Some(data), None) = (&frame.id, &frame.data, &frame.event) {
                return (id.clone(), serde_json::from_str(data).unwrap());
            }
        }
    }
}

pub(crate) async fn push_named(server: &TestServer, project: &str, name: &str) -> String {
    let secret = if project == "demo" {
        DEMO_SECRET
    } else {
        OTHER_SECRET
    };
    let response = push(
        server,
        secret,
        json!({ "project": project, "type": "purchased", "name": name, "location": "Austin, TX", "product": "Pro Plan" }),
    )
    .await;
    assert_eq!(response.status(), 201);
    response.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

pub(crate) async fn poll(server: &TestServer, query: &str) -> Value {
    let response = client()
        .get(server.url(&format!("/api/widget/salespop?{query}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

async fn live_streams(server: &TestServer) -> u64 {
    health(server).await["liveStreams"].as_u64().unwrap()
}

/// Waits (bounded) until the server counts `wanted` live streams.
async fn until_live_streams(server: &TestServer, wanted: u64) {
    for _ in 0..400 {
        if live_streams(server).await == wanted {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!(
        "live streams never reached {wanted}, still {}",
        live_streams(server).await
    );
}

#[tokio::test]
async fn websocket_and_sse_visitors_get_a_pushed_event_within_a_second() {
    let server = TestServer::start().await;
    let mut socket = ws(&server, "project=demo").await;
    let mut sse = Sse::open(&server, "project=demo", None).await;
    let first = sse.next().await.unwrap();
    assert_eq!(
        first.retry.as_deref(),
        Some("3000"),
        "SSE starts with the reconnect delay"
    );
    until_live_streams(&server, 2).await;

    let id = push_named(&server, "demo", "Sarah K.").await;
    let over_ws = ws_next_within(&mut socket, DELIVERY).await;
    let (sse_id, over_sse) = tokio::time::timeout(DELIVERY, sse.next_event())
        .await
        .expect("SSE delivery within a second");
    assert_eq!(over_ws, over_sse, "the same JSON on every channel");
    assert_eq!(sse_id, id);
    assert_eq!(over_ws["id"], id);
    assert_eq!(over_ws["type"], "purchased");
    assert_eq!(over_ws["name"], "Sarah K.");
    assert_eq!(over_ws["location"], "Austin, TX");
    assert_eq!(over_ws["product"], "Pro Plan");
    assert_eq!(over_ws["message"], Value::Null);
    assert!(over_ws["createdAt"].as_str().unwrap().ends_with('Z'));
    let polled = poll(&server, "project=demo&since=0").await;
    assert_eq!(polled["events"], json!([over_ws]));
    assert_eq!(polled["lastId"], id);
    assert_eq!(polled["reset"], false);
}

#[tokio::test]
async fn sse_is_served_alike_on_a_fresh_connection_and_after_other_requests_on_one() {
    let server = TestServer::start().await;
    let stream = server.url("/api/widget/salespop/stream?project=demo");
    // A stream asked for as a connection's first request is written outside hyper, and ends
    // the connection with it.
    let fresh = client().get(&stream).send().await.unwrap();
    assert_eq!(fresh.headers()["connection"], "close");
    // One asked for on a kept-alive connection, after another request, is hyper's.
    let kept_alive = client();
    let config = kept_alive
        .get(server.url("/api/widget/config?project=demo"))
        .send()
        .await
        .unwrap();
    assert_eq!(config.status(), 200);
    config.bytes().await.unwrap();
    let reused = kept_alive
        .get(&stream)
        .header("Last-Event-ID", "0")
        .send()
        .await
        .unwrap();
    assert!(!reused.headers().contains_key("connection"));
    for response in [&fresh, &reused] {
        assert!(response.headers().contains_key("date"));
        assert_eq!(response.headers()["cache-control"], "no-cache");
        assert!(response.headers().contains_key("x-ratelimit-remaining"));
    }
    let mut streams = [Sse::of(fresh), Sse::of(reused)];
    for sse in &mut streams {
        assert_eq!(sse.next().await.unwrap().retry.as_deref(), Some("3000"));
    }
    until_live_streams(&server, 2).await;
    for name in ["a", "b"] {
        let id = push_named(&server, "demo", name).await;
        for sse in &mut streams {
            let (got, event) = tokio::time::timeout(DELIVERY, sse.next_event())
                .await
                .expect("delivered within a second");
            assert_eq!(
                (got.as_str(), event["name"].as_str()),
                (id.as_str(), Some(name))
            );
        }
    }
    drop(streams);
    until_live_streams(&server, 0).await;
}

#[tokio::test]
async fn reconnecting_with_the_last_id_misses_nothing_and_repeats_nothing_across_a_restart() {
    let server = TestServer::start().await;
    for name in ["a", "b", "c"] {
        push_named(&server, "demo", name).await;
    }
    let server = server.restart().await;
    let mut socket = ws(&server, "project=demo&since=1").await;
    assert_eq!(ws_next(&mut socket).await["name"], "b");
    assert_eq!(ws_next(&mut socket).await["name"], "c");
    let mut sse = Sse::open(&server, "project=demo&since=0", Some("2")).await;
    let (id, event) = sse.next_event().await;
    assert_eq!(
        (id.as_str(), event["name"].as_str()),
        ("3", Some("c")),
        "Last-Event-ID wins over since"
    );
    until_live_streams(&server, 2).await;

    assert_eq!(
        push_named(&server, "demo", "d").await,
        "4",
        "ids keep counting after a restart"
    );
    assert_eq!(
        ws_next(&mut socket).await["id"],
        "4",
        "no duplicate, no gap"
    );
    assert_eq!(sse.next_event().await.0, "4");
    let polled = poll(&server, "project=demo&since=2").await;
    let ids: Vec<&str> = polled["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["3", "4"]);
    assert_eq!(
        poll(&server, "project=demo").await["events"],
        json!([]),
        "no since: nothing to replay"
    );
    assert_eq!(poll(&server, "project=demo").await["lastId"], "4");
}

#[tokio::test]
async fn events_of_one_project_never_reach_the_visitors_of_another() {
    let server = TestServer::start().await;
    let mut other = ws(&server, "project=other").await;
    let mut other_sse = Sse::open(&server, "project=other", None).await;
    let mut demo = ws(&server, "project=demo").await;
    until_live_streams(&server, 3).await;
    push_named(&server, "demo", "demo visitor").await;
    push_named(&server, "other", "other visitor").await;
    assert_eq!(ws_next(&mut demo).await["name"], "demo visitor");
    assert_eq!(ws_next(&mut other).await["name"], "other visitor");
    assert_eq!(other_sse.next_event().await.1["name"], "other visitor");
    assert_eq!(
        poll(&server, "project=other&since=0").await["events"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn a_visitor_whose_id_fell_out_of_the_window_is_told_history_was_reset() {
    let server = TestServer::start_with(|config| config.social_proof.retain_events = 2).await;
    for name in ["a", "b", "c", "d"] {
        push_named(&server, "demo", name).await;
    }
    let mut socket = ws(&server, "project=demo&since=1").await;
    let reset = ws_next(&mut socket).await;
    assert_eq!(reset["type"], "reset");
    assert_eq!(reset["lastId"], "4");
    assert_eq!(ws_next(&mut socket).await["id"], "3");
    assert_eq!(ws_next(&mut socket).await["id"], "4");

    let mut sse = Sse::open(&server, "project=demo&since=1", None).await;
    sse.next().await.unwrap(); // retry
    let reset = sse.next().await.unwrap();
    assert_eq!(reset.event.as_deref(), Some("reset"));
    assert_eq!(sse.next_event().await.0, "3");

    let polled = poll(&server, "project=demo&since=1").await;
    assert_eq!(polled["reset"], true);
    assert_eq!(polled["events"].as_array().unwrap().len(), 2);
    assert_eq!(
        poll(&server, "project=demo&since=2").await["reset"],
        false,
        "2 was seen, 3 and 4 are kept"
    );
    assert_eq!(
        poll(&server, "project=demo&since=99").await["reset"],
        true,
        "an id from another history"
    );
}

#[tokio::test]
async fn bad_requests_get_clear_errors_on_every_channel() {
    let server = TestServer::start().await;
    for path in ["/api/widget/salespop", "/api/widget/salespop/stream"] {
        let get = |query: &str| client().get(server.url(&format!("{path}?{query}"))).send();
        expect_error(get("").await.unwrap(), 400).await;
        expect_error(get("project=nope").await.unwrap(), 404).await;
        expect_error(get("project=demo&since=abc").await.unwrap(), 400).await;
        expect_error(get("project=demo&since=-1").await.unwrap(), 400).await;
    }
    let plain_get = client()
        .get(server.url("/api/widget/salespop/ws?project=demo"))
        .send()
        .await
        .unwrap();
    assert!(expect_error(plain_get, 400).await.contains("WebSocket"));
    let stream = TcpStream::connect(server.addr).await.unwrap();
    let url = format!("ws://{}/api/widget/salespop/ws?project=nope", server.addr);
    match client_async(url, stream).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 404)
        }
        other => panic!("expected a 404 handshake, got {other:?}"),
    }
}

#[tokio::test]
async fn subscriber_caps_answer_503_and_free_up_when_visitors_leave() {
    let server =
        TestServer::start_with(|config| config.social_proof.max_subscribers_per_project = 1).await;
    let socket = ws(&server, "project=demo").await;
    until_live_streams(&server, 1).await;
    let response = client()
        .get(server.url("/api/widget/salespop/stream?project=demo"))
        .send()
        .await
        .unwrap();
    assert!(response.headers().contains_key("retry-after"));
    expect_error(response, 503).await;
    // Another project has its own allowance.
    let _other = ws(&server, "project=other").await;
    drop(socket);
    until_live_streams(&server, 1).await;
    let _again = ws(&server, "project=demo").await;
}

/// A WebSocket visitor of `demo` with a tiny receive window (4 KiB), so what it does not read
/// soon backs up into the server.
async fn narrow_ws(server: &TestServer) -> Ws {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket.connect(server.addr).await.unwrap();
    let url = format!("ws://{}/api/widget/salespop/ws?project=demo", server.addr);
    client_async(url, stream).await.unwrap().0
}

/// Pushes `n` events of ~1.2 KB of JSON each (280 four-byte characters) to `demo`, 20 at a time.
async fn push_big_events(server: &TestServer, n: usize) {
    let big = "🎉".repeat(280);
    for _ in 0..n / 20 {
        let pushes = (0..20).map(|_| {
            push(
                server,
                DEMO_SECRET,
                json!({ "project": "demo", "type": "custom", "message": big }),
            )
        });
        for response in futures_util::future::join_all(pushes).await {
            assert_eq!(response.status(), 201);
        }
    }
}

#[tokio::test]
async fn a_stalled_reader_is_dropped_while_others_get_every_event_and_pushes_never_wait() {
    const EVENTS: usize = 400;
    let server = TestServer::start_with(|config| {
        config.rate_limits.push.requests = 10_000;
        config.server.write_stall_timeout = Duration::from_secs(5);
    })
    .await;
    // A visitor that opens the socket and never reads again.
    let _stalled = narrow_ws(&server).await;
    let mut fast = ws(&server, "project=demo").await;
    until_live_streams(&server, 2).await;

    let reader = tokio::spawn(async move {
        let mut ids = Vec::new();
        while ids.len() < EVENTS {
            // Not a latency check: pushes come in batches, and CI machines are busy.
            let event = ws_next_within(&mut fast, Duration::from_secs(15)).await;
            ids.push(event["id"].as_str().unwrap().parse::<usize>().unwrap());
        }
        ids
    });
    push_big_events(&server, EVENTS).await;
    assert_eq!(
        reader.await.unwrap(),
        (1..=EVENTS).collect::<Vec<_>>(),
        "every event, in order"
    );
    // ~500 KB went to a reader with a 4 KiB window through a 128 KiB send buffer: its writes
    // stall and it is dropped.
    until_live_streams(&server, 0).await;
}

#[tokio::test]
async fn a_visitor_that_falls_a_queue_behind_is_closed_with_1013_and_resumes_without_loss() {
    const EVENTS: usize = 300;
    let server = TestServer::start_with(|config| {
        config.rate_limits.push.requests = 10_000;
        config.social_proof.subscriber_queue = 8;
        // Lag, not a stalled write, must be what drops it.
        config.server.write_stall_timeout = Duration::from_secs(60);
    })
    .await;
    let mut lagging = narrow_ws(&server).await;
    until_live_streams(&server, 1).await;

    // ~360 KB while it does not read: its socket fills, its task waits on the write, and the
    // events behind it overflow its queue of 8.
    push_big_events(&server, EVENTS).await;

    // Reading again: what was written arrives in order, then a close saying "try again".
    let mut ids = Vec::new();
    let close = loop {
        let message = tokio::time::timeout(PATIENCE, lagging.next())
            .await
            .expect("neither events nor a close came")
            .expect("ended without a close frame")
            .unwrap();
        match message {
            Message::Text(text) => {
                let event: Value = serde_json::from_str(&text).unwrap();
                ids.push(event["id"].as_str().unwrap().parse::<usize>().unwrap());
            }
            Message::Close(frame) => break frame.expect("a close code"),
            _ => continue,
        }
    };
    assert_eq!(close.code, CloseCode::Again, "{close:?}");
    assert!(
        ids.len() < EVENTS,
        "it was never behind: got all {} events",
        ids.len()
    );
    assert_eq!(
        ids,
        (1..=ids.len()).collect::<Vec<_>>(),
        "in order, no gaps"
    );

    // Reconnecting with its last id, it gets exactly the rest.
    let last = ids.last().copied().unwrap_or(0);
    let mut resumed = ws(&server, &format!("project=demo&since={last}")).await;
    for expected in last + 1..=EVENTS {
        let event = ws_next(&mut resumed).await;
        assert_eq!(event["id"], expected.to_string());
    }
}

#[tokio::test]
async fn a_peer_that_stops_answering_pings_is_dropped() {
    let server = TestServer::start_with(|config| {
        config.social_proof.keep_alive = Duration::from_millis(200)
    })
    .await;
    let mut answering = ws(&server, "project=demo").await;
    let _silent = ws(&server, "project=demo").await;
    until_live_streams(&server, 2).await;
    // Reading answers pings; the silent peer never reads, so never answers.
    let keep_reading = tokio::spawn(async move {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
        while let Ok(Some(Ok(_))) = tokio::time::timeout_at(deadline, answering.next()).await {}
        answering
    });
    until_live_streams(&server, 1).await;
    let mut answering = keep_reading.await.unwrap();
    push_named(&server, "demo", "still here").await;
    assert_eq!(ws_next(&mut answering).await["name"], "still here");
}

#[tokio::test]
async fn shutdown_closes_websockets_with_1001_and_ends_sse_streams() {
    let mut server = TestServer::start().await;
    let mut socket = ws(&server, "project=demo").await;
    let mut sse = Sse::open(&server, "project=demo", None).await;
    sse.next().await.unwrap();
    until_live_streams(&server, 2).await;
    server.begin_shutdown();
    let close = loop {
        match tokio::time::timeout(PATIENCE, socket.next()).await.unwrap() {
            Some(Ok(Message::Close(frame))) => break frame.unwrap(),
            Some(Ok(_)) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    };
    assert_eq!(close.code, CloseCode::Away);
    let _ = socket.close(None).await;
    assert!(sse.next().await.is_none(), "the SSE stream ends");
    tokio::time::timeout(Duration::from_secs(5), server.stop())
        .await
        .expect("shutdown waits for nothing")
        .unwrap();
}

#[tokio::test]
async fn pages_from_sites_outside_the_allowed_origins_get_403_on_every_widget_endpoint() {
    let server = TestServer::start_with(|config| {
        config.projects[0].allowed_origins = vec!["https://Shop.example".into()];
    })
    .await;
    let get = |path: &str, origin: Option<&'static str>| {
        let mut request = client().get(server.url(path));
        if let Some(origin) = origin {
            request = request.header("Origin", origin);
        }
        request.send()
    };
    let paths = [
        "/api/widget/config?project=demo",
        "/api/widget/salespop?project=demo",
        "/api/widget/salespop/stream?project=demo",
    ];
    for path in paths {
        let refused = get(path, Some("https://evil.example")).await.unwrap();
        assert!(
            expect_error(refused, 403).await.contains("not allowed"),
            "{path}"
        );
        let allowed = get(path, Some("https://shop.example")).await.unwrap();
        assert_eq!(allowed.status(), 200, "{path}");
        let no_origin = get(path, None).await.unwrap();
        assert_eq!(
            no_origin.status(),
            200,
            "{path}: servers and curl send no Origin"
        );
    }
    let other = get(
        "/api/widget/config?project=other",
        Some("https://evil.example"),
    )
    .await
    .unwrap();
    assert_eq!(other.status(), 200, "an empty list allows every site");

    let chat = client()
        .post(server.url("/api/chat"))
        .header("Origin", "https://evil.example")
        .json(&json!({
            "projectSlug": "demo",
            "sessionId": "550e8400-e29b-41d4-a716-446655440000",
            "messages": [{ "role": "user", "content": "hi" }],
        }))
        .send()
        .await
        .unwrap();
    expect_error(chat, 403).await;

    let stream = TcpStream::connect(server.addr).await.unwrap();
    let mut request =
        tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(format!(
            "ws://{}/api/widget/salespop/ws?project=demo",
            server.addr
        ))
        .unwrap();
    request
        .headers_mut()
        .insert("Origin", "https://evil.example".parse().unwrap());
    match client_async(request, stream).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 403)
        }
        other => panic!("expected a 403 handshake, got {other:?}"),
    }
}

#[tokio::test]
async fn stats_count_recent_events_per_type_even_beyond_the_replay_window() {
    let server = TestServer::start_with(|config| config.social_proof.retain_events = 2).await;
    for kind in ["signed_up", "signed_up", "signed_up", "purchased"] {
        let response = push(
            &server,
            DEMO_SECRET,
            json!({ "project": "demo", "type": kind }),
        )
        .await;
        assert_eq!(response.status(), 201);
    }
    push_named(&server, "other", "elsewhere").await;
    let stats = |query: &'static str| {
        let url = server.url(&format!("/api/widget/salespop/stats?{query}"));
        async move { client().get(url).send().await.unwrap() }
    };
    let body: Value = stats("project=demo").await.json().await.unwrap();
    assert_eq!(body["window"], "1day");
    assert_eq!(
        body["counts"]["signed_up"], 3,
        "counted although only two events are kept"
    );
    assert_eq!(body["counts"]["purchased"], 1);
    assert_eq!(body["counts"]["added_to_cart"], 0);
    assert_eq!(body["total"], 4);
    let body: Value = stats("project=demo&window=90m").await.json().await.unwrap();
    assert_eq!(body["window"], "2h", "rounded up to whole hours");
    assert_eq!(body["total"], 4);
    let server = server.restart().await;
    let body: Value = get_json(
        &server,
        "/api/widget/salespop/stats?project=demo&window=7days",
    )
    .await;
    assert_eq!(body["total"], 4, "counts are durable");
    for (query, status) in [
        ("project=demo&window=forever", 400),
        ("project=demo&window=60days", 400),
        ("project=nope", 404),
        ("window=1h", 400),
    ] {
        let url = server.url(&format!("/api/widget/salespop/stats?{query}"));
        expect_error(client().get(url).send().await.unwrap(), status).await;
    }
}

#[tokio::test]
async fn a_visitor_sending_an_oversized_frame_is_disconnected() {
    let server = TestServer::start().await;
    let mut socket = ws(&server, "project=demo").await;
    until_live_streams(&server, 1).await;
    futures_util::SinkExt::send(&mut socket, Message::text("x".repeat(8 * 1024)))
        .await
        .unwrap();
    until_live_streams(&server, 0).await;
}

/// The ETag `GET /api/widget/config` answers with now.
async fn config_etag(server: &TestServer) -> String {
    let response = client()
        .get(server.url("/api/widget/config?project=demo"))
        .send()
        .await
        .unwrap();
    response.headers()["etag"].to_str().unwrap().to_owned()
}

#[tokio::test]
async fn saved_settings_are_announced_to_open_widgets_on_every_live_channel() {
    let server = TestServer::start().await;
    let mut socket = ws(&server, "project=demo").await;
    let mut sse = Sse::open(&server, "project=demo", None).await;
    let mut other = ws(&server, "project=other").await;
    until_live_streams(&server, 3).await;
    let before = config_etag(&server).await;

    let owner = server.owner("owner@example.com").await;
    let mut settings = owner.get("/api/admin/projects/demo").expect(200).await;
    settings["welcomeMessage"] = json!("Hello again! Ask us anything.");
    owner
        .put("/api/admin/projects/demo", settings.clone())
        .expect(200)
        .await;
    let after = config_etag(&server).await;
    assert_ne!(before, after);
    let told = json!({"type": "config", "etag": after});
    assert_eq!(ws_next(&mut socket).await, told);
    let frame = loop {
        let frame = tokio::time::timeout(PATIENCE, sse.next())
            .await
            .expect("the SSE visitor is told in time")
            .expect("the stream stays open");
        if frame.event.is_some() {
            break frame;
        }
    };
    assert_eq!(frame.event.as_deref(), Some("config"));
    assert_eq!(frame.id, None, "Last-Event-ID stays the last event's");
    let data: Value = serde_json::from_str(frame.data.as_deref().unwrap()).unwrap();
    assert_eq!(data, told);

    // Saving the same settings again changes nothing, so nothing is said; the next event is
    // the next thing every channel hears. Another project's visitors hear neither.
    owner
        .put("/api/admin/projects/demo", settings)
        .expect(200)
        .await;
    let id = push_named(&server, "demo", "Noor").await;
    assert_eq!(ws_next(&mut socket).await["id"], json!(id));
    assert_eq!(sse.next_json_within(PATIENCE).await["id"], json!(id));
    let quiet = tokio::time::timeout(Duration::from_millis(300), other.next()).await;
    assert!(quiet.is_err(), "another project's visitor heard {quiet:?}");

    // A widget that (re)connects with the config it has is told at once when it is stale —
    // settings saved while it was away are not missed — and not when it is current.
    let encode = |etag: &str| etag.replace('"', "%22");
    let mut stale = ws(&server, &format!("project=demo&config={}", encode(&before))).await;
    assert_eq!(ws_next(&mut stale).await, told);
    let mut stale_sse = Sse::open(
        &server,
        &format!("project=demo&config={}", encode(&before)),
        None,
    )
    .await;
    assert_eq!(stale_sse.next_json_within(PATIENCE).await, told);
    let mut current = ws(&server, &format!("project=demo&config={}", encode(&after))).await;
    let id = push_named(&server, "demo", "Ines").await;
    assert_eq!(
        ws_next(&mut current).await["id"],
        json!(id),
        "no config message first"
    );
}
