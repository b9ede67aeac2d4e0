//! Capture without code: webhooks from Stripe and Shopify turned into social-proof events.
//!
//! Owns checking each platform's signature (Stripe's `Stripe-Signature: t=…,v1=…`, an
//! HMAC-SHA256 of `"{t}.{body}"` in hex, within a five-minute tolerance; Shopify's
//! `X-Shopify-Hmac-Sha256`, the base64 HMAC-SHA256 of the body) and reading their payloads: a
//! completed Stripe Checkout, a new Stripe subscription and a Shopify order become purchased or
//! subscribed events with the buyer's first name and last initial, city and region, and product.
//! Every event carries what it reports as its `source` (a Checkout session, a subscription, an
//! order, from the signed body), so a retried or replayed webhook — or a second event about the
//! same purchase — is stored once. It never stores, delivers or logs anything: the project actor
//! stores, the edge answers.

use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::social_proof::{EventKind, LOCATION_MAX_CHARS, NameFormat, NewEvent, PRODUCT_MAX_CHARS};

/// How far a Stripe signature's timestamp may be from now, in seconds (Stripe's libraries'
/// default).
pub const STRIPE_TOLERANCE_S: u64 = 300;
/// The longest signing secret accepted.
pub const SECRET_MAX_CHARS: usize = 200;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    Stripe,
    Shopify,
}

impl Platform {
    pub const ALL: [Platform; 2] = [Platform::Stripe, Platform::Shopify];

    /// Its name in paths: `stripe`, `shopify`.
    pub fn name(self) -> &'static str {
        match self {
            Platform::Stripe => "stripe",
            Platform::Shopify => "shopify",
        }
    }

    pub fn parse(name: &str) -> Option<Platform> {
        Platform::ALL
            .into_iter()
            .find(|platform| platform.name() == name)
    }

    /// Its name for people.
    pub fn title(self) -> &'static str {
        match self {
            Platform::Stripe => "Stripe",
            Platform::Shopify => "Shopify",
        }
    }
}

/// A project's connection to one platform: the secret its webhooks are signed with. Kept as
/// it is (checking a signature needs it), never shown back whole.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Integration {
    pub secret: String,
    pub connected_at_ms: u64,
}

impl Integration {
    /// The secret's last four characters, to tell which one is set.
    pub fn secret_ending(&self) -> String {
        let chars: Vec<char> = self.secret.chars().collect();
        chars[chars.len().saturating_sub(4)..].iter().collect()
    }
}

/// A project's connected platforms.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Integrations {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stripe: Option<Integration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shopify: Option<Integration>,
}

impl Integrations {
    pub fn get(&self, platform: Platform) -> Option<&Integration> {
        match platform {
            Platform::Stripe => self.stripe.as_ref(),
            Platform::Shopify => self.shopify.as_ref(),
        }
    }

    pub fn set(&mut self, platform: Platform, integration: Option<Integration>) {
        match platform {
            Platform::Stripe => self.stripe = integration,
            Platform::Shopify => self.shopify = integration,
        }
    }
}

