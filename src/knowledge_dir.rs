//! Loads a project's `knowledge_dir` from disk into engine documents at start, and holds the
//! demo help center built into the binary.
//!
//! Reads files only (`.md`, `.markdown`, `.txt`, `.html`, `.htm` up to `MAX_FILE_BYTES`,
//! `.pdf` and `.docx` up to `MAX_BINARY_BYTES`; not recursive); parsing and chunking are the
//! engine's, and a file it cannot read is skipped with a warning. A missing folder is the
//! caller's to report.

use std::path::Path;

use helpyap_actors::{Document, DocumentFormat};

/// Larger files are skipped with a warning: a help article is never this big.
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;
/// Largest `.pdf` or `.docx` file read, as for uploads.
pub const MAX_BINARY_BYTES: u64 = 10 * 1024 * 1024;

/// `knowledge/demo/`, built in: with the embedded default config the demo answers from its
/// help center wherever the binary runs, not only beside a checkout.
const BUILT_IN_DEMO: [(&str, &str); 6] = [
    ("accounts.md", include_str!("../knowledge/demo/accounts.md")),
    (
        "getting-started.md",
        include_str!("../knowledge/demo/getting-started.md"),
    ),
    ("pricing.md", include_str!("../knowledge/demo/pricing.md")),
    ("returns.md", include_str!("../knowledge/demo/returns.md")),
    ("shipping.md", include_str!("../knowledge/demo/shipping.md")),
    ("support.md", include_str!("../knowledge/demo/support.md")),
];

/// The demo help center as `load("knowledge/demo")` reads it.
pub fn built_in_demo() -> Vec<Document> {
    BUILT_IN_DEMO
        .iter()
        .map(|(id, raw)| Document::parse(id, DocumentFormat::Markdown, raw))
        .collect()
}

pub fn load(dir: &Path) -> std::io::Result<Vec<Document>> {
    let mut documents = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let Some(format) = path
            .extension()
            .and_then(|e| e.to_str())
            .and_then(DocumentFormat::from_extension)
        else {
            continue;
        };
        let binary = matches!(format, DocumentFormat::Pdf | DocumentFormat::Docx);
        let max_bytes = if binary {
            MAX_BINARY_BYTES
        } else {
            MAX_FILE_BYTES
        };
        if std::fs::metadata(&path)?.len() > max_bytes {
            tracing::warn!(path = %path.display(), max_bytes, "knowledge file too large: skipped");
            continue;
        }
        let id = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        match Document::read(&id, format, &std::fs::read(&path)?) {
            Ok(document) => documents.push(document),
            Err(error) => tracing::warn!(path = %path.display(), %error, "knowledge file skipped"),
        }
    }
    documents.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(documents)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_demo_is_the_demo_folder_file_for_file() {
        let folder = load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("knowledge/demo")).unwrap();
        let built_in = built_in_demo();
        let ids = |documents: &[Document]| -> Vec<String> {
            documents.iter().map(|d| d.id.clone()).collect()
        };
        assert_eq!(ids(&built_in), ids(&folder), "a file was added or removed");
        assert!(
            built_in == folder,
            "a file's text differs from its built-in copy"
        );
    }
}
