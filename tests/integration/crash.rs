//! Crash safety: the real binary under pushes, chats and admin writes, `kill -9`ed at random
//! moments several times and restarted on the same data directory. Everything it acknowledged
//! must be there afterwards, and event ids must only ever rise.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use helpyap::config::DEFAULT_CONFIG_TOML;
use helpyap_actors::chat::{MessageStatus, Role};
use helpyap_actors::{SledStore, Storage};
use serde_json::{Value, json};

use crate::support::{Binary, DEMO_SECRET, client, send_json};

const ROUNDS: usize = 4;
const EMAIL: &str = "owner@example.com";
const PASSWORD: &str = "correct horse battery";

/// What the server acknowledged, over every round.
#[derive(Default)]
struct Acknowledged {
    /// Event id → name.
    events: BTreeMap<u64, String>,
    /// Session → (question, the full answer when the stream said `finish`).
    chats: Vec<(uuid::Uuid, String, Option<String>)>,
    /// Welcome messages the admin API answered 200 for, in order, and one sent but unanswered.
    welcomes: Vec<String>,
    welcome_in_flight: Option<String>,
}

/// Reads a chat stream: the answer's text, if it ended with `finish`.
fn finished_answer(stream: &str) -> Option<String> {
    let frames: Vec<Value> = stream
        .lines()
        .filter_map(|line| line.strip_prefix("data: "))
        .filter_map(|data| serde_json::from_str(data).ok())
        .collect();
    let finished = frames.iter().any(|f| f["type"] == "finish");
    finished.then(|| frames.iter().filter_map(|f| f["delta"].as_str()).collect())
}

async fn pushes(base: String, round: usize, seen: Arc<Mutex<Acknowledged>>) {
    for idx in 0.. {
        let name = format!("r{round} p{idx}");
        let sent = client()
            .post(format!("{base}/api/widget/salespop-push"))
            .bearer_auth(DEMO_SECRET)
            .json(&json!({ "project": "demo", "type": "purchased", "name": name }))
            .send()
            .await;
        let Ok(response) = sent else { return };
        let Ok(reply) = response.json::<Value>().await else {
            return;
        };
        let id: u64 = reply["id"].as_str().unwrap().parse().unwrap();
        seen.lock().unwrap().events.insert(id, name);
    }
}

async fn chats(base: String, round: usize, seen: Arc<Mutex<Acknowledged>>) {
    for idx in 0.. {
        let session = uuid::Uuid::new_v4();
        let question = format!("What is your return policy? (r{round} c{idx})");
        let sent = client()
            .post(format!("{base}/api/chat"))
            .json(&json!({ "projectSlug": "demo", "sessionId": session, "messages": [{ "role": "user", "content": question }] }))
            .send()
            .await;
        let Ok(response) = sent else { return };
        if response.status() != 200 {
            return;
        }
        // The answer has started: the question is durable.
        let index = {
            let mut seen = seen.lock().unwrap();
            seen.chats.push((session, question, None));
            seen.chats.len() - 1
        };
        let Ok(stream) = response.text().await else {
            return;
        };
        if let Some(answer) = finished_answer(&stream) {
            seen.lock().unwrap().chats[index].2 = Some(answer);
        }
    }
}

async fn admin_writes(base: String, round: usize, seen: Arc<Mutex<Acknowledged>>) {
    let Ok(login) = client()
        .post(format!("{base}/api/admin/auth/login"))
        .json(&json!({ "email": EMAIL, "password": PASSWORD }))
        .send()
        .await
    else {
        return;
    };
    let Ok(tokens) = login.json::<Value>().await else {
        return;
    };
    let token = tokens["accessToken"].as_str().unwrap().to_owned();
    for idx in 0.. {
        let welcome = format!("Welcome, round {round} write {idx}");
        seen.lock().unwrap().welcome_in_flight = Some(welcome.clone());
        let body = json!({
            "name": "Support Bot", "company": "Acme", "welcomeMessage": welcome,
            "quickReplies": [], "theme": { "primaryColor": "#3737f6", "position": "bottom-right" },
        });
        let sent = client()
            .put(format!("{base}/api/admin/projects/demo"))
            .bearer_auth(&token)
            .json(&body)
            .send()
            .await;
        match sent {
            Ok(response) if response.status() == 200 => {
                let mut seen = seen.lock().unwrap();
                seen.welcomes.push(welcome);
                seen.welcome_in_flight = None;
            }
            _ => return,
        }
    }
}

fn start(dir: &Path) -> Binary {
    Binary::start(
        dir,
        &["serve", "--bind", "127.0.0.1:0", "--data-dir", "store"],
        &[
            ("HELPYAP_ADMIN_EMAIL", EMAIL),
            ("HELPYAP_ADMIN_PASSWORD", PASSWORD),
            ("HELPYAP_JWT_SECRET", "a-test-secret-of-32-characters-xx"),
        ],
    )
}

