//! The storage contract: what every backend of [`Storage`] must do, as tests any backend runs.
//!
//! A backend's test module implements [`Backend`] (how to make an empty store, reopen one and
//! restore a backup into a new one) and expands [`storage_contract!`] once; the sled adapter
//! does so in `sled_store/tests.rs`. Each check names the behaviour it holds the backend to:
//! every operation, id allocation, atomic multi-record writes, flush durability, pagination
//! order, deletion cascades, and the backup round trip.

use std::collections::BTreeMap;

use uuid::Uuid;

use super::{Store, StoreError};
use crate::chat::LeadContact;
use crate::chat::{MessageStatus, Role as Speaker};
use crate::records::{
    ApiTokenRecord, Document, EventKind, HOUR_MS, Invitation, LeadRecord, MessageRecord,
    PasswordReset, ProjectRecord, RefreshRecord, Role, SessionRecord, UserRecord,
};
use crate::secret::SecretHash;
use crate::social_proof::NewEvent;
use crate::time::now_ms;
use crate::webhook::{Attempt, Delivery, EventType, LOG_KEEP, WebhookEvent, WebhookRecord};
use crate::widget::{Position, Theme, WidgetSettings};

/// How the contract gets stores of one backend.
#[async_trait::async_trait]
pub(crate) trait Backend: Send + Sync {
    /// A new, empty store of its own.
    async fn fresh(&self) -> Store;
    /// What the next start sees after the process holding `store` is killed (`kill -9`) now:
    /// only what was flushed is sure to be there.
    async fn reopen(&self, store: Store) -> Store;
    /// A new, empty store restored from `backup`.
    async fn restore(&self, backup: Vec<u8>) -> Store;
}

/// Expands to one `#[tokio::test]` per contract check, each running on `$backend`; checks
/// named after it are added (`a_backup_restores_every_record` for backends that write backups).
macro_rules! storage_contract {
    ($backend:expr $(, $extra:ident)* $(,)?) => {
        $crate::store::contract::storage_contract!(@tests $backend;
            projects_round_trip_and_survive_reopen,
            push_secret_index_follows_rotation_atomically,
            event_ids_are_dense_per_project_and_never_reused,
            concurrent_pushes_to_one_project_get_distinct_ids,
            events_replay_in_id_order_and_the_tail_is_pruned,
            an_event_from_a_source_is_stored_once,
            events_are_counted_per_hour_and_type_and_old_hours_dropped,
            deliveries_are_summed_per_hour,
            popups_shown_and_clicked_are_summed_per_hour_type_and_action,
            proactive_messages_are_counted_per_hour_rule_and_action,
            users_refresh_tokens_and_families,
            invitations_by_project_and_by_email,
            api_tokens_by_hash_and_by_project,
            reset_links_are_taken_once_sign_ins_found_by_user_and_digests_claimed_once,
            webhook_news_goes_into_the_outbox_with_what_it_reports,
            deliveries_are_claimed_settled_and_logged,
            leads_come_back_oldest_first,
            documents_are_replaced_as_a_whole_in_id_order,
            conversations_page_newest_first_with_a_cursor,
            deleting_a_session_erases_its_transcript,
            transcripts_come_in_the_order_asked_each_in_seq_order,
            deleting_a_project_cascades_to_everything_it_owns,
            an_install_copies_whole_into_an_empty_store,
            inbox_filters_and_report_figures_read_the_same_everywhere,
            a_hand_off_changes_only_its_fields_and_never_revives_a_session,
            a_reply_to_small_talk_is_neither_answered_nor_unanswered,
            a_verified_visitors_conversations_are_found_by_user,
            report_figures_follow_every_write_and_erasure,
            $($extra,)*
        );
    };
    (@tests $backend:expr; $($check:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $check() {
                $crate::store::contract::$check(&$backend).await;
            }
        )*
    };
}
pub(crate) use storage_contract;

/// A new store holding the projects the checks write to: a backend may refuse writes to a
/// project it does not hold (PostgreSQL does: a project deleted on another node).
async fn with_projects(backend: &impl Backend) -> Store {
    let store = backend.fresh().await;
    for slug in ["a", "a-b", "b", "demo", "demo-2", "other"] {
        store.put_project(&project(slug, None), None).await.unwrap();
    }
    store
}

pub(crate) fn project(slug: &str, secret: Option<&str>) -> ProjectRecord {
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
            locale: "auto".into(),
            strings: Default::default(),
            business_hours: Default::default(),
            proactive: Vec::new(),
        },
        push_secret_hash: secret.map(SecretHash::of),
        allowed_origins: Vec::new(),
        seed_digest: None,
        knowledge_revision: Uuid::nil(),
        assistant: Default::default(),
        retention_days: None,
        // Kept with the project, secret and all, in every backend.
        integrations: crate::integrations::Integrations {
            stripe: Some(crate::integrations::Integration {
                secret: "whsec_contract".into(),
                connected_at_ms: 1,
            }),
            shopify: None,
        },
        identity_secret: Some(crate::identity::IdentitySecret {
            secret: "iv_contract".into(),
            created_at_ms: 1,
        }),
        created_at_ms: 1,
        updated_at_ms: 1,
    }
}

pub(crate) fn new_event(kind: EventKind, name: &str) -> NewEvent {
    NewEvent {
        kind,
        name: Some(name.into()),
        location: None,
        product: None,
        message: None,
        url: None,
        image_url: None,
        source: None,
    }
}

fn user(email: &str) -> UserRecord {
    UserRecord {
        id: Uuid::new_v4(),
        email: email.into(),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
        admin: false,
        roles: BTreeMap::from([("demo".to_string(), Role::Agent)]),
        created_at_ms: 7,
        profile: Default::default(),
    }
}

pub(crate) fn session(slug: &str, created_at_ms: u64) -> SessionRecord {
    SessionRecord {
        id: Uuid::new_v4(),
        project: slug.into(),
        token_hash: SecretHash::of(&format!("token {created_at_ms}")),
        created_at_ms,
        handoff: Default::default(),
        lead: None,
        visitor: None,
        device_tokens: Vec::new(),
        satisfaction: None,
    }
}

pub(crate) fn message(seq: u32, content: &str) -> MessageRecord {
    MessageRecord {
        seq,
        role: if seq % 2 == 1 {
            Speaker::User
        } else {
            Speaker::Assistant
        },
        content: content.into(),
        created_at_ms: u64::from(seq),
        sources: Vec::new(),
        status: MessageStatus::Complete,
        feedback: None,
        author: None,
        signature: None,
        intent: None,
    }
}

fn document(id: &str) -> Document {
    Document {
        id: id.into(),
        title: format!("About {id}"),
        url: None,
        passages: vec![format!("{id} passage one"), format!("{id} passage two")],
        fetched: false,
        question: None,
        fetch: Default::default(),
    }
}

pub(crate) fn lead(created_at_ms: u64) -> LeadRecord {
    LeadRecord {
        session_id: Uuid::new_v4(),
        email: format!("lead{created_at_ms}@example.com"),
        name: None,
        message: Some("call me".into()),
        created_at_ms,
    }
}

fn invitation(slug: &str, email: &str) -> Invitation {
    Invitation {
        project: slug.into(),
        email: email.into(),
        role: Role::Agent,
        invited_by: Uuid::nil(),
        created_at_ms: 3,
        join: None,
    }
}

pub(crate) async fn push(store: &Store, slug: &str, at_ms: u64, keep: u64) -> u64 {
    let event = new_event(EventKind::Purchased, "buyer");
    store
        .append_event(slug, event, at_ms, keep)
        .await
        .unwrap()
        .id
}

async fn ids_after(store: &Store, slug: &str, after: u64) -> Vec<u64> {
    let events = store.events_after(slug, after).await.unwrap();
    events.iter().map(|event| event.id).collect()
}

pub(crate) async fn projects_round_trip_and_survive_reopen(backend: &impl Backend) {
    let store = backend.fresh().await;
    store
        .put_project(&project("demo", Some("sp_a")), None)
        .await
        .unwrap();
    store.put_project(&project("b", None), None).await.unwrap();
    store.flush().await.unwrap();
    let store = backend.reopen(store).await;
    let found = store.project("demo").await.unwrap();
    assert_eq!(found, Some(project("demo", Some("sp_a"))));
    assert_eq!(store.project("other").await.unwrap(), None);
    assert_eq!(store.project_slugs().await.unwrap(), ["b", "demo"]);
}

pub(crate) async fn push_secret_index_follows_rotation_atomically(backend: &impl Backend) {
    let store = backend.fresh().await;
    let old = SecretHash::of("sp_old");
    store
        .put_project(&project("demo", Some("sp_old")), None)
        .await
        .unwrap();
    let owner = store.project_for_secret(&old).await.unwrap();
    assert_eq!(owner.as_deref(), Some("demo"));
    store
        .put_project(&project("demo", Some("sp_new")), Some(&old))
        .await
        .unwrap();
    assert_eq!(store.project_for_secret(&old).await.unwrap(), None);
    let new = store
        .project_for_secret(&SecretHash::of("sp_new"))
        .await
        .unwrap();
    assert_eq!(new.as_deref(), Some("demo"));
    let record = store.project("demo").await.unwrap().unwrap();
    assert_eq!(record.push_secret_hash, Some(SecretHash::of("sp_new")));
}

