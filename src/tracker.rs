//! Live connections that hyper no longer tracks, and the shutdown signal they obey.
//!
//! Upgraded WebSockets leave hyper's graceful shutdown, and SSE streams would otherwise keep it
//! waiting for the whole grace period. Each live stream holds a [`LiveGuard`] and watches
//! [`Live::shutting_down`]; at shutdown the server raises the signal (WebSockets close with
//! 1001, SSE streams end) and waits until every guard is gone.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::{Notify, watch};

#[derive(Clone)]
pub struct Live {
    inner: Arc<Inner>,
}

struct Inner {
    open: AtomicUsize,
    all_closed: Notify,
    shutdown: watch::Sender<bool>,
}

/// Held by one live stream for as long as it runs.
pub struct LiveGuard {
    inner: Arc<Inner>,
}

impl Default for Live {
    fn default() -> Self {
        Live {
            inner: Arc::new(Inner {
                open: AtomicUsize::new(0),
                all_closed: Notify::new(),
                shutdown: watch::Sender::new(false),
            }),
        }
    }
}

impl Live {
    pub fn guard(&self) -> LiveGuard {
        self.inner.open.fetch_add(1, Ordering::SeqCst);
        LiveGuard {
            inner: self.inner.clone(),
        }
    }

    /// Live streams open right now.
    pub fn open(&self) -> usize {
        self.inner.open.load(Ordering::SeqCst)
    }

    /// Completes when shutdown begins (at once if it has).
    pub fn shutting_down(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut receiver = self.inner.shutdown.subscribe();
        async move {
            let _ = receiver.wait_for(|&down| down).await;
        }
    }

    /// Signals every live stream to end, then waits until all have.
    pub async fn shut_down(&self) {
        self.inner.shutdown.send_replace(true);
        loop {
            let closed = self.inner.all_closed.notified();
            if self.open() == 0 {
                return;
            }
            closed.await;
        }
    }
}

impl Drop for LiveGuard {
    fn drop(&mut self) {
        if self.inner.open.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.inner.all_closed.notify_waiters();
        }
    }
}
