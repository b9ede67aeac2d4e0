//! The visitor's live channel for their conversation: a teammate's replies and changes of who
//! answers, as they happen, so the widget never polls.
//!
//! - `GET /api/widget/session/ws?project=SLUG&sessionId=ID` — WebSocket, the widget's first
//!   choice. Browsers cannot set headers on a WebSocket, so the client's first message is
//!   `{"token": "…"}` (the session token), within [`AUTH_TIMEOUT`]; a wrong or missing one
//!   closes the socket with 1008. An unknown project or session is a plain 404 before the
//!   upgrade.
//! - `GET /api/widget/session/stream?project=SLUG&sessionId=ID` with `X-Session-Token` — SSE,
//!   when WebSockets are blocked (the widget reads it with `fetch`, which can send the header).
//!
//! Each message is one `VisitorNews` JSON object: first `ready`, then `message` (a teammate's
//! reply, as in the transcript), `status` (with the line the widget shows), or `missed` (read the
//! transcript again). Nothing is replayed: on `ready` a client reads `GET /api/widget/session`.
//! Both end at shutdown; the WebSocket is pinged like the popup socket.

use std::convert::Infallible;
use std::net::IpAddr;
use std::time::Duration;

use crate::json::RequestBody;
use futures_util::{SinkExt, Stream, StreamExt, stream};
use helpyap_actors::activity::{Watch, Watched};
use hyper::Request;
use serde::Deserialize;
use sse_stream::{KeepAlive, Sse, SseBody};
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};
use uuid::Uuid;

use super::salespop_ws::{CLOSE_TIMEOUT, Socket, handshake_key, send_all, upgrade};
use crate::error::ApiError;
use crate::json::{Body, Response, boxed};
use crate::router::AppState;
use crate::timer::KeepAliveTimer;
use crate::tracker::LiveGuard;
use crate::views::VisitorNews;

/// How long a WebSocket client has to send its session token.
const AUTH_TIMEOUT: Duration = Duration::from_secs(10);

#[utoipa::path(
    get, path = "/api/widget/session/ws", tag = "widget",
    params(("project" = String, Query, example = "demo", description = "The project's slug"), ("sessionId" = String, Query, format = Uuid, description = "The chat session"),
        ("Upgrade" = String, Header, description = "`websocket`"),
        ("Sec-WebSocket-Key" = String, Header, description = "The WebSocket handshake key"),
        ("Sec-WebSocket-Version" = String, Header, description = "`13`")),
    responses(
        (status = 101, description = "A WebSocket. The client's first message is `{\"token\": \"…\"}`; then each piece of news is one text message (`VisitorNews`)"),
        (status = 400, description = "Not a WebSocket handshake, or a bad parameter", body = crate::error::ErrorBody),
    )
)]
pub async fn websocket(
    state: &AppState,
    client: IpAddr,
    mut request: Request<RequestBody>,
) -> Result<Response<Body>, ApiError> {
    let key = handshake_key(&request)?;
    let (project, session_id) = conversation(state, &request).await?;
    state
        .engine
        .chat
        .check_session(&project, session_id)
        .await?;
    let slot = state.open_stream(client)?;
    let chat = state.engine.chat.clone();
    let keep_alive = state.live_settings.keep_alive;
    let guard = state.live.guard();
    let shutdown = state.live.shutting_down();
    Ok(upgrade(&mut request, &key, move |mut socket| async move {
        let _slot = slot;
        let Some(token) = first_token(&mut socket).await else {
            return close(
                &mut socket,
                CloseCode::Policy,
                "send {\"token\": SESSION_TOKEN} first",
            )
            .await;
        };
        match chat.watch(&project, session_id, Some(&token)).await {
            Ok(watch) => {
                let ready = Message::text(to_json(&VisitorNews::Ready));
                if send_all(&mut socket, vec![ready]).await.is_ok() {
                    serve(socket, watch, keep_alive, shutdown, guard).await;
                }
            }
            Err(error) => {
                tracing::debug!(%error, "live channel refused");
                close(&mut socket, CloseCode::Policy, "wrong session token").await;
            }
        }
    }))
}

#[utoipa::path(
    get, path = "/api/widget/session/stream", tag = "widget",
    params(("project" = String, Query, example = "demo", description = "The project's slug"), ("sessionId" = String, Query, format = Uuid, description = "The chat session"),
        ("X-Session-Token" = Option<String>, Header, description = "The token the session's first answer gave")),
    responses((status = 200, description = "Server-sent events: each piece of news as one `data:` frame (`VisitorNews`); the stream stays open",
        body = crate::openapi::ServerSentEvent, content_type = "text/event-stream"))
)]
pub async fn stream(
    state: &AppState,
    client: IpAddr,
    request: &Request<RequestBody>,
) -> Result<Response<Body>, ApiError> {
    let (project, session_id) = conversation(state, request).await?;
    let token = super::session_token_header(request);
    let watch = state
        .engine
        .chat
        .watch(&project, session_id, token.as_deref())
        .await?;
    let slot = state.open_stream(client)?;
    let news = news(watch, |watched| match watched {
        Watched::Activity(activity) => VisitorNews::of(&activity).map(|news| to_json(&news)),
        Watched::Missed => Some(to_json(&VisitorNews::Missed)),
    });
    let news = stream::once(async { to_json(&VisitorNews::Ready) }).chain(news);
    Ok(super::event_stream(slot.hold(sse_body(state, news))))
}

