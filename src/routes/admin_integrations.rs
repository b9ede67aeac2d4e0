//! `/api/admin/projects/{slug}/integrations…`: connecting a project to Stripe and Shopify, so
//! their webhooks become popups (`routes/integrations` receives them).
//!
//! | method and path | who | what |
//! |---|---|---|
//! | `GET …/integrations` | owners | each platform: connected or not, its webhook address |
//! | `PUT …/integrations/{platform}` | owners | connect with `{"secret": "…"}` (the platform's signing secret) → 200 |
//! | `DELETE …/integrations/{platform}` | owners | disconnect → 204; its webhooks get 404 |
//!
//! The signing secret is kept as it is (checking a signature needs it) and never shown back:
//! only its last four characters, to tell which one is set.

use crate::json::RequestBody;
use helpyap_actors::integrations::{self, Platform};
use hyper::{Request, StatusCode};
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::json::{Body, Response, empty_response, json_response, read_json};
use crate::router::AppState;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ConnectBody {
    /// Stripe: the endpoint's signing secret (`whsec_…`); Shopify: the app's client secret
    /// (or the store's webhook signing key).
    #[schema(min_length = 1, max_length = 200, example = "whsec_1234")]
    secret: String,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IntegrationView {
    platform: Platform,
    connected: bool,
    /// Where the platform sends its webhooks: this server's path (prefix the public address).
    #[schema(example = "/api/integrations/stripe/demo")]
    endpoint: String,
    /// The events to choose on the platform's side.
    events: &'static [&'static str],
    /// The last four characters of the signing secret, when connected.
    #[serde(skip_serializing_if = "Option::is_none")]
    secret_ending: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    connected_at: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct IntegrationList {
    integrations: Vec<IntegrationView>,
}

fn view(
    slug: &str,
    platform: Platform,
    integration: Option<&integrations::Integration>,
) -> IntegrationView {
    IntegrationView {
        platform,
        connected: integration.is_some(),
        endpoint: format!("/api/integrations/{}/{slug}", platform.name()),
        events: match platform {
            Platform::Stripe => &[
                "checkout.session.completed",
                "checkout.session.async_payment_succeeded",
                "customer.subscription.created",
            ],
            Platform::Shopify => &["orders/create"],
        },
        secret_ending: integration.map(integrations::Integration::secret_ending),
        connected_at: integration
            .map(|integration| helpyap_actors::time::rfc3339(integration.connected_at_ms)),
    }
}

fn platform(name: &str) -> Result<Platform, ApiError> {
    Platform::parse(name)
        .ok_or_else(|| ApiError::not_found("Unknown integration: use stripe or shopify"))
}

#[utoipa::path(
    get, path = "/api/admin/projects/{slug}/integrations", tag = "admin: projects",
    params(("slug" = String, Path, example = "demo", description = "The project's slug")),
    responses((status = 200, description = "Stripe and Shopify, connected or not", body = IntegrationList))
)]
pub async fn list(state: &AppState, slug: &str) -> Result<Response<Body>, ApiError> {
    let snapshot = state.engine.projects.snapshot(slug).await?;
    let integrations = Platform::ALL
        .into_iter()
        .map(|platform| view(slug, platform, snapshot.integrations.get(platform)))
        .collect();
    Ok(json_response(
        StatusCode::OK,
        &IntegrationList { integrations },
    ))
}

#[utoipa::path(
    put, path = "/api/admin/projects/{slug}/integrations/{platform}", tag = "admin: projects",
    params(("slug" = String, Path, example = "demo", description = "The project's slug"),
        ("platform" = Platform, Path, description = "`stripe` or `shopify`")),
    request_body = ConnectBody,
    responses((status = 200, description = "Connected: its webhooks are taken from now on", body = IntegrationView))
)]
pub async fn connect(
    state: &AppState,
    slug: &str,
    name: &str,
    request: Request<RequestBody>,
) -> Result<Response<Body>, ApiError> {
    let platform = platform(name)?;
    let body: ConnectBody = read_json(request, state.body_limits()).await?;
    let secret = integrations::check_secret(&body.secret).map_err(ApiError::invalid)?;
    let projects = &state.engine.projects;
    projects
        .set_integration(slug, platform, Some(secret))
        .await?;
    let snapshot = projects.snapshot(slug).await?;
    Ok(json_response(
        StatusCode::OK,
        &view(slug, platform, snapshot.integrations.get(platform)),
    ))
}

#[utoipa::path(
    delete, path = "/api/admin/projects/{slug}/integrations/{platform}", tag = "admin: projects",
    params(("slug" = String, Path, example = "demo", description = "The project's slug"),
        ("platform" = Platform, Path, description = "`stripe` or `shopify`")),
    responses((status = 204, description = "Disconnected: its webhooks get 404"))
)]
pub async fn disconnect(
    state: &AppState,
    slug: &str,
    name: &str,
) -> Result<Response<Body>, ApiError> {
    let platform = platform(name)?;
    state
        .engine
        .projects
        .set_integration(slug, platform, None)
        .await?;
    Ok(empty_response(StatusCode::NO_CONTENT))
}
