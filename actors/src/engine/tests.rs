//! Actor tests: the real engine, supervisor and project actors on a temporary store.

use std::time::Duration;

use std::sync::Arc;

use super::*;
use crate::activity::Change;
use crate::feed::FeedSettings;
use crate::language::Lang;
use crate::nodes::Arrival;
use crate::project::ProjectSettings;
use crate::secret::SecretHash;
use crate::session::ChatStart;
use crate::social_proof::PushFields;
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
            social_proof: Default::default(),
            locale: "auto".into(),
            strings: Default::default(),
            business_hours: Default::default(),
            proactive: Vec::new(),
        },
        push_secret: secret.map(SecretHash::of),
        allowed_origins: Vec::new(),
        seed_digest: None,
        retention_days: None,
        assistant: Default::default(),
    }
}

fn purchase(name: &str) -> PushFields {
    PushFields {
        kind: "purchased".into(),
        name: Some(name.into()),
        ..PushFields::default()
    }
}

pub fn extractive_engine() -> ChatEngine {
    let models = crate::Models {
        provider: Arc::new(crate::llm::extractive::Extractive),
        fallback: None,
        history_messages: 20,
    };
    ChatEngine::new(models, Arc::default(), Duration::from_secs(60), 10_000)
}

fn feed(replay_events: usize) -> FeedSettings {
    FeedSettings {
        replay_events,
        replay_max_age: Duration::from_secs(3600),
        subscriber_queue: 16,
        subscriber_caps: crate::feed::SubscriberCaps::new(100, 1000),
    }
}

async fn start(dir: &std::path::Path) -> Engine {
    let store: Store = Arc::new(crate::store::SledStore::open(dir).unwrap());
    start_on(store, feed(100), Nodes::single()).await
}

/// A engine with the projects `(slug, name, push secret)` configured.
async fn with_projects(dir: &std::path::Path, projects: &[(&str, &str, &str)]) -> Engine {
    let engine = start(dir).await;
    for (slug, name, secret) in projects {
        let configured = engine
            .projects
            .configure(slug, settings(name, Some(secret)))
            .await;
        configured.unwrap();
    }
    engine
}

/// A engine on `store`, with the extractive model and one-hour refresh tokens.
async fn start_on(store: Store, feed: FeedSettings, nodes: Nodes) -> Engine {
    Engine::start(EngineArguments {
        store,
        refresh_ttl: Duration::from_secs(3600),
        feed,
        chat: extractive_engine(),
        max_message_chars: 4000,
        nodes,
        webhooks: None,
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn configure_creates_then_updates_and_republishes() {
    let dir = tempfile::tempdir().unwrap();
    let engine = with_projects(dir.path(), &[("demo", "First", "sp_1")]).await;
    let first = engine.projects.snapshot("demo").await.unwrap();
    assert!(
        std::str::from_utf8(&first.widget_config_json)
            .unwrap()
            .contains("\"First\"")
    );

    engine
        .projects
        .configure("demo", settings("Second", None))
        .await
        .unwrap();
    let second = engine.projects.snapshot("demo").await.unwrap();
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
        engine.projects.snapshot("nope").await,
        Err(ProjectError::NotFound)
    ));
    assert!(matches!(
        engine.projects.snapshot("Bad Slug").await,
        Err(ProjectError::NotFound)
    ));
}

#[tokio::test]
async fn push_checks_the_secret_and_numbers_events_monotonically() {
    let dir = tempfile::tempdir().unwrap();
    let engine = with_projects(dir.path(), &[("a", "A", "sp_a"), ("b", "B", "sp_b")]).await;

    for (slug, secret, name, id) in [
        ("a", "sp_a", "x", 1),
        ("a", "sp_a", "y", 2),
        ("b", "sp_b", "z", 1),
    ] {
        let pushed = engine.projects.push(slug, secret, purchase(name)).await;
        assert_eq!(pushed.unwrap(), id, "{slug} {name}");
    }
    assert!(matches!(
        engine.projects.push("a", "sp_b", purchase("x")).await,
        Err(ProjectError::ForeignSecret)
    ));
    assert!(matches!(
        engine.projects.push("a", "sp_zz", purchase("x")).await,
        Err(ProjectError::InvalidSecret)
    ));
    assert!(matches!(
        engine.projects.push("zz", "sp_a", purchase("x")).await,
        Err(ProjectError::NotFound)
    ));
    let bad = PushFields {
        kind: "refund".into(),
        ..PushFields::default()
    };
    assert!(matches!(
        engine.projects.push("a", "sp_a", bad).await,
        Err(ProjectError::InvalidEvent(_))
    ));
    engine.stop(Duration::from_secs(5)).await.unwrap();
    drop(engine);

    // Ids continue after a restart on the same store.
    let engine = start(dir.path()).await;
    assert_eq!(
        engine
            .projects
            .push("a", "sp_a", purchase("w"))
            .await
            .unwrap(),
        3
    );
    let store_events = engine.core.store.events_after("a", 0).await.unwrap();
    let names: Vec<_> = store_events
        .iter()
        .map(|e| e.name.clone().unwrap())
        .collect();
    assert_eq!(names, vec!["x", "y", "w"]);
}

#[tokio::test]
async fn a_panicking_project_actor_is_restarted_from_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let engine = with_projects(dir.path(), &[("demo", "Bot", "sp_d")]).await;
    engine
        .projects
        .push("demo", "sp_d", purchase("before"))
        .await
        .unwrap();
    let before = engine.core.actors.get("demo").unwrap().get_id();

    engine
        .core
        .actors
        .get("demo")
        .unwrap()
        .send_message(ProjectMessage::Panic)
        .unwrap();
    let mut restarted = None;
    for _ in 0..200 {
        let current = engine.core.actors.get("demo").map(|a| a.get_id());
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
        engine
            .projects
            .push("demo", "sp_d", purchase("after"))
            .await
            .unwrap(),
        2
    );
    assert_eq!(engine.reports.live_projects(), 1);
}

