//! Impressions and clicks: the widget's beacon (`POST /api/widget/salespop/seen`), counted once
//! per visit, event and action, into the overview's figures and `popups.csv`.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{
    DEMO_SECRET, TestServer, client, expect_error, get_json, push, todays_analytics_once,
};

async fn beacon(server: &TestServer, project: &str, body: Value) -> reqwest::Response {
    crate::support::beacon(server, "/api/widget/salespop/seen", project, body).await
}

#[tokio::test]
async fn popups_seen_and_clicked_are_counted_once_per_visit() {
    let server = TestServer::start().await;
    let owner = server.owner("owner@example.com").await;
    for kind in ["purchased", "signed_up"] {
        let event = json!({ "project": "demo", "type": kind, "name": "Ann" });
        assert_eq!(push(&server, DEMO_SECRET, event).await.status(), 201);
    }
    let reports = [
        json!({ "visit": "visit-a-123", "shown": ["1", "2"], "clicked": ["1"] }),
        // The same visit again (a reload): nothing more.
        json!({ "visit": "visit-a-123", "shown": ["1"], "clicked": ["1"] }),
        json!({ "visit": "visit-b-456", "shown": ["1"] }),
        // An id the project never gave out counts nothing.
        json!({ "visit": "visit-b-456", "shown": ["999"], "clicked": ["999"] }),
    ];
    for report in reports {
        assert_eq!(beacon(&server, "demo", report).await.status(), 204);
    }
    for (body, needle) in [
        (json!({ "visit": "short" }), "visit must be"),
        (
            json!({ "visit": "visit-c-789", "shown": ["one"] }),
            "event ids",
        ),
        (
            json!({ "visit": "visit-c-789", "shown": vec!["1"; 21] }),
            "at most 20",
        ),
        (
            json!({ "visit": "visit-c-789", "liked": ["1"] }),
            "unknown field",
        ),
    ] {
        let message = expect_error(beacon(&server, "demo", body).await, 400).await;
        assert!(message.contains(needle), "{message}");
    }
    let unknown = beacon(&server, "nope", json!({ "visit": "visit-a-123" })).await;
    expect_error(unknown, 404).await;

    let analytics = todays_analytics_once(&owner, |a| a["days"][0]["popupsShown"] == 3).await;
    let today = &analytics["days"][0];
    assert_eq!(
        (today["popupsShown"].clone(), today["popupsClicked"].clone()),
        (json!(3), json!(1))
    );
    assert_eq!(
        analytics["popupsByType"],
        json!([
            { "type": "purchased", "shown": 2, "clicked": 1 },
            { "type": "signed_up", "shown": 1, "clicked": 0 }
        ])
    );
    let csv = owner
        .get("/api/admin/projects/demo/popups.csv")
        .send()
        .await
        .text()
        .await
        .unwrap();
    let date = today["date"].as_str().unwrap();
    assert_eq!(
        csv,
        format!(
            "date,type,shown,clicked,click_through_rate\n{date},purchased,2,1,0.5000\n{date},signed_up,1,0,0.0000\n"
        )
    );
    owner
        .get("/api/admin/projects/demo/popups.csv?days=500")
        .expect(400)
        .await;
}

#[tokio::test]
async fn viewers_of_a_page_are_its_open_popup_streams() {
    let server = TestServer::start_with(|config| {
        config.projects[0].social_proof.live_viewers.enabled = true;
    })
    .await;
    // Another project keeps its visitor counts to itself.
    let off = client().get(server.url("/api/widget/salespop/viewers?project=other&page=/"));
    let message = expect_error(off.send().await.unwrap(), 404).await;
    assert_eq!(message, "Live viewer counts are off for this project");
    let stream = |page: &str| {
        let url = server.url(&format!(
            "/api/widget/salespop/stream?project=demo&page={}",
            percent_encoding::utf8_percent_encode(page, percent_encoding::NON_ALPHANUMERIC)
        ));
        async move { client().get(url).send().await.unwrap() }
    };
    let viewers = |page: &'static str| {
        let path = format!("/api/widget/salespop/viewers?project=demo&page={page}");
        let server = &server;
        async move { get_json(server, &path).await["viewers"].as_u64().unwrap() }
    };
    let pricing = [stream("/pricing").await, stream("/pricing").await];
    let _home = stream("/").await;
    assert!(pricing.iter().all(|response| response.status() == 200));
    assert_eq!(viewers("/pricing").await, 2);
    assert_eq!(viewers("/").await, 1);
    assert_eq!(viewers("/blog").await, 0);
    // A visitor leaves: counted out once the server sees the connection go.
    drop(pricing);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while viewers("/pricing").await != 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "left visitors are not counted"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for bad in ["pricing", "", "/a%0Ab", &format!("/{}", "a".repeat(200))] {
        let url = server.url(&format!(
            "/api/widget/salespop/viewers?project=demo&page={bad}"
        ));
        let message = expect_error(client().get(url).send().await.unwrap(), 400).await;
        assert!(message.contains("page must be a path"), "{bad}: {message}");
        // A live connection with a page it cannot count is taken all the same, uncounted.
        let url = server.url(&format!(
            "/api/widget/salespop/stream?project=demo&page={bad}"
        ));
        assert_eq!(client().get(url).send().await.unwrap().status(), 200);
    }
    // A path with an encoded "?" is a page of its own.
    let _query_like = stream("/search/what?").await;
    assert_eq!(viewers("/search/what%3F").await, 1);
    let missing = client().get(server.url("/api/widget/salespop/viewers?project=demo"));
    let message = expect_error(missing.send().await.unwrap(), 400).await;
    assert_eq!(message, "page is required");
}
