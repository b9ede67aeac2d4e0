//! Leads: a visitor the assistant could not help leaves an email for a human to follow up.
//!
//! Owns the lead's shape and validation. Storing is the project actor's; who may leave a lead
//! (the session's token holder) is checked by the engine's `Chat` handle.

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
        if !is_plain_address(&email) {
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

/// A single plain `local@domain`, safe in a `mailto:` link or a mail header as one recipient:
/// the local part at most 64 characters of dot-separated RFC 5322 atext runs without `? & # %`
/// (mailto parameters, fragments, escapes); the domain two or more letter-digit-hyphen
/// labels of at most 63, no hyphen at either end; 254 in all. No comments, display names, lists,
/// whitespace, control characters or non-ASCII (a Unicode domain passes in its `xn--` form).
pub fn is_plain_address(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    let local_char = |c: char| c.is_ascii_alphanumeric() || "!$'*+-/=^_`{|}~".contains(c);
    let domain_label = |label: &str| {
        (1..=63).contains(&label.len())
            && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    email.len() <= EMAIL_MAX_CHARS
        && local.len() <= 64
        && local
            .split('.')
            .all(|atom| !atom.is_empty() && atom.chars().all(local_char))
        && domain.split('.').count() >= 2
        && domain.split('.').all(domain_label)
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
    fn emails_must_be_one_plain_address() {
        let longest_local = format!("{}@example.com", "a".repeat(64));
        let longest = format!(
            "{}@{}.{}.{}",
            "a".repeat(64),
            "b".repeat(63),
            "c".repeat(63),
            "d".repeat(61)
        );
        assert_eq!(longest.len(), 254);
        for good in [
            "a@b.co",
            "o'brien@example.ie",
            "first.last+tag@mail.example.org",
            " padded@example.com ",
            "Ann.Lee@Example.COM",
            "x!$*=^_`{|}~/-@sub-domain.example.co.uk",
            "a@123.example",
            "a@xn--bcher-kva.example",
            &longest_local,
            &longest,
        ] {
            assert!(lead(good).is_ok(), "{good}");
        }
        let too_long_local = format!("{}@example.com", "a".repeat(65));
        let too_long_label = format!("a@{}.com", "b".repeat(64));
        let too_long = format!("b{longest}");
        for bad in [
            // Not an address at all.
            "plain",
            "a@b",
            "@b.co",
            "a@",
            "a@localhost",
            // mailto: parameters, fragments and escapes.
            "x@y.co?body=Pay%20now",
            "x@y.co?cc=boss@evil.example",
            "x@y.co&cc=boss@evil.example",
            "x@y.co%0ABcc:boss@evil.example",
            "x%40y.co",
            "x@y.co#top",
            "x?y@b.co",
            "x&y@b.co",
            "x#y@b.co",
            "x%y@b.co",
            // Several addresses, display names, quoting.
            "a@@b.co",
            "a@b.co@c.co",
            "a@b.co,c@d.co",
            "a,b@c.co",
            "a@b.co;c@d.co",
            "Ann <a@b.co>",
            "<a@b.co>",
            "\"a b\"@c.co",
            "\"a\"@c.co",
            "a(comment)@b.co",
            "a\\b@c.co",
            "a:b@c.co",
            "mailto:a@b.co",
            "a[b]@c.co",
            // Whitespace and control characters.
            "a b@c.co",
            "a@b.co\nBcc: boss@evil.example",
            "a\r\n@b.co",
            "a\t@b.co",
            "a@b.co\u{0}",
            "a\u{85}b@c.co",
            "a\u{a0}b@c.co",
            "a\u{200b}@b.co",
            // Dots in the local part.
            ".a@b.co",
            "a.@b.co",
            "a..b@c.co",
            // The domain: dotted LDH labels.
            "a@.co",
            "a@co.",
            "a@b.co.",
            "a@b..co",
            "a@-b.co",
            "a@b-.co",
            "a@b.co-",
            "a@b_c.co",
            "a@[127.0.0.1]",
            "a@bücher.de",
            "ä@b.co",
            // Length limits.
            &too_long_local,
            &too_long_label,
            &too_long,
        ] {
            assert!(lead(bad).is_err(), "{bad:?}");
        }
        assert_eq!(lead("x@y.co?body=hi").unwrap_err(), InvalidLead::BadEmail);
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