#[tokio::test]
async fn a_panicking_accounts_actor_is_restarted_and_logins_go_on() {
    let dir = tempfile::tempdir().unwrap();
    let engine = start(dir.path()).await;
    engine
        .accounts
        .add_user("ann@example.com", "a long passphrase".into(), true)
        .await
        .unwrap();
    let (_, first) = engine
        .accounts
        .login("ann@example.com", "a long passphrase".into())
        .await
        .unwrap();
    let before = engine.core.accounts().unwrap().get_id();

    engine
        .core
        .accounts()
        .unwrap()
        .send_message(AccountsMessage::Panic)
        .unwrap();
    let mut restarted = false;
    for _ in 0..200 {
        if engine.core.accounts().is_ok_and(|a| a.get_id() != before) {
            restarted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        restarted,
        "the supervisor did not restart the accounts actor"
    );
    // Everything it held is in the store: the old login refreshes, a new one works.
    engine.accounts.refresh(first.token).await.unwrap();
    engine
        .accounts
        .login("ann@example.com", "a long passphrase".into())
        .await
        .unwrap();
    engine
        .accounts
        .add_user("bob@example.com", "another passphrase".into(), false)
        .await
        .unwrap();
}

#[tokio::test]
async fn the_replay_window_bounds_what_the_store_keeps() {
    let dir = tempfile::tempdir().unwrap();
    let store: Store = Arc::new(crate::store::SledStore::open(dir.path()).unwrap());
    let engine = start_on(store.clone(), feed(3), Nodes::single()).await;
    engine
        .projects
        .configure("demo", settings("Bot", Some("sp_d")))
        .await
        .unwrap();
    for idx in 0..5 {
        engine
            .projects
            .push("demo", "sp_d", purchase(&format!("n{idx}")))
            .await
            .unwrap();
    }
    let ids: Vec<u64> = store
        .events_after("demo", 0)
        .await
        .unwrap()
        .iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(ids, vec![3, 4, 5]);
}

async fn collect(mut start: ChatStart) -> (String, Vec<crate::chat::ChatEvent>) {
    use futures_util::StreamExt;
    let mut text = String::new();
    let mut events = Vec::new();
    while let Some(event) = start.events.next().await {
        if let crate::chat::ChatEvent::Delta(delta) = &event {
            text.push_str(delta);
        }
        events.push(event);
    }
    (text, events)
}

#[tokio::test]
async fn a_session_answers_from_documents_and_keeps_its_transcript() {
    use crate::chat::{ChatError, ChatEvent, MessageStatus, Role};
    use crate::knowledge::{Document, DocumentFormat};
    let dir = tempfile::tempdir().unwrap();
    let engine = start(dir.path()).await;
    engine
        .projects
        .configure("demo", settings("Bot", None))
        .await
        .unwrap();
    let returns = Document::parse(
        "returns.md",
        DocumentFormat::Markdown,
        "# Returns\n\nReturn items within 30 days.",
    );
    engine
        .projects
        .set_documents("demo", vec![returns])
        .await
        .unwrap();

    let session = Uuid::new_v4();
    let first = engine
        .chat
        .ask("demo", session, None, None, "How do returns work?".into())
        .await
        .unwrap();
    let token = first.new_token.clone().expect("a new session gets a token");
    let (text, events) = collect(first).await;
    assert!(text.contains("30 days"), "{text}");
    assert!(
        matches!(events[events.len() - 2], ChatEvent::Sources(ref s) if s[0].id == "returns.md")
    );
    assert_eq!(events.last(), Some(&ChatEvent::Finished));

    // Token rules.
    let missing = engine
        .chat
        .ask("demo", session, None, None, "again".into())
        .await;
    assert!(matches!(missing.unwrap_err(), ChatError::MissingToken));
    let wrong = engine
        .chat
        .ask(
            "demo",
            session,
            Some("st_nope".into()),
            None,
            "again".into(),
        )
        .await;
    assert!(matches!(wrong.unwrap_err(), ChatError::WrongToken));
    engine
        .projects
        .configure("other", settings("Other", None))
        .await
        .unwrap();
    let foreign = engine
        .chat
        .ask("other", session, Some(token.clone()), None, "again".into())
        .await;
    assert!(matches!(foreign.unwrap_err(), ChatError::ForeignSession));

    // Let the first answer's end reach the actor, then ask again.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let second = engine
        .chat
        .ask("demo", session, Some(token.clone()), None, "pizza?".into())
        .await
        .unwrap();
    assert!(second.new_token.is_none());
    let (text, _) = collect(second).await;
    assert_eq!(text, crate::language::Lang::En.phrases().not_found);
    tokio::time::sleep(Duration::from_millis(50)).await;

    let transcript = engine
        .chat
        .transcript("demo", session, Some(token))
        .await
        .unwrap()
        .messages;
    let roles: Vec<Role> = transcript.iter().map(|m| m.role).collect();
    assert_eq!(
        roles,
        [Role::User, Role::Assistant, Role::User, Role::Assistant]
    );
    assert!(
        transcript
            .iter()
            .all(|m| m.status == MessageStatus::Complete)
    );
    assert_eq!(transcript[1].sources[0].title, "Returns");
    assert!(matches!(
        engine
            .chat
            .transcript("demo", Uuid::new_v4(), None)
            .await
            .unwrap_err(),
        ChatError::SessionNotFound
    ));
}

#[tokio::test]
async fn subscribers_get_what_they_missed_then_live_events_also_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    {
        let engine = start(dir.path()).await;
        engine
            .projects
            .configure("demo", settings("Bot", Some("sp_d")))
            .await
            .unwrap();
        for name in ["a", "b"] {
            engine
                .projects
                .push("demo", "sp_d", purchase(name))
                .await
                .unwrap();
        }
        let mut subscription = engine
            .projects
            .subscribe("demo", Some(1), None)
            .await
            .unwrap();
        let replayed: Vec<u64> = subscription.replay.events.iter().map(|e| e.id).collect();
        assert_eq!(replayed, [2]);
        engine
            .projects
            .push("demo", "sp_d", purchase("c"))
            .await
            .unwrap();
        assert_eq!(subscription.live.recv().await.unwrap().id, 3);
        assert!(matches!(
            engine.projects.subscribe("nope", None, None).await,
            Err(ProjectError::NotFound)
        ));
        engine.stop(Duration::from_secs(5)).await.unwrap();
    }
    let engine = start(dir.path()).await;
    let replay = engine.projects.replay("demo", Some(2)).await.unwrap();
    assert!(!replay.reset);
    assert_eq!(replay.events.len(), 1);
    assert_eq!(replay.events[0].id, 3);
    assert_eq!(
        engine
            .projects
            .push("demo", "sp_d", purchase("d"))
            .await
            .unwrap(),
        4,
        "ids keep counting across restarts"
    );
}

