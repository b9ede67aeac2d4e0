//! `POST /api/widget/salespop-push`: an owner's server pushes a social-proof event.
//!
//! Checks run in this order, each with its own status: `Authorization: Bearer` present (401),
//! body readable JSON with `project` and `type` (400/413), project exists (404), secret is this
//! project's (401, or 403 when it is another project's), fields valid (400). Success is 201
//! `{"id": "..."}` only after the event is durable.

use helpyap_actors::PushFields;
use hyper::body::Incoming;
use hyper::header::AUTHORIZATION;
use hyper::{Request, StatusCode};
use serde::Deserialize;

use crate::error::ApiError;
use crate::json::{Body, Response, json_response, read_json};
use crate::router::AppState;

#[derive(Deserialize)]
struct PushBody {
    project: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    name: Option<String>,
    location: Option<String>,
    product: Option<String>,
    message: Option<String>,
}

pub async fn post(
    state: &AppState,
    request: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    let secret = bearer_token(&request).ok_or_else(|| {
        ApiError::Unauthorized(
            "Missing push secret: send Authorization: Bearer <push secret>".into(),
        )
    })?;
    let body: PushBody = read_json(request, state.body_limits).await?;
    let (project, fields) = body.into_parts()?;
    let event_id = state.registry.push(&project, &secret, fields).await?;
    Ok(json_response(
        StatusCode::CREATED,
        &serde_json::json!({ "id": event_id.to_string() }),
    ))
}

impl PushBody {
    /// The project and the event's fields; 400 when either required one is missing.
    fn into_parts(self) -> Result<(String, PushFields), ApiError> {
        let project = self.project.filter(|p| !p.is_empty());
        let project = project.ok_or_else(|| ApiError::BadRequest("project is required".into()))?;
        let kind = self
            .kind
            .ok_or_else(|| ApiError::BadRequest("type is required".into()))?;
        let fields = PushFields {
            kind,
            name: self.name,
            location: self.location,
            product: self.product,
            message: self.message,
        };
        Ok((project, fields))
    }
}

/// A push body as the endpoint reads it, for fuzzing: the project and the event's fields.
pub fn parse_body(json: &[u8]) -> Result<(String, PushFields), ApiError> {
    let body: PushBody = serde_json::from_slice(json)
        .map_err(|error| ApiError::BadRequest(format!("Invalid JSON body: {error}")))?;
    body.into_parts()
}

/// The token of an `Authorization: Bearer <token>` header; the scheme is case-insensitive.
fn bearer_token(request: &Request<Incoming>) -> Option<String> {
    let value = request.headers().get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then(|| token.to_owned())
}
