//! Load benchmark: `GET /api/widget/config` on the real server against bare hyper servers, in
//! the same run, with the same load generator (wrk).
//!
//! Two baselines: `bare` answers every request with the same bytes ours sends (same headers,
//! same body), so the ratio is the cost of our routing, state and rate limiting; `minimal` sends
//! only the body and a content type, showing what our extra headers (CORS, rate limit, ETag)
//! cost on the wire (unpinned, wrk shares the cores, so bytes parsed count).
//!
//! Run: `cargo bench --bench widget_config` (needs Debian's `wrk`). All servers run in this
//! process on one tokio runtime with a worker per CPU it may use: pinned (the default), this
//! process is on one core and wrk on the other, so the servers get one worker on a core of their
//! own; rounds rotate which goes first after a warm-up round not counted, and the median of each
//! gives the ratios. The rate limiter stays on (with a limit no run can reach) so its cost is
//! part of what is measured. Every server runs on jemalloc, the allocator the binary ships with.
//! Knobs: HELPYAP_BENCH_SECONDS (default 5), HELPYAP_BENCH_CONNECTIONS (64), HELPYAP_BENCH_ROUNDS
//! (3), HELPYAP_BENCH_WARMUP (1; 0 skips the warm-up), HELPYAP_BENCH_PIN (1; 0: all on every CPU).
#![allow(unsafe_code)] // libc calls, each with a SAFETY comment (see Cargo.toml)

mod common;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::process::Command;
use std::sync::Arc;

use bytes::Bytes;
use helpyap::config::{Config, DEFAULT_CONFIG_TOML};
use helpyap::server::App;
use http_body_util::Full;
use hyper::header::{HeaderName, HeaderValue};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;

use common::{PLACEMENT, in_rounds, median};

/// The allocator the `helpyap` binary ships with (src/main.rs), for ours and the baselines alike.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() {
    PLACEMENT.pin_server_here();
    let seconds = number("HELPYAP_BENCH_SECONDS", 5);
    let connections = number("HELPYAP_BENCH_CONNECTIONS", 64);
    let rounds = number("HELPYAP_BENCH_ROUNDS", 3);
    if Command::new("wrk").arg("--version").output().is_err() {
        eprintln!("widget_config bench needs wrk: apt-get install wrk");
        std::process::exit(2);
    }
    // A worker per CPU this process may use: one when pinned.
    let workers = std::thread::available_parallelism().map_or(2, usize::from);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .unwrap();
    let data_dir = tempfile::tempdir().unwrap();
    let servers = runtime.block_on(start_servers(data_dir.path()));
    let path = "/api/widget/config?project=demo";

    println!("{}; {workers} server worker(s)", PLACEMENT.describe());
    let runs = in_rounds(servers.len(), rounds as usize, |idx, round| {
        let (name, addr) = servers[idx];
        let cpu_before = process_cpu_seconds();
        let run = wrk(addr, path, seconds, connections);
        let cpu_per_request = (process_cpu_seconds() - cpu_before) * 1e6 / run.requests;
        println!(
            "round {round}: {name:>7} {:>9.0} req/s  {cpu_per_request:>5.2} µs server CPU/request  {:.0} requests",
            run.requests_per_second, run.requests
        );
        (run.requests_per_second, cpu_per_request)
    });
    let [ours, bare, minimal]: [f64; 3] =
        std::array::from_fn(|idx| median(runs[idx].iter().map(|r| r.0)));
    let [ours_cpu, bare_cpu, minimal_cpu]: [f64; 3] =
        std::array::from_fn(|idx| median(runs[idx].iter().map(|r| r.1)));
    println!(
        "GET /api/widget/config, wrk -t1 -c{connections} -d{seconds}s, median of {rounds} rounds after a warm-up:\n\
         throughput   ours {ours:.0} req/s, bare (same bytes) {bare:.0}, minimal {minimal:.0}\n\
         server CPU   ours {ours_cpu:.2} µs/request, bare {bare_cpu:.2}, minimal {minimal_cpu:.2}"
    );
    println!(
        "ratio ours/bare: throughput {:.3}, CPU per request {:.3}   (ours/minimal: {:.3}, {:.3})",
        ours / bare,
        ours_cpu / bare_cpu,
        ours / minimal,
        ours_cpu / minimal_cpu
    );
}

