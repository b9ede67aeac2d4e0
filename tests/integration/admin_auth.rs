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
        .registry
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
    server
        .registry
        .add_user("ann@example.com", PASSWORD.into(), true)
        .await
        .unwrap();

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
