//! Who may run a project: members' roles and invitations.
//!
//! | method and path | who | what |
//! |---|---|---|
//! | `GET /api/admin/projects/{slug}/members` | owners | `{members: [{email, role, admin}], invitations: [{email, role, invitedAt}]}` |
//! | `PUT /api/admin/projects/{slug}/members` | owners | `{email, role: owner\|agent}`: see below |
//! | `DELETE /api/admin/projects/{slug}/members/{email}` | owners | take a role away, or withdraw an invitation (204) |
//! | `GET /api/admin/invitations` | anyone signed in | `{invitations: [{project, name, role, invitedAt}]}` to their email |
//! | `POST /api/admin/invitations/{slug}/accept` | the invited | the role is theirs: `{project, role}` |
//! | `DELETE /api/admin/invitations/{slug}` | the invited | decline (204) |
//!
//! `PUT …/members` changes the role of someone already on the project (200). Anyone else is
//! *invited* (202 `{email, role, invited: true}`), with the same answer whether or not an account
//! with that email exists, so owners cannot find out who has an account nor put someone on
//! their project without consent; the invited user accepts after signing in. Admins, who manage
//! accounts anyway, still add an existing user directly (200; 404 if there is none).

use crate::json::RequestBody;
use helpyap_actors::accounts::{AccountError, normalize_email};
use helpyap_actors::records::{Role, UserRecord};
use hyper::{Request, StatusCode};
use serde::Deserialize;

use crate::error::ApiError;
use crate::json::{Body, Response, empty_response, json_response, read_json};
use crate::router::AppState;
use crate::views::{
    Accepted, InvitationView, MemberSet, MemberView, Members, MyInvitationView, MyInvitations,
};

#[derive(Deserialize, utoipa::ToSchema)]
struct MemberBody {
    #[schema(required = true, nullable = false, format = Email)]
    email: Option<String>,
    #[schema(required = true, nullable = false)]
    role: Option<Role>,
}

#[utoipa::path(
    get, path = "/api/admin/projects/{slug}/members", tag = "admin: members",
    params(("slug" = String, Path, example = "demo", description = "The project's slug")),
    responses((status = 200, description = "Members and open invitations", body = crate::views::Members))
)]
pub async fn list(state: &AppState, slug: &str) -> Result<Response<Body>, ApiError> {
    let users = state.engine.accounts.users().await?;
    let members: Vec<MemberView> = users
        .iter()
        .filter_map(|user| MemberView::of(user, slug))
        .collect();
    let invitations = state.engine.accounts.project_invitations(slug).await?;
    let invitations: Vec<InvitationView> = invitations.iter().map(InvitationView::from).collect();
    Ok(json_response(
        StatusCode::OK,
        &Members {
            members,
            invitations,
        },
    ))
}

#[utoipa::path(
    put, path = "/api/admin/projects/{slug}/members", tag = "admin: members",
    params(("slug" = String, Path, example = "demo", description = "The project's slug")), request_body = MemberBody,
    responses(
        (status = 200, description = "The member's role is set", body = crate::views::MemberSet),
        (status = 202, description = "Invited: the user accepts after signing in", body = crate::views::MemberSet),
        (status = 409, description = "The project has as many open invitations as it may", body = crate::error::ErrorBody),
    )
)]
pub async fn set(
    state: &AppState,
    user: &UserRecord,
    slug: &str,
    request: Request<RequestBody>,
) -> Result<Response<Body>, ApiError> {
    let body: MemberBody = read_json(request, state.body_limits()).await?;
    let (Some(email), Some(role)) = (body.email, body.role) else {
        return Err(ApiError::invalid(
            "email and role (owner or agent) are required",
        ));
    };
    let email = normalize_email(&email)?;
    let account = state.engine.accounts.user_by_email(&email).await?;
    let member = account
        .as_ref()
        .filter(|account| user.admin || account.roles.contains_key(slug));
    if let Some(member) = member {
        state
            .engine
            .accounts
            .grant(member.id, slug, Some(role))
            .await?;
        tracing::info!(project = %slug, member = %member.id, by = %user.id, "role set");
        return Ok(json_response(
            StatusCode::OK,
            &MemberSet {
                email,
                role,
                invited: None,
            },
        ));
    }
    // With email on, someone with no account gets a link that sets their password; without it,
    // an admin adds the user first.
    let join = state.mailer.is_some() && account.is_none();
    if user.admin && account.is_none() && !join {
        return Err(ApiError::not_found(
            "No user with this email; add the user first",
        ));
    }
    let token = state
        .engine
        .accounts
        .invite(slug, &email, role, user.id, join)
        .await?;
    tracing::info!(project = %slug, by = %user.id, "invitation made");
    if let Some(mailer) = state.mailer.clone() {
        let project = state
            .engine
            .projects
            .snapshot(slug)
            .await?
            .widget
            .name
            .clone();
        let invite = crate::email::Invite {
            slug: slug.to_owned(),
            project,
            email: email.clone(),
            role,
            inviter: user
                .profile
                .display_name
                .clone()
                .unwrap_or_else(|| user.email.clone()),
            token,
        };
        tokio::spawn(crate::email::send_invitation(mailer, invite));
    }
    Ok(json_response(
        StatusCode::ACCEPTED,
        &MemberSet {
            email,
            role,
            invited: Some(true),
        },
    ))
}

