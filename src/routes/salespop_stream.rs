//! `GET /api/widget/salespop/stream?project=SLUG&since=ID`: social-proof events over SSE, for
//! networks that block WebSockets.
//!
//! Starts with `retry:` (the reconnect delay), then — when `since` or `Last-Event-ID` no longer
//! matches the history kept — an `event: reset` frame, then the missed events and every new
//! one, each with `id:` so the browser's automatic reconnect resumes exactly where it left off.
//! A visitor that falls `social_proof.subscriber_queue` events behind is dropped (the stream
//! ends; the browser reconnects with its last id); so does every stream at shutdown.
//! When the owner saves new widget settings, an `event: config` frame (`{"type": "config",
//! "etag": …}`, no `id`) tells the widget to read its config again. Popups are in no hurry: a
//! stream served outside hyper has its connection batch small writes once the replay is out.
//! When `event_stream` writes the response on a plain socket, the live events are left to the
//! project's writer (`fanout`, through a `Handover` in the response's extensions): the body
//! then carries `retry`, the replay, `config` frames and keep-alives.

use std::convert::Infallible;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::json::RequestBody;
use futures_util::{Stream, StreamExt, stream};
use helpyap_actors::feed::{LiveEvent, Subscription};
use hyper::Request;
use serde_json::json;
use sse_stream::{KeepAlive, Sse, SseBody};
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;

use crate::error::ApiError;
use crate::event_stream::{PlainSocket, Unhurried};
use crate::fanout::{Handover, Writers, sse_event};
use crate::json::{Body, Response, boxed};
use crate::router::AppState;
use crate::timer::KeepAliveTimer;
use crate::tracker::LiveGuard;

#[utoipa::path(
    get, path = "/api/widget/salespop/stream", tag = "social proof",
    params(("project" = String, Query, example = "demo", description = "The project's slug"), ("since" = Option<u64>, Query, description = "The last event id seen"),
        ("page" = Option<String>, Query, description = "The path of the visitor's page, counted for `viewers`"),
        ("config" = Option<String>, Query, description = "The `ETag` of the widget config the client has: told at once (`config`) when it is no longer the project's"),
        ("Last-Event-ID" = Option<String>, Header, description = "As `since`; browsers send it when they reconnect")),
    responses((status = 200, description = "Server-sent events: the missed events, then each new one as it is pushed; the stream stays open",
        body = crate::openapi::ServerSentEvent, content_type = "text/event-stream"))
)]
pub async fn get(
    state: &AppState,
    client: IpAddr,
    request: &Request<RequestBody>,
) -> Result<Response<Body>, ApiError> {
    let project = super::widget_project(state, request).await?;
    let since = super::since_param(request)?;
    let page = super::page_param(request.uri()).unwrap_or_default(); // optional: a bad one is not counted
    let slot = state.open_stream(client)?;
    let mut subscription = state
        .engine
        .projects
        .subscribe(&project, since, page)
        .await?;
    super::tell_if_config_changed(request.uri(), &mut subscription);
    // Written by `event_stream` on a plain socket: the project's writer sends the live events,
    // the body everything else.
    let handover = request
        .extensions()
        .get::<PlainSocket>()
        .map(|_| (state.popup_writers.clone(), project));
    let (frames, handover) = frames(
        subscription,
        handover,
        state.live_settings.sse_retry,
        state.live.guard(),
        state.live.shutting_down(),
    );
    let body = SseBody::new(frames.map(Ok::<_, Infallible>)).with_keep_alive::<KeepAliveTimer>(
        KeepAlive::new().interval(state.live_settings.keep_alive),
    );
    let mut response = super::event_stream(slot.hold(boxed(body)));
    response.extensions_mut().insert(Unhurried);
    if let Some(handover) = handover {
        response.extensions_mut().insert(handover);
    }
    Ok(response)
}

/// `retry`, maybe `reset`, the replay, then live events until the visitor lags or shutdown.
/// With `handover` (the writers and the project), the live events are left to the project's
/// writer, through the [`Handover`] returned beside the frames.
fn frames(
    subscription: Subscription,
    handover: Option<(Arc<Writers>, String)>,
    retry: Duration,
    guard: LiveGuard,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> (impl Stream<Item = Sse> + Send, Option<Handover>) {
    let Subscription {
        replay,
        live,
        settings,
        slot,
    } = subscription;
    let mut head = vec![Sse::default().retry_duration(retry)];
    if replay.reset {
        head.push(reset_frame(replay.last_id));
    }
    head.extend(replay.events.iter().map(|event| sse_event(event)));
    let (live, handover) = match handover {
        Some((writers, project)) => (
            None,
            Some(Handover::new(writers, project, live, replay.last_id)),
        ),
        None => (Some(live), None),
    };
    let state = (live, settings, slot, guard);
    let live = stream::unfold(state, |(mut live, mut settings, slot, guard)| async move {
        let frame = tokio::select! {
            received = recv(live.as_mut()) => match received {
                Ok(event) => sse_event(&event),
                Err(RecvError::Lagged(missed)) => {
                    tracing::debug!(missed, "dropping an SSE visitor that fell behind");
                    return None;
                }
                Err(RecvError::Closed) => return None,
            },
            changed = settings.changed() => {
                changed.ok()?;
                let etag = settings.borrow_and_update().clone();
                // No `id`: the browser's Last-Event-ID stays the last event's.
                Sse::default().event("config").data(config_json(&etag))
            }
        };
        Some((frame, (live, settings, slot, guard)))
    });
    (
        stream::iter(head).chain(live).take_until(shutdown),
        handover,
    )
}

/// The next live event, when this stream reads them itself; never, when the writer sends them.
async fn recv(
    live: Option<&mut broadcast::Receiver<Arc<LiveEvent>>>,
) -> Result<Arc<LiveEvent>, RecvError> {
    match live {
        Some(live) => live.recv().await,
        None => std::future::pending().await,
    }
}

/// Carries `id: last_id`, so a browser that reconnects after it does not reset again.
fn reset_frame(last_id: u64) -> Sse {
    Sse::default()
        .event("reset")
        .id(last_id.to_string())
        .data(reset_json(last_id))
}

/// What a client whose position fell out of the history kept is told, on every channel.
pub fn reset_json(last_id: u64) -> String {
    json!({
        "type": "reset",
        "lastId": last_id.to_string(),
        "reason": "events since your last id are no longer kept; showing what is",
    })
    .to_string()
}

/// What every live channel says when the owner saved new widget settings: the widget reads
/// the config again (it carries this `ETag`).
pub fn config_json(etag: &str) -> String {
    json!({ "type": "config", "etag": etag }).to_string()
}
