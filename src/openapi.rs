//! The OpenAPI 3.1 document of the public and admin API, served at `GET /api/openapi.json`.
//!
//! Each operation is declared by `#[utoipa::path]` on its own handler; its request and response
//! bodies are the types the handlers read and write (`views`, the handlers' body structs, the
//! engine's records), except the three below that describe bytes written without a type (the
//! poll answer and popup events, spliced from pre-serialized JSON; server-sent events). What
//! every route shares — who may call it, its rate limit, its error answers — is filled in from
//! the route table ([`crate::route`]), so the document follows the code. A unit test checks
//! that every documented path answers exactly the documented methods, and Schemathesis checks
//! the running server against the document in the test suite. This module only describes: it
//! never handles a request.

use std::sync::LazyLock;

use bytes::Bytes;
use hyper::Method;
use serde::Serialize;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi as Document, Ref};
use utoipa::{Modify, OpenApi, ToSchema};

use crate::route::{Access, Route};
use crate::routes;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "HelpYap",
        description = "AI customer-support chat and live social proof: the widget's public API, \
                       the push API for site owners' servers, and the admin API behind the \
                       dashboard. Errors are `{\"error\": \"…\"}` with the status named.",
        license(name = "MIT")
    ),
    paths(
        routes::health::get,
        routes::metrics::get,
        openapi_json,
        routes::widget_config::get,
        routes::session::get,
        routes::session_live::websocket,
        routes::session_live::stream,
        routes::chat::post,
        routes::lead::post,
        routes::identify::post,
        routes::rating::post,
        routes::availability::get,
        routes::proactive_seen::post,
        routes::feedback::post,
        routes::salespop_push::post,
        routes::salespop_poll::get,
        routes::salespop_stream::get,
        routes::salespop_ws::get,
        routes::salespop_stats::get,
        routes::salespop_seen::post,
        routes::salespop_viewers::get,
        routes::integrations::post,
        routes::admin_auth::login,
        routes::admin_auth::refresh,
        routes::admin_auth::logout,
        routes::admin_auth::me,
        routes::admin_auth::update_me,
        routes::admin_auth::forgot,
        routes::admin_auth::reset,
        routes::admin_auth::join,
        routes::admin_users::add_user,
        routes::admin_backup::get,
        routes::admin_members::mine,
        routes::admin_members::accept,
        routes::admin_members::decline,
        routes::admin_projects::list,
        routes::admin_projects::create,
        routes::admin_projects::read,
        routes::admin_projects::update,
        routes::admin_projects::delete,
        routes::admin_projects::rotate_secret,
        routes::admin_conversations::list,
        routes::admin_live::get,
        routes::admin_webhooks::list,
        routes::admin_webhooks::create,
        routes::admin_webhooks::update,
        routes::admin_webhooks::delete,
        routes::admin_webhooks::rotate_secret,
        routes::admin_webhooks::deliveries,
        routes::admin_webhooks::redeliver,
        routes::admin_tokens::list,
        routes::admin_tokens::create,
        routes::admin_tokens::revoke,
        routes::admin_conversations::get,
        routes::admin_conversations::patch,
        routes::admin_conversations::delete,
        routes::admin_conversations::reply,
        routes::admin_leads::list,
        routes::admin_members::list,
        routes::admin_members::set,
        routes::admin_members::remove,
        routes::admin_reports::analytics,
        routes::admin_reports::conversations_csv,
        routes::admin_reports::leads_csv,
        routes::admin_reports::popups_csv,
        routes::admin_reports::satisfaction_csv,
        routes::admin_documents::list,
        routes::admin_documents::add_document,
        routes::admin_documents::fetch,
        routes::admin_documents::reindex,
        routes::admin_documents::delete_document,
        routes::admin_documents::sync,
        routes::admin_faq::list,
        routes::admin_faq::add,
        routes::admin_faq::replace,
        routes::admin_faq::delete,
        routes::admin_identity::get,
        routes::admin_identity::rotate,
        routes::admin_identity::remove,
        routes::admin_integrations::list,
        routes::admin_integrations::connect,
        routes::admin_integrations::disconnect,
    ),
    components(schemas(crate::error::ErrorBody, crate::views::VisitorNews, crate::views::TeamNews)),
    modifiers(&FromRouteTable),
)]
struct ApiDoc;

