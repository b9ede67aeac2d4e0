//! Load benchmark: cluster mode against embedded mode, in one run.
//!
//! Four setups, each a fresh set of real `helpyap` binaries: embedded (one node on sled), and
//! clusters of 1, 2 and 3 nodes on one PostgreSQL and one Redis (throw-away servers started
//! here). The same WebSocket subscribers of one project are spread evenly over the nodes; pushes
//! go to the nodes in turn. For each setup:
//! - **push→receive p50/p99**: 20 pushes one at a time (each once the one before reached every
//!   subscriber), every delivery's latency;
//! - **CPU per delivery**: pushes by 8 publishers until ~200k deliveries are due; all nodes'
//!   CPU time over the deliveries;
//! - **per-node CPU per push**: the nodes' CPU time over the pushes, per node;
//! - **PostgreSQL and Redis CPU per push**: their processes' CPU time over the pushes.
//!
//! The ratios the cluster design is held to are printed at the end: CPU per delivery of a
//! 1-node cluster ÷ embedded, and per-node CPU per push of 3 nodes ÷ 1 node. Medians of
//! `HELPYAP_BENCH_ROUNDS` (3) rounds, setups taking turns going first.
//! Run: `cargo bench --bench cluster` (needs Debian's postgresql and redis-server). Knobs:
//! HELPYAP_BENCH_SUBSCRIBERS (999), HELPYAP_BENCH_DELIVERIES (200000), HELPYAP_BENCH_ROUNDS.
#![allow(unsafe_code)] // libc calls in `common`, each with a SAFETY comment

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use helpyap_actors::testing::{Postgres, Redis, free_port};
use tokio::task::JoinSet;

use common::subscribers::{EPOCH, Tally, subscribe_ws};
use common::{Server, ServerConfig, cpu_seconds, knob, percentile, raise_open_file_limit};

const PUSH_SECRET: &str = "sp_bench_cluster_secret_0123456789";
const LATENCY_PUSHES: usize = 20;
const PUBLISHERS: usize = 8;
const SUBSCRIBE_PATH: &str = "/api/widget/salespop/ws?project=demo";

#[derive(Clone, Copy, PartialEq)]
enum Setup {
    Embedded,
    Cluster(usize),
}

impl Setup {
    fn name(self) -> String {
        match self {
            Setup::Embedded => "embedded".into(),
            Setup::Cluster(nodes) => format!("cluster ×{nodes}"),
        }
    }

    fn nodes(self) -> usize {
        match self {
            Setup::Embedded => 1,
            Setup::Cluster(nodes) => nodes,
        }
    }
}

struct RunResult {
    p50_ms: f64,
    p99_ms: f64,
    cpu_per_delivery_us: f64,
    node_cpu_per_push_us: f64,
    postgres_cpu_per_push_us: f64,
    redis_cpu_per_push_us: f64,
}

