//! When a connection that carries no request is closed: one that has not sent a complete
//! request head within `server.header_read_timeout` of being accepted — protocol detection and
//! the HTTP/2 preface included — or that has had no request in flight for
//! `server.idle_timeout` (h2c), or `server.header_read_timeout` (HTTP/1.1, where it is the time
//! the next request head has to arrive in: a head sent too slowly, or a kept-alive connection
//! left unused). HTTP/1.1 has no other header-read timer: hyper's would arm and drop one for
//! every request.
//!
//! Each request holds a [`RequestGuard`] in its response body until the body is dropped, so a
//! long SSE stream or chat answer counts as activity for as long as it runs. Counting costs two
//! atomic operations and a clock read per request; the [`IdleWatch`] looks only when its alarm
//! fires. This module only tells when; the server closes the connection.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll, Wake, Waker, ready};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::task::AtomicWaker;
use helpyap_actors::deadline::{Deadline, now};
use http_body::{Body, Frame, SizeHint};

/// No request has ended yet.
const NEVER: u64 = u64::MAX;

/// The requests of one connection.
pub struct Activity {
    accepted: Instant,
    in_flight: AtomicU64,
    /// When the last request ended, in nanoseconds after `accepted`; `NEVER` before.
    last_end: AtomicU64,
}

impl Activity {
    pub fn new() -> Arc<Activity> {
        Arc::new(Activity {
            accepted: now(),
            in_flight: AtomicU64::new(0),
            last_end: AtomicU64::new(NEVER),
        })
    }

    /// Counts a request as in flight until the guard is dropped.
    pub fn request_started(self: &Arc<Self>) -> RequestGuard {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        RequestGuard(self.clone())
    }

    /// Whether a request is in flight.
    pub fn busy(&self) -> bool {
        self.in_flight.load(Ordering::Acquire) > 0
    }

    /// A watch that completes once the connection should be closed for want of requests.
    pub fn watch(self: &Arc<Self>, first_request: Duration, idle: Duration) -> IdleWatch {
        IdleWatch {
            activity: self.clone(),
            first_request,
            idle,
            deadline: Deadline::at(self.accepted + first_request),
        }
    }
}

/// A request in flight on its connection.
pub struct RequestGuard(Arc<Activity>);

impl Drop for RequestGuard {
    fn drop(&mut self) {
        let activity = &self.0;
        let since_accept = now().saturating_duration_since(activity.accepted);
        let nanos = u64::try_from(since_accept.as_nanos()).unwrap_or(NEVER - 1);
        activity.last_end.store(nanos, Ordering::Release);
        activity.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Ready when the connection has had no request in flight for its limit: `first_request`
/// after accept while none has come, `idle` after the last one ended.
pub struct IdleWatch {
    activity: Arc<Activity>,
    first_request: Duration,
    idle: Duration,
    deadline: Deadline,
}

impl IdleWatch {
    /// Closes the connection after at most `limit` with no request in flight (HTTP/1.1: the
    /// time the next request head has to arrive in).
    pub fn idle_at_most(&mut self, limit: Duration) {
        self.idle = self.idle.min(limit);
    }
}

impl Future for IdleWatch {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        loop {
            ready!(Pin::new(&mut this.deadline).poll(cx));
            let activity = &this.activity;
            let due = if activity.in_flight.load(Ordering::Acquire) > 0 {
                // Busy: look again once a whole idle period could have passed.
                now() + this.idle
            } else {
                match activity.last_end.load(Ordering::Acquire) {
                    NEVER => activity.accepted + this.first_request,
                    ended => activity.accepted + Duration::from_nanos(ended) + this.idle,
                }
            };
            if due <= now() {
                return Poll::Ready(());
            }
            this.deadline.set(due);
        }
    }
}

/// Polls a future only when it has been woken (and on the first poll). A connection's task
/// wakes for every request, and `tokio::select!` polls each of its branches on every wake: the
/// idle watch and the shutdown signal, which wake on their own, need not be looked at then.
pub struct WhenWoken<F> {
    future: F,
    flag: Arc<WokenFlag>,
    /// Wakes `flag`, then the task; made once.
    waker: Waker,
}

struct WokenFlag {
    woken: AtomicBool,
    task: AtomicWaker,
}

impl Wake for WokenFlag {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        self.task.wake();
    }
}

