//! The server's life: the real binary's start and exit codes, durability across `kill -9`,
//! supervision of crashed project actors, and graceful shutdown.

use std::path::Path;
use std::process::Command;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use helpyap::config::DEFAULT_CONFIG_TOML;
use helpyap_actors::{SledStore, Storage};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use uuid::Uuid;

use crate::chat::{body, read_answer};
use crate::fake_llm::FakeLlm;
use crate::support::{Binary, DEMO_SECRET, TestServer, client, push, send_json};

#[tokio::test]
async fn with_no_config_file_the_binary_serves_the_demo_from_embedded_defaults() {
    // An empty directory: no config.toml and no knowledge/demo/ beside the binary.
    let dir = tempfile::tempdir().unwrap();
    let server = Binary::start(dir.path(), &["--bind", "127.0.0.1:0"], &[]);
    let config = send_json(client().get(server.url("/api/widget/config?project=demo"))).await;
    assert_eq!(config["name"], "Support Bot");
    assert!(
        dir.path().join("data").is_dir(),
        "the store goes to ./data by default"
    );
    // The demo help center is built in too.
    let question = body(Uuid::new_v4(), None, "What is your return policy?");
    let answer = read_answer(
        client()
            .post(server.url("/api/chat"))
            .json(&question)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(
        answer.text().contains("within 30 days"),
        "{}",
        answer.text()
    );
    assert!(
        answer
            .json_frames()
            .any(|f| f["url"] == "https://acme.example/help/returns"),
        "the returns document is cited"
    );
}

#[test]
fn a_bad_config_exits_64_with_a_clear_message_before_binding() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "typo.toml",
            Some("[server]\nbnid = \"127.0.0.1:0\"\n"),
            "bnid",
        ),
        ("broken.toml", Some("[server\n"), "broken.toml"),
        ("missing.toml", None, "missing.toml"),
        (
            "secret.toml",
            Some("[[projects]]\nslug = \"a\"\nname = \"A\"\npush_secret = \"short\"\n"),
            "16",
        ),
    ];
    for (name, contents, needle) in cases {
        let path = dir.path().join(name);
        if let Some(contents) = contents {
            std::fs::write(&path, contents).unwrap();
        }
        let output = Command::new(env!("CARGO_BIN_EXE_helpyap"))
            .current_dir(dir.path())
            .args([
                "serve",
                "--config",
                path.to_str().unwrap(),
                "--bind",
                "127.0.0.1:0",
            ])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(64), "{name}: {stderr}");
        assert!(
            output.stdout.is_empty(),
            "{name}: nothing may be bound or printed"
        );
        assert!(
            stderr.starts_with("helpyap: bad configuration: "),
            "{name}: {stderr}"
        );
        assert!(stderr.contains(needle), "{name}: {stderr}");
        assert!(
            !stderr.contains("panicked"),
            "{name}: a message, not a panic: {stderr}"
        );
    }
}

#[tokio::test]
async fn acknowledged_pushes_survive_kill_9_and_ids_keep_rising() {
    let dir = tempfile::tempdir().unwrap();
    let config = DEFAULT_CONFIG_TOML
        .replace("push = { requests = 10,", "push = { requests = 1000,")
        .replace("HELPYAP_DEMO_PUSH_SECRET", "HELPYAP_TEST_KILL9_SECRET");
    std::fs::write(dir.path().join("config.toml"), config).unwrap();
    let secret = "sp_from_the_environment_0123";
    let args = ["serve", "--bind", "127.0.0.1:0", "--data-dir", "store"];
    let env = [("HELPYAP_TEST_KILL9_SECRET", secret)];

    let server = Binary::start(dir.path(), &args, &env);
    let url = server.url("/api/widget/salespop-push");
    let mut acknowledged = Vec::new();
    for idx in 0..25 {
        let body =
            json!({ "project": "demo", "type": "purchased", "name": format!("buyer {idx}") });
        let response = client()
            .post(&url)
            .bearer_auth(secret)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        let reply: serde_json::Value = response.json().await.unwrap();
        acknowledged.push((
            reply["id"].as_str().unwrap().parse::<u64>().unwrap(),
            format!("buyer {idx}"),
        ));
    }
    // The file's secret is overridden by the environment's.
    let file_secret = client().post(&url).bearer_auth(DEMO_SECRET);
    let refused = file_secret
        .json(&json!({ "project": "demo", "type": "purchased" }))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    server.kill_9();

    {
        let store = SledStore::open(&dir.path().join("store")).unwrap();
        let stored: Vec<(u64, String)> = store
            .events_after("demo", 0)
            .await
            .unwrap()
            .into_iter()
            .map(|event| (event.id, event.name.unwrap()))
            .collect();
        assert_eq!(
            stored, acknowledged,
            "every acknowledged push is on disk after kill -9"
        );
    }

    let server = Binary::start(dir.path(), &args, &env);
    let body = json!({ "project": "demo", "type": "signed_up" });
    let response = client()
        .post(server.url("/api/widget/salespop-push"))
        .bearer_auth(secret)
        .json(&body);
    let reply: serde_json::Value = response.send().await.unwrap().json().await.unwrap();
    assert_eq!(
        reply["id"], "26",
        "ids continue after the restart, never reused"
    );
}

