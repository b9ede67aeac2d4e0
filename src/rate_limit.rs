//! Per-client-IP rate limits by endpoint class: N requests per window, then 429.
//!
//! A fixed window per client that opens at the client's first request (as express-rate-limit
//! and Upstash's fixed window do): within any window a client gets exactly `requests`
//! calls, and `Retry-After` says exactly when the next one is allowed. IPv6 clients are counted
//! per /64, since one host usually owns a whole /64. Idle clients are swept so memory stays
//! bounded by the number of clients seen in one window. In cluster mode the counts live in
//! Redis ([`RedisCounters`]), so the limits hold across nodes. `X-RateLimit-Reset`'s Unix time
//! is told from the monotonic clock and a wall-clock reading taken at each sweep, so a step of
//! the system clock shows in it within one sweep interval (at most 10 s). It does not find the
//! client's address; `client_ip` does.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use dashmap::DashMap;

use crate::client_ip::client_key;
use crate::config::{RateLimit, RateLimitsConfig};

mod redis_counters;

pub use redis_counters::RedisCounters;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RateClass {
    Chat,
    Push,
    /// Every other widget endpoint.
    Widget,
    /// Admin login and token refresh.
    Login,
    /// Stripe's and Shopify's webhooks (a few addresses send every shop's).
    Integrations,
}

impl RateClass {
    /// Its name in metrics and config.
    pub fn name(self) -> &'static str {
        match self {
            RateClass::Chat => "chat",
            RateClass::Push => "push",
            RateClass::Widget => "widget",
            RateClass::Login => "login",
            RateClass::Integrations => "integrations",
        }
    }
}

/// The outcome of one check, with what the `X-RateLimit-*` headers report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateDecision {
    pub allowed: bool,
    pub limit: u32,
    pub remaining: u32,
    /// Time until the client's window ends and its count starts over.
    pub reset_after: Duration,
    /// The Unix time, in whole seconds, by which it has ended (rounded up).
    pub reset_at_unix: u64,
}

impl RateDecision {
    /// Zeros, for a response head made ahead of time whose numbers are written over for each
    /// request (see `routes::widget_config`).
    pub const PLACEHOLDER: RateDecision = RateDecision {
        allowed: true,
        limit: 0,
        remaining: 0,
        reset_after: Duration::ZERO,
        reset_at_unix: 0,
    };
}

/// The limits of every class, and where the counts live.
pub struct RateLimiter {
    /// Replaced by a config reload (SIGHUP); windows already open keep counting.
    limits: std::sync::RwLock<RateLimitsConfig>,
    counters: Counters,
    wall_clock: WallClock,
}

/// Counts kept in this process are counted directly — no allocation or virtual call on every
/// request; counts kept elsewhere go through the [`RateCounters`] seam.
enum Counters {
    Local(LocalCounters),
    Shared(Box<dyn RateCounters>),
}

/// Where request counts live: in this process ([`LocalCounters`]) or in a store every node
/// shares. Counts are per class and per client key (an address, or an IPv6 /64).
#[async_trait::async_trait]
pub trait RateCounters: Send + Sync + 'static {
    /// Counts one request in the client's fixed window — opened by its first request and
    /// `window` long — unless `limit` requests were counted in it already. `now` is this
    /// process's clock, for counts kept here; counts in a shared store follow that store's
    /// clock (its key expiry) instead.
    async fn hit(&self, key: CounterKey, limit: u32, window: Duration, now: Instant) -> Hit;

    /// Forgets windows that ended before `now`, where the counts do not expire by themselves.
    fn sweep(&self, _now: Instant) {}

    /// Clients with an open window, where this process keeps them.
    fn tracked_clients(&self) -> usize {
        0
    }

    /// For counts meant to be shared between nodes, whether they are right now (the store
    /// may be down, and the node counting alone); `None` for counts kept in one process.
    fn shared(&self) -> Option<bool> {
        None
    }
}

/// Whose requests a count is of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CounterKey {
    pub class: RateClass,
    pub client: IpAddr,
}

/// One request counted, or not: how many the window holds now and when it ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hit {
    pub counted: bool,
    pub used: u32,
    pub reset_after: Duration,
}

