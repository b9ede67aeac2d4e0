//! API tokens for server integrations, through the real server in both modes: owners make one
//! (shown once), it acts on its project's admin routes with its role and nowhere else, its last
//! use shows, and revoking it ends it at once.

use std::time::Duration;

use serde_json::{Value, json};
use uuid::Uuid;

use crate::chat::ask;
use crate::support::TestServer;

const TOKENS: &str = "/api/admin/projects/demo/tokens";

#[tokio::test(flavor = "multi_thread")]
async fn an_api_token_acts_on_its_project_with_its_role_until_revoked() {
    let server = TestServer::start_with(|config| {
        config.auth.live_recheck = Duration::from_millis(100);
    })
    .await;
    let owner = server.owner("olga@example.com").await;
    let agent = server.agent("sam@example.com").await;

    // Bad requests, and people without the owner role, make nothing.
    for body in [
        json!({ "name": "", "role": "agent" }),
        json!({ "name": "x".repeat(61), "role": "agent" }),
        json!({ "name": "CRM" }),
        json!({ "name": "CRM", "role": "admin" }),
    ] {
        owner.post(TOKENS, body).expect_error(400).await;
    }
    agent
        .post(TOKENS, json!({ "name": "CRM", "role": "agent" }))
        .expect_error(403)
        .await;

    let made = owner
        .post(TOKENS, json!({ "name": " CRM sync ", "role": "agent" }))
        .expect(201)
        .await;
    let token = made["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("hy_") && token.len() == 67, "{token}");
    assert_eq!(
        (made["name"].as_str(), made["role"].as_str()),
        (Some("CRM sync"), Some("agent"))
    );
    assert_eq!(made["createdBy"], "olga@example.com");
    let listed = owner.get(TOKENS).expect(200).await;
    assert_eq!(listed["tokens"][0]["id"], made["id"]);
    assert_eq!(listed["tokens"][0]["lastUsedAt"], Value::Null);
    assert!(
        !listed.to_string().contains(&token),
        "a token is shown once"
    );

    // It works on its project's routes, as an agent: the inbox, a reply signed with its name.
    let integration = server.with_token(&token);
    let session = Uuid::new_v4();
    assert_eq!(
        ask(&server, session, None, "Do you ship to Canada?")
            .await
            .status,
        200
    );
    let inbox = integration
        .get("/api/admin/projects/demo/conversations")
        .expect(200)
        .await;
    assert_eq!(inbox["conversations"][0]["sessionId"], session.to_string());
    let reply = format!("/api/admin/projects/demo/conversations/{session}/reply");
    let replied = integration
        .post(&reply, json!({ "text": "From our CRM" }))
        .expect(201)
        .await;
    assert_eq!(replied["author"], "CRM sync (API token)");
    let conversation = format!("/api/admin/projects/demo/conversations/{session}");
    let conversation = integration.get(&conversation).expect(200).await;
    assert_eq!(conversation["status"], "human");
    assert_eq!(
        conversation["assignee"],
        Value::Null,
        "a token is nobody to assign to"
    );
    integration
        .get("/api/admin/projects/demo/analytics")
        .expect(200)
        .await;

    // Nowhere else: not beyond its role, not another project, not the token routes, not
    // routes of no project.
    integration
        .get("/api/admin/projects/demo")
        .expect_error(403)
        .await;
    integration
        .get("/api/admin/projects/other/conversations")
        .expect_error(403)
        .await;
    integration.get(TOKENS).expect_error(403).await;
    integration.get("/api/admin/me").expect_error(403).await;
    integration
        .get("/api/admin/projects")
        .expect_error(403)
        .await;
    let owner_token = owner
        .post(TOKENS, json!({ "name": "Ops", "role": "owner" }))
        .expect(201)
        .await;
    let ops = server.with_token(owner_token["token"].as_str().unwrap());
    ops.get("/api/admin/projects/demo").expect(200).await;
    ops.post(TOKENS, json!({ "name": "More", "role": "owner" }))
        .expect_error(403)
        .await;
    // Nor can an owner's token hand out power over the project, or delete it.
    let invite = json!({ "email": "mallory@example.com", "role": "owner" });
    ops.put("/api/admin/projects/demo/members", invite)
        .expect_error(403)
        .await;
    ops.delete("/api/admin/projects/demo/members/olga@example.com")
        .expect_error(403)
        .await;
    ops.delete("/api/admin/projects/demo")
        .expect_error(403)
        .await;

    // Its last use shows (written in the background, to the minute).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let listed = owner.get(TOKENS).expect(200).await;
        if listed["tokens"][0]["lastUsedAt"].is_string() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "last use never shown: {listed}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Revoked: at once, on every route — an open live stream ends too; revoking again or a bad
    // id is 404; a made-up one is 401.
    let mut live = crate::handoff::team_stream_as(&server, &token).await;
    let path = format!("{TOKENS}/{}", made["id"].as_str().unwrap());
    owner.delete(&path).expect(204).await;
    integration
        .get("/api/admin/projects/demo/conversations")
        .expect_error(401)
        .await;
    assert!(live.next().await.is_none(), "the stream ended");
    owner.delete(&path).expect_error(404).await;
    owner
        .delete(&format!("{TOKENS}/not-a-uuid"))
        .expect_error(404)
        .await;
    let forged = server.with_token(&format!("hy_{}", "0".repeat(64)));
    forged
        .get("/api/admin/projects/demo/conversations")
        .expect_error(401)
        .await;

    // A token never outlives its maker's role on the project.
    let other_owner = server.owner("pat@example.com").await;
    ops.get("/api/admin/projects/demo").expect(200).await;
    other_owner
        .delete("/api/admin/projects/demo/members/olga@example.com")
        .expect(204)
        .await;
    ops.get("/api/admin/projects/demo").expect_error(401).await;
}

#[tokio::test]
async fn a_project_has_at_most_fifty_tokens() {
    let server = TestServer::start().await;
    let owner = server.owner("olga@example.com").await;
    for n in 1..50 {
        let body = json!({ "name": format!("token {n}"), "role": "agent" });
        owner.post(TOKENS, body).expect(201).await;
    }
    owner
        .post(TOKENS, json!({ "name": "token 50", "role": "agent" }))
        .expect(201)
        .await;
    let error = owner
        .post(TOKENS, json!({ "name": "one more", "role": "agent" }))
        .expect_error(409)
        .await;
    assert!(error.contains("50"), "{error}");
}
