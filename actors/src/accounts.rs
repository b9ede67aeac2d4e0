//! Admin accounts: users with argon2id password hashes, and rotating refresh tokens.
//!
//! The `Accounts` actor is the single writer of users, their roles and profiles, invitations,
//! refresh tokens and API tokens. A role on a project comes from an admin directly or from an invitation the user
//! accepted after signing in; deleting a project takes every role and invitation on it away.
//! A refresh token is
//! used once: refreshing returns a new one of the same family, and presenting a token that was
//! already used revokes its whole family (someone replayed a stolen token). Tokens and passwords
//! exist in plain text only in requests; the store keeps SHA-256 hashes of tokens and argon2id
//! hashes of passwords. Access tokens (JWT) are the edge's: this module never sees them.
//!
//! Password hashing is slow on purpose: callers run it on a blocking thread, never in an actor.

use std::collections::BTreeMap;

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use uuid::Uuid;

use crate::error::{ErrorKind, Failure};
use crate::records::{
    ApiTokenRecord, Invitation, PasswordReset, Profile, RefreshRecord, Role, UserRecord,
};
use crate::secret::SecretHash;
use crate::store::{Store, StoreError};
use crate::time::now_ms;

pub const PASSWORD_MIN_CHARS: usize = 10;
/// Invitations waiting for an answer, per project.
pub const MAX_PENDING_INVITATIONS: usize = 100;
pub const PASSWORD_MAX_CHARS: usize = 256;
/// API tokens per project.
pub const MAX_API_TOKENS: usize = 50;
/// The longest API token name.
pub const API_TOKEN_NAME_MAX_CHARS: usize = 60;
/// How often a token's last use is written down, at most.
pub(crate) const TOKEN_USE_RESOLUTION_MS: u64 = 60_000;

/// A refresh token just given out, and the family (the sign-in) it belongs to: access tokens
/// minted with it carry the family, so ending the sign-in ends them too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshGrant {
    pub token: String,
    pub family: Uuid,
}

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("email must look like name@example.com")]
    BadEmail,
    #[error("password must be {PASSWORD_MIN_CHARS} to {PASSWORD_MAX_CHARS} characters")]
    BadPassword,
    #[error("A user with this email exists")]
    Exists,
    #[error("Wrong email or password")]
    WrongCredentials,
    #[error("No user with this email")]
    NoSuchUser,
    #[error("Refresh token is invalid, expired or revoked")]
    BadRefreshToken,
    #[error("No invitation to this project")]
    NoInvitation,
    #[error(
        "A project may have at most {MAX_PENDING_INVITATIONS} pending invitations; withdraw some first"
    )]
    TooManyInvitations,
    #[error("{0}")]
    BadProfile(&'static str),
    #[error("name must be 1 to {API_TOKEN_NAME_MAX_CHARS} characters, on one line")]
    BadTokenName,
    #[error("A project may have at most {MAX_API_TOKENS} API tokens; revoke some first")]
    TooManyTokens,
    #[error("No such API token")]
    NoSuchToken,
    #[error("This reset link is invalid, used or expired: ask for a new one")]
    BadResetLink,
    #[error("This invitation link is invalid, used or expired: ask for a new invitation")]
    BadJoinLink,
    #[error("Accounts are temporarily unavailable, retry shortly")]
    Unavailable,
    #[error("hashing a password failed")]
    Hashing(#[source] argon2::password_hash::Error),
    #[error("the accounts' store failed")]
    Store(#[from] StoreError),
}

impl Failure for AccountError {
    fn kind(&self) -> ErrorKind {
        match self {
            AccountError::BadEmail
            | AccountError::BadPassword
            | AccountError::BadProfile(_)
            | AccountError::BadTokenName
            | AccountError::BadResetLink
            | AccountError::BadJoinLink => ErrorKind::Invalid,
            AccountError::Exists
            | AccountError::TooManyInvitations
            | AccountError::TooManyTokens => ErrorKind::Conflict,
            AccountError::WrongCredentials | AccountError::BadRefreshToken => {
                ErrorKind::Unauthorized
            }
            AccountError::NoSuchUser | AccountError::NoInvitation | AccountError::NoSuchToken => {
                ErrorKind::NotFound
            }
            AccountError::Unavailable => ErrorKind::BRIEFLY_UNAVAILABLE,
            AccountError::Hashing(_) => ErrorKind::Internal,
            AccountError::Store(error) => error.kind(),
        }
    }
}

/// Normalizes and checks an email used as a login name.
pub fn normalize_email(email: &str) -> Result<String, AccountError> {
    let email = email.trim().to_lowercase();
    let well_formed = email.len() <= 254
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && domain.contains('.') && !domain.contains('@')
        })
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    if well_formed {
        Ok(email)
    } else {
        Err(AccountError::BadEmail)
    }
}

