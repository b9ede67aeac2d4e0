//! Cluster mode: three nodes (in-process servers, or the real binary where the process
//! matters) on one PostgreSQL and one Redis, both real and started by the test binary. Each
//! test has a database of its own on the shared PostgreSQL; clusters on the shared Redis keep
//! apart by their id. Tests that stop an engine start one of their own.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use helpyap::config::{ClusterConfig, Config, LlmProvider};
use helpyap_actors::testing::{Postgres, Redis, free_port};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::chat::{body, read_answer};
use crate::fake_llm::FakeLlm;
use crate::live::{Sse, poll, push_named, ws, ws_next, ws_next_within};
use crate::support::{DEMO_SECRET, TestServer, client, expect_error, health, visitor_session};

/// How often the test nodes read PostgreSQL for what they were not told: rarely, so the
/// tests prove what Redis carries; the tests of Redis failures set a short one.
const CHECK_INTERVAL: Duration = Duration::from_secs(60);

/// `n` nodes on the database at `postgres_url` and the Redis at `redis_url`, started together.
async fn nodes_on(
    postgres_url: &str,
    redis_url: &str,
    n: usize,
    edit: impl Fn(&mut Config) + Clone,
) -> Vec<TestServer> {
    let starts = (0..n).map(|_| {
        let edit = edit.clone();
        TestServer::start_with(move |config| {
            config.cluster = Some(ClusterConfig {
                postgres_url: postgres_url.to_owned(),
                redis_url: redis_url.to_owned(),
                check_interval: CHECK_INTERVAL,
                ..ClusterConfig::default()
            });
            edit(config);
        })
    });
    futures_util::future::join_all(starts).await
}

/// `n` nodes on a new database of the shared PostgreSQL and the shared Redis.
async fn cluster(n: usize, edit: impl Fn(&mut Config) + Clone) -> Vec<TestServer> {
    let database = Postgres::shared().database().await;
    nodes_on(&database, &Redis::shared().url(), n, edit).await
}

fn many_pushes(config: &mut Config) {
    config.rate_limits.push.requests = 100_000;
}

async fn push_status(node: &TestServer, name: String) -> (u16, Value) {
    push_status_with(&client(), node, name).await
}

