//! A small OpenAI-compatible streaming server, standing in for the paid remote LLM API.
//!
//! It speaks `POST /v1/chat/completions` (over HTTP/1.1 or h2c) with `stream: true` as OpenAI
//! does: chunked SSE of `chat.completion.chunk` objects, a `finish_reason`, then `data: [DONE]`.
//! A marker in the last user message picks a behaviour, so one fake serves every case:
//! (none) a normal answer · `[lenient]` minimal chunks as llama.cpp/Ollama send · `[500]` ·
//! `[429]` · `[stall]` one chunk then silence · `[never]` no response at all · `[slow-first]`
//! first chunk after 1.5 s · `[cut]` connection ends mid-answer · `[drip]` a chunk every 50 ms,
//! counting cancellations · `[echo]` describes the request it got · `[system]` answers with the
//! system message it got · `[pause]` 800 ms of silence
//! mid-answer · `[garbage]` an unparseable chunk · `[late-done]` `[DONE]` 300 ms after the
//! finishing chunk, and `[late-end]` the stream's end 300 ms after `[DONE]`, both counting
//! readers that leave before the end · `[no-finish]` no `finish_reason`, only `[DONE]` · `[empty]`
//! `[DONE]` and nothing else · `[ollama-404]`, `[vllm-404]` a 404 with the error body those
//! servers send, `[page-404]` with a plain-text page.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{StreamExt, stream};
use http_body_util::{BodyExt, Full, StreamBody, combinators::UnsyncBoxBody};
use hyper::body::Frame;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{Value, json};
use tokio::net::TcpListener;

/// The normal answer, in the chunks it is sent as.
pub const ANSWER_CHUNKS: [&str; 4] = ["The return ", "window is ", "30 days", "."];

pub struct FakeLlm {
    pub addr: SocketAddr,
    /// Streams whose reader went away before the answer was complete.
    pub cancelled: Arc<AtomicUsize>,
    /// Requests that came over HTTP/2 (h2c); it speaks HTTP/1.1 and h2c on one port.
    pub http2_requests: Arc<AtomicUsize>,
    /// Every request it got.
    pub requests: Arc<AtomicUsize>,
    /// Connections it accepted.
    pub connections: Arc<AtomicUsize>,
}

