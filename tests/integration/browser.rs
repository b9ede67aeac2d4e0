//! The widget in a real browser: Debian's chromium, headless, driven by playwright-core through
//! `tests/node/widget_e2e.mjs` against the real server. `./scripts/test` installs chromium and
//! the npm packages; a missing one fails loudly, never skips.

use std::convert::Infallible;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use bytes::Bytes;
use helpyap_actors::hours::HoursClock;
use http_body_util::Empty;
use hyper::StatusCode;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpListener;

use crate::support::{DEMO_SECRET, TestServer};

const INSTALL_HINT: &str = "run ./scripts/test, which installs chromium and playwright-core";

/// A help article whose title, text and URL are hostile, as a careless owner might paste.
const HOSTILE_ARTICLE: &str = r#"---
title: Refunds <img src=x onerror="window.__pwned=1">
url: javascript:window.__pwned=2
---
# Refund policy

Our refund policy: <img src=x onerror="window.__pwned=3"> refunds <script>window.__pwned=4</script>
take five business days after we receive the item. <b>bold</b>
"#;

/// Runs the playwright script `tests/node/{script}` with `args` and `HELPYAP_SCREENSHOTS` (a
/// folder, or empty for none) as its arguments, in `$CHROMIUM` (Debian's by default); returns
/// the JSON report it prints, failing with its stderr.
async fn run_in_chromium(script: &str, mut args: Vec<String>) -> Value {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    assert!(
        root.join("tests/node/node_modules/playwright-core")
            .is_dir(),
        "playwright-core missing: {INSTALL_HINT}"
    );
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        std::path::Path::new(&chromium).exists(),
        "no chromium at {chromium}: {INSTALL_HINT}"
    );
    let script = root.join("tests/node").join(script);
    args.push(std::env::var("HELPYAP_SCREENSHOTS").unwrap_or_default());
    // Blocking is fine off the runtime's thread: the server runs on it meanwhile.
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg(&script)
            .args(&args)
            .env("CHROMIUM", chromium)
            .output()
    })
    .await
    .unwrap()
    .unwrap_or_else(|error| panic!("node could not run ({error}): {INSTALL_HINT}"));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the browser run failed:\n{stderr}");
    serde_json::from_slice(&output.stdout).unwrap()
}

/// A site admin (owner of every project) the browser scripts sign in as: email, password.
async fn site_admin(server: &TestServer) -> (&'static str, &'static str) {
    let (email, password) = ("owner@example.com", "correct horse battery");
    let accounts = &server.engine.accounts;
    accounts
        .add_user(email, password.into(), true)
        .await
        .unwrap();
    (email, password)
}

/// Runs `script` with the server's address and a site admin's email and password.
async fn run_as_site_admin(server: &TestServer, script: &str) -> Value {
    let (email, password) = site_admin(server).await;
    let base_url = format!("http://{}", server.addr);
    run_in_chromium(script, vec![base_url, email.into(), password.into()]).await
}

/// A member of the demo project who signs in to the dashboard with `password`.
async fn member_with_password(
    server: &TestServer,
    email: &str,
    password: &str,
    role: helpyap_actors::records::Role,
) {
    let accounts = &server.engine.accounts;
    let user = accounts
        .add_user(email, password.into(), false)
        .await
        .unwrap();
    accounts.grant(user.id, "demo", Some(role)).await.unwrap();
}

