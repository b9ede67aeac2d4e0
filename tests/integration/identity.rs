//! `HelpYap.identify` through the real server: the identity secret (owners only, shown once),
//! `POST /api/widget/identify` and the chat's `user`: a wrong hash is 401 and changes nothing, a
//! verified visitor's conversation follows them to another browser with a token of its own, the
//! inbox shows who they are (verified or not), and a shared browser never hands one visitor's
//! conversation to another.

use serde_json::{Value, json};
use uuid::Uuid;

use crate::chat::{ask, ask_with, body};
use crate::support::{Caller, TestServer, client, expect_error, send_json, visitor_session};

/// `userHash` as a site's server computes it: `openssl dgst -sha256 -hmac SECRET`.
pub(crate) fn user_hash(secret: &str, user_id: &str) -> String {
    use std::io::Write;
    let mut child = std::process::Command::new("openssl")
        .args(["dgst", "-sha256", "-hmac", secret, "-r"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("openssl runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(user_id.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let text = String::from_utf8(output.stdout).unwrap();
    text.split_whitespace().next().unwrap().to_owned()
}

/// `POST /api/widget/identify`'s JSON answer, whatever its status.
async fn identified(server: &TestServer, body: &Value) -> Value {
    send_json(client().post(server.url("/api/widget/identify")).json(body)).await
}

async fn identify(server: &TestServer, body: Value) -> reqwest::Response {
    client()
        .post(server.url("/api/widget/identify"))
        .json(&body)
        .send()
        .await
        .unwrap()
}

fn ana(hash: Option<&str>) -> Value {
    let mut body = json!({
        "projectSlug": "demo",
        "userId": "user-42",
        "email": "ana@example.com",
        "name": "Ana Lopez",
    });
    if let Some(hash) = hash {
        body["userHash"] = json!(hash);
    }
    body
}

/// Ana's chat body: the question, her session, and who she is.
fn as_ana(session: Uuid, token: Option<&str>, hash: Option<&str>, question: &str) -> Value {
    let mut chat = body(session, token, question);
    let user = ana(hash);
    chat["user"] = json!({
        "userId": user["userId"], "email": user["email"], "name": user["name"],
        "userHash": user["userHash"],
    });
    chat
}

async fn inbox_visitor(owner: &Caller, session: Uuid) -> Value {
    let conversation = owner
        .get(&format!("/api/admin/projects/demo/conversations/{session}"))
        .expect(200)
        .await;
    conversation["visitor"].clone()
}

async fn turn_verification_on(owner: &Caller) -> String {
    let made = owner
        .post("/api/admin/projects/demo/identity-secret", None)
        .expect(200)
        .await;
    let secret = made["identitySecret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("iv_"), "{made}");
    assert_eq!(made["secretEnding"], json!(&secret[secret.len() - 4..]));
    let shown = owner
        .get("/api/admin/projects/demo/identity-secret")
        .expect(200)
        .await;
    assert_eq!(shown["enabled"], true);
    assert_eq!(shown["secretEnding"], made["secretEnding"]);
    assert!(
        shown.get("identitySecret").is_none(),
        "shown whole once only: {shown}"
    );
    secret
}

#[tokio::test]
async fn only_owners_make_or_remove_the_identity_secret() {
    let server = TestServer::start().await;
    let owner = server.owner("owner@example.com").await;
    let agent = server.agent("agent@example.com").await;
    let off = owner
        .get("/api/admin/projects/demo/identity-secret")
        .expect(200)
        .await;
    assert_eq!(off, json!({"enabled": false}));
    agent
        .post("/api/admin/projects/demo/identity-secret", None)
        .expect_error(403)
        .await;
    server
        .anonymous()
        .get("/api/admin/projects/demo/identity-secret")
        .expect_error(401)
        .await;
    owner
        .get("/api/admin/projects/nope/identity-secret")
        .expect_error(404)
        .await;
    let first = turn_verification_on(&owner).await;
    let second = turn_verification_on(&owner).await;
    assert_ne!(first, second);
    // The first no longer vouches for anyone.
    let stale = identify(&server, ana(Some(&user_hash(&first, "user-42")))).await;
    assert_eq!(
        expect_error(stale, 401).await,
        "userHash does not match userId"
    );
    let fresh = identify(&server, ana(Some(&user_hash(&second, "user-42")))).await;
    assert_eq!(fresh.status(), 200);

    owner
        .delete("/api/admin/projects/demo/identity-secret")
        .expect(204)
        .await;
    let off = owner
        .get("/api/admin/projects/demo/identity-secret")
        .expect(200)
        .await;
    assert_eq!(off["enabled"], false);
}

#[tokio::test]
async fn a_verified_visitor_finds_their_conversation_in_another_browser() {
    let server = TestServer::start().await;
    let owner = server.owner("owner@example.com").await;
    let secret = turn_verification_on(&owner).await;
    let hash = user_hash(&secret, "user-42");

    // Browser A: signed in, Ana asks.
    let session = Uuid::new_v4();
    let first = ask_with(
        &server,
        &as_ana(session, None, Some(&hash), "How do I reset my password?"),
    )
    .await;
    assert_eq!(first.status, 200);
    let token_a = first.token.clone().unwrap();
    let visitor = inbox_visitor(&owner, session).await;
    assert_eq!(
        visitor,
        json!({"userId": "user-42", "email": "ana@example.com", "name": "Ana Lopez", "verified": true})
    );
    let row = owner
        .get("/api/admin/projects/demo/conversations")
        .expect(200)
        .await;
    assert_eq!(row["conversations"][0]["visitor"]["verified"], true);

    // Browser A identifies again on its next page: it keeps its conversation.
    let mut again = ana(Some(&hash));
    again["sessionId"] = json!(session);
    again["sessionToken"] = json!(token_a);
    let kept = identified(&server, &again).await;
    assert_eq!(kept, json!({"verified": true, "conversation": "current"}));

    // Browser B, with a fresh anonymous session id and no conversation: Ana's latest, with a
    // token of B's own.
    let mut elsewhere = ana(Some(&hash));
    elsewhere["sessionId"] = json!(Uuid::new_v4());
    let found = identified(&server, &elsewhere).await;
    assert_eq!(found["conversation"], "other", "{found}");
    assert_eq!(found["sessionId"], json!(session));
    let token_b = found["sessionToken"].as_str().unwrap().to_owned();
    assert_ne!(token_b, token_a);
    let transcript = visitor_session(&server, session, &token_b).await;
    assert_eq!(
        transcript["messages"][0]["content"],
        "How do I reset my password?"
    );
    // B goes on with it, and A still can.
    let from_b = ask(&server, session, Some(&token_b), "Thanks!").await;
    assert_eq!(from_b.status, 200);
    let seen_by_a = visitor_session(&server, session, &token_a).await;
    assert_eq!(seen_by_a["messages"].as_array().unwrap().len(), 4);

    // A wrong hash: 401, and nothing given away.
    let forged = identify(&server, ana(Some(&user_hash("iv_guess", "user-42")))).await;
    assert_eq!(
        expect_error(forged, 401).await,
        "userHash does not match userId"
    );
    let missing = identify(&server, ana(None)).await;
    expect_error(missing, 401).await;
    let other_user = identify(&server, {
        let mut body = ana(Some(&hash));
        body["userId"] = json!("user-43");
        body
    })
    .await;
    expect_error(other_user, 401).await;
    // In a chat too; the anonymous conversation stays anonymous.
    let anonymous = Uuid::new_v4();
    let plain = ask(&server, anonymous, None, "Do you ship abroad?").await;
    let plain_token = plain.token.unwrap();
    let forged_chat = ask_with(
        &server,
        &as_ana(anonymous, Some(&plain_token), Some("00"), "hello"),
    )
    .await;
    assert_eq!(forged_chat.status, 401);
    assert_eq!(inbox_visitor(&owner, anonymous).await, Value::Null);
}

#[tokio::test]
async fn signing_in_claims_the_anonymous_conversation_but_never_anothers() {
    let server = TestServer::start().await;
    let owner = server.owner("owner@example.com").await;
    let secret = turn_verification_on(&owner).await;

    // An anonymous visitor chats, then signs in: the conversation becomes Ana's.
    let session = Uuid::new_v4();
    let token = ask(&server, session, None, "Do you ship abroad?")
        .await
        .token
        .unwrap();
    let mut claim = ana(Some(&user_hash(&secret, "user-42")));
    claim["sessionId"] = json!(session);
    claim["sessionToken"] = json!(token);
    let claimed = identified(&server, &claim).await;
    assert_eq!(claimed["conversation"], "current");
    assert_eq!(inbox_visitor(&owner, session).await["userId"], "user-42");

    // Ana signs out without `shutdown` and Ben signs in on the same browser: he is not shown
    // her conversation, and it stays hers.
    let mut ben = json!({
        "projectSlug": "demo", "userId": "user-7", "name": "Ben",
        "userHash": user_hash(&secret, "user-7"),
        "sessionId": session, "sessionToken": token,
    });
    let shown = identified(&server, &ben).await;
    assert_eq!(shown, json!({"verified": true, "conversation": "new"}));
    assert_eq!(inbox_visitor(&owner, session).await["userId"], "user-42");
    // Nor can he write in it with her session's token: 403, start a new one.
    let mut chat = body(session, Some(&token), "hi");
    chat["user"] = json!({"userId": "user-7", "userHash": ben["userHash"]});
    let refused = ask_with(&server, &chat).await;
    assert_eq!(refused.status, 403);
    assert_eq!(inbox_visitor(&owner, session).await["userId"], "user-42");
    let transcript = visitor_session(&server, session, &token).await;
    assert_eq!(
        transcript["messages"].as_array().unwrap().len(),
        2,
        "nothing of his in it"
    );

    // A guest conversation named with a forged token is no conversation and stays a guest's.
    let guest = Uuid::new_v4();
    assert_eq!(ask(&server, guest, None, "Hello?").await.status, 200);
    ben["sessionId"] = json!(guest);
    ben["sessionToken"] = json!("st_forged");
    let forged = identified(&server, &ben).await;
    assert_eq!(forged["conversation"], "new");
    assert_eq!(inbox_visitor(&owner, guest).await, Value::Null);

    // After verification is turned off, Ana's own browser keeps her conversation, still
    // verified: an unverified claim of the same user does not downgrade it.
    owner
        .delete("/api/admin/projects/demo/identity-secret")
        .expect(204)
        .await;
    let mut own = ana(None);
    own["sessionId"] = json!(session);
    own["sessionToken"] = json!(token);
    let kept = identified(&server, &own).await;
    assert_eq!(kept, json!({"verified": false, "conversation": "current"}));
    assert_eq!(inbox_visitor(&owner, session).await["verified"], true);
}

#[tokio::test]
async fn without_a_secret_identities_are_kept_unverified_and_not_followed() {
    let server = TestServer::start().await;
    let owner = server.owner("owner@example.com").await;
    let session = Uuid::new_v4();
    let first = ask_with(
        &server,
        &as_ana(session, None, Some("anything"), "Do you ship abroad?"),
    )
    .await;
    assert_eq!(first.status, 200);
    let visitor = inbox_visitor(&owner, session).await;
    assert_eq!(visitor["verified"], false);
    assert_eq!(visitor["name"], "Ana Lopez");
    let csv = owner
        .get("/api/admin/projects/demo/conversations.csv")
        .send()
        .await
        .text()
        .await
        .unwrap();
    assert!(csv.contains(",user-42,ana@example.com,false\n"), "{csv}");

    // Anyone may say they are user-42 here, so the conversation is not handed out.
    let elsewhere = identified(&server, &ana(None)).await;
    assert_eq!(elsewhere, json!({"verified": false, "conversation": "new"}));

    // Nor, on a shared browser, to the next person the page names.
    let token = first.token.unwrap();
    let ben = json!({
        "projectSlug": "demo", "userId": "user-7", "name": "Ben",
        "sessionId": session, "sessionToken": token,
    });
    let shown = identified(&server, &ben).await;
    assert_eq!(shown, json!({"verified": false, "conversation": "new"}));
    assert_eq!(inbox_visitor(&owner, session).await["userId"], "user-42");
}

#[tokio::test]
async fn bad_identify_requests_get_clear_errors() {
    let server = TestServer::start().await;
    let cases = [
        (json!({"userId": "u"}), 400, "projectSlug is required"),
        (
            json!({"projectSlug": "nope", "userId": "u"}),
            404,
            "Project not found",
        ),
        (json!({"projectSlug": "demo"}), 400, "userId is required"),
        (
            json!({"projectSlug": "demo", "userId": ""}),
            400,
            "userId must be 1 to 200 characters",
        ),
        (
            json!({"projectSlug": "demo", "userId": "x".repeat(201)}),
            400,
            "userId must be 1 to 200",
        ),
        (
            json!({"projectSlug": "demo", "userId": "a\u{0}b"}),
            400,
            "control characters",
        ),
        (
            json!({"projectSlug": "demo", "userId": 42}),
            400,
            "expected a string",
        ),
        (
            json!({"projectSlug": "demo", "userId": "u", "email": "nope"}),
            400,
            "email must be an email address",
        ),
        (
            json!({"projectSlug": "demo", "userId": "u", "sessionId": "nope"}),
            400,
            "sessionId must be a UUID",
        ),
        (json!(["not", "an", "object"]), 400, "JSON object"),
    ];
    for (request, status, message) in cases {
        let answer = identify(&server, request.clone()).await;
        let error = expect_error(answer, status).await;
        assert!(error.contains(message), "{request}: {error}");
    }
    let mut chat = body(Uuid::new_v4(), None, "hi");
    chat["user"] = json!({"email": "ana@example.com"});
    let answer = ask_with(&server, &chat).await;
    assert_eq!(answer.status, 400);
}
