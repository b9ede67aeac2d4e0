//! Load benchmark: many concurrent chat streams relayed from a fast fake upstream.
//!
//! A fake OpenAI-compatible upstream (in this process) streams `TOKENS` tokens per answer at
//! `TOKENS_PER_SECOND`, each token carrying the time it was written. For each level (1k, 5k,
//! 10k concurrent streams) the same clients first read the upstream directly — the baseline —
//! then through the real `helpyap` binary, in the same run. Reported: per-token latency p50/p99
//! of both and their difference (the latency we add), the server's RSS per open stream, and its
//! CPU time per relayed token.
//!
//! Run: `cargo bench --bench chat_streams` (as root: it raises the open-file limit to 100k).
//! Knobs: HELPYAP_BENCH_LEVELS (default "1000,5000,10000"), HELPYAP_BENCH_TOKENS (60),
//! HELPYAP_BENCH_TOKENS_PER_SECOND (10), HELPYAP_BENCH_UPSTREAM_HTTP2 (1: helpyap talks h2c to
//! the upstream, as to an HTTPS model server that negotiates HTTP/2; 0: one HTTP/1.1 connection
//! per answer, which needs two file descriptors per stream in helpyap),
//! HELPYAP_BENCH_UPSTREAM_CONNECTIONS (16: helpyap's `llm.connections`).

mod common;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::{FutureExt, stream};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::json;
use tokio::net::TcpSocket;

use common::{Server, cpu_seconds, knob, percentile, raise_open_file_limit, rss_kib};

/// Every timestamp is microseconds since this instant, shared by upstream and clients.
static EPOCH: LazyLock<Instant> = LazyLock::new(Instant::now);
/// New streams opened per millisecond (10k a second): a steady ramp, so that listen backlogs
/// never overflow and the streams' token times spread evenly over the token interval, as
/// visitors arriving at their own moments would. (Opening 250 at a time every 25 ms made every
/// fifth batch share its token instants: bursts of up to 1 250 tokens in the same millisecond.)
const RAMP_PER_MS: usize = 10;

fn main() {
    raise_open_file_limit(100_000);
    let levels: Vec<usize> = knob("HELPYAP_BENCH_LEVELS", "1000,5000,10000")
        .split(',')
        .map(|level| level.trim().parse().unwrap())
        .collect();
    let tokens: u64 = knob("HELPYAP_BENCH_TOKENS", "60").parse().unwrap();
    let rate: u64 = knob("HELPYAP_BENCH_TOKENS_PER_SECOND", "10")
        .parse()
        .unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    LazyLock::force(&EPOCH);

    let upstream = runtime.block_on(start_upstream(
        tokens,
        Duration::from_micros(1_000_000 / rate),
    ));
    let data_dir = tempfile::tempdir().unwrap();
    let http2 = knob("HELPYAP_BENCH_UPSTREAM_HTTP2", "1") == "1";
    let connections: usize = knob("HELPYAP_BENCH_UPSTREAM_CONNECTIONS", "16")
        .parse()
        .unwrap();
    let server = Server::start(
        &server_config(upstream, http2, connections),
        data_dir.path(),
    );
    println!(
        "chat streams: {tokens} tokens per answer at {rate} tokens/s; helpyap to upstream over {}; upstream and clients in the bench process, helpyap as its own process",
        if http2 {
            format!("h2c, {connections} connections")
        } else {
            "HTTP/1.1".to_owned()
        }
    );
    println!(
        "{:>7} | {:>8} | {:>23} | {:>23} | {:>17} | {:>10} | {:>9} | {:>14} | {:>10}",
        "streams",
        "tokens",
        "upstream direct p50/p99",
        "through helpyap p50/p99",
        "added p50/p99",
        "RSS/stream",
        "CPU/token",
        "load CPU/token",
        "cores busy"
    );
    for &n_streams in &levels {
        let direct = runtime.block_on(run_clients(n_streams, Target::Upstream(upstream), None));
        let rss_before = rss_kib(server.pid());
        let through = runtime.block_on(run_clients(
            n_streams,
            Target::Helpyap(server.addr),
            Some(server.pid()),
        ));
        assert_eq!(
            through.failed, 0,
            "{} streams failed through helpyap",
            through.failed
        );
        let steady = through.steady.expect("sampled");
        let rss_per_stream = steady.rss_kib.saturating_sub(rss_before) as f64 / n_streams as f64;
        let cpu_per_token_us = steady.cpu_seconds * 1e6 / steady.tokens as f64;
        let load_cpu_per_token_us = steady.load_cpu_seconds * 1e6 / steady.tokens as f64;
        let window_seconds = (steady.to_us - steady.from_us) / 1e6;
        let cores = (steady.cpu_seconds + steady.load_cpu_seconds) / window_seconds;
        for (label, direct, through) in [
            ("all", &direct.latencies_us, &through.latencies_us),
            (
                "steady",
                &direct.steady_latencies_us,
                &through.steady_latencies_us,
            ),
        ] {
            let (d50, d99) = (percentile(direct, 50.0), percentile(direct, 99.0));
            let (t50, t99) = (percentile(through, 50.0), percentile(through, 99.0));
            println!(
                "{n_streams:>7} | {label:>8} | {:>8.2} / {:>7.2} ms | {:>8.2} / {:>7.2} ms | {:>6.2} / {:>6.2} ms | {:>6.1} KiB | {:>6.2} µs | {:>11.2} µs | {:>10.2}",
                d50 / 1e3,
                d99 / 1e3,
                t50 / 1e3,
                t99 / 1e3,
                (t50 - d50) / 1e3,
                (t99 - d99) / 1e3,
                rss_per_stream,
                cpu_per_token_us,
                load_cpu_per_token_us,
                cores,
            );
        }
    }
}

