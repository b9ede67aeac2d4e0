//! The `openai` provider: streams answers from any OpenAI-compatible chat-completions server
//! (OpenAI, Azure, Ollama, vLLM, llama.cpp) through async-openai's HTTP stack.
//!
//! Requests are built from async-openai's `OpenAIConfig` (URL, key, organisation headers) and
//! sent through its middleware service: its retry layer (429, 5xx and refused connections,
//! `Retry-After`) over reqwest. The streamed response is then read here, in the task that
//! polls the answer (the visitor's connection): SSE decoded by sse-stream, each chunk parsed
//! into our own lenient type. async-openai's `create_stream` would read it in a task of its own
//! and forward each chunk over a channel — one more task wake-up and hop per token: a fifth
//! of the relay's CPU per token at 1 000 streams (BENCHMARKS.md, issue 22 part 2).
//!
//! Only `choices[0].delta.content` and `finish_reason` are read, because servers differ in
//! which other fields they send; every other field is skipped without being built. It enforces
//! the connect, first-token and idle timeouts and the cap on concurrent streams, and lets a
//! finished answer's HTTP/2 stream end by itself (`read_to_end`) rather than reset it.

use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use async_openai::config::{Config, OpenAIConfig};
use async_openai::error::OpenAIError;
use async_openai::middleware::retry::{OpenAIRetry, OpenAIRetryLayer};
use async_openai::middleware::{HttpRequestFactory, ReqwestService};
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderValue};
use serde::Deserialize;
use serde_json::{Value, json};
use sse_stream::{Sse, SseStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tower::{Layer, ServiceExt};

use crate::deadline::{Deadline, now};
use crate::llm::{LlmError, LlmProvider, Prompt, TextStream};

#[derive(Debug, Clone)]
pub struct OpenAiArguments {
    /// e.g. `https://api.openai.com/v1` or `http://127.0.0.1:8080/v1`.
    pub base_url: String,
    pub model: String,
    /// Empty for local servers that need no key.
    pub api_key: String,
    pub temperature: f32,
    pub max_tokens: u32,
    pub connect_timeout: Duration,
    /// From sending the request to the first text: covers connecting, queueing and prefill.
    pub first_token_timeout: Duration,
    /// Longest silence between two chunks once the answer has started.
    pub idle_timeout: Duration,
    /// Streams open at once; one more is refused with `LlmError::Overloaded`.
    pub max_concurrent_streams: usize,
    /// HTTP/2 without TLS (h2c): every answer multiplexed over a few connections.
    pub http2_prior_knowledge: bool,
    /// Clients with a connection pool each, answers spread over them in turn: over HTTP/2 one
    /// connection carries every answer of its pool through one task, and servers cap the
    /// answers one connection may carry at once (hosted APIs often at 100–256).
    pub connections: usize,
}

/// async-openai's HTTP stack, as its own client sends through it: the retry layer over reqwest.
type Http = OpenAIRetry<ReqwestService>;

/// A model server's streamed response, as SSE events.
type Events = SseStream<reqwest::Body>;

pub struct OpenAi {
    /// One connection pool each; answers take them in turn.
    pools: Vec<Http>,
    /// Which pool the next answer goes to.
    turn: AtomicUsize,
    /// `…/chat/completions`, from async-openai's config.
    url: reqwest::Url,
    /// The key and organisation headers, from async-openai's config.
    headers: HeaderMap,
    args: OpenAiArguments,
    permits: Arc<Semaphore>,
}

/// One streamed chunk: only what an answer needs, every part optional.
#[derive(Deserialize)]
struct Chunk {
    choices: Option<Vec<Choice>>,
    /// Some servers report a failure mid-stream as a chunk of its own.
    error: Option<Value>,
}

#[derive(Deserialize)]
struct Choice {
    delta: Option<Delta>,
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct Delta {
    content: Option<String>,
}

/// The first text of an answer, its events and whether that text finished it; `None` when
/// the answer ended before any text.
type Start = Result<(Option<String>, Box<Events>, bool), LlmError>;

/// One answer's texts, read in the task that polls it: no task, channel or future of its own
/// once the first text has come.
struct Answer {
    phase: Phase,
    idle_timeout: Duration,
    /// The answer's place among `max_concurrent_streams`, given back when it is dropped.
    _permit: OwnedSemaphorePermit,
}

enum Phase {
    /// Sending the request and reading up to the first text, within the first-token timeout.
    Starting(Pin<Box<dyn Future<Output = Start> + Send>>),
    /// `finished`: a chunk carried a `finish_reason`; the answer is complete. `idle`: when the
    /// silence since the last text becomes too long; pushed back on every text.
    Streaming {
        events: Box<Events>,
        finished: bool,
        idle: Deadline,
    },
    Done,
}

impl Drop for Answer {
    /// A visitor who leaves after the answer's last text (before the stream was polled for its
    /// end) does not reset its HTTP/2 stream either: see [`read_to_end`].
    fn drop(&mut self) {
        if let Phase::Streaming { finished: true, .. } = self.phase
            && tokio::runtime::Handle::try_current().is_ok()
        {
            let _ = self.end(true, None);
        }
    }
}

/// The HTTP/2 connection window towards the model server (hyper's default: 5 MiB). h2 closes a
/// connection (GOAWAY `too_many_data_frames`) once the small DATA frames it holds unread cost
/// more than half this window in framing overhead — about 256 bytes per token-sized frame. With
/// thousands of answers multiplexed on one connection and the server busy, the default budget
/// ran out (at 10k answers every one of them was cut off at once); this one lets every answer
/// fall ~40 tokens behind before that can happen. Memory stays bounded by what is sent.
const UPSTREAM_CONNECTION_WINDOW: u32 = 64 * 1024 * 1024;

impl OpenAi {
    pub fn new(args: OpenAiArguments) -> Result<OpenAi, LlmError> {
        let pools = (0..args.connections.max(1))
            .map(|_| pool(&args))
            .collect::<Result<_, _>>()?;
        let config = OpenAIConfig::new()
            .with_api_base(&args.base_url)
            .with_api_key(&args.api_key);
        check_header_values(&config, &args.api_key)?;
        let mut url = reqwest::Url::parse(&config.url("/chat/completions"))
            .map_err(|error| LlmError::Connect(format!("the base URL: {error}")))?;
        let query = config.query();
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        let mut headers = config.headers();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        let permits = Arc::new(Semaphore::new(args.max_concurrent_streams.max(1)));
        Ok(OpenAi {
            pools,
            turn: AtomicUsize::new(0),
            url,
            headers,
            args,
            permits,
        })
    }

    /// The answer's request, rebuilt for every attempt the retry layer makes.
    fn request(&self, prompt: &Prompt) -> HttpRequestFactory {
        let mut messages = vec![json!({ "role": "system", "content": prompt.system })];
        for turn in &prompt.history {
            let role = if turn.from_user { "user" } else { "assistant" };
            messages.push(json!({ "role": role, "content": turn.text }));
        }
        messages.push(json!({ "role": "user", "content": prompt.question }));
        let body = Bytes::from(
            json!({
                "model": self.args.model,
                "messages": messages,
                "stream": true,
                "temperature": self.args.temperature,
                "max_tokens": self.args.max_tokens,
            })
            .to_string(),
        );
        let (url, headers) = (self.url.clone(), self.headers.clone());
        HttpRequestFactory::new(move || {
            let mut request = reqwest::Request::new(reqwest::Method::POST, url.clone());
            *request.headers_mut() = headers.clone();
            *request.body_mut() = Some(body.clone().into());
            std::future::ready(Ok(request))
        })
    }
}

impl LlmProvider for OpenAi {
    fn name(&self) -> &'static str {
        "openai"
    }

    fn answer(&self, prompt: &Prompt) -> Result<TextStream, LlmError> {
        let permit = self
            .permits
            .clone()
            .try_acquire_owned()
            .map_err(|_| LlmError::Overloaded)?;
        let turn = self.turn.fetch_add(1, Ordering::Relaxed) % self.pools.len();
        let http = self.pools[turn].clone();
        let request = self.request(prompt);
        let first_token_timeout = self.args.first_token_timeout;
        let start = async move {
            let first = async {
                let response = http.oneshot(request).await.map_err(map_error)?;
                let mut events = Box::new(events_of(response).await?);
                let mut finished = false;
                let text = poll_fn(|cx| poll_text(&mut events, &mut finished, cx)).await?;
                Ok((text, events, finished))
            };
            tokio::time::timeout(first_token_timeout, first)
                .await
                .unwrap_or(Err(LlmError::FirstTokenTimeout(first_token_timeout)))
        };
        Ok(Box::pin(Answer {
            phase: Phase::Starting(Box::pin(start)),
            idle_timeout: self.args.idle_timeout,
            _permit: permit,
        }))
    }
}

impl Stream for Answer {
    type Item = Result<String, LlmError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        let idle_timeout = this.idle_timeout;
        match &mut this.phase {
            Phase::Done => Poll::Ready(None),
            Phase::Starting(start) => {
                let (text, events, finished) = match ready!(start.as_mut().poll(cx)) {
                    Ok(started) => started,
                    Err(error) => return this.end(false, Some(error)),
                };
                this.phase = Phase::Streaming {
                    events,
                    finished,
                    idle: Deadline::after(idle_timeout),
                };
                match text {
                    Some(text) => Poll::Ready(Some(Ok(text))),
                    // `[DONE]` before any text or `finish_reason`: nothing was answered.
                    None => this.end(true, (!finished).then_some(LlmError::Cut)),
                }
            }
            Phase::Streaming { finished: true, .. } => this.end(true, None),
            Phase::Streaming {
                events,
                finished,
                idle,
            } => {
                let read = match poll_text(events, finished, cx) {
                    Poll::Ready(read) => read,
                    Poll::Pending => {
                        ready!(Pin::new(&mut *idle).poll(cx));
                        Err(LlmError::IdleTimeout(idle_timeout))
                    }
                };
                match read {
                    Ok(Some(text)) => {
                        idle.set(now() + idle_timeout);
                        Poll::Ready(Some(Ok(text)))
                    }
                    Ok(None) => this.end(true, None),
                    Err(error) => this.end(false, Some(error)),
                }
            }
        }
    }
}

