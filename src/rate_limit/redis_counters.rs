//! [`RedisCounters`]: rate-limit counts every node shares, kept in Redis (cluster mode).
//!
//! Each client's window is one Redis key, counted and given its expiry by one script, so
//! concurrent requests through any node are counted exactly once and the window ends for
//! everyone at once. When Redis fails, the node counts in its own memory until Redis answers
//! again — with N nodes a client may then get up to N times its limit — and says so through
//! [`RedisCounters::shared`] (health and metrics). It never decides a request itself: the
//! limiter turns the count into a decision and headers.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use redis::aio::ConnectionManager;

use super::{CounterKey, Hit, LocalCounters, RateCounters};

/// Counts one request in a fixed window that opens with the client's first request:
/// `KEYS[1]` the client's key, `ARGV[1]` the window in milliseconds. Returns the requests
/// counted in the window so far, this one included, and the milliseconds until it ends.
const COUNT_SCRIPT: &str = r"
local used = redis.call('INCR', KEYS[1])
local left = redis.call('PTTL', KEYS[1])
if left < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  left = tonumber(ARGV[1])
end
return {used, left}
";

/// How long a node counts locally after Redis failed, before asking Redis again.
const RETRY_REDIS_AFTER: Duration = Duration::from_secs(1);
/// How long one count may take in Redis before the node counts locally instead.
const REDIS_TIMEOUT: Duration = Duration::from_millis(250);

pub struct RedisCounters {
    /// Keys start with it: one cluster's counts apart from another's on the same Redis.
    prefix: String,
    redis: ConnectionManager,
    script: redis::Script,
    /// Counts made while Redis is unreachable.
    fallback: LocalCounters,
    /// When Redis last failed; `None` while it answers.
    failed_at: Mutex<Option<Instant>>,
    shared: Arc<AtomicBool>,
    /// Counts that failed one after the other.
    failures_in_a_row: AtomicU32,
    /// Asks a failed Redis again every second, so `shared` turns true when it is back even
    /// with no request to count.
    prober: tokio::task::JoinHandle<()>,
}

impl Drop for RedisCounters {
    fn drop(&mut self) {
        self.prober.abort();
    }
}

impl RedisCounters {
    /// Connects to Redis at `url`, for the nodes of `cluster`.
    pub async fn connect(
        url: &str,
        cluster: uuid::Uuid,
    ) -> Result<RedisCounters, redis::RedisError> {
        let client = redis::Client::open(url)?;
        let config = helpyap_actors::nodes::redis_connection_config(REDIS_TIMEOUT);
        let redis = ConnectionManager::new_with_config(client, config).await?;
        let shared = Arc::new(AtomicBool::new(true));
        let prober = tokio::spawn(probe(redis.clone(), shared.clone()));
        Ok(RedisCounters {
            prefix: format!("helpyap:{cluster}:rate"),
            redis,
            script: redis::Script::new(COUNT_SCRIPT),
            fallback: LocalCounters::default(),
            failed_at: Mutex::new(None),
            shared,
            failures_in_a_row: AtomicU32::new(0),
            prober,
        })
    }

    /// Whether counts are shared through Redis right now (not the local fallback).
    pub fn shared(&self) -> bool {
        self.shared.load(Ordering::Relaxed)
    }

    async fn count_in_redis(
        &self,
        key: CounterKey,
        window: Duration,
    ) -> redis::RedisResult<(u64, u64)> {
        let name = format!("{}:{}:{}", self.prefix, key.class.name(), key.client);
        let mut redis = self.redis.clone();
        let mut invocation = self.script.key(name);
        let count = invocation
            .arg(window.as_millis() as u64)
            .invoke_async(&mut redis);
        match tokio::time::timeout(REDIS_TIMEOUT, count).await {
            Ok(counted) => counted,
            Err(_) => Err(redis::RedisError::from(std::io::Error::from(
                std::io::ErrorKind::TimedOut,
            ))),
        }
    }

    fn redis_resting(&self, now: Instant) -> bool {
        let failed_at = self.failed_at.lock().expect("never held across a panic");
        failed_at.is_some_and(|at| now.duration_since(at) < RETRY_REDIS_AFTER)
    }
}

/// While counts are local, pings Redis every [`RETRY_REDIS_AFTER`]; marks them shared when it
/// answers (the next request then counts in Redis).
async fn probe(mut redis: ConnectionManager, shared: Arc<AtomicBool>) {
    let mut ticks = tokio::time::interval(RETRY_REDIS_AFTER);
    loop {
        ticks.tick().await;
        if shared.load(Ordering::Relaxed) {
            continue;
        }
        let pong: redis::RedisResult<String> = redis::cmd("PING").query_async(&mut redis).await;
        if pong.is_ok() && !shared.swap(true, Ordering::Relaxed) {
            tracing::info!("Redis answers again: rate limits are shared again");
        }
    }
}

#[async_trait::async_trait]
impl RateCounters for RedisCounters {
    async fn hit(&self, key: CounterKey, limit: u32, window: Duration, now: Instant) -> Hit {
        if !self.redis_resting(now) {
            match self.count_in_redis(key, window).await {
                Ok((used, left_ms)) => {
                    *self.failed_at.lock().expect("never held across a panic") = None;
                    self.failures_in_a_row.store(0, Ordering::Relaxed);
                    self.shared.store(true, Ordering::Relaxed);
                    let used = used.min(u64::from(u32::MAX)) as u32;
                    return Hit {
                        counted: used <= limit,
                        used: used.min(limit),
                        reset_after: Duration::from_millis(left_ms),
                    };
                }
                // One slow answer counts this request here; a second in a row rests Redis.
                Err(error) if self.failures_in_a_row.fetch_add(1, Ordering::Relaxed) >= 1 => {
                    *self.failed_at.lock().expect("never held across a panic") = Some(now);
                    if self.shared.swap(false, Ordering::Relaxed) {
                        tracing::warn!(%error, "Redis unreachable: rate limits are counted on this node alone until it answers");
                    }
                }
                Err(_) => {}
            }
        }
        self.fallback.count(key, limit, window, now)
    }

    fn sweep(&self, now: Instant) {
        self.fallback.sweep(now);
    }

    fn tracked_clients(&self) -> usize {
        self.fallback.tracked_clients()
    }

    fn shared(&self) -> Option<bool> {
        Some(RedisCounters::shared(self))
    }
}
