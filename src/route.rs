//! The route table: every path the server answers, parsed once into a typed [`Route`], and one
//! row per route saying what the router must know before a handler runs — its methods and who
//! may call each, its rate-limit class, whether other sites may call it (CORS), and its metric
//! label.
//!
//! It only parses: it never reads bodies, checks tokens or calls the engine. The router applies
//! the row (405 with `Allow`, rate limit, then token → project → role); handlers get the
//! parsed route and never re-route.

use helpyap_actors::integrations::Platform;
use hyper::Method;

use crate::rate_limit::RateClass;

/// Who may call a route with a given method. The router checks the access token, then that the
/// project exists (404), then the role (403), in that order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone; the handler may check a push secret or an origin.
    Public,
    /// A visitor; the session's own token is checked by the engine's session actor.
    Session,
    /// Anyone with a valid access token.
    SignedIn,
    /// Admins of the instance.
    Admin,
    /// Owners of the project named in the path (and admins).
    Owner,
    /// Anyone with a role on the project named in the path (and admins).
    Member,
}

/// A parsed request path: a route anyone may call, or one for signed-in users. Slugs, ids and
/// emails in the path are percent-decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Open(OpenRoute),
    Admin(AdminRoute),
}

/// Routes whose every method is [`Access::Public`] or [`Access::Session`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpenRoute {
    Health,
    Metrics,
    /// The OpenAPI document.
    OpenApi,
    WidgetJs,
    Demo,
    /// `/admin` and the dashboard's files.
    AdminFiles,
    WidgetConfig,
    Session,
    /// The visitor's live channel for their conversation.
    SessionWs,
    SessionStream,
    Chat,
    Lead,
    Feedback,
    Identify,
    Rating,
    Availability,
    /// The widget's beacon of proactive messages shown, opened and dismissed.
    ProactiveSeen,
    SalespopPush,
    SalespopPoll,
    SalespopStream,
    SalespopWs,
    SalespopStats,
    /// The widget's beacon of popups shown and clicked.
    SalespopSeen,
    /// Live visitors on a page.
    SalespopViewers,
    /// A connected platform's webhooks for a project.
    Integration {
        platform: Platform,
        slug: String,
    },
    Login,
    Refresh,
    Logout,
    /// "Forgot password": a reset link by email.
    Forgot,
    /// A new password through a reset link.
    Reset,
    /// A new account through an invitation's emailed link.
    Join,
}

/// Routes whose every method needs a signed-in user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminRoute {
    Me,
    Users,
    Backup,
    /// The signed-in user's own invitations.
    Invitations,
    /// Declining the invitation to a project.
    Invitation(String),
    InvitationAccept(String),
    Projects,
    Project {
        slug: String,
        op: ProjectOp,
    },
}

/// What under `/api/admin/projects/{slug}` a request is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProjectOp {
    Settings,
    PushSecret,
    IdentitySecret,
    Conversations,
    /// The team's live stream of the project's conversations.
    Live,
    /// A session id, as written in the path.
    Conversation(String),
    Reply(String),
    Leads,
    Members,
    /// A member's or invitee's email.
    Member(String),
    Analytics,
    ConversationsCsv,
    LeadsCsv,
    PopupsCsv,
    SatisfactionCsv,
    /// The project's webhooks.
    Webhooks,
    /// A webhook's id.
    Webhook(String),
    WebhookSecret(String),
    WebhookDeliveries(String),
    /// A webhook's id and a delivery's (its event's) id.
    Redeliver(String, String),
    /// The project's API tokens.
    ApiTokens,
    /// An API token's id.
    ApiToken(String),
    Documents,
    FetchDocuments,
    Reindex,
    /// A document id.
    Document(String),
    SyncDocument(String),
    /// Curated answers.
    Faq,
    /// Connected platforms (Stripe, Shopify).
    Integrations,
    /// A platform's name, as written in the path.
    Integration(String),
    /// A curated answer's id.
    FaqEntry(String),
}

