//! [`Accounts`]: the people who run projects — users, roles, invitations, sign-in and
//! refresh tokens. Writes go to the accounts actor; passwords are hashed on blocking threads.

use std::sync::Arc;

use uuid::Uuid;

use crate::accounts::{
    AccountError, AccountsMessage, ProfileChange, RefreshGrant, hash_password, new_user,
    normalize_email, verify_password,
};
use crate::records::{Invitation, Role, UserRecord};
use crate::time::now_ms;

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
    pub async fn invite(
        &self,
        slug: &str,
        email: &str,
        role: Role,
        invited_by: Uuid,
    ) -> Result<(), AccountError> {
        let invitation = Invitation {
            project: slug.to_owned(),
            email: email.to_owned(),
            role,
            invited_by,
            created_at_ms: now_ms(),
        };
        call_actor(
            &self.core.accounts()?,
            |reply| AccountsMessage::Invite(Box::new(invitation), reply),
            AccountError::Unavailable,
        )
        .await
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
            |reply| AccountsMessage::Issue(user.id, reply),
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