/// The longest display name.
pub const DISPLAY_NAME_MAX_CHARS: usize = 60;
/// The longest avatar URL.
pub const AVATAR_URL_MAX_CHARS: usize = 500;

/// A change to a user's profile: each field given replaces the stored one; an empty one clears
/// it.
#[derive(Debug, Clone, Default)]
pub struct ProfileChange {
    pub display_name: Option<String>,
    pub avatar_url: Option<String>,
    pub notify_email: Option<bool>,
}

impl ProfileChange {
    /// `profile` with this change applied, checked: a name of at most
    /// [`DISPLAY_NAME_MAX_CHARS`] printable characters, an absolute http(s) URL of at most
    /// [`AVATAR_URL_MAX_CHARS`].
    pub fn apply(self, mut profile: Profile) -> Result<Profile, AccountError> {
        if let Some(name) = self.display_name {
            let name = name.trim();
            if name.chars().count() > DISPLAY_NAME_MAX_CHARS || name.chars().any(char::is_control) {
                return Err(AccountError::BadProfile(
                    "displayName must be at most 60 characters, on one line",
                ));
            }
            profile.display_name = (!name.is_empty()).then(|| name.to_owned());
        }
        if let Some(avatar) = self.avatar_url {
            let avatar = avatar.trim();
            if !avatar.is_empty()
                && (!crate::text::is_web_url(avatar) || avatar.len() > AVATAR_URL_MAX_CHARS)
            {
                return Err(AccountError::BadProfile(
                    "avatarUrl must be an http(s) URL of at most 500 characters",
                ));
            }
            profile.avatar_url = (!avatar.is_empty()).then(|| avatar.to_owned());
        }
        if let Some(notify) = self.notify_email {
            profile.notify_email = notify;
        }
        Ok(profile)
    }
}

/// An argon2id hash of `password` (slow: call from a blocking thread).
pub fn hash_password(password: &str) -> Result<String, AccountError> {
    let length = password.chars().count();
    if !(PASSWORD_MIN_CHARS..=PASSWORD_MAX_CHARS).contains(&length) {
        return Err(AccountError::BadPassword);
    }
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(AccountError::Hashing)
}

