//! The PostgreSQL adapter of the storage port: the cluster's durable truth, shared by every
//! node. The only module that speaks SQL.
//!
//! Records are kept as JSONB beside the columns they are found and ordered by; text keys are
//! ordered with the "C" collation so lists come back in the byte order the port promises.
//! Every write commits before it returns, so [`Storage::flush`] has nothing left to do. Event
//! ids come from the `event_ids` row of the project, moved in the transaction that stores the
//! event: concurrent pushes through any node wait on that row and get dense ids. It also
//! keeps the cluster's answer leases, one row per session.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use serde::{Serialize, de::DeserializeOwned};
use tokio_postgres::config::SslMode;
use tokio_postgres::types::{Json, ToSql};
use tokio_postgres::{NoTls, Row};
use tokio_postgres_rustls::MakeRustlsConnect;
use uuid::Uuid;

use super::backup::{BackupError, BackupSummary};
use super::figures::{DayTally, FigureChange};
use super::{SessionFilter, SessionPage, Storage, StoreError, source_key};
use crate::chat::SessionChange;
use crate::chat::{ConversationStatus, Handoff, LeadContact};
use crate::identity::VisitorIdentity;
use crate::nodes::{AnswerLease, AnswerLeases, LeaseHolder, NodeError};
use crate::proactive::{CountsByRule, ProactiveAction};
use crate::records::{
    ApiTokenRecord, Document, EventCounts, EventKind, HOUR_MS, Invitation, LeadRecord,
    MessageRecord, PasswordReset, ProjectRecord, RefreshRecord, SessionRecord, SocialProofEvent,
    UserRecord,
};
use crate::secret::SecretHash;
use crate::social_proof::{NewEvent, PopupAction, PopupCounts};
use crate::time::now_ms;
use crate::webhook::{Attempt, Delivery, WebhookEvent, WebhookRecord};

/// The schema this build writes; a database of a newer one is refused.
pub const SCHEMA_VERSION: i64 = 13;

/// How long a session's answer lease lasts unless renewed: how long a session whose node died
/// mid-answer stays busy. Its holder renews it every third of that.
pub const ANSWER_LEASE_TTL: Duration = Duration::from_secs(30);

/// How long a request waits for a connection before the database counts as unreachable (and
/// the request gets 503 with `Retry-After`), unless the URL sets `connect_timeout`.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// Version 1: every table of the port.
const MIGRATION_1: &str = r#"
CREATE TABLE projects (
    slug TEXT PRIMARY KEY COLLATE "C",
    push_secret BYTEA UNIQUE,
    record JSONB NOT NULL
);
CREATE TABLE event_ids (slug TEXT PRIMARY KEY COLLATE "C", last_id BIGINT NOT NULL);
CREATE TABLE events (
    slug TEXT COLLATE "C", id BIGINT, record JSONB NOT NULL, PRIMARY KEY (slug, id)
);
CREATE TABLE event_counts (
    slug TEXT COLLATE "C", hour BIGINT, kind SMALLINT, count BIGINT NOT NULL,
    PRIMARY KEY (slug, hour, kind)
);
CREATE TABLE delivery_counts (
    slug TEXT COLLATE "C", hour BIGINT, count BIGINT NOT NULL, PRIMARY KEY (slug, hour)
);
CREATE TABLE documents (
    slug TEXT COLLATE "C", id TEXT COLLATE "C", record JSONB NOT NULL, PRIMARY KEY (slug, id)
);
CREATE TABLE sessions (
    id UUID PRIMARY KEY, slug TEXT NOT NULL COLLATE "C", created_ms BIGINT NOT NULL,
    record JSONB NOT NULL
);
CREATE INDEX sessions_by_project ON sessions (slug, created_ms DESC, id DESC);
CREATE TABLE messages (
    session UUID, seq INTEGER, record JSONB NOT NULL, PRIMARY KEY (session, seq)
);
CREATE TABLE leads (
    slug TEXT COLLATE "C", created_ms BIGINT, session UUID, record JSONB NOT NULL,
    PRIMARY KEY (slug, created_ms, session)
);
CREATE TABLE users (
    email TEXT PRIMARY KEY COLLATE "C", id UUID UNIQUE NOT NULL, record JSONB NOT NULL
);
CREATE TABLE refresh_tokens (hash BYTEA PRIMARY KEY, record JSONB NOT NULL);
CREATE TABLE revoked_families (family UUID PRIMARY KEY);
CREATE TABLE invitations (
    slug TEXT COLLATE "C", email TEXT COLLATE "C", record JSONB NOT NULL,
    PRIMARY KEY (slug, email)
);
"#;

/// Version 2: one answer at a time per session, across nodes.
const MIGRATION_2: &str = r#"
CREATE TABLE answer_leases (
    session UUID PRIMARY KEY, token UUID NOT NULL, expires_ms BIGINT NOT NULL
);
"#;

/// Version 3: what the nodes of one cluster share besides records — its id (which keeps its
/// traffic apart from another cluster's on the same Redis) and the admin tokens' signing key.
const MIGRATION_3: &str = r#"
CREATE TABLE cluster (id UUID NOT NULL, jwt_secret BYTEA NOT NULL);
"#;

/// Version 4: what the inbox's "unanswered" filter and the reports find by index. The
/// conditions match [`MessageRecord::is_unanswered`] and [`MessageRecord::is_answered`].
const MIGRATION_4: &str = r#"
CREATE INDEX messages_unanswered ON messages (session) WHERE
    record->>'role' = 'assistant' AND (record->>'status' = 'failed' OR
    (record->>'status' = 'complete' AND jsonb_array_length(record->'sources') = 0));
"#;

/// Conversations waiting for a teammate, or with one, found without a scan.
const MIGRATION_5: &str = r#"
CREATE INDEX sessions_handed_off ON sessions (slug, (record->'handoff'->>'status'), created_ms DESC)
    WHERE record->'handoff'->>'status' IN ('waiting', 'human');
"#;

/// Version 6: API tokens for server integrations.
const MIGRATION_6: &str = r#"
CREATE TABLE api_tokens (
    hash BYTEA PRIMARY KEY, slug TEXT COLLATE "C" NOT NULL, id UUID NOT NULL UNIQUE,
    created_ms BIGINT NOT NULL, record JSONB NOT NULL
);
CREATE INDEX api_tokens_by_project ON api_tokens (slug, created_ms);
"#;

/// Version 7: signed webhooks, their outbox and delivery log.
const MIGRATION_7: &str = r#"
CREATE TABLE webhooks (
    id UUID PRIMARY KEY, slug TEXT COLLATE "C" NOT NULL, enabled BOOLEAN NOT NULL,
    events TEXT[] NOT NULL, created_ms BIGINT NOT NULL, record JSONB NOT NULL
);
CREATE INDEX webhooks_by_project ON webhooks (slug, created_ms);
CREATE TABLE webhook_outbox (
    event_id UUID NOT NULL, webhook_id UUID NOT NULL, slug TEXT COLLATE "C" NOT NULL,
    due_ms BIGINT NOT NULL, record JSONB NOT NULL, PRIMARY KEY (event_id, webhook_id)
);
CREATE INDEX webhook_outbox_due ON webhook_outbox (due_ms);
CREATE TABLE webhook_log (
    webhook_id UUID NOT NULL, at_ms BIGINT NOT NULL, event_id UUID NOT NULL, record JSONB NOT NULL
);
CREATE INDEX webhook_log_by_webhook ON webhook_log (webhook_id, at_ms DESC);
"#;

/// Version 8: password reset links, finding a user's sign-ins, and who sent which digest.
const MIGRATION_8: &str = r#"
CREATE TABLE password_resets (hash BYTEA PRIMARY KEY, record JSONB NOT NULL);
CREATE TABLE digests (slug TEXT COLLATE "C" PRIMARY KEY, period BIGINT NOT NULL);
CREATE INDEX refresh_tokens_by_user ON refresh_tokens ((record->>'userId'));
"#;

/// Version 9: a reply to small talk or to a request for a person (one with an `intent`) is not
/// an unanswered question.
const MIGRATION_9: &str = r#"
DROP INDEX messages_unanswered;
CREATE INDEX messages_unanswered ON messages (session) WHERE
    record->>'role' = 'assistant' AND record->'intent' IS NULL AND (record->>'status' = 'failed'
    OR (record->>'status' = 'complete' AND jsonb_array_length(record->'sources') = 0));
