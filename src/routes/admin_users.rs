//! `POST /api/admin/users` `{email, password, admin?}`: an admin adds an account (201; 409 if
//! the email is taken). Only admins reach it: the router checks.

use crate::json::RequestBody;
use helpyap_actors::records::UserRecord;
use hyper::{Request, StatusCode};
use serde::Deserialize;

use crate::error::ApiError;
use crate::json::{Body, Response, json_response, read_json};
use crate::router::AppState;

#[derive(Deserialize, utoipa::ToSchema)]
struct NewUserBody {
    #[schema(required = true, nullable = false, format = Email)]
    email: Option<String>,
    #[schema(required = true, nullable = false, min_length = 10, max_length = 256)]
    password: Option<String>,
    #[serde(default)]
    admin: bool,
}

#[utoipa::path(
    post, path = "/api/admin/users", tag = "admin: users",
    request_body = NewUserBody,
    responses(
        (status = 201, description = "The account", body = crate::views::UserView),
        (status = 409, description = "The email is taken", body = crate::error::ErrorBody),
    )
)]
pub async fn add_user(
    state: &AppState,
    user: &UserRecord,
    request: Request<RequestBody>,
) -> Result<Response<Body>, ApiError> {
    let body: NewUserBody = read_json(request, state.body_limits()).await?;
    let (Some(email), Some(password)) = (body.email, body.password) else {
        return Err(ApiError::invalid("email and password are required"));
    };
    let added = state
        .engine
        .accounts
        .add_user(&email, password, body.admin)
        .await?;
    tracing::info!(user = %added.id, by = %user.id, "user added");
    Ok(json_response(
        StatusCode::CREATED,
        &crate::views::UserView::from(&added),
    ))
}
