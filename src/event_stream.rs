//! Event streams (SSE) served outside hyper: when a fresh HTTP/1.1 connection's first read is
//! exactly one GET head for an event-stream route, the head is parsed here (with `httparse`,
//! hyper's own parser), routed like any request, and the response written here.
//!
//! Why: hyper keeps an HTTP/1 connection's read and write buffers (8 KiB each) for as long as a
//! response streams, so each idle SSE visitor held ~16 KiB. Served here, a visitor holds its
//! stream and this module's task: no buffer stays between frames. The response is HTTP/1.1,
//! chunked when its length is not known, with `Connection: close`: the connection ends with the
//! stream. While it streams, the socket is watched: its end, an error, or any further bytes
//! from the peer close it.
//!
//! Everything else goes to hyper with its bytes, as before: a head that came in pieces or with
//! more after it, a request body, an upgrade, `Expect`, HTTP/1.0, any other route or method, a
//! head `httparse` or `http` refuses, and every request after the first on a kept-alive
//! connection. This module never reads a request body and never serves a second request.
//!
//! The head goes out with the frames already waiting (the popup feed's replay) in one write. A
//! response marked [`Unhurried`] then has its connection batch small writes (Nagle's
//! algorithm): it carries nothing else until it closes. On a plain socket ([`PlainSocket`] in
//! the request), a popup feed's live events are written by the project's writer (`fanout`)
//! behind the head and replay; this module writes the body's other frames, flushes what the
//! writer leaves, and ends the stream when the writer says so (the visitor fell behind, or the
//! project restarted).

use std::io;
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use futures_util::FutureExt;
use http_body::{Body as _, Frame};
use http_body_util::BodyExt;
use hyper::header::{
    CONNECTION, CONTENT_LENGTH, EXPECT, HeaderName, HeaderValue, TRANSFER_ENCODING, UPGRADE,
};
use hyper::http::response::Parts;
use hyper::{Method, Request, Uri, Version};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::connection::{Batching, Connection};
use crate::fanout::{self, Format};

use crate::json::{Body, RequestBody, Response};
use crate::route::Route;

/// hyper's default cap on a request's headers.
const MAX_HEADERS: usize = 100;

/// Frames already waiting are sent in one write, up to about this many bytes.
const BATCH_BYTES: usize = 16 * 1024;

/// In a request's extensions: its response is written by this module on a plain socket, so a
/// popup feed may leave its live events to the project's writer (`fanout::Handover`).
#[derive(Clone, Copy)]
pub struct PlainSocket;

/// In a response's extensions: the stream is in no hurry (popups), so once its head and first
/// frames are out its connection batches small writes (see `connection::Batching`). hyper
/// ignores it: a stream hyper serves shares its connection with whatever comes next.
#[derive(Clone, Copy)]
pub struct Unhurried;

/// The request, when `first` is one whole GET head for an event-stream route and nothing more.
pub fn take(first: &[u8]) -> Option<Request<RequestBody>> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut head = httparse::Request::new(&mut headers);
    let httparse::Status::Complete(length) = head.parse(first).ok()? else {
        return None;
    };
    if length != first.len() || head.method != Some("GET") || head.version != Some(1) {
        return None;
    }
    let uri: Uri = head.path?.parse().ok()?;
    if !uri.path().starts_with('/') || !Route::parse(uri.path())?.is_event_stream() {
        return None;
    }
    let mut request = Request::new(RequestBody::Empty);
    *request.method_mut() = Method::GET;
    *request.version_mut() = Version::HTTP_11;
    *request.uri_mut() = uri;
    for header in head.headers.iter() {
        let name = HeaderName::from_bytes(header.name.as_bytes()).ok()?;
        if [CONTENT_LENGTH, TRANSFER_ENCODING, UPGRADE, EXPECT].contains(&name) {
            return None;
        }
        let value = HeaderValue::from_bytes(header.value).ok()?;
        request.headers_mut().append(name, value);
    }
    Some(request)
}