/// As [`push_status`], through `client` (building a client reads the system's root
/// certificates, which 600 concurrent pushes cannot each afford on a test's one thread).
async fn push_status_with(
    client: &reqwest::Client,
    node: &TestServer,
    name: String,
) -> (u16, Value) {
    let response = client
        .post(node.url("/api/widget/salespop-push"))
        .bearer_auth(DEMO_SECRET)
        .json(&json!({ "project": "demo", "type": "signed_up", "name": name }))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Waits until `check` holds, or fails after `limit`.
async fn within<F: Future<Output = bool>>(limit: Duration, what: &str, check: impl Fn() -> F) {
    let deadline = Instant::now() + limit;
    while !check().await {
        assert!(Instant::now() < deadline, "not within {limit:?}: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The whole integration suite runs twice, embedded and with `HELPYAP_TEST_MODE=cluster`
/// (see scripts/test): every server a test starts is in the run's mode.
#[tokio::test]
async fn servers_run_in_the_mode_the_test_run_asks_for() {
    let server = TestServer::start().await;
    let engine = if crate::support::cluster_mode() {
        "postgresql"
    } else {
        "sled"
    };
    assert_eq!(health(&server).await["store"]["engine"], engine);
}

#[tokio::test]
async fn every_node_reports_both_engines_and_nodes_started_together_seed_once() {
    let nodes = cluster(3, |_| {}).await;
    let seeded = crate::support::get_json(&nodes[0], "/api/widget/config?project=demo").await;
    for node in &nodes {
        let health = health(node).await;
        assert_eq!(health["status"], "ok", "{health}");
        assert_eq!(
            health["store"],
            json!({ "engine": "postgresql", "ok": true })
        );
        assert_eq!(
            health["cluster"],
            json!({ "redis": true, "rateLimits": "shared" })
        );
        let config = crate::support::get_json(node, "/api/widget/config?project=demo").await;
        assert_eq!(config, seeded);
    }
}

/// 3×200 concurrent pushes through three nodes: ids exactly 1..600, and a WebSocket and an SSE
/// visitor on every node each get all 600, once, in order.
#[tokio::test]
async fn concurrent_pushes_through_every_node_get_dense_ids_and_reach_every_visitor_in_order() {
    let nodes = cluster(3, many_pushes).await;
    let mut sockets = Vec::new();
    let mut streams = Vec::new();
    for node in &nodes {
        sockets.push(ws(node, "project=demo").await);
        streams.push(Sse::open(node, "project=demo", None).await);
    }
    // Every visitor subscribed before the first push.
    for node in &nodes {
        within(Duration::from_secs(5), "visitors subscribed", || async {
            health(node).await["liveStreams"] == 2
        })
        .await;
    }
    let pusher = client();
    let mut pushes = FuturesUnordered::new();
    for round in 0..200 {
        for node in &nodes {
            pushes.push(push_status_with(&pusher, node, format!("visitor {round}")));
        }
    }
    let mut ids = Vec::new();
    while let Some((status, answer)) = pushes.next().await {
        assert_eq!(status, 201, "{answer}");
        ids.push(answer["id"].as_str().unwrap().parse::<u64>().unwrap());
    }
    ids.sort_unstable();
    assert_eq!(ids, (1..=600).collect::<Vec<_>>(), "dense, never reused");

    let expected: Vec<String> = (1..=600).map(|id| id.to_string()).collect();
    for socket in &mut sockets {
        let mut seen = Vec::new();
        for _ in 0..600 {
            seen.push(ws_next(socket).await["id"].as_str().unwrap().to_owned());
        }
        assert_eq!(seen, expected, "every push once, in order, over WebSocket");
    }
    for stream in &mut streams {
        let mut seen = Vec::new();
        for _ in 0..600 {
            seen.push(stream.next_event().await.0);
        }
        assert_eq!(seen, expected, "every push once, in order, over SSE");
    }
}

/// A visitor moving to another node with what it saw last gets exactly the rest, on every
/// channel.
#[tokio::test]
async fn reconnecting_to_another_node_gets_exactly_what_was_missed() {
    let nodes = cluster(3, many_pushes).await;
    for (index, name) in ["a", "b", "c", "d", "e"].iter().enumerate() {
        push_named(&nodes[index % 3], "demo", name).await;
    }
    // Pushed on node 1 just now; the visitor saw up to 2 on node 0 and comes back elsewhere.
    let mut socket = ws(&nodes[2], "project=demo&since=2").await;
    for expected in ["3", "4", "5"] {
        assert_eq!(ws_next(&mut socket).await["id"], expected);
    }
    let mut sse = Sse::open(&nodes[1], "project=demo", Some("3")).await;
    assert_eq!(sse.next_event().await.0, "4");
    assert_eq!(sse.next_event().await.0, "5");
    let polled = poll(&nodes[0], "project=demo&since=4").await;
    assert_eq!(polled["reset"], false);
    assert_eq!(polled["lastId"], "5");
    assert_eq!(polled["events"].as_array().unwrap().len(), 1);
    assert_eq!(polled["events"][0]["name"], "e");
    // And the next push, wherever it lands, reaches both, once.
    push_named(&nodes[0], "demo", "f").await;
    assert_eq!(ws_next(&mut socket).await["id"], "6");
    assert_eq!(sse.next_event().await.0, "6");
}

/// 30 pushes from one address spread over the nodes against a 10 per 60 s limit: exactly 10
/// get through, and the headers count the cluster's window, not a node's.
#[tokio::test]
async fn rate_limits_hold_across_nodes() {
    let nodes = cluster(3, |_| {}).await;
    let mut created = 0;
    let mut refused = 0;
    for attempt in 0..30 {
        let response = client()
            .post(nodes[attempt % 3].url("/api/widget/salespop-push"))
            .bearer_auth(DEMO_SECRET)
            .json(&json!({ "project": "demo", "type": "signed_up" }))
            .send()
            .await
            .unwrap();
        match response.status().as_u16() {
            201 => {
                created += 1;
                let remaining = &response.headers()["x-ratelimit-remaining"];
                assert_eq!(remaining.to_str().unwrap(), (10 - created).to_string());
            }
            429 => {
                refused += 1;
                let retry: u64 = response.headers()["retry-after"]
                    .to_str()
                    .unwrap()
                    .parse()
                    .unwrap();
                assert!((1..=60).contains(&retry), "Retry-After {retry}");
            }
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!((created, refused), (10, 20));
}

/// Questions on one session sent at once through three nodes: exactly one is answered, the
/// others are 409, and the stored transcript holds one question and one answer.
#[tokio::test]
async fn one_answer_at_a_time_per_session_across_nodes() {
    let fake = FakeLlm::start().await;
    let base_url = fake.base_url();
    let nodes = cluster(3, move |config| {
        config.llm.provider = LlmProvider::Openai;
        config.llm.base_url = base_url.clone();
        config.rate_limits.chat.requests = 1000;
    })
    .await;
    let session = Uuid::new_v4();
    let first = read_answer(
        client()
            .post(nodes[0].url("/api/chat"))
            .json(&body(session, None, "hello"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(first.status, 200);
    let token = first.token.unwrap();
    let asks = nodes.iter().map(|node| {
        let request = client().post(node.url("/api/chat")).json(&body(
            session,
            Some(&token),
            "[drip] tell me more",
        ));
        async move { read_answer(request.send().await.unwrap()).await.status }
    });
    let mut statuses = futures_util::future::join_all(asks).await;
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 409, 409]);
    // Read from another node than the one that answered: two questions, two answers.
    let turns = ["user", "assistant"];
    let roles = transcript_roles(&nodes[2], session, &token).await;
    assert_eq!(roles, turns.repeat(2));
    // The next question, on yet another node, continues the same transcript.
    let next = read_answer(
        client()
            .post(nodes[1].url("/api/chat"))
            .json(&body(session, Some(&token), "and returns?"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(next.status, 200);
    let roles = transcript_roles(&nodes[0], session, &token).await;
    assert_eq!(roles, turns.repeat(3), "nothing overwritten, nothing lost");
}

/// A visitor on one node and the team on another hear each other within a second: news goes
/// through Redis.
#[tokio::test]
async fn a_teammate_on_one_node_and_a_visitor_on_another_hear_each_other_live() {
    use crate::handoff::{team_stream, visitor_ws_ready};
    let nodes = cluster(2, |_| {}).await;
    let agent = nodes[0].agent("sam@example.com").await;
    let mut team = team_stream(&nodes[0], &agent).await;
    let session = Uuid::new_v4();
    let ask = |node: &TestServer, token: Option<&str>, text: &str| {
        let request = client().post(node.url("/api/chat"));
        let request = request.json(&body(session, token, text));
        async move { read_answer(request.send().await.unwrap()).await }
    };
    let first = ask(&nodes[1], None, "Do you ship to Canada?").await;
    let token = first.token.unwrap();
    let question = team.next_json_within(Duration::from_secs(1)).await;
    assert_eq!(question["message"]["content"], "Do you ship to Canada?");

    let mut socket = visitor_ws_ready(&nodes[1], session, &token).await;
    let path = format!("/api/admin/projects/demo/conversations/{session}/reply");
    agent
        .post(&path, json!({ "text": "Yes!" }))
        .expect(201)
        .await;
    let reply = ws_next_within(&mut socket, Duration::from_secs(1)).await;
    assert_eq!(reply["message"]["content"], "Yes!");
    assert_eq!(
        ws_next_within(&mut socket, Duration::from_secs(1)).await["status"],
        "human"
    );
}

/// Who wrote each message of the session's transcript, as `node` serves it.
async fn transcript_roles(node: &TestServer, session: Uuid, token: &str) -> Vec<String> {
    let path = format!("/api/widget/session?project=demo&sessionId={session}");
    let transcript: Value = client()
        .get(node.url(&path))
        .header("x-session-token", token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    transcript["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|message| message["role"].as_str().unwrap().to_owned())
        .collect()
}

/// A verified visitor opens their conversation in a new browser through one node, whose first
/// question reaches the node that answered them before (and still holds the session): the new
/// browser's token works there.
#[tokio::test]
async fn a_conversation_opened_in_another_browser_through_one_node_works_on_the_other() {
    let nodes = cluster(2, |_| {}).await;
    let owner = nodes[0].owner("owner@example.com").await;
    let made = owner
        .post("/api/admin/projects/demo/identity-secret", None)
        .expect(200)
        .await;
    let secret = made["identitySecret"].as_str().unwrap().to_owned();
    let user =
        json!({"userId": "user-42", "userHash": crate::identity::user_hash(&secret, "user-42")});
    let session = Uuid::new_v4();
    let mut first = body(session, None, "How do I reset my password?");
    first["user"] = user.clone();
    assert_eq!(chat_status(&nodes[0], &first).await, 200);

    let mut identify = user.clone();
    identify["projectSlug"] = json!("demo");
    let found: Value = client()
        .post(nodes[1].url("/api/widget/identify"))
        .json(&identify)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(found["conversation"], "other", "{found}");
    let token = found["sessionToken"].as_str().unwrap();
    let mut next = body(session, Some(token), "Thanks!");
    next["user"] = user;
    assert_eq!(chat_status(&nodes[0], &next).await, 200);
    assert_eq!(transcript_roles(&nodes[1], session, token).await.len(), 4);
}

/// The status of a chat request to `node`, its answer read to the end.
async fn chat_status(node: &TestServer, body: &Value) -> u16 {
    let response = client()
        .post(node.url("/api/chat"))
        .json(body)
        .send()
        .await
        .unwrap();
    read_answer(response).await.status
}

/// An owner signed in on one node renames the widget; every node serves the new name within
/// a second, open widgets on the other nodes are told, and the owner's token works on every
/// node.
#[tokio::test]
async fn a_settings_change_on_one_node_reaches_every_node_within_a_second() {
    let nodes = cluster(3, |_| {}).await;
    let mut open_widget = ws(&nodes[2], "project=demo").await;
    let owner = nodes[0].owner("owner@example.com").await;
    let settings = json!({
        "name": "Renamed Bot",
        "company": "Acme Inc",
        "welcomeMessage": "Hello!",
        "quickReplies": ["Pricing"],
        "theme": { "primaryColor": "#112233", "position": "bottom-left" },
    });
    owner
        .put("/api/admin/projects/demo", settings)
        .expect(200)
        .await;
    for node in &nodes[1..] {
        within(
            Duration::from_secs(1),
            "the new name on every node",
            || async {
                let config =
                    crate::support::get_json(node, "/api/widget/config?project=demo").await;
                config["name"] == "Renamed Bot"
            },
        )
        .await;
        let seen = owner
            .on(node)
            .get("/api/admin/projects/demo")
            .expect(200)
            .await;
        assert_eq!(seen["name"], "Renamed Bot");
    }
    let told = ws_next_within(&mut open_widget, Duration::from_secs(1)).await;
    assert_eq!(told["type"], "config", "{told}");
    let etag = client()
        .get(nodes[2].url("/api/widget/config?project=demo"))
        .send()
        .await
        .unwrap()
        .headers()["etag"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(told["etag"], etag.as_str());
}

/// Redis stopped: pushes still 201 and reach the other nodes' visitors through the periodic
/// check; the nodes report it; Redis restarted empty: they resubscribe and nothing is missed
/// or repeated.
#[tokio::test]
async fn with_redis_down_pushes_go_on_and_reach_every_node_and_nothing_is_lost_after() {
    let database = Postgres::shared().database().await;
    let port = free_port();
    let redis = Redis::start(port);
    let nodes = nodes_on(&database, &redis.url(), 3, |config| {
        many_pushes(config);
        if let Some(cluster) = &mut config.cluster {
            cluster.check_interval = Duration::from_millis(200);
        }
    })
    .await;
    let mut sockets = Vec::new();
    for node in &nodes {
        sockets.push(ws(node, "project=demo").await);
    }
    push_named(&nodes[0], "demo", "before").await;
    for socket in &mut sockets {
        assert_eq!(ws_next(socket).await["id"], "1");
    }

    drop(redis);
    for (index, name) in ["down-a", "down-b", "down-c"].iter().enumerate() {
        let id = push_named(&nodes[index], "demo", name).await;
        assert_eq!(id, (index + 2).to_string(), "pushes go on");
    }
    for socket in &mut sockets {
        for expected in ["2", "3", "4"] {
            assert_eq!(ws_next(socket).await["id"], expected, "through the check");
        }
    }
    for node in &nodes {
        within(Duration::from_secs(10), "Redis reported down", || async {
            let health = health(node).await;
            health["status"] == "degraded" && health["cluster"]["redis"] == false
        })
        .await;
    }

    let redis = Redis::start(port);
    for node in &nodes {
        within(Duration::from_secs(10), "Redis reported back", || async {
            health(node).await["status"] == "ok"
        })
        .await;
    }
    push_named(&nodes[2], "demo", "after").await;
    for socket in &mut sockets {
        assert_eq!(ws_next(socket).await["id"], "5", "no loss, no duplicate");
    }
    drop(redis);
}

/// PostgreSQL stopped: writes get 503 with Retry-After, widget configs are served from the
/// nodes' cache; restarted: ids go on from the last one.
#[tokio::test]
async fn with_postgres_down_writes_get_503_config_reads_go_on_and_ids_continue_after() {
    let postgres = Postgres::start();
    let database = postgres.database().await;
    let nodes = nodes_on(&database, &Redis::shared().url(), 2, many_pushes).await;
    push_named(&nodes[0], "demo", "before").await;
    for node in &nodes {
        crate::support::get_json(node, "/api/widget/config?project=demo").await;
    }

    postgres.stop();
    for node in &nodes {
        let response = client()
            .post(node.url("/api/widget/salespop-push"))
            .bearer_auth(DEMO_SECRET)
            .json(&json!({ "project": "demo", "type": "signed_up" }))
            .send()
            .await
            .unwrap();
        let retry_after = response.headers().get("retry-after").cloned();
        expect_error(response, 503).await;
        assert!(retry_after.is_some(), "503 says when to retry");
        let config = client()
            .get(node.url("/api/widget/config?project=demo"))
            .send()
            .await
            .unwrap();
        assert_eq!(config.status(), 200, "served from the node's cache");
        let health = health(node).await;
        assert_eq!(health["status"], "degraded");
        assert_eq!(health["store"]["ok"], false);
    }

    postgres.resume();
    within(Duration::from_secs(15), "writes accepted again", || async {
        push_status(&nodes[1], "after".into()).await.0 == 201
    })
    .await;
    let polled = poll(&nodes[0], "project=demo&since=0").await;
    let ids: Vec<&str> = polled["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|event| event["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["1", "2"], "ids continue at last + 1");
}

/// The real binary in cluster mode: URLs from the environment; a bad one exits 64, an engine
/// that cannot be reached exits 69, each with one clear line and no password in it.
#[tokio::test(flavor = "multi_thread")]
async fn the_binary_exits_64_for_a_bad_engine_url_and_69_for_an_unreachable_engine() {
    let dir = tempfile::tempdir().unwrap();
    let unused = free_port();
    let database = Postgres::shared().database().await;
    let run = |postgres: &str, redis: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_helpyap"))
            .current_dir(dir.path())
            .args(["--bind", "127.0.0.1:0"])
            .env("HELPYAP_POSTGRES_URL", postgres)
            .env("HELPYAP_REDIS_URL", redis)
            .output()
            .unwrap()
    };
    let redis = Redis::shared().url();
    let cases = [
        ("postgres://", redis.clone(), 64, "cluster.postgres_url"),
        (
            database.as_str(),
            "mysql://x".to_owned(),
            64,
            "cluster.redis_url",
        ),
        (
            &format!("postgres://helpyap:s3cretpass@127.0.0.1:{unused}/x"),
            redis.clone(),
            69,
            "PostgreSQL (cluster.postgres_url) is unavailable",
        ),
        (
            database.as_str(),
            format!("redis://:s3cretpass@127.0.0.1:{unused}/"),
            69,
            "Redis (cluster.redis_url) is unavailable",
        ),
    ];
    for (postgres, redis, code, says) in cases {
        let output = tokio::task::block_in_place(|| run(postgres, &redis));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(code), "{stderr}");
        assert!(stderr.contains(says), "{stderr}");
        assert!(!stderr.contains("s3cretpass"), "no password: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

/// Three real nodes under pushes; one is `kill -9`ed. Every push it acknowledged is in
/// PostgreSQL and reaches visitors reconnecting to the other nodes; the chat session it was
/// answering continues on another node once its lease expires (a fresh question is refused
/// only until then).
#[tokio::test(flavor = "multi_thread")]
async fn a_node_killed_under_load_loses_nothing_acknowledged() {
    use crate::support::Binary;
    let dir = tempfile::tempdir().unwrap();
    let database = Postgres::shared().database().await;
    let redis = Redis::shared().url();
    let envs = [
        ("HELPYAP_POSTGRES_URL", database.as_str()),
        ("HELPYAP_REDIS_URL", redis.as_str()),
    ];
    let fake = FakeLlm::start().await;
    let config = dir.path().join("config.toml");
    let text = helpyap::config::DEFAULT_CONFIG_TOML
        .replace(
            "push = { requests = 10, window = \"60s\" }",
            "push = { requests = 100000, window = \"60s\" }",
        )
        .replace(
            "chat = { requests = 20, window = \"60s\" }",
            "chat = { requests = 1000, window = \"60s\" }",
        )
        .replace("provider = \"extractive\"", "provider = \"openai\"")
        .replace("https://api.openai.com/v1", &fake.base_url());
    // The URLs come from the environment.
    let text = format!("{text}\n[cluster]\nanswer_lease = \"6s\"\n");
    std::fs::write(&config, text).unwrap();
    let args = [
        "--bind",
        "127.0.0.1:0",
        "--config",
        config.to_str().unwrap(),
    ];
    let nodes: Vec<Binary> = (0..3)
        .map(|_| Binary::start(dir.path(), &args, &envs))
        .collect();

    // A visitor's answer is being written by the node about to die.
    let session = Uuid::new_v4();
    let chat = |node: &Binary, token: Option<&str>, question: &str| {
        client()
            .post(node.url("/api/chat"))
            .json(&body(session, token, question))
            .send()
    };
    let mut answering = chat(&nodes[0], None, "[drip] tell me").await.unwrap();
    assert_eq!(answering.status(), 200);
    let token = answering.headers()["x-session-token"]
        .to_str()
        .unwrap()
        .to_owned();
    answering.chunk().await.unwrap();

    // Pushes through the node about to die, as fast as it takes them.
    let doomed = nodes[0].url("/api/widget/salespop-push");
    let acknowledged = std::sync::Arc::new(std::sync::Mutex::new(Vec::<u64>::new()));
    let pusher = tokio::spawn({
        let acknowledged = acknowledged.clone();
        async move {
            for idx in 0.. {
                let sent = client()
                    .post(&doomed)
                    .bearer_auth(DEMO_SECRET)
                    .json(&json!({ "project": "demo", "type": "signed_up", "name": format!("p{idx}") }))
                    .send()
                    .await;
                let Ok(response) = sent else { return };
                let Ok(reply) = response.json::<Value>().await else {
                    return;
                };
                let id = reply["id"].as_str().unwrap().parse().unwrap();
                acknowledged.lock().unwrap().push(id);
            }
        }
    });
    let started = Instant::now();
    while acknowledged.lock().unwrap().len() < 50 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "pushes too slow"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut nodes = nodes.into_iter();
    nodes.next().unwrap().kill_9();
    let survivors: Vec<Binary> = nodes.collect();
    // The dead node's session is busy until its lease (renewed every 2 s) runs out.
    drop(answering);
    let busy = chat(&survivors[0], Some(&token), "still there?")
        .await
        .unwrap();
    assert_eq!(
        busy.status(),
        409,
        "the lease outlives its node for a while"
    );
    pusher.await.unwrap();
    let acknowledged = acknowledged.lock().unwrap().clone();

    let last = *acknowledged.iter().max().unwrap();
    for node in &survivors {
        let polled = node
            .get_json("/api/widget/salespop?project=demo&since=0")
            .await;
        let ids: Vec<u64> = polled["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|event| event["id"].as_str().unwrap().parse().unwrap())
            .collect();
        for id in &acknowledged {
            assert!(
                ids.contains(id),
                "acknowledged event {id} missing on a survivor"
            );
        }
        assert!(
            ids.windows(2).all(|pair| pair[1] == pair[0] + 1),
            "no gaps: {ids:?}"
        );
        assert!(*ids.last().unwrap() >= last);
    }
    // Ids go on from there, through the survivors.
    let next = survivors[0]
        .push_demo(json!({ "project": "demo", "type": "signed_up" }))
        .await;
    let next: u64 = next["id"].as_str().unwrap().parse().unwrap();
    assert!(next > last);

    // The dead node's session goes on elsewhere once its lease has run out.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let answer = read_answer(chat(&survivors[1], Some(&token), "hello?").await.unwrap()).await;
        if answer.status == 200 {
            break;
        }
        assert_eq!(answer.status, 409);
        assert!(Instant::now() < deadline, "the session never came free");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Runs `helpyap ARGS` in `dir` with `envs` to its end; its stdout, after checking it
/// succeeded.
fn run_binary(dir: &std::path::Path, args: &[&str], envs: &[(&str, &str)]) -> String {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_helpyap"))
        .current_dir(dir)
        .args(args)
        .envs(envs.iter().copied())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "helpyap {args:?}: {stderr}");
    String::from_utf8(output.stdout).unwrap()
}

/// What a visitor and an owner see of an install, for comparing it before and after a move.
async fn seen(
    node: &TestServer,
    session: Uuid,
    token: &str,
    owner: &crate::support::Caller,
) -> Value {
    let transcript = visitor_session(node, session, token).await;
    json!({
        "config": crate::support::get_json(node, "/api/widget/config?project=demo").await,
        "events": poll(node, "project=demo&since=0").await,
        "transcript": transcript,
        "inbox": owner.on(node).get("/api/admin/projects/demo/conversations").expect(200).await,
        "documents": owner.on(node).get("/api/admin/projects/demo/documents").expect(200).await,
    })
}

/// A single node's backup restored into a cluster's empty PostgreSQL serves the same data (the
/// owner signs in with the same password); the cluster's backup restored into a new single
/// node's store serves what the cluster added too.
#[tokio::test(flavor = "multi_thread")]
async fn an_install_moves_from_one_node_into_a_cluster_and_back() {
    let work = tempfile::tempdir().unwrap();
    let single = TestServer::start_embedded_with(many_pushes).await;
    for name in ["a", "b", "c"] {
        push_named(&single, "demo", name).await;
    }
    let session = Uuid::new_v4();
    let answer = read_answer(
        client()
            .post(single.url("/api/chat"))
            .json(&body(session, None, "What is your return policy?"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let token = answer.token.unwrap();
    let owner = single.owner("owner@example.com").await;
    let before = seen(&single, session, &token, &owner).await;
    let data = single.stop_keeping_data().await;

    let file = work.path().join("single.jsonl");
    let data_dir = data.path().to_str().unwrap();
    let file_arg = file.to_str().unwrap();
    // The stopped server's store is released by sled's threads a moment after it stops (longer
    // on a loaded machine).
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_helpyap"))
            .current_dir(work.path())
            .args(["backup", "--data-dir", data_dir, "--out", file_arg])
            .output()
            .unwrap();
        if output.status.success() {
            break;
        }
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(Instant::now() < deadline, "backup failed: {stderr}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let database = Postgres::shared().database().await;
    let redis = Redis::shared().url();
    let cluster_env = [
        ("HELPYAP_POSTGRES_URL", database.as_str()),
        ("HELPYAP_REDIS_URL", redis.as_str()),
    ];
    let restored = run_binary(work.path(), &["restore", file_arg], &cluster_env);
    assert!(restored.contains("into PostgreSQL"), "{restored}");

    let nodes = nodes_on(&database, &redis, 2, many_pushes).await;
    let owner = nodes[1].sign_in("owner@example.com").await;
    for node in &nodes {
        assert_eq!(seen(node, session, &token, &owner).await, before);
    }
    assert_eq!(push_named(&nodes[0], "demo", "d").await, "4", "ids go on");

    // And back: the cluster's backup into a new single node.
    let file = work.path().join("cluster.jsonl");
    let file_arg = file.to_str().unwrap();
    run_binary(work.path(), &["backup", "--out", file_arg], &cluster_env);
    let after = seen(&nodes[0], session, &token, &owner).await;
    let back = tempfile::tempdir().unwrap();
    let back_dir = back.path().join("store");
    let back_arg = back_dir.to_str().unwrap();
    run_binary(
        work.path(),
        &["restore", file_arg, "--data-dir", back_arg],
        &[],
    );
    let single = TestServer::start_in(back, move |config| config.store.path = back_dir).await;
    let owner = single.sign_in("owner@example.com").await;
    assert_eq!(seen(&single, session, &token, &owner).await, after);
}

/// The shipped nginx config (least_conn, WebSocket upgrade, no buffering) in front of three
/// nodes that trust it as a proxy: live popups over WebSocket and SSE, pushes, and a streamed
/// chat answer all go through, and each visitor behind it has its own rate limit.
#[tokio::test(flavor = "multi_thread")]
async fn through_nginx_in_front_of_three_nodes_everything_streams_and_visitors_are_told_apart() {
    use crate::support::Nginx;
    let nodes = cluster(3, |config| {
        config.server.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await;
    let shipped = include_str!("../../docs/deploy/nginx-cluster.conf");
    let upstreams: String = nodes
        .iter()
        .map(|node| format!("    server {} max_fails=3 fail_timeout=5s;\n", node.addr))
        .collect();
    let mut http = String::new();
    for line in shipped.lines() {
        if line.trim_start().starts_with("server 10.0.0.") {
            if line.contains("10.0.0.11") {
                http.push_str(&upstreams);
            }
        } else if line.trim() == "listen 80;" {
            http.push_str("    listen {listen};\n");
        } else {
            http.push_str(line);
            http.push('\n');
        }
    }
    let nginx = Nginx::start(&http);

    // A WebSocket and an SSE visitor through nginx.
    let stream = tokio::net::TcpStream::connect(nginx.addr).await.unwrap();
    let url = format!("ws://{}/api/widget/salespop/ws?project=demo", nginx.addr);
    let (mut socket, response) = tokio_tungstenite::client_async(url, stream).await.unwrap();
    assert_eq!(response.status(), 101, "the upgrade passes through");
    let mut sse = client()
        .get(nginx.url("/api/widget/salespop/stream?project=demo"))
        .send()
        .await
        .unwrap();
    assert_eq!(sse.status(), 200);
    let first = sse.chunk().await.unwrap().unwrap();
    assert!(
        String::from_utf8_lossy(&first).contains("retry:"),
        "unbuffered"
    );

    // Pushes through nginx from two visitors behind it: each has its own 10 per minute.
    let push = |client_ip: &'static str| {
        client()
            .post(nginx.url("/api/widget/salespop-push"))
            .bearer_auth(DEMO_SECRET)
            .header("x-forwarded-for", client_ip)
            .json(&json!({ "project": "demo", "type": "signed_up", "name": client_ip }))
            .send()
    };
    for _ in 0..10 {
        assert_eq!(push("203.0.113.7").await.unwrap().status(), 201);
    }
    assert_eq!(push("203.0.113.7").await.unwrap().status(), 429);
    assert_eq!(
        push("198.51.100.9").await.unwrap().status(),
        201,
        "another visitor"
    );
    for id in 1..=11 {
        assert_eq!(ws_next(&mut socket).await["id"], id.to_string());
    }
    let mut seen = String::new();
    while !seen.contains("id: 11\n") {
        let chunk = tokio::time::timeout(Duration::from_secs(5), sse.chunk())
            .await
            .expect("SSE events in time")
            .unwrap()
            .unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }

    // A chat answer streams through (nginx takes the X-Accel-Buffering header for itself).
    let answer = client()
        .post(nginx.url("/api/chat"))
        .json(&body(Uuid::new_v4(), None, "What is your return policy?"))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.headers()["content-type"], "text/event-stream");
    let text = answer.text().await.unwrap();
    assert!(
        text.contains("Returns ") && text.contains(r#"{"type":"finish"}"#),
        "{text}"
    );
}

/// `sslmode=require` and `rediss://` put a node's connections to both engines under TLS, the
/// servers' certificates checked against the trust store (here `SSL_CERT_FILE`, the test CA);
/// a certificate the node does not trust is refused at start with exit 69.
#[tokio::test(flavor = "multi_thread")]
async fn engines_are_reached_over_tls_when_the_urls_ask_and_their_certificates_are_checked() {
    use crate::support::Binary;
    let certificates = crate::support::test_certificates();
    let file = |name: &str| certificates.path().join(name);
    let read = |name: &str| std::fs::read_to_string(file(name)).unwrap();
    let postgres = Postgres::start_with_tls(&read("server.crt"), &read("server.key"));
    let database = postgres.database().await;
    let port = free_port();
    let _redis = Redis::start_with_tls(port, &file("server.crt"), &file("server.key"));
    let postgres_url = format!("{database}?sslmode=require");
    let redis_url = format!("rediss://127.0.0.1:{port}/");
    let ca = file("ca.crt");
    let envs = [
        ("HELPYAP_POSTGRES_URL", postgres_url.as_str()),
        ("HELPYAP_REDIS_URL", redis_url.as_str()),
        ("SSL_CERT_FILE", ca.to_str().unwrap()),
    ];
    let work = tempfile::tempdir().unwrap();
    let node = Binary::start(work.path(), &["--bind", "127.0.0.1:0"], &envs);
    let health = node.get_json("/healthz").await;
    assert_eq!(health["status"], "ok", "{health}");
    let pushed = node
        .push_demo(json!({ "project": "demo", "type": "signed_up" }))
        .await;
    assert_eq!(pushed["id"], "1", "{pushed}");

    // Every connection of the node to its database is encrypted.
    let (observer, connection) = tokio_postgres::connect(&database, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let count = |encrypted: bool| {
        let observer = &observer;
        async move {
            let row = observer
                .query_one(
                    "SELECT count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid)
                     WHERE a.datname = current_database() AND a.pid <> pg_backend_pid()
                     AND s.ssl = $1",
                    &[&encrypted],
                )
                .await
                .unwrap();
            row.get::<_, i64>(0)
        }
    };
    assert!(count(true).await > 0, "the node's connections use TLS");
    assert_eq!(count(false).await, 0, "and none goes without");
    drop(node);

    // The system's trust store does not know the test CA: refused, clearly.
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_helpyap"))
        .current_dir(work.path())
        .args(["--bind", "127.0.0.1:0"])
        .env("HELPYAP_POSTGRES_URL", &postgres_url)
        .env("HELPYAP_REDIS_URL", &redis_url)
        .env_remove("SSL_CERT_FILE")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(69), "{stderr}");
    assert!(stderr.contains("UnknownIssuer"), "{stderr}");
}
