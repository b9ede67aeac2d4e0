//! [`Reports`]: figures read from the store and the running engine — event counts and
//! deliveries, live actors and visitors, model counters, the store's size and backups.

use std::sync::Arc;

use crate::project::{COUNTS_KEPT_HOURS, ProjectError};
use crate::records::{HOUR_MS, now_ms};
use crate::social_proof::EventCounts;
use crate::store::StoreError;

use super::Core;

#[derive(Clone)]
pub struct Reports {
    pub(super) core: Arc<Core>,
}

impl Reports {
    /// Events of `slug` handed to live visitors, per hour since `from_hour`.
    pub async fn deliveries_by_hour(
        &self,
        slug: &str,
        from_hour: u64,
    ) -> Result<Vec<(u64, u64)>, ProjectError> {
        Ok(self.core.store.deliveries_by_hour(slug, from_hour).await?)
    }

    /// How many events of each type `slug` got in the last `hours` hours (the current hour
    /// counting as one), at most [`COUNTS_KEPT_HOURS`].
    pub async fn event_counts(&self, slug: &str, hours: u64) -> Result<EventCounts, ProjectError> {
        self.core.snapshot(slug).await?;
        let hours = hours.clamp(1, COUNTS_KEPT_HOURS);
        let now_hour = now_ms() / HOUR_MS;
        Ok(self
            .core
            .store
            .event_counts(slug, now_hour + 1 - hours)
            .await?)
    }

    /// Pushed events of `slug` per hour since `from_hour`.
    pub async fn event_counts_by_hour(
        &self,
        slug: &str,
        from_hour: u64,
    ) -> Result<Vec<(u64, EventCounts)>, ProjectError> {
        Ok(self
            .core
            .store
            .event_counts_by_hour(slug, from_hour)
            .await?)
    }

    /// Counters of the model side, for health and metrics.
    pub fn llm_stats(&self) -> &crate::llm::LlmStats {
        &self.core.chat.stats
    }

    /// The number of session actors alive now.
    pub fn live_sessions(&self) -> usize {
        self.core.sessions.len()
    }

    /// Visitors subscribed to live popups, over all projects.
    pub fn live_subscribers_total(&self) -> usize {
        self.core
            .all_subscribers
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Writes a backup of the whole store to `out` while the server runs (blocking: call it off
    /// the async threads).
    pub fn backup_to(
        &self,
        out: &mut impl std::io::Write,
    ) -> Result<crate::store::backup::BackupSummary, crate::store::backup::BackupError> {
        self.core.store.backup_to(out)
    }

    /// The store's size on disk, in bytes.
    pub async fn store_size(&self) -> Result<u64, StoreError> {
        self.core.store.size_on_disk().await
    }

    /// The number of project actors alive now.
    pub fn live_projects(&self) -> usize {
        self.core.actors.len()
    }
}
