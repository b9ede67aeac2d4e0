//! Failed-login budgets, per account and per client address.
//!
//! A login reserves an attempt on both budgets *before* its password is verified and gives it
//! back only when the password was right, so however
//! wrong passwords are timed or spread over addresses, no more than the budget are ever
//! verified in a window: `auth.max_failed_logins` per account, `auth.max_failed_logins_per_ip`
//! per client address (IPv6 per /64). A right password clears its account's failures, never
//! its address's: an attacker with an account of their own cannot reset the address budget.
//!
//! It never verifies passwords nor decides what a login answers; it only counts.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dashmap::DashMap;

use crate::client_ip::client_key;
use crate::error::ApiError;

/// Budgets tracked at once before expired ones are dropped.
const MAX_TRACKED: usize = 10_000;

#[derive(Clone, Copy)]
struct Budget {
    failures: u32,
    in_flight: u32,
    /// When the window of these failures opened.
    opened: Instant,
}

struct Budgets<K> {
    max: u32,
    window: Duration,
    entries: DashMap<K, Budget>,
}

impl<K: std::hash::Hash + Eq + Clone> Budgets<K> {
    fn new(max: u32, window: Duration) -> Budgets<K> {
        Budgets {
            max,
            window,
            entries: DashMap::new(),
        }
    }

    /// Takes one attempt from `key`'s budget, or says how long until the window ends.
    fn reserve(&self, key: &K) -> Result<(), Duration> {
        if self.entries.len() >= MAX_TRACKED {
            let window = self.window;
            self.entries
                .retain(|_, budget| budget.in_flight > 0 || budget.opened.elapsed() < window);
        }
        let mut budget = self.entries.entry(key.clone()).or_insert(Budget {
            failures: 0,
            in_flight: 0,
            opened: Instant::now(),
        });
        let elapsed = budget.opened.elapsed();
        if elapsed >= self.window {
            budget.failures = 0;
            budget.opened = Instant::now();
        } else if budget.failures + budget.in_flight >= self.max {
            return Err(self.window - elapsed);
        }
        budget.in_flight += 1;
        Ok(())
    }

    /// Ends an attempt reserved on `key`: `failed` keeps it counted, `clear` forgets the
    /// failures before it too. A budget left with nothing to count is dropped.
    fn settle(&self, key: &K, failed: bool, clear: bool) {
        if let Some(mut budget) = self.entries.get_mut(key) {
            budget.in_flight = budget.in_flight.saturating_sub(1);
            if clear {
                budget.failures = 0;
            } else if failed {
                budget.failures += 1;
            }
        }
        self.entries.remove_if(key, |_, budget| {
            budget.failures == 0 && budget.in_flight == 0
        });
    }
}

pub struct LoginAttempts {
    accounts: Budgets<String>,
    addresses: Budgets<IpAddr>,
}

impl LoginAttempts {
    pub fn new(per_account: u32, per_address: u32, window: Duration) -> Arc<LoginAttempts> {
        Arc::new(LoginAttempts {
            accounts: Budgets::new(per_account, window),
            addresses: Budgets::new(per_address, window),
        })
    }

    /// Reserves an attempt for `account` (a normalized email) from `client`; 429 with the
    /// time left when either budget is spent (including attempts still being verified).
    pub fn reserve(
        self: &Arc<Self>,
        account: &str,
        client: IpAddr,
    ) -> Result<LoginAttempt, ApiError> {
        let address = client_key(client);
        // The address first: an address out of attempts adds no entry for the accounts it
        // sprays.
        self.addresses
            .reserve(&address)
            .map_err(ApiError::rate_limited)?;
        if let Err(retry_after) = self.accounts.reserve(&account.to_owned()) {
            self.addresses.settle(&address, false, false);
            return Err(ApiError::rate_limited(retry_after));
        }
        Ok(LoginAttempt {
            attempts: self.clone(),
            account: account.to_owned(),
            address,
            settled: false,
        })
    }
}

/// One reserved attempt. Dropped without a verdict — the client went away while the password
/// was being verified on a blocking thread, which goes on, or the engine failed — it counts as
/// a failure: the budget bounds verifications, whether or not their verdict was heard.
pub struct LoginAttempt {
    attempts: Arc<LoginAttempts>,
    account: String,
    address: IpAddr,
    settled: bool,
}

impl LoginAttempt {
    /// The password was right: the account's failures are forgotten, the address's are not.
    pub fn succeeded(mut self) {
        self.settle(false, true);
    }