#[derive(Clone, Copy)]
enum Target {
    Upstream(SocketAddr),
    Helpyap(SocketAddr),
}

struct RunResult {
    /// Every token's latency, sorted.
    latencies_us: Vec<f64>,
    /// The latencies of tokens received while every stream was open, sorted.
    steady_latencies_us: Vec<f64>,
    failed: usize,
    steady: Option<Steady>,
}

/// The server while every stream is open: from the moment the last stream got its first token
/// until the first stream ends, so stream setup and teardown are not counted.
struct Steady {
    /// Microseconds since `EPOCH`.
    from_us: f64,
    to_us: f64,
    rss_kib: u64,
    cpu_seconds: f64,
    /// CPU time of this process (the fake upstream and the clients) over the same window.
    load_cpu_seconds: f64,
    tokens: u64,
}

/// What the clients tell the sampler: streams that have their first token, tokens received,
/// and whether some stream has ended.
struct Progress {
    opened: tokio::sync::Semaphore,
    tokens: AtomicU64,
    first_end: tokio::sync::Notify,
}

/// Opens `n_streams` answers at once (ramped), reads them to the end, and collects the latency
/// of every token. With `server`, samples that process's RSS and CPU while all streams are open.
async fn run_clients(n_streams: usize, target: Target, server: Option<u32>) -> RunResult {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let progress = Arc::new(Progress {
        opened: tokio::sync::Semaphore::new(0),
        tokens: AtomicU64::new(0),
        first_end: tokio::sync::Notify::new(),
    });
    let first_end = progress.first_end.notified();
    let mut tasks = Vec::with_capacity(n_streams);
    let ramp_start = tokio::time::Instant::now();
    for idx in 0..n_streams {
        if idx > 0 && idx % RAMP_PER_MS == 0 {
            let elapsed = Duration::from_millis((idx / RAMP_PER_MS) as u64);
            tokio::time::sleep_until(ramp_start + elapsed).await;
        }
        let (client, progress) = (client.clone(), progress.clone());
        tasks.push(tokio::spawn(async move {
            let latencies = one_stream(&client, target, &progress).await;
            if latencies.as_ref().is_none_or(Vec::is_empty) {
                // It failed before its first token; it will not be open in the steady window.
                progress.opened.add_permits(1);
            }
            progress.first_end.notify_one();
            latencies
        }));
    }
    let mut steady = None;
    if let Some(pid) = server {
        let _ = progress.opened.acquire_many(n_streams as u32).await;
        let from_us = EPOCH.elapsed().as_micros() as f64;
        let (rss_kib, cpu_start, load_cpu_start, tokens_start) = (
            rss_kib(pid),
            cpu_seconds(pid),
            cpu_seconds(std::process::id()),
            progress.tokens.load(Relaxed),
        );
        let mut first_end = std::pin::pin!(first_end);
        if (&mut first_end).now_or_never().is_some() {
            eprintln!(
                "warning: a stream ended before the last one started; raise HELPYAP_BENCH_TOKENS"
            );
        }
        first_end.await;
        steady = Some(Steady {
            from_us,
            to_us: EPOCH.elapsed().as_micros() as f64,
            rss_kib,
            cpu_seconds: cpu_seconds(pid) - cpu_start,
            load_cpu_seconds: cpu_seconds(std::process::id()) - load_cpu_start,
            tokens: progress.tokens.load(Relaxed) - tokens_start,
        });
    }
    let mut result = RunResult {
        latencies_us: Vec::new(),
        steady_latencies_us: Vec::new(),
        failed: 0,
        steady,
    };
    let window = result
        .steady
        .as_ref()
        .map(|steady| steady.from_us..=steady.to_us);
    for task in tasks {
        let Some(latencies) = task.await.unwrap() else {
            result.failed += 1;
            continue;
        };
        for (received_us, latency_us) in latencies {
            result.latencies_us.push(latency_us);
            if window
                .as_ref()
                .is_none_or(|window| window.contains(&received_us))
            {
                result.steady_latencies_us.push(latency_us);
            }
        }
    }
    result.latencies_us.sort_by(f64::total_cmp);
    result.steady_latencies_us.sort_by(f64::total_cmp);
    result
}

