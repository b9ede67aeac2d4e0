//! [`Projects`]: a project's settings, knowledge base, social-proof events and live
//! visitors. Writes go to the project's actor; pushes are checked against its secret here.

use std::sync::Arc;
use std::time::Duration;

use uuid::Uuid;

use crate::feed::{Replay, Subscription};
use crate::identity::IdentitySecret;
use crate::integrations::{Integration, Platform};
use crate::knowledge::Document;
use crate::proactive::ProactiveReport;
use crate::project::{
    DocumentEdit, PopupReport, ProjectError, ProjectMessage, ProjectSettings, ProjectSnapshot,
    validate_slug,
};
use crate::records::ProjectRecord;
use crate::secret::{SecretHash, new_token};
use crate::social_proof::{NewEvent, PushFields, SocialProofEvent};
use crate::store::StoreError;
use crate::supervisor::SupervisorMessage;
use crate::time::now_ms;

use super::{Core, call_actor, call_value};

#[derive(Clone)]
pub struct Projects {
    pub(super) core: Arc<Core>,
}

impl Projects {
    /// The latest snapshot of `slug`, starting its actor if needed.
    pub async fn snapshot(&self, slug: &str) -> Result<Arc<ProjectSnapshot>, ProjectError> {
        self.core.snapshot(slug).await
    }

    /// Authenticates a push with the project's secret, validates it and stores it durably.
    /// Returns the new event's id.
    pub async fn push(
        &self,
        slug: &str,
        secret: &str,
        fields: PushFields,
    ) -> Result<u64, ProjectError> {
        let snapshot = self.core.snapshot(slug).await?;
        let secret_ok = snapshot
            .push_secret_hash
            .as_ref()
            .is_some_and(|hash| hash.matches(secret));
        if !secret_ok {
            let owner = self
                .core
                .store
                .project_for_secret(&SecretHash::of(secret))
                .await?;
            return Err(match owner {
                Some(other) if other != slug => ProjectError::ForeignSecret,
                _ => ProjectError::InvalidSecret,
            });
        }
        let event = NewEvent::validate(fields)?;
        let actor = self.core.actor(slug).await?;
        call_actor(
            &actor,
            |reply| ProjectMessage::Push(event, reply),
            ProjectError::Unavailable,
        )
        .await
    }

    /// Applies a config-file seed unless this very seed was applied before (its digest is in
    /// `settings.seed_digest`): then the project keeps what was changed since, e.g. in the
    /// dashboard. Returns whether it applied the seed.
    pub async fn seed(&self, slug: &str, settings: ProjectSettings) -> Result<bool, ProjectError> {
        let unchanged = self.core.store.project(slug).await?.is_some_and(|record| {
            record.seed_digest.is_some() && record.seed_digest == settings.seed_digest
        });
        if unchanged {
            return Ok(false);
        }
        self.configure(slug, settings).await?;
        Ok(true)
    }

    /// Creates the project if it does not exist, then applies `settings` to it.
    pub async fn configure(
        &self,
        slug: &str,
        settings: ProjectSettings,
    ) -> Result<(), ProjectError> {
        validate_slug(slug)?;
        settings.widget.validate()?;
        if self.core.store.project(slug).await?.is_none() {
            // A new project starts with no members, whatever a request that raced the deletion
            // of an earlier project of this slug managed to grant or offer.
            self.core.forget_members(slug).await?;
            let now = now_ms();
            let record = ProjectRecord {
                slug: slug.to_owned(),
                widget: settings.widget.clone(),
                push_secret_hash: None,
                allowed_origins: Vec::new(),
                seed_digest: None,
                knowledge_revision: Uuid::nil(),
                retention_days: None,
                assistant: settings.assistant.clone(),
                integrations: Default::default(),
                identity_secret: None,
                created_at_ms: now,
                updated_at_ms: now,
            };
            let create = |reply| SupervisorMessage::Create(Box::new(record), reply);
            call_actor(&self.core.supervisor, create, ProjectError::Unavailable).await?;
        }
        let actor = self.core.actor(slug).await?;
        call_actor(
            &actor,
            |reply| ProjectMessage::Configure(Box::new(settings), reply),
            ProjectError::Unavailable,
        )
        .await
    }