/// Writes `response` to `io`, following its body until it ends, the peer goes, or `shutdown`
/// completes (the body is then ended where it is), then closes.
pub async fn serve<IO: AsyncRead + AsyncWrite + Batching + Unpin>(
    io: IO,
    response: Response<Body>,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let (parts, body) = response.into_parts();
    let length = body.size_hint().exact();
    let unhurried = parts.extensions.get::<Unhurried>().is_some();
    let out = head(&parts, length);
    drop(parts); // not kept for the stream's life
    let stream = Stream {
        chunked: length.is_none(),
        unhurried,
        writer: None,
    };
    stream.serve(io, body, out, shutdown).await
}

/// Serves `response` on a plain socket: a popup feed whose live events are left to the
/// project's writer (a [`fanout::Handover`] in its extensions) has its head and replay go
/// first, and the writer's events behind them; anything else is served as [`serve`] does.
pub async fn serve_plain(
    socket: Box<Connection<TcpStream>>,
    response: Response<Body>,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let Some(handover) = response.extensions().get::<fanout::Handover>().cloned() else {
        return serve(socket, response, shutdown).await;
    };
    let (parts, mut body) = response.into_parts();
    let mut out = head(&parts, None);
    drop(parts);
    // What is waiting now (`retry`, the replay) goes before any live event.
    let mut ended = false;
    while let Some(frame) = body.frame().now_or_never() {
        match frame {
            Some(frame) => encode(&mut out, frame.map_err(io::Error::other)?, true),
            None => {
                ended = true;
                break;
            }
        }
    }
    if ended {
        let mut socket = socket;
        out.extend_from_slice(b"0\r\n\r\n");
        socket.write_all(&out).await?;
        return socket.shutdown().await;
    }
    let mut io = handover
        .join(socket, out, Format::Sse)
        .ok_or_else(|| io::Error::other("a popup feed was handed over twice"))?;
    let writer = io.visitor();
    io.flush().await?;
    // From here the connection carries only this feed, which is in no hurry.
    io.batch_small_writes();
    let stream = Stream {
        chunked: true,
        unhurried: false,
        writer: Some(writer),
    };
    stream.serve(io, body, Vec::new(), shutdown).await
}

/// How a response's body is written once its head is ready.
struct Stream {
    chunked: bool,
    /// Batch small writes once the head and the frames waiting with it are out.
    unhurried: bool,
    /// The project's writer sends the live events (`serve_plain`): this only flushes what it
    /// leaves, and ends the stream when it says so.
    writer: Option<Arc<fanout::Visitor>>,
}

/// What the stream does next.
enum Step<F> {
    /// From the body: a frame, an error, or its end.
    Frame(Option<F>),
    Flush,
}

impl Stream {
    async fn serve<IO: AsyncRead + AsyncWrite + Batching + Unpin>(
        mut self,
        mut io: IO,
        mut body: Body,
        mut out: Vec<u8>,
        shutdown: impl Future<Output = ()>,
    ) -> io::Result<()> {
        let chunked = self.chunked;
        let mut shutdown = std::pin::pin!(shutdown);
        let mut probe = [0; 1];
        let mut next = body.frame().now_or_never();
        let mut frames_sent = false;
        loop {
            while let Some(frame) = next.take() {
                match frame {
                    None => {
                        if let Some(writer) = &self.writer {
                            // Nothing may follow the body's end.
                            writer.stop();
                        }
                        if chunked {
                            out.extend_from_slice(b"0\r\n\r\n");
                        }
                        io.write_all(&out).await?;
                        return io.shutdown().await;
                    }
                    Some(frame) => {
                        encode(&mut out, frame.map_err(io::Error::other)?, chunked);
                        frames_sent = true;
                    }
                }
                if out.len() < BATCH_BYTES {
                    next = body.frame().now_or_never();
                }
            }
            // Frames left waiting: the write was cut at `BATCH_BYTES`.
            let more_waiting = out.len() >= BATCH_BYTES;
            if !out.is_empty() {
                io.write_all(&out).await?;
                io.flush().await?;
                // Nothing is kept between frames: an idle stream holds no buffer.
                out = Vec::new();
            }
            if self.unhurried && frames_sent && !more_waiting {
                // The head and every frame that was waiting (the replay) are out.
                self.unhurried = false;
                io.batch_small_writes();
            }
            let step = tokio::select! {
                biased;
                frame = body.frame() => Step::Frame(frame),
                // The peer closed, failed, or sent more than the one request it may: done.
                read = io.read(&mut probe) => return read.map(drop),
                // Live streams end by themselves at shutdown; this is for any that would not.
                () = &mut shutdown => Step::Frame(None),
                news = writer_news(self.writer.as_deref()) => match news {
                    None => Step::Flush,
                    // Behind, or the project restarting: the stream ends, the browser
                    // reconnects with its last id.
                    Some(Ok(_)) => Step::Frame(None),
                    Some(Err(())) => return Ok(()),
                },
            };
            match step {
                Step::Frame(frame) => next = Some(frame),
                Step::Flush => io.flush().await?,
            }
        }
    }
}