/// Whether `password` matches `hash` (slow, and constant-time in the comparison).
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| {
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

/// A new user record: the email normalized, the password checked and hashed (slow: call from
/// a blocking thread).
pub fn new_user(email: &str, password: &str, admin: bool) -> Result<UserRecord, AccountError> {
    Ok(UserRecord {
        id: Uuid::new_v4(),
        email: normalize_email(email)?,
        password_hash: hash_password(password)?,
        admin,
        roles: BTreeMap::new(),
        created_at_ms: now_ms(),
        profile: Profile::default(),
    })
}

/// Adds `user` to the store of a server that is not running (the CLI's `user add`).
pub async fn add_user_offline(store: Store, user: UserRecord) -> Result<(), AccountError> {
    let args = AccountsArguments {
        store,
        refresh_ttl_ms: 0,
    };
    add_user(&args, &user).await
}

/// A new refresh token: `rt_` and 256 random bits.
pub fn new_refresh_token() -> String {
    crate::secret::new_token("rt")
}

pub struct Accounts;

pub enum AccountsMessage {
    /// Store a new user (its password already hashed).
    AddUser(Box<UserRecord>, RpcReplyPort<Result<(), AccountError>>),
    /// Start a token family for a user who just logged in with the password of this (stored)
    /// hash; reply with its first token. Refused when the password changed meanwhile (a reset
    /// ends every sign-in, also one that was on its way).
    Issue(
        Uuid,
        String,
        RpcReplyPort<Result<RefreshGrant, AccountError>>,
    ),
    /// Exchange a refresh token for the user and a new token of its family.
    Refresh(
        String,
        RpcReplyPort<Result<(UserRecord, RefreshGrant), AccountError>>,
    ),
    /// Revoke the family of a refresh token.
    Logout(String, RpcReplyPort<Result<(), AccountError>>),
    /// Give a user a role on a project, or take it away (`None`).
    Grant(
        Uuid,
        String,
        Option<Role>,
        RpcReplyPort<Result<(), AccountError>>,
    ),
    /// Offer a role (replacing an earlier offer to the same email on the same project).
    Invite(Box<Invitation>, RpcReplyPort<Result<(), AccountError>>),
    /// The user accepts their invitation to a project: the role is theirs, the offer gone.
    Accept(Uuid, String, RpcReplyPort<Result<Role, AccountError>>),
    /// Remove the invitation of an email to a project (declined or withdrawn).
    Uninvite(String, String, RpcReplyPort<Result<(), AccountError>>),
    /// Changes a user's profile; replies with the user as stored.
    UpdateProfile(
        Uuid,
        ProfileChange,
        RpcReplyPort<Result<UserRecord, AccountError>>,
    ),
    /// Store a new API token (its secret already hashed), within the project's cap.
    AddApiToken(Box<ApiTokenRecord>, RpcReplyPort<Result<(), AccountError>>),
    /// Revoke API token `id` of a project.
    RevokeApiToken(String, Uuid, RpcReplyPort<Result<(), AccountError>>),
    /// Note that the token with this hash was used at this time (ms).
    ApiTokenUsed(SecretHash, u64),
    /// Create the account an invitation's link of this project and hash was for, with this
    /// (hashed) password, with the invitation's role.
    Join(
        String,
        SecretHash,
        String,
        RpcReplyPort<Result<UserRecord, AccountError>>,
    ),
    /// Keep a password reset link given out.
    AddPasswordReset(
        SecretHash,
        PasswordReset,
        RpcReplyPort<Result<(), AccountError>>,
    ),
    /// Use the reset link with this hash to set this (hashed) password; every sign-in of the
    /// user ends.
    ResetPassword(
        SecretHash,
        String,
        RpcReplyPort<Result<UserRecord, AccountError>>,
    ),
    /// A project is being deleted: every role and invitation on it goes.
    ForgetProject(String, RpcReplyPort<Result<(), AccountError>>),
    /// Panic inside the handler, to prove supervision restarts the actor.
    #[cfg(any(test, feature = "fault-injection"))]
    Panic,
}

#[derive(Clone)]
pub struct AccountsArguments {
    pub store: Store,
    pub refresh_ttl_ms: u64,
}

impl Actor for Accounts {
    type Msg = AccountsMessage;
    type State = AccountsArguments;
    type Arguments = AccountsArguments;

    async fn pre_start(
        &self,
        _myself: ActorRef<AccountsMessage>,
        args: AccountsArguments,
    ) -> Result<AccountsArguments, ActorProcessingErr> {
        Ok(args)
    }

    async fn handle(
        &self,
        _myself: ActorRef<AccountsMessage>,
        message: AccountsMessage,
        state: &mut AccountsArguments,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            AccountsMessage::AddUser(user, reply) => {
                let _ = reply.send(add_user(state, &user).await);
            }
            AccountsMessage::Issue(user_id, verified_hash, reply) => {
                let current = state.store.user_by_id(user_id).await;
                let result = match current {
                    Ok(Some(user)) if user.password_hash == verified_hash => {
                        issue(state, user_id, Uuid::new_v4()).await
                    }
                    Ok(_) => Err(AccountError::WrongCredentials),
                    Err(error) => Err(error.into()),
                };
                let _ = reply.send(result);
            }
            AccountsMessage::Refresh(token, reply) => {
                let _ = reply.send(refresh(state, &token).await);
            }
            AccountsMessage::Logout(token, reply) => {
                let _ = reply.send(logout(state, &token).await);
            }
            AccountsMessage::Grant(user_id, slug, role, reply) => {
                let _ = reply.send(grant(state, user_id, slug, role).await);
            }
            AccountsMessage::Invite(invitation, reply) => {
                let _ = reply.send(invite(state, &invitation).await);
            }
            AccountsMessage::Accept(user_id, slug, reply) => {
                let _ = reply.send(accept(state, user_id, &slug).await);
            }
            AccountsMessage::Uninvite(slug, email, reply) => {
                let _ = reply.send(uninvite(state, &slug, &email).await);
            }
            AccountsMessage::UpdateProfile(user_id, change, reply) => {
                let _ = reply.send(update_profile(state, user_id, change).await);
            }
            AccountsMessage::AddApiToken(token, reply) => {
                let _ = reply.send(add_api_token(state, &token).await);
            }
            AccountsMessage::RevokeApiToken(slug, id, reply) => {
                let _ = reply.send(revoke_api_token(state, &slug, id).await);
            }
            AccountsMessage::AddPasswordReset(hash, reset, reply) => {
                let added = async {
                    // Only the newest link of a user works: the store keeps one per user.
                    state.store.forget_password_resets(reset.user_id).await?;
                    state.store.put_password_reset(&hash, &reset).await?;
                    Ok(state.store.flush().await?)
                };
                let _ = reply.send(added.await);
            }
            AccountsMessage::Join(slug, hash, password_hash, reply) => {
                let _ = reply.send(join(state, &slug, &hash, password_hash).await);
            }
            AccountsMessage::ResetPassword(hash, password_hash, reply) => {
                let _ = reply.send(reset_password(state, &hash, password_hash).await);
            }
            AccountsMessage::ApiTokenUsed(hash, at_ms) => {
                if let Err(error) = api_token_used(state, &hash, at_ms).await {
                    tracing::debug!(%error, "an API token's last use was not written");
                }
            }
            AccountsMessage::ForgetProject(slug, reply) => {
                let _ = reply.send(forget_project(state, &slug).await);
            }
            #[cfg(any(test, feature = "fault-injection"))]
            AccountsMessage::Panic => panic!("fault injection: the accounts actor panicked"),
        }
        Ok(())
    }
}

