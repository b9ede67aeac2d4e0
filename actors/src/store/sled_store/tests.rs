//! The sled adapter's tests: the storage contract on sled, and what only sled has — its lock,
//! damaged data files, group-commit flushes and the raw backup format.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use super::*;
use crate::store::contract::{self, Backend, storage_contract};
use crate::store::{Store, StoreError};

/// Stores in directories under one temporary directory, kept until the tests end.
pub(crate) struct Sled {
    root: tempfile::TempDir,
    opened: AtomicUsize,
    /// Each store handed out (by address) and its directory.
    dirs: Mutex<Vec<(usize, PathBuf)>>,
}

impl Sled {
    pub(crate) fn new() -> Sled {
        Sled {
            root: tempfile::tempdir().unwrap(),
            opened: AtomicUsize::new(0),
            dirs: Mutex::default(),
        }
    }

    fn next_dir(&self) -> PathBuf {
        let n = self.opened.fetch_add(1, Ordering::Relaxed);
        self.root.path().join(format!("store-{n}"))
    }

    fn open(&self, dir: PathBuf) -> Store {
        let store: Store = Arc::new(open_when_released(&dir));
        let address = Arc::as_ptr(&store) as *const () as usize;
        self.dirs.lock().unwrap().push((address, dir));
        store
    }
}

#[async_trait::async_trait]
impl Backend for Sled {
    async fn fresh(&self) -> Store {
        self.open(self.next_dir())
    }

    /// What `kill -9` would leave: the store's files as they are on disk now (sled's
    /// unflushed writes are still in its memory), copied and opened as a new store.
    async fn reopen(&self, store: Store) -> Store {
        let address = Arc::as_ptr(&store) as *const () as usize;
        let dirs = self.dirs.lock().unwrap().clone();
        let (_, dir) = dirs.iter().find(|(known, _)| *known == address).unwrap();
        let copy = self.next_dir();
        copy_dir(dir, &copy);
        drop(store);
        self.open(copy)
    }

    async fn restore(&self, backup: Vec<u8>) -> Store {
        let dir = self.next_dir();
        SledStore::restore(&dir, || Ok(std::io::Cursor::new(backup.clone()))).unwrap();
        self.open(dir)
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

storage_contract!(Sled::new(), a_backup_restores_every_record);

fn event(id: u64) -> crate::social_proof::NewEvent {
    contract::new_event(crate::records::EventKind::Purchased, &format!("buyer {id}"))
}

#[test]
fn a_locked_store_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let _first = SledStore::open(dir.path()).unwrap();
    let message = match SledStore::open(dir.path()) {
        Err(error) => error.to_string(),
        Ok(_) => panic!("a second open of the same directory must fail"),
    };
    assert!(message.contains("locked by another process"), "{message}");
}

#[test]
fn garbage_data_files_are_a_clear_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    drop(SledStore::open(dir.path()).unwrap());
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            std::fs::write(&path, vec![0xA5u8; 4096]).unwrap();
        }
    }
    let message = match SledStore::open(dir.path()) {
        Err(error) => error.to_string(),
        Ok(_) => panic!("garbage data files must not open"),
    };
    assert!(message.starts_with("cannot open the store at"), "{message}");
}

/// sled's own `flush_async` deadlocks once enough callers wait at once (its IO pool fills with
/// waiters); this is the load that hung it, and every write must be readable after a reopen.
#[test]
fn many_concurrent_flushes_all_complete_and_persist() {
    const WRITERS: u64 = 500;
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    let (finished, outcome) = std::sync::mpsc::channel();
    // On its own thread, so a deadlocked runtime cannot take the test's deadline down with it.
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .unwrap();
        let results = runtime.block_on(async move {
            let writers = (1..=WRITERS).map(|id| {
                let store = store.clone();
                tokio::spawn(async move {
                    // One project per writer: each project's events have one writer.
                    let slug = format!("p{id}");
                    store
                        .append_event(&slug, event(id), id, 1000)
                        .await
                        .unwrap();
                    store.flush().await
                })
            });
            futures_util::future::join_all(writers).await
        });
        let _ = finished.send(
            results
                .into_iter()
                .all(|result| matches!(result, Ok(Ok(())))),
        );
    });
    // A hang detector, not a speed goal: the deadlock never ends.
    let all_ok = outcome
        .recv_timeout(std::time::Duration::from_secs(60))
        .expect("concurrent flushes deadlocked");
    assert!(all_ok, "a flush failed");
    let store = open_when_released(dir.path());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    for id in 1..=WRITERS {
        let events = runtime.block_on(store.events_after(&format!("p{id}"), 0));
        assert_eq!(events.unwrap().len(), 1, "the event of writer {id}");
    }
}

/// Opens a store that another handle in this process just dropped: sled's background threads
/// let go of its lock a moment after the drop.
fn open_when_released(dir: &Path) -> SledStore {
    for _ in 0..100 {
        match SledStore::open(dir) {
            Ok(store) => return store,
            Err(StoreError::Open { .. }) => {
                std::thread::sleep(std::time::Duration::from_millis(20))
            }
            Err(other) => panic!("{other}"),
        }
    }
    panic!("{} stayed locked", dir.display())
}

