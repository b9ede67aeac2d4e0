//! [`Accounts`]: the people who run projects — users, roles, invitations, sign-in and
//! refresh tokens. Writes go to the accounts actor; passwords are hashed on blocking threads.

use std::sync::Arc;

use uuid::Uuid;

use crate::accounts::{
    AccountError, AccountsMessage, ProfileChange, RefreshGrant, TOKEN_USE_RESOLUTION_MS,
    api_token_name, hash_password, new_user, normalize_email, verify_password,
};
use crate::records::{ApiTokenRecord, Invitation, JoinLink, PasswordReset, Role, UserRecord};
use crate::secret::{SecretHash, new_token};
use crate::time::now_ms;

/// How long an invitation's emailed link works.
pub const JOIN_LINK_TTL: std::time::Duration = std::time::Duration::from_secs(7 * 24 * 3600);

/// How long a password reset link works.
pub const RESET_LINK_TTL: std::time::Duration = std::time::Duration::from_secs(3600);

/// Verified against when the email is unknown, so that case takes as long as a wrong password.
static DUMMY_HASH: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    hash_password("not anyone's password").expect("hashing a constant works")
});

use super::{Core, call_actor};

#[derive(Clone)]
pub struct Accounts {
    pub(super) core: Arc<Core>,
}

impl Accounts {
    /// Adds an admin user; the password is hashed on a blocking thread.
    pub async fn add_user(
        &self,
        email: &str,
        password: String,
        admin: bool,
    ) -> Result<UserRecord, AccountError> {
        let email = email.to_owned();
        let user = tokio::task::spawn_blocking(move || new_user(&email, &password, admin))
            .await
            .map_err(|_| AccountError::Unavailable)??;
        let add = |reply| AccountsMessage::AddUser(Box::new(user.clone()), reply);
        call_actor(&self.core.accounts()?, add, AccountError::Unavailable).await?;
        Ok(user)
    }

    /// Makes an API token for project `slug` with `role`, named `name`, on behalf of
    /// `created_by`; answers the token (shown this once) and its record.
    pub async fn create_api_token(
        &self,
        slug: &str,
        name: &str,
        role: Role,
        created_by: &str,
    ) -> Result<(String, ApiTokenRecord), AccountError> {
        let token = new_token("hy");
        let record = ApiTokenRecord {
            id: Uuid::new_v4(),
            project: slug.to_owned(),
            name: api_token_name(name)?,
            role,
            token_hash: SecretHash::of(&token),
            created_by: created_by.to_owned(),
            created_at_ms: now_ms(),
            last_used_ms: None,
        };
        let add = |reply| AccountsMessage::AddApiToken(Box::new(record.clone()), reply);
        call_actor(&self.core.accounts()?, add, AccountError::Unavailable).await?;
        Ok((token, record))
    }

    /// Project `slug`'s API tokens, oldest first.
    pub async fn api_tokens(&self, slug: &str) -> Result<Vec<ApiTokenRecord>, AccountError> {
        Ok(self.core.store.project_api_tokens(slug).await?)
    }

    /// Revokes API token `id` of project `slug`: it stops working at once.
    pub async fn revoke_api_token(&self, slug: &str, id: Uuid) -> Result<(), AccountError> {
        call_actor(
            &self.core.accounts()?,
            |reply| AccountsMessage::RevokeApiToken(slug.to_owned(), id, reply),
            AccountError::Unavailable,
        )
        .await
    }

    /// The API token `token` names, if any, its use noted (to the minute, in the background).
    /// A token is good only while the member who made it holds its role (or more) on its
    /// project: it never outlives their access.
    pub async fn use_api_token(&self, token: &str) -> Result<Option<ApiTokenRecord>, AccountError> {
        let hash = SecretHash::of(token);
        let Some(record) = self.core.store.api_token(&hash).await? else {
            return Ok(None);
        };
        let maker = self.core.store.user(&record.created_by).await?;
        let maker_role = maker.and_then(|maker| maker.role_on(&record.project));
        let covered = match record.role {
            Role::Owner => maker_role == Some(Role::Owner),
            Role::Agent => maker_role.is_some(),
        };
        if !covered {
            return Ok(None);
        }
        let now = now_ms();
        let noted = record.last_used_ms;
        if noted.is_none_or(|last| now >= last + TOKEN_USE_RESOLUTION_MS)
            && let Ok(accounts) = self.core.accounts()
        {
            let _ = accounts.cast(AccountsMessage::ApiTokenUsed(hash, now));
        }
        Ok(Some(record))
    }