"#;

/// Version 10: popups shown and clicked per hour, type and action.
const MIGRATION_10: &str = r#"
CREATE TABLE popup_counts (
    slug TEXT COLLATE "C", hour BIGINT, kind SMALLINT, action SMALLINT, count BIGINT NOT NULL,
    PRIMARY KEY (slug, hour, kind, action)
);
"#;

/// Version 11: a verified visitor's conversations, newest first.
const MIGRATION_11: &str = r#"
ALTER TABLE sessions ADD COLUMN user_id TEXT COLLATE "C";
CREATE INDEX sessions_by_user ON sessions (slug, user_id, created_ms DESC)
    WHERE user_id IS NOT NULL;
"#;

/// Version 12: proactive messages shown, opened and dismissed per hour, rule and action.
const MIGRATION_12: &str = r#"
CREATE TABLE proactive_counts (
    slug TEXT COLLATE "C", hour BIGINT, rule TEXT COLLATE "C", action SMALLINT,
    count BIGINT NOT NULL, PRIMARY KEY (slug, hour, rule, action)
);
"#;

/// The `user_id` column of a session whose visitor is `visitor`: set only once verified.
fn verified_user(visitor: Option<&VisitorIdentity>) -> Option<&str> {
    visitor
        .filter(|visitor| visitor.verified)
        .map(|visitor| visitor.user_id.as_str())
}

/// An unanswered answer, as SQL over a `messages` row `m` ([`MessageRecord::is_unanswered`]).
const UNANSWERED: &str = "m.record->>'role' = 'assistant' AND m.record->'intent' IS NULL AND \
     (m.record->>'status' = 'failed' OR \
     (m.record->>'status' = 'complete' AND jsonb_array_length(m.record->'sources') = 0))";
/// A `sessions` row's hand-off status (records from before hand-off are open).
const STATUS: &str = "COALESCE(record->'handoff'->>'status', 'open')";

/// What every node of the cluster shares, made once by the first node to start.
#[derive(Clone)]
pub struct ClusterIdentity {
    pub id: Uuid,
    /// Signs admin access tokens, so a token from one node is good on all.
    pub jwt_secret: Vec<u8>,
}

/// Handle to the database. Cheap to clone; all clones share one connection pool.
#[derive(Clone)]
pub struct PgStore {
    pool: Pool,
    lease_ttl: Duration,
}

/// "database helpyap on db.internal:5432": a database named without credentials.
fn where_is(config: &tokio_postgres::Config) -> String {
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .zip(config.get_ports().iter().chain(std::iter::repeat(&5432)))
        .map(|(host, port)| match host {
            tokio_postgres::config::Host::Tcp(name) => format!("{name}:{port}"),
            #[cfg(unix)]
            tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .collect();
    let database = config.get_dbname().or(config.get_user()).unwrap_or("?");
    format!("database {database} on {}", hosts.join(","))
}

/// A PostgreSQL error that says what the server said ("db error" alone says nothing).
#[derive(Debug)]
struct PgError(tokio_postgres::Error);

impl std::fmt::Display for PgError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The server's message and code, not its DETAIL, which quotes the row's values.
        match self.0.as_db_error() {
            Some(said) => write!(f, "{} ({})", said.message(), said.code().code()),
            None => write!(f, "{}", self.0),
        }
    }
}

/// No source: the chain below would print the server's DETAIL.
impl std::error::Error for PgError {}

/// A lost connection, or a server shutting down or starting up, is "unreachable" (retry
/// later); any other error is the store's failure.
impl From<tokio_postgres::Error> for StoreError {
    fn from(error: tokio_postgres::Error) -> StoreError {
        let lost = error.is_closed()
            || std::error::Error::source(&error)
                .is_some_and(|source| source.is::<std::io::Error>())
            || error.code().is_some_and(|code| {
                let code = code.code();
                code.starts_with("08") || ["57P01", "57P03", "57014"].contains(&code)
            });
        let error = Box::new(PgError(error));
        if lost {
            StoreError::Unreachable(error)
        } else {
            StoreError::Backend(error)
        }
    }
}

/// No connection to be had in time: the server is down or overwhelmed, or refused us (a TLS
/// certificate not trusted, a wrong password).
impl From<deadpool_postgres::PoolError> for StoreError {
    fn from(error: deadpool_postgres::PoolError) -> StoreError {
        StoreError::Unreachable(Box::new(WithCauses(error)))
    }
}

/// An error that says its causes too ("error performing TLS handshake: invalid peer
/// certificate: UnknownIssuer"), for errors whose own message is vague.
#[derive(Debug)]
struct WithCauses<E>(E);

impl<E: std::error::Error> std::fmt::Display for WithCauses<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut cause = self.0.source();
        while let Some(error) = cause {
            write!(f, ": {error}")?;
            cause = error.source();
        }
        Ok(())
    }
}

impl<E: std::error::Error> std::error::Error for WithCauses<E> {}

impl PgStore {
    /// Whether `url` is a PostgreSQL URL naming a host, without connecting.
    pub fn check_url(url: &str) -> Result<(), String> {
        let config: tokio_postgres::Config = url
            .parse()
            .map_err(|error| format!("not a PostgreSQL URL (postgres://user@host/db): {error}"))?;
        if config.get_hosts().is_empty() {
            return Err("the PostgreSQL URL names no host".into());
        }
        Ok(())
    }

    /// Connects to the database at `url`, then brings its schema up to this build's version,
    /// dumping a database of an older schema into `backups` first. A bad URL, an unreachable
    /// server, a failed backup or a newer schema is an error fit for an operator.
    pub async fn connect(url: &str, backups: &Path) -> Result<PgStore, StoreError> {
        PgStore::connect_at(url, backups, SCHEMA_VERSION).await
    }