fn main() {
    raise_open_file_limit(100_000);
    std::sync::LazyLock::force(&EPOCH);
    let subscribers: usize = knob("HELPYAP_BENCH_SUBSCRIBERS", "999").parse().unwrap();
    let deliveries: usize = knob("HELPYAP_BENCH_DELIVERIES", "200000").parse().unwrap();
    let rounds: usize = knob("HELPYAP_BENCH_ROUNDS", "3").parse().unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let setups = [
        Setup::Embedded,
        Setup::Cluster(1),
        Setup::Cluster(2),
        Setup::Cluster(3),
    ];
    let mut results: Vec<Vec<RunResult>> = setups.iter().map(|_| Vec::new()).collect();
    for round in 0..rounds {
        for turn in 0..setups.len() {
            let idx = (turn + round) % setups.len();
            let result = runtime.block_on(run(setups[idx], subscribers, deliveries));
            results[idx].push(result);
        }
    }

    println!(
        "cluster: {subscribers} WebSocket subscribers of one project spread over the nodes, pushes to the nodes in turn, medians of {rounds} rounds"
    );
    println!(
        "{:>11} | {:>19} | {:>13} | {:>17} | {:>17} | {:>15}",
        "setup",
        "push→receive p50/p99",
        "CPU/delivery",
        "node CPU/push",
        "PostgreSQL CPU/push",
        "Redis CPU/push"
    );
    let medians: Vec<Medians> = results.iter().map(|runs| Medians::of(runs)).collect();
    for (setup, median) in setups.iter().zip(&medians) {
        println!(
            "{:>11} | {:>7.2} / {:>7.2} ms | {:>10.3} µs | {:>14.1} µs | {:>17.1} µs | {:>12.1} µs",
            setup.name(),
            median.p50_ms,
            median.p99_ms,
            median.cpu_per_delivery_us,
            median.node_cpu_per_push_us,
            median.postgres_cpu_per_push_us,
            median.redis_cpu_per_push_us,
        );
    }
    let (embedded, one, three) = (&medians[0], &medians[1], &medians[3]);
    println!(
        "CPU per delivery, 1-node cluster ÷ embedded: {:.2} (goal ≤ 1.15)",
        one.cpu_per_delivery_us / embedded.cpu_per_delivery_us
    );
    println!(
        "per-node CPU per push, 3 nodes ÷ 1 node: {:.2} (goal ≤ 0.4)",
        three.node_cpu_per_push_us / one.node_cpu_per_push_us
    );
    println!(
        "push→receive p50 / p99 added by the cluster path (1 node): {:+.2} / {:+.2} ms",
        one.p50_ms - embedded.p50_ms,
        one.p99_ms - embedded.p99_ms
    );
}

struct Medians {
    p50_ms: f64,
    p99_ms: f64,
    cpu_per_delivery_us: f64,
    node_cpu_per_push_us: f64,
    postgres_cpu_per_push_us: f64,
    redis_cpu_per_push_us: f64,
}

impl Medians {
    fn of(runs: &[RunResult]) -> Medians {
        let median = |value: fn(&RunResult) -> f64| {
            let mut values: Vec<f64> = runs.iter().map(value).collect();
            values.sort_by(f64::total_cmp);
            values[values.len() / 2]
        };
        Medians {
            p50_ms: median(|r| r.p50_ms),
            p99_ms: median(|r| r.p99_ms),
            cpu_per_delivery_us: median(|r| r.cpu_per_delivery_us),
            node_cpu_per_push_us: median(|r| r.node_cpu_per_push_us),
            postgres_cpu_per_push_us: median(|r| r.postgres_cpu_per_push_us),
            redis_cpu_per_push_us: median(|r| r.redis_cpu_per_push_us),
        }
    }
}

/// The engines of one cluster run; stopped when dropped.
struct Engines {
    postgres: Postgres,
    redis: Redis,
}

impl Engines {
    /// CPU seconds of PostgreSQL (its main process, its live connection processes, and the
    /// ones it has reaped) and of Redis.
    fn cpu(&self) -> (f64, f64) {
        let postmaster = self.postgres.postmaster_pid();
        let stat = std::fs::read_to_string(format!("/proc/{postmaster}/stat")).unwrap();
        let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
        let reaped =
            (fields[13].parse::<f64>().unwrap() + fields[14].parse::<f64>().unwrap()) / 100.0;
        let children =
            std::fs::read_to_string(format!("/proc/{postmaster}/task/{postmaster}/children"))
                .unwrap_or_default();
        let live: f64 = children
            .split_whitespace()
            .filter_map(|pid| pid.parse::<u32>().ok())
            .filter(|pid| std::path::Path::new(&format!("/proc/{pid}/stat")).exists())
            .map(cpu_seconds)
            .sum();
        (
            cpu_seconds(postmaster) + reaped + live,
            cpu_seconds(self.redis.pid()),
        )
    }
}