/// One direction of a fan-out between two nodes in one process: what this node announces the
/// peer hears, except the event ids in `lose` (announcements lost on the way).
struct Link {
    peer: tokio::sync::mpsc::UnboundedSender<Arrival>,
    inbox: std::sync::Mutex<Option<tokio::sync::mpsc::UnboundedReceiver<Arrival>>>,
    lose: Vec<u64>,
}

#[async_trait::async_trait]
impl crate::nodes::FanOut for Link {
    async fn announce(
        &self,
        slug: &str,
        event: &crate::social_proof::SocialProofEvent,
    ) -> Result<(), crate::nodes::NodeError> {
        if !self.lose.contains(&event.id) {
            let arrival = Arrival::Event {
                slug: slug.into(),
                event: event.clone(),
            };
            self.peer.send(arrival).unwrap();
        }
        Ok(())
    }

    async fn announce_change(&self, slug: &str) -> Result<(), crate::nodes::NodeError> {
        let changed = Arrival::Changed { slug: slug.into() };
        self.peer.send(changed).unwrap();
        Ok(())
    }

    fn announce_activity(&self, activity: &crate::activity::Activity) {
        let arrival = Arrival::Activity(Box::new(activity.clone()));
        self.peer.send(arrival).unwrap();
    }

    fn arrivals(&self) -> Option<tokio::sync::mpsc::UnboundedReceiver<Arrival>> {
        self.inbox.lock().unwrap().take()
    }
}

