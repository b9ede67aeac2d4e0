//! Which HTTP a connection speaks, told from its first bytes: HTTP/2 with prior knowledge (h2c,
//! or h2 over TLS) opens with the 24-byte client preface, anything else is HTTP/1.
//!
//! Up to the preface's length is read first, into the connection's own 24 bytes; for HTTP/1
//! whatever else the socket holds then (up to [`FIRST_READ`] bytes in all) is taken without
//! waiting, so a request head sent in one segment is whole in [`Sniffed::first_bytes`]
//! (`event_stream` looks there). The bytes are handed back ahead of the rest of the stream, in
//! the same read as whatever the socket holds by then, so hyper's first read takes in the whole
//! request head as it would from a fresh socket. (hyper-util's own detection hands them back
//! alone; hyper then finds its head half read and doubles its read buffer, and every HTTP/1
//! connection kept 16 KiB of it for life.) The buffer is freed once handed on.
//!
//! It never waits for more than the preface's length, and never parses HTTP.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_util::FutureExt;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};

use crate::connection::Batching;

const H2_PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// The most the first read takes: room for a browser's request head.
pub const FIRST_READ: usize = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    Http1,
    Http2,
}

/// A stream with the bytes its version was told from put back in front.
pub struct Sniffed<IO> {
    /// `first[start..]` is still to be read; emptied (and freed) once it has been.
    first: Vec<u8>,
    start: usize,
    /// An error met while reading on after the first bytes, for the next read to return.
    error: Option<io::Error>,
    io: IO,
}

impl<IO> Sniffed<IO> {
    /// The bytes read to tell the version, none of them handed on yet.
    pub fn first_bytes(&self) -> &[u8] {
        &self.first[self.start..]
    }

    /// The stream itself, once [`first_bytes`](Self::first_bytes) have been dealt with.
    pub fn into_inner(self) -> IO {
        self.io
    }

    /// The stream itself when `take` wants it, or `self` as it was. Only once the first bytes
    /// have all been read, and with no read error kept for later.
    pub fn take_inner<T>(self, take: impl FnOnce(IO) -> Result<T, IO>) -> Result<T, Self> {
        if !self.first_bytes().is_empty() || self.error.is_some() {
            return Err(self);
        }
        take(self.io).map_err(|io| Sniffed {
            first: Vec::new(),
            start: 0,
            error: None,
            io,
        })
    }

    /// Puts `unread` back in front, for the next reads: what hyper had read past a request
    /// when it handed the connection over. Only once the first bytes have all been read.
    pub fn put_back(&mut self, unread: Vec<u8>) {
        debug_assert!(
            self.first_bytes().is_empty(),
            "the first bytes are still unread"
        );
        if !unread.is_empty() {
            self.first = unread;
            self.start = 0;
        }
    }
}

impl<IO: Batching> Batching for Sniffed<IO> {
    fn batch_small_writes(&self) {
        self.io.batch_small_writes();
    }
}

/// Reads until the first bytes either differ from the HTTP/2 preface or are all of it; the end
/// of the stream before that counts as HTTP/1 (hyper then sees the end too). For HTTP/1, what
/// the socket holds beyond them is taken too, without waiting. Nothing is allocated until the
/// peer has sent something: a silent connection holds only the preface's 24 bytes.
pub async fn sniff<IO: AsyncRead + Unpin>(mut io: IO) -> io::Result<(Version, Sniffed<IO>)> {
    let mut prefix = [0; H2_PREFACE.len()];
    let mut end = 0;
    let version = loop {
        if end == prefix.len() {
            break Version::Http2;
        }
        let read = io.read(&mut prefix[end..]).await?;
        end += read;
        if read == 0 || prefix[..end] != H2_PREFACE[..end] {
            break Version::Http1;
        }
    };
    // A head longer than the preface may have more waiting.
    let more = version == Version::Http1 && end == prefix.len();
    let mut first = Vec::with_capacity(if more { FIRST_READ } else { end });
    first.extend_from_slice(&prefix[..end]);
    let mut sniffed = Sniffed {
        first,
        start: 0,
        error: None,
        io,
    };
    if more {
        // Whatever the socket holds now; an error waits for the read after these bytes.
        if let Some(Err(error)) = sniffed.io.read_buf(&mut sniffed.first).now_or_never() {
            sniffed.error = Some(error);
        }
    }
    Ok((version, sniffed))
}

