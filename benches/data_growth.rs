//! Cost as data grows (issue 22, part 6): the admin's reads and a project's start, on a project
//! filled with 10^4, 10^5 and 10^6 messages and 10^3 and 10^4 documents, on sled and on
//! PostgreSQL.
//!
//! - **The conversations**: 10 messages each (5 questions, 5 answers). Every 10th conversation
//!   holds an answer that found nothing (the inbox's "unanswered"), every 5th a thumb, every
//!   20th waits for a teammate and left a lead. Two shapes of growth (HELPYAP_BENCH_SHAPES):
//!   - `older`: the same traffic for longer — 1000 conversations every 30 days, the history
//!     reaching back as far as the level needs (10^6 messages: 8 years). The last 30 days hold
//!     the same at every level: what grows is what a query must not read.
//!   - `busier`: the history is the last 365 days at every level, so a bigger project is a
//!     busier one: its last 30 days hold 100× more at 10^6 than at 10^4.
//!
//!   They are written through the storage port itself (as the server writes them) with the
//!   server stopped, each level adding to the one before (on PostgreSQL followed by `VACUUM
//!   ANALYZE`, what its autovacuum does in the time a real project takes to grow); then the
//!   real binary is started on
//!   the store, pinned to its core, and asked over HTTP, one request at a time:
//!   - the inbox's first page (50), its "unanswered" filter, and a date range (days 20 to 11
//!     back): p50 / p99 of HELPYAP_BENCH_REQUESTS (100) requests each;
//!   - the 30-day analytics: p50 / p99;
//!   - the conversations CSV export: rows and MiB per second (3 exports);
//!   - a replay of 1000 social-proof events (`since`): p50 / p99, with 1000 + messages / 100
//!     events pushed before.
//!
//!   The ratio at the end is each p99 at the largest level ÷ at the smallest (target: ≤ 2 for
//!   the inbox and the analytics).
//! - **The knowledge index**: 10^3, then 10^4 documents of 5 passages each: the index built from
//!   them in this process (what a project's start does with its documents), and the server's
//!   first request to a project whose store holds them (which starts the project: its documents
//!   read and indexed) against its first request to a project without documents; medians of 3.
//!
//! Run: `cargo bench --bench data_growth` (needs Debian's postgresql and redis-server). Knobs:
//! HELPYAP_BENCH_MESSAGES (10000,100000,1000000), HELPYAP_BENCH_DOCUMENTS (1000,10000),
//! HELPYAP_BENCH_BACKENDS (sled,postgres), HELPYAP_BENCH_SHAPES (older,busier),
//! HELPYAP_BENCH_REQUESTS (100).
#![allow(unsafe_code)] // libc calls in `common`, each with a SAFETY comment

mod common;

use std::sync::Arc;
use std::time::Instant;

use helpyap_actors::chat::{
    ConversationStatus, Feedback, Handoff, MessageRecord, MessageStatus, Role, SessionRecord,
    Source,
};
use helpyap_actors::knowledge::{Document, KnowledgeIndex};
use helpyap_actors::language::Lang;
use helpyap_actors::records::LeadRecord;
use helpyap_actors::secret::SecretHash;
use helpyap_actors::social_proof::{EventKind, NewEvent};
use helpyap_actors::store::{PgStore, SledStore, Store};
use helpyap_actors::testing::{Postgres, Redis, free_port};
use helpyap_actors::time::DAY_MS;
use serde_json::{Value, json};
use tokio::task::JoinSet;
use uuid::Uuid;

use common::{PLACEMENT, Server, ServerConfig, knob, median, percentile};

const EMAIL: &str = "owner@bench.example";
const PASSWORD: &str = "bench password 0123456789";
const MESSAGES_PER_CONVERSATION: u64 = 10;
/// The history of the `busier` shape.
const HISTORY_DAYS: u64 = 365;
/// The pace of the `older` shape: conversations per 30 days.
const CONVERSATIONS_PER_30_DAYS: u64 = 1000;
const REPLAY: u64 = 1000;

