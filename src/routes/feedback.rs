//! `POST /api/widget/feedback`: a visitor's thumbs up or down on an answer.
//!
//! Body `{projectSlug, sessionId, sessionToken, messageId, rating: "up" | "down"}`, where
//! `messageId` is the id the answer's stream (`start` frame) or the transcript gave it. Session
//! token rules as for chat; 404 for an unknown answer; a second rating replaces the first.

use crate::json::RequestBody;
use helpyap_actors::chat::Feedback;
use hyper::{Request, StatusCode};
use serde::Deserialize;

use crate::error::ApiError;
use crate::json::{Body, Response, empty_response};
use crate::router::AppState;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct FeedbackBody {
    #[schema(required = true, nullable = false)]
    message_id: Option<String>,
    #[schema(required = true, nullable = false)]
    rating: Option<Feedback>,
}

#[utoipa::path(
    post, path = "/api/widget/feedback", tag = "widget",
    request_body = super::SessionEnvelope<FeedbackBody>,
    params(("X-Session-Token" = Option<String>, Header, description = "The session's token (or `sessionToken` in the body)")),
    responses((status = 204, description = "The rating is stored (a second one replaces the first)"))
)]
pub async fn post(
    state: &AppState,
    request: Request<RequestBody>,
) -> Result<Response<Body>, ApiError> {
    let post: super::SessionPost<FeedbackBody> = super::read_session_post(state, request).await?;
    let rating = post
        .rest
        .rating
        .ok_or_else(|| ApiError::invalid("rating must be \"up\" or \"down\""))?;
    // `{sessionId}-{seq}`: the seq is what follows the session id.
    let prefix = format!("{}-", post.session_id);
    let seq = post
        .rest
        .message_id
        .as_deref()
        .and_then(|id| id.strip_prefix(&prefix))
        .and_then(|seq| seq.parse::<u32>().ok())
        .ok_or_else(|| ApiError::invalid("messageId must be an answer id of this session"))?;
    state
        .engine
        .chat
        .rate(&post.project, post.session_id, post.token, seq, rating)
        .await?;
    Ok(empty_response(StatusCode::NO_CONTENT))
}
