//! Knowledge-base documents from files and the web, and fetched documents kept current.
//!
//! Turns an uploaded or fetched file into a document (text, Markdown, HTML, PDF, DOCX), and
//! re-syncs every project's fetched documents each `knowledge.resync_interval`: a page is asked
//! for conditionally (`If-None-Match` / `If-Modified-Since`) and re-indexed only when its text
//! changed; a sitemap is read again, its new pages added and the pages it dropped removed. One
//! node re-syncs a project per period (claimed in the store). It never fetches anything an
//! owner did not add, and keeps to the fetcher's address rules.

use std::collections::HashSet;
use std::time::Duration;

use futures_util::{StreamExt, stream};
use helpyap_actors::knowledge::{Fetch, UnreadableFile};
use helpyap_actors::project::DocumentEdit;
use helpyap_actors::{Document, DocumentFormat, Engine};

use crate::web_fetch::{FetchError, Fetched, WebFetcher};

pub const DOCUMENT_ID_MAX_CHARS: usize = 120;
const DOCX_TYPE: &str = "application/vnd.openxmlformats-officedocument.wordprocessingml";
/// Pages of one sitemap fetched at once.
pub const FETCH_CONCURRENCY: usize = 4;

/// A file's text, read off the runtime's threads (a PDF can take a while), as a document.
/// PDF and DOCX files are read one at a time per node, and given up after `READ_TIMEOUT`: a
/// hostile file can cost one core, never all of them.
pub async fn read_file(
    id: String,
    format: DocumentFormat,
    bytes: Vec<u8>,
) -> Result<Document, UnreadableFile> {
    static FILE_READS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(1);
    let binary = matches!(format, DocumentFormat::Pdf | DocumentFormat::Docx);
    let _turn = match binary {
        true => Some(FILE_READS.acquire().await.expect("never closed")),
        false => None,
    };
    let read = tokio::task::spawn_blocking(move || Document::read(&id, format, &bytes));
    match tokio::time::timeout(READ_TIMEOUT, read).await {
        Ok(Ok(read)) => read,
        Ok(Err(_)) | Err(_) => Err(UnreadableFile::Damaged("file")),
    }
}

/// Longest a file is read for.
const READ_TIMEOUT: Duration = Duration::from_secs(60);

/// "Returns & refunds" → "returns-refunds".
pub fn document_id(title: &str) -> String {
    let mut id = String::new();
    for c in title.chars().flat_map(char::to_lowercase) {
        if c.is_alphanumeric() {
            id.push(c);
        } else if !id.is_empty() && !id.ends_with('-') {
            id.push('-');
        }
    }
    id.trim_end_matches('-').to_owned()
}

/// Fetches a page and cuts it into a document; its id is `id`, or one made from the URL.
pub async fn fetch_document(
    fetcher: &WebFetcher,
    url: &str,
    id: Option<&str>,
) -> Result<Document, FetchError> {
    let fetched = fetcher.file(url).await?;
    into_document(url, id, fetched).await
}

async fn into_document(
    url: &str,
    id: Option<&str>,
    fetched: Fetched,
) -> Result<Document, FetchError> {
    let final_url = fetched.url;
    let extension = final_url
        .path()
        .rsplit_once('.')
        .map(|(_, extension)| extension.to_ascii_lowercase());
    let content_type = fetched.content_type.as_deref().unwrap_or("");
    let format = if content_type.starts_with("application/pdf") {
        DocumentFormat::Pdf
    } else if content_type.starts_with(DOCX_TYPE) {
        DocumentFormat::Docx
    } else {
        match extension
            .as_deref()
            .and_then(DocumentFormat::from_extension)
        {
            Some(format) => format,
            None => DocumentFormat::Html,
        }
    };
    let url_text = final_url.to_string();
    let id = id.map_or_else(|| id_of_url(&url_text), str::to_owned);
    let mut document = read_file(id, format, fetched.body)
        .await
        .map_err(|error| FetchError::Failed(format!("{url}: {error}")))?;
    if document.passages.is_empty() {
        return Err(FetchError::Failed(format!("{url} has no readable text")));
    }
    document.url = Some(url_text);
    document.fetched = true;
    document.fetch = Fetch {
        etag: fetched.etag,
        last_modified: fetched.last_modified,
        ..Fetch::default()
    };
    Ok(document)
}

