//! Per-IP rate limits through the real server: the seed's defaults, headers, trusted proxies.

use serde_json::json;

use crate::support::{DEMO_SECRET, TestServer, client, expect_error, push, stored_events};

fn purchase() -> serde_json::Value {
    json!({ "project": "demo", "type": "purchased", "name": "Sam" })
}

fn header_u64(response: &reqwest::Response, name: &str) -> u64 {
    response.headers()[name].to_str().unwrap().parse().unwrap()
}

#[tokio::test]
async fn the_eleventh_push_inside_60_seconds_is_429_with_retry_after() {
    let server = TestServer::start().await;
    for idx in 0..10u64 {
        let response = push(&server, DEMO_SECRET, purchase()).await;
        assert_eq!(response.status(), 201, "push {}", idx + 1);
        assert_eq!(header_u64(&response, "x-ratelimit-limit"), 10);
        assert_eq!(header_u64(&response, "x-ratelimit-remaining"), 9 - idx);
    }
    let refused = push(&server, DEMO_SECRET, purchase()).await;
    let retry_after = header_u64(&refused, "retry-after");
    assert!((1..=60).contains(&retry_after), "Retry-After {retry_after}");
    assert_eq!(header_u64(&refused, "x-ratelimit-remaining"), 0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let reset = header_u64(&refused, "x-ratelimit-reset");
    assert!(
        reset > now && reset <= now + 61,
        "reset {reset} vs now {now}"
    );
    assert_eq!(expect_error(refused, 429).await, "Rate limit exceeded");
    assert_eq!(
        stored_events(&server).await,
        10,
        "a refused push stores nothing"
    );

    // Other classes keep their own budget.
    let config = client()
        .get(server.url("/api/widget/config?project=demo"))
        .send()
        .await
        .unwrap();
    assert_eq!(config.status(), 200);
}

#[tokio::test]
async fn the_sixty_first_widget_request_is_429_and_healthz_is_never_limited() {
    let server = TestServer::start().await;
    let url = server.url("/api/widget/config?project=demo");
    let unix_now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
    };
    for idx in 0..60 {
        let before = unix_now();
        let response = client().get(&url).send().await.unwrap();
        assert_eq!(response.status(), 200, "request {}", idx + 1);
        // The config GET's head is made once per snapshot: each answer still has its own
        // numbers.
        assert_eq!(header_u64(&response, "x-ratelimit-limit"), 60);
        assert_eq!(header_u64(&response, "x-ratelimit-remaining"), 59 - idx);
        let reset = header_u64(&response, "x-ratelimit-reset");
        assert!(
            (before..=unix_now() + 61).contains(&reset),
            "reset {reset} is not within the minute's window"
        );
    }
    let refused = client().get(&url).send().await.unwrap();
    assert!(refused.headers().contains_key("retry-after"));
    assert_eq!(
        refused.headers()["access-control-allow-origin"],
        "*",
        "browsers must be able to read it"
    );
    expect_error(refused, 429).await;
    // Errors count too: an unknown project does not get a free pass.
    let unknown = client()
        .get(server.url("/api/widget/config?project=nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 429);
    for _ in 0..100 {
        assert_eq!(
            client()
                .get(server.url("/healthz"))
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
    }
}

#[tokio::test]
async fn limits_come_from_the_config() {
    let server = TestServer::start_with(|config| config.rate_limits.push.requests = 2).await;
    assert_eq!(push(&server, DEMO_SECRET, purchase()).await.status(), 201);
    assert_eq!(push(&server, DEMO_SECRET, purchase()).await.status(), 201);
    assert_eq!(push(&server, DEMO_SECRET, purchase()).await.status(), 429);
}

async fn push_from(server: &TestServer, forwarded_for: &str) -> u16 {
    let response = client()
        .post(server.url("/api/widget/salespop-push"))
        .bearer_auth(DEMO_SECRET)
        .header("x-forwarded-for", forwarded_for)
        .json(&purchase())
        .send()
        .await
        .unwrap();
    response.status().as_u16()
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_budget() {
    let server = TestServer::start_with(|config| {
        config.server.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
        config.rate_limits.push.requests = 1;
    })
    .await;
    assert_eq!(push_from(&server, "203.0.113.1").await, 201);
    assert_eq!(push_from(&server, "203.0.113.1").await, 429);
    assert_eq!(push_from(&server, "203.0.113.2").await, 201);
    // A client cannot escape its budget by prepending a forged hop: the right-most wins.
    assert_eq!(push_from(&server, "198.51.100.9, 203.0.113.1").await, 429);
}

#[tokio::test]
async fn from_an_untrusted_peer_forwarded_for_is_ignored() {
    let server = TestServer::start_with(|config| config.rate_limits.push.requests = 1).await;
    assert_eq!(push_from(&server, "203.0.113.1").await, 201);
    assert_eq!(
        push_from(&server, "203.0.113.2").await,
        429,
        "spoofed X-Forwarded-For must not help"
    );
}