pub(crate) async fn event_ids_are_dense_per_project_and_never_reused(backend: &impl Backend) {
    let store = with_projects(backend).await;
    assert_eq!(store.last_event_id("a").await.unwrap(), 0);
    for expected in 1..=3 {
        assert_eq!(push(&store, "a", 10, 100).await, expected);
    }
    // "a-b" sorts right after "a"; its ids and events are its own.
    assert_eq!(push(&store, "a-b", 10, 100).await, 1);
    assert_eq!(store.last_event_id("a").await.unwrap(), 3);
    store.flush().await.unwrap();
    let store = backend.reopen(store).await;
    assert_eq!(
        push(&store, "a", 10, 100).await,
        4,
        "ids go on after a restart"
    );

    // A project deleted and created again under its slug numbers after the last id given out.
    store.put_project(&project("a", None), None).await.unwrap();
    store.delete_project(&project("a", None)).await.unwrap();
    assert_eq!(ids_after(&store, "a", 0).await, Vec::<u64>::new());
    assert_eq!(store.last_event_id("a").await.unwrap(), 4);
    store.put_project(&project("a", None), None).await.unwrap();
    assert_eq!(push(&store, "a", 10, 100).await, 5);
}

/// Nodes push to one project at once: each event gets its own id, none is overwritten.
pub(crate) async fn concurrent_pushes_to_one_project_get_distinct_ids(backend: &impl Backend) {
    const PUSHES: u64 = 50;
    let store = with_projects(backend).await;
    let pushes = (0..PUSHES).map(|_| {
        let store = store.clone();
        tokio::spawn(async move { push(&store, "demo", 10, 1000).await })
    });
    let mut ids: Vec<u64> = futures_util::future::join_all(pushes)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    ids.sort_unstable();
    assert_eq!(ids, (1..=PUSHES).collect::<Vec<_>>());
    assert_eq!(ids_after(&store, "demo", 0).await, ids);
    let counts = store.event_counts("demo", 0).await.unwrap();
    assert_eq!(counts.total(), PUSHES);
}

pub(crate) async fn events_replay_in_id_order_and_the_tail_is_pruned(backend: &impl Backend) {
    let store = with_projects(backend).await;
    for _ in 1..=5 {
        push(&store, "a", 10, 100).await;
    }
    assert_eq!(ids_after(&store, "a", 2).await, [3, 4, 5]);
    assert_eq!(ids_after(&store, "a", 5).await, Vec::<u64>::new());
    // Keeping the last 3: the push of id 6 drops ids 1 to 3.
    push(&store, "a", 10, 3).await;
    assert_eq!(ids_after(&store, "a", 0).await, [4, 5, 6]);
    let first = &store.events_after("a", 0).await.unwrap()[0];
    assert_eq!(first.name.as_deref(), Some("buyer"));
    assert_eq!(
        (first.kind, first.created_at_ms),
        (EventKind::Purchased, 10)
    );
    // A link and a picture are kept with the event.
    let linked = NewEvent {
        url: Some("https://shop.example/p/1".into()),
        image_url: Some("https://cdn.example/1.png".into()),
        ..new_event(EventKind::Purchased, "buyer")
    };
    let stored = store.append_event("a", linked, 11, 10).await.unwrap();
    let read = store.events_after("a", stored.id - 1).await.unwrap();
    assert_eq!(read, std::slice::from_ref(&stored));
    assert_eq!(
        read[0].image_url.as_deref(),
        Some("https://cdn.example/1.png")
    );
}

pub(crate) async fn an_event_from_a_source_is_stored_once(backend: &impl Backend) {
    let store = with_projects(backend).await;
    let from = |source: &str| NewEvent {
        source: Some(source.into()),
        ..new_event(EventKind::Purchased, "buyer")
    };
    let first = store
        .append_event("a", from("stripe:evt_1"), 10, 100)
        .await
        .unwrap();
    assert!(matches!(
        store.append_event("a", from("stripe:evt_1"), 11, 100).await,
        Err(StoreError::AlreadyStored)
    ));
    // Nothing of the refused one was written: not the event, its id or its count.
    assert_eq!(ids_after(&store, "a", 0).await, [first.id]);
    let counts = store.event_counts_by_hour("a", 0).await.unwrap();
    assert_eq!(counts[0].1.total(), 1);
    // Sources are per project, and events without one are never refused.
    store
        .append_event("b", from("stripe:evt_1"), 12, 100)
        .await
        .unwrap();
    let next = store
        .append_event("a", from("stripe:evt_2"), 13, 100)
        .await
        .unwrap();
    assert_eq!(
        next.id,
        first.id + 1,
        "no id was used up by the refused one"
    );
    for _ in 0..2 {
        store
            .append_event("a", new_event(EventKind::Purchased, "x"), 14, 100)
            .await
            .unwrap();
    }
    // Kept across a restart: a retried webhook after a crash is still recognised.
    store.flush().await.unwrap();
    let store = backend.reopen(store).await;
    assert!(matches!(
        store.append_event("a", from("stripe:evt_2"), 15, 100).await,
        Err(StoreError::AlreadyStored)
    ));
    // Forgotten with the old counts (no platform retries for a month), and with the project.
    store.forget_counts_before("a", 1).await.unwrap();
    store
        .append_event("a", from("stripe:evt_1"), 16, 100)
        .await
        .unwrap();
    store.delete_project(&project("b", None)).await.unwrap();
    store.put_project(&project("b", None), None).await.unwrap();
    store
        .append_event("b", from("stripe:evt_1"), 17, 100)
        .await
        .unwrap();
}

pub(crate) async fn events_are_counted_per_hour_and_type_and_old_hours_dropped(
    backend: &impl Backend,
) {
    let store = with_projects(backend).await;
    let at = |hour: u64| hour * HOUR_MS + 5;
    for (slug, hour, kind) in [
        ("demo", 10, EventKind::SignedUp),
        ("demo", 11, EventKind::SignedUp),
        ("demo", 11, EventKind::Purchased),
        ("other", 11, EventKind::Purchased),
        ("demo", 12, EventKind::SignedUp),
    ] {
        let event = new_event(kind, "x");
        store.append_event(slug, event, at(hour), 1).await.unwrap();
    }
    // Events beyond the replay tail are dropped; their counts stay.
    assert_eq!(ids_after(&store, "demo", 0).await, [4]);
    let all = store.event_counts("demo", 0).await.unwrap();
    assert_eq!((all.signed_up, all.purchased, all.total()), (3, 1, 4));
    let recent = store.event_counts("demo", 11).await.unwrap();
    assert_eq!((recent.signed_up, recent.purchased), (2, 1));
    let hours: Vec<(u64, u64)> = store
        .event_counts_by_hour("demo", 11)
        .await
        .unwrap()
        .into_iter()
        .map(|(hour, counts)| (hour, counts.total()))
        .collect();
    assert_eq!(hours, [(11, 2), (12, 1)]);

    store.forget_counts_before("demo", 12).await.unwrap();
    assert_eq!(store.event_counts("demo", 0).await.unwrap().total(), 1);
    let other = store.event_counts("other", 0).await.unwrap();
    assert_eq!(other.purchased, 1, "other projects untouched");
}

pub(crate) async fn deliveries_are_summed_per_hour(backend: &impl Backend) {
    let store = with_projects(backend).await;
    store.add_deliveries("demo", 5, 3).await.unwrap();
    store.add_deliveries("demo", 5, 4).await.unwrap();
    store.add_deliveries("demo", 7, 1).await.unwrap();
    store.add_deliveries("demo-2", 5, 100).await.unwrap();
    let hours = store.deliveries_by_hour("demo", 0).await.unwrap();
    assert_eq!(hours, [(5, 7), (7, 1)]);
    assert_eq!(store.deliveries_by_hour("demo", 6).await.unwrap(), [(7, 1)]);
    store.forget_counts_before("demo", 6).await.unwrap();
    assert_eq!(store.deliveries_by_hour("demo", 0).await.unwrap(), [(7, 1)]);
    assert!(store.size_on_disk().await.unwrap() > 0);
}

pub(crate) async fn popups_shown_and_clicked_are_summed_per_hour_type_and_action(
    backend: &impl Backend,
) {
    use crate::social_proof::{PopupAction, PopupCounts};
    let store = with_projects(backend).await;
    let counts = |entries: &[(PopupAction, EventKind, u64)]| {
        let mut counts = PopupCounts::default();
        for &(action, kind, count) in entries {
            counts.add(action, kind, count);
        }
        counts
    };
    let (shown, clicked) = (PopupAction::Shown, PopupAction::Clicked);
    let first = counts(&[
        (shown, EventKind::Purchased, 3),
        (clicked, EventKind::Purchased, 1),
    ]);
    store.add_popup_counts("demo", 5, &first).await.unwrap();
    let more = counts(&[
        (shown, EventKind::Purchased, 2),
        (shown, EventKind::SignedUp, 4),
    ]);
    store.add_popup_counts("demo", 5, &more).await.unwrap();
    store
        .add_popup_counts("demo", 7, &counts(&[(clicked, EventKind::Custom, 1)]))
        .await
        .unwrap();
    store
        .add_popup_counts("demo", 7, &PopupCounts::default())
        .await
        .unwrap();
    store.add_popup_counts("demo-2", 5, &first).await.unwrap();
    let hours = store.popup_counts_by_hour("demo", 0).await.unwrap();
    let expected_5 = counts(&[
        (shown, EventKind::Purchased, 5),
        (clicked, EventKind::Purchased, 1),
        (shown, EventKind::SignedUp, 4),
    ]);
    assert_eq!(
        hours,
        [
            (5, expected_5),
            (7, counts(&[(clicked, EventKind::Custom, 1)]))
        ]
    );
    assert_eq!(
        store.popup_counts_by_hour("demo", 6).await.unwrap().len(),
        1
    );
    store.forget_counts_before("demo", 6).await.unwrap();
    assert_eq!(
        store.popup_counts_by_hour("demo", 0).await.unwrap().len(),
        1
    );
    assert_eq!(
        store.popup_counts_by_hour("demo-2", 0).await.unwrap()[0].1,
        first
    );
}

