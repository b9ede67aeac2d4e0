//! Loads a project's `knowledge_dir` from disk into engine documents at start.
//!
//! Reads files only (`.md`, `.markdown`, `.txt`, `.html`, `.htm`, not recursive, at most
//! `MAX_FILE_BYTES` each); parsing and chunking are the engine's. A missing folder is the
//! caller's to report.

use std::path::Path;

use helpyap_actors::{Document, DocumentFormat};

/// Larger files are skipped with a warning: a help article is never this big.
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;

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
        if std::fs::metadata(&path)?.len() > MAX_FILE_BYTES {
            tracing::warn!(path = %path.display(), "knowledge file over 1 MiB skipped");
            continue;
        }
        let raw = String::from_utf8_lossy(&std::fs::read(&path)?).into_owned();
        let id = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        documents.push(Document::parse(&id, format, &raw));
    }
    documents.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(documents)
}