#[tokio::test]
async fn the_widget_works_in_chromium_and_hostile_text_stays_inert() {
    let hostile_kb = tempfile::tempdir().unwrap();
    std::fs::write(hostile_kb.path().join("refunds.md"), HOSTILE_ARTICLE).unwrap();
    let kb_dir = hostile_kb.path().to_owned();
    let server = TestServer::start_with(move |config| {
        config.rate_limits.push.requests = 1000;
        config.rate_limits.widget.requests = 1000;
        let rules = &mut config.projects[0].social_proof;
        rules.initial_delay = Duration::from_millis(200);
        rules.display = Duration::from_millis(2500);
        rules.gap = Duration::from_millis(300);
        rules.max_per_visit = 50;
        config.projects[1].knowledge_dir = Some(kb_dir);
    })
    .await;
    // A curated answer longer than the chat area, on a phone (390×844) as at desktop size.
    let items: Vec<String> = (1..=40)
        .map(|n| {
            format!("- Item {n}: a layer, a spare pair of socks, or a snack bar for the trail")
        })
        .collect();
    let long = serde_json::json!({
        "question": "Which packing list do you recommend for a week in the mountains?",
        "answer": format!("Our week-long packing list:\n\n{}", items.join("\n")),
    });
    let owner = server.owner("faq@example.com").await;
    owner
        .post("/api/admin/projects/demo/faq", long)
        .expect(201)
        .await;
    let base_url = format!("http://{}", server.addr);
    let report = run_in_chromium("widget_e2e.mjs", vec![base_url, DEMO_SECRET.into()]).await;
    assert!(
        report["restoredMessages"].as_u64().unwrap() >= 3,
        "{report}"
    );
    assert_eq!(report["newChatAsks"], true, "{report}");
    assert!(report["sseRequests"].as_u64().unwrap() >= 1, "{report}");
    assert!(report["polls"].as_u64().unwrap() >= 1, "{report}");
    let rated = server
        .engine
        .chat
        .conversations("demo", None, 100)
        .await
        .unwrap();
    let thumbs_up = rated
        .iter()
        .flat_map(|(_, messages)| messages)
        .filter(|m| m.feedback == Some(helpyap_actors::chat::Feedback::Up))
        .count();
    assert_eq!(thumbs_up, 1, "the thumbs-up reached the store");
    let thumbs_down = rated
        .iter()
        .flat_map(|(_, messages)| messages)
        .filter(|m| m.feedback == Some(helpyap_actors::chat::Feedback::Down))
        .count();
    assert_eq!(
        thumbs_down, 2,
        "a thumbs-down at each size reached the store"
    );
    let leads = server.engine.chat.leads("demo").await.unwrap();
    let mut emails: Vec<&str> = leads.iter().map(|lead| lead.email.as_str()).collect();
    emails.sort_unstable();
    assert_eq!(
        emails,
        [
            "ann@example.com",
            "desktop@example.com",
            "phone@example.com"
        ],
        "the lead forms reached the store"
    );
    drop(hostile_kb);
}

