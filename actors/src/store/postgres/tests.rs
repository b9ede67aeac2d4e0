//! The storage contract on a real PostgreSQL: one throw-away server per test binary (see
//! `testing`), a database per store.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::*;
use crate::store::Store;
use crate::store::contract::{Backend, storage_contract};

/// A new, empty database on this test binary's server; its URL.
pub(crate) async fn fresh_database() -> String {
    crate::testing::Postgres::shared().database().await
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
        let store: Store = Arc::new(PgStore::connect(&url, &std::env::temp_dir()).await.unwrap());
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
    drop(PgStore::connect(&url, &std::env::temp_dir()).await.unwrap());
    let (client, connection) = tokio_postgres::connect(&url, NoTls).await.unwrap();
    tokio::spawn(connection);
    client
        .execute("INSERT INTO schema_version (version) VALUES (99)", &[])
        .await
        .unwrap();
    let error = PgStore::connect(&url, &std::env::temp_dir())
        .await
        .err()
        .expect("refused");
    assert!(
        matches!(error, StoreError::NewerSchema { found: 99, .. }),
        "{error}"
    );
    assert!(
        error.to_string().contains("schema 99, newer than"),
        "{error}"
    );
}

/// A database written by the previous release (schema 3, by the migrations it ran) is dumped
/// with pg_dump before it is migrated; the dump restores into a database at schema 3 with its
/// data. A backup that cannot be written leaves the database as it was.
#[tokio::test]
async fn an_older_database_is_dumped_then_migrated() {
    let backups = tempfile::tempdir().unwrap();
    let url = fresh_database().await;
    let old = PgStore::connect_at(&url, backups.path(), 3).await.unwrap();
    old.put_project(&crate::store::contract::project("acme", None), None)
        .await
        .unwrap();
    drop(old);
    let schema = |url: String| async move {
        let (client, connection) = tokio_postgres::connect(&url, NoTls).await.unwrap();
        tokio::spawn(connection);
        let row = client
            .query_one("SELECT MAX(version) FROM schema_version", &[])
            .await
            .unwrap();
        row.get::<_, i64>(0)
    };
    assert_eq!(schema(url.clone()).await, 3);
    assert!(
        std::fs::read_dir(backups.path()).unwrap().next().is_none(),
        "a new database needs no backup"
    );

    let unwritable = backups.path().join("a-file");
    std::fs::write(&unwritable, "").unwrap();
    let error = PgStore::connect(&url, &unwritable)
        .await
        .err()
        .expect("refused");
    assert!(
        matches!(error, StoreError::BackupBeforeMigrating { .. }),
        "{error}"
    );
    assert_eq!(
        schema(url.clone()).await,
        3,
        "nothing migrated without a backup"
    );

    let store = PgStore::connect(&url, backups.path()).await.unwrap();
    assert_eq!(schema(url.clone()).await, SCHEMA_VERSION);
    assert!(store.project("acme").await.unwrap().is_some());
    let dumps: Vec<_> = std::fs::read_dir(backups.path())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "dump"))
        .collect();
    assert_eq!(dumps.len(), 1, "{dumps:?}");
    let name = dumps[0].file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        name.starts_with("postgres-test_") && name.contains(".schema-3-backup-"),
        "{name}"
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&dumps[0]).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "it holds secrets: its owner's only");

    let restored = fresh_database().await;
    let pg_restore = dump::pg_dump().unwrap().with_file_name("pg_restore");
    let output = std::process::Command::new(pg_restore)
        .arg("--no-owner")
        .arg("--dbname")
        .arg(&restored)
        .arg(&dumps[0])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        schema(restored.clone()).await,
        3,
        "the dump holds the old schema"
    );
    let (client, connection) = tokio_postgres::connect(&restored, NoTls).await.unwrap();
    tokio::spawn(connection);
    let projects = client
        .query_one("SELECT COUNT(*) FROM projects WHERE slug = 'acme'", &[])
        .await
        .unwrap();
    assert_eq!(projects.get::<_, i64>(0), 1, "and its data");
}

#[tokio::test]
async fn a_bad_url_or_an_unreachable_server_is_a_clear_error() {
    let bad = PgStore::connect("not a url", &std::env::temp_dir())
        .await
        .err()
        .expect("refused");
    assert!(bad.to_string().contains("not a PostgreSQL URL"), "{bad}");
    let port = crate::testing::free_port();
    let url = format!("postgres://helpyap:hunter2hunter2@127.0.0.1:{port}/none");
    let unreachable = PgStore::connect(&url, &std::env::temp_dir())
        .await
        .err()
        .expect("refused");
    let message = unreachable.to_string();
    let place = format!("cannot open the store at database none on 127.0.0.1:{port}");
    assert!(message.starts_with(&place), "{message}");
    assert!(
        !message.contains("hunter2"),
        "no password in messages: {message}"
    );
}

