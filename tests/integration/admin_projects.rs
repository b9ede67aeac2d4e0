//! `/api/admin/projects…`: the 401/403/404 matrix, settings that reach visitors at once, and
//! push-secret rotation that takes effect at once.

use helpyap_actors::records::Role;
use serde_json::{Value, json};

use crate::support::{DEMO_SECRET, TestServer, client, expect_error, get_json, push};

const PASSWORD: &str = "correct horse battery";

/// Signs `email` in (creating the user first) and returns an access token.
pub(crate) async fn signed_in(
    server: &TestServer,
    email: &str,
    admin: bool,
    role: Option<Role>,
) -> String {
    let user = server
        .engine
        .accounts
        .add_user(email, PASSWORD.into(), admin)
        .await
        .unwrap();
    if let Some(role) = role {
        server
            .engine
            .accounts
            .grant(user.id, "demo", Some(role))
            .await
            .unwrap();
    }
    let tokens: Value = client()
        .post(server.url("/api/admin/auth/login"))
        .json(&json!({ "email": email, "password": PASSWORD }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    tokens["accessToken"].as_str().unwrap().to_owned()
}

pub(crate) async fn call(
    server: &TestServer,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> reqwest::Response {
    let mut request = client().request(method, server.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap()
}

/// A signed-in GET that must answer 200 with JSON.
pub(crate) async fn get_as(server: &TestServer, token: &str, path: &str) -> Value {
    let response = call(server, reqwest::Method::GET, path, Some(token), None).await;
    assert_eq!(response.status(), 200, "{path}");
    response.json().await.unwrap()
}

/// Calls and checks the status; error bodies must also be `{"error": "..."}`.
pub(crate) async fn expect_status(
    server: &TestServer,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
    status: u16,
) {
    let response = call(server, method, path, token, body).await;
    if status >= 400 {
        expect_error(response, status).await;
    } else {
        assert_eq!(response.status(), status, "{path}");
    }
}

fn settings(name: &str) -> Value {
    json!({
        "name": name,
        "company": "Acme Inc",
        "welcomeMessage": "Hello!",
        "quickReplies": ["Pricing"],
        "theme": { "primaryColor": "#112233", "position": "bottom-left" },
        "allowedOrigins": ["https://shop.example"],
    })
}

#[tokio::test]
async fn every_project_endpoint_checks_token_project_and_role() {
    use reqwest::Method;
    let server = TestServer::start().await;
    let admin = signed_in(&server, "admin@example.com", true, None).await;
    let owner = signed_in(&server, "owner@example.com", false, Some(Role::Owner)).await;
    let agent = signed_in(&server, "agent@example.com", false, Some(Role::Agent)).await;

    let owner_only = [
        (Method::GET, "/api/admin/projects/demo", None),
        (
            Method::PUT,
            "/api/admin/projects/demo",
            Some(settings("Bot")),
        ),
        (Method::POST, "/api/admin/projects/demo/push-secret", None),
        (Method::GET, "/api/admin/projects/demo/documents", None),
        (
            Method::POST,
            "/api/admin/projects/demo/documents/fetch",
            Some(json!({ "url": "https://example.com/" })),
        ),
        (
            Method::POST,
            "/api/admin/projects/demo/documents/reindex",
            None,
        ),
        (
            Method::POST,
            "/api/admin/projects/demo/documents/returns.md/sync",
            None,
        ),
        (
            Method::DELETE,
            "/api/admin/projects/demo/documents/returns.md",
            None,
        ),
    ];
    for (method, path, body) in &owner_only {
        let missing = call(&server, method.clone(), path, None, body.clone()).await;
        expect_error(missing, 401).await;
        let forged = call(
            &server,
            method.clone(),
            path,
            Some("eyJhbGciOiJub25lIn0.e30."),
            body.clone(),
        )
        .await;
        expect_error(forged, 401).await;
        let as_agent = call(&server, method.clone(), path, Some(&agent), body.clone()).await;
        expect_error(as_agent, 403).await;
        let unknown = path.replace("/demo", "/nope");
        expect_status(
            &server,
            method.clone(),
            &unknown,
            Some(&admin),
            body.clone(),
            404,
        )
        .await;
    }
    // An owner of demo is nobody on `other`.
    let elsewhere = call(
        &server,
        Method::GET,
        "/api/admin/projects/other",
        Some(&owner),
        None,
    )
    .await;
    expect_error(elsewhere, 403).await;
    expect_status(
        &server,
        Method::GET,
        "/api/admin/projects/demo",
        Some(&owner),
        None,
        200,
    )
    .await;

    // Lists show what each user may see.
    let list = |token: String| {
        let server = &server;
        async move {
            let body: Value = call(
                server,
                Method::GET,
                "/api/admin/projects",
                Some(&token),
                None,
            )
            .await
            .json()
            .await
            .unwrap();
            body["projects"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| {
                    (
                        p["slug"].as_str().unwrap().to_owned(),
                        p["role"].as_str().unwrap().to_owned(),
                    )
                })
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        list(admin.clone()).await,
        [
            ("demo".into(), "owner".into()),
            ("other".into(), "owner".into())
        ]
    );
    assert_eq!(
        list(agent.clone()).await,
        [("demo".to_owned(), "agent".to_owned())]
    );

    // Creating projects is for admins.
    let create = |token: String, slug: &'static str| {
        let server = &server;
        async move {
            let mut body = settings("New Bot");
            body["slug"] = json!(slug);
            call(
                server,
                Method::POST,
                "/api/admin/projects",
                Some(&token),
                Some(body),
            )
            .await
        }
    };
    expect_error(create(owner.clone(), "shop").await, 403).await;
    let created = create(admin.clone(), "shop").await;
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.unwrap();
    assert_eq!(created["slug"], "shop");
    assert_eq!(created["hasPushSecret"], false);
    expect_error(create(admin.clone(), "shop").await, 409).await;
    expect_error(create(admin.clone(), "Not A Slug").await, 400).await;
    let public: Value = get_json(&server, "/api/widget/config?project=shop").await;
    assert_eq!(public["name"], "New Bot");
    expect_status(
        &server,
        Method::PATCH,
        "/api/admin/projects/demo",
        Some(&admin),
        None,
        405,
    )
    .await;
}

#[tokio::test]
async fn settings_changes_reach_visitors_at_once() {
    let server = TestServer::start().await;
    let owner = signed_in(&server, "owner@example.com", false, Some(Role::Owner)).await;
    let updated = call(
        &server,
        reqwest::Method::PUT,
        "/api/admin/projects/demo",
        Some(&owner),
        Some(settings("Renamed Bot")),
    )
    .await;
    assert_eq!(updated.status(), 200);
    let updated: Value = updated.json().await.unwrap();
    assert_eq!(updated["allowedOrigins"], json!(["https://shop.example"]));
    assert_eq!(updated["hasPushSecret"], true, "the secret is kept");

    let public: Value = get_json(&server, "/api/widget/config?project=demo").await;
    assert_eq!(public["name"], "Renamed Bot");
    assert_eq!(public["theme"]["position"], "bottom-left");
    let foreign = client()
        .get(server.url("/api/widget/config?project=demo"))
        .header("Origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    expect_error(foreign, 403).await;

    let mut bad = settings("Bot");
    bad["theme"]["primaryColor"] = json!("blue");
    expect_status(
        &server,
        reqwest::Method::PUT,
        "/api/admin/projects/demo",
        Some(&owner),
        Some(bad),
        400,
    )
    .await;
    let mut bad_origin = settings("Bot");
    bad_origin["allowedOrigins"] = json!(["shop.example"]);
    expect_status(
        &server,
        reqwest::Method::PUT,
        "/api/admin/projects/demo",
        Some(&owner),
        Some(bad_origin),
        400,
    )
    .await;
}

#[tokio::test]
async fn a_rotated_push_secret_works_at_once_and_the_old_one_stops() {
    let server = TestServer::start().await;
    let owner = signed_in(&server, "owner@example.com", false, Some(Role::Owner)).await;
    let event = json!({ "project": "demo", "type": "signed_up", "name": "Ann" });
    assert_eq!(
        push(&server, DEMO_SECRET, event.clone()).await.status(),
        201
    );

    let rotated: Value = call(
        &server,
        reqwest::Method::POST,
        "/api/admin/projects/demo/push-secret",
        Some(&owner),
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    let secret = rotated["pushSecret"].as_str().unwrap();
    assert!(secret.starts_with("sp_") && secret.len() == 67);
    expect_error(push(&server, DEMO_SECRET, event.clone()).await, 401).await;
    assert_eq!(push(&server, secret, event).await.status(), 201);
}

/// Asks `question` in a new session of `project`; returns the session id and token.
pub(crate) async fn chat(server: &TestServer, project: &str, question: &str) -> (String, String) {
    let id = uuid::Uuid::new_v4().to_string();
    let response = client()
        .post(server.url("/api/chat"))
        .json(&json!({ "projectSlug": project, "sessionId": id, "messages": [{ "role": "user", "content": question }] }))
        .send()
        .await
        .unwrap();
    let token = response.headers()["x-session-token"]
        .to_str()
        .unwrap()
        .to_owned();
    response.text().await.unwrap();
    (id, token)
}

#[tokio::test]
async fn agents_read_conversations_newest_first_by_page_and_leads() {
    use reqwest::Method;
    let server = TestServer::start().await;
    let agent = signed_in(&server, "agent@example.com", false, Some(Role::Agent)).await;
    let mut sessions = Vec::new();
    for question in [
        "What is your return policy?",
        "How long is shipping?",
        "Do you ship abroad?",
    ] {
        sessions.push(chat(&server, "demo", question).await);
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let (other_session, _) = chat(&server, "other", "Hello there").await;

    let page: Value = call(
        &server,
        Method::GET,
        "/api/admin/projects/demo/conversations?limit=2",
        Some(&agent),
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    let items = page["conversations"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(
        items[0]["firstQuestion"], "Do you ship abroad?",
        "newest first"
    );
    assert_eq!(items[0]["messages"], 2, "the question and its answer");
    let next = page["next"].as_str().unwrap();
    let rest: Value = call(
        &server,
        Method::GET,
        &format!("/api/admin/projects/demo/conversations?limit=2&before={next}"),
        Some(&agent),
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    let rest = rest["conversations"].as_array().unwrap().clone();
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0]["firstQuestion"], "What is your return policy?");

    let transcript: Value = call(
        &server,
        Method::GET,
        &format!("/api/admin/projects/demo/conversations/{}", sessions[0].0),
        Some(&agent),
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(
        transcript["messages"][0]["content"],
        "What is your return policy?"
    );
    assert_eq!(transcript["messages"][1]["role"], "assistant");
    let foreign = call(
        &server,
        Method::GET,
        &format!("/api/admin/projects/demo/conversations/{other_session}"),
        Some(&agent),
        None,
    )
    .await;
    expect_error(foreign, 404).await;
    for bad in ["limit=0", "limit=101", "limit=x", "before=nope"] {
        let response = call(
            &server,
            Method::GET,
            &format!("/api/admin/projects/demo/conversations?{bad}"),
            Some(&agent),
            None,
        )
        .await;
        expect_error(response, 400).await;
    }
    expect_status(
        &server,
        Method::GET,
        "/api/admin/projects/other/conversations",
        Some(&agent),
        None,
        403,
    )
    .await;
    expect_status(
        &server,
        Method::GET,
        "/api/admin/projects/demo/conversations",
        None,
        None,
        401,
    )
    .await;

    let (id, token) = &sessions[1];
    let lead = client()
        .post(server.url("/api/widget/lead"))
        .json(&json!({ "projectSlug": "demo", "sessionId": id, "sessionToken": token, "email": "ann@example.com" }))
        .send()
        .await
        .unwrap();
    assert_eq!(lead.status(), 201);
    let leads: Value = call(
        &server,
        Method::GET,
        "/api/admin/projects/demo/leads",
        Some(&agent),
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(leads["leads"][0]["email"], "ann@example.com");
    assert_eq!(leads["leads"][0]["sessionId"], id.as_str());
}

#[tokio::test]
async fn an_owner_erases_a_conversation_for_good() {
    use reqwest::Method;
    let server = TestServer::start().await;
    let owner = signed_in(&server, "owner@example.com", false, Some(Role::Owner)).await;
    let agent = signed_in(&server, "agent@example.com", false, Some(Role::Agent)).await;
    let (id, token) = chat(&server, "demo", "What is your return policy?").await;
    let path = format!("/api/admin/projects/demo/conversations/{id}");
    expect_status(&server, Method::DELETE, &path, Some(&agent), None, 403).await;
    expect_status(&server, Method::DELETE, &path, Some(&owner), None, 204).await;
    expect_status(&server, Method::GET, &path, Some(&owner), None, 404).await;
    expect_status(&server, Method::DELETE, &path, Some(&owner), None, 404).await;
    let listed: Value = call(
        &server,
        Method::GET,
        "/api/admin/projects/demo/conversations",
        Some(&owner),
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(listed["conversations"], json!([]));
    // The visitor's copy is gone too, and the server forgot it for good.
    let restored = client()
        .get(server.url(&format!("/api/widget/session?project=demo&sessionId={id}")))
        .header("X-Session-Token", &token)
        .send()
        .await
        .unwrap();
    expect_error(restored, 404).await;
    assert!(
        server
            .engine
            .chat
            .conversation("demo", id.parse().unwrap())
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn documents_an_owner_adds_are_cited_at_once_and_gone_when_deleted() {
    use reqwest::Method;
    let server = TestServer::start().await;
    let owner = signed_in(&server, "owner@example.com", false, Some(Role::Owner)).await;
    let agent = signed_in(&server, "agent@example.com", false, Some(Role::Agent)).await;
    let doc = json!({
        "title": "Quasar Kettle warranty",
        "url": "https://acme.example/help/kettle",
        "content": "# Quasar Kettle warranty\n\nThe Quasar Kettle has a seven year warranty on its heating element.",
    });
    expect_status(
        &server,
        Method::POST,
        "/api/admin/projects/demo/documents",
        Some(&agent),
        Some(doc.clone()),
        403,
    )
    .await;
    let added = call(
        &server,
        Method::POST,
        "/api/admin/projects/demo/documents",
        Some(&owner),
        Some(doc),
    )
    .await;
    assert_eq!(added.status(), 201);
    let added: Value = added.json().await.unwrap();
    assert_eq!(added["id"], "quasar-kettle-warranty");
    assert!(added["passages"].as_u64().unwrap() >= 1);

    let ask = || async {
        let response = client()
            .post(server.url("/api/chat"))
            .json(&json!({ "projectSlug": "demo", "sessionId": uuid::Uuid::new_v4(), "messages": [{ "role": "user", "content": "What warranty does the Quasar Kettle have?" }] }))
            .send()
            .await
            .unwrap();
        response.text().await.unwrap()
    };
    let answer = ask().await;
    assert!(answer.contains("seven year warranty"), "{answer}");
    assert!(
        answer.contains("https://acme.example/help/kettle"),
        "cited: {answer}"
    );

    let listed: Value = call(
        &server,
        Method::GET,
        "/api/admin/projects/demo/documents",
        Some(&owner),
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    assert!(
        listed["documents"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["id"] == "quasar-kettle-warranty")
    );
    assert!(
        listed["documents"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["id"] == "returns.md"),
        "the seeded help center is there too"
    );

    let path = "/api/admin/projects/demo/documents/quasar-kettle-warranty";
    expect_status(&server, Method::DELETE, path, Some(&owner), None, 204).await;
    expect_status(&server, Method::DELETE, path, Some(&owner), None, 404).await;
    assert!(!ask().await.contains("Quasar"), "no longer cited");

    for bad in [
        json!({ "content": "" }),
        json!({ "content": "x", "format": "pdf" }),
        json!({ "content": "Some text", "url": "javascript:alert(1)" }),
    ] {
        expect_status(
            &server,
            Method::POST,
            "/api/admin/projects/demo/documents",
            Some(&owner),
            Some(bad),
            400,
        )
        .await;
    }
}

#[tokio::test]
async fn analytics_count_today_and_csv_exports_defuse_formulas() {
    use reqwest::Method;
    let server = TestServer::start().await;
    let agent = signed_in(&server, "agent@example.com", false, Some(Role::Agent)).await;
    let (id, token) = chat(&server, "demo", "What is your return policy?").await;
    chat(&server, "demo", "what is your return policy?").await;
    chat(&server, "demo", "=HYPERLINK(\"https://evil.example\")").await;
    let lead = client()
        .post(server.url("/api/widget/lead"))
        .json(&json!({ "projectSlug": "demo", "sessionId": id, "sessionToken": token, "email": "ann@example.com", "name": "@Ann" }))
        .send()
        .await
        .unwrap();
    assert_eq!(lead.status(), 201);
    assert_eq!(
        push(
            &server,
            DEMO_SECRET,
            json!({ "project": "demo", "type": "purchased" })
        )
        .await
        .status(),
        201
    );

    let report: Value = call(
        &server,
        Method::GET,
        "/api/admin/projects/demo/analytics?days=7",
        Some(&agent),
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    let days = report["days"].as_array().unwrap();
    assert_eq!(days.len(), 7);
    let today = days.last().unwrap();
    assert_eq!(
        (today["conversations"].as_u64(), today["messages"].as_u64()),
        (Some(3), Some(3))
    );
    assert_eq!(
        (today["leads"].as_u64(), today["pushes"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(
        report["topQuestions"][0],
        json!({ "question": "what is your return policy?", "count": 2 })
    );
    expect_status(
        &server,
        Method::GET,
        "/api/admin/projects/demo/analytics?days=0",
        Some(&agent),
        None,
        400,
    )
    .await;

    let csv = call(
        &server,
        Method::GET,
        "/api/admin/projects/demo/conversations.csv",
        Some(&agent),
        None,
    )
    .await;
    assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
    assert!(
        csv.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains("demo-conversations.csv")
    );
    let csv = csv.text().await.unwrap();
    assert!(csv.starts_with("session_id,conversation_started,message_at,role,status,content\n"));
    let records = csv::Reader::from_reader(csv.as_bytes()).records().count();
    assert_eq!(records, 6, "two messages per conversation");
    assert!(csv.contains("'=HYPERLINK"), "formulas are defused: {csv}");
    let leads = call(
        &server,
        Method::GET,
        "/api/admin/projects/demo/leads.csv",
        Some(&agent),
        None,
    )
    .await
    .text()
    .await
    .unwrap();
    assert!(leads.contains("ann@example.com,'@Ann,"), "{leads}");
    expect_status(
        &server,
        Method::GET,
        "/api/admin/projects/demo/leads.csv",
        None,
        None,
        401,
    )
    .await;
}

#[tokio::test]
async fn admins_add_users_and_owners_give_and_take_roles() {
    use reqwest::Method;
    let server = TestServer::start().await;
    let admin = signed_in(&server, "admin@example.com", true, None).await;
    let owner = signed_in(&server, "owner@example.com", false, Some(Role::Owner)).await;
    let new_user = json!({ "email": "Sam@Example.com", "password": PASSWORD });
    expect_status(
        &server,
        Method::POST,
        "/api/admin/users",
        Some(&owner),
        Some(new_user.clone()),
        403,
    )
    .await;
    let added = call(
        &server,
        Method::POST,
        "/api/admin/users",
        Some(&admin),
        Some(new_user.clone()),
    )
    .await;
    assert_eq!(added.status(), 201);
    assert_eq!(added.json::<Value>().await.unwrap()["admin"], false);
    expect_status(
        &server,
        Method::POST,
        "/api/admin/users",
        Some(&admin),
        Some(new_user),
        409,
    )
    .await;
    let weak = json!({ "email": "weak@example.com", "password": "short" });
    expect_status(
        &server,
        Method::POST,
        "/api/admin/users",
        Some(&admin),
        Some(weak),
        400,
    )
    .await;

    // Sam signs in but sees nothing until given a role.
    let tokens: Value = client()
        .post(server.url("/api/admin/auth/login"))
        .json(&json!({ "email": "sam@example.com", "password": PASSWORD }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let sam = tokens["accessToken"].as_str().unwrap().to_owned();
    expect_status(
        &server,
        Method::GET,
        "/api/admin/projects/demo/conversations",
        Some(&sam),
        None,
        403,
    )
    .await;

    // An owner invites: the answer is the same whether or not the account exists, and
    // nothing changes for Sam until Sam accepts.
    let invite = |email: &str| json!({ "email": email, "role": "agent" });
    let invited = call(
        &server,
        Method::PUT,
        "/api/admin/projects/demo/members",
        Some(&owner),
        Some(invite("Sam@example.com")),
    )
    .await;
    assert_eq!(invited.status(), 202);
    let invited: Value = invited.json().await.unwrap();
    let nobody = call(
        &server,
        Method::PUT,
        "/api/admin/projects/demo/members",
        Some(&owner),
        Some(invite("nobody@example.com")),
    )
    .await;
    assert_eq!(nobody.status(), 202, "an unknown email is invited alike");
    let nobody: Value = nobody.json().await.unwrap();
    assert_eq!(
        invited.as_object().unwrap().keys().collect::<Vec<_>>(),
        nobody.as_object().unwrap().keys().collect::<Vec<_>>()
    );
    assert_eq!(invited["invited"], true);
    assert_eq!(nobody["role"], "agent");
    expect_status(
        &server,
        Method::GET,
        "/api/admin/projects/demo/conversations",
        Some(&sam),
        None,
        403,
    )
    .await;
    let pending = get_as(&server, &owner, "/api/admin/projects/demo/members").await;
    let pending: Vec<&str> = pending["invitations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|invitation| invitation["email"].as_str().unwrap())
        .collect();
    assert_eq!(pending, ["nobody@example.com", "sam@example.com"]);
    let mine = get_as(&server, &sam, "/api/admin/invitations").await;
    assert_eq!(mine["invitations"][0]["project"], "demo");
    assert_eq!(mine["invitations"][0]["role"], "agent");
    assert_eq!(
        get_as(&server, &owner, "/api/admin/invitations").await["invitations"],
        json!([]),
        "one sees only invitations to one's own email"
    );
    expect_status(
        &server,
        Method::POST,
        "/api/admin/invitations/demo/accept",
        Some(&owner),
        None,
        404,
    )
    .await;
    let accepted = call(
        &server,
        Method::POST,
        "/api/admin/invitations/demo/accept",
        Some(&sam),
        None,
    )
    .await;
    assert_eq!(accepted.status(), 200);
    assert_eq!(accepted.json::<Value>().await.unwrap()["role"], "agent");
    expect_status(
        &server,
        Method::GET,
        "/api/admin/projects/demo/conversations",
        Some(&sam),
        None,
        200,
    )
    .await;
    assert_eq!(
        get_as(&server, &sam, "/api/admin/invitations").await["invitations"],
        json!([]),
        "an accepted invitation is gone"
    );
    // The owner withdraws the other invitation; a second withdrawal finds nothing.
    for status in [204, 404] {
        expect_status(
            &server,
            Method::DELETE,
            "/api/admin/projects/demo/members/nobody@example.com",
            Some(&owner),
            None,
            status,
        )
        .await;
    }
    // A member's role is changed directly.
    let promote = json!({ "email": "sam@example.com", "role": "owner" });
    expect_status(
        &server,
        Method::PUT,
        "/api/admin/projects/demo/members",
        Some(&owner),
        Some(promote),
        200,
    )
    .await;
    let demote = json!({ "email": "sam@example.com", "role": "agent" });
    expect_status(
        &server,
        Method::PUT,
        "/api/admin/projects/demo/members",
        Some(&owner),
        Some(demote),
        200,
    )
    .await;
    let members: Value = call(
        &server,
        Method::GET,
        "/api/admin/projects/demo/members",
        Some(&owner),
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    let roles: Vec<(String, String)> = members["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["email"].as_str().unwrap().to_owned(),
                m["role"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(
        roles.contains(&("sam@example.com".into(), "agent".into())),
        "{roles:?}"
    );
    assert!(
        roles.contains(&("admin@example.com".into(), "owner".into())),
        "admins own everything"
    );

    // Admins add an existing user directly, and are told when there is none.
    let direct = json!({ "email": "admin-added@example.com", "role": "agent" });
    expect_status(
        &server,
        Method::PUT,
        "/api/admin/projects/demo/members",
        Some(&admin),
        Some(direct.clone()),
        404,
    )
    .await;
    signed_in(&server, "admin-added@example.com", false, None).await;
    expect_status(
        &server,
        Method::PUT,
        "/api/admin/projects/demo/members",
        Some(&admin),
        Some(direct),
        200,
    )
    .await;
    let bad_role = json!({ "email": "sam@example.com", "role": "king" });
    expect_status(
        &server,
        Method::PUT,
        "/api/admin/projects/demo/members",
        Some(&owner),
        Some(bad_role),
        400,
    )
    .await;

    expect_status(
        &server,
        Method::DELETE,
        "/api/admin/projects/demo/members/sam@example.com",
        Some(&owner),
        None,
        204,
    )
    .await;
    expect_status(
        &server,
        Method::GET,
        "/api/admin/projects/demo/conversations",
        Some(&sam),
        None,
        403,
    )
    .await;
}

#[tokio::test]
async fn dashboard_changes_survive_a_restart_with_the_same_config() {
    use reqwest::Method;
    let server = TestServer::start().await;
    let owner = signed_in(&server, "owner@example.com", false, Some(Role::Owner)).await;
    call(
        &server,
        Method::PUT,
        "/api/admin/projects/demo",
        Some(&owner),
        Some(settings("Dashboard Bot")),
    )
    .await;
    let rotated: Value = call(
        &server,
        Method::POST,
        "/api/admin/projects/demo/push-secret",
        Some(&owner),
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    let secret = rotated["pushSecret"].as_str().unwrap().to_owned();
    let doc = json!({ "title": "Gift cards", "content": "Gift cards never expire." });
    expect_status(
        &server,
        Method::POST,
        "/api/admin/projects/demo/documents",
        Some(&owner),
        Some(doc),
        201,
    )
    .await;

    let server = server.restart().await;
    let public: Value = get_json(&server, "/api/widget/config?project=demo").await;
    assert_eq!(
        public["name"], "Dashboard Bot",
        "the unchanged seed is not applied again"
    );
    let event = json!({ "project": "demo", "type": "signed_up" });
    assert_eq!(
        push(&server, &secret, event.clone()).await.status(),
        201,
        "the rotated secret still works"
    );
    expect_error(push(&server, DEMO_SECRET, event).await, 401).await;
    let documents = server.engine.projects.documents("demo").await.unwrap();
    assert!(
        documents.iter().any(|d| d.id == "gift-cards"),
        "dashboard documents stay"
    );
    assert!(
        documents.iter().any(|d| d.id == "returns.md"),
        "the folder's documents are loaded"
    );
}

#[tokio::test]
async fn conversations_past_the_retention_period_are_erased() {
    use reqwest::Method;
    let server = TestServer::start().await;
    let owner = signed_in(&server, "owner@example.com", false, Some(Role::Owner)).await;
    let (kept_elsewhere, _) = chat(&server, "other", "Hello").await;
    let (expiring, _) = chat(&server, "demo", "What is your return policy?").await;
    let mut body = settings("Bot");
    body["retentionDays"] = json!(0);
    expect_status(
        &server,
        Method::PUT,
        "/api/admin/projects/demo",
        Some(&owner),
        Some(body.clone()),
        400,
    )
    .await;
    body["retentionDays"] = json!(1);
    let updated: Value = call(
        &server,
        Method::PUT,
        "/api/admin/projects/demo",
        Some(&owner),
        Some(body),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(updated["retentionDays"], 1);

    let now_ms = std::time::UNIX_EPOCH.elapsed().unwrap().as_millis() as u64;
    assert_eq!(
        server.engine.chat.purge_expired(now_ms).await.unwrap(),
        0,
        "nothing is a day old yet"
    );
    let two_days_later = now_ms + 2 * 24 * 3600 * 1000;
    assert_eq!(
        server
            .engine
            .chat
            .purge_expired(two_days_later)
            .await
            .unwrap(),
        1
    );
    assert!(
        server
            .engine
            .chat
            .conversation("demo", expiring.parse().unwrap())
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        server
            .engine
            .chat
            .conversation("other", kept_elsewhere.parse().unwrap())
            .await
            .unwrap()
            .is_some(),
        "a project without a retention period keeps everything"
    );
}

/// Creates project `slug` as `admin` (no allowed origins, so widget calls work from tests).
async fn create_project(server: &TestServer, admin: &str, slug: &str) {
    let mut create = settings("New project");
    create["slug"] = json!(slug);
    create["allowedOrigins"] = json!([]);
    let response = call(
        server,
        reqwest::Method::POST,
        "/api/admin/projects",
        Some(admin),
        Some(create),
    )
    .await;
    assert_eq!(response.status(), 201);
}

/// Deletes project `slug` as `admin`, then creates a new one under the same slug.
async fn delete_and_create(server: &TestServer, admin: &str, slug: &str) {
    let path = format!("/api/admin/projects/{slug}");
    let deleted = call(server, reqwest::Method::DELETE, &path, Some(admin), None).await;
    assert_eq!(deleted.status(), 204);
    create_project(server, admin, slug).await;
}

/// A new push secret for `slug`, rotated by `token`.
async fn rotate_push_secret(server: &TestServer, token: &str, slug: &str) -> String {
    let path = format!("/api/admin/projects/{slug}/push-secret");
    let rotated = call(server, reqwest::Method::POST, &path, Some(token), None).await;
    assert_eq!(rotated.status(), 200);
    let rotated: Value = rotated.json().await.unwrap();
    rotated["pushSecret"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_re_created_slug_gives_no_role_to_the_deleted_projects_members() {
    use reqwest::Method;
    let server = TestServer::start().await;
    let admin = signed_in(&server, "admin@example.com", true, None).await;
    let old_owner = signed_in(&server, "owner@example.com", false, Some(Role::Owner)).await;
    let old_agent = signed_in(&server, "agent@example.com", false, Some(Role::Agent)).await;
    let invite = json!({ "email": "invited@example.com", "role": "owner" });
    expect_status(
        &server,
        Method::PUT,
        "/api/admin/projects/demo/members",
        Some(&old_owner),
        Some(invite),
        202,
    )
    .await;
    delete_and_create(&server, &admin, "demo").await;
    for (method, path, token) in [
        (Method::GET, "/api/admin/projects/demo", &old_owner),
        (
            Method::POST,
            "/api/admin/projects/demo/push-secret",
            &old_owner,
        ),
        (Method::GET, "/api/admin/projects/demo/members", &old_owner),
    ] {
        expect_status(&server, method, path, Some(token), None, 403).await;
    }
    expect_status(
        &server,
        Method::GET,
        "/api/admin/projects/demo/conversations",
        Some(&old_agent),
        None,
        403,
    )
    .await;
    assert_eq!(
        get_as(&server, &old_owner, "/api/admin/projects").await["projects"],
        json!([]),
        "the new project is not listed as theirs"
    );
    let invited = signed_in(&server, "invited@example.com", false, None).await;
    assert_eq!(
        get_as(&server, &invited, "/api/admin/invitations").await["invitations"],
        json!([]),
        "invitations went with the project"
    );
    expect_status(
        &server,
        Method::POST,
        "/api/admin/invitations/demo/accept",
        Some(&invited),
        None,
        404,
    )
    .await;
    let members = get_as(&server, &admin, "/api/admin/projects/demo/members").await;
    let emails: Vec<&str> = members["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|member| member["email"].as_str().unwrap())
        .collect();
    assert_eq!(emails, ["admin@example.com"]);

    // A role or invitation that a request racing a deletion left on a slug with no project is
    // neither accepted nor handed to the next project of that slug.
    let old_owner_id = server
        .engine
        .accounts
        .user_by_email("owner@example.com")
        .await
        .unwrap()
        .unwrap()
        .id;
    server
        .engine
        .accounts
        .grant(old_owner_id, "ghost", Some(Role::Owner))
        .await
        .unwrap();
    server
        .engine
        .accounts
        .invite("ghost", "invited@example.com", Role::Owner, old_owner_id)
        .await
        .unwrap();
    expect_status(
        &server,
        Method::POST,
        "/api/admin/invitations/ghost/accept",
        Some(&invited),
        None,
        404,
    )
    .await;
    create_project(&server, &admin, "ghost").await;
    expect_status(
        &server,
        Method::GET,
        "/api/admin/projects/ghost",
        Some(&old_owner),
        None,
        403,
    )
    .await;
    expect_status(
        &server,
        Method::POST,
        "/api/admin/invitations/ghost/accept",
        Some(&invited),
        None,
        404,
    )
    .await;
}

#[tokio::test]
async fn a_re_created_slug_numbers_its_events_after_the_deleted_ones() {
    let server = TestServer::start().await;
    let admin = signed_in(&server, "admin@example.com", true, None).await;
    let event = json!({ "project": "demo", "type": "signed_up" });
    let mut old_ids = Vec::new();
    for _ in 0..3 {
        let response = push(&server, DEMO_SECRET, event.clone()).await;
        let body: Value = response.json().await.unwrap();
        old_ids.push(body["id"].as_str().unwrap().parse::<u64>().unwrap());
    }
    delete_and_create(&server, &admin, "demo").await;
    let secret = rotate_push_secret(&server, &admin, "demo").await;
    let body: Value = push(&server, &secret, event).await.json().await.unwrap();
    let new_id: u64 = body["id"].as_str().unwrap().parse().unwrap();
    let old_max = *old_ids.iter().max().unwrap();
    assert!(new_id > old_max, "id {new_id} reused (old ids {old_ids:?})");

    // A visitor still holding an id of the old project's history starts over, and sees the
    // new project's event.
    let poll = get_json(
        &server,
        &format!("/api/widget/salespop?project=demo&since={}", old_ids[0]),
    )
    .await;
    assert_eq!(poll["reset"], true, "{poll}");
    let ids: Vec<&str> = poll["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|event| event["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [new_id.to_string()], "{poll}");

    // The floor survives a restart.
    let server = server.restart().await;
    let restarted_admin = signed_in(&server, "admin2@example.com", true, None).await;
    let secret = rotate_push_secret(&server, &restarted_admin, "demo").await;
    let body: Value = push(
        &server,
        &secret,
        json!({ "project": "demo", "type": "signed_up" }),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(body["id"], (new_id + 1).to_string());
}

#[tokio::test]
async fn deleting_a_project_removes_it_and_its_data() {
    use reqwest::Method;
    let server = TestServer::start().await;
    let owner = signed_in(&server, "owner@example.com", false, Some(Role::Owner)).await;
    let agent = signed_in(&server, "agent@example.com", false, Some(Role::Agent)).await;
    let (session, _) = chat(&server, "demo", "What is your return policy?").await;
    assert_eq!(
        push(
            &server,
            DEMO_SECRET,
            json!({ "project": "demo", "type": "signed_up" })
        )
        .await
        .status(),
        201
    );

    expect_status(
        &server,
        Method::DELETE,
        "/api/admin/projects/demo",
        Some(&agent),
        None,
        403,
    )
    .await;
    expect_status(
        &server,
        Method::DELETE,
        "/api/admin/projects/demo",
        Some(&owner),
        None,
        204,
    )
    .await;
    expect_status(
        &server,
        Method::DELETE,
        "/api/admin/projects/demo",
        Some(&owner),
        None,
        404,
    )
    .await;
    expect_error(
        client()
            .get(server.url("/api/widget/config?project=demo"))
            .send()
            .await
            .unwrap(),
        404,
    )
    .await;
    expect_error(
        push(
            &server,
            DEMO_SECRET,
            json!({ "project": "demo", "type": "signed_up" }),
        )
        .await,
        404,
    )
    .await;
    assert!(
        server
            .engine
            .projects
            .events_after("demo", 0)
            .await
            .is_err(),
        "its events are gone with it"
    );
    assert!(
        server
            .engine
            .chat
            .conversation("demo", session.parse().unwrap())
            .await
            .is_err()
    );
    let other: Value = get_json(&server, "/api/widget/config?project=other").await;
    assert_eq!(other["name"], "Other Bot", "other projects are untouched");
}
