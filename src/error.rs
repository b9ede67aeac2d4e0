//! `ApiError`: the one place that decides a failed request's status code and body.
//!
//! Every handler returns `Result<Response, ApiError>`; the body is always `{"error": "..."}`.
//! Engine errors are mapped here and nowhere else. Internal causes are logged, never sent.

use std::time::Duration;

use helpyap_actors::{ChatError, ProjectError};
use hyper::StatusCode;
use hyper::header::{HeaderValue, RETRY_AFTER};

use crate::json::{Body, Response, json_response};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("Method not allowed")]
    MethodNotAllowed,
    #[error("{0}")]
    Conflict(String),
    #[error("Request body took too long to arrive")]
    BodyTimeout,
    #[error("Request body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    #[error("Rate limit exceeded")]
    RateLimited { retry_after: Duration },
    /// The client's address holds `server.max_streams_per_ip` open streams.
    #[error("Too many open streams from your address (at most {0}); close one and try again")]
    TooManyStreams(usize),
    #[error("{0}")]
    Unavailable(String),
    /// A site we fetched on the caller's behalf failed.
    #[error("{0}")]
    BadGateway(String),
    #[error("Internal server error")]
    Internal(String),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::BadGateway(_) => StatusCode::BAD_GATEWAY,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::RateLimited { .. } | ApiError::TooManyStreams(_) => {
                StatusCode::TOO_MANY_REQUESTS
            }
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn project_not_found() -> ApiError {
        ApiError::NotFound("Project not found".into())
    }

    pub fn into_response(self) -> Response<Body> {
        if let ApiError::Internal(cause) = &self {
            tracing::error!(%cause, "request failed");
        }
        let mut response = json_response(
            self.status(),
            &serde_json::json!({ "error": self.to_string() }),
        );
        let retry_after = match &self {
            ApiError::RateLimited { retry_after } => Some(retry_after.as_secs().max(1)),
            ApiError::Unavailable(_) => Some(1),
            ApiError::TooManyStreams(_) => Some(5),
            _ => None,
        };
        if let Some(seconds) = retry_after {
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

impl From<ProjectError> for ApiError {
    fn from(error: ProjectError) -> ApiError {
        match error {
            ProjectError::NotFound => ApiError::project_not_found(),
            ProjectError::InvalidSecret => ApiError::Unauthorized("Invalid push secret".into()),
            ProjectError::ForeignSecret => {
                ApiError::Forbidden("Push secret is not valid for this project".into())
            }
            ProjectError::InvalidEvent(error) => ApiError::BadRequest(error.to_string()),
            ProjectError::InvalidSetting(error) => ApiError::BadRequest(error.to_string()),
            ProjectError::Exists => ApiError::Conflict("A project with this slug exists".into()),
            ProjectError::FeedFull(_) => {
                ApiError::Unavailable("Too many live visitors right now, retry shortly".into())
            }
            ProjectError::Unavailable => {
                ApiError::Unavailable("Project is temporarily unavailable, retry shortly".into())
            }
            ProjectError::Store(error) => ApiError::Internal(error.to_string()),
        }
    }
}

impl From<ChatError> for ApiError {
    fn from(error: ChatError) -> ApiError {
        match error {
            ChatError::ProjectNotFound => ApiError::project_not_found(),
            ChatError::SessionNotFound => ApiError::NotFound("Session not found".into()),
            ChatError::MissingToken => ApiError::Unauthorized(
                "Session token required: send the X-Session-Token you were given".into(),
            ),
            ChatError::WrongToken => ApiError::Unauthorized("Invalid session token".into()),
            ChatError::ForeignSession => {
                ApiError::Forbidden("Session belongs to another project".into())
            }
            ChatError::Busy => {
                ApiError::Conflict("An answer is already being written for this session".into())
            }
            ChatError::Overloaded => {
                ApiError::Unavailable("Too many conversations right now, retry shortly".into())
            }
            ChatError::Unavailable => {
                ApiError::Unavailable("Chat is temporarily unavailable, retry shortly".into())
            }
            ChatError::InvalidLead(error) => ApiError::BadRequest(error.to_string()),
            ChatError::MessageNotFound => ApiError::NotFound("Answer not found".into()),
            ChatError::Store(cause) => ApiError::Internal(cause),
        }
    }
}
