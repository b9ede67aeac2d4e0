//! The operator's configuration: `config.toml` loaded once into a typed [`Config`].
//!
//! Every key has a default (the same one the shipped `config.toml` documents), unknown keys are
//! rejected, and secrets may come from named environment variables. This module turns the file
//! into values and checks them; it hands the engine plain arguments, never the `Config` itself.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use helpyap_actors::feed::{FeedSettings, SubscriberCaps};
use helpyap_actors::records::AssistantSettings;
use helpyap_actors::{
    LiveViewers, MobilePosition, NameFormat, PageRules, PopupPosition, PopupTemplates, PopupTypes,
    Position, ProjectSettings, SecretHash, SocialProofDisplay, Summaries, Theme, Utm,
    WidgetSettings,
};
use ipnet::IpNet;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The shipped `config.toml`, used when no file is named and `./config.toml` does not exist.
pub const DEFAULT_CONFIG_TOML: &str = include_str!("../config.toml");
/// `Config::origin` when no config file was found.
const EMBEDDED_ORIGIN: &str = "embedded default config";

/// Shortest push secret accepted from the config file.
pub const PUSH_SECRET_MIN_CHARS: usize = 16;

impl ConfigError {
    /// What is wrong, without where the config came from.
    pub fn message(&self) -> String {
        match self {
            ConfigError::Parse { message, .. } | ConfigError::Invalid { message, .. } => {
                message.clone()
            }
            ConfigError::Read { .. } => self.to_string(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{origin}: {message}")]
    Parse { origin: String, message: String },
    #[error("{origin}: {message}")]
    Invalid { origin: String, message: String },
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub server: ServerConfig,
    pub store: StoreConfig,
    pub rate_limits: RateLimitsConfig,
    pub llm: LlmConfig,
    pub chat: ChatConfig,
    pub knowledge: KnowledgeConfig,
    pub webhooks: WebhooksConfig,
    pub email: EmailConfig,
    pub metrics: MetricsConfig,
    pub social_proof: SocialProofConfig,
    pub auth: AuthConfig,
    /// Present: this node is one of many on a shared PostgreSQL and Redis; absent: one node
    /// on its own sled store.
    pub cluster: Option<ClusterConfig>,
    pub projects: Vec<ProjectConfig>,
    /// Where the config came from, for error messages and reloads; not a key.
    #[serde(skip)]
    pub origin: String,
    /// The command line's overrides, applied again when the file is reloaded; not a key.
    #[serde(skip)]
    pub overrides: Overrides,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    pub bind: SocketAddr,
    /// Peers whose `X-Forwarded-For` is believed: addresses or CIDR ranges.
    #[serde(deserialize_with = "deserialize_networks")]
    pub trusted_proxies: Vec<IpNet>,
    pub max_body_bytes: usize,
    /// A connection must send a complete request head within this time of being accepted (and
    /// of its previous request, on HTTP/1.1), or it is closed.
    #[serde(with = "humantime_serde")]
    pub header_read_timeout: Duration,
    /// A connection with no request in flight for this long is closed (HTTP/2 connections;
    /// HTTP/1.1 ones are closed sooner by `header_read_timeout`).
    #[serde(with = "humantime_serde")]
    pub idle_timeout: Duration,
    #[serde(with = "humantime_serde")]
    pub body_read_timeout: Duration,
    /// Kernel send buffer of each accepted connection; 0 leaves the kernel's autotuning.
    pub send_buffer_bytes: usize,
    /// A connection whose writes make no progress for this long is closed.
    #[serde(with = "humantime_serde")]
    pub write_stall_timeout: Duration,
    #[serde(with = "humantime_serde")]
    pub shutdown_grace: Duration,
    /// Connections open at once; 0: as many as the open-file limit allows, less a reserve.
    pub max_connections: usize,
    /// Connections open at once from one peer address (trusted proxies exempt); 0: no cap.
    pub max_connections_per_ip: usize,
    /// Chat answers and popup streams open at once per client address; 0: no cap.
    pub max_streams_per_ip: usize,
    /// Overridden by `HELPYAP_LOG_LEVEL`.
    pub log_level: LogLevel,
    /// `text` (human) or `json` (one object per line); overridden by `HELPYAP_LOG_FORMAT`.
    pub log_format: LogFormat,
    /// `[server.tls]`: serve HTTPS (HTTP/2 and HTTP/1.1 by ALPN) on `bind`; absent: plain HTTP.
    pub tls: Option<TlsConfig>,
}

/// `[server.tls]`: the certificate chain and private key, PEM files read at start and again on
/// SIGHUP.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            bind: SocketAddr::from(([127, 0, 0, 1], 3000)),
            trusted_proxies: Vec::new(),
            max_body_bytes: 64 * 1024,
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            body_read_timeout: Duration::from_secs(30),
            send_buffer_bytes: 64 * 1024,
            write_stall_timeout: Duration::from_secs(10),
            shutdown_grace: Duration::from_secs(10),
            max_connections: 0,
            max_connections_per_ip: 256,
            max_streams_per_ip: 128,
            log_level: LogLevel::Info,
            log_format: LogFormat::Text,
            tls: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    /// Directory of the sled database; relative paths are relative to the working directory.
    pub path: PathBuf,
    /// Most memory sled's page cache takes, in bytes.
    pub cache_bytes: u64,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            path: PathBuf::from("data"),
            cache_bytes: helpyap_actors::store::DEFAULT_CACHE_BYTES,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitsConfig {
    pub chat: RateLimit,
    pub push: RateLimit,
    pub widget: RateLimit,
    /// `POST /api/admin/auth/login` and `/refresh`.
    pub login: RateLimit,
    /// `POST /api/integrations/…`: Stripe's and Shopify's webhooks.
    pub integrations: RateLimit,
}

impl Default for RateLimitsConfig {
    fn default() -> Self {
        let per_minute = |requests| RateLimit {
            requests,
            window: Duration::from_secs(60),
        };
        RateLimitsConfig {
            chat: per_minute(20),
            push: per_minute(10),
            widget: per_minute(60),
            login: per_minute(10),
            integrations: per_minute(600),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    pub requests: u32,
    #[serde(with = "humantime_serde")]
    pub window: Duration,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct LlmConfig {
    pub provider: LlmProvider,
    /// Any OpenAI-compatible server's `/v1` URL.
    pub base_url: String,
    pub model: String,
    /// Environment variable holding the API key; unset means no key (local servers).
    pub api_key_env: String,
    pub temperature: f32,
    pub max_tokens: u32,
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    #[serde(with = "humantime_serde")]
    pub first_token_timeout: Duration,
    #[serde(with = "humantime_serde")]
    pub idle_timeout: Duration,
    pub max_concurrent_streams: usize,
    /// Speak HTTP/2 without TLS (h2c, "prior knowledge") to `base_url`.
    pub http2_prior_knowledge: bool,
    /// HTTP/2 connections (one pool each) that answers are spread over in turn.
    pub connections: usize,
    pub fallback: LlmFallback,
    /// Answers failing in a row at the model server before it is rested; 0 turns it off.
    pub breaker_failures: u32,
    /// How long a failing model server is rested before one trial answer.
    #[serde(with = "humantime_serde")]
    pub breaker_cooldown: Duration,
}

impl Default for LlmConfig {
    fn default() -> Self {
        LlmConfig {
            provider: LlmProvider::Extractive,
            base_url: "https://api.openai.com/v1".into(),
            model: "gpt-4o-mini".into(),
            api_key_env: "OPENAI_API_KEY".into(),
            temperature: 0.2,
            max_tokens: 500,
            connect_timeout: Duration::from_secs(5),
            first_token_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(30),
            max_concurrent_streams: 256,
            http2_prior_knowledge: false,
            connections: 16,
            fallback: LlmFallback::Extractive,
            breaker_failures: 5,
            breaker_cooldown: Duration::from_secs(30),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LlmProvider {
    /// Answers from the best-matching knowledge-base passages; needs no key.
    Extractive,
    /// Any OpenAI-compatible chat-completions server.
    Openai,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LlmFallback {
    /// A failed answer ends with an error frame.
    None,
    /// A failed answer is replaced by the extractive one, when no text was sent yet.
    Extractive,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ChatConfig {
    /// A session's actor stops after this long without requests; its state stays stored.
    #[serde(with = "humantime_serde")]
    pub session_idle_timeout: Duration,
    /// Stored messages sent to the model as history.
    pub history_messages: usize,
    /// Longest accepted visitor message, in characters.
    pub max_message_chars: usize,
    /// Most messages accepted in one request body.
    pub max_messages: usize,
    /// An SSE comment is sent after this long without an event.
    #[serde(with = "humantime_serde")]
    pub keep_alive: Duration,
    /// Session actors kept in memory; past it the longest-running idle ones are stopped.
    pub max_sessions_in_memory: usize,
    /// A conversation waiting for a teammate, or with one, goes back to the assistant after this
    /// long without a teammate's reply.
    #[serde(with = "humantime_serde")]
    pub handoff_timeout: Duration,
}

impl Default for ChatConfig {
    fn default() -> Self {
        ChatConfig {
            session_idle_timeout: Duration::from_secs(600),
            history_messages: 20,
            max_message_chars: 4000,
            max_messages: 100,
            keep_alive: Duration::from_secs(15),
            max_sessions_in_memory: 20_000,
            handoff_timeout: Duration::from_secs(30 * 60),
        }
    }
}

/// `GET /metrics` for Prometheus.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsConfig {
    pub enabled: bool,
    /// Client networks that may scrape it (after `trusted_proxies`); others get 403.
    #[serde(deserialize_with = "deserialize_networks")]
    pub allow: Vec<IpNet>,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            enabled: true,
            allow: vec![
                "127.0.0.0/8".parse().expect("a valid network"),
                "::1/128".parse().expect("a valid network"),
            ],
        }
    }
}

/// Fetching knowledge-base pages and sitemaps from the web (admin API).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct KnowledgeConfig {
    /// Longest wait for one page, connecting included.
    #[serde(with = "humantime_serde")]
    pub fetch_timeout: Duration,
    /// Largest page or sitemap read, in bytes.
    pub fetch_max_bytes: usize,
    /// Most pages added from one sitemap.
    pub sitemap_max_pages: usize,
    /// Allow fetching from loopback, private and link-local addresses. Off by default, so a
    /// project owner cannot make the server read the network it runs in.
    pub fetch_private_networks: bool,
    /// How often every fetched page and sitemap is fetched again (conditionally: only changed
    /// pages are re-indexed); `0s` never.
    #[serde(with = "humantime_serde")]
    pub resync_interval: Duration,
}

impl Default for KnowledgeConfig {
    fn default() -> Self {
        KnowledgeConfig {
            fetch_timeout: Duration::from_secs(15),
            fetch_max_bytes: 10 * 1024 * 1024,
            sitemap_max_pages: 50,
            fetch_private_networks: false,
            resync_interval: Duration::from_secs(24 * 3600),
        }
    }
}

/// Email through an SMTP server: team notifications and password reset links. Off without
/// `smtp_url`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct EmailConfig {
    /// `smtp://host:25`, `smtp://user:pass@host:587?tls=required` (STARTTLS) or
    /// `smtps://user:pass@host:465`; the environment variable `HELPYAP_SMTP_URL` wins.
    #[serde(serialize_with = "redacted_optional_url")]
    pub smtp_url: Option<String>,
    /// The sender, `Name <address>`.
    pub from: String,
    /// Where people reach this server, for the links in emails (`https://support.example.com`).
    pub public_url: String,
    /// How often the digest of unanswered questions goes out, covering the time since the last.
    #[serde(with = "humantime_serde")]
    pub digest_every: Duration,
    /// The UTC hour it goes out at (with `digest_every` of a day).
    pub digest_hour_utc: u8,
}

impl Default for EmailConfig {
    fn default() -> Self {
        EmailConfig {
            smtp_url: None,
            from: "HelpYap <helpyap@localhost>".into(),
            public_url: "http://127.0.0.1:3000".into(),
            digest_every: Duration::from_secs(24 * 3600),
            digest_hour_utc: 8,
        }
    }
}

/// Sending projects' signed webhooks.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhooksConfig {
    /// Longest wait for a receiver's answer, connecting included.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// The wait after a first failed attempt, doubled after each (at most an hour), ±20%.
    #[serde(with = "humantime_serde")]
    pub retry_base: Duration,
    /// Retries stop this long after the first attempt, and the webhook is turned off.
    #[serde(with = "humantime_serde")]
    pub give_up_after: Duration,
    /// How often each node reads the outbox when it is quiet.
    #[serde(with = "humantime_serde")]
    pub poll_interval: Duration,
    /// Allow webhooks to loopback, private and link-local addresses (an intranet receiver).
    pub private_networks: bool,
}

impl Default for WebhooksConfig {
    fn default() -> Self {
        WebhooksConfig {
            timeout: Duration::from_secs(10),
            retry_base: Duration::from_secs(10),
            give_up_after: Duration::from_secs(24 * 3600),
            poll_interval: Duration::from_millis(500),
            private_networks: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct SocialProofConfig {
    /// Recent events kept per project, in the store and in memory, for replay to visitors who
    /// reconnect.
    pub retain_events: u64,
    /// Events older than this are not replayed.
    #[serde(with = "humantime_serde")]
    pub replay_max_age: Duration,
    /// Events a live visitor may fall behind before it is dropped.
    pub subscriber_queue: usize,
    pub max_subscribers_per_project: usize,
    pub max_subscribers: usize,
    /// WebSocket ping and SSE keep-alive interval.
    #[serde(with = "humantime_serde")]
    pub keep_alive: Duration,
    /// The reconnect delay SSE clients are told (`retry:`).
    #[serde(with = "humantime_serde")]
    pub sse_retry: Duration,
    /// Default window of `GET /api/widget/salespop/stats`.
    #[serde(with = "humantime_serde")]
    pub stats_window: Duration,
}

impl Default for SocialProofConfig {
    fn default() -> Self {
        SocialProofConfig {
            retain_events: 1000,
            replay_max_age: Duration::from_secs(24 * 3600),
            subscriber_queue: 64,
            max_subscribers_per_project: 10_000,
            max_subscribers: 50_000,
            keep_alive: Duration::from_secs(30),
            sse_retry: Duration::from_secs(3),
            stats_window: Duration::from_secs(24 * 3600),
        }
    }
}

impl SocialProofConfig {
    pub fn feed_settings(&self) -> FeedSettings {
        FeedSettings {
            replay_events: self.retain_events as usize,
            replay_max_age: self.replay_max_age,
            subscriber_queue: self.subscriber_queue,
            subscriber_caps: SubscriberCaps::new(
                self.max_subscribers_per_project,
                self.max_subscribers,
            ),
        }
    }
}

/// `[cluster]`: the engines every node shares. The URLs carry credentials: keep them in the
/// environment (`HELPYAP_POSTGRES_URL`, `HELPYAP_REDIS_URL`, which win over the file).
#[derive(Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClusterConfig {
    /// `postgres://user:password@host:5432/database`: the durable truth.
    #[serde(serialize_with = "redacted_url")]
    pub postgres_url: String,
    /// `redis://host:6379/0`: events between nodes and shared rate limits.
    #[serde(serialize_with = "redacted_url")]
    pub redis_url: String,
    /// How often a node asks PostgreSQL for events and settings no other node told it of (a
    /// node that died between its commit and its announcement, Redis down).
    #[serde(with = "humantime_serde")]
    pub check_interval: Duration,
    /// How long a node's hold on a session's answer outlives the node: it is renewed while
    /// the answer is written, so a session whose node died is free again after this long.
    #[serde(with = "humantime_serde")]
    pub answer_lease: Duration,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            postgres_url: String::new(),
            redis_url: String::new(),
            check_interval: Duration::from_secs(1),
            answer_lease: Duration::from_secs(30),
        }
    }
}

/// The URLs hold passwords: never printed.
impl std::fmt::Debug for ClusterConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterConfig")
            .field("check_interval", &self.check_interval)
            .field("answer_lease", &self.answer_lease)
            .finish_non_exhaustive()
    }
}

/// `[auth]`: admin sign-in.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// Environment variable holding the JWT signing secret (at least 32 characters). Unset: a
    /// random secret per process, so access tokens end at restart (refresh tokens survive).
    pub jwt_secret_env: String,
    #[serde(with = "humantime_serde")]
    pub access_ttl: Duration,
    #[serde(with = "humantime_serde")]
    pub refresh_ttl: Duration,
    /// Wrong passwords verified per account in `lockout_window`, then 429 until it ends.
    pub max_failed_logins: u32,
    /// Wrong passwords verified per client address (IPv6: per /64) in `lockout_window`,
    /// whatever the accounts, then 429 until it ends.
    pub max_failed_logins_per_ip: u32,
    #[serde(with = "humantime_serde")]
    pub lockout_window: Duration,
    /// How often an open live stream of the dashboard checks its caller's access again (signed
    /// out, removed from the project, API token revoked: the stream ends).
    #[serde(with = "humantime_serde")]
    pub live_recheck: Duration,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            jwt_secret_env: "HELPYAP_JWT_SECRET".into(),
            access_ttl: Duration::from_secs(15 * 60),
            refresh_ttl: Duration::from_secs(30 * 24 * 3600),
            max_failed_logins: 5,
            max_failed_logins_per_ip: 20,
            lockout_window: Duration::from_secs(15 * 60),
            live_recheck: Duration::from_secs(15),
        }
    }
}

