//! Unit tests of the store: layout, round trips, the secret index and clear open errors.

use super::*;
use crate::project::ProjectRecord;
use crate::social_proof::{EventKind, SocialProofEvent};
use crate::store::HOUR_MS;
use crate::widget::{Position, Theme, WidgetSettings};

fn record(slug: &str, secret: Option<&str>) -> ProjectRecord {
    ProjectRecord {
        slug: slug.into(),
        widget: WidgetSettings {
            name: "Bot".into(),
            company: "Co".into(),
            welcome_message: "Hi".into(),
            quick_replies: vec![],
            theme: Theme {
                primary_color: "#000000".into(),
                position: Position::BottomLeft,
            },
            social_proof: Default::default(),
        },
        push_secret_hash: secret.map(SecretHash::of),
        allowed_origins: Vec::new(),
        seed_digest: None,
        retention_days: None,
        created_at_ms: 1,
        updated_at_ms: 1,
    }
}

fn event(id: u64) -> SocialProofEvent {
    SocialProofEvent {
        id,
        kind: EventKind::Purchased,
        name: Some(format!("buyer {id}")),
        location: None,
        product: None,
        message: None,
        created_at_ms: id,
    }
}

#[test]
fn projects_round_trip_and_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path()).unwrap();
        store
            .put_project(&record("demo", Some("sp_a")), None)
            .unwrap();
        store.db.flush().unwrap();
    }
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(
        store.project("demo").unwrap(),
        Some(record("demo", Some("sp_a")))
    );
    assert_eq!(store.project("other").unwrap(), None);
    assert_eq!(store.project_slugs().unwrap(), vec!["demo".to_string()]);
}

#[test]
fn secret_index_follows_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store
        .put_project(&record("demo", Some("sp_old")), None)
        .unwrap();
    assert_eq!(
        store
            .project_for_secret(&SecretHash::of("sp_old"))
            .unwrap()
            .as_deref(),
        Some("demo")
    );
    store
        .put_project(
            &record("demo", Some("sp_new")),
            Some(&SecretHash::of("sp_old")),
        )
        .unwrap();
    assert_eq!(
        store.project_for_secret(&SecretHash::of("sp_old")).unwrap(),
        None
    );
    assert_eq!(
        store
            .project_for_secret(&SecretHash::of("sp_new"))
            .unwrap()
            .as_deref(),
        Some("demo")
    );
}

#[test]
fn events_are_kept_per_project_in_id_order_and_pruned() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    for id in 1..=5 {
        store.append_event("a", &event(id), None).unwrap();
    }
    // "a-b" sorts right after "a"; its events must never leak into "a"'s range.
    store.append_event("a-b", &event(7), None).unwrap();
    assert_eq!(store.last_event_id("a").unwrap(), 5);
    assert_eq!(store.last_event_id("a-b").unwrap(), 7);
    assert_eq!(store.last_event_id("none").unwrap(), 0);
    let ids: Vec<u64> = store
        .events_after("a", 2)
        .unwrap()
        .iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(ids, vec![3, 4, 5]);

    store.append_event("a", &event(6), Some(3)).unwrap();
    let ids: Vec<u64> = store
        .events_after("a", 0)
        .unwrap()
        .iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(ids, vec![4, 5, 6]);
    assert_eq!(store.events_after("a", 0).unwrap()[0], event(4));
}

#[test]
fn a_locked_store_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let _first = Store::open(dir.path()).unwrap();
    let message = match Store::open(dir.path()) {
        Err(error) => error.to_string(),
        Ok(_) => panic!("a second open of the same directory must fail"),
    };
    assert!(message.contains("locked by another process"), "{message}");
}

#[test]
fn garbage_data_files_are_a_clear_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    drop(Store::open(dir.path()).unwrap());
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            std::fs::write(&path, vec![0xA5u8; 4096]).unwrap();
        }
    }
    let message = match Store::open(dir.path()) {
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
    let store = Store::open(dir.path()).unwrap();
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
                    store.append_event("demo", &event(id), None).unwrap();
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
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.events_after("demo", 0).unwrap().len() as u64, WRITERS);
}