/// Two nodes on one store, linked both ways; each loses its announcements of the ids in
/// `lose_a` and `lose_b`.
async fn two_nodes(store: &Store, lose_a: Vec<u64>, lose_b: Vec<u64>) -> (Engine, Engine) {
    let (to_b, b_inbox) = tokio::sync::mpsc::unbounded_channel();
    let (to_a, a_inbox) = tokio::sync::mpsc::unbounded_channel();
    let links = [(to_b, a_inbox, lose_a), (to_a, b_inbox, lose_b)];
    let mut registries = Vec::new();
    for (peer, inbox, lose) in links {
        let link = Arc::new(Link {
            peer,
            inbox: std::sync::Mutex::new(Some(inbox)),
            lose,
        });
        let leases = Arc::new(crate::nodes::SingleNode::default());
        let nodes = Nodes::cluster(link, leases, Duration::from_secs(3600));
        registries.push(start_on(store.clone(), feed(100), nodes).await);
    }
    let b = registries.pop().unwrap();
    (registries.pop().unwrap(), b)
}

#[tokio::test]
async fn events_pushed_on_one_node_reach_live_visitors_of_another_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let store: Store = Arc::new(crate::store::SledStore::open(dir.path()).unwrap());
    // Node a's announcement of event 2 is lost: node b catches up from the store at event 3.
    let (a, b) = two_nodes(&store, vec![2], vec![5]).await;
    a.projects
        .configure("demo", settings("Demo", Some("sp_d")))
        .await
        .unwrap();
    let mut visitor = b.projects.subscribe("demo", Some(0), None).await.unwrap();
    for name in ["one", "two", "three"] {
        a.projects
            .push("demo", "sp_d", purchase(name))
            .await
            .unwrap();
    }
    let mut ids = Vec::new();
    for _ in 0..3 {
        let next = tokio::time::timeout(Duration::from_secs(10), visitor.live.recv());
        ids.push(next.await.expect("delivered").unwrap().id);
    }
    assert_eq!(ids, [1, 2, 3]);
    // Nothing twice: after the catch-up, the next event is the next id.
    a.projects
        .push("demo", "sp_d", purchase("four"))
        .await
        .unwrap();
    let next = tokio::time::timeout(Duration::from_secs(10), visitor.live.recv());
    assert_eq!(next.await.unwrap().unwrap().id, 4);

    // Both nodes push. Node a never hears of b's event 5; its own event 6 brings it along.
    let mut visitor_a = a.projects.subscribe("demo", None, None).await.unwrap();
    assert_eq!(
        b.projects
            .push("demo", "sp_d", purchase("five"))
            .await
            .unwrap(),
        5
    );
    assert_eq!(
        a.projects
            .push("demo", "sp_d", purchase("six"))
            .await
            .unwrap(),
        6
    );
    for visitor in [&mut visitor_a, &mut visitor] {
        let mut ids = Vec::new();
        for _ in 0..2 {
            let next = tokio::time::timeout(Duration::from_secs(10), visitor.live.recv());
            ids.push(next.await.expect("delivered").unwrap().id);
        }
        assert_eq!(ids, [5, 6]);
    }
}