fn main() {
    PLACEMENT.pin_load_generator();
    let list = |name, default| -> Vec<u64> {
        knob(name, default)
            .split(',')
            .map(|n| n.trim().parse().unwrap())
            .collect()
    };
    let levels = list("HELPYAP_BENCH_MESSAGES", "10000,100000,1000000");
    let documents = list("HELPYAP_BENCH_DOCUMENTS", "1000,10000");
    let requests: usize = knob("HELPYAP_BENCH_REQUESTS", "100").parse().unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    println!("cost as data grows; {}", PLACEMENT.describe());
    for &count in &documents {
        let documents: Vec<Document> = (0..count).map(document).collect();
        let passages: usize = documents.iter().map(|d| d.passages.len()).sum();
        let builds = (0..3).map(|_| {
            let started = Instant::now();
            KnowledgeIndex::build(&documents, &[Lang::En]).unwrap();
            started.elapsed().as_secs_f64()
        });
        let seconds = median(builds);
        println!(
            "knowledge index of {count} documents ({passages} passages), built in this process: {seconds:.3} s = {:.3} s per 10^4 passages (median of 3)",
            seconds * 1e4 / passages as f64
        );
    }
    let now_ms = helpyap_actors::time::now_ms();
    let shapes: Vec<Shape> = knob("HELPYAP_BENCH_SHAPES", "older,busier")
        .split(',')
        .map(|shape| match shape {
            "older" => Shape::Older,
            "busier" => Shape::Busier,
            other => panic!("HELPYAP_BENCH_SHAPES: older or busier, not {other}"),
        })
        .collect();
    for backend in knob("HELPYAP_BENCH_BACKENDS", "sled,postgres").split(',') {
        for &shape in &shapes {
            let backend = Backend::start(backend, &runtime);
            let rows = runtime.block_on(growing(&backend, shape, &levels, requests, now_ms));
            report(&format!("{} ({shape:?})", backend.name), &rows);
        }
        let backend = Backend::start(backend, &runtime);
        let starts = runtime.block_on(index_builds(&backend, &documents));
        for (count, passages, with, without) in starts {
            println!(
                "{}: project start with {count} documents ({passages} passages): {with:.3} s; without documents {without:.3} s",
                backend.name,
            );
        }
    }
}

/// How a project grows (see the module doc).
#[derive(Clone, Copy, Debug)]
enum Shape {
    Older,
    Busier,
}

impl Shape {
    /// When conversation `index` started.
    fn started(self, index: u64, now_ms: u64) -> u64 {
        match self {
            // Each new one older than the ones before.
            Shape::Older => now_ms - (index + 1) * 30 * DAY_MS / CONVERSATIONS_PER_30_DAYS,
            // Placed by a fixed scramble of its index, so that each level's new conversations
            // land between the earlier ones, on every day.
            Shape::Busier => {
                let span = HISTORY_DAYS * DAY_MS;
                now_ms - span + index.wrapping_mul(0x9E37_79B9_7F4A_7C15) % span
            }
        }
    }
}

/// Where the records are: a sled directory, or a throw-away PostgreSQL (and the Redis a cluster
/// node needs).
struct Backend {
    name: String,
    dir: tempfile::TempDir,
    config: ServerConfig,
    cluster: Option<(Postgres, Redis, String)>,
}