impl Answer {
    /// Ends the answer with `error`, or with no more texts: its response is read to its end
    /// when `drain` (it finished), or dropped, which resets its HTTP/2 stream.
    fn end(
        &mut self,
        drain: bool,
        error: Option<LlmError>,
    ) -> Poll<Option<Result<String, LlmError>>> {
        if let Phase::Streaming { events, .. } = std::mem::replace(&mut self.phase, Phase::Done)
            && drain
        {
            read_to_end(events, self.idle_timeout);
        }
        Poll::Ready(error.map(Err))
    }
}

/// async-openai builds its headers with `parse().unwrap()`: a value no header may carry (say a
/// key ending in the `\r` of a CRLF env file) would panic there. The organisation and project
/// come from the environment, as async-openai reads them.
fn check_header_values(config: &OpenAIConfig, api_key: &str) -> Result<(), LlmError> {
    let project = std::env::var("OPENAI_PROJECT_ID").unwrap_or_default();
    let values = [
        ("the API key", format!("Bearer {api_key}")),
        ("OPENAI_ORG_ID", config.org_id().to_owned()),
        ("OPENAI_PROJECT_ID", project),
    ];
    for (what, value) in values {
        if HeaderValue::from_str(&value).is_err() {
            return Err(LlmError::Connect(format!(
                "{what} holds characters an HTTP header cannot carry"
            )));
        }
    }
    Ok(())
}

