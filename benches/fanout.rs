//! Load benchmark: social-proof fan-out to many live subscribers, side by side with nginx +
//! nchan in the same run, loaded by the same client.
//!
//! For each level (1k and 10k WebSocket subscribers; 1k SSE subscribers, or more) and each
//! server in turn, the client opens the subscribers on one channel, then measures:
//! - **RSS per idle subscriber**: the server's RSS with every subscriber connected and idle,
//!   minus its RSS before, per subscriber;
//! - **push-to-receive p50/p99**: 20 pushes, each carrying the time it was sent and each sent
//!   once the one before has reached every subscriber (and 50 ms later); every delivery's
//!   latency;
//! - **deliveries/s and CPU per delivery**: pushes as fast as 16 concurrent publishers go until
//!   ~500k deliveries are due; deliveries over the time from the first push to the last
//!   delivery, and the server's CPU time (all its processes) over the deliveries.
//!
//! helpyap's pushes are durable (flushed to disk before they are acknowledged and delivered);
//! nchan keeps messages in memory. Both get the same payload and the client reads both the same
//! way (a substring scan, no JSON parsing).
//!
//! Needs Debian's `nginx-light` and `libnginx-mod-nchan`; run as root for the open-file limit.
//! Run: `cargo bench --bench fanout`. Knobs: HELPYAP_BENCH_LEVELS ("1000,10000"),
//! HELPYAP_BENCH_SSE_LEVELS (the first of the levels; "1000,10000" for both),
//! HELPYAP_BENCH_DELIVERIES (500000), HELPYAP_BENCH_SERVERS ("nchan,helpyap"),
//! HELPYAP_BENCH_ROUNDS (3: the servers take turns going first, after a warm-up round that is
//! not counted, HELPYAP_BENCH_WARMUP=0 to skip it; medians are reported, and helpyap ÷ nchan),
//! HELPYAP_BENCH_PIN (1: the server under test on the one server core, the client on the other;
//! 0: shared),
//! HELPYAP_BENCH_NCHAN_CONF (../shared/bench/nchan.conf).
#![allow(unsafe_code)] // libc calls, each with a SAFETY comment (see Cargo.toml)

mod common;

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use tokio::task::JoinSet;

use common::subscribers::{EPOCH, Tally, subscribe_sse, subscribe_ws};
use common::{
    Nginx, PLACEMENT, Server, ServerConfig, cpu_seconds, in_rounds, knob, median, percentile,
    raise_open_file_limit, rss_kib,
};

const PUSH_SECRET: &str = "sp_bench_fanout_secret_0123456789";
const NCHAN_ADDR: &str = "127.0.0.1:8090";
/// The prefix `../shared/bench/nchan.conf` names for its pid file, logs and temp files.
const NCHAN_PREFIX: &str = "/tmp/nchan-bench/";
const RAMP_BATCH: usize = 500;
const LATENCY_PUSHES: usize = 20;
const PUBLISHERS: usize = 16;

fn main() {
    PLACEMENT.pin_load_generator();
    raise_open_file_limit(100_000);
    LazyLock::force(&EPOCH);
    let levels: Vec<usize> = knob("HELPYAP_BENCH_LEVELS", "1000,10000")
        .split(',')
        .map(|level| level.trim().parse().unwrap())
        .collect();
    let deliveries: usize = knob("HELPYAP_BENCH_DELIVERIES", "500000").parse().unwrap();
    let servers = knob("HELPYAP_BENCH_SERVERS", "nchan,helpyap");
    let rounds: usize = knob("HELPYAP_BENCH_ROUNDS", "3").parse().unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();

    let names: Vec<&str> = ["nchan", "helpyap"]
        .into_iter()
        .filter(|name| servers.contains(name))
        .collect();
    println!(
        "fan-out: one channel, the same client for both servers, medians of {rounds} rounds; helpyap pushes are flushed to disk, nchan's are in memory; {}",
        PLACEMENT.describe()
    );
    println!(
        "{:>10} | {:>7} | {:>9} | {:>13} | {:>13} | {:>19} | {:>12}",
        "transport",
        "server",
        "subs",
        "deliveries/s",
        "CPU/delivery",
        "push→receive p50/p99",
        "RSS/idle sub"
    );
    let mut runs: Vec<(Transport, usize)> =
        levels.iter().map(|&n| (Transport::WebSocket, n)).collect();
    let sse_levels = knob("HELPYAP_BENCH_SSE_LEVELS", &levels[0].to_string());
    runs.extend(
        sse_levels
            .split(',')
            .map(|level| (Transport::Sse, level.trim().parse().unwrap())),
    );
    for (transport, n_subscribers) in runs {
        let results = in_rounds(names.len(), rounds, |idx, _| {
            // A fresh server every run, so its memory growth is this run's alone.
            let server = Running::start(names[idx]);
            runtime.block_on(run(&server.target(), transport, n_subscribers, deliveries))
        });
        let mut medians = Vec::new();
        for (name, runs) in names.iter().zip(&results) {
            let median = |value: fn(&RunResult) -> f64| median(runs.iter().map(value));
            medians.push((
                *name,
                median(|r| r.deliveries_per_second),
                median(|r| r.cpu_per_delivery_us),
                median(|r| r.p99_ms),
                median(|r| r.rss_per_subscriber_kib),
            ));
            println!(
                "{:>10} | {:>7} | {:>9} | {:>13.0} | {:>10.3} µs | {:>7.2} / {:>7.2} ms | {:>8.1} KiB",
                transport.name(),
                name,
                n_subscribers,
                median(|r| r.deliveries_per_second),
                median(|r| r.cpu_per_delivery_us),
                median(|r| r.p50_ms),
                median(|r| r.p99_ms),
                median(|r| r.rss_per_subscriber_kib),
            );
        }
        if let [
            ("nchan", their_rate, their_cpu, their_p99, their_rss),
            ("helpyap", rate, cpu, p99, rss),
        ] = medians[..]
        {
            println!(
                "{:>10} | helpyap ÷ nchan at {n_subscribers}: deliveries/s {:.2}, CPU/delivery {:.2}, p99 {:.2}, RSS/idle sub {:.2}",
                transport.name(),
                rate / their_rate,
                cpu / their_cpu,
                p99 / their_p99,
                rss / their_rss,
            );
        }
    }
}

