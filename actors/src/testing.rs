//! Throw-away PostgreSQL and Redis servers for tests: started on free ports by the test
//! itself, stopped with it. Only in test builds (`cfg(test)` or the `test-engines` feature).
//!
//! PostgreSQL refuses to run as root, so as root its programs run as the `postgres` user. A
//! watchdog shell outlives the test binary just long enough to stop the server and remove
//! its files, however the binary ends; nothing is left running.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio_postgres::NoTls;

/// As root, PostgreSQL's programs run as this user.
const SERVER_USER: &str = "postgres";

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// A PostgreSQL server of this test binary, which may be stopped and started again.
pub struct Postgres {
    port: u16,
    bin: PathBuf,
    dir: PathBuf,
    /// Server settings beyond the defaults, as `-c name=value` options.
    options: String,
    _watchdog: Child,
}

static SHARED: OnceLock<Postgres> = OnceLock::new();
static SERVERS: AtomicUsize = AtomicUsize::new(0);
static DATABASES: AtomicUsize = AtomicUsize::new(0);

impl Postgres {
    /// The server every test of this binary shares (a database each): started once.
    pub fn shared() -> &'static Postgres {
        SHARED.get_or_init(Postgres::start)
    }

    /// A server of its own, for a test that stops it.
    pub fn start() -> Postgres {
        Postgres::start_with(|_| String::new())
    }

    /// A server of its own that takes TLS connections with this certificate and key (PEM).
    pub fn start_with_tls(certificate: &str, key: &str) -> Postgres {
        Postgres::start_with(|dir| {
            let (cert_path, key_path) = (dir.join("server.crt"), dir.join("server.key"));
            std::fs::write(&cert_path, certificate).unwrap();
            std::fs::write(&key_path, key).unwrap();
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&key_path, std::fs::Permissions::from_mode(0o600)).unwrap();
            for file in [&cert_path, &key_path] {
                let _ = Command::new("chown").arg(SERVER_USER).arg(file).status();
            }
            format!(
                "-c ssl=on -c ssl_cert_file={} -c ssl_key_file={}",
                cert_path.display(),
                key_path.display()
            )
        })
    }

    /// A server of its own with the options `options` returns, given the server's directory.
    fn start_with(options: impl FnOnce(&Path) -> String) -> Postgres {
        let bin = bin_dir();
        let serial = SERVERS.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("helpyap-pg-{}-{serial}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        // As root, the server user must own its files; otherwise they are ours already.
        let _ = Command::new("chown")
            .arg(SERVER_USER)
            .arg(&dir)
            .stderr(Stdio::null())
            .status();
        let data = dir.join("data");
        let initdb = as_server_user(
            &bin.join("initdb"),
            &[
                "-D",
                path(&data),
                "-A",
                "trust",
                "-U",
                "helpyap",
                "--no-sync",
            ],
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("initdb runs");
        assert!(initdb.success(), "initdb failed");
        // Stops the server and removes its files once this test binary has exited.
        let script = format!(
            "while [ -d /proc/{me} ]; do sleep 0.2; done; \
             {pg_ctl} -D {data} stop -m immediate >/dev/null 2>&1; rm -rf {dir}",
            me = std::process::id(),
            pg_ctl = bin.join("pg_ctl").display(),
            data = data.display(),
            dir = dir.display(),
        );
        let watchdog = as_server_user(Path::new("sh"), &["-c", &script])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the watchdog starts");
        let options = options(&dir);
        let server = Postgres {
            port: free_port(),
            bin,
            dir,
            options,
            _watchdog: watchdog,
        };
        server.resume();
        server
    }

    /// The server's main process (its connections' processes are its children).
    pub fn postmaster_pid(&self) -> u32 {
        let pid_file = std::fs::read_to_string(self.dir.join("data/postmaster.pid")).unwrap();
        pid_file.lines().next().unwrap().trim().parse().unwrap()
    }

    /// Stops the server (fast shutdown: connections are cut).
    pub fn stop(&self) {
        let data = self.dir.join("data");
        let stopped = as_server_user(
            &self.bin.join("pg_ctl"),
            &["-D", path(&data), "stop", "-m", "fast", "-w"],
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("pg_ctl runs");
        assert!(stopped.success(), "PostgreSQL did not stop");
    }

    /// Starts the server (again) on its port and waits until it takes connections.
    pub fn resume(&self) {
        let data = self.dir.join("data");
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off \
             -c max_connections=300 {}",
            self.port,
            self.dir.display(),
            self.options
        );
        let log = self.dir.join("log");
        let started = as_server_user(
            &self.bin.join("pg_ctl"),
            &[
                "-D",
                path(&data),
                "-l",
                path(&log),
                "-o",
                &options,
                "start",
                "-w",
            ],
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("pg_ctl runs");
        assert!(started.success(), "PostgreSQL did not start");
    }

    /// A new, empty database on this server; its URL.
    pub async fn database(&self) -> String {
        let name = format!("test_{}", DATABASES.fetch_add(1, Ordering::Relaxed));
        let admin = format!(
            "host=127.0.0.1 port={} user=helpyap dbname=postgres",
            self.port
        );
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
        // CREATE DATABASE copies template1 and fails while another copy of it is under way:
        // one at a time in this binary, retried should anything else touch template1.
        static CREATING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
        let _one_at_a_time = CREATING.lock().await;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match client
                .batch_execute(&format!("CREATE DATABASE {name}"))
                .await
            {
                Ok(()) => break,
                Err(_) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(50)).await
                }
                Err(error) => panic!("CREATE DATABASE {name}: {error}"),
            }
        }
        format!("postgres://helpyap@127.0.0.1:{}/{name}", self.port)
    }
}

