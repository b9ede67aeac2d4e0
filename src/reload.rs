//! SIGHUP: the TLS certificate and the config file read again, and what can change live
//! applied to new requests — rate limits, the seeded projects (their widget settings,
//! social-proof rules, push secrets and knowledge_dir documents) and the log level — while
//! open WebSockets, SSE streams and chat answers carry on.
//!
//! Everything else in the file (bind address, store, cluster, llm, chat, caps…) is applied only
//! at restart: a reload that changes it says so and leaves it as it was. A file that does not
//! parse or holds a bad value changes nothing: one error is logged and counted in `/metrics`.
//! This module never reads the file except when told to, and never touches a running stream.

use std::sync::Arc;

use crate::config::Config;
use crate::logging;
use crate::router::AppState;
use crate::server::apply_seeds;
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
    let mut applied = running.clone();
    applied.rate_limits = read.rate_limits.clone();
    applied.projects = read.projects.clone();
    applied.server.log_level = read.server.log_level;
    apply_seeds(&state.engine, &applied).await?;
    state.limiter.set_limits(&applied.rate_limits);
    logging::set_level(applied.server.log_level);

    let mut later = read;
    later.rate_limits = applied.rate_limits.clone();
    later.projects = applied.projects.clone();
    later.server.log_level = applied.server.log_level;
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

/// The sections of `read` that differ from `running` and only apply at restart.
fn restart_only_changes(running: &Config, read: &Config) -> Vec<&'static str> {
    let sections = [
        ("server", running.server != read.server),
        ("store", running.store != read.store),
        ("cluster", running.cluster != read.cluster),
        ("llm", running.llm != read.llm),
        ("chat", running.chat != read.chat),
        ("knowledge", running.knowledge != read.knowledge),
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
    fn only_sections_that_apply_at_restart_are_reported() {
        let running = Config::default();
        let mut read = running.clone();
        read.server.bind = "127.0.0.1:3999".parse().unwrap();
        read.llm.model = "another-model".into();
        assert_eq!(restart_only_changes(&running, &read), ["server", "llm"]);
        assert!(restart_only_changes(&running, &running).is_empty());
    }
}
