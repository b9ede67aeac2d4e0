//! `/api/admin/projects/{slug}/documents…`: a project's knowledge base, for its owners.
//! The router has checked the token and the owner role before any of these run.
//!
//! | method and path | what |
//! |---|---|
//! | `GET …/documents` | every document with its passage count |
//! | `POST …/documents` | add or replace one from text, Markdown, HTML, or a PDF or DOCX file (base64) |
//! | `POST …/documents/fetch` | add one page `{url}`, or every page of a sitemap `{url, sitemap: true}` |
//! | `POST …/documents/{id}/sync` | fetch a fetched document's page again (not an upload's) |
//! | `POST …/documents/reindex` | rebuild the search index from the stored documents |
//! | `DELETE …/documents/{id}` | remove one |
//!
//! Answers cite a change as soon as the call returns. Reading files and fetching pages is
//! `knowledge_sync`'s (which also re-syncs fetched documents on a schedule), through
//! `web_fetch`, which keeps to public addresses unless the operator allows private ones.
//! Curated answers are documents too, listed and edited through `admin_faq`.

use crate::json::RequestBody;
use base64::Engine;
use helpyap_actors::project::DocumentEdit;
use helpyap_actors::{Document, DocumentFormat};
use hyper::{Request, StatusCode};
use serde::Deserialize;

use crate::error::ApiError;
use crate::json::{Body, Response, empty_response, json_response, read_json};
use crate::knowledge_sync::{
    DOCUMENT_ID_MAX_CHARS, document_id, fetch_document, fetch_sitemap, read_file,
};
use crate::router::AppState;
use crate::views::{DocumentSummary, Documents, FetchFailure, SitemapFetched};
use crate::web_fetch::FetchError;

#[utoipa::path(
    post, path = "/api/admin/projects/{slug}/documents/reindex", tag = "admin: knowledge base",
    params(("slug" = String, Path, example = "demo", description = "The project's slug")),
    responses((status = 200, description = "Rebuilt; every document", body = crate::views::Documents))
)]
pub async fn reindex(state: &AppState, slug: &str) -> Result<Response<Body>, ApiError> {
    state
        .engine
        .projects
        .edit_document(slug, DocumentEdit::Reindex)
        .await?;
    list(state, slug).await
}

#[utoipa::path(
    get, path = "/api/admin/projects/{slug}/documents", tag = "admin: knowledge base",
    params(("slug" = String, Path, example = "demo", description = "The project's slug")),
    responses((status = 200, description = "Every document", body = crate::views::Documents))
)]
pub async fn list(state: &AppState, slug: &str) -> Result<Response<Body>, ApiError> {
    let documents = state.engine.projects.documents(slug).await?;
    // Curated answers are listed by `…/faq`.
    let documents: Vec<DocumentSummary> = documents
        .iter()
        .filter(|document| document.question.is_none())
        .map(DocumentSummary::from)
        .collect();
    Ok(json_response(StatusCode::OK, &Documents { documents }))
}

/// Largest document an owner may upload as text, as for `knowledge_dir` files.
const DOCUMENT_MAX_BYTES: usize = 1024 * 1024;
/// Largest PDF or DOCX an owner may upload, and its request (the file in base64, and JSON).
const FILE_MAX_BYTES: usize = 10 * 1024 * 1024;
const FILE_REQUEST_MAX_BYTES: usize = FILE_MAX_BYTES / 3 * 4 + 64 * 1024;

#[derive(Deserialize, utoipa::ToSchema)]
struct DocumentBody {
    /// Defaults to the title, lowercased with dashes.
    id: Option<String>,
    title: Option<String>,
    url: Option<String>,
    /// `markdown` (default), `html`, `text`, or `pdf` or `docx` (sent as `contentBase64`).
    #[schema(pattern = "^(markdown|md|html|text|txt|pdf|docx)$")]
    format: Option<String>,
    /// The text of a `markdown`, `html` or `text` document.
    #[schema(nullable = false, min_length = 1)]
    content: Option<String>,
    /// A PDF or DOCX file, base64-encoded (at most 10 MiB decoded).
    #[serde(rename = "contentBase64")]
    #[schema(nullable = false, min_length = 1)]
    content_base64: Option<String>,
}

