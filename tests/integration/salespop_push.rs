//! `POST /api/widget/salespop-push`: the seed's contract, every status code, stored content.

use serde_json::json;

use crate::support::{
    DEMO_SECRET, OTHER_SECRET, TestServer, client, expect_error, get_json, push, raw_exchange,
    stored_events,
};

fn seed_example() -> serde_json::Value {
    json!({
        "project": "demo",
        "type": "signed_up",
        "name": "Sarah K.",
        "location": "Austin, TX",
        "product": "Pro Plan"
    })
}

#[tokio::test]
async fn the_seed_example_is_stored_and_answered_201_with_its_id() {
    let server = TestServer::start().await;
    let response = push(&server, DEMO_SECRET, seed_example()).await;
    assert_eq!(response.status(), 201);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body, json!({ "id": "1" }));

    let custom =
        json!({ "project": "demo", "type": "custom", "message": "  27 people signed up today " });
    let body: serde_json::Value = push(&server, DEMO_SECRET, custom)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body, json!({ "id": "2" }));

    let events = server
        .engine
        .projects
        .events_after("demo", 0)
        .await
        .unwrap();
    assert_eq!(events.len(), 2);
    let stored = serde_json::to_value(&events[0]).unwrap();
    assert_eq!(stored["type"], "signed_up");
    assert_eq!(stored["name"], "Sarah K.");
    assert_eq!(stored["location"], "Austin, TX");
    assert_eq!(stored["product"], "Pro Plan");
    assert_eq!(
        events[1].message.as_deref(),
        Some("27 people signed up today")
    );
    assert!(events[0].created_at_ms > 1_700_000_000_000);
}

#[tokio::test]
async fn every_documented_type_is_accepted() {
    let server = TestServer::start().await;
    for kind in ["purchased", "subscribed", "signed_up", "added_to_cart"] {
        let response = push(
            &server,
            DEMO_SECRET,
            json!({ "project": "demo", "type": kind }),
        )
        .await;
        assert_eq!(response.status(), 201, "{kind}");
    }
}

#[tokio::test]
async fn credentials_are_checked_401_403_404() {
    let server = TestServer::start().await;
    let url = server.url("/api/widget/salespop-push");

    let no_header = client()
        .post(&url)
        .json(&seed_example())
        .send()
        .await
        .unwrap();
    expect_error(no_header, 401).await;
    let basic = client()
        .post(&url)
        .basic_auth("demo", Some(DEMO_SECRET))
        .json(&seed_example());
    expect_error(basic.send().await.unwrap(), 401).await;
    let empty_bearer = client()
        .post(&url)
        .header("authorization", "Bearer ")
        .json(&seed_example());
    expect_error(empty_bearer.send().await.unwrap(), 401).await;

    let wrong = push(&server, "sp_wrong_secret_0123456789", seed_example()).await;
    assert_eq!(expect_error(wrong, 401).await, "Invalid push secret");
    let foreign = push(&server, OTHER_SECRET, seed_example()).await;
    expect_error(foreign, 403).await;
    let unknown = push(
        &server,
        DEMO_SECRET,
        json!({ "project": "nope", "type": "purchased" }),
    )
    .await;
    assert_eq!(expect_error(unknown, 404).await, "Project not found");

    let lower_scheme = client()
        .post(&url)
        .header("authorization", format!("bearer {DEMO_SECRET}"));
    let response = lower_scheme.json(&seed_example()).send().await.unwrap();
    assert_eq!(
        response.status(),
        201,
        "the Bearer scheme is case-insensitive"
    );
    assert_eq!(
        stored_events(&server).await,
        1,
        "refused pushes store nothing"
    );
}

