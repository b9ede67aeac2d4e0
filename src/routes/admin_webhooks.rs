//! `…/projects/{slug}/webhooks`: a project's signed webhooks, for owners. Made with a URL and
//! the events it hears (201 with the signing secret, shown once); changed, turned on or off,
//! deleted; the secret rotated; the last 100 attempts read, and a delivery sent again. URLs
//! keep to the rules of knowledge-base fetching: http(s), and no loopback, private or
//! link-local address unless `webhooks.private_networks` allows it (checked again, on every
//! DNS answer, when sending). Sending is the engine's dispatcher's.

use crate::json::RequestBody;
use helpyap_actors::engine::WebhookChange;
use helpyap_actors::records::UserRecord;
use helpyap_actors::webhook::EventType;
use hyper::{Request, StatusCode};
use serde::Deserialize;
use uuid::Uuid;

use crate::error::ApiError;
use crate::json::{Body, Response, empty_response, json_response, read_json};
use crate::router::AppState;
use crate::views::{Deliveries, DeliveryView, WebhookCreated, WebhookView, Webhooks};

#[derive(Deserialize, utoipa::ToSchema)]
struct NewWebhook {
    /// Where deliveries are POSTed: http(s), a public address.
    #[schema(required = true, nullable = false)]
    url: Option<String>,
    /// What it hears: at least one.
    #[schema(required = true, nullable = false)]
    events: Option<Vec<EventType>>,
}

#[derive(Deserialize, utoipa::ToSchema)]
struct WebhookPatch {
    url: Option<String>,
    events: Option<Vec<EventType>>,
    /// Turning it on again clears why it was off.
    enabled: Option<bool>,
}

#[utoipa::path(
    get, path = "/api/admin/projects/{slug}/webhooks", tag = "admin: webhooks",
    params(("slug" = String, Path, description = "The project's slug")),
    responses((status = 200, description = "The project's webhooks, oldest first (never their secrets)", body = Webhooks))
)]
pub async fn list(state: &AppState, slug: &str) -> Result<Response<Body>, ApiError> {
    let webhooks = state.engine.webhooks.list(slug).await?;
    let webhooks = webhooks.iter().map(WebhookView::from).collect();
    Ok(json_response(StatusCode::OK, &Webhooks { webhooks }))
}

#[utoipa::path(
    post, path = "/api/admin/projects/{slug}/webhooks", tag = "admin: webhooks",
    params(("slug" = String, Path, description = "The project's slug")),
    request_body = NewWebhook,
    responses(
        (status = 201, description = "Made: `secret` signs its deliveries and is shown this once", body = WebhookCreated),
        (status = 409, description = "The project has 10 webhooks already", body = crate::error::ErrorBody),
    )
)]
pub async fn create(
    state: &AppState,
    user: &UserRecord,
    slug: &str,
    request: Request<RequestBody>,
) -> Result<Response<Body>, ApiError> {
    let body: NewWebhook = read_json(request, state.body_limits()).await?;
    let url = body
        .url
        .ok_or_else(|| ApiError::invalid("url is required"))?;
    let url = checked_url(state, &url)?;
    let events = body
        .events
        .ok_or_else(|| ApiError::invalid("events is required"))?;
    let webhook = state.engine.webhooks.create(slug, url, events).await?;
    tracing::info!(project = %slug, user = %user.id, webhook = %webhook.id, "webhook made");
    Ok(json_response(
        StatusCode::CREATED,
        &WebhookCreated::from(&webhook),
    ))
}

#[utoipa::path(
    patch, path = "/api/admin/projects/{slug}/webhooks/{id}", tag = "admin: webhooks",
    params(("slug" = String, Path, description = "The project's slug"), ("id" = String, Path, format = Uuid, description = "The webhook's id")),
    request_body = WebhookPatch,
    responses((status = 200, description = "Changed", body = WebhookView))
)]
pub async fn update(
    state: &AppState,
    slug: &str,
    id: &str,
    request: Request<RequestBody>,
) -> Result<Response<Body>, ApiError> {
    let id = webhook_id(id)?;
    let body: WebhookPatch = read_json(request, state.body_limits()).await?;
    let url = body.url.map(|url| checked_url(state, &url)).transpose()?;
    let change = WebhookChange {
        url,
        events: body.events,
        enabled: body.enabled,
    };
    let webhook = state.engine.webhooks.update(slug, id, change).await?;
    Ok(json_response(StatusCode::OK, &WebhookView::from(&webhook)))
}

