//! Log output: `tracing` events to stderr at the configured level, as text or as JSON lines
//! (`server.log_format`) for log collectors.
//!
//! Only sets up the subscriber. What is logged is decided where it happens; secrets and message
//! bodies are never logged at info. async-openai's own events are dropped: it logs what a model
//! server sent (answer text included) at error level, and every failure it reports reaches our
//! logs anyway, as an `LlmError` without content.

use std::io::IsTerminal;

use tracing::level_filters::LevelFilter;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::{LogFormat, LogLevel};

pub fn init(level: LogLevel, format: LogFormat) {
    let level = match level {
        LogLevel::Error => LevelFilter::ERROR,
        LogLevel::Warn => LevelFilter::WARN,
        LogLevel::Info => LevelFilter::INFO,
        LogLevel::Debug => LevelFilter::DEBUG,
        LogLevel::Trace => LevelFilter::TRACE,
    };
    let filter = Targets::new()
        .with_default(level)
        .with_target("async_openai", LevelFilter::OFF);
    let builder = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder
            .with_ansi(std::io::stderr().is_terminal())
            .finish()
            .with(filter)
            .init(),
        LogFormat::Json => builder
            .json()
            .with_current_span(false)
            .finish()
            .with(filter)
            .init(),
    }
}
