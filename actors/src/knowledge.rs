//! A project's knowledge base: documents cut into passages, and BM25 search over them.
//!
//! Documents are stored in sled (the truth); the tantivy index lives in memory and is rebuilt
//! from the store whenever the project actor starts or its documents change, so it can never
//! drift from what is stored. This module turns raw Markdown, HTML or text into documents and
//! answers searches; it does not decide what to do with the passages.

use serde::{Deserialize, Serialize};
use tantivy::collector::TopDocs;
use tantivy::query::QueryParser;
use tantivy::schema::{
    Field, IndexRecordOption, STORED, Schema, TextFieldIndexing, TextOptions, Value,
};
use tantivy::tokenizer::{
    Language, LowerCaser, RemoveLongFilter, SimpleTokenizer, Stemmer, StopWordFilter, TextAnalyzer,
};
use tantivy::{Index, IndexReader, TantivyDocument};

/// Passages are cut at paragraph boundaries once they reach about this many characters.
const PASSAGE_TARGET_CHARS: usize = 700;
/// A passage scoring below this share of the best one is not relevant enough to show.
const RELATIVE_SCORE_FLOOR: f32 = 0.35;
const ANALYZER: &str = "helpyap_en";

/// NLTK's English stop words. tantivy's own list (Lucene's) keeps "you", "your", "what", "how",
/// "do"… — the words every visitor question starts with — and they would match every document.
const STOP_WORDS: &[&str] = &[
    "i",
    "me",
    "my",
    "myself",
    "we",
    "our",
    "ours",
    "ourselves",
    "you",
    "your",
    "yours",
    "yourself",
    "yourselves",
    "he",
    "him",
    "his",
    "himself",
    "she",
    "her",
    "hers",
    "herself",
    "it",
    "its",
    "itself",
    "they",
    "them",
    "their",
    "theirs",
    "themselves",
    "what",
    "which",
    "who",
    "whom",
    "this",
    "that",
    "these",
    "those",
    "am",
    "is",
    "are",
    "was",
    "were",
    "be",
    "been",
    "being",
    "have",
    "has",
    "had",
    "having",
    "do",
    "does",
    "did",
    "doing",
    "a",
    "an",
    "the",
    "and",
    "but",
    "if",
    "or",
    "because",
    "as",
    "until",
    "while",
    "of",
    "at",
    "by",
    "for",
    "with",
    "about",
    "against",
    "between",
    "into",
    "through",
    "during",
    "before",
    "after",
    "above",
    "below",
    "to",
    "from",
    "up",
    "down",
    "in",
    "out",
    "on",
    "off",
    "over",
    "under",
    "again",
    "further",
    "then",
    "once",
    "here",
    "there",
    "when",
    "where",
    "why",
    "how",
    "all",
    "any",
    "both",
    "each",
    "few",
    "more",
    "most",
    "other",
    "some",
    "such",
    "no",
    "nor",
    "not",
    "only",
    "own",
    "same",
    "so",
    "than",
    "too",
    "very",
    "s",
    "t",
    "can",
    "will",
    "just",
    "don",
    "should",
    "now",
    "d",
    "ll",
    "m",
    "o",
    "re",
    "ve",
    "y",
    "could",
    "would",
    "please",
    "hi",
    "hello",
    "thanks",
    "tell",
    "know",
    "want",
    "need",
    "get",
];

/// Documents' formats, by file extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocumentFormat {
    Markdown,
    Html,
    Text,
}

impl DocumentFormat {
    pub fn from_extension(extension: &str) -> Option<DocumentFormat> {
        match extension.to_ascii_lowercase().as_str() {
            "md" | "markdown" => Some(DocumentFormat::Markdown),
            "html" | "htm" => Some(DocumentFormat::Html),
            "txt" => Some(DocumentFormat::Text),
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
}

/// One search hit.
#[derive(Debug, Clone, PartialEq)]
pub struct Passage {
    pub document_id: String,
    pub title: String,
    pub url: Option<String>,
    pub text: String,
    pub score: f32,
}

impl Document {
    /// Builds a document from raw content. Markdown may open with a `---` block of `title:` and
    /// `url:` lines; otherwise the first `# ` heading (or HTML `<title>`) names it, else `id`.
    pub fn parse(id: &str, format: DocumentFormat, raw: &str) -> Document {
        let (front_title, url, body) = split_front_matter(raw);
        let (found_title, text) = match format {
            DocumentFormat::Markdown => (first_heading(body), body.to_owned()),
            DocumentFormat::Html => (html_title(body), html_to_text(body)),
            DocumentFormat::Text => (None, body.to_owned()),
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
        }
    }
}

/// The in-memory BM25 index of one project's passages.
pub struct KnowledgeIndex {
    reader: IndexReader,
    query_parser: QueryParser,
    analyzer: TextAnalyzer,
    fields: Fields,
    n_passages: usize,
}

impl std::fmt::Debug for KnowledgeIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KnowledgeIndex")
            .field("n_passages", &self.n_passages)
            .finish()
    }
}