    /// A reset link's token for the user with `email`, if there is one: it works once, for
    /// [`RESET_LINK_TTL`]. `None` for an unknown or malformed email.
    pub async fn start_password_reset(
        &self,
        email: &str,
    ) -> Result<Option<(UserRecord, String)>, AccountError> {
        let Ok(email) = normalize_email(email) else {
            return Ok(None);
        };
        let Some(user) = self.core.store.user(&email).await? else {
            return Ok(None);
        };
        let token = new_token("pr");
        let reset = PasswordReset {
            user_id: user.id,
            expires_at_ms: now_ms() + RESET_LINK_TTL.as_millis() as u64,
        };
        let add =
            |reply| AccountsMessage::AddPasswordReset(SecretHash::of(&token), reset.clone(), reply);
        call_actor(&self.core.accounts()?, add, AccountError::Unavailable).await?;
        Ok(Some((user, token)))
    }

    /// Sets a new password with reset link `token` (checked and hashed first, so a password
    /// refused leaves the link usable); every sign-in of the user ends.
    pub async fn reset_password(
        &self,
        token: &str,
        password: String,
    ) -> Result<UserRecord, AccountError> {
        let hash = tokio::task::spawn_blocking(move || hash_password(&password))
            .await
            .map_err(|_| AccountError::Unavailable)??;
        let reset =
            |reply| AccountsMessage::ResetPassword(SecretHash::of(token), hash.clone(), reply);
        call_actor(&self.core.accounts()?, reset, AccountError::Unavailable).await
    }

    /// Changes the profile of user `user_id`; answers the user as stored.
    pub async fn update_profile(
        &self,
        user_id: Uuid,
        change: ProfileChange,
    ) -> Result<UserRecord, AccountError> {
        call_actor(
            &self.core.accounts()?,
            |reply| AccountsMessage::UpdateProfile(user_id, change.clone(), reply),
            AccountError::Unavailable,
        )
        .await
    }

    /// Gives user `user_id` `role` on project `slug`, or takes their role away (`None`).
    pub async fn grant(
        &self,
        user_id: Uuid,
        slug: &str,
        role: Option<Role>,
    ) -> Result<(), AccountError> {
        call_actor(
            &self.core.accounts()?,
            |reply| AccountsMessage::Grant(user_id, slug.to_owned(), role, reply),
            AccountError::Unavailable,
        )
        .await
    }

    /// Offers `role` on project `slug` to whoever signs in with `email` (normalized), on
    /// behalf of `invited_by`; replaces an earlier offer to the same email.
    /// With `join`, the invitation also gets a link for someone with no account (see
    /// [`Accounts::join`]): its token is returned, to be emailed.
    pub async fn invite(
        &self,
        slug: &str,
        email: &str,
        role: Role,
        invited_by: Uuid,
        join: bool,
    ) -> Result<Option<String>, AccountError> {
        let token = join.then(|| new_token("jn"));
        let invitation = Invitation {
            project: slug.to_owned(),
            email: email.to_owned(),
            role,
            invited_by,
            created_at_ms: now_ms(),
            join: token.as_ref().map(|token| JoinLink {
                token_hash: SecretHash::of(token),
                expires_at_ms: now_ms() + JOIN_LINK_TTL.as_millis() as u64,
            }),
        };
        call_actor(
            &self.core.accounts()?,
            |reply| AccountsMessage::Invite(Box::new(invitation), reply),
            AccountError::Unavailable,
        )
        .await?;
        Ok(token)
    }

    /// Creates the account an invitation's emailed link (`token`) was for, with `password`,
    /// and gives it the invitation's role: the invitation is used up.
    pub async fn join(
        &self,
        slug: &str,
        token: &str,
        password: String,
    ) -> Result<UserRecord, AccountError> {
        let hash = tokio::task::spawn_blocking(move || hash_password(&password))
            .await
            .map_err(|_| AccountError::Unavailable)??;
        let join = |reply| {
            AccountsMessage::Join(slug.to_owned(), SecretHash::of(token), hash.clone(), reply)
        };
        call_actor(&self.core.accounts()?, join, AccountError::Unavailable).await
    }

