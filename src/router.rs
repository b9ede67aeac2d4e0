//! Routing: applies the route table's row to each request — 404 for an unknown path, CORS
//! preflights, 405 with `Allow`, the rate limit and `X-RateLimit-*` headers, then for admin
//! routes the caller's token, project and role — and hands it to its handler.
//!
//! Handlers return `Result<Response, ApiError>`; this module turns errors into responses. It
//! never parses bodies; of the engine it asks only who the caller is and whether the project
//! exists.

use std::cell::RefCell;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::json::RequestBody;
use helpyap_actors::Engine;
use helpyap_actors::feed::SubscriberCaps;
use helpyap_actors::records::{Role, UserRecord};
use hyper::header::{ALLOW, Entry, HeaderMap, HeaderName, HeaderValue, X_CONTENT_TYPE_OPTIONS};
use hyper::{Method, Request};
use ipnet::IpNet;

use crate::admission::{ConnectionLimits, StreamQuota, StreamSlot};
use crate::auth::Auth;
use crate::client_ip::client_ip;
use crate::cors;
use crate::email::Mailer;
use crate::error::ApiError;
use crate::json::{Body, BodyLimits, Response};
use crate::metrics::Metrics;
use crate::rate_limit::{RateDecision, RateLimiter, round_up_to_second};
use crate::route::{Access, AdminRoute, OpenRoute, ProjectOp, Route};
use crate::routes;
use crate::routes::admin_auth::{api_token, signed_in};
use crate::routes::chat::ChatLimits;
use crate::tracker::Live;
use crate::web_fetch::{WebFetcher, WebhookPoster};

const X_RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("x-ratelimit-limit");
const X_RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("x-ratelimit-remaining");
const X_RATELIMIT_RESET: HeaderName = HeaderName::from_static("x-ratelimit-reset");

/// Everything a handler may use, shared by all connections.
pub struct AppState {
    pub engine: Engine,
    pub limiter: RateLimiter,
    /// What one request may carry.
    pub request_limits: RequestLimits,
    pub trusted_proxies: Vec<IpNet>,
    pub chat_keep_alive: Duration,
    /// Live SSE and WebSocket streams, and the shutdown signal they obey.
    pub live: Live,
    pub live_settings: LiveSettings,
    /// Admin access tokens and login lockouts.
    pub auth: Arc<Auth>,
    /// Knowledge-base pages and sitemaps from the web.
    pub fetcher: WebFetcher,
    /// Checks webhook addresses (and, in the engine, sends the deliveries).
    pub webhook_poster: WebhookPoster,
    /// The SMTP sender; `None`: email is off.
    pub mailer: Option<Arc<Mailer>>,
    /// Caps on open connections, in all and per address.
    pub connections: ConnectionLimits,
    /// Cap on open chat and popup streams per client address.
    pub streams: StreamQuota,
    /// Caps on popup subscribers, shared with every project's feed.
    pub subscriber_caps: Arc<SubscriberCaps>,
    /// The writers of popup events to visitors on plain sockets (WebSocket, and SSE outside
    /// hyper), one per project.
    pub popup_writers: Arc<crate::fanout::Writers>,
    pub metrics: Metrics,
    /// Who may read `/metrics`; `None` when it is off.
    pub metrics_allow: Option<Vec<IpNet>>,
}

impl AppState {
    pub fn body_limits(&self) -> BodyLimits {
        BodyLimits {
            max_bytes: self.request_limits.body_bytes.load(Ordering::Relaxed),
            read_timeout: self.request_limits.body_read_timeout,
        }
    }

    pub fn chat_limits(&self) -> ChatLimits {
        ChatLimits {
            max_messages: self.request_limits.messages.load(Ordering::Relaxed),
            max_message_chars: self.request_limits.message_chars,
        }
    }

    /// A place for one more long-lived stream (chat answer, SSE, WebSocket) from `client`.
    pub fn open_stream(&self, client: IpAddr) -> Result<StreamSlot, ApiError> {
        self.streams.open(client).ok_or_else(|| {
            self.metrics.refused("streams_per_ip");
            tracing::debug!(%client, "stream refused: too many open from this address");
            ApiError::too_many_streams(self.streams.max_per_address())
        })
    }
}

