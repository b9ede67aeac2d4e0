//! `GET /api/widget/salespop/ws?project=SLUG&since=ID`: social-proof events over WebSocket,
//! the widget's first choice.
//!
//! The subscription is taken before the upgrade, so an unknown project (404), a bad `since`
//! (400) or full caps (503) are plain HTTP errors. Then each event is one text message with the
//! same JSON as SSE and polling, preceded by `{"type":"reset",…}` when `since` no longer
//! matches the history kept, and `{"type":"config","etag":…}` when the owner saved new widget
//! settings. On a plain socket (not TLS) the project's writer (`fanout`) writes the live
//! events, framed once for every visitor, and this task keeps the rest: the replay, pings,
//! settings, the close, and flushing what the kernel did not take at once. Over TLS this task
//! writes them itself, events queued together in one write. The server pings every
//! `social_proof.keep_alive` and drops a peer that has not answered the previous ping; a visitor
//! that falls `social_proof.subscriber_queue` events behind is closed with 1013; shutdown closes
//! with 1001. Client messages are read only for pongs and close; frames over 4 KiB end the
//! connection. Once the replay is out, the socket batches small writes (Nagle's algorithm, see
//! `connection::Batching`).

use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use futures_util::{SinkExt, StreamExt};
use helpyap_actors::feed::{LiveEvent, Replay, SubscriberSlot, Subscription};
use hyper::header::{
    CONNECTION, HeaderValue, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_VERSION,
    UPGRADE,
};
use hyper::upgrade::OnUpgrade;
use hyper::{Request, StatusCode};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{broadcast, watch};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

use crate::admission::StreamSlot;
use crate::connection::Batching;
use crate::error::ApiError;
use crate::fanout::{self, Close, First, Format, Writers};
use crate::json::{Body, RequestBody, Response, empty_response};
use crate::preface::Sniffed;
use crate::router::AppState;
use crate::routes::salespop_stream::{config_json, reset_json};
use crate::server::{Http1Io, Io};
use crate::tracker::LiveGuard;

/// Largest frame or message a visitor may send; it has nothing to say beyond pongs and close.
const MAX_CLIENT_FRAME: usize = 4096;
/// Initial read buffer and read chunk: pongs and close frames are a few bytes, and this is
/// allocated for every idle visitor (a frame up to `MAX_CLIENT_FRAME` takes more reads).
const READ_BUFFER: usize = 256;
/// Frames are gathered up to this size and written together at the end of a batch; the buffer
/// is allocated only once something is sent.
const WRITE_BATCH: usize = 4096;
/// How long a close handshake may take before the socket is simply dropped.
pub(crate) const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

#[utoipa::path(
    get, path = "/api/widget/salespop/ws", tag = "social proof",
    params(("project" = String, Query, example = "demo", description = "The project's slug"), ("since" = Option<u64>, Query, description = "The last event id seen"),
        ("page" = Option<String>, Query, description = "The path of the visitor's page, counted for `viewers`"),
        ("config" = Option<String>, Query, description = "The `ETag` of the widget config the client has: told at once (`config`) when it is no longer the project's"),
        ("Upgrade" = String, Header, description = "`websocket`"),
        ("Sec-WebSocket-Key" = String, Header, description = "The WebSocket handshake key"),
        ("Sec-WebSocket-Version" = String, Header, description = "`13`")),
    responses(
        (status = 101, description = "A WebSocket: each event as one text message"),
        (status = 400, description = "Not a WebSocket handshake, or a bad parameter", body = crate::error::ErrorBody),
    )
)]
pub async fn get(
    state: &AppState,
    client: IpAddr,
    mut request: Request<RequestBody>,
) -> Result<Response<Body>, ApiError> {
    let key = handshake_key(&request)?;
    let project = super::widget_project(state, &request).await?;
    let since = super::since_param(&request)?;
    let page = super::page_param(request.uri()).unwrap_or_default(); // optional: a bad one is not counted
    let slot = state.open_stream(client)?;
    let mut subscription = state
        .engine
        .projects
        .subscribe(&project, since, page)
        .await?;
    super::tell_if_config_changed(request.uri(), &mut subscription);
    // The visitor's task is `serve` itself, which takes the socket over: a wrapper around it
    // would keep a second copy of everything it was given, for every idle visitor.
    let Subscription {
        replay,
        live,
        settings,
        slot: counted,
    } = subscription;
    let visitor = Visitor {
        replay,
        live: Some(live),
        settings,
        _counted: counted,
        keep_alive: state.live_settings.keep_alive,
        project,
        writers: state.popup_writers.clone(),
        _slot: slot,
        _guard: state.live.guard(),
    };
    tokio::spawn(serve(
        hyper::upgrade::on(&mut request),
        visitor,
        state.live.shutting_down(),
    ));
    Ok(handshake_response(&key))
}