    /// User `user_id` accepts their invitation to `slug`; returns the role they now have.
    pub async fn accept_invitation(&self, user_id: Uuid, slug: &str) -> Result<Role, AccountError> {
        call_actor(
            &self.core.accounts()?,
            |reply| AccountsMessage::Accept(user_id, slug.to_owned(), reply),
            AccountError::Unavailable,
        )
        .await
    }

    /// Removes the invitation of `email` (normalized) to `slug`: declined or withdrawn.
    pub async fn remove_invitation(&self, slug: &str, email: &str) -> Result<(), AccountError> {
        call_actor(
            &self.core.accounts()?,
            |reply| AccountsMessage::Uninvite(slug.to_owned(), email.to_owned(), reply),
            AccountError::Unavailable,
        )
        .await
    }

    /// Pending invitations to project `slug`.
    pub async fn project_invitations(&self, slug: &str) -> Result<Vec<Invitation>, AccountError> {
        Ok(self.core.store.project_invitations(slug).await?)
    }

    /// Pending invitations of `email` (normalized), to any project.
    pub async fn invitations_for(&self, email: &str) -> Result<Vec<Invitation>, AccountError> {
        Ok(self.core.store.invitations_for(email).await?)
    }

    /// A user by (any-case) email.
    pub async fn user_by_email(&self, email: &str) -> Result<Option<UserRecord>, AccountError> {
        Ok(self.core.store.user(&normalize_email(email)?).await?)
    }

    /// Every user, in email order.
    pub async fn users(&self) -> Result<Vec<UserRecord>, AccountError> {
        Ok(self.core.store.users().await?)
    }

    /// How many admin users exist.
    pub async fn user_count(&self) -> Result<usize, AccountError> {
        Ok(self.core.store.users().await?.len())
    }

    /// Checks an email and password; on success starts a refresh-token family. A wrong email
    /// costs the same hashing time as a wrong password, so timing does not tell which.
    pub async fn login(
        &self,
        email: &str,
        password: String,
    ) -> Result<(UserRecord, RefreshGrant), AccountError> {
        let email = normalize_email(email).map_err(|_| AccountError::WrongCredentials)?;
        let user = self.core.store.user(&email).await?;
        let hash = user
            .as_ref()
            .map_or_else(|| DUMMY_HASH.clone(), |u| u.password_hash.clone());
        let matches = tokio::task::spawn_blocking(move || verify_password(&password, &hash))
            .await
            .map_err(|_| AccountError::Unavailable)?;
        let user = user
            .filter(|_| matches)
            .ok_or(AccountError::WrongCredentials)?;
        let grant = call_actor(
            &self.core.accounts()?,
            |reply| AccountsMessage::Issue(user.id, user.password_hash.clone(), reply),
            AccountError::Unavailable,
        )
        .await?;
        Ok((user, grant))
    }

    /// Exchanges a refresh token for its user and the next token of its family.
    pub async fn refresh(&self, token: String) -> Result<(UserRecord, RefreshGrant), AccountError> {
        call_actor(
            &self.core.accounts()?,
            |reply| AccountsMessage::Refresh(token, reply),
            AccountError::Unavailable,
        )
        .await
    }

    /// Ends the login a refresh token belongs to.
    pub async fn logout(&self, token: String) -> Result<(), AccountError> {
        call_actor(
            &self.core.accounts()?,
            |reply| AccountsMessage::Logout(token, reply),
            AccountError::Unavailable,
        )
        .await
    }

    /// Whether the sign-in (refresh-token family) an access token was minted from has ended:
    /// signed out, or its tokens replayed.
    pub async fn sign_in_ended(&self, family: Uuid) -> Result<bool, AccountError> {
        Ok(self.core.store.family_revoked(family).await?)
    }

    /// A user by id, as an access token names it.
    pub async fn user(&self, id: Uuid) -> Result<Option<UserRecord>, AccountError> {
        Ok(self.core.store.user_by_id(id).await?)
    }
}
