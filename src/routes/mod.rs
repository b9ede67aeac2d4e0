//! The endpoint handlers, one module per endpoint, plus the small helpers they share.
//!
//! A handler reads its input, calls the engine, and shapes the answer. Policies shared by all
//! routes (rate limits, CORS, errors to responses) live in `router`, not here.

pub mod admin_auth;
pub mod admin_backup;
pub mod admin_conversations;
pub mod admin_documents;
pub mod admin_faq;
pub mod admin_identity;
pub mod admin_integrations;
pub mod admin_leads;
pub mod admin_live;
pub mod admin_members;
pub mod admin_projects;
pub mod admin_reports;
pub mod admin_tokens;
pub mod admin_users;
pub mod admin_webhooks;
pub mod assets;
pub mod availability;
pub mod chat;
pub mod feedback;
pub mod health;
pub mod identify;
pub mod integrations;
pub mod lead;
pub mod metrics;
pub mod proactive_seen;
pub mod rating;
pub mod salespop_poll;
pub mod salespop_push;
pub mod salespop_seen;
pub mod salespop_stats;
pub mod salespop_stream;
pub mod salespop_viewers;
pub mod salespop_ws;
pub mod session;
pub mod session_live;
pub mod widget_config;

use std::borrow::Cow;
use std::sync::Arc;

use crate::json::RequestBody;
use helpyap_actors::ProjectSnapshot;
use helpyap_actors::feed::{PAGE_MAX_CHARS, Subscription};
use hyper::header::{HeaderMap, ORIGIN};
use hyper::{Request, Uri};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::error::ApiError;
use crate::json::{parse_json, read_body};
use crate::router::AppState;

/// The first value of query parameter `name`, percent-decoded.
pub fn query_param(uri: &Uri, name: &str) -> Option<String> {
    query_value(uri, name).map(Cow::into_owned)
}

/// The first value of query parameter `name`, percent-decoded, borrowed from the URI unless
/// decoding changed it.
fn query_value<'a>(uri: &'a Uri, name: &str) -> Option<Cow<'a, str>> {
    let query = uri.query()?;
    // Most queries need no decoding up to the pair asked for (`?project=demo`): read as they
    // are, in one pass over the bytes (every widget request asks for its project). Anything
    // encoded on the way goes to `form_urlencoded`.
    let bytes = query.as_bytes();
    let mut pair_start = 0;
    let mut key_end = None;
    for at in 0..=bytes.len() {
        match bytes.get(at) {
            Some(b'=') if key_end.is_none() => key_end = Some(at),
            Some(b'%' | b'+') => match key_end {
                // An encoded key might decode to `name`.
                None => return decoded_query_value(query, name),
                Some(end) if &bytes[pair_start..end] == name.as_bytes() => {
                    return decoded_query_value(query, name);
                }
                Some(_) => {}
            },
            Some(b'&') | None => {
                let end = key_end.unwrap_or(at);
                if &bytes[pair_start..end] == name.as_bytes() {
                    // Cut at ASCII bytes, so a `str` still.
                    return Some(Cow::Borrowed(&query[(end + 1).min(at)..at]));
                }
                pair_start = at + 1;
                key_end = None;
            }
            Some(_) => {}
        }
    }
    None
}

fn decoded_query_value<'a>(query: &'a str, name: &str) -> Option<Cow<'a, str>> {
    form_urlencoded::parse(query.as_bytes())
        .find(|(key, _)| key == name)
        .map(|(_, value)| value)
}

/// A session id, which must be a UUID.
pub fn parse_session_id(value: Option<&str>) -> Result<Uuid, ApiError> {
    let value = value.ok_or_else(|| ApiError::invalid("sessionId is required"))?;
    Uuid::parse_str(value).map_err(|_| ApiError::invalid("sessionId must be a UUID"))
}

/// The `X-Session-Token` request header, if present and readable.
pub fn session_token_header<B>(request: &Request<B>) -> Option<String> {
    let value = request.headers().get("x-session-token")?.to_str().ok()?;
    (!value.is_empty()).then(|| value.to_owned())
}

/// The `project` query parameter, required by every widget endpoint.
pub fn project_param(uri: &Uri) -> Result<Cow<'_, str>, ApiError> {
    query_value(uri, "project")
        .filter(|project| !project.is_empty())
        .ok_or_else(|| ApiError::invalid("project is required"))
}

/// The page a live visitor is on (`?page=`, the path, decoded): `None` when not given; 400 for
/// anything but a path of at most [`PAGE_MAX_CHARS`] characters.
pub fn page_param(uri: &Uri) -> Result<Option<String>, ApiError> {
    let Some(page) = query_param(uri, "page") else {
        return Ok(None);
    };
    let path_like = page.starts_with('/')
        && page.chars().count() <= PAGE_MAX_CHARS
        && !page.chars().any(char::is_control);
    if !path_like {
        return Err(ApiError::invalid(format!(
            "page must be a path such as /pricing, at most {PAGE_MAX_CHARS} characters"
        )));
    }
    Ok(Some(page))
}

/// The last event id a live client saw: the SSE `Last-Event-ID` header (sent by browsers when
/// they reconnect, so newer than the URL) or the `since` query parameter.
pub fn since_param<B>(request: &Request<B>) -> Result<Option<u64>, ApiError> {
    let header = request
        .headers()
        .get("last-event-id")
        .map(|value| value.to_str().unwrap_or("x").to_owned());
    let Some(since) = header.or_else(|| query_param(request.uri(), "since")) else {
        return Ok(None);
    };
    since.trim().parse().map(Some).map_err(|_| {
        ApiError::invalid("since (or Last-Event-ID) must be an event id: a whole number")
    })
}

