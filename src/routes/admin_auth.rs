//! Admin sign-in: `POST /api/admin/auth/login`, `/refresh`, `/logout`, and `GET /api/admin/me`.
//!
//! Login and refresh answer `{accessToken, tokenType: "Bearer", expiresIn, refreshToken, user}`.
//! A refresh token works once: refreshing returns the next one, and presenting a used one
//! revokes every token of that login (401). Signing out ends the login's access tokens too:
//! every admin request checks that its token's login has not ended ([`signed_in`]). Wrong
//! credentials are 401 with one message whether the email exists or not; past
//! `auth.max_failed_logins` wrong passwords per account, or `auth.max_failed_logins_per_ip` per
//! client address, within `auth.lockout_window`, logins are 429 — attempts are reserved before
//! the password is verified, so concurrent ones cannot slip past — on top of the per-IP `login`
//! rate limit.

use std::net::IpAddr;

use crate::json::RequestBody;
use helpyap_actors::Engine;
use helpyap_actors::accounts::{AccountError, ProfileChange, RefreshGrant, normalize_email};
use helpyap_actors::records::{ApiTokenRecord, UserRecord};
use hyper::HeaderMap;
use hyper::{Request, StatusCode};
use serde::Deserialize;

use crate::auth::{Access, Auth};
use crate::error::ApiError;
use crate::json::{Body, Response, empty_response, json_response, read_json};
use crate::router::AppState;
use crate::views::{DashboardLimits, Me, Tokens, UserView};

#[derive(Deserialize, utoipa::ToSchema)]
struct LoginBody {
    #[schema(required = true, nullable = false, format = Email)]
    email: Option<String>,
    #[schema(required = true, nullable = false)]
    password: Option<String>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct TokenBody {
    #[schema(required = true, nullable = false)]
    refresh_token: Option<String>,
}

#[utoipa::path(
    post, path = "/api/admin/auth/login", tag = "admin: sign-in",
    request_body = LoginBody,
    responses(
        (status = 200, description = "Signed in", body = crate::views::Tokens),
        (status = 401, description = "Wrong email or password", body = crate::error::ErrorBody),
    )
)]
pub async fn login(
    state: &AppState,
    client: IpAddr,
    request: Request<RequestBody>,
) -> Result<Response<Body>, ApiError> {
    let body: LoginBody = read_json(request, state.body_limits()).await?;
    let (Some(email), Some(password)) = (body.email, body.password) else {
        return Err(ApiError::invalid("email and password are required"));
    };
    let account = normalize_email(&email).unwrap_or_default();
    let attempt = state.auth.login_attempts.reserve(&account, client)?;
    match state.engine.accounts.login(&email, password).await {
        Ok((user, grant)) => {
            attempt.succeeded();
            tracing::info!(user = %user.id, "admin signed in");
            Ok(tokens(state, &user, grant))
        }
        Err(AccountError::WrongCredentials) => {
            attempt.failed();
            Err(ApiError::unauthorized("Wrong email or password"))
        }
        Err(error) => Err(error.into()),
    }
}

#[utoipa::path(
    post, path = "/api/admin/auth/refresh", tag = "admin: sign-in",
    request_body = TokenBody,
    responses(
        (status = 200, description = "New tokens; the refresh token sent is used up", body = crate::views::Tokens),
        (status = 401, description = "Unknown, expired or already used (which ends the sign-in)", body = crate::error::ErrorBody),
    )
)]
pub async fn refresh(
    state: &AppState,
    request: Request<RequestBody>,
) -> Result<Response<Body>, ApiError> {
    let token = refresh_token(state, request).await?;
    let (user, grant) = state.engine.accounts.refresh(token).await?;
    Ok(tokens(state, &user, grant))
}

#[utoipa::path(
    post, path = "/api/admin/auth/logout", tag = "admin: sign-in",
    request_body = TokenBody,
    responses(
        (status = 204, description = "Signed out: the sign-in's tokens no longer work"),
        (status = 401, description = "Unknown refresh token", body = crate::error::ErrorBody),
    )
)]
pub async fn logout(
    state: &AppState,
    request: Request<RequestBody>,
) -> Result<Response<Body>, ApiError> {
    let token = refresh_token(state, request).await?;
    state.engine.accounts.logout(token).await?;
    Ok(empty_response(StatusCode::NO_CONTENT))
}

