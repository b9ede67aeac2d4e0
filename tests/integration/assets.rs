//! `GET /widget.js` and `GET /demo`: served from the binary, cached and revalidated right.

use crate::support::{TestServer, client, expect_error};

#[tokio::test]
async fn the_widget_script_is_cached_briefly_and_revalidated_by_etag() {
    let server = TestServer::start().await;
    let response = client().get(server.url("/widget.js")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    assert_eq!(
        headers["content-type"],
        "application/javascript; charset=utf-8"
    );
    assert_eq!(headers["cache-control"], "public, max-age=300");
    assert!(
        !headers.contains_key("x-ratelimit-limit"),
        "not rate limited"
    );
    assert_eq!(headers["vary"], "Accept-Encoding");
    assert!(!headers.contains_key("content-encoding"), "asked for none");
    let body = response.text().await.unwrap();
    assert!(body.contains("attachShadow"));
    assert!(body.len() < 128 * 1024, "{} bytes", body.len());

    // Gzipped for clients that take it: the same script in about a third of the bytes.
    let zipped = client()
        .get(server.url("/widget.js"))
        .header("Accept-Encoding", "br;q=1, gzip;q=0.8")
        .send()
        .await
        .unwrap();
    assert_eq!(zipped.headers()["content-encoding"], "gzip");
    let zipped_etag = zipped.headers()["etag"].to_str().unwrap().to_owned();
    let bytes = zipped.bytes().await.unwrap();
    assert!(bytes.len() < 40 * 1024, "{} bytes gzipped", bytes.len());
    let mut unzipped = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&bytes[..]), &mut unzipped)
        .unwrap();
    assert_eq!(unzipped, body);
    assert_ne!(
        zipped_etag,
        headers["etag"].to_str().unwrap(),
        "its own validator"
    );
    let refused = client()
        .get(server.url("/widget.js"))
        .header("Accept-Encoding", "gzip;q=0, identity")
        .send()
        .await
        .unwrap();
    assert!(!refused.headers().contains_key("content-encoding"));
    let unchanged = client()
        .get(server.url("/widget.js"))
        .header("Accept-Encoding", "gzip")
        .header("If-None-Match", &zipped_etag)
        .send()
        .await
        .unwrap();
    assert_eq!(unchanged.status(), 304);

    let etag = headers["etag"].to_str().unwrap().to_owned();
    let revalidated = client()
        .get(server.url("/widget.js"))
        .header("If-None-Match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(revalidated.status(), 304);

    let version = etag.trim_matches('"');
    let pinned = client()
        .get(server.url(&format!("/widget.js?v={version}")))
        .send()
        .await
        .unwrap();
    assert_eq!(
        pinned.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    let stale = client()
        .get(server.url("/widget.js?v=0000"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        stale.headers()["cache-control"],
        "public, max-age=300",
        "an old version is not pinned"
    );
}

#[tokio::test]
async fn the_demo_page_embeds_the_widget_for_a_valid_project_only() {
    let server = TestServer::start().await;
    let page = client().get(server.url("/demo")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["content-type"], "text/html; charset=utf-8");
    let html = page.text().await.unwrap();
    assert!(html.contains(r#"<script src="/widget.js" data-project="demo" async></script>"#));
    let other = client()
        .get(server.url("/demo?project=other"))
        .send()
        .await
        .unwrap();
    assert!(
        other
            .text()
            .await
            .unwrap()
            .contains(r#"data-project="other""#)
    );
    let hostile = client()
        .get(server.url("/demo?project=%22%3E%3Cscript%3E"))
        .send()
        .await
        .unwrap();
    expect_error(hostile, 400).await;
}

#[tokio::test]
async fn the_dashboard_is_served_with_a_strict_content_security_policy() {
    let server = TestServer::start().await;
    for path in ["/admin", "/admin/", "/admin/admin.js", "/admin/admin.css"] {
        let response = client().get(server.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        let headers = response.headers();
        let csp = headers["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("script-src 'self'"), "{path}: {csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert!(!csp.contains("unsafe"), "{path}: {csp}");
        assert_eq!(headers["x-frame-options"], "DENY");
        assert_eq!(headers["x-content-type-options"], "nosniff");
        assert_eq!(headers["referrer-policy"], "no-referrer");
    }
    let page = client().get(server.url("/admin")).send().await.unwrap();
    assert_eq!(page.headers()["content-type"], "text/html; charset=utf-8");
    let html = page.text().await.unwrap();
    assert!(html.contains(r#"<script src="/admin/admin.js" defer></script>"#));
    assert!(
        !html.contains("<script>"),
        "no inline script for the CSP to allow"
    );

    // The preview frame may be framed by the dashboard only, and runs the widget's styles.
    let preview = client()
        .get(server.url("/admin/preview.html"))
        .send()
        .await
        .unwrap();
    let csp = preview.headers()["content-security-policy"]
        .to_str()
        .unwrap();
    assert!(csp.contains("frame-ancestors 'self'"), "{csp}");
    assert_eq!(preview.headers()["x-frame-options"], "SAMEORIGIN");

    for missing in [
        "/admin/nope.js",
        "/admin/../config.toml",
        "/admin/admin.js/x",
    ] {
        let response = client().get(server.url(missing)).send().await.unwrap();
        expect_error(response, 404).await;
    }
    let post = client().post(server.url("/admin")).send().await.unwrap();
    expect_error(post, 405).await;
}
