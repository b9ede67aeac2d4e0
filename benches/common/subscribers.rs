//! Live subscribers for the load benchmarks: WebSocket and SSE clients that count the messages
//! carrying a send time (`t=MICROSECONDS` since [`EPOCH`]) and record their latency.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// The benchmark's clock: send times are microseconds since it.
pub static EPOCH: LazyLock<Instant> = LazyLock::new(Instant::now);

/// What every subscriber reports into.
#[derive(Default)]
pub struct Tally {
    /// Messages sent before this microsecond are ignored (nchan replays its newest on connect).
    phase_start_us: AtomicU64,
    pub received: AtomicU64,
    recording: AtomicBool,
    pub latencies_us: Mutex<Vec<f64>>,
}

impl Tally {
    pub fn count(&self, text: &[u8]) {
        let Some(sent_us) = sent_at(text) else { return };
        if sent_us < self.phase_start_us.load(Relaxed) {
            return;
        }
        self.received.fetch_add(1, Relaxed);
        if self.recording.load(Relaxed) {
            let latency = EPOCH.elapsed().as_micros() as f64 - sent_us as f64;
            self.latencies_us.lock().unwrap().push(latency);
        }
    }

    pub fn start_phase(&self, recording: bool) {
        self.received.store(0, Relaxed);
        self.recording.store(recording, Relaxed);
        self.phase_start_us
            .store(EPOCH.elapsed().as_micros() as u64, Relaxed);
    }

    pub async fn wait_for(&self, wanted: u64, limit: Duration) {
        let deadline = Instant::now() + limit;
        while self.received.load(Relaxed) < wanted {
            assert!(
                Instant::now() < deadline,
                "only {} of {wanted} deliveries arrived",
                self.received.load(Relaxed)
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
}

/// The microseconds after the first `t=` in a message.
pub fn sent_at(text: &[u8]) -> Option<u64> {
    let start = text.windows(2).position(|pair| pair == b"t=")? + 2;
    let digits = text[start..]
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .count();
    std::str::from_utf8(&text[start..start + digits])
        .ok()?
        .parse()
        .ok()
}

pub async fn subscribe_ws(
    addr: &str,
    path: &str,
    tally: &Tally,
    connected: &tokio::sync::Semaphore,
) {
    let stream = TcpStream::connect(addr).await.unwrap();
    // Small buffers on our side too, so 10k clients fit beside the servers.
    let config = WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0);
    let (mut socket, _) = tokio_tungstenite::client_async_with_config(
        format!("ws://{addr}{path}"),
        stream,
        Some(config),
    )
    .await
    .unwrap();
    connected.add_permits(1);
    while let Some(Ok(message)) = socket.next().await {
        if let Message::Text(text) = message {
            tally.count(text.as_bytes());
        }
    }
}

pub async fn subscribe_sse(
    addr: &str,
    path: &str,
    tally: &Tally,
    connected: &tokio::sync::Semaphore,
) {
    // One client for all: building one per subscriber took more of the load generator's core
    // than the servers took of theirs, and at 10 000 the ramp outlasted the header timeout.
    static CLIENT: LazyLock<reqwest::Client> = LazyLock::new(reqwest::Client::new);
    let client = &*CLIENT;
    let mut response = client
        .get(format!("http://{addr}{path}"))
        .header("Accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success());
    connected.add_permits(1);
    let mut pending: Vec<u8> = Vec::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        pending.extend_from_slice(&chunk);
        while let Some(end) = pending.windows(2).position(|pair| pair == b"\n\n") {
            tally.count(&pending[..end]);
            pending.drain(..end + 2);
        }
    }
}
