//! Soak: the real binary under a steady mix of traffic for a bounded time, sampled at intervals:
//! RSS, the store's size, open file descriptors, tokio tasks, live actors and streams, model
//! server errors and fallbacks (from `/metrics`), and the p99 latency of the requests of each
//! interval. Flat figures from the first interval to the last mean nothing leaks; RSS also
//! follows the store, whose pages sled caches.
//!
//! The mix each second: config reads, pushes, new chats (each a new session), transcript reads,
//! and 50 SSE visitors who come and go. Chats go to a faulty OpenAI-compatible model server (the
//! test suite's fake): in turn a normal answer, a 500, a lenient answer, a 429, a normal answer, a
//! stall past `llm.idle_timeout`, a normal answer, a cut mid-answer, a normal answer, garbage,
//! a normal answer, no response past `llm.first_token_timeout` — with the extractive fallback.
//!
//! Knobs: HELPYAP_SOAK_SECONDS (600), HELPYAP_SOAK_INTERVAL (60), HELPYAP_SOAK_RATE (requests
//! per second of the mix, 200), HELPYAP_SOAK_CACHE_BYTES (sled's page cache, 8 MiB: small, so
//! that a cache filling up is not mistaken for a leak, nor hides one), HELPYAP_SOAK_UPSTREAM
//! (`faulty`, or `extractive` for no model server), HELPYAP_SOAK_WRAPPER (a command the binary
//! runs under, e.g. `heaptrack -o /tmp/soak`; its RSS is then the wrapped process's).
#![allow(unsafe_code)] // libc calls, each with a SAFETY comment (see Cargo.toml)

#[path = "common/mod.rs"]
mod common;
#[allow(dead_code)] // the soak uses only the model server itself
#[path = "../tests/integration/fake_llm.rs"]
mod fake_llm;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Server, ServerConfig, knob, percentile, rss_kib};
use serde_json::json;

const SECRET: &str = "sp_soak_test_secret_0123456789";

/// What each chat asks the faulty model server for, in turn (markers of `fake_llm`).
const UPSTREAM_BEHAVIOURS: [&str; 12] = [
    "",
    "[500]",
    "[lenient]",
    "[429]",
    "",
    "[stall]",
    "",
    "[cut]",
    "",
    "[garbage]",
    "",
    "[never]",
];

fn config(upstream: Option<&str>) -> ServerConfig {
    let cache_bytes: i64 = knob("HELPYAP_SOAK_CACHE_BYTES", "8388608")
        .parse()
        .expect("HELPYAP_SOAK_CACHE_BYTES is a number of bytes");
    let config = ServerConfig::new("Support Bot")
        .rate_limit("chat", 100_000_000)
        .rate_limit("push", 100_000_000)
        .rate_limit("widget", 100_000_000)
        .set("chat", "session_idle_timeout", "20s")
        .set("store", "cache_bytes", cache_bytes)
        .project("push_secret", SECRET)
        .project(
            "knowledge_dir",
            concat!(env!("CARGO_MANIFEST_DIR"), "/knowledge/demo"),
        );
    match upstream {
        Some(base_url) => config
            .set("llm", "provider", "openai")
            .set("llm", "base_url", base_url)
            .set("llm", "fallback", "extractive")
            .set("llm", "first_token_timeout", "2s")
            .set("llm", "idle_timeout", "1s"),
        None => config,
    }
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|entries| entries.count())
        .unwrap_or(0)
}

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(f64::NAN)
}

