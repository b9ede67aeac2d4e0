//! `POST /api/widget/rating`: a visitor rates their conversation once it is resolved.
//!
//! Body `{projectSlug, sessionId, sessionToken, score: 1-5, comment?}` → 204. Session token
//! rules as for chat; 409 while the conversation is not resolved; a second rating replaces the
//! first. The team sees it on the conversation, the overview and `satisfaction.csv`; webhooks
//! hear `conversation.rated`.

use crate::json::RequestBody;
use helpyap_actors::chat::Satisfaction;
use hyper::{Request, StatusCode};
use serde::Deserialize;

use crate::error::ApiError;
use crate::json::{Body, Response, empty_response};
use crate::router::AppState;

#[derive(Deserialize, utoipa::ToSchema)]
pub struct RatingBody {
    /// 1 (very unhappy) to 5 (very happy).
    #[schema(
        required = true,
        nullable = false,
        minimum = 1,
        maximum = 5,
        example = 5
    )]
    score: Option<i64>,
    #[schema(max_length = 1000, example = "Quick and friendly, thanks!")]
    comment: Option<String>,
}

#[utoipa::path(
    post, path = "/api/widget/rating", tag = "widget",
    request_body = super::SessionEnvelope<RatingBody>,
    params(("X-Session-Token" = Option<String>, Header, description = "The session's token (or `sessionToken` in the body)")),
    responses(
        (status = 204, description = "The rating is stored (a second one replaces the first)"),
        (status = 409, description = "The conversation is not resolved", body = crate::error::ErrorBody),
    )
)]
pub async fn post(
    state: &AppState,
    request: Request<RequestBody>,
) -> Result<Response<Body>, ApiError> {
    let post: super::SessionPost<RatingBody> = super::read_session_post(state, request).await?;
    let rating = Satisfaction::validate(
        post.rest.score,
        post.rest.comment,
        helpyap_actors::time::now_ms(),
    )?;
    state
        .engine
        .chat
        .rate_conversation(&post.project, post.session_id, post.token, rating)
        .await?;
    Ok(empty_response(StatusCode::NO_CONTENT))
}
