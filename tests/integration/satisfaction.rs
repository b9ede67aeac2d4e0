//! Satisfaction ratings through the real server: a visitor rates their conversation once a
//! teammate resolved it (1–5 and a comment, a second rating replacing the first); the team
//! sees it on the conversation, in the inbox, the overview's figures and `satisfaction.csv`;
//! webhooks hear `conversation.rated`.

use serde_json::{Value, json};
use uuid::Uuid;

use crate::chat::ask;
use crate::support::{TestServer, client, expect_error, visitor_session};
use crate::webhooks::{Receiver, hook, quick};

async fn rate(server: &TestServer, session: Uuid, token: &str, body: Value) -> reqwest::Response {
    let mut body = body;
    body["projectSlug"] = json!("demo");
    body["sessionId"] = json!(session);
    body["sessionToken"] = json!(token);
    client()
        .post(server.url("/api/widget/rating"))
        .json(&body)
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_resolved_conversation_is_rated_and_the_team_sees_it_everywhere() {
    let server = TestServer::start_with(quick).await;
    let owner = server.owner("owner@example.com").await;
    let receiver = Receiver::start(0, 0).await;
    hook(&owner, &receiver, json!(["conversation.rated"])).await;
    let session = Uuid::new_v4();
    let token = ask(&server, session, None, "How do I reset my password?")
        .await
        .token
        .unwrap();

    // Not yet: the conversation is open.
    let early = rate(&server, session, &token, json!({"score": 5})).await;
    assert_eq!(
        expect_error(early, 409).await,
        "A conversation can be rated once it is resolved"
    );
    let path = format!("/api/admin/projects/demo/conversations/{session}");
    owner
        .patch(&path, json!({"status": "resolved"}))
        .expect(200)
        .await;
    let transcript = visitor_session(&server, session, &token).await;
    assert_eq!(transcript["status"], "resolved");
    assert_eq!(transcript["satisfaction"], Value::Null);

    // Bad ratings: clear errors, nothing kept.
    for (body, status) in [
        (json!({"score": 0}), 400),
        (json!({"score": 6}), 400),
        (json!({"score": "5"}), 400),
        (json!({"score": 4.5}), 400),
        (json!({}), 400),
        (json!({"score": 3, "comment": "x".repeat(1001)}), 400),
    ] {
        expect_error(rate(&server, session, &token, body.clone()).await, status).await;
    }
    expect_error(
        rate(&server, session, "st_forged", json!({"score": 5})).await,
        401,
    )
    .await;
    expect_error(
        rate(&server, Uuid::new_v4(), &token, json!({"score": 5})).await,
        404,
    )
    .await;
    assert_eq!(
        visitor_session(&server, session, &token).await["satisfaction"],
        Value::Null
    );

    let rated = rate(
        &server,
        session,
        &token,
        json!({"score": 4, "comment": "  Quick and friendly. "}),
    )
    .await;
    assert_eq!(rated.status(), 204);
    let transcript = visitor_session(&server, session, &token).await;
    assert_eq!(transcript["satisfaction"]["score"], 4);
    assert_eq!(transcript["satisfaction"]["comment"], "Quick and friendly.");
    let conversation = owner.get(&path).expect(200).await;
    assert_eq!(conversation["satisfaction"]["score"], 4);
    let inbox = owner
        .get("/api/admin/projects/demo/conversations")
        .expect(200)
        .await;
    assert_eq!(inbox["conversations"][0]["satisfaction"]["score"], 4);

    // Webhooks hear it, signed (the receiver checks).
    let requests = receiver.at_least(1).await;
    let event = &requests[0];
    assert_eq!(event["verified"], true, "{event}");
    assert_eq!(event["type"], "conversation.rated", "{event}");
    assert_eq!(event["data"]["score"], 4);
    assert_eq!(event["data"]["comment"], "Quick and friendly.");
    assert_eq!(event["data"]["conversationId"], json!(session));

    // A second rating replaces the first (and is heard); the same again is kept once.
    for _ in 0..2 {
        let again = rate(&server, session, &token, json!({"score": 5})).await;
        assert_eq!(again.status(), 204);
    }
    let requests = receiver.at_least(2).await;
    assert_eq!(requests[1]["data"]["score"], 5);
    let other = Uuid::new_v4();
    let other_token = ask(&server, other, None, "Do you ship abroad?")
        .await
        .token
        .unwrap();
    owner
        .patch(
            &format!("/api/admin/projects/demo/conversations/{other}"),
            json!({"status": "resolved"}),
        )
        .expect(200)
        .await;
    assert_eq!(
        rate(
            &server,
            other,
            &other_token,
            json!({"score": 2, "comment": "Too slow"})
        )
        .await
        .status(),
        204
    );
    // A conversation the page named its visitor on (and never rated) is no rating.
    let named = Uuid::new_v4();
    let named_token = ask(&server, named, None, "Hello?").await.token.unwrap();
    let identify = json!({
        "projectSlug": "demo", "userId": "user-9", "sessionId": named, "sessionToken": named_token,
    });
    let claimed = client()
        .post(server.url("/api/widget/identify"))
        .json(&identify)
        .send()
        .await
        .unwrap();
    assert_eq!(claimed.status(), 200);
    let analytics = owner
        .get("/api/admin/projects/demo/analytics?days=7")
        .expect(200)
        .await;
    assert_eq!(
        analytics["satisfaction"],
        json!({"ratings": 2, "distribution": [0, 1, 0, 0, 1], "averageHundredths": 350})
    );
    let csv = owner
        .get("/api/admin/projects/demo/satisfaction.csv")
        .send()
        .await
        .text()
        .await
        .unwrap();
    let rows: Vec<csv::StringRecord> = csv::Reader::from_reader(csv.as_bytes())
        .records()
        .map(Result::unwrap)
        .collect();
    assert_eq!(rows.len(), 2, "{csv}");
    let scores: Vec<(&str, &str)> = rows.iter().map(|row| (&row[1], &row[2])).collect();
    assert!(
        scores.contains(&("5", "")) && scores.contains(&("2", "Too slow")),
        "{csv}"
    );
    assert!(
        csv.starts_with("rated_at,score,comment,session_id,"),
        "{csv}"
    );
    // One webhook per rating kept: none for the refused ones, none for the repeat (which
    // would have been queued before the last one, and sent by the time it is).
    let requests = receiver.at_least(3).await;
    let scores: Vec<Value> = requests
        .iter()
        .map(|request| request["data"]["score"].clone())
        .collect();
    assert_eq!(scores, [json!(4), json!(5), json!(2)]);
}