/// Popups as visitors see them at desktop and phone sizes: picture, link, age, close button,
/// page targeting, types switched off and the name format, in either mode.
#[tokio::test]
async fn popups_are_rich_targeted_and_closable_in_chromium() {
    let server = TestServer::start_with(|config| {
        config.rate_limits.push.requests = 1000;
        config.rate_limits.widget.requests = 1000;
        let rules = &mut config.projects[0].social_proof;
        rules.initial_delay = Duration::from_millis(200);
        rules.display = Duration::from_millis(2000);
        rules.gap = Duration::from_millis(300);
        rules.max_per_visit = 50;
        rules.name_format = helpyap_actors::NameFormat::FirstInitial;
        rules.pages.include = vec!["/shop/*".into()];
        rules.pages.exclude = vec!["/shop/checkout/*".into()];
        rules.types.added_to_cart = false;
    })
    .await;
    let base_url = format!("http://{}", server.addr);
    let report = run_in_chromium("popups_e2e.mjs", vec![base_url, DEMO_SECRET.into()]).await;
    assert_eq!(report["closedStopsPopups"], true, "{report}");
    assert_eq!(report["targeting"], true, "{report}");
    assert_eq!(report["clickReported"], true, "{report}");
    // What the widgets reported reached the counts: every popup shown (seven: the type switched
    // off shows none) and the tap on the phone's, once each (on a cluster node, at its next
    // check).
    let reports = &server.engine.reports;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let popups = loop {
        let now = helpyap_actors::time::now_ms();
        let analytics = reports.analytics("demo", 1, now).await.unwrap();
        let popups = analytics.days[0].clone();
        let all = popups.popups_clicked >= 1 && popups.popups_shown >= 7;
        if all || tokio::time::Instant::now() > deadline {
            break popups;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(popups.popups_clicked, 1, "{popups:?}");
    assert_eq!(popups.popups_shown, 7, "{popups:?}");
}

/// Summaries from the project's counts and the live viewers of a page, in either mode.
#[tokio::test]
async fn summaries_and_live_viewers_show_in_chromium() {
    let server = TestServer::start_with(|config| {
        config.rate_limits.widget.requests = 1000;
        let rules = &mut config.projects[0].social_proof;
        rules.initial_delay = Duration::from_millis(500);
        rules.display = Duration::from_millis(1500);
        rules.gap = Duration::from_millis(200);
        rules.summaries.enabled = true;
        rules.summaries.min_count = 2;
        rules.live_viewers.enabled = true;
        rules.live_viewers.min_count = 2;
    })
    .await;
    let base_url = format!("http://{}", server.addr);
    let report = run_in_chromium("summaries_e2e.mjs", vec![base_url, DEMO_SECRET.into()]).await;
    assert_eq!(report["summaries"], true, "{report}");
}

/// A site drives the widget from its own code through `window.HelpYap`, also before it loaded;
/// settings the owner saves reach the open page.
#[tokio::test]
async fn the_page_drives_the_widget_through_window_helpyap_in_chromium() {
    let server = TestServer::start_with(|config| {
        config.rate_limits.widget.requests = 1000;
        let rules = &mut config.projects[0].social_proof;
        rules.initial_delay = Duration::from_millis(200);
        rules.gap = Duration::from_millis(200);
    })
    .await;
    let (email, password) = site_admin(&server).await;
    let base_url = format!("http://{}", server.addr);
    let args = vec![base_url, DEMO_SECRET.into(), email.into(), password.into()];
    let report = run_in_chromium("api_e2e.mjs", args).await;
    assert_eq!(report["api"], true, "{report}");
    assert_eq!(report["settingsLive"], true, "{report}");
}

/// A signed-in customer, named by the page with a hash the site's server made, finds the
/// conversation they started on a laptop on their phone; a forged hash gets nothing; a secret
/// rotated under an open page loses no question.
#[tokio::test]
async fn a_verified_visitors_conversation_follows_them_to_another_browser_in_chromium() {
    let server = TestServer::start_with(|config| {
        config.rate_limits.widget.requests = 1000;
    })
    .await;
    let projects = &server.engine.projects;
    let secret = projects
        .rotate_identity_secret("demo")
        .await
        .unwrap()
        .secret;
    let (email, password) = site_admin(&server).await;
    let base_url = format!("http://{}", server.addr);
    let args = vec![base_url, secret, email.into(), password.into()];
    let report = run_in_chromium("identity_e2e.mjs", args).await;
    assert_eq!(report["identity"], true, "{report}");

    let session = report["session"].as_str().unwrap().parse().unwrap();
    let (record, messages) = server
        .engine
        .chat
        .conversation("demo", session)
        .await
        .unwrap()
        .unwrap();
    let visitor = record.visitor.expect("the conversation is Ana's");
    assert!(visitor.verified);
    assert_eq!(
        (visitor.user_id.as_str(), visitor.name.as_deref()),
        ("user-42", Some("Ana Lopez"))
    );
    assert_eq!(
        messages.len(),
        6,
        "a question from each browser and one after the rotation, and their answers"
    );
}

/// Outside business hours the widget says when the team is back and offers to take a message,
/// at desktop and phone sizes; opening the hours reaches the open page; at both sizes an open
/// page crosses an opening and a closing on an injected clock (the server's and the page's).
#[tokio::test]
async fn business_hours_show_in_chromium() {
    let server = TestServer::start_with(|config| {
        config.rate_limits.widget.requests = 1000;
    })
    .await;
    let control = clock_control(server.engine.hours_clock.clone()).await;
    let (email, password) = site_admin(&server).await;
    let base_url = format!("http://{}", server.addr);
    let args = vec![base_url, email.into(), password.into(), control];
    let report = run_in_chromium("hours_e2e.mjs", args).await;
    assert_eq!(report["hours"], true, "{report}");
    assert_eq!(report["reopened"], true, "{report}");
    for size in ["desktop", "phone"] {
        assert_eq!(report["crossed"][size], true, "{report}");
    }
}

/// An address the browser script moves the server's business-hours clock through, its page's
/// clock moved alike: `POST /clock?at=MS` makes it that instant, `DELETE /clock` gives back the
/// system's. It lives in the test, not in the server.
async fn clock_control(clock: HoursClock) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let clock = clock.clone();
            let service = service_fn(move |request: hyper::Request<Incoming>| {
                let at = request
                    .uri()
                    .query()
                    .and_then(|query| query.strip_prefix("at="))
                    .and_then(|at| at.parse::<u64>().ok());
                let status = match (request.method().as_str(), at) {
                    ("POST", Some(at)) => {
                        clock.set(at);
                        StatusCode::NO_CONTENT
                    }
                    ("DELETE", _) => {
                        clock.reset();
                        StatusCode::NO_CONTENT
                    }
                    _ => StatusCode::BAD_REQUEST,
                };
                let mut response = hyper::Response::new(Empty::<Bytes>::new());
                *response.status_mut() = status;
                async move { Ok::<_, Infallible>(response) }
            });
            tokio::spawn(http1::Builder::new().serve_connection(TokioIo::new(stream), service));
        }
    });
    format!("http://{addr}")
}

