//! HTTP plumbing: unknown routes and methods, h2c, header and body timeouts.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::{DEMO_SECRET, TestServer, client, expect_error, raw_exchange};

#[tokio::test]
async fn unknown_paths_are_404_and_wrong_methods_405_with_allow() {
    let server = TestServer::start().await;
    expect_error(client().get(server.url("/nope")).send().await.unwrap(), 404).await;
    let post_config = client()
        .post(server.url("/api/widget/config?project=demo"))
        .send()
        .await
        .unwrap();
    assert_eq!(post_config.headers()["allow"], "GET, OPTIONS");
    expect_error(post_config, 405).await;
    let get_push = client()
        .get(server.url("/api/widget/salespop-push"))
        .send()
        .await
        .unwrap();
    assert_eq!(get_push.headers()["allow"], "POST, OPTIONS");
    expect_error(get_push, 405).await;
}

#[tokio::test]
async fn healthz_answers_ok() {
    let server = TestServer::start().await;
    let response = client().get(server.url("/healthz")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ok");
}

#[tokio::test]
async fn http2_without_tls_is_served_on_the_same_port() {
    let server = TestServer::start().await;
    let h2 = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let response = h2
        .get(server.url("/api/widget/config?project=demo"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.version(), reqwest::Version::HTTP_2);
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["company"], "Acme Inc");
}

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_disconnected() {
    let server = TestServer::start_with(|config| {
        config.server.header_read_timeout = Duration::from_millis(300);
    })
    .await;
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\nx-slow: ")
        .await
        .unwrap();
    let mut buffer = Vec::new();
    let closed =
        tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut buffer)).await;
    assert!(
        closed.is_ok(),
        "the server kept a slowloris connection open"
    );
}

#[tokio::test]
async fn a_body_that_never_finishes_gets_408() {
    let server = TestServer::start_with(|config| {
        config.server.body_read_timeout = Duration::from_millis(300);
    })
    .await;
    let request = format!(
        "POST /api/widget/salespop-push HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\
         authorization: Bearer {DEMO_SECRET}\r\ncontent-length: 100\r\n\r\n{{\"project\""
    );
    let response = raw_exchange(server.addr, request.as_bytes()).await;
    assert!(response.starts_with("HTTP/1.1 408"), "{response}");
    assert!(response.contains("{\"error\":"), "{response}");
}
