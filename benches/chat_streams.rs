//! Load benchmark: many concurrent chat streams relayed from a fast fake upstream.
//!
//! A fake OpenAI-compatible upstream (this binary, re-run as a child process) streams `TOKENS`
//! tokens per answer at `TOKENS_PER_SECOND`, each token carrying the time it was written. For
//! each level (1k, 5k, 10k concurrent streams) the same clients read the upstream directly —
//! the baseline — and through each relay in the same run, taking turns: nginx as a plain
//! reverse proxy (`proxy_buffering off`, the floor for any relay: it copies bytes and parses
//! nothing) and the real `helpyap` binary (which parses every chunk and writes the AI SDK
//! stream). Reported: per-token latency p50/p99 direct and through the relay and their
//! difference (the latency the relay adds), the relay's RSS per open stream and CPU time per
//! relayed token, and helpyap ÷ nginx.
//!
//! Run: `cargo bench --bench chat_streams` (as root: it raises the open-file limit to 100k).
//! Needs Debian's `nginx-light` for the nginx column.
//! Knobs: HELPYAP_BENCH_LEVELS (default "1000,5000,10000"), HELPYAP_BENCH_TOKENS (60),
//! HELPYAP_BENCH_TOKENS_PER_SECOND (10), HELPYAP_BENCH_RELAYS ("nginx,helpyap"),
//! HELPYAP_BENCH_UPSTREAM_HTTP2 (1: helpyap talks h2c to the upstream, as to an HTTPS model
//! server that negotiates HTTP/2; 0: one HTTP/1.1 connection per answer, which needs two file
//! descriptors per stream in helpyap; nginx always uses one HTTP/1.1 connection per answer),
//! HELPYAP_BENCH_UPSTREAM_CONNECTIONS (16: helpyap's `llm.connections`), HELPYAP_BENCH_ROUNDS (3,
//! after a warm-up round not counted; HELPYAP_BENCH_WARMUP=0 skips it; the baseline and the
//! relays take turns going first; medians are reported), HELPYAP_BENCH_PIN (1: the relays on the
//! one server core — both stay up all along, one loaded at a time — and the clients and the
//! upstream on the other; 0: shared).
#![allow(unsafe_code)] // libc calls, each with a SAFETY comment (see Cargo.toml)

mod common;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::{FutureExt, stream};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::json;
use tokio::net::TcpSocket;

use common::{
    Nginx, PLACEMENT, Server, ServerConfig, announced_addr, cpu_seconds, dies_with_us, in_rounds,
    knob, median, percentile, raise_open_file_limit, rss_kib,
};

/// Set in the environment of the bench's own child process that serves as the fake upstream.
/// It is a process of its own so that, at 10k streams, its connections and the clients' fit
/// the open-file limit separately (20 000 on these machines) when the baseline or nginx needs
/// one upstream connection per stream.
const UPSTREAM_ROLE: &str = "HELPYAP_BENCH_RUN_AS_UPSTREAM";
/// New streams opened per millisecond (10k a second): a steady ramp, so that listen backlogs
/// never overflow and the streams' token times spread evenly over the token interval, as
/// visitors arriving at their own moments would. (Opening 250 at a time every 25 ms made every
/// fifth batch share its token instants: bursts of up to 1 250 tokens in the same millisecond.)
const RAMP_PER_MS: usize = 10;

