//! `GET /api/widget/config`: the seed's exact JSON, its errors, revalidation and CORS.

use serde_json::json;

use crate::support::{TestServer, client, expect_error, get_json};

#[tokio::test]
async fn returns_the_seed_json_for_the_demo_project_plus_popup_rules() {
    let server = TestServer::start().await;
    let response = client()
        .get(server.url("/api/widget/config?project=demo"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    assert_eq!(response.headers()["access-control-allow-origin"], "*");
    let text = response.text().await.unwrap();
    let mut body: serde_json::Value = serde_json::from_str(&text).unwrap();
    // The seed's fields exactly as the seed shows them; the display rules come after them.
    let social_proof = body.as_object_mut().unwrap().remove("socialProof").unwrap();
    // The widget's input limits are the server's (chat.max_message_chars is 4000 by default).
    let limits = body.as_object_mut().unwrap().remove("limits").unwrap();
    // The widget's own words: the visitor's language, with no override.
    assert_eq!(
        body.as_object_mut().unwrap().remove("locale").unwrap(),
        "auto"
    );
    assert_eq!(
        body.as_object_mut().unwrap().remove("strings").unwrap(),
        json!({})
    );
    // No business hours kept.
    let hours = body
        .as_object_mut()
        .unwrap()
        .remove("businessHours")
        .unwrap();
    assert_eq!(hours["enabled"], false);
    // No proactive messages.
    assert_eq!(
        body.as_object_mut().unwrap().remove("proactive").unwrap(),
        json!([])
    );
    assert_eq!(
        limits,
        json!({
            "messageChars": 4000, "leadEmailChars": 254, "leadNameChars": 80,
            "leadMessageChars": 2000
        })
    );
    assert_eq!(social_proof["enabled"], true);
    assert_eq!(social_proof["initialDelayMs"], 5000);
    assert_eq!(
        social_proof["templates"]["signed_up"],
        "{name} from {location} signed up for {product}"
    );
    assert_eq!(
        body,
        json!({
            "name": "Support Bot",
            "company": "Acme Inc",
            "welcomeMessage": "Hi! How can I help you today?",
            "quickReplies": ["Pricing", "How to get started", "Talk to support"],
            "theme": { "primaryColor": "#3737f6", "position": "bottom-right" }
        })
    );
    // Same field order as the seed's example, for clients that compare text.
    let order: Vec<usize> = [
        "\"name\"",
        "\"company\"",
        "\"welcomeMessage\"",
        "\"quickReplies\"",
        "\"theme\"",
        "\"socialProof\"",
        "\"limits\"",
    ]
    .iter()
    .map(|key| text.find(key).unwrap())
    .collect();
    assert!(order.windows(2).all(|pair| pair[0] < pair[1]), "{text}");
}

#[tokio::test]
async fn missing_or_empty_project_is_400() {
    let server = TestServer::start().await;
    for path in [
        "/api/widget/config",
        "/api/widget/config?project=",
        "/api/widget/config?slug=demo",
    ] {
        let response = client().get(server.url(path)).send().await.unwrap();
        let message = expect_error(response, 400).await;
        assert!(message.contains("project"), "{path}: {message}");
    }
}

#[tokio::test]
async fn unknown_or_malformed_project_is_404() {
    let server = TestServer::start().await;
    let long = "x".repeat(500);
    for slug in ["nope", "DEMO", "demo%00", "..%2F..%2Fetc", long.as_str()] {
        let url = server.url(&format!("/api/widget/config?project={slug}"));
        let message = expect_error(client().get(url).send().await.unwrap(), 404).await;
        assert_eq!(message, "Project not found");
    }
}

#[tokio::test]
async fn serves_each_project_its_own_config() {
    let server = TestServer::start().await;
    let url = server.url("/api/widget/config?project=other");
    let body: serde_json::Value = client()
        .get(url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["name"], "Other Bot");
}

#[tokio::test]
async fn etag_revalidation_answers_304_without_a_body() {
    let server = TestServer::start().await;
    let url = server.url("/api/widget/config?project=demo");
    let first = client().get(&url).send().await.unwrap();
    assert_eq!(first.headers()["cache-control"], "no-cache");
    let etag = first.headers()["etag"].to_str().unwrap().to_owned();
    let again = client()
        .get(&url)
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    assert_eq!(again.headers()["etag"], etag.as_str());
    assert_eq!(again.headers()["cache-control"], "no-cache");
    assert_eq!(again.headers()["access-control-allow-origin"], "*");
    assert_eq!(again.headers()["x-content-type-options"], "nosniff");
    assert_eq!(again.headers()["x-ratelimit-limit"], "60");
    assert_eq!(again.headers()["x-ratelimit-remaining"], "58");
    assert!(again.bytes().await.unwrap().is_empty());
    let stale = client()
        .get(&url)
        .header("if-none-match", "\"0000\"")
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), 200);
}

