//! Signatures against values computed independently with openssl, and the payloads Stripe and
//! Shopify document, read into events.

use super::*;

const BODY: &[u8] = br#"{"id":"evt_1","type":"checkout.session.completed"}"#;
// printf '%s' '1700000000.{"id":"evt_1","type":"checkout.session.completed"}' \
//   | openssl dgst -sha256 -hmac whsec_test
const STRIPE_V1: &str = "749721cbedbfa4cc1aa6c9c2bec1edd93766a07906c9d9b3dbc7626e4e660caf";
// printf '%s' '{"id":"evt_1","type":"checkout.session.completed"}' \
//   | openssl dgst -sha256 -hmac shpss_test -binary | base64
const SHOPIFY_HMAC: &str = "K95NT0B4iCKUJt8eDOcdn1bICDa+SeQjVX/f8ddHWZE=";
const T: u64 = 1_700_000_000;

#[test]
fn stripe_signatures_are_checked_with_their_timestamp() {
    let header = format!("t={T},v1={STRIPE_V1}");
    assert_eq!(
        verify_stripe("whsec_test", Some(&header), BODY, T + 10),
        Ok(())
    );
    // Stripe sends one v1 per active secret while a secret is being rolled: any may match.
    let rolled = format!("t={T},v1={},v1={STRIPE_V1},v0=abc", "0".repeat(64));
    assert_eq!(verify_stripe("whsec_test", Some(&rolled), BODY, T), Ok(()));
    assert_eq!(
        verify_stripe("whsec_other", Some(&header), BODY, T),
        Err(SignatureError::Mismatch)
    );
    assert_eq!(
        verify_stripe("whsec_test", Some(&header), b"{}", T),
        Err(SignatureError::Mismatch),
        "another body"
    );
    assert_eq!(
        verify_stripe(
            "whsec_test",
            Some(&header),
            BODY,
            T + STRIPE_TOLERANCE_S + 1
        ),
        Err(SignatureError::Stale)
    );
    assert_eq!(
        verify_stripe(
            "whsec_test",
            Some(&header),
            BODY,
            T - STRIPE_TOLERANCE_S - 1
        ),
        Err(SignatureError::Stale),
        "from the future"
    );
    for bad in [
        "",
        "v1=abc",
        &format!("t=soon,v1={STRIPE_V1}"),
        &format!("t={T}"),
    ] {
        assert_eq!(
            verify_stripe("whsec_test", Some(bad), BODY, T),
            Err(SignatureError::Malformed("Stripe-Signature")),
            "{bad}"
        );
    }
    assert_eq!(
        verify_stripe("whsec_test", None, BODY, T),
        Err(SignatureError::Missing("Stripe-Signature"))
    );
}

#[test]
fn shopify_signatures_are_base64_hmacs_of_the_body() {
    assert_eq!(
        verify_shopify("shpss_test", Some(SHOPIFY_HMAC), BODY),
        Ok(())
    );
    assert_eq!(
        verify_shopify("shpss_other", Some(SHOPIFY_HMAC), BODY),
        Err(SignatureError::Mismatch)
    );
    assert_eq!(
        verify_shopify("shpss_test", Some(SHOPIFY_HMAC), b"{}"),
        Err(SignatureError::Mismatch)
    );
    assert_eq!(
        verify_shopify("shpss_test", Some("not base64!"), BODY),
        Err(SignatureError::Malformed("X-Shopify-Hmac-Sha256"))
    );
    assert_eq!(
        verify_shopify("shpss_test", None, BODY),
        Err(SignatureError::Missing("X-Shopify-Hmac-Sha256"))
    );
}

fn captured(capture: Capture) -> NewEvent {
    match capture {
        Capture::Event(event) => event,
        Capture::Ignored(reason) => panic!("ignored: {reason}"),
    }
}

