//! Knowledge-base documents from the web: one page, a whole sitemap, re-sync and re-index, and
//! the guard that keeps fetches off private networks unless the operator allows them.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use helpyap_actors::project::DocumentEdit;
use helpyap_actors::{Document, DocumentFormat};
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{Value, json};
use tokio::net::TcpListener;

use crate::support::{TestServer, client};

/// A small website on 127.0.0.1 whose pages the test can change.
struct Site {
    addr: SocketAddr,
    pages: Pages,
    /// Requests answered 304 Not Modified: their `If-None-Match` named the page's ETag.
    not_modified: Arc<std::sync::atomic::AtomicUsize>,
}

/// Path → content type and body.
type Pages = Arc<Mutex<HashMap<String, (&'static str, Vec<u8>)>>>;

impl Site {
    async fn start() -> Site {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let pages: Pages = Arc::default();
        let served = pages.clone();
        let not_modified = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = not_modified.clone();
        tokio::spawn(async move {
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                let pages = served.clone();
                let counted = counted.clone();
                let service = service_fn(move |request: hyper::Request<_>| {
                    let page = pages.lock().unwrap().get(request.uri().path()).cloned();
                    // Each version of a page has its own ETag, as a real server's would.
                    let etag = page.as_ref().map(|(_, body)| {
                        use std::hash::{Hash, Hasher};
                        let mut hasher = std::collections::hash_map::DefaultHasher::new();
                        body.hash(&mut hasher);
                        format!("\"{:x}\"", hasher.finish())
                    });
                    let asked = request.headers().get("if-none-match").cloned();
                    let unchanged = etag.is_some()
                        && asked.is_some_and(|a| Some(a.to_str().unwrap_or("")) == etag.as_deref());
                    if unchanged {
                        counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    }
                    async move {
                        let found = page.is_some();
                        let (content_type, body) = page.unwrap_or(("text/html", Vec::new()));
                        let body = if unchanged { Vec::new() } else { body };
                        let mut response = hyper::Response::new(Full::new(Bytes::from(body)));
                        if !found {
                            *response.status_mut() = hyper::StatusCode::NOT_FOUND;
                        } else if unchanged {
                            *response.status_mut() = hyper::StatusCode::NOT_MODIFIED;
                        }
                        response
                            .headers_mut()
                            .insert("content-type", content_type.parse().unwrap());
                        if let Some(etag) = etag {
                            response.headers_mut().insert("etag", etag.parse().unwrap());
                        }
                        Ok::<_, Infallible>(response)
                    }
                });
                tokio::spawn(async move {
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Site {
            addr,
            pages,
            not_modified,
        }
    }

    fn set(&self, path: &str, body: &str) {
        self.set_file(path, "text/html", body.as_bytes().to_vec());
    }

    fn set_file(&self, path: &str, content_type: &'static str, body: Vec<u8>) {
        let mut pages = self.pages.lock().unwrap();
        pages.insert(path.into(), (content_type, body));
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

fn article(title: &str, text: &str) -> String {
    format!(
        "<html><head><title>{title}</title><script>var tracking = 1;</script></head>\
         <body><nav>Home | Shop</nav><h1>{title}</h1><p>{text}</p></body></html>"
    )
}

/// The answer's text followed by the URLs it cites, one per line.
async fn ask(server: &TestServer, question: &str) -> String {
    let response = client()
        .post(server.url("/api/chat"))
        .json(&json!({ "projectSlug": "demo", "sessionId": uuid::Uuid::new_v4(), "messages": [{ "role": "user", "content": question }] }))
        .send()
        .await
        .unwrap();
    let stream = response.text().await.unwrap();
    let frames: Vec<Value> = stream
        .lines()
        .filter_map(|line| line.strip_prefix("data: "))
        .filter_map(|data| serde_json::from_str(data).ok())
        .collect();
    let mut answer: String = frames
        .iter()
        .filter_map(|frame| frame["delta"].as_str())
        .collect();
    for url in frames.iter().filter_map(|frame| frame["url"].as_str()) {
        answer.push('\n');
        answer.push_str(url);
    }
    answer
}

#[tokio::test]
async fn pages_and_sitemaps_are_fetched_cited_and_synced_again() {
    let site = Site::start().await;
    let server = TestServer::start_with(|config| {
        config.knowledge.fetch_private_networks = true;
    })
    .await;
    let owner = server.owner("owner@example.com").await;
    let fetch = "/api/admin/projects/demo/documents/fetch";

    // One page: its title, its readable text, its URL as the source.
    site.set(
        "/help/gift-cards",
        &article(
            "Gift cards",
            "Gift cards never expire and work in every Acme store.",
        ),
    );
    let added = owner
        .post(fetch, json!({ "url": site.url("/help/gift-cards") }))
        .expect(201)
        .await;
    let document = &added;
    assert_eq!(document["title"], "Gift cards");
    assert_eq!(document["url"], site.url("/help/gift-cards"));
    let id = document["id"].as_str().unwrap().to_owned();
    let answer = ask(&server, "Do gift cards expire?").await;
    assert!(answer.contains("never expire"), "{answer}");
    assert!(
        answer.contains(&site.url("/help/gift-cards")),
        "cited by URL: {answer}"
    );
    assert!(
        !answer.contains("tracking"),
        "scripts are not text: {answer}"
    );

    // Re-sync picks up the page as it is now, under the same id.
    site.set(
        "/help/gift-cards",
        &article("Gift cards", "Gift cards expire after five years."),
    );
    owner
        .post(
            &format!("/api/admin/projects/demo/documents/{id}/sync"),
            json!({}),
        )
        .expect(200)
        .await;
    let answer = ask(&server, "Do gift cards expire?").await;
    assert!(answer.contains("five years"), "{answer}");
    assert!(!answer.contains("never expire"), "{answer}");

    // A sitemap: every page it lists; one broken page is reported, the others are added.
    site.set(
        "/help/warranty",
        &article(
            "Warranty",
            "Every Acme kettle has a warranty of three years.",
        ),
    );
    site.set(
        "/help/stores",
        &article("Stores", "Acme stores open at nine in the morning."),
    );
    site.set(
        "/sitemap.xml",
        &format!(
            r#"<?xml version="1.0" encoding="UTF-8"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
<url><loc>{}</loc></url><url><loc>{}</loc></url><url><loc>{}</loc></url></urlset>"#,
            site.url("/help/warranty"),
            site.url("/help/stores"),
            site.url("/help/gone")
        ),
    );
    let from_sitemap = owner
        .post(
            fetch,
            json!({ "url": site.url("/sitemap.xml"), "sitemap": true }),
        )
        .expect(201)
        .await;
    assert_eq!(from_sitemap["documents"].as_array().unwrap().len(), 2);
    assert_eq!(from_sitemap["failed"][0]["url"], site.url("/help/gone"));
    assert!(
        from_sitemap["failed"][0]["error"]
            .as_str()
            .unwrap()
            .contains("404"),
        "{from_sitemap}"
    );
    let answer = ask(&server, "How long is the kettle warranty?").await;
    assert!(answer.contains("three years"), "{answer}");

    // The list shows where each came from; re-index keeps everything searchable.
    let listed = owner
        .post("/api/admin/projects/demo/documents/reindex", json!({}))
        .expect(200)
        .await;
    let urls: Vec<&str> = listed["documents"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|d| d["url"].as_str())
        .collect();
    assert!(
        urls.contains(&site.url("/help/stores").as_str()),
        "{listed}"
    );
    assert!(
        ask(&server, "When do stores open?")
            .await
            .contains("nine in the morning")
    );

    // Failures are clear errors.
    let missing = owner
        .post(fetch, json!({ "url": site.url("/nope") }))
        .expect_error(422)
        .await;
    assert!(missing.contains("404"), "{missing}");
    owner
        .post(
            fetch,
            json!({ "url": site.url("/help/stores"), "sitemap": true }),
        )
        .expect(422)
        .await;
    for bad in [
        json!({}),
        json!({ "url": "ftp://example.com/x" }),
        json!({ "url": "not a url" }),
    ] {
        owner.post(fetch, bad).expect(400).await;
    }
    owner
        .post(
            "/api/admin/projects/demo/documents",
            json!({ "title": "Note", "format": "text", "content": "Some text." }),
        )
        .expect(201)
        .await;
    owner
        .post("/api/admin/projects/demo/documents/note/sync", json!({}))
        .expect(400)
        .await;
    owner
        .post("/api/admin/projects/demo/documents/nope/sync", json!({}))
        .expect(404)
        .await;
    owner.get(fetch).expect(405).await;
    // Documents titled like the knowledge base's own actions are still theirs to delete.
    for title in ["Fetch", "Reindex"] {
        let body = json!({ "title": title, "format": "text", "content": "Some text." });
        let documents = "/api/admin/projects/demo/documents";
        owner.post(documents, body).expect(201).await;
        let path = format!("{documents}/{}", title.to_lowercase());
        owner.delete(&path).expect(204).await;
    }
}

#[tokio::test]
async fn fetches_stay_off_private_networks_by_default() {
    let site = Site::start().await;
    site.set(
        "/internal",
        &article("Secrets", "The admin password is hunter2."),
    );
    let server = TestServer::start().await;
    let owner = server.owner("owner@example.com").await;
    let agent = server.agent("agent@example.com").await;
    let fetch = "/api/admin/projects/demo/documents/fetch";
    // Every refused address is a bad URL, 400, whether written in the URL or found by DNS.
    let port = site.addr.port();
    let by_name = format!("http://localhost:{port}/internal");
    for (form, body) in [
        ("IPv4 loopback", json!({ "url": site.url("/internal") })),
        ("a name resolving to loopback", json!({ "url": by_name })),
        (
            "a sitemap at a name resolving to loopback",
            json!({ "url": by_name, "sitemap": true }),
        ),
        (
            "cloud metadata",
            json!({ "url": "http://169.254.169.254/latest/meta-data/" }),
        ),
        ("IPv6 loopback", json!({ "url": "http://[::1]/" })),
        (
            "IPv4-mapped loopback",
            json!({ "url": format!("http://[::ffff:127.0.0.1]:{port}/internal") }),
        ),
        (
            "IPv4-compatible loopback",
            json!({ "url": format!("http://[::127.0.0.1]:{port}/internal") }),
        ),
        (
            "NAT64 of loopback",
            json!({ "url": format!("http://[64:ff9b::7f00:1]:{port}/internal") }),
        ),
        (
            "6to4 of loopback",
            json!({ "url": format!("http://[2002:7f00:1::1]:{port}/internal") }),
        ),
        ("IPv6 site-local", json!({ "url": "http://[fec0::1]/" })),
    ] {
        let error = owner.post(fetch, body).expect_error(400).await;
        assert!(error.contains("public"), "{form}: {error}");
    }
    // A fetched page whose name now leads to loopback is refused on sync too.
    let mut moved = Document::parse("moved", DocumentFormat::Text, "Old text.");
    moved.url = Some(by_name.clone());
    moved.fetched = true;
    server
        .engine
        .projects
        .edit_document("demo", DocumentEdit::Upsert(vec![moved]))
        .await
        .unwrap();
    let error = owner
        .post("/api/admin/projects/demo/documents/moved/sync", json!({}))
        .expect_error(400)
        .await;
    assert!(error.contains("localhost has no public address"), "{error}");
    let documents = owner
        .get("/api/admin/projects/demo/documents")
        .expect(200)
        .await;
    assert!(!documents.to_string().contains("Secrets"));
    // Agents may not touch the knowledge base at all.
    agent
        .post(fetch, json!({ "url": "https://example.com/" }))
        .expect(403)
        .await;
}

#[tokio::test]
async fn only_documents_fetched_from_the_web_are_synced() {
    let site = Site::start().await;
    site.set(
        "/help/hours",
        &article("Opening hours", "Acme stores open at nine in the morning."),
    );
    let server = TestServer::start_with(|config| {
        config.knowledge.fetch_private_networks = true;
    })
    .await;
    let owner = server.owner("owner@example.com").await;
    let sync = |id: &str| format!("/api/admin/projects/demo/documents/{id}/sync");

    // Uploaded with the URL of a live page: still an upload, never replaced by the page.
    owner
        .post(
            "/api/admin/projects/demo/documents",
            json!({ "id": "hours", "title": "Hours", "format": "text",
                    "content": "Stores open at ten.", "url": site.url("/help/hours") }),
        )
        .expect(201)
        .await;
    let error = owner
        .post(&sync("hours"), json!({}))
        .expect_error(400)
        .await;
    assert!(error.contains("uploaded"), "{error}");
    // From the project's knowledge_dir (the demo help center cites acme.example pages).
    let error = owner
        .post(&sync("returns.md"), json!({}))
        .expect_error(400)
        .await;
    assert!(error.contains("knowledge_dir"), "{error}");
    // Fetched by URL: synced.
    let fetched = owner
        .post(
            "/api/admin/projects/demo/documents/fetch",
            json!({ "url": site.url("/help/hours") }),
        )
        .expect(201)
        .await;
    assert_eq!(fetched["fetched"], true, "{fetched}");
    let id = fetched["id"].as_str().unwrap();
    owner.post(&sync(id), json!({})).expect(200).await;

    // The list says which ones can be synced.
    let listed = owner
        .get("/api/admin/projects/demo/documents")
        .expect(200)
        .await;
    let fetched_of = |id: &str| {
        listed["documents"]
            .as_array()
            .unwrap()
            .iter()
            .find(|document| document["id"] == id)
            .map(|document| document["fetched"].clone())
    };
    assert_eq!(fetched_of("hours"), Some(json!(false)), "{listed}");
    assert_eq!(fetched_of("returns.md"), Some(json!(false)), "{listed}");
    assert_eq!(fetched_of(id), Some(json!(true)), "{listed}");
}

/// PDF and Word files as owners' tools write them (fpdf2, python-docx, run by the test), made
/// once per test binary.
fn made_files() -> &'static std::path::Path {
    static FILES: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    FILES
        .get_or_init(|| {
            let python = std::env::var("HELPYAP_FILES_PYTHON").unwrap_or_else(|_| {
                panic!("HELPYAP_FILES_PYTHON names no Python with fpdf2 and python-docx: run ./scripts/test")
            });
            let dir = tempfile::tempdir().unwrap();
            let script =
                std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/files/make_files.py");
            let made = std::process::Command::new(python)
                .arg(script)
                .arg(dir.path())
                .output()
                .unwrap();
            assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
            dir
        })
        .path()
}

fn file_body(name: &str, format: &str) -> Value {
    use base64::Engine;
    let bytes = std::fs::read(made_files().join(name)).unwrap();
    json!({
        "format": format,
        "contentBase64": base64::engine::general_purpose::STANDARD.encode(bytes),
    })
}

#[tokio::test]
async fn pdf_and_word_files_are_read_uploaded_or_fetched_and_unreadable_ones_say_why() {
    let server = TestServer::start_with(|config| {
        config.knowledge.fetch_private_networks = true; // the test's site is on 127.0.0.1
    })
    .await;
    let owner = server.owner("owner@example.com").await;
    let documents = "/api/admin/projects/demo/documents";

    let pdf = owner
        .post(documents, file_body("guide.pdf", "pdf"))
        .expect(201)
        .await;
    assert_eq!(
        pdf["title"], "Warranty guide",
        "named by its first line: {pdf}"
    );
    let docx = owner
        .post(documents, file_body("guide.docx", "docx"))
        .expect(201)
        .await;
    assert_eq!(
        docx["title"], "Shipping the Zephyr",
        "named by its heading: {docx}"
    );

    let ask =
        |question: &'static str| crate::chat::ask(&server, uuid::Uuid::new_v4(), None, question);
    let warranty = ask("How long is the warranty on the Zephyr blender motor?").await;
    assert!(
        warranty.text().contains("seven year warranty"),
        "{}",
        warranty.text()
    );
    let europe = ask("How long does it take to ship a Zephyr to Canada or Mexico?").await;
    assert!(
        europe
            .text()
            .starts_with("- Canada & Mexico: 5 to 8 business days"),
        "a list item of the Word file, its & read: {}",
        europe.text()
    );
    let cited = |answer: &crate::chat::Answer| -> Vec<String> {
        answer
            .json_frames()
            .filter_map(|frame| frame["sourceId"].as_str().map(str::to_owned))
            .collect()
    };
    assert_eq!(cited(&warranty), [pdf["id"].as_str().unwrap()]);
    assert_eq!(cited(&europe), [docx["id"].as_str().unwrap()]);

    // Fetched from the web by content type, kept as fetched (so it can be re-synced).
    let site = Site::start().await;
    let bytes = std::fs::read(made_files().join("guide.pdf")).unwrap();
    site.set_file("/manual", "application/pdf", bytes);
    let fetched = owner
        .post(
            &format!("{documents}/fetch"),
            json!({ "url": site.url("/manual") }),
        )
        .expect(201)
        .await;
    assert_eq!(fetched["fetched"], true);
    assert_eq!(fetched["title"], "Warranty guide");

    // Scanned, locked, mislabelled or broken: a 400 that says why, nothing stored.
    for (body, reason) in [
        (file_body("scan.pdf", "pdf"), "no text to read"),
        (file_body("locked.pdf", "pdf"), "encrypted"),
        (file_body("guide.docx", "pdf"), "not a readable PDF"),
        (file_body("guide.pdf", "docx"), "not a readable DOCX"),
        (
            json!({ "format": "pdf", "contentBase64": "%%% not base64" }),
            "not base64",
        ),
        (
            json!({ "format": "pdf", "content": "text instead" }),
            "contentBase64 is required",
        ),
    ] {
        let error = owner.post(documents, body).expect_error(400).await;
        assert!(error.contains(reason), "{reason}: {error}");
    }
    let listed = owner.get(documents).expect(200).await;
    assert_eq!(
        listed["documents"].as_array().unwrap().len(),
        6 + 3,
        "{listed}"
    );
}

#[tokio::test]
async fn fetched_pages_and_sitemaps_are_synced_again_by_themselves_and_only_changes_reindexed() {
    let server = TestServer::start_with(|config| {
        config.knowledge.fetch_private_networks = true;
        config.knowledge.resync_interval = std::time::Duration::from_secs(1);
    })
    .await;
    let owner = server.owner("owner@example.com").await;
    let site = Site::start().await;
    site.set(
        "/guide",
        &article(
            "Kettle guide",
            "The Quasar kettle warranty lasts two years.",
        ),
    );
    site.set(
        "/a",
        &article(
            "Descaling",
            "Descale the Quasar kettle every month with vinegar.",
        ),
    );
    site.set(
        "/b",
        &article(
            "Lids",
            "Quasar kettle lids are sold separately for nine dollars.",
        ),
    );
    let sitemap = |pages: &[&str]| {
        let urls: String = pages
            .iter()
            .map(|page| format!("<url><loc>{}</loc></url>", site.url(page)))
            .collect();
        format!(
            r#"<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>"#
        )
    };
    site.set("/sitemap.xml", &sitemap(&["/a", "/b"]));
    let fetch = "/api/admin/projects/demo/documents/fetch";
    owner
        .post(fetch, json!({ "url": site.url("/guide") }))
        .expect(201)
        .await;
    owner
        .post(
            fetch,
            json!({ "url": site.url("/sitemap.xml"), "sitemap": true }),
        )
        .expect(201)
        .await;

    // The site changes: a page's text, and the sitemap drops /b and lists a new /c.
    site.set(
        "/guide",
        &article(
            "Kettle guide",
            "The Quasar kettle warranty lasts five years.",
        ),
    );
    site.set(
        "/c",
        &article("Cables", "Quasar kettle cables are one metre long."),
    );
    site.set("/sitemap.xml", &sitemap(&["/a", "/c"]));
    let ids = || async {
        let listed = owner
            .get("/api/admin/projects/demo/documents")
            .expect(200)
            .await;
        listed["documents"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["id"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let now = ids().await;
        let answer = ask(&server, "How long is the Quasar kettle warranty?").await;
        let synced = now.iter().any(|id| id.ends_with("-c"))
            && !now.iter().any(|id| id.ends_with("-b"))
            && answer.contains("five years");
        if synced {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not re-synced: {now:?} {answer}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    // The page that did not change was asked for with its ETag, and not fetched again.
    assert!(
        site.not_modified.load(std::sync::atomic::Ordering::SeqCst) >= 1,
        "conditional requests"
    );
    let listed = owner
        .get("/api/admin/projects/demo/documents")
        .expect(200)
        .await;
    let c = listed["documents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["id"].as_str().unwrap().ends_with("-c"))
        .unwrap()
        .clone();
    assert_eq!(
        c["fetched"], true,
        "a new page of the sitemap can be synced too: {c}"
    );
}
