//! `GET /healthz`: liveness for load balancers and orchestrators. Not rate limited.

use hyper::StatusCode;

use crate::json::{Body, Response, json_response};
use crate::router::AppState;

pub fn get(state: &AppState) -> Response<Body> {
    let body = serde_json::json!({
        "status": "ok",
        "liveProjects": state.registry.live_projects(),
    });
    json_response(StatusCode::OK, &body)
}