pub(crate) async fn users_refresh_tokens_and_families(backend: &impl Backend) {
    let store = backend.fresh().await;
    let (ann, bob) = (user("ann@example.com"), user("bob@example.com"));
    store.put_user(&bob).await.unwrap();
    store.put_user(&ann).await.unwrap();
    assert_eq!(
        store.user("ann@example.com").await.unwrap(),
        Some(ann.clone())
    );
    assert_eq!(store.user("nobody@example.com").await.unwrap(), None);
    assert_eq!(store.user_by_id(bob.id).await.unwrap(), Some(bob.clone()));
    assert_eq!(store.user_by_id(Uuid::new_v4()).await.unwrap(), None);
    assert_eq!(store.users().await.unwrap(), [ann.clone(), bob.clone()]);
    let admin = UserRecord {
        admin: true,
        ..ann.clone()
    };
    store.put_user(&admin).await.unwrap();
    assert_eq!(
        store.users().await.unwrap(),
        [admin, bob],
        "replaced, not added"
    );

    let hash = SecretHash::of("rt_1");
    let record = RefreshRecord {
        user_id: ann.id,
        family: Uuid::new_v4(),
        expires_at_ms: 99,
        used: false,
    };
    assert_eq!(store.refresh(&hash).await.unwrap(), None);
    store.put_refresh(&hash, &record).await.unwrap();
    let used = RefreshRecord {
        used: true,
        ..record.clone()
    };
    store.put_refresh(&hash, &used).await.unwrap();
    assert_eq!(store.refresh(&hash).await.unwrap(), Some(used));
    assert!(!store.family_revoked(record.family).await.unwrap());
    store.revoke_family(record.family).await.unwrap();
    assert!(store.family_revoked(record.family).await.unwrap());
    assert!(!store.family_revoked(Uuid::new_v4()).await.unwrap());
}

pub(crate) fn api_token(slug: &str, name: &str, created_at_ms: u64) -> ApiTokenRecord {
    ApiTokenRecord {
        id: Uuid::new_v4(),
        project: slug.into(),
        name: name.into(),
        role: Role::Agent,
        token_hash: SecretHash::of(&format!("hy_{slug}_{name}")),
        created_by: "ann@example.com".into(),
        created_at_ms,
        last_used_ms: None,
    }
}

pub(crate) async fn api_tokens_by_hash_and_by_project(backend: &impl Backend) {
    let store = with_projects(backend).await;
    let (late, early, other) = (
        api_token("demo", "late", 9),
        api_token("demo", "early", 2),
        api_token("demo-2", "crm", 1),
    );
    for token in [&late, &early, &other] {
        store.put_api_token(token).await.unwrap();
    }
    let found = store
        .api_token(&SecretHash::of("hy_demo_late"))
        .await
        .unwrap();
    assert_eq!(found.as_ref(), Some(&late));
    assert_eq!(
        store.api_token(&SecretHash::of("hy_nope")).await.unwrap(),
        None
    );
    assert_eq!(
        store.project_api_tokens("demo").await.unwrap(),
        [early.clone(), late.clone()]
    );
    let used = ApiTokenRecord {
        last_used_ms: Some(60_000),
        ..late.clone()
    };
    store.put_api_token(&used).await.unwrap();
    let found = store.api_token(&late.token_hash).await.unwrap();
    assert_eq!(found, Some(used), "replaced, not added");
    assert!(
        !store.delete_api_token("demo-2", late.id).await.unwrap(),
        "another project's"
    );
    assert!(store.delete_api_token("demo", late.id).await.unwrap());
    assert!(!store.delete_api_token("demo", late.id).await.unwrap());
    assert_eq!(store.api_token(&late.token_hash).await.unwrap(), None);
    store
        .note_api_token_use(&late.token_hash, 90_000)
        .await
        .unwrap();
    let revived = store.api_token(&late.token_hash).await.unwrap();
    assert_eq!(
        revived, None,
        "noting a use never brings a revoked token back"
    );
    store
        .note_api_token_use(&early.token_hash, 90_000)
        .await
        .unwrap();
    let noted = store.api_token(&early.token_hash).await.unwrap().unwrap();
    assert_eq!(noted.last_used_ms, Some(90_000));
    let early = noted;
    assert_eq!(store.project_api_tokens("demo").await.unwrap(), [early]);
    assert_eq!(store.project_api_tokens("demo-2").await.unwrap(), [other]);
}

pub(crate) async fn reset_links_are_taken_once_sign_ins_found_by_user_and_digests_claimed_once(
    backend: &impl Backend,
) {
    let store = backend.fresh().await;
    let (ann, bob) = (user("ann@example.com"), user("bob@example.com"));
    let reset = PasswordReset {
        user_id: ann.id,
        expires_at_ms: 99,
    };
    let hash = SecretHash::of("pr_link");
    store.put_password_reset(&hash, &reset).await.unwrap();
    assert_eq!(
        store.take_password_reset(&hash).await.unwrap(),
        Some(reset.clone())
    );
    assert_eq!(
        store.take_password_reset(&hash).await.unwrap(),
        None,
        "once"
    );
    let (anns_link, bobs_link) = (SecretHash::of("pr_a"), SecretHash::of("pr_b"));
    store.put_password_reset(&anns_link, &reset).await.unwrap();
    let bobs_reset = PasswordReset {
        user_id: bob.id,
        ..reset.clone()
    };
    store
        .put_password_reset(&bobs_link, &bobs_reset)
        .await
        .unwrap();
    store.forget_password_resets(ann.id).await.unwrap();
    let gone = store.take_password_reset(&anns_link).await.unwrap();
    assert_eq!(gone, None, "forgotten");
    let kept = store.take_password_reset(&bobs_link).await.unwrap();
    assert_eq!(kept, Some(bobs_reset), "not another user's");
    let (first, second, bobs) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    for (n, (owner, family)) in [(&ann, first), (&ann, first), (&ann, second), (&bob, bobs)]
        .into_iter()
        .enumerate()
    {
        let record = RefreshRecord {
            user_id: owner.id,
            family,
            expires_at_ms: 1,
            used: false,
        };
        let token = SecretHash::of(&format!("rt_{n}"));
        store.put_refresh(&token, &record).await.unwrap();
    }
    let mut expected = vec![first, second];
    expected.sort();
    assert_eq!(store.user_families(ann.id).await.unwrap(), expected);
    assert!(
        store
            .user_families(Uuid::new_v4())
            .await
            .unwrap()
            .is_empty()
    );

    // A digest period is claimed once, and never one older than the last.
    assert!(store.claim_period("demo", 5).await.unwrap());
    assert!(!store.claim_period("demo", 5).await.unwrap(), "once");
    assert!(
        !store.claim_period("demo", 4).await.unwrap(),
        "not an older one"
    );
    assert!(store.claim_period("other", 5).await.unwrap(), "per project");
    assert!(store.claim_period("demo", 6).await.unwrap());
}

pub(crate) fn webhook(slug: &str, events: &[EventType]) -> WebhookRecord {
    WebhookRecord {
        id: Uuid::new_v4(),
        project: slug.into(),
        url: "https://hooks.example.com/in".into(),
        events: events.to_vec(),
        secret: "whsec_test".into(),
        enabled: true,
        disabled_reason: None,
        created_at_ms: 1,
    }
}

/// Everything due now, claimed (for a minute), as (event type, webhook) pairs in due order.
async fn claim_all(store: &Store) -> Vec<(EventType, Uuid)> {
    let claimed = store.claim_deliveries(now_ms(), 60_000, 100).await.unwrap();
    claimed.iter().map(|d| (d.event.kind, d.webhook)).collect()
}