/// Starts `count` conversations in project "demo", each with one question and its answer.
async fn conversations(engine: &Engine, count: usize) {
    for n in 0..count {
        let question = format!("question {n}");
        let start = engine
            .chat
            .ask("demo", Uuid::new_v4(), None, None, question);
        collect(start.await.unwrap()).await;
    }
}

#[tokio::test]
async fn the_inbox_pages_newest_first_and_ends_with_no_next() {
    let dir = tempfile::tempdir().unwrap();
    let engine = with_projects(dir.path(), &[("demo", "Bot", "sp_d")]).await;
    conversations(&engine, 3).await;
    let query = |limit, before| crate::engine::InboxQuery {
        limit,
        before,
        from_ms: None,
        to_ms: None,
        unanswered: false,
        status: None,
        assignee: None,
    };
    let first = engine.chat.inbox("demo", query(2, None)).await.unwrap();
    assert_eq!(first.conversations.len(), 2);
    let next = first.next.expect("a third conversation is left");
    let (last_ms, last_id) = {
        let (session, _) = &first.conversations[1];
        (session.created_at_ms, session.id)
    };
    assert_eq!(
        next,
        (last_ms, last_id),
        "the next page starts after the last row"
    );
    let second = engine
        .chat
        .inbox("demo", query(2, Some(next)))
        .await
        .unwrap();
    assert_eq!(second.conversations.len(), 1);
    assert_eq!(second.next, None, "nothing older is left");
    // Every answer cited nothing (no documents), so all three are unanswered ones.
    let unanswered = crate::engine::InboxQuery {
        unanswered: true,
        ..query(10, None)
    };
    let all = engine.chat.inbox("demo", unanswered).await.unwrap();
    assert_eq!(all.conversations.len(), 3);
    // A limit of 0 from a careless caller is one row, not an endless scan.
    let zero = engine.chat.inbox("demo", query(0, None)).await.unwrap();
    assert_eq!(zero.conversations.len(), 1);
}

#[tokio::test]
async fn analytics_count_the_days_up_to_now_and_nothing_before() {
    let dir = tempfile::tempdir().unwrap();
    let engine = with_projects(dir.path(), &[("demo", "Bot", "sp_d")]).await;
    conversations(&engine, 2).await;
    engine
        .projects
        .push("demo", "sp_d", purchase("x"))
        .await
        .unwrap();
    let now = crate::time::now_ms();
    let today = engine.reports.analytics("demo", 7, now).await.unwrap();
    assert_eq!(today.days.len(), 7);
    assert_eq!(today.days.last().unwrap().date, crate::time::utc_date(now));
    // Summed over the window, so a run across midnight counts the same.
    let sum = |figure: fn(&crate::engine::DayFigures) -> u64| -> u64 {
        today.days.iter().map(figure).sum()
    };
    assert_eq!(sum(|day| day.conversations), 2);
    assert_eq!(sum(|day| day.messages), 2);
    assert_eq!(sum(|day| day.pushes), 1);
    assert_eq!(
        sum(|day| day.unanswered),
        2,
        "nothing in the knowledge base to cite"
    );
    assert_eq!(today.top_questions.len(), 2);
    // Seen from three days later with a two-day window, today's figures are outside it.
    let later = now + 3 * crate::time::DAY_MS;
    let window = engine.reports.analytics("demo", 2, later).await.unwrap();
    let counted: u64 = window
        .days
        .iter()
        .map(|day| day.conversations + day.pushes)
        .sum();
    assert_eq!(counted, 0);
    let missing = engine.reports.analytics("nope", 7, now).await;
    assert!(matches!(missing, Err(ProjectError::NotFound)));
}