/// What one request may carry. The body size and the messages per chat request may change on a
/// config reload; the longest message is also in every project's widget config, so it waits
/// for a restart.
pub struct RequestLimits {
    body_bytes: AtomicUsize,
    body_read_timeout: Duration,
    messages: AtomicUsize,
    message_chars: usize,
}

impl RequestLimits {
    pub fn new(body: BodyLimits, chat: ChatLimits) -> RequestLimits {
        RequestLimits {
            body_bytes: AtomicUsize::new(body.max_bytes),
            body_read_timeout: body.read_timeout,
            messages: AtomicUsize::new(chat.max_messages),
            message_chars: chat.max_message_chars,
        }
    }

    /// New caps for requests still to come.
    pub fn set(&self, body_bytes: usize, messages: usize) {
        self.body_bytes.store(body_bytes, Ordering::Relaxed);
        self.messages.store(messages, Ordering::Relaxed);
    }
}

/// How live social-proof streams behave.
#[derive(Debug, Clone, Copy)]
pub struct LiveSettings {
    /// WebSocket ping and SSE keep-alive interval.
    pub keep_alive: Duration,
    /// The reconnect delay SSE clients are told.
    pub sse_retry: Duration,
    /// The default window of the event counts endpoint.
    pub stats_window: Duration,
}

pub async fn handle(
    state: &AppState,
    peer: SocketAddr,
    request: Request<RequestBody>,
) -> Response<Body> {
    let started = Instant::now();
    let Some(route) = Route::parse(request.uri().path()) else {
        let mut response = ApiError::not_found("Not found").into_response();
        state.metrics.request("unknown", 404, started.elapsed());
        add_headers(response.headers_mut(), false, None);
        return response;
    };
    let spec = route.spec();
    let mut decision = None;
    let mut response = if request.method() == Method::OPTIONS && spec.cross_origin {
        cors::preflight(&spec.allow())
    } else if let Some(access) = spec.access(request.method()) {
        let client = client_ip(peer.ip(), request.headers(), &state.trusted_proxies);
        decision = match spec.rate_class {
            Some(class) => Some((class, state.limiter.check_at(class, client, started).await)),
            None => None,
        };
        let result = match decision {
            Some((class, decision)) if !decision.allowed => {
                tracing::debug!(%client, ?route, "rate limited");
                state.metrics.rate_limited(class.name());
                Err(ApiError::rate_limited(round_up_to_second(
                    decision.reset_after,
                )))
            }
            _ => match route {
                Route::Open(route) => dispatch(route, state, client, request).await,
                // Boxed, as the larger routes below are: hyper keeps room for this future with
                // every connection for as long as it is open, so it is kept the size of the
                // small, frequent widget routes (a boxed route costs an allocation a request).
                Route::Admin(route) => {
                    Box::pin(async {
                        let user = authorize(state, &route, access, &request).await?;
                        dispatch_signed_in(route, &user, state, client, request).await
                    })
                    .await
                }
            },
        };
        result.unwrap_or_else(ApiError::into_response)
    } else {
        let mut response = ApiError::method_not_allowed().into_response();
        let allow = HeaderValue::from_str(&spec.allow()).expect("method names are header-safe");
        response.headers_mut().insert(ALLOW, allow);
        response
    };
    add_headers(
        response.headers_mut(),
        spec.cross_origin,
        decision.map(|(_, decision)| decision),
    );
    state
        .metrics
        .request(spec.label, response.status().as_u16(), started.elapsed());
    response
}

/// Adds what the router puts on a response: the rate limit's headers when it counted the
/// request, CORS's on a cross-origin route, and `X-Content-Type-Options` on all.
///
/// A handler may answer with a head made ahead of time by this same function (the widget
/// config keeps one per snapshot): its `X-Content-Type-Options`, which only this function
/// writes, says the fixed headers are there, and only the rate limit's numbers are written
/// over, in the places the head has for them. Each look-up in a `HeaderMap` costs about as
/// much as an insert, and a custom name's more (it is hashed byte by byte).
pub fn add_headers(headers: &mut HeaderMap, cross_origin: bool, decision: Option<RateDecision>) {
    match headers.entry(X_CONTENT_TYPE_OPTIONS) {
        Entry::Vacant(fixed_headers_missing) => {
            fixed_headers_missing.insert(HeaderValue::from_static("nosniff"));
            if cross_origin {
                cors::decorate(headers);
            }
            if let Some(decision) = decision {
                rate_limit_headers(headers, decision);
            }
        }
        Entry::Occupied(_) => {
            debug_assert!(
                !cross_origin || headers.contains_key(hyper::header::ACCESS_CONTROL_ALLOW_ORIGIN),
                "a ready-made head for a cross-origin route lacks CORS"
            );
            if let Some(decision) = decision {
                rewrite_rate_limit_headers(headers, decision);
            }
        }
    }
}