#[utoipa::path(
    delete, path = "/api/admin/projects/{slug}/members/{email}", tag = "admin: members",
    params(("slug" = String, Path, example = "demo", description = "The project's slug"), ("email" = String, Path, description = "A member's or invitee's email")),
    responses((status = 204, description = "The role is taken away, or the invitation withdrawn"))
)]
pub async fn remove(state: &AppState, slug: &str, email: &str) -> Result<Response<Body>, ApiError> {
    let not_found = || ApiError::not_found("No member or invitation with this email");
    let email = normalize_email(email).map_err(|_| not_found())?;
    let member = state
        .engine
        .accounts
        .user_by_email(&email)
        .await?
        .filter(|member| member.roles.contains_key(slug));
    match member {
        Some(member) => state.engine.accounts.grant(member.id, slug, None).await,
        None => state.engine.accounts.remove_invitation(slug, &email).await,
    }
    .map_err(|error| match error {
        AccountError::NoInvitation => not_found(),
        other => other.into(),
    })?;
    Ok(empty_response(StatusCode::NO_CONTENT))
}

/// `POST /api/admin/invitations/{slug}/accept`: the role offered to `user` is theirs.
#[utoipa::path(
    post, path = "/api/admin/invitations/{slug}/accept", tag = "admin: members",
    params(("slug" = String, Path, example = "demo", description = "The project's slug")),
    responses(
        (status = 200, description = "The role is the user's", body = crate::views::Accepted),
        (status = 404, description = "No invitation to this project", body = crate::error::ErrorBody),
    )
)]
pub async fn accept(
    state: &AppState,
    user: &UserRecord,
    slug: &str,
) -> Result<Response<Body>, ApiError> {
    let role = state
        .engine
        .accounts
        .accept_invitation(user.id, slug)
        .await?;
    tracing::info!(project = %slug, user = %user.id, "invitation accepted");
    Ok(json_response(
        StatusCode::OK,
        &Accepted {
            project: slug.to_owned(),
            role,
        },
    ))
}

/// `DELETE /api/admin/invitations/{slug}`: `user` declines the invitation.
#[utoipa::path(
    delete, path = "/api/admin/invitations/{slug}", tag = "admin: members",
    params(("slug" = String, Path, example = "demo", description = "The project's slug")),
    responses(
        (status = 204, description = "Declined"),
        (status = 404, description = "No invitation to this project", body = crate::error::ErrorBody),
    )
)]
pub async fn decline(
    state: &AppState,
    user: &UserRecord,
    slug: &str,
) -> Result<Response<Body>, ApiError> {
    state
        .engine
        .accounts
        .remove_invitation(slug, &user.email)
        .await?;
    Ok(empty_response(StatusCode::NO_CONTENT))
}

/// `GET /api/admin/invitations`: the invitations to `user`'s email.
#[utoipa::path(
    get, path = "/api/admin/invitations", tag = "admin: members",
    responses((status = 200, description = "Invitations to the signed-in user's email", body = crate::views::MyInvitations))
)]
pub async fn mine(state: &AppState, user: &UserRecord) -> Result<Response<Body>, ApiError> {
    let pending = state.engine.accounts.invitations_for(&user.email).await?;
    let mut invited = Vec::new();
    for invitation in &pending {
        // A project deleted meanwhile takes its invitations along; skip a race's leftovers.
        if let Ok(project) = state.engine.projects.snapshot(&invitation.project).await {
            invited.push((invitation, project));
        }
    }
    let invitations: Vec<MyInvitationView> = invited
        .iter()
        .map(|(invitation, project)| MyInvitationView::new(invitation, project))
        .collect();
    Ok(json_response(
        StatusCode::OK,
        &MyInvitations { invitations },
    ))
}
