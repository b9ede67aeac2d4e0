//! Admin sign-in: login, the access token, refresh rotation with reuse detection, logout,
//! lockouts, and the two ways the first admin is made (CLI and environment).

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::{Value, json};

use crate::support::{Binary, TestServer, client, expect_error};

const PASSWORD: &str = "correct horse battery";

async fn post(url: String, body: Value) -> reqwest::Response {
    client().post(url).json(&body).send().await.unwrap()
}

async fn login(server_url: &str, email: &str, password: &str) -> reqwest::Response {
    post(
        format!("{server_url}/api/admin/auth/login"),
        json!({ "email": email, "password": password }),
    )
    .await
}

async fn me(server_url: &str, access_token: &str) -> reqwest::Response {
    client()
        .get(format!("{server_url}/api/admin/me"))
        .bearer_auth(access_token)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn login_refresh_rotation_reuse_and_logout() {
    let server = TestServer::start().await;
    let base = format!("http://{}", server.addr);
    server
        .engine
        .accounts
        .add_user("Ann@Example.com", PASSWORD.into(), true)
        .await
        .unwrap();

    let response = login(&base, "ann@example.com", PASSWORD).await;
    assert_eq!(response.status(), 200);
    assert!(
        !response
            .headers()
            .contains_key("access-control-allow-origin"),
        "same-origin only"
    );
    let tokens: Value = response.json().await.unwrap();
    assert_eq!(tokens["tokenType"], "Bearer");
    assert_eq!(tokens["expiresIn"], 900);
    assert_eq!(tokens["user"]["email"], "ann@example.com");
    let access = tokens["accessToken"].as_str().unwrap();
    let first_refresh = tokens["refreshToken"].as_str().unwrap().to_owned();
    assert!(first_refresh.starts_with("rt_"));

    let who: Value = me(&base, access).await.json().await.unwrap();
    assert_eq!(who["email"], "ann@example.com");
    assert_eq!(who["admin"], true);
    // The dashboard's input limits are the server's.
    assert_eq!(
        who["limits"],
        json!({
            "replyChars": 4000, "projectNameChars": 80, "companyChars": 80,
            "welcomeChars": 500, "quickReplyChars": 80
        })
    );
    expect_error(me(&base, "not.a.jwt").await, 401).await;
    let bare = client()
        .get(format!("{base}/api/admin/me"))
        .send()
        .await
        .unwrap();
    expect_error(bare, 401).await;

    let refreshed = post(
        format!("{base}/api/admin/auth/refresh"),
        json!({ "refreshToken": first_refresh }),
    )
    .await;
    assert_eq!(refreshed.status(), 200);
    let refreshed: Value = refreshed.json().await.unwrap();
    let second_refresh = refreshed["refreshToken"].as_str().unwrap().to_owned();
    assert_eq!(
        me(&base, refreshed["accessToken"].as_str().unwrap())
            .await
            .status(),
        200
    );

    // Replaying the first token revokes the whole login: the second one dies with it.
    let replay = post(
        format!("{base}/api/admin/auth/refresh"),
        json!({ "refreshToken": first_refresh }),
    )
    .await;
    expect_error(replay, 401).await;
    let second = post(
        format!("{base}/api/admin/auth/refresh"),
        json!({ "refreshToken": second_refresh }),
    )
    .await;
    expect_error(second, 401).await;

    // A new login, then logout: its refresh token stops working.
    let tokens: Value = login(&base, "ann@example.com", PASSWORD)
        .await
        .json()
        .await
        .unwrap();
    let refresh = tokens["refreshToken"].as_str().unwrap();
    let out = post(
        format!("{base}/api/admin/auth/logout"),
        json!({ "refreshToken": refresh }),
    )
    .await;
    assert_eq!(out.status(), 204);
    let after = post(
        format!("{base}/api/admin/auth/refresh"),
        json!({ "refreshToken": refresh }),
    )
    .await;
    expect_error(after, 401).await;
}

#[tokio::test]
async fn wrong_credentials_look_alike_and_repeated_failures_lock_the_account() {
    let server = TestServer::start_with(|config| config.rate_limits.login.requests = 100).await;
    let base = format!("http://{}", server.addr);
    add_ann(&server).await;

    let unknown = expect_error(login(&base, "nobody@example.com", PASSWORD).await, 401).await;
    let wrong = expect_error(
        login(&base, "ann@example.com", "wrong password!").await,
        401,
    )
    .await;
    assert_eq!(
        unknown, wrong,
        "the answer does not tell which accounts exist"
    );
    for (body, status) in [
        (json!({ "email": "ann@example.com" }), 400),
        (json!({ "password": PASSWORD }), 400),
        (json!({ "email": 5, "password": PASSWORD }), 400),
    ] {
        expect_error(
            post(format!("{base}/api/admin/auth/login"), body).await,
            status,
        )
        .await;
    }
    expect_error(
        post(format!("{base}/api/admin/auth/refresh"), json!({})).await,
        400,
    )
    .await;

    for _ in 0..4 {
        expect_error(
            login(&base, "ANN@example.com", "wrong password!").await,
            401,
        )
        .await;
    }
    let locked = login(&base, "ann@example.com", PASSWORD).await;
    assert!(locked.headers().contains_key("retry-after"));
    expect_error(locked, 429).await;
}

/// Logins sent all at once, each from `addresses[i]` (via a trusted proxy's X-Forwarded-For);
/// returns how many got each status.
async fn concurrent_logins(
    base: &str,
    attempts: &[(&str, &str, String)],
) -> std::collections::BTreeMap<u16, usize> {
    let requests = attempts.iter().map(|(email, password, address)| {
        client()
            .post(format!("{base}/api/admin/auth/login"))
            .header("x-forwarded-for", address.as_str())
            .json(&json!({ "email": email, "password": password }))
            .send()
    });
    let mut statuses = std::collections::BTreeMap::new();
    for response in futures_util::future::join_all(requests).await {
        *statuses
            .entry(response.unwrap().status().as_u16())
            .or_default() += 1;
    }
    statuses
}

/// Adds the admin Ann, who signs in with `PASSWORD`.
async fn add_ann(server: &TestServer) {
    let accounts = &server.engine.accounts;
    let added = accounts
        .add_user("ann@example.com", PASSWORD.into(), true)
        .await;
    added.unwrap();
}

async fn server_behind_a_proxy(max_per_ip: u32) -> TestServer {
    TestServer::start_with(|config| {
        config.rate_limits.login.requests = 1000;
        config.server.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
        config.auth.max_failed_logins_per_ip = max_per_ip;
    })
    .await
}

#[tokio::test]
async fn concurrent_wrong_passwords_get_no_more_verifications_than_the_lockout_allows() {
    let server = server_behind_a_proxy(100).await;
    let base = format!("http://{}", server.addr);
    add_ann(&server).await;
    // Nine wrong passwords and the right one at once, from one address.
    let mut attempts: Vec<_> = (0..9)
        .map(|_| {
            (
                "ann@example.com",
                "wrong password!",
                "198.51.100.1".to_owned(),
            )
        })
        .collect();
    attempts.push(("ann@example.com", PASSWORD, "198.51.100.1".to_owned()));
    let statuses = concurrent_logins(&base, &attempts).await;
    let verified_wrong = statuses.get(&401).copied().unwrap_or(0);
    assert!(
        verified_wrong <= 5,
        "{verified_wrong} wrong passwords verified, limit 5: {statuses:?}"
    );
    assert_eq!(statuses.values().sum::<usize>(), 10, "{statuses:?}");
    assert!(
        statuses
            .keys()
            .all(|status| [200, 401, 429].contains(status))
    );

    // Forty wrong passwords at once from forty addresses: the account budget holds too.
    server
        .engine
        .accounts
        .add_user("bob@example.com", PASSWORD.into(), false)
        .await
        .unwrap();
    let attempts: Vec<_> = (0..40)
        .map(|n| {
            (
                "bob@example.com",
                "wrong password!",
                format!("203.0.113.{n}"),
            )
        })
        .collect();
    let statuses = concurrent_logins(&base, &attempts).await;
    let verified_wrong = statuses.get(&401).copied().unwrap_or(0);
    assert!(
        verified_wrong <= 5,
        "{verified_wrong} wrong passwords verified from 40 addresses, limit 5: {statuses:?}"
    );
    assert_eq!(
        statuses.get(&429).copied().unwrap_or(0),
        40 - verified_wrong
    );
    let locked = login(&base, "bob@example.com", PASSWORD).await;
    expect_error(locked, 429).await;
}

#[tokio::test]
async fn one_address_trying_many_accounts_runs_out_of_wrong_passwords() {
    let server = server_behind_a_proxy(3).await;
    let base = format!("http://{}", server.addr);
    let emails: Vec<String> = (0..10).map(|n| format!("user{n}@example.com")).collect();
    let attempts: Vec<_> = emails
        .iter()
        .map(|email| (email.as_str(), "wrong password!", "198.51.100.7".to_owned()))
        .collect();
    let statuses = concurrent_logins(&base, &attempts).await;
    assert_eq!(statuses.get(&401).copied().unwrap_or(0), 3, "{statuses:?}");
    assert_eq!(statuses.get(&429).copied().unwrap_or(0), 7, "{statuses:?}");
    // Another address still gets its answers, for the same accounts.
    let elsewhere = [(
        emails[0].as_str(),
        "wrong password!",
        "198.51.100.8".to_owned(),
    )];
    assert_eq!(
        concurrent_logins(&base, &elsewhere).await.get(&401),
        Some(&1)
    );
}

#[tokio::test]
async fn signing_out_ends_the_access_tokens_of_that_sign_in_at_once() {
    let server = TestServer::start_with(|config| config.rate_limits.login.requests = 100).await;
    let base = format!("http://{}", server.addr);
    add_ann(&server).await;
    let sign_in = || async {
        let tokens: Value = login(&base, "ann@example.com", PASSWORD)
            .await
            .json()
            .await
            .unwrap();
        let access = tokens["accessToken"].as_str().unwrap().to_owned();
        let refresh = tokens["refreshToken"].as_str().unwrap().to_owned();
        (access, refresh)
    };
    let (laptop_access, laptop_refresh) = sign_in().await;
    let (phone_access, _) = sign_in().await;
    // A refreshed access token belongs to the same sign-in.
    let refreshed: Value = post(
        format!("{base}/api/admin/auth/refresh"),
        json!({ "refreshToken": laptop_refresh }),
    )
    .await
    .json()
    .await
    .unwrap();
    let laptop_refreshed = refreshed["accessToken"].as_str().unwrap().to_owned();
    let laptop_next_refresh = refreshed["refreshToken"].as_str().unwrap().to_owned();
    assert_eq!(me(&base, &laptop_access).await.status(), 200);
    assert_eq!(me(&base, &laptop_refreshed).await.status(), 200);

    let out = post(
        format!("{base}/api/admin/auth/logout"),
        json!({ "refreshToken": laptop_next_refresh }),
    )
    .await;
    assert_eq!(out.status(), 204);
    expect_error(me(&base, &laptop_access).await, 401).await;
    expect_error(me(&base, &laptop_refreshed).await, 401).await;
    let projects = client()
        .get(format!("{base}/api/admin/projects"))
        .bearer_auth(&laptop_refreshed)
        .send()
        .await
        .unwrap();
    expect_error(projects, 401).await;
    assert_eq!(
        me(&base, &phone_access).await.status(),
        200,
        "another sign-in of the same user carries on"
    );
}

#[tokio::test]
async fn the_login_endpoint_is_rate_limited_per_ip() {
    let server = TestServer::start_with(|config| config.rate_limits.login.requests = 3).await;
    let base = format!("http://{}", server.addr);
    for _ in 0..3 {
        expect_error(login(&base, "x@example.com", PASSWORD).await, 401).await;
    }
    expect_error(login(&base, "x@example.com", PASSWORD).await, 429).await;
}

#[tokio::test]
async fn the_first_admin_comes_from_the_cli_or_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut add = Command::new(env!("CARGO_BIN_EXE_helpyap"))
        .args([
            "user",
            "add",
            "--email",
            "Owner@Example.com",
            "--password-stdin",
            "--data-dir",
        ])
        .arg(&data)
        .current_dir(dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(add.stdin.take().unwrap(), "{PASSWORD}").unwrap();
    let output = add.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let short = Command::new(env!("CARGO_BIN_EXE_helpyap"))
        .args([
            "user",
            "add",
            "--email",
            "b@example.com",
            "--password-stdin",
            "--data-dir",
        ])
        .arg(&data)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!short.status.success(), "an empty password is refused");

    let data_arg = data.to_str().unwrap();
    let server = Binary::start(
        dir.path(),
        &["--bind", "127.0.0.1:0", "--data-dir", data_arg],
        // Ignored: an admin exists already.
        &[
            ("HELPYAP_ADMIN_EMAIL", "env@example.com"),
            ("HELPYAP_ADMIN_PASSWORD", PASSWORD),
        ],
    );
    let base = format!("http://{}", server.addr);
    assert_eq!(
        login(&base, "owner@example.com", PASSWORD).await.status(),
        200
    );
    expect_error(login(&base, "env@example.com", PASSWORD).await, 401).await;
    server.kill_9();

    let fresh = tempfile::tempdir().unwrap();
    let server = Binary::start(
        fresh.path(),
        &["--bind", "127.0.0.1:0"],
        &[
            ("HELPYAP_ADMIN_EMAIL", "env@example.com"),
            ("HELPYAP_ADMIN_PASSWORD", PASSWORD),
        ],
    );
    let base = format!("http://{}", server.addr);
    assert_eq!(
        login(&base, "env@example.com", PASSWORD).await.status(),
        200
    );
}