/// One row of the table.
pub struct Spec {
    /// Each method the route answers, and who may call it with that method.
    pub methods: &'static [(Method, Access)],
    pub rate_class: Option<RateClass>,
    /// Whether pages on any site may call it (the widget's endpoints). The admin API is
    /// same-origin only: the dashboard is served by this server.
    pub cross_origin: bool,
    /// The `route` label of its metrics.
    pub label: &'static str,
}

use Access::{Admin, Member, Owner, Public, Session, SignedIn};

const GET: Method = Method::GET;
const POST: Method = Method::POST;
const PUT: Method = Method::PUT;
const DELETE: Method = Method::DELETE;
const PATCH: Method = Method::PATCH;

/// A row for a route only this server's own pages call (no CORS), outside the rate limits.
const fn same_origin(methods: &'static [(Method, Access)], label: &'static str) -> Spec {
    Spec {
        methods,
        rate_class: None,
        cross_origin: false,
        label,
    }
}

/// A row for a widget endpoint: any site may call it, within the class's rate limit.
const fn widget(
    methods: &'static [(Method, Access)],
    class: RateClass,
    label: &'static str,
) -> Spec {
    Spec {
        methods,
        rate_class: Some(class),
        cross_origin: true,
        label,
    }
}

impl Route {
    /// The route `path` names, or `None` (404). The method is checked against the route's row
    /// by the router, so a known path with a wrong method is a 405, not a 404.
    pub fn parse(path: &str) -> Option<Route> {
        use OpenRoute as Open;
        let open = match path {
            "/healthz" => Open::Health,
            "/metrics" => Open::Metrics,
            "/api/openapi.json" => Open::OpenApi,
            "/widget.js" => Open::WidgetJs,
            "/demo" => Open::Demo,
            "/admin" => Open::AdminFiles,
            _ if path.starts_with("/admin/") => Open::AdminFiles,
            "/api/widget/config" => Open::WidgetConfig,
            "/api/widget/session" => Open::Session,
            "/api/widget/session/ws" => Open::SessionWs,
            "/api/widget/session/stream" => Open::SessionStream,
            "/api/chat" => Open::Chat,
            "/api/widget/lead" => Open::Lead,
            "/api/widget/feedback" => Open::Feedback,
            "/api/widget/identify" => Open::Identify,
            "/api/widget/rating" => Open::Rating,
            "/api/widget/availability" => Open::Availability,
            "/api/widget/proactive" => Open::ProactiveSeen,
            "/api/widget/salespop-push" => Open::SalespopPush,
            "/api/widget/salespop" => Open::SalespopPoll,
            "/api/widget/salespop/stream" => Open::SalespopStream,
            "/api/widget/salespop/ws" => Open::SalespopWs,
            "/api/widget/salespop/stats" => Open::SalespopStats,
            "/api/widget/salespop/seen" => Open::SalespopSeen,
            "/api/widget/salespop/viewers" => Open::SalespopViewers,
            "/api/admin/auth/login" => Open::Login,
            "/api/admin/auth/refresh" => Open::Refresh,
            "/api/admin/auth/logout" => Open::Logout,
            "/api/admin/auth/forgot" => Open::Forgot,
            "/api/admin/auth/reset" => Open::Reset,
            "/api/admin/auth/join" => Open::Join,
            "/api/admin/me" => return Some(Route::Admin(AdminRoute::Me)),
            "/api/admin/users" => return Some(Route::Admin(AdminRoute::Users)),
            "/api/admin/backup" => return Some(Route::Admin(AdminRoute::Backup)),
            _ if path.starts_with("/api/integrations/") => {
                let segments = path_segments(&path["/api/integrations".len()..]);
                match segments.as_slice() {
                    [platform, slug] => Open::Integration {
                        platform: Platform::parse(platform)?,
                        slug: slug.clone(),
                    },
                    _ => return None,
                }
            }
            _ => return AdminRoute::parse_segments(path).map(Route::Admin),
        };
        Some(Route::Open(open))
    }

    /// Whether its GET answers with an event stream that stays open (SSE), so it may be
    /// served outside hyper (`event_stream`).
    pub fn is_event_stream(&self) -> bool {
        matches!(
            self,
            Route::Open(OpenRoute::SalespopStream | OpenRoute::SessionStream)
                | Route::Admin(AdminRoute::Project {
                    op: ProjectOp::Live,
                    ..
                })
        )
    }