async fn run(setup: Setup, n_subscribers: usize, deliveries: usize) -> RunResult {
    let mut config = ServerConfig::new("Bench Bot")
        .rate_limit("push", 100_000_000)
        .rate_limit("widget", 100_000_000)
        .set("social_proof", "subscriber_queue", 1024)
        .set("social_proof", "max_subscribers_per_project", 100_000)
        .set("social_proof", "max_subscribers", 100_000)
        .project("push_secret", PUSH_SECRET);
    let engines = match setup {
        Setup::Embedded => None,
        Setup::Cluster(_) => {
            let postgres = Postgres::start();
            let database = postgres.database().await;
            let redis = Redis::start(free_port());
            config = config.set("cluster", "postgres_url", database).set(
                "cluster",
                "redis_url",
                redis.url(),
            );
            Some(Engines { postgres, redis })
        }
    };
    let data_dirs: Vec<tempfile::TempDir> = (0..setup.nodes())
        .map(|_| tempfile::tempdir().unwrap())
        .collect();
    let nodes: Vec<Server> = data_dirs
        .iter()
        .map(|dir| Server::start(&config, dir.path()))
        .collect();
    let addrs: Vec<String> = nodes.iter().map(|node| node.addr.to_string()).collect();

    let tally = Arc::new(Tally::default());
    tally.start_phase(false);
    let connected = Arc::new(tokio::sync::Semaphore::new(0));
    let mut subscribers = JoinSet::new();
    for idx in 0..n_subscribers {
        let addr = addrs[idx % addrs.len()].clone();
        let (tally, connected) = (tally.clone(), connected.clone());
        subscribers
            .spawn(async move { subscribe_ws(&addr, SUBSCRIBE_PATH, &tally, &connected).await });
    }
    let _ = connected.acquire_many(n_subscribers as u32).await.unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;

    let publisher = reqwest::Client::new();
    tally.start_phase(true);
    for push in 1..=LATENCY_PUSHES {
        publish(&publisher, &addrs[push % addrs.len()]).await;
        tally
            .wait_for((push * n_subscribers) as u64, Duration::from_secs(30))
            .await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut latencies = std::mem::take(&mut *tally.latencies_us.lock().unwrap());
    latencies.sort_by(f64::total_cmp);

    let pushes = deliveries.div_ceil(n_subscribers);
    tally.start_phase(false);
    let node_cpu = || {
        nodes
            .iter()
            .map(|node| cpu_seconds(node.pid()))
            .sum::<f64>()
    };
    let engines_cpu = || engines.as_ref().map_or((0.0, 0.0), Engines::cpu);
    let (nodes_before, (postgres_before, redis_before)) = (node_cpu(), engines_cpu());
    let next = Arc::new(AtomicU64::new(0));
    let mut publishers = JoinSet::new();
    for _ in 0..PUBLISHERS {
        let (next, publisher, addrs) = (next.clone(), publisher.clone(), addrs.clone());
        publishers.spawn(async move {
            loop {
                let push = next.fetch_add(1, Relaxed) as usize;
                if push >= pushes {
                    return;
                }
                publish(&publisher, &addrs[push % addrs.len()]).await;
            }
        });
    }
    publishers.join_all().await;
    tally
        .wait_for((pushes * n_subscribers) as u64, Duration::from_secs(300))
        .await;
    let nodes_cpu = node_cpu() - nodes_before;
    let (postgres_after, redis_after) = engines_cpu();
    subscribers.abort_all();
    while subscribers.join_next().await.is_some() {}
    drop(nodes);

    let delivered = (pushes * n_subscribers) as f64;
    RunResult {
        p50_ms: percentile(&latencies, 50.0) / 1e3,
        p99_ms: percentile(&latencies, 99.0) / 1e3,
        cpu_per_delivery_us: nodes_cpu * 1e6 / delivered,
        node_cpu_per_push_us: nodes_cpu * 1e6 / setup.nodes() as f64 / pushes as f64,
        postgres_cpu_per_push_us: (postgres_after - postgres_before) * 1e6 / pushes as f64,
        redis_cpu_per_push_us: (redis_after - redis_before) * 1e6 / pushes as f64,
    }
}

/// Pushes one event to the node at `addr`, carrying the microsecond it was sent.
async fn publish(client: &reqwest::Client, addr: &str) {
    let sent = format!("t={}", EPOCH.elapsed().as_micros());
    let status = client
        .post(format!("http://{addr}/api/widget/salespop-push"))
        .bearer_auth(PUSH_SECRET)
        .json(&serde_json::json!({ "project": "demo", "type": "custom", "message": sent }))
        .send()
        .await
        .unwrap()
        .status();
    assert!(status.is_success(), "a push was refused: {status}");
}
