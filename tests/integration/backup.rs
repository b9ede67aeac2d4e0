//! `helpyap backup` / `helpyap restore` and `GET /api/admin/backup`: a store written to one file
//! while stopped or running, and restored into a new directory that serves the same data.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::{Value, json};

use crate::support::{Binary, DEMO_SECRET, TestServer, client, expect_error, send_json};

const EMAIL: &str = "owner@example.com";
const PASSWORD: &str = "correct horse battery";

fn helpyap(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_helpyap"))
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap()
}

async fn login(base: &str) -> String {
    let tokens: Value = send_json(
        client()
            .post(format!("{base}/api/admin/auth/login"))
            .json(&json!({ "email": EMAIL, "password": PASSWORD })),
    )
    .await;
    tokens["accessToken"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_backup_taken_stopped_or_running_restores_into_a_serving_store() {
    let dir = tempfile::tempdir().unwrap();
    let serve = |data: &str| {
        Binary::start(
            dir.path(),
            &["serve", "--bind", "127.0.0.1:0", "--data-dir", data],
            &[
                ("HELPYAP_ADMIN_EMAIL", EMAIL),
                ("HELPYAP_ADMIN_PASSWORD", PASSWORD),
                ("HELPYAP_JWT_SECRET", "a-test-secret-of-32-characters-xx"),
            ],
        )
    };
    let server = serve("live");
    let base = server.url("");
    let base = base.trim_end_matches('/');
    for name in ["Ann", "Bo", "Cy"] {
        let response = client()
            .post(server.url("/api/widget/salespop-push"))
            .bearer_auth(DEMO_SECRET)
            .json(&json!({ "project": "demo", "type": "purchased", "name": name }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
    }
    let session = uuid::Uuid::new_v4();
    let chat = client()
        .post(server.url("/api/chat"))
        .json(&json!({ "projectSlug": "demo", "sessionId": session, "messages": [{ "role": "user", "content": "What is your return policy?" }] }))
        .send()
        .await
        .unwrap();
    let token = chat.headers()["x-session-token"]
        .to_str()
        .unwrap()
        .to_owned();
    chat.text().await.unwrap();

    // Running: the CLI cannot open the store and says what to use instead.
    let refused = helpyap(
        dir.path(),
        &["backup", "--out", "cli.jsonl", "--data-dir", "live"],
    );
    assert_eq!(refused.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("GET /api/admin/backup"), "{stderr}");
    assert!(!dir.path().join("cli.jsonl").exists());

    // Running: the admin endpoint streams it.
    let access = login(base).await;
    let download = client()
        .get(server.url("/api/admin/backup"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(download.status(), 200);
    assert!(
        download.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains("helpyap-backup-")
    );
    std::fs::write(
        dir.path().join("online.jsonl"),
        download.bytes().await.unwrap(),
    )
    .unwrap();
    let unauthenticated = client()
        .get(server.url("/api/admin/backup"))
        .send()
        .await
        .unwrap();
    expect_error(unauthenticated, 401).await;
    server.kill_9();

    // Stopped (even by kill -9): the CLI writes one, and will not overwrite a file.
    let written = helpyap(
        dir.path(),
        &["backup", "--out", "cli.jsonl", "--data-dir", "live"],
    );
    assert!(
        written.status.success(),
        "{}",
        String::from_utf8_lossy(&written.stderr)
    );
    let again = helpyap(
        dir.path(),
        &["backup", "--out", "cli.jsonl", "--data-dir", "live"],
    );
    assert_eq!(again.status.code(), Some(1));

    for (file, data) in [("cli.jsonl", "from-cli"), ("online.jsonl", "from-endpoint")] {
        let restored = helpyap(dir.path(), &["restore", file, "--data-dir", data]);
        assert!(
            restored.status.success(),
            "{file}: {}",
            String::from_utf8_lossy(&restored.stderr)
        );
        let twice = helpyap(dir.path(), &["restore", file, "--data-dir", data]);
        assert_eq!(twice.status.code(), Some(1), "never into a store in use");
        assert!(String::from_utf8_lossy(&twice.stderr).contains("empty directory"));

        let server = serve(data);
        let events: Value =
            send_json(client().get(server.url("/api/widget/salespop?project=demo&since=0"))).await;
        let names: Vec<&str> = events["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["Ann", "Bo", "Cy"], "{file}");
        let next = server
            .push_demo(json!({ "project": "demo", "type": "signed_up" }))
            .await;
        assert_eq!(next["id"], "4", "{file}: ids go on from the backup");
        let transcript: Value = send_json(
            client()
                .get(server.url(&format!(
                    "/api/widget/session?project=demo&sessionId={session}"
                )))
                .header("x-session-token", &token),
        )
        .await;
        assert_eq!(
            transcript["messages"].as_array().unwrap().len(),
            2,
            "{file}"
        );
        let base = server.url("");
        login(base.trim_end_matches('/')).await;
        server.kill_9();
    }

    // A damaged file restores nothing.
    let text = std::fs::read_to_string(dir.path().join("cli.jsonl")).unwrap();
    std::fs::write(dir.path().join("cut.jsonl"), &text[..text.len() - 20]).unwrap();
    let cut = helpyap(
        dir.path(),
        &["restore", "cut.jsonl", "--data-dir", "from-cut"],
    );
    assert_eq!(cut.status.code(), Some(1));
    assert!(!dir.path().join("from-cut").exists());
}

#[tokio::test]
async fn only_admins_download_backups() {
    let server = TestServer::start().await;
    let owner = server.owner("agent@example.com").await;
    owner.get("/api/admin/backup").expect(403).await;
    owner.post("/api/admin/backup", None).expect(405).await;
}
