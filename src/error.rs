//! `ApiError`: a failed request's kind, message and cause, and the one place that turns a kind
//! into a status code and `Retry-After`.
//!
//! Handlers say what went wrong (`ApiError::invalid("…")`, or an engine error through `?`, whose
//! kind the engine gives); only [`ApiError::status`] knows HTTP statuses. The body is always
//! `{"error": "..."}`. Internal causes are logged with their source chain, never sent.

use std::error::Error;
use std::time::Duration;

use helpyap_actors::{ErrorKind, Failure};
use hyper::StatusCode;
use hyper::header::{HeaderValue, RETRY_AFTER};

use crate::json::{Body, Response, json_response};

type Source = Box<dyn Error + Send + Sync>;

/// A failed request.
#[derive(Debug)]
pub struct ApiError {
    kind: Kind,
    message: String,
    source: Option<Source>,
}

/// What went wrong: an engine kind, or one only the edge meets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Engine(ErrorKind),
    MethodNotAllowed,
    /// The request body did not arrive in time.
    BodyTimeout,
    PayloadTooLarge,
    /// The client's rate limit or stream cap is reached.
    TooManyRequests {
        retry_after: Duration,
    },
    /// A page fetched on the caller's behalf could not be had: the request was well formed,
    /// the remote site failed it. A 4xx, not a 5xx: this server is fine, and alerts on 5xx
    /// must not fire for someone else's site.
    FetchFailed,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl Error for ApiError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.source
            .as_deref()
            .map(|source| source as &(dyn Error + 'static))
    }
}

impl<E: Failure> From<E> for ApiError {
    fn from(error: E) -> ApiError {
        ApiError {
            kind: Kind::Engine(error.kind()),
            message: error.to_string(),
            source: Some(Box::new(error)),
        }
    }
}

impl ApiError {
    fn new(kind: Kind, message: impl Into<String>) -> ApiError {
        ApiError {
            kind,
            message: message.into(),
            source: None,
        }
    }

    fn engine(kind: ErrorKind, message: impl Into<String>) -> ApiError {
        ApiError::new(Kind::Engine(kind), message)
    }

    /// The input is wrong; `message` says how.
    pub fn invalid(message: impl Into<String>) -> ApiError {
        ApiError::engine(ErrorKind::Invalid, message)
    }