/// async-openai's retry layer over a reqwest client with a connection pool of its own.
fn pool(args: &OpenAiArguments) -> Result<Http, LlmError> {
    let mut http = reqwest::Client::builder()
        .connect_timeout(args.connect_timeout)
        .http2_initial_connection_window_size(UPSTREAM_CONNECTION_WINDOW);
    if args.http2_prior_knowledge {
        http = http.http2_prior_knowledge();
    }
    let http = http
        .build()
        .map_err(|error| LlmError::Connect(error.to_string()))?;
    Ok(OpenAIRetryLayer::default().layer(ReqwestService::new(http)))
}

/// The events of a successful response; the error a failed one carries.
async fn events_of(response: reqwest::Response) -> Result<Events, LlmError> {
    if !response.status().is_success() {
        return Err(status_error(response).await);
    }
    Ok(SseStream::new(
        http::Response::<reqwest::Body>::from(response).into_body(),
    ))
}

/// A failed response's status and message: OpenAI's `{"error": {"message": …}}`, Ollama's
/// `{"error": "…"}` or vLLM's `{"message": …}`, or else the body as it is.
async fn status_error(response: reqwest::Response) -> LlmError {
    let status = response.status();
    let body = match response.bytes().await {
        Ok(body) => body,
        Err(error) => return map_error(OpenAIError::Reqwest(error)),
    };
    let json = serde_json::from_slice::<Value>(&body).ok();
    let message = match json.as_ref().and_then(error_message) {
        Some(message) => message.to_owned(),
        // A proxy's or framework's page ("404 page not found", `{"detail": "Not Found"}`).
        None => String::from_utf8_lossy(&body).into_owned(),
    };
    LlmError::Status {
        status: status.as_u16(),
        message: truncate(&message),
    }
}