/// A project seeded at start: created if missing, its settings overwritten if present.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectConfig {
    pub slug: String,
    pub name: String,
    #[serde(default)]
    pub company: String,
    #[serde(default)]
    pub welcome_message: String,
    #[serde(default)]
    pub quick_replies: Vec<String>,
    #[serde(default)]
    pub theme: ThemeConfig,
    /// The push secret in plain text. Local use only: prefer `push_secret_env`.
    #[serde(serialize_with = "redacted_secret")]
    pub push_secret: Option<String>,
    /// Name of an environment variable holding the push secret; wins over `push_secret`.
    pub push_secret_env: Option<String>,
    /// Folder of `.md`, `.txt` and `.html` documents loaded as the knowledge base at start.
    pub knowledge_dir: Option<PathBuf>,
    /// How the widget shows social-proof popups.
    #[serde(default)]
    pub social_proof: PopupConfig,
    /// Sites whose pages may use the widget (`https://shop.example.com`); empty: any site.
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    /// Conversations older than this many days are erased automatically; unset keeps them.
    pub retention_days: Option<u32>,
    /// The widget's own words' language: `auto` (the visitor's browser) or a language code.
    #[serde(default = "auto_locale")]
    pub locale: String,
    /// `[projects.strings]`: the owner's wording for single widget strings, by key.
    #[serde(default)]
    pub strings: BTreeMap<String, String>,
    /// `[projects.assistant]`: `languages` (codes, the main one first; default `["en"]`) and
    /// the owner's `instructions` for a model.
    #[serde(default)]
    pub assistant: AssistantSettings,
}