mod backups {
    use std::io::Cursor;

    use super::*;
    use crate::store::backup::{BackupError, BackupSummary};

    /// A store with a project, events and a record under a key that is not UTF-8.
    async fn filled(dir: &Path) -> SledStore {
        let store = SledStore::open(dir).unwrap();
        let project = contract::project("demo", Some("sp_x"));
        store.put_project(&project, None).await.unwrap();
        for id in 1..=5 {
            store
                .append_event("demo", event(id), id, 100)
                .await
                .unwrap();
        }
        store.db.insert([0xff, 0x00, 0xfe], vec![1, 2, 3]).unwrap();
        store
    }

    fn backup_of(store: &SledStore) -> Vec<u8> {
        let mut out = Vec::new();
        store.backup_to(&mut out).unwrap();
        out
    }

    fn restore(dir: &Path, file: &[u8]) -> Result<BackupSummary, BackupError> {
        SledStore::restore(dir, || Ok(Cursor::new(file.to_vec())))
    }

    #[tokio::test]
    async fn a_backup_restores_to_the_same_data_byte_for_byte() {
        let source = tempfile::tempdir().unwrap();
        let store = filled(source.path()).await;
        let file = backup_of(&store);
        let target = tempfile::tempdir().unwrap();
        let into = target.path().join("restored");
        let summary = restore(&into, &file).unwrap();
        // A project, its secret index, 5 events, their hourly count, the last event id, the
        // schema version, ours.
        assert_eq!(summary.records, 11, "{summary:?}");

        let restored = SledStore::open(&into).unwrap();
        assert_eq!(
            restored.db.checksum().unwrap(),
            store.db.checksum().unwrap()
        );
        assert_eq!(restored.events_after("demo", 0).await.unwrap().len(), 5);
        assert_eq!(
            restored
                .db
                .get([0xff, 0x00, 0xfe])
                .unwrap()
                .unwrap()
                .as_ref(),
            [1, 2, 3]
        );
    }

    #[tokio::test]
    async fn damaged_backups_are_refused_and_leave_nothing_behind() {
        let source = tempfile::tempdir().unwrap();
        let file = backup_of(&filled(source.path()).await);
        let text = String::from_utf8(file.clone()).unwrap();
        let target = tempfile::tempdir().unwrap();
        let into = target.path().join("restored");

        let mid_line = &file[..file.len() / 2];
        let at_line_end = &file[..text[..text.len() - 1].rfind('\n').unwrap() + 1];
        let edited = text.replacen("\"tree\":\"events\"", "\"tree\":\"evenTs\"", 1);
        let extra = format!("{text}{{\"tree\":\"x\"}}\n");
        let cases: [(&[u8], &str); 6] = [
            (mid_line, "line"),
            (at_line_end, "cut short"),
            (edited.as_bytes(), "checksum"),
            (extra.as_bytes(), "after its end"),
            (b"", "empty"),
            (b"{\"hello\":1}\n", "header"),
        ];
        for (bad, reason) in cases {
            let error = restore(&into, bad).unwrap_err().to_string();
            assert!(error.contains(reason), "{reason}: {error}");
            assert!(
                !into.exists(),
                "{reason}: nothing may be left in the target"
            );
        }
    }

    #[tokio::test]
    async fn restoring_into_a_used_directory_is_refused() {
        let source = tempfile::tempdir().unwrap();
        let store = filled(source.path()).await;
        let file = backup_of(&store);
        drop(store);
        let error = restore(source.path(), &file).unwrap_err();
        assert!(matches!(error, BackupError::TargetNotEmpty(_)), "{error}");
        // The store there is untouched.
        let store = open_when_released(source.path());
        assert_eq!(store.events_after("demo", 0).await.unwrap().len(), 5);
    }
}

mod backup_properties {
    use std::io::Cursor;

    use proptest::prelude::*;

    use super::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

        /// Any keys and values, in any trees, come back byte for byte.
        #[test]
        fn any_store_round_trips_through_a_backup(
            records in proptest::collection::vec(
                (0u8..3, proptest::collection::vec(any::<u8>(), 0..24), proptest::collection::vec(any::<u8>(), 0..64)),
                0..40,
            ),
        ) {
            let source = tempfile::tempdir().unwrap();
            let store = SledStore::open(source.path()).unwrap();
            for (tree, key, value) in &records {
                store.db.open_tree(format!("p{tree}")).unwrap().insert(key.as_slice(), value.as_slice()).unwrap();
            }
            let mut file = Vec::new();
            store.backup_to(&mut file).unwrap();
            let target = tempfile::tempdir().unwrap();
            let into = target.path().join("restored");
            SledStore::restore(&into, || Ok(Cursor::new(file.clone()))).unwrap();
            let restored = open_when_released(&into);
            prop_assert_eq!(restored.db.checksum().unwrap(), store.db.checksum().unwrap());
            for tree in 0..3u8 {
                let name = format!("p{tree}");
                let a: Vec<_> = store.db.open_tree(&name).unwrap().iter().map(Result::unwrap).collect();
                let b: Vec<_> = restored.db.open_tree(&name).unwrap().iter().map(Result::unwrap).collect();
                prop_assert_eq!(a, b);
            }
        }
    }
}