async fn add_user(state: &AccountsArguments, user: &UserRecord) -> Result<(), AccountError> {
    if state.store.user(&user.email).await?.is_some() {
        return Err(AccountError::Exists);
    }
    state.store.put_user(user).await?;
    state.store.flush().await?;
    Ok(())
}

async fn issue(
    state: &AccountsArguments,
    user_id: Uuid,
    family: Uuid,
) -> Result<RefreshGrant, AccountError> {
    let token = new_refresh_token();
    let record = RefreshRecord {
        user_id,
        family,
        expires_at_ms: now_ms() + state.refresh_ttl_ms,
        used: false,
    };
    state
        .store
        .put_refresh(&SecretHash::of(&token), &record)
        .await?;
    state.store.flush().await?;
    Ok(RefreshGrant { token, family })
}

async fn refresh(
    state: &AccountsArguments,
    token: &str,
) -> Result<(UserRecord, RefreshGrant), AccountError> {
    let hash = SecretHash::of(token);
    let mut record = state
        .store
        .refresh(&hash)
        .await?
        .ok_or(AccountError::BadRefreshToken)?;
    if state.store.family_revoked(record.family).await? {
        return Err(AccountError::BadRefreshToken);
    }
    if record.used {
        // A used token came back: whoever holds the family's newer token may be a thief.
        tracing::warn!(user = %record.user_id, "refresh token reused; revoking its family");
        state.store.revoke_family(record.family).await?;
        state.store.flush().await?;
        return Err(AccountError::BadRefreshToken);
    }
    if record.expires_at_ms <= now_ms() {
        return Err(AccountError::BadRefreshToken);
    }
    let user = state
        .store
        .user_by_id(record.user_id)
        .await?
        .ok_or(AccountError::BadRefreshToken)?;
    record.used = true;
    state.store.put_refresh(&hash, &record).await?;
    let next = issue(state, record.user_id, record.family).await?;
    Ok((user, next))
}