/// The message of an error body, in any of the shapes OpenAI-compatible servers send.
fn error_message(body: &Value) -> Option<&str> {
    let error = &body["error"];
    error["message"]
        .as_str()
        .or(error.as_str())
        .or(body["message"].as_str())
}

/// Reads what the model server still sends after the answer's last chunk (`[DONE]`, usage,
/// the stream's end) in the background, so the HTTP/2 stream ends by itself instead of being
/// reset. h2 counts every frame that arrives for a stream it has forgotten after resetting it
/// as an error and, after 1024 such errors, closes the whole connection (GOAWAY
/// `too_many_internal_resets`), failing every answer on it: resetting each finished answer did
/// that within seconds at a few thousand concurrent answers. A visitor who leaves before the
/// answer's last text still cancels at once: dropping the events resets the stream.
fn read_to_end(mut events: Box<Events>, limit: Duration) {
    tokio::spawn(async move {
        let _ = tokio::time::timeout(limit, async {
            while let Some(Ok(_)) = events.next().await {}
        })
        .await;
    });
}

/// Reads events until one carries text (`Some`) or the answer ends (`None`: a chunk with no
/// text finished it, or `[DONE]` came); sets `finished` when the text came in the answer's last
/// chunk. A stream that ends without `[DONE]` or a `finish_reason` was cut off.
fn poll_text(
    events: &mut Events,
    finished: &mut bool,
    cx: &mut Context<'_>,
) -> Poll<Result<Option<String>, LlmError>> {
    loop {
        let event = match ready!(events.poll_next_unpin(cx)) {
            None => return Poll::Ready(Err(LlmError::Cut)),
            Some(Err(error)) => {
                tracing::debug!(%error, "the model server's stream broke off");
                return Poll::Ready(Err(LlmError::Cut));
            }
            Some(Ok(event)) => event,
        };
        if let Some(read) = text_of(event, finished) {
            return Poll::Ready(read);
        }
    }
}

/// What one event says: a text, the answer's end, an error; `None` when it says nothing
/// (keep-alives, comments, ids, chunks with no text).
fn text_of(event: Sse, finished: &mut bool) -> Option<Result<Option<String>, LlmError>> {
    if event.event.as_deref() == Some("keepalive") {
        return None;
    }
    let data = event.data?;
    if data == "[DONE]" {
        return Some(Ok(None));
    }
    let chunk: Chunk = match serde_json::from_str(&data) {
        Ok(chunk) => chunk,
        Err(_) => return Some(Err(garbage(&data))),
    };
    if let Some(error) = chunk.error {
        let message = error
            .get("message")
            .and_then(Value::as_str)
            .or(error.as_str())
            .unwrap_or("unknown error");
        return Some(Err(LlmError::Status {
            status: 500,
            message: truncate(message),
        }));
    }
    let choice = chunk.choices?.into_iter().next()?;
    *finished = choice
        .finish_reason
        .is_some_and(|reason| !reason.is_empty());
    let text = choice.delta.and_then(|delta| delta.content);
    match text.filter(|text| !text.is_empty()) {
        Some(text) => Some(Ok(Some(text))),
        None => finished.then_some(Ok(None)),
    }
}

/// Errors from async-openai's HTTP stack (failed responses come as responses, to
/// `status_error`): a 429 its retry layer gave up on, a connection that keeps failing, a
/// response that broke off.
fn map_error(error: OpenAIError) -> LlmError {
    match error {
        OpenAIError::ApiError(response) => LlmError::Status {
            status: response.status_code.as_u16(),
            message: truncate(&response.api_error.message),
        },
        OpenAIError::Reqwest(error) if error.is_connect() || error.is_timeout() => {
            LlmError::Connect(error.to_string())
        }
        OpenAIError::Reqwest(error) => {
            tracing::debug!(%error, "the model server's response broke off");
            LlmError::Cut
        }
        OpenAIError::JSONDeserialize(_, content) => garbage(&content),
        other => garbage(&other.to_string()),
    }
}

fn garbage(content: &str) -> LlmError {
    tracing::debug!(content = %truncate(content), "unreadable data from the model server");
    LlmError::Garbage
}

