//! `POST /api/integrations/{stripe|shopify}/{slug}`: webhooks from a project's Stripe account or
//! Shopify store, turned into social-proof events without the owner writing code.
//!
//! Checks in this order, each with its own status: the project exists and has the platform
//! connected (404), the signature header matches the raw body with the project's signing
//! secret (401; a Stripe timestamp more than five minutes off is 401 too), the payload is a
//! JSON object (400). Then: an event that is not social proof (a refund…) is 200
//! `{"received": true, "ignored": "…"}`; a webhook id seen before (a retry, a replay) is 200
//! `{"received": true, "duplicate": true}` with nothing stored; a new one is 200
//! `{"received": true, "id": "N"}` once it is durable. Platforms retry anything but a 2xx: a
//! signed body we cannot read (400) is retried and then given up by the platform, and a fault
//! of ours (5xx) is retried until it is stored.

use crate::json::RequestBody;
use helpyap_actors::integrations::{self, Capture, Platform};
use helpyap_actors::time::now_ms;
use hyper::{Request, StatusCode};
use serde::Serialize;

use crate::error::ApiError;
use crate::json::{Body, BodyLimits, Response, json_response, read_body};
use crate::router::AppState;

/// Webhook payloads up to this size are read (a big Shopify order is a few hundred KiB).
pub const BODY_MAX_BYTES: usize = 1024 * 1024;

#[derive(Serialize, utoipa::ToSchema)]
pub struct Received {
    received: bool,
    /// The stored event's id.
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<String>,
    /// Why nothing was stored: the event is not social proof.
    #[serde(skip_serializing_if = "Option::is_none")]
    ignored: Option<String>,
    /// This webhook was received before; nothing was stored again.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    duplicate: bool,
}

#[utoipa::path(
    post, path = "/api/integrations/{platform}/{slug}", tag = "social proof",
    params(
        ("platform" = Platform, Path, description = "`stripe` or `shopify`"),
        ("slug" = String, Path, example = "demo", description = "The project's slug"),
        ("Stripe-Signature" = Option<String>, Header, description = "Stripe's `t=…,v1=…` signature"),
        ("X-Shopify-Hmac-Sha256" = Option<String>, Header, description = "Shopify's base64 HMAC of the body"),
        ("X-Shopify-Topic" = Option<String>, Header, description = "Shopify's topic, e.g. `orders/create`"),
        ("X-Shopify-Webhook-Id" = Option<String>, Header, description = "Shopify's id of this webhook")
    ),
    request_body(content = serde_json::Value, description = "The platform's event, as it sent it"),
    responses((status = 200, description = "Received: stored, ignored or a duplicate", body = Received))
)]
pub async fn post(
    state: &AppState,
    request: Request<RequestBody>,
    platform: Platform,
    slug: &str,
) -> Result<Response<Body>, ApiError> {
    let snapshot = state.engine.projects.snapshot(slug).await?;
    let secret = snapshot
        .integrations
        .get(platform)
        .map(|integration| integration.secret.clone())
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "{} is not connected to this project",
                platform.title()
            ))
        })?;
    let headers = request.headers().clone();
    let limits = BodyLimits {
        max_bytes: BODY_MAX_BYTES,
        ..state.body_limits()
    };
    let body = read_body(request, limits).await?;
    let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    let capture = match platform {
        Platform::Stripe => {
            integrations::verify_stripe(
                &secret,
                header("stripe-signature"),
                &body,
                now_ms() / 1000,
            )
            .map_err(|error| ApiError::unauthorized(error.to_string()))?;
            integrations::stripe_capture(&body)
        }
        Platform::Shopify => {
            integrations::verify_shopify(&secret, header("x-shopify-hmac-sha256"), &body)
                .map_err(|error| ApiError::unauthorized(error.to_string()))?;
            integrations::shopify_capture(
                header("x-shopify-topic"),
                header("x-shopify-webhook-id"),
                &body,
            )
        }
    }
    .map_err(|error| ApiError::invalid(error.0))?;
    let received = match capture {
        Capture::Ignored(reason) => Received {
            received: true,
            id: None,
            ignored: Some(reason),
            duplicate: false,
        },
        Capture::Event(event) => {
            let id = state.engine.projects.capture(slug, event).await?;
            Received {
                received: true,
                duplicate: id.is_none(),
                id: id.map(|id| id.to_string()),
                ignored: None,
            }
        }
    };
    Ok(json_response(StatusCode::OK, &received))
}