/// A conversation resolved while the visitor's own answer streams asks for the rating after
/// that answer, not in the middle of it.
#[tokio::test]
async fn a_rating_asked_during_an_answer_comes_after_it_in_chromium() {
    let fake = crate::fake_llm::FakeLlm::start().await;
    let server = TestServer::start_with(crate::chat::with_fake(
        &fake,
        helpyap::config::LlmFallback::None,
    ))
    .await;
    let report = run_as_site_admin(&server, "rating_stream_e2e.mjs").await;
    assert_eq!(report["rateAfterAnswer"], true, "{report}");
}

/// Proactive messages: added in the dashboard, shown above the bubble after their time at
/// desktop and phone sizes, opened and dismissed, once a visit or a day; counted in the overview.
#[tokio::test]
async fn proactive_messages_show_in_chromium() {
    let server = TestServer::start_with(|config| {
        config.rate_limits.widget.requests = 1000;
    })
    .await;
    let report = run_as_site_admin(&server, "proactive_e2e.mjs").await;
    assert_eq!(report["proactive"], true, "{report}");
    assert_eq!(report["newVisit"], true, "{report}");
}

#[tokio::test]
async fn the_admin_dashboard_works_in_chromium() {
    let server = TestServer::start().await;
    let report = run_as_site_admin(&server, "admin_e2e.mjs").await;
    assert_eq!(report["pushWithNewSecret"], 201, "{report}");
    assert_eq!(report["charts"], 4, "{report}");

    // What the browser did is in the store.
    let documents = server.engine.projects.documents("acme").await.unwrap();
    assert_eq!(documents[0].title, "Returns");
    let conversations = server
        .engine
        .chat
        .conversations("acme", None, 10)
        .await
        .unwrap();
    assert_eq!(conversations.len(), 1, "the visitor's chat");
    let roles: Vec<_> = conversations[0].1.iter().map(|m| m.role).collect();
    use helpyap_actors::chat::Role;
    assert_eq!(
        roles,
        [
            Role::User,
            Role::Assistant,
            Role::User,
            Role::Assistant,
            Role::Agent
        ],
        "two questions, two answers, a teammate's reply"
    );
}

/// The issue's walk-through: hand-off live both ways, in chromium, in either mode.
#[tokio::test]
async fn a_handoff_is_live_both_ways_in_chromium() {
    let server = TestServer::start().await;
    let (email, password) = ("dana@example.com", "correct horse battery");
    member_with_password(
        &server,
        email,
        password,
        helpyap_actors::records::Role::Agent,
    )
    .await;
    let base_url = format!("http://{}", server.addr);
    let report = run_in_chromium(
        "handoff_e2e.mjs",
        vec![base_url, email.into(), password.into()],
    )
    .await;
    assert_eq!(report["badge"], "1", "{report}");
    assert_eq!(report["ratedPhone"], true, "{report}");
    assert_eq!(report["overviewSatisfaction"], true, "{report}");

    // The store has it all: the held message, the teammate's signed reply, the answers after.
    let conversations = server
        .engine
        .chat
        .conversations("demo", None, 10)
        .await
        .unwrap();
    let messages = &conversations[0].1;
    use helpyap_actors::chat::Role;
    let roles: Vec<_> = messages.iter().map(|m| m.role).collect();
    assert_eq!(
        roles,
        [
            Role::User,
            Role::Assistant,
            Role::User,
            Role::Agent,
            Role::User,
            Role::Assistant
        ],
        "the held message got no answer; the one after the hand-back did"
    );
    let signature = messages[3].signature.as_ref().unwrap();
    assert_eq!(signature.name.as_deref(), Some("Dana"));
}

/// "Forgot password" through a real SMTP server and the link it emailed, then the profile's
/// email setting, in chromium.
#[tokio::test]
async fn a_forgotten_password_is_reset_from_the_emailed_link_in_chromium() {
    let smtp = crate::email::Smtp::start().await;
    let url = smtp.url();
    // The server's own address is only known once it listens: the link names the configured
    // public address, and the script follows its path and fragment on this server.
    let server = TestServer::start_with(move |config| {
        config.email.smtp_url = Some(url);
    })
    .await;
    let owner = server.owner("ann@example.com").await;
    let invite = serde_json::json!({ "email": "joiner@example.com", "role": "agent" });
    owner
        .put("/api/admin/projects/demo/members", invite)
        .expect(202)
        .await;
    let invitation = smtp.at_least(1).await;
    let body = invitation[0]["body"].as_str().unwrap();
    let join = &body[body.find("#/join/").expect("a join link")..];
    let join: String = join.chars().take_while(|c| !c.is_whitespace()).collect();
    let base_url = format!("http://{}", server.addr);
    let mail = smtp.mail_file().to_str().unwrap().to_owned();
    let args = vec![base_url, "ann@example.com".into(), mail, join];
    let report = run_in_chromium("account_e2e.mjs", args).await;
    assert_eq!(report["resetAndSignedIn"], true, "{report}");
    assert_eq!(report["joined"], true, "{report}");
    let joiner = server
        .engine
        .accounts
        .user_by_email("joiner@example.com")
        .await;
    assert!(
        joiner.unwrap().is_some(),
        "the invited person has an account"
    );
    let users = server.engine.accounts.users().await.unwrap();
    assert!(users[0].profile.notify_email, "the setting was saved");
}