#[derive(Clone, Copy)]
struct Fields {
    title: Field,
    body: Field,
    document: Field,
    url: Field,
}

impl KnowledgeIndex {
    pub fn build(documents: &[Document]) -> Result<KnowledgeIndex, tantivy::TantivyError> {
        let indexed = TextOptions::default()
            .set_indexing_options(
                TextFieldIndexing::default()
                    .set_tokenizer(ANALYZER)
                    .set_index_option(IndexRecordOption::WithFreqsAndPositions),
            )
            .set_stored();
        let mut schema = Schema::builder();
        let fields = Fields {
            title: schema.add_text_field("title", indexed.clone()),
            body: schema.add_text_field("body", indexed),
            document: schema.add_text_field("document", STORED),
            url: schema.add_text_field("url", STORED),
        };
        let index = Index::create_in_ram(schema.build());
        let analyzer = TextAnalyzer::builder(SimpleTokenizer::default())
            .filter(RemoveLongFilter::limit(40))
            .filter(LowerCaser)
            .filter(StopWordFilter::remove(
                STOP_WORDS.iter().map(|word| word.to_string()),
            ))
            .filter(Stemmer::new(Language::English))
            .build();
        index.tokenizers().register(ANALYZER, analyzer.clone());

        // The smallest budget tantivy allows; a project's help center is small.
        let mut writer = index.writer_with_num_threads::<TantivyDocument>(1, 15_000_000)?;
        let mut n_passages = 0;
        for document in documents {
            n_passages += document.passages.len();
            for passage in &document.passages {
                let mut entry = TantivyDocument::default();
                entry.add_text(fields.title, &document.title);
                entry.add_text(fields.body, passage);
                entry.add_text(fields.document, &document.id);
                entry.add_text(fields.url, document.url.as_deref().unwrap_or(""));
                writer.add_document(entry)?;
            }
        }
        writer.commit()?;
        let reader = index.reader()?;
        let mut query_parser = QueryParser::for_index(&index, vec![fields.title, fields.body]);
        query_parser.set_field_boost(fields.title, 2.0);
        Ok(KnowledgeIndex {
            reader,
            query_parser,
            analyzer,
            fields,
            n_passages,
        })
    }

    /// The best passages for `question`, best first; empty when nothing relevant matches.
    pub fn search(&self, question: &str, limit: usize) -> Vec<Passage> {
        // Search the question's content words only: query syntax in it is noise, and a
        // question of stop words alone must match nothing (the parser would match everything).
        let mut analyzer = self.analyzer.clone();
        let mut tokens = analyzer.token_stream(question);
        let mut terms = Vec::new();
        while tokens.advance() {
            terms.push(tokens.token().text.clone());
        }
        if terms.is_empty() {
            return Vec::new();
        }
        let (query, _errors) = self.query_parser.parse_query_lenient(&terms.join(" "));
        let searcher = self.reader.searcher();
        let Ok(hits) = searcher.search(&query, &TopDocs::with_limit(limit).order_by_score()) else {
            return Vec::new();
        };
        let best = hits.first().map(|(score, _)| *score).unwrap_or(0.0);
        hits.into_iter()
            .filter(|(score, _)| *score > 0.0 && *score >= best * RELATIVE_SCORE_FLOOR)
            .filter_map(|(score, address)| {
                let stored: TantivyDocument = searcher.doc(address).ok()?;
                let text_of = |field| {
                    stored
                        .get_first(field)
                        .and_then(|value| value.as_str())
                        .unwrap_or("")
                        .to_owned()
                };
                let url = text_of(self.fields.url);
                Some(Passage {
                    document_id: text_of(self.fields.document),
                    title: text_of(self.fields.title),
                    url: (!url.is_empty()).then_some(url),
                    text: text_of(self.fields.body),
                    score,
                })
            })
            .collect()
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
