//! What a node stands on: its own sled store (the embedded default), or — with `[cluster]` —
//! PostgreSQL and Redis, shared with every other node. Opened once at start; an engine that
//! cannot be reached then is [`Unreachable`] (the binary exits 69), never a panic.
//!
//! In cluster mode PostgreSQL keeps every record and the answer leases, Redis carries events
//! and change notices between nodes and the shared rate-limit counts. Nothing durable is kept
//! on the node. This module only connects; what the engines do is the engine's and
//! `rate_limit`'s business.

use std::sync::Arc;

use helpyap_actors::{Nodes, PgStore, RedisFanOut, SledStore, Store, StoreError};

use crate::config::Config;
use crate::rate_limit::{RateLimiter, RedisCounters};

/// A node's store, its link to the other nodes, and where its rate limits are counted.
pub struct Backends {
    pub store: Store,
    pub nodes: Nodes,
    pub limiter: RateLimiter,
    /// The key every node of the cluster signs admin tokens with, unless the environment
    /// names one; `None` on a node of its own.
    pub jwt_secret: Option<Vec<u8>>,
}

/// An engine the config names could not be reached or refused this node.
#[derive(Debug, thiserror::Error)]
#[error("{engine} is unavailable: {reason}")]
pub struct Unreachable {
    engine: &'static str,
    reason: String,
}

/// Opens the store and links of `config`'s mode.
pub async fn open(config: &Config) -> anyhow::Result<Backends> {
    let Some(cluster) = &config.cluster else {
        tracing::debug!(path = %config.store.path.display(), "opening the store");
        let store = SledStore::open_with_cache(&config.store.path, config.store.cache_bytes)?;
        return Ok(Backends {
            store: Arc::new(store),
            nodes: Nodes::single(),
            limiter: RateLimiter::new(&config.rate_limits),
            jwt_secret: None,
        });
    };
    let unreachable = |engine| {
        move |error: &dyn std::fmt::Display| Unreachable {
            engine,
            reason: error.to_string(),
        }
    };
    let postgres = match PgStore::connect(&cluster.postgres_url, &config.migration_backups()).await
    {
        Ok(postgres) => postgres,
        // Not a matter of reaching it: a newer release must run (exit 64), or the backup
        // before a migration failed (exit 73; its reason says what to do).
        Err(
            refused @ (StoreError::NewerSchema { .. } | StoreError::BackupBeforeMigrating { .. }),
        ) => {
            return Err(refused.into());
        }
        Err(error) => return Err(unreachable("PostgreSQL (cluster.postgres_url)")(&error).into()),
    }
    .with_lease_ttl(cluster.answer_lease);
    let identity = postgres
        .cluster()
        .await
        .map_err(|error| unreachable("PostgreSQL (cluster.postgres_url)")(&error))?;
    let postgres = Arc::new(postgres);
    let redis = "Redis (cluster.redis_url)";
    let fan_out = RedisFanOut::connect(&cluster.redis_url, identity.id)
        .await
        .map_err(|error| unreachable(redis)(&error))?;
    let counters = RedisCounters::connect(&cluster.redis_url, identity.id)
        .await
        .map_err(|error| unreachable(redis)(&error))?;
    tracing::info!("cluster mode: records in PostgreSQL, events and rate limits through Redis");
    Ok(Backends {
        store: postgres.clone(),
        nodes: Nodes::cluster(Arc::new(fan_out), postgres, cluster.check_interval),
        limiter: RateLimiter::with_counters(&config.rate_limits, Box::new(counters)),
        jwt_secret: Some(identity.jwt_secret),
    })
}
