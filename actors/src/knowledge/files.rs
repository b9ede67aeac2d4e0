//! The text of PDF and Word (DOCX) files, as Markdown the rest of the knowledge base reads:
//! PDF text through pdf-extract, DOCX paragraphs, headings and list items through zip and
//! quick-xml. A file that holds no text (a scan), is locked with a password, or is not what
//! it says gets a reason an owner can act on; a file never makes the server panic.

use std::io::Read;

use quick_xml::events::Event;

/// Why a file gave no text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnreadableFile {
    #[error("the PDF is encrypted: save it without a password and upload it again")]
    Encrypted,
    #[error(
        "the file has no text to read (a scanned document? run text recognition (OCR) on it first)"
    )]
    NoText,
    #[error("the file is not a readable {0}")]
    Damaged(&'static str),
}

/// Largest `word/document.xml` read from a DOCX, against zip bombs.
const DOCX_XML_MAX_BYTES: u64 = 32 * 1024 * 1024;

/// The text of a PDF, paragraphs separated by blank lines.
pub fn pdf_text(bytes: &[u8]) -> Result<String, UnreadableFile> {
    if !bytes.starts_with(b"%PDF-") {
        return Err(UnreadableFile::Damaged("PDF"));
    }
    // Encryption is declared by an /Encrypt entry in the trailer.
    if bytes.windows(8).any(|window| window == b"/Encrypt") {
        return Err(UnreadableFile::Encrypted);
    }
    // pdf-extract panics on some malformed files: a panic here is a damaged file, not a crash.
    let extracted = std::panic::catch_unwind(|| pdf_extract::extract_text_from_mem(bytes));
    let text = match extracted {
        Ok(Ok(text)) => text,
        Ok(Err(_)) | Err(_) => return Err(UnreadableFile::Damaged("PDF")),
    };
    with_text(tidy(&text))
}

/// The text of a DOCX as Markdown: headings as `#`, list items as `- `, one paragraph per
/// Word paragraph, table cells as paragraphs.
pub fn docx_text(bytes: &[u8]) -> Result<String, UnreadableFile> {
    let damaged = || UnreadableFile::Damaged("DOCX");
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).map_err(|_| damaged())?;
    let mut xml = Vec::new();
    archive
        .by_name("word/document.xml")
        .map_err(|_| damaged())?
        .take(DOCX_XML_MAX_BYTES)
        .read_to_end(&mut xml)
        .map_err(|_| damaged())?;
    let mut reader = quick_xml::Reader::from_reader(xml.as_slice());
    let mut paragraphs: Vec<String> = Vec::new();
    let mut text = String::new();
    let mut prefix = String::new();
    let mut in_text = false;
    loop {
        match reader.read_event().map_err(|_| damaged())? {
            Event::Start(tag) | Event::Empty(tag) => match tag.local_name().into_inner() {
                "p" => {
                    text.clear();
                    prefix.clear();
                }
                "t" => in_text = true,
                "tab" => text.push(' '),
                "br" => text.push('\n'),
                "pStyle" => {
                    let style = attribute(&tag, "val").unwrap_or_default();
                    if let Some(level) = heading_level(&style) {
                        prefix = format!("{} ", "#".repeat(level));
                    } else if style.starts_with("List") {
                        // "List Bullet", "List Number": numbered by their style.
                        prefix = "- ".to_owned();
                    }
                }
                "numPr" if prefix.is_empty() => prefix = "- ".to_owned(),
                _ => {}
            },
            Event::Text(content) if in_text => text.push_str(&content.xml10_content()),
            // `&amp;` and `&#38;` arrive as events of their own.
            Event::GeneralRef(reference) if in_text => {
                if let Some(c) = reference.resolve_char_ref().map_err(|_| damaged())? {
                    text.push(c);
                } else if let Some(resolved) =
                    quick_xml::escape::resolve_predefined_entity(&reference.xml10_content())
                {
                    text.push_str(resolved);
                }
            }
            Event::End(tag) => match tag.local_name().into_inner() {
                "t" => in_text = false,
                "p" => {
                    let line = text.trim();
                    if !line.is_empty() {
                        paragraphs.push(format!("{prefix}{line}"));
                    }
                }
                _ => {}
            },
            Event::Eof => break,
            _ => {}
        }
    }
    // List items stay together; everything else is a paragraph of its own.
    let mut markdown = String::new();
    for (index, paragraph) in paragraphs.iter().enumerate() {
        if index > 0 {
            let both_items = paragraph.starts_with("- ") && paragraphs[index - 1].starts_with("- ");
            markdown.push_str(if both_items { "\n" } else { "\n\n" });
        }
        markdown.push_str(paragraph);
    }
    with_text(markdown)
}

fn attribute(tag: &quick_xml::events::BytesStart<'_>, name: &str) -> Option<String> {
    tag.attributes()
        .flatten()
        .find(|attribute| attribute.key.local_name().into_inner() == name)
        .map(|attribute| attribute.value.into_owned())
}

/// Word's built-in heading styles: `Title` and `Heading1`…`Heading6`.
fn heading_level(style: &str) -> Option<usize> {
    if style == "Title" {
        return Some(1);
    }
    let level: usize = style.strip_prefix("Heading")?.parse().ok()?;
    (1..=6).contains(&level).then_some(level)
}

/// Lines trimmed, runs of blank lines made one, page-break form feeds dropped.
fn tidy(text: &str) -> String {
    let mut out = String::new();
    let mut blank = false;
    for line in text.lines().map(|line| line.trim().trim_matches('\u{c}')) {
        if line.is_empty() {
            blank = !out.is_empty();
            continue;
        }
        if !out.is_empty() {
            out.push_str(if blank { "\n\n" } else { "\n" });
        }
        out.push_str(line);
        blank = false;
    }
    out
}

fn with_text(text: String) -> Result<String, UnreadableFile> {
    if text.chars().any(char::is_alphanumeric) {
        Ok(text)
    } else {
        Err(UnreadableFile::NoText)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_not_a_readable_file_says_why() {
        assert_eq!(pdf_text(b"hello"), Err(UnreadableFile::Damaged("PDF")));
        assert_eq!(
            pdf_text(b"%PDF-1.7\n1 0 obj <<>> endobj\ntrailer << /Encrypt 5 0 R >>"),
            Err(UnreadableFile::Encrypted)
        );
        assert_eq!(
            pdf_text(b"%PDF-1.7\n garbage that is no PDF"),
            Err(UnreadableFile::Damaged("PDF"))
        );
        assert_eq!(
            docx_text(b"PK no zip"),
            Err(UnreadableFile::Damaged("DOCX"))
        );
    }

    #[test]
    fn headings_and_list_items_of_word_become_markdown() {
        assert_eq!(heading_level("Heading2"), Some(2));
        assert_eq!(heading_level("Title"), Some(1));
        assert_eq!(heading_level("Normal"), None);
        assert_eq!(heading_level("Heading9"), None);
        assert_eq!(tidy("  a \n\u{c}\n\n\n b\nc "), "a\n\nb\nc");
    }
}