async fn grant(
    state: &AccountsArguments,
    user_id: Uuid,
    slug: String,
    role: Option<Role>,
) -> Result<(), AccountError> {
    let mut user = state
        .store
        .user_by_id(user_id)
        .await?
        .ok_or(AccountError::NoSuchUser)?;
    match role {
        Some(role) => user.roles.insert(slug, role),
        None => user.roles.remove(&slug),
    };
    state.store.put_user(&user).await?;
    state.store.flush().await?;
    Ok(())
}

async fn update_profile(
    state: &AccountsArguments,
    user_id: Uuid,
    change: ProfileChange,
) -> Result<UserRecord, AccountError> {
    let mut user = state
        .store
        .user_by_id(user_id)
        .await?
        .ok_or(AccountError::NoSuchUser)?;
    user.profile = change.apply(user.profile)?;
    state.store.put_user(&user).await?;
    state.store.flush().await?;
    Ok(user)
}

async fn invite(state: &AccountsArguments, invitation: &Invitation) -> Result<(), AccountError> {
    let pending = state.store.project_invitations(&invitation.project).await?;
    let renewed = pending.iter().any(|other| other.email == invitation.email);
    if !renewed && pending.len() >= MAX_PENDING_INVITATIONS {
        return Err(AccountError::TooManyInvitations);
    }
    state.store.put_invitation(invitation).await?;
    state.store.flush().await?;
    Ok(())
}

async fn accept(
    state: &AccountsArguments,
    user_id: Uuid,
    slug: &str,
) -> Result<Role, AccountError> {
    let mut user = state
        .store
        .user_by_id(user_id)
        .await?
        .ok_or(AccountError::NoSuchUser)?;
    let project_exists = matches!(state.store.project(slug).await, Ok(Some(_)));
    let invitation = state
        .store
        .invitation(slug, &user.email)
        .await?
        .filter(|_| project_exists)
        .ok_or(AccountError::NoInvitation)?;
    user.roles.insert(slug.to_owned(), invitation.role);
    // Role first: a crash between the two leaves an invitation that accepting again clears.
    state.store.put_user(&user).await?;
    state.store.delete_invitation(slug, &user.email).await?;
    state.store.flush().await?;
    Ok(invitation.role)
}

async fn uninvite(state: &AccountsArguments, slug: &str, email: &str) -> Result<(), AccountError> {
    if !state.store.delete_invitation(slug, email).await? {
        return Err(AccountError::NoInvitation);
    }
    state.store.flush().await?;
    Ok(())
}

/// A checked API token name: trimmed, 1 to [`API_TOKEN_NAME_MAX_CHARS`] characters, one line.
pub fn api_token_name(name: &str) -> Result<String, AccountError> {
    let name = name.trim();
    let length = name.chars().count();
    if (1..=API_TOKEN_NAME_MAX_CHARS).contains(&length) && !name.chars().any(char::is_control) {
        Ok(name.to_owned())
    } else {
        Err(AccountError::BadTokenName)
    }
}

async fn add_api_token(
    state: &AccountsArguments,
    token: &ApiTokenRecord,
) -> Result<(), AccountError> {
    if state.store.project_api_tokens(&token.project).await?.len() >= MAX_API_TOKENS {
        return Err(AccountError::TooManyTokens);
    }
    state.store.put_api_token(token).await?;
    state.store.flush().await?;
    Ok(())
}

