//! Routing: which handler answers a request, and the policies every route shares — rate-limit
//! class, CORS, allowed methods, and the `X-RateLimit-*` headers.
//!
//! Handlers return `Result<Response, ApiError>`; this module turns errors into responses. It
//! never parses bodies or talks to the engine itself.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use helpyap_actors::Registry;
use hyper::body::Incoming;
use hyper::header::{ALLOW, HeaderMap, HeaderName, HeaderValue, X_CONTENT_TYPE_OPTIONS};
use hyper::{Method, Request};
use ipnet::IpNet;

use crate::admission::{ConnectionLimits, StreamQuota, StreamSlot};
use crate::auth::Auth;
use crate::client_ip::client_ip;
use crate::cors;
use crate::error::ApiError;
use crate::json::{Body, BodyLimits, Response};
use crate::metrics::Metrics;
use crate::rate_limit::{RateClass, RateDecision, RateLimiter};
use crate::routes;
use crate::routes::chat::ChatLimits;
use crate::tracker::Live;
use crate::web_fetch::WebFetcher;

const X_RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("x-ratelimit-limit");
const X_RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("x-ratelimit-remaining");
const X_RATELIMIT_RESET: HeaderName = HeaderName::from_static("x-ratelimit-reset");

/// Everything a handler may use, shared by all connections.
pub struct AppState {
    pub registry: Registry,
    pub limiter: RateLimiter,
    pub body_limits: BodyLimits,
    pub trusted_proxies: Vec<IpNet>,
    pub chat_limits: ChatLimits,
    pub chat_keep_alive: Duration,
    /// Live SSE and WebSocket streams, and the shutdown signal they obey.
    pub live: Live,
    pub live_settings: LiveSettings,
    /// Admin access tokens and login lockouts.
    pub auth: Auth,
    /// Knowledge-base pages and sitemaps from the web.
    pub fetcher: WebFetcher,
    /// Caps on open connections, in all and per address.
    pub connections: ConnectionLimits,
    /// Cap on open chat and popup streams per client address.
    pub streams: StreamQuota,
    pub metrics: Metrics,
    /// Who may read `/metrics`; `None` when it is off.
    pub metrics_allow: Option<Vec<IpNet>>,
}

impl AppState {
    /// A place for one more long-lived stream (chat answer, SSE, WebSocket) from `client`.
    pub fn open_stream(&self, client: IpAddr) -> Result<StreamSlot, ApiError> {
        self.streams.open(client).ok_or_else(|| {
            self.metrics.refused("streams_per_ip");
            tracing::debug!(%client, "stream refused: too many open from this address");
            ApiError::TooManyStreams(self.streams.max_per_address())
        })
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    Health,
    WidgetConfig,
    SalespopPush,
    Chat,
    Session,
    SalespopPoll,
    SalespopStream,
    SalespopWs,
    SalespopStats,
    WidgetJs,
    Demo,
    /// `/admin` and the dashboard's files.
    Admin,
    Metrics,
    Lead,
    Feedback,
    AdminLogin,
    AdminRefresh,
    AdminLogout,
    AdminMe,
    /// `/api/admin/projects…`, `/api/admin/invitations…`, `/api/admin/users` and
    /// `/api/admin/backup`: the admin API's own routing picks by
    /// method and path.
    AdminProjects,
}

impl Route {
    fn find(path: &str) -> Option<Route> {
        Some(match path {
            "/healthz" => Route::Health,
            "/metrics" => Route::Metrics,
            "/api/widget/config" => Route::WidgetConfig,
            "/api/widget/salespop-push" => Route::SalespopPush,
            "/api/chat" => Route::Chat,
            "/api/widget/session" => Route::Session,
            "/api/widget/salespop" => Route::SalespopPoll,
            "/api/widget/salespop/stream" => Route::SalespopStream,
            "/api/widget/salespop/ws" => Route::SalespopWs,
            "/api/widget/salespop/stats" => Route::SalespopStats,
            "/api/widget/lead" => Route::Lead,
            "/api/widget/feedback" => Route::Feedback,
            "/api/admin/auth/login" => Route::AdminLogin,
            "/api/admin/auth/refresh" => Route::AdminRefresh,
            "/api/admin/auth/logout" => Route::AdminLogout,
            "/api/admin/me" => Route::AdminMe,
            "/widget.js" => Route::WidgetJs,
            "/demo" => Route::Demo,
            "/api/admin/projects" => Route::AdminProjects,
            "/api/admin/users" | "/api/admin/backup" => Route::AdminProjects,
            "/api/admin/invitations" => Route::AdminProjects,
            _ if path.starts_with("/api/admin/invitations/") => Route::AdminProjects,
            _ if path.starts_with("/api/admin/projects/") => Route::AdminProjects,
            _ if path == "/admin" || path.starts_with("/admin/") => Route::Admin,
            _ => return None,
        })
    }

