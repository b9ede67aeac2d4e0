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

/// Every admin route answers a method it does not take with 405 and its `Allow`, and checks
/// callers in one order: token (401), then project (404), then role (403).
#[tokio::test]
async fn admin_routes_name_their_methods_and_check_token_then_project_then_role() {
    let server = TestServer::start().await;
    let agent = server.agent("agent@example.com").await;
    let cases = [
        ("/api/admin/projects", "GET, POST"),
        ("/api/admin/projects/demo", "GET, PUT, DELETE"),
        ("/api/admin/projects/demo/documents", "GET, POST"),
        ("/api/admin/projects/demo/members/a@b.example", "DELETE"),
        ("/api/admin/invitations", "GET"),
        ("/api/admin/invitations/demo/accept", "POST"),
        ("/api/admin/backup", "GET"),
        ("/api/admin/users", "POST"),
    ];
    for (path, allow) in cases {
        let response = agent.patch(path, None).send().await;
        assert_eq!(response.headers()["allow"], allow, "{path}");
        expect_error(response, 405).await;
    }
    let conversation = "/api/admin/projects/demo/conversations/x";
    let response = agent.put(conversation, None).send().await;
    assert_eq!(response.headers()["allow"], "GET, PATCH, DELETE");
    expect_error(response, 405).await;
    // No token: 401 even for a project that does not exist.
    server
        .anonymous()
        .get("/api/admin/projects/nope/leads")
        .expect(401)
        .await;
    // A token: an unknown project is 404 before any role is asked for.
    agent
        .get("/api/admin/projects/nope/members")
        .expect(404)
        .await;
    // The project exists: the agent lacks the owner role.
    agent
        .get("/api/admin/projects/demo/members")
        .expect(403)
        .await;
    agent
        .get("/api/admin/projects/demo/leads")
        .expect(200)
        .await;
}

/// Without a token, the route table still answers first: 404 for a path no route has, 405
/// with `Allow` for a method the route does not take; only then is the token asked for.
#[tokio::test]
async fn routing_answers_before_the_token_is_asked_for() {
    let server = TestServer::start().await;
    let unknown = client().get(server.url("/api/admin/users/1")).send().await;
    expect_error(unknown.unwrap(), 404).await;
    let patch = client()
        .patch(server.url("/api/admin/projects/demo"))
        .send()
        .await
        .unwrap();
    assert_eq!(patch.headers()["allow"], "GET, PUT, DELETE");
    expect_error(patch, 405).await;
    let get = client()
        .get(server.url("/api/admin/projects/demo"))
        .send()
        .await;
    expect_error(get.unwrap(), 401).await;
}
