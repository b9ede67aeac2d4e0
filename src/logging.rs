//! Log output: `tracing` events to stderr at the configured level, as text or as JSON lines
//! (`server.log_format`) for log collectors.
//!
//! Only sets up the subscriber. What is logged is decided where it happens; secrets and message
//! bodies are never logged at info. async-openai's own events are dropped: it logs what a model
//! server sent (answer text included) at error level, and every failure it reports reaches our
//! logs anyway, as an `LlmError` without content.

use std::io::IsTerminal;
use std::sync::OnceLock;

use tracing::level_filters::LevelFilter;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::reload;
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::{LogFormat, LogLevel};

/// Changes the level of the subscriber `init` installed (SIGHUP's config reload).
type SetLevel = Box<dyn Fn(Targets) -> Result<(), reload::Error> + Send + Sync>;

static SET_LEVEL: OnceLock<SetLevel> = OnceLock::new();

pub fn init(level: LogLevel, format: LogFormat) {
    // Everything reaches the filter below, which decides (and may be changed).
    let builder = tracing_subscriber::fmt()
        .with_max_level(LevelFilter::TRACE)
        .with_writer(std::io::stderr);
    // The level filter can be swapped later; its handle's type depends on the format's.
    let set: SetLevel = match format {
        LogFormat::Text => {
            let (filter, handle) = reload::Layer::new(targets(level));
            builder
                .with_ansi(std::io::stderr().is_terminal())
                .finish()
                .with(filter)
                .init();
            Box::new(move |targets| handle.reload(targets))
        }
        LogFormat::Json => {
            let (filter, handle) = reload::Layer::new(targets(level));
            builder
                .json()
                .with_current_span(false)
                .finish()
                .with(filter)
                .init();
            Box::new(move |targets| handle.reload(targets))
        }
    };
    let _ = SET_LEVEL.set(set);
}

/// Logs at `level` from now on; nothing when `init` did not run (tests).
pub fn set_level(level: LogLevel) {
    if let Some(set) = SET_LEVEL.get()
        && let Err(error) = set(targets(level))
    {
        tracing::warn!(%error, "the log level was not changed");
    }
}

fn targets(level: LogLevel) -> Targets {
    let level = match level {
        LogLevel::Error => LevelFilter::ERROR,
        LogLevel::Warn => LevelFilter::WARN,
        LogLevel::Info => LevelFilter::INFO,
        LogLevel::Debug => LevelFilter::DEBUG,
        LogLevel::Trace => LevelFilter::TRACE,
    };
    Targets::new()
        .with_default(level)
        .with_target("async_openai", LevelFilter::OFF)
}
