//! `GET /metrics`: what the server is doing, in Prometheus text format (prometheus-client).
//!
//! Request counts by route and status, time to the response head by route, rate-limit
//! rejections by class, connections and streams refused by a cap; and, read when scraped, open
//! connections, tokio tasks, open SSE/WebSocket streams, live actors and popup subscribers, LLM
//! answers, text chunks, upstream errors, fallbacks and circuit-breaker openings, and the store's
//! size on disk.
//! Only clients in `metrics.allow` may scrape it (loopback by default). It never labels by
//! anything a visitor controls, so the number of series stays fixed.

use std::cell::RefCell;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use helpyap_actors::engine::Engines;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: &'static str,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ClassLabels {
    class: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

/// A request's counter and latency histogram, as `Metrics::request` finds them again.
struct RequestCells {
    metrics: u64,
    route: &'static str,
    status: u16,
    count: Counter,
    latency: Histogram,
}

/// At most this many per thread; a full cache starts over.
const CACHED_REQUEST_CELLS: usize = 64;

thread_local! {
    /// The cells of the requests this thread answered lately. `Family` hashes the labels under
    /// a lock on every lookup, two per request; a short scan of this thread's own list costs
    /// neither.
    static REQUEST_CELLS: RefCell<Vec<RequestCells>> = const { RefCell::new(Vec::new()) };
}

static NEXT_METRICS_ID: AtomicU64 = AtomicU64::new(0);

/// Values read from elsewhere when scraped.
#[derive(Default)]
struct Sampled {
    open_connections: Gauge,
    runtime_tasks: Gauge,
    live_streams: Gauge,
    live_projects: Gauge,
    live_sessions: Gauge,
    subscribers: Gauge,
    store_bytes: Gauge,
    store_up: Gauge,
    node_link_up: Gauge,
    rate_limits_local_fallback: Gauge,
    llm_answers: Counter,
    llm_chunks: Counter,
    llm_upstream_errors: Counter,
    llm_fallbacks: Counter,
    llm_circuit_opens: Counter,
}

/// What a scrape reads from the rest of the server.
pub struct Snapshot<'a> {
    pub open_connections: usize,
    pub runtime_tasks: usize,
    pub live_streams: usize,
    pub live_projects: usize,
    pub live_sessions: usize,
    pub subscribers: usize,
    pub store_bytes: u64,
    pub engines: Engines,
    /// A cluster node counting rate limits alone because Redis is unreachable.
    pub rate_limits_local_fallback: bool,
    pub llm_answers: &'a AtomicU64,
    pub llm_chunks: &'a AtomicU64,
    pub llm_upstream_errors: &'a AtomicU64,
    pub llm_fallbacks: &'a AtomicU64,
    pub llm_circuit_opens: &'a AtomicU64,
}

