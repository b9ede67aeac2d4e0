//! `GET /metrics`: the Prometheus text exposition, for clients in `metrics.allow` only.

use std::net::IpAddr;

use bytes::Bytes;
use hyper::StatusCode;

use crate::error::ApiError;
use crate::json::{Body, Response, bytes_response};
use crate::metrics::Snapshot;
use crate::router::AppState;

/// The content type Prometheus scrapers ask for.
const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

#[utoipa::path(
    get, path = "/metrics", tag = "operations",
    responses(
        (status = 200, description = "Prometheus text exposition", body = String, content_type = "text/plain; version=0.0.4; charset=utf-8"),
        (status = 403, description = "Not open to this address (`metrics.allow`)", body = crate::error::ErrorBody),
        (status = 404, description = "Metrics are off", body = crate::error::ErrorBody),
    )
)]
pub async fn get(state: &AppState, client: IpAddr) -> Result<Response<Body>, ApiError> {
    let allow = state
        .metrics_allow
        .as_ref()
        .ok_or_else(|| ApiError::not_found("Not found"))?;
    if !allow.iter().any(|network| network.contains(&client)) {
        return Err(ApiError::forbidden(
            "Metrics are not open to this address (see metrics.allow)",
        ));
    }
    let llm = state.engine.reports.llm_stats();
    let text = state.metrics.render(Snapshot {
        open_connections: state.connections.open(),
        runtime_tasks: tokio::runtime::Handle::current()
            .metrics()
            .num_alive_tasks(),
        live_streams: state.live.open(),
        live_projects: state.engine.reports.live_projects(),
        live_sessions: state.engine.reports.live_sessions(),
        subscribers: state.engine.reports.live_subscribers_total(),
        store_bytes: state.engine.reports.store_size().await.unwrap_or(0),
        engines: state.engine.reports.engines().await,
        rate_limits_local_fallback: state.limiter.shared() == Some(false),
        llm_answers: &llm.answers,
        llm_chunks: &llm.text_chunks,
        llm_upstream_errors: &llm.upstream_errors,
        llm_fallbacks: &llm.fallbacks,
        llm_circuit_opens: &llm.circuit_opens,
    });
    Ok(bytes_response(
        StatusCode::OK,
        Bytes::from(text),
        TEXT_FORMAT,
    ))
}