/// Who is calling, checked in the documented order: the access token (401), then that the
/// project exists (404), then the role on it (403).
async fn authorize(
    state: &AppState,
    route: &AdminRoute,
    access: Access,
    request: &Request<RequestBody>,
) -> Result<UserRecord, ApiError> {
    let user = match api_token(state, request).await? {
        Some(token)
            if route.open_to_api_tokens(request.method())
                && route.project() == Some(&token.project) =>
        {
            UserRecord::acting_for(&token)
        }
        Some(_) => {
            return Err(ApiError::forbidden(
                "An API token works only on its own project's routes, and cannot manage tokens or members or delete the project",
            ));
        }
        None => signed_in(state, request).await?,
    };
    let role = match route.project() {
        Some(slug) => {
            state.engine.projects.snapshot(slug).await?;
            user.role_on(slug)
        }
        None => None,
    };
    let refused = match access {
        Access::Public | Access::Session | Access::SignedIn => None,
        Access::Admin => (!user.admin).then_some("Only admins may do this"),
        Access::Owner => {
            (role != Some(Role::Owner)).then_some("You need the owner role on this project")
        }
        Access::Member => role.is_none().then_some("You have no role on this project"),
    };
    match refused {
        Some(reason) => Err(ApiError::forbidden(reason)),
        None => Ok(user),
    }
}

/// Routes anyone may call. The config GET every page load makes, and the other reads served
/// from memory, are awaited in place; every route that may wait on an actor or the store
/// (posts, session reads, polls, streams' and sockets' set-up, sign-in, health, metrics) is
/// boxed, which costs an allocation a request and keeps this future — which hyper makes room
/// for with every open connection — the size of the small ones.
async fn dispatch(
    route: OpenRoute,
    state: &AppState,
    client: IpAddr,
    request: Request<RequestBody>,
) -> Result<Response<Body>, ApiError> {
    use OpenRoute as Open;
    match route {
        Open::Health => Ok(Box::pin(routes::health::get(state)).await),
        Open::Metrics => Box::pin(routes::metrics::get(state, client)).await,
        Open::OpenApi => Ok(crate::json::bytes_response(
            hyper::StatusCode::OK,
            crate::openapi::document(),
            "application/json",
        )),
        Open::WidgetJs => Ok(routes::assets::widget_js(&request)),
        Open::Demo => routes::assets::demo(&request),
        Open::AdminFiles => routes::assets::admin(&request),
        Open::WidgetConfig => routes::widget_config::get(state, &request).await,
        Open::Session => Box::pin(routes::session::get(state, &request)).await,
        Open::SessionWs => Box::pin(routes::session_live::websocket(state, client, request)).await,
        Open::SessionStream => {
            Box::pin(routes::session_live::stream(state, client, &request)).await
        }
        Open::Chat => Box::pin(routes::chat::post(state, client, request)).await,
        Open::Lead => Box::pin(routes::lead::post(state, request)).await,
        Open::Feedback => Box::pin(routes::feedback::post(state, request)).await,
        Open::Identify => Box::pin(routes::identify::post(state, request)).await,
        Open::Rating => Box::pin(routes::rating::post(state, request)).await,
        Open::Availability => routes::availability::get(state, &request).await,
        Open::ProactiveSeen => Box::pin(routes::proactive_seen::post(state, request)).await,
        Open::SalespopPush => Box::pin(routes::salespop_push::post(state, request)).await,
        Open::SalespopSeen => Box::pin(routes::salespop_seen::post(state, request)).await,
        Open::SalespopViewers => routes::salespop_viewers::get(state, &request).await,
        Open::Integration { platform, slug } => {
            Box::pin(routes::integrations::post(state, request, platform, &slug)).await
        }
        Open::SalespopPoll => Box::pin(routes::salespop_poll::get(state, &request)).await,
        Open::SalespopStream => {
            Box::pin(routes::salespop_stream::get(state, client, &request)).await
        }
        Open::SalespopWs => Box::pin(routes::salespop_ws::get(state, client, request)).await,
        Open::SalespopStats => routes::salespop_stats::get(state, &request).await,
        Open::Login => Box::pin(routes::admin_auth::login(state, client, request)).await,
        Open::Refresh => Box::pin(routes::admin_auth::refresh(state, request)).await,
        Open::Logout => Box::pin(routes::admin_auth::logout(state, request)).await,
        Open::Forgot => Box::pin(routes::admin_auth::forgot(state, request)).await,
        Open::Reset => Box::pin(routes::admin_auth::reset(state, request)).await,
        Open::Join => Box::pin(routes::admin_auth::join(state, request)).await,
    }
}