fn main() {
    let seconds: u64 = knob("HELPYAP_SOAK_SECONDS", "600").parse().unwrap();
    let interval: u64 = knob("HELPYAP_SOAK_INTERVAL", "60").parse().unwrap();
    let rate: u64 = knob("HELPYAP_SOAK_RATE", "200").parse().unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let upstream = match knob("HELPYAP_SOAK_UPSTREAM", "faulty").as_str() {
        "faulty" => Some(runtime.block_on(fake_llm::FakeLlm::start())),
        "extractive" => None,
        other => panic!("HELPYAP_SOAK_UPSTREAM must be faulty or extractive, not {other}"),
    };
    let config = config(upstream.as_ref().map(|fake| fake.base_url()).as_deref());
    let dir = tempfile::tempdir().unwrap();
    let wrapper = knob("HELPYAP_SOAK_WRAPPER", "");
    let wrapper: Vec<&str> = wrapper.split_whitespace().collect();
    let server = Server::start_wrapped(&config, dir.path(), &wrapper);
    let (addr, pid) = (server.addr, server.pid());
    let base = format!("http://{addr}");
    let model = if upstream.is_some() {
        "a faulty model server"
    } else {
        "the extractive provider"
    };
    println!(
        "soak: {seconds} s at {rate} requests/s (config reads, pushes, chats answered by {model}, transcripts) + 50 SSE visitors coming and going"
    );
    println!(
        "{:>6} | {:>9} | {:>9} | {:>8} | {:>6} | {:>7} | {:>8} | {:>7} | {:>10} | {:>9} | {:>11} | {:>12}",
        "t (s)",
        "RSS KiB",
        "store KiB",
        "open fds",
        "tasks",
        "streams",
        "sessions",
        "projects",
        "llm errors",
        "fallbacks",
        "requests",
        "p99 ms other"
    );
    runtime.block_on(async {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(64)
            .build()
            .unwrap();
        let latencies: Arc<Mutex<Vec<f64>>> = Arc::default();
        let started = Instant::now();
        let end = started + Duration::from_secs(seconds);

        // SSE visitors: each stays 5–15 s, then a new one comes.
        for idx in 0..50u64 {
            let (client, base) = (client.clone(), base.clone());
            tokio::spawn(async move {
                while Instant::now() < end {
                    let stay = Duration::from_secs(5 + (idx * 7) % 11);
                    if let Ok(mut response) = client
                        .get(format!("{base}/api/widget/salespop/stream?project=demo"))
                        .send()
                        .await
                    {
                        let _ = tokio::time::timeout(stay, async {
                            while let Ok(Some(_)) = response.chunk().await {}
                        })
                        .await;
                    }
                }
            });
        }

        // The request mix, paced.
        let mut ticker = tokio::time::interval(Duration::from_micros(1_000_000 / rate.max(1)));
        let mut next_sample = started + Duration::from_secs(interval);
        // The latest chat's session, for transcript reads.
        let last_session: Arc<Mutex<Option<(uuid::Uuid, String)>>> = Arc::default();
        let mut sent = 0u64;
        let sample = |at: Instant, latencies: &Arc<Mutex<Vec<f64>>>, sent: u64| {
            let (client, base, latencies) = (client.clone(), base.clone(), latencies.clone());
            async move {
                let metrics = client
                    .get(format!("{base}/metrics"))
                    .send()
                    .await
                    .unwrap()
                    .text()
                    .await
                    .unwrap();
                let mut window = std::mem::take(&mut *latencies.lock().unwrap());
                window.sort_by(f64::total_cmp);
                println!(
                    "{:>6} | {:>9} | {:>9.0} | {:>8} | {:>6} | {:>7} | {:>8} | {:>7} | {:>10} | {:>9} | {:>11} | {:>12.2}",
                    at.duration_since(started).as_secs(),
                    rss_kib(pid),
                    metric(&metrics, "helpyap_store_size_bytes") / 1024.0,
                    open_fds(pid),
                    metric(&metrics, "helpyap_runtime_tasks"),
                    metric(&metrics, "helpyap_live_streams"),
                    metric(&metrics, "helpyap_live_session_actors"),
                    metric(&metrics, "helpyap_live_project_actors"),
                    metric(&metrics, "helpyap_llm_upstream_errors_total"),
                    metric(&metrics, "helpyap_llm_fallbacks_total"),
                    sent,
                    percentile(&window, 99.0),
                );
            }
        };
        sample(started, &latencies, 0).await;
        while Instant::now() < end {
            ticker.tick().await;
            sent += 1;
            let (client, base, window) = (client.clone(), base.clone(), latencies.clone());
            let kind = sent % 10;
            let transcript = (kind == 9)
                .then(|| last_session.lock().unwrap().clone())
                .flatten();
            let last_session = last_session.clone();
            let new_session = (kind == 8).then(uuid::Uuid::new_v4);
            let behaviour = UPSTREAM_BEHAVIOURS[(sent / 10) as usize % UPSTREAM_BEHAVIOURS.len()];
            tokio::spawn(async move {
                let began = Instant::now();
                let token = match (kind, new_session, transcript) {
                    (0..=4, ..) => {
                        let _ = client
                            .get(format!("{base}/api/widget/config?project=demo"))
                            .send()
                            .await;
                        None
                    }
                    (5..=7, ..) => {
                        let _ = client
                            .post(format!("{base}/api/widget/salespop-push"))
                            .bearer_auth(SECRET)
                            .json(&json!({ "project": "demo", "type": "purchased", "name": "Sarah K." }))
                            .send()
                            .await;
                        None
                    }
                    (_, Some(session), _) => {
                        let response = client
                            .post(format!("{base}/api/chat"))
                            .json(&json!({ "projectSlug": "demo", "sessionId": session, "messages": [{ "role": "user", "content": format!("How long does shipping take? {behaviour}") }] }))
                            .send()
                            .await
                            .ok();
                        let token = response.as_ref().and_then(|r| {
                            r.headers().get("x-session-token")?.to_str().ok().map(str::to_owned)
                        });
                        if let Some(response) = response {
                            let _ = response.text().await;
                        }
                        token.map(|t| (session, t))
                    }
                    (_, None, Some((session, token))) => {
                        let _ = client
                            .get(format!(
                                "{base}/api/widget/session?project=demo&sessionId={session}"
                            ))
                            .header("x-session-token", token)
                            .send()
                            .await;
                        None
                    }
                    _ => None,
                };
                // Chats wait on the model server's faults by design: only the other requests'
                // latencies are the server's own.
                if kind != 8 {
                    window
                        .lock()
                        .unwrap()
                        .push(began.elapsed().as_secs_f64() * 1000.0);
                }
                if let Some(session) = token {
                    *last_session.lock().unwrap() = Some(session);
                }
            });
            if Instant::now() >= next_sample {
                sample(next_sample, &latencies, sent).await;
                next_sample += Duration::from_secs(interval);
            }
        }
    });
    drop(server);
    drop(runtime);
}
