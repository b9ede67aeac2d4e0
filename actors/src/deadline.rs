//! Deadlines that move often but rarely expire: an answer's idle timeout, SSE keep-alives,
//! a connection's idle watch.
//!
//! With tokio's timer, pushing a deadline back is a wheel insert or reset under the driver's
//! lock — about a microsecond, paid on every token or event. Here it is a plain write: one
//! tokio alarm stays armed and, when it fires before the current deadline, is moved forward,
//! at most once per timeout period. This module only keeps time; it never decides what a
//! timeout means.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// A future that is ready once its deadline, which may be moved at any time, has passed.
pub struct Deadline {
    at: Instant,
    alarm: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl Deadline {
    pub fn after(duration: Duration) -> Deadline {
        Deadline::at(now() + duration)
    }

    pub fn at(at: Instant) -> Deadline {
        Deadline { at, alarm: None }
    }

    /// Moves the deadline, earlier or later; costs no timer work.
    pub fn set(&mut self, at: Instant) {
        self.at = at;
    }
}

impl Future for Deadline {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        poll_deadline(&mut this.alarm, this.at, cx)
    }
}

/// Ready once `deadline` has passed. `alarm` is armed on first use and only moved forward
/// when it fires early, so a deadline that keeps moving costs no timer work.
fn poll_deadline(
    alarm: &mut Option<Pin<Box<tokio::time::Sleep>>>,
    deadline: Instant,
    cx: &mut Context<'_>,
) -> Poll<()> {
    let alarm = alarm.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline.into())));
    if alarm.deadline() > deadline.into() {
        // Moved earlier than the alarm: the rare case that costs timer work.
        alarm.as_mut().reset(deadline.into());
    }
    // While the alarm has not fired, the deadline (never before it) has not passed either: no
    // need to read the clock on every poll.
    loop {
        if alarm.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        // The alarm was set for an earlier deadline; move it to this one.
        if now() >= deadline {
            return Poll::Ready(());
        }
        alarm.as_mut().reset(deadline.into());
    }
}

/// tokio's clock, as hyper-util's `TokioTimer` uses.
pub fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TICK: Duration = Duration::from_millis(100);

    #[tokio::test]
    async fn a_deadline_pushed_back_fires_only_at_its_last_setting() {
        let start = now();
        let mut deadline = Deadline::after(TICK * 2);
        // Armed for 2 ticks, then moved to 3 while pending.
        assert!(tokio::time::timeout(TICK, &mut deadline).await.is_err());
        deadline.set(now() + TICK * 2);
        deadline.await;
        let waited = now() - start;
        assert!(waited >= TICK * 3, "fired after {waited:?}");
    }

    #[tokio::test]
    async fn a_deadline_moved_earlier_fires_at_once() {
        let mut deadline = Deadline::after(TICK * 50);
        assert!(tokio::time::timeout(TICK, &mut deadline).await.is_err());
        deadline.set(now() + TICK);
        let waited = tokio::time::timeout(TICK * 3, deadline).await;
        assert!(
            waited.is_ok(),
            "moved to one tick ahead, it must not wait for the old alarm"
        );
    }
}
