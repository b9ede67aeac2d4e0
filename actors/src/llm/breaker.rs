//! A circuit breaker in front of a provider: after `failures` answers in a row fail at the model
//! server, it stops sending it requests for `cooldown` (answers are refused at once with
//! `CircuitOpen`, so the fallback answers or the visitor gets a quick 503), then lets one trial
//! answer through: its first text closes the circuit again, its failure reopens it.
//!
//! It judges answers only by what their streams yield; it never looks inside them.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures_util::Stream;

use crate::llm::{LlmError, LlmProvider, LlmStats, Prompt, TextStream};

pub struct Breaker {
    inner: Arc<dyn LlmProvider>,
    state: Arc<Mutex<State>>,
    failures: u32,
    cooldown: Duration,
    stats: Arc<LlmStats>,
}

#[derive(Debug, Default)]
struct State {
    /// Failed answers in a row.
    failed_in_a_row: u32,
    /// While set and in the future, answers are refused.
    open_until: Option<Instant>,
    /// A trial answer is under way after a cooldown; others are still refused.
    trial: bool,
}

impl Breaker {
    pub fn new(
        inner: Arc<dyn LlmProvider>,
        failures: u32,
        cooldown: Duration,
        stats: Arc<LlmStats>,
    ) -> Breaker {
        Breaker {
            inner,
            state: Arc::default(),
            failures: failures.max(1),
            cooldown,
            stats,
        }
    }
}

impl LlmProvider for Breaker {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn answer(&self, prompt: &Prompt) -> Result<TextStream, LlmError> {
        {
            let mut state = self.state.lock().expect("never poisoned");
            if let Some(until) = state.open_until {
                if Instant::now() < until || state.trial {
                    return Err(LlmError::CircuitOpen);
                }
                state.trial = true;
            }
        }
        let texts = match self.inner.answer(prompt) {
            Ok(texts) => texts,
            Err(error) => {
                // Refusals for capacity say nothing about the model server's health.
                if error != LlmError::Overloaded {
                    self.report(false);
                } else {
                    self.state.lock().expect("never poisoned").trial = false;
                }
                return Err(error);
            }
        };
        Ok(Box::pin(Watched {
            texts,
            breaker: Some(Report {
                state: self.state.clone(),
                failures: self.failures,
                cooldown: self.cooldown,
                stats: self.stats.clone(),
            }),
        }))
    }
}

impl Breaker {
    fn report(&self, healthy: bool) {
        Report {
            state: self.state.clone(),
            failures: self.failures,
            cooldown: self.cooldown,
            stats: self.stats.clone(),
        }
        .send(healthy);
    }
}

struct Report {
    state: Arc<Mutex<State>>,
    failures: u32,
    cooldown: Duration,
    stats: Arc<LlmStats>,
}

impl Report {
    fn send(self, healthy: bool) {
        let mut state = self.state.lock().expect("never poisoned");
        let was_trial = std::mem::take(&mut state.trial);
        if healthy {
            if state.open_until.take().is_some() {
                tracing::info!("the model server answers again; circuit closed");
            }
            state.failed_in_a_row = 0;
            return;
        }
        state.failed_in_a_row += 1;
        if was_trial || state.failed_in_a_row >= self.failures {
            if state.open_until.is_none() || was_trial {
                LlmStats::count(&self.stats.circuit_opens);
                tracing::warn!(
                    failed_in_a_row = state.failed_in_a_row,
                    cooldown = ?self.cooldown,
                    "the model server keeps failing; circuit open"
                );
            }
            state.open_until = Some(Instant::now() + self.cooldown);
        }
    }
}

/// An answer's stream, reporting to the breaker once: healthy at its first text, failed at an
/// error before any. Dropped before either (the visitor left), it reports nothing.
struct Watched {
    texts: TextStream,
    breaker: Option<Report>,
}

impl Stream for Watched {
    type Item = Result<String, LlmError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let next = self.texts.as_mut().poll_next(cx);
        if let Poll::Ready(item) = &next
            && let Some(report) = self.breaker.take()
        {
            match item {
                Some(Ok(_)) | None => report.send(true),
                Some(Err(_)) => report.send(false),
            }
        }
        next
    }
}