    /// `connect`, migrating only up to `schema` (tests make databases of older releases).
    pub(crate) async fn connect_at(
        url: &str,
        backups: &Path,
        schema: i64,
    ) -> Result<PgStore, StoreError> {
        let mut config: tokio_postgres::Config = url.parse().map_err(|error| StoreError::Open {
            path: "a PostgreSQL database".into(),
            reason: format!("not a PostgreSQL URL: {error}"),
        })?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        // A server that vanishes (a network partition, a host that died) fails the requests
        // waiting on it within seconds instead of the kernel's hours; so does a runaway query.
        config
            .keepalives(true)
            .keepalives_idle(Duration::from_secs(10))
            .keepalives_interval(Duration::from_secs(5))
            .keepalives_retries(3)
            .tcp_user_timeout(Duration::from_secs(15));
        if config.get_options().is_none() {
            config.options("-c statement_timeout=30s");
        }
        // Named without the URL's password.
        let path = where_is(&config);
        let open_error = |reason: String| StoreError::Open {
            path: path.clone().into(),
            reason,
        };
        let manager_config = ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        };
        // TLS where the URL asks for it (`sslmode=require`), with the server's certificate
        // verified against the system's trust store (`SSL_CERT_FILE` names another); otherwise
        // none, even from a server that offers it ("prefer" is taken as "disable", so a
        // self-signed default certificate never fails a plain connection).
        let dump_config = config.clone();
        let manager = if config.get_ssl_mode() == SslMode::Require {
            let (tls, _unreadable) = MakeRustlsConnect::with_native_certs().map_err(|errors| {
                open_error(format!(
                    "sslmode=require, but no trusted certificates were found: {errors:?}"
                ))
            })?;
            Manager::from_config(config, tls, manager_config)
        } else {
            config.ssl_mode(SslMode::Disable);
            Manager::from_config(config, NoTls, manager_config)
        };
        let pool = Pool::builder(manager)
            .max_size(16)
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .wait_timeout(Some(CONNECT_TIMEOUT))
            .create_timeout(Some(CONNECT_TIMEOUT))
            .build()
            .map_err(|error| open_error(error.to_string()))?;
        let store = PgStore {
            pool,
            lease_ttl: ANSWER_LEASE_TTL,
        };
        let backup =
            |schema| async move { dump::before_migrating(&dump_config, backups, schema).await };
        store
            .migrate(schema, backup)
            .await
            .map_err(|error| match error {
                refused @ (StoreError::NewerSchema { .. }
                | StoreError::BackupBeforeMigrating { .. }) => refused,
                error => open_error(error.to_string()),
            })?;
        Ok(store)
    }

    /// Runs the migrations up to `target` this database has not had, in one transaction, after
    /// `backup` of a database at an older schema (not of a new, empty one) succeeded.
    async fn migrate<F, B>(&self, target: i64, backup: B) -> Result<(), StoreError>
    where
        B: FnOnce(i64) -> F,
        F: Future<Output = Result<PathBuf, StoreError>>,
    {
        let mut client = self.pool.get().await?;
        let transaction = client.transaction().await?;
        // One node migrates at a time (nodes often start together); the others wait here,
        // then find nothing to do.
        transaction
            .batch_execute(
                "SET LOCAL statement_timeout = 0;
                 SET LOCAL idle_in_transaction_session_timeout = 0;
                 SELECT pg_advisory_xact_lock(hashtext('helpyap migrations'));
                 CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL);",
            )
            .await?;
        let found: i64 = transaction
            .query_one("SELECT COALESCE(MAX(version), 0) FROM schema_version", &[])
            .await?
            .get(0);
        if found > SCHEMA_VERSION {
            return Err(StoreError::NewerSchema {
                found: found as u64,
                supported: SCHEMA_VERSION as u64,
            });
        }
        if (1..target).contains(&found) {
            // The dump reads beside this transaction, which has changed nothing yet.
            let file = backup(found).await?;
            tracing::info!(from = found, to = target, backup = %file.display(), "migrating the database");
        }
        let migrations = [
            (1, MIGRATION_1),
            (2, MIGRATION_2),
            (3, MIGRATION_3),
            (4, MIGRATION_4),
            (5, MIGRATION_5),
            (6, MIGRATION_6),
            (7, MIGRATION_7),
            (8, MIGRATION_8),
            (9, MIGRATION_9),
            (10, MIGRATION_10),
            (11, MIGRATION_11),
            (12, MIGRATION_12),
            (13, figures::MIGRATION_13),
        ];
        for (version, migration) in migrations {
            if found < version && version <= target {
                transaction.batch_execute(migration).await?;
                if version == 13 && found > 0 {
                    figures::count_all(&transaction).await?;
                }
                transaction
                    .execute(
                        "INSERT INTO schema_version (version) VALUES ($1)",
                        &[&version],
                    )
                    .await?;
            }
        }
        let mut secret = vec![0u8; 32];
        getrandom::fill(&mut secret)
            .map_err(|error| StoreError::Backend(error.to_string().into()))?;
        transaction
            .execute(
                "INSERT INTO cluster (id, jwt_secret) SELECT $1, $2
                 WHERE NOT EXISTS (SELECT 1 FROM cluster)",
                &[&Uuid::new_v4(), &secret],
            )
            .await?;
        transaction.commit().await?;
        Ok(())
    }

    /// The cluster's id and shared secret.
    pub async fn cluster(&self) -> Result<ClusterIdentity, StoreError> {
        let row = self
            .pool
            .get()
            .await?
            .query_one("SELECT id, jwt_secret FROM cluster", &[])
            .await?;
        Ok(ClusterIdentity {
            id: row.get(0),
            jwt_secret: row.get(1),
        })
    }

    /// How long an answer lease lasts if it is never released.
    pub fn with_lease_ttl(self, lease_ttl: Duration) -> PgStore {
        PgStore { lease_ttl, ..self }
    }

    async fn rows(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Vec<Row>, StoreError> {
        Ok(self.pool.get().await?.query(sql, params).await?)
    }

    async fn execute(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<u64, StoreError> {
        Ok(self.pool.get().await?.execute(sql, params).await?)
    }

    /// The records in column `record` of the rows `sql` finds.
    async fn records<T: DeserializeOwned>(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Vec<T>, StoreError> {
        self.rows(sql, params).await?.iter().map(record).collect()
    }

    async fn record<T: DeserializeOwned>(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Option<T>, StoreError> {
        Ok(self.records(sql, params).await?.pop())
    }
}

fn record<T: DeserializeOwned>(row: &Row) -> Result<T, StoreError> {
    let Json(value) = row.try_get::<_, Json<T>>("record")?;
    Ok(value)
}

impl PgStore {
    /// [`Storage::append_message_with_news`] when `replace`, else
    /// [`Storage::insert_message_with_news`]: the message, its news and what it changes in the
    /// project's day tallies, in one transaction.
    async fn write_message(
        &self,
        session: Uuid,
        message: &MessageRecord,
        news: &[WebhookEvent],
        replace: bool,
    ) -> Result<bool, StoreError> {
        let seq = message.seq as i32;
        let mut client = self.pool.get().await?;
        let transaction = client.transaction().await?;
        // The session's row is locked against its erasure and the other writes of its
        // transcript (one at a time: each reads the message it replaces). The transcript is
        // read by the next statement: a statement's snapshot is taken before it waits for a
        // lock, so one read with the lock could miss what the writer before it committed.
        let Some(locked) = transaction
            .query_opt(
                "SELECT slug FROM sessions WHERE id = $1 FOR NO KEY UPDATE",
                &[&session],
            )
            .await?
        else {
            return Err(StoreError::NoSuchSession);
        };
        let slug: String = locked.try_get("slug")?;
        let row = transaction
            .query_one(
                "SELECT (SELECT record FROM messages WHERE session = $1 AND seq = $2) AS record,
                     EXISTS (SELECT 1 FROM messages WHERE session = $1 AND seq < $2
                         AND record->>'role' = 'user') AS asked",
                &[&session, &seq],
            )
            .await?;
        let old = row
            .try_get::<_, Option<Json<MessageRecord>>>("record")?
            .map(|Json(old)| old);
        if old.is_some() && !replace {
            return Ok(false);
        }
        let queued = webhooks::queue(4, 5, "written", "n.event");
        let on_conflict = if replace {
            "DO UPDATE SET record = $3"
        } else {
            "DO NOTHING"
        };
        let written: i64 = transaction
            .query_one(
                &format!(
                    "WITH written AS (
                         INSERT INTO messages (session, seq, record) VALUES ($1, $2, $3)
                         ON CONFLICT (session, seq) {on_conflict} RETURNING 1
                     ), {queued}
                     SELECT count(*) FROM written"
                ),
                &[
                    &session,
                    &seq,
                    &json(message),
                    &webhooks::news(news),
                    &signed(now_ms()),
                ],
            )
            .await?
            .get(0);
        if written == 0 {
            return Ok(false); // taken all the same: nothing written, nothing counted
        }
        let first = !row.try_get::<_, bool>("asked")?;
        let change = FigureChange::message_written(old.as_ref(), message, first);
        figures::apply(&transaction, &slug, &change).await?;
        transaction.commit().await?;
        Ok(true)
    }
}

fn json<T: Serialize>(record: &T) -> Json<serde_json::Value> {
    Json(serde_json::to_value(record).expect("records are plain data and always serialize"))
}

fn signed(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn unsigned(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

fn kind_of(code: i16) -> Result<EventKind, StoreError> {
    usize::try_from(code)
        .ok()
        .and_then(|index| EventKind::ALL.get(index).copied())
        .ok_or_else(|| StoreError::Corrupt {
            key: "event_counts".into(),
            reason: format!("unknown event type code {code}"),
        })
}

#[async_trait::async_trait]
impl Storage for PgStore {
    async fn flush(&self) -> Result<(), StoreError> {
        Ok(())
    }

    fn backend(&self) -> &'static str {
        "postgresql"
    }

    async fn check(&self) -> Result<(), StoreError> {
        self.pool.get().await?.simple_query("SELECT 1").await?;
        Ok(())
    }

    async fn project(&self, slug: &str) -> Result<Option<ProjectRecord>, StoreError> {
        self.record("SELECT record FROM projects WHERE slug = $1", &[&slug])
            .await
    }

    async fn project_slugs(&self) -> Result<Vec<String>, StoreError> {
        let rows = self
            .rows("SELECT slug FROM projects ORDER BY slug", &[])
            .await?;
        Ok(rows.iter().map(|row| row.get(0)).collect())
    }

    async fn put_project(
        &self,
        record: &ProjectRecord,
        _previous_secret: Option<&SecretHash>,
    ) -> Result<(), StoreError> {
        // The secret lives in the project's row, so the old one stops resolving with it.
        let secret = record
            .push_secret_hash
            .as_ref()
            .map(|hash| hash.as_bytes().to_vec());
        self.execute(
            "INSERT INTO projects (slug, push_secret, record) VALUES ($1, $2, $3)
             ON CONFLICT (slug) DO UPDATE SET push_secret = $2, record = $3",
            &[&record.slug, &secret, &json(record)],
        )
        .await?;
        Ok(())
    }

    async fn project_for_secret(&self, hash: &SecretHash) -> Result<Option<String>, StoreError> {
        let secret = hash.as_bytes().to_vec();
        let rows = self
            .rows(
                "SELECT slug FROM projects WHERE push_secret = $1",
                &[&secret],
            )
            .await?;
        Ok(rows.first().map(|row| row.get(0)))
    }

    async fn append_event(
        &self,
        slug: &str,
        event: NewEvent,
        created_at_ms: u64,
        keep: u64,
    ) -> Result<SocialProofEvent, StoreError> {
        // One statement, one round trip, atomic: the project's row share-locked (so it cannot
        // be deleted under the push), the next id taken from its `event_ids` row (locked until
        // the statement ends: pushes through any node queue there), the event and its hour's
        // count written, events past the replay tail dropped. No row back: no such project.
        let hour = signed(created_at_ms / HOUR_MS);
        let kind = i16::from(event.kind.code());
        let unnumbered = event.clone().into_event(0, created_at_ms);
        // Its `socialproof.pushed` event, numbered in the statement, into the outbox with it.
        let pushed = webhooks::news(&[WebhookEvent::pushed(slug, &unnumbered)]);
        let numbered = "jsonb_set(n.event, '{data,id}', to_jsonb((SELECT last_id FROM id)::text))";
        let queued = webhooks::queue(6, 7, "id", numbered);
        let unnumbered = json(&unnumbered);
        // A source is remembered, with when, among the periodic claims' keys (`claim_period`);
        // a source seen before (or a project gone) leaves `claimed` empty, and with it every
        // write below.
        let source = event.source.as_ref().map(|source| source_key(slug, source));
        let rows = self
            .rows(
                &format!(
                    "WITH claimed AS (
                     INSERT INTO digests (slug, period) SELECT $8, $7
                     WHERE $8::text IS NOT NULL AND EXISTS (SELECT 1 FROM projects WHERE slug = $1)
                     ON CONFLICT (slug) DO NOTHING RETURNING 1
                 ), project AS (
                     SELECT slug FROM projects WHERE slug = $1
                     AND ($8::text IS NULL OR EXISTS (SELECT 1 FROM claimed)) FOR KEY SHARE
                 ), id AS (
                     INSERT INTO event_ids (slug, last_id) SELECT slug, 1 FROM project
                     ON CONFLICT (slug) DO UPDATE SET last_id = event_ids.last_id + 1
                     RETURNING last_id
                 ), stored AS (
                     INSERT INTO events (slug, id, record)
                     SELECT $1, last_id, $2::jsonb || jsonb_build_object('id', last_id) FROM id
                 ), counted AS (
                     INSERT INTO event_counts (slug, hour, kind, count)
                     SELECT $1, $3, $4, 1 FROM id
                     ON CONFLICT (slug, hour, kind) DO UPDATE SET count = event_counts.count + 1
                 ), pruned AS (
                     DELETE FROM events WHERE slug = $1 AND id <= (SELECT last_id FROM id) - $5
                 ), {queued}
                 SELECT last_id FROM id"
                ),
                &[
                    &slug,
                    &unnumbered,
                    &hour,
                    &kind,
                    &signed(keep),
                    &pushed,
                    &signed(created_at_ms),
                    &source,
                ],
            )
            .await?;
        let Some(row) = rows.first() else {
            let exists = !self
                .rows("SELECT 1 FROM projects WHERE slug = $1", &[&slug])
                .await?
                .is_empty();
            return Err(if source.is_some() && exists {
                StoreError::AlreadyStored
            } else {
                StoreError::NoSuchProject
            });
        };
        let id: i64 = row.get(0);
        Ok(event.into_event(id as u64, created_at_ms))
    }

    async fn events_after(
        &self,
        slug: &str,
        after: u64,
    ) -> Result<Vec<SocialProofEvent>, StoreError> {
        self.records(
            "SELECT record FROM events WHERE slug = $1 AND id > $2 ORDER BY id",
            &[&slug, &signed(after)],
        )
        .await
    }

    async fn last_event_id(&self, slug: &str) -> Result<u64, StoreError> {
        let rows = self
            .rows("SELECT last_id FROM event_ids WHERE slug = $1", &[&slug])
            .await?;
        Ok(rows.first().map_or(0, |row| row.get::<_, i64>(0) as u64))
    }

    async fn event_counts_by_hour(
        &self,
        slug: &str,
        from_hour: u64,
    ) -> Result<Vec<(u64, EventCounts)>, StoreError> {
        let rows = self
            .rows(
                "SELECT hour, kind, count FROM event_counts WHERE slug = $1 AND hour >= $2
                 ORDER BY hour, kind",
                &[&slug, &signed(from_hour)],
            )
            .await?;
        let mut hours: Vec<(u64, EventCounts)> = Vec::new();
        for row in rows {
            let hour = row.get::<_, i64>(0) as u64;
            let kind = kind_of(row.get(1))?;
            if hours.last().is_none_or(|(last, _)| *last != hour) {
                hours.push((hour, EventCounts::default()));
            }
            let counts = &mut hours.last_mut().expect("just pushed").1;
            counts.add(kind, row.get::<_, i64>(2) as u64);
        }
        Ok(hours)
    }

    async fn forget_counts_before(&self, slug: &str, before_hour: u64) -> Result<(), StoreError> {
        let before = signed(before_hour);
        self.execute(
            "DELETE FROM event_counts WHERE slug = $1 AND hour < $2",
            &[&slug, &before],
        )
        .await?;
        self.execute(
            "DELETE FROM delivery_counts WHERE slug = $1 AND hour < $2",
            &[&slug, &before],
        )
        .await?;
        self.execute(
            "DELETE FROM popup_counts WHERE slug = $1 AND hour < $2",
            &[&slug, &before],
        )
        .await?;
        self.execute(
            "DELETE FROM proactive_counts WHERE slug = $1 AND hour < $2",
            &[&slug, &before],
        )
        .await?;
        // Sources as old: no platform retries a webhook for that long.
        self.execute(
            "DELETE FROM digests WHERE starts_with(slug, $1) AND period < $2",
            &[&source_key(slug, ""), &signed(before_hour * HOUR_MS)],
        )
        .await?;
        Ok(())
    }

    async fn add_deliveries(
        &self,
        slug: &str,
        hour: u64,
        delivered: u64,
    ) -> Result<(), StoreError> {
        let counted = self
            .execute(
                "WITH project AS (SELECT slug FROM projects WHERE slug = $1 FOR KEY SHARE)
                 INSERT INTO delivery_counts (slug, hour, count) SELECT slug, $2, $3 FROM project
                 ON CONFLICT (slug, hour) DO UPDATE SET count = delivery_counts.count + $3",
                &[&slug, &signed(hour), &signed(delivered)],
            )
            .await?;
        if counted == 0 {
            return Err(StoreError::NoSuchProject);
        }
        Ok(())
    }

    async fn import_events(
        &self,
        slug: &str,
        events: &[SocialProofEvent],
        last_id: u64,
        counts: &[(u64, EventCounts)],
    ) -> Result<(), StoreError> {
        let mut client = self.pool.get().await?;
        let transaction = client.transaction().await?;
        transaction
            .execute(
                "INSERT INTO event_ids (slug, last_id) VALUES ($1, $2)
                 ON CONFLICT (slug) DO UPDATE SET last_id = GREATEST(event_ids.last_id, $2)",
                &[&slug, &signed(last_id)],
            )
            .await?;
        for event in events {
            transaction
                .execute(
                    "INSERT INTO events (slug, id, record) VALUES ($1, $2, $3)",
                    &[&slug, &signed(event.id), &json(event)],
                )
                .await?;
        }
        for (hour, of_hour) in counts {
            for (kind, count) in of_hour.counted() {
                transaction
                    .execute(
                        "INSERT INTO event_counts (slug, hour, kind, count) VALUES ($1, $2, $3, $4)
                         ON CONFLICT (slug, hour, kind) DO UPDATE SET count = $4",
                        &[
                            &slug,
                            &signed(*hour),
                            &i16::from(kind.code()),
                            &signed(count),
                        ],
                    )
                    .await?;
            }
        }
        transaction.commit().await?;
        Ok(())
    }

    async fn add_popup_counts(
        &self,
        slug: &str,
        hour: u64,
        counts: &PopupCounts,
    ) -> Result<(), StoreError> {
        let (mut kinds, mut actions, mut numbers) = (Vec::new(), Vec::new(), Vec::new());
        for (action, kind, count) in counts.counted() {
            kinds.push(i16::from(kind.code()));
            actions.push(i16::from(action.code()));
            numbers.push(signed(count));
        }
        if kinds.is_empty() {
            return Ok(());
        }
        // One statement for every type and action, in a project that still exists.
        self.execute(
            "WITH project AS (SELECT slug FROM projects WHERE slug = $1 FOR KEY SHARE)
             INSERT INTO popup_counts (slug, hour, kind, action, count)
             SELECT project.slug, $2, counted.kind, counted.action, counted.count
             FROM project, unnest($3::smallint[], $4::smallint[], $5::bigint[])
                 AS counted (kind, action, count)
             ON CONFLICT (slug, hour, kind, action)
             DO UPDATE SET count = popup_counts.count + EXCLUDED.count",
            &[&slug, &signed(hour), &kinds, &actions, &numbers],
        )
        .await?;
        Ok(())
    }

    async fn popup_counts_by_hour(
        &self,
        slug: &str,
        from_hour: u64,
    ) -> Result<Vec<(u64, PopupCounts)>, StoreError> {
        let rows = self
            .rows(
                "SELECT hour, kind, action, count FROM popup_counts WHERE slug = $1 AND hour >= $2
                 ORDER BY hour, kind, action",
                &[&slug, &signed(from_hour)],
            )
            .await?;
        let mut hours: Vec<(u64, PopupCounts)> = Vec::new();
        for row in rows {
            let hour = row.get::<_, i64>(0) as u64;
            let kind = kind_of(row.get(1))?;
            let action = u8::try_from(row.get::<_, i16>(2))
                .ok()
                .and_then(PopupAction::from_code)
                .ok_or_else(|| StoreError::Corrupt {
                    key: "popup_counts".into(),
                    reason: "unknown popup action code".into(),
                })?;
            if hours.last().is_none_or(|(last, _)| *last != hour) {
                hours.push((hour, PopupCounts::default()));
            }
            let counts = &mut hours.last_mut().expect("just pushed").1;
            counts.add(action, kind, row.get::<_, i64>(3) as u64);
        }
        Ok(hours)
    }

    async fn add_proactive_counts(
        &self,
        slug: &str,
        hour: u64,
        counts: &CountsByRule,
    ) -> Result<(), StoreError> {
        let (mut rules, mut actions, mut numbers) = (Vec::new(), Vec::new(), Vec::new());
        for (rule, counts) in counts {
            for (action, count) in counts.counted() {
                rules.push(rule.as_str());
                actions.push(i16::from(action.code()));
                numbers.push(signed(count));
            }
        }
        if rules.is_empty() {
            return Ok(());
        }
        // One statement for every rule and action, in a project that still exists.
        self.execute(
            "WITH project AS (SELECT slug FROM projects WHERE slug = $1 FOR KEY SHARE)
             INSERT INTO proactive_counts (slug, hour, rule, action, count)
             SELECT project.slug, $2, counted.rule, counted.action, counted.count
             FROM project, unnest($3::text[], $4::smallint[], $5::bigint[])
                 AS counted (rule, action, count)
             ON CONFLICT (slug, hour, rule, action)
             DO UPDATE SET count = proactive_counts.count + EXCLUDED.count",
            &[&slug, &signed(hour), &rules, &actions, &numbers],
        )
        .await?;
        Ok(())
    }

    async fn proactive_counts_by_hour(
        &self,
        slug: &str,
        from_hour: u64,
    ) -> Result<Vec<(u64, CountsByRule)>, StoreError> {
        let rows = self
            .rows(
                "SELECT hour, rule, action, count FROM proactive_counts
                 WHERE slug = $1 AND hour >= $2 ORDER BY hour",
                &[&slug, &signed(from_hour)],
            )
            .await?;
        let mut hours: Vec<(u64, CountsByRule)> = Vec::new();
        for row in rows {
            let hour = row.get::<_, i64>(0) as u64;
            let action = u8::try_from(row.get::<_, i16>(2))
                .ok()
                .and_then(ProactiveAction::from_code)
                .ok_or_else(|| StoreError::Corrupt {
                    key: "proactive_counts".into(),
                    reason: "unknown proactive action code".into(),
                })?;
            if hours.last().is_none_or(|(last, _)| *last != hour) {
                hours.push((hour, CountsByRule::new()));
            }
            let of_hour = &mut hours.last_mut().expect("just pushed").1;
            of_hour
                .entry(row.get::<_, String>(1))
                .or_default()
                .add(action, row.get::<_, i64>(3) as u64);
        }
        Ok(hours)
    }

    async fn deliveries_by_hour(
        &self,
        slug: &str,
        from_hour: u64,
    ) -> Result<Vec<(u64, u64)>, StoreError> {
        let rows = self
            .rows(
                "SELECT hour, count FROM delivery_counts WHERE slug = $1 AND hour >= $2
                 ORDER BY hour",
                &[&slug, &signed(from_hour)],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|row| (row.get::<_, i64>(0) as u64, row.get::<_, i64>(1) as u64))
            .collect())
    }

    async fn size_on_disk(&self) -> Result<u64, StoreError> {
        let rows = self
            .rows("SELECT pg_database_size(current_database())", &[])
            .await?;
        Ok(rows.first().map_or(0, |row| row.get::<_, i64>(0) as u64))
    }

    async fn user(&self, email: &str) -> Result<Option<UserRecord>, StoreError> {
        self.record("SELECT record FROM users WHERE email = $1", &[&email])
            .await
    }

    async fn user_by_id(&self, id: Uuid) -> Result<Option<UserRecord>, StoreError> {
        self.record("SELECT record FROM users WHERE id = $1", &[&id])
            .await
    }

    async fn users(&self) -> Result<Vec<UserRecord>, StoreError> {
        self.records("SELECT record FROM users ORDER BY email", &[])
            .await
    }

    async fn put_user(&self, user: &UserRecord) -> Result<(), StoreError> {
        self.execute(
            "INSERT INTO users (email, id, record) VALUES ($1, $2, $3)
             ON CONFLICT (email) DO UPDATE SET id = $2, record = $3",
            &[&user.email, &user.id, &json(user)],
        )
        .await?;
        Ok(())
    }

    async fn refresh(&self, hash: &SecretHash) -> Result<Option<RefreshRecord>, StoreError> {
        let hash = hash.as_bytes().to_vec();
        self.record(
            "SELECT record FROM refresh_tokens WHERE hash = $1",
            &[&hash],
        )
        .await
    }

    async fn put_refresh(
        &self,
        hash: &SecretHash,
        record: &RefreshRecord,
    ) -> Result<(), StoreError> {
        let hash = hash.as_bytes().to_vec();
        self.execute(
            "INSERT INTO refresh_tokens (hash, record) VALUES ($1, $2)
             ON CONFLICT (hash) DO UPDATE SET record = $2",
            &[&hash, &json(record)],
        )
        .await?;
        Ok(())
    }

    async fn claim_period(&self, key: &str, period: u64) -> Result<bool, StoreError> {
        // The table's `slug` column holds the job's key (a digest's is its project's slug).
        let claimed = self
            .execute(
                "INSERT INTO digests (slug, period) VALUES ($1, $2)
                 ON CONFLICT (slug) DO UPDATE SET period = $2 WHERE digests.period < $2",
                &[&key, &signed(period)],
            )
            .await?;
        Ok(claimed > 0)
    }

    async fn user_families(&self, user: Uuid) -> Result<Vec<Uuid>, StoreError> {
        let rows = self
            .rows(
                "SELECT DISTINCT (record->>'family')::uuid FROM refresh_tokens
                 WHERE record->>'userId' = $1::uuid::text ORDER BY 1",
                &[&user],
            )
            .await?;
        Ok(rows.iter().map(|row| row.get(0)).collect())
    }

    async fn put_password_reset(
        &self,
        hash: &SecretHash,
        reset: &PasswordReset,
    ) -> Result<(), StoreError> {
        let hash = hash.as_bytes().to_vec();
        self.execute(
            "INSERT INTO password_resets (hash, record) VALUES ($1, $2)
             ON CONFLICT (hash) DO UPDATE SET record = $2",
            &[&hash, &json(reset)],
        )
        .await?;
        Ok(())
    }

    async fn forget_password_resets(&self, user: Uuid) -> Result<(), StoreError> {
        self.execute(
            "DELETE FROM password_resets WHERE record->>'userId' = $1::uuid::text",
            &[&user],
        )
        .await?;
        Ok(())
    }

    async fn take_password_reset(
        &self,
        hash: &SecretHash,
    ) -> Result<Option<PasswordReset>, StoreError> {
        let hash = hash.as_bytes().to_vec();
        self.record(
            "DELETE FROM password_resets WHERE hash = $1 RETURNING record",
            &[&hash],
        )
        .await
    }

    async fn family_revoked(&self, family: Uuid) -> Result<bool, StoreError> {
        let rows = self
            .rows(
                "SELECT 1 FROM revoked_families WHERE family = $1",
                &[&family],
            )
            .await?;
        Ok(!rows.is_empty())
    }

    async fn revoke_family(&self, family: Uuid) -> Result<(), StoreError> {
        self.execute(
            "INSERT INTO revoked_families (family) VALUES ($1) ON CONFLICT DO NOTHING",
            &[&family],
        )
        .await?;
        Ok(())
    }

    async fn put_invitation(&self, invitation: &Invitation) -> Result<(), StoreError> {
        self.execute(
            "INSERT INTO invitations (slug, email, record) VALUES ($1, $2, $3)
             ON CONFLICT (slug, email) DO UPDATE SET record = $3",
            &[&invitation.project, &invitation.email, &json(invitation)],
        )
        .await?;
        Ok(())
    }

    async fn invitation(&self, slug: &str, email: &str) -> Result<Option<Invitation>, StoreError> {
        self.record(
            "SELECT record FROM invitations WHERE slug = $1 AND email = $2",
            &[&slug, &email],
        )
        .await
    }

    async fn delete_invitation(&self, slug: &str, email: &str) -> Result<bool, StoreError> {
        let deleted = self
            .execute(
                "DELETE FROM invitations WHERE slug = $1 AND email = $2",
                &[&slug, &email],
            )
            .await?;
        Ok(deleted > 0)
    }

    async fn project_invitations(&self, slug: &str) -> Result<Vec<Invitation>, StoreError> {
        self.records(
            "SELECT record FROM invitations WHERE slug = $1 ORDER BY email",
            &[&slug],
        )
        .await
    }

    async fn api_token(&self, hash: &SecretHash) -> Result<Option<ApiTokenRecord>, StoreError> {
        let hash = hash.as_bytes().to_vec();
        self.record("SELECT record FROM api_tokens WHERE hash = $1", &[&hash])
            .await
    }

    async fn put_api_token(&self, token: &ApiTokenRecord) -> Result<(), StoreError> {
        let hash = token.token_hash.as_bytes().to_vec();
        let created = token.created_at_ms as i64;
        self.execute(
            "INSERT INTO api_tokens (hash, slug, id, created_ms, record) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (hash) DO UPDATE SET record = $5",
            &[&hash, &token.project, &token.id, &created, &json(token)],
        )
        .await?;
        Ok(())
    }

    async fn note_api_token_use(&self, hash: &SecretHash, at_ms: u64) -> Result<(), StoreError> {
        // An UPDATE, never an upsert: a token revoked meanwhile stays revoked.
        let hash = hash.as_bytes().to_vec();
        self.execute(
            "UPDATE api_tokens SET record = jsonb_set(record, '{lastUsedMs}', to_jsonb($2::bigint))
             WHERE hash = $1",
            &[&hash, &signed(at_ms)],
        )
        .await?;
        Ok(())
    }

    async fn project_api_tokens(&self, slug: &str) -> Result<Vec<ApiTokenRecord>, StoreError> {
        self.records(
            "SELECT record FROM api_tokens WHERE slug = $1 ORDER BY created_ms, id",
            &[&slug],
        )
        .await
    }

    async fn delete_api_token(&self, slug: &str, id: Uuid) -> Result<bool, StoreError> {
        let deleted = self
            .execute(
                "DELETE FROM api_tokens WHERE slug = $1 AND id = $2",
                &[&slug, &id],
            )
            .await?;
        Ok(deleted > 0)
    }

    async fn webhooks(&self, slug: &str) -> Result<Vec<WebhookRecord>, StoreError> {
        self.project_webhooks(slug).await
    }

    async fn put_webhook(&self, webhook: &WebhookRecord) -> Result<(), StoreError> {
        self.write_webhook(webhook).await
    }

    async fn delete_webhook(&self, slug: &str, id: Uuid) -> Result<bool, StoreError> {
        self.remove_webhook(slug, id).await
    }

    async fn claim_deliveries(
        &self,
        now_ms: u64,
        lease_ms: u64,
        limit: usize,
    ) -> Result<Vec<Delivery>, StoreError> {
        self.claim(now_ms, lease_ms, limit).await
    }

    async fn settle_delivery(
        &self,
        claimed: &Delivery,
        retry_at_ms: Option<u64>,
        attempt: Option<&Attempt>,
    ) -> Result<(), StoreError> {
        self.settle(claimed, retry_at_ms, attempt).await
    }

    async fn disable_webhook(
        &self,
        slug: &str,
        id: Uuid,
        reason: &str,
    ) -> Result<bool, StoreError> {
        self.disable(slug, id, reason).await
    }

    async fn wake_deliveries(&self, id: Uuid, now_ms: u64) -> Result<(), StoreError> {
        self.wake(id, now_ms).await
    }

    async fn enqueue_delivery(&self, delivery: &Delivery) -> Result<(), StoreError> {
        self.enqueue(delivery).await
    }

    async fn webhook_log(&self, id: Uuid) -> Result<Vec<Attempt>, StoreError> {
        self.log_of(id).await
    }

    async fn invitations_for(&self, email: &str) -> Result<Vec<Invitation>, StoreError> {
        self.records(
            "SELECT record FROM invitations WHERE email = $1 ORDER BY slug",
            &[&email],
        )
        .await
    }

    async fn put_lead_with_news(
        &self,
        slug: &str,
        lead: &LeadRecord,
        news: &[WebhookEvent],
    ) -> Result<(), StoreError> {
        let mut client = self.pool.get().await?;
        let transaction = client.transaction().await?;
        lock_project(&transaction, slug).await?;
        let queued = webhooks::queue(5, 6, "stored", "n.event");
        let added: bool = transaction
            .query_one(
                &format!(
                    "WITH stored AS (
                         INSERT INTO leads (slug, created_ms, session, record) VALUES ($1, $2, $3, $4)
                         ON CONFLICT (slug, created_ms, session) DO UPDATE SET record = $4
                         RETURNING xmax = 0 AS added
                     ), {queued}
                     SELECT COALESCE(bool_or(added), false) FROM stored"
                ),
                &[
                    &slug,
                    &signed(lead.created_at_ms),
                    &lead.session_id,
                    &json(lead),
                    &webhooks::news(news),
                    &signed(now_ms()),
                ],
            )
            .await?
            .get(0);
        if added {
            let change = FigureChange::lead_added(lead.created_at_ms);
            figures::apply(&transaction, slug, &change).await?;
        }
        transaction.commit().await?;
        Ok(())
    }

    async fn leads(&self, slug: &str) -> Result<Vec<LeadRecord>, StoreError> {
        self.records(
            "SELECT record FROM leads WHERE slug = $1 ORDER BY created_ms, session",
            &[&slug],
        )
        .await
    }

    async fn documents(&self, slug: &str) -> Result<Vec<Document>, StoreError> {
        self.records(
            "SELECT record FROM documents WHERE slug = $1 ORDER BY id",
            &[&slug],
        )
        .await
    }

    async fn replace_documents(
        &self,
        slug: &str,
        documents: &[Document],
    ) -> Result<(), StoreError> {
        let mut client = self.pool.get().await?;
        let transaction = client.transaction().await?;
        lock_project(&transaction, slug).await?;
        // One replacement of a project's documents at a time, whichever nodes start them.
        transaction
            .execute(
                "SELECT pg_advisory_xact_lock(hashtext('documents:' || $1))",
                &[&slug],
            )
            .await?;
        transaction
            .execute("DELETE FROM documents WHERE slug = $1", &[&slug])
            .await?;
        for document in documents {
            transaction
                .execute(
                    "INSERT INTO documents (slug, id, record) VALUES ($1, $2, $3)",
                    &[&slug, &document.id, &json(document)],
                )
                .await?;
        }
        transaction.commit().await?;
        Ok(())
    }

    async fn session(&self, id: Uuid) -> Result<Option<SessionRecord>, StoreError> {
        self.record("SELECT record FROM sessions WHERE id = $1", &[&id])
            .await
    }

    async fn put_session(&self, record: &SessionRecord) -> Result<(), StoreError> {
        let mut client = self.pool.get().await?;
        let transaction = client.transaction().await?;
        lock_project(&transaction, &record.project).await?;
        let old = transaction
            .query_opt(
                "SELECT record FROM sessions WHERE id = $1 FOR UPDATE",
                &[&record.id],
            )
            .await?
            .as_ref()
            .map(self::record::<SessionRecord>)
            .transpose()?;
        transaction
            .execute(
                "INSERT INTO sessions (id, slug, created_ms, record, user_id)
                 VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (id) DO UPDATE SET slug = $2, created_ms = $3, record = $4,
                     user_id = $5",
                &[
                    &record.id,
                    &record.project,
                    &signed(record.created_at_ms),
                    &json(record),
                    &verified_user(record.visitor.as_ref()),
                ],
            )
            .await?;
        let change = FigureChange::session_written(old.as_ref(), record);
        figures::apply(&transaction, &record.project, &change).await?;
        transaction.commit().await?;
        Ok(())
    }

    async fn change_session(
        &self,
        id: Uuid,
        change: &SessionChange,
        news: &[WebhookEvent],
    ) -> Result<SessionRecord, StoreError> {
        let mut client = self.pool.get().await?;
        let transaction = client.transaction().await?;
        let row = transaction
            .query_opt(
                "SELECT record FROM sessions WHERE id = $1 FOR UPDATE",
                &[&id],
            )
            .await?
            .ok_or(StoreError::NoSuchSession)?;
        let mut record: SessionRecord = record(&row)?;
        let old = record.clone();
        if change.apply(&mut record) {
            // Only these keys of the record; an UPDATE, so an erased session stays erased.
            let patch = match change {
                SessionChange::Rate(_) => {
                    serde_json::json!({ "satisfaction": record.satisfaction })
                }
                SessionChange::Claim(_) | SessionChange::AddDevice { .. } => serde_json::json!({
                    "visitor": record.visitor,
                    "device_tokens": record.device_tokens,
                }),
            };
            transaction
                .execute(
                    "UPDATE sessions SET record = record || $2, user_id = $3 WHERE id = $1",
                    &[&id, &Json(patch), &verified_user(record.visitor.as_ref())],
                )
                .await?;
            if !news.is_empty() {
                let queued = webhooks::queue(1, 2, "gate", "n.event");
                transaction
                    .execute(
                        &format!("WITH gate AS (SELECT 1), {queued} SELECT 1"),
                        &[&webhooks::news(news), &signed(now_ms())],
                    )
                    .await?;
            }
            let figures = FigureChange::session_written(Some(&old), &record);
            figures::apply(&transaction, &record.project, &figures).await?;
        }
        transaction.commit().await?;
        Ok(record)
    }

    async fn latest_user_session(
        &self,
        slug: &str,
        user_id: &str,
    ) -> Result<Option<SessionRecord>, StoreError> {
        self.record(
            "SELECT record FROM sessions WHERE slug = $1 AND user_id = $2
             ORDER BY created_ms DESC LIMIT 1",
            &[&slug, &user_id],
        )
        .await
    }

    async fn delete_session(&self, record: &SessionRecord) -> Result<(), StoreError> {
        let mut client = self.pool.get().await?;
        let transaction = client.transaction().await?;
        // First: a message being written on another node (which locks the session's row)
        // lands before, and is deleted and taken out of the tallies with the rest, or finds
        // the session gone after.
        transaction
            .execute(
                "SELECT 1 FROM sessions WHERE id = $1 FOR UPDATE",
                &[&record.id],
            )
            .await?;
        let mut transcript = transaction
            .query(
                "DELETE FROM messages WHERE session = $1 RETURNING seq, record",
                &[&record.id],
            )
            .await?
            .iter()
            .map(|row| Ok((row.try_get::<_, i32>("seq")?, self::record(row)?)))
            .collect::<Result<Vec<(i32, MessageRecord)>, StoreError>>()?;
        transcript.sort_by_key(|(seq, _)| *seq);
        let transcript: Vec<MessageRecord> =
            transcript.into_iter().map(|(_, message)| message).collect();
        let stored = transaction
            .query_opt(
                "DELETE FROM sessions WHERE id = $1 RETURNING record",
                &[&record.id],
            )
            .await?;
        if let Some(stored) = stored {
            let stored: SessionRecord = self::record(&stored)?;
            let change = FigureChange::conversation(&stored, &transcript, -1);
            figures::apply(&transaction, &stored.project, &change).await?;
        }
        transaction.commit().await?;
        Ok(())
    }

    async fn project_sessions(
        &self,
        slug: &str,
        before: Option<(u64, Uuid)>,
        limit: usize,
    ) -> Result<Vec<SessionRecord>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        match before {
            Some((created_ms, id)) => {
                self.records(
                    "SELECT record FROM sessions WHERE slug = $1 AND (created_ms, id) < ($2, $3)
                     ORDER BY created_ms DESC, id DESC LIMIT $4",
                    &[&slug, &signed(created_ms), &id, &limit],
                )
                .await
            }
            None => {
                self.records(
                    "SELECT record FROM sessions WHERE slug = $1
                     ORDER BY created_ms DESC, id DESC LIMIT $2",
                    &[&slug, &limit],
                )
                .await
            }
        }
    }

    async fn update_handoff_with_news(
        &self,
        id: Uuid,
        handoff: &Handoff,
        lead: Option<&LeadContact>,
        news: &[WebhookEvent],
    ) -> Result<SessionRecord, StoreError> {
        // Only these keys of the record: a concurrent write to the others is kept, and an erased
        // session stays erased (an UPDATE, not an upsert).
        let mut patch = serde_json::json!({ "handoff": handoff });
        if let Some(lead) = lead {
            patch["lead"] = serde_json::json!(lead);
        }
        let queued = webhooks::queue(3, 4, "updated", "n.event");
        self.record(
            &format!(
                "WITH updated AS (
                     UPDATE sessions SET record = record || $2 WHERE id = $1 RETURNING record
                 ), {queued}
                 SELECT record FROM updated"
            ),
            &[&id, &Json(patch), &webhooks::news(news), &signed(now_ms())],
        )
        .await?
        .ok_or(StoreError::NoSuchSession)
    }

    async fn find_sessions(
        &self,
        slug: &str,
        filter: &SessionFilter,
        limit: usize,
    ) -> Result<SessionPage, StoreError> {
        let (before_ms, before_id) = filter.before.unwrap_or((u64::MAX >> 1, Uuid::max()));
        // The status is one of four words, written into the query so that the planner can use
        // the index of waiting and human conversations (a parameter would hide it).
        let by_status = match filter.status {
            None => String::new(),
            Some(status @ (ConversationStatus::Waiting | ConversationStatus::Human)) => {
                format!("AND record->'handoff'->>'status' = '{}'", status.as_str())
            }
            Some(status) => format!("AND {STATUS} = '{}'", status.as_str()),
        };
        let sql = format!(
            "SELECT record FROM sessions s WHERE slug = $1 AND (created_ms, id) < ($2, $3)
             AND created_ms >= $4
             AND (NOT $5 OR EXISTS (SELECT 1 FROM messages m WHERE m.session = s.id AND {UNANSWERED}))
             {by_status}
             AND (NOT $7 OR record->'handoff'->>'assignee' IS NOT DISTINCT FROM $8::text)
             ORDER BY created_ms DESC, id DESC LIMIT $6"
        );
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let from = signed(filter.from_ms.unwrap_or(0));
        let by_assignee = filter.assignee.is_some();
        let assignee = filter.assignee.clone().flatten();
        let params: [&(dyn ToSql + Sync); 8] = [
            &slug,
            &signed(before_ms),
            &before_id,
            &from,
            &filter.unanswered,
            &limit,
            &by_assignee,
            &assignee,
        ];
        let sessions: Vec<SessionRecord> = self.records(&sql, &params).await?;
        let full = sessions.len() as i64 == limit;
        let next = sessions
            .last()
            .filter(|_| full)
            .map(|last| (last.created_at_ms, last.id));
        Ok(SessionPage { sessions, next })
    }

    async fn figure_days(
        &self,
        slug: &str,
        from_day: u64,
    ) -> Result<Vec<(u64, DayTally)>, StoreError> {
        self.rows(figures::READ, &[&slug, &signed(from_day)])
            .await?
            .iter()
            .map(figures::day_tally)
            .collect()
    }

    async fn append_message_with_news(
        &self,
        session: Uuid,
        message: &MessageRecord,
        news: &[WebhookEvent],
    ) -> Result<(), StoreError> {
        self.write_message(session, message, news, true)
            .await
            .map(|_| ())
    }

    async fn insert_message_with_news(
        &self,
        session: Uuid,
        message: &MessageRecord,
        news: &[WebhookEvent],
    ) -> Result<bool, StoreError> {
        self.write_message(session, message, news, false).await
    }

    async fn messages(&self, session: Uuid) -> Result<Vec<MessageRecord>, StoreError> {
        self.records(
            "SELECT record FROM messages WHERE session = $1 ORDER BY seq",
            &[&session],
        )
        .await
    }

    async fn transcripts(&self, sessions: &[Uuid]) -> Result<Vec<Vec<MessageRecord>>, StoreError> {
        let rows = self
            .rows(
                "SELECT session, record FROM messages WHERE session = ANY($1) ORDER BY session, seq",
                &[&sessions],
            )
            .await?;
        let mut by_session: HashMap<Uuid, Vec<MessageRecord>> = HashMap::new();
        for row in &rows {
            by_session
                .entry(row.try_get("session")?)
                .or_default()
                .push(record(row)?);
        }
        Ok(sessions
            .iter()
            .map(|session| by_session.get(session).cloned().unwrap_or_default())
            .collect())
    }

    async fn delete_project(&self, record: &ProjectRecord) -> Result<(), StoreError> {
        let slug = &record.slug;
        let mut client = self.pool.get().await?;
        let transaction = client.transaction().await?;
        // First: writes for the project on other nodes (which share-lock its row) finish
        // before, or find it gone after.
        transaction
            .batch_execute("SET LOCAL statement_timeout = 0")
            .await?;
        transaction
            .execute("SELECT 1 FROM projects WHERE slug = $1 FOR UPDATE", &[slug])
            .await?;
        transaction
            .execute("SELECT 1 FROM sessions WHERE slug = $1 FOR UPDATE", &[slug])
            .await?;
        transaction
            .execute(
                "DELETE FROM messages WHERE session IN (SELECT id FROM sessions WHERE slug = $1)",
                &[slug],
            )
            .await?;
        transaction
            .execute(
                "DELETE FROM webhook_log WHERE webhook_id IN (SELECT id FROM webhooks WHERE slug = $1)",
                &[slug],
            )
            .await?;
        transaction
            .execute(
                "DELETE FROM digests WHERE starts_with(slug, $1)",
                &[&source_key(slug, "")],
            )
            .await?;
        // `event_ids` stays: a project re-created under the slug numbers after it.
        for table in [
            "webhook_outbox",
            "webhooks",
            "sessions",
            "events",
            "event_counts",
            "delivery_counts",
            "popup_counts",
            "proactive_counts",
            "figure_days",
            "documents",
            "leads",
            "invitations",
            "api_tokens",
            "projects",
        ] {
            let sql = format!("DELETE FROM {table} WHERE slug = $1");
            transaction.execute(sql.as_str(), &[slug]).await?;
        }
        transaction.commit().await?;
        Ok(())
    }

    fn backup_to(&self, _out: &mut dyn Write) -> Result<BackupSummary, BackupError> {
        Err(BackupError::Invalid(
            "backups of a PostgreSQL store are not written yet: use pg_dump".into(),
        ))
    }
}

