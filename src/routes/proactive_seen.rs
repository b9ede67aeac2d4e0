//! `POST /api/widget/proactive?project=SLUG`: the widget's beacon of a proactive message shown,
//! opened or dismissed, for the owner's figures.
//!
//! Body (any content type: `navigator.sendBeacon` sends text) `{"visit": "…", "rule":
//! "pricing-help", "action": "shown"}`: `visit` is the random id the widget made for this visit
//! (as for popups), `rule` a rule's id, `action` `shown`, `opened` or `dismissed`. Answers 204
//! at once; the project counts each rule once per visit and action, and only rules it has.

use crate::json::RequestBody;
use helpyap_actors::proactive::{ProactiveAction, ProactiveReport, RULE_ID_MAX_CHARS};
use hyper::{Request, StatusCode};
use serde::Deserialize;

use crate::error::ApiError;
use crate::json::{Body, Response, empty_response, parse_json, read_body};
use crate::router::AppState;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ProactiveBody {
    #[schema(
        min_length = 8,
        max_length = 64,
        pattern = "^[A-Za-z0-9_-]{8,64}$",
        example = "k3v9x2m1q8"
    )]
    visit: String,
    /// The rule's id.
    #[schema(max_length = 40, example = "pricing-help")]
    rule: String,
    action: ProactiveAction,
}

#[utoipa::path(
    post, path = "/api/widget/proactive", tag = "widget",
    params(("project" = String, Query, example = "demo", description = "The project's slug")),
    request_body = ProactiveBody,
    responses((status = 204, description = "Taken; counted once per visit, rule and action"))
)]
pub async fn post(
    state: &AppState,
    request: Request<RequestBody>,
) -> Result<Response<Body>, ApiError> {
    let project = super::widget_project(state, &request).await?;
    let body = read_body(request, state.body_limits()).await?;
    let report = parse_report(&body)?;
    state
        .engine
        .projects
        .report_proactive(&project, report)
        .await?;
    Ok(empty_response(StatusCode::NO_CONTENT))
}

fn parse_report(json: &[u8]) -> Result<ProactiveReport, ApiError> {
    let body: ProactiveBody = parse_json(json)?;
    let visit = super::salespop_seen::visit_number(&body.visit)?;
    if body.rule.is_empty() || body.rule.len() > RULE_ID_MAX_CHARS {
        return Err(ApiError::invalid(format!(
            "rule must be a rule's id, 1 to {RULE_ID_MAX_CHARS} characters"
        )));
    }
    Ok(ProactiveReport {
        visit,
        rule: body.rule,
        action: body.action,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_are_read_and_bounded() {
        let report =
            parse_report(br#"{"visit":"abcd1234","rule":"pricing","action":"opened"}"#).unwrap();
        assert_eq!(
            (report.rule.as_str(), report.action),
            ("pricing", ProactiveAction::Opened)
        );
        for bad in [
            r#"{"visit":"short","rule":"pricing","action":"shown"}"#.to_owned(),
            r#"{"visit":"abcd1234","rule":"","action":"shown"}"#.to_owned(),
            r#"{"visit":"abcd1234","rule":"pricing","action":"clicked"}"#.to_owned(),
            r#"{"visit":"abcd1234","rule":"pricing"}"#.to_owned(),
            r#"{"visit":"abcd1234","rule":"pricing","action":"shown","x":1}"#.to_owned(),
            format!(
                r#"{{"visit":"abcd1234","rule":"{}","action":"shown"}}"#,
                "r".repeat(41)
            ),
        ] {
            assert!(parse_report(bad.as_bytes()).is_err(), "{bad}");
        }
    }
}
