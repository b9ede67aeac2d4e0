//! Business hours through the real server: owners set them with the widget settings (checked:
//! a bad time zone, time or date is 400 naming it); the public config carries them; and
//! `GET /api/widget/availability` says whether the team is in and when that changes. Crossing
//! the boundaries themselves (weekdays, DST, midnight) is unit-tested with given instants in
//! `actors/src/hours.rs`.

use serde_json::{Value, json};

use crate::support::{TestServer, client, get_json};

/// Today's and tomorrow's dates in UTC, as `YYYY-MM-DD`.
fn today_and_tomorrow() -> (String, String) {
    let now = helpyap_actors::time::now_ms();
    let day = helpyap_actors::time::DAY_MS;
    (
        helpyap_actors::time::utc_date(now),
        helpyap_actors::time::utc_date(now + day),
    )
}

fn round_the_clock(holidays: Vec<String>) -> Value {
    let day = json!([["00:00", "24:00"]]);
    json!({
        "enabled": true,
        "timeZone": "UTC",
        "weekly": {"mon": day, "tue": day, "wed": day, "thu": day, "fri": day, "sat": day, "sun": day},
        "holidays": holidays,
    })
}

#[tokio::test]
async fn availability_follows_the_hours_the_owner_sets() {
    let server = TestServer::start().await;
    let owner = server.owner("owner@example.com").await;
    // No hours kept: always in.
    let open = get_json(&server, "/api/widget/availability?project=demo").await;
    assert_eq!(open, json!({"open": true, "changesAt": null}));
    let response = client()
        .get(server.url("/api/widget/availability?project=demo"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["cache-control"], "no-store");

    // Closed today (a holiday): back at midnight UTC.
    let (today, tomorrow) = today_and_tomorrow();
    let mut settings = owner.get("/api/admin/projects/demo").expect(200).await;
    settings["businessHours"] = round_the_clock(vec![today.clone()]);
    owner
        .put("/api/admin/projects/demo", settings.clone())
        .expect(200)
        .await;
    let config = get_json(&server, "/api/widget/config?project=demo").await;
    assert_eq!(config["businessHours"]["holidays"], json!([today]));
    let away = get_json(&server, "/api/widget/availability?project=demo").await;
    if helpyap_actors::time::utc_date(helpyap_actors::time::now_ms()) == today {
        assert_eq!(
            away,
            json!({"open": false, "changesAt": format!("{tomorrow}T00:00:00.000Z")})
        );
    }

    // No holiday: in, round the clock.
    settings["businessHours"] = round_the_clock(Vec::new());
    owner
        .put("/api/admin/projects/demo", settings.clone())
        .expect(200)
        .await;
    let open = get_json(&server, "/api/widget/availability?project=demo").await;
    assert_eq!(open["open"], true, "{open}");

    // Bad hours: 400 naming what is wrong, nothing changed.
    for (hours, says) in [
        (
            json!({"enabled": true, "timeZone": "Mars/Olympus"}),
            "Mars/Olympus",
        ),
        (
            json!({"enabled": true, "timeZone": "UTC", "weekly": {"mon": [["17:00", "09:00"]]}}),
            "weekly.mon",
        ),
        (
            json!({"enabled": true, "timeZone": "UTC", "weekly": {"mon": [["9am", "5pm"]]}}),
            "weekly.mon",
        ),
        (
            json!({"enabled": true, "timeZone": "UTC", "holidays": ["25/12/2026"]}),
            "holidays",
        ),
        (json!({"enabled": "yes"}), "expected a boolean"),
    ] {
        let mut bad = settings.clone();
        bad["businessHours"] = hours.clone();
        let error = owner
            .put("/api/admin/projects/demo", bad)
            .expect_error(400)
            .await;
        assert!(error.contains(says), "{hours}: {error}");
    }
    let config = get_json(&server, "/api/widget/config?project=demo").await;
    assert_eq!(config["businessHours"]["holidays"], json!([]));

    // Turned off: always in again, and the seed's config has no businessHours beyond off.
    settings["businessHours"]["enabled"] = json!(false);
    owner
        .put("/api/admin/projects/demo", settings)
        .expect(200)
        .await;
    let open = get_json(&server, "/api/widget/availability?project=demo").await;
    assert_eq!(open, json!({"open": true, "changesAt": null}));
    let unknown = client()
        .get(server.url("/api/widget/availability?project=nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
}
