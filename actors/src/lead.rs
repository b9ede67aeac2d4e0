//! Leads: a visitor the assistant could not help leaves an email for a human to follow up.
//!
//! Owns the lead's shape and validation. Storing is the project actor's; who may leave a lead
//! (the session's token holder) is checked by the registry.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::text::{TextError, clean_field};

pub const EMAIL_MAX_CHARS: usize = 254;
pub const NAME_MAX_CHARS: usize = 80;
pub const MESSAGE_MAX_CHARS: usize = 2000;

/// What the visitor typed, before validation.
#[derive(Debug, Clone, Default)]
pub struct LeadFields {
    pub email: Option<String>,
    pub name: Option<String>,
    pub message: Option<String>,
}

/// A stored lead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LeadRecord {
    pub session_id: Uuid,
    pub email: String,
    pub name: Option<String>,
    pub message: Option<String>,
    pub created_at_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidLead {
    #[error("email is required")]
    MissingEmail,
    #[error("email must look like name@example.com")]
    BadEmail,
    #[error("{field} must be at most {max} characters")]
    TooLong { field: &'static str, max: usize },
    #[error("{field} must not contain control characters")]
    ControlCharacters { field: &'static str },
}

impl LeadRecord {
    pub fn validate(
        session_id: Uuid,
        fields: LeadFields,
        created_at_ms: u64,
    ) -> Result<LeadRecord, InvalidLead> {
        let email = clean("email", fields.email, EMAIL_MAX_CHARS, false)?
            .ok_or(InvalidLead::MissingEmail)?;
        if !looks_like_email(&email) {
            return Err(InvalidLead::BadEmail);
        }
        Ok(LeadRecord {
            session_id,
            email,
            name: clean("name", fields.name, NAME_MAX_CHARS, false)?,
            message: clean("message", fields.message, MESSAGE_MAX_CHARS, true)?,
            created_at_ms,
        })
    }
}

/// One `@`, something before it, a dotted domain after it, no spaces: catches typos without
/// rejecting real addresses (the human who replies is the real check).
fn looks_like_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !email.chars().any(char::is_whitespace)
}

fn clean(
    field: &'static str,
    value: Option<String>,
    max: usize,
    multiline: bool,
) -> Result<Option<String>, InvalidLead> {
    clean_field(value, max, multiline).map_err(|error| match error {
        TextError::TooLong => InvalidLead::TooLong { field, max },
        TextError::ControlCharacters => InvalidLead::ControlCharacters { field },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lead(email: &str) -> Result<LeadRecord, InvalidLead> {
        let fields = LeadFields {
            email: Some(email.into()),
            ..LeadFields::default()
        };
        LeadRecord::validate(Uuid::nil(), fields, 1)
    }

    #[test]
    fn emails_are_checked_for_typos_not_perfection() {
        for good in [
            "a@b.co",
            "first.last+tag@mail.example.org",
            " padded@example.com ",
        ] {
            assert!(lead(good).is_ok(), "{good}");
        }
        for bad in [
            "", "plain", "a@b", "@b.co", "a@@b.co", "a b@c.co", "a@.co", "a@co.",
        ] {
            assert!(lead(bad).is_err(), "{bad}");
        }
        assert_eq!(lead("   ").unwrap_err(), InvalidLead::MissingEmail);
    }

    #[test]
    fn messages_may_span_lines_but_names_may_not() {
        let fields = LeadFields {
            email: Some("a@b.co".into()),
            name: Some("Ann".into()),
            message: Some("Line one\nline two".into()),
        };
        assert!(LeadRecord::validate(Uuid::nil(), fields.clone(), 1).is_ok());
        let bad_name = LeadFields {
            name: Some("A\nB".into()),
            ..fields
        };
        assert_eq!(
            LeadRecord::validate(Uuid::nil(), bad_name, 1).unwrap_err(),
            InvalidLead::ControlCharacters { field: "name" }
        );
    }
}