impl RateLimiter {
    /// Limits counted in this process.
    pub fn new(config: &RateLimitsConfig) -> RateLimiter {
        RateLimiter {
            limits: std::sync::RwLock::new(config.clone()),
            counters: Counters::Local(LocalCounters::default()),
            wall_clock: WallClock::new(),
        }
    }

    pub fn with_counters(
        config: &RateLimitsConfig,
        counters: Box<dyn RateCounters>,
    ) -> RateLimiter {
        RateLimiter {
            limits: std::sync::RwLock::new(config.clone()),
            counters: Counters::Shared(counters),
            wall_clock: WallClock::new(),
        }
    }

    /// Counts one request of `class` from `client`, arrived at `now`, and says whether it may
    /// proceed.
    pub async fn check_at(&self, class: RateClass, client: IpAddr, now: Instant) -> RateDecision {
        let RateLimit { requests, window } = self.limit(class);
        let key = CounterKey {
            class,
            client: client_key(client),
        };
        // When `reset_after` was measured: a shared store answers after its round trip.
        let (hit, counted_at) = match &self.counters {
            Counters::Local(local) => (local.count(key, requests, window, now), now),
            Counters::Shared(shared) => {
                let hit = shared.hit(key, requests, window, now).await;
                (hit, Instant::now())
            }
        };
        let ends = self.wall_clock.unix_at(counted_at) + hit.reset_after;
        RateDecision {
            allowed: hit.counted,
            limit: requests,
            remaining: requests.saturating_sub(hit.used),
            reset_after: hit.reset_after,
            reset_at_unix: ends.as_secs() + u64::from(ends.subsec_nanos() > 0),
        }
    }

    /// Forgets clients whose window has ended; their next request opens a fresh one anyway.
    pub fn sweep(&self, now: Instant) {
        self.counters().sweep(now);
        self.wall_clock.sync();
    }

    /// Clients tracked across all classes.
    pub fn tracked_clients(&self) -> usize {
        self.counters().tracked_clients()
    }

    /// `Some(false)` while counts meant to be shared between nodes are kept on this node
    /// alone; `None` when they are never shared.
    pub fn shared(&self) -> Option<bool> {
        self.counters().shared()
    }

    /// How often `sweep` should run: often enough that a window's entries go soon after it ends.
    pub fn sweep_interval(&self) -> Duration {
        let shortest = self.classes().map(|class| self.limit(class).window).min();
        shortest
            .unwrap_or(Duration::from_secs(60))
            .min(Duration::from_secs(10))
    }

    fn counters(&self) -> &dyn RateCounters {
        match &self.counters {
            Counters::Local(local) => local,
            Counters::Shared(shared) => shared.as_ref(),
        }
    }

    fn limit(&self, class: RateClass) -> RateLimit {
        let limits = self.limits.read().expect("never held across a panic");
        match class {
            RateClass::Chat => limits.chat,
            RateClass::Push => limits.push,
            RateClass::Widget => limits.widget,
            RateClass::Login => limits.login,
            RateClass::Integrations => limits.integrations,
        }
    }

    /// The limits of every class from now on (a config reload).
    pub fn set_limits(&self, limits: &RateLimitsConfig) {
        *self.limits.write().expect("never held across a panic") = limits.clone();
    }

    fn classes(&self) -> impl Iterator<Item = RateClass> {
        [
            RateClass::Chat,
            RateClass::Push,
            RateClass::Widget,
            RateClass::Login,
            RateClass::Integrations,
        ]
        .into_iter()
    }
}

/// A whole number of seconds, at least one: what `Retry-After` says.
pub fn round_up_to_second(duration: Duration) -> Duration {
    let whole = duration.as_secs() + u64::from(duration.subsec_nanos() > 0);
    Duration::from_secs(whole.max(1))
}

/// Unix time told from the monotonic clock: the wall clock is read when the limiter starts and
/// at each sweep (every few seconds, so a step of the system clock shows soon), not for every
/// request, where a clock read costs as much as counting it.
struct WallClock {
    origin: Instant,
    /// The Unix time at `origin`, in nanoseconds, as of the last `sync`.
    unix_nanos_at_origin: AtomicU64,
}

