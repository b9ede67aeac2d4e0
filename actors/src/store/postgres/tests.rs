//! The storage contract on a real PostgreSQL: one throw-away server per test binary (initdb
//! into a temporary directory, run as a non-root user, on a free port), a database per store.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use super::*;
use crate::store::Store;
use crate::store::contract::{Backend, storage_contract};

/// The server of this test binary; it stops when the binary exits.
struct Server {
    port: u16,
    /// The shell that runs the server and outlives this binary just long enough to stop it.
    _watchdog: std::process::Child,
}

static SERVER: OnceLock<Server> = OnceLock::new();
static DATABASES: AtomicUsize = AtomicUsize::new(0);

/// PostgreSQL refuses to run as root: as root, its programs run as this user.
const SERVER_USER: &str = "postgres";

fn bin_dir() -> PathBuf {
    let initdb = ["/usr/local/bin/initdb", "/usr/bin/initdb"]
        .iter()
        .map(PathBuf::from)
        .find(|path| path.exists());
    let found = initdb.and_then(|path| std::fs::canonicalize(path).ok());
    let found = found.or_else(|| {
        let versions = std::fs::read_dir("/usr/lib/postgresql").ok()?;
        let newest = versions
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .max()?;
        Some(newest.join("bin/initdb"))
    });
    found
        .and_then(|initdb| initdb.parent().map(PathBuf::from))
        .expect("PostgreSQL is not installed: apt-get install postgresql")
}

/// `program args…`, as the server user when we are root.
fn as_server_user(program: PathBuf, args: &[&str]) -> Command {
    let root = std::env::var("USER")
        .map(|user| user == "root")
        .unwrap_or(false)
        || Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|out| out.stdout.starts_with(b"0\n"));
    if root {
        let mut command = Command::new("runuser");
        command
            .args(["-u", SERVER_USER, "--"])
            .arg(program)
            .args(args);
        command
    } else {
        let mut command = Command::new(program);
        command.args(args);
        command
    }
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

fn server() -> &'static Server {
    SERVER.get_or_init(|| {
        let bin = bin_dir();
        let dir = std::env::temp_dir().join(format!("helpyap-pg-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        // As root, the server user must own its files; otherwise they are ours already.
        let mut chown = Command::new("chown");
        let _ = chown
            .arg(SERVER_USER)
            .arg(&dir)
            .stderr(Stdio::null())
            .status();
        let data = dir.join("data");
        let data_arg = data.to_str().unwrap().to_owned();
        let initdb = as_server_user(
            bin.join("initdb"),
            &["-D", &data_arg, "-A", "trust", "-U", "helpyap", "--no-sync"],
        )
        .stdout(Stdio::null())
        .status()
        .expect("initdb runs");
        assert!(initdb.success(), "initdb failed");
        let port = free_port();
        let postgres = bin.join("postgres");
        // A watchdog shell runs the server and stops it (and removes its files) once this
        // test binary has exited, whichever way it exits.
        let script = format!(
            "{postgres} -D {data} -p {port} -k {dir} -c listen_addresses=127.0.0.1 \
             -c fsync=off -c full_page_writes=off & pg=$!; \
             while [ -d /proc/{me} ] && kill -0 $pg 2>/dev/null; do sleep 0.2; done; \
             kill -INT $pg 2>/dev/null; wait $pg; rm -rf {dir}",
            postgres = postgres.display(),
            data = data_arg,
            dir = dir.display(),
            me = std::process::id(),
        );
        let watchdog = as_server_user(PathBuf::from("sh"), &["-c", &script])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the server starts");
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "PostgreSQL did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Server {
            port,
            _watchdog: watchdog,
        }
    })
}

/// A new, empty database on the test server; its URL.
pub(crate) async fn fresh_database() -> String {
    let port = server().port;
    let name = format!("store_{}", DATABASES.fetch_add(1, Ordering::Relaxed));
    let admin = format!("host=127.0.0.1 port={port} user=helpyap dbname=postgres");
    let deadline = Instant::now() + Duration::from_secs(30);
    let (client, connection) = loop {
        match tokio_postgres::connect(&admin, NoTls).await {
            Ok(connected) => break connected,
            // Accepting connections a moment before it takes logins.
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await
            }
            Err(error) => panic!("{error}"),
        }
    };
    tokio::spawn(connection);
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    format!("postgres://helpyap@127.0.0.1:{port}/{name}")
}

/// Stores in databases of the test server.
struct Postgres {
    /// Each store handed out (by address) and its database's URL.
    urls: Mutex<Vec<(usize, String)>>,
}

impl Postgres {
    fn new() -> Postgres {
        Postgres {
            urls: Mutex::default(),
        }
    }

