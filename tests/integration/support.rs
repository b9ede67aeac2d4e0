//! Test support: start and stop in-process servers and the real binary, call them as a signed-in
//! user or anonymously, and assert on answers and errors.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use helpyap::config::{ClusterConfig, Config, DEFAULT_CONFIG_TOML, ProjectConfig};
use helpyap::server::App;
use helpyap_actors::Engine;
use helpyap_actors::records::Role;
use helpyap_actors::testing::{Postgres, Redis};
use reqwest::Method;
use serde_json::{Value, json};
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

/// Whether this test run puts its servers in cluster mode (`HELPYAP_TEST_MODE=cluster`).
pub fn cluster_mode() -> bool {
    match std::env::var("HELPYAP_TEST_MODE").as_deref() {
        Err(_) | Ok("embedded") => false,
        Ok("cluster") => true,
        Ok(other) => panic!("HELPYAP_TEST_MODE is \"embedded\" or \"cluster\", not {other:?}"),
    }
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

    /// A server with the test config as `edit` leaves it, in the mode the test run asks for:
    /// with `HELPYAP_TEST_MODE=cluster`, a node on a database of its own on the test binary's
    /// PostgreSQL and on its Redis; otherwise on its own sled store.
    pub async fn start_with(edit: impl FnOnce(&mut Config)) -> TestServer {
        let data_dir = tempfile::tempdir().unwrap();
        let mut config = test_config(data_dir.path());
        if cluster_mode() {
            config.cluster = Some(ClusterConfig {
                postgres_url: Postgres::shared().database().await,
                redis_url: Redis::shared().url(),
                ..ClusterConfig::default()
            });
        }
        edit(&mut config);
        config.validate().unwrap();
        TestServer::start_on(config, data_dir).await
    }

    /// A server on its own sled store whatever the test run's mode, for what only a single
    /// node has (its data directory, the backup download).
    pub async fn start_embedded_with(edit: impl FnOnce(&mut Config)) -> TestServer {
        TestServer::start_in(tempfile::tempdir().unwrap(), edit).await
    }

    /// A server on the store in `data_dir` (say, one restored from a backup).
    pub async fn start_in(data_dir: TempDir, edit: impl FnOnce(&mut Config)) -> TestServer {
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

    /// Stops the server and hands over its data directory, store and all.
    pub async fn stop_keeping_data(mut self) -> TempDir {
        self.begin_shutdown();
        self.task.take().unwrap().await.unwrap().unwrap();
        self.data_dir
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

/// How many events project "demo" has stored.
pub async fn stored_events(server: &TestServer) -> usize {
    let events = server.engine.projects.events_after("demo", 0).await;
    events.unwrap().len()
}

/// `GET /healthz` as JSON.
pub async fn health(server: &TestServer) -> serde_json::Value {
    get_json(server, "/healthz").await
}

/// Sends a request and reads its JSON answer, whatever the status.
/// `GET /api/widget/session` of the demo project, as the visitor holding `token` sees it.
pub async fn visitor_session(
    server: &TestServer,
    session: uuid::Uuid,
    token: &str,
) -> serde_json::Value {
    let url = server.url(&format!(
        "/api/widget/session?project=demo&sessionId={session}"
    ));
    send_json(client().get(url).header("x-session-token", token)).await
}

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
    assert!(status >= 400, "{status} is no error status");
    let body = expect_answer(response, status, "the request").await;
    body["error"].as_str().unwrap().to_owned()
}

/// Reads `response` to the end and asserts its status; a body is JSON, or `Value::Null` when
/// empty. Error bodies (400 and up) must be `{"error": "<non-empty>"}` served as JSON.
async fn expect_answer(response: reqwest::Response, status: u16, what: &str) -> Value {
    let actual = response.status().as_u16();
    let content_type = response.headers().get("content-type").cloned();
    let bytes = response.bytes().await.unwrap();
    let text = String::from_utf8_lossy(&bytes);
    assert_eq!(actual, status, "{what}: unexpected status; body: {text}");
    if bytes.is_empty() && status < 400 {
        return Value::Null;
    }
    let body: Value = serde_json::from_slice(&bytes)
        .unwrap_or_else(|error| panic!("{what}: the body is not JSON ({error}): {text}"));
    if status >= 400 {
        assert_eq!(
            content_type.as_ref().map(|value| value.to_str().unwrap()),
            Some("application/json"),
            "{what}: error bodies are JSON"
        );
        let object = body.as_object().expect("error bodies are objects");
        assert_eq!(
            object.len(),
            1,
            "error bodies have exactly one field: {body}"
        );
        let message = object["error"].as_str().expect("error is a string");
        assert!(!message.is_empty());
    }
    body
}

/// The password of every user `TestServer::as_user` creates.
pub const PASSWORD: &str = "correct horse battery";

/// Who calls the admin API: the tests' users, each signed in, and the anonymous caller.
impl TestServer {
    /// Creates `email` (a site admin or not, with `role` on `demo` if any) and signs it in.
    pub async fn as_user(&self, email: &str, admin: bool, role: Option<Role>) -> Caller {
        let user = self
            .engine
            .accounts
            .add_user(email, PASSWORD.into(), admin)
            .await
            .unwrap();
        if let Some(role) = role {
            self.engine
                .accounts
                .grant(user.id, "demo", Some(role))
                .await
                .unwrap();
        }
        self.sign_in(email).await
    }

    /// A new site admin (admins own every project).
    pub async fn admin(&self, email: &str) -> Caller {
        self.as_user(email, true, None).await
    }

    /// A new owner of `demo`.
    pub async fn owner(&self, email: &str) -> Caller {
        self.as_user(email, false, Some(Role::Owner)).await
    }

    /// A new agent of `demo`.
    pub async fn agent(&self, email: &str) -> Caller {
        self.as_user(email, false, Some(Role::Agent)).await
    }

    /// A new user with no role anywhere.
    pub async fn user(&self, email: &str) -> Caller {
        self.as_user(email, false, None).await
    }

    /// Signs an existing user in with [`PASSWORD`].
    pub async fn sign_in(&self, email: &str) -> Caller {
        self.sign_in_with(email, PASSWORD).await
    }

    /// Signs an existing user in with `password`.
    pub async fn sign_in_with(&self, email: &str, password: &str) -> Caller {
        let tokens = self
            .anonymous()
            .post(
                "/api/admin/auth/login",
                json!({ "email": email, "password": password }),
            )
            .expect(200)
            .await;
        Caller {
            base: self.url(""),
            token: Some(tokens["accessToken"].as_str().unwrap().to_owned()),
        }
    }

    /// A caller without a token.
    pub fn anonymous(&self) -> Caller {
        Caller {
            base: self.url(""),
            token: None,
        }
    }

    /// A caller presenting `token`, whatever it is (say, a forged one).
    pub fn with_token(&self, token: &str) -> Caller {
        Caller {
            base: self.url(""),
            token: Some(token.to_owned()),
        }
    }
}

/// One caller of a server: its access token, if signed in, goes with every request.
#[derive(Clone, Debug)]
pub struct Caller {
    base: String,
    token: Option<String>,
}

impl Caller {
    /// A caller of the server at `base` presenting `token`.
    pub fn new(base: &str, token: &str) -> Caller {
        Caller {
            base: base.trim_end_matches('/').to_owned(),
            token: Some(token.to_owned()),
        }
    }

    /// The access token it sends.
    pub fn token(&self) -> &str {
        self.token.as_deref().expect("a signed-in caller")
    }

    /// The same caller, token and all, calling `server` instead (another node of a cluster).
    pub fn on(&self, server: &TestServer) -> Caller {
        Caller {
            base: server.url(""),
            token: self.token.clone(),
        }
    }

    pub fn get(&self, path: &str) -> Call {
        self.request(Method::GET, path, None)
    }

    /// `body` is sent as JSON; `None` sends no body.
    pub fn post(&self, path: &str, body: impl Into<Option<Value>>) -> Call {
        self.request(Method::POST, path, body)
    }

    /// `body` is sent as JSON; `None` sends no body.
    pub fn put(&self, path: &str, body: impl Into<Option<Value>>) -> Call {
        self.request(Method::PUT, path, body)
    }

    /// `body` is sent as JSON; `None` sends no body.
    pub fn patch(&self, path: &str, body: impl Into<Option<Value>>) -> Call {
        self.request(Method::PATCH, path, body)
    }

    pub fn delete(&self, path: &str) -> Call {
        self.request(Method::DELETE, path, None)
    }

    /// Any method; `body` is sent as JSON, `None` sends no body.
    pub fn request(&self, method: Method, path: &str, body: impl Into<Option<Value>>) -> Call {
        let what = format!("{method} {path}");
        let mut request = client().request(method, format!("{}{path}", self.base));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body.into() {
            request = request.json(&body);
        }
        Call { request, what }
    }
}

/// A request about to be sent.
pub struct Call {
    request: reqwest::RequestBuilder,
    /// `METHOD path`, for failure messages.
    what: String,
}

impl Call {
    pub fn header(mut self, name: &str, value: &str) -> Call {
        self.request = self.request.header(name, value);
        self
    }

    pub async fn send(self) -> reqwest::Response {
        self.request.send().await.unwrap()
    }

    /// Sends, asserts the status, and returns the JSON body (`Value::Null` when empty). Error
    /// statuses (400 and up) must come with a `{"error": "<non-empty>"}` body.
    pub async fn expect(self, status: u16) -> Value {
        let what = self.what.clone();
        expect_answer(self.send().await, status, &what).await
    }

    /// Like `expect` for an error status; returns the error message.
    pub async fn expect_error(self, status: u16) -> String {
        assert!(status >= 400, "{status} is no error status");
        let body = self.expect(status).await;
        body["error"].as_str().unwrap().to_owned()
    }
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
            .stderr(Binary::log_file(dir))
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        let addr = line
            .trim()
            .strip_prefix("listening on http://")
            .or_else(|| line.trim().strip_prefix("listening on https://"))
            .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
            .parse()
            .unwrap();
        Binary { child, addr }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Where the binaries started in `dir` write their log (stderr), one after another.
    pub fn log_path(dir: &Path) -> std::path::PathBuf {
        dir.join("helpyap.log")
    }

    fn log_file(dir: &Path) -> std::fs::File {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(Binary::log_path(dir))
            .unwrap()
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

    /// `GET path` as JSON.
    pub async fn get_json(&self, path: &str) -> serde_json::Value {
        send_json(client().get(self.url(path))).await
    }

    /// Starts `helpyap --bind 127.0.0.1:0 --config CONFIG` in `dir`.
    pub fn start_with_config(dir: &Path, config: &Path) -> Binary {
        let config = config.to_str().unwrap();
        Binary::start(dir, &["--bind", "127.0.0.1:0", "--config", config], &[])
    }

    /// SIGHUP: reload the config file and the TLS certificate.
    pub fn hangup(&self) {
        let sent = Command::new("kill")
            .args(["-HUP", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
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

/// nginx in the foreground as our child, with its own prefix directory; stopped when dropped
/// (or, should this test binary die first, by a watchdog shell).
pub struct Nginx {
    child: Child,
    watchdog: Child,
    pub addr: SocketAddr,
    _prefix: TempDir,
}

impl Nginx {
    /// Starts nginx on a free port with `http` as its http {} block (`{listen}` in it becomes
    /// the address to listen on) and waits until it accepts connections.
    pub fn start(http: &str) -> Nginx {
        let prefix = tempfile::tempdir().unwrap();
        let port = helpyap_actors::testing::free_port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let dir = prefix.path().display().to_string();
        let http = http.replace("{listen}", &addr.to_string());
        let conf = format!(
            "daemon off;\nworker_processes 1;\npid {dir}/nginx.pid;\nerror_log {dir}/error.log warn;\n\
             events {{ worker_connections 1024; }}\n\
             http {{\n access_log off;\n client_body_temp_path {dir}/body;\n proxy_temp_path {dir}/proxy;\n \
             fastcgi_temp_path {dir}/fcgi;\n uwsgi_temp_path {dir}/uwsgi;\n scgi_temp_path {dir}/scgi;\n\
             {http}\n}}\n"
        );
        let conf_path = prefix.path().join("nginx.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let program = ["/usr/sbin/nginx", "/usr/bin/nginx"]
            .into_iter()
            .find(|path| Path::new(path).exists())
            .unwrap_or("nginx");
        let child = Command::new(program)
            .arg("-c")
            .arg(&conf_path)
            .arg("-p")
            .arg(prefix.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nginx is installed: apt-get install nginx-light");
        let watchdog = watchdog(&child, "nginx");
        let nginx = Nginx {
            child,
            watchdog,
            addr,
            _prefix: prefix,
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(addr).is_err() {
            let log = std::fs::read_to_string(format!("{dir}/error.log")).unwrap_or_default();
            assert!(
                std::time::Instant::now() < deadline,
                "nginx did not start: {log}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        nginx
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGTERM: the master stops its workers too (SIGKILL would orphan them).
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
        let _ = self.watchdog.kill();
        let _ = self.watchdog.wait();
    }
}

/// A throw-away CA and a certificate for 127.0.0.1 it signed: `ca.crt`, `server.crt`,
/// `server.key` in the returned directory.
pub fn test_certificates() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    let steps: [&[&str]; 3] = [
        &[
            &["req", "-x509"][..],
            &ec,
            &[
                "-keyout",
                "ca.key",
                "-out",
                "ca.crt",
                "-days",
                "2",
                "-subj",
                "/CN=HelpYap test CA",
            ],
            &["-addext", "basicConstraints=critical,CA:TRUE"],
            &["-addext", "keyUsage=critical,keyCertSign,cRLSign"],
        ]
        .concat(),
        &[
            &["req"][..],
            &ec,
            &[
                "-keyout",
                "server.key",
                "-out",
                "server.csr",
                "-subj",
                "/CN=127.0.0.1",
            ],
        ]
        .concat(),
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.crt",
            "-days",
            "2",
            "-extfile",
            "server.ext",
        ],
    ];
    std::fs::write(
        dir.path().join("server.ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    for args in steps {
        let status = std::process::Command::new("openssl")
            .args(args)
            .current_dir(dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .expect("openssl is installed");
        assert!(status.success(), "openssl {args:?}");
    }
    dir
}

/// Caddy in the foreground as our child, with `caddyfile` (its `{listen}` and certificate paths
/// filled in by the caller), its state in a temporary directory; stopped when dropped.
pub struct Caddy {
    child: Child,
    watchdog: Child,
    _home: TempDir,
}

impl Caddy {
    /// Starts `caddy run` with `caddyfile` and waits until it accepts connections on `addr`.
    pub fn start(caddyfile: &str, addr: SocketAddr) -> Caddy {
        let home = tempfile::tempdir().unwrap();
        let path = home.path().join("Caddyfile");
        std::fs::write(&path, caddyfile).unwrap();
        let child = Command::new("caddy")
            .args(["run", "--adapter", "caddyfile", "--config"])
            .arg(&path)
            .env("HOME", home.path())
            .env("XDG_DATA_HOME", home.path())
            .env("XDG_CONFIG_HOME", home.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("caddy is installed: apt-get install caddy");
        let watchdog = watchdog(&child, "caddy");
        let caddy = Caddy {
            child,
            watchdog,
            _home: home,
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(addr).is_err() {
            assert!(std::time::Instant::now() < deadline, "caddy did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        caddy
    }
}

impl Drop for Caddy {
    fn drop(&mut self) {
        for child in [&mut self.child, &mut self.watchdog] {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A shell that stops `child` (SIGTERM) once this test binary has exited, should nothing
/// else; `name` guards against a reused process id.
fn watchdog(child: &Child, name: &str) -> Child {
    let script = format!(
        "while [ -d /proc/{me} ]; do sleep 0.2; done; \
         grep -q {name} /proc/{pid}/cmdline 2>/dev/null && kill {pid}",
        me = std::process::id(),
        pid = child.id(),
    );
    Command::new("sh")
        .args(["-c", &script])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Posts `body` to the widget beacon at `path` for `project` as `navigator.sendBeacon` sends
/// it: a string, text/plain, no preflight.
pub async fn beacon(
    server: &TestServer,
    path: &str,
    project: &str,
    body: Value,
) -> reqwest::Response {
    client()
        .post(server.url(&format!("{path}?project={project}")))
        .header("content-type", "text/plain;charset=UTF-8")
        .body(body.to_string())
        .send()
        .await
        .unwrap()
}

/// The demo project's analytics for today, read until `ready` holds (counts reach the store at
/// once on a node of its own, at the next check in a cluster) or 20 s have passed; the last
/// reading either way, for the caller's assertions.
pub async fn todays_analytics_once(owner: &Caller, ready: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let analytics = owner
            .get("/api/admin/projects/demo/analytics?days=1")
            .expect(200)
            .await;
        if ready(&analytics) || tokio::time::Instant::now() > deadline {
            return analytics;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
