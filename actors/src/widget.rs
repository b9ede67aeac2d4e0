//! The public widget configuration of a project: what `GET /api/widget/config` shows visitors.
//!
//! Owns the settings' shape (serialized exactly as the public API's JSON) and their validation
//! rules. It does not know where settings come from (config file, dashboard) or how they are
//! served.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::hours::BusinessHours;
use crate::language::Lang;
use crate::proactive::ProactiveRule;
pub use crate::social_proof::NameFormat;
use crate::social_proof::{EventKind, NameFormat as Names};

pub const NAME_MAX_CHARS: usize = 80;
pub const WELCOME_MAX_CHARS: usize = 500;
pub const QUICK_REPLIES_MAX: usize = 8;
pub const QUICK_REPLY_MAX_CHARS: usize = 80;

/// A project's widget settings. Its JSON form *is* the public config response.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WidgetSettings {
    /// The assistant's display name, e.g. "Support Bot".
    #[schema(min_length = 1, max_length = 80, example = "Support Bot")]
    pub name: String,
    #[schema(max_length = 80)]
    pub company: String,
    #[schema(max_length = 500)]
    pub welcome_message: String,
    #[schema(max_items = 8)]
    pub quick_replies: Vec<String>,
    pub theme: Theme,
    /// How the widget shows social-proof popups. Not in the seed API; added after its fields.
    /// Records stored before it existed get the defaults.
    #[serde(default)]
    pub social_proof: SocialProofDisplay,
    /// The language of the widget's own words (buttons, labels, the contact form): `auto`
    /// (the visitor's browser language when the widget has it, else English) or a language
    /// code (`en`, `es`, `de`, `fr`, `pt`, `it`, `nl`). Not in the seed API either.
    #[serde(default = "auto_locale")]
    #[schema(example = "auto")]
    pub locale: String,
    /// The owner's wording for single widget strings, by key (`leadIntro`, `send`…; the list
    /// is in the README), in whatever language the owner writes them.
    #[serde(default)]
    pub strings: BTreeMap<String, String>,
    /// When the team answers; outside them the widget says when it is back and offers to take
    /// a message. Off by default.
    #[serde(default)]
    pub business_hours: BusinessHours,
    /// Short messages shown above the closed bubble on some pages after some time, each once
    /// per visit or per day. None by default.
    #[serde(default)]
    #[schema(max_items = 10)]
    pub proactive: Vec<ProactiveRule>,
}

/// The `locale` that follows the visitor's browser.
pub const AUTO_LOCALE: &str = "auto";

fn auto_locale() -> String {
    AUTO_LOCALE.to_owned()
}

/// `locale` values: `auto` or a supported language's code.
pub fn is_locale(locale: &str) -> bool {
    locale == AUTO_LOCALE || Lang::from_code(locale).is_some_and(|lang| lang.code() == locale)
}

pub const STRINGS_MAX: usize = 100;
pub const STRING_KEY_MAX_CHARS: usize = 40;
pub const STRING_MAX_CHARS: usize = 300;

/// Display rules for social-proof popups, applied by the widget (the name format by the server,
/// before an event leaves it). Durations in milliseconds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", default, remote = "Self")]
pub struct SocialProofDisplay {
    pub enabled: bool,
    /// From page load to the first popup.
    pub initial_delay_ms: u64,
    /// How long one popup stays.
    pub display_ms: u64,
    /// Pause between two popups.
    pub gap_ms: u64,
    pub max_per_visit: u32,
    pub show_on_mobile: bool,
    /// How much of a pushed name visitors see.
    pub name_format: Names,
    /// Events older than this are not shown.
    pub max_age_ms: u64,
    pub templates: PopupTemplates,
    /// Where popups show on wider screens; `auto`: beside the chat bubble.
    pub position: PopupPosition,
    /// Where the compact banner shows on phones (never over the chat bubble).
    pub mobile_position: MobilePosition,
    /// Which pages show popups, by path.
    pub pages: PageRules,
    /// Which event types show as popups.
    pub types: PopupTypes,
    /// Added to each popup's link (`utm_source`…); an empty value is left out, and a parameter
    /// the link already has is kept.
    pub utm: Utm,
    /// "27 people signed up in the last 24 hours": popups from the project's counts.
    pub summaries: Summaries,
    /// "12 people are viewing this page right now": a popup from the live visitors on the page.
    pub live_viewers: LiveViewers,
    /// Records and dashboards from before `nameFormat` hid names with `anonymize: true`, which
    /// still does: read as `nameFormat: anonymous`, never written.
    #[serde(skip_serializing, rename = "anonymize")]
    #[schema(ignore)]
    pub legacy_anonymize: bool,
}