fn main() {
    PLACEMENT.pin_load_generator();
    raise_open_file_limit(100_000);
    let tokens: u64 = knob("HELPYAP_BENCH_TOKENS", "60").parse().unwrap();
    let rate: u64 = knob("HELPYAP_BENCH_TOKENS_PER_SECOND", "10")
        .parse()
        .unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let interval = Duration::from_micros(1_000_000 / rate);
    if std::env::var_os(UPSTREAM_ROLE).is_some() {
        let addr = runtime.block_on(start_upstream(tokens, interval));
        println!("upstream on {addr}");
        runtime.block_on(std::future::pending::<()>());
    }
    let levels: Vec<usize> = knob("HELPYAP_BENCH_LEVELS", "1000,5000,10000")
        .split(',')
        .map(|level| level.trim().parse().unwrap())
        .collect();
    let upstream_process = UpstreamProcess::start();
    let upstream = upstream_process.addr;
    let load = [std::process::id(), upstream_process.child.id()];
    let data_dir = tempfile::tempdir().unwrap();
    let http2 = knob("HELPYAP_BENCH_UPSTREAM_HTTP2", "1") == "1";
    let connections: usize = knob("HELPYAP_BENCH_UPSTREAM_CONNECTIONS", "16")
        .parse()
        .unwrap();
    let relays: Vec<Relay> = knob("HELPYAP_BENCH_RELAYS", "nginx,helpyap")
        .split(',')
        .map(|name| match name.trim() {
            "nginx" => Relay::Nginx(start_nginx(upstream, data_dir.path())),
            "helpyap" => Relay::Helpyap(Server::start(
                &server_config(upstream, http2, connections),
                data_dir.path(),
            )),
            other => panic!("unknown relay {other:?}: nginx or helpyap"),
        })
        .collect();
    println!(
        "chat streams: {tokens} tokens per answer at {rate} tokens/s; helpyap to upstream over {}, nginx over HTTP/1.1; the load is the clients (the bench process) and the upstream (its child), each relay runs as its own process(es); latencies of the steady window (every stream open), medians of {} rounds; {}",
        if http2 {
            format!("h2c, {connections} connections")
        } else {
            "HTTP/1.1".to_owned()
        },
        knob("HELPYAP_BENCH_ROUNDS", "3"),
        PLACEMENT.describe()
    );
    println!(
        "{:>7} | {:>7} | {:>23} | {:>23} | {:>17} | {:>10} | {:>9} | {:>14} | {:>10}",
        "streams",
        "relay",
        "upstream direct p50/p99",
        "through relay p50/p99",
        "added p50/p99",
        "RSS/stream",
        "CPU/token",
        "load CPU/token",
        "cores busy"
    );
    let rounds: usize = knob("HELPYAP_BENCH_ROUNDS", "3").parse().unwrap();
    for &n_streams in &levels {
        // Entry 0 reads the upstream directly (the baseline); entry n, through relay n - 1.
        let runs = in_rounds(relays.len() + 1, rounds, |entry, _| {
            let (target, pids, name) = match entry {
                0 => (Target::Upstream(upstream), Vec::new(), "the upstream"),
                n => (
                    relays[n - 1].target(),
                    relays[n - 1].pids(),
                    relays[n - 1].name(),
                ),
            };
            let rss_before: u64 = pids.iter().map(|&pid| rss_kib(pid)).sum();
            let run = runtime.block_on(run_clients(n_streams, target, &pids, &load));
            assert_eq!(
                run.failed, 0,
                "{} of {n_streams} streams failed through {name}",
                run.failed
            );
            Figures::of(&run, rss_before, n_streams)
        });
        let median_of =
            |runs: &[Figures], value: fn(&Figures) -> f64| median(runs.iter().map(value));
        let direct = &runs[0];
        let (d50, d99) = (
            median_of(direct, |f| f.steady_p50_ms),
            median_of(direct, |f| f.steady_p99_ms),
        );
        let mut steady_rows = Vec::new();
        for (relay, through) in relays.iter().zip(&runs[1..]) {
            let (t50, t99) = (
                median_of(through, |f| f.steady_p50_ms),
                median_of(through, |f| f.steady_p99_ms),
            );
            let cpu_per_token = median_of(through, |f| f.cpu_per_token_us);
            println!(
                "{n_streams:>7} | {:>7} | {:>8.2} / {:>7.2} ms | {:>8.2} / {:>7.2} ms | {:>6.2} / {:>6.2} ms | {:>6.1} KiB | {:>6.2} µs | {:>11.2} µs | {:>10.2}",
                relay.name(),
                d50,
                d99,
                t50,
                t99,
                t50 - d50,
                t99 - d99,
                median_of(through, |f| f.rss_per_stream_kib),
                cpu_per_token,
                median_of(through, |f| f.load_cpu_per_token_us),
                median_of(through, |f| f.cores_busy),
            );
            steady_rows.push((relay.name(), t99 - d99, cpu_per_token));
        }
        if let [
            ("nginx", nginx_p99, nginx_cpu),
            ("helpyap", ours_p99, ours_cpu),
        ] = steady_rows[..]
        {
            println!(
                "{n_streams:>7} | helpyap ÷ nginx CPU/token {:.2}; added p99 {ours_p99:.2} ms vs {nginx_p99:.2} ms ({:+.2} ms)",
                ours_cpu / nginx_cpu,
                ours_p99 - nginx_p99,
            );
        }
    }
}