async fn revoke_api_token(
    state: &AccountsArguments,
    slug: &str,
    id: Uuid,
) -> Result<(), AccountError> {
    if !state.store.delete_api_token(slug, id).await? {
        return Err(AccountError::NoSuchToken);
    }
    state.store.flush().await?;
    Ok(())
}

/// Writes down a token's use unless it was written less than a minute ago (or revoked since).
async fn api_token_used(
    state: &AccountsArguments,
    hash: &SecretHash,
    at_ms: u64,
) -> Result<(), AccountError> {
    let Some(token) = state.store.api_token(hash).await? else {
        return Ok(());
    };
    if token
        .last_used_ms
        .is_some_and(|last| at_ms < last + TOKEN_USE_RESOLUTION_MS)
    {
        return Ok(());
    }
    Ok(state.store.note_api_token_use(hash, at_ms).await?)
}

/// Creates the account of an invitation's link, with its role; the invitation is used up. An
/// account made meanwhile under that email is `Exists` (sign in and accept instead).
async fn join(
    state: &AccountsArguments,
    slug: &str,
    hash: &SecretHash,
    password_hash: String,
) -> Result<UserRecord, AccountError> {
    let invitations = state.store.project_invitations(slug).await?;
    let invitation = invitations
        .into_iter()
        .find(|invitation| {
            invitation.join.as_ref().is_some_and(|link| {
                link.token_hash.as_bytes() == hash.as_bytes() && link.expires_at_ms > now_ms()
            })
        })
        .ok_or(AccountError::BadJoinLink)?;
    if state.store.user(&invitation.email).await?.is_some() {
        return Err(AccountError::Exists);
    }
    let user = UserRecord {
        id: Uuid::new_v4(),
        email: invitation.email.clone(),
        password_hash,
        admin: false,
        roles: BTreeMap::from([(slug.to_owned(), invitation.role)]),
        created_at_ms: now_ms(),
        profile: Profile::default(),
    };
    state.store.put_user(&user).await?;
    state
        .store
        .delete_invitation(slug, &invitation.email)
        .await?;
    state.store.flush().await?;
    Ok(user)
}

/// Sets the password of the reset link's user, once: the link is taken whatever happens next,
/// and every sign-in of the user ends (refresh tokens, and the access tokens minted with them).
async fn reset_password(
    state: &AccountsArguments,
    hash: &SecretHash,
    password_hash: String,
) -> Result<UserRecord, AccountError> {
    let reset = state.store.take_password_reset(hash).await?;
    let reset = reset
        .filter(|reset| reset.expires_at_ms > now_ms())
        .ok_or(AccountError::BadResetLink)?;
    let mut user = state
        .store
        .user_by_id(reset.user_id)
        .await?
        .ok_or(AccountError::BadResetLink)?;
    user.password_hash = password_hash;
    state.store.put_user(&user).await?;
    for family in state.store.user_families(user.id).await? {
        state.store.revoke_family(family).await?;
    }
    // Any other link given out before works no more.
    state.store.forget_password_resets(user.id).await?;
    state.store.flush().await?;
    Ok(user)
}

async fn forget_project(state: &AccountsArguments, slug: &str) -> Result<(), AccountError> {
    for mut user in state.store.users().await? {
        if user.roles.remove(slug).is_some() {
            state.store.put_user(&user).await?;
        }
    }
    for invitation in state.store.project_invitations(slug).await? {
        state
            .store
            .delete_invitation(slug, &invitation.email)
            .await?;
    }
    state.store.flush().await?;
    Ok(())
}

async fn logout(state: &AccountsArguments, token: &str) -> Result<(), AccountError> {
    if let Some(record) = state.store.refresh(&SecretHash::of(token)).await? {
        state.store.revoke_family(record.family).await?;
        state.store.flush().await?;
    }
    Ok(())
}

#[cfg(test)]
#[path = "accounts/tests.rs"]
mod tests;
