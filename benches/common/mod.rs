//! What the load benchmarks share: where their processes run (the server under test pinned to
//! a core of its own), rounds with a warm-up, the real `helpyap` binary as a child process and
//! its config, nginx as a peer, and readings of a process's memory and CPU from `/proc`.

#![allow(dead_code)] // each benchmark uses its own part

pub mod subscribers;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::LazyLock;
use std::time::Duration;

/// Where a load benchmark's processes run, from `HELPYAP_BENCH_PIN`.
///
/// Pinned (`1`, the default, on a machine with two CPUs or more): the server under test — ours
/// and the baseline alike — on the first CPU this process may use, started there so that its
/// runtime sizes itself to that one core; this process (the load generator) and the helpers it
/// starts (a fake upstream) on the others. The load then never takes the server's core, and
/// every server is measured on the same one core. `0`: every process on every CPU.
///
/// Only a benchmark that pins its load generator (or its own servers) pins the servers it starts:
/// one whose servers share the machine by design (several cluster nodes) starts them unpinned.
pub struct Placement {
    /// (server CPUs, load CPUs) when pinned.
    pinned: Option<(Vec<usize>, Vec<usize>)>,
    /// Whether this benchmark placed itself, so that the servers it starts go to their core.
    placed: std::sync::atomic::AtomicBool,
}

pub static PLACEMENT: LazyLock<Placement> = LazyLock::new(|| {
    let cpus = allowed_cpus();
    let pinned = knob("HELPYAP_BENCH_PIN", "1") != "0" && cpus.len() >= 2;
    Placement {
        pinned: pinned.then(|| (cpus[..1].to_vec(), cpus[1..].to_vec())),
        placed: false.into(),
    }
});