/// The stream's tokens as (received at, latency), in microseconds.
async fn one_stream(
    client: &reqwest::Client,
    target: Target,
    progress: &Progress,
) -> Option<Vec<(f64, f64)>> {
    let request = match target {
        Target::Upstream(addr) => client
            .post(format!("http://{addr}/v1/chat/completions"))
            .json(&json!({"stream": true})),
        Target::Helpyap(addr) => client.post(format!("http://{addr}/api/chat")).json(&json!({
            "projectSlug": "demo",
            "sessionId": uuid::Uuid::new_v4().to_string(),
            "messages": [{ "role": "user", "content": "What is your return policy?" }],
        })),
    };
    let mut response = request.send().await.ok()?;
    if !response.status().is_success() {
        return None;
    }
    // A plain byte scan for the number each token carries: the load client should cost as
    // little as it can, since it shares the machine with the server it measures.
    let field: &[u8] = match target {
        Target::Upstream(_) => b"\"content\":\"",
        Target::Helpyap(_) => b"\"delta\":\"",
    };
    let mut pending: Vec<u8> = Vec::new();
    let mut latencies = Vec::new();
    let mut signalled = false;
    while let Some(chunk) = response.chunk().await.ok()? {
        let now_us = EPOCH.elapsed().as_micros() as f64;
        pending.extend_from_slice(&chunk);
        let mut start = 0;
        while let Some(end) = find(&pending[start..], b"\n\n").map(|at| start + at) {
            let event = &pending[start..end];
            start = end + 2;
            let Some(sent_us) =
                find(event, field).and_then(|at| number_at(&event[at + field.len()..]))
            else {
                continue;
            };
            latencies.push((now_us, now_us - sent_us));
            progress.tokens.fetch_add(1, Relaxed);
            if !signalled {
                signalled = true;
                progress.opened.add_permits(1);
            }
        }
        pending.drain(..start);
    }
    Some(latencies)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

/// The decimal number at the start of `text`, if any.
fn number_at(text: &[u8]) -> Option<f64> {
    let digits = text.iter().take_while(|byte| byte.is_ascii_digit()).count();
    std::str::from_utf8(&text[..digits]).ok()?.parse().ok()
}

/// The fake upstream: every answer is `tokens` chunks, `interval` apart, each chunk's text the
/// microsecond it was written.
async fn start_upstream(tokens: u64, interval: Duration) -> SocketAddr {
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_reuseaddr(true).unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(4096).unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            // Like any streaming server: without it Nagle holds small h2 frames for the ACK.
            let _ = stream.set_nodelay(true);
            let service = service_fn(move |_request| async move {
                let started = Instant::now();
                let chunks = stream::unfold(0u64, move |idx| async move {
                    if idx > tokens + 1 {
                        return None;
                    }
                    tokio::time::sleep_until((started + interval * idx as u32).into()).await;
                    let data = if idx == tokens + 1 {
                        "data: [DONE]\n\n".to_owned()
                    } else if idx == tokens {
                        format!(
                            "data: {}\n\n",
                            json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
                        )
                    } else {
                        let sent = EPOCH.elapsed().as_micros();
                        format!(
                            r#"data: {{"choices":[{{"index":0,"delta":{{"content":"{sent} "}},"finish_reason":null}}]}}"#
                        ) + "\n\n"
                    };
                    Some((Ok::<_, Infallible>(Frame::data(Bytes::from(data))), idx + 1))
                });
                let mut response = hyper::Response::new(StreamBody::new(chunks).boxed_unsync());
                response
                    .headers_mut()
                    .insert("content-type", "text/event-stream".parse().unwrap());
                Ok::<_, Infallible>(response)
            });
            tokio::spawn(async move {
                let mut builder =
                    hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                builder.http2().max_concurrent_streams(None);
                let _ = builder
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

/// helpyap's config for this benchmark.
fn server_config(upstream: SocketAddr, http2: bool, connections: usize) -> String {
    format!(
        r#"
[server]
bind = "127.0.0.1:0"
log_level = "warn"
# Every load client is 127.0.0.1.
max_connections_per_ip = 0
max_streams_per_ip = 0
[rate_limits]
chat = {{ requests = 1000000, window = "60s" }}
[llm]
provider = "openai"
base_url = "http://{upstream}/v1"
fallback = "none"
first_token_timeout = "60s"
max_concurrent_streams = 100000
http2_prior_knowledge = {http2}
connections = {connections}
[chat]
keep_alive = "60s"
[[projects]]
slug = "demo"
name = "Bench Bot"
"#
    )
}
