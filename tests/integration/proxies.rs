//! The reverse-proxy configs of `docs/deploy/` as shipped, each run by the real proxy (Debian's
//! nginx-light, caddy) in front of a node, terminating TLS with a test certificate: chat answers
//! arrive delta by delta, WebSocket and SSE popups flow, and visitors behind the proxy are told
//! apart by the rate limiter through `trusted_proxies`.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use helpyap::config::LlmProvider;
use helpyap_actors::testing::free_port;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use uuid::Uuid;

use crate::chat::body;
use crate::fake_llm::FakeLlm;
use crate::support::{Caddy, DEMO_SECRET, Nginx, TestServer, test_certificates};

/// A node that trusts the proxy on 127.0.0.1 and answers with the fake model.
async fn node(fake: &FakeLlm) -> TestServer {
    let base_url = fake.base_url();
    TestServer::start_with(move |config| {
        config.server.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
        config.llm.provider = LlmProvider::Openai;
        config.llm.base_url = base_url;
    })
    .await
}

/// An HTTPS client trusting only the test CA, connecting from `from` (a loopback address
/// other than the proxy's, so the node can tell visitors apart).
fn visitor(ca: &[u8], from: IpAddr) -> reqwest::Client {
    reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(ca).unwrap())
        .local_address(from)
        .build()
        .unwrap()
}

/// What a visitor gets through the proxy at `addr` (TLS, certificate for 127.0.0.1 by `ca`).
async fn everything_flows_through(addr: SocketAddr, ca: &[u8]) {
    let base = format!("https://{addr}");
    let ann = visitor(ca, "127.0.0.2".parse().unwrap());
    let bob = visitor(ca, "127.0.0.3".parse().unwrap());

    // A chat answer arrives delta by delta: the fake model sends a word every 50 ms for 10 s.
    let mut answer = ann
        .post(format!("{base}/api/chat"))
        .json(&body(Uuid::new_v4(), None, "[drip] tell me"))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let asked = Instant::now();
    let (mut seen, mut deltas) = (String::new(), Vec::new());
    while deltas.len() < 5 {
        let chunk = tokio::time::timeout(Duration::from_secs(5), answer.chunk())
            .await
            .expect("a delta in time, not the whole answer at its end")
            .unwrap()
            .expect("the answer goes on");
        seen.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = seen.find("\n\n") {
            let frame: String = seen.drain(..end + 2).collect();
            if frame.contains("\"text-delta\"") {
                deltas.push(asked.elapsed());
            }
        }
    }
    assert!(deltas[0] < Duration::from_secs(3), "{deltas:?}");
    assert!(
        deltas[4] - deltas[0] >= Duration::from_millis(120),
        "the deltas came as they were written, not in one buffered lump: {deltas:?}"
    );
    drop(answer);

    // Popups over SSE and WebSocket (over TLS), then pushes from two visitors behind the proxy:
    // each has its own 10 per minute.
    let mut sse = ann
        .get(format!("{base}/api/widget/salespop/stream?project=demo"))
        .send()
        .await
        .unwrap();
    assert_eq!(sse.status(), 200);
    let first = sse.chunk().await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(&first).contains("retry:"));
    let mut socket = websocket_over_tls(addr, ca).await;
    let push = |client: &reqwest::Client| {
        client
            .post(format!("{base}/api/widget/salespop-push"))
            .bearer_auth(DEMO_SECRET)
            .json(&json!({ "project": "demo", "type": "signed_up" }))
            .send()
    };
    for _ in 0..10 {
        assert_eq!(push(&ann).await.unwrap().status(), 201);
    }
    assert_eq!(push(&ann).await.unwrap().status(), 429, "Ann's own limit");
    assert_eq!(
        push(&bob).await.unwrap().status(),
        201,
        "Bob is someone else"
    );
    let mut ids = Vec::new();
    while ids.len() < 11 {
        let message = tokio::time::timeout(Duration::from_secs(5), socket.next())
            .await
            .expect("popups in time")
            .unwrap()
            .unwrap();
        if let Message::Text(text) = message {
            let event: Value = serde_json::from_str(&text).unwrap();
            ids.push(event["id"].as_str().unwrap().parse::<u64>().unwrap());
        }
    }
    assert_eq!(ids, (1..=11).collect::<Vec<_>>());
    let mut streamed = String::new();
    while !streamed.contains("id: 11\n") {
        let chunk = tokio::time::timeout(Duration::from_secs(5), sse.chunk())
            .await
            .expect("SSE popups in time")
            .unwrap()
            .unwrap();
        streamed.push_str(&String::from_utf8_lossy(&chunk));
    }
}

/// A WebSocket to the popup feed through the proxy, over TLS trusting only the test CA.
async fn websocket_over_tls(
    addr: SocketAddr,
    ca: &[u8],
) -> tokio_tungstenite::WebSocketStream<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for certificate in CertificateDer::pem_slice_iter(ca) {
        roots.add(certificate.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = rustls::pki_types::ServerName::IpAddress(addr.ip().into());
    let tls = connector.connect(name, tcp).await.unwrap();
    let url = format!("wss://{addr}/api/widget/salespop/ws?project=demo");
    let (socket, response) = tokio_tungstenite::client_async(url, tls).await.unwrap();
    assert_eq!(response.status(), 101, "the upgrade passes through");
    socket
}

#[tokio::test(flavor = "multi_thread")]
async fn through_nginx_with_tls_answers_stream_popups_flow_and_visitors_are_told_apart() {
    let fake = FakeLlm::start().await;
    let node = node(&fake).await;
    let certificates = test_certificates();
    let (cert, key) = (
        certificates.path().join("server.crt"),
        certificates.path().join("server.key"),
    );
    let http_port = free_port();
    let shipped = include_str!("../../docs/deploy/nginx.conf")
        .replace("server 127.0.0.1:3000;", &format!("server {};", node.addr))
        .replace("listen 443 ssl http2;", "listen {listen} ssl http2;")
        .replace("listen 80;", &format!("listen 127.0.0.1:{http_port};"))
        .replace("/etc/ssl/helpyap/fullchain.pem", cert.to_str().unwrap())
        .replace("/etc/ssl/helpyap/privkey.pem", key.to_str().unwrap());
    let nginx = Nginx::start(&shipped);
    let ca = std::fs::read(certificates.path().join("ca.crt")).unwrap();
    everything_flows_through(nginx.addr, &ca).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn through_caddy_with_tls_answers_stream_popups_flow_and_visitors_are_told_apart() {
    let fake = FakeLlm::start().await;
    let node = node(&fake).await;
    let certificates = test_certificates();
    let (cert, key) = (
        certificates.path().join("server.crt"),
        certificates.path().join("server.key"),
    );
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    // Our certificate instead of one from Let's Encrypt; no admin endpoint, no port 80.
    let site = format!(
        "https://{addr} {{\n\ttls {} {}",
        cert.display(),
        key.display()
    );
    let caddyfile = include_str!("../../docs/deploy/Caddyfile")
        .replace("chat.example.com {", &site)
        .replace(
            "reverse_proxy 127.0.0.1:3000",
            &format!("reverse_proxy {}", node.addr),
        );
    let caddyfile = format!("{{\n\tadmin off\n\tauto_https disable_redirects\n}}\n{caddyfile}");
    let caddy = Caddy::start(&caddyfile, addr);
    let ca = std::fs::read(certificates.path().join("ca.crt")).unwrap();
    everything_flows_through(addr, &ca).await;
    drop(caddy);
}
