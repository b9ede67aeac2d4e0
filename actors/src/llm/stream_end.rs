//! Lets a finished answer's HTTP/2 stream from the model server end by itself instead of being
//! reset.
//!
//! async-openai stops reading an answer at `data: [DONE]` and drops the response, which resets
//! the stream when the server's end-of-stream arrives in a later frame (hyper's servers, for
//! one, end a body with an empty frame of its own). Over HTTP/2, h2 forgets a reset stream after
//! a second or past 50 such streams and then answers each late frame with a reset of its own —
//! and after 1024 of those in a connection's life it closes the whole connection (GOAWAY
//! `ENHANCE_YOUR_CALM`, "too_many_internal_resets"), cutting off every answer on it. So the
//! response body is wrapped: dropped after it carried `[DONE]`, its rest is read in the
//! background. Dropped before `[DONE]` (the visitor left), it is reset at once as before,
//! which cancels the generation upstream. This module never looks inside the answer otherwise.

use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};

/// Wraps a model server's response so that, once `[DONE]` has passed, dropping it reads the
/// rest of the body (for at most `limit`) instead of resetting the stream.
pub fn end_gracefully(response: reqwest::Response, limit: Duration) -> reqwest::Response {
    let response = http::Response::<reqwest::Body>::from(response).map(|body| {
        reqwest::Body::wrap(GracefulEnd {
            body: Some(body),
            done: false,
            limit,
        })
    });
    reqwest::Response::from(response)
}

struct GracefulEnd {
    /// `None` only once dropped.
    body: Option<reqwest::Body>,
    /// The last data frame ended with the SSE stream's final `[DONE]` event.
    done: bool,
    limit: Duration,
}

impl Body for GracefulEnd {
    type Data = Bytes;
    type Error = reqwest::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, reqwest::Error>>> {
        let body = self.body.as_mut().expect("only taken on drop");
        let frame = ready!(Pin::new(body).poll_frame(cx));
        if let Some(data) = frame.as_ref().and_then(|f| f.as_ref().ok()?.data_ref()) {
            self.done = ends_with_done(data);
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.body.as_ref().is_none_or(Body::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.body.as_ref().map(Body::size_hint).unwrap_or_default()
    }
}

impl Drop for GracefulEnd {
    fn drop(&mut self) {
        let Some(mut body) = self.body.take() else {
            return;
        };
        if !self.done || body.is_end_stream() {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let limit = self.limit;
        runtime.spawn(async move {
            let _ = tokio::time::timeout(limit, async {
                while let Some(Ok(_)) =
                    std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await
                {
                }
            })
            .await;
        });
    }
}

/// Whether an SSE chunk ends with the `data: [DONE]` event (the last one OpenAI-compatible
/// servers send). Looks only at the chunk's tail: `[DONE]` is always last.
fn ends_with_done(data: &[u8]) -> bool {
    let end = data
        .iter()
        .rposition(|byte| !byte.is_ascii_whitespace())
        .map_or(0, |last| last + 1);
    data[..end].ends_with(b"[DONE]")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn done_is_recognised_only_at_the_end_of_a_chunk() {
        assert!(ends_with_done(b"data: [DONE]\n\n"));
        assert!(ends_with_done(
            b"data: {\"choices\":[]}\n\ndata: [DONE]\r\n\r\n"
        ));
        assert!(!ends_with_done(b"data: {\"choices\":[]}\n\n"));
        assert!(!ends_with_done(
            b"data: {\"content\":\"[DONE] is a word\"}\n\n"
        ));
        assert!(!ends_with_done(b""));
    }
}