pub(crate) async fn webhook_news_goes_into_the_outbox_with_what_it_reports(backend: &impl Backend) {
    use EventType::*;
    let store = with_projects(backend).await;
    let all = webhook("demo", &EventType::ALL);
    let leads_only = webhook("demo", &[LeadCreated]);
    let off = WebhookRecord {
        enabled: false,
        ..webhook("demo", &EventType::ALL)
    };
    let elsewhere = webhook("other", &EventType::ALL);
    for hook in [&all, &leads_only, &off, &elsewhere] {
        store.put_webhook(hook).await.unwrap();
    }
    let listed: Vec<Uuid> = store
        .webhooks("demo")
        .await
        .unwrap()
        .iter()
        .map(|w| w.id)
        .collect();
    assert_eq!(listed.len(), 3);
    assert!(listed.contains(&off.id) && !listed.contains(&elsewhere.id));

    let conversation = session("demo", 5);
    store.put_session(&conversation).await.unwrap();
    let first = message(1, "hi");
    let news = WebhookEvent::message("demo", conversation.id, &first);
    assert!(
        store
            .insert_message_with_news(conversation.id, &first, &news)
            .await
            .unwrap()
    );
    assert_eq!(
        claim_all(&store).await,
        [(ConversationCreated, all.id), (MessageCreated, all.id)]
    );
    let taken = store
        .insert_message_with_news(conversation.id, &first, &news)
        .await
        .unwrap();
    assert!(!taken, "a taken seq");
    assert_eq!(
        claim_all(&store).await,
        [],
        "writes nothing, so reports nothing"
    );

    let contact = LeadContact {
        email: "a@example.com".into(),
        name: None,
        message: None,
        created_at_ms: 7,
    };
    let lead = LeadRecord {
        session_id: conversation.id,
        ..lead(7)
    };
    store
        .put_lead_with_news(
            "demo",
            &lead,
            &[WebhookEvent::lead("demo", conversation.id, &contact)],
        )
        .await
        .unwrap();
    let mut heard = claim_all(&store).await;
    heard.sort();
    let mut expected = vec![(LeadCreated, all.id), (LeadCreated, leads_only.id)];
    expected.sort();
    assert_eq!(heard, expected);

    let handoff = crate::chat::Handoff {
        status: crate::chat::ConversationStatus::Human,
        assignee: None,
        since_ms: 9,
    };
    let news = [WebhookEvent::status("demo", conversation.id, &handoff)];
    store
        .update_handoff_with_news(conversation.id, &handoff, None, &news)
        .await
        .unwrap();
    let rated = message(2, "an answer");
    let news = [WebhookEvent::feedback(
        "demo",
        conversation.id,
        2,
        crate::chat::Feedback::Up,
        9,
    )];
    store
        .append_message_with_news(conversation.id, &rated, &news)
        .await
        .unwrap();
    assert_eq!(
        claim_all(&store).await,
        [(StatusChanged, all.id), (FeedbackCreated, all.id)]
    );

    let id = push(&store, "demo", now_ms(), 100).await;
    let claimed = store.claim_deliveries(now_ms(), 60_000, 100).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].event.kind, SocialProofPushed);
    assert_eq!(
        claimed[0].event.data["id"],
        id.to_string(),
        "numbered as stored"
    );
    push(&store, "demo-2", now_ms(), 100).await;
    assert_eq!(
        claim_all(&store).await,
        [],
        "a project with no webhooks queues nothing"
    );

    // Deleting a webhook, or its project, takes what waits for it along.
    let later = message(3, "more");
    let news = WebhookEvent::message("demo", conversation.id, &later);
    store
        .insert_message_with_news(conversation.id, &later, &news)
        .await
        .unwrap();
    assert!(store.delete_webhook("demo", all.id).await.unwrap());
    assert!(!store.delete_webhook("demo", all.id).await.unwrap());
    assert_eq!(claim_all(&store).await, []);
    store.delete_project(&project("demo", None)).await.unwrap();
    assert_eq!(store.webhooks("demo").await.unwrap(), []);
    assert_eq!(store.webhooks("other").await.unwrap(), [elsewhere]);
}

pub(crate) async fn deliveries_are_claimed_settled_and_logged(backend: &impl Backend) {
    let store = with_projects(backend).await;
    let hook = webhook("demo", &EventType::ALL);
    store.put_webhook(&hook).await.unwrap();
    let now = now_ms();
    let event = |n: u32| WebhookEvent::message("demo", Uuid::nil(), &message(n + 2, "x")).remove(0);
    let due = Delivery::new(hook.id, event(1), now - 10);
    let later = Delivery::new(hook.id, event(2), now + 60_000);
    store.enqueue_delivery(&due).await.unwrap();
    store.enqueue_delivery(&later).await.unwrap();

    let claimed = store.claim_deliveries(now, 30_000, 10).await.unwrap();
    assert_eq!(claimed.len(), 1, "only what is due");
    assert_eq!(
        (claimed[0].event.id, claimed[0].due_ms),
        (due.event.id, now + 30_000)
    );
    let again = store.claim_deliveries(now, 30_000, 10).await.unwrap();
    assert_eq!(again, [], "held by its claim");

    let attempt = |at_ms: u64, status: u16, delivery: &Delivery| Attempt {
        webhook: hook.id,
        event: delivery.event.clone(),
        at_ms,
        status: Some(status),
        latency_ms: 3,
        error: None,
        attempt: delivery.attempts + 1,
    };
    store
        .settle_delivery(
            &claimed[0],
            Some(now + 5_000),
            Some(&attempt(now, 500, &claimed[0])),
        )
        .await
        .unwrap();
    let retried = store
        .claim_deliveries(now + 5_000, 30_000, 10)
        .await
        .unwrap();
    assert_eq!(retried.len(), 1);
    assert_eq!(
        (retried[0].attempts, retried[0].first_attempt_ms),
        (1, Some(now))
    );
    assert_eq!(
        retried[0].event.id, due.event.id,
        "the same event, so the same delivery id"
    );
    // A stale settle (of the claim before this one) changes nothing.
    store
        .settle_delivery(&claimed[0], None, Some(&attempt(now + 1, 500, &claimed[0])))
        .await
        .unwrap();
    store
        .settle_delivery(
            &retried[0],
            None,
            Some(&attempt(now + 5_000, 200, &retried[0])),
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .claim_deliveries(now + 60_000, 30_000, 10)
            .await
            .unwrap()
            .len(),
        1,
        "the later one only"
    );

    let log = store.webhook_log(hook.id).await.unwrap();
    let seen: Vec<(u64, Option<u16>)> = log.iter().map(|a| (a.at_ms, a.status)).collect();
    assert_eq!(
        seen,
        [
            (now + 5_000, Some(200)),
            (now + 1, Some(500)),
            (now, Some(500))
        ],
        "newest first"
    );
    for n in 0..LOG_KEEP as u64 {
        store
            .settle_delivery(&later, None, Some(&attempt(now + 10_000 + n, 200, &later)))
            .await
            .unwrap();
    }
    let log = store.webhook_log(hook.id).await.unwrap();
    assert_eq!(log.len(), LOG_KEEP, "the last hundred are kept");
    assert_eq!(log[0].at_ms, now + 10_000 + LOG_KEEP as u64 - 1);

    // A redelivery of what waits already is not a second delivery.
    let waiting = Delivery::new(hook.id, event(3), now);
    store.enqueue_delivery(&waiting).await.unwrap();
    store.enqueue_delivery(&waiting).await.unwrap();
    let claimed = store.claim_deliveries(now, 30_000, 10).await.unwrap();
    assert_eq!(claimed.len(), 1, "{claimed:?}");

    // Parked without an attempt (its webhook off): no log row, no attempt counted; turned on,
    // it is due at once.
    store
        .settle_delivery(&claimed[0], Some(now + 3_600_000), None)
        .await
        .unwrap();
    assert_eq!(store.webhook_log(hook.id).await.unwrap().len(), LOG_KEEP);
    store.wake_deliveries(hook.id, now + 1).await.unwrap();
    // (The later delivery, claimed above and never settled under its claim, wakes too.)
    let woken = store.claim_deliveries(now + 1, 30_000, 10).await.unwrap();
    let woken = woken
        .into_iter()
        .find(|d| d.event.id == waiting.event.id)
        .unwrap();
    assert_eq!(woken.attempts, 0);

    // Turning off changes nothing else, and only a webhook that is there; another project's
    // webhook is not this project's to delete, nor its deliveries.
    let rotated = WebhookRecord {
        secret: "whsec_rotated".into(),
        ..hook.clone()
    };
    store.put_webhook(&rotated).await.unwrap();
    assert!(
        store
            .disable_webhook("demo", hook.id, "kept failing")
            .await
            .unwrap()
    );
    let off = store.webhooks("demo").await.unwrap().remove(0);
    assert_eq!((off.enabled, off.secret.as_str()), (false, "whsec_rotated"));
    assert_eq!(off.disabled_reason.as_deref(), Some("kept failing"));
    assert!(
        !store
            .disable_webhook("demo", hook.id, "again")
            .await
            .unwrap(),
        "off already: no one is told twice"
    );
    let still = store.webhooks("demo").await.unwrap().remove(0);
    assert_eq!(still.disabled_reason.as_deref(), Some("kept failing"));
    assert!(!store.delete_webhook("other", hook.id).await.unwrap());
    store
        .settle_delivery(&woken, Some(now + 2), None)
        .await
        .unwrap();
    assert_eq!(
        store
            .claim_deliveries(now + 2, 30_000, 10)
            .await
            .unwrap()
            .len(),
        1,
        "still there"
    );
    assert!(store.delete_webhook("demo", hook.id).await.unwrap());
    assert!(
        !store
            .disable_webhook("demo", hook.id, "late")
            .await
            .unwrap(),
        "gone stays gone"
    );
    assert_eq!(store.webhooks("demo").await.unwrap(), []);
    let late = Attempt {
        at_ms: now + 20_000,
        ..attempt(now, 500, &later)
    };
    store
        .settle_delivery(&later, None, Some(&late))
        .await
        .unwrap();
    assert_eq!(
        store.webhook_log(hook.id).await.unwrap(),
        [],
        "no rows for a deleted webhook"
    );
}

pub(crate) async fn invitations_by_project_and_by_email(backend: &impl Backend) {
    let store = backend.fresh().await;
    for (slug, email) in [
        ("demo", "zed@example.com"),
        ("demo", "amy@example.com"),
        ("demo-2", "amy@example.com"),
    ] {
        store
            .put_invitation(&invitation(slug, email))
            .await
            .unwrap();
    }
    let found = store.invitation("demo", "amy@example.com").await.unwrap();
    assert_eq!(found, Some(invitation("demo", "amy@example.com")));
    let emails: Vec<String> = store
        .project_invitations("demo")
        .await
        .unwrap()
        .into_iter()
        .map(|invitation| invitation.email)
        .collect();
    assert_eq!(emails, ["amy@example.com", "zed@example.com"]);
    let projects: Vec<String> = store
        .invitations_for("amy@example.com")
        .await
        .unwrap()
        .into_iter()
        .map(|invitation| invitation.project)
        .collect();
    assert_eq!(projects, ["demo", "demo-2"]);
    assert!(
        store
            .delete_invitation("demo", "amy@example.com")
            .await
            .unwrap()
    );
    assert!(
        !store
            .delete_invitation("demo", "amy@example.com")
            .await
            .unwrap()
    );
    assert_eq!(
        store.invitation("demo", "amy@example.com").await.unwrap(),
        None
    );
}