impl Backend {
    fn start(name: &str, runtime: &tokio::runtime::Runtime) -> Backend {
        let dir = tempfile::tempdir().unwrap();
        let mut docs = toml::Table::new();
        docs.insert("slug".into(), "docs".into());
        docs.insert("name".into(), "Docs".into());
        let mut empty = toml::Table::new();
        empty.insert("slug".into(), "empty".into());
        empty.insert("name".into(), "Empty".into());
        let mut config = ServerConfig::new("Bench Bot")
            .rate_limit("widget", 100_000_000)
            .rate_limit("login", 100_000)
            .more_projects([docs, empty]);
        let cluster = match name {
            "sled" => None,
            "postgres" => {
                let postgres = Postgres::start();
                let url = runtime.block_on(postgres.database());
                let redis = Redis::start(free_port());
                config = config.set("cluster", "postgres_url", url.clone()).set(
                    "cluster",
                    "redis_url",
                    redis.url(),
                );
                Some((postgres, redis, url))
            }
            other => panic!("HELPYAP_BENCH_BACKENDS: sled or postgres, not {other}"),
        };
        // The first start writes the projects; the owner is added through the store.
        drop(Server::start(&config, dir.path()));
        let backend = Backend {
            name: name.to_owned(),
            dir,
            config,
            cluster,
        };
        runtime.block_on(async {
            let store = backend.open().await;
            let owner = helpyap_actors::accounts::new_user(EMAIL, PASSWORD, true).unwrap();
            store.put_user(&owner).await.unwrap();
            store.flush().await.unwrap();
        });
        backend
    }

    /// The store, while no server runs (sled allows one process). PostgreSQL commits the
    /// filling's writes without waiting for its log to reach the disk (the flush at the end
    /// waits for all); the server measured later waits as always.
    async fn open(&self) -> Store {
        match &self.cluster {
            // The server just stopped: sled's lock may take a moment to be let go.
            None => {
                let path = self.dir.path().join("store");
                let mut tries = 0;
                loop {
                    match SledStore::open(&path) {
                        Ok(store) => break Arc::new(store),
                        Err(error) if tries < 100 => {
                            tries += 1;
                            eprintln!("waiting for the store: {error}");
                            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                        }
                        Err(error) => panic!("{error}"),
                    }
                }
            }
            Some((_, _, url)) => Arc::new(
                PgStore::connect(
                    &format!("{url}?options=-c%20synchronous_commit%3Doff"),
                    &self.dir.path().join("backups"),
                )
                .await
                .unwrap(),
            ),
        }
    }

    /// After a filling: PostgreSQL's statistics and visibility map brought up to date, as its
    /// autovacuum would have in the time a real project takes to grow (measured right after a
    /// bulk load, its autovacuum runs beside the requests).
    async fn settle(&self) {
        if let Some((_, _, url)) = &self.cluster {
            let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
                .await
                .unwrap();
            tokio::spawn(connection);
            client.batch_execute("VACUUM ANALYZE").await.unwrap();
        }
    }

    fn serve(&self) -> Server {
        Server::start(&self.config, self.dir.path())
    }
}