/// A store as schema 1 could leave it: no last-id entries (written before they existed), no
/// conversation index, marked schema 1. Opened by this build, it is backed up beside itself,
/// then migrated: ids go on after the newest event and conversations are listed again.
#[tokio::test]
async fn a_schema_1_store_is_backed_up_then_migrated_forward() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("store");
    let session = contract::session("demo", 5);
    {
        let store = SledStore::open(&dir).unwrap();
        store
            .put_project(&contract::project("demo", None), None)
            .await
            .unwrap();
        for _ in 0..3 {
            contract::push(&(Arc::new(store.clone()) as Store), "demo", 10, 100).await;
        }
        store.put_session(&session).await.unwrap();
        // Back to what schema 1 wrote before those entries existed.
        store.event_id_floors.clear().unwrap();
        store.project_sessions.clear().unwrap();
        store
            .db
            .insert(b"schema_version", &1u64.to_be_bytes())
            .unwrap();
        store.flush().await.unwrap();
    }
    let store = open_when_released(&dir);
    let marked = store.db.get(b"schema_version").unwrap().unwrap();
    assert_eq!(marked.as_ref(), &SCHEMA_VERSION.to_be_bytes());
    assert_eq!(store.last_event_id("demo").await.unwrap(), 3);
    let next = contract::push(&(Arc::new(store.clone()) as Store), "demo", 10, 100).await;
    assert_eq!(next, 4, "ids go on after the newest event");
    let listed = store.project_sessions("demo", None, 10).await.unwrap();
    assert_eq!(listed, [session]);

    // The backup beside it is of schema 1 and restores (then migrates) like any other.
    let backups: Vec<_> = std::fs::read_dir(root.path())
        .unwrap()
        .filter_map(Result::ok)
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("store.schema-1-backup-"))
        .collect();
    assert_eq!(backups.len(), 1, "{backups:?}");
    let backup = root.path().join(&backups[0]);
    let text = std::fs::read_to_string(&backup).unwrap();
    assert!(text.starts_with(r#"{"format":"helpyap-backup","version":1,"schema":1}"#));
    let restored_dir = root.path().join("restored");
    SledStore::restore(&restored_dir, || {
        std::fs::File::open(&backup).map(std::io::BufReader::new)
    })
    .unwrap();
    let restored = open_when_released(&restored_dir);
    assert_eq!(restored.last_event_id("demo").await.unwrap(), 3);
}

/// A store of schema 3 (conversations, no day tallies) gets them counted at open: its reports
/// read what they read before.
#[tokio::test]
async fn a_schema_3_store_gets_its_conversations_counted_at_open() {
    use crate::time::DAY_MS;
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("store");
    let day0 = 20_000 * DAY_MS;
    let counted = {
        let store = SledStore::open(&dir).unwrap();
        store
            .put_project(&contract::project("demo", None), None)
            .await
            .unwrap();
        for question in ["Where is my order?", "How much?"] {
            let conversation = contract::session("demo", day0);
            store.put_session(&conversation).await.unwrap();
            let mut asked = contract::message(1, question);
            asked.created_at_ms = day0 + 1;
            store.append_message(conversation.id, &asked).await.unwrap();
        }
        let lead = contract::lead(day0 + 3);
        store.put_lead("demo", &lead).await.unwrap();
        let counted = store.conversation_figures("demo", 0).await.unwrap();
        assert_eq!(counted.days[&(day0 / DAY_MS)].leads, 1);
        // Back to what schema 3 wrote: no tallies.
        store.figures.clear().unwrap();
        store
            .db
            .insert(b"schema_version", &3u64.to_be_bytes())
            .unwrap();
        store.flush().await.unwrap();
        counted
    };
    assert_eq!(counted.days[&(day0 / DAY_MS)].conversations, 2);
    let store = open_when_released(&dir);
    assert_eq!(
        store.conversation_figures("demo", 0).await.unwrap(),
        counted
    );
    let marked = store.db.get(b"schema_version").unwrap().unwrap();
    assert_eq!(marked.as_ref(), &SCHEMA_VERSION.to_be_bytes());
}

/// A store written by a newer release is refused, untouched.
#[test]
fn a_store_of_a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = SledStore::open(dir.path()).unwrap();
        store
            .db
            .insert(b"schema_version", &99u64.to_be_bytes())
            .unwrap();
        store.db.flush().unwrap();
    }
    let refused = (0..100).find_map(|_| match SledStore::open(dir.path()) {
        Err(StoreError::NewerSchema { found, supported }) => Some((found, supported)),
        Err(StoreError::Open { .. }) => {
            std::thread::sleep(std::time::Duration::from_millis(20));
            None
        }
        other => panic!("{:?}", other.err()),
    });
    assert_eq!(refused, Some((99, SCHEMA_VERSION)));
}
