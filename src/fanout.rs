//! Popup events written straight to visitors' WebSockets by one writer task per project on this
//! node, as nchan writes its subscribers: each event is framed once, and each visitor's socket
//! gets a non-blocking write of the frames it has not had, so a push costs one system call per
//! visitor and wakes no visitor's task. Events published while a pass is under way leave
//! together, in one write per visitor, on the next pass.
//!
//! A visitor's own task (`routes::salespop_ws`) keeps the rest of its WebSocket: the replay,
//! pings and pongs, settings changes, the close. Both write through the visitor's outbox, under
//! its lock and a whole frame at a time, so frames never interleave. What the kernel does not
//! take at once waits in the outbox for the visitor's task to flush; a visitor with more than
//! `social_proof.subscriber_queue` events waiting there is closed with 1013 (an SSE stream
//! ends), as a lagging receiver is, and the writer falling that far behind the feed closes
//! every visitor the same way (they reconnect with `since`, nothing lost). When the visitor's
//! task closes (a close frame, the end of an SSE body) it stops the writer first, so nothing
//! follows.
//!
//! SSE visitors served outside hyper (`event_stream`) are written the same way, each event as an
//! SSE chunk of the response. Plain TCP only: TLS needs its state to write, so a visitor over
//! TLS (or an SSE stream hyper serves) keeps its own task-driven loop. Nothing here waits on a
//! socket: the writer only ever calls `try_write`.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use helpyap_actors::feed::LiveEvent;
use sse_stream::Sse;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::sync::{Notify, broadcast, mpsc};
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{CloseCode, Data, OpCode};

use crate::connection::{Batching, Connection, WriteStall};
use crate::event_stream;

/// Visitors the writer serves before it lets other tasks run, in a pass over many.
const VISITORS_PER_TURN: usize = 128;

