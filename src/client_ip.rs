//! Who the client is: the peer address, or — behind a trusted reverse proxy — the right-most
//! `X-Forwarded-For` hop that is not itself a trusted proxy.
//!
//! Left-most hops are written by the client and can be forged, so they are believed only when
//! every hop to their right is a trusted proxy. This module reads headers; it does not limit.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use hyper::header::HeaderMap;
use ipnet::IpNet;

pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted_proxies: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted_proxies.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let hops = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .collect::<Vec<_>>();
    let mut client = peer;
    for hop in hops.iter().rev() {
        match parse_hop(hop) {
            Some(ip) => {
                client = ip;
                if !is_trusted(&ip) {
                    break;
                }
            }
            // A hop we cannot read ends the chain we can believe.
            None => break,
        }
    }
    client
}

/// `203.0.113.7`, `2001:db8::1`, and with ports `203.0.113.7:41234`, `[2001:db8::1]:41234`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<SocketAddr>().ok().map(|addr| addr.ip()))
}

/// The address that counts as one client for limits: IPv4 addresses alone, IPv6 addresses by
/// their /64 network, since one host usually owns a whole /64.
pub fn client_key(client: IpAddr) -> IpAddr {
    match client {
        IpAddr::V4(_) => client,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(v6.to_bits() & !u128::from(u64::MAX))),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append("x-forwarded-for", HeaderValue::from_str(value).unwrap());
        }
        headers
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|net| net.parse().unwrap()).collect()
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_claims() {
        let forged = headers(&["1.2.3.4"]);
        assert_eq!(
            client_ip(ip("9.9.9.9"), &forged, &nets(&["10.0.0.0/8"])),
            ip("9.9.9.9")
        );
        assert_eq!(client_ip(ip("9.9.9.9"), &forged, &[]), ip("9.9.9.9"));
    }

    #[test]
    fn behind_trusted_proxies_the_right_most_untrusted_hop_is_the_client() {
        let trusted = nets(&["10.0.0.0/8"]);
        let chain = headers(&["6.6.6.6, 203.0.113.7, 10.0.0.3"]);
        assert_eq!(
            client_ip(ip("10.0.0.1"), &chain, &trusted),
            ip("203.0.113.7")
        );
        // Several header lines are one list, in order.
        let split = headers(&["6.6.6.6", "203.0.113.7:4000, 10.0.0.3"]);
        assert_eq!(
            client_ip(ip("10.0.0.1"), &split, &trusted),
            ip("203.0.113.7")
        );
        let v6 = headers(&["[2001:db8::7]:443"]);
        assert_eq!(client_ip(ip("10.0.0.1"), &v6, &trusted), ip("2001:db8::7"));
    }

    #[test]
    fn unreadable_or_missing_hops_stop_at_the_last_believable_address() {
        let trusted = nets(&["10.0.0.0/8"]);
        assert_eq!(
            client_ip(ip("10.0.0.1"), &headers(&[]), &trusted),
            ip("10.0.0.1")
        );
        let garbage = headers(&["203.0.113.7, junk, 10.0.0.9"]);
        assert_eq!(
            client_ip(ip("10.0.0.1"), &garbage, &trusted),
            ip("10.0.0.9")
        );
        let all_trusted = headers(&["10.0.0.8, 10.0.0.9"]);
        assert_eq!(
            client_ip(ip("10.0.0.1"), &all_trusted, &trusted),
            ip("10.0.0.8")
        );
    }
}