impl WallClock {
    fn new() -> WallClock {
        let clock = WallClock {
            origin: Instant::now(),
            unix_nanos_at_origin: AtomicU64::new(0),
        };
        clock.sync();
        clock
    }

    fn sync(&self) {
        let since_origin = self.origin.elapsed();
        let unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let at_origin = unix.saturating_sub(since_origin).as_nanos();
        self.unix_nanos_at_origin.store(
            u64::try_from(at_origin).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    fn unix_at(&self, at: Instant) -> Duration {
        let at_origin = Duration::from_nanos(self.unix_nanos_at_origin.load(Ordering::Relaxed));
        at_origin + at.saturating_duration_since(self.origin)
    }
}

/// Counts in this process: one map of open windows, swept as they end. Its keys are clients'
/// addresses, which a client with a block of IPv6 addresses chooses: it keeps SipHash, whose
/// keys cannot be made to collide (a faster hash here would save ~100 instructions a request).
#[derive(Default)]
pub struct LocalCounters {
    windows: DashMap<CounterKey, Window>,
}

#[derive(Debug, Clone, Copy)]
struct Window {
    opened: Instant,
    length: Duration,
    used: u32,
}

impl LocalCounters {
    fn count(&self, key: CounterKey, limit: u32, window: Duration, now: Instant) -> Hit {
        let fresh = Window {
            opened: now,
            length: window,
            used: 0,
        };
        let mut entry = self.windows.entry(key).or_insert(fresh);
        let mut open_for = now.duration_since(entry.opened);
        if open_for >= window {
            *entry = fresh;
            open_for = Duration::ZERO;
        }
        let counted = entry.used < limit;
        if counted {
            entry.used += 1;
        }
        Hit {
            counted,
            used: entry.used,
            reset_after: window.saturating_sub(open_for),
        }
    }
}

#[async_trait::async_trait]
impl RateCounters for LocalCounters {
    async fn hit(&self, key: CounterKey, limit: u32, window: Duration, now: Instant) -> Hit {
        self.count(key, limit, window, now)
    }

    fn sweep(&self, now: Instant) {
        self.windows
            .retain(|_, entry| now.duration_since(entry.opened) < entry.length);
    }

    fn tracked_clients(&self) -> usize {
        self.windows.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(requests: u32, window_secs: u64) -> RateLimitsConfig {
        let limit = RateLimit {
            requests,
            window: Duration::from_secs(window_secs),
        };
        RateLimitsConfig {
            chat: limit,
            push: limit,
            widget: limit,
            login: limit,
            integrations: limit,
        }
    }

    fn limiter(requests: u32, window_secs: u64) -> RateLimiter {
        RateLimiter::new(&config(requests, window_secs))
    }

    /// Counts behind the seam (as a cluster's shared store would keep them) decide alike.
    #[tokio::test]
    async fn counters_behind_the_seam_decide_as_local_ones() {
        let seam = Box::new(LocalCounters::default());
        let limiter = RateLimiter::with_counters(&config(2, 60), seam);
        let t0 = Instant::now();
        let allowed: Vec<bool> = [
            limiter.check_at(RateClass::Chat, A, t0).await.allowed,
            limiter.check_at(RateClass::Chat, A, t0).await.allowed,
            limiter.check_at(RateClass::Chat, A, t0).await.allowed,
            limiter.check_at(RateClass::Chat, B, t0).await.allowed,
        ]
        .to_vec();
        assert_eq!(allowed, [true, true, false, true]);
        assert_eq!(limiter.tracked_clients(), 2);
    }

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 2));

    #[tokio::test]
    async fn allows_exactly_the_limit_per_window_then_opens_a_new_one() {
        let limiter = limiter(3, 60);
        let t0 = Instant::now();
        let mut remaining = Vec::new();
        for _ in 0..3 {
            remaining.push(limiter.check_at(RateClass::Push, A, t0).await.remaining);
        }
        assert_eq!(remaining, [2, 1, 0]);
        let refused = limiter
            .check_at(RateClass::Push, A, t0 + Duration::from_secs(59))
            .await;
        assert!(!refused.allowed);
        assert_eq!(refused.reset_after, Duration::from_secs(1));
        let reopened = limiter
            .check_at(RateClass::Push, A, t0 + Duration::from_secs(60))
            .await;
        assert!(reopened.allowed);
        assert_eq!(reopened.remaining, 2);
    }

    /// `X-RateLimit-Reset` is the first whole Unix second at or after the window's end.
    #[tokio::test]
    async fn the_reset_time_is_the_windows_end_rounded_up() {
        let limiter = limiter(1, 60);
        let origin = limiter.wall_clock.origin;
        // The wall clock said 1000.0 s at `origin`; the window opens 0.9 s later.
        let unix_at_origin = Duration::from_secs(1000);
        limiter.wall_clock.unix_nanos_at_origin.store(
            u64::try_from(unix_at_origin.as_nanos()).unwrap(),
            Ordering::Relaxed,
        );
        let opened = origin + Duration::from_millis(900);
        let first = limiter.check_at(RateClass::Push, A, opened).await;
        assert_eq!(first.reset_at_unix, 1061, "ends at 1060.9 s");
        let late = opened + Duration::from_millis(59_800);
        let refused = limiter.check_at(RateClass::Push, A, late).await;
        assert_eq!(refused.reset_at_unix, 1061, "ends at 1060.9 s");
        // On a whole second, that second.
        let whole = limiter.check_at(RateClass::Chat, A, origin).await;
        assert_eq!(whole.reset_at_unix, 1060);
    }

    #[test]
    fn the_wall_clock_follows_the_system_clock_after_a_sync() {
        let clock = WallClock::new();
        let unix_now = || SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        let read = clock.unix_at(Instant::now());
        assert!(
            read.abs_diff(unix_now()) < Duration::from_millis(100),
            "{read:?}"
        );
        // As if the system clock had stepped since: the next sync follows it.
        clock.unix_nanos_at_origin.store(0, Ordering::Relaxed);
        assert!(clock.unix_at(Instant::now()) < Duration::from_secs(3600));
        clock.sync();
        let read = clock.unix_at(Instant::now());
        assert!(
            read.abs_diff(unix_now()) < Duration::from_millis(100),
            "{read:?}"
        );
    }

    #[tokio::test]
    async fn classes_and_clients_are_counted_apart() {
        let limiter = limiter(1, 60);
        let now = Instant::now();
        assert!(limiter.check_at(RateClass::Push, A, now).await.allowed);
        assert!(!limiter.check_at(RateClass::Push, A, now).await.allowed);
        assert!(limiter.check_at(RateClass::Chat, A, now).await.allowed);
        assert!(limiter.check_at(RateClass::Widget, A, now).await.allowed);
        assert!(limiter.check_at(RateClass::Push, B, now).await.allowed);
    }

    #[tokio::test]
    async fn ipv6_clients_share_their_slash_64() {
        let limiter = limiter(1, 60);
        let now = Instant::now();
        let one: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let same_net: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let other_net: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert!(limiter.check_at(RateClass::Chat, one, now).await.allowed);
        assert!(
            !limiter
                .check_at(RateClass::Chat, same_net, now)
                .await
                .allowed
        );
        assert!(
            limiter
                .check_at(RateClass::Chat, other_net, now)
                .await
                .allowed
        );
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        assert!(limiter.check_at(RateClass::Push, A, now).await.allowed);
        assert!(!limiter.check_at(RateClass::Push, mapped, now).await.allowed);
    }

    #[tokio::test]
    async fn sweep_forgets_only_ended_windows() {
        let limiter = limiter(5, 60);
        let t0 = Instant::now();
        for idx in 0..1000u32 {
            let ip = IpAddr::V4(std::net::Ipv4Addr::from(idx));
            limiter.check_at(RateClass::Widget, ip, t0).await;
        }
        limiter
            .check_at(RateClass::Widget, A, t0 + Duration::from_secs(30))
            .await;
        assert_eq!(limiter.tracked_clients(), 1001);
        limiter.sweep(t0 + Duration::from_secs(61));
        assert_eq!(limiter.tracked_clients(), 1);
    }
}
