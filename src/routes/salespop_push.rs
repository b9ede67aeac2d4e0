//! `POST /api/widget/salespop-push`: an owner's server pushes a social-proof event.
//!
//! Checks run in this order, each with its own status: `Authorization: Bearer` present (401),
//! body readable JSON with `project` and `type` (400/413), project exists (404), secret is this
//! project's (401, or 403 when it is another project's), fields valid (400). Success is 201
//! `{"id": "..."}` only after the event is durable.

use crate::json::RequestBody;
use helpyap_actors::PushFields;
use hyper::{Request, StatusCode};
use serde::Deserialize;

use crate::auth::bearer_token;
use crate::error::ApiError;
use crate::json::{Body, Response, json_response, parse_json, read_body};
use crate::router::AppState;

#[derive(Deserialize, utoipa::ToSchema)]
struct PushBody {
    #[schema(required = true, nullable = false, example = "demo")]
    project: Option<String>,
    #[serde(rename = "type")]
    #[schema(
        required = true,
        nullable = false,
        pattern = "^(purchased|subscribed|signed_up|added_to_cart|custom)$",
        example = "signed_up"
    )]
    kind: Option<String>,
    #[schema(max_length = 80)]
    name: Option<String>,
    #[schema(max_length = 120)]
    location: Option<String>,
    #[schema(max_length = 120)]
    product: Option<String>,
    #[schema(max_length = 280)]
    message: Option<String>,
    /// Where a click on the popup goes: an absolute http(s) URL. Not in the seed API.
    #[schema(max_length = 2000)]
    url: Option<String>,
    /// A picture for the popup: an absolute http(s) URL. Not in the seed API.
    #[serde(rename = "imageUrl")]
    #[schema(max_length = 2000)]
    image_url: Option<String>,
}

#[utoipa::path(
    post, path = "/api/widget/salespop-push", tag = "social proof",
    request_body = PushBody,
    responses((status = 201, description = "The event is durable and on its way to live visitors", body = crate::views::PushAccepted))
)]
pub async fn post(
    state: &AppState,
    request: Request<RequestBody>,
) -> Result<Response<Body>, ApiError> {
    let secret = bearer_token(request.headers())
        .map(str::to_owned)
        .ok_or_else(|| {
            ApiError::unauthorized("Missing push secret: send Authorization: Bearer <push secret>")
        })?;
    let (project, fields) = parse_body(&read_body(request, state.body_limits()).await?)?;
    let event_id = state
        .engine
        .projects
        .push(&project, &secret, fields)
        .await?;
    Ok(json_response(
        StatusCode::CREATED,
        &crate::views::PushAccepted {
            id: event_id.to_string(),
        },
    ))
}

impl PushBody {
    /// The project and the event's fields; 400 when either required one is missing.
    fn into_parts(self) -> Result<(String, PushFields), ApiError> {
        let project = self.project.filter(|p| !p.is_empty());
        let project = project.ok_or_else(|| ApiError::invalid("project is required"))?;
        let kind = self
            .kind
            .ok_or_else(|| ApiError::invalid("type is required"))?;
        let fields = PushFields {
            kind,
            name: self.name,
            location: self.location,
            product: self.product,
            message: self.message,
            url: self.url,
            image_url: self.image_url,
        };
        Ok((project, fields))
    }
}

/// A push body as the endpoint reads it (also the fuzz target's entry): a JSON object with the
/// project and the event's fields.
pub fn parse_body(json: &[u8]) -> Result<(String, PushFields), ApiError> {
    parse_json::<PushBody>(json)?.into_parts()
}