// Derived with `remote = "Self"` above, so the derived code is these inherent functions and the
// traits can add a step: the legacy `anonymize` becomes the name format.
impl Serialize for SocialProofDisplay {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        SocialProofDisplay::serialize(self, serializer)
    }
}

impl<'de> Deserialize<'de> for SocialProofDisplay {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut display = SocialProofDisplay::deserialize(deserializer)?;
        if std::mem::take(&mut display.legacy_anonymize) {
            display.name_format = Names::Anonymous;
        }
        Ok(display)
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum PopupPosition {
    #[default]
    Auto,
    BottomLeft,
    BottomRight,
    TopLeft,
    TopRight,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum MobilePosition {
    Top,
    #[default]
    Bottom,
}

/// Path patterns (`*` any characters, `?` one; `/pricing`, `/blog/*`). A page shows popups
/// when its path matches an `include` pattern (or there are none) and no `exclude` pattern.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct PageRules {
    pub include: Vec<String>,
    pub exclude: Vec<String>,
}

pub const PAGE_PATTERNS_MAX: usize = 50;
pub const PAGE_PATTERN_MAX_CHARS: usize = 200;

/// On/off per event type.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case", default, deny_unknown_fields)]
pub struct PopupTypes {
    pub purchased: bool,
    pub subscribed: bool,
    pub signed_up: bool,
    pub added_to_cart: bool,
    pub custom: bool,
}

impl Default for PopupTypes {
    fn default() -> Self {
        PopupTypes {
            purchased: true,
            subscribed: true,
            signed_up: true,
            added_to_cart: true,
            custom: true,
        }
    }
}

impl PopupTypes {
    pub fn shows(&self, kind: EventKind) -> bool {
        match kind {
            EventKind::Purchased => self.purchased,
            EventKind::Subscribed => self.subscribed,
            EventKind::SignedUp => self.signed_up,
            EventKind::AddedToCart => self.added_to_cart,
            EventKind::Custom => self.custom,
        }
    }
}

/// Campaign parameters added to popup links, so the owner's analytics see where visits came
/// from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Utm {
    #[schema(example = "helpyap")]
    pub source: String,
    #[schema(example = "social_proof")]
    pub medium: String,
    pub campaign: String,
}

pub const UTM_MAX_CHARS: usize = 100;

/// Popups that sum up the project's recent events of a type, shown once per visit each.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Summaries {
    pub enabled: bool,
    /// The window counted, in hours (at most 31 days).
    #[serde(alias = "window_hours")]
    pub window_hours: u32,
    /// A type with fewer events in the window gets no summary.
    #[serde(alias = "min_count")]
    pub min_count: u64,
    pub templates: SummaryTemplates,
}

/// A summary's text per event type, with `{count}` and `{window}` ("24 hours", in the visitor's
/// language); an empty one shows no summary of that type.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case", default, deny_unknown_fields)]
pub struct SummaryTemplates {
    pub purchased: String,
    pub subscribed: String,
    pub signed_up: String,
    pub added_to_cart: String,
}

impl Default for Summaries {
    fn default() -> Self {
        Summaries {
            enabled: false,
            window_hours: 24,
            min_count: 5,
            templates: SummaryTemplates {
                purchased: "{count} people made a purchase in the last {window}".into(),
                subscribed: "{count} people subscribed in the last {window}".into(),
                signed_up: "{count} people signed up in the last {window}".into(),
                added_to_cart: String::new(),
            },
        }
    }
}