/// One level's readings.
struct Row {
    messages: u64,
    fill_s: f64,
    /// (name, p50 ms, p99 ms)
    latencies: Vec<(&'static str, f64, f64)>,
    csv_rows_per_s: f64,
    csv_mib_per_s: f64,
}

async fn growing(
    backend: &Backend,
    shape: Shape,
    levels: &[u64],
    requests: usize,
    now_ms: u64,
) -> Vec<Row> {
    let mut rows = Vec::new();
    let mut filled = 0;
    let mut events = 0;
    for &level in levels {
        let started = Instant::now();
        let store = backend.open().await;
        fill_conversations(&store, shape, filled, level, now_ms).await;
        let events_wanted = REPLAY + level / 100;
        fill_events(&store, events, events_wanted).await;
        store.flush().await.unwrap();
        drop(store);
        backend.settle().await;
        let fill_s = started.elapsed().as_secs_f64();
        (filled, events) = (level, events_wanted);

        let server = backend.serve();
        let admin = Admin::sign_in(&server).await;
        let day = |days_back: u64| helpyap_actors::time::rfc3339(now_ms - days_back * DAY_MS);
        let inbox = "/api/admin/projects/demo/conversations?limit=50".to_owned();
        let range = format!("{inbox}&from={}&to={}", &day(20)[..10], &day(11)[..10]);
        let reads = [
            ("inbox page", inbox.clone()),
            ("inbox, unanswered", format!("{inbox}&unanswered=true")),
            ("inbox, date range", range),
            (
                "30-day analytics",
                "/api/admin/projects/demo/analytics?days=30".to_owned(),
            ),
        ];
        let mut latencies = Vec::new();
        for (name, path) in reads {
            let (p50, p99) = admin.latencies(&path, requests).await;
            latencies.push((name, p50, p99));
        }
        let since = events - REPLAY;
        let replay = format!("/api/widget/salespop?project=demo&since={since}");
        let (p50, p99) = admin.latencies(&replay, requests).await;
        latencies.push(("replay of 1000 events", p50, p99));
        let (csv_rows_per_s, csv_mib_per_s) = admin.export().await;
        drop(server);
        println!(
            "{} ({shape:?}): {level} messages filled in {fill_s:.1} s; {}; CSV {csv_rows_per_s:.0} rows/s, {csv_mib_per_s:.1} MiB/s",
            backend.name,
            latencies
                .iter()
                .map(|(name, p50, p99)| format!("{name} {p50:.2}/{p99:.2} ms"))
                .collect::<Vec<_>>()
                .join("; ")
        );
        rows.push(Row {
            messages: level,
            fill_s,
            latencies,
            csv_rows_per_s,
            csv_mib_per_s,
        });
    }
    rows
}

fn report(backend: &str, rows: &[Row]) {
    println!("{backend}: p50 / p99 in ms, one request at a time");
    print!("{:>10} |", "messages");
    for (name, _, _) in &rows[0].latencies {
        print!(" {name:>21} |");
    }
    println!(" {:>17} | fill", "CSV export");
    for row in rows {
        print!("{:>10} |", row.messages);
        for (_, p50, p99) in &row.latencies {
            print!(" {:>9.2} / {:>9.2} |", p50, p99);
        }
        println!(
            " {:>7.0} rows/s {:>5.1} MiB/s | {:.0} s",
            row.csv_rows_per_s, row.csv_mib_per_s, row.fill_s
        );
    }
    let (first, last) = (&rows[0], &rows[rows.len() - 1]);
    for ((name, _, low), (_, _, high)) in first.latencies.iter().zip(&last.latencies) {
        println!(
            "{backend}: {name}: p99 at {} ÷ at {} messages = {:.2}",
            last.messages,
            first.messages,
            high / low
        );
    }
}

/// The owner, signed in.
struct Admin {
    client: reqwest::Client,
    base: String,
    token: String,
}

impl Admin {
    async fn sign_in(server: &Server) -> Admin {
        let client = reqwest::Client::new();
        let base = format!("http://{}", server.addr);
        let signed_in: Value = client
            .post(format!("{base}/api/admin/auth/login"))
            .json(&json!({ "email": EMAIL, "password": PASSWORD }))
            .send()
            .await
            .unwrap()
            .error_for_status()
            .unwrap()
            .json()
            .await
            .unwrap();
        let token = signed_in["accessToken"].as_str().unwrap().to_owned();
        Admin {
            client,
            base,
            token,
        }
    }

    async fn get(&self, path: &str) -> bytes::Bytes {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let body = response.bytes().await.unwrap();
        assert!(status.is_success(), "{path}: {status} {body:?}");
        body
    }

    /// p50 and p99 (ms) of `requests` GETs of `path`, one at a time, after 5 not counted.
    async fn latencies(&self, path: &str, requests: usize) -> (f64, f64) {
        for _ in 0..5 {
            self.get(path).await;
        }
        let mut times = Vec::with_capacity(requests);
        for _ in 0..requests {
            let sent = Instant::now();
            self.get(path).await;
            times.push(sent.elapsed().as_secs_f64() * 1e3);
        }
        times.sort_by(f64::total_cmp);
        (percentile(&times, 50.0), percentile(&times, 99.0))
    }

