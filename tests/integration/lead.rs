//! `POST /api/widget/lead`: a visitor leaves an email for a human; only the session's holder.

use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{TestServer, client, expect_error};

/// Starts a session in `project` with one question; returns its id and token.
async fn session(server: &TestServer, project: &str) -> (Uuid, String) {
    let id = Uuid::new_v4();
    let response = client()
        .post(server.url("/api/chat"))
        .json(&json!({ "projectSlug": project, "sessionId": id, "messages": [{ "role": "user", "content": "Can I talk to a person?" }] }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let token = response.headers()["x-session-token"]
        .to_str()
        .unwrap()
        .to_owned();
    response.text().await.unwrap();
    (id, token)
}

async fn lead(server: &TestServer, body: Value) -> reqwest::Response {
    client()
        .post(server.url("/api/widget/lead"))
        .json(&body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_session_holder_leaves_a_lead_and_it_is_stored() {
    let server = TestServer::start().await;
    let (id, token) = session(&server, "demo").await;
    let response = lead(
        &server,
        json!({ "projectSlug": "demo", "sessionId": id, "sessionToken": token, "email": " ann@example.com ", "name": "Ann", "message": "Please call me\nafter 5pm" }),
    )
    .await;
    assert_eq!(response.status(), 201);
    let leads = server.registry.leads("demo").unwrap();
    assert_eq!(leads.len(), 1);
    assert_eq!(leads[0].email, "ann@example.com");
    assert_eq!(leads[0].session_id, id);
    assert_eq!(
        leads[0].message.as_deref(),
        Some("Please call me\nafter 5pm")
    );
    assert!(server.registry.leads("other").unwrap().is_empty());
}

#[tokio::test]
async fn leads_need_the_session_token_and_a_real_email() {
    let server = TestServer::start().await;
    let (id, token) = session(&server, "demo").await;
    let (other_id, other_token) = session(&server, "other").await;
    let base = |email: &str| json!({ "projectSlug": "demo", "sessionId": id, "sessionToken": token, "email": email });
    for (body, status) in [
        (
            json!({ "projectSlug": "demo", "sessionId": id, "email": "a@b.co" }),
            401,
        ),
        (
            json!({ "projectSlug": "demo", "sessionId": id, "sessionToken": "st_wrong", "email": "a@b.co" }),
            401,
        ),
        (
            json!({ "projectSlug": "demo", "sessionId": other_id, "sessionToken": other_token, "email": "a@b.co" }),
            403,
        ),
        (
            json!({ "projectSlug": "demo", "sessionId": Uuid::new_v4(), "sessionToken": token, "email": "a@b.co" }),
            404,
        ),
        (
            json!({ "projectSlug": "nope", "sessionId": id, "sessionToken": token, "email": "a@b.co" }),
            404,
        ),
        (
            json!({ "projectSlug": "demo", "sessionId": "not-a-uuid", "sessionToken": token, "email": "a@b.co" }),
            400,
        ),
        (base("not an email"), 400),
        (base(""), 400),
        (
            json!({ "projectSlug": "demo", "sessionId": id, "sessionToken": token, "email": "a@b.co", "name": "x".repeat(81) }),
            400,
        ),
        (
            json!({ "projectSlug": "demo", "sessionId": id, "sessionToken": token, "email": 42 }),
            400,
        ),
    ] {
        let response = lead(&server, body.clone()).await;
        expect_error(response, status).await;
    }
    assert!(server.registry.leads("demo").unwrap().is_empty());
}

#[tokio::test]
async fn visitors_rate_answers_and_the_rating_is_stored() {
    let server = TestServer::start().await;
    let id = Uuid::new_v4();
    let response = client()
        .post(server.url("/api/chat"))
        .json(&json!({ "projectSlug": "demo", "sessionId": id, "messages": [{ "role": "user", "content": "What is your return policy?" }] }))
        .send()
        .await
        .unwrap();
    let token = response.headers()["x-session-token"]
        .to_str()
        .unwrap()
        .to_owned();
    let stream = response.text().await.unwrap();
    let start: Value = serde_json::from_str(
        stream
            .lines()
            .next()
            .unwrap()
            .strip_prefix("data: ")
            .unwrap(),
    )
    .unwrap();
    let message_id = start["messageId"].as_str().unwrap().to_owned();

    let rate = |body: Value| {
        let url = server.url("/api/widget/feedback");
        async move { client().post(url).json(&body).send().await.unwrap() }
    };
    let body = |message_id: &str, rating: &str| json!({ "projectSlug": "demo", "sessionId": id, "sessionToken": token, "messageId": message_id, "rating": rating });
    assert_eq!(rate(body(&message_id, "down")).await.status(), 204);
    assert_eq!(
        rate(body(&message_id, "up")).await.status(),
        204,
        "a second rating replaces the first"
    );
    let (_, messages) = server
        .registry
        .conversation("demo", id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        messages[1].feedback,
        Some(helpyap_actors::chat::Feedback::Up)
    );

    expect_error(rate(body(&format!("{id}-1"), "up")).await, 404).await; // the question
    expect_error(rate(body(&message_id, "meh")).await, 400).await;
    expect_error(rate(body("not-an-id", "up")).await, 400).await;
    let no_token =
        json!({ "projectSlug": "demo", "sessionId": id, "messageId": message_id, "rating": "up" });
    expect_error(rate(no_token).await, 401).await;
}
