//! `POST /api/widget/salespop/seen?project=SLUG`: the widget's beacon of popups shown and
//! clicked, for the owner's impressions, clicks and click-through rate.
//!
//! Body (any content type: `navigator.sendBeacon` sends text) `{"visit": "…", "shown": ["12"],
//! "clicked": ["12"]}`: `visit` is a random id the widget made for this visit (8 to 64 letters,
//! digits, `-` or `_`; nothing personal), the lists hold event ids, at most 20 each. Answers
//! 204 at once; the project counts each event once per visit and action, and only events still
//! in its replay window (ids it never gave out count nothing).

use std::hash::{DefaultHasher, Hash, Hasher};

use crate::json::RequestBody;
use helpyap_actors::project::PopupReport;
use hyper::{Request, StatusCode};
use serde::Deserialize;

use crate::error::ApiError;
use crate::json::{Body, Response, empty_response, parse_json, read_body};
use crate::router::AppState;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct SeenBody {
    #[schema(
        min_length = 8,
        max_length = 64,
        pattern = "^[A-Za-z0-9_-]{8,64}$",
        example = "k3v9x2m1q8"
    )]
    visit: String,
    /// Ids of the events whose popups were shown.
    #[serde(default)]
    #[schema(max_items = 20)]
    shown: Vec<String>,
    /// Ids of the events whose popups were clicked.
    #[serde(default)]
    #[schema(max_items = 20)]
    clicked: Vec<String>,
}

#[utoipa::path(
    post, path = "/api/widget/salespop/seen", tag = "social proof",
    params(("project" = String, Query, example = "demo", description = "The project's slug")),
    request_body = SeenBody,
    responses((status = 204, description = "Taken; counted once per visit, event and action"))
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
        .report_popups(&project, report)
        .await?;
    Ok(empty_response(StatusCode::NO_CONTENT))
}

/// A beacon's `visit` (8 to 64 letters, digits, `-` or `_`) as the number reports keep.
pub(super) fn visit_number(visit: &str) -> Result<u64, ApiError> {
    let visit_ok = (8..=64).contains(&visit.len())
        && visit
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !visit_ok {
        return Err(ApiError::invalid(
            "visit must be 8 to 64 letters, digits, - or _",
        ));
    }
    let mut number = DefaultHasher::new();
    visit.hash(&mut number);
    Ok(number.finish())
}

fn parse_report(json: &[u8]) -> Result<PopupReport, ApiError> {
    let body: SeenBody = parse_json(json)?;
    let visit = visit_number(&body.visit)?;
    let ids = |field: &str, ids: Vec<String>| -> Result<Vec<u64>, ApiError> {
        if ids.len() > PopupReport::MAX_IDS {
            return Err(ApiError::invalid(format!(
                "{field} may hold at most {} event ids",
                PopupReport::MAX_IDS
            )));
        }
        ids.iter()
            .map(|id| id.parse::<u64>())
            .collect::<Result<_, _>>()
            .map_err(|_| ApiError::invalid(format!("{field} must hold event ids such as \"12\"")))
    };
    Ok(PopupReport {
        visit,
        shown: ids("shown", body.shown)?,
        clicked: ids("clicked", body.clicked)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_are_read_and_bounded() {
        let report =
            parse_report(br#"{"visit":"abcd1234","shown":["3","4"],"clicked":["3"]}"#).unwrap();
        assert_eq!((report.shown, report.clicked), (vec![3, 4], vec![3]));
        let same = parse_report(br#"{"visit":"abcd1234"}"#).unwrap();
        assert_eq!(same.visit, report.visit, "one visit, one number");
        for bad in [
            r#"{"visit":"short"}"#.to_owned(),
            r#"{"visit":"has spaces in it"}"#.to_owned(),
            r#"{"visit":"abcd1234","shown":["x"]}"#.to_owned(),
            r#"{"visit":"abcd1234","shown":[3]}"#.to_owned(),
            r#"{"visit":"abcd1234","seen":["3"]}"#.to_owned(),
            format!(r#"{{"visit":"abcd1234","clicked":{:?}}}"#, vec!["1"; 21]),
        ] {
            assert!(parse_report(bad.as_bytes()).is_err(), "{bad}");
        }
    }
}