#[utoipa::path(
    get, path = "/api/admin/me", tag = "admin: sign-in",
    responses((status = 200, description = "The signed-in user and the dashboard's input limits", body = crate::views::Me))
)]
pub fn me(state: &AppState, user: &UserRecord) -> Response<Body> {
    let me = Me {
        user: UserView::from(user),
        limits: DashboardLimits::CURRENT,
        email_enabled: state.mailer.is_some(),
    };
    json_response(StatusCode::OK, &me)
}

#[derive(Deserialize, utoipa::ToSchema)]
struct ForgotBody {
    #[schema(required = true, nullable = false)]
    email: Option<String>,
}

#[derive(Deserialize, utoipa::ToSchema)]
struct ResetBody {
    /// From the link in the email.
    #[schema(required = true, nullable = false)]
    token: Option<String>,
    #[schema(required = true, nullable = false, min_length = 10, max_length = 256)]
    password: Option<String>,
}

#[utoipa::path(
    post, path = "/api/admin/auth/forgot", tag = "admin: sign-in",
    request_body = ForgotBody,
    responses(
        (status = 202, description = "If an account has this email, a reset link (single use, valid an hour) is on its way; the same answer either way"),
        (status = 409, description = "Email is not set up on this server", body = crate::error::ErrorBody),
    )
)]
pub async fn forgot(
    state: &AppState,
    request: Request<RequestBody>,
) -> Result<Response<Body>, ApiError> {
    let body: ForgotBody = read_json(request, state.body_limits()).await?;
    let email = body
        .email
        .filter(|email| !email.trim().is_empty())
        .ok_or_else(|| ApiError::invalid("email is required"))?;
    let Some(mailer) = state.mailer.clone() else {
        return Err(ApiError::conflict(
            "Email is not set up on this server, so no reset link can be sent: ask an admin to set a new password",
        ));
    };
    // In the background: the answer takes as long whether or not the account exists.
    let accounts = state.engine.accounts.clone();
    tokio::spawn(async move {
        if !mailer.first_in_a_while(format!("reset:{}", email.trim().to_lowercase())) {
            return; // one link per account in a while: no one can flood an inbox
        }
        let (user, token) = match accounts.start_password_reset(&email).await {
            Ok(Some(reset)) => reset,
            Ok(None) => return,
            Err(error) => return tracing::warn!(%error, "a reset link was not made"),
        };
        let link = mailer.link(&format!("/admin#/reset/{token}"));
        let body = format!(
            "Someone (hopefully you) asked to reset the password of your HelpYap account \
             {email}.\n\nSet a new one here (the link works once, for an hour):\n{link}\n\n\
             Setting it signs you out everywhere. If you did not ask, ignore this email: your \
             password stays as it is.\n",
            email = user.email,
        );
        if let Err(error) = mailer
            .send(&user.email, "Reset your HelpYap password", body)
            .await
        {
            tracing::warn!(user = %user.id, %error, "a reset link was not sent");
        }
    });
    Ok(empty_response(StatusCode::ACCEPTED))
}

#[derive(Deserialize, utoipa::ToSchema)]
struct JoinBody {
    /// The project of the invitation.
    #[schema(required = true, nullable = false)]
    project: Option<String>,
    /// From the link in the invitation email.
    #[schema(required = true, nullable = false)]
    token: Option<String>,
    #[schema(required = true, nullable = false, min_length = 10, max_length = 256)]
    password: Option<String>,
}

#[utoipa::path(
    post, path = "/api/admin/auth/join", tag = "admin: sign-in",
    request_body = JoinBody,
    responses(
        (status = 200, description = "The account exists, with the invitation's role: sign in with its email and the password", body = crate::views::Joined),
        (status = 400, description = "The link is invalid, used or expired, or the password too short or long", body = crate::error::ErrorBody),
        (status = 409, description = "An account with this email exists already: sign in and accept the invitation", body = crate::error::ErrorBody),
    )
)]
pub async fn join(
    state: &AppState,
    request: Request<RequestBody>,
) -> Result<Response<Body>, ApiError> {
    let body: JoinBody = read_json(request, state.body_limits()).await?;
    let (Some(project), Some(token), Some(password)) = (body.project, body.token, body.password)
    else {
        return Err(ApiError::invalid(
            "project, token and password are required",
        ));
    };
    let user = state
        .engine
        .accounts
        .join(&project, &token, password)
        .await?;
    tracing::info!(user = %user.id, project = %project, "joined through an invitation link");
    let joined = crate::views::Joined { email: &user.email };
    Ok(json_response(StatusCode::OK, &joined))
}

