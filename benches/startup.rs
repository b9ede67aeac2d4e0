//! Start and memory (issue 22, part 7): the real binary started cold on a store holding many
//! projects, and its memory under a mix of idle visitors and streaming chats.
//!
//! - **Cold start**: a first run seeds HELPYAP_BENCH_PROJECTS (1000) projects, each with the
//!   demo help center's 6 documents; then the server is started again from that store
//!   (HELPYAP_BENCH_ROUNDS, 3, after a warm-up start not counted) with a config naming only
//!   `demo`, as an operator's would: the time from spawning the process to its "listening"
//!   line, its RSS then, and — project actors start on demand — one widget config GET to each
//!   project in turn: each project's first touch (p50 / p99) and all of them.
//! - **Memory under a mix**: HELPYAP_BENCH_WEBSOCKETS (10 000) idle WebSocket and
//!   HELPYAP_BENCH_SSE (1 000) idle SSE visitors, then HELPYAP_BENCH_CHATS (100) chats
//!   streaming (the test suite's fake model drips each answer over ~10 s): the server's RSS
//!   before, with the visitors, and while the chats stream.
//!
//! Run: `cargo bench --bench startup` (as root for the open-file limit). The server is pinned to
//! one core like the other load benchmarks (HELPYAP_BENCH_PIN).
#![allow(unsafe_code)] // libc calls, each with a SAFETY comment (see Cargo.toml)

mod common;
#[allow(dead_code)] // only the model server itself
#[path = "../tests/integration/fake_llm.rs"]
mod fake_llm;

use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::task::JoinSet;

use common::subscribers::{EPOCH, Tally, subscribe_sse, subscribe_ws};
use common::{
    PLACEMENT, Server, ServerConfig, in_rounds, knob, median, percentile, raise_open_file_limit,
    rss_kib,
};

const DEMO_KNOWLEDGE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/knowledge/demo");

fn main() {
    PLACEMENT.pin_load_generator();
    raise_open_file_limit(100_000);
    LazyLock::force(&EPOCH);
    let number = |name, default| -> usize { knob(name, default).parse().unwrap() };
    let projects = number("HELPYAP_BENCH_PROJECTS", "1000");
    let rounds = number("HELPYAP_BENCH_ROUNDS", "3");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    println!("start and memory; {}", PLACEMENT.describe());

    // The store: every project seeded by a first run.
    let dir = tempfile::tempdir().unwrap();
    let seeded = Instant::now();
    let seeds = (1..projects).map(|idx| {
        let mut project = toml::Table::new();
        project.insert("slug".into(), format!("shop-{idx:05}").into());
        project.insert("name".into(), format!("Shop {idx}").into());
        project.insert("knowledge_dir".into(), DEMO_KNOWLEDGE.into());
        project
    });
    let seeding = config().more_projects(seeds);
    drop(Server::start(&seeding, dir.path()));
    println!(
        "seeded {projects} projects with 6 documents each in {:.1} s (not a start: the setup)",
        seeded.elapsed().as_secs_f64()
    );

    let operators = config();
    let starts = in_rounds(1, rounds, |_, _| {
        let started = Instant::now();
        let server = Server::start(&operators, dir.path());
        let listening = started.elapsed().as_secs_f64();
        let rss = rss_kib(server.pid());
        let touches = runtime.block_on(first_touches(&server, projects));
        (listening, rss, touches)
    });
    let starts = &starts[0];
    let first = |value: fn(&Touches) -> f64| median(starts.iter().map(|(_, _, t)| value(t)));
    println!(
        "cold start, {projects} projects (medians of {rounds}): listening after {:.3} s, RSS then {:.1} MiB; first config GET to each project: p50 {:.2} ms, p99 {:.2} ms, all {projects} in {:.2} s, RSS after {:.1} MiB",
        median(starts.iter().map(|(listening, _, _)| *listening)),
        median(starts.iter().map(|(_, rss, _)| *rss as f64)) / 1024.0,
        first(|t| t.p50_ms),
        first(|t| t.p99_ms),
        first(|t| t.all_s),
        first(|t| t.rss_after_kib) / 1024.0,
    );

    runtime.block_on(memory_under_a_mix(
        number("HELPYAP_BENCH_WEBSOCKETS", "10000"),
        number("HELPYAP_BENCH_SSE", "1000"),
        number("HELPYAP_BENCH_CHATS", "100"),
    ));
}