pub(crate) async fn leads_come_back_oldest_first(backend: &impl Backend) {
    let store = with_projects(backend).await;
    for at in [30, 10, 20] {
        store.put_lead("demo", &lead(at)).await.unwrap();
    }
    store.put_lead("demo-2", &lead(5)).await.unwrap();
    let times: Vec<u64> = store
        .leads("demo")
        .await
        .unwrap()
        .iter()
        .map(|lead| lead.created_at_ms)
        .collect();
    assert_eq!(times, [10, 20, 30]);
    assert_eq!(store.leads("none").await.unwrap(), []);
}

pub(crate) async fn documents_are_replaced_as_a_whole_in_id_order(backend: &impl Backend) {
    let store = with_projects(backend).await;
    let docs = [document("b"), document("a"), document("c")];
    store.replace_documents("demo", &docs).await.unwrap();
    store
        .replace_documents("demo-2", &[document("x")])
        .await
        .unwrap();
    let ids = |documents: Vec<Document>| -> Vec<String> {
        documents.into_iter().map(|document| document.id).collect()
    };
    assert_eq!(ids(store.documents("demo").await.unwrap()), ["a", "b", "c"]);
    assert_eq!(store.documents("demo").await.unwrap()[0], document("a"));
    store
        .replace_documents("demo", &[document("d")])
        .await
        .unwrap();
    assert_eq!(ids(store.documents("demo").await.unwrap()), ["d"]);
    assert_eq!(ids(store.documents("demo-2").await.unwrap()), ["x"]);
}

pub(crate) async fn conversations_page_newest_first_with_a_cursor(backend: &impl Backend) {
    let store = with_projects(backend).await;
    let mut sessions = Vec::new();
    for at in [100, 300, 200, 400, 500] {
        let record = session("demo", at);
        store.put_session(&record).await.unwrap();
        sessions.push(record);
    }
    store.put_session(&session("demo-2", 999)).await.unwrap();
    let times = |page: &[SessionRecord]| -> Vec<u64> {
        page.iter().map(|session| session.created_at_ms).collect()
    };
    let first = store.project_sessions("demo", None, 2).await.unwrap();
    assert_eq!(times(&first), [500, 400]);
    let last = &first[1];
    let cursor = Some((last.created_at_ms, last.id));
    let second = store.project_sessions("demo", cursor, 10).await.unwrap();
    assert_eq!(times(&second), [300, 200, 100]);
    let found = store.session(sessions[0].id).await.unwrap();
    assert_eq!(found, Some(sessions[0].clone()));

    let id = sessions[0].id;
    for seq in [2, 1, 3] {
        let text = format!("message {seq}");
        store
            .append_message(id, &message(seq, &text))
            .await
            .unwrap();
    }
    let seqs: Vec<u32> = store
        .messages(id)
        .await
        .unwrap()
        .iter()
        .map(|message| message.seq)
        .collect();
    assert_eq!(seqs, [1, 2, 3]);
    assert_eq!(store.messages(sessions[1].id).await.unwrap(), []);
}

pub(crate) async fn deleting_a_session_erases_its_transcript(backend: &impl Backend) {
    let store = with_projects(backend).await;
    let (gone, kept) = (session("demo", 1), session("demo", 2));
    for record in [&gone, &kept] {
        store.put_session(record).await.unwrap();
        store
            .append_message(record.id, &message(1, "hi"))
            .await
            .unwrap();
    }
    store.delete_session(&gone).await.unwrap();
    assert_eq!(store.session(gone.id).await.unwrap(), None);
    assert_eq!(store.messages(gone.id).await.unwrap(), []);
    let left = store.project_sessions("demo", None, 10).await.unwrap();
    assert_eq!(left, std::slice::from_ref(&kept));
    assert_eq!(store.messages(kept.id).await.unwrap().len(), 1);
}

pub(crate) async fn transcripts_come_in_the_order_asked_each_in_seq_order(backend: &impl Backend) {
    let store = with_projects(backend).await;
    let (short, long, erased) = (session("demo", 1), session("demo", 2), session("demo", 3));
    for record in [&short, &long, &erased] {
        store.put_session(record).await.unwrap();
    }
    // Written out of order: read back by seq.
    for seq in [3, 1, 2] {
        let text = format!("long {seq}");
        assert!(
            store
                .insert_message(long.id, &message(seq, &text))
                .await
                .unwrap()
        );
    }
    assert!(
        store
            .insert_message(short.id, &message(1, "short 1"))
            .await
            .unwrap()
    );
    assert!(
        store
            .insert_message(erased.id, &message(1, "gone"))
            .await
            .unwrap()
    );
    store.delete_session(&erased).await.unwrap();
    let contents = |transcript: &Vec<MessageRecord>| -> Vec<String> {
        transcript.iter().map(|m| m.content.clone()).collect()
    };
    let asked = [long.id, erased.id, Uuid::new_v4(), short.id];
    let transcripts = store.transcripts(&asked).await.unwrap();
    let read: Vec<Vec<String>> = transcripts.iter().map(contents).collect();
    assert_eq!(
        read,
        [
            vec!["long 1", "long 2", "long 3"],
            vec![],
            vec![],
            vec!["short 1"]
        ]
    );
    assert_eq!(transcripts[0], store.messages(long.id).await.unwrap());
    assert_eq!(
        store.transcripts(&[]).await.unwrap(),
        Vec::<Vec<MessageRecord>>::new()
    );
}

pub(crate) async fn proactive_messages_are_counted_per_hour_rule_and_action(
    backend: &impl Backend,
) {
    use crate::proactive::{CountsByRule, ProactiveAction};
    let store = with_projects(backend).await;
    let counts = |entries: &[(&str, ProactiveAction, u64)]| {
        let mut by_rule = CountsByRule::new();
        for &(rule, action, count) in entries {
            by_rule
                .entry(rule.to_owned())
                .or_default()
                .add(action, count);
        }
        by_rule
    };
    let (shown, opened, dismissed) = (
        ProactiveAction::Shown,
        ProactiveAction::Opened,
        ProactiveAction::Dismissed,
    );
    let first = counts(&[
        ("pricing", shown, 3),
        ("pricing", opened, 1),
        ("docs", shown, 1),
    ]);
    store.add_proactive_counts("demo", 5, &first).await.unwrap();
    let more = counts(&[("pricing", shown, 2), ("pricing", dismissed, 1)]);
    store.add_proactive_counts("demo", 5, &more).await.unwrap();
    store
        .add_proactive_counts("demo", 7, &counts(&[("docs", opened, 1)]))
        .await
        .unwrap();
    store
        .add_proactive_counts("demo", 8, &CountsByRule::new())
        .await
        .unwrap();
    // Another project, whose slug starts with this one's, keeps its own.
    store
        .add_proactive_counts("demo-2", 5, &first)
        .await
        .unwrap();
    assert_eq!(
        store.proactive_counts_by_hour("demo", 0).await.unwrap(),
        [
            (
                5,
                counts(&[
                    ("docs", shown, 1),
                    ("pricing", shown, 5),
                    ("pricing", opened, 1),
                    ("pricing", dismissed, 1),
                ])
            ),
            (7, counts(&[("docs", opened, 1)])),
        ]
    );
    assert_eq!(
        store.proactive_counts_by_hour("demo", 6).await.unwrap(),
        [(7, counts(&[("docs", opened, 1)]))]
    );
    store.forget_counts_before("demo", 6).await.unwrap();
    assert_eq!(
        store
            .proactive_counts_by_hour("demo", 0)
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        store.proactive_counts_by_hour("demo-2", 0).await.unwrap(),
        [(5, first)]
    );
    // A deleted project's counts go with it.
    store
        .delete_project(&project("demo-2", None))
        .await
        .unwrap();
    assert_eq!(
        store.proactive_counts_by_hour("demo-2", 0).await.unwrap(),
        []
    );
}