/// A live popup client that says which widget config it has (`?config=ETAG`) is told at once
/// when that is no longer the project's: settings saved before it (re)connected are not missed.
pub fn tell_if_config_changed(uri: &Uri, subscription: &mut Subscription) {
    let Some(etag) = query_value(uri, "config") else {
        return;
    };
    if **subscription.settings.borrow() != *etag {
        subscription.settings.mark_changed();
    }
}

/// The `project` a widget GET names, once [`project_for_origin`] lets the page use it.
pub async fn widget_project<B>(state: &AppState, request: &Request<B>) -> Result<String, ApiError> {
    let project = project_param(request.uri())?;
    project_for_origin(state, request.headers(), &project).await?;
    Ok(project.into_owned())
}

/// The project's snapshot (404 when unknown), after checking the page's `Origin` against the
/// project's allowed origins (403). Requests without `Origin` — servers, curl — pass: the check
/// keeps other sites' pages from embedding the widget, which only browsers do.
pub async fn project_for_origin(
    state: &AppState,
    headers: &HeaderMap,
    slug: &str,
) -> Result<Arc<ProjectSnapshot>, ApiError> {
    let snapshot = state.engine.projects.snapshot(slug).await?;
    if let Some(origin) = headers.get(ORIGIN) {
        let allowed = origin
            .to_str()
            .is_ok_and(|origin| snapshot.allows_origin(origin));
        if !allowed {
            return Err(ApiError::forbidden(
                "This site is not allowed to use this project's widget",
            ));
        }
    }
    Ok(snapshot)
}

/// A POST bound to a visitor's session (chat, lead): `{projectSlug, sessionId, sessionToken?,
/// …rest}`, with the project checked (404, and 403 for another site's page) and the token taken
/// from the body or the `X-Session-Token` header.
pub struct SessionPost<T> {
    pub project: String,
    pub session_id: Uuid,
    pub token: Option<String>,
    pub rest: T,
}

/// A widget POST body as sent: the session fields, and the endpoint's own fields flattened in.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionEnvelope<T> {
    #[schema(required = true, nullable = false, example = "demo")]
    project_slug: Option<String>,
    #[schema(required = true, nullable = false, format = Uuid)]
    session_id: Option<String>,
    session_token: Option<String>,
    #[serde(flatten)]
    pub rest: T,
}

/// Parses a widget POST body (also the fuzz targets' entry): a JSON object (400 otherwise).
pub fn parse_session_envelope<T: DeserializeOwned>(
    bytes: &[u8],
) -> Result<SessionEnvelope<T>, ApiError> {
    parse_json(bytes)
}

pub async fn read_session_post<T: DeserializeOwned>(
    state: &AppState,
    request: Request<RequestBody>,
) -> Result<SessionPost<T>, ApiError> {
    let header_token = session_token_header(&request);
    let headers = request.headers().clone();
    let body: SessionEnvelope<T> =
        parse_session_envelope(&read_body(request, state.body_limits()).await?)?;
    let project = body
        .project_slug
        .filter(|slug| !slug.is_empty())
        .ok_or_else(|| ApiError::invalid("projectSlug is required"))?;
    project_for_origin(state, &headers, &project).await?;
    let session_id = parse_session_id(body.session_id.as_deref())?;
    let token = body
        .session_token
        .filter(|t| !t.is_empty())
        .or(header_token);
    Ok(SessionPost {
        project,
        session_id,
        token,
        rest: body.rest,
    })
}

/// A 200 `text/event-stream` response of `body`, not cached, and not buffered by nginx.
pub fn event_stream(body: crate::json::Body) -> crate::json::Response<crate::json::Body> {
    use hyper::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
    let mut response = crate::json::Response::new(body);
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

#[cfg(test)]
mod query_tests {
    use super::*;

    fn value(uri: &'static str, name: &str) -> Option<String> {
        query_param(&Uri::from_static(uri), name)
    }

    proptest::proptest! {
        /// Any query of the characters that matter (separators, encodings, a name's letters):
        /// the one-pass reading gives what `form_urlencoded` gives.
        #[test]
        fn any_query_is_read_as_form_urlencoded_reads_it(
            query in "[pjroect=&%+2A]{0,24}",
            name in proptest::sample::select(vec!["p", "pj", "project"]),
        ) {
            let uri: Uri = format!("/x?{query}").parse().unwrap();
            let expected = decoded_query_value(&query, name).map(Cow::into_owned);
            proptest::prop_assert_eq!(query_value(&uri, name).map(Cow::into_owned), expected);
        }
    }

    #[test]
    fn query_values_read_as_sent_or_decoded_match_form_urlencoded() {
        let uris = [
            "/x?project=demo",
            "/x?page=%2Fpricing&project=demo",
            "/x?project=de%6Do&project=other",
            "/x?pro%6Aect=first&project=second",
            "/x?project=a+b",
            "/x?projectx=no&project",
            "/x?&&project=demo&",
            "/x?other=1",
            "/x?a=%20&b+c=1&project=demo",
            "/x?project=demo%21&x=1",
            "/x?project==demo",
            "/x?=&project",
            "/x?",
            "/x",
        ];
        for uri in uris {
            let expected = Uri::from_static(uri)
                .query()
                .and_then(|query| decoded_query_value(query, "project").map(Cow::into_owned));
            assert_eq!(value(uri, "project"), expected, "{uri}");
        }
        assert_eq!(value("/x?project=demo", "project").as_deref(), Some("demo"));
        assert_eq!(
            value("/x?pro%6Aect=first&project=second", "project").as_deref(),
            Some("first")
        );
        assert_eq!(value("/x?project=a+b", "project").as_deref(), Some("a b"));
        assert_eq!(value("/x?other=1", "project"), None);
    }
}