/// What the writer has for this stream's task (see `fanout::Visitor::closing`); never, without
/// a writer.
async fn writer_news(writer: Option<&fanout::Visitor>) -> Option<Result<fanout::Close, ()>> {
    let Some(writer) = writer else {
        return std::future::pending().await;
    };
    writer.attention().await;
    writer.closing()
}

/// The status line and headers: the response's own, then the framing, `Connection: close` and
/// `Date`, which this module decides.
fn head(parts: &Parts, length: Option<u64>) -> Vec<u8> {
    let mut out = Vec::with_capacity(512);
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(parts.status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(parts.status.canonical_reason().unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
    let mut header = |name: &[u8], value: &[u8]| {
        out.extend_from_slice(name);
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    };
    for (name, value) in &parts.headers {
        if ![CONNECTION, CONTENT_LENGTH, TRANSFER_ENCODING].contains(name) {
            header(name.as_str().as_bytes(), value.as_bytes());
        }
    }
    match length {
        Some(length) => header(b"content-length", length.to_string().as_bytes()),
        None => header(b"transfer-encoding", b"chunked"),
    }
    header(b"connection", b"close");
    header(
        b"date",
        httpdate::fmt_http_date(SystemTime::now()).as_bytes(),
    );
    out.extend_from_slice(b"\r\n");
    out
}

/// Appends a data frame, as a chunk when `chunked`; trailers are dropped.
fn encode(out: &mut Vec<u8>, frame: Frame<Bytes>, chunked: bool) {
    let Ok(data) = frame.into_data() else {
        return;
    };
    if data.is_empty() {
        return; // an empty chunk would end the body
    }
    if chunked {
        chunk(out, &data);
    } else {
        out.extend_from_slice(&data);
    }
}

/// Appends `data` (not empty) as one chunk of a chunked body.
pub fn chunk(out: &mut Vec<u8>, data: &[u8]) {
    out.extend_from_slice(format!("{:x}\r\n", data.len()).as_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::boxed;
    use futures_util::stream;
    use http_body_util::{Full, StreamBody};
    use hyper::StatusCode;
    use hyper::header::CONTENT_TYPE;
    use hyper_util::rt::TokioIo;
    use std::convert::Infallible;
    use std::sync::{Arc, Mutex};
    use tokio::sync::mpsc;

    /// A pipe has no Nagle's algorithm; the streams here never ask for it.
    impl Batching for tokio::io::DuplexStream {
        fn batch_small_writes(&self) {
            panic!("only an unhurried stream asks to batch small writes");
        }
    }

    const STREAM_HEAD: &[u8] = b"GET /api/widget/salespop/stream?project=demo HTTP/1.1\r\n\
        Host: example.com\r\nLast-Event-ID: 7\r\nAccept: text/event-stream\r\n\r\n";

    #[test]
    fn a_whole_get_head_for_an_event_stream_is_taken_with_its_headers() {
        let request = take(STREAM_HEAD).expect("taken");
        assert_eq!(request.method(), Method::GET);
        assert_eq!(request.uri(), "/api/widget/salespop/stream?project=demo");
        assert_eq!(request.headers()["last-event-id"], "7");
        assert_eq!(request.headers()["host"], "example.com");
        for path in [
            "/api/widget/session/stream?project=demo&sessionId=x",
            "/api/admin/projects/demo/live",
        ] {
            let head = format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n");
            assert!(take(head.as_bytes()).is_some(), "{path}");
        }
    }

    #[test]
    fn anything_else_is_left_to_hyper() {
        let with = |header: &str| {
            format!("GET /api/widget/salespop/stream HTTP/1.1\r\nHost: x\r\n{header}\r\n\r\n")
        };
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("head in pieces", STREAM_HEAD[..40].to_vec()),
            ("pipelined", [STREAM_HEAD, STREAM_HEAD].concat()),
            ("a body", with("Content-Length: 0").into_bytes()),
            ("chunked", with("Transfer-Encoding: chunked").into_bytes()),
            ("upgrade", with("Upgrade: websocket").into_bytes()),
            ("expect", with("Expect: 100-continue").into_bytes()),
            (
                "HTTP/1.0",
                b"GET /api/widget/salespop/stream HTTP/1.0\r\n\r\n".to_vec(),
            ),
            (
                "another method",
                b"HEAD /api/widget/salespop/stream HTTP/1.1\r\n\r\n".to_vec(),
            ),
            (
                "another route",
                b"GET /api/widget/config?project=demo HTTP/1.1\r\n\r\n".to_vec(),
            ),
            (
                "the websocket",
                b"GET /api/widget/salespop HTTP/1.1\r\n\r\n".to_vec(),
            ),
            ("not a path", b"GET * HTTP/1.1\r\n\r\n".to_vec()),
            ("garbage", b"\x16\x03\x01\x02\x00".to_vec()),
            ("nothing", Vec::new()),
        ];
        for (case, bytes) in cases {
            assert!(take(&bytes).is_none(), "{case}");
        }
    }

    /// Serves `response` on one end of a pipe and reads it with hyper's client on the other.
    async fn served(
        response: Response<Body>,
    ) -> (
        hyper::Response<hyper::body::Incoming>,
        tokio::task::JoinHandle<io::Result<()>>,
    ) {
        let (client, mut server) = tokio::io::duplex(64 * 1024);
        let serving = tokio::spawn(async move {
            // The request is read first (as the server's first read), then answered.
            let mut head = Vec::new();
            while !head.ends_with(b"\r\n\r\n") {
                let mut byte = [0];
                server.read_exact(&mut byte).await?;
                head.push(byte[0]);
            }
            serve(server, response, std::future::pending()).await
        });
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(client))
            .await
            .unwrap();
        tokio::spawn(connection);
        let request = Request::get("/api/widget/salespop/stream")
            .body(http_body_util::Empty::<Bytes>::new())
            .unwrap();
        (sender.send_request(request).await.unwrap(), serving)
    }

    fn streaming(frames: mpsc::Receiver<&'static str>) -> Response<Body> {
        let frames = stream::unfold(frames, |mut frames| async move {
            let frame = frames.recv().await?;
            Some((Ok::<_, Infallible>(Frame::data(Bytes::from(frame))), frames))
        });
        let mut response = Response::new(boxed(StreamBody::new(frames)));
        response
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
        response
    }

    #[tokio::test]
    async fn a_stream_is_written_chunked_frame_by_frame_and_closed_at_its_end() {
        let (frames, waiting) = mpsc::channel(4);
        let (response, serving) = served(streaming(waiting)).await;
        assert_eq!(response.status(), StatusCode::OK);
        let headers = response.headers();
        assert_eq!(headers[CONTENT_TYPE], "text/event-stream");
        assert_eq!(headers[TRANSFER_ENCODING], "chunked");
        assert_eq!(headers[CONNECTION], "close");
        assert!(headers.contains_key("date"));
        let mut body = response.into_body();
        // An empty frame is skipped: written as a chunk, it would end the body.
        for text in ["retry: 3000\n\n", "", "id: 1\ndata: {}\n\n"] {
            frames.send(text).await.unwrap();
            if !text.is_empty() {
                let data = body.frame().await.unwrap().unwrap().into_data().unwrap();
                assert_eq!(data, text, "each frame as it is sent");
            }
        }
        drop(frames);
        assert!(
            body.frame().await.is_none(),
            "the body ends with the stream"
        );
        within_a_second(serving).await.unwrap();
    }

    async fn within_a_second(serving: tokio::task::JoinHandle<io::Result<()>>) -> io::Result<()> {
        tokio::time::timeout(std::time::Duration::from_secs(1), serving)
            .await
            .expect("serving ended")
            .unwrap()
    }

    #[tokio::test]
    async fn a_whole_body_gets_its_length() {
        let mut response =
            Response::new(boxed(Full::new(Bytes::from_static(b"{\"error\":\"x\"}"))));
        *response.status_mut() = StatusCode::TOO_MANY_REQUESTS;
        let (response, serving) = served(response).await;
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[CONTENT_LENGTH], "13");
        assert!(!response.headers().contains_key(TRANSFER_ENCODING));
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(body, "{\"error\":\"x\"}");
        within_a_second(serving).await.unwrap();
    }

    #[tokio::test]
    async fn a_peer_that_goes_or_sends_more_ends_an_idle_stream() {
        let (_frames, waiting) = mpsc::channel(1);
        let (mut client, server) = tokio::io::duplex(4096);
        let serving = tokio::spawn(serve(server, streaming(waiting), std::future::pending()));
        let mut head = [0; 64];
        let read = client.read(&mut head).await.unwrap();
        assert!(head[..read].starts_with(b"HTTP/1.1 200 OK\r\n"));
        drop(client);
        within_a_second(serving).await.unwrap();

        let (_frames, waiting) = mpsc::channel(1);
        let (mut client, server) = tokio::io::duplex(4096);
        let serving = tokio::spawn(serve(server, streaming(waiting), std::future::pending()));
        client.write_all(STREAM_HEAD).await.unwrap();
        within_a_second(serving).await.unwrap();
    }

    /// A pipe end that keeps what is written to it, write by write, and when it was asked to
    /// batch small writes (after how many writes).
    #[derive(Clone)]
    struct Record {
        writes: Arc<Mutex<Vec<Vec<u8>>>>,
        batched_after: Arc<Mutex<Option<usize>>>,
    }

    struct Recorded {
        pipe: tokio::io::DuplexStream,
        record: Record,
    }

    impl Batching for Recorded {
        fn batch_small_writes(&self) {
            let mut batched = self.record.batched_after.lock().unwrap();
            assert!(batched.is_none(), "asked once");
            *batched = Some(self.record.writes.lock().unwrap().len());
        }
    }

    impl AsyncRead for Recorded {
        fn poll_read(
            mut self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
            buf: &mut tokio::io::ReadBuf<'_>,
        ) -> std::task::Poll<io::Result<()>> {
            std::pin::Pin::new(&mut self.pipe).poll_read(cx, buf)
        }
    }

    impl AsyncWrite for Recorded {
        fn poll_write(
            mut self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
            buf: &[u8],
        ) -> std::task::Poll<io::Result<usize>> {
            let this = &mut *self;
            let poll = std::pin::Pin::new(&mut this.pipe).poll_write(cx, buf);
            if let std::task::Poll::Ready(Ok(written)) = poll {
                this.record
                    .writes
                    .lock()
                    .unwrap()
                    .push(buf[..written].to_vec());
            }
            poll
        }

        fn poll_flush(
            mut self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<io::Result<()>> {
            std::pin::Pin::new(&mut self.pipe).poll_flush(cx)
        }

        fn poll_shutdown(
            mut self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<io::Result<()>> {
            std::pin::Pin::new(&mut self.pipe).poll_shutdown(cx)
        }
    }

    /// Serves an unhurried stream whose replay is `replay` and then one live frame: each write
    /// made, after how many writes it was asked to batch, and everything the client read.
    async fn unhurried(replay: Vec<&'static str>) -> (Vec<Vec<u8>>, Option<usize>, String) {
        let (frames, waiting) = mpsc::channel(replay.len() + 1);
        for replayed in replay {
            frames.send(replayed).await.unwrap();
        }
        let mut response = streaming(waiting);
        response.extensions_mut().insert(Unhurried);
        let (mut client, pipe) = tokio::io::duplex(64 * 1024);
        let record = Record {
            writes: Arc::default(),
            batched_after: Arc::default(),
        };
        let recorded = Recorded {
            pipe,
            record: record.clone(),
        };
        let serving = tokio::spawn(async move {
            let (done, ()) = tokio::join!(
                serve(recorded, response, std::future::pending()),
                async move {
                    frames.send("id: 2\ndata: {}\n\n").await.unwrap();
                }
            );
            done
        });
        let mut written = Vec::new();
        client.read_to_end(&mut written).await.unwrap();
        within_a_second(serving).await.unwrap();
        let writes = record.writes.lock().unwrap().clone();
        let batched_after = *record.batched_after.lock().unwrap();
        (
            writes,
            batched_after,
            String::from_utf8_lossy(&written).into_owned(),
        )
    }

    #[tokio::test]
    async fn an_unhurried_stream_sends_its_head_and_replay_together_then_batches() {
        let (writes, batched_after, read) =
            unhurried(vec!["retry: 3000\n\n", "id: 1\ndata: {}\n\n"]).await;
        let first = String::from_utf8(writes[0].clone()).unwrap();
        assert!(first.starts_with("HTTP/1.1 200 OK\r\n"), "{first}");
        assert!(
            first.ends_with("\r\n\r\nd\r\nretry: 3000\n\n\r\n10\r\nid: 1\ndata: {}\n\n\r\n"),
            "the head and the replay in one write: {first}"
        );
        assert_eq!(
            batched_after,
            Some(1),
            "batching starts once the head and the replay are out"
        );
        assert!(read.contains("id: 2"), "live frames follow");
    }

    #[tokio::test]
    async fn an_unhurried_stream_batches_only_once_a_long_replay_is_all_out() {
        let long: &'static str = format!("data: {}\n\n", "x".repeat(10 * 1024)).leak();
        let (writes, batched_after, read) = unhurried(vec![long, long, long]).await;
        // The head and two frames pass the batch size: the third goes in a write of its own.
        assert!(writes.len() >= 3, "{} writes", writes.len());
        assert_eq!(
            batched_after,
            Some(2),
            "batching starts after the write that ends the replay, not the first"
        );
        assert_eq!(read.matches(long).count(), 3);
        assert!(read.contains("id: 2"), "live frames follow");
    }

    #[tokio::test]
    async fn shutdown_ends_a_stream_that_would_not_end_by_itself() {
        let (_frames, waiting) = mpsc::channel(1);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (mut client, server) = tokio::io::duplex(4096);
        let shutdown = async move {
            let _ = stopped.await;
        };
        let serving = tokio::spawn(serve(server, streaming(waiting), shutdown));
        stop.send(()).unwrap();
        within_a_second(serving).await.unwrap();
        let mut written = Vec::new();
        client.read_to_end(&mut written).await.unwrap();
        assert!(
            written.ends_with(b"\r\n\r\n0\r\n\r\n"),
            "the head, then the last chunk: {}",
            String::from_utf8_lossy(&written)
        );
    }
}