pub(crate) async fn deleting_a_project_cascades_to_everything_it_owns(backend: &impl Backend) {
    let store = backend.fresh().await;
    for slug in ["demo", "demo-2"] {
        let record = project(slug, Some(&format!("sp_{slug}")));
        store.put_project(&record, None).await.unwrap();
        push(&store, slug, 5 * HOUR_MS, 100).await;
        store.add_deliveries(slug, 5, 1).await.unwrap();
        let mut popups = crate::social_proof::PopupCounts::default();
        popups.add(
            crate::social_proof::PopupAction::Clicked,
            EventKind::Purchased,
            1,
        );
        store.add_popup_counts(slug, 5, &popups).await.unwrap();
        store
            .replace_documents(slug, &[document("a")])
            .await
            .unwrap();
        store.put_lead(slug, &lead(1)).await.unwrap();
        store
            .put_invitation(&invitation(slug, "amy@example.com"))
            .await
            .unwrap();
        store
            .put_api_token(&api_token(slug, "crm", 1))
            .await
            .unwrap();
        let conversation = session(slug, 1);
        store.put_session(&conversation).await.unwrap();
        store
            .append_message(conversation.id, &message(1, "hi"))
            .await
            .unwrap();
    }
    let doomed = store.project_sessions("demo", None, 10).await.unwrap();
    store
        .delete_project(&project("demo", Some("sp_demo")))
        .await
        .unwrap();

    assert_eq!(store.project("demo").await.unwrap(), None);
    assert_eq!(store.project_slugs().await.unwrap(), ["demo-2"]);
    let secret = SecretHash::of("sp_demo");
    assert_eq!(store.project_for_secret(&secret).await.unwrap(), None);
    assert_eq!(store.events_after("demo", 0).await.unwrap(), []);
    assert_eq!(store.event_counts("demo", 0).await.unwrap().total(), 0);
    assert_eq!(store.deliveries_by_hour("demo", 0).await.unwrap(), []);
    assert_eq!(store.popup_counts_by_hour("demo", 0).await.unwrap(), []);
    assert_eq!(store.documents("demo").await.unwrap(), []);
    assert_eq!(store.leads("demo").await.unwrap(), []);
    assert_eq!(store.project_invitations("demo").await.unwrap(), []);
    assert_eq!(store.project_api_tokens("demo").await.unwrap(), []);
    let token = store
        .api_token(&SecretHash::of("hy_demo_crm"))
        .await
        .unwrap();
    assert_eq!(token, None, "a deleted project's tokens no longer work");
    assert_eq!(store.project_api_tokens("demo-2").await.unwrap().len(), 1);
    assert_eq!(store.project_sessions("demo", None, 10).await.unwrap(), []);
    assert_eq!(store.session(doomed[0].id).await.unwrap(), None);
    assert_eq!(store.messages(doomed[0].id).await.unwrap(), []);
    assert_eq!(
        store.last_event_id("demo").await.unwrap(),
        1,
        "the id floor stays"
    );

    // The neighbour keeps everything.
    assert!(store.project("demo-2").await.unwrap().is_some());
    assert_eq!(ids_after(&store, "demo-2", 0).await, [1]);
    assert_eq!(store.event_counts("demo-2", 0).await.unwrap().total(), 1);
    assert_eq!(store.documents("demo-2").await.unwrap().len(), 1);
    assert_eq!(store.leads("demo-2").await.unwrap().len(), 1);
    assert_eq!(store.project_invitations("demo-2").await.unwrap().len(), 1);
    let sessions = store.project_sessions("demo-2", None, 10).await.unwrap();
    assert_eq!(store.messages(sessions[0].id).await.unwrap().len(), 1);
}

/// A store with one of every record; the conversation's id, the revoked family, the user.
pub(crate) async fn filled(backend: &impl Backend) -> (Store, Uuid, Uuid, UserRecord) {
    let store = backend.fresh().await;
    store
        .put_project(&project("demo", Some("sp_x")), None)
        .await
        .unwrap();
    for _ in 0..3 {
        push(&store, "demo", 2 * HOUR_MS, 100).await;
    }
    store.add_deliveries("demo", 2, 3).await.unwrap();
    store
        .replace_documents("demo", &[document("a")])
        .await
        .unwrap();
    store.put_lead("demo", &lead(4)).await.unwrap();
    let member = user("ann@example.com");
    store.put_user(&member).await.unwrap();
    let family = Uuid::new_v4();
    store.revoke_family(family).await.unwrap();
    store
        .put_invitation(&invitation("demo", "amy@example.com"))
        .await
        .unwrap();
    store
        .put_api_token(&api_token("demo", "crm", 3))
        .await
        .unwrap();
    store
        .put_webhook(&webhook("demo", &[EventType::LeadCreated]))
        .await
        .unwrap();
    let conversation = session("demo", 1);
    store.put_session(&conversation).await.unwrap();
    store
        .append_message(conversation.id, &message(1, "hi"))
        .await
        .unwrap();
    store.flush().await.unwrap();
    (store, conversation.id, family, member)
}

pub(crate) async fn a_backup_restores_every_record(backend: &impl Backend) {
    let (store, conversation, family, member) = filled(backend).await;
    let mut backup = Vec::new();
    store.backup_to(&mut backup).unwrap();
    let restored = backend.restore(backup).await;
    let source = contents(&store, conversation).await;
    assert!(source.contains("ann@example.com"), "{source}");
    assert_eq!(contents(&restored, conversation).await, source);
    let secret = SecretHash::of("sp_x");
    let owner = restored.project_for_secret(&secret).await.unwrap();
    assert_eq!(owner.as_deref(), Some("demo"));
    assert!(restored.family_revoked(family).await.unwrap());
    assert_eq!(restored.user_by_id(member.id).await.unwrap(), Some(member));
    assert_eq!(push(&restored, "demo", 2 * HOUR_MS, 100).await, 4);
}

pub(crate) async fn an_install_copies_whole_into_an_empty_store(backend: &impl Backend) {
    let (store, conversation, _, member) = filled(backend).await;
    copied_whole(&store, &backend.fresh().await, conversation, &member).await;
}

/// Copies `store` (as [`filled`] left it) into the empty `target` and checks that `target`
/// serves the same records, resolves the push secret, gives out the next id, and refuses a
/// second copy.
pub(crate) async fn copied_whole(
    store: &Store,
    target: &Store,
    conversation: Uuid,
    member: &UserRecord,
) {
    let summary = super::copy::copy(store.as_ref(), target.as_ref())
        .await
        .unwrap();
    assert_eq!(
        (summary.projects, summary.events, summary.messages),
        (1, 3, 1)
    );
    assert_eq!(
        contents(target, conversation).await,
        contents(store, conversation).await
    );
    let secret = SecretHash::of("sp_x");
    let owner = target.project_for_secret(&secret).await.unwrap();
    assert_eq!(owner.as_deref(), Some("demo"));
    assert_eq!(
        target.user_by_id(member.id).await.unwrap().as_ref(),
        Some(member)
    );
    assert_eq!(push(target, "demo", 2 * HOUR_MS, 100).await, 4, "ids go on");
    let again = super::copy::copy(store.as_ref(), target.as_ref()).await;
    assert!(matches!(again, Err(super::copy::CopyError::TargetNotEmpty)));
}

/// Everything of project "demo" the port can read, as one comparable text.
async fn contents(store: &Store, conversation: Uuid) -> String {
    let read = async {
        Ok::<_, StoreError>(format!(
            "{:?} {:?}",
            (
                store.project("demo").await?,
                store.events_after("demo", 0).await?,
                store.event_counts("demo", 0).await?,
                store.deliveries_by_hour("demo", 0).await?,
                store.documents("demo").await?,
                store.leads("demo").await?,
                store.users().await?,
                store.project_invitations("demo").await?,
                store.project_api_tokens("demo").await?,
                store.webhooks("demo").await?,
                store.project_sessions("demo", None, 10).await?,
                store.messages(conversation).await?,
            ),
            store.conversation_figures("demo", 0).await?,
        ))
    };
    read.await.unwrap()
}

/// The admin reads — an inbox page filtered to unanswered conversations or a date range,
/// paged with its cursor, and a report's figures — give these very answers on every backend.
pub(crate) async fn a_hand_off_changes_only_its_fields_and_never_revives_a_session(
    backend: &impl Backend,
) {
    use crate::chat::{ConversationStatus, Handoff, LeadContact};
    let store = backend.fresh().await;
    store
        .put_project(&project("demo", None), None)
        .await
        .unwrap();
    let conversation = session("demo", 5);
    store.put_session(&conversation).await.unwrap();
    let lead = LeadContact {
        email: "vera@example.com".into(),
        name: Some("Vera".into()),
        message: None,
        created_at_ms: 6,
    };
    let waiting = Handoff {
        status: ConversationStatus::Waiting,
        assignee: None,
        since_ms: 6,
    };
    let stored = store
        .update_handoff(conversation.id, &waiting, Some(&lead))
        .await
        .unwrap();
    assert_eq!(
        (&stored.handoff, &stored.lead),
        (&waiting, &Some(lead.clone()))
    );
    assert_eq!(
        stored.token_hash, conversation.token_hash,
        "the rest is kept"
    );
    let human = Handoff {
        status: ConversationStatus::Human,
        assignee: Some("sam@example.com".into()),
        since_ms: 7,
    };
    store
        .update_handoff(conversation.id, &human, None)
        .await
        .unwrap();
    let read = store.session(conversation.id).await.unwrap().unwrap();
    assert_eq!(read.handoff, human);
    assert_eq!(
        read.lead,
        Some(lead),
        "a change without a lead keeps the one stored"
    );

    store.delete_session(&read).await.unwrap();
    let late = store.update_handoff(conversation.id, &waiting, None).await;
    assert!(matches!(late, Err(StoreError::NoSuchSession)), "{late:?}");
    assert_eq!(
        store.session(conversation.id).await.unwrap(),
        None,
        "not brought back"
    );
}