    /// Rows and MiB per second of the conversations CSV export: the median of 3.
    async fn export(&self) -> (f64, f64) {
        let mut readings = Vec::new();
        for _ in 0..3 {
            let started = Instant::now();
            let body = self.get("/api/admin/projects/demo/conversations.csv").await;
            let seconds = started.elapsed().as_secs_f64();
            let rows = body.iter().filter(|&&byte| byte == b'\n').count();
            readings.push((
                rows as f64 / seconds,
                body.len() as f64 / seconds / 1048576.0,
            ));
        }
        (
            median(readings.iter().map(|r| r.0)),
            median(readings.iter().map(|r| r.1)),
        )
    }
}

const QUESTIONS: [&str; 8] = [
    "How long does shipping take to Canada?",
    "Can I return a jacket I bought on sale?",
    "Do you have the trail jacket in size M?",
    "My order arrived damaged, what now?",
    "How do I reset my password?",
    "Is there a discount for students?",
    "When will my refund show up?",
    "Can I change the address on my order?",
];

/// Conversations `from / 10` up to `to / 10` of the project's history.
async fn fill_conversations(store: &Store, shape: Shape, from: u64, to: u64, now_ms: u64) {
    let conversations = to / MESSAGES_PER_CONVERSATION;
    let mut writers = JoinSet::new();
    let workers = 32;
    for worker in 0..workers {
        let store = store.clone();
        writers.spawn(async move {
            let mut index = from / MESSAGES_PER_CONVERSATION + worker;
            while index < conversations {
                write_conversation(&store, index, shape.started(index, now_ms)).await;
                index += workers;
            }
        });
    }
    while let Some(done) = writers.join_next().await {
        done.unwrap();
    }
}

/// Conversation `index`, started at `created_at_ms`.
async fn write_conversation(store: &Store, index: u64, created_at_ms: u64) {
    let status = match index % 20 {
        0 => ConversationStatus::Waiting,
        _ => ConversationStatus::Open,
    };
    let session = SessionRecord {
        id: Uuid::new_v4(),
        project: "demo".into(),
        token_hash: SecretHash::of(&format!("bench visitor {index}")),
        created_at_ms,
        handoff: Handoff {
            status,
            assignee: None,
            since_ms: created_at_ms,
        },
        lead: None,
        visitor: None,
        device_tokens: Vec::new(),
        satisfaction: None,
    };
    store.put_session(&session).await.unwrap();
    if status == ConversationStatus::Waiting {
        let lead = LeadRecord {
            session_id: session.id,
            email: format!("visitor{index}@bench.example"),
            name: None,
            message: Some("Please call me back".into()),
            created_at_ms,
        };
        store.put_lead("demo", &lead).await.unwrap();
    }
    for seq in 1..=MESSAGES_PER_CONVERSATION as u32 {
        let question = QUESTIONS[(index as usize + seq as usize) % QUESTIONS.len()];
        let answer = seq % 2 == 0;
        let found = !(answer && seq == 4 && index.is_multiple_of(10));
        let message = MessageRecord {
            seq,
            role: if answer { Role::Assistant } else { Role::User },
            content: if answer {
                format!(
                    "Orders ship within 2 business days and arrive in 3 to 7. {question} — \
                     see our help center for the details of returns, sizes and refunds."
                )
            } else {
                question.to_owned()
            },
            created_at_ms: created_at_ms + u64::from(seq) * 15_000,
            sources: if answer && found {
                vec![Source {
                    id: "shipping.md".into(),
                    title: "Shipping".into(),
                    url: None,
                }]
            } else {
                Vec::new()
            },
            status: MessageStatus::Complete,
            feedback: (answer && seq == 2 && index.is_multiple_of(5)).then_some(
                if index.is_multiple_of(2) {
                    Feedback::Up
                } else {
                    Feedback::Down
                },
            ),
            author: None,
            signature: None,
            intent: None,
        };
        assert!(store.insert_message(session.id, &message).await.unwrap());
    }
}

/// Pushes events `from` up to `to` (the store keeps the last [`REPLAY`]).
async fn fill_events(store: &Store, from: u64, to: u64) {
    for index in from..to {
        let event = NewEvent {
            kind: EventKind::Purchased,
            name: Some(format!("Buyer {index}")),
            location: Some("Austin, TX".into()),
            product: Some("Trail Jacket".into()),
            message: None,
            url: None,
            image_url: None,
            source: None,
        };
        let now = helpyap_actors::time::now_ms();
        store
            .append_event("demo", event, now, REPLAY)
            .await
            .unwrap();
    }
}

/// For each count of documents: (count, passages, seconds to the first answer of a project
/// holding them, of a project holding none), medians of 3 starts.
async fn index_builds(backend: &Backend, counts: &[u64]) -> Vec<(u64, usize, f64, f64)> {
    let mut results = Vec::new();
    for &count in counts {
        let documents: Vec<Document> = (0..count).map(document).collect();
        let passages = documents.iter().map(|d| d.passages.len()).sum();
        let store = backend.open().await;
        store.replace_documents("docs", &documents).await.unwrap();
        store.flush().await.unwrap();
        drop(store);
        let mut with = Vec::new();
        let mut without = Vec::new();
        for _ in 0..3 {
            let server = backend.serve();
            first_touch(&server, "demo").await; // the server's own first request
            without.push(first_touch(&server, "empty").await);
            with.push(first_touch(&server, "docs").await);
            // What was timed started the project with every document.
            let listed = Admin::sign_in(&server)
                .await
                .get("/api/admin/projects/docs/documents")
                .await;
            let listed: Value = serde_json::from_slice(&listed).unwrap();
            assert_eq!(
                listed["documents"].as_array().unwrap().len(),
                count as usize
            );
        }
        results.push((count, passages, median(with), median(without)));
    }
    results
}

/// Seconds to the first widget config of `slug` since the server started: the project's start.
async fn first_touch(server: &Server, slug: &str) -> f64 {
    let url = format!("http://{}/api/widget/config?project={slug}", server.addr);
    let started = Instant::now();
    let response = reqwest::get(url).await.unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    response.bytes().await.unwrap();
    started.elapsed().as_secs_f64()
}

/// Words help-center articles are made of.
const WORDS: &[&str] = &[
    "order",
    "shipping",
    "delivery",
    "return",
    "refund",
    "exchange",
    "size",
    "jacket",
    "boots",
    "tent",
    "warranty",
    "repair",
    "account",
    "password",
    "email",
    "payment",
    "card",
    "invoice",
    "discount",
    "student",
    "gift",
    "store",
    "pickup",
    "tracking",
    "carrier",
    "customs",
    "duty",
    "international",
    "express",
    "standard",
    "business",
    "days",
    "weeks",
    "within",
    "after",
    "before",
    "receipt",
    "label",
    "package",
    "damaged",
    "missing",
    "wrong",
    "item",
    "colour",
    "fabric",
    "waterproof",
    "care",
    "wash",
    "season",
    "sale",
    "price",
    "match",
    "membership",
    "points",
    "rewards",
    "subscription",
    "cancel",
    "change",
    "address",
    "phone",
    "chat",
    "support",
    "team",
    "hours",
    "weekend",
    "holiday",
    "stock",
    "restock",
    "notify",
    "preorder",
];

/// A help-center article of ~5 passages of ~60 words, made of [`WORDS`] by a fixed sequence.
fn document(index: u64) -> Document {
    let mut state = index.wrapping_mul(0x2545_F491_4F6C_DD1D) | 1;
    let mut word = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        WORDS[(state % WORDS.len() as u64) as usize]
    };
    let passages = (0..5)
        .map(|_| {
            let sentences: Vec<String> = (0..6)
                .map(|_| {
                    let words: Vec<&str> = (0..10).map(|_| word()).collect();
                    format!("{}.", words.join(" "))
                })
                .collect();
            sentences.join(" ")
        })
        .collect();
    Document {
        id: format!("article-{index:05}.md"),
        title: format!("{} and {} (article {index})", word(), word()),
        url: None,
        passages,
        fetched: false,
        question: None,
        fetch: Default::default(),
    }
}