#[utoipa::path(
    post, path = "/api/admin/auth/reset", tag = "admin: sign-in",
    request_body = ResetBody,
    responses(
        (status = 204, description = "The password is set; every sign-in of the account has ended"),
        (status = 400, description = "The link is invalid, used or expired, or the password too short or long", body = crate::error::ErrorBody),
    )
)]
pub async fn reset(
    state: &AppState,
    request: Request<RequestBody>,
) -> Result<Response<Body>, ApiError> {
    let body: ResetBody = read_json(request, state.body_limits()).await?;
    let token = body
        .token
        .filter(|token| !token.is_empty())
        .ok_or_else(|| ApiError::invalid("token is required"))?;
    let password = body
        .password
        .ok_or_else(|| ApiError::invalid("password is required"))?;
    let user = state
        .engine
        .accounts
        .reset_password(&token, password)
        .await?;
    tracing::info!(user = %user.id, "password reset through an emailed link");
    Ok(empty_response(StatusCode::NO_CONTENT))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct ProfileBody {
    /// How visitors see your replies; empty clears it.
    #[schema(max_length = 60)]
    display_name: Option<String>,
    /// An http(s) picture beside your replies; empty clears it.
    #[schema(max_length = 500)]
    avatar_url: Option<String>,
    /// Email me when a visitor of my projects leaves their contact.
    email_notifications: Option<bool>,
}

#[utoipa::path(
    patch, path = "/api/admin/me", tag = "admin: sign-in",
    request_body = ProfileBody,
    responses((status = 200, description = "Your profile changed; the signed-in user as now stored", body = crate::views::Me))
)]
pub async fn update_me(
    state: &AppState,
    user: &UserRecord,
    request: Request<RequestBody>,
) -> Result<Response<Body>, ApiError> {
    let body: ProfileBody = read_json(request, state.body_limits()).await?;
    let change = ProfileChange {
        display_name: body.display_name,
        avatar_url: body.avatar_url,
        notify_email: body.email_notifications,
    };
    let user = state
        .engine
        .accounts
        .update_profile(user.id, change)
        .await?;
    Ok(me(state, &user))
}

/// The API token (`hy_…`) a request's `Authorization: Bearer` carries: `None` for anything else
/// (an access token, or nothing); 401 for a `hy_` token that names no token (revoked, or its
/// project deleted).
pub async fn api_token(
    state: &AppState,
    request: &Request<RequestBody>,
) -> Result<Option<ApiTokenRecord>, ApiError> {
    api_token_in(&state.engine, request.headers()).await
}

/// [`api_token`], from the headers.
pub async fn api_token_in(
    engine: &Engine,
    headers: &HeaderMap,
) -> Result<Option<ApiTokenRecord>, ApiError> {
    let Some(token) = crate::auth::bearer_token(headers).filter(|t| t.starts_with("hy_")) else {
        return Ok(None);
    };
    match engine.accounts.use_api_token(token).await? {
        Some(record) => Ok(Some(record)),
        None => Err(ApiError::unauthorized("Invalid or revoked API token")),
    }
}

/// The user a request's access token speaks for: 401 when the token is missing, invalid or
/// expired, when its login has ended (signed out, or its refresh tokens replayed), or when the
/// account is gone.
pub async fn signed_in(
    state: &AppState,
    request: &Request<RequestBody>,
) -> Result<UserRecord, ApiError> {
    signed_in_with(&state.auth, &state.engine, request.headers()).await
}

/// [`signed_in`], from the headers.
pub async fn signed_in_with(
    auth: &Auth,
    engine: &Engine,
    headers: &HeaderMap,
) -> Result<UserRecord, ApiError> {
    let Access { user, family } = auth.verify(headers)?;
    if engine.accounts.sign_in_ended(family).await? {
        return Err(ApiError::unauthorized("This sign-in has ended"));
    }
    engine
        .accounts
        .user(user)
        .await?
        .ok_or_else(|| ApiError::unauthorized("Account no longer exists"))
}

async fn refresh_token(
    state: &AppState,
    request: Request<RequestBody>,
) -> Result<String, ApiError> {
    let body: TokenBody = read_json(request, state.body_limits()).await?;
    body.refresh_token
        .filter(|token| !token.is_empty())
        .ok_or_else(|| ApiError::invalid("refreshToken is required"))
}

fn tokens(state: &AppState, user: &UserRecord, grant: RefreshGrant) -> Response<Body> {
    let access = Access {
        user: user.id,
        family: grant.family,
    };
    json_response(
        StatusCode::OK,
        &Tokens {
            access_token: state.auth.issue(access),
            token_type: "Bearer",
            expires_in: state.auth.access_ttl.as_secs(),
            refresh_token: grant.token,
            user: UserView::from(user),
        },
    )
}
