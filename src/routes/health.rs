//! `GET /healthz`: liveness for load balancers and orchestrators. Not rate limited.

use hyper::StatusCode;

use crate::json::{Body, Response, json_response};
use crate::router::AppState;

pub fn get(state: &AppState) -> Response<Body> {
    use std::sync::atomic::Ordering::Relaxed;
    let llm = state.engine.reports.llm_stats();
    let body = serde_json::json!({
        "status": "ok",
        "liveProjects": state.engine.reports.live_projects(),
        "liveSessions": state.engine.reports.live_sessions(),
        "liveStreams": state.live.open(),
        "llm": {
            "answers": llm.answers.load(Relaxed),
            "upstreamErrors": llm.upstream_errors.load(Relaxed),
            "fallbacks": llm.fallbacks.load(Relaxed),
        },
    });
    json_response(StatusCode::OK, &body)
}