/// A redis-server of this test, stopped when dropped (or, for the shared one, when the test
/// binary exits).
pub struct Redis {
    port: u16,
    child: Child,
    watchdog: Child,
}

static SHARED_REDIS: OnceLock<Redis> = OnceLock::new();

impl Redis {
    /// The redis-server every test of this binary shares: started once. Clusters on it keep
    /// apart by their id.
    pub fn shared() -> &'static Redis {
        SHARED_REDIS.get_or_init(|| Redis::start(free_port()))
    }

    /// Starts redis-server on `port` (keeping nothing on disk) and waits until it listens.
    pub fn start(port: u16) -> Redis {
        Redis::start_with(port, &["--port", &port.to_string()])
    }

    /// Starts redis-server taking only TLS connections on `port`, with this certificate and
    /// key (files).
    pub fn start_with_tls(port: u16, certificate: &Path, key: &Path) -> Redis {
        let args = [
            "--port",
            "0",
            "--tls-port",
            &port.to_string(),
            "--tls-cert-file",
            path(certificate),
            "--tls-key-file",
            path(key),
            "--tls-auth-clients",
            "no",
        ];
        Redis::start_with(port, &args)
    }

    fn start_with(port: u16, args: &[&str]) -> Redis {
        let child = Command::new("redis-server")
            .args(args)
            .args(["--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is installed: apt-get install redis-server");
        // Stops it once this test binary has exited, should nothing else.
        let script = format!(
            "while [ -d /proc/{me} ]; do sleep 0.2; done; \
             grep -q redis-server /proc/{redis}/cmdline 2>/dev/null && kill {redis}",
            me = std::process::id(),
            redis = child.id(),
        );
        let watchdog = Command::new("sh")
            .args(["-c", &script])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the watchdog starts");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Redis {
            port,
            child,
            watchdog,
        }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        for child in [&mut self.child, &mut self.watchdog] {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn path(path: &Path) -> &str {
    path.to_str().expect("temporary paths are UTF-8")
}

/// The directory of PostgreSQL's programs.
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
fn as_server_user(program: &Path, args: &[&str]) -> Command {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| out.stdout.starts_with(b"0\n"));
    let mut command = if root {
        let mut command = Command::new("runuser");
        command.args(["-u", SERVER_USER, "--"]).arg(program);
        command
    } else {
        Command::new(program)
    };
    command.args(args);
    command
}

/// Marks the sled store in `dir` as written with `schema` (a store of another release).
pub fn mark_sled_schema(dir: &Path, schema: u64) {
    // A store just closed is released by sled's threads a moment later.
    let deadline = Instant::now() + Duration::from_secs(5);
    let db = loop {
        match sled::open(dir) {
            Ok(db) => break db,
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            Err(error) => panic!("{error}"),
        }
    };
    db.insert(b"schema_version", &schema.to_be_bytes()).unwrap();
    db.flush().unwrap();
}
