//! HTTPS on the server's own port (`[server.tls]`), checked with curl: HTTP/2 and HTTP/1.1 by
//! ALPN, the certificate checked by the client, and a renewed certificate taken on SIGHUP while
//! a stream opened before keeps flowing.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use helpyap::config::DEFAULT_CONFIG_TOML;
use serde_json::json;

use crate::support::{Binary, DEMO_SECRET, test_certificates};

/// `curl --cacert CA [ARGS] URL`: its exit code and what it printed.
fn curl(ca: &Path, args: &[&str], url: &str) -> (i32, String) {
    let output = Command::new("curl")
        .args(["-sS", "--max-time", "5", "--cacert"])
        .arg(ca)
        .args(args)
        .arg(url)
        .output()
        .expect("curl is installed");
    let printed = String::from_utf8_lossy(&output.stdout).into_owned();
    (output.status.code().unwrap_or(-1), printed)
}

#[tokio::test(flavor = "multi_thread")]
async fn https_speaks_h2_and_http1_and_takes_a_renewed_certificate_on_sighup() {
    let (first, second) = (test_certificates(), test_certificates());
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("tls.crt"), dir.path().join("tls.key"));
    let install = |from: &tempfile::TempDir| {
        std::fs::copy(from.path().join("server.crt"), &cert).unwrap();
        std::fs::copy(from.path().join("server.key"), &key).unwrap();
    };
    install(&first);
    let config = dir.path().join("config.toml");
    let text = format!(
        "{DEFAULT_CONFIG_TOML}\n[server.tls]\ncert = \"{}\"\nkey = \"{}\"\n",
        cert.display(),
        key.display()
    );
    std::fs::write(&config, text).unwrap();
    let node = Binary::start_with_config(dir.path(), &config);
    let url = |path: &str| format!("https://{}{path}", node.addr);
    let (ca1, ca2) = (first.path().join("ca.crt"), second.path().join("ca.crt"));

    let version = ["-o", "/dev/null", "-w", "%{http_version}"];
    let h2 = curl(
        &ca1,
        &[&["--http2"][..], &version].concat(),
        &url("/healthz"),
    );
    assert_eq!(h2, (0, "2".to_owned()), "HTTP/2 by ALPN");
    let h1 = curl(
        &ca1,
        &[&["--http1.1"][..], &version].concat(),
        &url("/healthz"),
    );
    assert_eq!(h1, (0, "1.1".to_owned()));
    assert_eq!(
        curl(&ca2, &[], &url("/healthz")).0,
        60,
        "an unknown CA is refused"
    );

    // A popup stream opened before the renewal.
    let client = reqwest::Client::builder()
        .add_root_certificate(
            reqwest::Certificate::from_pem(&std::fs::read(&ca1).unwrap()).unwrap(),
        )
        .build()
        .unwrap();
    let mut stream = client
        .get(url("/api/widget/salespop/stream?project=demo"))
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    stream.chunk().await.unwrap();

    // The certificate is renewed (another CA, here) and the server told.
    install(&second);
    node.hangup();
    let deadline = Instant::now() + Duration::from_secs(5);
    while curl(&ca2, &[], &url("/healthz")).0 != 0 {
        assert!(
            Instant::now() < deadline,
            "the new certificate was not taken"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        curl(&ca1, &[], &url("/healthz")).0,
        60,
        "the old one is gone"
    );

    // The stream opened under the old certificate goes on.
    let pushed = curl(
        &ca2,
        &[
            "-H",
            &format!("Authorization: Bearer {DEMO_SECRET}"),
            "-H",
            "Content-Type: application/json",
            "-d",
            &json!({ "project": "demo", "type": "signed_up" }).to_string(),
        ],
        &url("/api/widget/salespop-push"),
    );
    assert_eq!(pushed.0, 0, "{pushed:?}");
    let mut seen = String::new();
    while !seen.contains("id: 1\n") {
        let chunk = tokio::time::timeout(Duration::from_secs(5), stream.chunk())
            .await
            .expect("the old stream goes on")
            .unwrap()
            .unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }

    // A broken renewal keeps the running certificate.
    std::fs::write(&cert, "not a certificate").unwrap();
    node.hangup();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(curl(&ca2, &[], &url("/healthz")).0, 0, "still serving");
}
