//! The server's life: build the engine from the config, accept connections, shut down cleanly.
//!
//! A connection is admitted under the connection caps (`admission`; refused ones get a canned
//! 503 or 429 and are closed), then served by hyper as HTTP/1.1 or HTTP/2 (h2c on the same
//! port, told from the first bytes by `preface`; an event stream asked for as a connection's
//! whole first read is served by `event_stream` instead) with a header-read timeout (see `timer`), a
//! write-stall timeout (`connection`), and closed gracefully when it carries no request
//! (`idle`). Shutdown: stop accepting, close every
//! connection gracefully and let in-flight requests finish, stop the engine so actor
//! mailboxes drain, flush the store — the whole sequence bounded by `server.shutdown_grace`.
//! With `[server.tls]` each accepted connection first completes a TLS handshake (bounded by the
//! header-read timeout). SIGHUP reloads the certificate and the config file (`reload`). Request handling itself lives
//! in `router`.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use helpyap_actors::llm::breaker::Breaker;
use helpyap_actors::llm::extractive::Extractive;
use helpyap_actors::llm::openai::{OpenAi, OpenAiArguments};
use helpyap_actors::llm::{LlmProvider as Llm, LlmStats};
use helpyap_actors::project::DocumentEdit;
use helpyap_actors::{ChatEngine, Engine, EngineArguments, Models};
use hyper::body::Incoming;
use hyper::server::conn::{http1, http2};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};

use crate::admission::{ConnectionLimits, Refusal, StreamQuota};
use crate::auth::Auth;
use crate::backends::{self, Backends};
use crate::config::{Config, LlmFallback, LlmProvider};
use crate::connection::{Batching, Connection};
use crate::email::Mailer;
use crate::event_stream;
use crate::idle::{Activity, IdleWatch, Tracked, WhenWoken};
use crate::json::{BodyLimits, RequestBody};
use crate::knowledge_dir;
use crate::metrics::Metrics;
use crate::preface::{self, Sniffed, Version};
use crate::reload;
use crate::router::{self, AppState, LiveSettings, RequestLimits};
use crate::routes::chat::ChatLimits;
use crate::tls::Tls;
use crate::tracker::Live;
use crate::web_fetch::{FetchSettings, WebFetcher, WebhookPoster};
use socket2::SockRef;

/// Pause after a failed `accept` (e.g. out of file descriptors) before trying again.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// Descriptors kept free of connections by `server.max_connections = 0`, for the store, the
/// model server and the knowledge fetcher.
const RESERVED_DESCRIPTORS: u64 = 256;
/// Refused connections answered politely at once (the answer written, the request read so the
/// close is clean); past this, a refused connection is closed without waiting.
const REFUSALS_IN_FLIGHT: usize = 256;
/// How long a refused connection may take to take its answer.
const REFUSAL_TIMEOUT: Duration = Duration::from_secs(1);
/// How long a connection closed for carrying no request may take to close gracefully (an
/// HTTP/2 peer acknowledging GOAWAY) before it is dropped.
const IDLE_CLOSE_GRACE: Duration = Duration::from_secs(1);

/// A built server: the engine is running and seeded, no port is bound yet.
pub struct App {
    state: Arc<AppState>,
    /// `[server.tls]`'s acceptor, reloaded on SIGHUP; `None`: plain HTTP.
    tls: Option<Arc<Tls>>,
    /// The config it was built from, which SIGHUP reloads.
    config: Config,
    header_read_timeout: Duration,
    idle_timeout: Duration,
    send_buffer_bytes: usize,
    write_stall_timeout: Duration,
    shutdown_grace: Duration,
}

