//! `GET /healthz`: liveness for load balancers and orchestrators. Not rate limited.
//!
//! Always 200 while the process serves: with the shared PostgreSQL down, a node still serves
//! widget configs from its cache and keeps open streams, and every node would fail alike.
//! `status` is "degraded" when an engine is unreachable, for alerting; `store` and (in cluster
//! mode) `cluster` say which.

use hyper::StatusCode;

use crate::json::{Body, Response, json_response};
use crate::router::AppState;
use crate::views::{Health, HealthCluster, HealthLlm, HealthStore};

#[utoipa::path(
    get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "The node serves; `status` says whether every engine answers", body = Health))
)]
pub async fn get(state: &AppState) -> Response<Body> {
    use std::sync::atomic::Ordering::Relaxed;
    let llm = state.engine.reports.llm_stats();
    let engines = state.engine.reports.engines().await;
    let rate_limits_shared = state.limiter.shared();
    let healthy = engines.store_ok && engines.fan_out_ok && rate_limits_shared != Some(false);
    let body = Health {
        status: if healthy { "ok" } else { "degraded" },
        store: HealthStore {
            engine: engines.store,
            ok: engines.store_ok,
        },
        live_projects: state.engine.reports.live_projects() as u64,
        live_sessions: state.engine.reports.live_sessions() as u64,
        live_streams: state.live.open() as u64,
        llm: HealthLlm {
            answers: llm.answers.load(Relaxed),
            upstream_errors: llm.upstream_errors.load(Relaxed),
            fallbacks: llm.fallbacks.load(Relaxed),
        },
        cluster: engines.cluster.then(|| HealthCluster {
            redis: engines.fan_out_ok && rate_limits_shared != Some(false),
            rate_limits: if rate_limits_shared == Some(false) {
                "local"
            } else {
                "shared"
            },
        }),
    };
    json_response(StatusCode::OK, &body)
}
