//! The route table: every path the server answers, parsed once into a typed [`Route`], and one
//! row per route saying what the router must know before a handler runs — its methods and who
//! may call each, its rate-limit class, whether other sites may call it (CORS), and its metric
//! label.
//!
//! It only parses: it never reads bodies, checks tokens or calls the engine. The router applies
//! the row (405 with `Allow`, rate limit, then token → project → role); handlers get the
//! parsed route and never re-route.

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

/// A parsed request path. Slugs, ids and emails in the path are percent-decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Health,
    Metrics,
    WidgetJs,
    Demo,
    /// `/admin` and the dashboard's files.
    AdminFiles,
    WidgetConfig,
    Session,
    Chat,
    Lead,
    Feedback,
    SalespopPush,
    SalespopPoll,
    SalespopStream,
    SalespopWs,
    SalespopStats,
    Login,
    Refresh,
    Logout,
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
    Conversations,
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
    Documents,
    FetchDocuments,
    Reindex,
    /// A document id.
    Document(String),
    SyncDocument(String),
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

/// A row for a route outside the rate limits and same-origin only.
const fn admin(methods: &'static [(Method, Access)], label: &'static str) -> Spec {
    Spec {
        methods,
        rate_class: None,
        cross_origin: false,
        label,
    }
}

/// A row for a widget endpoint: any site may call it, within the class's rate limit.
const fn widget(
    method: &'static [(Method, Access)],
    class: RateClass,
    label: &'static str,
) -> Spec {
    Spec {
        methods: method,
        rate_class: Some(class),
        cross_origin: true,
        label,
    }
}

impl Route {
    /// The route `path` names, or `None` (404). The method is checked against the route's row
    /// by the router, so a known path with a wrong method is a 405, not a 404.
    pub fn parse(path: &str) -> Option<Route> {
        Some(match path {
            "/healthz" => Route::Health,
            "/metrics" => Route::Metrics,
            "/widget.js" => Route::WidgetJs,
            "/demo" => Route::Demo,
            "/admin" => Route::AdminFiles,
            _ if path.starts_with("/admin/") => Route::AdminFiles,
            "/api/widget/config" => Route::WidgetConfig,
            "/api/widget/session" => Route::Session,
            "/api/chat" => Route::Chat,
            "/api/widget/lead" => Route::Lead,
            "/api/widget/feedback" => Route::Feedback,
            "/api/widget/salespop-push" => Route::SalespopPush,
            "/api/widget/salespop" => Route::SalespopPoll,
            "/api/widget/salespop/stream" => Route::SalespopStream,
            "/api/widget/salespop/ws" => Route::SalespopWs,
            "/api/widget/salespop/stats" => Route::SalespopStats,
            "/api/admin/auth/login" => Route::Login,
            "/api/admin/auth/refresh" => Route::Refresh,
            "/api/admin/auth/logout" => Route::Logout,
            "/api/admin/me" => Route::Me,
            "/api/admin/users" => Route::Users,
            "/api/admin/backup" => Route::Backup,
            _ => return Route::parse_segments(path),
        })
    }

    fn parse_segments(path: &str) -> Option<Route> {
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
                [] => Route::Invitations,
                [slug] => Route::Invitation(owned(slug)),
                [slug, "accept"] => Route::InvitationAccept(owned(slug)),
                _ => return None,
            });
        }
        let (slug, op) = match segments.as_slice() {
            [] => return Some(Route::Projects),
            [slug, rest @ ..] => (owned(slug), rest),
        };
        let op = match op {
            [] => ProjectOp::Settings,
            ["push-secret"] => ProjectOp::PushSecret,
            ["conversations"] => ProjectOp::Conversations,
            ["conversations", id] => ProjectOp::Conversation(owned(id)),
            ["conversations", id, "reply"] => ProjectOp::Reply(owned(id)),
            ["leads"] => ProjectOp::Leads,
            ["members"] => ProjectOp::Members,
            ["members", email] => ProjectOp::Member(owned(email)),
            ["analytics"] => ProjectOp::Analytics,
            ["conversations.csv"] => ProjectOp::ConversationsCsv,
            ["leads.csv"] => ProjectOp::LeadsCsv,
            ["documents"] => ProjectOp::Documents,
            ["documents", "fetch"] => ProjectOp::FetchDocuments,
            ["documents", "reindex"] => ProjectOp::Reindex,
            ["documents", id] => ProjectOp::Document(owned(id)),
            ["documents", id, "sync"] => ProjectOp::SyncDocument(owned(id)),
            _ => return None,
        };
        Some(Route::Project { slug, op })
    }

    /// The route's row of the table.
    pub fn spec(&self) -> Spec {
        use RateClass as Rate;
        match self {
            Route::Health => admin(&[(GET, Public)], "healthz"),
            // Scrapers are few, and allow-listed in the handler.
            Route::Metrics => admin(&[(GET, Public)], "metrics"),
            // Static files: one per page view, often from many visitors behind one NAT.
            Route::WidgetJs => admin(&[(GET, Public)], "widget_js"),
            Route::Demo => admin(&[(GET, Public)], "demo"),
            Route::AdminFiles => admin(&[(GET, Public)], "admin_files"),
            Route::WidgetConfig => widget(&[(GET, Public)], Rate::Widget, "widget_config"),
            Route::Session => widget(&[(GET, Session)], Rate::Widget, "session"),
            // Leads share chat's stricter limit: they are a spam target.
            Route::Chat => widget(&[(POST, Session)], Rate::Chat, "chat"),
            Route::Lead => widget(&[(POST, Session)], Rate::Chat, "lead"),
            Route::Feedback => widget(&[(POST, Session)], Rate::Widget, "feedback"),
            Route::SalespopPush => widget(&[(POST, Public)], Rate::Push, "salespop_push"),
            Route::SalespopPoll => widget(&[(GET, Public)], Rate::Widget, "salespop_poll"),
            Route::SalespopStream => widget(&[(GET, Public)], Rate::Widget, "salespop_stream"),
            Route::SalespopWs => widget(&[(GET, Public)], Rate::Widget, "salespop_ws"),
            Route::SalespopStats => widget(&[(GET, Public)], Rate::Widget, "salespop_stats"),
            Route::Login => Spec {
                rate_class: Some(Rate::Login),
                ..admin(&[(POST, Public)], "admin_login")
            },
            Route::Refresh => Spec {
                rate_class: Some(Rate::Login),
                ..admin(&[(POST, Public)], "admin_refresh")
            },
            // Signed-in admins: their tokens are the gate.
            Route::Logout => admin(&[(POST, Public)], "admin_logout"),
            Route::Me => admin(&[(GET, SignedIn)], "admin_me"),
            Route::Users => admin(&[(POST, Admin)], "admin_users"),
            Route::Backup => admin(&[(GET, Admin)], "admin_backup"),
            Route::Invitations => admin(&[(GET, SignedIn)], "admin_invitations"),
            Route::Invitation(_) => admin(&[(DELETE, SignedIn)], "admin_invitations"),
            Route::InvitationAccept(_) => admin(&[(POST, SignedIn)], "admin_invitations"),
            Route::Projects => admin(&[(GET, SignedIn), (POST, Admin)], "admin_projects"),
            Route::Project { op, .. } => op.spec(),
        }
    }

    /// The project a route's access is checked against.
    pub fn project(&self) -> Option<&str> {
        match self {
            Route::Project { slug, .. } => Some(slug),
            _ => None,
        }
    }
}