#[derive(Clone, Copy)]
enum Transport {
    WebSocket,
    Sse,
}

impl Transport {
    fn name(self) -> &'static str {
        match self {
            Transport::WebSocket => "WebSocket",
            Transport::Sse => "SSE",
        }
    }
}

enum Target {
    /// The master, then its one worker, which holds the subscribers.
    Nchan {
        pids: Vec<u32>,
    },
    Helpyap {
        addr: String,
        pid: u32,
    },
}

impl Target {
    fn name(&self) -> &'static str {
        match self {
            Target::Nchan { .. } => "nchan",
            Target::Helpyap { .. } => "helpyap",
        }
    }

    /// The process holding the subscribers, whose memory is measured.
    fn pid(&self) -> u32 {
        match self {
            Target::Nchan { pids } => pids[1],
            Target::Helpyap { pid, .. } => *pid,
        }
    }

    fn addr(&self) -> &str {
        match self {
            Target::Nchan { .. } => NCHAN_ADDR,
            Target::Helpyap { addr, .. } => addr,
        }
    }

    fn subscribe_path(&self, transport: Transport) -> &'static str {
        match (self, transport) {
            (Target::Nchan { .. }, _) => "/sub/demo",
            (Target::Helpyap { .. }, Transport::WebSocket) => {
                "/api/widget/salespop/ws?project=demo"
            }
            (Target::Helpyap { .. }, Transport::Sse) => "/api/widget/salespop/stream?project=demo",
        }
    }

    /// Publishes one message carrying the microsecond it was sent.
    async fn publish(&self, client: &reqwest::Client) {
        let sent = format!("t={}", EPOCH.elapsed().as_micros());
        let request = match self {
            Target::Nchan { .. } => client
                .post(format!("http://{NCHAN_ADDR}/pub/demo"))
                .body(format!("{{\"message\":\"{sent}\"}}")),
            Target::Helpyap { addr, .. } => client
                .post(format!("http://{addr}/api/widget/salespop-push"))
                .bearer_auth(PUSH_SECRET)
                .json(&serde_json::json!({ "project": "demo", "type": "custom", "message": sent })),
        };
        let status = request.send().await.unwrap().status();
        assert!(
            status.is_success(),
            "{} refused a publish: {status}",
            self.name()
        );
    }
}

struct RunResult {
    deliveries_per_second: f64,
    cpu_per_delivery_us: f64,
    p50_ms: f64,
    p99_ms: f64,
    rss_per_subscriber_kib: f64,
}