/// `[projects.social_proof]`: the display rules served as `socialProof` in the widget config.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct PopupConfig {
    pub enabled: bool,
    #[serde(with = "humantime_serde")]
    pub initial_delay: Duration,
    #[serde(with = "humantime_serde")]
    pub display: Duration,
    #[serde(with = "humantime_serde")]
    pub gap: Duration,
    pub max_per_visit: u32,
    pub show_on_mobile: bool,
    pub name_format: NameFormat,
    /// The older way to say `name_format = "anonymous"`; still read.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub anonymize: bool,
    #[serde(with = "humantime_serde")]
    pub max_age: Duration,
    pub templates: PopupTemplates,
    pub position: PopupPosition,
    pub mobile_position: MobilePosition,
    pub pages: PageRules,
    pub types: PopupTypes,
    pub utm: Utm,
    pub summaries: Summaries,
    pub live_viewers: LiveViewers,
}

impl Default for PopupConfig {
    fn default() -> Self {
        let display = SocialProofDisplay::default();
        PopupConfig {
            enabled: display.enabled,
            initial_delay: Duration::from_millis(display.initial_delay_ms),
            display: Duration::from_millis(display.display_ms),
            gap: Duration::from_millis(display.gap_ms),
            max_per_visit: display.max_per_visit,
            show_on_mobile: display.show_on_mobile,
            name_format: display.name_format,
            anonymize: false,
            max_age: Duration::from_millis(display.max_age_ms),
            templates: display.templates,
            position: display.position,
            mobile_position: display.mobile_position,
            pages: display.pages,
            types: display.types,
            utm: display.utm,
            summaries: display.summaries,
            live_viewers: display.live_viewers,
        }
    }
}

