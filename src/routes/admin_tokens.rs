//! `…/projects/{slug}/tokens`: API tokens for server integrations. Owners make them (named,
//! with a role on the project), see when each was last used, and revoke them. A token (`hy_…`)
//! is shown once, when made; the store keeps its SHA-256. Presented as `Authorization: Bearer`,
//! it acts on its project's admin routes with its role (the router's `authorize`), never on
//! another project's, and never on the routes that manage tokens.

use crate::json::RequestBody;
use helpyap_actors::records::{Role, UserRecord};
use hyper::{Request, StatusCode};
use serde::Deserialize;

use crate::error::ApiError;
use crate::json::{Body, Response, empty_response, json_response, read_json};
use crate::router::AppState;
use crate::views::{ApiTokenCreated, ApiTokenView, ApiTokens};

#[derive(Deserialize, utoipa::ToSchema)]
struct NewToken {
    /// What it is for ("CRM sync"): 1 to 60 characters.
    #[schema(required = true, nullable = false, min_length = 1, max_length = 60)]
    name: Option<String>,
    /// Its role on the project.
    #[schema(required = true, nullable = false)]
    role: Option<Role>,
}

#[utoipa::path(
    get, path = "/api/admin/projects/{slug}/tokens", tag = "admin: team",
    params(("slug" = String, Path, description = "The project's slug")),
    responses((status = 200, description = "The project's API tokens, oldest first (never the tokens themselves)", body = ApiTokens))
)]
pub async fn list(state: &AppState, slug: &str) -> Result<Response<Body>, ApiError> {
    let tokens = state.engine.accounts.api_tokens(slug).await?;
    let tokens = tokens.iter().map(ApiTokenView::from).collect();
    Ok(json_response(StatusCode::OK, &ApiTokens { tokens }))
}

#[utoipa::path(
    post, path = "/api/admin/projects/{slug}/tokens", tag = "admin: team",
    params(("slug" = String, Path, description = "The project's slug")),
    request_body = NewToken,
    responses(
        (status = 201, description = "Made: `token` is shown this once", body = ApiTokenCreated),
        (status = 409, description = "The project has 50 tokens already", body = crate::error::ErrorBody),
    )
)]
pub async fn create(
    state: &AppState,
    user: &UserRecord,
    slug: &str,
    request: Request<RequestBody>,
) -> Result<Response<Body>, ApiError> {
    let body: NewToken = read_json(request, state.body_limits()).await?;
    let name = body
        .name
        .ok_or_else(|| ApiError::invalid("name is required"))?;
    let role = body
        .role
        .ok_or_else(|| ApiError::invalid("role is required: owner or agent"))?;
    let (token, record) = state
        .engine
        .accounts
        .create_api_token(slug, &name, role, &user.email)
        .await?;
    tracing::info!(project = %slug, user = %user.id, token = %record.id, "API token made");
    let made = ApiTokenCreated {
        token,
        details: ApiTokenView::from(&record),
    };
    Ok(json_response(StatusCode::CREATED, &made))
}

#[utoipa::path(
    delete, path = "/api/admin/projects/{slug}/tokens/{id}", tag = "admin: team",
    params(("slug" = String, Path, description = "The project's slug"), ("id" = String, Path, format = Uuid, description = "The token's id")),
    responses(
        (status = 204, description = "Revoked: the token stops working at once"),
        (status = 404, description = "No such token on this project", body = crate::error::ErrorBody),
    )
)]
pub async fn revoke(
    state: &AppState,
    user: &UserRecord,
    slug: &str,
    id: &str,
) -> Result<Response<Body>, ApiError> {
    let id = uuid::Uuid::parse_str(id).map_err(|_| ApiError::not_found("No such API token"))?;
    state.engine.accounts.revoke_api_token(slug, id).await?;
    tracing::info!(project = %slug, user = %user.id, token = %id, "API token revoked");
    Ok(empty_response(StatusCode::NO_CONTENT))
}