#[test]
fn a_completed_checkout_is_a_purchase_with_only_what_a_popup_shows() {
    let body = serde_json::json!({
        "id": "evt_1Q", "object": "event", "type": "checkout.session.completed",
        "data": {"object": {
            "id": "cs_test_a1", "object": "checkout.session", "mode": "payment",
            "payment_status": "paid",
            "customer_details": {
                "name": "Sarah Jane Kim", "email": "sarah@example.com",
                "address": {"city": "Austin", "state": "TX", "country": "US", "line1": "1 Main St"}
            },
            "metadata": {"product": "Trail Jacket"}
        }}
    });
    let event = captured(stripe_capture(body.to_string().as_bytes()).unwrap());
    assert_eq!(event.kind, EventKind::Purchased);
    assert_eq!(event.name.as_deref(), Some("Sarah K."));
    assert_eq!(event.location.as_deref(), Some("Austin, TX"));
    assert_eq!(event.product.as_deref(), Some("Trail Jacket"));
    assert_eq!(event.source.as_deref(), Some("stripe:cs:cs_test_a1"));
    let stored = format!("{event:?}");
    assert!(!stored.contains("sarah@example.com") && !stored.contains("Main St"));

    // A subscription checkout, abroad, with no name and no product.
    let body = serde_json::json!({
        "id": "evt_2", "type": "checkout.session.completed",
        "data": {"object": {"id": "cs_2", "mode": "subscription", "subscription": "sub_9",
            "payment_status": "no_payment_required",
            "customer_details": {"name": null, "address": {"city": "Lyon", "state": null, "country": "FR"}}}}
    });
    let event = captured(stripe_capture(body.to_string().as_bytes()).unwrap());
    assert_eq!(event.kind, EventKind::Subscribed);
    assert_eq!((event.name, event.product), (None, None));
    assert_eq!(event.location.as_deref(), Some("Lyon, FR"));
    assert_eq!(
        event.source.as_deref(),
        Some("stripe:sub:sub_9"),
        "one subscription, one event"
    );

    // Paid later (a bank transfer): counted when the payment succeeds, once per session.
    let session = |kind: &str, status: &str| {
        serde_json::json!({"id": format!("evt_{kind}"), "type": kind, "data": {"object": {
            "id": "cs_3", "mode": "payment", "payment_status": status}}})
        .to_string()
    };
    let waiting = stripe_capture(session("checkout.session.completed", "unpaid").as_bytes());
    assert!(matches!(waiting, Ok(Capture::Ignored(_))), "{waiting:?}");
    let paid = session("checkout.session.async_payment_succeeded", "paid");
    let event = captured(stripe_capture(paid.as_bytes()).unwrap());
    assert_eq!(
        (event.kind, event.source.as_deref()),
        (EventKind::Purchased, Some("stripe:cs:cs_3"))
    );
    let setup = r#"{"id":"evt_s","type":"checkout.session.completed","data":{"object":{"id":"cs_4","mode":"setup"}}}"#;
    assert!(matches!(
        stripe_capture(setup.as_bytes()),
        Ok(Capture::Ignored(_))
    ));
}

#[test]
fn a_new_subscription_names_its_plan() {
    let body = serde_json::json!({
        "id": "evt_3", "type": "customer.subscription.created",
        "data": {"object": {"id": "sub_1", "customer": "cus_1",
            "items": {"data": [{"price": {"id": "price_1", "nickname": "Pro Plan", "product": "prod_1"}}]}}}
    });
    let event = captured(stripe_capture(body.to_string().as_bytes()).unwrap());
    assert_eq!(event.kind, EventKind::Subscribed);
    assert_eq!(event.product.as_deref(), Some("Pro Plan"));
    assert_eq!(event.name, None, "Stripe sends only the customer's id");
    assert_eq!(event.source.as_deref(), Some("stripe:sub:sub_1"));
}

#[test]
fn other_events_are_ignored_and_broken_ones_refused() {
    let refund = br#"{"id":"evt_4","type":"charge.refunded","data":{"object":{}}}"#;
    assert!(matches!(stripe_capture(refund), Ok(Capture::Ignored(_))));
    assert!(stripe_capture(b"[1,2]").is_err());
    assert!(stripe_capture(b"{not json").is_err());
    assert!(
        stripe_capture(br#"{"type":"checkout.session.completed"}"#).is_err(),
        "no id"
    );
    assert!(matches!(
        shopify_capture(Some("orders/paid"), Some("w1"), b"{}"),
        Ok(Capture::Ignored(_))
    ));
    assert!(shopify_capture(None, Some("w1"), b"{}").is_err());
}

#[test]
fn a_shopify_order_is_a_purchase_of_its_first_item() {
    let order = serde_json::json!({
        "id": 820982911946154508u64, "email": "jon@example.com",
        "customer": {"id": 1, "first_name": "Jon", "last_name": "Snow", "email": "jon@example.com"},
        "shipping_address": {"city": "Ottawa", "province": "Ontario", "province_code": "ON", "country_code": "CA",
            "address1": "123 Amoebobacterinae Ave"},
        "line_items": [{"title": "Camp Mug", "quantity": 1}, {"title": "Trail Jacket"}, {"title": "Socks"}]
    });
    let body = order.to_string();
    let event = captured(
        shopify_capture(Some("orders/create"), Some("b54557e4"), body.as_bytes()).unwrap(),
    );
    assert_eq!(event.kind, EventKind::Purchased);
    assert_eq!(event.name.as_deref(), Some("Jon S."));
    assert_eq!(event.location.as_deref(), Some("Ottawa, ON"));
    assert_eq!(event.product.as_deref(), Some("Camp Mug and 2 more"));
    assert_eq!(
        event.source.as_deref(),
        Some("shopify:order:820982911946154508"),
        "the signed order id, not the unsigned webhook id"
    );
    // Without an order id, the webhook's (bounded).
    let bare = br#"{"line_items":[]}"#;
    let event = captured(shopify_capture(Some("orders/create"), Some("w-1"), bare).unwrap());
    assert_eq!(event.source.as_deref(), Some("shopify:webhook:w-1"));
    let long = "x".repeat(300);
    assert!(shopify_capture(Some("orders/create"), Some(&long), bare).is_err());
    assert!(shopify_capture(Some("orders/create"), None, bare).is_err());
}

#[test]
fn secrets_are_trimmed_and_bounded() {
    assert_eq!(check_secret("  whsec_abc \n"), Ok("whsec_abc".into()));
    assert!(check_secret("").is_err());
    assert!(check_secret("has space").is_err());
    assert!(check_secret(&"x".repeat(SECRET_MAX_CHARS + 1)).is_err());
    let integration = Integration {
        secret: "whsec_abcdef".into(),
        connected_at_ms: 0,
    };
    assert_eq!(integration.secret_ending(), "cdef");
}