/// A signing secret as an owner pasted it: trimmed, printable ASCII, at most
/// [`SECRET_MAX_CHARS`].
pub fn check_secret(secret: &str) -> Result<String, &'static str> {
    let secret = secret.trim();
    if secret.is_empty()
        || secret.len() > SECRET_MAX_CHARS
        || !secret.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(
            "secret must be the signing secret the platform shows (printable, at most 200 characters)",
        );
    }
    Ok(secret.to_owned())
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("missing {0} header")]
    Missing(&'static str),
    #[error("malformed {0} header")]
    Malformed(&'static str),
    #[error("signature timestamp is more than 5 minutes from now")]
    Stale,
    #[error("signature does not match")]
    Mismatch,
}

/// Checks a `Stripe-Signature` header (`t=…,v1=…[,v1=…]`) against `body`, at `now_s`.
pub fn verify_stripe(
    secret: &str,
    header: Option<&str>,
    body: &[u8],
    now_s: u64,
) -> Result<(), SignatureError> {
    const NAME: &str = "Stripe-Signature";
    let header = header.ok_or(SignatureError::Missing(NAME))?;
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for item in header.split(',') {
        match item.trim().split_once('=') {
            Some(("t", value)) => timestamp = value.parse::<u64>().ok(),
            Some(("v1", value)) => signatures.push(value),
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::Malformed(NAME))?;
    if signatures.is_empty() {
        return Err(SignatureError::Malformed(NAME));
    }
    let expected = crate::webhook::signature_hex(secret, timestamp, body);
    let matches = signatures
        .iter()
        .any(|signature| bool::from(signature.as_bytes().ct_eq(expected.as_bytes())));
    if !matches {
        return Err(SignatureError::Mismatch);
    }
    // Checked after the signature, so a forged request learns nothing from the answer.
    if now_s.abs_diff(timestamp) > STRIPE_TOLERANCE_S {
        return Err(SignatureError::Stale);
    }
    Ok(())
}

/// Checks an `X-Shopify-Hmac-Sha256` header (base64) against `body`.
pub fn verify_shopify(
    secret: &str,
    header: Option<&str>,
    body: &[u8],
) -> Result<(), SignatureError> {
    const NAME: &str = "X-Shopify-Hmac-Sha256";
    let header = header.ok_or(SignatureError::Missing(NAME))?;
    let signature = base64::engine::general_purpose::STANDARD
        .decode(header.trim())
        .map_err(|_| SignatureError::Malformed(NAME))?;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(body);
    mac.verify_slice(&signature)
        .map_err(|_| SignatureError::Mismatch)
}

/// What a verified webhook means for the project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Capture {
    /// An event to store (once per `source`).
    Event(NewEvent),
    /// A webhook of a kind that is not social proof; the reason says which.
    Ignored(String),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BadPayload(pub String);

/// A Stripe event: a paid Checkout (`checkout.session.completed`, or
/// `checkout.session.async_payment_succeeded` when the payment method settles later) is a
/// purchase, or a subscription for a subscription Checkout; `customer.subscription.created` is a
/// subscription. Each counts once per session or subscription, whichever of its events comes
/// first (a subscription Checkout sends both kinds). Stripe does not send a Checkout's line
/// items with it: the product is the session's `metadata.product`, when the owner set one.
pub fn stripe_capture(body: &[u8]) -> Result<Capture, BadPayload> {
    let event: Value = parse(body)?;
    text(&event["id"]).ok_or_else(|| BadPayload("the event has no id".into()))?;
    let kind = text(&event["type"]).unwrap_or_default();
    let object = &event["data"]["object"];
    let object_id = |prefix: &str, id: Option<&str>| -> Result<Option<String>, BadPayload> {
        let id = id.ok_or_else(|| BadPayload(format!("the {kind} event has no object id")))?;
        Ok(Some(source_id(&format!("stripe:{prefix}"), id)?))
    };
    let event = match kind {
        "checkout.session.completed" | "checkout.session.async_payment_succeeded" => {
            let customer = &object["customer_details"];
            let address = &customer["address"];
            let mode = text(&object["mode"]).unwrap_or("payment");
            let subscription = mode == "subscription";
            if mode == "setup" {
                return Ok(Capture::Ignored("a setup Checkout buys nothing".into()));
            }
            if !subscription && text(&object["payment_status"]) != Some("paid") {
                return Ok(Capture::Ignored(
                    "not paid yet: counted when checkout.session.async_payment_succeeded comes"
                        .into(),
                ));
            }
            let source = if subscription {
                object_id(
                    "sub:",
                    text(&object["subscription"]).or(text(&object["id"])),
                )?
            } else {
                object_id("cs:", text(&object["id"]))?
            };
            NewEvent {
                kind: if subscription {
                    EventKind::Subscribed
                } else {
                    EventKind::Purchased
                },
                name: text(&customer["name"]).and_then(first_name_and_initial),
                location: place(&[
                    text(&address["city"]),
                    text(&address["state"]),
                    text(&address["country"]),
                ]),
                product: text(&object["metadata"]["product"])
                    .map(|product| cut(product, PRODUCT_MAX_CHARS)),
                message: None,
                url: None,
                image_url: None,
                source,
            }
        }
        "customer.subscription.created" => {
            let source = object_id("sub:", text(&object["id"]))?;
            let price = &object["items"]["data"][0]["price"];
            let product = text(&object["metadata"]["product"])
                .or_else(|| text(&price["nickname"]))
                .or_else(|| text(&price["product"]["name"]))
                .or_else(|| text(&object["items"]["data"][0]["plan"]["nickname"]));
            NewEvent {
                kind: EventKind::Subscribed,
                name: text(&object["metadata"]["customer_name"]).and_then(first_name_and_initial),
                location: None,
                product: product.map(|product| cut(product, PRODUCT_MAX_CHARS)),
                message: None,
                url: None,
                image_url: None,
                source,
            }
        }
        other => {
            return Ok(Capture::Ignored(format!(
                "Stripe event type {other:?} is not social proof"
            )));
        }
    };
    Ok(Capture::Event(event))
}

/// A Shopify webhook of `topic` (`X-Shopify-Topic`) with id `webhook_id`
/// (`X-Shopify-Webhook-Id`): `orders/create` is a purchase of its first line item ("and 2
/// more" when there are more).
pub fn shopify_capture(
    topic: Option<&str>,
    webhook_id: Option<&str>,
    body: &[u8],
) -> Result<Capture, BadPayload> {
    let topic = topic.ok_or_else(|| BadPayload("missing X-Shopify-Topic header".into()))?;
    if topic != "orders/create" {
        return Ok(Capture::Ignored(format!(
            "Shopify topic {topic:?} is not social proof"
        )));
    }
    let order: Value = parse(body)?;
    // The signed order id first: a replayed body is the same order, whatever headers come with
    // it (the webhook id is not signed).
    let source = match (order["id"].as_u64(), webhook_id) {
        (Some(order), _) => format!("shopify:order:{order}"),
        (None, Some(webhook)) => source_id("shopify:webhook:", webhook)?,
        (None, None) => return Err(BadPayload("the order has no id".into())),
    };
    let customer = &order["customer"];
    let address = if order["shipping_address"].is_object() {
        &order["shipping_address"]
    } else {
        &order["billing_address"]
    };
    let name = [text(&customer["first_name"]), text(&customer["last_name"])]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    let items = order["line_items"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let product = items
        .first()
        .and_then(|item| text(&item["title"]))
        .map(|title| match items.len() {
            0 | 1 => cut(title, PRODUCT_MAX_CHARS),
            n => cut(&format!("{title} and {} more", n - 1), PRODUCT_MAX_CHARS),
        });
    Ok(Capture::Event(NewEvent {
        kind: EventKind::Purchased,
        name: first_name_and_initial(&name),
        location: place(&[
            text(&address["city"]),
            text(&address["province_code"]).or_else(|| text(&address["province"])),
            text(&address["country_code"]),
        ]),
        product,
        message: None,
        url: None,
        image_url: None,
        source: Some(source),
    }))
}

/// Longest platform id kept as a source.
const SOURCE_ID_MAX: usize = 255;

/// `prefix` and `id`, when `id` is a platform's id: printable ASCII, at most [`SOURCE_ID_MAX`].
fn source_id(prefix: &str, id: &str) -> Result<String, BadPayload> {
    if id.is_empty() || id.len() > SOURCE_ID_MAX || !id.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(BadPayload(format!("{id:?} is not an id")));
    }
    Ok(format!("{prefix}{id}"))
}

fn parse(body: &[u8]) -> Result<Value, BadPayload> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|error| BadPayload(format!("Invalid JSON body: {error}")))?;
    if !value.is_object() {
        return Err(BadPayload("expected a JSON object".into()));
    }
    Ok(value)
}

/// A non-empty string field without control characters.
fn text(value: &Value) -> Option<&str> {
    value
        .as_str()
        .map(str::trim)
        .filter(|text| !text.is_empty() && !text.chars().any(char::is_control))
}

/// Only what a popup shows of a buyer: "Sarah K.". Nothing more is stored.
fn first_name_and_initial(name: &str) -> Option<String> {
    NameFormat::FirstInitial
        .show(name)
        .map(|name| cut(&name, crate::social_proof::NAME_MAX_CHARS))
}

/// "Austin, TX": the city and region (or the country when there is no region).
fn place(parts: &[Option<&str>; 3]) -> Option<String> {
    let [city, region, country] = *parts;
    let place = [city, region.or(country)]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(", ");
    (!place.is_empty()).then(|| cut(&place, LOCATION_MAX_CHARS))
}

fn cut(text: &str, max_chars: usize) -> String {
    text.chars().take(max_chars).collect()
}

#[cfg(test)]
#[path = "integrations/tests.rs"]
mod tests;