impl PopupConfig {
    fn display(&self) -> SocialProofDisplay {
        let ms = |duration: Duration| duration.as_millis().min(u128::from(u64::MAX)) as u64;
        SocialProofDisplay {
            enabled: self.enabled,
            initial_delay_ms: ms(self.initial_delay),
            display_ms: ms(self.display),
            gap_ms: ms(self.gap),
            max_per_visit: self.max_per_visit,
            show_on_mobile: self.show_on_mobile,
            name_format: if self.anonymize {
                NameFormat::Anonymous
            } else {
                self.name_format
            },
            max_age_ms: ms(self.max_age),
            templates: self.templates.clone(),
            position: self.position,
            mobile_position: self.mobile_position,
            pages: self.pages.clone(),
            types: self.types.clone(),
            utm: self.utm.clone(),
            summaries: self.summaries.clone(),
            live_viewers: self.live_viewers.clone(),
            legacy_anonymize: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ThemeConfig {
    pub primary_color: String,
    pub position: Position,
}

impl Default for ThemeConfig {
    fn default() -> Self {
        ThemeConfig {
            primary_color: "#3737f6".into(),
            position: Position::BottomRight,
        }
    }
}

/// Overrides from the command line; they win over the file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Overrides {
    pub bind: Option<SocketAddr>,
    pub data_dir: Option<PathBuf>,
}

impl Config {
    /// Loads `path`, or `./config.toml`, or the embedded defaults when neither exists; applies
    /// `overrides`; validates everything, secrets included.
    pub fn load(path: Option<&Path>, overrides: &Overrides) -> Result<Config, ConfigError> {
        let config = Config::read(path, overrides)?;
        config.validate()?;
        Ok(config)
    }

    /// [`Config::load`] without checking the values (`check-config` lists every problem).
    pub fn read(path: Option<&Path>, overrides: &Overrides) -> Result<Config, ConfigError> {
        let local = Path::new("config.toml");
        let (origin, text) = match path {
            Some(path) => (path.display().to_string(), read(path)?),
            None if local.exists() => (local.display().to_string(), read(local)?),
            None => (EMBEDDED_ORIGIN.to_owned(), DEFAULT_CONFIG_TOML.to_owned()),
        };
        let mut config = Config::parse(&origin, &text)?;
        config.overrides = overrides.clone();
        if let Some(bind) = overrides.bind {
            config.server.bind = bind;
        }
        if let Some(data_dir) = &overrides.data_dir {
            config.store.path = data_dir.clone();
        }
        if let Some(level) = env_setting("HELPYAP_LOG_LEVEL")? {
            config.server.log_level = level;
        }
        if let Some(format) = env_setting("HELPYAP_LOG_FORMAT")? {
            config.server.log_format = format;
        }
        if let Some(url) = env_setting::<String>("HELPYAP_SMTP_URL")? {
            config.email.smtp_url = Some(url);
        }
        for (var, url) in [
            ("HELPYAP_POSTGRES_URL", ClusterUrl::Postgres),
            ("HELPYAP_REDIS_URL", ClusterUrl::Redis),
        ] {
            if let Some(value) = env_setting::<String>(var)? {
                let cluster = config.cluster.get_or_insert_with(ClusterConfig::default);
                match url {
                    ClusterUrl::Postgres => cluster.postgres_url = value,
                    ClusterUrl::Redis => cluster.redis_url = value,
                }
            }
        }
        Ok(config)
    }

    /// The file this config was read from; `None` for the embedded defaults.
    pub fn file(&self) -> Option<&Path> {
        (!self.is_embedded_default()).then(|| Path::new(&self.origin))
    }

    /// Where cluster mode dumps its database before a release migrates it: beside where the
    /// embedded store would be (`store.path`'s parent directory).
    pub fn migration_backups(&self) -> PathBuf {
        match self.store.path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
            _ => PathBuf::from("."),
        }
    }

    /// Whether this is the built-in `config.toml`, no file having been found.
    pub fn is_embedded_default(&self) -> bool {
        self.origin == EMBEDDED_ORIGIN
    }

    /// Parses TOML text without validating values.
    pub fn parse(origin: &str, text: &str) -> Result<Config, ConfigError> {
        let mut config: Config = toml::from_str(text).map_err(|error| ConfigError::Parse {
            origin: origin.to_owned(),
            message: error.to_string().trim_end().to_owned(),
        })?;
        config.origin = origin.to_owned();
        Ok(config)
    }

    /// Checks every value; the first problem, if any (see [`Config::problems`] for all).
    pub fn validate(&self) -> Result<(), ConfigError> {
        match self.problems().into_iter().next() {
            Some(message) => Err(self.invalid(&message)),
            None => Ok(()),
        }
    }

    /// Every problem of the values, one sentence each, in the file's order.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let server = &self.server;
        if server.max_body_bytes < 1024 {
            problems.push("server.max_body_bytes must be at least 1024".into());
        }
        for (key, value) in [
            ("server.header_read_timeout", server.header_read_timeout),
            ("server.idle_timeout", server.idle_timeout),
            ("server.body_read_timeout", server.body_read_timeout),
            ("server.write_stall_timeout", server.write_stall_timeout),
        ] {
            if value.is_zero() {
                problems.push(format!("{key} must be greater than zero"));
            }
        }
        let limits = &self.rate_limits;
        for (class, limit) in [
            ("chat", limits.chat),
            ("push", limits.push),
            ("widget", limits.widget),
            ("login", limits.login),
            ("integrations", limits.integrations),
        ] {
            if limit.requests == 0 || limit.window < Duration::from_secs(1) {
                problems.push(format!(
                    "rate_limits.{class} needs requests >= 1 and a window of at least 1s"
                ));
            }
        }
        let webhooks = &self.webhooks;
        for (key, value) in [
            ("webhooks.timeout", webhooks.timeout),
            ("webhooks.retry_base", webhooks.retry_base),
            ("webhooks.poll_interval", webhooks.poll_interval),
        ] {
            if value.is_zero() {
                problems.push(format!("{key} must be greater than zero"));
            }
        }
        if self.email.digest_every < Duration::from_secs(1) || self.email.digest_hour_utc > 23 {
            problems.push(
                "email.digest_every must be at least 1s and email.digest_hour_utc 0 to 23".into(),
            );
        }
        if self.auth.live_recheck.is_zero() {
            problems.push("auth.live_recheck must be greater than zero".into());
        }
        if self.chat.handoff_timeout.is_zero() {
            problems.push("chat.handoff_timeout must be greater than zero".into());
        }
        let llm = &self.llm;
        if !(0.0..=2.0).contains(&llm.temperature) {
            problems.push("llm.temperature must be between 0 and 2".into());
        }
        if llm.max_tokens == 0 || llm.max_concurrent_streams == 0 || llm.connections == 0 {
            problems.push(
                "llm.max_tokens, llm.max_concurrent_streams and llm.connections must be at least 1"
                    .into(),
            );
        }
        if llm.provider == LlmProvider::Openai && !llm.base_url.starts_with("http") {
            problems.push("llm.base_url must be an http:// or https:// URL".into());
        }
        let chat = &self.chat;
        if chat.max_message_chars == 0
            || chat.max_messages == 0
            || chat.keep_alive.is_zero()
            || chat.max_sessions_in_memory == 0
        {
            problems.push("chat.max_message_chars, chat.max_messages, chat.keep_alive and chat.max_sessions_in_memory must be greater than zero".into());
        }
        let auth = &self.auth;
        if auth.access_ttl < Duration::from_secs(10)
            || auth.refresh_ttl < auth.access_ttl
            || auth.max_failed_logins == 0
            || auth.max_failed_logins_per_ip == 0
            || auth.lockout_window.is_zero()
        {
            problems.push("auth: access_ttl must be at least 10s, refresh_ttl at least access_ttl, max_failed_logins, max_failed_logins_per_ip and lockout_window above zero".into());
        }
        let social_proof = &self.social_proof;
        if social_proof.retain_events == 0
            || social_proof.subscriber_queue == 0
            || social_proof.max_subscribers_per_project == 0
            || social_proof.max_subscribers == 0
        {
            problems.push("social_proof.retain_events, subscriber_queue, max_subscribers_per_project and max_subscribers must be at least 1".into());
        }
        if social_proof.keep_alive.is_zero() || social_proof.replay_max_age.is_zero() {
            problems.push(
                "social_proof.keep_alive and social_proof.replay_max_age must be greater than zero"
                    .into(),
            );
        }
        if social_proof.stats_window.is_zero()
            || social_proof.stats_window > Duration::from_secs(31 * 24 * 3600)
        {
            problems.push("social_proof.stats_window must be between 1s and 31 days".into());
        }
        if let Some(cluster) = &self.cluster {
            if let Err(error) = helpyap_actors::PgStore::check_url(&cluster.postgres_url) {
                problems.push(format!("cluster.postgres_url: {error}"));
            }
            if let Err(error) = helpyap_actors::RedisFanOut::check_url(&cluster.redis_url) {
                problems.push(format!("cluster.redis_url: {error}"));
            }
            if cluster.check_interval < Duration::from_millis(10)
                || cluster.check_interval > Duration::from_secs(60)
            {
                problems.push("cluster.check_interval must be between 10ms and 60s".into());
            }
            if cluster.answer_lease < Duration::from_secs(1) {
                problems.push("cluster.answer_lease must be at least 1s".into());
            }
        }
        let mut seen = std::collections::HashSet::new();
        for project in &self.projects {
            if let Err(error) = self.project_seed(project, &mut seen) {
                problems.push(error.message());
            }
        }
        problems
    }

