//! A per-connection timer for hyper's HTTP/1 header-read timeout that costs no timer-wheel
//! work per request.
//!
//! hyper arms a fresh `Sleep` at the start of every request head and drops it once the head is
//! parsed. With tokio's timer that is a wheel insert and removal under the driver's lock per
//! request, about a microsecond — a sixth of serving a cached GET. Here each `Sleep` is only a
//! deadline; one tokio alarm per connection stays armed across requests, and when it fires
//! before the current deadline it is moved forward, at most once per timeout period. It is used
//! for nothing but that timeout; HTTP/2 keeps hyper-util's `TokioTimer`.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

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
        if now() >= this.deadline {
            return Poll::Ready(());
        }
        let mut alarm = this
            .alarm
            .lock()
            .expect("only this connection's task locks it, and never panics holding it");
        let alarm =
            alarm.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(this.deadline.into())));
        loop {
            if alarm.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            // The alarm was set for an earlier request's deadline; move it to this one.
            if now() >= this.deadline {
                return Poll::Ready(());
            }
            alarm.as_mut().reset(this.deadline.into());
        }
    }
}

/// tokio's clock, as hyper-util's `TokioTimer` uses.
fn now() -> Instant {
    tokio::time::Instant::now().into_std()
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

    async fn poll_once(sleep: &mut Pin<Box<dyn Sleep>>) -> Poll<()> {
        std::future::poll_fn(|cx| Poll::Ready(sleep.as_mut().poll(cx))).await
    }
}
