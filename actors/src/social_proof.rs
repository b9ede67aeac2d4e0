//! Social-proof events: what an owner's server pushes ("Sarah K. from Austin, TX signed up for
//! Pro Plan") and the validation every push passes before it is stored.
//!
//! This module owns the event's shape and field limits. It does not store, number or deliver
//! events: the project actor numbers and stores them, the edge delivers them.

use serde::{Deserialize, Serialize};

use crate::text::{TextError, clean_field, is_web_url};

/// Longest accepted `name`, in characters.
pub const NAME_MAX_CHARS: usize = 80;
/// Longest accepted `location`, in characters.
pub const LOCATION_MAX_CHARS: usize = 120;
/// Longest accepted `product`, in characters.
pub const PRODUCT_MAX_CHARS: usize = 120;
/// Longest accepted `message`, in characters.
pub const MESSAGE_MAX_CHARS: usize = 280;
/// Longest accepted `url` and `imageUrl`, in characters.
pub const URL_MAX_CHARS: usize = 2000;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Purchased = 0,
    Subscribed = 1,
    SignedUp = 2,
    AddedToCart = 3,
    Custom = 4,
}

impl EventKind {
    /// Every type, in the order of their stored codes.
    pub const ALL: [EventKind; 5] = [
        EventKind::Purchased,
        EventKind::Subscribed,
        EventKind::SignedUp,
        EventKind::AddedToCart,
        EventKind::Custom,
    ];

    /// The type's one-byte code in stored keys; never renumber.
    pub fn code(self) -> u8 {
        self as u8
    }

    pub fn parse(kind: &str) -> Option<EventKind> {
        Some(match kind {
            "purchased" => EventKind::Purchased,
            "subscribed" => EventKind::Subscribed,
            "signed_up" => EventKind::SignedUp,
            "added_to_cart" => EventKind::AddedToCart,
            "custom" => EventKind::Custom,
            _ => return None,
        })
    }
}

/// How many events of each type were pushed in some period ("27 people signed up today").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct EventCounts {
    pub purchased: u64,
    pub subscribed: u64,
    pub signed_up: u64,
    pub added_to_cart: u64,
    pub custom: u64,
}

impl EventCounts {
    /// The count of one kind.
    pub fn of(&self, kind: EventKind) -> u64 {
        match kind {
            EventKind::Purchased => self.purchased,
            EventKind::Subscribed => self.subscribed,
            EventKind::SignedUp => self.signed_up,
            EventKind::AddedToCart => self.added_to_cart,
            EventKind::Custom => self.custom,
        }
    }

    /// The kinds counted at least once, with their counts.
    pub fn counted(&self) -> impl Iterator<Item = (EventKind, u64)> + '_ {
        EventKind::ALL
            .into_iter()
            .map(|kind| (kind, self.of(kind)))
            .filter(|&(_, count)| count > 0)
    }

    pub fn add(&mut self, kind: EventKind, count: u64) {
        let slot = match kind {
            EventKind::Purchased => &mut self.purchased,
            EventKind::Subscribed => &mut self.subscribed,
            EventKind::SignedUp => &mut self.signed_up,
            EventKind::AddedToCart => &mut self.added_to_cart,
            EventKind::Custom => &mut self.custom,
        };
        *slot += count;
    }

    /// Adds `other`'s counts to these.
    pub fn merge(&mut self, other: &EventCounts) {
        self.purchased += other.purchased;
        self.subscribed += other.subscribed;
        self.signed_up += other.signed_up;
        self.added_to_cart += other.added_to_cart;
        self.custom += other.custom;
    }

    pub fn total(&self) -> u64 {
        self.purchased + self.subscribed + self.signed_up + self.added_to_cart + self.custom
    }
}

/// What a visitor did with a popup, as the widget reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PopupAction {
    Shown = 0,
    Clicked = 1,
}

impl PopupAction {
    pub const ALL: [PopupAction; 2] = [PopupAction::Shown, PopupAction::Clicked];

    /// Its one-byte code in stored keys; never renumber.
    pub fn code(self) -> u8 {
        self as u8
    }