/// A fetched page's document id: its URL without the scheme, as `document_id` makes ids.
fn id_of_url(url: &str) -> String {
    let without_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    document_id(without_scheme)
        .chars()
        .take(DOCUMENT_ID_MAX_CHARS)
        .collect()
}

/// The pages of `sitemap` as documents remembering it, and the pages that failed.
pub async fn fetch_sitemap(
    fetcher: &WebFetcher,
    sitemap: &str,
    pages: Vec<String>,
) -> (Vec<Document>, Vec<(String, FetchError)>) {
    // Each page's future owns what it uses, so the whole can run in a spawned task.
    let results: Vec<(String, Result<Document, FetchError>)> = stream::iter(pages)
        .map(|page| {
            let fetcher = fetcher.clone();
            async move {
                let result = fetch_document(&fetcher, &page, None).await;
                (page, result)
            }
        })
        .buffered(FETCH_CONCURRENCY)
        .collect()
        .await;
    let mut added = Vec::new();
    let mut failed = Vec::new();
    for (page, result) in results {
        match result {
            Ok(mut document) => {
                document.fetch.sitemap = Some(sitemap.to_owned());
                document.fetch.listed_as = Some(page);
                added.push(document);
            }
            Err(error) => failed.push((page, error)),
        }
    }
    (added, failed)
}

/// What one re-sync of a project did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Resynced {
    /// Pages whose text changed, or new pages of a sitemap: re-indexed.
    pub changed: usize,
    /// Pages that answered 304, or the same text: left as they were.
    pub unchanged: usize,
    /// Pages their sitemap no longer lists: removed.
    pub removed: usize,
    pub failed: usize,
}

/// Fetches `slug`'s fetched documents again: each page conditionally, each sitemap in full.
/// A page or sitemap that fails keeps its document as it was.
pub async fn resync_project(
    engine: &Engine,
    fetcher: &WebFetcher,
    slug: &str,
) -> Result<Resynced, helpyap_actors::ProjectError> {
    let documents = engine.projects.documents(slug).await?;
    let fetched: Vec<&Document> = documents.iter().filter(|d| d.fetched).collect();
    let mut done = Resynced::default();
    let mut upserts = Vec::new();
    let mut removals = Vec::new();

    // Each sitemap: pages it dropped go, pages it added come.
    let sitemaps: HashSet<&str> = fetched
        .iter()
        .filter_map(|d| d.fetch.sitemap.as_deref())
        .collect();
    let mut dropped: HashSet<&str> = HashSet::new();
    for sitemap in sitemaps {
        let pages = match fetcher.sitemap(sitemap).await {
            Ok(pages) => pages,
            Err(error) => {
                tracing::warn!(project = %slug, %error, "sitemap not re-synced");
                done.failed += 1;
                continue;
            }
        };
        // Pages are matched by the address the sitemap gives (a redirect changes `url`).
        let listed: HashSet<&str> = pages.iter().map(String::as_str).collect();
        let address = |document: &&Document| {
            document
                .fetch
                .listed_as
                .clone()
                .or_else(|| document.url.clone())
                .unwrap_or_default()
        };
        let known: HashSet<String> = fetched.iter().map(address).collect();
        for document in fetched
            .iter()
            .filter(|d| d.fetch.sitemap.as_deref() == Some(sitemap))
        {
            if !listed.contains(address(document).as_str()) {
                dropped.insert(&document.id);
                removals.push(document.id.clone());
            }
        }
        let new_pages: Vec<String> = pages
            .iter()
            .filter(|page| !known.contains(page.as_str()))
            .cloned()
            .collect();
        let (added, failed) = fetch_sitemap(fetcher, sitemap, new_pages).await;
        done.changed += added.len();
        done.failed += failed.len();
        upserts.extend(added);
    }

    // Every page still wanted, conditionally.
    let pages: Vec<Document> = fetched
        .into_iter()
        .filter(|d| !dropped.contains(d.id.as_str()))
        .cloned()
        .collect();
    let results: Vec<(Document, Result<Option<Document>, FetchError>)> = stream::iter(pages)
        .map(|document| {
            let fetcher = fetcher.clone();
            async move {
                let result = refetch(&fetcher, &document).await;
                (document, result)
            }
        })
        .buffered(FETCH_CONCURRENCY)
        .collect()
        .await;
    for (old, result) in results {
        match result {
            Ok(Some(new)) if new.passages != old.passages || new.title != old.title => {
                done.changed += 1;
                upserts.push(new);
            }
            Ok(Some(new)) => {
                // The same text under new validators: kept, so the next time can be a 304.
                done.unchanged += 1;
                if new.fetch != old.fetch {
                    upserts.push(new);
                }
            }
            Ok(None) => done.unchanged += 1,
            Err(error) => {
                tracing::warn!(project = %slug, document = %old.id, %error, "page not re-synced");
                done.failed += 1;
            }
        }
    }

    // Each id once (two sitemaps may list one page), and never removed as it is added.
    let mut seen = HashSet::new();
    upserts.retain(|document| seen.insert(document.id.clone()));
    removals.retain(|id| !seen.contains(id));
    done.removed = removals.len();
    if !upserts.is_empty() {
        engine
            .projects
            .edit_document(slug, DocumentEdit::Upsert(upserts))
            .await?;
    }
    for id in removals {
        engine
            .projects
            .edit_document(slug, DocumentEdit::Delete(id))
            .await?;
    }
    Ok(done)
}