    /// The seeded projects as engine settings, with secrets resolved and hashed.
    pub fn project_seeds(&self) -> Result<Vec<(String, ProjectSettings)>, ConfigError> {
        let mut seen = std::collections::HashSet::new();
        self.projects
            .iter()
            .map(|project| self.project_seed(project, &mut seen))
            .collect()
    }

    /// One seeded project as engine settings; `seen` holds the slugs before it.
    fn project_seed<'a>(
        &self,
        project: &'a ProjectConfig,
        seen: &mut std::collections::HashSet<&'a str>,
    ) -> Result<(String, ProjectSettings), ConfigError> {
        let at = format!("projects[{}]", project.slug);
        helpyap_actors::project::validate_slug(&project.slug)
            .map_err(|error| self.invalid(&format!("{at}: {error}")))?;
        if !seen.insert(project.slug.as_str()) {
            return Err(self.invalid(&format!("{at}: slug appears twice")));
        }
        let widget = WidgetSettings {
            name: project.name.clone(),
            company: project.company.clone(),
            welcome_message: project.welcome_message.clone(),
            quick_replies: project.quick_replies.clone(),
            theme: Theme {
                primary_color: project.theme.primary_color.clone(),
                position: project.theme.position,
            },
            social_proof: project.social_proof.display(),
            locale: project.locale.clone(),
            strings: project.strings.clone(),
            business_hours: Default::default(),
            proactive: Vec::new(),
        };
        widget
            .validate()
            .map_err(|error| self.invalid(&format!("{at}: {error}")))?;
        let secret = self.push_secret(project, &at)?;
        let mut settings = ProjectSettings::new(
            widget,
            &project.allowed_origins,
            project.retention_days,
            project.assistant.clone(),
        )
        .map_err(|error| self.invalid(&format!("{at}: {error}")))?;
        settings.push_secret = secret.as_deref().map(SecretHash::of);
        settings.seed_digest = Some(seed_digest(&settings));
        Ok((project.slug.clone(), settings))
    }

    fn push_secret(
        &self,
        project: &ProjectConfig,
        at: &str,
    ) -> Result<Option<String>, ConfigError> {
        let secret = match &project.push_secret_env {
            Some(var) => match std::env::var(var) {
                Ok(value) => Some(value),
                Err(_) if project.push_secret.is_some() => project.push_secret.clone(),
                Err(_) => {
                    return Err(self.invalid(&format!(
                        "{at}: push_secret_env names {var}, which is not set"
                    )));
                }
            },
            None => project.push_secret.clone(),
        };
        match secret {
            Some(secret) if secret.chars().count() < PUSH_SECRET_MIN_CHARS => {
                Err(self.invalid(&format!(
                    "{at}: the push secret must be at least {PUSH_SECRET_MIN_CHARS} characters"
                )))
            }
            Some(secret) if secret.chars().any(|c| c.is_whitespace() || c.is_control()) => {
                Err(self.invalid(&format!(
                    "{at}: the push secret must not contain white space"
                )))
            }
            other => Ok(other),
        }
    }

    fn invalid(&self, message: &str) -> ConfigError {
        ConfigError::Invalid {
            origin: self.origin.clone(),
            message: message.to_owned(),
        }
    }
}

