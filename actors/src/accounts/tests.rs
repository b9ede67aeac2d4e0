//! Unit tests of accounts: password hashing, emails, and refresh-token rotation with reuse
//! detection, against a real store.

use std::sync::Arc;
use std::time::Duration;

use super::*;

fn user(email: &str, password: &str) -> UserRecord {
    UserRecord {
        id: Uuid::new_v4(),
        email: normalize_email(email).unwrap(),
        password_hash: hash_password(password).unwrap(),
        admin: true,
        roles: BTreeMap::new(),
        created_at_ms: 1,
        profile: Default::default(),
    }
}

async fn start(dir: &std::path::Path, refresh_ttl_ms: u64) -> ActorRef<AccountsMessage> {
    let store: Store = Arc::new(crate::store::SledStore::open(dir).unwrap());
    let (actor, _) = Actor::spawn(
        None,
        Accounts,
        AccountsArguments {
            store,
            refresh_ttl_ms,
        },
    )
    .await
    .unwrap();
    actor
}

#[test]
fn passwords_are_hashed_with_argon2id_and_verified() {
    let hash = hash_password("correct horse battery").unwrap();
    assert!(hash.starts_with("$argon2id$"));
    assert!(verify_password("correct horse battery", &hash));
    assert!(!verify_password("correct horse batterY", &hash));
    assert!(!verify_password("anything", "not a hash"));
    assert!(matches!(
        hash_password("short").unwrap_err(),
        AccountError::BadPassword
    ));
}

#[test]
fn emails_are_lowercased_and_checked() {
    assert_eq!(
        normalize_email(" Ann@Example.COM ").unwrap(),
        "ann@example.com"
    );
    for bad in ["", "ann", "ann@example", "a b@c.co", "@c.co"] {
        assert!(normalize_email(bad).is_err(), "{bad}");
    }
}

#[tokio::test]
async fn refresh_tokens_rotate_and_a_reused_one_revokes_its_family() {
    let dir = tempfile::tempdir().unwrap();
    let accounts = start(dir.path(), 60_000).await;
    let ann = user("ann@example.com", "correct horse battery");
    ractor::call!(accounts, AccountsMessage::AddUser, Box::new(ann.clone()))
        .unwrap()
        .unwrap();
    let again = ractor::call!(accounts, AccountsMessage::AddUser, Box::new(ann.clone())).unwrap();
    assert!(matches!(again.unwrap_err(), AccountError::Exists));

    let first = ractor::call!(
        accounts,
        AccountsMessage::Issue,
        ann.id,
        ann.password_hash.clone()
    )
    .unwrap()
    .unwrap();
    let (who, second) = ractor::call!(accounts, AccountsMessage::Refresh, first.token.clone())
        .unwrap()
        .unwrap();
    assert_eq!(who.id, ann.id);
    assert_ne!(first.token, second.token);
    assert_eq!(first.family, second.family, "one sign-in, one family");
    // The first token again: reuse. It fails, and so does the newer token of its family.
    let reused = ractor::call!(accounts, AccountsMessage::Refresh, first.token).unwrap();
    assert!(matches!(reused.unwrap_err(), AccountError::BadRefreshToken));
    let newer = ractor::call!(accounts, AccountsMessage::Refresh, second.token).unwrap();
    assert!(matches!(newer.unwrap_err(), AccountError::BadRefreshToken));

    // Another login is another family, untouched; logout ends it.
    let other = ractor::call!(
        accounts,
        AccountsMessage::Issue,
        ann.id,
        ann.password_hash.clone()
    )
    .unwrap()
    .unwrap();
    assert_ne!(other.family, first.family);
    let (_, other) = ractor::call!(accounts, AccountsMessage::Refresh, other.token)
        .unwrap()
        .unwrap();
    ractor::call!(accounts, AccountsMessage::Logout, other.token.clone())
        .unwrap()
        .unwrap();
    let after_logout = ractor::call!(accounts, AccountsMessage::Refresh, other.token).unwrap();
    assert!(matches!(
        after_logout.unwrap_err(),
        AccountError::BadRefreshToken
    ));
}

#[tokio::test]
async fn expired_refresh_tokens_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let accounts = start(dir.path(), 50).await;
    let ann = user("ann@example.com", "correct horse battery");
    ractor::call!(accounts, AccountsMessage::AddUser, Box::new(ann.clone()))
        .unwrap()
        .unwrap();
    let token = ractor::call!(
        accounts,
        AccountsMessage::Issue,
        ann.id,
        ann.password_hash.clone()
    )
    .unwrap()
    .unwrap();
    tokio::time::sleep(Duration::from_millis(80)).await;
    let expired = ractor::call!(accounts, AccountsMessage::Refresh, token.token).unwrap();
    assert!(matches!(
        expired.unwrap_err(),
        AccountError::BadRefreshToken
    ));
}

#[tokio::test]
async fn a_reset_link_works_once_before_it_expires_and_ends_every_sign_in() {
    let dir = tempfile::tempdir().unwrap();
    let accounts = start(dir.path(), 60_000).await;
    let ann = user("ann@example.com", "correct horse battery");
    ractor::call!(accounts, AccountsMessage::AddUser, Box::new(ann.clone()))
        .unwrap()
        .unwrap();
    let grant = ractor::call!(
        accounts,
        AccountsMessage::Issue,
        ann.id,
        ann.password_hash.clone()
    )
    .unwrap()
    .unwrap();
    let link = |token: &str, expires_at_ms| {
        let reset = PasswordReset {
            user_id: ann.id,
            expires_at_ms,
        };
        let hash = SecretHash::of(token);
        let accounts = accounts.clone();
        async move {
            ractor::call!(accounts, AccountsMessage::AddPasswordReset, hash, reset)
                .unwrap()
                .unwrap();
        }
    };
    let new_hash = hash_password("a brand new password").unwrap();
    let reset = |token: &str| {
        let (accounts, hash) = (accounts.clone(), SecretHash::of(token));
        let password = new_hash.clone();
        async move { ractor::call!(accounts, AccountsMessage::ResetPassword, hash, password).unwrap() }
    };

    let stale = ractor::call!(
        accounts,
        AccountsMessage::Issue,
        ann.id,
        "a hash from before".into()
    )
    .unwrap();
    assert!(
        matches!(stale, Err(AccountError::WrongCredentials)),
        "a password changed meanwhile"
    );
    link("pr_older", now_ms() + 60_000).await;
    link("pr_expired", now_ms() - 1).await;
    assert!(
        matches!(reset("pr_older").await, Err(AccountError::BadResetLink)),
        "only the newest works"
    );
    assert!(matches!(
        reset("pr_expired").await,
        Err(AccountError::BadResetLink)
    ));
    link("pr_good", now_ms() + 60_000).await;
    let changed = reset("pr_good").await.unwrap();
    assert!(verify_password(
        "a brand new password",
        &changed.password_hash
    ));
    assert!(
        matches!(reset("pr_good").await, Err(AccountError::BadResetLink)),
        "used"
    );
    let refreshed = ractor::call!(accounts, AccountsMessage::Refresh, grant.token).unwrap();
    assert!(
        matches!(refreshed, Err(AccountError::BadRefreshToken)),
        "signed out everywhere"
    );
}