fn truncate(text: &str) -> String {
    text.chars().take(200).collect()
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    use super::*;

    fn arguments(api_key: &str) -> OpenAiArguments {
        OpenAiArguments {
            base_url: "http://127.0.0.1:9/v1".into(),
            model: "m".into(),
            api_key: api_key.into(),
            temperature: 0.0,
            max_tokens: 16,
            connect_timeout: Duration::from_secs(1),
            first_token_timeout: Duration::from_secs(1),
            idle_timeout: Duration::from_secs(1),
            max_concurrent_streams: 1,
            http2_prior_knowledge: false,
            connections: 1,
        }
    }

    #[test]
    fn a_key_no_header_may_carry_is_refused_not_a_panic() {
        let refused = OpenAi::new(arguments("sk-test\r"));
        assert!(
            matches!(&refused, Err(LlmError::Connect(message)) if message.contains("API key")),
            "{:?}",
            refused.err()
        );
        assert!(OpenAi::new(arguments("sk-test")).is_ok());
    }

    /// Reads one request (head and `content-length` body) off `socket`.
    async fn read_request(socket: &mut TcpStream) {
        let mut request = Vec::new();
        let mut buffer = [0u8; 4096];
        loop {
            let n = socket.read(&mut buffer).await.unwrap();
            assert!(n > 0, "the client left before sending its request");
            request.extend_from_slice(&buffer[..n]);
            let text = String::from_utf8_lossy(&request).to_ascii_lowercase();
            if let Some(end) = text.find("\r\n\r\n") {
                let length: usize = text
                    .lines()
                    .find_map(|line| line.strip_prefix("content-length:"))
                    .map_or(0, |value| value.trim().parse().unwrap());
                if request.len() >= end + 4 + length {
                    return;
                }
            }
        }
    }

    #[test]
    fn error_bodies_are_read_in_every_shape_servers_send() {
        let message = |body: Value| error_message(&body).map(str::to_owned);
        let openai = json!({"error": {"message": "Rate limit reached", "type": "x"}});
        assert_eq!(message(openai).as_deref(), Some("Rate limit reached"));
        let ollama = json!({"error": "model \"llama3\" not found"});
        assert_eq!(
            message(ollama).as_deref(),
            Some("model \"llama3\" not found")
        );
        let vllm = json!({"object": "error", "message": "no such model", "code": 404});
        assert_eq!(message(vllm).as_deref(), Some("no such model"));
        assert_eq!(message(json!({"detail": "Not Found"})), None);
        assert_eq!(message(json!("a string")), None);
    }

    #[tokio::test]
    async fn an_answer_dropped_after_its_last_text_is_still_read_to_its_end() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (dropped, on_drop) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            read_request(&mut socket).await;
            let chunk = |data: &str| format!("{:x}\r\n{data}\r\n", data.len());
            let last = r#"data: {"choices":[{"delta":{"content":"Hi"},"finish_reason":"stop"}]}"#;
            let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\
                        transfer-encoding: chunked\r\n\r\n";
            let first = format!("{head}{}", chunk(&format!("{last}\n\n")));
            socket.write_all(first.as_bytes()).await.unwrap();
            on_drop.await.unwrap();
            let end = format!("{}0\r\n\r\n", chunk("data: [DONE]\n\n"));
            socket.write_all(end.as_bytes()).await.unwrap();
            // A client that read the response to its end keeps the connection for its next
            // request; one that gave up on it closes it.
            let mut byte = [0u8; 1];
            let read = tokio::time::timeout(Duration::from_millis(300), socket.read(&mut byte));
            matches!(read.await, Ok(Ok(0) | Err(_)))
        });
        let mut arguments = arguments("");
        arguments.base_url = format!("http://{address}/v1");
        let provider = OpenAi::new(arguments).unwrap();
        let prompt = Prompt {
            system: String::new(),
            history: Vec::new(),
            question: "hi".into(),
            passages: Vec::new(),
            language: crate::language::Lang::En,
            extract: None,
        };
        let mut texts = provider.answer(&prompt).unwrap();
        assert_eq!(texts.next().await.unwrap().unwrap(), "Hi");
        // The visitor leaves before the stream is polled for its end.
        drop(texts);
        dropped.send(()).unwrap();
        let closed = server.await.unwrap();
        assert!(
            !closed,
            "the finished answer's response was cut off, not read to its end"
        );
    }
}
