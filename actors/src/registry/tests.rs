//! Actor tests: the real registry, supervisor and project actors on a temporary store.

use std::time::Duration;

use super::*;
use crate::widget::{Position, Theme, WidgetSettings};

fn settings(name: &str, secret: Option<&str>) -> ProjectSettings {
    ProjectSettings {
        widget: WidgetSettings {
            name: name.into(),
            company: "Acme".into(),
            welcome_message: "Hi".into(),
            quick_replies: vec!["Pricing".into()],
            theme: Theme {
                primary_color: "#3737f6".into(),
                position: Position::BottomRight,
            },
        },
        push_secret: secret.map(SecretHash::of),
    }
}

fn purchase(name: &str) -> PushFields {
    PushFields {
        kind: "purchased".into(),
        name: Some(name.into()),
        ..PushFields::default()
    }
}

async fn start(dir: &std::path::Path) -> Registry {
    let store = Store::open(dir).unwrap();
    Registry::start(RegistryArguments {
        store,
        retain_events: 100,
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn configure_creates_then_updates_and_republishes() {
    let dir = tempfile::tempdir().unwrap();
    let registry = start(dir.path()).await;
    registry
        .configure("demo", settings("First", Some("sp_1")))
        .await
        .unwrap();
    let first = registry.snapshot("demo").await.unwrap();
    assert!(
        std::str::from_utf8(&first.widget_config_json)
            .unwrap()
            .contains("\"First\"")
    );

    registry
        .configure("demo", settings("Second", None))
        .await
        .unwrap();
    let second = registry.snapshot("demo").await.unwrap();
    assert!(
        std::str::from_utf8(&second.widget_config_json)
            .unwrap()
            .contains("\"Second\"")
    );
    assert_ne!(first.etag, second.etag);
    assert!(
        second.push_secret_hash.as_ref().unwrap().matches("sp_1"),
        "None keeps the secret"
    );
    assert!(matches!(
        registry.snapshot("nope").await,
        Err(ProjectError::NotFound)
    ));
    assert!(matches!(
        registry.snapshot("Bad Slug").await,
        Err(ProjectError::NotFound)
    ));
}

#[tokio::test]
async fn push_checks_the_secret_and_numbers_events_monotonically() {
    let dir = tempfile::tempdir().unwrap();
    let registry = start(dir.path()).await;
    registry
        .configure("a", settings("A", Some("sp_a")))
        .await
        .unwrap();
    registry
        .configure("b", settings("B", Some("sp_b")))
        .await
        .unwrap();

    assert_eq!(registry.push("a", "sp_a", purchase("x")).await.unwrap(), 1);
    assert_eq!(registry.push("a", "sp_a", purchase("y")).await.unwrap(), 2);
    assert_eq!(registry.push("b", "sp_b", purchase("z")).await.unwrap(), 1);
    assert!(matches!(
        registry.push("a", "sp_b", purchase("x")).await,
        Err(ProjectError::ForeignSecret)
    ));
    assert!(matches!(
        registry.push("a", "sp_zz", purchase("x")).await,
        Err(ProjectError::InvalidSecret)
    ));
    assert!(matches!(
        registry.push("zz", "sp_a", purchase("x")).await,
        Err(ProjectError::NotFound)
    ));
    let bad = PushFields {
        kind: "refund".into(),
        ..PushFields::default()
    };
    assert!(matches!(
        registry.push("a", "sp_a", bad).await,
        Err(ProjectError::InvalidEvent(_))
    ));
    registry.stop(Duration::from_secs(5)).await.unwrap();
    drop(registry);

    // Ids continue after a restart on the same store.
    let registry = start(dir.path()).await;
    assert_eq!(registry.push("a", "sp_a", purchase("w")).await.unwrap(), 3);
    let store_events = registry.inner.store.events_after("a", 0).unwrap();
    let names: Vec<_> = store_events
        .iter()
        .map(|e| e.name.clone().unwrap())
        .collect();
    assert_eq!(names, vec!["x", "y", "w"]);
}

#[tokio::test]
async fn a_panicking_project_actor_is_restarted_from_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let registry = start(dir.path()).await;
    registry
        .configure("demo", settings("Bot", Some("sp_d")))
        .await
        .unwrap();
    registry
        .push("demo", "sp_d", purchase("before"))
        .await
        .unwrap();
    let before = registry.inner.actors.get("demo").unwrap().get_id();

    registry
        .inner
        .actors
        .get("demo")
        .unwrap()
        .send_message(ProjectMessage::Panic)
        .unwrap();
    let mut restarted = None;
    for _ in 0..200 {
        let current = registry.inner.actors.get("demo").map(|a| a.get_id());
        if current.is_some_and(|id| id != before) {
            restarted = current;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        restarted.is_some(),
        "the supervisor did not restart the actor"
    );
    assert_eq!(
        registry
            .push("demo", "sp_d", purchase("after"))
            .await
            .unwrap(),
        2
    );
    assert_eq!(registry.live_projects(), 1);
}

#[tokio::test]
async fn retain_events_bounds_what_the_store_keeps() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let registry = Registry::start(RegistryArguments {
        store: store.clone(),
        retain_events: 3,
    })
    .await
    .unwrap();
    registry
        .configure("demo", settings("Bot", Some("sp_d")))
        .await
        .unwrap();
    for idx in 0..5 {
        registry
            .push("demo", "sp_d", purchase(&format!("n{idx}")))
            .await
            .unwrap();
    }
    let ids: Vec<u64> = store
        .events_after("demo", 0)
        .unwrap()
        .iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(ids, vec![3, 4, 5]);
}