impl Default for SummaryTemplates {
    fn default() -> Self {
        Summaries::default().templates
    }
}

/// A popup counting the visitors on the visitor's page, when there are enough.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct LiveViewers {
    pub enabled: bool,
    /// Fewer visitors on the page (the visitor included) show nothing.
    #[serde(alias = "min_count")]
    pub min_count: u32,
    /// With `{count}`.
    pub template: String,
}

impl Default for LiveViewers {
    fn default() -> Self {
        LiveViewers {
            enabled: false,
            min_count: 3,
            template: "{count} people are viewing this page right now".into(),
        }
    }
}

/// Longest summary window, in hours: the hourly counts kept.
pub const SUMMARY_WINDOW_MAX_HOURS: u32 = 31 * 24;

impl Default for Utm {
    fn default() -> Self {
        Utm {
            source: "helpyap".into(),
            medium: "social_proof".into(),
            campaign: String::new(),
        }
    }
}

/// The popup text per event type; `{name}`, `{location}`, `{product}` and `{message}` are
/// replaced with the event's fields.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case", default, deny_unknown_fields)]
pub struct PopupTemplates {
    pub purchased: String,
    pub subscribed: String,
    pub signed_up: String,
    pub added_to_cart: String,
    pub custom: String,
}

pub const DISPLAY_MAX_MS: u64 = 24 * 3600 * 1000;
pub const MAX_AGE_MAX_MS: u64 = 365 * 24 * 3600 * 1000;
pub const MAX_POPUPS_PER_VISIT: u32 = 1000;
pub const TEMPLATE_MAX_CHARS: usize = 200;
const PLACEHOLDERS: [&str; 4] = ["name", "location", "product", "message"];

impl Default for SocialProofDisplay {
    fn default() -> Self {
        SocialProofDisplay {
            enabled: true,
            initial_delay_ms: 5_000,
            display_ms: 6_000,
            gap_ms: 10_000,
            max_per_visit: 5,
            show_on_mobile: true,
            name_format: Names::Full,
            max_age_ms: 7 * 24 * 3600 * 1000,
            templates: PopupTemplates::default(),
            position: PopupPosition::Auto,
            mobile_position: MobilePosition::Bottom,
            pages: PageRules::default(),
            types: PopupTypes::default(),
            utm: Utm::default(),
            summaries: Summaries::default(),
            live_viewers: LiveViewers::default(),
            legacy_anonymize: false,
        }
    }
}

impl Default for PopupTemplates {
    fn default() -> Self {
        PopupTemplates {
            purchased: "{name} from {location} just purchased {product}".into(),
            subscribed: "{name} from {location} subscribed to {product}".into(),
            signed_up: "{name} from {location} signed up for {product}".into(),
            added_to_cart: "{name} from {location} added {product} to their cart".into(),
            custom: "{message}".into(),
        }
    }
}