impl<F: Future + Unpin> WhenWoken<F> {
    pub fn new(future: F) -> WhenWoken<F> {
        let flag = Arc::new(WokenFlag {
            woken: AtomicBool::new(true),
            task: AtomicWaker::new(),
        });
        WhenWoken {
            future,
            waker: Waker::from(flag.clone()),
            flag,
        }
    }
}

impl<F: Future + Unpin> Future for WhenWoken<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.get_mut();
        this.flag.task.register(cx.waker());
        if !this.flag.woken.swap(false, Ordering::AcqRel) {
            return Poll::Pending;
        }
        Pin::new(&mut this.future).poll(&mut Context::from_waker(&this.waker))
    }
}

/// A response body that keeps its request counted as in flight until it is dropped.
pub struct Tracked<B> {
    body: B,
    _guard: RequestGuard,
}

impl<B> Tracked<B> {
    pub fn new(body: B, guard: RequestGuard) -> Tracked<B> {
        Tracked {
            body,
            _guard: guard,
        }
    }
}

impl<B: Body<Data = Bytes> + Unpin> Body for Tracked<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TICK: Duration = Duration::from_millis(100);

    #[tokio::test]
    async fn a_connection_that_never_sends_a_request_is_idle_after_the_first_limit() {
        let activity = Activity::new();
        let started = now();
        activity.watch(TICK, TICK * 10).await;
        let waited = now() - started;
        assert!(waited >= TICK && waited < TICK * 5, "{waited:?}");
    }

    #[tokio::test]
    async fn a_request_in_flight_is_never_idle_and_the_idle_limit_counts_from_its_end() {
        let activity = Activity::new();
        let guard = activity.request_started();
        let watch = activity.watch(TICK, TICK * 2);
        tokio::pin!(watch);
        // Three idle periods pass while the request runs: still not idle.
        let busy = tokio::time::timeout(TICK * 6, watch.as_mut()).await;
        assert!(
            busy.is_err(),
            "a connection with a request in flight was idle"
        );
        let ended = now();
        drop(guard);
        watch.await;
        let waited = now() - ended;
        assert!(waited >= TICK * 2 && waited < TICK * 5, "{waited:?}");
    }

    /// Counts its polls; ready once `ready` is set, waking the waker it was last polled with.
    struct Counted {
        polls: Arc<AtomicU64>,
        ready: Arc<AtomicBool>,
        waker: Arc<std::sync::Mutex<Option<Waker>>>,
    }

    impl Future for Counted {
        type Output = ();

        fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            self.polls.fetch_add(1, Ordering::SeqCst);
            if self.ready.load(Ordering::SeqCst) {
                return Poll::Ready(());
            }
            *self.waker.lock().unwrap() = Some(cx.waker().clone());
            Poll::Pending
        }
    }

    #[tokio::test]
    async fn a_future_is_polled_first_and_then_only_when_it_has_been_woken() {
        let polls = Arc::new(AtomicU64::new(0));
        let ready = Arc::new(AtomicBool::new(false));
        let waker = Arc::new(std::sync::Mutex::new(None::<Waker>));
        let mut watched = WhenWoken::new(Counted {
            polls: polls.clone(),
            ready: ready.clone(),
            waker: waker.clone(),
        });
        let task_woken = Arc::new(AtomicU64::new(0));
        struct CountWakes(Arc<AtomicU64>);
        impl Wake for CountWakes {
            fn wake(self: Arc<Self>) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        let task = Waker::from(Arc::new(CountWakes(task_woken.clone())));
        let mut cx = Context::from_waker(&task);
        for _ in 0..5 {
            assert!(Pin::new(&mut watched).poll(&mut cx).is_pending());
        }
        assert_eq!(
            polls.load(Ordering::SeqCst),
            1,
            "polled only the first time"
        );
        ready.store(true, Ordering::SeqCst);
        assert!(
            Pin::new(&mut watched).poll(&mut cx).is_pending(),
            "not woken yet"
        );
        waker.lock().unwrap().take().unwrap().wake();
        assert_eq!(
            task_woken.load(Ordering::SeqCst),
            1,
            "its wake reaches the task"
        );
        assert!(Pin::new(&mut watched).poll(&mut cx).is_ready());
        assert_eq!(polls.load(Ordering::SeqCst), 2);
    }
}
