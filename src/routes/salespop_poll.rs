//! `GET /api/widget/salespop?project=SLUG&since=ID`: social-proof events for polling clients,
//! the last fallback when neither WebSocket nor SSE gets through.
//!
//! Answers `{"events": [...], "lastId": "N", "reset": bool}`: the events after `since`, oldest
//! first, in the same JSON as the live channels. Without `since` there is nothing to replay and
//! `lastId` says where to start; `since=0` gets every event still kept. `reset` means `since`
//! is no longer in the history kept: the client missed events it cannot get back.

use crate::json::RequestBody;
use bytes::{BufMut, BytesMut};
use hyper::header::{CACHE_CONTROL, HeaderValue};
use hyper::{Request, StatusCode};

use crate::error::ApiError;
use crate::json::{Body, Response, bytes_response};
use crate::router::AppState;

#[utoipa::path(
    get, path = "/api/widget/salespop", tag = "social proof",
    params(("project" = String, Query, example = "demo", description = "The project's slug"), ("since" = Option<u64>, Query, description = "The last event id seen"),
        ("Last-Event-ID" = Option<String>, Header, description = "As `since`; wins over it")),
    responses((status = 200, description = "The events after `since`, oldest first", body = crate::openapi::Poll))
)]
pub async fn get(
    state: &AppState,
    request: &Request<RequestBody>,
) -> Result<Response<Body>, ApiError> {
    let project = super::widget_project(state, request).await?;
    let since = super::since_param(request)?;
    let replay = state.engine.projects.replay(&project, since).await?;
    // Each event is already JSON; splice them instead of parsing them back.
    let mut body = BytesMut::with_capacity(
        64 + replay
            .events
            .iter()
            .map(|e| e.json.len() + 1)
            .sum::<usize>(),
    );
    body.put_slice(b"{\"events\":[");
    for (idx, event) in replay.events.iter().enumerate() {
        if idx > 0 {
            body.put_u8(b',');
        }
        body.put_slice(&event.json);
    }
    body.put_slice(
        format!(
            "],\"lastId\":\"{}\",\"reset\":{}}}",
            replay.last_id, replay.reset
        )
        .as_bytes(),
    );
    let mut response = bytes_response(StatusCode::OK, body.freeze(), "application/json");
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}