#[test]
fn events_are_counted_per_hour_and_type_and_old_hours_can_be_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let at = |id: u64, hour: u64, kind: EventKind| SocialProofEvent {
        kind,
        created_at_ms: hour * HOUR_MS + 5,
        ..event(id)
    };
    store
        .append_event("demo", &at(1, 10, EventKind::SignedUp), None)
        .unwrap();
    store
        .append_event("demo", &at(2, 11, EventKind::SignedUp), None)
        .unwrap();
    store
        .append_event("demo", &at(3, 11, EventKind::Purchased), None)
        .unwrap();
    store
        .append_event("other", &at(1, 11, EventKind::Purchased), None)
        .unwrap();
    // Events beyond the replay window are dropped; their counts stay.
    store
        .append_event("demo", &at(4, 12, EventKind::SignedUp), Some(3))
        .unwrap();
    assert_eq!(store.events_after("demo", 0).unwrap().len(), 1);

    let all = store.event_counts("demo", 0).unwrap();
    assert_eq!((all.signed_up, all.purchased, all.total()), (3, 1, 4));
    let recent = store.event_counts("demo", 11).unwrap();
    assert_eq!((recent.signed_up, recent.purchased), (2, 1));
    store.forget_counts_before("demo", 12).unwrap();
    assert_eq!(store.event_counts("demo", 0).unwrap().total(), 1);
    assert_eq!(
        store.event_counts("other", 0).unwrap().purchased,
        1,
        "other projects untouched"
    );
}

/// Opens a store that another handle in this process just dropped: sled's background threads
/// let go of its lock a moment after the drop.
fn open_when_released(dir: &std::path::Path) -> Store {
    for _ in 0..100 {
        match Store::open(dir) {
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
    use crate::store::backup::BackupError;

    /// A store with a project, events and a record under a key that is not UTF-8.
    fn filled(dir: &std::path::Path) -> Store {
        let store = Store::open(dir).unwrap();
        store
            .put_project(&record("demo", Some("sp_x")), None)
            .unwrap();
        for id in 1..=5 {
            store.append_event("demo", &event(id), None).unwrap();
        }
        store.db.insert([0xff, 0x00, 0xfe], vec![1, 2, 3]).unwrap();
        store
    }

    fn backup_of(store: &Store) -> Vec<u8> {
        let mut out = Vec::new();
        store.backup_to(&mut out).unwrap();
        out
    }

    fn restore(
        dir: &std::path::Path,
        file: &[u8],
    ) -> Result<super::backup::BackupSummary, BackupError> {
        Store::restore(dir, || Ok(Cursor::new(file.to_vec())))
    }

    #[test]
    fn a_backup_restores_to_the_same_data() {
        let source = tempfile::tempdir().unwrap();
        let store = filled(source.path());
        let file = backup_of(&store);
        let target = tempfile::tempdir().unwrap();
        let into = target.path().join("restored");
        let summary = restore(&into, &file).unwrap();
        // A project, its secret index, 5 events, their hourly count, the schema version, ours.
        assert_eq!(summary.records, 10, "{summary:?}");

        let restored = Store::open(&into).unwrap();
        assert_eq!(
            restored.db.checksum().unwrap(),
            store.db.checksum().unwrap()
        );
        assert_eq!(restored.events_after("demo", 0).unwrap().len(), 5);
        assert_eq!(
            restored
                .db
                .get([0xff, 0x00, 0xfe])
                .unwrap()
                .unwrap()
                .as_ref(),
            [1, 2, 3]
        );
        assert_eq!(
            restored
                .project_for_secret(&SecretHash::of("sp_x"))
                .unwrap()
                .as_deref(),
            Some("demo")
        );
    }

    #[test]
    fn damaged_backups_are_refused_and_leave_nothing_behind() {
        let source = tempfile::tempdir().unwrap();
        let file = backup_of(&filled(source.path()));
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

    #[test]
    fn restoring_into_a_used_directory_is_refused() {
        let source = tempfile::tempdir().unwrap();
        let store = filled(source.path());
        let file = backup_of(&store);
        drop(store);
        let error = restore(source.path(), &file).unwrap_err();
        assert!(matches!(error, BackupError::TargetNotEmpty(_)), "{error}");
        // The store there is untouched.
        assert_eq!(
            Store::open(source.path())
                .unwrap()
                .events_after("demo", 0)
                .unwrap()
                .len(),
            5
        );
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
            let store = Store::open(source.path()).unwrap();
            for (tree, key, value) in &records {
                store.db.open_tree(format!("p{tree}")).unwrap().insert(key.as_slice(), value.as_slice()).unwrap();
            }
            let mut file = Vec::new();
            store.backup_to(&mut file).unwrap();
            let target = tempfile::tempdir().unwrap();
            let into = target.path().join("restored");
            Store::restore(&into, || Ok(Cursor::new(file.clone()))).unwrap();
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