/// Two nodes' connections to one database: a session's lease is one node's at a time, free
/// again when released, and a dead node's lease (never released) expires.
#[tokio::test]
async fn answer_leases_are_one_at_a_time_across_nodes() {
    use crate::nodes::AnswerLeases;
    let url = fresh_database().await;
    let ttl = Duration::from_millis(300);
    let a = PgStore::connect(&url, &std::env::temp_dir())
        .await
        .unwrap()
        .with_lease_ttl(ttl);
    let b = PgStore::connect(&url, &std::env::temp_dir())
        .await
        .unwrap()
        .with_lease_ttl(ttl);
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
    assert!(
        b.acquire(session).await.unwrap().is_none(),
        "not yet expired"
    );
    tokio::time::sleep(ttl + Duration::from_millis(100)).await;
    assert!(b.acquire(session).await.unwrap().is_some(), "expired");
}

/// Moving between modes: a single node's sled store into PostgreSQL, and back into sled.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_install_moves_from_sled_to_postgresql_and_back() {
    use crate::store::contract::{copied_whole, filled};
    use crate::store::sled_store::tests::Sled;
    let sled = Sled::new();
    let (source, conversation, _, member) = filled(&sled).await;
    let postgres = Postgres::new().fresh().await;
    copied_whole(&source, &postgres, conversation, &member).await;
    let back = sled.fresh().await;
    let summary = crate::store::copy::copy(postgres.as_ref(), back.as_ref())
        .await
        .unwrap();
    assert_eq!(
        summary.events, 4,
        "the event pushed in PostgreSQL came back too"
    );
}