async fn run(
    target: &Target,
    transport: Transport,
    n_subscribers: usize,
    deliveries: usize,
) -> RunResult {
    let tally = Arc::new(Tally::default());
    tally.start_phase(false);
    let rss_before = rss_kib(target.pid());
    let mut subscribers = JoinSet::new();
    let connected = Arc::new(tokio::sync::Semaphore::new(0));
    for idx in 0..n_subscribers {
        if idx > 0 && idx % RAMP_BATCH == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let (addr, path) = (target.addr().to_owned(), target.subscribe_path(transport));
        let (tally, connected) = (tally.clone(), connected.clone());
        subscribers.spawn(async move {
            match transport {
                Transport::WebSocket => subscribe_ws(&addr, path, &tally, &connected).await,
                Transport::Sse => subscribe_sse(&addr, path, &tally, &connected).await,
            }
        });
    }
    let _ = connected.acquire_many(n_subscribers as u32).await.unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_per_subscriber_kib =
        rss_kib(target.pid()).saturating_sub(rss_before) as f64 / n_subscribers as f64;

    let publisher = reqwest::Client::new();
    tally.start_phase(true);
    // One push at a time: each is sent once the one before has reached every subscriber and
    // 50 ms have passed, so a push's latency is its own and not a queue behind the last one's
    // (at 10k subscribers, pushes 50 ms apart would be a 200k deliveries/s load test).
    for push in 1..=LATENCY_PUSHES {
        target.publish(&publisher).await;
        tally
            .wait_for((push * n_subscribers) as u64, Duration::from_secs(30))
            .await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut latencies = std::mem::take(&mut *tally.latencies_us.lock().unwrap());
    latencies.sort_by(f64::total_cmp);

    let pushes = deliveries.div_ceil(n_subscribers);
    tally.start_phase(false);
    let cpu_before = server_cpu(target);
    let started = Instant::now();
    let next = Arc::new(AtomicU64::new(0));
    let mut publishers = JoinSet::new();
    for _ in 0..PUBLISHERS {
        let (next, publisher) = (next.clone(), publisher.clone());
        let target_name = target.name();
        let addr = target.addr().to_owned();
        publishers.spawn(async move {
            let target = match target_name {
                "nchan" => Target::Nchan { pids: Vec::new() },
                _ => Target::Helpyap { addr, pid: 0 },
            };
            while next.fetch_add(1, Relaxed) < pushes as u64 {
                target.publish(&publisher).await;
            }
        });
    }
    publishers.join_all().await;
    tally
        .wait_for((pushes * n_subscribers) as u64, Duration::from_secs(120))
        .await;
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = server_cpu(target) - cpu_before;
    subscribers.abort_all();
    while subscribers.join_next().await.is_some() {}
    tokio::time::sleep(Duration::from_secs(1)).await;

    let delivered = (pushes * n_subscribers) as f64;
    RunResult {
        deliveries_per_second: delivered / elapsed,
        cpu_per_delivery_us: cpu * 1e6 / delivered,
        p50_ms: percentile(&latencies, 50.0) / 1e3,
        p99_ms: percentile(&latencies, 99.0) / 1e3,
        rss_per_subscriber_kib,
    }
}

/// CPU time of the server: helpyap's process, or nginx's master and worker.
fn server_cpu(target: &Target) -> f64 {
    match target {
        Target::Helpyap { pid, .. } => cpu_seconds(*pid),
        Target::Nchan { pids } => pids.iter().map(|&pid| cpu_seconds(pid)).sum(),
    }
}

fn helpyap_config() -> ServerConfig {
    ServerConfig::new("Bench Bot")
        .rate_limit("push", 100_000_000)
        .rate_limit("widget", 100_000_000)
        .set("social_proof", "subscriber_queue", 1024)
        .set("social_proof", "max_subscribers_per_project", 100_000)
        .set("social_proof", "max_subscribers", 100_000)
        .project("push_secret", PUSH_SECRET)
}

/// A server started for one run; stopped when dropped.
enum Running {
    Nchan(Nginx),
    Helpyap {
        server: Server,
        _data_dir: tempfile::TempDir,
    },
}

impl Running {
    fn start(name: &str) -> Running {
        match name {
            "nchan" => Running::Nchan(start_nchan()),
            _ => {
                let data_dir = tempfile::tempdir().unwrap();
                let server = Server::start(&helpyap_config(), data_dir.path());
                Running::Helpyap {
                    server,
                    _data_dir: data_dir,
                }
            }
        }
    }

    fn target(&self) -> Target {
        match self {
            Running::Nchan(nchan) => Target::Nchan { pids: nchan.pids() },
            Running::Helpyap { server, .. } => Target::Helpyap {
                addr: server.addr.to_string(),
                pid: server.pid(),
            },
        }
    }
}

/// nginx + nchan from `../shared/bench/nchan.conf`.
fn start_nchan() -> Nginx {
    let conf = knob(
        "HELPYAP_BENCH_NCHAN_CONF",
        concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/bench/nchan.conf"),
    );
    assert!(
        Path::new("/usr/lib/nginx/modules/ngx_nchan_module.so").exists(),
        "nchan is missing: apt-get install nginx-light libnginx-mod-nchan"
    );
    Nginx::start(Path::new(&conf), Path::new(NCHAN_PREFIX), NCHAN_ADDR)
}
