//! `/api/admin/projects…`: the 401/403/404 matrix, settings that reach visitors at once, and
//! push-secret rotation that takes effect at once.

use helpyap_actors::records::Role;
use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{
    Caller, DEMO_SECRET, PASSWORD, TestServer, client, expect_error, get_json, push,
};

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

/// The projects `caller` sees listed, each with `caller`'s role on it.
async fn projects_of(caller: &Caller) -> Vec<(String, String)> {
    let body = caller.get("/api/admin/projects").expect(200).await;
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
        .collect()
}

#[tokio::test]
async fn every_project_endpoint_checks_token_project_and_role() {
    let server = TestServer::start().await;
    let admin = server.admin("admin@example.com").await;
    let owner = server.owner("owner@example.com").await;
    let agent = server.agent("agent@example.com").await;
    let anonymous = server.anonymous();
    let forged = server.with_token("eyJhbGciOiJub25lIn0.e30.");

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
        let request =
            |caller: &Caller, path: &str| caller.request(method.clone(), path, body.clone());
        request(&anonymous, path).expect(401).await;
        request(&forged, path).expect(401).await;
        request(&agent, path).expect(403).await;
        request(&admin, &path.replace("/demo", "/nope"))
            .expect(404)
            .await;
    }
    // An owner of demo is nobody on `other`.
    owner.get("/api/admin/projects/other").expect(403).await;
    owner.get("/api/admin/projects/demo").expect(200).await;

    // Lists show what each user may see.
    assert_eq!(
        projects_of(&admin).await,
        [
            ("demo".into(), "owner".into()),
            ("other".into(), "owner".into())
        ]
    );
    assert_eq!(
        projects_of(&agent).await,
        [("demo".to_owned(), "agent".to_owned())]
    );

    // Creating projects is for admins.
    let create = |caller: &Caller, slug: &str| {
        let mut body = settings("New Bot");
        body["slug"] = json!(slug);
        caller.post("/api/admin/projects", body)
    };
    create(&owner, "shop").expect(403).await;
    let created = create(&admin, "shop").expect(201).await;
    assert_eq!(created["slug"], "shop");
    assert_eq!(created["hasPushSecret"], false);
    create(&admin, "shop").expect(409).await;
    create(&admin, "Not A Slug").expect(400).await;
    let public: Value = get_json(&server, "/api/widget/config?project=shop").await;
    assert_eq!(public["name"], "New Bot");
    admin
        .patch("/api/admin/projects/demo", None)
        .expect(405)
        .await;
}

#[tokio::test]
async fn settings_changes_reach_visitors_at_once() {
    let server = TestServer::start().await;
    let owner = server.owner("owner@example.com").await;
    let updated = owner
        .put("/api/admin/projects/demo", settings("Renamed Bot"))
        .expect(200)
        .await;
    assert_eq!(updated["allowedOrigins"], json!(["https://shop.example"]));
    assert_eq!(updated["hasPushSecret"], true, "the secret is kept");

    let public: Value = get_json(&server, "/api/widget/config?project=demo").await;
    assert_eq!(public["name"], "Renamed Bot");
    assert_eq!(public["theme"]["position"], "bottom-left");
    server
        .anonymous()
        .get("/api/widget/config?project=demo")
        .header("Origin", "https://evil.example")
        .expect(403)
        .await;

    let mut bad = settings("Bot");
    bad["theme"]["primaryColor"] = json!("blue");
    owner.put("/api/admin/projects/demo", bad).expect(400).await;
    let mut bad_origin = settings("Bot");
    bad_origin["allowedOrigins"] = json!(["shop.example"]);
    owner
        .put("/api/admin/projects/demo", bad_origin)
        .expect(400)
        .await;
}

