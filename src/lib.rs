//! The HelpYap server's edge: everything between a socket and the engine.
//!
//! It owns HTTP (hyper 1.x, HTTP/1.1 and h2c), routing, JSON in and out, per-IP rate limits,
//! CORS, the config file, the CLI and graceful shutdown. It never touches sled or an LLM: all
//! state lives in the `helpyap-actors` engine, reached through its `Engine` handles.
#![forbid(unsafe_code)]

pub mod admission;
pub mod auth;
pub mod backends;
pub mod cli;
pub mod client_ip;
pub mod config;
pub mod connection;
pub mod cors;
pub mod email;
pub mod error;
pub mod event_stream;
pub mod fanout;
pub mod idle;
pub mod json;
pub mod knowledge_dir;
pub mod knowledge_sync;
pub mod logging;
pub mod login_attempts;
pub mod metrics;
pub mod openapi;
pub mod preface;
pub mod rate_limit;
pub mod reload;
pub mod route;
pub mod router;
pub mod routes;
pub mod server;
pub mod timer;
pub mod tls;
pub mod tracker;
pub mod ui_stream;
pub mod views;
pub mod web_fetch;