/// Answers the handshake (101) and, once hyper hands the connection over, runs `serve` on the
/// socket in a task of its own.
pub(crate) fn upgrade<F, Served>(
    request: &mut Request<RequestBody>,
    key: &str,
    serve: F,
) -> Response<Body>
where
    F: FnOnce(Socket) -> Served + Send + 'static,
    Served: Future<Output = ()> + Send + 'static,
{
    let upgrade = hyper::upgrade::on(request);
    tokio::spawn(async move {
        if let Some(socket) = taken_over(upgrade).await {
            serve(socket).await;
        }
    });
    handshake_response(key)
}

/// The `101` that accepts a WebSocket handshake with `key`.
fn handshake_response(key: &str) -> Response<Body> {
    let mut response = empty_response(StatusCode::SWITCHING_PROTOCOLS);
    let headers = response.headers_mut();
    headers.insert(UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    headers.insert(
        SEC_WEBSOCKET_ACCEPT,
        HeaderValue::from_str(&derive_accept_key(key.as_bytes()))
            .expect("base64 is a valid header"),
    );
    response
}

/// The connection, once hyper has sent the `101` and handed it over, with what hyper had read
/// past the request. It is taken back as the type the server gave hyper, so the socket beneath
/// stays reachable (for [`Batching`] and the popup writer) and reads and writes skip hyper's
/// boxed wrapper.
async fn handed_over(upgrade: OnUpgrade) -> Option<(Sniffed<Box<dyn Io>>, Vec<u8>)> {
    let upgraded = match upgrade.await {
        Ok(upgraded) => upgraded,
        Err(error) => {
            tracing::debug!(%error, "websocket upgrade failed");
            return None;
        }
    };
    let Ok(parts) = upgraded.downcast::<Http1Io>() else {
        tracing::warn!("an upgraded connection was not the server's own HTTP/1 connection");
        return None;
    };
    // Copied, so hyper's read buffer, which `read_buf` shares, is freed now.
    Some((parts.io.into_inner(), parts.read_buf.to_vec()))
}

/// The WebSocket over the connection hyper handed over.
async fn taken_over(upgrade: OnUpgrade) -> Option<Socket> {
    let (mut io, unread) = handed_over(upgrade).await?;
    io.put_back(unread);
    Some(websocket(io).await)
}

/// The server's end of a WebSocket over `io`.
async fn websocket<S: AsyncRead + AsyncWrite + Unpin>(io: S) -> WebSocketStream<S> {
    let config = WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(WRITE_BATCH)
        .max_frame_size(Some(MAX_CLIENT_FRAME))
        .max_message_size(Some(MAX_CLIENT_FRAME));
    WebSocketStream::from_raw_socket(io, Role::Server, Some(config)).await
}

/// The client's `Sec-WebSocket-Key`, after checking this is a WebSocket handshake we speak.
pub(crate) fn handshake_key(request: &Request<RequestBody>) -> Result<String, ApiError> {
    let headers = request.headers();
    let has = |name, wanted: &str| {
        headers.get_all(name).iter().any(|value: &HeaderValue| {
            value.to_str().is_ok_and(|v| {
                v.split(',')
                    .any(|token| token.trim().eq_ignore_ascii_case(wanted))
            })
        })
    };
    if !has(UPGRADE, "websocket") || !has(CONNECTION, "upgrade") {
        return Err(ApiError::invalid(
            "This endpoint speaks WebSocket: send Upgrade: websocket",
        ));
    }
    if headers
        .get(SEC_WEBSOCKET_VERSION)
        .is_none_or(|version| version != "13")
    {
        return Err(ApiError::invalid("Sec-WebSocket-Version must be 13"));
    }
    headers
        .get(SEC_WEBSOCKET_KEY)
        .and_then(|key| key.to_str().ok())
        .filter(|key| !key.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| ApiError::invalid("Sec-WebSocket-Key is required"))
}

pub(crate) type Socket = WebSocketStream<Sniffed<Box<dyn Io>>>;

/// What a popup visitor's socket task holds besides the socket.
struct Visitor {
    replay: Replay,
    /// Taken by whoever sends the live events: this task, or the project's writer.
    live: Option<broadcast::Receiver<Arc<LiveEvent>>>,
    settings: watch::Receiver<Arc<str>>,
    _counted: SubscriberSlot,
    keep_alive: Duration,
    /// The project's slug, which names its writer.
    project: String,
    writers: Arc<Writers>,
    _slot: StreamSlot,
    _guard: LiveGuard,
}

/// Takes the socket over and sends the replay; then every live event goes out until the visitor
/// leaves, falls behind, stops answering pings, or the server shuts down. On a plain socket the
/// project's writer sends the events (`fanout`) and this task flushes what the kernel did not
/// take at once; over TLS this task sends them itself.
async fn serve(upgrade: OnUpgrade, mut visitor: Visitor, shutdown: impl Future<Output = ()>) {
    let Some((io, unread)) = handed_over(upgrade).await else {
        return;
    };
    // Used in place, never moved out: an async fn keeps its arguments for its whole life, and
    // a moved copy would be kept beside them in every idle visitor's task.
    let Visitor {
        replay,
        live,
        settings,
        keep_alive,
        project,
        writers,
        ..
    } = &mut visitor;
    let (keep_alive, live) = (*keep_alive, live.take().expect("taken only here"));
    let mut head = Vec::with_capacity(replay.events.len() + 1);
    if replay.reset {
        head.push(Bytes::from(reset_json(replay.last_id)));
    }
    // Taken, not borrowed: the events may leave the history while the visitor stays.
    head.extend(
        std::mem::take(&mut replay.events)
            .iter()
            .map(|event| event.json.clone()),
    );
    let shutdown = std::pin::pin!(shutdown);
    match io.take_inner(|io| io.into_plain()) {
        Ok(plain) => {
            let mut first = Vec::new();
            for json in head {
                fanout::text_frame(json, &mut first);
            }
            // The writer writes behind the replay, which this task flushes.
            let first = First {
                bytes: first,
                last_id: replay.last_id,
            };
            let io = writers.join(project, plain, unread, live, first, Format::WebSocket);
            let visitor = io.visitor();
            let mut socket = websocket(io).await;
            if socket.flush().await.is_err() {
                return;
            }
            socket.get_ref().batch_small_writes();
            let deliveries = Deliveries::Writer(visitor);
            run(&mut socket, deliveries, settings, keep_alive, shutdown).await;
        }
        Err(mut io) => {
            io.put_back(unread);
            let mut socket = websocket(io).await;
            let head = head
                .into_iter()
                .map(|json| Message::Text(utf8(json)))
                .collect();
            if send_all(&mut socket, head).await.is_err() {
                return;
            }
            socket.get_ref().batch_small_writes();
            let deliveries = Deliveries::Own(live);
            run(&mut socket, deliveries, settings, keep_alive, shutdown).await;
        }
    }
}

/// Where a visitor's live events come from.
enum Deliveries {
    /// Its own receiver, read by its task.
    Own(broadcast::Receiver<Arc<LiveEvent>>),
    /// Its project's writer, which writes them to the socket.
    Writer(Arc<fanout::Visitor>),
}

/// What the visitor's task does next for its live events.
enum Delivery {
    Send(Vec<Message>),
    /// The writer left bytes the kernel did not take.
    Flush,
    Close(Close),
    /// A write failed: the connection is gone.
    Broken,
}

impl Deliveries {
    async fn next(&mut self) -> Delivery {
        match self {
            Deliveries::Own(live) => match live.recv().await {
                Ok(event) => {
                    let mut batch = vec![text(&event)];
                    // Whatever else is queued goes out in the same write.
                    while let Ok(event) = live.try_recv() {
                        batch.push(text(&event));
                    }
                    Delivery::Send(batch)
                }
                Err(RecvError::Lagged(missed)) => {
                    tracing::debug!(missed, "closing a websocket visitor that fell behind");
                    Delivery::Close(fanout::TOO_SLOW)
                }
                Err(RecvError::Closed) => Delivery::Close(fanout::RESTARTING),
            },
            Deliveries::Writer(visitor) => {
                visitor.attention().await;
                match visitor.closing() {
                    None => Delivery::Flush,
                    Some(Ok(close)) => Delivery::Close(close),
                    Some(Err(())) => Delivery::Broken,
                }
            }
        }
    }
}

/// The visitor's socket from the end of the replay to its close.
async fn run<S: AsyncRead + AsyncWrite + Unpin>(
    socket: &mut WebSocketStream<S>,
    mut deliveries: Deliveries,
    settings: &mut watch::Receiver<Arc<str>>,
    keep_alive: Duration,
    mut shutdown: Pin<&mut impl Future<Output = ()>>,
) {
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + keep_alive, keep_alive);
    let mut awaiting_pong = false;
    let close = loop {
        // In this order: the visitor's socket, the ping and a settings change are each ready
        // only now and then, so none can starve the feed, and a flood of events cannot keep a
        // close or a pong unread or the ping unsent (the branches share tokio's cooperative
        // budget, so the budget alone would not let them in).
        tokio::select! {
            biased;
            () = &mut shutdown => break (CloseCode::Away, "server shutting down"),
            incoming = socket.next() => match incoming {
                Some(Ok(Message::Pong(_))) => awaiting_pong = false,
                Some(Ok(Message::Close(_))) | None => return,
                Some(Ok(_)) => {}
                Some(Err(error)) => {
                    tracing::debug!(%error, "websocket read failed");
                    return;
                }
            },
            _ = ping.tick() => {
                if awaiting_pong {
                    tracing::debug!("dropping a websocket peer that did not answer a ping");
                    return;
                }
                awaiting_pong = true;
                if socket.send(Message::Ping(Default::default())).await.is_err() {
                    return;
                }
            }
            changed = settings.changed() => match changed {
                Ok(()) => {
                    let etag = settings.borrow_and_update().clone();
                    if send_all(socket, vec![Message::text(config_json(&etag))]).await.is_err() {
                        return;
                    }
                }
                Err(_) => break fanout::RESTARTING,
            },
            delivery = deliveries.next() => match delivery {
                Delivery::Send(batch) => {
                    if send_all(socket, batch).await.is_err() {
                        return;
                    }
                }
                Delivery::Flush => {
                    if socket.flush().await.is_err() {
                        return;
                    }
                }
                Delivery::Close(close) => break close,
                Delivery::Broken => return,
            },
        }
    };
    if let Deliveries::Writer(visitor) = &deliveries {
        // Nothing may follow the close frame.
        visitor.stop();
    }
    let (code, reason) = close;
    let frame = CloseFrame {
        code,
        reason: Utf8Bytes::from_static(reason),
    };
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, socket.close(Some(frame))).await;
}

