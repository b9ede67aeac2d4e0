//! A project's knowledge base: documents cut into passages, and BM25 search over them.
//!
//! Documents are stored in the store (the truth); the tantivy index lives in memory and is
//! rebuilt from the store whenever the project actor starts or its documents or languages
//! change, so it can never drift from what is stored. This module turns raw Markdown, HTML or
//! text into documents, answers searches, picks the lines that answer a question and tells
//! which documents an answer used; it does not decide what to say when nothing matches.

pub(crate) mod analysis;
mod extract;
mod files;
mod index;

use serde::{Deserialize, Serialize};

pub use extract::Extract;
pub use files::UnreadableFile;
pub use index::KnowledgeIndex;

use crate::language::Lang;

/// Passages are cut at paragraph boundaries once they reach about this many characters.
const PASSAGE_TARGET_CHARS: usize = 700;

/// Documents' formats, by file extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocumentFormat {
    Markdown,
    Html,
    Text,
    Pdf,
    /// Word, 2007 and later.
    Docx,
}

impl DocumentFormat {
    pub fn from_extension(extension: &str) -> Option<DocumentFormat> {
        match extension.to_ascii_lowercase().as_str() {
            "md" | "markdown" => Some(DocumentFormat::Markdown),
            "html" | "htm" => Some(DocumentFormat::Html),
            "txt" => Some(DocumentFormat::Text),
            "pdf" => Some(DocumentFormat::Pdf),
            "docx" => Some(DocumentFormat::Docx),
            _ => None,
        }
    }
}

/// A stored document, already cut into passages.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Document {
    /// Stable within a project, e.g. the seed file's name.
    pub id: String,
    pub title: String,
    pub url: Option<String>,
    pub passages: Vec<String>,
    /// Fetched from `url` (by URL or from a sitemap), so it can be fetched again; uploads and
    /// `knowledge_dir` files are not, even when they name a `url` to cite.
    #[serde(default)]
    pub fetched: bool,
    /// Set on a curated answer (the project's FAQ): the question it answers. Its one passage is
    /// the answer, given verbatim to questions close to this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub question: Option<String>,
    /// How a fetched document is fetched again: its page's validators (`ETag`,
    /// `Last-Modified`) for a conditional request, and the sitemap it came from, if any.
    #[serde(default, skip_serializing_if = "Fetch::is_empty")]
    pub fetch: Fetch,
}

/// What a fetched document's page said about itself, for fetching it again.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Fetch {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_modified: Option<String>,
    /// The sitemap that listed it: a re-sync of the sitemap adds its new pages and removes
    /// the pages it no longer lists.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sitemap: Option<String>,
    /// The address the sitemap lists it under (its `url` is where that led, after redirects).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listed_as: Option<String>,
}

impl Fetch {
    pub fn is_empty(&self) -> bool {
        *self == Fetch::default()
    }
}

/// The title curated answers are cited by.
pub const FAQ_TITLE: &str = "FAQ";

impl Document {
    /// A curated answer: `question` → `answer`, cited as the project's FAQ.
    pub fn curated(id: String, question: &str, answer: &str) -> Document {
        Document {
            id,
            title: FAQ_TITLE.to_owned(),
            url: None,
            passages: vec![answer.trim().to_owned()],
            fetched: false,
            question: Some(question.trim().to_owned()),
            fetch: Fetch::default(),
        }
    }
}

/// One search hit.
#[derive(Debug, Clone, PartialEq)]
pub struct Passage {
    pub document_id: String,
    pub title: String,
    pub url: Option<String>,
    pub text: String,
    pub score: f32,
    /// The language it was indexed (and found) in.
    pub lang: Lang,
}

impl Document {
    /// Builds a document from a file's bytes: text formats as `parse` reads them, PDF and DOCX
    /// through their text (a PDF's first short line names it when nothing else does).
    pub fn read(
        id: &str,
        format: DocumentFormat,
        bytes: &[u8],
    ) -> Result<Document, UnreadableFile> {
        let text = match format {
            DocumentFormat::Pdf => files::pdf_text(bytes)?,
            DocumentFormat::Docx => files::docx_text(bytes)?,
            text => return Ok(Document::parse(id, text, &String::from_utf8_lossy(bytes))),
        };
        let mut document = Document::parse(id, DocumentFormat::Markdown, &text);
        if format == DocumentFormat::Pdf && document.title == id {
            let first = text.lines().next().unwrap_or("").trim();
            if !first.is_empty() && first.chars().count() <= 80 {
                document.title = first.to_owned();
            }
        }
        if document.passages.is_empty() {
            return Err(UnreadableFile::NoText);
        }
        Ok(document)
    }