/// The document as served: built once.
static DOCUMENT: LazyLock<Bytes> = LazyLock::new(|| {
    Bytes::from(
        ApiDoc::openapi()
            .to_pretty_json()
            .expect("the document serializes"),
    )
});

/// The document, as JSON.
pub fn document() -> Bytes {
    DOCUMENT.clone()
}

/// This document.
#[utoipa::path(get, path = "/api/openapi.json", tag = "operations",
    responses((status = 200, description = "The OpenAPI 3.1 document of this API", content_type = "application/json")))]
#[allow(dead_code)] // Only its `#[utoipa::path]` is used: the router serves `document()`.
fn openapi_json() {}

/// One server-sent event, as the streams (`text/event-stream`) send them: for chat, `data` is an
/// AI SDK UI message stream part (JSON, and `[DONE]` last); for popups, `event` is the kind
/// (none for an event, `reset` when history was lost) and `data` the event's JSON.
#[derive(Serialize, ToSchema)]
pub struct ServerSentEvent {
    #[schema(required = false)]
    event: Option<String>,
    data: String,
    #[schema(required = false)]
    id: Option<String>,
}

/// `GET /api/widget/salespop`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Poll {
    events: Vec<helpyap_actors::feed::PopupEvent<'static>>,
    /// The newest event id given out: the next `since`.
    last_id: String,
    /// `since` is older than the history kept: events were missed.
    reset: bool,
}

/// Fills in what the route table knows about every documented operation: its security, and
/// the error answers every route of its kind may give.
struct FromRouteTable;

impl Modify for FromRouteTable {
    fn modify(&self, openapi: &mut Document) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let bearer = |description: &str| {
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(description))
                    .build(),
            )
        };
        components.add_security_scheme(
            ADMIN_TOKEN,
            bearer("An access token from `POST /api/admin/auth/login` (a JWT, 15 minutes)"),
        );
        components.add_security_scheme(
            PUSH_SECRET,
            bearer("The project's push secret, kept on the owner's server"),
        );
        for (template, item) in openapi.paths.paths.iter_mut() {
            let route = Route::parse(&sample_path(template))
                .unwrap_or_else(|| panic!("{template} is documented but no route"));
            let spec = route.spec();
            let operations = [
                (Method::GET, &mut item.get),
                (Method::POST, &mut item.post),
                (Method::PUT, &mut item.put),
                (Method::PATCH, &mut item.patch),
                (Method::DELETE, &mut item.delete),
            ];
            for (method, operation) in operations {
                let Some(operation) = operation else { continue };
                let access = spec
                    .access(&method)
                    .unwrap_or_else(|| panic!("{method} {template} is documented but no route"));
                let engine = !matches!(
                    template.as_str(),
                    "/healthz" | "/metrics" | "/api/openapi.json"
                );
                let reads_input = operation.request_body.is_some()
                    || operation.parameters.as_ref().is_some_and(|p| !p.is_empty());
                let mut errors: Vec<(u16, &str)> = Vec::new();
                if operation.request_body.is_some() {
                    errors.push((
                        408,
                        "The body was sent too slowly (`server.body_read_timeout`)",
                    ));
                    errors.push((413, "The body is larger than `server.max_body_bytes`"));
                }
                if reads_input {
                    errors.push((
                        400,
                        "A parameter or the body is missing, malformed or breaks a rule",
                    ));
                }
                if template == "/api/widget/salespop-push" {
                    operation.security =
                        Some(vec![SecurityRequirement::new(PUSH_SECRET, NO_SCOPES)]);
                    errors.push((401, "No push secret, or not this project's"));
                    errors.push((403, "Another project's push secret"));
                }
                if template.starts_with("/api/integrations/") {
                    errors.push((
                        401,
                        "The signature is missing, wrong, or more than 5 minutes old",
                    ));
                    errors.push((
                        404,
                        "No such project, or the platform is not connected to it",
                    ));
                }
                if spec.cross_origin && template != "/api/widget/salespop-push" {
                    errors.push((403, "A page of a site the project does not allow"));
                }
                if spec.cross_origin {
                    errors.push((404, "No such project"));
                }
                match access {
                    Access::Public => {}
                    Access::Session => {
                        errors.push((401, "No session token, or not this session's"));
                        errors.push((403, "A session of another project"));
                        errors.push((404, "No such project, session or message"));
                    }
                    Access::SignedIn | Access::Admin | Access::Owner | Access::Member => {
                        operation.security =
                            Some(vec![SecurityRequirement::new(ADMIN_TOKEN, NO_SCOPES)]);
                        errors.push((401, "No valid access token, or the sign-in has ended"));
                    }
                }
                if matches!(access, Access::Admin | Access::Owner | Access::Member) {
                    errors.push((403, "The user's role does not allow this"));
                }
                if matches!(access, Access::Owner | Access::Member) {
                    errors.push((404, "No such project"));
                }
                if spec.rate_class.is_some() {
                    errors.push((429, "Over the rate limit (or the address's open streams)"));
                }
                if engine {
                    errors.push((503, "The store (or the model server) is unavailable: retry"));
                }
                for (status, description) in errors {
                    let status = status.to_string();
                    if operation.responses.responses.contains_key(&status) {
                        continue;
                    }
                    let mut response = ResponseBuilder::new().description(description).content(
                        "application/json",
                        ContentBuilder::new()
                            .schema(Some(Ref::from_schema_name("ErrorBody")))
                            .build(),
                    );
                    if status == "429" || status == "503" {
                        let seconds = ObjectBuilder::new().schema_type(Type::Integer).build();
                        response = response.header(
                            "Retry-After",
                            HeaderBuilder::new()
                                .schema(seconds)
                                .description(Some("Seconds to wait before trying again"))
                                .build(),
                        );
                    }
                    operation
                        .responses
                        .responses
                        .insert(status, response.build().into());
                }
            }
        }
    }
}

