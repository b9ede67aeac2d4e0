//! Hand-off to a human, through the real server in both modes: a lead puts the conversation in
//! `waiting`; while it waits or a teammate has it, the assistant steps aside (the fake model
//! server gets no request), the visitor's messages are kept and answered with a status line;
//! teammates take over, assign, hand back, resolve and reopen with `PATCH`, and filter the inbox
//! by status and assignee; without a teammate's reply the assistant takes the conversation back
//! after `chat.handoff_timeout` and says so.

use std::sync::atomic::Ordering;
use std::time::Duration;

use helpyap::config::LlmFallback;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::chat::{Answer, ask, with_fake};
use crate::fake_llm::FakeLlm;
use crate::support::{TestServer, client, visitor_session};

/// The `data` of the answer's `data-handoff` part, if it has one.
fn handoff(answer: &Answer) -> Option<Value> {
    answer
        .json_frames()
        .find(|frame| frame["type"] == "data-handoff")
        .map(|frame| frame["data"].clone())
}

async fn leave_lead(server: &TestServer, session: Uuid, token: &str) {
    let lead = client()
        .post(server.url("/api/widget/lead"))
        .json(&json!({
            "projectSlug": "demo", "sessionId": session, "sessionToken": token,
            "email": "visitor@example.com", "name": "Vera",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(lead.status(), 201);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_assistant_steps_aside_while_a_teammate_has_the_conversation() {
    let fake = FakeLlm::start().await;
    let server = TestServer::start_with(with_fake(&fake, LlmFallback::None)).await;
    let agent = server.agent("sam@example.com").await;
    let session = Uuid::new_v4();
    let path = format!("/api/admin/projects/demo/conversations/{session}");
    let first = ask(&server, session, None, "Do you ship to Canada?").await;
    assert_eq!(first.status, 200);
    assert_eq!(
        handoff(&first),
        None,
        "an open conversation is the assistant's"
    );
    let token = first.token.clone().unwrap();
    let conversation = agent.get(&path).expect(200).await;
    assert_eq!(conversation["status"], "open");
    assert_eq!(conversation["assignee"], Value::Null);

    // A lead: the visitor waits for a human, and the contact is on the conversation, for the
    // team and for the visitor's reloaded page.
    assert_eq!(conversation["lead"], Value::Null);
    leave_lead(&server, session, &token).await;
    let conversation = agent.get(&path).expect(200).await;
    assert_eq!(conversation["status"], "waiting");
    assert_eq!(conversation["lead"]["email"], "visitor@example.com");
    assert_eq!(conversation["lead"]["name"], "Vera");
    let row = agent
        .get("/api/admin/projects/demo/conversations")
        .expect(200)
        .await["conversations"][0]
        .clone();
    assert_eq!(row["lead"]["email"], "visitor@example.com");
    let reloaded = visitor_session(&server, session, &token).await;
    assert_eq!(reloaded["lead"]["email"], "visitor@example.com");
    let inbox = |query: &str| {
        let inbox = agent.get(&format!("/api/admin/projects/demo/conversations?{query}"));
        async move {
            let page = inbox.expect(200).await;
            let rows = page["conversations"].as_array().unwrap().clone();
            rows.iter()
                .map(|row| row["sessionId"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(inbox("status=waiting").await, [session.to_string()]);
    assert!(inbox("status=open").await.is_empty());

    // The visitor writes on: kept, no model request, a status line instead of an answer.
    let asked = fake.requests.load(Ordering::SeqCst);
    let waiting = ask(
        &server,
        session,
        Some(&token),
        "Great, please hold an XL for me!",
    )
    .await;
    assert_eq!(waiting.status, 200);
    assert_eq!(handoff(&waiting).unwrap()["status"], "waiting");
    assert_eq!(waiting.text(), "", "no answer from the assistant");
    assert_eq!(
        fake.requests.load(Ordering::SeqCst),
        asked,
        "the model was not asked"
    );
    let conversation = agent.get(&path).expect(200).await;
    let messages = conversation["messages"].as_array().unwrap().clone();
    assert_eq!(
        messages.last().unwrap()["content"],
        "Great, please hold an XL for me!"
    );
    // The stream's id is the kept message's: a teammate's reply, next, is newer than it.
    let start = waiting
        .json_frames()
        .find(|frame| frame["type"] == "start")
        .unwrap();
    assert_eq!(start["messageId"], format!("{session}-{}", messages.len()));

    // A teammate takes over and is assigned; bad changes are refused.
    let taken = agent
        .patch(
            &path,
            json!({ "status": "human", "assignee": "Sam@Example.com" }),
        )
        .expect(200)
        .await;
    assert_eq!(taken["status"], "human");
    assert_eq!(taken["assignee"], "sam@example.com");
    assert!(taken["since"].is_string());
    assert_eq!(
        inbox("assignee=sam@example.com").await,
        [session.to_string()]
    );
    assert!(
        inbox("assignee=none")
            .await
            .iter()
            .all(|id| *id != session.to_string())
    );
    for bad in [
        json!({}),
        json!({ "status": "sleeping" }),
        json!({ "assignee": "stranger@example.com" }),
        json!({ "status": 3 }),
    ] {
        agent.patch(&path, bad).expect_error(400).await;
    }
    let unknown = format!("/api/admin/projects/demo/conversations/{}", Uuid::new_v4());
    agent
        .patch(&unknown, json!({ "status": "human" }))
        .expect_error(404)
        .await;
    agent
        .get("/api/admin/projects/demo/conversations?status=sleeping")
        .expect_error(400)
        .await;
    server
        .user("nobody@example.com")
        .await
        .patch(&path, json!({ "status": "open" }))
        .expect_error(403)
        .await;

    // With a teammate: still no model, and the teammate's reply keeps it theirs.
    let with_human = ask(&server, session, Some(&token), "Thanks, Sam!").await;
    assert_eq!(handoff(&with_human).unwrap()["status"], "human");
    assert_eq!(fake.requests.load(Ordering::SeqCst), asked);
    agent
        .post(
            &format!("{path}/reply"),
            json!({ "text": "Held one for you." }),
        )
        .expect(201)
        .await;
    assert_eq!(agent.get(&path).expect(200).await["status"], "human");

    // Handed back: the assistant answers again. Resolved and reopened, it still does.
    let back = agent
        .patch(&path, json!({ "status": "open", "assignee": null }))
        .expect(200)
        .await;
    assert_eq!(back["assignee"], Value::Null);
    let answered = ask(
        &server,
        session,
        Some(&token),
        "How long is the return window?",
    )
    .await;
    assert_eq!(handoff(&answered), None);
    assert!(!answered.text().is_empty());
    assert_eq!(fake.requests.load(Ordering::SeqCst), asked + 1);
    agent
        .patch(&path, json!({ "status": "resolved" }))
        .expect(200)
        .await;
    assert_eq!(inbox("status=resolved").await, [session.to_string()]);
    let after = ask(&server, session, Some(&token), "One more thing").await;
    assert_eq!(
        handoff(&after),
        None,
        "a resolved conversation is the assistant's again"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_teammate_reply_the_assistant_takes_the_conversation_back() {
    let timeout = Duration::from_millis(300);
    let server = TestServer::start_with(|config| config.chat.handoff_timeout = timeout).await;
    let agent = server.agent("sam@example.com").await;
    let session = Uuid::new_v4();
    let first = ask(&server, session, None, "Do you ship to Canada?").await;
    let token = first.token.clone().unwrap();
    leave_lead(&server, session, &token).await;
    let held = ask(&server, session, Some(&token), "Anyone there?").await;
    assert_eq!(handoff(&held).unwrap()["status"], "waiting");

    // The timeout is the behaviour under test: nothing to wait on but the clock.
    tokio::time::sleep(timeout + Duration::from_millis(50)).await;
    let back = ask(
        &server,
        session,
        Some(&token),
        "How long is the return window?",
    )
    .await;
    let notice = handoff(&back).expect("the visitor is told");
    assert_eq!(notice["status"], "open");
    assert!(notice["text"].as_str().unwrap().contains("assistant"));
    assert!(!back.text().is_empty(), "and the assistant answers");
    let path = format!("/api/admin/projects/demo/conversations/{session}");
    let conversation = agent.get(&path).expect(200).await;
    assert_eq!(conversation["status"], "open");
}
