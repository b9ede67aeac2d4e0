//! Unit tests of document parsing and BM25 search, on the demo help center that ships with us.

use super::*;
use crate::language::Lang;

fn demo_documents() -> Vec<Document> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../knowledge/demo");
    let mut documents: Vec<Document> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| {
            let path = entry.unwrap().path();
            let id = path.file_name().unwrap().to_string_lossy().into_owned();
            Document::parse(
                &id,
                DocumentFormat::Markdown,
                &std::fs::read_to_string(&path).unwrap(),
            )
        })
        .collect();
    documents.sort_by(|a, b| a.id.cmp(&b.id));
    documents
}

#[test]
fn markdown_front_matter_names_the_document() {
    let raw = "---\ntitle: Returns\nurl: https://x.example/r\n---\n# Heading\n\nBody text.";
    let document = Document::parse("returns.md", DocumentFormat::Markdown, raw);
    assert_eq!(document.title, "Returns");
    assert_eq!(document.url.as_deref(), Some("https://x.example/r"));
    assert_eq!(document.passages, vec!["# Heading\n\nBody text."]);

    let plain = Document::parse("faq.md", DocumentFormat::Markdown, "# FAQ\n\nQ and A.");
    assert_eq!(plain.title, "FAQ");
    assert_eq!(plain.url, None);
    let text = Document::parse("notes.txt", DocumentFormat::Text, "just words");
    assert_eq!(text.title, "notes.txt");
}

#[test]
fn html_is_reduced_to_its_text_and_title() {
    let raw = "<html><head><title>Shipping &amp; delivery</title><script>alert(1)</script></head>\
               <body><h1>Shipping</h1><p>We ship <b>fast</b>.</p></body></html>";
    let document = Document::parse("shipping.html", DocumentFormat::Html, raw);
    assert_eq!(document.title, "Shipping & delivery");
    let text = document.passages.join("\n");
    assert!(text.contains("We ship fast."), "{text}");
    assert!(!text.contains('<') && !text.contains("alert"), "{text}");
}

#[test]
fn long_text_is_cut_at_paragraphs_and_headings() {
    let paragraph = "word ".repeat(100);
    let raw = format!("{paragraph}\n\n{paragraph}\n\n# Next topic\n\nshort");
    let passages = cut_passages(&raw);
    assert_eq!(passages.len(), 3, "{passages:?}");
    assert!(passages[2].starts_with("# Next topic"));
    assert!(passages.iter().all(|p| !p.trim().is_empty()));
}

#[test]
fn the_return_policy_question_finds_the_returns_document_first() {
    let index = KnowledgeIndex::build(&demo_documents(), &[Lang::En]).unwrap();
    let hits = index.search("What is your return policy?", Lang::En, 3);
    assert!(!hits.is_empty());
    assert_eq!(hits[0].document_id, "returns.md");
    assert_eq!(hits[0].title, "Returns and refunds");
    assert_eq!(
        hits[0].url.as_deref(),
        Some("https://acme.example/help/returns")
    );
    assert!(hits[0].text.contains("30 days"), "{}", hits[0].text);

    let pricing = index.search("how much is the pro plan", Lang::En, 3);
    assert_eq!(pricing[0].document_id, "pricing.md");
    let password = index.search("I forgot my password", Lang::En, 3);
    assert_eq!(password[0].document_id, "accounts.md");
}

#[test]
fn unrelated_or_empty_questions_match_nothing() {
    let index = KnowledgeIndex::build(&demo_documents(), &[Lang::En]).unwrap();
    assert!(
        index
            .search("what is the capital of mongolia", Lang::En, 3)
            .is_empty()
    );
    assert!(
        index.search("what is it", Lang::En, 3).is_empty(),
        "stop words alone must not match"
    );
    assert!(index.search("", Lang::En, 3).is_empty());
    assert!(
        index.search("title:\"((( AND OR *", Lang::En, 3).is_empty(),
        "query syntax is not interpreted"
    );
    assert!(
        KnowledgeIndex::build(&[], &[Lang::En])
            .unwrap()
            .search("returns", Lang::En, 3)
            .is_empty()
    );
}

#[test]
fn a_blank_heading_is_no_title() {
    // Found by the knowledge_html fuzz target: "# " made a document with an empty title.
    assert_eq!(
        Document::parse("doc", DocumentFormat::Markdown, "# ").title,
        "doc"
    );
    let front = "---\ntitle:  \n---\n# Real title\n\nText.";
    assert_eq!(
        Document::parse("doc", DocumentFormat::Markdown, front).title,
        "Real title"
    );
    let html = "<html><head><title> </title></head><body><p>x</p></body></html>";
    assert_eq!(
        Document::parse("page", DocumentFormat::Html, html).title,
        "page"
    );
}

mod properties {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// Cutting keeps every paragraph, whole and in order, and makes no empty passage.
        #[test]
        fn passages_keep_every_paragraph_in_order(
            paragraphs in proptest::collection::vec("[#]?[a-zA-Z0-9 ,.!?é]{1,300}", 0..30),
        ) {
            let paragraphs: Vec<String> = paragraphs
                .iter()
                .map(|p| p.trim().to_owned())
                .filter(|p| !p.is_empty())
                .collect();
            let text = paragraphs.join("\n\n");
            let passages = cut_passages(&text);
            prop_assert!(passages.iter().all(|p| !p.trim().is_empty()));
            let rejoined: Vec<String> = passages
                .iter()
                .flat_map(|p| p.split("\n\n").map(str::to_owned).collect::<Vec<_>>())
                .collect();
            prop_assert_eq!(rejoined, paragraphs);
        }

        /// Any text as HTML, Markdown or plain text parses, and always has a title.
        #[test]
        fn any_document_parses(raw in ".{0,2000}", format in 0u8..3) {
            let format = [DocumentFormat::Html, DocumentFormat::Markdown, DocumentFormat::Text][format as usize];
            let document = Document::parse("doc", format, &raw);
            prop_assert!(!document.title.is_empty());
        }

        /// What a page's scripts and styles hold never becomes answer text.
        #[test]
        fn scripts_and_styles_are_not_text(secret in "[a-z]{12,24}", body in "[a-zA-Z ]{1,200}") {
            let html = format!(
                "<html><head><style>.{secret} {{}}</style></head><body><p>{body}</p>\
                 <script>var {secret} = 1;</script></body></html>"
            );
            let document = Document::parse("page", DocumentFormat::Html, &html);
            prop_assert!(document.passages.iter().all(|p| !p.contains(&secret)), "{:?}", document.passages);
        }
    }
}