    /// Stored events of `slug` with ids above `after`, oldest first (at most `retain_events`).
    pub async fn events_after(
        &self,
        slug: &str,
        after: u64,
    ) -> Result<Vec<SocialProofEvent>, ProjectError> {
        if self.core.store.project(slug).await?.is_none() {
            return Err(ProjectError::NotFound);
        }
        Ok(self.core.store.events_after(slug, after).await?)
    }

    /// Every stored project, in slug order.
    pub async fn list(&self) -> Result<Vec<ProjectRecord>, ProjectError> {
        self.core.project_records().await
    }

    /// Creates a project; `Exists` when the slug is taken.
    pub async fn create(&self, slug: &str, settings: ProjectSettings) -> Result<(), ProjectError> {
        validate_slug(slug)?;
        if self.core.store.project(slug).await?.is_some() {
            return Err(ProjectError::Exists);
        }
        self.configure(slug, settings).await
    }

    /// Subscribes a live visitor of `slug`: the events after `since`, then every new one.
    pub async fn subscribe(
        &self,
        slug: &str,
        since: Option<u64>,
        page: Option<String>,
    ) -> Result<Subscription, ProjectError> {
        let actor = self.core.actor(slug).await?;
        call_actor(
            &actor,
            |reply| ProjectMessage::Subscribe(since, page, reply),
            ProjectError::Unavailable,
        )
        .await
    }

    /// Live visitors of `slug` on `page` now, on every node (this node's alone when the
    /// others cannot be asked).
    pub async fn viewers(&self, slug: &str, page: &str) -> Result<usize, ProjectError> {
        let snapshot = self.core.snapshot(slug).await?;
        let here = snapshot.viewers.on(page);
        match self.core.nodes.fan_out.other_viewers(slug, page).await {
            Ok(elsewhere) => Ok(here + elsewhere),
            Err(error) => {
                tracing::warn!(project = %slug, %error, "viewers on other nodes unknown");
                Ok(here)
            }
        }
    }

    /// How many live visitors of `slug` are subscribed to its popups right now.
    pub async fn live_subscribers(&self, slug: &str) -> Result<usize, ProjectError> {
        let actor = self.core.actor(slug).await?;
        call_value(
            &actor,
            ProjectMessage::Subscribers,
            ProjectError::Unavailable,
        )
        .await
    }

    /// The events of `slug` after `since`, for polling.
    pub async fn replay(&self, slug: &str, since: Option<u64>) -> Result<Replay, ProjectError> {
        let actor = self.core.actor(slug).await?;
        let replay = |reply| ProjectMessage::Replay(since, reply);
        call_value(&actor, replay, ProjectError::Unavailable).await
    }

    /// A project's documents, in id order.
    pub async fn documents(&self, slug: &str) -> Result<Vec<Document>, ProjectError> {
        self.core.snapshot(slug).await?;
        Ok(self.core.store.documents(slug).await?)
    }

    /// Adds, replaces or deletes one document; answers use the change as soon as this returns.
    /// `false` when a deleted document did not exist.
    pub async fn edit_document(
        &self,
        slug: &str,
        edit: DocumentEdit,
    ) -> Result<bool, ProjectError> {
        let actor = self.core.actor(slug).await?;
        call_actor(
            &actor,
            |reply| ProjectMessage::EditDocument(edit, reply),
            ProjectError::Unavailable,
        )
        .await
    }

    /// Replaces a project's knowledge base; answers use it as soon as this returns.
    pub async fn set_documents(
        &self,
        slug: &str,
        documents: Vec<Document>,
    ) -> Result<(), ProjectError> {
        let actor = self.core.actor(slug).await?;
        call_actor(
            &actor,
            |reply| ProjectMessage::SetDocuments(documents, reply),
            ProjectError::Unavailable,
        )
        .await
    }

    /// Deletes project `slug` with all its data. Its actor and its live sessions are stopped
    /// first, so nothing writes to it meanwhile; later requests for it get `NotFound`.
    pub async fn delete(&self, slug: &str) -> Result<(), ProjectError> {
        let record = self
            .core
            .store
            .project(slug)
            .await?
            .ok_or(ProjectError::NotFound)?;
        let grace = Some(Duration::from_secs(5));
        for session in self
            .core
            .store
            .project_sessions(slug, None, usize::MAX)
            .await?
        {
            if let Some((_, actor)) = self.core.sessions.remove(&session.id) {
                let _ = actor
                    .stop_and_wait(Some("project deleted".into()), grace)
                    .await;
            }
        }
        if let Some((_, actor)) = self.core.actors.remove(slug) {
            let _ = actor
                .stop_and_wait(Some("project deleted".into()), grace)
                .await;
        }
        self.core.board.remove(slug);
        // Roles and invitations first: should the rest fail, nobody keeps a role on the slug
        // that a project created under it later would hand them.
        self.core.forget_members(slug).await?;
        self.core.store.delete_project(&record).await?;
        self.core.store.flush().await?;
        if let Err(error) = self.core.nodes.fan_out.announce_change(slug).await {
            // The other nodes find the project gone at their next check.
            tracing::warn!(project = %slug, %error, "deletion not announced");
        }
        Ok(())
    }

