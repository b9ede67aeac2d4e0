//! `GET /api/openapi.json` checked against the running server by Schemathesis (PyPI, installed
//! by scripts/test): every operation, with valid and invalid input, signed in as an admin and
//! with the demo project's push secret, must answer only statuses the document names, never a
//! 5xx, and bodies and headers matching the document's schemas.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use serde_json::json;
use uuid::Uuid;

use crate::chat::{ask, body};
use crate::support::{DEMO_SECRET, TestServer, client};

const INSTALL_HINT: &str = "run ./scripts/test, which installs Schemathesis";

fn schemathesis() -> PathBuf {
    let cli = std::env::var("HELPYAP_SCHEMATHESIS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("target/schemathesis-venv/bin/schemathesis")
        });
    assert!(
        cli.exists(),
        "no Schemathesis at {}: {INSTALL_HINT}",
        cli.display()
    );
    cli
}

#[tokio::test(flavor = "multi_thread")]
async fn schemathesis_finds_the_server_true_to_its_openapi_document() {
    let cli = schemathesis();
    let server = TestServer::start_with(|config| {
        // The generated requests come from one address as fast as the server answers.
        for limit in [
            &mut config.rate_limits.chat,
            &mut config.rate_limits.push,
            &mut config.rate_limits.widget,
            &mut config.rate_limits.login,
        ] {
            limit.requests = 1_000_000;
        }
        config.auth.max_failed_logins = 1_000_000;
        config.auth.max_failed_logins_per_ip = 1_000_000;
        config.server.max_streams_per_ip = 0;
        config.social_proof.keep_alive = Duration::from_millis(200);
        config.knowledge.fetch_timeout = Duration::from_secs(1);
    })
    .await;
    let admin = server.admin("schemathesis@example.com").await;
    let token = admin.token().to_owned();
    // Something to find: a conversation with a lead, a document, an event, a project to delete.
    let session = Uuid::new_v4();
    let first = ask(&server, session, None, "How do returns work?").await;
    assert_eq!(first.status, 200);
    let session_token = first.token.clone().expect("a new session's token");
    let mut lead = body(session, Some(&session_token), "unused");
    lead["email"] = json!("visitor@example.com");
    let lead = client()
        .post(server.url("/api/widget/lead"))
        .json(&lead)
        .send()
        .await
        .unwrap();
    assert_eq!(lead.status(), 201);
    admin
        .post("/api/admin/projects", json!({ "slug": "doomed", "name": "Doomed", "company": "", "welcomeMessage": "Hi", "quickReplies": [], "theme": { "primaryColor": "#112233", "position": "bottom-right" } }))
        .expect(201)
        .await;
    let event = client()
        .post(server.url("/api/widget/salespop-push"))
        .bearer_auth(DEMO_SECRET)
        .json(&json!({ "project": "demo", "type": "signed_up", "name": "Sarah K." }))
        .send()
        .await
        .unwrap();
    assert_eq!(event.status(), 201);

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("schemathesis.toml");
    std::fs::write(&config, CONFIG).unwrap();
    let base = format!("http://{}", server.addr);
    let (run, said) = tokio::task::spawn_blocking(move || {
        let run = Command::new(&cli)
            .current_dir(dir.path())
            .args(["--config-file"])
            .arg(&config)
            .args(["run", &format!("{base}/api/openapi.json"), "--url", &base])
            .env("ADMIN_TOKEN", &token)
            .env("PUSH_SECRET", DEMO_SECRET)
            .env("SESSION_ID", session.to_string())
            .env("SESSION_TOKEN", &session_token)
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        let said = format!(
            "{}\n{}",
            String::from_utf8_lossy(&run.stdout),
            String::from_utf8_lossy(&run.stderr)
        );
        (run, said)
    })
    .await
    .unwrap();
    println!("{said}");
    assert!(run.status.success(), "Schemathesis found problems:\n{said}");
    let document = crate::support::get_json(&server, "/api/openapi.json").await;
    let operations: usize = document["paths"]
        .as_object()
        .unwrap()
        .values()
        .map(|item| item.as_object().unwrap().len())
        .sum::<usize>()
        // Schemathesis leaves out the operation that serves the document it reads.
        - 1;
    assert!(
        said.contains(&format!("Tested: {operations}")),
        "every one of the {operations} operations was tested:\n{said}"
    );
}

/// Auth per security scheme, the ids of what the test made, and the checks.
const CONFIG: &str = r#"
# One worker: Debian 12's Python 3.11 keeps `ast`'s recursion depth per interpreter, not per
# thread (CPython gh-106905, fixed in 3.12), so two workers describing Hypothesis strategies at
# once crash the tool now and then with "AST constructor recursion depth mismatch".
workers = 1
request-timeout = 10.0
max-stream-events = 1
seed = 20261130

[checks]
enabled = false
not_a_server_error.enabled = true
status_code_conformance.enabled = true
content_type_conformance.enabled = true
response_headers_conformance.enabled = true
response_schema_conformance.enabled = true

[generation]
max-examples = 25

# Schemathesis 4.32.5 trips over its own cache (a KeyError in Hypothesis) in this phase on an
# operation with a configured parameter; coverage and fuzzing use the examples too.
[phases.examples]
enabled = false

[auth.openapi]
adminToken = { bearer = "${ADMIN_TOKEN}" }
pushSecret = { bearer = "${PUSH_SECRET}" }

# The demo project, and what the test made in it, rather than names that find nothing.
[parameters]
slug = "demo"
project = "demo"
session_id = "${SESSION_ID}"
sessionId = "${SESSION_ID}"
X-Session-Token = "${SESSION_TOKEN}"

[[operations]]
include-name = "DELETE /api/admin/projects/{slug}"
parameters = { slug = "doomed" }
"#;
