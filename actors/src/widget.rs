//! The public widget configuration of a project: what `GET /api/widget/config` shows visitors.
//!
//! Owns the settings' shape (serialized exactly as the public API's JSON) and their validation
//! rules. It does not know where settings come from (config file, dashboard) or how they are
//! served.

use serde::{Deserialize, Serialize};

pub const NAME_MAX_CHARS: usize = 80;
pub const WELCOME_MAX_CHARS: usize = 500;
pub const QUICK_REPLIES_MAX: usize = 8;
pub const QUICK_REPLY_MAX_CHARS: usize = 80;

/// A project's widget settings. Its JSON form *is* the public config response.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WidgetSettings {
    /// The assistant's display name, e.g. "Support Bot".
    pub name: String,
    pub company: String,
    pub welcome_message: String,
    pub quick_replies: Vec<String>,
    pub theme: Theme,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Theme {
    /// `#rrggbb` (or `#rgb`).
    pub primary_color: String,
    pub position: Position,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Position {
    BottomRight,
    BottomLeft,
}

/// A setting that breaks a rule; the message names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct InvalidSetting {
    pub field: &'static str,
    pub reason: String,
}

impl WidgetSettings {
    pub fn validate(&self) -> Result<(), InvalidSetting> {
        check_text("name", &self.name, 1, NAME_MAX_CHARS)?;
        check_text("company", &self.company, 0, NAME_MAX_CHARS)?;
        check_text(
            "welcomeMessage",
            &self.welcome_message,
            0,
            WELCOME_MAX_CHARS,
        )?;
        if self.quick_replies.len() > QUICK_REPLIES_MAX {
            return Err(invalid(
                "quickReplies",
                format!("at most {QUICK_REPLIES_MAX} entries"),
            ));
        }
        for reply in &self.quick_replies {
            check_text("quickReplies", reply, 1, QUICK_REPLY_MAX_CHARS)?;
        }
        if !is_hex_color(&self.theme.primary_color) {
            return Err(invalid(
                "theme.primaryColor",
                "must look like #3737f6".into(),
            ));
        }
        Ok(())
    }
}

fn check_text(
    field: &'static str,
    value: &str,
    min: usize,
    max: usize,
) -> Result<(), InvalidSetting> {
    let n_chars = value.chars().count();
    if n_chars < min {
        return Err(invalid(field, "must not be empty".into()));
    }
    if n_chars > max {
        return Err(invalid(field, format!("at most {max} characters")));
    }
    if value.chars().any(|c| c.is_control() && c != '\n') {
        return Err(invalid(field, "must not contain control characters".into()));
    }
    Ok(())
}

fn is_hex_color(value: &str) -> bool {
    match value.strip_prefix('#') {
        Some(digits) => {
            matches!(digits.len(), 3 | 6) && digits.chars().all(|c| c.is_ascii_hexdigit())
        }
        None => false,
    }
}

fn invalid(field: &'static str, reason: String) -> InvalidSetting {
    InvalidSetting { field, reason }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub fn sample() -> WidgetSettings {
        WidgetSettings {
            name: "Support Bot".into(),
            company: "Acme Inc".into(),
            welcome_message: "Hi! How can I help you today?".into(),
            quick_replies: vec!["Pricing".into(), "How to get started".into()],
            theme: Theme {
                primary_color: "#3737f6".into(),
                position: Position::BottomRight,
            },
        }
    }

    #[test]
    fn serializes_with_the_public_field_names() {
        let json = serde_json::to_value(sample()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "name": "Support Bot",
                "company": "Acme Inc",
                "welcomeMessage": "Hi! How can I help you today?",
                "quickReplies": ["Pricing", "How to get started"],
                "theme": {"primaryColor": "#3737f6", "position": "bottom-right"}
            })
        );
    }

    #[test]
    fn rejects_each_broken_rule_by_field() {
        type BreakRule = Box<dyn Fn(&mut WidgetSettings)>;
        let cases: Vec<(&str, BreakRule)> = vec![
            ("name", Box::new(|s| s.name.clear())),
            (
                "name",
                Box::new(|s| s.name = "x".repeat(NAME_MAX_CHARS + 1)),
            ),
            ("company", Box::new(|s| s.company = "a\u{7}b".into())),
            (
                "welcomeMessage",
                Box::new(|s| s.welcome_message = "w".repeat(WELCOME_MAX_CHARS + 1)),
            ),
            (
                "quickReplies",
                Box::new(|s| s.quick_replies = vec!["q".into(); QUICK_REPLIES_MAX + 1]),
            ),
            (
                "quickReplies",
                Box::new(|s| s.quick_replies = vec![String::new()]),
            ),
            (
                "theme.primaryColor",
                Box::new(|s| s.theme.primary_color = "blue".into()),
            ),
            (
                "theme.primaryColor",
                Box::new(|s| s.theme.primary_color = "#12345g".into()),
            ),
        ];
        for (field, break_rule) in cases {
            let mut settings = sample();
            break_rule(&mut settings);
            assert_eq!(settings.validate().unwrap_err().field, field);
        }
        assert_eq!(sample().validate(), Ok(()));
        let mut short = sample();
        short.theme.primary_color = "#fff".into();
        assert_eq!(short.validate(), Ok(()));
    }
}
