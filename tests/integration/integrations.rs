//! Stripe and Shopify webhooks into popups: connecting a project, payloads signed the way each
//! platform signs them (Stripe's own Node library; Shopify's documented base64 HMAC, computed
//! by openssl), and every refusal: a bad, stale or missing signature, a replay, a platform that
//! is not connected.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde_json::{Value, json};

use crate::support::{TestServer, client, expect_error};

const STRIPE_SECRET: &str = "whsec_test_0123456789abcdef";
const SHOPIFY_SECRET: &str = "shpss_test_fedcba9876543210";

fn run(command: &mut Command, input: &str) -> String {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|error| {
            panic!("{command:?} could not start: {error} (run ./scripts/test)")
        });
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

/// The `Stripe-Signature` header Stripe's library makes for `payload` at `timestamp`.
fn stripe_signature(secret: &str, timestamp: u64, payload: &str) -> String {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/node/stripe_sign.mjs");
    run(
        Command::new("node")
            .arg(script)
            .arg(secret)
            .arg(timestamp.to_string()),
        payload,
    )
}

/// Shopify's `X-Shopify-Hmac-Sha256`: base64 of the HMAC-SHA256 of the raw body.
fn shopify_hmac(secret: &str, payload: &str) -> String {
    let binary = {
        let mut command = Command::new("openssl");
        command.args(["dgst", "-sha256", "-hmac", secret, "-binary"]);
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(payload.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap().stdout
    };
    let mut base64 = Command::new("base64");
    base64.args(["-w", "0"]);
    let mut child = base64
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&binary).unwrap();
    String::from_utf8(child.wait_with_output().unwrap().stdout).unwrap()
}

fn now_s() -> u64 {
    helpyap_actors::time::now_ms() / 1000
}

fn checkout(id: &str) -> String {
    json!({
        "id": id, "object": "event", "type": "checkout.session.completed", "livemode": false,
        "data": {"object": {
            "id": format!("cs_{id}"), "object": "checkout.session", "mode": "payment",
            "payment_status": "paid",
            "customer_details": {"name": "Sarah Jane Kim", "email": "sarah@example.com",
                "address": {"city": "Austin", "state": "TX", "country": "US", "line1": "1 Main St"}},
            "metadata": {"product": "Pro Plan"}
        }}
    })
    .to_string()
}

async fn send_stripe(
    server: &TestServer,
    payload: &str,
    signature: Option<&str>,
) -> reqwest::Response {
    let mut request = client()
        .post(server.url("/api/integrations/stripe/demo"))
        .header("content-type", "application/json")
        .body(payload.to_owned());
    if let Some(signature) = signature {
        request = request.header("stripe-signature", signature);
    }
    request.send().await.unwrap()
}

async fn events(server: &TestServer) -> Vec<helpyap_actors::SocialProofEvent> {
    server
        .engine
        .projects
        .events_after("demo", 0)
        .await
        .unwrap()
}

#[tokio::test]
async fn stripe_checkouts_become_popups_once_and_only_when_signed() {
    let server = TestServer::start().await;
    let owner = server.owner("owner@example.com").await;
    // Not connected yet: 404, nothing stored.
    let payload = checkout("evt_1");
    let signature = stripe_signature(STRIPE_SECRET, now_s(), &payload);
    let message = expect_error(send_stripe(&server, &payload, Some(&signature)).await, 404).await;
    assert_eq!(message, "Stripe is not connected to this project");

    let connected = owner
        .put(
            "/api/admin/projects/demo/integrations/stripe",
            json!({ "secret": STRIPE_SECRET }),
        )
        .expect(200)
        .await;
    assert_eq!(connected["connected"], true);
    assert_eq!(connected["secretEnding"], "cdef");
    assert_eq!(connected["endpoint"], "/api/integrations/stripe/demo");
    let listed = owner
        .get("/api/admin/projects/demo/integrations")
        .expect(200)
        .await;
    assert!(
        !listed.to_string().contains(STRIPE_SECRET),
        "the secret is never shown back"
    );
    assert_eq!(listed["integrations"][1]["connected"], false, "{listed}");

    // Signed by Stripe's library: stored, with only what a popup shows of the buyer.
    let response = send_stripe(&server, &payload, Some(&signature)).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["received"], true);
    assert_eq!(body["id"], "1");
    let stored = events(&server).await;
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].name.as_deref(), Some("Sarah K."));
    assert_eq!(stored[0].location.as_deref(), Some("Austin, TX"));
    assert_eq!(stored[0].product.as_deref(), Some("Pro Plan"));
    assert!(!format!("{stored:?}").contains("sarah@example.com"));

    // Stripe retries (or someone replays) the same event: acknowledged, not stored again.
    let again = stripe_signature(STRIPE_SECRET, now_s(), &payload);
    let body: Value = send_stripe(&server, &payload, Some(&again))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body, json!({ "received": true, "duplicate": true }));

    // Refused with 401 and nothing stored: another secret, an old timestamp, no header, a
    // body changed after signing.
    let other = checkout("evt_2");
    let forged = stripe_signature("whsec_someone_else", now_s(), &other);
    let stale = stripe_signature(STRIPE_SECRET, now_s() - 600, &other);
    let signed = stripe_signature(STRIPE_SECRET, now_s(), &other);
    let tampered = other.replace("Pro Plan", "Free Plan");
    for (payload, header, needle) in [
        (&other, Some(forged.as_str()), "signature does not match"),
        (&other, Some(stale.as_str()), "more than 5 minutes"),
        (&other, None, "missing Stripe-Signature header"),
        (
            &other,
            Some("t=1,v0=abc"),
            "malformed Stripe-Signature header",
        ),
        (&tampered, Some(signed.as_str()), "signature does not match"),
    ] {
        let message = expect_error(send_stripe(&server, payload, header).await, 401).await;
        assert!(message.contains(needle), "{message}");
    }
    assert_eq!(events(&server).await.len(), 1);

    // A signed event that is not social proof is acknowledged and ignored; a signed body that
    // is not JSON is a 400.
    let refund =
        json!({"id": "evt_3", "type": "charge.refunded", "data": {"object": {}}}).to_string();
    let signature = stripe_signature(STRIPE_SECRET, now_s(), &refund);
    let body: Value = send_stripe(&server, &refund, Some(&signature))
        .await
        .json()
        .await
        .unwrap();
    assert!(
        body["ignored"]
            .as_str()
            .unwrap()
            .contains("charge.refunded"),
        "{body}"
    );
    let signature = stripe_signature(STRIPE_SECRET, now_s(), "not json");
    expect_error(
        send_stripe(&server, "not json", Some(&signature)).await,
        400,
    )
    .await;
    assert_eq!(events(&server).await.len(), 1);

    // Disconnected: its webhooks get 404 again.
    owner
        .delete("/api/admin/projects/demo/integrations/stripe")
        .expect(204)
        .await;
    let signature = stripe_signature(STRIPE_SECRET, now_s(), &other);
    expect_error(send_stripe(&server, &other, Some(&signature)).await, 404).await;
}

