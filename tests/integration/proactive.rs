//! Proactive messages through the real server: owners set the rules with the widget settings
//! (checked: 400 naming the rule); the public config carries them; the widget's beacon
//! (`POST /api/widget/proactive`) is counted once per visit, rule and action into the
//! overview's figures. What the widget does with them is tested in chromium (`browser.rs`).

use serde_json::{Value, json};

use crate::support::{TestServer, expect_error, get_json, todays_analytics_once};

async fn beacon(server: &TestServer, project: &str, body: Value) -> reqwest::Response {
    crate::support::beacon(server, "/api/widget/proactive", project, body).await
}

fn rules() -> Value {
    json!([
        {"id": "pricing-help", "page": "/pricing", "afterSeconds": 5,
         "message": "Questions about our plans? Ask me here.", "frequency": "day"},
        {"id": "docs", "page": "/docs/*", "afterSeconds": 0, "message": "Stuck? I can help."}
    ])
}

#[tokio::test]
async fn rules_are_kept_checked_and_served_with_the_config() {
    let server = TestServer::start().await;
    let owner = server.owner("owner@example.com").await;
    let mut settings = owner.get("/api/admin/projects/demo").expect(200).await;
    assert_eq!(settings["proactive"], json!([]));
    settings["proactive"] = rules();
    owner
        .put("/api/admin/projects/demo", settings.clone())
        .expect(200)
        .await;
    let config = get_json(&server, "/api/widget/config?project=demo").await;
    let mut expected = rules();
    expected[1]["frequency"] = json!("visit"); // the default
    assert_eq!(config["proactive"], expected);
    assert_eq!(
        owner.get("/api/admin/projects/demo").expect(200).await["proactive"],
        expected
    );

    let rule = |change: Value| {
        let mut rule = rules()[0].clone();
        for (key, value) in change.as_object().unwrap() {
            rule[key] = value.clone();
        }
        rule
    };
    for (proactive, says) in [
        (json!([rule(json!({"id": "Pricing Help"}))]), "rule 1: id"),
        (json!([rule(json!({})), rule(json!({}))]), "used twice"),
        (json!([rule(json!({"page": "pricing"}))]), "starting with /"),
        (json!([rule(json!({"afterSeconds": 3601}))]), "afterSeconds"),
        (json!([rule(json!({"afterSeconds": -1}))]), "expected u32"),
        (json!([rule(json!({"message": ""}))]), "message"),
        (
            json!([rule(json!({"message": "x".repeat(281)}))]),
            "message",
        ),
        (
            json!([rule(json!({"frequency": "hour"}))]),
            "expected `visit` or `day`",
        ),
        (json!([rule(json!({"color": "red"}))]), "unknown field"),
        (
            Value::Array(
                (0..11)
                    .map(|n| rule(json!({"id": format!("r{n}")})))
                    .collect(),
            ),
            "at most 10",
        ),
    ] {
        let mut bad = settings.clone();
        bad["proactive"] = proactive.clone();
        let error = owner
            .put("/api/admin/projects/demo", bad)
            .expect_error(400)
            .await;
        assert!(error.contains(says), "{proactive}: {error}");
    }
    let config = get_json(&server, "/api/widget/config?project=demo").await;
    assert_eq!(config["proactive"], expected, "nothing changed");
}

#[tokio::test]
async fn shown_opened_and_dismissed_are_counted_once_per_visit() {
    let server = TestServer::start().await;
    let owner = server.owner("owner@example.com").await;
    let mut settings = owner.get("/api/admin/projects/demo").expect(200).await;
    settings["proactive"] = rules();
    owner
        .put("/api/admin/projects/demo", settings.clone())
        .expect(200)
        .await;
    let report = |visit: &str, rule: &str, action: &str| json!({ "visit": visit, "rule": rule, "action": action });
    let reports = [
        report("visit-a-123", "pricing-help", "shown"),
        report("visit-a-123", "pricing-help", "opened"),
        // The same visit again (a reload): nothing more.
        report("visit-a-123", "pricing-help", "shown"),
        report("visit-b-456", "pricing-help", "shown"),
        report("visit-b-456", "pricing-help", "dismissed"),
        report("visit-b-456", "docs", "shown"),
        // A rule the project does not have (a page with older settings) counts nothing.
        report("visit-b-456", "gone", "shown"),
    ];
    for body in reports {
        assert_eq!(beacon(&server, "demo", body).await.status(), 204);
    }
    for (body, needle) in [
        (report("short", "docs", "shown"), "visit must be"),
        (report("visit-c-789", "", "shown"), "rule must be"),
        (
            report("visit-c-789", &"r".repeat(41), "shown"),
            "rule must be",
        ),
        (report("visit-c-789", "docs", "clicked"), "unknown variant"),
        (json!({ "visit": "visit-c-789", "rule": "docs" }), "action"),
        (
            json!({ "visit": "visit-c-789", "rule": 7, "action": "shown" }),
            "invalid type",
        ),
    ] {
        let message = expect_error(beacon(&server, "demo", body).await, 400).await;
        assert!(message.contains(needle), "{message}");
    }
    let unknown = beacon(&server, "nope", report("visit-a-123", "docs", "shown")).await;
    expect_error(unknown, 404).await;

    let expected = json!([
        { "rule": "pricing-help", "message": "Questions about our plans? Ask me here.",
          "shown": 2, "opened": 1, "dismissed": 1 },
        { "rule": "docs", "message": "Stuck? I can help.", "shown": 1, "opened": 0, "dismissed": 0 },
    ]);
    let analytics = todays_analytics_once(&owner, |a| a["proactive"] == expected).await;
    assert_eq!(analytics["proactive"], expected);

    // A rule deleted since still shows its figures, without a message.
    settings["proactive"] = json!([rules()[1].clone()]);
    owner
        .put("/api/admin/projects/demo", settings)
        .expect(200)
        .await;
    let analytics = owner
        .get("/api/admin/projects/demo/analytics?days=1")
        .expect(200)
        .await;
    assert_eq!(
        analytics["proactive"],
        json!([
            { "rule": "docs", "message": "Stuck? I can help.", "shown": 1, "opened": 0, "dismissed": 0 },
            { "rule": "pricing-help", "message": null, "shown": 2, "opened": 1, "dismissed": 1 },
        ])
    );
}