/// Two engines, each with its own connections to one fresh PostgreSQL database and to the
/// Redis `redis`, checking the store every `check_interval`.
async fn nodes_on_postgres_and_redis(
    redis: &crate::testing::Redis,
    check_interval: Duration,
) -> Vec<Engine> {
    use crate::nodes::RedisFanOut;
    use crate::store::PgStore;
    let database = crate::store::postgres::tests::fresh_database().await;
    let mut nodes = Vec::new();
    for _ in 0..2 {
        let postgres = Arc::new(
            PgStore::connect(&database, &std::env::temp_dir())
                .await
                .unwrap(),
        );
        let cluster = postgres.cluster().await.unwrap().id;
        let fan_out = RedisFanOut::connect(&redis.url(), cluster).await;
        let fan_out = Arc::new(fan_out.unwrap());
        let nodes_seen = Nodes::cluster(fan_out, postgres.clone(), check_interval);
        nodes.push(start_on(postgres, feed(100), nodes_seen).await);
    }
    nodes
}

/// Cluster mode's parts together: two engines, each with its own connections to one
/// PostgreSQL database and one Redis.
#[tokio::test]
async fn two_nodes_on_postgres_and_redis_share_ids_and_deliver_each_others_pushes() {
    use crate::testing::{Redis, free_port};
    let redis = Redis::start(free_port());
    // Checks too rare to matter: what reaches the other node comes through Redis.
    let nodes = nodes_on_postgres_and_redis(&redis, Duration::from_secs(3600)).await;
    let (a, b) = (&nodes[0], &nodes[1]);
    a.projects
        .configure("demo", settings("Demo", Some("sp_d")))
        .await
        .unwrap();
    let mut at_a = a.projects.subscribe("demo", None, None).await.unwrap();
    let mut at_b = b.projects.subscribe("demo", None, None).await.unwrap();
    for (node, name) in [(a, "one"), (b, "two"), (a, "three")] {
        node.projects
            .push("demo", "sp_d", purchase(name))
            .await
            .unwrap();
    }
    for visitor in [&mut at_a, &mut at_b] {
        let mut ids = Vec::new();
        for _ in 0..3 {
            let next = tokio::time::timeout(Duration::from_secs(10), visitor.live.recv());
            ids.push(next.await.expect("delivered").unwrap().id);
        }
        assert_eq!(
            ids,
            [1, 2, 3],
            "every node's visitors get every push once, in order"
        );
    }

    // A question on another node while an answer is being written is refused (409).
    let session = Uuid::new_v4();
    let first = a.chat.ask("demo", session, None, None, "a question".into());
    let first = first.await.unwrap();
    let token = first.new_token.clone();
    let second = b
        .chat
        .ask("demo", session, token.clone(), None, "another".into())
        .await;
    assert!(
        matches!(second, Err(crate::chat::ChatError::Busy)),
        "{second:?}"
    );
    collect(first).await;

    // A teammate's reply on one node reaches the visitor and the team watching on the other.
    let mut team = b.chat.watch_team("demo");
    let mut visitor = b
        .chat
        .watch("demo", session, token.as_deref())
        .await
        .unwrap();
    let wrong = b.chat.watch("demo", session, Some("wrong")).await;
    assert!(
        matches!(wrong, Err(crate::chat::ChatError::WrongToken)),
        "{:?}",
        wrong.err()
    );
    let reply = a.chat.agent_reply(
        "demo",
        session,
        "Hi, Sam here".into(),
        crate::chat::Author {
            email: "sam@acme.test".into(),
            signature: Default::default(),
            assignable: true,
        },
    );
    reply.await.unwrap();
    for watch in [&mut team as &mut dyn WatchNext, &mut visitor] {
        let mut changes = Vec::new();
        while changes.len() < 2 {
            let next = tokio::time::timeout(Duration::from_secs(10), watch.next_activity());
            let change = next.await.expect("news arrives").change;
            // News of the answer before (seq 2) may still be on its way from node a when the
            // watch starts on b: it is not what this checks.
            if !matches!(&change, Change::Message(m) if m.seq < 3) {
                changes.push(change);
            }
        }
        assert!(
            matches!(&changes[0], Change::Message(m) if m.content == "Hi, Sam here" && m.seq == 3),
            "{changes:?}"
        );
        assert!(
            matches!(&changes[1], Change::Handoff { handoff, status_changed: true } if handoff.status == crate::chat::ConversationStatus::Human),
            "{changes:?}"
        );
    }
    drop(redis);
}