#[utoipa::path(
    post, path = "/api/admin/projects/{slug}/documents", tag = "admin: knowledge base",
    params(("slug" = String, Path, example = "demo", description = "The project's slug")), request_body = DocumentBody,
    responses((status = 201, description = "Added or replaced", body = crate::views::DocumentSummary))
)]
pub async fn add_document(
    state: &AppState,
    slug: &str,
    request: Request<RequestBody>,
) -> Result<Response<Body>, ApiError> {
    let limits = crate::json::BodyLimits {
        max_bytes: FILE_REQUEST_MAX_BYTES,
        ..state.body_limits()
    };
    let body: DocumentBody = read_json(request, limits).await?;
    let format = match body.format.as_deref().unwrap_or("markdown") {
        "markdown" | "md" => DocumentFormat::Markdown,
        "html" => DocumentFormat::Html,
        "text" | "txt" => DocumentFormat::Text,
        "pdf" => DocumentFormat::Pdf,
        "docx" => DocumentFormat::Docx,
        _ => {
            return Err(ApiError::invalid(
                "format must be markdown, html, text, pdf or docx",
            ));
        }
    };
    let mut document = if matches!(format, DocumentFormat::Pdf | DocumentFormat::Docx) {
        let encoded = body
            .content_base64
            .filter(|c| !c.trim().is_empty())
            .ok_or_else(|| ApiError::invalid("contentBase64 is required for pdf and docx"))?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .map_err(|_| ApiError::invalid("contentBase64 is not base64"))?;
        if bytes.len() > FILE_MAX_BYTES {
            return Err(ApiError::invalid("files are limited to 10 MiB"));
        }
        read_file(String::new(), format, bytes)
            .await
            .map_err(|error| ApiError::invalid(error.to_string()))?
    } else {
        let content = body
            .content
            .filter(|c| !c.trim().is_empty())
            .ok_or_else(|| ApiError::invalid("content is required"))?;
        if content.len() > DOCUMENT_MAX_BYTES {
            return Err(ApiError::invalid("text documents are limited to 1 MiB"));
        }
        Document::parse("", format, &content)
    };
    if let Some(title) = body
        .title
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty())
    {
        if title.chars().any(char::is_control) {
            return Err(ApiError::invalid(
                "title must not contain control characters",
            ));
        }
        document.title = title;
    }
    if let Some(url) = body.url.filter(|u| !u.trim().is_empty()) {
        let lower = url.trim().to_ascii_lowercase();
        if !(lower.starts_with("https://") || lower.starts_with("http://")) {
            return Err(ApiError::invalid("url must be http(s)"));
        }
        if url.chars().any(char::is_control) {
            return Err(ApiError::invalid("url must not contain control characters"));
        }
        document.url = Some(url.trim().to_owned());
    }
    let id = body.id.unwrap_or_else(|| document_id(&document.title));
    if id.is_empty()
        || id.chars().count() > DOCUMENT_ID_MAX_CHARS
        || id.chars().any(char::is_control)
    {
        return Err(ApiError::invalid(format!(
            "id must be 1 to {DOCUMENT_ID_MAX_CHARS} characters"
        )));
    }
    if document.title.is_empty() {
        document.title = id.clone();
    }
    document.id = id;
    if document.passages.is_empty() {
        return Err(ApiError::invalid("content has no readable text"));
    }
    save(state, slug, document, StatusCode::CREATED).await
}

/// Adds or replaces one document and answers its summary.
async fn save(
    state: &AppState,
    slug: &str,
    document: Document,
    status: StatusCode,
) -> Result<Response<Body>, ApiError> {
    let reply =
        serde_json::to_value(DocumentSummary::from(&document)).expect("summaries serialize");
    state
        .engine
        .projects
        .edit_document(slug, DocumentEdit::Upsert(vec![document]))
        .await?;
    Ok(json_response(status, &reply))
}

#[utoipa::path(
    delete, path = "/api/admin/projects/{slug}/documents/{id}", tag = "admin: knowledge base",
    params(("slug" = String, Path, example = "demo", description = "The project's slug"), ("id" = String, Path, description = "The document's id")),
    responses((status = 204, description = "Removed"))
)]
pub async fn delete_document(
    state: &AppState,
    slug: &str,
    id: &str,
) -> Result<Response<Body>, ApiError> {
    if !state
        .engine
        .projects
        .edit_document(slug, DocumentEdit::Delete(id.to_owned()))
        .await?
    {
        return Err(ApiError::not_found("Document not found"));
    }
    Ok(empty_response(StatusCode::NO_CONTENT))
}

