//! The `openai` provider: streams answers from any OpenAI-compatible chat-completions server
//! (OpenAI, Azure, Ollama, vLLM, llama.cpp) through async-openai.
//!
//! Chunks are read with our own lenient type (async-openai's `byot`), taking only
//! `choices[0].delta.content` and `finish_reason`, because servers differ in which other fields
//! they send and async-openai's typed parser rejects chunks without e.g. `created` or `object`;
//! every other field is skipped without being built. It enforces the connect, first-token and
//! idle timeouts and the cap on concurrent streams.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_openai::Client;
use async_openai::config::OpenAIConfig;
use async_openai::error::OpenAIError;
use async_openai::middleware::ReqwestService;
use async_openai::middleware::retry::OpenAIRetryLayer;
use futures_util::{Stream, StreamExt, stream};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::deadline::{Deadline, now};
use crate::llm::stream_end::end_gracefully;
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

pub struct OpenAi {
    clients: Vec<Client<OpenAIConfig>>,
    /// Which client the next answer goes to.
    turn: AtomicUsize,
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

type ChunkStream = std::pin::Pin<Box<dyn Stream<Item = Result<Chunk, OpenAIError>> + Send>>;

enum State {
    Connecting(Box<(Client<OpenAIConfig>, Value)>),
    /// `finished`: a chunk carried a `finish_reason`; the answer is complete. `idle`: when the
    /// silence since the last chunk becomes too long; pushed back on every chunk.
    Streaming {
        chunks: ChunkStream,
        finished: bool,
        idle: Deadline,
    },
    Done,
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
        let clients = (0..args.connections.max(1))
            .map(|_| client(&args))
            .collect::<Result<_, _>>()?;
        let permits = Arc::new(Semaphore::new(args.max_concurrent_streams.max(1)));
        Ok(OpenAi {
            clients,
            turn: AtomicUsize::new(0),
            args,
            permits,
        })
    }

