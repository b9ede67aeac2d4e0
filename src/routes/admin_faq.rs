//! `/api/admin/projects/{slug}/faq…`: curated answers, the project's FAQ. A teammate saves a
//! question and the answer it deserves ("Improve this answer" in the inbox); later questions
//! close to it get that answer first (said verbatim without a model; the top passage with
//! one), cited as the FAQ.
//!
//! | method and path | who | what |
//! |---|---|---|
//! | `GET …/faq` | owners, agents | every curated answer |
//! | `POST …/faq` | owners, agents | add `{question, answer}` → 201 |
//! | `PUT …/faq/{id}` | owners, agents | replace its question and answer → 200 |
//! | `DELETE …/faq/{id}` | owners | remove it → 204 |
//!
//! Curated answers are knowledge-base documents (with a `question`), so they are stored,
//! indexed and copied with the rest; the documents list leaves them out.

use crate::json::RequestBody;
use helpyap_actors::Document;
use helpyap_actors::project::DocumentEdit;
use helpyap_actors::text::{self, TextError};
use hyper::{Request, StatusCode};
use serde::Deserialize;
use uuid::Uuid;

use crate::error::ApiError;
use crate::json::{Body, Response, empty_response, json_response, read_json};
use crate::router::AppState;
use crate::views::{CuratedAnswer, CuratedAnswers};

pub const QUESTION_MAX_CHARS: usize = 500;
pub const ANSWER_MAX_CHARS: usize = 4000;
/// Curated answers one project may keep.
pub const MAX_PER_PROJECT: usize = 500;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct CuratedBody {
    #[schema(min_length = 1, max_length = 500)]
    question: String,
    /// Markdown, as answers are.
    #[schema(min_length = 1, max_length = 4000)]
    answer: String,
}

impl CuratedBody {
    /// Both fields trimmed, non-empty, within their length and free of control characters
    /// (line breaks aside: answers may be lists).
    fn checked(self) -> Result<CuratedBody, ApiError> {
        let clean =
            |field: &str, value: String, max: usize, multiline: bool| match text::clean_field(
                Some(value),
                max,
                multiline,
            ) {
                Ok(Some(value)) => Ok(value),
                Ok(None) => Err(ApiError::invalid(format!("{field} is required"))),
                Err(TextError::TooLong) => Err(ApiError::invalid(format!(
                    "{field} must be at most {max} characters"
                ))),
                Err(TextError::ControlCharacters) => Err(ApiError::invalid(format!(
                    "{field} must not contain control characters"
                ))),
            };
        Ok(CuratedBody {
            question: clean("question", self.question, QUESTION_MAX_CHARS, false)?,
            answer: clean("answer", self.answer, ANSWER_MAX_CHARS, true)?,
        })
    }
}

#[utoipa::path(
    get, path = "/api/admin/projects/{slug}/faq", tag = "admin: knowledge base",
    params(("slug" = String, Path, example = "demo", description = "The project's slug")),
    responses((status = 200, description = "Every curated answer, in id order", body = crate::views::CuratedAnswers))
)]
pub async fn list(state: &AppState, slug: &str) -> Result<Response<Body>, ApiError> {
    let documents = state.engine.projects.documents(slug).await?;
    let faq: Vec<CuratedAnswer> = documents.iter().filter_map(CuratedAnswer::of).collect();
    Ok(json_response(StatusCode::OK, &CuratedAnswers { faq }))
}

#[utoipa::path(
    post, path = "/api/admin/projects/{slug}/faq", tag = "admin: knowledge base",
    params(("slug" = String, Path, example = "demo", description = "The project's slug")), request_body = CuratedBody,
    responses(
        (status = 201, description = "Added: close questions get it at once", body = crate::views::CuratedAnswer),
        (status = 409, description = "The project has 500 curated answers", body = crate::error::ErrorBody),
    )
)]
pub async fn add(
    state: &AppState,
    slug: &str,
    request: Request<RequestBody>,
) -> Result<Response<Body>, ApiError> {
    let body: CuratedBody = read_json(request, state.body_limits()).await?;
    let body = body.checked()?;
    let documents = state.engine.projects.documents(slug).await?;
    let kept = documents.iter().filter(|d| d.question.is_some()).count();
    if kept >= MAX_PER_PROJECT {
        return Err(ApiError::conflict(format!(
            "A project keeps at most {MAX_PER_PROJECT} curated answers: edit or delete one"
        )));
    }
    let id = format!("faq-{}", &Uuid::new_v4().simple().to_string()[..12]);
    save(state, slug, id, body, StatusCode::CREATED).await
}

#[utoipa::path(
    put, path = "/api/admin/projects/{slug}/faq/{id}", tag = "admin: knowledge base",
    params(("slug" = String, Path, example = "demo", description = "The project's slug"), ("id" = String, Path, description = "The curated answer's id")),
    request_body = CuratedBody,
    responses(
        (status = 200, description = "Replaced", body = crate::views::CuratedAnswer),
        (status = 404, description = "No such curated answer", body = crate::error::ErrorBody),
    )
)]
pub async fn replace(
    state: &AppState,
    slug: &str,
    id: &str,
    request: Request<RequestBody>,
) -> Result<Response<Body>, ApiError> {
    let body: CuratedBody = read_json(request, state.body_limits()).await?;
    let body = body.checked()?;
    find(state, slug, id).await?;
    save(state, slug, id.to_owned(), body, StatusCode::OK).await
}

#[utoipa::path(
    delete, path = "/api/admin/projects/{slug}/faq/{id}", tag = "admin: knowledge base",
    params(("slug" = String, Path, example = "demo", description = "The project's slug"), ("id" = String, Path, description = "The curated answer's id")),
    responses(
        (status = 204, description = "Removed"),
        (status = 404, description = "No such curated answer", body = crate::error::ErrorBody),
    )
)]
pub async fn delete(state: &AppState, slug: &str, id: &str) -> Result<Response<Body>, ApiError> {
    find(state, slug, id).await?;
    state
        .engine
        .projects
        .edit_document(slug, DocumentEdit::Delete(id.to_owned()))
        .await?;
    Ok(empty_response(StatusCode::NO_CONTENT))
}

/// 404 unless `id` is one of the project's curated answers (not another document).
async fn find(state: &AppState, slug: &str, id: &str) -> Result<(), ApiError> {
    let documents = state.engine.projects.documents(slug).await?;
    match documents.iter().any(|d| d.id == id && d.question.is_some()) {
        true => Ok(()),
        false => Err(ApiError::not_found("Curated answer not found")),
    }
}

async fn save(
    state: &AppState,
    slug: &str,
    id: String,
    body: CuratedBody,
    status: StatusCode,
) -> Result<Response<Body>, ApiError> {
    let document = Document::curated(id, &body.question, &body.answer);
    let view = serde_json::to_value(CuratedAnswer::of(&document)).expect("views serialize");
    state
        .engine
        .projects
        .edit_document(slug, DocumentEdit::Upsert(vec![document]))
        .await?;
    Ok(json_response(status, &view))
}