    /// The route's row of the table.
    pub fn spec(&self) -> Spec {
        match self {
            Route::Open(route) => route.spec(),
            Route::Admin(route) => route.spec(),
        }
    }
}

impl AdminRoute {
    fn parse_segments(path: &str) -> Option<AdminRoute> {
        let (head, rest) = if let Some(rest) = path.strip_prefix("/api/admin/invitations") {
            ("invitations", rest)
        } else {
            ("projects", path.strip_prefix("/api/admin/projects")?)
        };
        if !rest.is_empty() && !rest.starts_with('/') {
            return None;
        }
        let segments = path_segments(rest);
        let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
        let owned = |text: &str| text.to_owned();
        if head == "invitations" {
            return Some(match segments.as_slice() {
                [] => AdminRoute::Invitations,
                [slug] => AdminRoute::Invitation(owned(slug)),
                [slug, "accept"] => AdminRoute::InvitationAccept(owned(slug)),
                _ => return None,
            });
        }
        let (slug, op) = match segments.as_slice() {
            [] => return Some(AdminRoute::Projects),
            [slug, rest @ ..] => (owned(slug), rest),
        };
        let op = match op {
            [] => ProjectOp::Settings,
            ["push-secret"] => ProjectOp::PushSecret,
            ["identity-secret"] => ProjectOp::IdentitySecret,
            ["conversations"] => ProjectOp::Conversations,
            ["live"] => ProjectOp::Live,
            ["conversations", id] => ProjectOp::Conversation(owned(id)),
            ["conversations", id, "reply"] => ProjectOp::Reply(owned(id)),
            ["leads"] => ProjectOp::Leads,
            ["members"] => ProjectOp::Members,
            ["members", email] => ProjectOp::Member(owned(email)),
            ["analytics"] => ProjectOp::Analytics,
            ["conversations.csv"] => ProjectOp::ConversationsCsv,
            ["leads.csv"] => ProjectOp::LeadsCsv,
            ["popups.csv"] => ProjectOp::PopupsCsv,
            ["satisfaction.csv"] => ProjectOp::SatisfactionCsv,
            ["webhooks"] => ProjectOp::Webhooks,
            ["webhooks", id] => ProjectOp::Webhook(owned(id)),
            ["webhooks", id, "secret"] => ProjectOp::WebhookSecret(owned(id)),
            ["webhooks", id, "deliveries"] => ProjectOp::WebhookDeliveries(owned(id)),
            ["webhooks", id, "deliveries", event, "redeliver"] => {
                ProjectOp::Redeliver(owned(id), owned(event))
            }
            ["tokens"] => ProjectOp::ApiTokens,
            ["tokens", id] => ProjectOp::ApiToken(owned(id)),
            ["documents"] => ProjectOp::Documents,
            ["documents", "fetch"] => ProjectOp::FetchDocuments,
            ["documents", "reindex"] => ProjectOp::Reindex,
            ["documents", id] => ProjectOp::Document(owned(id)),
            ["documents", id, "sync"] => ProjectOp::SyncDocument(owned(id)),
            ["faq"] => ProjectOp::Faq,
            ["integrations"] => ProjectOp::Integrations,
            ["integrations", platform] => ProjectOp::Integration(owned(platform)),
            ["faq", id] => ProjectOp::FaqEntry(owned(id)),
            _ => return None,
        };
        Some(AdminRoute::Project { slug, op })
    }

    fn spec(&self) -> Spec {
        match self {
            AdminRoute::Me => same_origin(&[(GET, SignedIn), (PATCH, SignedIn)], "admin_me"),
            AdminRoute::Users => same_origin(&[(POST, Admin)], "admin_users"),
            AdminRoute::Backup => same_origin(&[(GET, Admin)], "admin_backup"),
            AdminRoute::Invitations => same_origin(&[(GET, SignedIn)], "admin_invitations"),
            AdminRoute::Invitation(_) => same_origin(&[(DELETE, SignedIn)], "admin_invitations"),
            AdminRoute::InvitationAccept(_) => {
                same_origin(&[(POST, SignedIn)], "admin_invitations")
            }
            AdminRoute::Projects => {
                same_origin(&[(GET, SignedIn), (POST, Admin)], "admin_projects")
            }
            AdminRoute::Project { op, .. } => op.spec(),
        }
    }

