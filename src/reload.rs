//! SIGHUP: the TLS certificate and the config file read again, and what can change live
//! applied to new requests — rate limits, the seeded projects (their widget settings,
//! social-proof rules, push secrets and knowledge_dir documents), the `[llm]` settings and
//! `chat.history_messages`, the log level, and the caps on connections, streams, request
//! bodies, messages per chat request and popup subscribers — while open WebSockets, SSE streams
//! and chat answers carry on (an answer under way finishes with the model it started with).
//!
//! Everything else in the file (bind address, timeouts, store, cluster, auth…) is applied only
//! at restart: a reload that changes it says so and leaves it as it was. A file that does not
//! parse or holds a bad value changes nothing: one error is logged and counted in `/metrics`.
//! This module never reads the file except when told to, and never touches a running stream.

use std::sync::Arc;

use helpyap_actors::Models;

use crate::config::Config;
use crate::logging;
use crate::router::AppState;
use crate::server::{self, apply_seeds};
use crate::tls::Tls;

/// Reloads on every SIGHUP until the server stops; `running` is the config it started with.
pub async fn on_hangup(state: Arc<AppState>, tls: Option<Arc<Tls>>, mut running: Config) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut hangups) = signal(SignalKind::hangup()) else {
            tracing::warn!("cannot listen for SIGHUP: nothing is reloaded");
            return;
        };
        while hangups.recv().await.is_some() {
            if let Some(tls) = &tls {
                match tls.reload() {
                    Ok(()) => tracing::info!("SIGHUP: TLS certificate reloaded"),
                    Err(error) => tracing::error!(
                        error = format!("{error:#}"),
                        "SIGHUP: TLS certificate not reloaded; keeping the running one"
                    ),
                }
            }
            match reload(&state, &running).await {
                Ok(Some(applied)) => {
                    state.metrics.config_reload(true);
                    running = applied;
                }
                Ok(None) => {}
                Err(error) => {
                    state.metrics.config_reload(false);
                    tracing::error!(
                        error = format!("{error:#}"),
                        "SIGHUP: config not reloaded; keeping the running one"
                    );
                }
            }
        }
    }
    #[cfg(not(unix))]
    let _ = (state, tls, running);
}

/// Reads the file `running` came from and applies what may change live; the config now in
/// force, or `None` when there is no file to read (the embedded defaults).
async fn reload(state: &AppState, running: &Config) -> anyhow::Result<Option<Config>> {
    let Some(file) = running.file() else {
        tracing::info!("SIGHUP: running on the embedded defaults; no config file to reload");
        return Ok(None);
    };
    let read = Config::read(Some(file), &running.overrides)?;
    if let Some(problem) = read.problems().into_iter().next() {
        anyhow::bail!("{}: {problem}", read.origin);
    }
    // What applies live comes from the file; everything else stays as it runs.
    let applied = live_part(running, &read);
    // A new model client only when `[llm]` changed: a new one starts with an empty stream cap
    // and a closed circuit breaker, which a certificate renewal must not reset.
    let models = if applied.llm != running.llm {
        Some(server::models(&applied, &state.engine.llm_stats())?)
    } else if applied.chat.history_messages != running.chat.history_messages {
        let current = state.engine.models();
        Some(Models {
            provider: current.provider.clone(),
            fallback: current.fallback.clone(),
            history_messages: applied.chat.history_messages,
        })
    } else {
        None
    };
    apply_seeds(&state.engine, &applied).await?;
    if let Some(models) = models {
        state.engine.replace_models(models);
    }
    state.limiter.set_limits(&applied.rate_limits);
    logging::set_level(applied.server.log_level);
    let (server, social_proof) = (&applied.server, &applied.social_proof);
    state.connections.set(
        server::max_connections(server.max_connections),
        server.max_connections_per_ip,
    );
    state.streams.set_max_per_address(server.max_streams_per_ip);
    state
        .request_limits
        .set(server.max_body_bytes, applied.chat.max_messages);
    state.subscriber_caps.set(
        social_proof.max_subscribers_per_project,
        social_proof.max_subscribers,
    );

    let later = live_part(&read, &applied);
    let waiting = restart_only_changes(&applied, &later);
    if waiting.is_empty() {
        tracing::info!("SIGHUP: config reloaded");
    } else {
        tracing::warn!(
            sections = waiting.join(", "),
            "SIGHUP: config reloaded; these changes apply only at restart and were left as they run"
        );
    }
    Ok(Some(applied))
}

/// `base` with the settings that apply live taken from `from`: rate limits, projects, llm,
/// log level, and the caps on connections, streams, bodies, messages per chat request and popup
/// subscribers.
fn live_part(base: &Config, from: &Config) -> Config {
    let mut config = base.clone();
    config.rate_limits = from.rate_limits.clone();
    config.projects = from.projects.clone();
    config.llm = from.llm.clone();
    config.chat.history_messages = from.chat.history_messages;
    config.chat.max_messages = from.chat.max_messages;
    let (server, from_server) = (&mut config.server, &from.server);
    server.log_level = from_server.log_level;
    server.max_connections = from_server.max_connections;
    server.max_connections_per_ip = from_server.max_connections_per_ip;
    server.max_streams_per_ip = from_server.max_streams_per_ip;
    server.max_body_bytes = from_server.max_body_bytes;
    let (social_proof, from_social_proof) = (&mut config.social_proof, &from.social_proof);
    social_proof.max_subscribers_per_project = from_social_proof.max_subscribers_per_project;
    social_proof.max_subscribers = from_social_proof.max_subscribers;
    config
}

/// The sections of `read` that differ from `running` and only apply at restart.
fn restart_only_changes(running: &Config, read: &Config) -> Vec<&'static str> {
    let sections = [
        ("server", running.server != read.server),
        ("store", running.store != read.store),
        ("cluster", running.cluster != read.cluster),
        ("llm", running.llm != read.llm),
        ("chat", running.chat != read.chat),
        ("knowledge", running.knowledge != read.knowledge),
        ("webhooks", running.webhooks != read.webhooks),
        ("email", running.email != read.email),
        ("metrics", running.metrics != read.metrics),
        ("social_proof", running.social_proof != read.social_proof),
        ("auth", running.auth != read.auth),
    ];
    sections
        .into_iter()
        .filter(|(_, changed)| *changed)
        .map(|(name, _)| name)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_settings_are_taken_and_the_rest_is_reported() {
        let running = Config::default();
        let mut read = running.clone();
        read.server.bind = "127.0.0.1:3999".parse().unwrap();
        read.store.cache_bytes += 1;
        read.llm.model = "another-model".into();
        read.server.max_body_bytes = 2048;
        read.social_proof.max_subscribers = 7;
        let applied = live_part(&running, &read);
        assert_eq!(applied.llm.model, "another-model");
        assert_eq!(applied.server.max_body_bytes, 2048);
        assert_eq!(applied.social_proof.max_subscribers, 7);
        assert_eq!(applied.server.bind, running.server.bind);
        let later = live_part(&read, &applied);
        assert_eq!(restart_only_changes(&applied, &later), ["server", "store"]);
        assert!(restart_only_changes(&applied, &applied).is_empty());
    }
}