/// `document`'s page again, asked with the validators it gave last time: `None` when it has
/// not changed (304). Keeps the document's id and sitemap.
async fn refetch(
    fetcher: &WebFetcher,
    document: &Document,
) -> Result<Option<Document>, FetchError> {
    let Some(url) = document.url.as_deref() else {
        return Ok(None);
    };
    let validators = &document.fetch;
    let Some(fetched) = fetcher
        .file_if_changed(
            url,
            validators.etag.as_deref(),
            validators.last_modified.as_deref(),
        )
        .await?
    else {
        return Ok(None);
    };
    let mut new = into_document(url, Some(&document.id), fetched).await?;
    new.fetch.sitemap = document.fetch.sitemap.clone();
    new.fetch.listed_as = document.fetch.listed_as.clone();
    Ok(Some(new))
}

/// Re-syncs every project's fetched documents each `every`, one node per project and period.
pub async fn resync_every(engine: Engine, fetcher: WebFetcher, every: Duration) {
    let every_ms = (every.as_millis() as u64).max(1);
    loop {
        let now = helpyap_actors::time::now_ms();
        let period = now / every_ms * every_ms;
        let mut wait = (period + every_ms).saturating_sub(now);
        match engine.projects.list().await {
            Ok(projects) => {
                for project in projects {
                    match engine.reports.claim_resync(&project.slug, period).await {
                        Ok(true) => match resync_project(&engine, &fetcher, &project.slug).await {
                            Ok(done) if done != Resynced::default() => {
                                tracing::info!(project = %project.slug, ?done, "knowledge re-synced");
                            }
                            Ok(_) => {}
                            Err(error) => {
                                tracing::warn!(project = %project.slug, %error, "knowledge not re-synced");
                            }
                        },
                        Ok(false) => {}
                        Err(error) => {
                            tracing::warn!(project = %project.slug, %error, "re-sync not claimed");
                            wait = wait.min(60_000); // try again soon
                        }
                    }
                }
            }
            Err(error) => {
                tracing::warn!(%error, "re-sync waits: the projects could not be read");
                wait = wait.min(60_000);
            }
        }
        tokio::time::sleep(Duration::from_millis(wait.max(50))).await;
    }
}