    /// The project a route's access is checked against.
    /// Whether an API token may call it with `method`: its project's routes, but not those that
    /// decide who holds power over the project — tokens and members (so a leaked token cannot
    /// make itself a way back in) — nor deleting the project.
    pub fn open_to_api_tokens(&self, method: &Method) -> bool {
        match self {
            AdminRoute::Project { op, .. } => match op {
                ProjectOp::ApiTokens
                | ProjectOp::ApiToken(_)
                | ProjectOp::Members
                | ProjectOp::Member(_) => false,
                ProjectOp::Settings => method != Method::DELETE,
                _ => true,
            },
            _ => false,
        }
    }

    pub fn project(&self) -> Option<&str> {
        match self {
            AdminRoute::Project { slug, .. } => Some(slug),
            _ => None,
        }
    }
}

impl OpenRoute {
    fn spec(&self) -> Spec {
        use OpenRoute as Open;
        use RateClass as Rate;
        match self {
            Open::Health => same_origin(&[(GET, Public)], "healthz"),
            // Scrapers are few, and allow-listed in the handler.
            Open::Metrics => same_origin(&[(GET, Public)], "metrics"),
            Open::OpenApi => same_origin(&[(GET, Public)], "openapi"),
            // Static files: one per page view, often from many visitors behind one NAT.
            Open::WidgetJs => same_origin(&[(GET, Public)], "widget_js"),
            Open::Demo => same_origin(&[(GET, Public)], "demo"),
            Open::AdminFiles => same_origin(&[(GET, Public)], "admin_files"),
            Open::WidgetConfig => widget(&[(GET, Public)], Rate::Widget, "widget_config"),
            Open::Session => widget(&[(GET, Session)], Rate::Widget, "session"),
            Open::SessionWs => widget(&[(GET, Session)], Rate::Widget, "session_ws"),
            Open::SessionStream => widget(&[(GET, Session)], Rate::Widget, "session_stream"),
            // Leads share chat's stricter limit: they are a spam target.
            Open::Chat => widget(&[(POST, Session)], Rate::Chat, "chat"),
            Open::Lead => widget(&[(POST, Session)], Rate::Chat, "lead"),
            Open::Feedback => widget(&[(POST, Session)], Rate::Widget, "feedback"),
            Open::Identify => widget(&[(POST, Public)], Rate::Widget, "identify"),
            Open::Rating => widget(&[(POST, Session)], Rate::Widget, "rating"),
            Open::Availability => widget(&[(GET, Public)], Rate::Widget, "availability"),
            Open::ProactiveSeen => widget(&[(POST, Public)], Rate::Widget, "proactive_seen"),
            Open::SalespopPush => widget(&[(POST, Public)], Rate::Push, "salespop_push"),
            Open::SalespopPoll => widget(&[(GET, Public)], Rate::Widget, "salespop_poll"),
            Open::SalespopStream => widget(&[(GET, Public)], Rate::Widget, "salespop_stream"),
            Open::SalespopWs => widget(&[(GET, Public)], Rate::Widget, "salespop_ws"),
            Open::SalespopStats => widget(&[(GET, Public)], Rate::Widget, "salespop_stats"),
            Open::SalespopSeen => widget(&[(POST, Public)], Rate::Widget, "salespop_seen"),
            Open::SalespopViewers => widget(&[(GET, Public)], Rate::Widget, "salespop_viewers"),
            // Server to server: no CORS; a class of its own, as a few addresses send every
            // shop's webhooks.
            Open::Integration { .. } => Spec {
                rate_class: Some(Rate::Integrations),
                ..same_origin(&[(POST, Public)], "integrations")
            },
            Open::Login => Spec {
                rate_class: Some(Rate::Login),
                ..same_origin(&[(POST, Public)], "admin_login")
            },
            Open::Refresh => Spec {
                rate_class: Some(Rate::Login),
                ..same_origin(&[(POST, Public)], "admin_refresh")
            },
            // It takes the refresh token it ends; no access token needed.
            Open::Logout => same_origin(&[(POST, Public)], "admin_logout"),
            Open::Forgot => Spec {
                rate_class: Some(Rate::Login),
                ..same_origin(&[(POST, Public)], "admin_forgot")
            },
            Open::Reset => Spec {
                rate_class: Some(Rate::Login),
                ..same_origin(&[(POST, Public)], "admin_reset")
            },
            Open::Join => Spec {
                rate_class: Some(Rate::Login),
                ..same_origin(&[(POST, Public)], "admin_join")
            },
        }
    }
}