enum ClusterUrl {
    Postgres,
    Redis,
}

fn read(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })
}

/// Accepts `"10.0.0.1"` as well as `"10.0.0.0/8"`.
/// A setting from environment variable `var`, read as its config key would be; unset or empty
/// is `None`.
fn env_setting<T: serde::de::DeserializeOwned>(var: &str) -> Result<Option<T>, ConfigError> {
    let Some(value) = std::env::var(var).ok().filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    let deserializer =
        serde::de::value::StrDeserializer::<serde::de::value::Error>::new(value.as_str());
    T::deserialize(deserializer)
        .map(Some)
        .map_err(|error| ConfigError::Invalid {
            origin: format!("environment variable {var}"),
            message: error.to_string(),
        })
}

/// A secret as `check-config` shows it: whether there is one, never what it is.
fn redacted_secret<S: Serializer>(secret: &Option<String>, out: S) -> Result<S::Ok, S::Error> {
    match secret {
        Some(_) => out.serialize_str("(set, not shown)"),
        None => out.serialize_none(),
    }
}

fn redacted_optional_url<S: Serializer>(url: &Option<String>, out: S) -> Result<S::Ok, S::Error> {
    match url {
        Some(url) => redacted_url(url, out),
        None => out.serialize_none(),
    }
}

