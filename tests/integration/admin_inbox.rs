//! The inbox's filters (date range, unanswered) and the analytics figures behind the dashboard's
//! charts: answered vs unanswered, popups delivered, visitors online.

use serde_json::{Value, json};

use crate::admin_projects::chat;
use crate::support::{DEMO_SECRET, TestServer, client, push};

/// A question nothing in the demo help center matches.
const NO_MATCH: &str = "xylophone zeppelin quux?";

fn first_questions(page: &Value) -> Vec<String> {
    page["conversations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["firstQuestion"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn the_inbox_filters_unanswered_conversations_and_dates() {
    let server = TestServer::start().await;
    let agent = server.agent("agent@example.com").await;
    chat(&server, "demo", "What is your return policy?").await;
    chat(&server, "demo", NO_MATCH).await;
    chat(&server, "demo", "How long is shipping?").await;
    let base = "/api/admin/projects/demo/conversations";

    let all = agent.get(base).expect(200).await;
    assert_eq!(first_questions(&all).len(), 3);
    let flags: Vec<bool> = all["conversations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["unanswered"].as_bool().unwrap())
        .collect();
    assert_eq!(flags, [false, true, false], "newest first");

    let unanswered = agent
        .get(&format!("{base}?unanswered=true"))
        .expect(200)
        .await;
    assert_eq!(first_questions(&unanswered), [NO_MATCH]);
    assert_eq!(unanswered["next"], Value::Null);

    // A page of one with the filter still pages through the rest, then ends.
    let first = agent.get(&format!("{base}?limit=1")).expect(200).await;
    let cursor = first["next"].as_str().unwrap().to_owned();
    let rest = agent
        .get(&format!("{base}?limit=1&unanswered=true&before={cursor}"))
        .expect(200)
        .await;
    assert_eq!(first_questions(&rest), [NO_MATCH]);

    // Dates are UTC days, both ends included.
    let today =
        humantime::format_rfc3339(std::time::SystemTime::now()).to_string()[..10].to_owned();
    let from_today = agent
        .get(&format!("{base}?from={today}&to={today}"))
        .expect(200)
        .await;
    assert_eq!(first_questions(&from_today).len(), 3);
    let long_ago = agent
        .get(&format!("{base}?to=2020-01-31"))
        .expect(200)
        .await;
    assert!(first_questions(&long_ago).is_empty());
    assert_eq!(long_ago["next"], Value::Null);
    let future = agent
        .get(&format!("{base}?from=2999-01-01"))
        .expect(200)
        .await;
    assert!(first_questions(&future).is_empty());

    for bad in [
        "from=yesterday",
        "to=2026-13-01",
        "from=2026-11-24T00:00:00Z",
        "from=2026-02-01&to=2026-01-01",
        "unanswered=yes",
    ] {
        agent.get(&format!("{base}?{bad}")).expect(400).await;
    }
}

#[tokio::test]
async fn analytics_count_answered_unanswered_popups_delivered_and_visitors_online() {
    let server = TestServer::start().await;
    let agent = server.agent("agent@example.com").await;
    chat(&server, "demo", "What is your return policy?").await;
    chat(&server, "demo", NO_MATCH).await;

    // Two visitors watching for popups over SSE, one push: two deliveries.
    let mut watchers = Vec::new();
    for _ in 0..2 {
        let stream = client()
            .get(server.url("/api/widget/salespop/stream?project=demo"))
            .send()
            .await
            .unwrap();
        assert_eq!(stream.status(), 200);
        watchers.push(stream);
    }
    let pushed = push(
        &server,
        DEMO_SECRET,
        json!({ "project": "demo", "type": "signed_up", "name": "Sarah K." }),
    )
    .await;
    assert_eq!(pushed.status(), 201);

    // In cluster mode deliveries are counted at each node's next check (a second).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let (report, today) = loop {
        let report = agent
            .get("/api/admin/projects/demo/analytics?days=7")
            .expect(200)
            .await;
        let today = report["days"].as_array().unwrap().last().unwrap().clone();
        if today["popupsDelivered"] == 2 || std::time::Instant::now() > deadline {
            break (report, today);
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(today["answered"], 1, "{today}");
    assert_eq!(today["unanswered"], 1, "{today}");
    assert_eq!(today["pushes"], 1, "{today}");
    assert_eq!(today["popupsDelivered"], 2, "{today}");
    assert_eq!(report["subscribersOnline"], 2);

    drop(watchers);
    // The server notices the closed streams at its next write; a second push makes one.
    push(
        &server,
        DEMO_SECRET,
        json!({ "project": "demo", "type": "signed_up" }),
    )
    .await;
    let mut online = 2;
    for _ in 0..50 {
        let report = agent
            .get("/api/admin/projects/demo/analytics")
            .expect(200)
            .await;
        online = report["subscribersOnline"].as_u64().unwrap();
        if online == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(online, 0, "visitors who left are no longer online");
}

#[tokio::test]
async fn teammates_reply_in_the_chat_and_visitors_see_it() {
    let server = TestServer::start().await;
    let agent = server.agent("agent@example.com").await;
    let (id, token) = chat(&server, "demo", NO_MATCH).await;
    let path = format!("/api/admin/projects/demo/conversations/{id}/reply");

    let added = agent
        .post(
            &path,
            json!({ "text": "  Hi, Dana here: let me check that for you.  " }),
        )
        .expect(201)
        .await;
    // The reply as added: trimmed, by its author, and nothing else.
    let mut keys: Vec<&str> = added
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(keys, ["author", "content", "createdAt", "role"]);
    assert_eq!(
        added["content"],
        "Hi, Dana here: let me check that for you."
    );
    assert_eq!(added["role"], "agent");

    // The visitor's transcript: an assistant message from an agent, without the agent's email.
    let transcript: Value = client()
        .get(server.url(&format!("/api/widget/session?project=demo&sessionId={id}")))
        .header("x-session-token", &token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let messages = transcript["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 3);
    let last = &messages[2];
    assert_eq!(
        (&last["role"], &last["from"], &last["content"]),
        (
            &json!("assistant"),
            &json!("agent"),
            &json!("Hi, Dana here: let me check that for you.")
        )
    );
    assert_eq!(messages[0]["from"], "visitor");
    assert!(!transcript.to_string().contains("agent@example.com"));

    // The dashboard's transcript says who wrote it; the reply is no unanswered answer.
    let conversation = agent
        .get(&format!("/api/admin/projects/demo/conversations/{id}"))
        .expect(200)
        .await;
    assert_eq!(conversation["messages"][2]["role"], "agent");
    assert_eq!(conversation["messages"][2]["author"], "agent@example.com");

    // The visitor can go on chatting after a reply.
    let next = client()
        .post(server.url("/api/chat"))
        .json(&json!({ "projectSlug": "demo", "sessionId": id, "sessionToken": token, "messages": [{ "role": "user", "content": "Thanks!" }] }))
        .send()
        .await
        .unwrap();
    assert_eq!(next.status(), 200);
    next.text().await.unwrap();

    // Bad replies.
    for body in [
        json!({}),
        json!({ "text": "   " }),
        json!({ "text": "x".repeat(4001) }),
    ] {
        agent.post(&path, body).expect(400).await;
    }
    let hello = json!({ "text": "hello" });
    server
        .anonymous()
        .post(&path, hello.clone())
        .expect(401)
        .await;
    let (other_id, _) = chat(&server, "other", "Hello?").await;
    for missing in [
        format!("/api/admin/projects/demo/conversations/{other_id}/reply"),
        format!(
            "/api/admin/projects/demo/conversations/{}/reply",
            uuid::Uuid::new_v4()
        ),
    ] {
        agent.post(&missing, hello.clone()).expect(404).await;
    }
    agent.get(&path).expect(405).await;
}

/// The conversations export is read and sent in batches of 1000: every conversation comes once,
/// newest first, with its own messages, across the batches' seams, also where many started in
/// the same millisecond.
#[tokio::test]
async fn the_conversations_export_crosses_its_batches_whole() {
    use helpyap_actors::chat::{MessageRecord, MessageStatus, Role, SessionRecord};
    use helpyap_actors::secret::SecretHash;

    let server = TestServer::start().await;
    let owner = server.owner("owner@example.com").await;
    let store = server.engine.chat.store();
    let now = helpyap_actors::time::now_ms();
    let mut written = std::collections::HashMap::new();
    let mut messages = 0;
    for index in 0..2003_u64 {
        // Seven to a millisecond: the cursor between batches must tell them apart by id.
        let created_at_ms = now - 60_000 - index / 7;
        let session = SessionRecord {
            id: uuid::Uuid::new_v4(),
            project: "demo".into(),
            token_hash: SecretHash::of(&format!("visitor {index}")),
            created_at_ms,
            handoff: Default::default(),
            lead: None,
            visitor: None,
            device_tokens: Vec::new(),
            satisfaction: None,
        };
        store.put_session(&session).await.unwrap();
        // Every third conversation has an answer too.
        for seq in 1..=1 + u32::from(index % 3 == 0) {
            let message = MessageRecord {
                seq,
                role: if seq == 1 {
                    Role::User
                } else {
                    Role::Assistant
                },
                content: format!("{index}: message {seq}"),
                created_at_ms: created_at_ms + u64::from(seq),
                sources: Vec::new(),
                status: MessageStatus::Complete,
                feedback: None,
                author: None,
                signature: None,
                intent: None,
            };
            assert!(store.insert_message(session.id, &message).await.unwrap());
            messages += 1;
        }
        written.insert(session.id.to_string(), index);
    }
    store.flush().await.unwrap();

    let response = owner
        .get("/api/admin/projects/demo/conversations.csv")
        .send()
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/csv; charset=utf-8"
    );
    let csv = response.text().await.unwrap();
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), messages, "one row per message");
    let started: Vec<&str> = rows.iter().map(|row| &row[1]).collect();
    assert!(
        started.windows(2).all(|pair| pair[0] >= pair[1]),
        "newest conversation first"
    );
    // Each message under its own conversation, each conversation's messages once and in order.
    let mut seen: std::collections::HashMap<&str, Vec<&str>> = Default::default();
    for row in &rows {
        let index = written[&row[0]];
        assert!(row[5].starts_with(&format!("{index}: ")), "{row:?}");
        seen.entry(&row[0]).or_default().push(&row[5]);
    }
    assert_eq!(seen.len(), written.len(), "every conversation");
    for (id, contents) in seen {
        let index = written[id];
        let expected: Vec<String> = (1..=1 + u32::from(index % 3 == 0))
            .map(|seq| format!("{index}: message {seq}"))
            .collect();
        assert_eq!(contents, expected);
    }

    let admin = server.admin("admin@example.com").await;
    admin
        .get("/api/admin/projects/nope/conversations.csv")
        .expect(404)
        .await;
}
