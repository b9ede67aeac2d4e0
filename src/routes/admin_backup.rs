//! `GET /api/admin/backup` (admins): the whole store as a backup file, streamed while the server
//! runs. The same format `helpyap backup` writes and `helpyap restore` reads. Embedded mode only:
//! a cluster's records are backed up with `helpyap backup` (409 here says so).
//!
//! The store is read on a blocking thread and sent on in 64 KiB chunks through a small channel,
//! so a slow download holds at most a few chunks in memory. A failure midway ends the download
//! with an error, and the file then lacks its trailer: restore refuses it.

use std::io::Write;

use bytes::Bytes;
use futures_util::stream;
use http_body_util::StreamBody;
use hyper::body::Frame;
use hyper::header::{CONTENT_DISPOSITION, CONTENT_TYPE, HeaderValue};
use tokio::sync::mpsc;

use crate::error::ApiError;
use crate::json::{Body, BoxError, Response, boxed};
use crate::router::AppState;

const CHUNK_BYTES: usize = 64 * 1024;

type Chunk = Result<Frame<Bytes>, BoxError>;

#[utoipa::path(
    get, path = "/api/admin/backup", tag = "admin: users",
    responses(
        (status = 200, description = "The whole store as a backup file (JSON lines), streamed", body = String, content_type = "application/x-ndjson"),
        (status = 409, description = "Cluster mode: use `helpyap backup`", body = crate::error::ErrorBody),
    )
)]
pub fn get(state: &AppState) -> Result<Response<Body>, ApiError> {
    if state.engine.reports.in_cluster() {
        return Err(ApiError::conflict(
            "In cluster mode the records are in PostgreSQL: back them up with \
             `helpyap backup --out FILE` (same config) or pg_dump",
        ));
    }
    let (sender, receiver) = mpsc::channel::<Chunk>(4);
    let engine = state.engine.clone();
    tokio::task::spawn_blocking(move || {
        let mut out = ChannelWriter {
            sender: sender.clone(),
            buffer: Vec::with_capacity(CHUNK_BYTES),
        };
        let result = engine
            .reports
            .backup_to(&mut out)
            .map_err(|error| -> BoxError { error.into() });
        match result {
            Ok(summary) => tracing::info!(records = summary.records, "backup downloaded"),
            Err(error) => {
                tracing::error!(%error, "backup failed");
                let _ = sender.blocking_send(Err(error));
            }
        }
    });
    let chunks = stream::unfold(receiver, |mut receiver| async move {
        let chunk = receiver.recv().await?;
        Some((chunk, receiver))
    });
    let mut response = Response::new(boxed(StreamBody::new(chunks)));
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    let name = format!(
        "attachment; filename=\"helpyap-backup-{}.jsonl\"",
        helpyap_actors::time::utc_date(helpyap_actors::time::now_ms())
    );
    headers.insert(
        CONTENT_DISPOSITION,
        HeaderValue::from_str(&name).expect("a date is a valid header"),
    );
    Ok(response)
}

/// Buffers writes into chunks for the response body; fails once the client has gone.
struct ChannelWriter {
    sender: mpsc::Sender<Chunk>,
    buffer: Vec<u8>,
}

impl Write for ChannelWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.buffer.extend_from_slice(bytes);
        if self.buffer.len() >= CHUNK_BYTES {
            self.flush()?;
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(
            &mut self.buffer,
            Vec::with_capacity(CHUNK_BYTES),
        ));
        self.sender
            .blocking_send(Ok(Frame::data(chunk)))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "client went away"))
    }
}