/// Reads a watch whatever its key, for tests that hold both kinds.
#[async_trait::async_trait]
trait WatchNext: Send {
    async fn next_activity(&mut self) -> crate::activity::Activity;
}

#[async_trait::async_trait]
impl<K: Eq + std::hash::Hash + Send + Sync> WatchNext for crate::activity::Watch<K> {
    async fn next_activity(&mut self) -> crate::activity::Activity {
        match self.next().await {
            Some(crate::activity::Watched::Activity(activity)) => (*activity).clone(),
            _ => panic!("expected news"),
        }
    }
}

/// Waits until `check` holds, or fails the test after 10 s.
async fn eventually<F: std::future::Future<Output = bool>>(what: &str, check: impl Fn() -> F) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Two nodes on one store that never hear each other (every announcement is lost), checking
/// the store every `check_interval`, with project "demo" (push secret "sp_d").
async fn deaf_nodes(check_interval: Duration) -> (tempfile::TempDir, Store, Vec<Engine>) {
    use crate::nodes::SingleNode;
    let dir = tempfile::tempdir().unwrap();
    let store: Store = Arc::new(crate::store::SledStore::open(dir.path()).unwrap());
    let mut nodes = Vec::new();
    for _ in 0..2 {
        let deaf = Arc::new(SingleNode::default());
        let cluster = Nodes::cluster(deaf.clone(), deaf, check_interval);
        nodes.push(start_on(store.clone(), feed(100), cluster).await);
    }
    nodes[0]
        .projects
        .configure("demo", settings("Demo", Some("sp_d")))
        .await
        .unwrap();
    (dir, store, nodes)
}

/// Two nodes on one store that never hear each other (every announcement is lost): each
/// finds the other's events, settings, knowledge base and deletions at its periodic check.
#[tokio::test]
async fn a_node_finds_what_no_one_told_it_at_its_next_check() {
    use crate::knowledge::{Document, DocumentFormat};
    let (_dir, store, nodes) = deaf_nodes(Duration::from_millis(50)).await;
    let (a, b) = (&nodes[0], &nodes[1]);
    let mut visitor = b.projects.subscribe("demo", None, None).await.unwrap();

    // An event whose announcement was lost (its node died after the commit).
    a.projects
        .push("demo", "sp_d", purchase("one"))
        .await
        .unwrap();
    let next = tokio::time::timeout(Duration::from_secs(3), visitor.live.recv());
    assert_eq!(next.await.expect("within 3 s").unwrap().id, 1);

    // Settings, then the knowledge base.
    a.projects
        .configure("demo", settings("Renamed", Some("sp_d")))
        .await
        .unwrap();
    let name = || async {
        b.projects
            .snapshot("demo")
            .await
            .unwrap()
            .widget
            .name
            .clone()
    };
    eventually("the new name on node b", || async {
        name().await == "Renamed"
    })
    .await;
    let returns = Document::parse(
        "returns.md",
        DocumentFormat::Markdown,
        "# Returns\n\nReturn items within 30 days.",
    );
    a.projects
        .set_documents("demo", vec![returns])
        .await
        .unwrap();
    let finds = || async {
        let snapshot = b.projects.snapshot("demo").await.unwrap();
        !snapshot.knowledge.search("returns", Lang::En, 3).is_empty()
    };
    eventually("the new document searchable on node b", finds).await;

    // A change made on b starts from what a wrote: nothing of a's is overwritten.
    let rotated = b.projects.rotate_push_secret("demo").await.unwrap();
    let stored = store.project("demo").await.unwrap().unwrap();
    assert_eq!(stored.widget.name, "Renamed");
    assert_eq!(stored.push_secret_hash, Some(SecretHash::of(&rotated)));
    let old_secret_refused = || async {
        a.projects
            .push("demo", "sp_d", purchase("x"))
            .await
            .is_err()
    };
    eventually("node a refusing the rotated-out secret", old_secret_refused).await;

    // The project deleted on a is gone from b, its visitors' stream ended.
    a.projects.delete("demo").await.unwrap();
    let gone = || async {
        matches!(
            b.projects.snapshot("demo").await,
            Err(ProjectError::NotFound)
        )
    };
    eventually("the project gone from node b", gone).await;
    // (After the pushes node a took with the old secret before its check: the secret is
    // checked against each node's copy of the settings.)
    let ended = async { while visitor.live.recv().await.is_ok() {} };
    tokio::time::timeout(Duration::from_secs(3), ended)
        .await
        .expect("the stream ends");
}