#[derive(Deserialize, utoipa::ToSchema)]
struct FetchBody {
    #[schema(
        required = true,
        nullable = false,
        format = "uri",
        example = "https://example.com/help"
    )]
    url: Option<String>,
    /// `url` is a sitemap: fetch every page it lists.
    #[serde(default)]
    sitemap: bool,
}

/// `POST …/documents/fetch`: one page, or every page of a sitemap; a page that fails is
/// reported and the others are still added.
#[utoipa::path(
    post, path = "/api/admin/projects/{slug}/documents/fetch", tag = "admin: knowledge base",
    params(("slug" = String, Path, example = "demo", description = "The project's slug")), request_body = FetchBody,
    responses(
        (status = 201, description = "The page, or the pages of the sitemap (with those that failed)", body = crate::views::Fetched),
        (status = 422, description = "The page (or every page of the sitemap) could not be fetched", body = crate::error::ErrorBody),
    )
)]
pub async fn fetch(
    state: &AppState,
    slug: &str,
    request: Request<RequestBody>,
) -> Result<Response<Body>, ApiError> {
    let body: FetchBody = read_json(request, state.body_limits()).await?;
    let url = body
        .url
        .filter(|url| !url.trim().is_empty())
        .ok_or_else(|| ApiError::invalid("url is required"))?;
    if !body.sitemap {
        let document = fetch_document(&state.fetcher, &url, None)
            .await
            .map_err(fetch_error)?;
        return save(state, slug, document, StatusCode::CREATED).await;
    }
    let pages = state.fetcher.sitemap(&url).await.map_err(fetch_error)?;
    let (added, mut failed) = fetch_sitemap(&state.fetcher, url.trim(), pages).await;
    if added.is_empty() {
        // Every page failed: answer as the first failure would alone (400 for a refused one).
        let (_, first) = failed.swap_remove(0);
        return Err(fetch_error(first));
    }
    let failed: Vec<FetchFailure> = failed
        .into_iter()
        .map(|(url, error)| FetchFailure {
            url,
            error: error.to_string(),
        })
        .collect();
    let reply = serde_json::to_value(SitemapFetched {
        documents: added.iter().map(DocumentSummary::from).collect(),
        failed,
    })
    .expect("summaries serialize");
    tracing::info!(project = %slug, pages = added.len(), failed = reply["failed"].as_array().map_or(0, Vec::len), "documents fetched");
    state
        .engine
        .projects
        .edit_document(slug, DocumentEdit::Upsert(added))
        .await?;
    Ok(json_response(StatusCode::CREATED, &reply))
}

/// `POST …/documents/{id}/sync`: the page of a document fetched by URL or from a sitemap,
/// fetched again under the same id. An upload or a `knowledge_dir` file only cites its `url`.
#[utoipa::path(
    post, path = "/api/admin/projects/{slug}/documents/{id}/sync", tag = "admin: knowledge base",
    params(("slug" = String, Path, example = "demo", description = "The project's slug"), ("id" = String, Path, description = "The document's id")),
    responses(
        (status = 200, description = "Fetched again", body = crate::views::DocumentSummary),
        (status = 422, description = "The page (or every page of the sitemap) could not be fetched", body = crate::error::ErrorBody),
    )
)]
pub async fn sync(state: &AppState, slug: &str, id: &str) -> Result<Response<Body>, ApiError> {
    let documents = state.engine.projects.documents(slug).await?;
    let existing = documents
        .iter()
        .find(|document| document.id == id)
        .ok_or_else(|| ApiError::not_found("Document not found"))?;
    let url = match &existing.url {
        Some(url) if existing.fetched => url.clone(),
        _ => {
            return Err(ApiError::invalid(
                "only documents fetched by URL or sitemap can be synced; this one was uploaded \
                 or comes from the project's knowledge_dir",
            ));
        }
    };
    let mut document = fetch_document(&state.fetcher, &url, Some(id))
        .await
        .map_err(fetch_error)?;
    document.fetch.sitemap = existing.fetch.sitemap.clone();
    document.fetch.listed_as = existing.fetch.listed_as.clone();
    save(state, slug, document, StatusCode::OK).await
}

fn fetch_error(error: FetchError) -> ApiError {
    match error {
        FetchError::BadUrl(reason) => ApiError::invalid(reason),
        FetchError::Failed(reason) => ApiError::fetch_failed(reason),
    }
}