#[tokio::test]
async fn owners_invite_teammates_who_accept_in_chromium() {
    use helpyap_actors::records::Role;
    let server = TestServer::start().await;
    let password = "correct horse battery";
    let [admin, owner, agent, invitee] = [
        "admin@example.com",
        "owner@example.com",
        "agent@example.com",
        "sam@example.com",
    ];
    let engine = &server.engine;
    let add =
        |email: &'static str, admin: bool| engine.accounts.add_user(email, password.into(), admin);
    let admin_user = add(admin, true).await.unwrap();
    let owner_user = add(owner, false).await.unwrap();
    engine
        .accounts
        .grant(owner_user.id, "demo", Some(Role::Owner))
        .await
        .unwrap();
    let agent_user = add(agent, false).await.unwrap();
    engine
        .accounts
        .grant(agent_user.id, "demo", Some(Role::Agent))
        .await
        .unwrap();
    add(invitee, false).await.unwrap();
    // A second invitation, which the invited user declines.
    engine
        .accounts
        .invite("other", invitee, Role::Owner, admin_user.id, false)
        .await
        .unwrap();

    let base_url = format!("http://{}", server.addr);
    let args = [base_url.as_str(), password, admin, owner, agent, invitee]
        .map(String::from)
        .to_vec();
    let report = run_in_chromium("admin_team_e2e.mjs", args).await;
    assert_eq!(report["pendingShown"], 2, "{report}");
    assert_eq!(report["roleUpdated"], true, "{report}");

    // What the browsers did is in the store.
    let user = async |email| engine.accounts.user_by_email(email).await.unwrap().unwrap();
    let sam = user(invitee).await;
    assert_eq!(
        sam.roles.get("demo"),
        Some(&Role::Owner),
        "accepted as an agent, then made an owner"
    );
    assert!(!sam.roles.contains_key("other"), "declined");
    assert!(
        engine
            .accounts
            .invitations_for(invitee)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        engine
            .accounts
            .project_invitations("demo")
            .await
            .unwrap()
            .is_empty(),
        "the other invitation was withdrawn"
    );
    assert!(user(agent).await.roles.is_empty(), "the agent was removed");
    assert_eq!(user(owner).await.roles.get("demo"), Some(&Role::Owner));
}

/// Answers as visitors get them, set up in the dashboard, in chromium at desktop and phone
/// sizes: the deciding sentence with a real link, Markdown lists and bold rendered (HTML in them
/// inert), a person offered when nothing answers, the contact form opened on request, and the
/// widget in the language the owner chose.
#[tokio::test]
async fn answers_read_like_answers_in_chromium() {
    let server = TestServer::start().await;
    let (email, password) = ("olga@example.com", "correct horse battery");
    member_with_password(
        &server,
        email,
        password,
        helpyap_actors::records::Role::Owner,
    )
    .await;
    let gift_wrap = serde_json::json!({
        "title": "Gift wrap",
        "format": "markdown",
        "content": "# Gift wrap\n\nWe offer gift wrap:\n\n- **Classic** paper for $3 <img src=x onerror=\"window.__pwned=1\">\n- Recycled paper for $4\n",
    });
    server
        .owner("setup@example.com")
        .await
        .post("/api/admin/projects/demo/documents", gift_wrap)
        .expect(201)
        .await;
    let base_url = format!("http://{}", server.addr);
    let report = run_in_chromium(
        "answers_e2e.mjs",
        vec![base_url, email.into(), password.into()],
    )
    .await;
    assert!(
        report["wrap"].as_str().unwrap().contains("<img"),
        "pasted HTML shows as text: {report}"
    );
    let project = server.engine.projects.snapshot("demo").await.unwrap();
    assert_eq!(project.widget.locale, "es");
    assert!(project.assistant.instructions.contains("refunds over $500"));
}