/// Routes for signed-in users, whose access `authorize` has checked.
async fn dispatch_signed_in(
    route: AdminRoute,
    user: &UserRecord,
    state: &AppState,
    client: IpAddr,
    request: Request<RequestBody>,
) -> Result<Response<Body>, ApiError> {
    use routes::admin_webhooks as webhooks;
    use routes::{admin_conversations as conversations, admin_documents as documents};
    use routes::{admin_members as members, admin_projects as projects, admin_reports as reports};
    let method = request.method().clone();
    let (slug, op) = match route {
        AdminRoute::Me if method == Method::PATCH => {
            return routes::admin_auth::update_me(state, user, request).await;
        }
        AdminRoute::Me => return Ok(routes::admin_auth::me(state, user)),
        AdminRoute::Users => return routes::admin_users::add_user(state, user, request).await,
        AdminRoute::Backup => {
            tracing::info!(user = %user.id, "backup started");
            return routes::admin_backup::get(state);
        }
        AdminRoute::Invitations => return members::mine(state, user).await,
        AdminRoute::Invitation(slug) => return members::decline(state, user, &slug).await,
        AdminRoute::InvitationAccept(slug) => return members::accept(state, user, &slug).await,
        AdminRoute::Projects if method == Method::POST => {
            return projects::create(state, user, request).await;
        }
        AdminRoute::Projects => return projects::list(state, user).await,
        AdminRoute::Project { slug, op } => (slug, op),
    };
    let slug = slug.as_str();
    // The route table let through only the methods each operation answers.
    match (op, method) {
        (ProjectOp::Settings, Method::GET) => projects::read(state, slug).await,
        (ProjectOp::Settings, Method::PUT) => projects::update(state, slug, request).await,
        (ProjectOp::Settings, _) => projects::delete(state, user, slug).await,
        (ProjectOp::PushSecret, _) => projects::rotate_secret(state, user, slug).await,
        (ProjectOp::IdentitySecret, Method::GET) => routes::admin_identity::get(state, slug).await,
        (ProjectOp::IdentitySecret, Method::POST) => {
            routes::admin_identity::rotate(state, user, slug).await
        }
        (ProjectOp::IdentitySecret, _) => routes::admin_identity::remove(state, user, slug).await,
        (ProjectOp::Conversations, _) => conversations::list(state, slug, request.uri()).await,
        (ProjectOp::Live, _) => {
            routes::admin_live::get(state, client, slug, request.headers()).await
        }
        (ProjectOp::Conversation(id), Method::GET) => conversations::get(state, slug, &id).await,
        (ProjectOp::Conversation(id), Method::PATCH) => {
            conversations::patch(state, user, slug, &id, request).await
        }
        (ProjectOp::Conversation(id), _) => conversations::delete(state, user, slug, &id).await,
        (ProjectOp::Reply(id), _) => conversations::reply(state, user, slug, &id, request).await,
        (ProjectOp::Leads, _) => routes::admin_leads::list(state, slug).await,
        (ProjectOp::Members, Method::GET) => members::list(state, slug).await,
        (ProjectOp::Members, _) => members::set(state, user, slug, request).await,
        (ProjectOp::Member(email), _) => members::remove(state, slug, &email).await,
        (ProjectOp::Webhooks, Method::GET) => webhooks::list(state, slug).await,
        (ProjectOp::Webhooks, _) => webhooks::create(state, user, slug, request).await,
        (ProjectOp::Webhook(id), Method::PATCH) => {
            webhooks::update(state, slug, &id, request).await
        }
        (ProjectOp::Webhook(id), _) => webhooks::delete(state, user, slug, &id).await,
        (ProjectOp::WebhookSecret(id), _) => webhooks::rotate_secret(state, user, slug, &id).await,
        (ProjectOp::WebhookDeliveries(id), _) => webhooks::deliveries(state, slug, &id).await,
        (ProjectOp::Redeliver(id, event), _) => webhooks::redeliver(state, slug, &id, &event).await,
        (ProjectOp::ApiTokens, Method::GET) => routes::admin_tokens::list(state, slug).await,
        (ProjectOp::ApiTokens, _) => routes::admin_tokens::create(state, user, slug, request).await,
        (ProjectOp::ApiToken(id), _) => routes::admin_tokens::revoke(state, user, slug, &id).await,
        (ProjectOp::Analytics, _) => reports::analytics(state, slug, request.uri()).await,
        (ProjectOp::ConversationsCsv, _) => reports::conversations_csv(state, slug).await,
        (ProjectOp::LeadsCsv, _) => reports::leads_csv(state, slug).await,
        (ProjectOp::PopupsCsv, _) => reports::popups_csv(state, slug, request.uri()).await,
        (ProjectOp::SatisfactionCsv, _) => reports::satisfaction_csv(state, slug).await,
        (ProjectOp::Documents, Method::GET) => documents::list(state, slug).await,
        (ProjectOp::Documents, _) => documents::add_document(state, slug, request).await,
        (ProjectOp::FetchDocuments, Method::POST) => documents::fetch(state, slug, request).await,
        (ProjectOp::Reindex, Method::POST) => documents::reindex(state, slug).await,
        (ProjectOp::FetchDocuments, _) => documents::delete_document(state, slug, "fetch").await,
        (ProjectOp::Reindex, _) => documents::delete_document(state, slug, "reindex").await,
        (ProjectOp::Document(id), _) => documents::delete_document(state, slug, &id).await,
        (ProjectOp::SyncDocument(id), _) => documents::sync(state, slug, &id).await,
        (ProjectOp::Integrations, _) => routes::admin_integrations::list(state, slug).await,
        (ProjectOp::Integration(name), Method::PUT) => {
            routes::admin_integrations::connect(state, slug, &name, request).await
        }
        (ProjectOp::Integration(name), _) => {
            routes::admin_integrations::disconnect(state, slug, &name).await
        }
        (ProjectOp::Faq, Method::GET) => routes::admin_faq::list(state, slug).await,
        (ProjectOp::Faq, _) => routes::admin_faq::add(state, slug, request).await,
        (ProjectOp::FaqEntry(id), Method::PUT) => {
            routes::admin_faq::replace(state, slug, &id, request).await
        }
        (ProjectOp::FaqEntry(id), _) => routes::admin_faq::delete(state, slug, &id).await,
    }
}