fn utf8(json: Bytes) -> Utf8Bytes {
    Utf8Bytes::try_from(json).expect("events are serialized as UTF-8 JSON")
}

fn text(event: &LiveEvent) -> Message {
    Message::Text(utf8(event.json.clone()))
}

pub(crate) async fn send_all<S: AsyncRead + AsyncWrite + Unpin>(
    socket: &mut WebSocketStream<S>,
    messages: Vec<Message>,
) -> Result<(), ()> {
    for message in messages {
        socket.feed(message).await.map_err(drop)?;
    }
    socket.flush().await.map_err(drop)
}

#[cfg(test)]
mod size_tests {
    use super::*;

    fn size_of_return<A, F>(_: fn(A) -> F) -> usize {
        std::mem::size_of::<F>()
    }

    /// Every idle popup visitor holds this task's future: it was 3.1 KiB when a wrapper task
    /// kept a second copy of what it handed to `serve`, 2 168 bytes once the project's writer
    /// took over the live events (the `fanout` bench's RSS per idle visitor fell all the same).
    #[test]
    fn a_popup_sockets_task_stays_small() {
        let size = size_of_return(
            |(upgrade, visitor, live): (OnUpgrade, Visitor, &'static crate::tracker::Live)| {
                serve(upgrade, visitor, live.shutting_down())
            },
        );
        assert!(size <= 2304, "a popup socket's task is {size} bytes");
    }
}
