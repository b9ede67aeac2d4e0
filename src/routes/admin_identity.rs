//! `/api/admin/projects/{slug}/identity-secret`: identity verification for the widget's
//! `HelpYap.identify` (owners only).
//!
//! | method | what |
//! |---|---|
//! | `GET` | whether identities are verified, the secret's last four characters and age |
//! | `POST` | a new secret, shown whole this once; the previous one stops vouching at once |
//! | `DELETE` | 204: identities are no longer verified (kept and shown as unverified) |
//!
//! The site's server signs each visitor's id with the secret: `userHash` =
//! HMAC-SHA256(secret, userId) in hex. The secret is kept as it is (checking a hash needs it).

use helpyap_actors::identity::IdentitySecret;
use helpyap_actors::records::UserRecord;
use hyper::StatusCode;
use serde::Serialize;

use crate::error::ApiError;
use crate::json::{Body, Response, empty_response, json_response};
use crate::router::AppState;

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IdentityView {
    /// Whether visitors' identities are verified (a secret is set).
    enabled: bool,
    /// The whole secret: only in the answer that made it.
    #[serde(skip_serializing_if = "Option::is_none")]
    identity_secret: Option<String>,
    /// Its last four characters, to tell which one is set.
    #[serde(skip_serializing_if = "Option::is_none")]
    secret_ending: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    created_at: Option<String>,
}

impl IdentityView {
    fn of(secret: Option<&IdentitySecret>, shown: bool) -> IdentityView {
        IdentityView {
            enabled: secret.is_some(),
            identity_secret: secret.filter(|_| shown).map(|secret| secret.secret.clone()),
            secret_ending: secret.map(IdentitySecret::ending),
            created_at: secret.map(|secret| helpyap_actors::time::rfc3339(secret.created_at_ms)),
        }
    }
}

#[utoipa::path(
    get, path = "/api/admin/projects/{slug}/identity-secret", tag = "admin: projects",
    params(("slug" = String, Path, example = "demo", description = "The project's slug")),
    responses((status = 200, description = "Whether identities are verified", body = IdentityView))
)]
pub async fn get(state: &AppState, slug: &str) -> Result<Response<Body>, ApiError> {
    let snapshot = state.engine.projects.snapshot(slug).await?;
    let view = IdentityView::of(snapshot.identity_secret.as_ref(), false);
    Ok(json_response(StatusCode::OK, &view))
}

#[utoipa::path(
    post, path = "/api/admin/projects/{slug}/identity-secret", tag = "admin: projects",
    params(("slug" = String, Path, example = "demo", description = "The project's slug")),
    responses((status = 200, description = "A new identity secret, shown whole this once", body = IdentityView))
)]
pub async fn rotate(
    state: &AppState,
    user: &UserRecord,
    slug: &str,
) -> Result<Response<Body>, ApiError> {
    let secret = state.engine.projects.rotate_identity_secret(slug).await?;
    tracing::info!(project = %slug, user = %user.id, "identity secret rotated");
    let view = IdentityView::of(Some(&secret), true);
    Ok(json_response(StatusCode::OK, &view))
}

#[utoipa::path(
    delete, path = "/api/admin/projects/{slug}/identity-secret", tag = "admin: projects",
    params(("slug" = String, Path, example = "demo", description = "The project's slug")),
    responses((status = 204, description = "Identities are no longer verified"))
)]
pub async fn remove(
    state: &AppState,
    user: &UserRecord,
    slug: &str,
) -> Result<Response<Body>, ApiError> {
    state.engine.projects.remove_identity_secret(slug).await?;
    tracing::info!(project = %slug, user = %user.id, "identity verification turned off");
    Ok(empty_response(StatusCode::NO_CONTENT))
}