/// A project deleted through one node while another still takes requests for it: the other
/// node's writes are refused, and a project re-created under the slug starts empty.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn writes_to_a_project_deleted_elsewhere_are_refused() {
    use crate::store::contract::{new_event, project, push};
    let url = fresh_database().await;
    let (a, b) = (
        PgStore::connect(&url, &std::env::temp_dir()).await.unwrap(),
        PgStore::connect(&url, &std::env::temp_dir()).await.unwrap(),
    );
    let record = project("demo", None);
    a.put_project(&record, None).await.unwrap();
    assert_eq!(
        push(&(Arc::new(b.clone()) as Store), "demo", 10, 100).await,
        1
    );
    let conversation = SessionRecord {
        id: Uuid::new_v4(),
        project: "demo".into(),
        token_hash: SecretHash::of("c"),
        created_at_ms: 1,
        handoff: Default::default(),
        lead: None,
        visitor: None,
        device_tokens: Vec::new(),
        satisfaction: None,
    };
    b.put_session(&conversation).await.unwrap();
    a.delete_project(&record).await.unwrap();
    let message = crate::store::contract::message(1, "late");
    let refused = b.insert_message(conversation.id, &message).await;
    assert!(
        matches!(refused, Err(StoreError::NoSuchSession)),
        "no message into a conversation deleted with its project: {refused:?}"
    );
    let refused = b.append_message(conversation.id, &message).await;
    assert!(
        matches!(refused, Err(StoreError::NoSuchSession)),
        "{refused:?}"
    );
    let refused = b.add_deliveries("demo", 10, 3).await;
    assert!(
        matches!(refused, Err(StoreError::NoSuchProject)),
        "{refused:?}"
    );
    let refused = b.replace_documents("demo", &[]).await;
    assert!(
        matches!(refused, Err(StoreError::NoSuchProject)),
        "{refused:?}"
    );
    let event = new_event(EventKind::SignedUp, "late");
    let refused = b.append_event("demo", event, 10, 100).await;
    assert!(
        matches!(refused, Err(StoreError::NoSuchProject)),
        "{refused:?}"
    );
    let session = SessionRecord {
        id: Uuid::new_v4(),
        project: "demo".into(),
        token_hash: SecretHash::of("t"),
        created_at_ms: 1,
        handoff: Default::default(),
        lead: None,
        visitor: None,
        device_tokens: Vec::new(),
        satisfaction: None,
    };
    let refused = b.put_session(&session).await;
    assert!(
        matches!(refused, Err(StoreError::NoSuchProject)),
        "{refused:?}"
    );
    a.put_project(&record, None).await.unwrap();
    assert!(
        b.project_sessions("demo", None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(b.events_after("demo", 0).await.unwrap().is_empty());
    assert!(b.messages(conversation.id).await.unwrap().is_empty());
    assert!(b.deliveries_by_hour("demo", 0).await.unwrap().is_empty());
}

/// A database of schema 12 holding conversations (written before the day tallies existed) gets
/// them counted by the migration: its reports read what they read before.
#[tokio::test]
async fn the_migration_to_schema_13_counts_the_stored_conversations() {
    use crate::store::contract::{message, project, session};
    use crate::time::DAY_MS;
    let backups = tempfile::tempdir().unwrap();
    let url = fresh_database().await;
    let old = PgStore::connect_at(&url, backups.path(), 12).await.unwrap();
    old.put_project(&project("demo", None), None).await.unwrap();
    drop(old);
    let day0 = 20_000 * DAY_MS;
    let (client, connection) = tokio_postgres::connect(&url, NoTls).await.unwrap();
    tokio::spawn(connection);
    for (index, question) in ["Where is my order?", "where is my order?"]
        .into_iter()
        .enumerate()
    {
        let conversation = session("demo", day0 + index as u64);
        client
            .execute(
                "INSERT INTO sessions (id, slug, created_ms, record) VALUES ($1, $2, $3, $4)",
                &[
                    &conversation.id,
                    &"demo",
                    &signed(conversation.created_at_ms),
                    &json(&conversation),
                ],
            )
            .await
            .unwrap();
        let mut asked = message(1, question);
        asked.created_at_ms = day0 + 1;
        let mut answer = message(2, "It ships today");
        answer.created_at_ms = day0 + 2;
        for written in [asked, answer] {
            client
                .execute(
                    "INSERT INTO messages (session, seq, record) VALUES ($1, $2, $3)",
                    &[&conversation.id, &(written.seq as i32), &json(&written)],
                )
                .await
                .unwrap();
        }
    }

    let lead = crate::store::contract::lead(day0 + 3);
    client
        .execute(
            "INSERT INTO leads (slug, created_ms, session, record) VALUES ($1, $2, $3, $4)",
            &[
                &"demo",
                &signed(lead.created_at_ms),
                &lead.session_id,
                &json(&lead),
            ],
        )
        .await
        .unwrap();

    let store = PgStore::connect(&url, backups.path()).await.unwrap();
    let figures = store
        .conversation_figures("demo", day0 / DAY_MS)
        .await
        .unwrap();
    assert_eq!(
        figures.days[&(day0 / DAY_MS)],
        crate::store::DayCounts {
            conversations: 2,
            messages: 2,
            answered: 0,
            unanswered: 2,
            leads: 1,
        }
    );
    assert_eq!(
        figures.first_questions,
        [("where is my order?".to_owned(), 2)].into_iter().collect()
    );
}

/// Two nodes adding a message at the same seq of one conversation at once: exactly one is
/// written, the other is told the seq is taken (it reads the transcript again), and the
/// tallies count what is stored.
#[tokio::test]
async fn two_nodes_adding_at_one_seq_never_overwrite_each_other_or_miscount() {
    use crate::store::contract::{message, project, session};
    let url = fresh_database().await;
    let (a, b) = (
        PgStore::connect(&url, &std::env::temp_dir()).await.unwrap(),
        PgStore::connect(&url, &std::env::temp_dir()).await.unwrap(),
    );
    a.put_project(&project("demo", None), None).await.unwrap();
    let conversation = session("demo", 5);
    a.put_session(&conversation).await.unwrap();
    for seq in 1..=20 {
        let (from_a, from_b) = (message(seq, "from a"), message(seq, "from b"));
        let (added_a, added_b) = tokio::join!(
            a.insert_message(conversation.id, &from_a),
            b.insert_message(conversation.id, &from_b)
        );
        let (added_a, added_b) = (added_a.unwrap(), added_b.unwrap());
        assert!(added_a != added_b, "seq {seq}: exactly one is added");
        let stored = a.messages(conversation.id).await.unwrap();
        let winner = if added_a { "from a" } else { "from b" };
        assert_eq!(stored.last().map(|m| m.content.as_str()), Some(winner));
    }
    let figures = a.conversation_figures("demo", 0).await.unwrap();
    let stored = a.messages(conversation.id).await.unwrap();
    assert_eq!(stored.len(), 20);
    assert_eq!(
        figures.days[&0].messages, 10,
        "the ten visitor messages, once each"
    );
}