    /// Makes a project actor panic, to exercise supervision.
    #[cfg(feature = "fault-injection")]
    pub async fn crash_project(&self, slug: &str) -> Result<(), ProjectError> {
        let actor = self.core.actor(slug).await?;
        actor
            .send_message(ProjectMessage::Panic)
            .map_err(|_| ProjectError::Unavailable)
    }

    /// Hands a visit's report of popups shown and clicked to the project, to be counted.
    pub async fn report_popups(&self, slug: &str, report: PopupReport) -> Result<(), ProjectError> {
        let actor = self.core.actor(slug).await?;
        actor
            .send_message(ProjectMessage::Popups(report))
            .map_err(|_| ProjectError::Unavailable)
    }

    /// Hands a visit's report of a proactive message to the project, to be counted.
    pub async fn report_proactive(
        &self,
        slug: &str,
        report: ProactiveReport,
    ) -> Result<(), ProjectError> {
        let actor = self.core.actor(slug).await?;
        actor
            .send_message(ProjectMessage::Proactive(report))
            .map_err(|_| ProjectError::Unavailable)
    }

    /// Connects `platform`'s webhooks to the project with their signing `secret`, or
    /// disconnects them (`None`).
    pub async fn set_integration(
        &self,
        slug: &str,
        platform: Platform,
        secret: Option<String>,
    ) -> Result<(), ProjectError> {
        let actor = self.core.actor(slug).await?;
        let integration = secret.map(|secret| Integration {
            secret,
            connected_at_ms: now_ms(),
        });
        let set = |reply| ProjectMessage::SetIntegration(platform, integration, reply);
        call_actor(&actor, set, ProjectError::Unavailable).await
    }

    /// Makes a new identity secret for the project and returns it; the previous one stops
    /// vouching at once.
    pub async fn rotate_identity_secret(&self, slug: &str) -> Result<IdentitySecret, ProjectError> {
        let actor = self.core.actor(slug).await?;
        let secret = IdentitySecret::generate(now_ms());
        let made = secret.clone();
        let set = |reply| ProjectMessage::SetIdentitySecret(Some(secret), reply);
        call_actor(&actor, set, ProjectError::Unavailable).await?;
        Ok(made)
    }

    /// Stops verifying identities: visitors' identities are kept as unverified from now on.
    pub async fn remove_identity_secret(&self, slug: &str) -> Result<(), ProjectError> {
        let actor = self.core.actor(slug).await?;
        let set = |reply| ProjectMessage::SetIdentitySecret(None, reply);
        call_actor(&actor, set, ProjectError::Unavailable).await
    }

    /// Stores an event a connected platform sent (its signature checked by the caller), once
    /// per `source`: `Ok(None)` when that source was stored before.
    pub async fn capture(&self, slug: &str, event: NewEvent) -> Result<Option<u64>, ProjectError> {
        let actor = self.core.actor(slug).await?;
        let stored = call_actor(
            &actor,
            |reply| ProjectMessage::Push(event, reply),
            ProjectError::Unavailable,
        )
        .await;
        match stored {
            Ok(id) => Ok(Some(id)),
            Err(ProjectError::Store(StoreError::AlreadyStored)) => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// Gives the project a new push secret and returns it: the only time it exists in plain
    /// text here. The previous secret stops working at once.
    pub async fn rotate_push_secret(&self, slug: &str) -> Result<String, ProjectError> {
        let actor = self.core.actor(slug).await?;
        let secret = new_token("sp");
        let hash = SecretHash::of(&secret);
        let set = |reply| ProjectMessage::SetPushSecret(hash, reply);
        call_actor(&actor, set, ProjectError::Unavailable).await?;
        Ok(secret)
    }
}