impl ProjectOp {
    fn spec(&self) -> Spec {
        let methods: &'static [(Method, Access)] = match self {
            ProjectOp::Settings => &[(GET, Owner), (PUT, Owner), (DELETE, Owner)],
            ProjectOp::PushSecret => &[(POST, Owner)],
            ProjectOp::Conversations => &[(GET, Member)],
            ProjectOp::Conversation(_) => &[(GET, Member), (DELETE, Owner)],
            ProjectOp::Reply(_) => &[(POST, Member)],
            ProjectOp::Leads
            | ProjectOp::Analytics
            | ProjectOp::ConversationsCsv
            | ProjectOp::LeadsCsv => &[(GET, Member)],
            ProjectOp::Members => &[(GET, Owner), (PUT, Owner)],
            ProjectOp::Member(_) => &[(DELETE, Owner)],
            ProjectOp::Documents => &[(GET, Owner), (POST, Owner)],
            ProjectOp::FetchDocuments | ProjectOp::Reindex | ProjectOp::SyncDocument(_) => {
                &[(POST, Owner)]
            }
            ProjectOp::Document(_) => &[(DELETE, Owner)],
        };
        let label = match self {
            ProjectOp::Settings | ProjectOp::PushSecret => "admin_projects",
            ProjectOp::Conversations | ProjectOp::Conversation(_) | ProjectOp::Reply(_) => {
                "admin_conversations"
            }
            ProjectOp::Leads => "admin_leads",
            ProjectOp::Members | ProjectOp::Member(_) => "admin_members",
            ProjectOp::Analytics | ProjectOp::ConversationsCsv | ProjectOp::LeadsCsv => {
                "admin_reports"
            }
            ProjectOp::Documents
            | ProjectOp::FetchDocuments
            | ProjectOp::Reindex
            | ProjectOp::Document(_)
            | ProjectOp::SyncDocument(_) => "admin_documents",
        };
        admin(methods, label)
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
        Some(Route::Project {
            slug: slug.into(),
            op,
        })
    }

    #[test]
    fn paths_parse_to_typed_routes_with_decoded_segments() {
        assert_eq!(Route::parse("/api/chat"), Some(Route::Chat));
        assert_eq!(Route::parse("/admin/app.js"), Some(Route::AdminFiles));
        assert_eq!(Route::parse("/api/admin/projects"), Some(Route::Projects));
        assert_eq!(Route::parse("/api/admin/projects/"), Some(Route::Projects));
        let path = "/api/admin/projects/demo/members/a%40b.example";
        let member = ProjectOp::Member("a@b.example".into());
        assert_eq!(Route::parse(path), project("demo", member));
        let path = "/api/admin/projects/demo/documents/faq.md/sync";
        let sync = ProjectOp::SyncDocument("faq.md".into());
        assert_eq!(Route::parse(path), project("demo", sync));
        let path = "/api/admin/invitations/demo/accept";
        assert_eq!(
            Route::parse(path),
            Some(Route::InvitationAccept("demo".into()))
        );
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
        let push = Route::SalespopPush.spec();
        assert_eq!(push.allow(), "POST, OPTIONS");
        let conversation = ProjectOp::Conversation("x".into()).spec();
        assert_eq!(conversation.access(&Method::GET), Some(Access::Member));
        assert_eq!(conversation.access(&Method::DELETE), Some(Access::Owner));
    }
}
