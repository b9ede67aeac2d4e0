//! `POST /api/widget/identify`: the site names its signed-in visitor (`HelpYap.identify`).
//!
//! Body `{projectSlug, userId, email?, name?, userHash?, sessionId?, sessionToken?}`, where
//! `userHash` is HMAC-SHA256(identity secret, userId) in hex, made by the site's server, and
//! the session is the conversation this browser has. With an identity secret set, a missing or
//! wrong `userHash` is 401 and nothing changes: the visitor stays anonymous. The answer says
//! which conversation to show: `current` (the browser's, now theirs), `other` (a verified
//! visitor's latest, from another browser, with a `sessionToken` for this one) or `new`.

use crate::json::RequestBody;
use helpyap_actors::engine::{Identified, ShowConversation};
use helpyap_actors::identity::IdentityClaim;
use hyper::{Request, StatusCode};
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::json::{Body, Response, json_response, parse_json, read_body};
use crate::router::AppState;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IdentifyBody {
    #[schema(required = true, nullable = false, example = "demo")]
    project_slug: Option<String>,
    /// The visitor: `userId`, `email`, `name`, `userHash`.
    #[serde(flatten)]
    user: UserBody,
    /// The conversation this browser has, if any.
    #[schema(format = Uuid)]
    session_id: Option<String>,
    session_token: Option<String>,
}

/// The signed-in visitor, as `identify` and the chat body carry them: `{userId, email?, name?,
/// userHash?}`, where `userHash` is HMAC-SHA256(identity secret, userId) in hex, made by the
/// site's server (required once the project has a secret).
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserBody {
    /// The site's own id for the visitor.
    #[schema(
        required = true,
        nullable = false,
        min_length = 1,
        max_length = 200,
        example = "user-42"
    )]
    user_id: Option<String>,
    #[schema(max_length = 254, example = "ana@example.com")]
    email: Option<String>,
    #[schema(max_length = 200, example = "Ana")]
    name: Option<String>,
    #[schema(example = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08")]
    user_hash: Option<String>,
}

impl UserBody {
    pub fn claim(self) -> Result<IdentityClaim, ApiError> {
        let user_id = self
            .user_id
            .ok_or_else(|| ApiError::invalid("userId is required"))?;
        Ok(IdentityClaim {
            user_id,
            email: self.email,
            name: self.name,
            user_hash: self.user_hash,
        })
    }
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IdentifyView {
    /// Whether the project's identity secret vouched for the visitor (`false`: the project
    /// does not verify identities; they are kept as unverified).
    verified: bool,
    /// Which conversation to show: the browser's own (`current`), the visitor's latest from
    /// another browser (`other`), or a new one (`new`).
    #[schema(pattern = "^(current|other|new)$")]
    conversation: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = Uuid)]
    session_id: Option<String>,
    /// This browser's token for `other`.
    #[serde(skip_serializing_if = "Option::is_none")]
    session_token: Option<String>,
}

#[utoipa::path(
    post, path = "/api/widget/identify", tag = "widget",
    request_body = IdentifyBody,
    params(("X-Session-Token" = Option<String>, Header, description = "The token of the browser's session (or `sessionToken` in the body)")),
    responses(
        (status = 200, description = "Which conversation to show the visitor", body = IdentifyView),
        (status = 401, description = "The project verifies identities and `userHash` is missing or does not match", body = crate::error::ErrorBody),
    )
)]
pub async fn post(
    state: &AppState,
    request: Request<RequestBody>,
) -> Result<Response<Body>, ApiError> {
    let header_token = super::session_token_header(&request);
    let headers = request.headers().clone();
    let body: IdentifyBody = parse_json(&read_body(request, state.body_limits()).await?)?;
    let project = body
        .project_slug
        .filter(|slug| !slug.is_empty())
        .ok_or_else(|| ApiError::invalid("projectSlug is required"))?;
    super::project_for_origin(state, &headers, &project).await?;
    let current = match body.session_id.as_deref() {
        Some(id) => {
            let token = body
                .session_token
                .filter(|t| !t.is_empty())
                .or(header_token);
            Some((super::parse_session_id(Some(id))?, token))
        }
        None => None,
    };
    let claim = body.user.claim()?;
    let Identified { verified, show } =
        state.engine.chat.identify(&project, claim, current).await?;
    let view = match show {
        ShowConversation::Current => IdentifyView {
            verified,
            conversation: "current",
            session_id: None,
            session_token: None,
        },
        ShowConversation::Other { session_id, token } => IdentifyView {
            verified,
            conversation: "other",
            session_id: Some(session_id.to_string()),
            session_token: Some(token),
        },
        ShowConversation::New => IdentifyView {
            verified,
            conversation: "new",
            session_id: None,
            session_token: None,
        },
    };
    Ok(json_response(StatusCode::OK, &view))
}