/// `X-RateLimit-Reset` is the Unix time (seconds) at which the window ends, as GitHub's API.
fn rate_limit_headers(headers: &mut HeaderMap, decision: RateDecision) {
    for (name, value) in rate_limit_values(decision) {
        headers.insert(name, value);
    }
}

/// The rate limit's numbers written over the places a ready-made head has for them, found in
/// one walk over its dozen entries rather than by three look-ups; any place missing is added.
fn rewrite_rate_limit_headers(headers: &mut HeaderMap, decision: RateDecision) {
    let [limit, remaining, reset] = rate_limit_values(decision).map(|(_, value)| value);
    let mut values = [Some(limit), Some(remaining), Some(reset)];
    for (name, value) in headers.iter_mut() {
        let slot = match name.as_str() {
            "x-ratelimit-limit" => 0,
            "x-ratelimit-remaining" => 1,
            "x-ratelimit-reset" => 2,
            _ => continue,
        };
        if let Some(number) = values[slot].take() {
            *value = number;
        }
    }
    if values.iter().any(Option::is_some) {
        rate_limit_headers(headers, decision);
    }
}

fn rate_limit_values(decision: RateDecision) -> [(HeaderName, HeaderValue); 3] {
    [
        (
            X_RATELIMIT_LIMIT,
            repeated_number(LAST_LIMIT, decision.limit.into()),
        ),
        (X_RATELIMIT_REMAINING, HeaderValue::from(decision.remaining)),
        (
            X_RATELIMIT_RESET,
            repeated_number(LAST_RESET, decision.reset_at_unix),
        ),
    ]
}

const LAST_LIMIT: usize = 0;
const LAST_RESET: usize = 1;

