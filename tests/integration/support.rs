//! Test support: start and stop in-process servers and the real binary, and assert on errors.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use helpyap::config::{Config, DEFAULT_CONFIG_TOML, ProjectConfig};
use helpyap::server::App;
use helpyap_actors::Engine;
use tempfile::TempDir;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The demo project's push secret in the shipped config.toml.
pub const DEMO_SECRET: &str = "sp_demo_local_only_secret";
/// A second seeded project, to prove secrets do not cross projects.
pub const OTHER_SECRET: &str = "sp_other_project_secret_0123";

pub struct TestServer {
    pub addr: SocketAddr,
    pub engine: Engine,
    config: Config,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
    data_dir: TempDir,
}

/// The shipped config with a fresh data dir, port 0, and a second project `other`.
pub fn test_config(data_dir: &Path) -> Config {
    let mut config = Config::parse("test config", DEFAULT_CONFIG_TOML).unwrap();
    config.server.bind = "127.0.0.1:0".parse().unwrap();
    config.store.path = data_dir.to_owned();
    // The test must not depend on the environment it runs in.
    config.projects[0].push_secret_env = None;
    let mut other: ProjectConfig = config.projects[0].clone();
    other.slug = "other".into();
    other.name = "Other Bot".into();
    other.push_secret = Some(OTHER_SECRET.into());
    config.projects.push(other);
    // The demo help center, wherever the tests run from.
    config.projects[0].knowledge_dir =
        Some(concat!(env!("CARGO_MANIFEST_DIR"), "/knowledge/demo").into());
    config.projects[1].knowledge_dir = None;
    config
}

impl TestServer {
    pub async fn start() -> TestServer {
        TestServer::start_with(|_| {}).await
    }

    pub async fn start_with(edit: impl FnOnce(&mut Config)) -> TestServer {
        let data_dir = tempfile::tempdir().unwrap();
        let mut config = test_config(data_dir.path());
        edit(&mut config);
        config.validate().unwrap();
        TestServer::start_on(config, data_dir).await
    }

    /// Stops this server and starts a new one on the same data directory and config.
    pub async fn restart(mut self) -> TestServer {
        self.begin_shutdown();
        self.task.take().unwrap().await.unwrap().unwrap();
        let TestServer {
            config,
            data_dir,
            engine,
            ..
        } = self;
        drop(engine);
        TestServer::start_on(config, data_dir).await
    }

    async fn start_on(config: Config, data_dir: TempDir) -> TestServer {
        let app = App::build(&config).await.unwrap();
        let listener = app.bind(config.server.bind).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let engine = app.engine().clone();
        let (shutdown, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(app.serve(listener, async move {
            let _ = stopped.await;
        }));
        TestServer {
            addr,
            engine,
            config,
            shutdown: Some(shutdown),
            task: Some(task),
            data_dir,
        }
    }

    pub fn url(&self, path_and_query: &str) -> String {
        format!("http://{}{}", self.addr, path_and_query)
    }

    /// Signals shutdown without waiting for it.
    pub fn begin_shutdown(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }

    /// Signals shutdown and waits for `serve` to return.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.begin_shutdown();
        self.task.take().unwrap().await.unwrap()
    }
}

/// `GET path_and_query` as JSON.
pub async fn get_json(server: &TestServer, path_and_query: &str) -> serde_json::Value {
    client()
        .get(server.url(path_and_query))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// `GET /healthz` as JSON.
pub async fn health(server: &TestServer) -> serde_json::Value {
    get_json(server, "/healthz").await
}

/// Sends a request and reads its JSON answer, whatever the status.
pub async fn send_json(request: reqwest::RequestBuilder) -> serde_json::Value {
    request.send().await.unwrap().json().await.unwrap()
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

pub async fn push(server: &TestServer, secret: &str, body: serde_json::Value) -> reqwest::Response {
    client()
        .post(server.url("/api/widget/salespop-push"))
        .bearer_auth(secret)
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// Asserts the status and the `{"error": "<non-empty>"}` body, and returns the message.
pub async fn expect_error(response: reqwest::Response, status: u16) -> String {
    assert_eq!(response.status().as_u16(), status, "unexpected status");
    assert_eq!(response.headers()["content-type"], "application/json");
    let body: serde_json::Value = response.json().await.unwrap();
    let object = body.as_object().expect("error bodies are objects");
    assert_eq!(
        object.len(),
        1,
        "error bodies have exactly one field: {body}"
    );
    let message = object["error"]
        .as_str()
        .expect("error is a string")
        .to_owned();
    assert!(!message.is_empty());
    message
}

/// The real `helpyap` binary, killed when dropped.
pub struct Binary {
    pub child: Child,
    pub addr: SocketAddr,
}

impl Binary {
    /// Starts `helpyap ARGS` in `dir` and waits for its `listening on` line.
    pub fn start(dir: &Path, args: &[&str], envs: &[(&str, &str)]) -> Binary {
        let mut child = Command::new(env!("CARGO_BIN_EXE_helpyap"))
            .current_dir(dir)
            .args(args)
            .envs(envs.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        let addr = line
            .trim()
            .strip_prefix("listening on http://")
            .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
            .parse()
            .unwrap();
        Binary { child, addr }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Pushes `body` to the demo project and returns the answer's JSON, whatever the status.
    pub async fn push_demo(&self, body: serde_json::Value) -> serde_json::Value {
        send_json(
            client()
                .post(self.url("/api/widget/salespop-push"))
                .bearer_auth(DEMO_SECRET)
                .json(&body),
        )
        .await
    }

    /// SIGKILL: no shutdown code runs, nothing is flushed on the way out.
    pub fn kill_9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Writes `request` on a fresh connection and reads until the server closes it or 5 s pass.
pub async fn raw_exchange(addr: SocketAddr, request: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    // The server may answer early and close; a failed write is then expected.
    let _ = stream.write_all(request).await;
    let mut response = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut response)).await;
    String::from_utf8_lossy(&response).into_owned()
}