    pub fn unauthorized(message: impl Into<String>) -> ApiError {
        ApiError::engine(ErrorKind::Unauthorized, message)
    }

    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::engine(ErrorKind::Forbidden, message)
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::engine(ErrorKind::NotFound, message)
    }

    /// Not possible in the server's present state; `message` says what to do instead.
    pub fn conflict(message: impl Into<String>) -> ApiError {
        ApiError::engine(ErrorKind::Conflict, message)
    }

    /// Unavailable for a moment: worth retrying after a second.
    pub fn unavailable(message: impl Into<String>) -> ApiError {
        ApiError::engine(ErrorKind::BRIEFLY_UNAVAILABLE, message)
    }

    /// A fault on our side: `cause` is logged, clients read "Internal server error".
    pub fn internal(cause: impl Into<Source>) -> ApiError {
        ApiError {
            source: Some(cause.into()),
            ..ApiError::engine(ErrorKind::Internal, "Internal server error")
        }
    }

    pub fn method_not_allowed() -> ApiError {
        ApiError::new(Kind::MethodNotAllowed, "Method not allowed")
    }

    pub fn body_timeout() -> ApiError {
        ApiError::new(Kind::BodyTimeout, "Request body took too long to arrive")
    }

    pub fn payload_too_large(limit: usize) -> ApiError {
        let message = format!("Request body is larger than {limit} bytes");
        ApiError::new(Kind::PayloadTooLarge, message)
    }

    pub fn rate_limited(retry_after: Duration) -> ApiError {
        let kind = Kind::TooManyRequests { retry_after };
        ApiError::new(kind, "Rate limit exceeded")
    }

    /// The client's address holds `server.max_streams_per_ip` open streams.
    pub fn too_many_streams(max: usize) -> ApiError {
        let kind = Kind::TooManyRequests {
            retry_after: Duration::from_secs(5),
        };
        let message = format!(
            "Too many open streams from your address (at most {max}); close one and try again"
        );
        ApiError::new(kind, message)
    }

    /// A page we fetched on the caller's behalf could not be had; `message` says how.
    pub fn fetch_failed(message: impl Into<String>) -> ApiError {
        ApiError::new(Kind::FetchFailed, message)
    }

    /// The one mapping from kinds to status codes.
    pub fn status(&self) -> StatusCode {
        match self.kind {
            Kind::Engine(kind) => match kind {
                ErrorKind::NotFound => StatusCode::NOT_FOUND,
                ErrorKind::Conflict => StatusCode::CONFLICT,
                ErrorKind::Invalid => StatusCode::BAD_REQUEST,
                ErrorKind::Unauthorized => StatusCode::UNAUTHORIZED,
                ErrorKind::Forbidden => StatusCode::FORBIDDEN,
                ErrorKind::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
                ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            },
            Kind::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Kind::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            Kind::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Kind::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Kind::FetchFailed => StatusCode::UNPROCESSABLE_ENTITY,
        }
    }

    /// When to try again, for kinds that are worth retrying.
    fn retry_after(&self) -> Option<Duration> {
        match self.kind {
            Kind::Engine(ErrorKind::Unavailable { retry_after })
            | Kind::TooManyRequests { retry_after } => Some(retry_after),
            _ => None,
        }
    }

    pub fn into_response(self) -> Response<Body> {
        if self.kind == Kind::Engine(ErrorKind::Internal) {
            let cause = Causes(self.source());
            tracing::error!(%cause, "request failed");
        }
        let (status, retry_after) = (self.status(), self.retry_after());
        let body = ErrorBody {
            error: self.message,
        };
        let mut response = json_response(status, &body);
        if let Some(retry_after) = retry_after {
            let seconds = retry_after.as_secs().max(1);
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// Every error answer: `{"error": "..."}`.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// What went wrong, for people.
    #[schema(min_length = 1)]
    pub error: String,
}

/// An error and its sources, as one line: "outer: inner: innermost".
struct Causes<'a>(Option<&'a (dyn Error + 'static)>);

impl std::fmt::Display for Causes<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut next = self.0;
        let mut first = true;
        while let Some(error) = next {
            if !first {
                f.write_str(": ")?;
            }
            write!(f, "{error}")?;
            first = false;
            next = error.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use helpyap_actors::{ChatError, ProjectError};
    use http_body_util::BodyExt;

    use super::*;

    async fn answer(error: ApiError) -> (u16, Option<String>, serde_json::Value) {
        let response = error.into_response();
        let status = response.status().as_u16();
        let retry = response
            .headers()
            .get(RETRY_AFTER)
            .map(|value| value.to_str().unwrap().to_owned());
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, retry, serde_json::from_slice(&body).unwrap())
    }

    #[tokio::test]
    async fn engine_errors_map_by_kind_and_internal_causes_stay_in_the_logs() {
        let (status, retry, body) = answer(ProjectError::NotFound.into()).await;
        assert_eq!((status, retry), (404, None));
        assert_eq!(body, serde_json::json!({ "error": "Project not found" }));
        assert_eq!(answer(ChatError::Busy.into()).await.0, 409);
        assert_eq!(answer(ChatError::WrongToken.into()).await.0, 401);
        let (status, retry, _) = answer(ProjectError::Unavailable.into()).await;
        assert_eq!((status, retry.as_deref()), (503, Some("1")));

        let internal = ApiError::internal("the disk is on fire");
        assert_eq!(Causes(internal.source()).to_string(), "the disk is on fire");
        let (status, _, body) = answer(internal).await;
        assert_eq!(status, 500);
        assert_eq!(
            body["error"], "Internal server error",
            "causes are not sent"
        );

        let (status, retry, _) = answer(ApiError::too_many_streams(4)).await;
        assert_eq!((status, retry.as_deref()), (429, Some("5")));
        let limited = ApiError::rate_limited(Duration::from_secs(7));
        assert_eq!(answer(limited).await.1.as_deref(), Some("7"));
    }
}