impl ProjectOp {
    fn spec(&self) -> Spec {
        let methods: &'static [(Method, Access)] = match self {
            ProjectOp::Settings => &[(GET, Owner), (PUT, Owner), (DELETE, Owner)],
            ProjectOp::PushSecret => &[(POST, Owner)],
            ProjectOp::IdentitySecret => &[(GET, Owner), (POST, Owner), (DELETE, Owner)],
            ProjectOp::Conversations | ProjectOp::Live => &[(GET, Member)],
            ProjectOp::Conversation(_) => &[(GET, Member), (PATCH, Member), (DELETE, Owner)],
            ProjectOp::Reply(_) => &[(POST, Member)],
            ProjectOp::Leads
            | ProjectOp::Analytics
            | ProjectOp::ConversationsCsv
            | ProjectOp::LeadsCsv
            | ProjectOp::PopupsCsv
            | ProjectOp::SatisfactionCsv => &[(GET, Member)],
            ProjectOp::Members => &[(GET, Owner), (PUT, Owner)],
            ProjectOp::Webhooks => &[(GET, Owner), (POST, Owner)],
            ProjectOp::Webhook(_) => &[(PATCH, Owner), (DELETE, Owner)],
            ProjectOp::WebhookSecret(_) | ProjectOp::Redeliver(..) => &[(POST, Owner)],
            ProjectOp::WebhookDeliveries(_) => &[(GET, Owner)],
            ProjectOp::ApiTokens => &[(GET, Owner), (POST, Owner)],
            ProjectOp::ApiToken(_) => &[(DELETE, Owner)],
            ProjectOp::Member(_) => &[(DELETE, Owner)],
            ProjectOp::Documents => &[(GET, Owner), (POST, Owner)],
            // A document may be called "fetch" or "reindex": DELETE removes it.
            ProjectOp::FetchDocuments | ProjectOp::Reindex => &[(POST, Owner), (DELETE, Owner)],
            ProjectOp::SyncDocument(_) => &[(POST, Owner)],
            ProjectOp::Document(_) => &[(DELETE, Owner)],
            ProjectOp::Faq => &[(GET, Member), (POST, Member)],
            ProjectOp::Integrations => &[(GET, Owner)],
            ProjectOp::Integration(_) => &[(PUT, Owner), (DELETE, Owner)],
            ProjectOp::FaqEntry(_) => &[(PUT, Member), (DELETE, Owner)],
        };
        let label = match self {
            ProjectOp::Settings | ProjectOp::PushSecret => "admin_projects",
            ProjectOp::IdentitySecret => "admin_identity",
            ProjectOp::Conversations | ProjectOp::Conversation(_) | ProjectOp::Reply(_) => {
                "admin_conversations"
            }
            ProjectOp::Live => "admin_live",
            ProjectOp::Leads => "admin_leads",
            ProjectOp::Members | ProjectOp::Member(_) => "admin_members",
            ProjectOp::ApiTokens | ProjectOp::ApiToken(_) => "admin_tokens",
            ProjectOp::Webhooks
            | ProjectOp::Webhook(_)
            | ProjectOp::WebhookSecret(_)
            | ProjectOp::WebhookDeliveries(_)
            | ProjectOp::Redeliver(..) => "admin_webhooks",
            ProjectOp::Analytics
            | ProjectOp::ConversationsCsv
            | ProjectOp::LeadsCsv
            | ProjectOp::PopupsCsv
            | ProjectOp::SatisfactionCsv => "admin_reports",
            ProjectOp::Documents
            | ProjectOp::FetchDocuments
            | ProjectOp::Reindex
            | ProjectOp::Document(_)
            | ProjectOp::SyncDocument(_) => "admin_documents",
            ProjectOp::Faq | ProjectOp::FaqEntry(_) => "admin_faq",
            ProjectOp::Integrations | ProjectOp::Integration(_) => "admin_integrations",
        };
        same_origin(methods, label)
    }
}

