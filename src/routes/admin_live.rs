//! `GET /api/admin/projects/{slug}/live`: the team's live stream of a project's conversations
//! (SSE), so an open dashboard shows visitors' messages, new conversations, leads and changes
//! of who answers within a second, with no polling.
//!
//! Each `data:` frame is one `TeamNews` JSON object: first `ready`, then the news; `missed`
//! means some were dropped (read the inbox again). Nothing is replayed: on `ready` the dashboard
//! reads what it shows. Every
//! `auth.live_recheck` the caller's credentials are checked again as the router checks them (the
//! access token unexpired and its sign-in not ended, or the API token not revoked; still a
//! member of the project): the stream ends when they fail, and at shutdown. The dashboard
//! reconnects with a fresh token.

use std::net::IpAddr;
use std::sync::Arc;

use futures_util::{StreamExt, stream};
use helpyap_actors::Engine;
use helpyap_actors::activity::Watched;
use hyper::HeaderMap;

use super::session_live::{news, sse_body, to_json};
use crate::auth::Auth;
use crate::error::ApiError;
use crate::json::{Body, Response};
use crate::router::AppState;
use crate::routes::admin_auth::{api_token_in, signed_in_with};
use crate::views::TeamNews;

#[utoipa::path(
    get, path = "/api/admin/projects/{slug}/live", tag = "conversations",
    params(("slug" = String, Path, description = "The project's slug")),
    responses((status = 200, description = "Server-sent events: each piece of news as one `data:` frame (`TeamNews`); the stream stays open for up to the access token's lifetime",
        body = crate::openapi::ServerSentEvent, content_type = "text/event-stream"))
)]
pub async fn get(
    state: &AppState,
    client: IpAddr,
    slug: &str,
    headers: &HeaderMap,
) -> Result<Response<Body>, ApiError> {
    let slot = state.open_stream(client)?;
    let watch = state.engine.chat.watch_team(slug);
    let news = news(watch, |watched| {
        Some(match watched {
            Watched::Activity(activity) => to_json(&TeamNews::from(&*activity)),
            Watched::Missed => to_json(&TeamNews::Missed),
        })
    });
    let news = stream::once(async { to_json(&TeamNews::Ready) }).chain(news);
    let caller = Caller {
        auth: state.auth.clone(),
        engine: state.engine.clone(),
        headers: headers.clone(),
        slug: slug.to_owned(),
    };
    let news = news.take_until(caller.loses_access());
    Ok(super::event_stream(slot.hold(sse_body(state, news))))
}

/// Who opened a stream, as the router saw them.
struct Caller {
    auth: Arc<Auth>,
    engine: Engine,
    headers: HeaderMap,
    slug: String,
}

impl Caller {
    /// Returns once the caller may no longer read the project. A store that cannot be asked
    /// right now ends nothing.
    async fn loses_access(self) {
        loop {
            tokio::time::sleep(self.auth.live_recheck).await;
            let role = match api_token_in(&self.engine, &self.headers).await {
                Ok(Some(token)) => (token.project == self.slug).then_some(token.role),
                Ok(None) => match signed_in_with(&self.auth, &self.engine, &self.headers).await {
                    Ok(user) => user.role_on(&self.slug),
                    Err(error) if error.status().is_server_error() => continue,
                    Err(_) => None,
                },
                Err(error) if error.status().is_server_error() => continue,
                Err(_) => None,
            };
            if role.is_none() {
                return;
            }
        }
    }
}