#[tokio::test]
async fn bad_bodies_are_400_with_a_reason() {
    let server = TestServer::start_with(|config| config.rate_limits.push.requests = 100).await;
    let too_long = "x".repeat(helpyap_actors::social_proof::NAME_MAX_CHARS + 1);
    let cases = [
        (json!({ "type": "purchased" }), "project"),
        (json!({ "project": "demo" }), "type"),
        (json!({ "project": "demo", "type": "refunded" }), "type"),
        (json!({ "project": "demo", "type": "custom" }), "message"),
        (
            json!({ "project": "demo", "type": "purchased", "name": 5 }),
            "invalid type",
        ),
        (json!({ "project": 7, "type": "purchased" }), "invalid type"),
        (
            json!({ "project": "demo", "type": "purchased", "name": too_long }),
            "name",
        ),
        (
            json!({ "project": "demo", "type": "purchased", "location": "a\u{1b}[31mb" }),
            "location",
        ),
        (
            json!(["demo", "custom", null, null, null, "hi"]),
            "expected a JSON object",
        ),
        (
            json!({ "project": "demo", "type": "purchased", "url": "javascript:alert(1)" }),
            "url must be an absolute http(s) URL",
        ),
        (
            json!({ "project": "demo", "type": "purchased", "imageUrl": "/img/jacket.png" }),
            "imageUrl must be an absolute http(s) URL",
        ),
        (
            json!({ "project": "demo", "type": "purchased", "url": 42 }),
            "invalid type",
        ),
    ];
    for (body, needle) in cases {
        let message = expect_error(push(&server, DEMO_SECRET, body.clone()).await, 400).await;
        assert!(message.contains(needle), "{body} -> {message}");
    }
    let url = server.url("/api/widget/salespop-push");
    for raw in [
        "",
        "{",
        "not json",
        "{\"project\": \"demo\", \"type\": \"purchased\"",
    ] {
        let request = client().post(&url).bearer_auth(DEMO_SECRET).body(raw);
        let message = expect_error(request.send().await.unwrap(), 400).await;
        assert!(
            message.starts_with("Invalid JSON body"),
            "{raw:?} -> {message}"
        );
    }
    assert!(
        server
            .engine
            .projects
            .events_after("demo", 0)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn huge_bodies_are_413_whether_declared_or_streamed() {
    let server = TestServer::start_with(|config| config.server.max_body_bytes = 4096).await;
    let big = json!({ "project": "demo", "type": "purchased", "name": "x".repeat(10_000) });
    expect_error(push(&server, DEMO_SECRET, big.clone()).await, 413).await;

    // Chunked, with no Content-Length to check up front.
    let chunk = format!("{{\"name\": \"{}\"}}", "x".repeat(4000));
    let head = format!(
        "POST /api/widget/salespop-push HTTP/1.1\r\nhost: x\r\nconnection: close\r\nauthorization: Bearer {DEMO_SECRET}\r\n\
         transfer-encoding: chunked\r\n\r\n{:x}\r\n{chunk}\r\n{:x}\r\n{chunk}\r\n0\r\n\r\n",
        chunk.len(),
        chunk.len()
    );
    let response = raw_exchange(server.addr, head.as_bytes()).await;
    assert!(response.starts_with("HTTP/1.1 413"), "{response}");
    assert!(response.contains("{\"error\":"), "{response}");
}

/// Every event kept, as a visitor polling from the start gets them.
async fn replayed(server: &TestServer) -> Vec<serde_json::Value> {
    let body = get_json(server, "/api/widget/salespop?project=demo&since=0").await;
    body["events"].as_array().unwrap().clone()
}

#[tokio::test]
async fn links_pictures_and_the_name_format_reach_every_channel() {
    let server = TestServer::start().await;
    let linked = json!({
        "project": "demo", "type": "purchased", "name": "Sarah Kim", "product": "Trail Jacket",
        "url": "https://shop.example/p/trail-jacket", "imageUrl": "https://cdn.example/jacket.png"
    });
    assert_eq!(push(&server, DEMO_SECRET, linked).await.status(), 201);
    let plain = json!({ "project": "demo", "type": "signed_up", "name": "Lee" });
    assert_eq!(push(&server, DEMO_SECRET, plain).await.status(), 201);

    let events = replayed(&server).await;
    assert_eq!(events[0]["url"], "https://shop.example/p/trail-jacket");
    assert_eq!(events[0]["imageUrl"], "https://cdn.example/jacket.png");
    assert_eq!(events[0]["name"], "Sarah Kim");
    // Events without them carry neither key: the seed's shape is unchanged.
    assert!(events[1].get("url").is_none() && events[1].get("imageUrl").is_none());

    // The owner shows first names and initials: the server sends nothing more, in the replay
    // of events pushed before the change too, over SSE as by polling.
    let owner = server.owner("owner@example.com").await;
    let mut settings = owner.get("/api/admin/projects/demo").expect(200).await;
    settings["socialProof"]["nameFormat"] = json!("first_initial");
    owner
        .put("/api/admin/projects/demo", settings.clone())
        .expect(200)
        .await;
    let events = replayed(&server).await;
    assert_eq!(events[0]["name"], "Sarah K.");
    let mut sse = client()
        .get(server.url("/api/widget/salespop/stream?project=demo&since=0"))
        .send()
        .await
        .unwrap();
    let mut seen = String::new();
    while !seen.contains("\"Lee\"") {
        let chunk = tokio::time::timeout(std::time::Duration::from_secs(10), sse.chunk())
            .await
            .expect("the replay arrives")
            .unwrap()
            .expect("the stream stays open");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(
        seen.contains("\"Sarah K.\"") && !seen.contains("Kim"),
        "{seen}"
    );

    settings["socialProof"]["nameFormat"] = json!("anonymous");
    owner
        .put("/api/admin/projects/demo", settings)
        .expect(200)
        .await;
    let events = replayed(&server).await;
    assert!(
        events.iter().all(|event| event["name"].is_null()),
        "{events:?}"
    );
    // The owner's webhook and the store keep the name as pushed.
    let stored = server
        .engine
        .projects
        .events_after("demo", 0)
        .await
        .unwrap();
    assert_eq!(stored[0].name.as_deref(), Some("Sarah Kim"));
}