impl App {
    /// Opens the store (and in cluster mode the links to the other nodes), starts the engine
    /// and applies the config's seed projects.
    pub async fn build(config: &Config) -> anyhow::Result<App> {
        let Backends {
            store,
            nodes,
            limiter,
            jwt_secret,
        } = backends::open(config).await?;
        let feed = config.social_proof.feed_settings();
        let poster = webhook_poster(config)?;
        let mailer = Mailer::new(&config.email)?;
        let engine = Engine::start(EngineArguments {
            store,
            feed: feed.clone(),
            refresh_ttl: config.auth.refresh_ttl,
            chat: chat_engine(config)?,
            max_message_chars: config.chat.max_message_chars,
            nodes,
            webhooks: Some((Arc::new(poster.clone()), dispatch_settings(config))),
        })
        .await
        .context("starting the engine")?;
        bootstrap_admin(&engine).await?;
        apply_seeds(&engine, config).await?;
        if let Some(mailer) = &mailer {
            tokio::spawn(crate::email::tell_teams_of_leads(
                mailer.clone(),
                engine.clone(),
            ));
            tokio::spawn(crate::email::tell_owners_of_webhooks(
                mailer.clone(),
                engine.clone(),
            ));
            let email = &config.email;
            tokio::spawn(crate::email::send_digests(
                mailer.clone(),
                engine.clone(),
                email.digest_every,
                email.digest_hour_utc,
            ));
        }
        let state = AppState {
            engine,
            limiter,
            request_limits: RequestLimits::new(
                BodyLimits {
                    max_bytes: config.server.max_body_bytes,
                    read_timeout: config.server.body_read_timeout,
                },
                ChatLimits {
                    max_messages: config.chat.max_messages,
                    max_message_chars: config.chat.max_message_chars,
                },
            ),
            trusted_proxies: config.server.trusted_proxies.clone(),
            chat_keep_alive: config.chat.keep_alive,
            live: Live::default(),
            auth: Arc::new(Auth::new(&config.auth, jwt_secret)?),
            fetcher: WebFetcher::new(FetchSettings {
                timeout: config.knowledge.fetch_timeout,
                max_bytes: config.knowledge.fetch_max_bytes,
                sitemap_max_pages: config.knowledge.sitemap_max_pages,
                private_networks: config.knowledge.fetch_private_networks,
            })
            .map_err(|error| anyhow::anyhow!("cannot set up the web fetcher: {error}"))?,
            webhook_poster: poster,
            mailer: mailer.clone(),
            connections: ConnectionLimits::new(
                max_connections(config.server.max_connections),
                config.server.max_connections_per_ip,
                config.server.trusted_proxies.clone(),
            ),
            streams: StreamQuota::new(config.server.max_streams_per_ip),
            subscriber_caps: feed.subscriber_caps.clone(),
            popup_writers: Arc::new(crate::fanout::Writers::new(
                config.social_proof.subscriber_queue,
            )),
            metrics: Metrics::new(),
            metrics_allow: config.metrics.enabled.then(|| config.metrics.allow.clone()),
            live_settings: LiveSettings {
                keep_alive: config.social_proof.keep_alive,
                sse_retry: config.social_proof.sse_retry,
                stats_window: config.social_proof.stats_window,
            },
        };
        let tls = config.server.tls.as_ref().map(Tls::load).transpose()?;
        Ok(App {
            state: Arc::new(state),
            tls,
            config: config.clone(),
            header_read_timeout: config.server.header_read_timeout,
            idle_timeout: config.server.idle_timeout,
            send_buffer_bytes: config.server.send_buffer_bytes,
            write_stall_timeout: config.server.write_stall_timeout,
            shutdown_grace: config.server.shutdown_grace,
        })
    }

    pub fn engine(&self) -> &Engine {
        &self.state.engine
    }