pub struct Metrics {
    /// Tells this instance's cells from another's in [`REQUEST_CELLS`] (tests run many).
    id: u64,
    registry: Registry,
    /// One scrape at a time brings the sampled counters up to date.
    scrape: Mutex<()>,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram>,
    rate_limited: Family<ClassLabels, Counter>,
    refused: Family<ReasonLabels, Counter>,
    config_reloads: Family<OutcomeLabels, Counter>,
    sampled: Sampled,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("helpyap");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by route and status",
            requests.clone(),
        );
        // 0.25 ms to ~4 s.
        let latency = Family::<RouteLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.000_25, 2.0, 15))
        });
        registry.register(
            "http_response_head_seconds",
            "Time from a request's head to its response's head, by route (streams keep going after)",
            latency.clone(),
        );
        let rate_limited = Family::<ClassLabels, Counter>::default();
        registry.register(
            "rate_limited",
            "Requests refused by a per-IP rate limit, by class",
            rate_limited.clone(),
        );
        let refused = Family::<ReasonLabels, Counter>::default();
        registry.register(
            "refused",
            "Connections and streams turned away by a cap (connections, connections_per_ip, streams_per_ip)",
            refused.clone(),
        );
        let config_reloads = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "config_reloads",
            "Config reloads on SIGHUP, by outcome (applied, or refused: the file was bad)",
            config_reloads.clone(),
        );
        let sampled = Sampled::default();
        let gauges = [
            (
                "open_connections",
                "Client connections open, WebSockets included",
                &sampled.open_connections,
            ),
            (
                "runtime_tasks",
                "Tokio tasks alive: connections, streams, actors, answers being generated",
                &sampled.runtime_tasks,
            ),
            (
                "live_streams",
                "Open SSE and WebSocket streams",
                &sampled.live_streams,
            ),
            (
                "live_project_actors",
                "Project actors alive",
                &sampled.live_projects,
            ),
            (
                "live_session_actors",
                "Chat session actors alive",
                &sampled.live_sessions,
            ),
            (
                "popup_subscribers",
                "Visitors subscribed to live popups",
                &sampled.subscribers,
            ),
            (
                "store_size_bytes",
                "The store's size on disk (sled's files, or the PostgreSQL database)",
                &sampled.store_bytes,
            ),
            (
                "store_up",
                "1 while the store answers (0: the PostgreSQL server is unreachable)",
                &sampled.store_up,
            ),
            (
                "node_link_up",
                "1 while other nodes' announcements are heard (always 1 on a node of its own)",
                &sampled.node_link_up,
            ),
            (
                "rate_limits_local_fallback",
                "1 while a cluster node counts rate limits alone (Redis unreachable): limits are up to N times looser",
                &sampled.rate_limits_local_fallback,
            ),
        ];
        for (name, help, gauge) in gauges {
            registry.register(name, help, gauge.clone());
        }
        let counters = [
            ("llm_answers", "Answers started", &sampled.llm_answers),
            (
                "llm_text_chunks",
                "Text chunks relayed from the model (about one token each from OpenAI-compatible servers)",
                &sampled.llm_chunks,
            ),
            (
                "llm_upstream_errors",
                "Answers that failed at the model server",
                &sampled.llm_upstream_errors,
            ),
            (
                "llm_fallbacks",
                "Answers given by the fallback provider",
                &sampled.llm_fallbacks,
            ),
            (
                "llm_circuit_opens",
                "Times the circuit breaker stopped calling a failing model server",
                &sampled.llm_circuit_opens,
            ),
        ];
        for (name, help, counter) in counters {
            registry.register(name, help, counter.clone());
        }
        Metrics {
            id: NEXT_METRICS_ID.fetch_add(1, Relaxed),
            registry,
            scrape: Mutex::new(()),
            requests,
            latency,
            rate_limited,
            refused,
            config_reloads,
            sampled,
        }
    }

    pub fn request(&self, route: &'static str, status: u16, took: Duration) {
        REQUEST_CELLS.with_borrow_mut(|cells| {
            let found = cells.iter().position(|cell| {
                cell.metrics == self.id && cell.status == status && std::ptr::eq(cell.route, route)
            });
            let at = match found {
                // The hottest stay in front.
                Some(at) if at > 0 => {
                    cells.swap(at - 1, at);
                    at - 1
                }
                Some(at) => at,
                None => {
                    if cells.len() == CACHED_REQUEST_CELLS {
                        cells.clear();
                    }
                    cells.push(RequestCells {
                        metrics: self.id,
                        route,
                        status,
                        count: self
                            .requests
                            .get_or_create(&RequestLabels { route, status })
                            .clone(),
                        latency: self.latency.get_or_create(&RouteLabels { route }).clone(),
                    });
                    cells.len() - 1
                }
            };
            let cell = &cells[at];
            cell.count.inc();
            cell.latency.observe(took.as_secs_f64());
        });
    }

    pub fn rate_limited(&self, class: &'static str) {
        self.rate_limited
            .get_or_create(&ClassLabels { class })
            .inc();
    }

    /// A config reload on SIGHUP, applied or refused.
    pub fn config_reload(&self, applied: bool) {
        let outcome = if applied { "applied" } else { "refused" };
        self.config_reloads
            .get_or_create(&OutcomeLabels { outcome })
            .inc();
    }

    /// A connection or stream turned away by the cap named `reason`.
    pub fn refused(&self, reason: &'static str) {
        self.refused.get_or_create(&ReasonLabels { reason }).inc();
    }

    /// The text exposition, with the sampled values read now.
    pub fn render(&self, now: Snapshot<'_>) -> String {
        let _one_at_a_time = self.scrape.lock().expect("never poisoned");
        let sampled = &self.sampled;
        let gauge = |gauge: &Gauge, value: u64| {
            gauge.set(i64::try_from(value).unwrap_or(i64::MAX));
        };
        gauge(&sampled.open_connections, now.open_connections as u64);
        gauge(&sampled.runtime_tasks, now.runtime_tasks as u64);
        gauge(&sampled.live_streams, now.live_streams as u64);
        gauge(&sampled.live_projects, now.live_projects as u64);
        gauge(&sampled.live_sessions, now.live_sessions as u64);
        gauge(&sampled.subscribers, now.subscribers as u64);
        gauge(&sampled.store_bytes, now.store_bytes);
        gauge(&sampled.store_up, now.engines.store_ok.into());
        gauge(&sampled.node_link_up, now.engines.fan_out_ok.into());
        gauge(
            &sampled.rate_limits_local_fallback,
            now.rate_limits_local_fallback.into(),
        );
        // Counters only go up: bring each to the source's total.
        let counter = |counter: &Counter, source: &AtomicU64| {
            let behind = source.load(Relaxed).saturating_sub(counter.get());
            counter.inc_by(behind);
        };
        counter(&sampled.llm_answers, now.llm_answers);
        counter(&sampled.llm_chunks, now.llm_chunks);
        counter(&sampled.llm_upstream_errors, now.llm_upstream_errors);
        counter(&sampled.llm_fallbacks, now.llm_fallbacks);
        counter(&sampled.llm_circuit_opens, now.llm_circuit_opens);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)
            .expect("writing to a String cannot fail");
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exposition(metrics: &Metrics) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &metrics.registry).unwrap();
        text
    }

    fn line<'a>(text: &'a str, starting: &str) -> &'a str {
        text.lines()
            .find(|line| line.starts_with(starting))
            .unwrap_or_else(|| panic!("no {starting} in\n{text}"))
    }

    #[test]
    fn requests_count_by_route_and_status_in_their_own_instance_past_a_full_cache() {
        let first = Metrics::new();
        let second = Metrics::new();
        let took = Duration::from_millis(1);
        for _ in 0..3 {
            first.request("widget_config", 200, took);
        }
        first.request("widget_config", 304, took);
        second.request("widget_config", 200, took);
        // More distinct series than the cache holds: it starts over, nothing is lost.
        let routes: Vec<&'static str> = (0..CACHED_REQUEST_CELLS + 5)
            .map(|at| &*Box::leak(format!("route_{at}").into_boxed_str()))
            .collect();
        for route in &routes {
            first.request(route, 200, took);
        }
        first.request("widget_config", 200, took);

        let text = exposition(&first);
        assert_eq!(
            line(
                &text,
                r#"helpyap_http_requests_total{route="widget_config",status="200"}"#
            ),
            r#"helpyap_http_requests_total{route="widget_config",status="200"} 4"#
        );
        assert!(
            text.contains(r#"helpyap_http_requests_total{route="widget_config",status="304"} 1"#)
        );
        assert!(text.contains(r#"helpyap_http_requests_total{route="route_0",status="200"} 1"#));
        assert!(
            text.contains(r#"helpyap_http_response_head_seconds_count{route="widget_config"} 5"#)
        );
        let text = exposition(&second);
        assert!(
            text.contains(r#"helpyap_http_requests_total{route="widget_config",status="200"} 1"#)
        );
        assert!(!text.contains("route_0"));
    }
}