/// User plus system CPU time of this process (all servers run in it; wrk does not).
fn process_cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("Linux /proc");
    // Fields after the parenthesised command name; utime and stime are the 14th and 15th fields.
    let after_name = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after_name.split(' ').collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / 100.0 // USER_HZ is 100 on Linux
}

/// Our server with the shipped config, and the two bare baselines.
async fn start_servers(data_dir: &std::path::Path) -> [(&'static str, SocketAddr); 3] {
    let mut config = Config::parse("bench", DEFAULT_CONFIG_TOML).unwrap();
    config.store.path = data_dir.to_owned();
    config.server.log_level = helpyap::config::LogLevel::Warn;
    config.rate_limits.widget.requests = u32::MAX;
    config.server.max_connections_per_ip = 0;
    config.projects[0].push_secret_env = None;
    let app = App::build(&config).await.unwrap();
    let body = app
        .engine()
        .projects
        .snapshot("demo")
        .await
        .unwrap()
        .widget_config_json
        .clone();
    let listener = app.bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let ours = listener.local_addr().unwrap();
    tokio::spawn(app.serve(listener, std::future::pending()));

    let same_headers = response_headers(ours).await;
    let bare = spawn_bare(body.clone(), same_headers).await;
    let content_type = vec![("content-type".to_owned(), "application/json".to_owned())];
    let minimal = spawn_bare(body, content_type).await;
    [("ours", ours), ("bare", bare), ("minimal", minimal)]
}

/// The headers of one real response of ours, less those hyper writes itself.
async fn response_headers(addr: SocketAddr) -> Vec<(String, String)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request =
        "GET /api/widget/config?project=demo HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n";
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let head = response.split("\r\n\r\n").next().unwrap();
    head.lines()
        .skip(1)
        .filter_map(|line| line.split_once(": "))
        .filter(|(name, _)| !matches!(*name, "date" | "content-length" | "connection"))
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect()
}

async fn spawn_bare(body: Bytes, headers: Vec<(String, String)>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let headers: Vec<(HeaderName, HeaderValue)> = headers
        .iter()
        .map(|(name, value)| (name.parse().unwrap(), value.parse().unwrap()))
        .collect();
    tokio::spawn(serve_bare(listener, body, headers.into()));
    addr
}

async fn serve_bare(listener: TcpListener, body: Bytes, headers: Arc<[(HeaderName, HeaderValue)]>) {
    let builder = auto::Builder::new(TokioExecutor::new());
    loop {
        let (stream, _) = listener.accept().await.unwrap();
        let _ = stream.set_nodelay(true);
        let body = body.clone();
        let headers = headers.clone();
        let service = service_fn(move |_request| {
            let mut response = hyper::Response::new(Full::new(body.clone()));
            for (name, value) in headers.iter() {
                response.headers_mut().insert(name.clone(), value.clone());
            }
            async move { Ok::<_, Infallible>(response) }
        });
        let connection = builder
            .serve_connection(TokioIo::new(stream), service)
            .into_owned();
        tokio::spawn(connection);
    }
}

struct WrkRun {
    requests: f64,
    requests_per_second: f64,
}

fn wrk(addr: SocketAddr, path: &str, seconds: u64, connections: u64) -> WrkRun {
    let mut command = Command::new("wrk");
    PLACEMENT.pin_load(&mut command);
    let output = command
        .args(["-t1", &format!("-c{connections}"), &format!("-d{seconds}s")])
        .arg(format!("http://{addr}{path}"))
        .output()
        .expect("wrk runs");
    let text = String::from_utf8_lossy(&output.stdout);
    if text.contains("Non-2xx") {
        panic!("wrk saw errors, the comparison would be unfair:\n{text}");
    }
    let requests_per_second = text
        .lines()
        .find_map(|line| line.strip_prefix("Requests/sec:"))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or_else(|| panic!("no Requests/sec in wrk output:\n{text}"));
    let requests = text
        .lines()
        .find(|line| line.contains(" requests in "))
        .and_then(|line| line.split_whitespace().next())
        .and_then(|count| count.parse().ok())
        .unwrap_or_else(|| panic!("no request count in wrk output:\n{text}"));
    WrkRun {
        requests,
        requests_per_second,
    }
}

fn number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}