#[tokio::test]
async fn shopify_orders_become_popups_once_and_only_when_signed() {
    let server = TestServer::start().await;
    let owner = server.owner("owner@example.com").await;
    owner
        .put(
            "/api/admin/projects/demo/integrations/shopify",
            json!({ "secret": SHOPIFY_SECRET }),
        )
        .expect(200)
        .await;
    let order = json!({
        "id": 820982911946154508u64, "email": "jon@example.com",
        "customer": {"first_name": "Jon", "last_name": "Snow"},
        "shipping_address": {"city": "Ottawa", "province_code": "ON", "country_code": "CA"},
        "line_items": [{"title": "Camp Mug"}]
    })
    .to_string();
    let send = |payload: String, hmac: Option<String>, webhook_id: &str| {
        let mut request = client()
            .post(server.url("/api/integrations/shopify/demo"))
            .header("content-type", "application/json")
            .header("x-shopify-topic", "orders/create")
            .header("x-shopify-webhook-id", webhook_id)
            .body(payload);
        if let Some(hmac) = hmac {
            request = request.header("x-shopify-hmac-sha256", hmac);
        }
        request.send()
    };
    let hmac = shopify_hmac(SHOPIFY_SECRET, &order);
    let response = send(order.clone(), Some(hmac.clone()), "wh-1")
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let stored = events(&server).await;
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].name.as_deref(), Some("Jon S."));
    assert_eq!(stored[0].location.as_deref(), Some("Ottawa, ON"));
    assert_eq!(stored[0].product.as_deref(), Some("Camp Mug"));

    // The same webhook again: a duplicate. A wrong key, no header: 401.
    let body: Value = send(order.clone(), Some(hmac.clone()), "wh-1")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["duplicate"], true);
    let wrong = shopify_hmac("shpss_wrong", &order);
    let message = expect_error(send(order.clone(), Some(wrong), "wh-2").await.unwrap(), 401).await;
    assert_eq!(message, "signature does not match");
    let message = expect_error(send(order.clone(), None, "wh-2").await.unwrap(), 401).await;
    assert_eq!(message, "missing X-Shopify-Hmac-Sha256 header");
    assert_eq!(events(&server).await.len(), 1);
}

#[tokio::test]
async fn connecting_is_for_owners_with_a_real_secret() {
    let server = TestServer::start().await;
    let owner = server.owner("owner@example.com").await;
    let agent = server.agent("agent@example.com").await;
    agent
        .put(
            "/api/admin/projects/demo/integrations/stripe",
            json!({ "secret": STRIPE_SECRET }),
        )
        .expect(403)
        .await;
    agent
        .get("/api/admin/projects/demo/integrations")
        .expect(403)
        .await;
    for bad in [
        json!({ "secret": "" }),
        json!({ "secret": "has spaces in it" }),
        json!({ "secret": 5 }),
        json!({}),
    ] {
        owner
            .put("/api/admin/projects/demo/integrations/stripe", bad)
            .expect(400)
            .await;
    }
    owner
        .put(
            "/api/admin/projects/demo/integrations/paypal",
            json!({ "secret": STRIPE_SECRET }),
        )
        .expect(404)
        .await;
    // Unknown platforms and projects on the receiving side.
    for path in [
        "/api/integrations/paypal/demo",
        "/api/integrations/stripe/nope",
        "/api/integrations/stripe",
    ] {
        let response = client()
            .post(server.url(path))
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404, "{path}");
    }
}