impl SocialProofDisplay {
    pub fn validate(&self) -> Result<(), InvalidSetting> {
        for (field, value) in [
            ("socialProof.initialDelayMs", self.initial_delay_ms),
            ("socialProof.displayMs", self.display_ms),
            ("socialProof.gapMs", self.gap_ms),
        ] {
            if value > DISPLAY_MAX_MS {
                return Err(invalid(field, "at most one day".into()));
            }
        }
        if self.display_ms == 0 {
            return Err(invalid(
                "socialProof.displayMs",
                "must be more than 0".into(),
            ));
        }
        if self.max_per_visit > MAX_POPUPS_PER_VISIT {
            return Err(invalid(
                "socialProof.maxPerVisit",
                format!("at most {MAX_POPUPS_PER_VISIT}"),
            ));
        }
        if self.max_age_ms == 0 || self.max_age_ms > MAX_AGE_MAX_MS {
            return Err(invalid(
                "socialProof.maxAgeMs",
                "between 1 ms and one year".into(),
            ));
        }
        let templates = &self.templates;
        for (field, template) in [
            ("socialProof.templates.purchased", &templates.purchased),
            ("socialProof.templates.subscribed", &templates.subscribed),
            ("socialProof.templates.signed_up", &templates.signed_up),
            (
                "socialProof.templates.added_to_cart",
                &templates.added_to_cart,
            ),
            ("socialProof.templates.custom", &templates.custom),
        ] {
            check_text(field, template, 1, TEMPLATE_MAX_CHARS)?;
            check_placeholders(field, template, &PLACEHOLDERS)?;
        }
        let summaries = &self.summaries;
        if !(1..=SUMMARY_WINDOW_MAX_HOURS).contains(&summaries.window_hours) {
            return Err(invalid(
                "socialProof.summaries.windowHours",
                format!("between 1 and {SUMMARY_WINDOW_MAX_HOURS}"),
            ));
        }
        if summaries.min_count == 0 {
            return Err(invalid(
                "socialProof.summaries.minCount",
                "at least 1".into(),
            ));
        }
        let summary_templates = &summaries.templates;
        for (field, template) in [
            (
                "socialProof.summaries.templates.purchased",
                &summary_templates.purchased,
            ),
            (
                "socialProof.summaries.templates.subscribed",
                &summary_templates.subscribed,
            ),
            (
                "socialProof.summaries.templates.signed_up",
                &summary_templates.signed_up,
            ),
            (
                "socialProof.summaries.templates.added_to_cart",
                &summary_templates.added_to_cart,
            ),
        ] {
            check_text(field, template, 0, TEMPLATE_MAX_CHARS)?;
            check_placeholders(field, template, &["count", "window"])?;
        }
        if self.live_viewers.min_count == 0 {
            return Err(invalid(
                "socialProof.liveViewers.minCount",
                "at least 1".into(),
            ));
        }
        let field = "socialProof.liveViewers.template";
        check_text(field, &self.live_viewers.template, 1, TEMPLATE_MAX_CHARS)?;
        check_placeholders(field, &self.live_viewers.template, &["count"])?;
        for (field, patterns) in [
            ("socialProof.pages.include", &self.pages.include),
            ("socialProof.pages.exclude", &self.pages.exclude),
        ] {
            if patterns.len() > PAGE_PATTERNS_MAX {
                return Err(invalid(
                    field,
                    format!("at most {PAGE_PATTERNS_MAX} patterns"),
                ));
            }
            for pattern in patterns {
                check_text(field, pattern, 1, PAGE_PATTERN_MAX_CHARS)?;
                if !pattern.starts_with('/') && !pattern.starts_with('*') {
                    return Err(invalid(
                        field,
                        format!(
                            "{pattern:?} must be a path starting with / (or *), such as /pricing or /blog/*"
                        ),
                    ));
                }
            }
        }
        for (field, value) in [
            ("socialProof.utm.source", &self.utm.source),
            ("socialProof.utm.medium", &self.utm.medium),
            ("socialProof.utm.campaign", &self.utm.campaign),
        ] {
            check_text(field, value, 0, UTM_MAX_CHARS)?;
        }
        Ok(())
    }
}