/// Why the writer stopped writing to a visitor, for its task to say in the close frame.
pub type Close = (CloseCode, &'static str);

pub const TOO_SLOW: Close = (CloseCode::Again, "too slow: reconnect with since=LAST_ID");
pub const RESTARTING: Close = (CloseCode::Away, "project restarting");
/// Set by the visitor's own task as it closes (see [`Visitor::stop`]).
const STOPPED: Close = (CloseCode::Normal, "closing");

/// The writers of this node, one per project with popup visitors on plain sockets.
pub struct Writers {
    groups: Mutex<HashMap<String, Arc<Group>>>,
    /// Events a visitor may have waiting before it is closed.
    queue: usize,
}

/// What the registry holds of one project's writer.
struct Group {
    joins: mpsc::UnboundedSender<Arc<Visitor>>,
    /// A receiver of the project's feed, to tell whether a visitor subscribed to this feed or
    /// to one from before the project restarted. Never read.
    feed: broadcast::Receiver<Arc<LiveEvent>>,
    /// Told when a visitor's task ends, so the writer drops it and ends with its last visitor.
    left: Notify,
}

impl Writers {
    pub fn new(queue: usize) -> Writers {
        Writers {
            groups: Mutex::default(),
            queue,
        }
    }

    /// Hands `socket` to `project`'s writer, which from now on writes it, behind `first` (left
    /// for the visitor's task to flush), every event on `live` after the newest in `first`:
    /// what `live` holds already, then every event published after. Starts the writer when
    /// the project has none. The visitor's task keeps the socket through the returned
    /// [`VisitorIo`] (reading `unread` first); the writer lets it go when that is dropped.
    pub fn join(
        self: &Arc<Self>,
        project: &str,
        socket: Box<Connection<TcpStream>>,
        unread: Vec<u8>,
        live: broadcast::Receiver<Arc<LiveEvent>>,
        first: First,
        format: Format,
    ) -> VisitorIo {
        let mut groups = self.lock();
        let group = match groups.get(project) {
            // Its writer is reading joins (its receiver is dropped only if it panicked).
            Some(group) if group.feed.same_channel(&live) && !group.joins.is_closed() => {
                group.clone()
            }
            // None yet, one for the feed from before a restart (it ends with that feed), or
            // this visitor's feed is the one that ended: a writer of its own, which the
            // registry keeps only in place of an older one.
            existing => {
                let register = !live.is_closed() || existing.is_none();
                let (joins, joined) = mpsc::unbounded_channel();
                let group = Arc::new(Group {
                    joins,
                    feed: live.resubscribe(),
                    left: Notify::new(),
                });
                if register {
                    groups.insert(project.to_owned(), group.clone());
                }
                // Subscribed now, before any visitor is handed over: every event a visitor's
                // own receiver does not hold is on this one.
                let feed = live.resubscribe();
                tokio::spawn(write_events(
                    self.clone(),
                    project.to_owned(),
                    group.clone(),
                    feed,
                    joined,
                ));
                group
            }
        };
        let visitor = Arc::new(Visitor {
            socket,
            outbox: Mutex::new(Outbox {
                pending: first.bytes,
                event_ends: VecDeque::new(),
                last_id: first.last_id,
                handover: Some(live),
                close: None,
                broken: false,
            }),
            attention: Notify::new(),
            group: group.clone(),
            format,
        });
        let io = VisitorIo::new(visitor.clone(), unread);
        // The writer holds the group, so it is still reading joins.
        let _ = group.joins.send(visitor);
        io
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Arc<Group>>> {
        self.groups
            .lock()
            .expect("the writers' registry is never poisoned")
    }
}

/// One project's writer: hands each visitor what its own receiver held, then writes every event
/// published to every visitor, until the last visitor leaves or the feed ends.
async fn write_events(
    writers: Arc<Writers>,
    project: String,
    group: Arc<Group>,
    mut feed: broadcast::Receiver<Arc<LiveEvent>>,
    mut joined: mpsc::UnboundedReceiver<Arc<Visitor>>,
) {
    let mut visitors: Vec<Arc<Visitor>> = Vec::new();
    let mut frames = Frames::default();
    loop {
        // Whether a visitor may have left since the last look.
        let mut look = true;
        tokio::select! {
            biased;
            Some(visitor) = joined.recv() => {
                visitor.take_handover(writers.queue);
                visitors.push(visitor);
                look = false;
            }
            () = group.left.notified() => {}
            received = feed.recv() => {
                frames.clear();
                let mut ended = None;
                match received {
                    Ok(event) => frames.push(event),
                    Err(RecvError::Lagged(_)) => ended = Some(TOO_SLOW),
                    Err(RecvError::Closed) => ended = Some(RESTARTING),
                }
                // Whatever else is queued goes out in the same write.
                while ended.is_none() {
                    match feed.try_recv() {
                        Ok(event) => frames.push(event),
                        Err(TryRecvError::Empty) => break,
                        Err(TryRecvError::Lagged(_)) => ended = Some(TOO_SLOW),
                        Err(TryRecvError::Closed) => ended = Some(RESTARTING),
                    }
                }
                if let Some(close) = ended {
                    // Behind the feed, or the feed is gone: every visitor starts over.
                    for visitor in &visitors {
                        visitor.close(close);
                    }
                    if close == RESTARTING {
                        writers.retire(&project, &group, &mut joined);
                        return;
                    }
                    tracing::warn!(
                        %project,
                        visitors = visitors.len(),
                        "the popup writer fell behind its feed: its visitors reconnect"
                    );
                    feed = feed.resubscribe();
                    visitors.clear();
                    continue;
                }
                for (served, visitor) in visitors.iter().enumerate() {
                    visitor.send(&mut frames, writers.queue);
                    if served % VISITORS_PER_TURN == VISITORS_PER_TURN - 1 {
                        tokio::task::yield_now().await;
                    }
                }
            }
        }
        if look {
            visitors.retain(|visitor| !visitor.is_done());
        }
        if visitors.is_empty() && writers.retire_if_idle(&project, &group, &mut joined) {
            return;
        }
    }
}

impl Writers {
    /// Removes `group` from the registry when no visitor is waiting to join it; a visitor
    /// joins only under the registry's lock, so none can be handed to a writer that has ended.
    fn retire_if_idle(
        &self,
        project: &str,
        group: &Arc<Group>,
        joined: &mut mpsc::UnboundedReceiver<Arc<Visitor>>,
    ) -> bool {
        let mut groups = self.lock();
        if !joined.is_empty() {
            return false;
        }
        forget(&mut groups, project, group);
        true
    }

    /// Removes `group` from the registry as its feed ended, and tells whoever was still waiting
    /// to join it.
    fn retire(
        &self,
        project: &str,
        group: &Arc<Group>,
        joined: &mut mpsc::UnboundedReceiver<Arc<Visitor>>,
    ) {
        let mut groups = self.lock();
        while let Ok(visitor) = joined.try_recv() {
            visitor.close(RESTARTING);
        }
        forget(&mut groups, project, group);
    }
}

/// Takes `group` out of the registry, unless a newer one has taken its place.
fn forget(groups: &mut HashMap<String, Arc<Group>>, project: &str, group: &Arc<Group>) {
    if groups
        .get(project)
        .is_some_and(|ours| Arc::ptr_eq(ours, group))
    {
        groups.remove(project);
    }
}

/// Events framed once for every visitor in each format asked for, back to back, oldest first.
#[derive(Default)]
struct Frames {
    events: Vec<Arc<LiveEvent>>,
    /// Per [`Format`], once a visitor has asked for it.
    encoded: [Encoded; 2],
}

#[derive(Default)]
struct Encoded {
    done: bool,
    bytes: Vec<u8>,
    /// Each frame's event id and where it starts in `bytes`.
    starts: Vec<(u64, usize)>,
}

impl Frames {
    fn clear(&mut self) {
        self.events.clear();
        for encoded in &mut self.encoded {
            encoded.done = false;
            encoded.bytes.clear();
            encoded.starts.clear();
        }
    }

    fn push(&mut self, event: Arc<LiveEvent>) {
        self.events.push(event);
    }

    /// The frames of the events after `last_id` in `format`.
    fn after(&mut self, last_id: u64, format: Format) -> Option<Batch<'_>> {
        let encoded = &mut self.encoded[format as usize];
        if !encoded.done {
            encoded.done = true;
            for event in &self.events {
                encoded.starts.push((event.id, encoded.bytes.len()));
                encode(event, format, &mut encoded.bytes);
            }
        }
        let first = encoded.starts.partition_point(|&(id, _)| id <= last_id);
        let &(newest, _) = encoded.starts.last()?;
        let &(_, start) = encoded.starts.get(first)?;
        Some(Batch {
            bytes: &encoded.bytes[start..],
            starts: &encoded.starts[first..],
            newest,
        })
    }
}

/// Some events' frames, back to back.
struct Batch<'a> {
    bytes: &'a [u8],
    /// Each frame's event id and start, counted from the start of the whole pass's frames.
    starts: &'a [(u64, usize)],
    newest: u64,
}

