//! The SSE keep-alive timer, on the engine's movable [`deadline`](helpyap_actors::deadline)s.
//!
//! A keep-alive is pushed back on every event sent. With a tokio `Sleep` each push would be a
//! wheel reset under the driver's lock; a `Deadline` moves a plain instant and touches the
//! timer only when its alarm fires early.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use helpyap_actors::deadline::Deadline;

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
    use helpyap_actors::deadline::now;

    const TICK: Duration = Duration::from_millis(100);

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
}
