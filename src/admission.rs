//! Caps on what everyone together, and one client address, may hold open: connections (checked
//! at accept, before a byte is read) and long-lived streams (chat answers and popup streams over
//! SSE or WebSocket, checked by the routes that open them).
//!
//! Each admission is a guard that gives its place back when dropped, wherever it ends up: in a
//! socket, a response body or a WebSocket task. Addresses are counted as the rate limits count
//! them (`client_ip::client_key`: IPv4 alone, IPv6 per /64), and an address's entry is removed
//! when its count falls to zero, so memory follows what is open. This module decides; it never
//! writes a response or closes a socket.

use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};

use bytes::Bytes;
use dashmap::DashMap;
use dashmap::mapref::entry::Entry;
use http_body::{Frame, SizeHint};
use ipnet::IpNet;

use crate::client_ip::client_key;
use crate::json::{Body, BoxError, boxed};

/// Open connections: at most `max` in all and `max_per_address` from one peer address, except
/// from the reverse proxies in `exempt`, which carry many clients on their connections.
pub struct ConnectionLimits {
    /// Both caps may change on a config reload; connections already open stay.
    max: AtomicUsize,
    max_per_address: AtomicUsize,
    exempt: Vec<IpNet>,
    open: Arc<AtomicUsize>,
    per_address: Arc<AddressCounts>,
}

/// Why a connection was turned away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The server holds `max` connections.
    Full,
    /// The peer's address holds `max_per_address`.
    Address,
}

/// A connection's place; dropping it frees the place.
pub struct ConnectionPermit {
    open: Arc<AtomicUsize>,
    _address: Option<AddressPlace>,
}

impl ConnectionLimits {
    /// `max_per_address` 0 means no per-address cap.
    pub fn new(max: usize, max_per_address: usize, exempt: Vec<IpNet>) -> ConnectionLimits {
        ConnectionLimits {
            max: AtomicUsize::new(max),
            max_per_address: AtomicUsize::new(max_per_address),
            exempt,
            open: Arc::default(),
            per_address: Arc::default(),
        }
    }

    pub fn admit(&self, peer: IpAddr) -> Result<ConnectionPermit, Refusal> {
        let max_per_address = self.max_per_address.load(Ordering::Relaxed);
        let address = if max_per_address == 0 || self.exempt.iter().any(|n| n.contains(&peer)) {
            None
        } else {
            let place = AddressCounts::take(&self.per_address, peer, max_per_address);
            Some(place.ok_or(Refusal::Address)?)
        };
        if self.open.fetch_add(1, Ordering::Relaxed) >= self.max() {
            self.open.fetch_sub(1, Ordering::Relaxed);
            return Err(Refusal::Full);
        }
        Ok(ConnectionPermit {
            open: self.open.clone(),
            _address: address,
        })
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    pub fn max(&self) -> usize {
        self.max.load(Ordering::Relaxed)
    }

    /// New caps for connections still to come.
    pub fn set(&self, max: usize, max_per_address: usize) {
        self.max.store(max, Ordering::Relaxed);
        self.max_per_address
            .store(max_per_address, Ordering::Relaxed);
    }
}

impl Drop for ConnectionPermit {
    fn drop(&mut self) {
        self.open.fetch_sub(1, Ordering::Relaxed);
        // `address` gives its own place back.
    }
}

/// Long-lived streams per client address (after `trusted_proxies`): at most `max_per_address`.
pub struct StreamQuota {
    /// May change on a config reload; streams already open stay.
    max_per_address: AtomicUsize,
    per_address: Arc<AddressCounts>,
}

/// One open stream's place; dropping it (with the body or task holding it) frees the place.
pub struct StreamSlot {
    _place: Option<AddressPlace>,
}

impl StreamQuota {
    /// `max_per_address` 0 means no cap.
    pub fn new(max_per_address: usize) -> StreamQuota {
        StreamQuota {
            max_per_address: AtomicUsize::new(max_per_address),
            per_address: Arc::default(),
        }
    }

    /// A place for one more stream from `client`, or `None` when it holds the maximum.
    pub fn open(&self, client: IpAddr) -> Option<StreamSlot> {
        let max_per_address = self.max_per_address();
        if max_per_address == 0 {
            return Some(StreamSlot { _place: None });
        }
        let place = AddressCounts::take(&self.per_address, client, max_per_address)?;
        Some(StreamSlot {
            _place: Some(place),
        })
    }

    pub fn max_per_address(&self) -> usize {
        self.max_per_address.load(Ordering::Relaxed)
    }