impl Drop for Watched {
    fn drop(&mut self) {
        // A trial the visitor walked away from proves nothing: let the next answer try.
        if let Some(report) = self.breaker.take() {
            report.state.lock().expect("never poisoned").trial = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use futures_util::{StreamExt, stream};

    use super::*;
    use crate::llm::Turn;

    /// Fails while `failing` is set; counts the answers it was asked for.
    struct Flaky {
        failing: Arc<Mutex<bool>>,
        asked: Arc<Mutex<u32>>,
    }

    impl LlmProvider for Flaky {
        fn name(&self) -> &'static str {
            "flaky"
        }

        fn answer(&self, _: &Prompt) -> Result<TextStream, LlmError> {
            *self.asked.lock().unwrap() += 1;
            let item = if *self.failing.lock().unwrap() {
                Err(LlmError::Status {
                    status: 500,
                    message: "down".into(),
                })
            } else {
                Ok("hello".to_owned())
            };
            Ok(Box::pin(stream::iter([item])))
        }
    }

    fn prompt() -> Prompt {
        Prompt {
            system: String::new(),
            history: Vec::<Turn>::new(),
            question: "q".into(),
            passages: Vec::new(),
            language: crate::language::Lang::En,
            extract: None,
        }
    }

    async fn first(breaker: &Breaker) -> Result<String, LlmError> {
        let mut texts = breaker.answer(&prompt())?;
        texts.next().await.unwrap()
    }

    #[tokio::test]
    async fn opens_after_failures_in_a_row_then_a_trial_closes_it() {
        let failing = Arc::new(Mutex::new(true));
        let asked = Arc::new(Mutex::new(0));
        let stats = Arc::new(LlmStats::default());
        let flaky = Flaky {
            failing: failing.clone(),
            asked: asked.clone(),
        };
        let breaker = Breaker::new(
            Arc::new(flaky),
            3,
            Duration::from_millis(100),
            stats.clone(),
        );
        for _ in 0..3 {
            assert!(matches!(
                first(&breaker).await,
                Err(LlmError::Status { .. })
            ));
        }
        // Open: refused at once, the model server is not asked.
        assert_eq!(first(&breaker).await, Err(LlmError::CircuitOpen));
        assert_eq!(*asked.lock().unwrap(), 3);
        assert_eq!(
            stats
                .circuit_opens
                .load(std::sync::atomic::Ordering::Relaxed),
            1
        );

        // After the cooldown one trial goes through; it fails, so the circuit opens again.
        tokio::time::sleep(Duration::from_millis(120)).await;
        assert!(matches!(
            first(&breaker).await,
            Err(LlmError::Status { .. })
        ));
        assert_eq!(first(&breaker).await, Err(LlmError::CircuitOpen));
        assert_eq!(*asked.lock().unwrap(), 4);

        // The server recovers: the next trial closes the circuit for good.
        *failing.lock().unwrap() = false;
        tokio::time::sleep(Duration::from_millis(120)).await;
        assert_eq!(first(&breaker).await, Ok("hello".into()));
        for _ in 0..5 {
            assert_eq!(first(&breaker).await, Ok("hello".into()));
        }
    }

    #[tokio::test]
    async fn a_success_resets_the_count() {
        let failing = Arc::new(Mutex::new(true));
        let flaky = Flaky {
            failing: failing.clone(),
            asked: Arc::default(),
        };
        let breaker = Breaker::new(Arc::new(flaky), 3, Duration::from_secs(60), Arc::default());
        for _ in 0..2 {
            assert!(first(&breaker).await.is_err());
        }
        *failing.lock().unwrap() = false;
        assert!(first(&breaker).await.is_ok());
        *failing.lock().unwrap() = true;
        for _ in 0..2 {
            assert!(matches!(
                first(&breaker).await,
                Err(LlmError::Status { .. })
            ));
        }
        assert!(
            matches!(first(&breaker).await, Err(LlmError::Status { .. })),
            "third in a row"
        );
        assert_eq!(first(&breaker).await, Err(LlmError::CircuitOpen));
    }
}