impl FakeLlm {
    pub async fn start() -> FakeLlm {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let cancelled = Arc::new(AtomicUsize::new(0));
        let cancelled_in = cancelled.clone();
        let http2_requests = Arc::new(AtomicUsize::new(0));
        let http2_in = http2_requests.clone();
        let requests = Arc::new(AtomicUsize::new(0));
        let requests_in = requests.clone();
        let connections = Arc::new(AtomicUsize::new(0));
        let connections_in = connections.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                connections_in.fetch_add(1, Ordering::SeqCst);
                let (cancelled, http2) = (cancelled_in.clone(), http2_in.clone());
                let requests = requests_in.clone();
                let service = service_fn(move |request: Request<hyper::body::Incoming>| {
                    let cancelled = cancelled.clone();
                    requests.fetch_add(1, Ordering::SeqCst);
                    if request.version() == hyper::Version::HTTP_2 {
                        http2.fetch_add(1, Ordering::SeqCst);
                    }
                    async move { Ok::<_, Infallible>(respond(request, cancelled).await) }
                });
                tokio::spawn(async move {
                    let builder =
                        hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                    let _ = builder
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        FakeLlm {
            addr,
            cancelled,
            http2_requests,
            requests,
            connections,
        }
    }

    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }
}

type Body = UnsyncBoxBody<Bytes, Infallible>;

async fn respond(
    request: Request<hyper::body::Incoming>,
    cancelled: Arc<AtomicUsize>,
) -> Response<Body> {
    let body = request.into_body().collect().await.unwrap().to_bytes();
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let messages = body["messages"].as_array().cloned().unwrap_or_default();
    let question = messages
        .last()
        .and_then(|m| m["content"].as_str())
        .unwrap_or("")
        .to_owned();
    let marker = |name: &str| question.contains(&format!("[{name}]"));

    if marker("500") {
        return plain(500, "upstream exploded");
    }
    if marker("429") {
        let error = json!({"error": {"message": "Rate limit reached", "type": "rate_limit_error", "param": null, "code": null}});
        return plain(429, &error.to_string());
    }
    if marker("ollama-404") {
        let error = json!({"error": "model \"llama3\" not found, try pulling it first"});
        return plain(404, &error.to_string());
    }
    if marker("page-404") {
        return plain(404, "404 page not found");
    }
    if marker("vllm-404") {
        let error = json!({"object": "error", "message": "The model `x` does not exist.", "type": "NotFoundError", "param": null, "code": 404});
        return plain(404, &error.to_string());
    }
    if marker("never") {
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
    if marker("slow-first") {
        tokio::time::sleep(Duration::from_millis(1500)).await;
    }
    if marker("empty") {
        return sse(vec![(0, "data: [DONE]\n\n".to_owned())], None);
    }
    if marker("garbage") {
        return sse(vec![(0, "data: {not json\n\n".to_owned())], None);
    }
    if marker("system") {
        let system = messages
            .first()
            .and_then(|m| m["content"].as_str())
            .unwrap_or("");
        return sse(finished(&[system], true), None);
    }
    if marker("echo") {
        let roles: Vec<&str> = messages.iter().filter_map(|m| m["role"].as_str()).collect();
        let evil = messages
            .iter()
            .any(|m| m["content"].as_str().unwrap_or("").contains("EVIL"));
        let text = format!("roles={} evil={evil}", roles.join(","));
        return sse(finished(&[&text], true), None);
    }
    let lenient = marker("lenient");
    if marker("stall") {
        let mut events = vec![(0, chunk(ANSWER_CHUNKS[0], None, lenient))];
        events.push((3_600_000, String::new()));
        return sse(events, None);
    }
    if marker("cut") {
        return sse(
            vec![
                (0, chunk("The return ", None, lenient)),
                (10, chunk("window", None, lenient)),
            ],
            None,
        );
    }
    if marker("drip") {
        let pieces: Vec<String> = (0..200).map(|idx| format!("word{idx} ")).collect();
        let refs: Vec<&str> = pieces.iter().map(String::as_str).collect();
        let events = finished(&refs, lenient)
            .into_iter()
            .map(|(_, e)| (50, e))
            .collect();
        return sse(events, Some(cancelled));
    }
    let mut events = finished(&ANSWER_CHUNKS, lenient);
    if marker("no-finish") {
        events.retain(|(_, event)| !event.contains("\"stop\""));
    }
    if marker("pause") {
        events[2].0 = 800;
    }
    if marker("late-done") {
        events.last_mut().unwrap().0 = 300;
        return sse(events, Some(cancelled));
    }
    if marker("late-end") {
        // A comment: the stream's last bytes come after `[DONE]`, in a frame of their own.
        events.push((300, ": end\n\n".to_owned()));
        return sse(events, Some(cancelled));
    }
    sse(events, None)
}

/// `pieces` as chunks 5 ms apart, then a finishing chunk and `[DONE]`.
fn finished(pieces: &[&str], lenient: bool) -> Vec<(u64, String)> {
    let mut events: Vec<(u64, String)> = pieces
        .iter()
        .map(|piece| (5, chunk(piece, None, lenient)))
        .collect();
    events.push((5, chunk("", Some("stop"), lenient)));
    events.push((0, "data: [DONE]\n\n".to_owned()));
    events
}

fn chunk(text: &str, finish_reason: Option<&str>, lenient: bool) -> String {
    let choice = json!({"index": 0, "delta": {"content": text}, "finish_reason": finish_reason});
    let chunk = if lenient {
        json!({"choices": [choice]})
    } else {
        json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "fake", "choices": [choice]})
    };
    format!("data: {chunk}\n\n")
}

/// Sends each `(delay_ms, event)` after its delay. With `cancelled`, a reader that goes away
/// before the end is counted.
fn sse(events: Vec<(u64, String)>, cancelled: Option<Arc<AtomicUsize>>) -> Response<Body> {
    struct Guard(Option<Arc<AtomicUsize>>, bool);
    impl Drop for Guard {
        fn drop(&mut self) {
            if let (Some(counter), false) = (&self.0, self.1) {
                counter.fetch_add(1, Ordering::SeqCst);
            }
        }
    }
    let n_events = events.len();
    let frames = stream::unfold(
        (events.into_iter().enumerate(), Guard(cancelled, false)),
        move |(mut events, mut guard)| async move {
            let (idx, (delay, event)) = events.next()?;
            tokio::time::sleep(Duration::from_millis(delay)).await;
            if idx + 1 == n_events {
                guard.1 = true;
            }
            Some((
                Ok::<_, Infallible>(Frame::data(Bytes::from(event))),
                (events, guard),
            ))
        },
    );
    let mut response = Response::new(BodyExt::boxed_unsync(StreamBody::new(StreamExt::boxed(
        frames,
    ))));
    response
        .headers_mut()
        .insert("content-type", "text/event-stream".parse().unwrap());
    response
}

fn plain(status: u16, body: &str) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_owned())).boxed_unsync());
    *response.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
    response
        .headers_mut()
        .insert("content-type", "application/json".parse().unwrap());
    response
}
