//! Proactive messages: an owner's rules for a short message shown above the closed chat bubble
//! ("Questions about plans? We're here.") on some pages after some time, and the counts of how
//! visitors met them (shown, opened, dismissed).
//!
//! Owns the rules' shape and checks, and the counts' shape. The widget applies the rules (which
//! page, when, how often); the project actor counts its reports. It never stores a message in a
//! conversation: the message lives in the settings and the visitor's page.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub const RULES_MAX: usize = 10;
pub const RULE_ID_MAX_CHARS: usize = 40;
pub const MESSAGE_MAX_CHARS: usize = 280;
pub const AFTER_SECONDS_MAX: u32 = 3600;

/// One proactive message: on pages matching `page`, after `afterSeconds` on the page, once per
/// visit or per day.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProactiveRule {
    /// The rule's name, which its counts are kept under: 1-40 lowercase letters, digits or `-`.
    #[schema(example = "pricing-help", pattern = "^[a-z0-9-]{1,40}$")]
    pub id: String,
    /// A path pattern as for popups (`*` any characters, `?` one): `/pricing`, `/docs/*`, `*`.
    #[schema(example = "/pricing")]
    pub page: String,
    /// Seconds the visitor has been on the page before the message shows (0 to 3600).
    #[schema(maximum = 3600)]
    pub after_seconds: u32,
    /// What the message says, 1-280 characters of plain text.
    #[schema(example = "Questions about our plans? Ask me here.")]
    pub message: String,
    #[serde(default)]
    pub frequency: Frequency,
}

/// How often one visitor sees a message.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Frequency {
    /// Once per visit (the browser tab's session).
    #[default]
    Visit,
    /// Once per day in that browser.
    Day,
}

/// The first thing wrong with `rules`, as "field: reason" parts.
pub fn problem(rules: &[ProactiveRule]) -> Option<String> {
    if rules.len() > RULES_MAX {
        return Some(format!("at most {RULES_MAX} rules"));
    }
    for (n, rule) in rules.iter().enumerate() {
        let id_ok = (1..=RULE_ID_MAX_CHARS).contains(&rule.id.len())
            && rule
                .id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !id_ok {
            return Some(format!(
                "rule {}: id must be 1-{RULE_ID_MAX_CHARS} lowercase letters, digits or -",
                n + 1
            ));
        }
        if rules[..n].iter().any(|other| other.id == rule.id) {
            return Some(format!("rule {}: id {:?} is used twice", n + 1, rule.id));
        }
        let id = &rule.id;
        if rule.page.is_empty() || rule.page.chars().count() > 200 {
            return Some(format!("{id}: page must be 1-200 characters"));
        }
        if !rule.page.starts_with('/') && !rule.page.starts_with('*') {
            return Some(format!(
                "{id}: page {:?} must be a path starting with / (or *), such as /pricing or /docs/*",
                rule.page
            ));
        }
        if rule.after_seconds > AFTER_SECONDS_MAX {
            return Some(format!(
                "{id}: afterSeconds must be at most {AFTER_SECONDS_MAX}"
            ));
        }
        let chars = rule.message.trim().chars().count();
        if chars == 0 || rule.message.chars().count() > MESSAGE_MAX_CHARS {
            return Some(format!(
                "{id}: message must be 1-{MESSAGE_MAX_CHARS} characters"
            ));
        }
        if rule.message.chars().any(|c| c.is_control() && c != '\n')
            || rule.page.chars().any(char::is_control)
        {
            return Some(format!("{id}: must not contain control characters"));
        }
    }
    None
}

/// What a visitor did with a proactive message, as the widget reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProactiveAction {
    /// It appeared above the bubble.
    Shown = 0,
    /// The visitor opened the chat while it showed (by the message or the bubble).
    Opened = 1,
    /// The visitor closed it with its ✕.
    Dismissed = 2,
}

