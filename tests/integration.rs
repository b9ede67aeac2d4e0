//! The one integration-test binary: the real server on 127.0.0.1:0, spoken to over real HTTP.
//!
//! In-process servers (`support::TestServer`) for most tests; the real `helpyap` binary where
//! the process itself matters (exit codes, `kill -9` durability).

#[path = "integration/support.rs"]
mod support;

#[path = "integration/fake_llm.rs"]
mod fake_llm;

#[path = "integration/abuse.rs"]
mod abuse;
#[path = "integration/admin_auth.rs"]
mod admin_auth;
#[path = "integration/admin_documents.rs"]
mod admin_documents;
#[path = "integration/admin_inbox.rs"]
mod admin_inbox;
#[path = "integration/admin_projects.rs"]
mod admin_projects;
#[path = "integration/answers.rs"]
mod answers;
#[path = "integration/api_tokens.rs"]
mod api_tokens;
#[path = "integration/assets.rs"]
mod assets;
#[path = "integration/backup.rs"]
mod backup;
#[path = "integration/browser.rs"]
mod browser;
#[path = "integration/business_hours.rs"]
mod business_hours;
#[path = "integration/chat.rs"]
mod chat;
#[path = "integration/cluster.rs"]
mod cluster;
#[path = "integration/crash.rs"]
mod crash;
#[path = "integration/email.rs"]
mod email;
#[path = "integration/handoff.rs"]
mod handoff;
#[path = "integration/http.rs"]
mod http;
#[path = "integration/identity.rs"]
mod identity;
#[path = "integration/integrations.rs"]
mod integrations;
#[path = "integration/lead.rs"]
mod lead;
#[path = "integration/lifecycle.rs"]
mod lifecycle;
#[path = "integration/live.rs"]
mod live;
#[path = "integration/metrics.rs"]
mod metrics;
#[path = "integration/openapi.rs"]
mod openapi;
#[path = "integration/popup_stats.rs"]
mod popup_stats;
#[path = "integration/proactive.rs"]
mod proactive;
#[path = "integration/proxies.rs"]
mod proxies;
#[path = "integration/rate_limit.rs"]
mod rate_limit;
#[path = "integration/real_clients.rs"]
mod real_clients;
#[path = "integration/salespop_push.rs"]
mod salespop_push;
#[path = "integration/satisfaction.rs"]
mod satisfaction;
#[path = "integration/tls.rs"]
mod tls;
#[path = "integration/webhooks.rs"]
mod webhooks;
#[path = "integration/widget_config.rs"]
mod widget_config;
