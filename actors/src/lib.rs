//! The HelpYap engine: domain types, the storage port and its sled adapter, the seams between
//! nodes, and the actors that own all state.
//!
//! The edge (the `helpyap` server crate) talks to it only through [`Engine`]'s handles and the
//! domain types re-exported here. This crate never sees HTTP, sockets or the config file:
//! actors get `…Arguments` structs, and errors travel back as [`Failure`]s whose kind the edge
//! maps to a status. Its modules form layers, each using only the ones before it: domain types
//! (`records`, `chat`, `widget`, `hours`, `social_proof`, `lead`, `identity`, `knowledge`,
//! `secret`, `error`, `time`)
//! → storage (`store`) → actors (`project`, `session`, `accounts`, `feed`, `supervisor`, with
//! `nodes`, `activity` and `llm`) → handles (`engine`).
#![forbid(unsafe_code)]

pub mod accounts;
pub mod activity;
pub mod chat;
pub mod deadline;
pub mod dispatcher;
pub mod engine;
pub mod error;
pub mod feed;
pub mod hours;
pub mod identity;
pub mod integrations;
pub mod intent;
pub mod knowledge;
pub mod language;
pub mod lead;
pub mod llm;
pub mod nodes;
pub mod proactive;
pub mod project;
pub mod records;
pub mod secret;
pub mod session;
pub mod social_proof;
pub mod store;
pub mod supervisor;
#[cfg(any(test, feature = "test-engines"))]
pub mod testing;
pub mod text;
pub mod time;
pub mod webhook;
pub mod widget;

pub use chat::{
    Author, ChatError, ChatEvent, ConversationStatus, Handoff, HandoffChange, LeadContact,
    MessageRecord, Source, Transcript,
};
pub use engine::{Accounts, Chat, Engine, EngineArguments, Projects, Reports};
pub use error::{ErrorKind, Failure};
pub use knowledge::{Document, DocumentFormat};
pub use nodes::{Nodes, RedisFanOut};
pub use project::{ProjectError, ProjectSettings, ProjectSnapshot};
pub use secret::SecretHash;
pub use session::{ChatEngine, ChatStart, Models};
pub use social_proof::{InvalidEvent, PushFields, SocialProofEvent};
pub use store::{PgStore, SledStore, Storage, Store, StoreError};
pub use widget::{
    InvalidSetting, LiveViewers, MobilePosition, NameFormat, PageRules, PopupPosition,
    PopupTemplates, PopupTypes, Position, SocialProofDisplay, Summaries, Theme, Utm,
    WidgetSettings,
};