    async fn open(&self, url: String) -> Store {
        let store: Store = Arc::new(PgStore::connect(&url).await.unwrap());
        let address = Arc::as_ptr(&store) as *const () as usize;
        self.urls.lock().unwrap().push((address, url));
        store
    }
}

#[async_trait::async_trait]
impl Backend for Postgres {
    async fn fresh(&self) -> Store {
        self.open(fresh_database().await).await
    }

    /// A process killed now leaves what was committed: every write that returned.
    async fn reopen(&self, store: Store) -> Store {
        let address = Arc::as_ptr(&store) as *const () as usize;
        let urls = self.urls.lock().unwrap().clone();
        let (_, url) = urls.iter().find(|(known, _)| *known == address).unwrap();
        drop(store);
        self.open(url.clone()).await
    }

    async fn restore(&self, _backup: Vec<u8>) -> Store {
        unreachable!("the backup check does not run on PostgreSQL yet")
    }
}

storage_contract!(Postgres::new());

#[tokio::test]
async fn a_newer_schema_is_refused_with_a_clear_message() {
    let url = fresh_database().await;
    drop(PgStore::connect(&url).await.unwrap());
    let (client, connection) = tokio_postgres::connect(&url, NoTls).await.unwrap();
    tokio::spawn(connection);
    client
        .execute("INSERT INTO schema_version (version) VALUES (99)", &[])
        .await
        .unwrap();
    let error = PgStore::connect(&url).await.err().expect("refused");
    let message = error.to_string();
    assert!(message.contains("schema 99, newer than"), "{message}");
}

#[tokio::test]
async fn a_bad_url_or_an_unreachable_server_is_a_clear_error() {
    let bad = PgStore::connect("not a url").await.err().expect("refused");
    assert!(bad.to_string().contains("not a PostgreSQL URL"), "{bad}");
    let port = free_port();
    let url = format!("postgres://helpyap:hunter2hunter2@127.0.0.1:{port}/none");
    let unreachable = PgStore::connect(&url).await.err().expect("refused");
    let message = unreachable.to_string();
    let place = format!("cannot open the store at database none on 127.0.0.1:{port}");
    assert!(message.starts_with(&place), "{message}");
    assert!(!message.contains("hunter2"), "no password in messages: {message}");
}

/// Two nodes' connections to one database: a session's lease is one node's at a time, free
/// again when released, and a dead node's lease (never released) expires.
#[tokio::test]
async fn answer_leases_are_one_at_a_time_across_nodes() {
    use crate::nodes::AnswerLeases;
    let url = fresh_database().await;
    let ttl = Duration::from_millis(300);
    let a = PgStore::connect(&url).await.unwrap().with_lease_ttl(ttl);
    let b = PgStore::connect(&url).await.unwrap().with_lease_ttl(ttl);
    let (session, other) = (Uuid::new_v4(), Uuid::new_v4());

    let held = a.acquire(session).await.unwrap().expect("free");
    assert!(
        b.acquire(session).await.unwrap().is_none(),
        "held by node a"
    );
    let elsewhere = b.acquire(other).await.unwrap();
    assert!(elsewhere.is_some(), "sessions are apart");
    drop(held);
    let deadline = Instant::now() + Duration::from_secs(5);
    let taken = loop {
        // The release runs on a task: a moment after the drop.
        if let Some(lease) = b.acquire(session).await.unwrap() {
            break lease;
        }
        assert!(
            Instant::now() < deadline,
            "the released lease never came free"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    // Held past its time to live, it is renewed: still node b's.
    tokio::time::sleep(ttl * 3).await;
    assert!(a.acquire(session).await.unwrap().is_none(), "renewed");
    assert!(taken.confirm().await);

    // Node b stalls: its lease expires and node a takes it; b's late answer is refused by its
    // token, and b's late release leaves a's lease alone.
    let mut stalled = taken;
    stalled.stall();
    tokio::time::sleep(ttl + Duration::from_millis(100)).await;
    let a_lease = a.acquire(session).await.unwrap().expect("expired");
    assert!(!stalled.confirm().await, "b's token no longer holds it");
    drop(stalled);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(b.acquire(session).await.unwrap().is_none(), "still a's");

    // Node a dies holding it: nobody renews or releases it, and after its time b may answer.
    let mut dead = a_lease;
    dead.stall();
    std::mem::forget(dead);
    assert!(b.acquire(session).await.unwrap().is_none(), "not yet expired");
    tokio::time::sleep(ttl + Duration::from_millis(100)).await;
    assert!(b.acquire(session).await.unwrap().is_some(), "expired");
}