    pub fn from_code(code: u8) -> Option<PopupAction> {
        PopupAction::ALL
            .into_iter()
            .find(|action| action.code() == code)
    }
}

/// How often popups of each type were shown and clicked in some period.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct PopupCounts {
    pub shown: EventCounts,
    pub clicked: EventCounts,
}

impl PopupCounts {
    pub fn of(&self, action: PopupAction) -> &EventCounts {
        match action {
            PopupAction::Shown => &self.shown,
            PopupAction::Clicked => &self.clicked,
        }
    }

    pub fn add(&mut self, action: PopupAction, kind: EventKind, count: u64) {
        match action {
            PopupAction::Shown => self.shown.add(kind, count),
            PopupAction::Clicked => self.clicked.add(kind, count),
        }
    }

    pub fn merge(&mut self, other: &PopupCounts) {
        self.shown.merge(&other.shown);
        self.clicked.merge(&other.clicked);
    }

    /// Every non-zero count: action, type, count.
    pub fn counted(&self) -> impl Iterator<Item = (PopupAction, EventKind, u64)> + '_ {
        PopupAction::ALL.into_iter().flat_map(move |action| {
            self.of(action)
                .counted()
                .map(move |(kind, count)| (action, kind, count))
        })
    }
}

/// The fields of a push as the client sent them, before validation.
#[derive(Debug, Default, Clone)]
pub struct PushFields {
    pub kind: String,
    pub name: Option<String>,
    pub location: Option<String>,
    pub product: Option<String>,
    pub message: Option<String>,
    pub url: Option<String>,
    pub image_url: Option<String>,
}

/// A validated event that has no id yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    pub kind: EventKind,
    pub name: Option<String>,
    pub location: Option<String>,
    pub product: Option<String>,
    pub message: Option<String>,
    /// Where a click on the popup goes: an absolute http(s) URL.
    pub url: Option<String>,
    /// A picture for the popup (the product's, the buyer's avatar): an absolute http(s) URL.
    pub image_url: Option<String>,
    /// Where it came from, as an id no other event of the project has (`stripe:evt_…`): an
    /// event whose source was stored before is not stored again. Not kept in the event.
    pub source: Option<String>,
}