pub(crate) async fn a_verified_visitors_conversations_are_found_by_user(backend: &impl Backend) {
    use crate::chat::SessionChange;
    use crate::identity::{DEVICE_TOKENS_MAX, VisitorIdentity};
    let store = with_projects(backend).await;
    let ana = |verified| VisitorIdentity {
        user_id: "user-42".into(),
        email: Some("ana@example.com".into()),
        name: Some("Ana".into()),
        verified,
    };
    let claim = |verified| SessionChange::Claim(ana(verified));
    let device = |n: usize| SessionChange::AddDevice {
        user_id: "user-42".into(),
        token: SecretHash::of(&format!("st_browser_{n}")),
    };
    let mut first = session("demo", 10);
    first.visitor = Some(ana(true));
    store.put_session(&first).await.unwrap();
    let (second, claimed_late, unverified, elsewhere) = (
        session("demo", 20),
        session("demo", 30),
        session("demo", 40),
        session("demo-2", 50),
    );
    for record in [&second, &claimed_late, &unverified, &elsewhere] {
        store.put_session(record).await.unwrap();
    }
    assert_eq!(
        latest_of(&store, "demo").await,
        Some(first.id),
        "written with the session"
    );

    let stored = store
        .change_session(claimed_late.id, &claim(true), &[])
        .await
        .unwrap();
    assert_eq!(stored.visitor, Some(ana(true)));
    assert_eq!(
        stored.token_hash, claimed_late.token_hash,
        "the rest is kept"
    );
    assert_eq!(
        latest_of(&store, "demo").await,
        Some(claimed_late.id),
        "the newest"
    );
    // Browsers added from several nodes at once: every one counts, up to the most kept.
    let adds: Vec<_> = (0..DEVICE_TOKENS_MAX)
        .map(|n| {
            let (store, change) = (store.clone(), device(n));
            tokio::spawn(async move { store.change_session(claimed_late.id, &change, &[]).await })
        })
        .collect();
    for add in adds {
        add.await.unwrap().unwrap();
    }
    let read = store.session(claimed_late.id).await.unwrap().unwrap();
    assert_eq!(read.device_tokens.len(), DEVICE_TOKENS_MAX, "none lost");
    for n in 0..DEVICE_TOKENS_MAX {
        assert!(
            read.check_access("demo", Some(&format!("st_browser_{n}")))
                .is_ok()
        );
    }
    store
        .change_session(claimed_late.id, &device(DEVICE_TOKENS_MAX), &[])
        .await
        .unwrap();
    let read = store.session(claimed_late.id).await.unwrap().unwrap();
    assert_eq!(read.device_tokens.len(), DEVICE_TOKENS_MAX);
    assert!(
        read.check_access("demo", Some(&format!("st_browser_{DEVICE_TOKENS_MAX}")))
            .is_ok()
    );
    // An unverified claim neither downgrades her conversation nor adds a browser to a guest's.
    let kept = store
        .change_session(claimed_late.id, &claim(false), &[])
        .await
        .unwrap();
    assert_eq!(kept.visitor, Some(ana(true)));
    let guest = store
        .change_session(second.id, &device(99), &[])
        .await
        .unwrap();
    assert_eq!((guest.visitor, guest.device_tokens), (None, vec![]));

    store
        .change_session(unverified.id, &claim(false), &[])
        .await
        .unwrap();
    store
        .change_session(elsewhere.id, &claim(true), &[])
        .await
        .unwrap();
    assert_eq!(
        latest_of(&store, "demo").await,
        Some(claimed_late.id),
        "an unverified identity is never followed; another project's is its own"
    );
    assert_eq!(latest_of(&store, "demo-2").await, Some(elsewhere.id));
    store.flush().await.unwrap();
    let reopened = backend.reopen(store).await;
    let read = reopened.session(claimed_late.id).await.unwrap().unwrap();
    assert_eq!(read.visitor, Some(ana(true)));
    assert_eq!(read.device_tokens.len(), DEVICE_TOKENS_MAX);

    // Erased from a copy read before the visitor changed: the index follows the stored one.
    reopened.delete_session(&claimed_late).await.unwrap();
    let found = reopened
        .latest_user_session("demo", "user-42")
        .await
        .unwrap();
    assert_eq!(
        found.map(|record| record.id),
        Some(first.id),
        "erased: the one before"
    );
    let late = reopened.change_session(read.id, &claim(true), &[]).await;
    assert!(matches!(late, Err(StoreError::NoSuchSession)), "{late:?}");
    assert_eq!(
        reopened.session(read.id).await.unwrap(),
        None,
        "not brought back"
    );
    assert_eq!(
        reopened
            .latest_user_session("demo", "user-7")
            .await
            .unwrap(),
        None
    );
}

async fn latest_of(store: &Store, slug: &str) -> Option<Uuid> {
    let found = store.latest_user_session(slug, "user-42").await.unwrap();
    found.map(|record| record.id)
}

pub(crate) async fn inbox_filters_and_report_figures_read_the_same_everywhere(
    backend: &impl Backend,
) {
    use super::{ConversationFigures, DayCounts, SessionFilter};
    use crate::chat::{Feedback, Source};
    use crate::time::DAY_MS;
    let store = backend.fresh().await;
    store
        .put_project(&project("demo", None), None)
        .await
        .unwrap();
    let day0 = 20_000 * DAY_MS;
    let cited = vec![Source {
        id: "returns.md".into(),
        title: "Returns".into(),
        url: None,
    }];
    // (started, question, the answer's status and sources, thumbs on the answer)
    let conversations = [
        (
            day0 - DAY_MS,
            "Old",
            MessageStatus::Complete,
            Vec::new(),
            None,
        ),
        (
            day0 + 5,
            "  How much? ",
            MessageStatus::Complete,
            cited,
            Some(Feedback::Up),
        ),
        (
            day0 + DAY_MS,
            "how much?",
            MessageStatus::Complete,
            Vec::new(),
            None,
        ),
        (
            day0 + 2 * DAY_MS,
            "Returns?",
            MessageStatus::Failed,
            Vec::new(),
            Some(Feedback::Down),
        ),
    ];
    let mut ids = Vec::new();
    for (started, question, status, sources, feedback) in conversations {
        let conversation = session("demo", started);
        store.put_session(&conversation).await.unwrap();
        let mut asked = message(1, question);
        asked.created_at_ms = started;
        let mut answer = message(2, "an answer");
        answer.created_at_ms = started + 1;
        (answer.status, answer.sources, answer.feedback) = (status, sources, feedback);
        for written in [asked, answer] {
            store
                .append_message(conversation.id, &written)
                .await
                .unwrap();
        }
        ids.push((conversation.created_at_ms, conversation.id));
    }
    store.flush().await.unwrap();
    let ids_of = |page: &super::SessionPage| -> Vec<Uuid> {
        page.sessions.iter().map(|session| session.id).collect()
    };

    let unanswered = SessionFilter {
        unanswered: true,
        ..SessionFilter::default()
    };
    let all = store.find_sessions("demo", &unanswered, 10).await.unwrap();
    assert_eq!(ids_of(&all), [ids[3].1, ids[2].1, ids[0].1]);
    assert_eq!(all.next, None, "nothing older left");
    let first = store.find_sessions("demo", &unanswered, 1).await.unwrap();
    assert_eq!((ids_of(&first), first.next), (vec![ids[3].1], Some(ids[3])));
    let after = SessionFilter {
        before: first.next,
        ..unanswered.clone()
    };
    let second = store.find_sessions("demo", &after, 1).await.unwrap();
    assert_eq!(ids_of(&second), [ids[2].1]);
    let since = SessionFilter {
        from_ms: Some(day0 + DAY_MS),
        ..SessionFilter::default()
    };
    let recent = store.find_sessions("demo", &since, 10).await.unwrap();
    assert_eq!(
        (ids_of(&recent), recent.next),
        (vec![ids[3].1, ids[2].1], None)
    );

    // Hand-off: two conversations handed to teammates, one of them assigned.
    use crate::chat::{ConversationStatus, Handoff};
    for (index, status, assignee) in [
        (1, ConversationStatus::Waiting, None),
        (2, ConversationStatus::Human, Some("sam@example.com")),
    ] {
        let mut record = store.session(ids[index].1).await.unwrap().unwrap();
        record.handoff = Handoff {
            status,
            assignee: assignee.map(str::to_owned),
            since_ms: day0,
        };
        store.put_session(&record).await.unwrap();
    }
    store.flush().await.unwrap();
    let by = |status, assignee: Option<Option<&str>>| SessionFilter {
        status,
        assignee: assignee.map(|assignee| assignee.map(str::to_owned)),
        ..SessionFilter::default()
    };
    let found = |filter: SessionFilter| {
        let store = store.clone();
        async move { ids_of(&store.find_sessions("demo", &filter, 10).await.unwrap()) }
    };
    assert_eq!(
        found(by(Some(ConversationStatus::Waiting), None)).await,
        [ids[1].1]
    );
    assert_eq!(
        found(by(Some(ConversationStatus::Human), None)).await,
        [ids[2].1]
    );
    assert_eq!(
        found(by(Some(ConversationStatus::Open), None)).await,
        [ids[3].1, ids[0].1],
        "records from before hand-off are open"
    );
    assert_eq!(
        found(by(None, Some(Some("sam@example.com")))).await,
        [ids[2].1]
    );
    assert_eq!(
        found(by(None, Some(None))).await,
        [ids[3].1, ids[1].1, ids[0].1],
        "unassigned"
    );
    assert!(
        found(by(
            Some(ConversationStatus::Waiting),
            Some(Some("sam@example.com"))
        ))
        .await
        .is_empty()
    );

    // Ratings: of the conversations started in the period only.
    for (index, score) in [(0, 1), (2, 5), (3, 2)] {
        let mut record = store.session(ids[index].1).await.unwrap().unwrap();
        record.satisfaction = Some(crate::chat::Satisfaction {
            score,
            comment: None,
            created_at_ms: day0 + 3 * DAY_MS,
        });
        store.put_session(&record).await.unwrap();
    }
    store.flush().await.unwrap();

    let figures = store
        .conversation_figures("demo", day0 / DAY_MS)
        .await
        .unwrap();
    let day = |conversations, messages, answered, unanswered| DayCounts {
        conversations,
        messages,
        answered,
        unanswered,
        leads: 0,
    };
    let expected = ConversationFigures {
        days: [
            (day0 / DAY_MS, day(1, 1, 1, 0)),
            (day0 / DAY_MS + 1, day(1, 1, 0, 1)),
            (day0 / DAY_MS + 2, day(1, 1, 0, 1)),
        ]
        .into_iter()
        .collect(),
        thumbs_up: 1,
        thumbs_down: 1,
        ratings: [0, 1, 0, 0, 1],
        first_questions: [("how much?".to_owned(), 2), ("returns?".to_owned(), 1)]
            .into_iter()
            .collect(),
    };
    assert_eq!(figures, expected);
}