#[tokio::test]
async fn a_rotated_push_secret_works_at_once_and_the_old_one_stops() {
    let server = TestServer::start().await;
    let owner = server.owner("owner@example.com").await;
    let event = json!({ "project": "demo", "type": "signed_up", "name": "Ann" });
    assert_eq!(
        push(&server, DEMO_SECRET, event.clone()).await.status(),
        201
    );

    let rotated = owner
        .post("/api/admin/projects/demo/push-secret", None)
        .expect(200)
        .await;
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
    let server = TestServer::start().await;
    let agent = server.agent("agent@example.com").await;
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

    let page = agent
        .get("/api/admin/projects/demo/conversations?limit=2")
        .expect(200)
        .await;
    let items = page["conversations"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(
        items[0]["firstQuestion"], "Do you ship abroad?",
        "newest first"
    );
    assert_eq!(items[0]["messages"], 2, "the question and its answer");
    let next = page["next"].as_str().unwrap();
    let rest = agent
        .get(&format!(
            "/api/admin/projects/demo/conversations?limit=2&before={next}"
        ))
        .expect(200)
        .await;
    let rest = rest["conversations"].as_array().unwrap().clone();
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0]["firstQuestion"], "What is your return policy?");

    let transcript = agent
        .get(&format!(
            "/api/admin/projects/demo/conversations/{}",
            sessions[0].0
        ))
        .expect(200)
        .await;
    assert_eq!(
        transcript["messages"][0]["content"],
        "What is your return policy?"
    );
    assert_eq!(transcript["messages"][1]["role"], "assistant");
    agent
        .get(&format!(
            "/api/admin/projects/demo/conversations/{other_session}"
        ))
        .expect(404)
        .await;
    for bad in ["limit=0", "limit=101", "limit=x", "before=nope"] {
        agent
            .get(&format!("/api/admin/projects/demo/conversations?{bad}"))
            .expect(400)
            .await;
    }
    agent
        .get("/api/admin/projects/other/conversations")
        .expect(403)
        .await;
    server
        .anonymous()
        .get("/api/admin/projects/demo/conversations")
        .expect(401)
        .await;

    let (id, token) = &sessions[1];
    server
        .anonymous()
        .post(
            "/api/widget/lead",
            json!({ "projectSlug": "demo", "sessionId": id, "sessionToken": token, "email": "ann@example.com" }),
        )
        .expect(201)
        .await;
    let leads = agent
        .get("/api/admin/projects/demo/leads")
        .expect(200)
        .await;
    assert_eq!(leads["leads"][0]["email"], "ann@example.com");
    assert_eq!(leads["leads"][0]["sessionId"], id.as_str());
}

#[tokio::test]
async fn an_owner_erases_a_conversation_for_good() {
    let server = TestServer::start().await;
    let owner = server.owner("owner@example.com").await;
    let agent = server.agent("agent@example.com").await;
    let (id, token) = chat(&server, "demo", "What is your return policy?").await;
    let path = format!("/api/admin/projects/demo/conversations/{id}");
    agent.delete(&path).expect(403).await;
    owner.delete(&path).expect(204).await;
    owner.get(&path).expect(404).await;
    owner.delete(&path).expect(404).await;
    let listed = owner
        .get("/api/admin/projects/demo/conversations")
        .expect(200)
        .await;
    assert_eq!(listed["conversations"], json!([]));
    // The visitor's copy is gone too, and the server forgot it for good.
    server
        .anonymous()
        .get(&format!("/api/widget/session?project=demo&sessionId={id}"))
        .header("X-Session-Token", &token)
        .expect(404)
        .await;
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
    let server = TestServer::start().await;
    let owner = server.owner("owner@example.com").await;
    let agent = server.agent("agent@example.com").await;
    let documents = "/api/admin/projects/demo/documents";
    let doc = json!({
        "title": "Quasar Kettle warranty",
        "url": "https://acme.example/help/kettle",
        "content": "# Quasar Kettle warranty\n\nThe Quasar Kettle has a seven year warranty on its heating element.",
    });
    agent.post(documents, doc.clone()).expect(403).await;
    let added = owner.post(documents, doc).expect(201).await;
    assert_eq!(added["id"], "quasar-kettle-warranty");
    assert!(added["passages"].as_u64().unwrap() >= 1);

    let question = "What warranty does the Quasar Kettle have?";
    let ask = || crate::chat::ask(&server, uuid::Uuid::new_v4(), None, question);
    let cites_it = |answer: &crate::chat::Answer| {
        answer
            .json_frames()
            .any(|frame| frame["url"] == "https://acme.example/help/kettle")
    };
    let answer = ask().await;
    assert!(
        answer.text().contains("seven year warranty"),
        "{}",
        answer.text()
    );
    assert!(cites_it(&answer), "cited");

    let listed = owner.get(documents).expect(200).await;
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
    owner.delete(path).expect(204).await;
    owner.delete(path).expect(404).await;
    let after = ask().await;
    assert!(
        !after.text().contains("Quasar") && !cites_it(&after),
        "no longer cited"
    );

    for bad in [
        json!({ "content": "" }),
        json!({ "content": "x", "format": "pdf" }),
        json!({ "content": "Some text", "url": "javascript:alert(1)" }),
        json!({ "content": "Some text", "url": "https://x.example/\u{7}" }),
        json!({ "content": "Some text", "title": "Bell\u{7}" }),
    ] {
        owner.post(documents, bad).expect(400).await;
    }
    // NUL is no text (and PostgreSQL's JSON cannot hold it): dropped, the rest kept.
    let nul = json!({ "title": "Nul", "content": "Before\u{0} the NUL, the kettle glows." });
    owner.post(documents, nul).expect(201).await;
    let glows =
        crate::chat::ask(&server, uuid::Uuid::new_v4(), None, "Does the kettle glow?").await;
    assert!(glows.text().contains("Before the NUL"), "{}", glows.text());
}