#[tokio::test]
async fn a_crashed_project_actor_is_restarted_and_keeps_serving() {
    let server = TestServer::start().await;
    let purchase = json!({ "project": "demo", "type": "purchased" });
    assert_eq!(
        push(&server, DEMO_SECRET, purchase.clone()).await.status(),
        201
    );

    server.engine.projects.crash_project("demo").await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let id = loop {
        let response = push(&server, DEMO_SECRET, purchase.clone()).await;
        match response.status().as_u16() {
            201 => break response.json::<serde_json::Value>().await.unwrap()["id"].clone(),
            // A request that meets the actor while it restarts gets a clean 503.
            503 => assert!(response.headers().contains_key("retry-after")),
            other => panic!("unexpected status {other} after a crash"),
        }
        assert!(Instant::now() < deadline, "the project never came back");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(id, "2", "the restarted actor continued from the store");
    assert_eq!(
        server.engine.reports.live_projects(),
        2,
        "demo restarted, other undisturbed"
    );
    let config = client()
        .get(server.url("/api/widget/config?project=demo"))
        .send()
        .await
        .unwrap();
    assert_eq!(config.status(), 200);
}

#[tokio::test]
async fn graceful_shutdown_finishes_a_request_in_flight() {
    let mut server = TestServer::start().await;
    let body = json!({ "project": "demo", "type": "purchased", "name": "Late" }).to_string();
    let (first_half, second_half) = body.split_at(body.len() / 2);
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let head = format!(
        "POST /api/widget/salespop-push HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {DEMO_SECRET}\r\n\
         content-type: application/json\r\ncontent-length: {}\r\n\r\n{first_half}",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;

    server.begin_shutdown();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        tokio::net::TcpStream::connect(server.addr).await.is_err(),
        "no new connections once shutdown began"
    );
    stream.write_all(second_half.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut response))
        .await
        .unwrap()
        .unwrap();
    let response = String::from_utf8_lossy(&response);
    assert!(response.starts_with("HTTP/1.1 201"), "{response}");
    assert!(response.contains("connection: close"), "{response}");
    let engine = server.engine.clone();
    server.stop().await.unwrap();
    assert_eq!(
        engine.projects.events_after("demo", 0).await.unwrap()[0]
            .name
            .as_deref(),
        Some("Late")
    );
}