thread_local! {
    /// The last `X-RateLimit-Limit` and `-Reset` values made on this thread: requests in a row
    /// mostly repeat them (one limit per class; a window's end in whole seconds), and sharing
    /// one costs less than writing the digits again.
    static LAST_NUMBERS: RefCell<[(u64, HeaderValue); 2]> =
        RefCell::new(std::array::from_fn(|_| (0, HeaderValue::from(0u64))));
}

/// `number` as a header value, the one made last time for `slot` if it was the same number.
fn repeated_number(slot: usize, number: u64) -> HeaderValue {
    LAST_NUMBERS.with_borrow_mut(|last| {
        let (made_for, value) = &mut last[slot];
        if *made_for != number {
            *made_for = number;
            *value = HeaderValue::from(number);
        }
        value.clone()
    })
}

#[cfg(test)]
mod size_tests {
    use super::*;

    /// The size of the future `call` returns, without calling it.
    fn future_size<Args, F: Future>(_call: impl FnOnce(Args) -> F) -> usize {
        std::mem::size_of::<F>()
    }

    #[test]
    fn the_future_hyper_keeps_with_every_connection_stays_small() {
        // hyper makes room for the request future with every open connection, idle SSE
        // visitors' too: a large route awaited in place rather than boxed would grow them all.
        // Measured in the test build with this compiler (the release build's is alike, and
        // hyper's service future adds a few dozen bytes); the bound leaves room for both.
        type Args = (&'static AppState, SocketAddr, Request<RequestBody>);
        let size = future_size(|(state, peer, request): Args| handle(state, peer, request));
        assert!(size <= 2 * 1024, "router::handle's future is {size} bytes");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decision(limit: u32, remaining: u32, reset_at_unix: u64) -> RateDecision {
        RateDecision {
            allowed: true,
            limit,
            remaining,
            reset_after: Duration::from_secs(1),
            reset_at_unix,
        }
    }

    fn written(decision: RateDecision) -> [String; 3] {
        let mut headers = HeaderMap::new();
        rate_limit_headers(&mut headers, decision);
        [X_RATELIMIT_LIMIT, X_RATELIMIT_REMAINING, X_RATELIMIT_RESET]
            .map(|name| headers[name].to_str().unwrap().to_owned())
    }

    #[test]
    fn rate_limit_headers_say_each_requests_own_numbers_when_they_repeat_and_when_they_change() {
        assert_eq!(
            written(decision(60, 59, 1_800_000_060)),
            ["60", "59", "1800000060"]
        );
        assert_eq!(
            written(decision(60, 58, 1_800_000_060)),
            ["60", "58", "1800000060"]
        );
        assert_eq!(
            written(decision(5, 0, 1_800_000_061)),
            ["5", "0", "1800000061"]
        );
        assert_eq!(written(decision(60, 0, 0)), ["60", "0", "0"]);
    }

    #[test]
    fn a_ready_made_head_gets_each_requests_numbers_and_keeps_its_other_headers() {
        let mut head = HeaderMap::new();
        head.insert(hyper::header::ETAG, HeaderValue::from_static("\"e1\""));
        add_headers(&mut head, true, Some(RateDecision::PLACEHOLDER));
        let before: Vec<_> = head.keys().cloned().collect();
        for remaining in [59, 58] {
            let mut answer = head.clone();
            add_headers(
                &mut answer,
                true,
                Some(decision(60, remaining, 1_800_000_060)),
            );
            assert_eq!(answer.keys().cloned().collect::<Vec<_>>(), before);
            assert_eq!(answer.len(), head.len(), "nothing added twice");
            assert_eq!(answer[X_RATELIMIT_LIMIT], "60");
            assert_eq!(
                answer[X_RATELIMIT_REMAINING],
                remaining.to_string().as_str()
            );
            assert_eq!(answer[X_RATELIMIT_RESET], "1800000060");
            assert_eq!(answer["access-control-allow-origin"], "*");
            assert_eq!(answer[X_CONTENT_TYPE_OPTIONS], "nosniff");
        }
        // A head with a place missing still gets all three numbers.
        let mut partial = head.clone();
        partial.remove(X_RATELIMIT_RESET);
        add_headers(&mut partial, true, Some(decision(60, 1, 1_800_000_061)));
        assert_eq!(partial[X_RATELIMIT_RESET], "1800000061");
        assert_eq!(partial[X_RATELIMIT_REMAINING], "1");
    }
}