#[tokio::test]
async fn acknowledged_writes_survive_repeated_kill_9_under_load() {
    let dir = tempfile::tempdir().unwrap();
    let config = DEFAULT_CONFIG_TOML
        .replace("push = { requests = 10,", "push = { requests = 100000,")
        .replace("chat = { requests = 20,", "chat = { requests = 100000,");
    std::fs::write(dir.path().join("config.toml"), config).unwrap();
    let seen = Arc::new(Mutex::new(Acknowledged::default()));

    for round in 0..ROUNDS {
        let server = start(dir.path());
        let base = server.url("");
        let base = base.trim_end_matches('/').to_owned();
        let load = [
            tokio::spawn(pushes(base.clone(), round, seen.clone())),
            tokio::spawn(pushes(base.clone(), round + 100, seen.clone())),
            tokio::spawn(chats(base.clone(), round, seen.clone())),
            tokio::spawn(chats(base.clone(), round + 100, seen.clone())),
            tokio::spawn(admin_writes(base.clone(), round, seen.clone())),
        ];
        // Each round acknowledges some of every kind of write before the kill, however slow the
        // machine's disk; then a different moment each round, some while many are in flight.
        until_each_kind_is_acknowledged(&seen).await;
        let millis = rand_u64() % 900;
        tokio::time::sleep(Duration::from_millis(millis)).await;
        server.kill_9();
        for task in load {
            task.await.unwrap();
        }
    }

    let seen = std::mem::take(&mut *seen.lock().unwrap());
    eprintln!(
        "acknowledged over {ROUNDS} kills: {} events, {} questions ({} finished answers), {} settings writes",
        seen.events.len(),
        seen.chats.len(),
        seen.chats.iter().filter(|c| c.2.is_some()).count(),
        seen.welcomes.len()
    );

    let store = SledStore::open(&dir.path().join("store")).unwrap();
    // Every acknowledged event, under the id it was acknowledged with; ids only rise.
    let stored: BTreeMap<u64, String> = store
        .events_after("demo", 0)
        .await
        .unwrap()
        .into_iter()
        .map(|event| (event.id, event.name.unwrap_or_default()))
        .collect();
    for (id, name) in &seen.events {
        assert_eq!(stored.get(id), Some(name), "acknowledged event {id} lost");
    }
    // Every question whose answer started, and every answer that said `finish`.
    for (session, question, answer) in &seen.chats {
        let messages = store.messages(*session).await.unwrap();
        assert_eq!(
            messages.first().map(|m| (m.role, m.content.as_str())),
            Some((Role::User, question.as_str())),
            "question of {session} lost"
        );
        if let Some(answer) = answer {
            let stored = messages
                .get(1)
                .unwrap_or_else(|| panic!("answer of {session} lost"));
            assert_eq!(stored.status, MessageStatus::Complete);
            assert_eq!(&stored.content, answer);
        }
    }
    drop(store);

    // The last acknowledged settings, or the one in flight at the kill, are live after a restart.
    let server = start(dir.path());
    let config: Value =
        send_json(client().get(server.url("/api/widget/config?project=demo"))).await;
    let welcome = config["welcomeMessage"].as_str().unwrap();
    let expected: Vec<&String> = seen
        .welcomes
        .last()
        .into_iter()
        .chain(seen.welcome_in_flight.as_ref())
        .collect();
    assert!(
        expected.iter().any(|w| w.as_str() == welcome),
        "{welcome:?} is none of {expected:?}"
    );
    let next = server
        .push_demo(json!({ "project": "demo", "type": "signed_up" }))
        .await;
    let next: u64 = next["id"].as_str().unwrap().parse().unwrap();
    let highest = stored.keys().max().copied().unwrap_or(0);
    assert!(next > highest, "id {next} after {highest}: never reused");
}

/// Waits until this round has acknowledged a few events, a finished answer and a settings
/// write on top of what earlier rounds did; a server that stops acknowledging fails the test.
async fn until_each_kind_is_acknowledged(seen: &Mutex<Acknowledged>) {
    let counts = |seen: &Acknowledged| {
        let answers = seen.chats.iter().filter(|c| c.2.is_some()).count();
        (seen.events.len(), answers, seen.welcomes.len())
    };
    let (events, answers, welcomes) = counts(&seen.lock().unwrap());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let now = counts(&seen.lock().unwrap());
        if now.0 >= events + 5 && now.1 > answers && now.2 > welcomes {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the server stopped acknowledging: {now:?} after {:?}",
            (events, answers, welcomes)
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A little randomness for kill timing, without a dependency.
fn rand_u64() -> u64 {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).unwrap();
    u64::from_le_bytes(bytes)
}