    /// Builds a document from raw content. Markdown may open with a `---` block of `title:` and
    /// `url:` lines; otherwise the first `# ` heading (or HTML `<title>`) names it, else `id`.
    pub fn parse(id: &str, format: DocumentFormat, raw: &str) -> Document {
        // NUL is no text, and PostgreSQL's JSON cannot hold it.
        let raw = raw.replace('\0', "");
        let (front_title, url, body) = split_front_matter(&raw);
        let (found_title, text) = match format {
            DocumentFormat::Markdown => (first_heading(body), body.to_owned()),
            DocumentFormat::Html => (html_title(body), html_to_text(body)),
            // Files are read through `read`; their text is Markdown by then.
            DocumentFormat::Text | DocumentFormat::Pdf | DocumentFormat::Docx => {
                (None, body.to_owned())
            }
        };
        // A blank title (`# ` alone, `title:` with nothing after it) falls through to the next.
        let title = [front_title, found_title]
            .into_iter()
            .flatten()
            .map(|title| title.trim().to_owned())
            .find(|title| !title.is_empty())
            .unwrap_or_else(|| id.to_owned());
        Document {
            id: id.to_owned(),
            title,
            url,
            passages: cut_passages(&text),
            fetched: false,
            question: None,
            fetch: Fetch::default(),
        }
    }
}

fn split_front_matter(raw: &str) -> (Option<String>, Option<String>, &str) {
    let trimmed = raw.trim_start_matches('\u{feff}');
    let Some(rest) = trimmed.strip_prefix("---\n") else {
        return (None, None, trimmed);
    };
    let Some(end) = rest.find("\n---") else {
        return (None, None, trimmed);
    };
    let (mut title, mut url) = (None, None);
    for line in rest[..end].lines() {
        if let Some((key, value)) = line.split_once(':') {
            let value = value.trim().trim_matches('"').to_owned();
            match key.trim() {
                "title" if !value.is_empty() => title = Some(value),
                "url" if !value.is_empty() => url = Some(value),
                _ => {}
            }
        }
    }
    let body = rest[end + 4..].trim_start_matches(['-', '\n']);
    (title, url, body)
}

fn first_heading(markdown: &str) -> Option<String> {
    markdown
        .lines()
        .find_map(|line| line.strip_prefix("# "))
        .map(|heading| heading.trim().to_owned())
}

fn html_title(html: &str) -> Option<String> {
    let lower = html.to_ascii_lowercase();
    let start = lower.find("<title>")? + "<title>".len();
    let end = start + lower[start..].find("</title>")?;
    let title = html2text::from_read(&html.as_bytes()[start..end], usize::MAX).ok()?;
    let title = title.trim();
    (!title.is_empty()).then(|| title.to_owned())
}

fn html_to_text(html: &str) -> String {
    html2text::config::plain_no_decorate()
        .string_from_read(html.as_bytes(), 100)
        .unwrap_or_default()
}

/// Cuts text at blank lines into passages of about `PASSAGE_TARGET_CHARS`, never splitting a
/// paragraph; a heading starts a new passage so each passage keeps its own topic.
fn cut_passages(text: &str) -> Vec<String> {
    let mut passages = Vec::new();
    let mut current = String::new();
    for paragraph in text.split("\n\n").map(str::trim).filter(|p| !p.is_empty()) {
        let is_heading = paragraph.starts_with('#');
        if !current.is_empty()
            && (is_heading || current.len() + paragraph.len() > PASSAGE_TARGET_CHARS)
        {
            passages.push(std::mem::take(&mut current));
        }
        if !current.is_empty() {
            current.push_str("\n\n");
        }
        current.push_str(paragraph);
    }
    if !current.is_empty() {
        passages.push(current);
    }
    passages
}

#[cfg(test)]
mod tests;
