//! Signed webhooks, through the real server in both modes, to a real receiver
//! (`tests/webhook/receiver.py`, Python's own HTTP server and `hmac`) that checks every
//! signature the way README tells integrators to: what happens in a project reaches it, signed;
//! a delivery that fails is tried again under the same delivery id; owners read the log,
//! redeliver, rotate the secret; a webhook that keeps failing is turned off; and a delivery
//! waiting when the process is `kill -9`ed goes out after the restart.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

use helpyap::config::Config;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::chat::ask;
use helpyap::config::DEFAULT_CONFIG_TOML;

use crate::support::{Binary, Caller, DEMO_SECRET, TestServer, client, push};

const HOOKS: &str = "/api/admin/projects/demo/webhooks";

/// The receiver, its folder (secret, fail count, log) and its address.
pub struct Receiver {
    child: Child,
    dir: tempfile::TempDir,
    pub url: String,
}

impl Receiver {
    /// A receiver on `port` (0: any) that answers 500 to its first `fail` requests.
    pub async fn start(port: u16, fail: usize) -> Receiver {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("fail"), fail.to_string()).unwrap();
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/webhook/receiver.py");
        let child = Command::new("python3")
            .arg(script)
            .arg(port.to_string())
            .arg(dir.path())
            .spawn()
            .expect("python3 runs the test receiver");
        let port_file = dir.path().join("port");
        let port = eventually("the receiver listens", || async {
            std::fs::read_to_string(&port_file).ok()
        })
        .await;
        Receiver {
            child,
            url: format!("http://127.0.0.1:{port}/hooks"),
            dir,
        }
    }

    /// Answers 500 to the next `count` requests (0: none).
    pub fn fail_next(&self, count: usize) {
        std::fs::write(self.dir.path().join("fail"), count.to_string()).unwrap();
    }

    pub fn trust(&self, secret: &str) {
        std::fs::write(self.dir.path().join("secret"), secret).unwrap();
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Value> {
        std::fs::read_to_string(self.dir.path().join("log"))
            .unwrap_or_default()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }

    /// The requests so far, once there are at least `count`.
    pub async fn at_least(&self, count: usize) -> Vec<Value> {
        eventually(&format!("{count} requests at the receiver"), || async {
            let requests = self.requests();
            (requests.len() >= count).then_some(requests)
        })
        .await
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What `check` finds, once it finds something; fails the test after 20 s.
async fn eventually<T, F: Future<Output = Option<T>>>(what: &str, check: impl Fn() -> F) -> T {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(found) = check().await {
            return found;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "waited in vain for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Quick retries, receivers on loopback.
pub(crate) fn quick(config: &mut Config) {
    config.webhooks.private_networks = true;
    config.webhooks.retry_base = Duration::from_millis(50);
    config.webhooks.poll_interval = Duration::from_millis(50);
}

/// The webhook `owner` makes for `url` hearing `events`; the receiver is told its secret.
pub(crate) async fn hook(owner: &Caller, receiver: &Receiver, events: Value) -> Value {
    let made = owner
        .post(HOOKS, json!({ "url": receiver.url, "events": events }))
        .expect(201)
        .await;
    receiver.trust(made["secret"].as_str().unwrap());
    made
}

#[tokio::test(flavor = "multi_thread")]
async fn what_happens_reaches_the_receiver_signed_and_retries_keep_the_delivery_id() {
    let server = TestServer::start_with(quick).await;
    let owner = server.owner("olga@example.com").await;
    let agent = server.agent("sam@example.com").await;
    let receiver = Receiver::start(0, 2).await;

    // Bad requests make nothing.
    for body in [
        json!({ "url": "ftp://example.com/x", "events": ["lead.created"] }),
        json!({ "url": "not a url", "events": ["lead.created"] }),
        json!({ "url": receiver.url, "events": [] }),
        json!({ "url": receiver.url, "events": ["lead.deleted"] }),
        json!({ "url": receiver.url }),
    ] {
        owner.post(HOOKS, body).expect_error(400).await;
    }
    let body = json!({ "url": receiver.url, "events": ["lead.created"] });
    agent.post(HOOKS, body).expect_error(403).await;

    let all = json!([
        "conversation.created",
        "message.created",
        "conversation.status_changed",
        "lead.created",
        "feedback.created",
        "socialproof.pushed"
    ]);
    let made = hook(&owner, &receiver, all).await;
    assert!(made["secret"].as_str().unwrap().starts_with("whsec_"));
    assert_eq!(made["enabled"], true);
    let listed = owner.get(HOOKS).expect(200).await;
    assert_eq!(listed["webhooks"][0]["id"], made["id"]);
    assert!(
        !listed.to_string().contains("whsec_"),
        "a secret is shown once"
    );

    // The receiver fails twice, then takes it: the same delivery id all three times.
    let pushed = push(
        &server,
        DEMO_SECRET,
        json!({ "project": "demo", "type": "purchased", "name": "Sarah K." }),
    )
    .await;
    assert_eq!(pushed.status(), 201);
    let requests = receiver.at_least(3).await;
    let answered: Vec<_> = requests
        .iter()
        .map(|r| r["answered"].as_u64().unwrap())
        .collect();
    assert_eq!(answered, [500, 500, 204]);
    let delivery = requests[0]["delivery"].as_str().unwrap().to_owned();
    for request in &requests {
        assert_eq!(request["delivery"], delivery.as_str());
        assert_eq!(
            request["id"],
            delivery.as_str(),
            "the body's id is the delivery id"
        );
        assert_eq!(
            (request["type"].as_str(), request["eventHeader"].as_str()),
            (Some("socialproof.pushed"), Some("socialproof.pushed"))
        );
        assert_eq!(request["verified"], true, "{request}");
        assert_eq!(request["data"]["name"], "Sarah K.");
    }
    let id = made["id"].as_str().unwrap();
    let log = owner
        .get(&format!("{HOOKS}/{id}/deliveries"))
        .expect(200)
        .await;
    let statuses: Vec<_> = log["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, [204, 500, 500], "newest first");
    assert_eq!(log["deliveries"][0]["attempt"], 3);
    assert_eq!(log["deliveries"][0]["deliveryId"], delivery.as_str());

    // A conversation, a lead and a rating: each reported, in order, signed.
    let session = Uuid::new_v4();
    let first = ask(&server, session, None, "What is your return policy?").await;
    let token = first.token.clone().unwrap();
    let lead = client().post(server.url("/api/widget/lead")).json(&json!({
        "projectSlug": "demo", "sessionId": session, "sessionToken": token, "email": "vera@example.com",
    }));
    assert_eq!(lead.send().await.unwrap().status(), 201);
    let rating = client()
        .post(server.url("/api/widget/feedback"))
        .json(&json!({
            "projectSlug": "demo", "sessionId": session, "sessionToken": token,
            "messageId": format!("{session}-2"), "rating": "up",
        }));
    assert!(rating.send().await.unwrap().status().is_success());
    let requests = receiver.at_least(3 + 6).await;
    let mut kinds: Vec<_> = requests[3..]
        .iter()
        .map(|r| r["type"].as_str().unwrap().to_owned())
        .collect();
    kinds.sort();
    assert_eq!(
        kinds,
        [
            "conversation.created",
            "conversation.status_changed",
            "feedback.created",
            "lead.created",
            "message.created",
            "message.created"
        ]
    );
    assert!(
        requests
            .iter()
            .all(|r| r["verified"] == true && r["project"] == "demo")
    );
    let said = |kind: &str| requests.iter().find(|r| r["type"] == kind).unwrap()["data"].clone();
    assert_eq!(said("lead.created")["email"], "vera@example.com");
    assert_eq!(said("conversation.status_changed")["status"], "waiting");
    assert_eq!(said("feedback.created")["rating"], "up");
    assert_eq!(
        said("conversation.created")["conversationId"],
        session.to_string()
    );

    // Redelivered: the same delivery, once more.
    let again = format!("{HOOKS}/{id}/deliveries/{delivery}/redeliver");
    owner.post(&again, None).expect(202).await;
    let requests = receiver.at_least(10).await;
    assert_eq!(requests[9]["delivery"], delivery.as_str());
    owner
        .post(
            &format!("{HOOKS}/{id}/deliveries/{}/redeliver", Uuid::new_v4()),
            None,
        )
        .expect_error(404)
        .await;

    // A rotated secret signs what comes next; the old one no longer verifies it.
    let rotated = owner
        .post(&format!("{HOOKS}/{id}/secret"), None)
        .expect(200)
        .await;
    let new_secret = rotated["secret"].as_str().unwrap();
    assert_ne!(new_secret, made["secret"].as_str().unwrap());
    push(
        &server,
        DEMO_SECRET,
        json!({ "project": "demo", "type": "signed_up", "name": "Ann" }),
    )
    .await;
    let requests = receiver.at_least(11).await;
    assert_eq!(
        requests[10]["verified"], false,
        "signed with the new secret, checked with the old"
    );
    receiver.trust(new_secret);
    owner
        .post(
            &format!(
                "{HOOKS}/{}/deliveries/{}/redeliver",
                id,
                requests[10]["delivery"].as_str().unwrap()
            ),
            None,
        )
        .expect(202)
        .await;
    let requests = receiver.at_least(12).await;
    assert!(
        requests[11..]
            .iter()
            .any(|r| r["verified"] == true && r["type"] == "socialproof.pushed")
    );

    // Turned off, it hears nothing more; deleted, it is gone.
    let off = owner
        .patch(&format!("{HOOKS}/{id}"), json!({ "enabled": false }))
        .expect(200)
        .await;
    assert_eq!(off["enabled"], false);
    owner.delete(&format!("{HOOKS}/{id}")).expect(204).await;
    owner
        .delete(&format!("{HOOKS}/{id}"))
        .expect_error(404)
        .await;
    assert_eq!(owner.get(HOOKS).expect(200).await["webhooks"], json!([]));
}

#[tokio::test]
async fn private_addresses_are_refused_unless_allowed() {
    let server = TestServer::start().await;
    let owner = server.owner("olga@example.com").await;
    for url in [
        "http://127.0.0.1:9/x",
        "http://10.1.2.3/x",
        "http://[::1]/x",
        "http://169.254.169.254/latest",
    ] {
        let body = json!({ "url": url, "events": ["lead.created"] });
        let error = owner.post(HOOKS, body).expect_error(400).await;
        assert!(error.contains("not a public address"), "{url}: {error}");
    }
    let body = json!({ "url": "https://hooks.example.com/in", "events": ["lead.created"] });
    owner.post(HOOKS, body).expect(201).await;
}

#[tokio::test]
async fn a_webhook_that_keeps_failing_is_turned_off_and_its_owners_are_emailed() {
    let smtp = crate::email::Smtp::start().await;
    let url = smtp.url();
    let server = TestServer::start_with(move |config| {
        quick(config);
        config.webhooks.give_up_after = Duration::from_millis(300);
        config.email.smtp_url = Some(url);
    })
    .await;
    let owner = server.owner("olga@example.com").await;
    server.agent("sam@example.com").await;
    let receiver = Receiver::start(0, 1_000_000).await;
    hook(&owner, &receiver, json!(["socialproof.pushed"])).await;
    push(
        &server,
        DEMO_SECRET,
        json!({ "project": "demo", "type": "purchased", "name": "Sarah K." }),
    )
    .await;
    let off = eventually("the webhook turned off", || async {
        let listed = owner.get(HOOKS).expect(200).await;
        let webhook = listed["webhooks"][0].clone();
        (webhook["enabled"] == false).then_some(webhook)
    })
    .await;
    assert!(
        off["disabledReason"].as_str().unwrap().contains("500"),
        "{off}"
    );
    assert!(
        receiver.requests().len() >= 2,
        "it was tried again before giving up"
    );
    let mail = smtp.at_least(1).await;
    assert_eq!(
        mail[0]["to"],
        json!(["olga@example.com"]),
        "the owner, not the agent"
    );
    assert_eq!(mail[0]["subject"], "A webhook of demo was turned off");
    let body = mail[0]["body"].as_str().unwrap();
    assert!(
        body.contains(&receiver.url) && body.contains("500"),
        "{body}"
    );
}

/// Turned off by hand while a delivery is being retried, then on again: the delivery is not
/// lost; it goes out.
#[tokio::test]
async fn a_webhook_turned_off_and_on_again_sends_what_waited() {
    let server = TestServer::start_with(quick).await;
    let owner = server.owner("olga@example.com").await;
    let receiver = Receiver::start(0, 1_000_000).await;
    let made = hook(&owner, &receiver, json!(["socialproof.pushed"])).await;
    let path = format!("{HOOKS}/{}", made["id"].as_str().unwrap());
    let body = json!({ "project": "demo", "type": "purchased", "name": "Waiting" });
    push(&server, DEMO_SECRET, body).await;
    receiver.at_least(1).await;
    owner
        .patch(&path, json!({ "enabled": false }))
        .expect(200)
        .await;
    receiver.fail_next(0);
    let on = owner
        .patch(&path, json!({ "enabled": true }))
        .expect(200)
        .await;
    assert_eq!(on["disabledReason"], Value::Null);
    let delivered = eventually("the waiting delivery sent", || async {
        let requests = receiver.requests();
        requests.into_iter().find(|r| r["answered"] == 204)
    })
    .await;
    assert_eq!(delivered["data"]["name"], "Waiting");
}

/// `kill -9` right after an event is acknowledged, with the receiver down: after the restart
/// the delivery goes out (the outbox was written with the event).
#[tokio::test]
async fn a_delivery_waiting_at_kill_9_goes_out_after_the_restart() {
    let dir = tempfile::tempdir().unwrap();
    let config = DEFAULT_CONFIG_TOML
        .replace("\nprivate_networks = false", "\nprivate_networks = true")
        .replace("retry_base = \"10s\"", "retry_base = \"100ms\"")
        .replace("poll_interval = \"500ms\"", "poll_interval = \"50ms\"")
        // A delivery the killed node had claimed but not settled waits out its lease (three
        // timeouts) before the restarted node sends it: keep that well inside the wait.
        .replace("\ntimeout = \"10s\"", "\ntimeout = \"1s\"");
    assert!(
        config.contains("\ntimeout = \"1s\""),
        "the [webhooks] timeout is set"
    );
    std::fs::write(dir.path().join("config.toml"), config).unwrap();
    let start = |dir: &Path| {
        Binary::start(
            dir,
            &["serve", "--bind", "127.0.0.1:0", "--data-dir", "store"],
            &[
                ("HELPYAP_ADMIN_EMAIL", "owner@example.com"),
                ("HELPYAP_ADMIN_PASSWORD", crate::support::PASSWORD),
                ("HELPYAP_JWT_SECRET", "a-test-secret-of-32-characters-xx"),
            ],
        )
    };
    let node = start(dir.path());
    let login = client()
        .post(node.url("/api/admin/auth/login"))
        .json(&json!({ "email": "owner@example.com", "password": crate::support::PASSWORD }));
    let tokens: Value = login.send().await.unwrap().json().await.unwrap();
    let owner = Caller::new(&node.url(""), tokens["accessToken"].as_str().unwrap());
    // Nothing listens on the receiver's port yet.
    let port = helpyap_actors::testing::free_port();
    let url = format!("http://127.0.0.1:{port}/hooks");
    let made = owner
        .post(
            HOOKS,
            json!({ "url": url, "events": ["socialproof.pushed"] }),
        )
        .expect(201)
        .await;
    let pushed = node
        .push_demo(json!({ "project": "demo", "type": "purchased", "name": "Kim" }))
        .await;
    assert!(pushed["id"].is_string(), "{pushed}");
    node.kill_9();

    let receiver = Receiver::start(port, 0).await;
    receiver.trust(made["secret"].as_str().unwrap());
    let _node = start(dir.path());
    let requests = receiver.at_least(1).await;
    assert_eq!(requests[0]["type"], "socialproof.pushed");
    assert_eq!(requests[0]["data"]["name"], "Kim");
    assert_eq!(requests[0]["verified"], true);
}