/// An engine URL as `check-config` shows it: its password replaced.
fn redacted_url<S: Serializer>(url: &str, out: S) -> Result<S::Ok, S::Error> {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("REDACTED"));
            out.serialize_str(parsed.as_str())
        }
        Ok(_) => out.serialize_str(url),
        Err(_) => out.serialize_str("(not a URL, not shown)"),
    }
}

fn deserialize_networks<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<IpNet>, D::Error> {
    let entries = Vec::<String>::deserialize(deserializer)?;
    entries
        .iter()
        .map(|entry| {
            entry
                .parse::<IpNet>()
                .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| {
                    serde::de::Error::custom(format!(
                        "{entry:?} is not an IP address or CIDR range"
                    ))
                })
        })
        .collect()
}

#[cfg(test)]
mod tests;

fn auto_locale() -> String {
    helpyap_actors::widget::AUTO_LOCALE.to_owned()
}

/// The widget settings as a seed's digest reads them. Fields added since seeds were first
/// digested count only when they differ from their defaults (and the name format, where it can,
/// as the `anonymize` it replaced), so an upgrade leaves the digest — and the dashboard's
/// changes to the seed — as they were.
fn digested_widget(widget: &WidgetSettings) -> serde_json::Value {
    let mut value = serde_json::to_value(widget).expect("settings serialize");
    let fields = value.as_object_mut().expect("settings are an object");
    if widget.locale == helpyap_actors::widget::AUTO_LOCALE {
        fields.remove("locale");
    }
    if widget.strings.is_empty() {
        fields.remove("strings");
    }
    if widget.business_hours == Default::default() {
        fields.remove("businessHours");
    }
    if widget.proactive.is_empty() {
        fields.remove("proactive");
    }
    let defaults = serde_json::to_value(SocialProofDisplay::default()).expect("settings serialize");
    let display = fields
        .get_mut("socialProof")
        .and_then(serde_json::Value::as_object_mut)
        .expect("socialProof is an object");
    for added in [
        "position",
        "mobilePosition",
        "pages",
        "types",
        "utm",
        "summaries",
        "liveViewers",
    ] {
        if display.get(added) == defaults.get(added) {
            display.remove(added);
        }
    }
    let anonymize = match widget.social_proof.name_format {
        NameFormat::Full => Some(false),
        NameFormat::Anonymous => Some(true),
        NameFormat::First | NameFormat::FirstInitial => None,
    };
    if let Some(anonymize) = anonymize {
        display.remove("nameFormat");
        display.insert("anonymize".into(), anonymize.into());
    }
    value
}

/// What identifies one seed of a project: its settings and secret hash, digested, so a restart
/// with the same config file leaves dashboard changes alone.
fn seed_digest(settings: &ProjectSettings) -> String {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    let widget = digested_widget(&settings.widget);
    hasher.update(serde_json::to_vec(&widget).expect("settings serialize"));
    hasher.update(settings.allowed_origins.join("\n").as_bytes());
    let secret = settings.push_secret.as_ref();
    hasher.update(secret.map_or(&[0u8; 32][..], |hash| &hash.as_bytes()[..]));
    hasher.update(settings.retention_days.unwrap_or(0).to_be_bytes());
    // Only when set, so seeds written before it existed keep their digest (and the dashboard's
    // changes to them survive the upgrade).
    if settings.assistant != AssistantSettings::default() {
        hasher.update(serde_json::to_vec(&settings.assistant).expect("settings serialize"));
    }
    hex::encode(&hasher.finalize()[..16])
}
