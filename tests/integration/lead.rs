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
    let leads = server.engine.chat.leads("demo").await.unwrap();
    assert_eq!(leads.len(), 1);
    assert_eq!(leads[0].email, "ann@example.com");
    assert_eq!(leads[0].session_id, id);
    assert_eq!(
        leads[0].message.as_deref(),
        Some("Please call me\nafter 5pm")
    );
    assert!(server.engine.chat.leads("other").await.unwrap().is_empty());
    // An unknown project is not found, as everywhere else; not an empty list.
    let unknown = server.engine.chat.leads("nope").await;
    assert!(matches!(
        unknown,
        Err(helpyap_actors::ProjectError::NotFound)
    ));
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
    assert!(server.engine.chat.leads("demo").await.unwrap().is_empty());
}

/// A server whose chat limit (leads share it) lets one test post many leads.
async fn lenient_server() -> TestServer {
    TestServer::start_with(|config| config.rate_limits.chat.requests = 1000).await
}

#[tokio::test]
async fn lead_emails_carrying_mailto_parameters_or_several_addresses_are_refused() {
    let server = lenient_server().await;
    let (id, token) = session(&server, "demo").await;
    for email in [
        "x@y.co?body=Pay%20now%20at%20evil.example",
        "x@y.co?cc=boss@evil.example",
        "x@y.co&cc=boss@evil.example",
        "x@y.co%0ABcc:boss@evil.example",
        "x@y.co\nBcc: boss@evil.example",
        "x@y.co#top",
        "x@y.co,boss@evil.example",
        "Ann <x@y.co>",
        "\"x y\"@y.co",
        "x y@y.co",
        "x@y.co@evil.example",
        "x..y@y.co",
        ".x@y.co",
        "x@-y.co",
        "x@y_z.co",
    ] {
        let response = lead(
            &server,
            json!({ "projectSlug": "demo", "sessionId": id, "sessionToken": token, "email": email }),
        )
        .await;
        let error = expect_error(response, 400).await;
        assert!(error.starts_with("email "), "{email:?}: {error}");
    }
    assert!(server.engine.chat.leads("demo").await.unwrap().is_empty());
}

#[tokio::test]
async fn lead_exports_defuse_formulas_hidden_behind_invisible_or_compatibility_characters() {
    let server = lenient_server().await;
    let agent = server.agent("agent@example.com").await;
    // (name, message, defused): cells a spreadsheet could run once it drops or folds their first
    // characters, and cells it could not.
    let leads = [
        (
            "\u{200B}=HYPERLINK(\"https://evil.example\")",
            "\u{FEFF}@SUM(1+1)*cmd|' /C calc'!A0",
            true,
        ),
        ("\u{202E}+1", "\u{00AD}-2+3", true),
        ("\u{2066}\u{200D}=1", "\u{200F}\t=1", true),
        ("＝1+1", "＋1+1", true),
        ("－1+1", "＠SUM(1)", true),
        ("﹦1", "\u{2060}﹫SUM(1)", true),
        ("Ann", "ＡＢＣ: fullwidth letters stay as typed", false),
    ];
    let mut sessions = Vec::new();
    for (name, message, _) in leads {
        let (id, token) = session(&server, "demo").await;
        let response = lead(
            &server,
            json!({ "projectSlug": "demo", "sessionId": id, "sessionToken": token, "email": "ann@example.com", "name": name, "message": message }),
        )
        .await;
        assert_eq!(response.status(), 201, "{name:?}");
        sessions.push(id.to_string());
    }

    let csv = agent.get("/api/admin/projects/demo/leads.csv").send().await;
    assert_eq!(csv.status(), 200);
    let csv = csv.text().await.unwrap();
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), leads.len(), "{csv}");
    for ((name, message, defused), session) in leads.iter().zip(&sessions) {
        let row = rows.iter().find(|row| &row[4] == session).unwrap();
        let exported = |cell: &str| {
            if *defused {
                format!("'{cell}")
            } else {
                cell.to_owned()
            }
        };
        assert_eq!(&row[2], exported(name), "{csv}");
        assert_eq!(&row[3], exported(message), "{csv}");
    }
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
        .engine
        .chat
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