    /// The one method the route answers; `None` when its handler dispatches by method.
    fn method(self) -> Option<Method> {
        Some(match self {
            Route::AdminProjects => return None,
            Route::Health
            | Route::WidgetConfig
            | Route::Session
            | Route::SalespopPoll
            | Route::SalespopStream
            | Route::SalespopWs
            | Route::SalespopStats
            | Route::WidgetJs
            | Route::Demo
            | Route::Admin
            | Route::Metrics
            | Route::AdminMe => Method::GET,
            Route::SalespopPush
            | Route::Chat
            | Route::Lead
            | Route::Feedback
            | Route::AdminLogin
            | Route::AdminRefresh
            | Route::AdminLogout => Method::POST,
        })
    }

    /// The `Allow` / `Access-Control-Allow-Methods` value.
    fn allow(self) -> &'static str {
        match self.method() {
            Some(Method::POST) => "POST, OPTIONS",
            Some(_) => "GET, OPTIONS",
            None => "GET, POST, PUT, DELETE",
        }
    }

    fn rate_class(self) -> Option<RateClass> {
        match self {
            // Static assets: one per page view, often from many visitors behind one NAT.
            Route::Health | Route::WidgetJs | Route::Demo | Route::Admin => None,
            // Scrapers are few and allow-listed.
            Route::Metrics => None,
            Route::AdminLogin | Route::AdminRefresh => Some(RateClass::Login),
            // Signed-in admins: their tokens are the gate.
            Route::AdminLogout | Route::AdminMe | Route::AdminProjects => None,
            Route::WidgetConfig
            | Route::Session
            | Route::SalespopPoll
            | Route::SalespopStream
            | Route::SalespopWs
            | Route::SalespopStats
            | Route::Feedback => Some(RateClass::Widget),
            Route::SalespopPush => Some(RateClass::Push),
            // Leads share chat's stricter limit: they are a spam target.
            Route::Chat | Route::Lead => Some(RateClass::Chat),
        }
    }

    /// The `route` label of its metrics.
    fn name(self) -> &'static str {
        match self {
            Route::Health => "healthz",
            Route::WidgetConfig => "widget_config",
            Route::SalespopPush => "salespop_push",
            Route::Chat => "chat",
            Route::Session => "session",
            Route::SalespopPoll => "salespop_poll",
            Route::SalespopStream => "salespop_stream",
            Route::SalespopWs => "salespop_ws",
            Route::SalespopStats => "salespop_stats",
            Route::WidgetJs => "widget_js",
            Route::Demo => "demo",
            Route::Admin => "admin_files",
            Route::Metrics => "metrics",
            Route::Lead => "lead",
            Route::Feedback => "feedback",
            Route::AdminLogin => "admin_login",
            Route::AdminRefresh => "admin_refresh",
            Route::AdminLogout => "admin_logout",
            Route::AdminMe => "admin_me",
            Route::AdminProjects => "admin_projects",
        }
    }

    /// Whether browsers on any site may call it (the widget's endpoints).
    /// The admin API is same-origin only: the dashboard is served by this server.
    fn cross_origin(self) -> bool {
        !matches!(
            self,
            Route::Health
                | Route::WidgetJs
                | Route::Demo
                | Route::Admin
                | Route::Metrics
                | Route::AdminLogin
                | Route::AdminRefresh
                | Route::AdminLogout
                | Route::AdminMe
                | Route::AdminProjects
        )
    }
}