    pub async fn bind(&self, addr: SocketAddr) -> anyhow::Result<TcpListener> {
        TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr}"))
    }

    /// Serves `listener` until `shutdown` completes, then shuts down gracefully.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()>,
    ) -> anyhow::Result<()> {
        let mut http1 = http1::Builder::new();
        // No timer: the connection's idle watch is its header-read timeout (see below).
        http1.header_read_timeout(None);
        let mut http2 = http2::Builder::new(TokioExecutor::new());
        http2
            .timer(TokioTimer::new())
            .keep_alive_interval(Duration::from_secs(30));
        // Every connection task holds a receiver: a send asks them to close, and the sender's
        // `closed()` completes once the last one has.
        let (close_all, connections_closing) = watch::channel(());
        let refusals = Arc::new(Semaphore::new(REFUSALS_IN_FLIGHT));
        let sweeper = tokio::spawn(sweep_rate_limits(self.state.clone()));
        let purger = tokio::spawn(purge_expired_conversations(self.state.clone()));
        let resync = self.config.knowledge.resync_interval;
        let resyncer = (!resync.is_zero()).then(|| {
            tokio::spawn(crate::knowledge_sync::resync_every(
                self.state.engine.clone(),
                self.state.fetcher.clone(),
                resync,
            ))
        });
        let reloader = tokio::spawn(reload::on_hangup(
            self.state.clone(),
            self.tls.clone(),
            self.config.clone(),
        ));
        let mut shutdown = std::pin::pin!(shutdown);

        loop {
            let (stream, peer) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        tracing::warn!(%error, "accept failed");
                        tokio::time::sleep(ACCEPT_BACKOFF).await;
                        continue;
                    }
                },
                () = &mut shutdown => break,
            };
            let permit = match self.state.connections.admit(peer.ip()) {
                Ok(permit) => permit,
                Err(refusal) => {
                    self.state.metrics.refused(match refusal {
                        Refusal::Full => "connections",
                        Refusal::Address => "connections_per_ip",
                    });
                    tracing::debug!(%peer, ?refusal, "connection refused");
                    refuse(stream, refusal, &refusals);
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            if self.send_buffer_bytes > 0 {
                let _ = SockRef::from(&stream).set_send_buffer_size(self.send_buffer_bytes);
            }
            let state = self.state.clone();
            let stream_state = self.state.clone();
            let activity = Activity::new();
            let idle = activity.watch(self.header_read_timeout, self.idle_timeout);
            let requests = activity.clone();
            let service = service_fn(move |request: hyper::Request<Incoming>| {
                let state = state.clone();
                let guard = activity.request_started();
                async move {
                    let request = request.map(RequestBody::Hyper);
                    let response = router::handle(&state, peer, request).await;
                    Ok::<_, Infallible>(response.map(|body| Tracked::new(body, guard)))
                }
            });
            let http1 = http1.clone();
            let http2 = http2.clone();
            let header_read_timeout = self.header_read_timeout;
            let stream = Connection::new(stream, self.write_stall_timeout, Some(permit));
            let tls = self.tls.as_ref().map(|tls| tls.acceptor());
            // The TLS handshake and the first bytes share the header-read timeout, from accept.
            let first_bytes_by = tokio::time::Instant::now() + self.header_read_timeout;
            let mut close = connections_closing.clone();
            tokio::spawn(async move {
                // Plain or TLS, one type from here on.
                let io: Box<dyn Io> = match tls {
                    None => Box::new(stream),
                    Some(acceptor) => {
                        match tokio::time::timeout_at(first_bytes_by, acceptor.accept(stream)).await
                        {
                            Ok(Ok(tls)) => Box::new(tls),
                            Ok(Err(error)) => {
                                tracing::debug!(%peer, %error, "TLS handshake failed");
                                return;
                            }
                            Err(_) => {
                                tracing::debug!(%peer, "TLS handshake timed out");
                                return;
                            }
                        }
                    }
                };
                // The version told here rather than by hyper-util, which would leave every
                // HTTP/1 connection a read buffer twice the size (see `preface`). A peer that
                // has sent nothing yet is not waited for at shutdown.
                let sniffed = tokio::select! {
                    sniffed = tokio::time::timeout_at(first_bytes_by, preface::sniff(io)) => sniffed,
                    _ = close.changed() => return,
                };
                let (version, io) = match sniffed {
                    Ok(Ok(sniffed)) => sniffed,
                    Ok(Err(error)) => {
                        tracing::debug!(%peer, %error, "reading the first bytes failed");
                        return;
                    }
                    Err(_) => {
                        tracing::debug!(%peer, "no request before the header-read timeout");
                        return;
                    }
                };
                if version == Version::Http1
                    && let Some(mut request) = event_stream::take(io.first_bytes())
                {
                    // The first read was this head and nothing more: the stream is served
                    // without hyper, and the connection ends with it. It gets a task of its
                    // own, sized for it alone (this one is sized for hyper's connection), which
                    // holds `close`, so shutdown waits for it as for any request, and ends it
                    // at the latest when `close` is told.
                    let io = io.into_inner().into_plain();
                    if io.is_ok() {
                        request.extensions_mut().insert(event_stream::PlainSocket);
                    }
                    let response = router::handle(&stream_state, peer, request).await;
                    tokio::spawn(async move {
                        let shutdown = async move {
                            let _ = close.changed().await;
                        };
                        let served = match io {
                            Ok(plain) => event_stream::serve_plain(plain, response, shutdown).await,
                            Err(io) => event_stream::serve(io, response, shutdown).await,
                        };
                        if let Err(error) = served {
                            tracing::debug!(%peer, %error, "event stream ended with an error");
                        }
                    });
                    return;
                }
                let io = TokioIo::new(io);
                let mut watch = Watch {
                    peer,
                    idle,
                    idle_close_grace: IDLE_CLOSE_GRACE,
                    close,
                    requests,
                };
                match version {
                    Version::Http1 => {
                        // An HTTP/1.1 connection with no request in flight is reading the next
                        // head (or the peer is silent): it has the header-read timeout. hyper's
                        // own would arm and drop a timer for every request.
                        watch.idle.idle_at_most(header_read_timeout);
                        // Nothing can be on its way once the time for a head is up: a head
                        // still coming in pieces is cut off there, as hyper's timeout would.
                        watch.idle_close_grace = Duration::ZERO;
                        let connection = http1.serve_connection(io, service).with_upgrades();
                        drive(
                            connection,
                            http1::UpgradeableConnection::graceful_shutdown,
                            watch,
                        )
                        .await;
                    }
                    Version::Http2 => {
                        let connection = http2.serve_connection(io, service);
                        drive(connection, http2::Connection::graceful_shutdown, watch).await;
                    }
                }
            });
        }

        drop(listener);
        let started = Instant::now();
        tracing::info!("shutting down: waiting for in-flight requests");
        // Live streams end first (WebSockets close with 1001), so hyper is not kept waiting.
        drop(connections_closing);
        let _ = close_all.send(());
        let drained = async {
            tokio::join!(self.state.live.shut_down(), close_all.closed());
        };
        if tokio::time::timeout(self.shutdown_grace, drained)
            .await
            .is_err()
        {
            tracing::warn!(grace = ?self.shutdown_grace, "grace period over; closing remaining connections");
        }
        sweeper.abort();
        purger.abort();
        if let Some(resyncer) = resyncer {
            resyncer.abort();
        }
        reloader.abort();
        let remaining = self
            .shutdown_grace
            .saturating_sub(started.elapsed())
            .max(Duration::from_secs(1));
        self.state
            .engine
            .stop(remaining)
            .await
            .context("flushing the store at shutdown")?;
        tracing::info!("stopped");
        Ok(())
    }
}

