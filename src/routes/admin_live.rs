//! `GET /api/admin/projects/{slug}/live`: the team's live stream of a project's conversations
//! (SSE), so an open dashboard shows visitors' messages, new conversations, leads and changes
//! of who answers within a second, with no polling.
//!
//! Each `data:` frame is one `TeamNews` JSON object: first `ready`, then the news; `missed`
//! means some were dropped (read the inbox again). Nothing is replayed: on `ready` the dashboard
//! reads what it shows. The
//! stream ends after the access token's lifetime (`auth.access_ttl`), when the caller's role
//! may have changed, and at shutdown; the dashboard reconnects with a fresh token.

use std::net::IpAddr;

use futures_util::{StreamExt, stream};
use helpyap_actors::activity::Watched;

use super::session_live::{news, sse_body, to_json};
use crate::error::ApiError;
use crate::json::{Body, Response};
use crate::router::AppState;
use crate::views::TeamNews;

#[utoipa::path(
    get, path = "/api/admin/projects/{slug}/live", tag = "conversations",
    params(("slug" = String, Path, description = "The project's slug")),
    responses((status = 200, description = "Server-sent events: each piece of news as one `data:` frame (`TeamNews`); the stream stays open for up to the access token's lifetime",
        body = crate::openapi::ServerSentEvent, content_type = "text/event-stream"))
)]
pub async fn get(state: &AppState, client: IpAddr, slug: &str) -> Result<Response<Body>, ApiError> {
    let slot = state.open_stream(client)?;
    let watch = state.engine.chat.watch_team(slug);
    let news = news(watch, |watched| {
        Some(match watched {
            Watched::Activity(activity) => to_json(&TeamNews::from(&*activity)),
            Watched::Missed => to_json(&TeamNews::Missed),
        })
    });
    let news = stream::once(async { to_json(&TeamNews::Ready) }).chain(news);
    let until_token_expires = tokio::time::sleep(state.auth.access_ttl);
    let news = news.take_until(until_token_expires);
    Ok(super::event_stream(slot.hold(sse_body(state, news))))
}
