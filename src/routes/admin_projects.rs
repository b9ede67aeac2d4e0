//! Projects themselves: the list a signed-in user sees, creating one, its settings, deleting
//! it, and its push secret. Each concern of a project has its own module: conversations,
//! leads, members, documents, reports.
//!
//! | method and path | who | what |
//! |---|---|---|
//! | `GET /api/admin/projects` | anyone signed in | the projects they have a role on (admins: all) |
//! | `POST /api/admin/projects` | admins | create `{slug, name, …settings}` (201; 409 if taken) |
//! | `GET /api/admin/projects/{slug}` | owners | the settings, as `PUT` takes them |
//! | `PUT /api/admin/projects/{slug}` | owners | replace widget settings, popup rules, allowed origins |
//! | `DELETE /api/admin/projects/{slug}` | owners | delete it with all its data (204) |
//! | `POST /api/admin/projects/{slug}/push-secret` | owners | a new push secret, shown once |
//!
//! The router has checked the caller (401, then 404 for an unknown project, then 403) before
//! any of these run. Changes reach the project actor, the live widget config and the push
//! check at once.

use crate::json::RequestBody;
use helpyap_actors::records::{AssistantSettings, UserRecord};
use helpyap_actors::{ProjectError, ProjectSettings, WidgetSettings};
use hyper::{Request, StatusCode};
use serde::Deserialize;

use crate::error::ApiError;
use crate::json::{Body, Response, empty_response, json_response, read_json};
use crate::router::AppState;
use crate::views::{ProjectList, ProjectListItem, ProjectView, PushSecret};

/// What `POST` and `PUT` take and `GET` gives: the widget settings (as in the public config,
/// with `socialProof`) plus the allowed origins.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct SettingsBody {
    #[serde(flatten)]
    widget: WidgetSettings,
    #[serde(default)]
    allowed_origins: Vec<String>,
    /// Days after which conversations are erased; absent or null keeps them.
    #[serde(default)]
    retention_days: Option<u32>,
    /// Languages and instructions; absent: English, none.
    #[serde(default)]
    assistant: AssistantSettings,
}

#[derive(Deserialize, utoipa::ToSchema)]
struct CreateBody {
    #[schema(
        required = true,
        nullable = false,
        pattern = "^[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?$",
        example = "acme"
    )]
    slug: Option<String>,
    #[serde(flatten)]
    settings: SettingsBody,
}

#[utoipa::path(
    get, path = "/api/admin/projects", tag = "admin: projects",
    responses((status = 200, description = "The projects the user has a role on (admins: all)", body = crate::views::ProjectList))
)]
pub async fn list(state: &AppState, user: &UserRecord) -> Result<Response<Body>, ApiError> {
    let projects: Vec<ProjectListItem> = state
        .engine
        .projects
        .list()
        .await?
        .into_iter()
        .filter_map(|project| {
            let role = user.role_on(&project.slug)?;
            Some(ProjectListItem {
                slug: project.slug,
                name: project.widget.name,
                role,
            })
        })
        .collect();
    Ok(json_response(StatusCode::OK, &ProjectList { projects }))
}

#[utoipa::path(
    post, path = "/api/admin/projects", tag = "admin: projects",
    request_body = CreateBody,
    responses(
        (status = 201, description = "Created", body = crate::views::ProjectView),
        (status = 409, description = "The slug is taken", body = crate::error::ErrorBody),
    )
)]
pub async fn create(
    state: &AppState,
    user: &UserRecord,
    request: Request<RequestBody>,
) -> Result<Response<Body>, ApiError> {
    let body: CreateBody = read_json(request, state.body_limits()).await?;
    let slug = body
        .slug
        .ok_or_else(|| ApiError::invalid("slug is required"))?;
    let settings = project_settings(body.settings)?;
    state.engine.projects.create(&slug, settings).await?;
    tracing::info!(project = %slug, user = %user.id, "project created");
    read_response(state, &slug, StatusCode::CREATED).await
}

#[utoipa::path(
    get, path = "/api/admin/projects/{slug}", tag = "admin: projects",
    params(("slug" = String, Path, example = "demo", description = "The project's slug")),
    responses((status = 200, description = "The settings, as `PUT` takes them", body = crate::views::ProjectView))
)]
pub async fn read(state: &AppState, slug: &str) -> Result<Response<Body>, ApiError> {
    read_response(state, slug, StatusCode::OK).await
}

#[utoipa::path(
    delete, path = "/api/admin/projects/{slug}", tag = "admin: projects",
    params(("slug" = String, Path, example = "demo", description = "The project's slug")),
    responses((status = 204, description = "Deleted with all its data"))
)]
pub async fn delete(
    state: &AppState,
    user: &UserRecord,
    slug: &str,
) -> Result<Response<Body>, ApiError> {
    state.engine.projects.delete(slug).await?;
    tracing::info!(project = %slug, user = %user.id, "project deleted");
    Ok(empty_response(StatusCode::NO_CONTENT))
}

#[utoipa::path(
    put, path = "/api/admin/projects/{slug}", tag = "admin: projects",
    params(("slug" = String, Path, example = "demo", description = "The project's slug")), request_body = SettingsBody,
    responses((status = 200, description = "Applied: open widgets get them on their next config request", body = crate::views::ProjectView))
)]
pub async fn update(
    state: &AppState,
    slug: &str,
    request: Request<RequestBody>,
) -> Result<Response<Body>, ApiError> {
    let body: SettingsBody = read_json(request, state.body_limits()).await?;
    state
        .engine
        .projects
        .configure(slug, project_settings(body)?)
        .await?;
    read_response(state, slug, StatusCode::OK).await
}

#[utoipa::path(
    post, path = "/api/admin/projects/{slug}/push-secret", tag = "admin: projects",
    params(("slug" = String, Path, example = "demo", description = "The project's slug")),
    responses((status = 200, description = "A new push secret, shown once", body = crate::views::PushSecret))
)]
pub async fn rotate_secret(
    state: &AppState,
    user: &UserRecord,
    slug: &str,
) -> Result<Response<Body>, ApiError> {
    let secret = state.engine.projects.rotate_push_secret(slug).await?;
    tracing::info!(project = %slug, user = %user.id, "push secret rotated");
    Ok(json_response(
        StatusCode::OK,
        &PushSecret {
            push_secret: secret,
            note: "Shown once: store it now. The previous secret no longer works.".into(),
        },
    ))
}

fn project_settings(body: SettingsBody) -> Result<ProjectSettings, ApiError> {
    let settings = ProjectSettings::new(
        body.widget,
        &body.allowed_origins,
        body.retention_days,
        body.assistant,
    );
    Ok(settings.map_err(ProjectError::from)?)
}

pub async fn read_response(
    state: &AppState,
    slug: &str,
    status: StatusCode,
) -> Result<Response<Body>, ApiError> {
    let snapshot = state.engine.projects.snapshot(slug).await?;
    Ok(json_response(status, &ProjectView::from(&*snapshot)))
}