impl Placement {
    /// Pins the calling thread, and every thread and child it starts after, to the load CPUs:
    /// the first thing a benchmark's `main` does.
    pub fn pin_load_generator(&self) {
        if let Some((_, load)) = &self.pinned {
            set_affinity(load).expect("pinning the load generator");
            self.placed
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// Pins the calling thread, and the threads it starts after, to the server's CPU: for a
    /// benchmark whose servers run in its own process.
    pub fn pin_server_here(&self) {
        if let Some((server, _)) = &self.pinned {
            set_affinity(server).expect("pinning the server");
            self.placed
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// Makes the process `command` starts (and its children) run on the server's CPU, when
    /// this benchmark placed its load generator.
    pub fn pin_server(&self, command: &mut Command) {
        if !self.placed.load(std::sync::atomic::Ordering::Relaxed) {
            return;
        }
        if let Some((server, _)) = &self.pinned {
            let server = server.clone();
            // SAFETY: sched_setaffinity only changes the child's own CPU mask.
            unsafe {
                command.pre_exec(move || set_affinity(&server));
            }
        }
    }

    /// Makes the process `command` starts run on the load CPUs (a load generator of its own,
    /// such as wrk, started by a benchmark whose own threads are the server's).
    pub fn pin_load(&self, command: &mut Command) {
        if let Some((_, load)) = &self.pinned {
            let load = load.clone();
            // SAFETY: as in `pin_server`.
            unsafe {
                command.pre_exec(move || set_affinity(&load));
            }
        }
    }

    /// How many CPUs a server started now may use (for a server told its worker count, such
    /// as nginx's `worker_processes`).
    pub fn server_cpus(&self) -> usize {
        match &self.pinned {
            Some((server, _)) if self.placed.load(std::sync::atomic::Ordering::Relaxed) => {
                server.len()
            }
            _ => allowed_cpus().len().max(1),
        }
    }

    pub fn describe(&self) -> String {
        match &self.pinned {
            Some((server, load)) => {
                format!("pinned: server on CPU {server:?}, load generator on CPUs {load:?}")
            }
            None => "unpinned: every process on every CPU".to_owned(),
        }
    }
}

/// The CPUs this process may run on.
fn allowed_cpus() -> Vec<usize> {
    // SAFETY: an all-zero cpu_set_t is a valid empty set; sched_getaffinity fills it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return Vec::new();
        }
        (0..libc::CPU_SETSIZE as usize)
            .filter(|&cpu| libc::CPU_ISSET(cpu, &set))
            .collect()
    }
}

/// Restricts the calling thread to `cpus`.
fn set_affinity(cpus: &[usize]) -> std::io::Result<()> {
    // SAFETY: as in `allowed_cpus`; CPU_SET only writes inside the set.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        for &cpu in cpus {
            libc::CPU_SET(cpu, &mut set);
        }
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Runs `measure(entry)` for each of `entries` entries in `rounds` rounds, after one warm-up
/// round whose results are dropped (`HELPYAP_BENCH_WARMUP=0`: none), the entries taking turns
/// going first, as the machine is shared and noisy. Returns each entry's results, in entry
/// order.
pub fn in_rounds<R>(
    entries: usize,
    rounds: usize,
    mut measure: impl FnMut(usize, usize) -> R,
) -> Vec<Vec<R>> {
    let warmup = usize::from(knob("HELPYAP_BENCH_WARMUP", "1") != "0");
    let mut results: Vec<Vec<R>> = (0..entries).map(|_| Vec::new()).collect();
    for round in 0..warmup + rounds {
        for offset in 0..entries {
            let entry = (round + offset) % entries;
            let result = measure(entry, round);
            if round >= warmup {
                results[entry].push(result);
            }
        }
    }
    results
}

/// The median of `values` (the upper one of an even count).
pub fn median(values: impl IntoIterator<Item = f64>) -> f64 {
    let mut values: Vec<f64> = values.into_iter().collect();
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

/// helpyap's config for a benchmark, written by [`Server::start`] into the data directory with
/// `store.path` pointing there.
///
/// Always: bound to `127.0.0.1:0`, warnings only, no per-IP connection or stream cap (every
/// load client is 127.0.0.1), and one project `demo`. The rest is what each benchmark sets.
#[derive(Clone, Debug)]
pub struct ServerConfig(toml::Table);

impl ServerConfig {
    /// The settings every benchmark shares, with the demo project named `project_name`.
    pub fn new(project_name: &str) -> ServerConfig {
        let mut project = toml::Table::new();
        project.insert("slug".into(), "demo".into());
        project.insert("name".into(), project_name.into());
        let mut root = toml::Table::new();
        root.insert("projects".into(), vec![project].into());
        ServerConfig(root)
            .set("server", "bind", "127.0.0.1:0")
            .set("server", "log_level", "warn")
            .set("server", "max_connections_per_ip", 0)
            .set("server", "max_streams_per_ip", 0)
    }

    /// Rate-limit class `class` (`chat`, `push`, `widget`…) at `requests` per 60 s window.
    pub fn rate_limit(self, class: &str, requests: u32) -> ServerConfig {
        let mut limit = toml::Table::new();
        limit.insert("requests".into(), requests.into());
        limit.insert("window".into(), "60s".into());
        self.set("rate_limits", class, limit)
    }

    /// `key = value` in the section `[section]`.
    pub fn set(mut self, section: &str, key: &str, value: impl Into<toml::Value>) -> ServerConfig {
        let table = self
            .0
            .entry(section)
            .or_insert_with(|| toml::Table::new().into())
            .as_table_mut()
            .unwrap_or_else(|| panic!("{section} is not a section"));
        table.insert(key.into(), value.into());
        self
    }

    /// More projects beside `demo`, each a `[[projects]]` table.
    pub fn more_projects(
        mut self,
        projects: impl IntoIterator<Item = toml::Table>,
    ) -> ServerConfig {
        let list = self.0["projects"].as_array_mut().unwrap();
        list.extend(projects.into_iter().map(toml::Value::from));
        self
    }

    /// `key = value` in the demo project.
    pub fn project(mut self, key: &str, value: impl Into<toml::Value>) -> ServerConfig {
        let project = self.0["projects"][0].as_table_mut().unwrap();
        project.insert(key.into(), value.into());
        self
    }

    /// Writes `DATA_DIR/config.toml`, with the store in `DATA_DIR/store`, and returns its path.
    pub fn write(&self, data_dir: &Path) -> PathBuf {
        let store = data_dir.join("store");
        let config = self.clone().set("store", "path", store.to_str().unwrap());
        let path = data_dir.join("config.toml");
        std::fs::write(&path, config.0.to_string()).unwrap();
        path
    }
}

/// The real `helpyap` binary with the given config.
pub struct Server {
    child: Child,
    pub addr: SocketAddr,
}

impl Server {
    pub fn start(config: &ServerConfig, data_dir: &Path) -> Server {
        Server::start_wrapped(config, data_dir, &[])
    }

    /// Like `start`, with the binary run by `wrapper` (e.g. `heaptrack -o FILE`), which must
    /// pass stdout through.
    pub fn start_wrapped(config: &ServerConfig, data_dir: &Path, wrapper: &[&str]) -> Server {
        let config_path = config.write(data_dir);
        let binary = env!("CARGO_BIN_EXE_helpyap");
        let mut command = match wrapper.split_first() {
            Some((program, args)) => {
                let mut command = Command::new(program);
                command.args(args).arg(binary);
                command
            }
            None => Command::new(binary),
        };
        command
            .args(["serve", "--config", config_path.to_str().unwrap()])
            .stdout(Stdio::piped());
        // A killed benchmark never leaves its server running.
        dies_with_us(&mut command, libc::SIGKILL);
        PLACEMENT.pin_server(&mut command);
        let mut child = command.spawn().unwrap();
        let addr = announced_addr(&mut child, "listening on http://");
        Server { child, addr }
    }

    /// The server's process: the child, or under a wrapper the descendant running the binary.
    pub fn pid(&self) -> u32 {
        let mut pending = vec![self.child.id()];
        while let Some(pid) = pending.pop() {
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            if comm.trim() == "helpyap" {
                return pid;
            }
            let children = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
                .unwrap_or_default();
            pending.extend(
                children
                    .split_whitespace()
                    .filter_map(|c| c.parse::<u32>().ok()),
            );
        }
        self.child.id()
    }
}

/// Makes the child started by `command` receive `signal` when this process dies.
pub fn dies_with_us(command: &mut Command, signal: libc::c_int) {
    // SAFETY: prctl only sets the child's parent-death signal.
    unsafe {
        command.pre_exec(move || {
            libc::prctl(libc::PR_SET_PDEATHSIG, signal);
            Ok(())
        });
    }
}

/// The address a child prints on its piped stdout as a line `{prefix}ADDR`, lines before it
/// skipped; panics if it exits first.
pub fn announced_addr(child: &mut Child, prefix: &str) -> SocketAddr {
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout piped"));
    loop {
        let mut line = String::new();
        assert!(
            stdout.read_line(&mut line).unwrap() > 0,
            "the child exited before printing {prefix:?}"
        );
        if let Some(addr) = line.trim().strip_prefix(prefix) {
            return addr.parse().unwrap();
        }
    }
}

/// nginx in the foreground as our child, with its own prefix directory; stopped when dropped.
pub struct Nginx {
    child: Child,
}

impl Nginx {
    /// Starts nginx with `conf` and waits until it accepts connections on `addr`.
    pub fn start(conf: &Path, prefix: &Path, addr: &str) -> Nginx {
        std::fs::create_dir_all(prefix.join("tmp")).unwrap();
        let mut command = Command::new("nginx");
        command.arg("-c").arg(conf).arg("-p").arg(prefix);
        // SIGTERM: the master then stops its workers too.
        dies_with_us(&mut command, libc::SIGTERM);
        PLACEMENT.pin_server(&mut command);
        // Owned at once, so a failed start still stops it.
        let nginx = Nginx {
            child: command
                .spawn()
                .expect("starting nginx: apt-get install nginx-light"),
        };
        for _ in 0..100 {
            if std::net::TcpStream::connect(addr).is_ok() {
                return nginx;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("nginx did not start listening on {addr}");
    }

    /// The master and its workers, once the workers have started.
    pub fn pids(&self) -> Vec<u32> {
        let master = self.child.id();
        for _ in 0..100 {
            let children =
                std::fs::read_to_string(format!("/proc/{master}/task/{master}/children"))
                    .unwrap_or_default();
            let workers: Vec<u32> = children
                .split_whitespace()
                .filter_map(|pid| pid.parse().ok())
                .collect();
            if !workers.is_empty() {
                return std::iter::once(master).chain(workers).collect();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("nginx started no worker");
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGTERM, not SIGKILL: the master then stops its workers too.
        // SAFETY: kill only signals our own child process.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    /// Kills the server; a wrapped one is asked to stop (SIGTERM) so its wrapper can finish.
    fn drop(&mut self) {
        let server = self.pid();
        if server == self.child.id() {
            let _ = self.child.kill();
        } else {
            // SAFETY: kill only sends a signal to the process we started.
            unsafe { libc::kill(server as libc::pid_t, libc::SIGTERM) };
        }
        let _ = self.child.wait();
    }
}

pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .unwrap()
}

/// User + system CPU time of a process, from `/proc/PID/stat` (clock ticks of 10 ms).
pub fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
    (fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap()) / 100.0
}

pub fn percentile(sorted: &[f64], pct: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * pct / 100.0).round() as usize]
}

/// Raises this process's open-file limit (inherited by the server) to `limit`, or as far as the
/// hard limit allows.
pub fn raise_open_file_limit(limit: u64) {
    let mut current = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read or fill the struct we pass.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut current);
        let wanted = libc::rlimit {
            rlim_cur: limit,
            rlim_max: limit,
        };
        if libc::setrlimit(libc::RLIMIT_NOFILE, &wanted) != 0 {
            let allowed = libc::rlimit {
                rlim_cur: current.rlim_max,
                rlim_max: current.rlim_max,
            };
            libc::setrlimit(libc::RLIMIT_NOFILE, &allowed);
            eprintln!(
                "open-file limit: {} (could not raise it to {limit})",
                current.rlim_max
            );
        }
    }
}

pub fn knob(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}