/// One run's figures over the steady window (every stream open), in the table's units.
struct Figures {
    steady_p50_ms: f64,
    steady_p99_ms: f64,
    rss_per_stream_kib: f64,
    cpu_per_token_us: f64,
    load_cpu_per_token_us: f64,
    /// The relay's and the load's CPU over the window's length: how many cores were busy.
    cores_busy: f64,
}

impl Figures {
    fn of(run: &RunResult, rss_before: u64, n_streams: usize) -> Figures {
        let steady = &run.steady;
        let window_seconds = (steady.to_us - steady.from_us) / 1e6;
        Figures {
            steady_p50_ms: percentile(&run.steady_latencies_us, 50.0) / 1e3,
            steady_p99_ms: percentile(&run.steady_latencies_us, 99.0) / 1e3,
            rss_per_stream_kib: steady.rss_kib.saturating_sub(rss_before) as f64 / n_streams as f64,
            cpu_per_token_us: steady.cpu_seconds * 1e6 / steady.tokens as f64,
            load_cpu_per_token_us: steady.load_cpu_seconds * 1e6 / steady.tokens as f64,
            cores_busy: (steady.cpu_seconds + steady.load_cpu_seconds) / window_seconds,
        }
    }
}

/// A relay under test, running for the whole benchmark.
enum Relay {
    Nginx(Nginx),
    Helpyap(Server),
}

impl Relay {
    fn name(&self) -> &'static str {
        match self {
            Relay::Nginx(_) => "nginx",
            Relay::Helpyap(_) => "helpyap",
        }
    }

    fn target(&self) -> Target {
        match self {
            Relay::Nginx(_) => Target::Nginx(NGINX_ADDR.parse().unwrap()),
            Relay::Helpyap(server) => Target::Helpyap(server.addr),
        }
    }

    /// The processes whose CPU time and memory are the relay's.
    fn pids(&self) -> Vec<u32> {
        match self {
            Relay::Nginx(nginx) => nginx.pids(),
            Relay::Helpyap(server) => vec![server.pid()],
        }
    }
}

#[derive(Clone, Copy)]
enum Target {
    Upstream(SocketAddr),
    Nginx(SocketAddr),
    Helpyap(SocketAddr),
}

struct RunResult {
    /// The latencies of tokens received while every stream was open, sorted.
    steady_latencies_us: Vec<f64>,
    failed: usize,
    steady: Steady,
}