/// What a connection is served over: a socket, or TLS on one.
pub(crate) trait Io:
    tokio::io::AsyncRead + tokio::io::AsyncWrite + Batching + Send + Unpin
{
    /// The plain socket, when this is one (not TLS): a popup WebSocket is then written to
    /// by its project's writer (`fanout`).
    fn into_plain(self: Box<Self>) -> Result<Box<Connection<TcpStream>>, Box<dyn Io>>;
}

impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Batching + Send + Unpin + 'static> Io for T {
    fn into_plain(self: Box<Self>) -> Result<Box<Connection<TcpStream>>, Box<dyn Io>> {
        if (&*self as &dyn std::any::Any).is::<Connection<TcpStream>>() {
            let any: Box<dyn std::any::Any> = self;
            Ok(any.downcast().expect("checked just above"))
        } else {
            Err(self)
        }
    }
}

/// What hyper serves an HTTP/1 connection over, and hands back after a WebSocket upgrade.
pub(crate) type Http1Io = TokioIo<Sniffed<Box<dyn Io>>>;

/// What closes a served connection besides its peer: no request for a while, or shutdown.
struct Watch {
    peer: SocketAddr,
    idle: IdleWatch,
    /// How long an idle connection told to close may take to finish on its own.
    idle_close_grace: Duration,
    close: watch::Receiver<()>,
    requests: Arc<Activity>,
}