/// A stored event. `id` is monotonic per project and never reused, also across restarts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SocialProofEvent {
    pub id: u64,
    #[serde(rename = "type")]
    pub kind: EventKind,
    pub name: Option<String>,
    pub location: Option<String>,
    pub product: Option<String>,
    pub message: Option<String>,
    /// Not in the seed API; events stored before it existed have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_url: Option<String>,
    /// Milliseconds since the Unix epoch.
    pub created_at_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidEvent {
    #[error("type must be one of purchased, subscribed, signed_up, added_to_cart, custom")]
    UnknownKind,
    #[error("{field} must be at most {max} characters")]
    TooLong { field: &'static str, max: usize },
    #[error("{field} must not contain control characters")]
    ControlCharacters { field: &'static str },
    #[error("message is required for custom events")]
    CustomWithoutMessage,
    #[error("{field} must be an absolute http(s) URL of at most {URL_MAX_CHARS} characters")]
    NotAWebUrl { field: &'static str },
}

impl NewEvent {
    /// Validates a push. Surrounding white space is trimmed and empty strings count as absent.
    pub fn validate(fields: PushFields) -> Result<NewEvent, InvalidEvent> {
        let kind = EventKind::parse(&fields.kind).ok_or(InvalidEvent::UnknownKind)?;
        let event = NewEvent {
            kind,
            name: clean("name", fields.name, NAME_MAX_CHARS)?,
            location: clean("location", fields.location, LOCATION_MAX_CHARS)?,
            product: clean("product", fields.product, PRODUCT_MAX_CHARS)?,
            message: clean("message", fields.message, MESSAGE_MAX_CHARS)?,
            url: web_url("url", fields.url)?,
            image_url: web_url("imageUrl", fields.image_url)?,
            source: None,
        };
        if kind == EventKind::Custom && event.message.is_none() {
            return Err(InvalidEvent::CustomWithoutMessage);
        }
        Ok(event)
    }

    pub fn into_event(self, id: u64, created_at_ms: u64) -> SocialProofEvent {
        SocialProofEvent {
            id,
            kind: self.kind,
            name: self.name,
            location: self.location,
            product: self.product,
            message: self.message,
            url: self.url,
            image_url: self.image_url,
            created_at_ms,
        }
    }
}

fn web_url(field: &'static str, value: Option<String>) -> Result<Option<String>, InvalidEvent> {
    let url =
        clean_field(value, URL_MAX_CHARS, false).map_err(|_| InvalidEvent::NotAWebUrl { field })?;
    match url {
        Some(url) if !is_web_url(&url) => Err(InvalidEvent::NotAWebUrl { field }),
        url => Ok(url),
    }
}

fn clean(
    field: &'static str,
    value: Option<String>,
    max: usize,
) -> Result<Option<String>, InvalidEvent> {
    clean_field(value, max, false).map_err(|error| match error {
        TextError::TooLong => InvalidEvent::TooLong { field, max },
        TextError::ControlCharacters => InvalidEvent::ControlCharacters { field },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(kind: &str) -> PushFields {
        PushFields {
            kind: kind.into(),
            ..PushFields::default()
        }
    }

    #[test]
    fn accepts_every_documented_type() {
        for kind in ["purchased", "subscribed", "signed_up", "added_to_cart"] {
            assert!(NewEvent::validate(fields(kind)).is_ok(), "{kind}");
        }
        assert_eq!(
            NewEvent::validate(fields("refunded")),
            Err(InvalidEvent::UnknownKind)
        );
        assert_eq!(
            NewEvent::validate(fields("Purchased")),
            Err(InvalidEvent::UnknownKind)
        );
    }

    #[test]
    fn custom_needs_a_message() {
        assert_eq!(
            NewEvent::validate(fields("custom")),
            Err(InvalidEvent::CustomWithoutMessage)
        );
        let blank = PushFields {
            message: Some("   ".into()),
            ..fields("custom")
        };
        assert_eq!(
            NewEvent::validate(blank),
            Err(InvalidEvent::CustomWithoutMessage)
        );
        let ok = PushFields {
            message: Some(" 5 people bought today ".into()),
            ..fields("custom")
        };
        assert_eq!(
            NewEvent::validate(ok).unwrap().message.as_deref(),
            Some("5 people bought today")
        );
    }

    #[test]
    fn links_and_pictures_must_be_web_urls() {
        let linked = PushFields {
            url: Some(" https://shop.example/p/jacket?ref=1 ".into()),
            image_url: Some("http://cdn.example/j.png".into()),
            ..fields("purchased")
        };
        let event = NewEvent::validate(linked).unwrap();
        assert_eq!(
            event.url.as_deref(),
            Some("https://shop.example/p/jacket?ref=1")
        );
        assert_eq!(event.image_url.as_deref(), Some("http://cdn.example/j.png"));
        for (field, bad) in [
            ("url", "javascript:alert(1)"),
            ("url", "/relative/path"),
            ("url", "data:text/html,hi"),
            ("imageUrl", "ftp://cdn.example/j.png"),
            ("imageUrl", "https://"),
        ] {
            let mut push = fields("purchased");
            if field == "url" {
                push.url = Some(bad.into());
            } else {
                push.image_url = Some(bad.into());
            }
            assert_eq!(
                NewEvent::validate(push),
                Err(InvalidEvent::NotAWebUrl { field }),
                "{bad}"
            );
        }
        let long = PushFields {
            url: Some(format!(
                "https://shop.example/{}",
                "a".repeat(URL_MAX_CHARS)
            )),
            ..fields("purchased")
        };
        assert_eq!(
            NewEvent::validate(long),
            Err(InvalidEvent::NotAWebUrl { field: "url" })
        );
    }

    #[test]
    fn names_are_shown_as_the_project_chose() {
        let cases = [
            (NameFormat::Full, "Sarah Kim", Some("Sarah Kim")),
            (NameFormat::First, "Sarah Kim", Some("Sarah")),
            (
                NameFormat::FirstInitial,
                "Sarah  van der kim",
                Some("Sarah K."),
            ),
            (NameFormat::FirstInitial, "Sarah", Some("Sarah")),
            (NameFormat::FirstInitial, "José Ángel", Some("José Á.")),
            (NameFormat::Anonymous, "Sarah Kim", None),
        ];
        for (format, name, shown) in cases {
            assert_eq!(format.show(name).as_deref(), shown, "{format:?} {name}");
        }
        let event = NewEvent::validate(PushFields {
            name: Some("Sarah Kim".into()),
            ..fields("signed_up")
        })
        .unwrap()
        .into_event(7, 0);
        let shown = serde_json::to_value(PopupEvent::new(&event, NameFormat::Anonymous)).unwrap();
        assert_eq!(shown["name"], serde_json::Value::Null);
        assert!(!shown.to_string().contains("Sarah"), "{shown}");
        assert!(
            shown.get("url").is_none(),
            "no url key without a url: {shown}"
        );
    }

    #[test]
    fn enforces_length_in_characters_not_bytes() {
        let at_limit = PushFields {
            name: Some("é".repeat(NAME_MAX_CHARS)),
            ..fields("purchased")
        };
        assert!(NewEvent::validate(at_limit).is_ok());
        let over = PushFields {
            name: Some("é".repeat(NAME_MAX_CHARS + 1)),
            ..fields("purchased")
        };
        assert_eq!(
            NewEvent::validate(over),
            Err(InvalidEvent::TooLong {
                field: "name",
                max: NAME_MAX_CHARS
            })
        );
        let location = PushFields {
            location: Some("x\u{0}y".into()),
            ..fields("purchased")
        };
        assert_eq!(
            NewEvent::validate(location),
            Err(InvalidEvent::ControlCharacters { field: "location" })
        );
    }
}

/// An event as every live channel (and the poll) sends it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PopupEvent<'a> {
    /// A whole number, as a string.
    pub id: String,
    #[serde(rename = "type")]
    pub kind: EventKind,
    /// As the project's name format shows it: `null` when names are hidden.
    #[schema(required = true)]
    pub name: Option<String>,
    #[schema(required = true)]
    pub location: Option<&'a str>,
    #[schema(required = true)]
    pub product: Option<&'a str>,
    #[schema(required = true)]
    pub message: Option<&'a str>,
    /// Where a click on the popup goes. Not in the seed API: sent only when the push had one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<&'a str>,
    /// The popup's picture. Not in the seed API: sent only when the push had one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_url: Option<&'a str>,
    #[schema(format = DateTime)]
    pub created_at: String,
}

impl<'a> PopupEvent<'a> {
    /// `event` as visitors see it, its name shown as `names` says.
    pub fn new(event: &'a SocialProofEvent, names: NameFormat) -> PopupEvent<'a> {
        PopupEvent {
            id: event.id.to_string(),
            kind: event.kind,
            name: event.name.as_deref().and_then(|name| names.show(name)),
            location: event.location.as_deref(),
            product: event.product.as_deref(),
            message: event.message.as_deref(),
            url: event.url.as_deref(),
            image_url: event.image_url.as_deref(),
            created_at: crate::time::rfc3339(event.created_at_ms),
        }
    }
}

/// How much of a pushed name visitors see. Applied by the server before an event leaves it, so
/// a hidden name never reaches a visitor's browser.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NameFormat {
    /// As pushed: "Sarah Kim".
    #[default]
    Full,
    /// "Sarah".
    First,
    /// "Sarah K.".
    FirstInitial,
    /// No name: the widget says "Someone".
    Anonymous,
}

impl NameFormat {
    /// `name` (trimmed, not empty) as this format shows it.
    pub fn show(self, name: &str) -> Option<String> {
        let mut words = name.split_whitespace();
        let first = words.next()?;
        match self {
            NameFormat::Full => Some(name.to_owned()),
            NameFormat::First => Some(first.to_owned()),
            NameFormat::FirstInitial => {
                Some(match words.last().and_then(|last| last.chars().next()) {
                    Some(initial) => format!("{first} {}.", initial.to_uppercase()),
                    None => first.to_owned(),
                })
            }
            NameFormat::Anonymous => None,
        }
    }
}