impl Batch<'_> {
    /// Where each frame ends in `bytes`.
    fn ends(&self) -> impl Iterator<Item = usize> + '_ {
        let base = self.starts[0].1;
        let len = self.bytes.len();
        (1..=self.starts.len()).map(move |next| self.starts.get(next).map_or(len, |s| s.1 - base))
    }
}

/// Appends a WebSocket text frame (as a server sends it: unmasked) carrying `json`.
pub fn text_frame(json: Bytes, out: &mut Vec<u8>) {
    Frame::message(json, OpCode::Data(Data::Text), true)
        .format(out)
        .expect("writing to a Vec cannot fail");
}

/// A plain-TCP visitor, shared by its own task and its project's writer.
pub struct Visitor {
    socket: Box<Connection<TcpStream>>,
    outbox: Mutex<Outbox>,
    /// Told when the outbox has bytes for the visitor's task to flush, or a close to send.
    attention: Notify,
    group: Arc<Group>,
    format: Format,
}

/// What a visitor is sent before the writer takes over: its replay, framed.
pub struct First {
    pub bytes: Vec<u8>,
    /// The newest event id the visitor has been sent (the project's newest when it subscribed).
    pub last_id: u64,
}

/// How a visitor's socket carries each event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A WebSocket text frame.
    WebSocket = 0,
    /// An SSE event (`id`, `data`) as one chunk of a chunked HTTP/1.1 response.
    Sse = 1,
}

/// What an SSE visitor is sent for `event`, live or replayed.
pub fn sse_event(event: &LiveEvent) -> Sse {
    Sse::default()
        .id(event.id.to_string())
        .data(String::from_utf8_lossy(&event.json).into_owned())
}

fn encode(event: &LiveEvent, format: Format, out: &mut Vec<u8>) {
    match format {
        Format::WebSocket => text_frame(event.json.clone(), out),
        Format::Sse => {
            let frame = sse_event(event)
                .encode()
                .expect("an event id and JSON data are valid SSE");
            event_stream::chunk(out, &frame);
        }
    }
}

/// In an SSE response's extensions: the subscription's live events, for `event_stream` to hand
/// to the project's writer (the response's body then carries everything else).
#[derive(Clone)]
pub struct Handover(Arc<Mutex<Option<HandoverParts>>>);

struct HandoverParts {
    writers: Arc<Writers>,
    project: String,
    live: broadcast::Receiver<Arc<LiveEvent>>,
    last_id: u64,
}

impl Handover {
    /// `live` for `project`'s writer, for a visitor sent everything up to `last_id`.
    pub fn new(
        writers: Arc<Writers>,
        project: String,
        live: broadcast::Receiver<Arc<LiveEvent>>,
        last_id: u64,
    ) -> Handover {
        Handover(Arc::new(Mutex::new(Some(HandoverParts {
            writers,
            project,
            live,
            last_id,
        }))))
    }