/// Serves `connection` (hyper's HTTP/1 or HTTP/2) to its end, or closes it gracefully once it
/// has been idle or the server is shutting down.
async fn drive<C: Future<Output = hyper::Result<()>>>(
    connection: C,
    graceful_shutdown: fn(Pin<&mut C>),
    watch: Watch,
) {
    let Watch {
        peer,
        idle,
        idle_close_grace,
        mut close,
        requests,
    } = watch;
    let mut connection = std::pin::pin!(connection);
    let shutting_down = {
        // Polled only when the idle watch or the shutdown signal wakes, not on every wake of
        // the connection (one or more per request); both end with this block.
        let closing = std::pin::pin!(async {
            tokio::select! {
                biased;
                () = idle => false,
                _ = close.changed() => true,
            }
        });
        tokio::select! {
            // The connection first: a request head already received is taken (and the
            // connection busy) before the idle watch looks.
            biased;
            result = connection.as_mut() => {
                if let Err(error) = result {
                    tracing::debug!(%peer, %error, "connection ended with an error");
                }
                return;
            }
            shutting_down = WhenWoken::new(closing) => shutting_down,
        }
    };
    tracing::debug!(%peer, shutting_down, "closing a connection with no request in flight or at shutdown");
    graceful_shutdown(connection.as_mut());
    if shutting_down {
        // In-flight requests finish; `server.shutdown_grace` bounds the wait.
        let _ = connection.await;
    } else if tokio::time::timeout(idle_close_grace, connection.as_mut())
        .await
        .is_err()
        && requests.busy()
    {
        // A request arrived as the connection was told to close (an h2 stream opened before
        // the peer saw GOAWAY): it finishes first.
        let _ = connection.await;
    }
}

/// `server.max_connections`, or for 0 the open-file limit (raised to its hard maximum first)
/// less a reserve.
pub(crate) fn max_connections(configured: usize) -> usize {
    let files = match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => limit,
        Err(error) => {
            tracing::warn!(%error, "cannot read the open-file limit; assuming 1024");
            1024
        }
    };
    let fits =
        usize::try_from(files.saturating_sub(RESERVED_DESCRIPTORS).max(64)).unwrap_or(usize::MAX);
    if configured == 0 {
        tracing::info!(
            max_connections = fits,
            open_file_limit = files,
            "connection cap from the open-file limit"
        );
        return fits;
    }
    if configured > fits {
        tracing::warn!(
            max_connections = configured,
            open_file_limit = files,
            "server.max_connections is above what the open-file limit allows; accepts will fail before it is reached"
        );
    }
    configured
}

