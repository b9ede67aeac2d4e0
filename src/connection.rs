//! An accepted socket as the server holds it: its place under the connection caps, and a
//! write-stall timeout.
//!
//! The place (an `admission::ConnectionPermit`) lives as long as the socket, so it is freed when
//! hyper closes the connection or, after a WebSocket upgrade, when the WebSocket task ends.
//!
//! A visitor who stops reading a live stream (SSE, WebSocket, a chat answer) would otherwise
//! hold its socket, its task and its subscriber slot for as long as the kernel keeps the TCP
//! connection. This fails a write that has been pending for `limit`, and hyper (or the
//! WebSocket task on an upgraded connection) closes it. A timer is armed only while a write is
//! pending, so the fast path costs nothing.
//!
//! Every socket starts with `TCP_NODELAY`. [`Batching`] turns Nagle's algorithm back on for a
//! connection that from then on carries only a popup feed (nchan's subscribers keep it on):
//! each small write made while an earlier one is unacknowledged waits and leaves with the next,
//! so a burst of pushes costs the kernel one segment per visitor, not one per push. Never for a
//! connection that may carry anything else: a chat answer's tokens would bunch.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Sleep;

use crate::admission::ConnectionPermit;

pub struct Connection<IO> {
    io: IO,
    stall: WriteStall,
    _permit: Option<ConnectionPermit>,
}

impl<IO> Connection<IO> {
    /// `io` with writes failed after stalling for `write_stall_limit`, holding `permit`.
    pub fn new(
        io: IO,
        write_stall_limit: Duration,
        permit: Option<ConnectionPermit>,
    ) -> Connection<IO> {
        Connection {
            io,
            stall: WriteStall::new(write_stall_limit),
            _permit: permit,
        }
    }

    /// The socket beneath, for writes made with `&self` (`fanout`).
    pub fn get_ref(&self) -> &IO {
        &self.io
    }

    /// How long a write may stay pending before it fails.
    pub fn write_stall_limit(&self) -> Duration {
        self.stall.limit
    }

    fn check<T>(&mut self, cx: &mut Context<'_>, poll: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        self.stall.check(cx, poll)
    }
}

/// Fails a write that has stayed pending for `limit`.
pub struct WriteStall {
    limit: Duration,
    /// Armed when a write first returns `Pending`; cleared by any progress (a finished write,
    /// or [`WriteStall::progress`]).
    stalled: Option<Pin<Box<Sleep>>>,
}

impl WriteStall {
    pub fn new(limit: Duration) -> WriteStall {
        WriteStall {
            limit,
            stalled: None,
        }
    }

    /// Some bytes went out: the stall, if any, starts again from the next `Pending`.
    pub fn progress(&mut self) {
        self.stalled = None;
    }

    /// Passes on a finished write; on `Pending`, fails once the stall has lasted `limit`.
    pub fn check<T>(
        &mut self,
        cx: &mut Context<'_>,
        poll: Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        if poll.is_ready() {
            self.stalled = None;
            return poll;
        }
        let limit = self.limit;
        let stalled = self
            .stalled
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        ready!(stalled.as_mut().poll(cx));
        Poll::Ready(Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "the peer stopped reading",
        )))
    }
}

/// A connection that can be told its remaining writes are in no hurry.
pub trait Batching {
    /// Nagle's algorithm from now on (see the module's doc). Only for a connection that carries
    /// nothing else until it closes.
    fn batch_small_writes(&self);
}

impl Batching for Connection<TcpStream> {
    fn batch_small_writes(&self) {
        if let Err(error) = self.io.set_nodelay(false) {
            tracing::debug!(%error, "could not leave Nagle's algorithm on");
        }
    }
}

impl<IO: Batching> Batching for tokio_rustls::server::TlsStream<IO> {
    fn batch_small_writes(&self) {
        self.get_ref().0.batch_small_writes();
    }
}

impl<IO: Batching + ?Sized> Batching for Box<IO> {
    fn batch_small_writes(&self) {
        (**self).batch_small_writes();
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for Connection<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Connection<IO> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.io).poll_write(cx, buf);
        self.check(cx, poll)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        self.check(cx, poll)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let poll = Pin::new(&mut self.io).poll_flush(cx);
        self.check(cx, poll)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    #[tokio::test]
    async fn a_peer_that_stops_reading_fails_the_write_after_the_limit() {
        let (ours, _theirs) = tokio::io::duplex(1024);
        let mut ours = Connection::new(ours, Duration::from_millis(100), None);
        let started = tokio::time::Instant::now();
        let error = ours.write_all(&[0; 64 * 1024]).await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        assert!(started.elapsed() >= Duration::from_millis(100));
    }

    #[tokio::test]
    async fn a_slow_reader_that_keeps_up_is_never_failed() {
        let (ours, mut theirs) = tokio::io::duplex(1024);
        let mut ours = Connection::new(ours, Duration::from_millis(50), None);
        let reader = tokio::spawn(async move {
            let mut buf = [0; 512];
            let mut total = 0;
            while total < 16 * 1024 {
                tokio::time::sleep(Duration::from_millis(5)).await;
                total += tokio::io::AsyncReadExt::read(&mut theirs, &mut buf)
                    .await
                    .unwrap();
            }
        });
        // ~160 ms in all, more than the limit, but no single stall lasts 50 ms.
        ours.write_all(&[0; 16 * 1024]).await.unwrap();
        reader.await.unwrap();
    }

    #[tokio::test]
    async fn a_batching_connection_has_nagles_algorithm_back_on() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let _client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (accepted, _) = listener.accept().await.unwrap();
        accepted.set_nodelay(true).unwrap();
        // As the server holds it: boxed, whether plain or TLS.
        let ours = Box::new(Connection::new(accepted, Duration::from_secs(1), None));
        ours.batch_small_writes();
        assert!(!ours.io.nodelay().unwrap());
    }
}
