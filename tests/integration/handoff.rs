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

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::client_async;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use crate::chat::{Answer, ask, with_fake};
use crate::fake_llm::FakeLlm;
use crate::live::{Sse, Ws, ws_next_within};
use crate::support::{Caller, TestServer, client, expect_error, visitor_session};

/// How fast news must reach a watcher.
const DELIVERY: Duration = Duration::from_secs(1);

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

/// The visitor's live channel for `session` over WebSocket, after sending `token` first.
pub(crate) async fn visitor_ws(server: &TestServer, session: Uuid, token: &str) -> Ws {
    let stream = TcpStream::connect(server.addr).await.unwrap();
    let url = format!(
        "ws://{}/api/widget/session/ws?project=demo&sessionId={session}",
        server.addr
    );
    let (mut socket, response) = client_async(url, stream).await.unwrap();
    assert_eq!(response.status(), 101);
    let hello = json!({ "token": token }).to_string();
    socket.send(Message::text(hello)).await.unwrap();
    socket
}

/// A visitor's live channel over WebSocket, its token accepted.
pub(crate) async fn visitor_ws_ready(server: &TestServer, session: Uuid, token: &str) -> Ws {
    let mut socket = visitor_ws(server, session, token).await;
    assert_eq!(ws_next_within(&mut socket, DELIVERY).await["type"], "ready");
    socket
}

/// The team's live stream of `demo`, as `caller` sees it.
pub(crate) async fn team_stream(server: &TestServer, caller: &Caller) -> Sse {
    team_stream_as(server, caller.token()).await
}

