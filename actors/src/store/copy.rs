//! Moving an install from one store to another: every record of one written into another,
//! empty one, through the storage port alone — so it works between any two backends (a single
//! node's sled store and a cluster's PostgreSQL, either way).
//!
//! What moves: projects with their settings and push-secret hashes, the stored events with
//! their ids, the last id given out and the hourly counts, deliveries, documents,
//! conversations with every message, leads, users with their password hashes and roles,
//! invitations, API tokens (hashed; integrations keep working) and webhooks. What does not:
//! webhook deliveries still waiting and their logs, refresh tokens (admins sign in again after the move) and the
//! cluster's answer leases (nothing is being answered). It never deletes anything, and it
//! refuses a target that holds a project or a user.

use super::{Storage, StoreError};

/// What one copy moved.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CopySummary {
    pub projects: usize,
    pub events: usize,
    pub documents: usize,
    pub conversations: usize,
    pub messages: usize,
    pub leads: usize,
    pub users: usize,
    pub invitations: usize,
    pub api_tokens: usize,
    pub webhooks: usize,
}

impl std::fmt::Display for CopySummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} projects, {} events, {} documents, {} conversations ({} messages), {} leads, \
             {} users, {} invitations, {} API tokens, {} webhooks",
            self.projects,
            self.events,
            self.documents,
            self.conversations,
            self.messages,
            self.leads,
            self.users,
            self.invitations,
            self.api_tokens,
            self.webhooks
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error("the target store already holds projects or users: copy into an empty one")]
    TargetNotEmpty,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Writes every record of `from` into `to`, which must be empty, and flushes it.
pub async fn copy(from: &dyn Storage, to: &dyn Storage) -> Result<CopySummary, CopyError> {
    if !to.project_slugs().await?.is_empty() || !to.users().await?.is_empty() {
        return Err(CopyError::TargetNotEmpty);
    }
    let mut summary = CopySummary::default();
    for user in from.users().await? {
        to.put_user(&user).await?;
        summary.users += 1;
    }
    for slug in from.project_slugs().await? {
        let Some(project) = from.project(&slug).await? else {
            continue; // deleted meanwhile
        };
        to.put_project(&project, None).await?;
        summary.projects += 1;

        let documents = from.documents(&slug).await?;
        to.replace_documents(&slug, &documents).await?;
        summary.documents += documents.len();

        let events = from.events_after(&slug, 0).await?;
        let counts = from.event_counts_by_hour(&slug, 0).await?;
        let last_id = from.last_event_id(&slug).await?;
        to.import_events(&slug, &events, last_id, &counts).await?;
        summary.events += events.len();
        for (hour, delivered) in from.deliveries_by_hour(&slug, 0).await? {
            to.add_deliveries(&slug, hour, delivered).await?;
        }
        for (hour, counts) in from.popup_counts_by_hour(&slug, 0).await? {
            to.add_popup_counts(&slug, hour, &counts).await?;
        }
        for (hour, counts) in from.proactive_counts_by_hour(&slug, 0).await? {
            to.add_proactive_counts(&slug, hour, &counts).await?;
        }

        for session in from.project_sessions(&slug, None, usize::MAX).await? {
            to.put_session(&session).await?;
            for message in from.messages(session.id).await? {
                to.append_message(session.id, &message).await?;
                summary.messages += 1;
            }
            summary.conversations += 1;
        }
        for lead in from.leads(&slug).await? {
            to.put_lead(&slug, &lead).await?;
            summary.leads += 1;
        }
        for invitation in from.project_invitations(&slug).await? {
            to.put_invitation(&invitation).await?;
            summary.invitations += 1;
        }
        for token in from.project_api_tokens(&slug).await? {
            to.put_api_token(&token).await?;
            summary.api_tokens += 1;
        }
        for webhook in from.webhooks(&slug).await? {
            to.put_webhook(&webhook).await?;
            summary.webhooks += 1;
        }
    }
    to.flush().await?;
    Ok(summary)
}