/// The project (its origin checked) and session a visitor's request names.
async fn conversation(
    state: &AppState,
    request: &Request<RequestBody>,
) -> Result<(String, Uuid), ApiError> {
    let project = super::widget_project(state, request).await?;
    let id = super::query_param(request.uri(), "sessionId");
    Ok((project, super::parse_session_id(id.as_deref())?))
}

/// The JSON of each piece of news `render` keeps, until the watch ends.
pub(crate) fn news<K, R>(watch: Watch<K>, render: R) -> impl Stream<Item = String> + Send
where
    K: Eq + std::hash::Hash + Send + Sync + 'static,
    R: Fn(Watched) -> Option<String> + Send + 'static,
{
    stream::unfold((watch, render), |(mut watch, render)| async move {
        loop {
            let watched = watch.next().await?;
            if let Some(json) = render(watched) {
                return Some((json, (watch, render)));
            }
        }
    })
}

/// An SSE body of `news`, one `data:` frame each, ending at shutdown; kept alive by comments.
pub(crate) fn sse_body(
    state: &AppState,
    news: impl Stream<Item = String> + Send + 'static,
) -> Body {
    // Held by the stream: it counts as live until it ends.
    let guard = state.live.guard();
    let retry = Sse::default().retry_duration(state.live_settings.sse_retry);
    let frames = stream::once(async { retry })
        .chain(news.map(move |json| {
            let _live = &guard;
            Sse::default().data(json)
        }))
        .take_until(state.live.shutting_down())
        .map(Ok::<_, Infallible>);
    let body = SseBody::new(frames).with_keep_alive::<KeepAliveTimer>(
        KeepAlive::new().interval(state.live_settings.keep_alive),
    );
    boxed(body)
}

pub(crate) fn to_json(value: &impl serde::Serialize) -> String {
    serde_json::to_string(value).expect("news serializes")
}

#[derive(Deserialize)]
struct FirstMessage {
    token: String,
}

/// The session token of the client's first text message, within [`AUTH_TIMEOUT`].
async fn first_token(socket: &mut Socket) -> Option<String> {
    let first = tokio::time::timeout(AUTH_TIMEOUT, async {
        loop {
            match socket.next().await? {
                Ok(Message::Text(text)) => return Some(text),
                Ok(Message::Ping(_) | Message::Pong(_)) => continue,
                _ => return None,
            }
        }
    });
    let text = first.await.ok()??;
    serde_json::from_str::<FirstMessage>(&text)
        .ok()
        .map(|first| first.token)
}

async fn serve(
    mut socket: Socket,
    mut watch: Watch<Uuid>,
    keep_alive: Duration,
    shutdown: impl Future<Output = ()>,
    _guard: LiveGuard,
) {
    let mut shutdown = std::pin::pin!(shutdown);
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + keep_alive, keep_alive);
    let mut awaiting_pong = false;
    loop {
        tokio::select! {
            watched = watch.next() => {
                let json = match watched {
                    Some(Watched::Activity(activity)) => match VisitorNews::of(&activity) {
                        Some(news) => to_json(&news),
                        None => continue,
                    },
                    Some(Watched::Missed) => to_json(&VisitorNews::Missed),
                    None => return close(&mut socket, CloseCode::Away, "server stopping").await,
                };
                if send_all(&mut socket, vec![Message::text(json)]).await.is_err() {
                    return;
                }
            }
            incoming = socket.next() => match incoming {
                Some(Ok(Message::Pong(_))) => awaiting_pong = false,
                Some(Ok(Message::Close(_)) | Err(_)) | None => return,
                Some(Ok(_)) => {}
            },
            _ = ping.tick() => {
                if awaiting_pong {
                    return;
                }
                awaiting_pong = true;
                if socket.send(Message::Ping(Default::default())).await.is_err() {
                    return;
                }
            }
            () = &mut shutdown => return close(&mut socket, CloseCode::Away, "server shutting down").await,
        }
    }
}

async fn close(socket: &mut Socket, code: CloseCode, reason: &'static str) {
    let frame = CloseFrame {
        code,
        reason: Utf8Bytes::from_static(reason),
    };
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, socket.close(Some(frame))).await;
}
