//! Headers we parse: `Authorization` (admin JWTs) and `X-Forwarded-For` (client address).
#![no_main]
use std::net::IpAddr;

use helpyap::auth::Auth;
use helpyap::client_ip::client_ip;
use helpyap::config::AuthConfig;
use hyper::HeaderMap;
use hyper::header::{AUTHORIZATION, HeaderValue};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = HeaderValue::from_bytes(data) else {
        return;
    };
    let auth = Auth::new(&AuthConfig::default()).unwrap();
    let mut headers = HeaderMap::new();
    headers.insert(AUTHORIZATION, value.clone());
    assert!(auth.verify(&headers).is_err(), "nothing made up passes as a token");

    let mut headers = HeaderMap::new();
    headers.insert("x-forwarded-for", value);
    let peer: IpAddr = "10.0.0.1".parse().unwrap();
    let trusted = ["10.0.0.0/8".parse().unwrap()];
    let _ = client_ip(peer, &headers, &trusted);
});