    /// The password was wrong: the attempt stays counted on both budgets.
    pub fn failed(mut self) {
        self.settle(true, false);
    }

    fn settle(&mut self, failed: bool, clear_account: bool) {
        self.settled = true;
        let attempts = &self.attempts;
        attempts
            .accounts
            .settle(&self.account, failed, clear_account);
        attempts.addresses.settle(&self.address, failed, false);
    }
}

impl Drop for LoginAttempt {
    fn drop(&mut self) {
        if !self.settled {
            self.settle(true, false);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WINDOW: Duration = Duration::from_secs(60);

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([203, 0, 113, last])
    }

    #[test]
    fn attempts_in_flight_count_against_the_budget_before_their_verdict() {
        let attempts = LoginAttempts::new(3, 100, WINDOW);
        let held: Vec<_> = (0..3)
            .map(|n| attempts.reserve("ann@example.com", ip(n)).unwrap())
            .collect();
        assert!(
            attempts.reserve("ann@example.com", ip(9)).is_err(),
            "three attempts are being verified: a fourth must wait, from any address"
        );
        assert!(
            attempts.reserve("bob@example.com", ip(9)).is_ok(),
            "per account"
        );
        for attempt in held {
            attempt.failed();
        }
        assert!(
            attempts.reserve("ann@example.com", ip(9)).is_err(),
            "locked"
        );
    }

    #[test]
    fn a_right_password_clears_the_account_but_not_the_address() {
        let attempts = LoginAttempts::new(2, 3, WINDOW);
        attempts.reserve("ann@example.com", ip(1)).unwrap().failed();
        attempts.reserve("bob@example.com", ip(1)).unwrap().failed();
        attempts
            .reserve("eve@example.com", ip(1))
            .unwrap()
            .succeeded();
        attempts
            .reserve("ann@example.com", ip(2))
            .unwrap()
            .succeeded();
        // Ann's failure is forgotten: two more wrong passwords may be tried from elsewhere.
        attempts.reserve("ann@example.com", ip(2)).unwrap().failed();
        attempts.reserve("ann@example.com", ip(2)).unwrap().failed();
        // Address 1 spent 2 of its 3 on wrong passwords; the success gave its place back.
        attempts
            .reserve("carl@example.com", ip(1))
            .unwrap()
            .failed();
        assert!(
            attempts.reserve("dora@example.com", ip(1)).is_err(),
            "per address"
        );
    }

    #[test]
    fn an_attempt_dropped_before_its_verdict_counts_as_a_failure() {
        let attempts = LoginAttempts::new(1, 5, WINDOW);
        drop(attempts.reserve("ann@example.com", ip(1)).unwrap());
        assert!(attempts.reserve("ann@example.com", ip(2)).is_err());
    }

    #[test]
    fn budgets_with_nothing_to_count_are_forgotten() {
        let attempts = LoginAttempts::new(2, 2, WINDOW);
        attempts
            .reserve("ann@example.com", ip(1))
            .unwrap()
            .succeeded();
        assert!(attempts.accounts.entries.is_empty());
        assert!(attempts.addresses.entries.is_empty());
        // A spent address adds no entry for the account it tried.
        attempts.reserve("bob@example.com", ip(1)).unwrap().failed();
        attempts
            .reserve("carl@example.com", ip(1))
            .unwrap()
            .failed();
        assert!(attempts.reserve("dora@example.com", ip(1)).is_err());
        assert!(!attempts.accounts.entries.contains_key("dora@example.com"));
    }

    #[test]
    fn a_full_address_budget_takes_nothing_from_the_account() {
        let attempts = LoginAttempts::new(2, 1, WINDOW);
        attempts.reserve("bob@example.com", ip(1)).unwrap().failed();
        assert!(attempts.reserve("ann@example.com", ip(1)).is_err());
        attempts.reserve("ann@example.com", ip(2)).unwrap().failed();
        attempts.reserve("ann@example.com", ip(3)).unwrap().failed();
        assert!(attempts.reserve("ann@example.com", ip(4)).is_err());
    }

    #[test]
    fn ipv6_addresses_share_their_slash_64() {
        let attempts = LoginAttempts::new(10, 1, WINDOW);
        let first: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let neighbour: IpAddr = "2001:db8:1:2::ffff".parse().unwrap();
        attempts.reserve("ann@example.com", first).unwrap().failed();
        assert!(attempts.reserve("bob@example.com", neighbour).is_err());
    }
}