/// The server while every stream is open: from the moment the last stream got its first token
/// until the first stream ends, so stream setup and teardown are not counted.
struct Steady {
    /// `now_us()` readings.
    from_us: f64,
    to_us: f64,
    rss_kib: u64,
    cpu_seconds: f64,
    /// CPU time of the load (the clients and the fake upstream) over the same window.
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
/// of every token. Samples the `relay` processes' RSS and CPU (none when reading the upstream
/// directly) and the `load` processes' CPU while all streams are open.
async fn run_clients(n_streams: usize, target: Target, relay: &[u32], load: &[u32]) -> RunResult {
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
    let relay_cpu = || relay.iter().map(|&pid| cpu_seconds(pid)).sum::<f64>();
    let load_cpu = || load.iter().map(|&pid| cpu_seconds(pid)).sum::<f64>();
    let _ = progress.opened.acquire_many(n_streams as u32).await;
    let from_us = now_us();
    let (rss_kib, cpu_start, load_cpu_start, tokens_start) = (
        relay.iter().map(|&pid| rss_kib(pid)).sum(),
        relay_cpu(),
        load_cpu(),
        progress.tokens.load(Relaxed),
    );
    let mut first_end = std::pin::pin!(first_end);
    if (&mut first_end).now_or_never().is_some() {
        eprintln!(
            "warning: a stream ended before the last one started; raise HELPYAP_BENCH_TOKENS"
        );
    }
    first_end.await;
    let steady = Steady {
        from_us,
        to_us: now_us(),
        rss_kib,
        cpu_seconds: relay_cpu() - cpu_start,
        load_cpu_seconds: load_cpu() - load_cpu_start,
        tokens: progress.tokens.load(Relaxed) - tokens_start,
    };
    let steady_window = (steady.from_us, steady.to_us);
    let mut result = RunResult {
        steady_latencies_us: Vec::new(),
        failed: 0,
        steady,
    };
    let window = steady_window.0..=steady_window.1;
    for task in tasks {
        let Some(latencies) = task.await.unwrap() else {
            result.failed += 1;
            continue;
        };
        for (received_us, latency_us) in latencies {
            if window.contains(&received_us) {
                result.steady_latencies_us.push(latency_us);
            }
        }
    }
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
        Target::Nginx(addr) => client
            .post(format!("http://{addr}/api/chat"))
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
        Target::Upstream(_) | Target::Nginx(_) => b"\"content\":\"",
        Target::Helpyap(_) => b"\"delta\":\"",
    };
    let mut pending: Vec<u8> = Vec::new();
    let mut latencies = Vec::new();
    let mut signalled = false;
    while let Some(chunk) = response.chunk().await.ok()? {
        let now_us = now_us();
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

/// Microseconds on the system's monotonic clock: the upstream process stamps tokens with it and
/// the clients read it, so both processes' readings compare.
fn now_us() -> f64 {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime only fills the struct we pass.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
    now.tv_sec as f64 * 1e6 + (now.tv_nsec / 1000) as f64
}

/// This benchmark's binary run again as the fake upstream; killed when dropped, or with us.
struct UpstreamProcess {
    child: std::process::Child,
    addr: SocketAddr,
}

impl UpstreamProcess {
    fn start() -> UpstreamProcess {
        let mut command = std::process::Command::new(std::env::current_exe().unwrap());
        command
            .env(UPSTREAM_ROLE, "1")
            .stdout(std::process::Stdio::piped());
        dies_with_us(&mut command, libc::SIGKILL);
        let mut child = command.spawn().unwrap();
        let addr = announced_addr(&mut child, "upstream on ");
        UpstreamProcess { child, addr }
    }
}

impl Drop for UpstreamProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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
                        let sent = now_us() as u64;
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

const NGINX_ADDR: &str = "127.0.0.1:8091";

/// nginx as a plain streaming reverse proxy to the upstream, with as many workers as the cores
/// it may use (helpyap runs as many threads: one when pinned) and pooled upstream connections.
fn start_nginx(upstream: SocketAddr, dir: &std::path::Path) -> Nginx {
    let prefix = dir.join("nginx");
    let tmp = prefix.join("tmp");
    let conf = format!(
        r#"
worker_processes {workers};
daemon off;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 19000; }}
http {{
  access_log off;
  client_body_temp_path {tmp}/body;
  proxy_temp_path {tmp}/proxy;
  fastcgi_temp_path {tmp}/fcgi;
  uwsgi_temp_path {tmp}/uwsgi;
  scgi_temp_path {tmp}/scgi;
  upstream llm {{ server {upstream}; keepalive 1024; }}
  server {{
    listen {NGINX_ADDR} backlog=4096;
    location = /api/chat {{
      proxy_pass http://llm/v1/chat/completions;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
      proxy_read_timeout 120s;
    }}
  }}
}}
"#,
        prefix = prefix.display(),
        tmp = tmp.display(),
        workers = PLACEMENT.server_cpus(),
    );
    std::fs::create_dir_all(&prefix).unwrap();
    let conf_path = prefix.join("nginx.conf");
    std::fs::write(&conf_path, conf).unwrap();
    Nginx::start(&conf_path, &prefix, NGINX_ADDR)
}

/// helpyap's config for this benchmark.
fn server_config(upstream: SocketAddr, http2: bool, connections: usize) -> ServerConfig {
    ServerConfig::new("Bench Bot")
        .rate_limit("chat", 1_000_000)
        .set("llm", "provider", "openai")
        .set("llm", "base_url", format!("http://{upstream}/v1"))
        .set("llm", "fallback", "none")
        .set("llm", "first_token_timeout", "60s")
        .set("llm", "max_concurrent_streams", 100_000)
        .set("llm", "http2_prior_knowledge", http2)
        .set("llm", "connections", i64::try_from(connections).unwrap())
        .set("chat", "keep_alive", "60s")
}