    /// Joins the writer as [`Writers::join`] does, once: `None` when taken already.
    pub fn join(
        &self,
        socket: Box<Connection<TcpStream>>,
        first: Vec<u8>,
        format: Format,
    ) -> Option<VisitorIo> {
        let parts = self
            .0
            .lock()
            .expect("a handover is never poisoned")
            .take()?;
        let first = First {
            bytes: first,
            last_id: parts.last_id,
        };
        Some(parts.writers.join(
            &parts.project,
            socket,
            Vec::new(),
            parts.live,
            first,
            format,
        ))
    }
}

/// What a visitor's socket has yet to take, and how far the writer has got with it.
struct Outbox {
    /// Whole frames the kernel has not taken yet, oldest first.
    pending: Vec<u8>,
    /// Where in `pending` each event's frame ends: the events waiting for the kernel.
    event_ends: VecDeque<usize>,
    /// The newest event written (or left pending) to the visitor.
    last_id: u64,
    /// The visitor's own receiver, until the writer has written what it held.
    handover: Option<broadcast::Receiver<Arc<LiveEvent>>>,
    /// Set by the writer: the visitor's task should close with this.
    close: Option<Close>,
    /// A write failed: the connection is gone.
    broken: bool,
}

impl Visitor {
    /// Waits until the writer has something for this visitor's task: bytes to flush or a
    /// close to send.
    pub async fn attention(&self) {
        self.attention.notified().await;
    }

    /// The close the writer asked for, if it did; else `Err` when the socket is broken (the
    /// visitor's task just ends).
    pub fn closing(&self) -> Option<Result<Close, ()>> {
        let outbox = self.lock();
        match outbox.close {
            Some(close) => Some(Ok(close)),
            None => outbox.broken.then_some(Err(())),
        }
    }

    /// The visitor's task is closing (a close frame, the end of an SSE body): the writer
    /// writes nothing more after it.
    pub fn stop(&self) {
        self.lock().close.get_or_insert(STOPPED);
    }

    fn is_done(&self) -> bool {
        let outbox = self.lock();
        outbox.broken || outbox.close.is_some()
    }

    fn close(&self, close: Close) {
        self.lock().close.get_or_insert(close);
        self.attention.notify_one();
    }

    /// Writes what the visitor's own receiver held, then lets the receiver go.
    fn take_handover(&self, queue: usize) {
        let mut outbox = self.lock();
        let Some(mut live) = outbox.handover.take() else {
            return;
        };
        let mut frames = Frames::default();
        loop {
            match live.try_recv() {
                Ok(event) => frames.push(event),
                Err(TryRecvError::Empty | TryRecvError::Closed) => break,
                Err(TryRecvError::Lagged(_)) => {
                    outbox.close.get_or_insert(TOO_SLOW);
                    drop(outbox);
                    self.attention.notify_one();
                    return;
                }
            }
        }
        self.write(&mut outbox, &mut frames, queue);
    }

    /// Writes the frames of `frames` the visitor has not had.
    fn send(&self, frames: &mut Frames, queue: usize) {
        let mut outbox = self.lock();
        self.write(&mut outbox, frames, queue);
    }

    fn write(&self, outbox: &mut Outbox, frames: &mut Frames, queue: usize) {
        if outbox.broken || outbox.close.is_some() {
            return;
        }
        let Some(batch) = frames.after(outbox.last_id, self.format) else {
            return;
        };
        outbox.last_id = batch.newest;
        if !outbox.pending.is_empty() && outbox.event_ends.len() + batch.starts.len() > queue {
            tracing::debug!("closing a popup visitor that fell behind");
            outbox.close = Some(TOO_SLOW);
            self.attention.notify_one();
            return;
        }
        let before = outbox.pending.len();
        match self.put(outbox, batch.bytes) {
            Ok(_) if outbox.pending.is_empty() => {}
            Ok(written) => {
                // Byte `at` of the batch, when not written, is at `before + at - written`.
                for end in batch.ends().filter(|&end| end > written) {
                    outbox.event_ends.push_back(before + end - written);
                }
                if outbox.event_ends.len() > queue {
                    tracing::debug!("closing a popup visitor that fell behind");
                    outbox.close = Some(TOO_SLOW);
                }
                // Bytes to flush, or a close to send.
                self.attention.notify_one();
            }
            Err(_) => {
                outbox.broken = true;
                self.attention.notify_one();
            }
        }
    }