/// One answer at a time per session, whichever node its requests reach: a lease row per
/// session, taken when free or expired, released by the token it was taken with (so a stalled
/// node's late release cannot free someone else's lease).
#[async_trait::async_trait]
impl AnswerLeases for PgStore {
    async fn acquire(&self, session: Uuid) -> Result<Option<AnswerLease>, NodeError> {
        let token = Uuid::new_v4();
        let ttl = signed(self.lease_ttl.as_millis() as u64);
        // Times are the database's, so the nodes' clocks never disagree about expiry.
        let sql = format!(
            "INSERT INTO answer_leases (session, token, expires_ms) VALUES ($1, $2, {DB_NOW_MS} + $3)
             ON CONFLICT (session) DO UPDATE SET token = $2, expires_ms = {DB_NOW_MS} + $3
             WHERE answer_leases.expires_ms < {DB_NOW_MS}
             RETURNING token"
        );
        let taken = self
            .rows(&sql, &[&session, &token, &ttl])
            .await
            .map_err(|error| NodeError(Box::new(error)))?;
        if taken.is_empty() {
            return Ok(None);
        }
        let held = Arc::new(PgLease {
            store: self.clone(),
            session,
            token,
        });
        Ok(Some(AnswerLease::new(held, Some(self.lease_ttl / 3))))
    }
}