#[utoipa::path(
    delete, path = "/api/admin/projects/{slug}/webhooks/{id}", tag = "admin: webhooks",
    params(("slug" = String, Path, description = "The project's slug"), ("id" = String, Path, format = Uuid, description = "The webhook's id")),
    responses((status = 204, description = "Deleted, with its deliveries waiting and its log"))
)]
pub async fn delete(
    state: &AppState,
    user: &UserRecord,
    slug: &str,
    id: &str,
) -> Result<Response<Body>, ApiError> {
    let id = webhook_id(id)?;
    state.engine.webhooks.delete(slug, id).await?;
    tracing::info!(project = %slug, user = %user.id, webhook = %id, "webhook deleted");
    Ok(empty_response(StatusCode::NO_CONTENT))
}

#[utoipa::path(
    post, path = "/api/admin/projects/{slug}/webhooks/{id}/secret", tag = "admin: webhooks",
    params(("slug" = String, Path, description = "The project's slug"), ("id" = String, Path, format = Uuid, description = "The webhook's id")),
    responses((status = 200, description = "A new signing secret, shown this once; the old one signs nothing more", body = WebhookCreated))
)]
pub async fn rotate_secret(
    state: &AppState,
    user: &UserRecord,
    slug: &str,
    id: &str,
) -> Result<Response<Body>, ApiError> {
    let id = webhook_id(id)?;
    let webhook = state.engine.webhooks.rotate_secret(slug, id).await?;
    tracing::info!(project = %slug, user = %user.id, webhook = %id, "webhook secret rotated");
    Ok(json_response(
        StatusCode::OK,
        &WebhookCreated::from(&webhook),
    ))
}

#[utoipa::path(
    get, path = "/api/admin/projects/{slug}/webhooks/{id}/deliveries", tag = "admin: webhooks",
    params(("slug" = String, Path, description = "The project's slug"), ("id" = String, Path, format = Uuid, description = "The webhook's id")),
    responses((status = 200, description = "The last 100 attempts, newest first", body = Deliveries))
)]
pub async fn deliveries(
    state: &AppState,
    slug: &str,
    id: &str,
) -> Result<Response<Body>, ApiError> {
    let id = webhook_id(id)?;
    let log = state.engine.webhooks.log(slug, id).await?;
    let deliveries = log.iter().map(DeliveryView::from).collect();
    Ok(json_response(StatusCode::OK, &Deliveries { deliveries }))
}

#[utoipa::path(
    post, path = "/api/admin/projects/{slug}/webhooks/{id}/deliveries/{deliveryId}/redeliver", tag = "admin: webhooks",
    params(("slug" = String, Path, description = "The project's slug"), ("id" = String, Path, format = Uuid, description = "The webhook's id"),
        ("deliveryId" = String, Path, format = Uuid, description = "A delivery's id, from the log")),
    responses((status = 202, description = "Queued: the same body and delivery id are sent again shortly"))
)]
pub async fn redeliver(
    state: &AppState,
    slug: &str,
    id: &str,
    delivery: &str,
) -> Result<Response<Body>, ApiError> {
    let id = webhook_id(id)?;
    let delivery = Uuid::parse_str(delivery)
        .map_err(|_| ApiError::not_found("No such delivery in this webhook's log"))?;
    state.engine.webhooks.redeliver(slug, id, delivery).await?;
    Ok(empty_response(StatusCode::ACCEPTED))
}

fn webhook_id(id: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(id).map_err(|_| ApiError::not_found("No such webhook"))
}

fn checked_url(state: &AppState, url: &str) -> Result<String, ApiError> {
    state
        .webhook_poster
        .check(url)
        .map_err(|error| ApiError::invalid(error.to_string()))
}
