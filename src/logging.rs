//! Log output: `tracing` events to stderr at the configured level.
//!
//! Only sets up the subscriber. What is logged is decided where it happens; secrets and message
//! bodies are never logged at info.

use std::io::IsTerminal;

use tracing::Level;

use crate::config::LogLevel;

pub fn init(level: LogLevel) {
    let level = match level {
        LogLevel::Error => Level::ERROR,
        LogLevel::Warn => Level::WARN,
        LogLevel::Info => Level::INFO,
        LogLevel::Debug => Level::DEBUG,
        LogLevel::Trace => Level::TRACE,
    };
    tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}