/// What every run here shares: no rate limit in the way, room for every visitor.
fn config() -> ServerConfig {
    ServerConfig::new("Bench Bot")
        .rate_limit("widget", 100_000_000)
        .rate_limit("chat", 100_000_000)
        .set("social_proof", "max_subscribers_per_project", 100_000)
        .set("social_proof", "max_subscribers", 100_000)
        .project("knowledge_dir", DEMO_KNOWLEDGE)
}

struct Touches {
    p50_ms: f64,
    p99_ms: f64,
    all_s: f64,
    rss_after_kib: f64,
}

/// One widget config GET to each project in turn, the first since the start.
async fn first_touches(server: &Server, projects: usize) -> Touches {
    let client = reqwest::Client::new();
    let base = format!("http://{}", server.addr);
    let slugs =
        std::iter::once("demo".to_owned()).chain((1..projects).map(|idx| format!("shop-{idx:05}")));
    let started = Instant::now();
    let mut latencies = Vec::with_capacity(projects);
    for slug in slugs {
        let sent = Instant::now();
        let response = client
            .get(format!("{base}/api/widget/config?project={slug}"))
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "{slug}: {}",
            response.status()
        );
        response.bytes().await.unwrap();
        latencies.push(sent.elapsed().as_secs_f64() * 1e3);
    }
    let all_s = started.elapsed().as_secs_f64();
    latencies.sort_by(f64::total_cmp);
    Touches {
        p50_ms: percentile(&latencies, 50.0),
        p99_ms: percentile(&latencies, 99.0),
        all_s,
        rss_after_kib: rss_kib(server.pid()) as f64,
    }
}

/// RSS with idle WebSocket and SSE visitors, then with chats streaming besides.
async fn memory_under_a_mix(websockets: usize, sse: usize, chats: usize) {
    let model = fake_llm::FakeLlm::start().await;
    let config = config()
        .set("llm", "provider", "openai")
        .set("llm", "base_url", model.base_url())
        .set("llm", "fallback", "extractive");
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&config, dir.path());
    let (addr, pid) = (server.addr.to_string(), server.pid());
    let at_start = rss_kib(pid);

    let tally = Arc::new(Tally::default());
    let connected = Arc::new(tokio::sync::Semaphore::new(0));
    let mut visitors = JoinSet::new();
    for idx in 0..websockets + sse {
        if idx > 0 && idx % 500 == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let (addr, tally, connected) = (addr.clone(), tally.clone(), connected.clone());
        visitors.spawn(async move {
            if idx < websockets {
                subscribe_ws(
                    &addr,
                    "/api/widget/salespop/ws?project=demo",
                    &tally,
                    &connected,
                )
                .await
            } else {
                let path = "/api/widget/salespop/stream?project=demo";
                subscribe_sse(&addr, path, &tally, &connected).await
            }
        });
    }
    let _ = connected
        .acquire_many((websockets + sse) as u32)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let with_visitors = rss_kib(pid);

    // Each chat a new session, its answer dripping for ~10 s; RSS read 3 s in.
    let client = reqwest::Client::new();
    let streaming = Arc::new(tokio::sync::Semaphore::new(0));
    let mut answers = JoinSet::new();
    for _ in 0..chats {
        let (client, streaming) = (client.clone(), streaming.clone());
        let url = format!("http://{addr}/api/chat");
        answers.spawn(async move {
            let body = json!({ "projectSlug": "demo", "sessionId": uuid::Uuid::new_v4(),
                "messages": [{ "role": "user", "content": "How long does shipping take? [drip]" }] });
            let mut response = client.post(url).json(&body).send().await.unwrap();
            assert!(response.status().is_success(), "{}", response.status());
            let mut first = true;
            while let Ok(Some(_)) = response.chunk().await {
                if std::mem::take(&mut first) {
                    streaming.add_permits(1);
                }
            }
        });
    }
    let _ = streaming.acquire_many(chats as u32).await.unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let with_chats = rss_kib(pid);
    let mut finished = 0;
    while answers.try_join_next().is_some() {
        finished += 1;
    }
    let still_streaming = chats - finished;

    println!(
        "memory: RSS at start {:.1} MiB; with {websockets} WebSocket + {sse} SSE idle visitors {:.1} MiB ({:.1} KiB each); with {chats} chats streaming besides ({still_streaming} still streaming when read) {:.1} MiB ({:.1} KiB each)",
        at_start as f64 / 1024.0,
        with_visitors as f64 / 1024.0,
        with_visitors.saturating_sub(at_start) as f64 / (websockets + sse) as f64,
        with_chats as f64 / 1024.0,
        with_chats.saturating_sub(with_visitors) as f64 / chats as f64,
    );
    answers.abort_all();
    visitors.abort_all();
    while visitors.join_next().await.is_some() {}
}