/// The team's live stream of `demo`, opened with `token` (an access or API token).
pub(crate) async fn team_stream_as(server: &TestServer, token: &str) -> Sse {
    let response = client()
        .get(server.url("/api/admin/projects/demo/live"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let mut stream = Sse::of(response);
    assert_eq!(stream.next_json_within(DELIVERY).await["type"], "ready");
    stream
}

/// The visitor's live channel for `session` over SSE.
fn visitor_stream(
    server: &TestServer,
    session: Uuid,
    token: Option<&str>,
) -> reqwest::RequestBuilder {
    let path = format!("/api/widget/session/stream?project=demo&sessionId={session}");
    let request = client().get(server.url(&path));
    match token {
        Some(token) => request.header("X-Session-Token", token),
        None => request,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn teammates_and_visitors_hear_each_other_live_and_replies_carry_the_teammates_name() {
    let server = TestServer::start().await;
    let agent = server.agent("sam@example.com").await;

    // A profile: the name and picture visitors see on replies.
    let bad = json!({ "avatarUrl": "javascript:alert(1)" });
    let error = agent.patch("/api/admin/me", bad).expect_error(400).await;
    assert!(error.contains("avatarUrl"), "{error}");
    let long = json!({ "displayName": "S".repeat(61) });
    agent.patch("/api/admin/me", long).expect_error(400).await;
    let profile = json!({ "displayName": " Sam ", "avatarUrl": "https://cdn.example.com/sam.png" });
    let me = agent.patch("/api/admin/me", profile).expect(200).await;
    assert_eq!(me["displayName"], "Sam");
    assert_eq!(
        agent.get("/api/admin/me").expect(200).await["avatarUrl"],
        "https://cdn.example.com/sam.png"
    );

    // The team watches before the visitor arrives: the question and the answer show up.
    let mut team = team_stream(&server, &agent).await;
    let session = Uuid::new_v4();
    let first = ask(&server, session, None, "Do you ship to Canada?").await;
    let token = first.token.clone().unwrap();
    let question = team.next_json_within(DELIVERY).await;
    assert_eq!(question["type"], "message");
    assert_eq!(question["conversationId"], session.to_string());
    assert_eq!(question["seq"], 1, "a new conversation");
    assert_eq!(question["message"]["content"], "Do you ship to Canada?");
    let answer = team.next_json_within(DELIVERY).await;
    assert_eq!(answer["message"]["role"], "assistant");

    // The visitor's channels: a wrong or missing token is refused, an unknown session is 404.
    let unknown = visitor_stream(&server, Uuid::new_v4(), Some(&token))
        .send()
        .await
        .unwrap();
    expect_error(unknown, 404).await;
    let missing = visitor_stream(&server, session, None).send().await.unwrap();
    expect_error(missing, 401).await;
    let wrong = visitor_stream(&server, session, Some("wrong"))
        .send()
        .await
        .unwrap();
    expect_error(wrong, 401).await;
    let mut refused = visitor_ws(&server, session, "wrong").await;
    match tokio::time::timeout(DELIVERY, refused.next())
        .await
        .unwrap()
    {
        Some(Ok(Message::Close(Some(frame)))) => assert_eq!(frame.code, CloseCode::Policy),
        other => panic!("expected a policy close, got {other:?}"),
    }
    let mut socket = visitor_ws_ready(&server, session, &token).await;
    let mut stream = Sse::of(
        visitor_stream(&server, session, Some(&token))
            .send()
            .await
            .unwrap(),
    );
    assert_eq!(stream.next_json_within(DELIVERY).await["type"], "ready");

    // A lead reaches the team live, with the status change it brings.
    leave_lead(&server, session, &token).await;
    let lead = team.next_json_within(DELIVERY).await;
    assert_eq!(
        (lead["type"].as_str(), lead["lead"]["email"].as_str()),
        (Some("lead"), Some("visitor@example.com"))
    );
    let waiting = team.next_json_within(DELIVERY).await;
    assert_eq!(waiting["handoff"]["status"], "waiting");
    for news in [
        ws_next_within(&mut socket, DELIVERY).await,
        stream.next_json_within(DELIVERY).await,
    ] {
        assert_eq!(news["type"], "status");
        assert_eq!(news["status"], "waiting");
    }

    // The teammate's reply reaches the visitor's open page within a second, signed by name.
    let path = format!("/api/admin/projects/demo/conversations/{session}/reply");
    agent
        .post(&path, json!({ "text": "Hi, Sam here. Yes we do!" }))
        .expect(201)
        .await;
    for (news, status) in [
        (
            ws_next_within(&mut socket, DELIVERY).await,
            ws_next_within(&mut socket, DELIVERY).await,
        ),
        (
            stream.next_json_within(DELIVERY).await,
            stream.next_json_within(DELIVERY).await,
        ),
    ] {
        assert_eq!(news["type"], "message");
        let message = &news["message"];
        assert_eq!(
            (message["from"].as_str(), message["content"].as_str()),
            (Some("agent"), Some("Hi, Sam here. Yes we do!"))
        );
        assert_eq!(
            message["author"],
            json!({ "name": "Sam", "avatarUrl": "https://cdn.example.com/sam.png" })
        );
        assert!(
            !news.to_string().contains("sam@example.com"),
            "no teammate's email reaches visitors"
        );
        assert_eq!(status["status"], "human");
    }
    let reply = team.next_json_within(DELIVERY).await;
    assert_eq!(reply["message"]["authorName"], "Sam");
    assert_eq!(
        team.next_json_within(DELIVERY).await["handoff"]["status"],
        "human"
    );
    let transcript = visitor_session(&server, session, &token).await;
    assert_eq!(transcript["messages"][2]["author"]["name"], "Sam");

    // The visitor's next message reaches the team; the visitor hears nothing of their own.
    let held = ask(&server, session, Some(&token), "Great, hold an XL for me!").await;
    assert_eq!(handoff(&held).unwrap()["status"], "human");
    let mine = team.next_json_within(DELIVERY).await;
    assert_eq!(mine["message"]["content"], "Great, hold an XL for me!");
    agent
        .patch(
            &format!("/api/admin/projects/demo/conversations/{session}"),
            json!({ "status": "resolved" }),
        )
        .expect(200)
        .await;
    assert_eq!(
        ws_next_within(&mut socket, DELIVERY).await["status"],
        "resolved"
    );
    assert_eq!(
        team.next_json_within(DELIVERY).await["handoff"]["status"],
        "resolved"
    );
}