impl ProactiveAction {
    pub const ALL: [ProactiveAction; 3] = [
        ProactiveAction::Shown,
        ProactiveAction::Opened,
        ProactiveAction::Dismissed,
    ];

    /// Its one-byte code in stored keys; never renumber.
    pub fn code(self) -> u8 {
        self as u8
    }

    pub fn from_code(code: u8) -> Option<ProactiveAction> {
        ProactiveAction::ALL
            .into_iter()
            .find(|action| action.code() == code)
    }
}

/// How often one message was shown, opened and dismissed in some period.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ProactiveCounts {
    pub shown: u64,
    pub opened: u64,
    pub dismissed: u64,
}

impl ProactiveCounts {
    fn slot(&mut self, action: ProactiveAction) -> &mut u64 {
        match action {
            ProactiveAction::Shown => &mut self.shown,
            ProactiveAction::Opened => &mut self.opened,
            ProactiveAction::Dismissed => &mut self.dismissed,
        }
    }

    pub fn add(&mut self, action: ProactiveAction, count: u64) {
        *self.slot(action) += count;
    }

    pub fn merge(&mut self, other: &ProactiveCounts) {
        for (action, count) in other.counted() {
            self.add(action, count);
        }
    }

    /// Every non-zero count.
    pub fn counted(&self) -> impl Iterator<Item = (ProactiveAction, u64)> + '_ {
        let mut copy = *self;
        ProactiveAction::ALL
            .into_iter()
            .map(move |action| (action, *copy.slot(action)))
            .filter(|(_, count)| *count > 0)
    }
}

/// Counts per rule id.
pub type CountsByRule = BTreeMap<String, ProactiveCounts>;

/// One visit's report of what it did with one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProactiveReport {
    /// The visit, as a number the widget made up for it: no person behind it.
    pub visit: u64,
    pub rule: String,
    pub action: ProactiveAction,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(id: &str) -> ProactiveRule {
        ProactiveRule {
            id: id.into(),
            page: "/pricing".into(),
            after_seconds: 10,
            message: "Questions about plans?".into(),
            frequency: Frequency::Visit,
        }
    }

    #[test]
    fn rules_are_checked_naming_the_rule() {
        assert_eq!(problem(&[rule("pricing"), rule("docs-2")]), None);
        type Spoil = fn(&mut ProactiveRule);
        let cases: [(Spoil, &str); 7] = [
            (|r| r.id = "Pricing".into(), "rule 1: id"),
            (|r| r.id = String::new(), "rule 1: id"),
            (|r| r.page = "pricing".into(), "page \"pricing\""),
            (|r| r.after_seconds = 3601, "afterSeconds"),
            (|r| r.message = "  ".into(), "message"),
            (|r| r.message = "x".repeat(281), "message"),
            (|r| r.message = "a\u{7}b".into(), "control"),
        ];
        for (spoil, expected) in cases {
            let mut bad = rule("pricing");
            spoil(&mut bad);
            let found = problem(&[bad]).expect("a problem");
            assert!(found.contains(expected), "{found} names {expected}");
        }
        assert!(
            problem(&[rule("a"), rule("a")])
                .unwrap()
                .contains("used twice")
        );
        let many: Vec<_> = (0..11).map(|n| rule(&format!("r{n}"))).collect();
        assert!(problem(&many).unwrap().contains("at most 10"));
    }

    #[test]
    fn counts_add_and_list_what_is_not_zero() {
        let mut counts = ProactiveCounts::default();
        counts.add(ProactiveAction::Shown, 3);
        counts.add(ProactiveAction::Dismissed, 1);
        let mut more = ProactiveCounts::default();
        more.add(ProactiveAction::Shown, 1);
        counts.merge(&more);
        assert_eq!(
            counts.counted().collect::<Vec<_>>(),
            [(ProactiveAction::Shown, 4), (ProactiveAction::Dismissed, 1)]
        );
        for action in ProactiveAction::ALL {
            assert_eq!(ProactiveAction::from_code(action.code()), Some(action));
        }
    }
}