#[tokio::test]
async fn analytics_count_today_and_csv_exports_defuse_formulas() {
    let server = TestServer::start().await;
    let agent = server.agent("agent@example.com").await;
    let (id, token) = chat(&server, "demo", "What is your return policy?").await;
    chat(&server, "demo", "what is your return policy?").await;
    chat(&server, "demo", "=HYPERLINK(\"https://evil.example\")").await;
    server
        .anonymous()
        .post(
            "/api/widget/lead",
            json!({ "projectSlug": "demo", "sessionId": id, "sessionToken": token, "email": "ann@example.com", "name": "@Ann" }),
        )
        .expect(201)
        .await;
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

    let report = agent
        .get("/api/admin/projects/demo/analytics?days=7")
        .expect(200)
        .await;
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
    agent
        .get("/api/admin/projects/demo/analytics?days=0")
        .expect(400)
        .await;

    let csv = agent
        .get("/api/admin/projects/demo/conversations.csv")
        .send()
        .await;
    assert_eq!(csv.status(), 200);
    assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
    assert!(
        csv.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains("demo-conversations.csv")
    );
    let csv = csv.text().await.unwrap();
    assert!(csv.starts_with(
        "session_id,conversation_started,message_at,role,status,content,\
         visitor_id,visitor_email,visitor_verified\n"
    ));
    let records = csv::Reader::from_reader(csv.as_bytes()).records().count();
    assert_eq!(records, 6, "two messages per conversation");
    assert!(csv.contains("'=HYPERLINK"), "formulas are defused: {csv}");
    let leads = agent.get("/api/admin/projects/demo/leads.csv").send().await;
    assert_eq!(leads.status(), 200);
    let leads = leads.text().await.unwrap();
    assert!(leads.contains("ann@example.com,'@Ann,"), "{leads}");
    server
        .anonymous()
        .get("/api/admin/projects/demo/leads.csv")
        .expect(401)
        .await;
}