const ADMIN_TOKEN: &str = "adminToken";
const PUSH_SECRET: &str = "pushSecret";
const NO_SCOPES: [&str; 0] = [];

/// A concrete path for a template: each `{name}` becomes `name`.
fn sample_path(template: &str) -> String {
    template
        .replace("{platform}", "stripe")
        .replace(['{', '}'], "")
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// Every documented path answers exactly the documented methods (where a literal path is
    /// also an instance of a template, as `documents/fetch` of `documents/{id}`, both count).
    #[test]
    fn the_document_names_every_method_of_every_documented_route() {
        let document: serde_json::Value = serde_json::from_slice(&document()).unwrap();
        assert_eq!(document["openapi"], "3.1.0");
        let paths = document["paths"].as_object().unwrap();
        let matches = |template: &str, path: &str| {
            let (template, path): (Vec<_>, Vec<_>) =
                (template.split('/').collect(), path.split('/').collect());
            template.len() == path.len()
                && template
                    .iter()
                    .zip(&path)
                    .all(|(t, p)| t.starts_with('{') || t == p)
        };
        for template in paths.keys() {
            let path = sample_path(template);
            let documented: BTreeSet<String> = paths
                .iter()
                .filter(|(other, _)| matches(other, &path))
                .flat_map(|(_, item)| item.as_object().unwrap().keys().cloned())
                .map(|method| method.to_uppercase())
                .collect();
            let route = Route::parse(&path).unwrap();
            let answered: BTreeSet<String> = route
                .spec()
                .methods
                .iter()
                .map(|(method, _)| method.to_string())
                .collect();
            assert_eq!(documented, answered, "{template}");
        }
        assert_eq!(paths.len(), 66, "a route was added or removed: document it");
    }

    #[test]
    fn admin_operations_need_the_admin_token_and_push_the_push_secret() {
        let document: serde_json::Value = serde_json::from_slice(&document()).unwrap();
        let operation = &document["paths"]["/api/admin/projects/{slug}"]["delete"];
        assert_eq!(
            operation["security"][0]["adminToken"],
            serde_json::json!([])
        );
        for status in ["401", "403", "404", "503"] {
            assert!(operation["responses"][status].is_object(), "{status}");
        }
        let push = &document["paths"]["/api/widget/salespop-push"]["post"];
        assert_eq!(push["security"][0]["pushSecret"], serde_json::json!([]));
        assert!(push["responses"]["429"]["headers"]["Retry-After"].is_object());
        assert!(document["paths"]["/healthz"]["get"]["security"].is_null());
    }
}
