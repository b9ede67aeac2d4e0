//! Email through a real SMTP server (aiosmtpd, started by the test), in both modes: a lead goes
//! to the project's members who opted in, with a link to the conversation and a short preview;
//! "forgot password" sends a single-use link that sets a new password and ends every sign-in;
//! with email off, the dashboard is told and "forgot password" is refused.

use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::Duration;

use serde_json::{Value, json};
use uuid::Uuid;

use crate::chat::ask;
use crate::support::{PASSWORD, TestServer, client};

/// aiosmtpd on a free port, and the messages it took.
pub struct Smtp {
    child: Child,
    dir: tempfile::TempDir,
    port: u16,
}

impl Smtp {
    pub async fn start() -> Smtp {
        let python = std::env::var("HELPYAP_SMTP_PYTHON").unwrap_or_else(|_| {
            panic!("HELPYAP_SMTP_PYTHON names no Python with aiosmtpd: run ./scripts/test")
        });
        let dir = tempfile::tempdir().unwrap();
        let port = helpyap_actors::testing::free_port();
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/email/smtpd.py");
        let child = Command::new(python)
            .arg(script)
            .arg(port.to_string())
            .arg(dir.path())
            .spawn()
            .unwrap();
        let ready = dir.path().join("port");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while !ready.exists() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "aiosmtpd did not start"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Smtp { child, dir, port }
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Where the messages are written, one JSON line each.
    pub fn mail_file(&self) -> PathBuf {
        self.dir.path().join("mail")
    }

    pub fn mail(&self) -> Vec<Value> {
        std::fs::read_to_string(self.dir.path().join("mail"))
            .unwrap_or_default()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }

    /// The messages so far, once there are at least `count`.
    pub async fn at_least(&self, count: usize) -> Vec<Value> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let mail = self.mail();
            if mail.len() >= count {
                return mail;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{count} emails never came: {mail:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn server_mailing_to(smtp: &Smtp) -> TestServer {
    let url = smtp.url();
    TestServer::start_with(move |config| {
        config.email.smtp_url = Some(url);
        config.email.public_url = "https://support.example.com/".into();
        // Sign-ins, refreshes and resets share one budget; this test spends more than ten.
        config.rate_limits.login.requests = 100;
    })
    .await
}

async fn leave_lead(server: &TestServer, session: Uuid, token: &str, name: &str, message: &str) {
    let lead = client().post(server.url("/api/widget/lead")).json(&json!({
        "projectSlug": "demo", "sessionId": session, "sessionToken": token,
        "email": "vera@example.com", "name": name, "message": message,
    }));
    assert_eq!(lead.send().await.unwrap().status(), 201);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lead_is_emailed_to_the_members_who_opted_in() {
    let smtp = Smtp::start().await;
    let server = server_mailing_to(&smtp).await;
    let owner = server.owner("olga@example.com").await;
    let agent = server.agent("sam@example.com").await;
    let stranger = server.user("nobody@example.com").await;
    for caller in [&owner, &stranger] {
        let me = caller
            .patch("/api/admin/me", json!({ "emailNotifications": true }))
            .expect(200)
            .await;
        assert_eq!(
            (
                me["emailNotifications"].as_bool(),
                me["emailEnabled"].as_bool()
            ),
            (Some(true), Some(true))
        );
    }
    assert_eq!(
        agent.get("/api/admin/me").expect(200).await["emailNotifications"],
        false
    );

    let session = Uuid::new_v4();
    let first = ask(&server, session, None, "Do you ship to Canada?").await;
    let token = first.token.unwrap();
    let long = format!("Please call me about a bulk order. {}", "x".repeat(400));
    leave_lead(&server, session, &token, "Vera", &long).await;
    let mail = smtp.at_least(1).await;
    let lead = &mail[0];
    assert_eq!(lead["to"], json!(["olga@example.com"]));
    assert_eq!(lead["from"], "helpyap@localhost");
    let subject = lead["subject"].as_str().unwrap();
    assert!(
        subject.contains("New lead on") && subject.contains("Vera <vera@example.com>"),
        "{subject}"
    );
    let body = lead["body"].as_str().unwrap();
    assert!(
        body.contains(&format!(
            "https://support.example.com/admin#/demo/inbox/{session}"
        )),
        "{body}"
    );
    assert!(body.contains("Please call me about a bulk order"), "{body}");
    assert!(
        !body.contains(&"x".repeat(300)),
        "a short preview, not the whole message"
    );
    assert!(!body.contains(&token), "no session token in an email");

    // A second lead's email comes after every email of the first: still only the opted-in member.
    let other = Uuid::new_v4();
    let second = ask(&server, other, None, "Hello").await;
    leave_lead(&server, other, &second.token.unwrap(), "Kim", "Call me").await;
    let mail = smtp.at_least(2).await;
    assert_eq!(mail.len(), 2, "{mail:?}");
    assert!(mail.iter().all(|m| m["to"] == json!(["olga@example.com"])));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_forgotten_password_is_reset_once_through_the_emailed_link() {
    let smtp = Smtp::start().await;
    let server = server_mailing_to(&smtp).await;
    server.owner("ann@example.com").await;
    let login = |password: &str| {
        let body = json!({ "email": "ann@example.com", "password": password });
        client()
            .post(server.url("/api/admin/auth/login"))
            .json(&body)
            .send()
    };
    let tokens: Value = login(PASSWORD).await.unwrap().json().await.unwrap();

    let forgot = |email: &str| {
        let body = json!({ "email": email });
        client()
            .post(server.url("/api/admin/auth/forgot"))
            .json(&body)
            .send()
    };
    assert_eq!(
        forgot("nobody@example.com").await.unwrap().status(),
        202,
        "the same answer"
    );
    assert_eq!(forgot("not an email").await.unwrap().status(), 202);
    assert_eq!(forgot("ANN@example.com").await.unwrap().status(), 202);
    let mail = smtp.at_least(1).await;
    assert_eq!(mail.len(), 1, "nothing to unknown addresses: {mail:?}");
    assert_eq!(mail[0]["to"], json!(["ann@example.com"]));
    let body = mail[0]["body"].as_str().unwrap();
    let start = body
        .find("https://support.example.com/admin#/reset/")
        .expect("a link")
        + "https://support.example.com/admin#/reset/".len();
    let link_token: String = body[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    assert!(link_token.starts_with("pr_"), "{body}");

    let reset = |token: &str, password: &str| {
        let body = json!({ "token": token, "password": password });
        client()
            .post(server.url("/api/admin/auth/reset"))
            .json(&body)
            .send()
    };
    let short = reset(&link_token, "short").await.unwrap();
    assert_eq!(short.status(), 400, "too short, and the link still works");
    assert_eq!(
        reset("pr_forged", "a brand new password")
            .await
            .unwrap()
            .status(),
        400
    );
    assert_eq!(
        reset(&link_token, "a brand new password")
            .await
            .unwrap()
            .status(),
        204
    );
    let again = reset(&link_token, "another new password").await.unwrap();
    assert_eq!(again.status(), 400, "a link works once");

    // Every sign-in ended: the old refresh token and access token are refused.
    let refresh = client()
        .post(server.url("/api/admin/auth/refresh"))
        .json(&json!({ "refreshToken": tokens["refreshToken"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(refresh.status(), 401);
    let me = client()
        .get(server.url("/api/admin/me"))
        .bearer_auth(tokens["accessToken"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 401);
    assert_eq!(login(PASSWORD).await.unwrap().status(), 401);
    assert_eq!(login("a brand new password").await.unwrap().status(), 200);
}

#[tokio::test]
async fn with_email_off_the_dashboard_is_told_and_forgot_is_refused() {
    let server = TestServer::start().await;
    let owner = server.owner("ann@example.com").await;
    assert_eq!(
        owner.get("/api/admin/me").expect(200).await["emailEnabled"],
        false
    );
    let forgot = client()
        .post(server.url("/api/admin/auth/forgot"))
        .json(&json!({ "email": "ann@example.com" }))
        .send()
        .await
        .unwrap();
    assert_eq!(forgot.status(), 409);
    let said: Value = forgot.json().await.unwrap();
    assert!(
        said["error"]
            .as_str()
            .unwrap()
            .contains("Email is not set up"),
        "{said}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_invitation_email_lets_someone_with_no_account_join() {
    let smtp = Smtp::start().await;
    let server = server_mailing_to(&smtp).await;
    let owner = server.owner("olga@example.com").await;
    owner
        .patch("/api/admin/me", json!({ "displayName": "Olga" }))
        .expect(200)
        .await;
    server.user("bob@example.com").await;
    let members = "/api/admin/projects/demo/members";
    let invite = json!({ "email": "New@Example.com", "role": "agent" });
    assert_eq!(
        owner.put(members, invite).expect(202).await["invited"],
        true
    );
    let mail = smtp.at_least(1).await;
    assert_eq!(mail[0]["to"], json!(["new@example.com"]));
    assert!(
        mail[0]["subject"]
            .as_str()
            .unwrap()
            .starts_with("Olga invited you to"),
        "{}",
        mail[0]
    );
    let body = mail[0]["body"].as_str().unwrap();
    let start = body.find("/admin#/join/demo/").expect("a join link") + "/admin#/join/demo/".len();
    let token: String = body[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    assert!(token.starts_with("jn_"), "{body}");

    let join = |token: &str, password: &str| {
        let body = json!({ "project": "demo", "token": token, "password": password });
        client()
            .post(server.url("/api/admin/auth/join"))
            .json(&body)
            .send()
    };
    assert_eq!(
        join(&token, "short").await.unwrap().status(),
        400,
        "the link still works"
    );
    assert_eq!(
        join("jn_forged", "a good long password")
            .await
            .unwrap()
            .status(),
        400
    );
    let joined = join(&token, "a good long password").await.unwrap();
    assert_eq!(joined.status(), 200);
    assert_eq!(
        joined.json::<Value>().await.unwrap()["email"],
        "new@example.com"
    );
    assert_eq!(
        join(&token, "a good long password").await.unwrap().status(),
        400,
        "once"
    );
    let newcomer = server
        .sign_in_with("new@example.com", "a good long password")
        .await;
    let me = newcomer.get("/api/admin/me").expect(200).await;
    assert_eq!(me["roles"]["demo"], "agent");
    newcomer
        .get("/api/admin/projects/demo/conversations")
        .expect(200)
        .await;
    let left = owner.get(members).expect(200).await;
    assert_eq!(left["invitations"], json!([]), "the invitation is used up");

    // Someone with an account is told to sign in and accept: no link that sets a password.
    owner
        .put(
            members,
            json!({ "email": "bob@example.com", "role": "agent" }),
        )
        .expect(202)
        .await;
    let mail = smtp.at_least(2).await;
    assert_eq!(mail[1]["to"], json!(["bob@example.com"]));
    let body = mail[1]["body"].as_str().unwrap();
    assert!(
        body.contains("Sign in to accept") && !body.contains("#/join/"),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_digest_lists_the_questions_the_assistant_could_not_answer() {
    let smtp = Smtp::start().await;
    let url = smtp.url();
    let server = TestServer::start_with(move |config| {
        config.email.smtp_url = Some(url);
        // A digest every two seconds, so the test sees one go out.
        config.email.digest_every = Duration::from_secs(2);
        config.email.digest_hour_utc = 0;
    })
    .await;
    let owner = server.owner("olga@example.com").await;
    owner
        .patch("/api/admin/me", json!({ "emailNotifications": true }))
        .expect(200)
        .await;
    server.agent("sam@example.com").await;
    ask(&server, Uuid::new_v4(), None, "Qwzx flurble snorgle?").await;
    ask(&server, Uuid::new_v4(), None, "What is your return policy?").await;

    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let digest = loop {
        let found = smtp.mail().into_iter().find(|m| {
            m["subject"]
                .as_str()
                .is_some_and(|s| s.contains("unanswered question"))
        });
        if let Some(digest) = found {
            break digest;
        }
        let mail = smtp.mail();
        assert!(
            tokio::time::Instant::now() < deadline,
            "no digest came: {mail:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        digest["to"],
        json!(["olga@example.com"]),
        "only who opted in"
    );
    assert!(
        digest["subject"]
            .as_str()
            .unwrap()
            .starts_with("1 unanswered question on"),
        "{digest}"
    );
    let body = digest["body"].as_str().unwrap();
    assert!(body.contains("Qwzx flurble snorgle?"), "{body}");
    assert!(
        !body.contains("return policy"),
        "answered questions are not listed"
    );
    assert!(body.contains("/admin#/demo/inbox/"), "{body}");
}