/// A reply to small talk or to a request for a person (an `intent` reply) cites nothing, yet is
/// neither answered nor unanswered: no backend's inbox filter or report counts it as a miss.
pub(crate) async fn a_reply_to_small_talk_is_neither_answered_nor_unanswered(
    backend: &impl Backend,
) {
    use super::{DayCounts, SessionFilter};
    use crate::intent::Intent;
    use crate::time::DAY_MS;
    let store = backend.fresh().await;
    store
        .put_project(&project("demo", None), None)
        .await
        .unwrap();
    let day0 = 20_000 * DAY_MS;
    let conversation = session("demo", day0);
    store.put_session(&conversation).await.unwrap();
    let mut hello = message(1, "hi");
    hello.created_at_ms = day0;
    let mut reply = message(2, "Hi! How can I help you today?");
    reply.created_at_ms = day0 + 1;
    reply.intent = Some(Intent::Greeting);
    for written in [hello, reply] {
        store
            .append_message(conversation.id, &written)
            .await
            .unwrap();
    }
    store.flush().await.unwrap();

    let unanswered = SessionFilter {
        unanswered: true,
        ..SessionFilter::default()
    };
    let found = store.find_sessions("demo", &unanswered, 10).await.unwrap();
    assert!(
        found.sessions.is_empty(),
        "small talk is no unanswered question"
    );
    let figures = store
        .conversation_figures("demo", day0 / DAY_MS)
        .await
        .unwrap();
    assert_eq!(
        figures.days.get(&(day0 / DAY_MS)),
        Some(&DayCounts {
            conversations: 1,
            messages: 1,
            answered: 0,
            unanswered: 0,
            leads: 0,
        })
    );
    let stored = store.messages(conversation.id).await.unwrap();
    assert_eq!(
        stored[1].intent,
        Some(Intent::Greeting),
        "the intent is kept"
    );
}

/// The day tallies a report reads follow every write of a conversation — a new message, an
/// answer rewritten as it completes, thumbs changed, a rating changed — and its erasure, per
/// project, and survive a restart.
pub(crate) async fn report_figures_follow_every_write_and_erasure(backend: &impl Backend) {
    use super::{ConversationFigures, DayCounts};
    use crate::chat::{ConversationStatus, Feedback, Handoff, Satisfaction, SessionChange, Source};
    use crate::time::DAY_MS;
    let store = with_projects(backend).await;
    let day0 = 20_000 * DAY_MS;
    let (first, second) = (day0 / DAY_MS, day0 / DAY_MS + 1);
    let at = |seq: u32, content: &str, created_at_ms: u64| MessageRecord {
        created_at_ms,
        ..message(seq, content)
    };

    // Conversation A: a question, an answer found nothing, then rewritten citing a document,
    // thumbed up then down; the next day a second question.
    let a = session("demo", day0 + 5);
    store.put_session(&a).await.unwrap();
    assert!(
        store
            .insert_message(a.id, &at(1, " Where is my ORDER? ", day0 + 5))
            .await
            .unwrap()
    );
    let mut answer = at(2, "Let me look", day0 + 6);
    assert!(store.insert_message(a.id, &answer).await.unwrap());
    let day = |conversations, messages, answered, unanswered| DayCounts {
        conversations,
        messages,
        answered,
        unanswered,
        leads: 0,
    };
    let figures = store.conversation_figures("demo", first).await.unwrap();
    assert_eq!(
        figures.days[&first],
        day(1, 1, 0, 1),
        "no source yet: unanswered"
    );
    answer.sources = vec![Source {
        id: "orders.md".into(),
        title: "Orders".into(),
        url: None,
    }];
    store.append_message(a.id, &answer).await.unwrap();
    for feedback in [Feedback::Up, Feedback::Down] {
        answer.feedback = Some(feedback);
        store.append_message(a.id, &answer).await.unwrap();
    }
    assert!(
        !store
            .insert_message(a.id, &at(2, "a taken seq", day0 + 7))
            .await
            .unwrap(),
        "a taken seq writes nothing"
    );
    assert!(
        store
            .insert_message(a.id, &at(3, "and returns?", day0 + DAY_MS))
            .await
            .unwrap()
    );
    // Rated once resolved, then rated again: only the last counts.
    let resolved = Handoff {
        status: ConversationStatus::Resolved,
        assignee: None,
        since_ms: day0 + DAY_MS,
    };
    store.update_handoff(a.id, &resolved, None).await.unwrap();
    for score in [2, 5] {
        let rating = Satisfaction {
            score,
            comment: None,
            created_at_ms: day0 + DAY_MS,
        };
        store
            .change_session(a.id, &SessionChange::Rate(rating), &[])
            .await
            .unwrap();
    }

    // Conversation B asks the same, differently written; C is another project's.
    let b = session("demo", day0 + 10);
    store.put_session(&b).await.unwrap();
    store
        .append_message(b.id, &at(1, "where is my order?", day0 + 10))
        .await
        .unwrap();
    let c = session("other", day0 + 10);
    store.put_session(&c).await.unwrap();
    store
        .append_message(c.id, &at(1, "Not demo's", day0 + 10))
        .await
        .unwrap();
    // A message for a conversation never stored counts nowhere.
    let ghost = store
        .append_message(Uuid::new_v4(), &at(1, "ghost", day0 + 10))
        .await;
    assert!(matches!(ghost, Err(StoreError::NoSuchSession)), "{ghost:?}");
    store.flush().await.unwrap();

    let both = ConversationFigures {
        days: [(first, day(2, 2, 1, 0)), (second, day(0, 1, 0, 0))]
            .into_iter()
            .collect(),
        thumbs_up: 0,
        thumbs_down: 1,
        ratings: [0, 0, 0, 0, 1],
        first_questions: [("where is my order?".to_owned(), 2)].into_iter().collect(),
    };
    assert_eq!(
        store.conversation_figures("demo", first).await.unwrap(),
        both
    );
    let later = store.conversation_figures("demo", second).await.unwrap();
    assert_eq!(
        (later.days.len(), later.days.get(&second)),
        (1, Some(&day(0, 1, 0, 0))),
        "only the days asked for"
    );
    let other = store.conversation_figures("other", first).await.unwrap();
    assert_eq!(other.days[&first], day(1, 1, 0, 0));
    assert_eq!(
        other.first_questions,
        [("not demo's".to_owned(), 1)].into_iter().collect()
    );

    let store = backend.reopen(store).await;
    assert_eq!(
        store.conversation_figures("demo", first).await.unwrap(),
        both,
        "kept across a restart"
    );

    // Erased: A is taken out whole, B stays.
    let stored = store.session(a.id).await.unwrap().unwrap();
    store.delete_session(&stored).await.unwrap();
    let only_b = ConversationFigures {
        days: [(first, day(1, 1, 0, 0))].into_iter().collect(),
        first_questions: [("where is my order?".to_owned(), 1)].into_iter().collect(),
        ..ConversationFigures::default()
    };
    assert_eq!(
        store.conversation_figures("demo", first).await.unwrap(),
        only_b
    );
    store.delete_session(&b).await.unwrap();
    assert_eq!(
        store.figure_days("demo", 0).await.unwrap(),
        [],
        "no day is kept with nothing in it"
    );

    // A lead counts on the day it was left, once however often it is written.
    let left = lead(day0 + 7);
    for _ in 0..2 {
        store.put_lead("demo", &left).await.unwrap();
    }
    let figures = store.conversation_figures("demo", first).await.unwrap();
    assert_eq!(
        figures.days.get(&first),
        Some(&DayCounts {
            leads: 1,
            ..day(0, 0, 0, 0)
        })
    );

    // A day with more first questions than it keeps: the last one takes a place; erased, its
    // words leave the tallies with it.
    use super::figures::QUESTIONS_KEPT;
    let mut last = None;
    for index in 0..=QUESTIONS_KEPT {
        let conversation = session("demo", day0 + 100 + index as u64);
        store.put_session(&conversation).await.unwrap();
        let question = format!("private question {index}");
        store
            .append_message(conversation.id, &at(1, &question, day0 + 100))
            .await
            .unwrap();
        last = Some(conversation);
    }
    let last = last.unwrap();
    let kept = |store: Store| async move {
        let days = store.figure_days("demo", 0).await.unwrap();
        format!("{days:?}")
    };
    let words = format!("private question {QUESTIONS_KEPT}");
    assert!(
        kept(store.clone()).await.contains(&words),
        "it took a place"
    );
    store.delete_session(&last).await.unwrap();
    assert!(
        !kept(store.clone()).await.contains(&words),
        "erased with it"
    );
    let figures = store.conversation_figures("demo", first).await.unwrap();
    assert_eq!(figures.days[&first].conversations, QUESTIONS_KEPT as u64);

    // A deleted project's tallies go with it.
    store.delete_project(&project("demo", None)).await.unwrap();
    assert_eq!(store.figure_days("demo", 0).await.unwrap(), []);
}