    /// Writes `bytes` now as far as the kernel takes them, behind anything pending, and keeps
    /// the rest pending: the caller's bytes are always taken whole. Returns how many were
    /// written now.
    fn put(&self, outbox: &mut Outbox, bytes: &[u8]) -> io::Result<usize> {
        if !outbox.pending.is_empty() {
            outbox.pending.extend_from_slice(bytes);
            return Ok(0);
        }
        let written = match self.socket.get_ref().try_write(bytes) {
            Ok(written) => written,
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => 0,
            Err(error) => return Err(error),
        };
        outbox.pending.extend_from_slice(&bytes[written..]);
        Ok(written)
    }

    /// Writes pending bytes until none are left or the kernel takes no more; `progressed`
    /// tells whether any were written.
    fn poll_drain(&self, cx: &mut Context<'_>, progressed: &mut bool) -> Poll<io::Result<()>> {
        let socket = self.socket.get_ref();
        loop {
            let mut outbox = self.lock();
            if outbox.pending.is_empty() {
                // A replay's worth is not kept for an idle visitor's life.
                outbox.pending = Vec::new();
                outbox.event_ends.clear();
                return Poll::Ready(Ok(()));
            }
            match socket.try_write(&outbox.pending) {
                Ok(written) => {
                    *progressed |= written > 0;
                    outbox.pending.drain(..written);
                    while outbox.event_ends.front().is_some_and(|&end| end <= written) {
                        outbox.event_ends.pop_front();
                    }
                    for end in &mut outbox.event_ends {
                        *end -= written;
                    }
                }
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                    drop(outbox);
                    ready!(socket.poll_write_ready(cx))?;
                }
                Err(error) => return Poll::Ready(Err(error)),
            }
        }
    }

    fn lock(&self) -> MutexGuard<'_, Outbox> {
        self.outbox.lock().expect("an outbox is never poisoned")
    }
}

/// A visitor's socket as its own task reads and writes it (through tungstenite): reads straight
/// from the socket, writes through the outbox the writer shares.
pub struct VisitorIo {
    visitor: Arc<Visitor>,
    /// What hyper had read past the handshake, read first.
    unread: Vec<u8>,
    stall: WriteStall,
}

impl VisitorIo {
    fn new(visitor: Arc<Visitor>, unread: Vec<u8>) -> VisitorIo {
        let stall = WriteStall::new(visitor.socket.write_stall_limit());
        VisitorIo {
            visitor,
            unread,
            stall,
        }
    }

    /// The visitor as the writer sees it, for its task to hear from the writer.
    pub fn visitor(&self) -> Arc<Visitor> {
        self.visitor.clone()
    }
}

impl Batching for VisitorIo {
    fn batch_small_writes(&self) {
        self.visitor.socket.batch_small_writes();
    }
}

impl Drop for VisitorIo {
    /// The visitor's task has ended: the writer lets the socket go.
    fn drop(&mut self) {
        self.visitor.lock().broken = true;
        self.visitor.group.left.notify_one();
    }
}

impl AsyncRead for VisitorIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if !self.unread.is_empty() {
            let n = self.unread.len().min(buf.remaining());
            buf.put_slice(&self.unread[..n]);
            self.unread.drain(..n);
            return Poll::Ready(Ok(()));
        }
        let socket = self.visitor.socket.get_ref();
        loop {
            ready!(socket.poll_read_ready(cx))?;
            match socket.try_read(buf.initialize_unfilled()) {
                Ok(read) => {
                    buf.advance(read);
                    return Poll::Ready(Ok(()));
                }
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
                Err(error) => return Poll::Ready(Err(error)),
            }
        }
    }
}

impl AsyncWrite for VisitorIo {
    /// Always takes `buf` whole (behind what the writer left pending), so a frame never
    /// straddles two writes and the writer's frames cannot land inside it.
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let visitor = &self.visitor;
        let mut outbox = visitor.lock();
        if outbox.broken {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        Poll::Ready(visitor.put(&mut outbox, buf).map(|_| buf.len()))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let mut progressed = false;
        let poll = this.visitor.poll_drain(cx, &mut progressed);
        if progressed {
            // A write that moves is not stalled, however long it takes.
            this.stall.progress();
        }
        this.stall.check(cx, poll)
    }

    /// Flushes, then ends the sending side (the writer was stopped first: see
    /// [`Visitor::stop`]).
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.as_mut().poll_flush(cx))?;
        let socket = self.visitor.socket.get_ref();
        Poll::Ready(socket2::SockRef::from(socket).shutdown(std::net::Shutdown::Write))
    }
}

#[cfg(test)]
#[path = "fanout/tests.rs"]
mod tests;