#[tokio::test]
async fn preflight_allows_any_site_and_exposes_the_session_token() {
    let server = TestServer::start().await;
    for (path, method) in [
        ("/api/widget/config", "GET"),
        ("/api/widget/salespop-push", "POST"),
    ] {
        let response = client()
            .request(reqwest::Method::OPTIONS, server.url(path))
            .header("origin", "https://shop.example")
            .header("access-control-request-method", method)
            .header("access-control-request-headers", "content-type")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 204, "{path}");
        let headers = response.headers();
        assert_eq!(headers["access-control-allow-origin"], "*");
        assert!(
            headers["access-control-allow-methods"]
                .to_str()
                .unwrap()
                .contains(method)
        );
        assert!(
            headers["access-control-allow-headers"]
                .to_str()
                .unwrap()
                .contains("Content-Type")
        );
        // A widget on another site asks for its config again conditionally, and reads the
        // `ETag` it got.
        let allowed = headers["access-control-allow-headers"].to_str().unwrap();
        assert!(allowed.contains("If-None-Match"), "{allowed}");
        let exposed = headers["access-control-expose-headers"].to_str().unwrap();
        assert!(exposed.contains("X-Session-Token"), "{exposed}");
        assert!(exposed.contains("ETag"), "{exposed}");
        assert!(headers.contains_key("access-control-max-age"));
    }
}

#[tokio::test]
async fn popup_rules_come_from_the_project_config() {
    let server = TestServer::start_with(|config| {
        let rules = &mut config.projects[0].social_proof;
        rules.anonymize = true;
        rules.show_on_mobile = false;
        rules.gap = std::time::Duration::from_secs(30);
        rules.templates.purchased = "Someone just bought {product}".into();
    })
    .await;
    let body: serde_json::Value = get_json(&server, "/api/widget/config?project=demo").await;
    let rules = &body["socialProof"];
    // The older `anonymize = true` is the anonymous name format, and is never shown itself.
    assert_eq!(rules["nameFormat"], "anonymous");
    assert!(rules.get("anonymize").is_none(), "{rules}");
    assert_eq!(rules["showOnMobile"], false);
    assert_eq!(rules["position"], "auto");
    assert_eq!(rules["mobilePosition"], "bottom");
    assert_eq!(rules["types"]["added_to_cart"], true);
    assert_eq!(rules["pages"]["include"], serde_json::json!([]));
    assert_eq!(rules["utm"]["source"], "helpyap");
    assert_eq!(rules["gapMs"], 30_000);
    assert_eq!(
        rules["templates"]["purchased"],
        "Someone just bought {product}"
    );
}

/// The head of a config answer is made once per settings version: each answer still carries
/// every header, with its own rate-limit numbers, and new settings bring a new head.
#[tokio::test]
async fn every_answer_has_the_whole_head_and_new_settings_a_new_one() {
    let server = TestServer::start().await;
    let url = server.url("/api/widget/config?project=demo");
    let fixed_head = |response: &reqwest::Response| -> Vec<(String, String)> {
        let per_answer = ["date", "x-ratelimit-remaining", "x-ratelimit-reset"];
        let mut head: Vec<(String, String)> = response
            .headers()
            .iter()
            .filter(|(name, _)| !per_answer.contains(&name.as_str()))
            .map(|(name, value)| (name.to_string(), value.to_str().unwrap().to_owned()))
            .collect();
        head.sort();
        head
    };
    let first = client().get(&url).send().await.unwrap();
    let second = client().get(&url).send().await.unwrap();
    for response in [&first, &second] {
        let headers = response.headers();
        for name in headers.keys() {
            assert_eq!(headers.get_all(name).iter().count(), 1, "{name} sent twice");
        }
        assert_eq!(headers["content-type"], "application/json");
        assert_eq!(headers["cache-control"], "no-cache");
        assert_eq!(headers["access-control-allow-origin"], "*");
        let exposed = headers["access-control-expose-headers"].to_str().unwrap();
        assert!(exposed.contains("X-RateLimit-Remaining"), "{exposed}");
        assert_eq!(headers["x-content-type-options"], "nosniff");
        assert_eq!(headers["x-ratelimit-limit"], "60");
    }
    assert_eq!(fixed_head(&first), fixed_head(&second));
    assert_ne!(
        first.headers()["x-ratelimit-remaining"],
        second.headers()["x-ratelimit-remaining"]
    );

    let owner = server.owner("owner@example.com").await;
    let settings = json!({
        "name": "Renamed Bot",
        "company": "Acme Inc",
        "welcomeMessage": "Hello!",
        "quickReplies": [],
        "theme": { "primaryColor": "#112233", "position": "bottom-left" },
        "allowedOrigins": [],
    });
    owner
        .put("/api/admin/projects/demo", settings)
        .expect(200)
        .await;
    let renamed = client().get(&url).send().await.unwrap();
    assert_ne!(renamed.headers()["etag"], first.headers()["etag"]);
    let mut expected = fixed_head(&first);
    for (name, value) in &mut expected {
        if name == "etag" {
            *value = renamed.headers()["etag"].to_str().unwrap().to_owned();
        }
        if name == "content-length" {
            *value = renamed.headers()["content-length"]
                .to_str()
                .unwrap()
                .to_owned();
        }
    }
    assert_eq!(fixed_head(&renamed), expected);
    let body: serde_json::Value = renamed.json().await.unwrap();
    assert_eq!(body["name"], "Renamed Bot");
}