pub async fn handle(
    state: &AppState,
    peer: SocketAddr,
    request: Request<Incoming>,
) -> Response<Body> {
    let started = Instant::now();
    let Some(route) = Route::find(request.uri().path()) else {
        let response = ApiError::NotFound("Not found".into()).into_response();
        state.metrics.request("unknown", 404, started.elapsed());
        return with_common_headers(response);
    };
    let mut response = if request.method() == Method::OPTIONS && route.cross_origin() {
        cors::preflight(route.allow())
    } else if route
        .method()
        .is_some_and(|method| request.method() != method)
    {
        let mut response = ApiError::MethodNotAllowed.into_response();
        response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static(route.allow()));
        response
    } else {
        let client = client_ip(peer.ip(), request.headers(), &state.trusted_proxies);
        let decision = match route.rate_class() {
            Some(class) => Some(state.limiter.check(class, client).await),
            None => None,
        };
        let result = match decision {
            Some(decision) if !decision.allowed => {
                tracing::debug!(%client, ?route, "rate limited");
                if let Some(class) = route.rate_class() {
                    state.metrics.rate_limited(class.name());
                }
                Err(ApiError::RateLimited {
                    retry_after: round_up_to_second(decision.reset_after),
                })
            }
            _ => dispatch(route, state, client, request).await,
        };
        let mut response = result.unwrap_or_else(ApiError::into_response);
        if let Some(decision) = decision {
            rate_limit_headers(response.headers_mut(), decision);
        }
        response
    };
    if route.cross_origin() {
        cors::decorate(response.headers_mut());
    }
    state
        .metrics
        .request(route.name(), response.status().as_u16(), started.elapsed());
    with_common_headers(response)
}

async fn dispatch(
    route: Route,
    state: &AppState,
    client: IpAddr,
    request: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    match route {
        Route::Health => Ok(routes::health::get(state)),
        Route::WidgetConfig => routes::widget_config::get(state, &request).await,
        Route::SalespopPush => routes::salespop_push::post(state, request).await,
        Route::Chat => routes::chat::post(state, client, request).await,
        Route::Session => routes::session::get(state, &request).await,
        Route::SalespopPoll => routes::salespop_poll::get(state, &request).await,
        Route::SalespopStream => routes::salespop_stream::get(state, client, &request).await,
        Route::SalespopWs => routes::salespop_ws::get(state, client, request).await,
        Route::SalespopStats => routes::salespop_stats::get(state, &request).await,
        Route::WidgetJs => Ok(routes::assets::widget_js(&request)),
        Route::Demo => routes::assets::demo(&request),
        Route::Admin => routes::assets::admin(&request),
        Route::Metrics => routes::metrics::get(state, client).await,
        Route::Lead => routes::lead::post(state, request).await,
        Route::Feedback => routes::feedback::post(state, request).await,
        Route::AdminLogin => routes::admin_auth::login(state, client, request).await,
        Route::AdminRefresh => routes::admin_auth::refresh(state, request).await,
        Route::AdminLogout => routes::admin_auth::logout(state, request).await,
        Route::AdminMe => routes::admin_auth::me(state, &request).await,
        Route::AdminProjects => routes::admin_projects::handle(state, request).await,
    }
}

/// `X-RateLimit-Reset` is the Unix time (seconds) at which the window ends, as GitHub's API.
fn rate_limit_headers(headers: &mut HeaderMap, decision: RateDecision) {
    let reset_at = SystemTime::now() + round_up_to_second(decision.reset_after);
    let reset_unix = reset_at
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    headers.insert(X_RATELIMIT_LIMIT, HeaderValue::from(decision.limit));
    headers.insert(X_RATELIMIT_REMAINING, HeaderValue::from(decision.remaining));
    headers.insert(X_RATELIMIT_RESET, HeaderValue::from(reset_unix));
}

fn round_up_to_second(duration: Duration) -> Duration {
    let whole = duration.as_secs() + u64::from(duration.subsec_nanos() > 0);
    Duration::from_secs(whole.max(1))
}

fn with_common_headers(mut response: Response<Body>) -> Response<Body> {
    response
        .headers_mut()
        .insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}