impl<IO: AsyncRead + Unpin> AsyncRead for Sniffed<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.start == this.first.len() {
            if let Some(error) = this.error.take() {
                return Poll::Ready(Err(error));
            }
            return Pin::new(&mut this.io).poll_read(cx, buf);
        }
        let taken = (this.first.len() - this.start).min(buf.remaining());
        buf.put_slice(&this.first[this.start..this.start + taken]);
        this.start += taken;
        if this.start == this.first.len() {
            this.first = Vec::new();
            this.start = 0;
            if buf.remaining() > 0 && this.error.is_none() {
                // What the socket holds already comes with it; nothing more is waited for. An
                // error goes to the next read, after the first bytes have been had.
                if let Poll::Ready(Err(error)) = Pin::new(&mut this.io).poll_read(cx, buf) {
                    this.error = Some(error);
                }
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Sniffed<IO> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;

    /// A peer whose bytes arrive in the given pieces: each read returns at most one, so the
    /// sniffer meets them as a socket would meet separate segments.
    struct Pieces(VecDeque<io::Result<Vec<u8>>>);

    impl AsyncRead for Pieces {
        fn poll_read(
            mut self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            match self.0.pop_front() {
                None => Poll::Ready(Ok(())),
                Some(Err(error)) => Poll::Ready(Err(error)),
                Some(Ok(mut piece)) => {
                    let taken = piece.len().min(buf.remaining());
                    buf.put_slice(&piece[..taken]);
                    if taken < piece.len() {
                        self.0.push_front(Ok(piece.split_off(taken)));
                    }
                    Poll::Ready(Ok(()))
                }
            }
        }
    }

    fn pieces(chunks: &[&[u8]]) -> Pieces {
        Pieces(chunks.iter().map(|chunk| Ok(chunk.to_vec())).collect())
    }

    async fn sniffed_from(chunks: &[&[u8]]) -> (Version, Vec<u8>) {
        let (version, mut sniffed) = sniff(pieces(chunks)).await.unwrap();
        let mut everything = Vec::new();
        sniffed.read_to_end(&mut everything).await.unwrap();
        (version, everything)
    }

    #[tokio::test]
    async fn http1_is_told_at_the_first_byte_that_differs_and_nothing_is_lost() {
        let request = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
        assert_eq!(
            sniffed_from(&[request]).await,
            (Version::Http1, request.to_vec())
        );
        // `PR…` a byte at a time, then not the preface: still HTTP/1, every byte back.
        let odd: &[&[u8]] = &[b"P", b"R", b"IX / HTTP/1.1\r\n\r\n"];
        assert_eq!(sniffed_from(odd).await, (Version::Http1, odd.concat()));
    }

    #[tokio::test]
    async fn the_http2_preface_even_in_pieces_is_http2() {
        let frames = b"\0\0\0\x04\0\0\0\0\0";
        let split: &[&[u8]] = &[
            &H2_PREFACE[..1],
            &H2_PREFACE[1..5],
            &H2_PREFACE[5..],
            frames,
        ];
        let (version, read) = sniffed_from(split).await;
        assert_eq!(version, Version::Http2);
        assert_eq!(read, [&H2_PREFACE[..], frames].concat());
    }

    #[tokio::test]
    async fn an_empty_or_cut_off_stream_is_http1_with_what_came() {
        assert_eq!(sniffed_from(&[]).await, (Version::Http1, Vec::new()));
        let cut: &[&[u8]] = &[b"PRI", b" * HT"];
        assert_eq!(
            sniffed_from(cut).await,
            (Version::Http1, b"PRI * HT".to_vec())
        );
    }

    #[tokio::test]
    async fn the_first_read_brings_what_the_socket_holds_after_the_prefix() {
        let request = b"GET /api/widget/config?project=demo HTTP/1.1\r\nHost: x\r\n\r\n";
        let (mut client, server) = tokio::io::duplex(1024);
        tokio::io::AsyncWriteExt::write_all(&mut client, request)
            .await
            .unwrap();
        let (_, mut sniffed) = sniff(server).await.unwrap();
        assert_eq!(
            sniffed.first_bytes(),
            request,
            "the whole head, for `event_stream`"
        );
        let mut buf = [0; 128];
        let read = sniffed.read(&mut buf).await.unwrap();
        assert_eq!(&buf[..read], request);
        assert!(sniffed.first_bytes().is_empty());
    }

    #[tokio::test]
    async fn a_head_longer_than_the_first_read_reaches_hyper_whole_and_in_order() {
        let long = format!(
            "GET /api/widget/config?project=demo HTTP/1.1\r\nCookie: {}\r\n\r\n",
            "x".repeat(6000)
        );
        let (mut client, server) = tokio::io::duplex(16 * 1024);
        tokio::io::AsyncWriteExt::write_all(&mut client, long.as_bytes())
            .await
            .unwrap();
        drop(client);
        let (version, mut sniffed) = sniff(server).await.unwrap();
        assert_eq!(version, Version::Http1);
        assert_eq!(sniffed.first_bytes(), &long.as_bytes()[..FIRST_READ]);
        let mut everything = Vec::new();
        sniffed.read_to_end(&mut everything).await.unwrap();
        assert_eq!(everything, long.as_bytes());
    }

    #[tokio::test]
    async fn an_error_after_the_prefix_comes_with_the_next_read() {
        let start = b"GET /api/widget/config?p";
        let reset = io::Error::from(io::ErrorKind::ConnectionReset);
        let peer = Pieces(VecDeque::from([Ok(start.to_vec()), Err(reset)]));
        let (_, mut sniffed) = sniff(peer).await.unwrap();
        let mut buf = [0; 128];
        let read = sniffed.read(&mut buf).await.unwrap();
        assert_eq!(&buf[..read], start);
        let error = sniffed.read(&mut buf).await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::ConnectionReset);
    }
}
