//! Log output: `tracing` events to stderr at the configured level, as text or as JSON lines
//! (`server.log_format`) for log collectors.
//!
//! Only sets up the subscriber. What is logged is decided where it happens; secrets and message
//! bodies are never logged at info.

use std::io::IsTerminal;

use tracing::Level;

use crate::config::{LogFormat, LogLevel};

pub fn init(level: LogLevel, format: LogFormat) {
    let level = match level {
        LogLevel::Error => Level::ERROR,
        LogLevel::Warn => Level::WARN,
        LogLevel::Info => Level::INFO,
        LogLevel::Debug => Level::DEBUG,
        LogLevel::Trace => Level::TRACE,
    };
    let builder = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).init(),
        LogFormat::Json => builder.json().with_current_span(false).init(),
    }
}