/// A visitor reconnecting to a node that has not heard of the latest events yet gets exactly
/// what it missed from the store, not a reset.
#[tokio::test]
async fn a_node_behind_replays_from_the_store_rather_than_reset() {
    let (_dir, _store, nodes) = deaf_nodes(Duration::from_secs(3600)).await;
    let (a, b) = (&nodes[0], &nodes[1]);
    b.projects.snapshot("demo").await.unwrap(); // b's actor starts, knowing of no event
    for name in ["one", "two", "three"] {
        a.projects
            .push("demo", "sp_d", purchase(name))
            .await
            .unwrap();
    }
    let polled = b.projects.replay("demo", Some(2)).await.unwrap();
    assert!(!polled.reset);
    let ids: Vec<u64> = polled.events.iter().map(|event| event.id).collect();
    assert_eq!(ids, [3]);
    a.projects
        .push("demo", "sp_d", purchase("four"))
        .await
        .unwrap();
    let subscribed = b.projects.subscribe("demo", Some(4), None).await.unwrap();
    assert!(!subscribed.replay.reset);
    assert!(subscribed.replay.events.is_empty());
}

/// "12 people are viewing this page": every node's visitors on the page, shared through Redis.
#[tokio::test]
async fn viewers_of_a_page_are_counted_across_nodes() {
    use crate::testing::{Redis, free_port};
    let redis = Redis::start(free_port());
    let nodes = nodes_on_postgres_and_redis(&redis, Duration::from_millis(20)).await;
    let (a, b) = (&nodes[0], &nodes[1]);
    a.projects
        .configure("demo", settings("Demo", Some("sp_d")))
        .await
        .unwrap();
    let on = |page: &str| Some(page.to_owned());
    let _at_a = a
        .projects
        .subscribe("demo", None, on("/pricing"))
        .await
        .unwrap();
    let at_b: Vec<_> = [on("/pricing"), on("/pricing"), on("/"), None]
        .into_iter()
        .map(|page| b.projects.subscribe("demo", None, page))
        .collect();
    let mut at_b = futures_util::future::try_join_all(at_b).await.unwrap();
    let settle = |node: &Engine, page: &'static str, expected: usize| {
        let projects = node.projects.clone();
        async move {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
            loop {
                let seen = projects.viewers("demo", page).await.unwrap();
                if seen == expected {
                    return;
                }
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "{page}: {seen}, not {expected}"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    settle(a, "/pricing", 3).await;
    settle(b, "/pricing", 3).await;
    settle(a, "/", 1).await;
    // Visitors leave: the other node stops counting them.
    at_b.truncate(1);
    settle(a, "/pricing", 2).await;
    settle(a, "/", 0).await;
}