    fn request_body(&self, prompt: &Prompt) -> Value {
        let mut messages = vec![json!({ "role": "system", "content": prompt.system })];
        for turn in &prompt.history {
            let role = if turn.from_user { "user" } else { "assistant" };
            messages.push(json!({ "role": role, "content": turn.text }));
        }
        messages.push(json!({ "role": "user", "content": prompt.question }));
        json!({
            "model": self.args.model,
            "messages": messages,
            "stream": true,
            "temperature": self.args.temperature,
            "max_tokens": self.args.max_tokens,
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
        let first_token_timeout = self.args.first_token_timeout;
        let idle_timeout = self.args.idle_timeout;
        let turn = self.turn.fetch_add(1, Ordering::Relaxed) % self.clients.len();
        let client = self.clients[turn].clone();
        let start = State::Connecting(Box::new((client, self.request_body(prompt))));
        let texts = stream::unfold((start, permit), move |(state, permit)| async move {
            next_text(state, permit, first_token_timeout, idle_timeout).await
        });
        Ok(Box::pin(texts))
    }
}

/// An async-openai client with a connection pool of its own.
fn client(args: &OpenAiArguments) -> Result<Client<OpenAIConfig>, LlmError> {
    let mut http = reqwest::Client::builder()
        .connect_timeout(args.connect_timeout)
        .http2_initial_connection_window_size(UPSTREAM_CONNECTION_WINDOW);
    if args.http2_prior_knowledge {
        http = http.http2_prior_knowledge();
    }
    let http = http
        .build()
        .map_err(|error| LlmError::Connect(error.to_string()))?;
    let config = OpenAIConfig::new()
        .with_api_base(&args.base_url)
        .with_api_key(&args.api_key);
    // async-openai's own stack (its retries of 429, 5xx and refused connections), with every
    // response wrapped so that a finished answer's stream ends instead of being reset.
    let idle_timeout = args.idle_timeout;
    let service = tower::ServiceBuilder::new()
        .layer(OpenAIRetryLayer::default())
        .map_response(move |response| end_gracefully(response, idle_timeout))
        .service(ReqwestService::new(http));
    Ok(Client::with_config(config).with_http_service(service))
}

/// One step of the answer: the next text delta, an error (which ends it), or the end.
async fn next_text(
    state: State,
    permit: OwnedSemaphorePermit,
    first_token_timeout: Duration,
    idle_timeout: Duration,
) -> Option<(Result<String, LlmError>, (State, OwnedSemaphorePermit))> {
    let (result, next_state) = match state {
        State::Done => return None,
        State::Streaming {
            chunks,
            finished: true,
            ..
        } => {
            read_to_end(chunks, idle_timeout);
            return None;
        }
        State::Connecting(request) => {
            let (client, body) = *request;
            let first = async {
                let mut chunks: ChunkStream = client
                    .chat()
                    .create_stream_byot(body)
                    .await
                    .map_err(map_error)?;
                let mut finished = false;
                let text = read_text(&mut chunks, &mut finished).await?;
                Ok::<_, LlmError>((text, chunks, finished))
            };
            match tokio::time::timeout(first_token_timeout, first).await {
                Err(_) => (
                    Err(LlmError::FirstTokenTimeout(first_token_timeout)),
                    State::Done,
                ),
                Ok(Err(error)) => (Err(error), State::Done),
                Ok(Ok((Some(text), chunks, finished))) => {
                    let idle = Deadline::after(idle_timeout);
                    let streaming = State::Streaming {
                        chunks,
                        finished,
                        idle,
                    };
                    (Ok(text), streaming)
                }
                Ok(Ok((None, chunks, _))) => {
                    read_to_end(chunks, idle_timeout);
                    return None;
                }
            }
        }
        State::Streaming {
            mut chunks,
            finished: false,
            mut idle,
        } => {
            let mut finished = false;
            let read = tokio::select! {
                biased;
                read = read_text(&mut chunks, &mut finished) => read,
                () = &mut idle => Err(LlmError::IdleTimeout(idle_timeout)),
            };
            match read {
                Err(error) => (Err(error), State::Done),
                Ok(Some(text)) => {
                    idle.set(now() + idle_timeout);
                    let streaming = State::Streaming {
                        chunks,
                        finished,
                        idle,
                    };
                    (Ok(text), streaming)
                }
                Ok(None) => {
                    read_to_end(chunks, idle_timeout);
                    return None;
                }
            }
        }
    };
    Some((result, (next_state, permit)))
}

/// Reads what the model server still sends after the answer's last chunk (`[DONE]`, usage)
/// in the background, so the HTTP/2 stream ends by itself instead of being reset. h2 counts
/// every frame that arrives for a stream it has forgotten after resetting it as an error and,
/// after 1024 such errors, closes the whole connection (GOAWAY `too_many_internal_resets`),
/// failing every answer on it: resetting each finished answer did that within seconds at a few
/// thousand concurrent answers. A visitor who leaves still cancels at once.
fn read_to_end(mut chunks: ChunkStream, limit: Duration) {
    tokio::spawn(async move {
        let _ = tokio::time::timeout(limit, async {
            while let Some(Ok(_)) = chunks.next().await {}
        })
        .await;
    });
}

/// Reads chunks until one carries text (`Some`) or the answer finishes (`None`); sets
/// `finished` when the text came in the answer's last chunk. A stream that ends without a
/// `finish_reason` was cut off.
async fn read_text(
    chunks: &mut ChunkStream,
    finished: &mut bool,
) -> Result<Option<String>, LlmError> {
    loop {
        let chunk = match chunks.next().await {
            None => return Err(LlmError::Cut),
            Some(Err(error)) => return Err(map_error(error)),
            Some(Ok(chunk)) => chunk,
        };
        if let Some(error) = chunk.error {
            let message = error
                .get("message")
                .and_then(Value::as_str)
                .or(error.as_str())
                .unwrap_or("unknown error");
            return Err(LlmError::Status {
                status: 500,
                message: truncate(message),
            });
        }
        let Some(choice) = chunk.choices.and_then(|choices| choices.into_iter().next()) else {
            continue;
        };
        *finished = choice
            .finish_reason
            .is_some_and(|reason| !reason.is_empty());
        let text = choice.delta.and_then(|delta| delta.content);
        if let Some(text) = text.filter(|text| !text.is_empty()) {
            return Ok(Some(text));
        }
        if *finished {
            return Ok(None);
        }
    }
}

fn map_error(error: OpenAIError) -> LlmError {
    match error {
        OpenAIError::ApiError(response) => LlmError::Status {
            status: response.status_code.as_u16(),
            message: truncate(&response.api_error.message),
        },
        OpenAIError::Reqwest(error) if error.is_connect() || error.is_timeout() => {
            LlmError::Connect(error.to_string())
        }
        OpenAIError::Reqwest(_) | OpenAIError::StreamError(_) => {
            tracing::debug!(%error, "the model server's stream broke off");
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
