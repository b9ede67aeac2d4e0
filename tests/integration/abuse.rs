//! Abusive clients meet caps: connections in all and per address, long-lived streams per
//! address, idle keep-alive connections, and chat sessions held in memory.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::client_async;
use tokio_tungstenite::tungstenite::Error as WsError;
use uuid::Uuid;

use crate::chat::ask;
use crate::metrics::{scrape, value};
use crate::support::{TestServer, client, expect_error, get_json, raw_exchange};

const GET_HEALTH: &[u8] = b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n";

/// A connection that has said nothing yet; the server counts it from accept.
async fn idle_connection(addr: SocketAddr) -> TcpStream {
    TcpStream::connect(addr).await.unwrap()
}

/// Retries (bounded) until a fresh connection is served again: closes are noticed
/// asynchronously.
async fn until_served(addr: SocketAddr) {
    for _ in 0..200 {
        if raw_exchange(addr, GET_HEALTH)
            .await
            .starts_with("HTTP/1.1 200")
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("a freed connection place was never reused");
}

fn status_and_error(response: &str) -> (&str, serde_json::Value) {
    let status = response.lines().next().unwrap_or_default();
    let body = response.split("\r\n\r\n").nth(1).unwrap_or_default();
    let error = serde_json::from_str(body).unwrap_or_else(|_| panic!("not JSON: {response:?}"));
    (status, error)
}

#[tokio::test]
async fn connections_past_the_cap_get_503_and_a_freed_place_is_taken_again() {
    let server = TestServer::start_with(|config| {
        config.server.max_connections = 3;
        config.server.max_connections_per_ip = 0;
    })
    .await;
    let first = idle_connection(server.addr).await;
    let _second = idle_connection(server.addr).await;
    let _third = idle_connection(server.addr).await;

    let refused = raw_exchange(server.addr, GET_HEALTH).await;
    let (status, error) = status_and_error(&refused);
    assert_eq!(status, "HTTP/1.1 503 Service Unavailable");
    assert!(
        refused.to_lowercase().contains("retry-after: 1"),
        "{refused}"
    );
    assert!(error["error"].as_str().unwrap().contains("full"), "{error}");

    drop(first);
    until_served(server.addr).await;
    let metrics = scrape(&server).await;
    assert!(value(&metrics, r#"helpyap_refused_total{reason="connections"}"#) >= 1.0);
    assert_eq!(
        value(&metrics, "helpyap_open_connections"),
        3.0,
        "{metrics}"
    );
}

#[tokio::test]
async fn one_address_gets_429_past_its_connections_unless_it_is_a_trusted_proxy() {
    let server = TestServer::start_with(|config| {
        config.server.max_connections_per_ip = 2;
    })
    .await;
    let first = idle_connection(server.addr).await;
    let _second = idle_connection(server.addr).await;
    let refused = raw_exchange(server.addr, GET_HEALTH).await;
    let (status, error) = status_and_error(&refused);
    assert_eq!(status, "HTTP/1.1 429 Too Many Requests");
    assert_eq!(error["error"], "Too many connections from your address");
    drop(first);
    until_served(server.addr).await;

    // A reverse proxy carries many visitors: its connections are not capped per address.
    let proxied = TestServer::start_with(|config| {
        config.server.max_connections_per_ip = 2;
        config.server.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await;
    let _held: Vec<_> = [
        idle_connection(proxied.addr).await,
        idle_connection(proxied.addr).await,
    ]
    .into();
    assert!(
        raw_exchange(proxied.addr, GET_HEALTH)
            .await
            .starts_with("HTTP/1.1 200")
    );
}

async fn open_sse(server: &TestServer, forwarded_for: Option<&str>) -> reqwest::Response {
    let mut request = client().get(server.url("/api/widget/salespop/stream?project=demo"));
    if let Some(address) = forwarded_for {
        request = request.header("x-forwarded-for", address);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn streams_per_address_are_capped_across_chat_sse_and_websockets() {
    let server = TestServer::start_with(|config| {
        config.server.max_streams_per_ip = 2;
        config.server.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await;
    let sse = open_sse(&server, None).await;
    assert_eq!(sse.status(), 200);
    let ws_url = format!("ws://{}/api/widget/salespop/ws?project=demo", server.addr);
    let stream = TcpStream::connect(server.addr).await.unwrap();
    let (_ws, _) = client_async(&ws_url, stream).await.unwrap();

    // The third stream of this address, whatever its kind, is refused with a clear error.
    let third = open_sse(&server, None).await;
    assert_eq!(third.headers()["retry-after"], "5");
    let error = expect_error(third, 429).await;
    assert!(error.contains("Too many open streams"), "{error}");
    let stream = TcpStream::connect(server.addr).await.unwrap();
    match client_async(&ws_url, stream).await {
        Err(WsError::Http(response)) => assert_eq!(response.status(), 429),
        other => panic!("expected a 429 handshake, got {other:?}"),
    }
    let chat = ask(&server, Uuid::new_v4(), None, "What is your return policy?").await;
    assert_eq!(chat.status, 429);
    // Requests that are not streams still pass.
    let config = get_json(&server, "/api/widget/config?project=demo").await;
    assert_eq!(config["name"], "Support Bot", "{config}");

    // Another visitor behind the trusted proxy has a quota of its own.
    let other = open_sse(&server, Some("203.0.113.9")).await;
    assert_eq!(other.status(), 200);

    // A stream that ends gives its place back.
    drop(sse);
    let mut reopened = None;
    for _ in 0..200 {
        let response = open_sse(&server, None).await;
        if response.status() == 200 {
            reopened = Some(response);
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        reopened.is_some(),
        "the closed stream's place never came back"
    );
    let metrics = scrape(&server).await;
    assert!(
        value(
            &metrics,
            r#"helpyap_refused_total{reason="streams_per_ip"}"#
        ) >= 3.0
    );
}

#[tokio::test]
async fn a_chat_answer_holds_its_stream_place_only_while_it_streams() {
    let server = TestServer::start_with(|config| {
        config.server.max_streams_per_ip = 1;
    })
    .await;
    // One place: answers one after another all fit, as each gives it back when it ends.
    let session = Uuid::new_v4();
    let first = ask(&server, session, None, "What is your return policy?").await;
    assert_eq!(first.status, 200);
    let token = first.token.clone().unwrap();
    for _ in 0..3 {
        let next = ask(&server, session, Some(&token), "And shipping?").await;
        assert_eq!(next.status, 200, "{:?}", next.text());
    }
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_header_read_timeout() {
    let server = TestServer::start_with(|config| {
        config.server.header_read_timeout = Duration::from_millis(300);
    })
    .await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    // Read the whole response (it has a Content-Length), then nothing more is sent.
    let mut received = Vec::new();
    let mut buf = [0; 4096];
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            let n = stream.read(&mut buf).await.unwrap_or(0);
            if n == 0 {
                return;
            }
            received.extend_from_slice(&buf[..n]);
        }
    })
    .await;
    let received = String::from_utf8_lossy(&received);
    assert!(received.starts_with("HTTP/1.1 200"), "{received}");
    assert!(
        closed.is_ok(),
        "an idle keep-alive connection stayed open 5 s past a 300 ms header timeout"
    );
}

/// Reads (and discards) until the server closes `stream`; how long that took, or `None` if it
/// stayed open for `limit`.
async fn time_until_closed(stream: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let started = tokio::time::Instant::now();
    let mut buf = [0; 4096];
    tokio::time::timeout(limit, async {
        while stream.read(&mut buf).await.unwrap_or(0) > 0 {}
    })
    .await
    .ok()
    .map(|()| started.elapsed())
}

const HEADER_READ_TIMEOUT: Duration = Duration::from_millis(300);
/// What closing may take past its timeout: the graceful close's own bound (1 s) and scheduling.
const CLOSE_MARGIN: Duration = Duration::from_millis(1500);

#[tokio::test]
async fn connections_that_never_send_a_request_head_are_closed_after_the_header_read_timeout() {
    let server = TestServer::start_with(|config| {
        config.server.header_read_timeout = HEADER_READ_TIMEOUT;
    })
    .await;
    let h2_preface_and_settings = [H2_PREFACE, &frame(0x4, 0, 0, &[])].concat();
    for (sent, what) in [
        (&b""[..], "a silent connection"),
        (b"P", "the first byte of the HTTP/2 preface"),
        (b"PRI * HTTP/2.0\r\n", "half the HTTP/2 preface"),
        (
            &h2_preface_and_settings,
            "the HTTP/2 preface and settings, but no request",
        ),
        (
            b"GET /healthz HTTP/1.1\r\nhost:",
            "half an HTTP/1.1 request head",
        ),
    ] {
        let mut stream = idle_connection(server.addr).await;
        stream.write_all(sent).await.unwrap();
        let closed = time_until_closed(&mut stream, HEADER_READ_TIMEOUT * 10 + CLOSE_MARGIN).await;
        let closed = closed.unwrap_or_else(|| panic!("{what} stayed open"));
        assert!(
            closed < HEADER_READ_TIMEOUT + CLOSE_MARGIN,
            "{what} was closed only after {closed:?}"
        );
    }
}

#[tokio::test]
async fn a_half_sent_http1_head_is_cut_off_at_the_header_read_timeout_without_grace() {
    let server = TestServer::start_with(|config| {
        config.server.header_read_timeout = HEADER_READ_TIMEOUT;
    })
    .await;
    let mut stream = idle_connection(server.addr).await;
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nhost:")
        .await
        .unwrap();
    let closed = time_until_closed(&mut stream, HEADER_READ_TIMEOUT * 10)
        .await
        .expect("a half-sent head stayed open");
    // The graceful close's second of grace is for HTTP/2; a slow head gets none.
    assert!(
        closed >= HEADER_READ_TIMEOUT && closed < HEADER_READ_TIMEOUT + Duration::from_millis(800),
        "closed after {closed:?}"
    );
}

const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// One HTTP/2 frame.
fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let length = u32::try_from(payload.len()).unwrap().to_be_bytes();
    let mut frame = vec![length[1], length[2], length[3], kind, flags];
    frame.extend_from_slice(&stream.to_be_bytes());
    frame.extend_from_slice(payload);
    frame
}

/// An h2c connection (prior knowledge) that has sent one `GET path` on stream 1, written by
/// hand: HPACK static-table entries for the method and scheme, literals for the rest.
async fn h2c_get(addr: SocketAddr, path: &str) -> TcpStream {
    let mut block = vec![0x82, 0x86]; // :method GET, :scheme http
    for (name_index, value) in [(4u8, path), (1, "x")] {
        block.push(name_index); // literal without indexing, indexed name (:path, :authority)
        block.push(u8::try_from(value.len()).unwrap());
        block.extend_from_slice(value.as_bytes());
    }
    let headers = frame(0x1, 0x4 | 0x1, 1, &block); // END_HEADERS | END_STREAM
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let hello = [H2_PREFACE, &frame(0x4, 0, 0, &[]), &headers].concat();
    stream.write_all(&hello).await.unwrap();
    stream
}

/// The status of the first response on an h2c connection: frames are skipped up to the first
/// HEADERS, whose first byte is an HPACK static-table index (`:status 200` is 8).
async fn response_status(stream: &mut TcpStream) -> u16 {
    loop {
        let mut head = [0; 9];
        stream.read_exact(&mut head).await.unwrap();
        let length = usize::from(head[0]) << 16 | usize::from(head[1]) << 8 | usize::from(head[2]);
        let mut payload = vec![0; length];
        stream.read_exact(&mut payload).await.unwrap();
        if head[3] == 0x1 {
            return match payload[0] {
                0x88 => 200,
                0x8d => 404,
                other => panic!("unexpected first header byte {other:#x}"),
            };
        }
    }
}

#[tokio::test]
async fn an_h2c_connection_with_no_open_stream_is_closed_after_the_idle_timeout() {
    const IDLE: Duration = Duration::from_millis(600);
    let server = TestServer::start_with(|config| {
        config.server.header_read_timeout = HEADER_READ_TIMEOUT;
        config.server.idle_timeout = IDLE;
    })
    .await;
    // A request answered at once: then nothing is in flight, and the idle timeout runs.
    let mut answered = h2c_get(server.addr, "/healthz").await;
    let closed = time_until_closed(&mut answered, IDLE * 10 + CLOSE_MARGIN).await;
    let closed = closed.expect("an idle h2c connection stayed open");
    assert!(
        closed >= IDLE && closed < IDLE + CLOSE_MARGIN,
        "closed after {closed:?}, idle timeout {IDLE:?}"
    );

    // A popup stream stays open: its connection is not idle however long it lasts.
    let mut streaming = h2c_get(server.addr, "/api/widget/salespop/stream?project=demo").await;
    assert_eq!(response_status(&mut streaming).await, 200);
    let open = time_until_closed(&mut streaming, IDLE * 4).await;
    assert_eq!(
        open, None,
        "a connection with an open stream was closed as idle"
    );
}

#[tokio::test]
async fn sessions_in_memory_are_capped_and_evicted_sessions_carry_on() {
    let server = TestServer::start_with(|config| {
        config.chat.max_sessions_in_memory = 2;
    })
    .await;
    let mut sessions = Vec::new();
    for _ in 0..5 {
        let session = Uuid::new_v4();
        let answer = ask(&server, session, None, "What is your return policy?").await;
        assert_eq!(answer.status, 200);
        sessions.push((session, answer.token.unwrap()));
    }
    let metrics = scrape(&server).await;
    let live = value(&metrics, "helpyap_live_session_actors");
    assert!(
        (1.0..=2.0).contains(&live),
        "{live} session actors in memory"
    );

    // The first session was evicted; it answers again and keeps its whole transcript.
    let (session, token) = &sessions[0];
    let again = ask(
        &server,
        *session,
        Some(token),
        "How long does shipping take?",
    )
    .await;
    assert_eq!(again.status, 200);
    assert!(again.token.is_none(), "an evicted session is not a new one");
    let transcript = client()
        .get(server.url(&format!(
            "/api/widget/session?project=demo&sessionId={session}"
        )))
        .header("x-session-token", token.as_str())
        .send()
        .await
        .unwrap();
    assert_eq!(transcript.status(), 200);
    let transcript: serde_json::Value = transcript.json().await.unwrap();
    assert_eq!(
        transcript["messages"].as_array().unwrap().len(),
        4,
        "{transcript}"
    );
}

#[tokio::test]
async fn idle_session_actors_are_reaped_and_come_back_on_demand() {
    let server = TestServer::start_with(|config| {
        config.chat.session_idle_timeout = Duration::from_millis(200);
    })
    .await;
    let session = Uuid::new_v4();
    let first = ask(&server, session, None, "What is your return policy?").await;
    assert_eq!(first.status, 200);
    let token = first.token.unwrap();
    let live = || async { value(&scrape(&server).await, "helpyap_live_session_actors") };
    assert_eq!(live().await, 1.0);
    let mut reaped = false;
    for _ in 0..100 {
        if live().await == 0.0 {
            reaped = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(reaped, "an idle session actor was never stopped");
    let again = ask(&server, session, Some(&token), "And shipping?").await;
    assert_eq!(again.status, 200);
    assert!(
        again.token.is_none(),
        "the session came back from the store, not new"
    );
}
