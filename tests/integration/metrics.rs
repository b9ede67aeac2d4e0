//! `GET /metrics`: Prometheus text that follows what the server did, for allowed clients only.

use std::time::Duration;

use serde_json::json;

use crate::support::{TestServer, client, expect_error};

/// The value of the series written exactly as `series` (name and labels), or 0 when absent.
pub(crate) fn value(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map_or(0.0, |v| v.trim().parse().unwrap())
}

pub(crate) async fn scrape(server: &TestServer) -> String {
    let response = client().get(server.url("/metrics")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    response.text().await.unwrap()
}

#[tokio::test]
async fn metrics_follow_requests_streams_chats_and_rate_limits() {
    let server = TestServer::start_with(|config| {
        config.rate_limits.widget.requests = 3;
    })
    .await;
    let before = scrape(&server).await;
    let config_ok = r#"helpyap_http_requests_total{route="widget_config",status="200"}"#;
    let limited = r#"helpyap_rate_limited_total{class="widget"}"#;
    assert_eq!(value(&before, config_ok), 0.0);

    // An open SSE stream (one of the 3 widget requests allowed), then 5 config reads.
    let stream = client()
        .get(server.url("/api/widget/salespop/stream?project=other"))
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    for _ in 0..5 {
        client()
            .get(server.url("/api/widget/config?project=demo"))
            .send()
            .await
            .unwrap();
    }
    let answer = client()
        .post(server.url("/api/chat"))
        .json(&json!({ "projectSlug": "demo", "sessionId": uuid::Uuid::new_v4(), "messages": [{ "role": "user", "content": "What is your return policy?" }] }))
        .send()
        .await
        .unwrap();
    answer.text().await.unwrap();

    let after = scrape(&server).await;
    assert_eq!(value(&after, config_ok), 2.0, "{after}");
    assert_eq!(
        value(
            &after,
            r#"helpyap_http_requests_total{route="widget_config",status="429"}"#
        ),
        3.0
    );
    assert_eq!(value(&after, limited), 3.0);
    assert_eq!(
        value(
            &after,
            r#"helpyap_http_response_head_seconds_count{route="widget_config"}"#
        ),
        5.0
    );
    assert_eq!(value(&after, "helpyap_live_streams"), 1.0);
    assert_eq!(value(&after, "helpyap_popup_subscribers"), 1.0);
    assert_eq!(value(&after, "helpyap_llm_answers_total"), 1.0);
    assert!(
        value(&after, "helpyap_llm_text_chunks_total") >= 1.0,
        "{after}"
    );
    assert!(value(&after, "helpyap_store_size_bytes") > 0.0);
    assert_eq!(value(&after, "helpyap_live_session_actors"), 1.0);

    drop(stream);
    // The server notices the closed stream at its next keep-alive or event; wait for it.
    let mut open = 1.0;
    for _ in 0..40 {
        open = value(&scrape(&server).await, "helpyap_live_streams");
        if open == 0.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        crate::support::push(
            &server,
            crate::support::OTHER_SECRET,
            json!({ "project": "other", "type": "signed_up" }),
        )
        .await;
    }
    assert_eq!(open, 0.0, "a closed stream is no longer counted");
}

#[tokio::test]
async fn metrics_are_refused_outside_the_allow_list_and_absent_when_off() {
    let server = TestServer::start_with(|config| {
        config.metrics.allow = vec!["10.0.0.0/8".parse().unwrap()];
    })
    .await;
    let refused = client().get(server.url("/metrics")).send().await.unwrap();
    expect_error(refused, 403).await;

    let off = TestServer::start_with(|config| config.metrics.enabled = false).await;
    let absent = client().get(off.url("/metrics")).send().await.unwrap();
    expect_error(absent, 404).await;
    let post = client().post(server.url("/metrics")).send().await.unwrap();
    expect_error(post, 405).await;
}
