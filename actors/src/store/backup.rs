//! The whole store as one file, and that file restored into a new store.
//!
//! The file is JSON lines: a header `{"format":"helpyap-backup","version":1,"schema":N}`, then
//! `{"tree":"NAME"}` before each tree's records and `{"k":"B64","v":"B64"}` per record, and a
//! trailer `{"end":true,"records":N,"sha256":"HEX"}` whose digest covers every line before it.
//! A file cut short, edited or of another schema is refused before anything is written. A
//! backup of a store in use is consistent record by record, not across trees: writes go on
//! while it is taken.

use std::io::{BufRead, Write};
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{SCHEMA_VERSION, SledStore, StoreError};

const FORMAT: &str = "helpyap-backup";
const VERSION: u64 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackupSummary {
    pub trees: usize,
    pub records: u64,
}

#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum Line {
    Header {
        format: String,
        version: u64,
        schema: u64,
    },
    Tree {
        tree: String,
    },
    Record {
        k: String,
        v: String,
    },
    End {
        end: bool,
        records: u64,
        sha256: String,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("reading or writing the backup failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("not a usable backup: {0}")]
    Invalid(String),
    #[error("{0} already holds data: restore into a new, empty directory")]
    TargetNotEmpty(String),
}

impl SledStore {
    /// Writes every tree of the store, of schema `schema`, to `out`.
    pub(super) fn write_backup(
        &self,
        out: &mut dyn Write,
        schema: u64,
    ) -> Result<BackupSummary, BackupError> {
        let mut digest = Sha256::new();
        let mut write = |line: &Line| -> Result<(), BackupError> {
            let mut text = serde_json::to_vec(line).expect("lines are plain data");
            text.push(b'\n');
            digest.update(&text);
            out.write_all(&text)?;
            Ok(())
        };
        write(&Line::Header {
            format: FORMAT.into(),
            version: VERSION,
            schema,
        })?;
        let mut summary = BackupSummary {
            trees: 0,
            records: 0,
        };
        // The day tallies are left out: counted again from the records at open.
        for name in self.db.tree_names() {
            if name == super::sled_store::FIGURES_TREE {
                continue;
            }
            let tree = self.db.open_tree(&name).map_err(StoreError::from)?;
            write(&Line::Tree {
                tree: String::from_utf8_lossy(&name).into_owned(),
            })?;
            summary.trees += 1;
            for entry in tree.iter() {
                let (key, value) = entry.map_err(StoreError::from)?;
                write(&Line::Record {
                    k: B64.encode(key),
                    v: B64.encode(value),
                })?;
                summary.records += 1;
            }
        }
        let sha256 = hex::encode(digest.finalize());
        let mut trailer = serde_json::to_vec(&Line::End {
            end: true,
            records: summary.records,
            sha256,
        })
        .expect("lines are plain data");
        trailer.push(b'\n');
        out.write_all(&trailer)?;
        out.flush()?;
        Ok(summary)
    }

    /// Checks the backup `open_backup` reads (it is called twice: once to check the whole file,
    /// once to import it), then restores it into `dir`, which must not exist or be empty.
    /// Nothing is left in `dir` when it fails. sled's background threads let go of the new
    /// store's lock a moment after this returns.
    pub fn restore<R: BufRead>(
        dir: &Path,
        mut open_backup: impl FnMut() -> std::io::Result<R>,
    ) -> Result<BackupSummary, BackupError> {
        let in_use = dir.exists()
            && std::fs::read_dir(dir)
                .map(|mut entries| entries.next().is_some())
                .unwrap_or(true);
        if in_use {
            return Err(BackupError::TargetNotEmpty(dir.display().to_string()));
        }
        let summary = check(open_backup()?)?;
        let result = (|| {
            let db = sled::Config::new()
                .path(dir)
                .open()
                .map_err(StoreError::from)?;
            let mut tree: Option<sled::Tree> = None;
            read_backup(open_backup()?, |item| {
                match item {
                    Item::Tree(name) => {
                        tree = Some(db.open_tree(name.as_bytes()).map_err(StoreError::from)?);
                    }
                    Item::Record(key, value) => {
                        let tree = tree.as_ref().ok_or_else(|| {
                            BackupError::Invalid("a record before any tree".into())
                        })?;
                        tree.insert(key, value).map_err(StoreError::from)?;
                    }
                }
                Ok(())
            })?;
            db.flush().map_err(StoreError::from)?;
            Ok(summary)
        })();
        if result.is_err() {
            let _ = std::fs::remove_dir_all(dir);
        }
        result
    }
}

/// Reads a whole backup and checks it, writing nothing: what `restore` does first.
pub fn check(input: impl BufRead) -> Result<BackupSummary, BackupError> {
    read_backup(input, |_| Ok(()))
}

enum Item {
    Tree(String),
    Record(Vec<u8>, Vec<u8>),
}

/// Reads a whole backup, handing each tree and record to `each`; fails on a bad header, a bad
/// line, a missing trailer or a digest or count that does not match.
fn read_backup(
    input: impl BufRead,
    mut each: impl FnMut(Item) -> Result<(), BackupError>,
) -> Result<BackupSummary, BackupError> {
    let invalid = |what: String| BackupError::Invalid(what);
    let mut digest = Sha256::new();
    let mut summary = BackupSummary {
        trees: 0,
        records: 0,
    };
    let mut lines = input.lines();
    let mut number = 0;
    let mut next_line = || -> Result<Option<(usize, String)>, BackupError> {
        number += 1;
        lines
            .next()
            .transpose()
            .map(|line| line.map(|l| (number, l)))
            .map_err(Into::into)
    };
    let Some((_, first)) = next_line()? else {
        return Err(invalid("the file is empty".into()));
    };
    digest.update(first.as_bytes());
    digest.update(b"\n");
    match serde_json::from_str::<Line>(&first) {
        Ok(Line::Header {
            format,
            version,
            schema,
        }) if format == FORMAT => {
            // A backup of an older schema restores as it was and is migrated at open.
            if version != VERSION || schema > SCHEMA_VERSION {
                return Err(invalid(format!(
                    "backup version {version}, schema {schema}; this server reads version \
                     {VERSION}, schemas up to {SCHEMA_VERSION}"
                )));
            }
        }
        _ => {
            return Err(invalid(
                "it does not start with a helpyap-backup header".into(),
            ));
        }
    }
    while let Some((number, text)) = next_line()? {
        let line: Line = serde_json::from_str(&text)
            .map_err(|error| invalid(format!("line {number}: {error}")))?;
        match line {
            Line::End {
                records, sha256, ..
            } => {
                if sha256 != hex::encode(digest.finalize()) {
                    return Err(invalid(
                        "its checksum does not match: the file was changed".into(),
                    ));
                }
                if records != summary.records {
                    return Err(invalid(format!(
                        "it says {records} records but holds {}",
                        summary.records
                    )));
                }
                if next_line()?.is_some() {
                    return Err(invalid("there is more after its end".into()));
                }
                return Ok(summary);
            }
            Line::Tree { tree } => {
                summary.trees += 1;
                each(Item::Tree(tree))?;
            }
            Line::Record { k, v } => {
                let decode = |text: &str| {
                    B64.decode(text)
                        .map_err(|error| invalid(format!("line {number}: {error}")))
                };
                summary.records += 1;
                each(Item::Record(decode(&k)?, decode(&v)?))?;
            }
            Line::Header { .. } => return Err(invalid(format!("line {number}: a second header"))),
        }
        digest.update(text.as_bytes());
        digest.update(b"\n");
    }
    Err(invalid(
        "it ends without its trailer: the file was cut short".into(),
    ))
}