#[tokio::test]
async fn graceful_shutdown_gives_up_on_stuck_clients_after_the_grace_period() {
    let server = TestServer::start_with(|config| {
        config.server.shutdown_grace = Duration::from_millis(500);
    })
    .await;
    let mut stuck = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let head = format!(
        "POST /api/widget/salespop-push HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {DEMO_SECRET}\r\n\
         content-length: 1000\r\n\r\n{{"
    );
    stuck.write_all(head.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    let stopped = tokio::time::timeout(Duration::from_secs(10), server.stop()).await;
    assert!(stopped.is_ok(), "shutdown hung on a stuck client");
    stopped.unwrap().unwrap();
    // The default body timeout is 30 s: only the grace period can have ended it this soon.
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn a_store_that_cannot_open_is_a_clear_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let args = ["serve", "--bind", "127.0.0.1:0", "--data-dir", "store"];
    let _first = Binary::start(dir.path(), &args, &[]);
    let second = Command::new(env!("CARGO_BIN_EXE_helpyap"))
        .current_dir(dir.path())
        .args(args)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(1), "{stderr}");
    assert!(
        second.stdout.is_empty(),
        "the second server must not bind: {stderr}"
    );
    assert!(
        stderr.contains("cannot open the store") && stderr.contains("locked"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// Starts the binary with `envs`, stops it once it listens, and returns what it logged.
fn logs_of_a_start(dir: &Path, envs: &[(&str, &str)]) -> String {
    let data = dir.join("data");
    let mut child = Command::new(env!("CARGO_BIN_EXE_helpyap"))
        .current_dir(dir)
        .args([
            "--bind",
            "127.0.0.1:0",
            "--data-dir",
            data.to_str().unwrap(),
        ])
        .envs(envs.iter().copied())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    assert!(line.starts_with("listening on"), "{line}");
    child.kill().unwrap();
    let output = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn logs_are_json_lines_when_asked_and_a_bad_log_setting_exits_64() {
    let dir = tempfile::tempdir().unwrap();
    let stderr = logs_of_a_start(dir.path(), &[("HELPYAP_LOG_FORMAT", "json")]);
    let lines: Vec<serde_json::Value> = stderr
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}")))
        .collect();
    assert!(
        lines.iter().any(|l| l["level"] == "WARN"
            && l["fields"]["var"] == "HELPYAP_JWT_SECRET"
            && l["target"] == "helpyap::auth"),
        "{stderr}"
    );
    // The level from the environment wins over the config's `info`.
    let quiet = logs_of_a_start(dir.path(), &[("HELPYAP_LOG_LEVEL", "error")]);
    assert!(!quiet.contains("WARN"), "{quiet}");
    let verbose = logs_of_a_start(dir.path(), &[("HELPYAP_LOG_LEVEL", "debug")]);
    assert!(verbose.contains("DEBUG"), "{verbose}");

    for (var, value) in [("HELPYAP_LOG_LEVEL", "loud"), ("HELPYAP_LOG_FORMAT", "xml")] {
        let output = Command::new(env!("CARGO_BIN_EXE_helpyap"))
            .current_dir(dir.path())
            .args(["--bind", "127.0.0.1:0"])
            .env(var, value)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(64), "{var}: {stderr}");
        assert!(stderr.contains(var) && stderr.contains(value), "{stderr}");
    }
}

/// `helpyap --version` names the version and the commit the binary was built from.
#[test]
fn the_version_names_the_commit() {
    let output = Command::new(env!("CARGO_BIN_EXE_helpyap"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(output.status.success());
    let printed = String::from_utf8(output.stdout).unwrap();
    let head = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    let head = String::from_utf8(head.stdout).unwrap();
    let expected = format!("helpyap {} ({})\n", env!("CARGO_PKG_VERSION"), head.trim());
    assert_eq!(printed, expected);
}

/// `helpyap check-config` prints the effective configuration with its secrets hidden, and
/// every problem of a bad file at once (exit 64).
#[test]
fn check_config_shows_the_effective_config_without_secrets_and_every_problem() {
    let dir = tempfile::tempdir().unwrap();
    let check = |config: Option<&str>| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_helpyap"));
        command.current_dir(dir.path()).arg("check-config");
        if let Some(text) = config {
            let path = dir.path().join("checked.toml");
            std::fs::write(&path, text).unwrap();
            command.arg("--config").arg(path);
        }
        command.output().unwrap()
    };
    let shipped = check(None);
    let printed = String::from_utf8_lossy(&shipped.stdout);
    assert_eq!(shipped.status.code(), Some(0), "{printed}");
    assert!(
        printed.contains("[rate_limits.push]\nrequests = 10\nwindow = \"1m\""),
        "{printed}"
    );
    assert!(
        printed.contains("push_secret = \"(set, not shown)\""),
        "{printed}"
    );
    assert!(!printed.contains("sp_demo_local_only_secret"), "{printed}");

    let bad = check(Some(
        "[server]\nmax_body_bytes = 10\n[llm]\ntemperature = 5.0\n\
         [cluster]\npostgres_url = \"postgres://helpyap:s3cret@db/x\"\nredis_url = \"nope\"\n",
    ));
    let (printed, problems) = (
        String::from_utf8_lossy(&bad.stdout),
        String::from_utf8_lossy(&bad.stderr),
    );
    assert_eq!(bad.status.code(), Some(64), "{problems}");
    for problem in [
        "server.max_body_bytes must be at least 1024",
        "llm.temperature must be between 0 and 2",
        "cluster.redis_url: not a Redis URL",
    ] {
        assert!(problems.contains(problem), "{problems}");
    }
    assert!(
        printed.contains("postgres://helpyap:REDACTED@db/x"),
        "{printed}"
    );
    assert!(!format!("{printed}{problems}").contains("s3cret"));

    let broken = check(Some("[server\n"));
    assert_eq!(broken.status.code(), Some(64), "a file that does not parse");
}

/// SIGHUP reloads the config file: a changed rate limit and a project's welcome message apply
/// to new requests while an open WebSocket keeps receiving; a change that needs a restart is
/// left as it runs; a bad file changes nothing and is counted in /metrics.
#[tokio::test(flavor = "multi_thread")]
async fn sighup_applies_a_new_rate_limit_and_welcome_while_streams_carry_on() {
    use futures_util::StreamExt;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    let file = |welcome: &str, pushes: u32| {
        DEFAULT_CONFIG_TOML
            .replace(
                "push = { requests = 10, window = \"60s\" }",
                &format!("push = {{ requests = {pushes}, window = \"60s\" }}"),
            )
            .replace(
                "welcome_message = \"Hi! How can I help you today?\"",
                &format!("welcome_message = \"{welcome}\""),
            )
    };
    let original = file("Hello there", 2);
    assert!(
        original.contains("Hello there"),
        "the shipped welcome was found"
    );
    std::fs::write(&config, &original).unwrap();
    let node = Binary::start_with_config(dir.path(), &config);
    let welcome = || async {
        let config = node.get_json("/api/widget/config?project=demo").await;
        config["welcomeMessage"].as_str().unwrap().to_owned()
    };
    assert_eq!(welcome().await, "Hello there");
    let stream = tokio::net::TcpStream::connect(node.addr).await.unwrap();
    let url = format!("ws://{}/api/widget/salespop/ws?project=demo", node.addr);
    let (mut socket, _) = tokio_tungstenite::client_async(url, stream).await.unwrap();
    let push = || node.push_demo(json!({ "project": "demo", "type": "signed_up" }));

    // Limit 2 → 5, a new welcome, and a new bind address (restart only).
    let changed =
        file("Welcome back", 5).replace("bind = \"127.0.0.1:3000\"", "bind = \"127.0.0.1:3999\"");
    std::fs::write(&config, changed).unwrap();
    node.hangup();
    let deadline = Instant::now() + Duration::from_secs(5);
    while welcome().await != "Welcome back" {
        assert!(Instant::now() < deadline, "the new welcome was not applied");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for _ in 0..5 {
        assert!(
            push().await["id"].is_string(),
            "five pushes fit the new limit"
        );
    }
    assert!(push().await["error"].is_string(), "the sixth does not");
    let mut messages = Vec::new();
    while messages.len() < 6 {
        let message = tokio::time::timeout(Duration::from_secs(5), socket.next())
            .await
            .expect("the open WebSocket keeps receiving")
            .unwrap()
            .unwrap();
        if let tokio_tungstenite::tungstenite::Message::Text(text) = message {
            let message: serde_json::Value = serde_json::from_str(&text).unwrap();
            messages.push(match message["id"].as_str() {
                Some(id) => id.to_owned(),
                None => message["type"].as_str().unwrap().to_owned(),
            });
        }
    }
    // The open widget hears of the new welcome first, then gets every event.
    assert_eq!(messages, ["config", "1", "2", "3", "4", "5"]);
    let still = client().get(node.url("/healthz")).send().await.unwrap();
    assert_eq!(still.status(), 200, "still on the address it started on");

    // A bad file: nothing changes, one refusal counted.
    std::fs::write(&config, file("Broken", 0)).unwrap();
    node.hangup();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let metrics = client()
            .get(node.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if metrics.contains("helpyap_config_reloads_total{outcome=\"refused\"} 1") {
            assert!(metrics.contains("helpyap_config_reloads_total{outcome=\"applied\"} 1"));
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the refusal was not counted: {metrics}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(welcome().await, "Welcome back", "the running config stays");
}

/// SIGHUP swaps the model, the caps and the log level for new requests: an extractive node
/// starts answering through an OpenAI-compatible server, a body the old cap took is refused,
/// info lines appear in a log that held only errors, and an answer streaming from one model
/// server carries on while the next question goes to the server the file now names.
#[tokio::test(flavor = "multi_thread")]
async fn sighup_swaps_the_model_the_caps_and_the_log_level() {
    let fake = FakeLlm::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    let original = DEFAULT_CONFIG_TOML.replace("log_level = \"info\"", "log_level = \"error\"");
    std::fs::write(&config, &original).unwrap();
    let node = Binary::start_with_config(dir.path(), &config);
    let ask = || async {
        let question = body(Uuid::new_v4(), None, "How long is the return window?");
        let response = client()
            .post(node.url("/api/chat"))
            .json(&question)
            .send()
            .await
            .unwrap();
        read_answer(response).await.text()
    };
    let big_push = || async {
        // JSON may carry any amount of whitespace: 3 KB for a small event.
        let body = format!(
            r#"{{"project": "demo", "type": "signed_up"{}}}"#,
            " ".repeat(3000)
        );
        client()
            .post(node.url("/api/widget/salespop-push"))
            .bearer_auth(DEMO_SECRET)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    };
    let extractive = ask().await;
    assert!(
        !extractive.contains("The return window is 30 days."),
        "{extractive}"
    );
    assert_eq!(
        big_push().await,
        201,
        "a 3 KB push fits the shipped 64 KiB cap"
    );
    let log = || std::fs::read_to_string(Binary::log_path(dir.path())).unwrap();
    assert!(
        !log().contains("knowledge base loaded"),
        "at level error no info line: {}",
        log()
    );

    let changed = original
        .replace("log_level = \"error\"", "log_level = \"info\"")
        .replace("provider = \"extractive\"", "provider = \"openai\"")
        .replace("https://api.openai.com/v1", &fake.base_url())
        .replace("max_body_bytes = 65536", "max_body_bytes = 2048");
    std::fs::write(&config, changed).unwrap();
    node.hangup();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !log().contains("SIGHUP: config reloaded") {
        assert!(
            Instant::now() < deadline,
            "no reload line at info: {}",
            log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(ask().await, "The return window is 30 days.");
    assert!(fake.requests.load(Ordering::SeqCst) >= 1);
    assert_eq!(big_push().await, 413, "the new 2 KiB cap refuses it");

    // Another model server while an answer streams from the first: the answer carries on, the
    // next question goes to the new one.
    let second = FakeLlm::start().await;
    let question = body(Uuid::new_v4(), None, "[drip] tell me everything");
    let mut dripping = client()
        .post(node.url("/api/chat"))
        .json(&question)
        .send()
        .await
        .unwrap();
    let mut streamed = String::new();
    while !streamed.contains("word2 ") {
        let chunk = dripping.chunk().await.unwrap().expect("the answer goes on");
        streamed.push_str(&String::from_utf8_lossy(&chunk));
    }
    let asked_first = fake.requests.load(Ordering::SeqCst);
    let moved = std::fs::read_to_string(&config)
        .unwrap()
        .replace(&fake.base_url(), &second.base_url());
    std::fs::write(&config, moved).unwrap();
    node.hangup();
    let deadline = Instant::now() + Duration::from_secs(5);
    while log().matches("SIGHUP: config reloaded").count() < 2 {
        assert!(Instant::now() < deadline, "no second reload: {}", log());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    while !streamed.contains("word12 ") {
        let chunk = dripping
            .chunk()
            .await
            .unwrap()
            .expect("the answer under way goes on");
        streamed.push_str(&String::from_utf8_lossy(&chunk));
    }
    drop(dripping);
    assert_eq!(ask().await, "The return window is 30 days.");
    assert_eq!(
        second.requests.load(Ordering::SeqCst),
        1,
        "asked the new server"
    );
    assert_eq!(
        fake.requests.load(Ordering::SeqCst),
        asked_first,
        "not the old one"
    );
}

/// A store written by a newer release: exit 64 before binding, with what to do.
#[test]
fn a_store_of_a_newer_release_exits_64_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    drop(SledStore::open(&store).unwrap());
    helpyap_actors::testing::mark_sled_schema(&store, 99);
    let output = Command::new(env!("CARGO_BIN_EXE_helpyap"))
        .current_dir(dir.path())
        .args(["--bind", "127.0.0.1:0", "--data-dir", "store"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(64), "{stderr}");
    assert!(stderr.contains("schema 99, newer than"), "{stderr}");
    assert!(output.stdout.is_empty(), "nothing bound");
}
