//! hyper's HTTP/1 header-read timer and the SSE keep-alive timer, on the engine's movable
//! [`deadline`](helpyap_actors::deadline)s.
//!
//! hyper arms a fresh `Sleep` at the start of every request head and drops it once the head is
//! parsed; an SSE keep-alive is pushed back on every event sent. With tokio's timer each of
//! those is a wheel insert or reset under the driver's lock, about a microsecond — a sixth of
//! serving a cached GET. HTTP/2 keeps hyper-util's `TokioTimer`.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use helpyap_actors::deadline::{Deadline, now, poll_deadline};
use hyper::rt::{Sleep, Timer};

/// Give each connection its own; the alarm it shares with its sleeps belongs to one connection.
#[derive(Clone, Default)]
pub struct HeaderTimer {
    alarm: Arc<Mutex<Option<Pin<Box<tokio::time::Sleep>>>>>,
}

impl HeaderTimer {
    pub fn new() -> HeaderTimer {
        HeaderTimer::default()
    }
}

impl Timer for HeaderTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Sleep>> {
        self.sleep_until(now() + duration)
    }

    fn now(&self) -> Instant {
        now()
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn Sleep>> {
        Box::pin(HeaderSleep {
            deadline,
            alarm: self.alarm.clone(),
        })
    }

    fn reset(&self, sleep: &mut Pin<Box<dyn Sleep>>, new_deadline: Instant) {
        match sleep.as_mut().downcast_mut_pin::<HeaderSleep>() {
            Some(header_sleep) => header_sleep.get_mut().deadline = new_deadline,
            None => *sleep = self.sleep_until(new_deadline),
        }
    }
}

struct HeaderSleep {
    deadline: Instant,
    alarm: Arc<Mutex<Option<Pin<Box<tokio::time::Sleep>>>>>,
}

impl Sleep for HeaderSleep {}

impl Future for HeaderSleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let mut alarm = this
            .alarm
            .lock()
            .expect("only this connection's task locks it, and never panics holding it");
        poll_deadline(&mut alarm, this.deadline, cx)
    }
}

/// The SSE keep-alive timer: pushed back on every event, fires after a quiet interval.
pub struct KeepAliveTimer(Deadline);

impl Future for KeepAliveTimer {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.get_mut().0).poll(cx)
    }
}

impl sse_stream::Timer for KeepAliveTimer {
    fn from_duration(duration: Duration) -> Self {
        KeepAliveTimer(Deadline::after(duration))
    }

    fn reset(self: Pin<&mut Self>, deadline: Instant) {
        self.get_mut().0.set(deadline);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TICK: Duration = Duration::from_millis(100);

    #[tokio::test]
    async fn fires_at_the_latest_deadline_not_an_earlier_one() {
        let timer = HeaderTimer::new();
        let start = now();
        // A first request's head arrives in time: its sleep arms the alarm, then is dropped.
        let mut first = timer.sleep(TICK * 3);
        assert!(poll_once(&mut first).await.is_pending());
        drop(first);
        tokio::time::sleep(TICK * 2).await;

        // The next request's sleep must outlive the first deadline (3 ticks) and end at 5.
        timer.sleep(TICK * 3).await;
        let waited = now() - start;
        assert!(waited >= TICK * 5, "fired early, after {waited:?}");
    }

    #[tokio::test]
    async fn reset_moves_the_deadline() {
        let timer = HeaderTimer::new();
        let start = now();
        let mut sleep = timer.sleep(TICK);
        timer.reset(&mut sleep, start + TICK * 3);
        sleep.await;
        assert!(now() - start >= TICK * 3);
    }

    #[tokio::test]
    async fn a_keep_alive_pushed_back_fires_only_after_the_quiet_interval() {
        use sse_stream::Timer as _;
        let start = now();
        let mut timer = Box::pin(KeepAliveTimer::from_duration(TICK * 2));
        tokio::time::sleep(TICK).await;
        timer.as_mut().reset(now() + TICK * 2);
        timer.await;
        assert!(now() - start >= TICK * 3, "fired after {:?}", now() - start);
    }

    async fn poll_once(sleep: &mut Pin<Box<dyn Sleep>>) -> Poll<()> {
        std::future::poll_fn(|cx| Poll::Ready(sleep.as_mut().poll(cx))).await
    }
}