/// Answers a connection turned away by a cap — 503 when the server is full, 429 when its
/// address holds too many — and closes it. The answer is written at once; reading what the
/// client sent meanwhile lets the close be clean (no reset losing the answer), within a bound.
fn refuse(stream: TcpStream, refusal: Refusal, in_flight: &Arc<Semaphore>) {
    let (status, error) = match refusal {
        Refusal::Full => (
            "503 Service Unavailable",
            "The server is full; try again in a moment",
        ),
        Refusal::Address => (
            "429 Too Many Requests",
            "Too many connections from your address",
        ),
    };
    let body = serde_json::json!({ "error": error }).to_string();
    let answer = format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\nretry-after: 1\r\n\
         connection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes();
    let Ok(permit) = in_flight.clone().try_acquire_owned() else {
        let _ = stream.try_write(&answer);
        return;
    };
    tokio::spawn(async move {
        let _permit = permit;
        let mut stream = stream;
        let _ = tokio::time::timeout(REFUSAL_TIMEOUT, async {
            stream.write_all(&answer).await?;
            stream.shutdown().await?;
            let mut sink = [0; 1024];
            while stream.read(&mut sink).await? > 0 {}
            Ok::<_, std::io::Error>(())
        })
        .await;
    });
}

/// Applies the config's seed projects (created when missing, updated when their settings here
/// changed) and upserts their `knowledge_dir` documents: at start, and again on SIGHUP.
pub(crate) async fn apply_seeds(engine: &Engine, config: &Config) -> anyhow::Result<()> {
    // Everything is read before anything is applied: a bad file changes no project.
    let seeds = config.project_seeds()?;
    let mut knowledge = Vec::new();
    for project in &config.projects {
        let Some(dir) = &project.knowledge_dir else {
            continue;
        };
        let documents = if dir.is_dir() {
            knowledge_dir::load(dir).with_context(|| {
                format!(
                    "reading knowledge_dir {} of project {}",
                    dir.display(),
                    project.slug
                )
            })?
        } else if config.is_embedded_default() {
            knowledge_dir::built_in_demo()
        } else {
            tracing::warn!(project = %project.slug, dir = %dir.display(), "knowledge_dir not found; keeping stored documents");
            continue;
        };
        knowledge.push((&project.slug, documents));
    }
    for (slug, settings) in seeds {
        let seed = || engine.projects.seed(&slug, settings.clone());
        retried(seed)
            .await
            .with_context(|| format!("seeding project {slug}"))?;
    }
    for (slug, documents) in knowledge {
        tracing::info!(project = %slug, n_documents = documents.len(), "knowledge base loaded");
        // Upserted by file name: documents added in the dashboard stay.
        let load = || {
            engine
                .projects
                .edit_document(slug, DocumentEdit::Upsert(documents.clone()))
        };
        retried(load)
            .await
            .with_context(|| format!("loading the knowledge base of project {slug}"))?;
    }
    Ok(())
}

/// `step`, tried again twice after a moment when it fails: nodes starting together on one
/// database seed the same projects at the same moment, and one of them may lose a race (a
/// unique key taken meanwhile); on its next try it finds the project there.
async fn retried<T, E, F, Step>(step: Step) -> Result<T, E>
where
    Step: Fn() -> F,
    F: Future<Output = Result<T, E>>,
{
    let mut tries = 0;
    loop {
        match step().await {
            Err(_) if tries < 2 => {
                tries += 1;
                tokio::time::sleep(Duration::from_millis(100 * tries)).await;
            }
            result => return result,
        }
    }
}

/// On a first start with no admin users, `HELPYAP_ADMIN_EMAIL` and `HELPYAP_ADMIN_PASSWORD`
/// create the first one.
async fn bootstrap_admin(engine: &Engine) -> anyhow::Result<()> {
    let (Ok(email), Ok(password)) = (
        std::env::var("HELPYAP_ADMIN_EMAIL"),
        std::env::var("HELPYAP_ADMIN_PASSWORD"),
    ) else {
        return Ok(());
    };
    if engine.accounts.user_count().await? > 0 {
        return Ok(());
    }
    let user = engine
        .accounts
        .add_user(&email, password, true)
        .await
        .context("creating the first admin from HELPYAP_ADMIN_EMAIL")?;
    tracing::info!(email = %user.email, "first admin created");
    Ok(())
}

