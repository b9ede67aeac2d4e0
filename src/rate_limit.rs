//! Per-client-IP rate limits by endpoint class: N requests per window, then 429.
//!
//! A fixed window per client that opens at the client's first request (as express-rate-limit
//! and Upstash's fixed window do): within any window a client gets exactly `requests`
//! calls, and `Retry-After` says exactly when the next one is allowed. IPv6 clients are counted
//! per /64, since one host usually owns a whole /64. Idle clients are swept so memory stays
//! bounded by the number of clients seen in one window. It does not find the client's address;
//! `client_ip` does.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use dashmap::DashMap;

use crate::client_ip::client_key;
use crate::config::{RateLimit, RateLimitsConfig};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateClass {
    Chat,
    Push,
    /// Every other widget endpoint.
    Widget,
    /// Admin login and token refresh.
    Login,
}

impl RateClass {
    /// Its name in metrics and config.
    pub fn name(self) -> &'static str {
        match self {
            RateClass::Chat => "chat",
            RateClass::Push => "push",
            RateClass::Widget => "widget",
            RateClass::Login => "login",
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
}

pub struct RateLimiter {
    chat: ClassLimiter,
    push: ClassLimiter,
    widget: ClassLimiter,
    login: ClassLimiter,
}

struct ClassLimiter {
    limit: RateLimit,
    windows: DashMap<IpAddr, Window>,
}

#[derive(Debug, Clone, Copy)]
struct Window {
    opened: Instant,
    used: u32,
}

impl RateLimiter {
    pub fn new(config: &RateLimitsConfig) -> RateLimiter {
        let class = |limit| ClassLimiter {
            limit,
            windows: DashMap::new(),
        };
        RateLimiter {
            chat: class(config.chat),
            push: class(config.push),
            widget: class(config.widget),
            login: class(config.login),
        }
    }

    /// Counts one request of `class` from `client` and says whether it may proceed.
    pub fn check(&self, class: RateClass, client: IpAddr) -> RateDecision {
        self.check_at(class, client, Instant::now())
    }

    pub fn check_at(&self, class: RateClass, client: IpAddr, now: Instant) -> RateDecision {
        let limiter = self.class(class);
        let RateLimit { requests, window } = limiter.limit;
        let mut entry = limiter.windows.entry(client_key(client)).or_insert(Window {
            opened: now,
            used: 0,
        });
        if now.duration_since(entry.opened) >= window {
            *entry = Window {
                opened: now,
                used: 0,
            };
        }
        let allowed = entry.used < requests;
        if allowed {
            entry.used += 1;
        }
        RateDecision {
            allowed,
            limit: requests,
            remaining: requests - entry.used,
            reset_after: window.saturating_sub(now.duration_since(entry.opened)),
        }
    }

    /// Forgets clients whose window has ended; their next request opens a fresh one anyway.
    pub fn sweep(&self, now: Instant) {
        for limiter in self.classes() {
            let window = limiter.limit.window;
            limiter
                .windows
                .retain(|_, entry| now.duration_since(entry.opened) < window);
        }
    }

    /// Clients tracked across all classes.
    pub fn tracked_clients(&self) -> usize {
        self.classes().iter().map(|l| l.windows.len()).sum()
    }

    /// How often `sweep` should run: often enough that a window's entries go soon after it ends.
    pub fn sweep_interval(&self) -> Duration {
        let shortest = self.classes().iter().map(|l| l.limit.window).min();
        shortest
            .unwrap_or(Duration::from_secs(60))
            .min(Duration::from_secs(10))
    }

    fn class(&self, class: RateClass) -> &ClassLimiter {
        match class {
            RateClass::Chat => &self.chat,
            RateClass::Push => &self.push,
            RateClass::Widget => &self.widget,
            RateClass::Login => &self.login,
        }
    }

    fn classes(&self) -> [&ClassLimiter; 4] {
        [&self.chat, &self.push, &self.widget, &self.login]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(requests: u32, window_secs: u64) -> RateLimiter {
        let limit = RateLimit {
            requests,
            window: Duration::from_secs(window_secs),
        };
        RateLimiter::new(&RateLimitsConfig {
            chat: limit,
            push: limit,
            widget: limit,
            login: limit,
        })
    }

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 2));

    #[test]
    fn allows_exactly_the_limit_per_window_then_opens_a_new_one() {
        let limiter = limiter(3, 60);
        let t0 = Instant::now();
        let remaining: Vec<u32> = (0..3)
            .map(|_| limiter.check_at(RateClass::Push, A, t0).remaining)
            .collect();
        assert_eq!(remaining, [2, 1, 0]);
        let refused = limiter.check_at(RateClass::Push, A, t0 + Duration::from_secs(59));
        assert!(!refused.allowed);
        assert_eq!(refused.reset_after, Duration::from_secs(1));
        let reopened = limiter.check_at(RateClass::Push, A, t0 + Duration::from_secs(60));
        assert!(reopened.allowed);
        assert_eq!(reopened.remaining, 2);
    }

    #[test]
    fn classes_and_clients_are_counted_apart() {
        let limiter = limiter(1, 60);
        let now = Instant::now();
        assert!(limiter.check_at(RateClass::Push, A, now).allowed);
        assert!(!limiter.check_at(RateClass::Push, A, now).allowed);
        assert!(limiter.check_at(RateClass::Chat, A, now).allowed);
        assert!(limiter.check_at(RateClass::Widget, A, now).allowed);
        assert!(limiter.check_at(RateClass::Push, B, now).allowed);
    }

    #[test]
    fn ipv6_clients_share_their_slash_64() {
        let limiter = limiter(1, 60);
        let now = Instant::now();
        let one: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let same_net: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let other_net: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert!(limiter.check_at(RateClass::Chat, one, now).allowed);
        assert!(!limiter.check_at(RateClass::Chat, same_net, now).allowed);
        assert!(limiter.check_at(RateClass::Chat, other_net, now).allowed);
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        assert!(limiter.check_at(RateClass::Push, A, now).allowed);
        assert!(!limiter.check_at(RateClass::Push, mapped, now).allowed);
    }

    #[test]
    fn sweep_forgets_only_ended_windows() {
        let limiter = limiter(5, 60);
        let t0 = Instant::now();
        for idx in 0..1000u32 {
            let ip = IpAddr::V4(std::net::Ipv4Addr::from(idx));
            limiter.check_at(RateClass::Widget, ip, t0);
        }
        limiter.check_at(RateClass::Widget, A, t0 + Duration::from_secs(30));
        assert_eq!(limiter.tracked_clients(), 1001);
        limiter.sweep(t0 + Duration::from_secs(61));
        assert_eq!(limiter.tracked_clients(), 1);
    }
}