#[tokio::test]
async fn admins_add_users_and_owners_give_and_take_roles() {
    let server = TestServer::start().await;
    let admin = server.admin("admin@example.com").await;
    let owner = server.owner("owner@example.com").await;
    let users = "/api/admin/users";
    let new_user = json!({ "email": "Sam@Example.com", "password": PASSWORD });
    owner.post(users, new_user.clone()).expect(403).await;
    let added = admin.post(users, new_user.clone()).expect(201).await;
    assert_eq!(added["admin"], false);
    admin.post(users, new_user).expect(409).await;
    let weak = json!({ "email": "weak@example.com", "password": "short" });
    admin.post(users, weak).expect(400).await;

    // Sam signs in but sees nothing until given a role.
    let sam = server.sign_in("sam@example.com").await;
    let conversations = "/api/admin/projects/demo/conversations";
    sam.get(conversations).expect(403).await;

    // An owner invites: the answer is the same whether or not the account exists, and
    // nothing changes for Sam until Sam accepts.
    let members = "/api/admin/projects/demo/members";
    let invite = |email: &str| json!({ "email": email, "role": "agent" });
    let invited = owner
        .put(members, invite("Sam@example.com"))
        .expect(202)
        .await;
    // An unknown email is invited alike.
    let nobody = owner
        .put(members, invite("nobody@example.com"))
        .expect(202)
        .await;
    assert_eq!(
        invited.as_object().unwrap().keys().collect::<Vec<_>>(),
        nobody.as_object().unwrap().keys().collect::<Vec<_>>()
    );
    assert_eq!(invited["invited"], true);
    assert_eq!(nobody["role"], "agent");
    sam.get(conversations).expect(403).await;
    let pending = owner.get(members).expect(200).await;
    let pending: Vec<&str> = pending["invitations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|invitation| invitation["email"].as_str().unwrap())
        .collect();
    assert_eq!(pending, ["nobody@example.com", "sam@example.com"]);
    let invitations = "/api/admin/invitations";
    let mine = sam.get(invitations).expect(200).await;
    assert_eq!(mine["invitations"][0]["project"], "demo");
    assert_eq!(mine["invitations"][0]["role"], "agent");
    assert_eq!(
        owner.get(invitations).expect(200).await["invitations"],
        json!([]),
        "one sees only invitations to one's own email"
    );
    let accept = "/api/admin/invitations/demo/accept";
    owner.post(accept, None).expect(404).await;
    let accepted = sam.post(accept, None).expect(200).await;
    assert_eq!(accepted["role"], "agent");
    sam.get(conversations).expect(200).await;
    assert_eq!(
        sam.get(invitations).expect(200).await["invitations"],
        json!([]),
        "an accepted invitation is gone"
    );
    // The owner withdraws the other invitation; a second withdrawal finds nothing.
    for status in [204, 404] {
        owner
            .delete("/api/admin/projects/demo/members/nobody@example.com")
            .expect(status)
            .await;
    }
    // A member's role is changed directly.
    let promote = json!({ "email": "sam@example.com", "role": "owner" });
    owner.put(members, promote).expect(200).await;
    let demote = json!({ "email": "sam@example.com", "role": "agent" });
    owner.put(members, demote).expect(200).await;
    let listed = owner.get(members).expect(200).await;
    let roles: Vec<(String, String)> = listed["members"]
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
    admin.put(members, direct.clone()).expect(404).await;
    server.user("admin-added@example.com").await;
    admin.put(members, direct).expect(200).await;
    let bad_role = json!({ "email": "sam@example.com", "role": "king" });
    owner.put(members, bad_role).expect(400).await;

    owner
        .delete("/api/admin/projects/demo/members/sam@example.com")
        .expect(204)
        .await;
    sam.get(conversations).expect(403).await;
}

#[tokio::test]
async fn dashboard_changes_survive_a_restart_with_the_same_config() {
    let server = TestServer::start().await;
    let owner = server.owner("owner@example.com").await;
    owner
        .put("/api/admin/projects/demo", settings("Dashboard Bot"))
        .expect(200)
        .await;
    let rotated = owner
        .post("/api/admin/projects/demo/push-secret", None)
        .expect(200)
        .await;
    let secret = rotated["pushSecret"].as_str().unwrap().to_owned();
    let doc = json!({ "title": "Gift cards", "content": "Gift cards never expire." });
    owner
        .post("/api/admin/projects/demo/documents", doc)
        .expect(201)
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
    let server = TestServer::start().await;
    let owner = server.owner("owner@example.com").await;
    let (kept_elsewhere, _) = chat(&server, "other", "Hello").await;
    let (expiring, _) = chat(&server, "demo", "What is your return policy?").await;
    let mut body = settings("Bot");
    body["retentionDays"] = json!(0);
    owner
        .put("/api/admin/projects/demo", body.clone())
        .expect(400)
        .await;
    body["retentionDays"] = json!(1);
    let updated = owner
        .put("/api/admin/projects/demo", body)
        .expect(200)
        .await;
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
async fn create_project(admin: &Caller, slug: &str) {
    let mut create = settings("New project");
    create["slug"] = json!(slug);
    create["allowedOrigins"] = json!([]);
    admin.post("/api/admin/projects", create).expect(201).await;
}

/// Deletes project `slug` as `admin`, then creates a new one under the same slug.
async fn delete_and_create(admin: &Caller, slug: &str) {
    admin
        .delete(&format!("/api/admin/projects/{slug}"))
        .expect(204)
        .await;
    create_project(admin, slug).await;
}

/// A new push secret for `slug`, rotated by `caller`.
async fn rotate_push_secret(caller: &Caller, slug: &str) -> String {
    let rotated = caller
        .post(&format!("/api/admin/projects/{slug}/push-secret"), None)
        .expect(200)
        .await;
    rotated["pushSecret"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_re_created_slug_gives_no_role_to_the_deleted_projects_members() {
    let server = TestServer::start().await;
    let admin = server.admin("admin@example.com").await;
    let old_owner = server.owner("owner@example.com").await;
    let old_agent = server.agent("agent@example.com").await;
    let invite = json!({ "email": "invited@example.com", "role": "owner" });
    old_owner
        .put("/api/admin/projects/demo/members", invite)
        .expect(202)
        .await;
    delete_and_create(&admin, "demo").await;
    for (method, path) in [
        (Method::GET, "/api/admin/projects/demo"),
        (Method::POST, "/api/admin/projects/demo/push-secret"),
        (Method::GET, "/api/admin/projects/demo/members"),
    ] {
        old_owner.request(method, path, None).expect(403).await;
    }
    old_agent
        .get("/api/admin/projects/demo/conversations")
        .expect(403)
        .await;
    assert_eq!(
        old_owner.get("/api/admin/projects").expect(200).await["projects"],
        json!([]),
        "the new project is not listed as theirs"
    );
    let invited = server.user("invited@example.com").await;
    assert_eq!(
        invited.get("/api/admin/invitations").expect(200).await["invitations"],
        json!([]),
        "invitations went with the project"
    );
    invited
        .post("/api/admin/invitations/demo/accept", None)
        .expect(404)
        .await;
    let members = admin
        .get("/api/admin/projects/demo/members")
        .expect(200)
        .await;
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
        .invite(
            "ghost",
            "invited@example.com",
            Role::Owner,
            old_owner_id,
            false,
        )
        .await
        .unwrap();
    invited
        .post("/api/admin/invitations/ghost/accept", None)
        .expect(404)
        .await;
    create_project(&admin, "ghost").await;
    old_owner.get("/api/admin/projects/ghost").expect(403).await;
    invited
        .post("/api/admin/invitations/ghost/accept", None)
        .expect(404)
        .await;
}

#[tokio::test]
async fn a_re_created_slug_numbers_its_events_after_the_deleted_ones() {
    let server = TestServer::start().await;
    let admin = server.admin("admin@example.com").await;
    let event = json!({ "project": "demo", "type": "signed_up" });
    let mut old_ids = Vec::new();
    for _ in 0..3 {
        let response = push(&server, DEMO_SECRET, event.clone()).await;
        let body: Value = response.json().await.unwrap();
        old_ids.push(body["id"].as_str().unwrap().parse::<u64>().unwrap());
    }
    delete_and_create(&admin, "demo").await;
    let secret = rotate_push_secret(&admin, "demo").await;
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
    let restarted_admin = server.admin("admin2@example.com").await;
    let secret = rotate_push_secret(&restarted_admin, "demo").await;
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
    let server = TestServer::start().await;
    let owner = server.owner("owner@example.com").await;
    let agent = server.agent("agent@example.com").await;
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

    let project = "/api/admin/projects/demo";
    agent.delete(project).expect(403).await;
    owner.delete(project).expect(204).await;
    owner.delete(project).expect(404).await;
    server
        .anonymous()
        .get("/api/widget/config?project=demo")
        .expect(404)
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