/// The model side of chat, as the config asks.
fn chat_engine(config: &Config) -> anyhow::Result<ChatEngine> {
    let stats = Arc::<LlmStats>::default();
    Ok(ChatEngine::new(
        models(config, &stats)?,
        stats,
        config.chat.session_idle_timeout,
        config.chat.max_sessions_in_memory,
    )
    .with_handoff_timeout(config.chat.handoff_timeout))
}

/// The models `config.llm` names: at start, and again on SIGHUP.
pub(crate) fn models(config: &Config, stats: &Arc<LlmStats>) -> anyhow::Result<Models> {
    let llm = &config.llm;
    let extractive: Arc<dyn Llm> = Arc::new(Extractive);
    let provider: Arc<dyn Llm> = match llm.provider {
        LlmProvider::Extractive => extractive.clone(),
        LlmProvider::Openai => {
            let api_key = std::env::var(&llm.api_key_env).unwrap_or_default();
            if api_key.is_empty() {
                tracing::warn!(var = %llm.api_key_env, "no API key set; sending requests without one");
            }
            let openai: Arc<dyn Llm> = Arc::new(OpenAi::new(OpenAiArguments {
                base_url: llm.base_url.clone(),
                model: llm.model.clone(),
                api_key,
                temperature: llm.temperature,
                max_tokens: llm.max_tokens,
                connect_timeout: llm.connect_timeout,
                first_token_timeout: llm.first_token_timeout,
                idle_timeout: llm.idle_timeout,
                max_concurrent_streams: llm.max_concurrent_streams,
                http2_prior_knowledge: llm.http2_prior_knowledge,
                connections: llm.connections,
            })?);
            match llm.breaker_failures {
                0 => openai,
                failures => Arc::new(Breaker::new(
                    openai,
                    failures,
                    llm.breaker_cooldown,
                    stats.clone(),
                )),
            }
        }
    };
    let fallback = match (llm.provider, llm.fallback) {
        (LlmProvider::Openai, LlmFallback::Extractive) => Some(extractive),
        _ => None,
    };
    Ok(Models {
        provider,
        fallback,
        history_messages: config.chat.history_messages,
    })
}

async fn sweep_rate_limits(state: Arc<AppState>) {
    let mut ticker = tokio::time::interval(state.limiter.sweep_interval());
    loop {
        ticker.tick().await;
        state.limiter.sweep(Instant::now());
    }
}

/// Erases conversations past their project's retention period, hourly.
async fn purge_expired_conversations(state: Arc<AppState>) {
    let mut ticker = tokio::time::interval(Duration::from_secs(3600));
    loop {
        ticker.tick().await;
        let now_ms = helpyap_actors::time::now_ms();
        match state.engine.chat.purge_expired(now_ms).await {
            Ok(0) => {}
            Ok(erased) => tracing::info!(erased, "expired conversations erased"),
            Err(error) => tracing::warn!(%error, "retention purge failed; retrying next hour"),
        }
    }
}

/// Completes on the first SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut terminate = signal(SignalKind::terminate()).expect("installing a SIGTERM handler");
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}

/// What sends the projects' webhooks, under the config's address rules.
pub fn webhook_poster(config: &Config) -> anyhow::Result<WebhookPoster> {
    let webhooks = &config.webhooks;
    WebhookPoster::new(webhooks.timeout, webhooks.private_networks)
        .map_err(|error| anyhow::anyhow!("cannot set up the webhook sender: {error}"))
}

fn dispatch_settings(config: &Config) -> helpyap_actors::dispatcher::DispatchSettings {
    let webhooks = &config.webhooks;
    helpyap_actors::dispatcher::DispatchSettings {
        poll: webhooks.poll_interval,
        // Longer than a delivery may take, so no other node sends it while it is on its way.
        lease: webhooks.timeout * 3,
        retry_base: webhooks.retry_base,
        give_up_after: webhooks.give_up_after,
        batch: 32,
    }
}
