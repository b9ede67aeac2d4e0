//! The durable records: what the storage port reads and writes, in one module that both the
//! store and the actors depend on (the engine's modules form a DAG: records → storage → actors
//! → handles).
//!
//! Records are plain data with serde derives. They carry no behaviour beyond what a record
//! says about itself; validation and decisions live in the actors that own them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::identity::IdentitySecret;
use crate::integrations::Integrations;
use crate::language::Lang;
use crate::secret::SecretHash;
use crate::widget::{InvalidSetting, WidgetSettings};

pub use crate::chat::{MessageRecord, SessionRecord};
pub use crate::knowledge::Document;
pub use crate::lead::LeadRecord;
pub use crate::social_proof::{EventCounts, EventKind, SocialProofEvent};

/// Longest owner instructions, in characters.
pub const INSTRUCTIONS_MAX_CHARS: usize = 2000;

/// How a project's assistant answers. Not public: the widget config never shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct AssistantSettings {
    /// The languages its documents are in and questions are searched in; the first is the
    /// main one (answers in other languages fall back to it).
    #[schema(min_items = 1, max_items = 7)]
    pub languages: Vec<Lang>,
    /// Tone, do's and don'ts, escalation rules: added to a model's instructions after the
    /// fixed grounding rules, which they cannot lift. The extractive provider has no use for
    /// them.
    #[schema(max_length = 2000)]
    pub instructions: String,
}

impl Default for AssistantSettings {
    fn default() -> Self {
        AssistantSettings {
            languages: vec![Lang::En],
            instructions: String::new(),
        }
    }
}

impl AssistantSettings {
    pub fn validate(&self) -> Result<(), InvalidSetting> {
        let invalid = |field, reason: &str| InvalidSetting {
            field,
            reason: reason.to_owned(),
        };
        if self.languages.is_empty() {
            return Err(invalid("assistant.languages", "name at least one language"));
        }
        let mut seen = self.languages.clone();
        seen.sort();
        seen.dedup();
        if seen.len() != self.languages.len() {
            return Err(invalid("assistant.languages", "names a language twice"));
        }
        if self.instructions.chars().count() > INSTRUCTIONS_MAX_CHARS {
            return Err(invalid("assistant.instructions", "at most 2000 characters"));
        }
        Ok(())
    }
}

/// One hour in milliseconds: the bucket of hourly counts.
pub const HOUR_MS: u64 = 3_600_000;

/// A project as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProjectRecord {
    pub slug: String,
    pub widget: WidgetSettings,
    /// `None` until a push secret is set; every push is refused until then.
    pub push_secret_hash: Option<SecretHash>,
    /// Sites whose pages may use the widget endpoints (`https://shop.example`); empty: any.
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    /// Conversations older than this many days are erased automatically; `None` keeps them.
    #[serde(default)]
    pub retention_days: Option<u32>,
    /// Digest of the config-file seed last applied; the same seed is not applied again, so
    /// changes made in the dashboard survive restarts until the operator edits the seed.
    #[serde(default)]
    pub seed_digest: Option<String>,
    /// Changes whenever the knowledge base does, so other nodes know to rebuild their index.
    #[serde(default)]
    pub knowledge_revision: Uuid,
    /// How the assistant answers: languages and the owner's instructions. Records stored
    /// before it existed answer in English with none.
    #[serde(default)]
    pub assistant: AssistantSettings,
    /// Stripe and Shopify webhooks this project takes events from, with their signing secrets.
    #[serde(default)]
    pub integrations: Integrations,
    /// The secret visitors' `userHash`es are made with; `None`: identities are not verified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_secret: Option<IdentitySecret>,
    pub created_at_ms: u64,
    pub updated_at_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = MemberRole)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything on the project.
    Owner,
    /// Conversations and hand-offs; no settings or secrets.
    Agent,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserRecord {
    pub id: Uuid,
    /// Lowercased; the login name.
    pub email: String,
    /// argon2id, PHC string format.
    pub password_hash: String,
    /// Owner of every project, including new ones: the instance's operator.
    pub admin: bool,
    /// Roles per project slug.
    pub roles: BTreeMap<String, Role>,
    pub created_at_ms: u64,
    #[serde(default)]
    pub profile: Profile,
}

/// A long-lived token for a server integration, scoped to one project and a role. The token
/// itself (`hy_…`) is shown once, when made; only its SHA-256 is kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiTokenRecord {
    pub id: Uuid,
    pub project: String,
    /// What it is for, as its maker named it ("CRM sync").
    pub name: String,
    pub role: Role,
    pub token_hash: SecretHash,
    /// The email of the member who made it.
    pub created_by: String,
    pub created_at_ms: u64,
    /// When it was last used, to the minute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used_ms: Option<u64>,
}

/// What a user tells about themselves: how visitors see their replies.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    /// The name visitors see on the user's replies; until set, the project's team name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// An http(s) picture shown beside the user's replies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub avatar_url: Option<String>,
    /// Opted in to email about their projects: a visitor leaving their contact for the team.
    #[serde(default)]
    pub notify_email: bool,
}

/// A password reset link given out: whose, and until when. Kept under the SHA-256 of its
/// token, and taken (removed) when used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PasswordReset {
    pub user_id: Uuid,
    pub expires_at_ms: u64,
}

impl UserRecord {
    /// Who an API token acts as: a member of its one project with its role, never an admin,
    /// with no password, whose "email" names the token (it shows as the author of its replies).
    pub fn acting_for(token: &ApiTokenRecord) -> UserRecord {
        UserRecord {
            id: token.id,
            email: format!("{} (API token)", token.name),
            password_hash: String::new(),
            admin: false,
            roles: BTreeMap::from([(token.project.clone(), token.role)]),
            created_at_ms: token.created_at_ms,
            profile: Profile {
                display_name: Some(token.name.clone()),
                avatar_url: None,
                notify_email: false,
            },
        }
    }

    /// The user's role on project `slug`: admins own every project.
    pub fn role_on(&self, slug: &str) -> Option<Role> {
        if self.admin {
            Some(Role::Owner)
        } else {
            self.roles.get(slug).copied()
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RefreshRecord {
    pub user_id: Uuid,
    pub family: Uuid,
    pub expires_at_ms: u64,
    /// Set when it was exchanged for a new token; presenting it again is reuse.
    pub used: bool,
}

/// A role on a project offered to whoever signs in with `email`, until they accept or decline
/// it, the project's owners withdraw it, or the project is deleted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Invitation {
    pub project: String,
    /// Normalized, as a login name.
    pub email: String,
    pub role: Role,
    pub invited_by: Uuid,
    pub created_at_ms: u64,
    /// A link emailed to someone with no account: it sets their password and accepts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub join: Option<JoinLink>,
}

/// The emailed link of an invitation: the SHA-256 of its token, and until when it works.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JoinLink {
    pub token_hash: SecretHash,
    pub expires_at_ms: u64,
}