/// Every `{…}` in a template must be one of `known`, so a typo never shows raw.
fn check_placeholders(
    field: &'static str,
    template: &str,
    known: &[&str],
) -> Result<(), InvalidSetting> {
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let close = after
            .find('}')
            .ok_or_else(|| invalid(field, "has a { without a matching }".into()))?;
        let name = &after[..close];
        if !known.contains(&name) {
            let known: Vec<String> = known.iter().map(|name| format!("{{{name}}}")).collect();
            return Err(invalid(
                field,
                format!("unknown placeholder {{{name}}}; use {}", known.join(", ")),
            ));
        }
        rest = &after[close + 1..];
    }
    Ok(())
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Theme {
    /// `#rrggbb` (or `#rgb`).
    #[schema(pattern = "^#([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$", example = "#3737f6")]
    pub primary_color: String,
    pub position: Position,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
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
        if !is_locale(&self.locale) {
            return Err(invalid(
                "locale",
                "must be auto, en, es, de, fr, pt, it or nl".into(),
            ));
        }
        if self.strings.len() > STRINGS_MAX {
            return Err(invalid("strings", format!("at most {STRINGS_MAX} entries")));
        }
        for (key, value) in &self.strings {
            let well_formed = !key.is_empty()
                && key.len() <= STRING_KEY_MAX_CHARS
                && key.chars().all(|c| c.is_ascii_alphanumeric());
            if !well_formed {
                return Err(invalid(
                    "strings",
                    format!("keys are 1-{STRING_KEY_MAX_CHARS} letters or digits"),
                ));
            }
            check_text("strings", value, 1, STRING_MAX_CHARS)?;
        }
        if let Some(problem) = self.business_hours.problems().into_iter().next() {
            return Err(invalid("businessHours", problem));
        }
        if let Some(problem) = crate::proactive::problem(&self.proactive) {
            return Err(invalid("proactive", problem));
        }
        self.social_proof.validate()
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
            social_proof: SocialProofDisplay::default(),
            locale: "auto".into(),
            strings: Default::default(),
            business_hours: Default::default(),
            proactive: Vec::new(),
        }
    }

    #[test]
    fn serializes_with_the_public_field_names() {
        let mut json = serde_json::to_value(sample()).unwrap();
        let social_proof = json.as_object_mut().unwrap().remove("socialProof").unwrap();
        // Added after the seed's fields, like `socialProof`.
        assert_eq!(
            json.as_object_mut().unwrap().remove("locale").unwrap(),
            "auto"
        );
        assert_eq!(
            json.as_object_mut().unwrap().remove("strings").unwrap(),
            serde_json::json!({})
        );
        let hours = json
            .as_object_mut()
            .unwrap()
            .remove("businessHours")
            .unwrap();
        assert_eq!(
            hours,
            serde_json::json!({"enabled": false, "timeZone": "", "holidays": [],
                "weekly": {"mon": [], "tue": [], "wed": [], "thu": [], "fri": [], "sat": [], "sun": []}})
        );
        assert_eq!(
            json.as_object_mut().unwrap().remove("proactive").unwrap(),
            serde_json::json!([])
        );
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
        assert_eq!(
            social_proof,
            serde_json::json!({
                "enabled": true,
                "initialDelayMs": 5000,
                "displayMs": 6000,
                "gapMs": 10000,
                "maxPerVisit": 5,
                "showOnMobile": true,
                "nameFormat": "full",
                "maxAgeMs": 604800000,
                "templates": {
                    "purchased": "{name} from {location} just purchased {product}",
                    "subscribed": "{name} from {location} subscribed to {product}",
                    "signed_up": "{name} from {location} signed up for {product}",
                    "added_to_cart": "{name} from {location} added {product} to their cart",
                    "custom": "{message}"
                },
                "position": "auto",
                "mobilePosition": "bottom",
                "pages": {"include": [], "exclude": []},
                "types": {
                    "purchased": true, "subscribed": true, "signed_up": true,
                    "added_to_cart": true, "custom": true
                },
                "utm": {"source": "helpyap", "medium": "social_proof", "campaign": ""},
                "summaries": {
                    "enabled": false, "windowHours": 24, "minCount": 5,
                    "templates": {
                        "purchased": "{count} people made a purchase in the last {window}",
                        "subscribed": "{count} people subscribed in the last {window}",
                        "signed_up": "{count} people signed up in the last {window}",
                        "added_to_cart": ""
                    }
                },
                "liveViewers": {
                    "enabled": false, "minCount": 3,
                    "template": "{count} people are viewing this page right now"
                }
            })
        );
    }

    #[test]
    fn records_stored_before_display_rules_existed_get_the_defaults() {
        let old = r##"{"name":"Bot","company":"","welcomeMessage":"","quickReplies":[],"theme":{"primaryColor":"#000000","position":"bottom-left"}}"##;
        let settings: WidgetSettings = serde_json::from_str(old).unwrap();
        assert_eq!(settings.social_proof, SocialProofDisplay::default());
    }

    #[test]
    fn records_that_hid_names_with_anonymize_still_hide_them() {
        let old = r#"{"enabled":true,"anonymize":true,"maxPerVisit":3}"#;
        let display: SocialProofDisplay = serde_json::from_str(old).unwrap();
        assert_eq!(display.name_format, NameFormat::Anonymous);
        assert_eq!(display.max_per_visit, 3);
        let written = serde_json::to_value(&display).unwrap();
        assert_eq!(written["nameFormat"], "anonymous");
        assert!(written.get("anonymize").is_none(), "{written}");
        // Read back, it stays hidden; `anonymize: false` leaves the format alone.
        let again: SocialProofDisplay = serde_json::from_value(written).unwrap();
        assert_eq!(again, display);
        let first: SocialProofDisplay =
            serde_json::from_str(r#"{"anonymize":false,"nameFormat":"first"}"#).unwrap();
        assert_eq!(first.name_format, NameFormat::First);
    }

    #[test]
    fn page_patterns_and_campaign_values_are_checked() {
        type BreakRule = fn(&mut SocialProofDisplay);
        let broken: [(&str, BreakRule); 10] = [
            ("socialProof.summaries.windowHours", |d| {
                d.summaries.window_hours = 0
            }),
            ("socialProof.summaries.windowHours", |d| {
                d.summaries.window_hours = SUMMARY_WINDOW_MAX_HOURS + 1
            }),
            ("socialProof.summaries.minCount", |d| {
                d.summaries.min_count = 0
            }),
            ("socialProof.summaries.templates.signed_up", |d| {
                d.summaries.templates.signed_up = "{name} signed up".into()
            }),
            ("socialProof.liveViewers.template", |d| {
                d.live_viewers.template = "{count} on {page}".into()
            }),
            ("socialProof.pages.include", |d| {
                d.pages.include = vec!["pricing".into()]
            }),
            ("socialProof.pages.exclude", |d| {
                d.pages.exclude = vec![String::new()]
            }),
            ("socialProof.pages.exclude", |d| {
                d.pages.exclude = vec!["/a".into(); PAGE_PATTERNS_MAX + 1]
            }),
            ("socialProof.utm.source", |d| {
                d.utm.source = "x".repeat(UTM_MAX_CHARS + 1)
            }),
            ("socialProof.utm.campaign", |d| {
                d.utm.campaign = "a\u{1}".into()
            }),
        ];
        for (field, break_rule) in broken {
            let mut settings = sample();
            break_rule(&mut settings.social_proof);
            assert_eq!(settings.validate().unwrap_err().field, field);
        }
        let mut fine = sample();
        fine.social_proof.pages.include = vec!["/pricing".into(), "/blog/*".into(), "*".into()];
        fine.social_proof.utm.source = String::new();
        assert_eq!(fine.validate(), Ok(()));
    }

    #[test]
    fn display_rules_are_checked() {
        let mut settings = sample();
        settings.social_proof.templates.purchased = "{name} bought {prodcut}".into();
        let error = settings.validate().unwrap_err();
        assert_eq!(error.field, "socialProof.templates.purchased");
        assert!(error.reason.contains("{prodcut}"));
        settings.social_proof.templates.purchased = "{name bought".into();
        assert!(settings.validate().is_err());
        settings.social_proof.templates.purchased = "Someone bought {product}".into();
        assert!(settings.validate().is_ok());
        settings.social_proof.display_ms = 0;
        assert_eq!(
            settings.validate().unwrap_err().field,
            "socialProof.displayMs"
        );
        settings.social_proof.display_ms = 1000;
        settings.social_proof.max_per_visit = 5000;
        assert_eq!(
            settings.validate().unwrap_err().field,
            "socialProof.maxPerVisit"
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