    /// A new cap for streams still to come.
    pub fn set_max_per_address(&self, max_per_address: usize) {
        self.max_per_address
            .store(max_per_address, Ordering::Relaxed);
    }
}

impl StreamSlot {
    /// `body`, holding this slot until the body is dropped (finished, or the client went away).
    pub fn hold(self, body: Body) -> Body {
        boxed(HeldBody { body, _slot: self })
    }
}

struct HeldBody {
    body: Body,
    _slot: StreamSlot,
}

impl http_body::Body for HeldBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[derive(Default)]
struct AddressCounts {
    counts: DashMap<IpAddr, usize>,
}

/// One counted place of one address.
struct AddressPlace {
    counts: Arc<AddressCounts>,
    key: IpAddr,
}

impl AddressCounts {
    fn take(counts: &Arc<AddressCounts>, address: IpAddr, max: usize) -> Option<AddressPlace> {
        let key = client_key(address);
        let mut count = counts.counts.entry(key).or_insert(0);
        if *count >= max {
            return None;
        }
        *count += 1;
        Some(AddressPlace {
            counts: counts.clone(),
            key,
        })
    }
}

impl Drop for AddressPlace {
    fn drop(&mut self) {
        if let Entry::Occupied(mut entry) = self.counts.counts.entry(self.key) {
            *entry.get_mut() -= 1;
            if *entry.get() == 0 {
                entry.remove();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn connections_are_capped_in_all_and_per_address() {
        let limits = ConnectionLimits::new(3, 2, Vec::new());
        let a1 = limits.admit(ip("10.0.0.1")).unwrap();
        let _a2 = limits.admit(ip("10.0.0.1")).unwrap();
        assert_eq!(limits.admit(ip("10.0.0.1")).err(), Some(Refusal::Address));
        let _b1 = limits.admit(ip("10.0.0.2")).unwrap();
        assert_eq!(limits.admit(ip("10.0.0.3")).err(), Some(Refusal::Full));
        assert_eq!(limits.open(), 3);
        drop(a1);
        assert_eq!(limits.open(), 2);
        let _a3 = limits.admit(ip("10.0.0.1")).unwrap();
    }

    #[test]
    fn a_refusal_for_the_total_gives_the_address_place_back() {
        let limits = ConnectionLimits::new(1, 5, Vec::new());
        let _held = limits.admit(ip("10.0.0.1")).unwrap();
        for _ in 0..10 {
            assert_eq!(limits.admit(ip("10.0.0.2")).err(), Some(Refusal::Full));
        }
        assert_eq!(
            limits.per_address.counts.get(&ip("10.0.0.2")).as_deref(),
            None
        );
    }

    #[test]
    fn trusted_proxies_are_exempt_from_the_per_address_cap() {
        let limits = ConnectionLimits::new(10, 1, vec!["10.0.0.0/8".parse().unwrap()]);
        let _p1 = limits.admit(ip("10.1.1.1")).unwrap();
        let _p2 = limits.admit(ip("10.1.1.1")).unwrap();
        let _c1 = limits.admit(ip("192.0.2.1")).unwrap();
        assert_eq!(limits.admit(ip("192.0.2.1")).err(), Some(Refusal::Address));
    }

    #[test]
    fn streams_count_per_address_and_ipv6_per_64() {
        let quota = StreamQuota::new(2);
        let s1 = quota.open(ip("2001:db8::1")).unwrap();
        let _s2 = quota.open(ip("2001:db8::2")).unwrap();
        assert!(quota.open(ip("2001:db8::3")).is_none(), "same /64");
        assert!(quota.open(ip("2001:db8:0:1::1")).is_some(), "another /64");
        drop(s1);
        assert!(quota.open(ip("2001:db8::3")).is_some());
    }

    #[test]
    fn addresses_leave_the_map_when_their_last_place_closes() {
        let quota = StreamQuota::new(4);
        let slots: Vec<_> = (0..100)
            .map(|i| quota.open(IpAddr::from([10, 0, 0, i])).unwrap())
            .collect();
        assert_eq!(quota.per_address.counts.len(), 100);
        drop(slots);
        assert!(quota.per_address.counts.is_empty());
    }

    #[test]
    fn zero_means_no_cap() {
        let quota = StreamQuota::new(0);
        let slots: Vec<_> = (0..1000).map(|_| quota.open(ip("10.0.0.1"))).collect();
        assert!(slots.iter().all(Option::is_some));
        let limits = ConnectionLimits::new(1000, 0, Vec::new());
        let permits: Vec<_> = (0..1000).map(|_| limits.admit(ip("10.0.0.1"))).collect();
        assert!(permits.iter().all(Result::is_ok));
    }

    #[test]
    fn changed_caps_apply_to_what_comes_next() {
        let limits = ConnectionLimits::new(10, 1, Vec::new());
        let _first = limits.admit(ip("10.0.0.1")).unwrap();
        assert_eq!(limits.admit(ip("10.0.0.1")).err(), Some(Refusal::Address));
        limits.set(2, 5);
        let _second = limits.admit(ip("10.0.0.1")).unwrap();
        assert_eq!(limits.admit(ip("10.0.0.2")).err(), Some(Refusal::Full));
        let quota = StreamQuota::new(1);
        let _stream = quota.open(ip("10.0.0.1")).unwrap();
        assert!(quota.open(ip("10.0.0.1")).is_none());
        quota.set_max_per_address(2);
        assert!(quota.open(ip("10.0.0.1")).is_some());
    }
}