impl Spec {
    /// Who may call the route with `method`; `None`: the route does not answer it (405).
    pub fn access(&self, method: &Method) -> Option<Access> {
        self.methods
            .iter()
            .find(|(allowed, _)| allowed == method)
            .map(|(_, access)| *access)
    }

    /// The `Allow` (and `Access-Control-Allow-Methods`) value: its methods, and `OPTIONS` for
    /// routes other sites may call.
    pub fn allow(&self) -> String {
        let mut methods: Vec<&str> = self.methods.iter().map(|(m, _)| m.as_str()).collect();
        if self.cross_origin {
            methods.push("OPTIONS");
        }
        methods.join(", ")
    }
}

/// The non-empty segments of a path, each percent-decoded.
pub fn path_segments(path: &str) -> Vec<String> {
    path.split('/')
        .filter(|segment| !segment.is_empty())
        .map(|segment| {
            percent_encoding::percent_decode_str(segment)
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project(slug: &str, op: ProjectOp) -> Option<Route> {
        let slug = slug.into();
        Some(Route::Admin(AdminRoute::Project { slug, op }))
    }

    #[test]
    fn paths_parse_to_typed_routes_with_decoded_segments() {
        let open = |route| Some(Route::Open(route));
        assert_eq!(Route::parse("/api/chat"), open(OpenRoute::Chat));
        assert_eq!(Route::parse("/admin/app.js"), open(OpenRoute::AdminFiles));
        let projects = Some(Route::Admin(AdminRoute::Projects));
        assert_eq!(Route::parse("/api/admin/projects"), projects);
        assert_eq!(Route::parse("/api/admin/projects/"), projects);
        let path = "/api/admin/projects/demo/members/a%40b.example";
        let member = ProjectOp::Member("a@b.example".into());
        assert_eq!(Route::parse(path), project("demo", member));
        let path = "/api/admin/projects/demo/documents/faq.md/sync";
        let sync = ProjectOp::SyncDocument("faq.md".into());
        assert_eq!(Route::parse(path), project("demo", sync));
        let path = "/api/admin/invitations/demo/accept";
        let accept = AdminRoute::InvitationAccept("demo".into());
        assert_eq!(Route::parse(path), Some(Route::Admin(accept)));
    }

    #[test]
    fn unknown_paths_are_none() {
        for path in [
            "/",
            "/api/chat/x",
            "/api/admin/projectsX",
            "/api/admin/projects/demo/nope",
            "/api/admin/projects/demo/conversations/a/b",
            "/api/admin/invitations/demo/decline",
            "/api/admin/users/1",
        ] {
            assert_eq!(Route::parse(path), None, "{path}");
        }
    }

    #[test]
    fn every_row_names_its_methods_in_allow() {
        let route = Route::parse("/api/admin/projects/demo").unwrap();
        let spec = route.spec();
        assert_eq!(spec.allow(), "GET, PUT, DELETE");
        assert_eq!(spec.access(&Method::DELETE), Some(Access::Owner));
        assert_eq!(spec.access(&Method::PATCH), None);
        let push = OpenRoute::SalespopPush.spec();
        assert_eq!(push.allow(), "POST, OPTIONS");
        let conversation = ProjectOp::Conversation("x".into()).spec();
        assert_eq!(conversation.access(&Method::GET), Some(Access::Member));
        assert_eq!(conversation.access(&Method::DELETE), Some(Access::Owner));
    }
}
