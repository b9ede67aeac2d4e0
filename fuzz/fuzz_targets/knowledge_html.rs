//! Knowledge-base documents as owners upload or we fetch them: HTML, Markdown, text.
#![no_main]
use helpyap_actors::{Document, DocumentFormat};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    for format in [DocumentFormat::Html, DocumentFormat::Markdown, DocumentFormat::Text] {
        let document = Document::parse("doc", format, &text);
        assert!(!document.title.is_empty());
    }
});