/// Holds the project's row (key-shared) until the transaction ends, so the project cannot be
/// deleted under a write to it; `NoSuchProject` when it is gone already.
async fn lock_project(
    transaction: &deadpool_postgres::Transaction<'_>,
    slug: &str,
) -> Result<(), StoreError> {
    let found = transaction
        .execute(
            "SELECT 1 FROM projects WHERE slug = $1 FOR KEY SHARE",
            &[&slug],
        )
        .await?;
    if found == 0 {
        return Err(StoreError::NoSuchProject);
    }
    Ok(())
}

/// The database's clock, in milliseconds since the epoch.
const DB_NOW_MS: &str = "(extract(epoch from clock_timestamp()) * 1000)::bigint";

/// A lease row held by this node, known by its token.
struct PgLease {
    store: PgStore,
    session: Uuid,
    token: Uuid,
}

#[async_trait::async_trait]
impl LeaseHolder for PgLease {
    async fn renew(&self) -> Result<bool, NodeError> {
        let ttl = signed(self.store.lease_ttl.as_millis() as u64);
        let sql = format!(
            "UPDATE answer_leases SET expires_ms = {DB_NOW_MS} + $3
             WHERE session = $1 AND token = $2"
        );
        let renewed = self
            .store
            .execute(&sql, &[&self.session, &self.token, &ttl])
            .await;
        renewed
            .map(|rows| rows == 1)
            .map_err(|error| NodeError(Box::new(error)))
    }

    async fn release(&self) {
        let sql = "DELETE FROM answer_leases WHERE session = $1 AND token = $2";
        let params: [&(dyn ToSql + Sync); 2] = [&self.session, &self.token];
        if let Err(error) = self.store.execute(sql, &params).await {
            // It expires instead.
            tracing::warn!(%error, "answer lease not released");
        }
    }
}

mod dump;
mod figures;
#[cfg(test)]
pub(crate) mod tests;
mod webhooks;
