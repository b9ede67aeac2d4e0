//! Email: the `[email]` SMTP sender (lettre) and what HelpYap writes — a lead and the daily
//! digest of unanswered questions, to the members of its project who turned email on; a webhook
//! turned off, to its project's owners; invitations; password reset links.
//!
//! Off without `email.smtp_url`: nothing is sent, the dashboard says so, and "forgot password"
//! answers 409. Each node emails only the leads it made itself (its own activity) and the
//! webhooks it turned off, so a cluster tells each once. A message carries at most a short preview of a visitor's words; no
//! address, token or message body is logged at info. Sending is best effort: a lead email that
//! fails is logged, not retried (the lead is in the dashboard either way).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::anyhow;
use dashmap::DashMap;
use helpyap_actors::activity::{Activity, Change};
use helpyap_actors::engine::{INBOX_PAGE_MAX, InboxQuery};
use helpyap_actors::records::{Role, UserRecord};
use helpyap_actors::{Engine, LeadContact};
use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use tokio::sync::broadcast::error::RecvError;

use crate::config::EmailConfig;

/// Longest wait for the SMTP server, connecting included.
const SMTP_TIMEOUT: Duration = Duration::from_secs(10);
/// Characters of a visitor's message an email shows.
const PREVIEW_CHARS: usize = 200;

pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    public_url: String,
    /// What was sent lately, by what it was about: the same lead, reset or invitation is not
    /// emailed again within its cooldown (per node), so no one can make the server spam.
    recent: DashMap<String, Instant>,
}

/// A lead (per conversation), a reset link (per account), an invitation (per project and
/// address) is emailed at most once in this long.
const COOLDOWN: Duration = Duration::from_secs(10 * 60);
/// Past this many remembered sends, the expired ones are forgotten.
const RECENT_MAX: usize = 10_000;

impl Mailer {
    /// The sender `config` describes; `None` when email is off.
    pub fn new(config: &EmailConfig) -> anyhow::Result<Option<Arc<Mailer>>> {
        let Some(url) = &config.smtp_url else {
            return Ok(None);
        };
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|error| anyhow!("email.smtp_url is not an SMTP URL: {error}"))?
            .timeout(Some(SMTP_TIMEOUT))
            .build();
        let from = config
            .from
            .parse::<Mailbox>()
            .map_err(|error| anyhow!("email.from is not an address: {error}"))?;
        Ok(Some(Arc::new(Mailer {
            transport,
            from,
            public_url: config.public_url.trim_end_matches('/').to_owned(),
            recent: DashMap::new(),
        })))
    }

    /// Whether nothing about `what` was sent within [`COOLDOWN`]; notes it as sent now.
    pub fn first_in_a_while(&self, what: String) -> bool {
        if self.recent.len() > RECENT_MAX {
            self.recent.retain(|_, at| at.elapsed() < COOLDOWN);
        }
        let mut first = true;
        self.recent
            .entry(what)
            .and_modify(|at| {
                if at.elapsed() < COOLDOWN {
                    first = false;
                } else {
                    *at = Instant::now();
                }
            })
            .or_insert_with(Instant::now);
        first
    }

    /// `path` on this server, as people reach it.
    pub fn link(&self, path: &str) -> String {
        format!("{}{path}", self.public_url)
    }

    /// Emails the members of project `slug` among `users` who turned email on (people: an API
    /// token is nobody to email); a failure is logged as `what` not sent.
    async fn tell_opted_in(
        &self,
        users: &[UserRecord],
        slug: &str,
        subject: &str,
        body: &str,
        what: &str,
    ) {
        let recipients = users.iter().filter(|user| {
            user.profile.notify_email
                && !user.password_hash.is_empty()
                && user.role_on(slug).is_some()
        });
        for user in recipients {
            if let Err(error) = self.send(&user.email, subject, body.to_owned()).await {
                tracing::warn!(project = %slug, user = %user.id, %error, "a {what} email was not sent");
            }
        }
    }

    /// Sends a plain-text email.
    pub async fn send(&self, to: &str, subject: &str, body: String) -> Result<(), String> {
        let to: Mailbox = to
            .parse()
            .map_err(|error| format!("not an address: {error}"))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .header(ContentType::TEXT_PLAIN)
            .body(body)
            .map_err(|error| error.to_string())?;
        self.transport
            .send(message)
            .await
            .map(drop)
            .map_err(|error| {
                // The server's reply may repeat the address: only its code is kept.
                match error.status() {
                    Some(code) => format!("the SMTP server answered {code}"),
                    None if error.is_timeout() => "the SMTP server did not answer in time".into(),
                    None if error.is_tls() => "TLS with the SMTP server failed".into(),
                    None => "the SMTP server could not be reached".into(),
                }
            })
    }
}

/// Emails each lead made on this node to its project's members who turned email on, until the
/// engine stops.
pub async fn tell_teams_of_leads(mailer: Arc<Mailer>, engine: Engine) {
    let mut made_here = engine.activity().watch_local();
    loop {
        match made_here.recv().await {
            Ok(activity) => {
                if let Change::Lead(lead) = &activity.change
                    && mailer.first_in_a_while(format!("lead:{}", activity.session))
                {
                    email_lead(&mailer, &engine, &activity, lead).await;
                }
            }
            Err(RecvError::Lagged(missed)) => {
                tracing::warn!(missed, "some lead emails were skipped: too many at once");
            }
            Err(RecvError::Closed) => return,
        }
    }
}

async fn email_lead(mailer: &Mailer, engine: &Engine, activity: &Activity, lead: &LeadContact) {
    let slug = &activity.project;
    let (Ok(project), Ok(users)) = (
        engine.projects.snapshot(slug).await,
        engine.accounts.users().await,
    ) else {
        tracing::warn!(project = %slug, "a lead email was not sent: the project or its members could not be read");
        return;
    };
    let who = match &lead.name {
        Some(name) => format!("{name} <{}>", lead.email),
        None => lead.email.clone(),
    };
    let subject = format!("New lead on {}: {who}", project.widget.name);
    let said = match &lead.message {
        Some(message) => format!("Their message: \u{201c}{}\u{201d}\n\n", preview(message)),
        None => String::new(),
    };
    let link = mailer.link(&format!("/admin#/{slug}/inbox/{}", activity.session));
    let body = format!(
        "{who} left their contact in a chat on {name} and is waiting for a reply.\n\n{said}\
         Open the conversation: {link}\n\n\
         You get this email because you turned on email notifications in HelpYap (Your profile).\n",
        name = project.widget.name,
    );
    mailer
        .tell_opted_in(&users, slug, &subject, &body, "lead")
        .await;
}

/// Emails the owners of a project whose webhook this node turned off (its deliveries kept
/// failing for `webhooks.give_up_after`), until the engine stops. Owners are told whatever
/// their notification setting: their integration stopped.
pub async fn tell_owners_of_webhooks(mailer: Arc<Mailer>, engine: Engine) {
    let mut turned_off = engine.webhooks_turned_off();
    loop {
        let off = match turned_off.recv().await {
            Ok(off) => off,
            Err(RecvError::Lagged(_)) => continue,
            Err(RecvError::Closed) => return,
        };
        let Ok(users) = engine.accounts.users().await else {
            tracing::warn!(project = %off.project, "a webhook email was not sent: the owners could not be read");
            continue;
        };
        let owners = users.iter().filter(|user| {
            !user.password_hash.is_empty() && user.role_on(&off.project) == Some(Role::Owner)
        });
        let subject = format!("A webhook of {} was turned off", off.project);
        let link = mailer.link(&format!("/admin#/{}/webhooks", off.project));
        let body = format!(
            "HelpYap turned off the webhook to {url} of project {project}: {reason}.\n\n\
             Deliveries waiting for it are kept. Check the receiver, then turn the webhook on \
             again (and redeliver from its log): {link}\n",
            url = off.url,
            project = off.project,
            reason = off.reason,
        );
        for owner in owners {
            if let Err(error) = mailer.send(&owner.email, &subject, body.clone()).await {
                tracing::warn!(project = %off.project, user = %owner.id, %error, "a webhook email was not sent");
            }
        }
    }
}

/// Sends each project's digest of unanswered questions to its members who turned email on,
/// every `every` at `hour_utc` (UTC), until the engine stops. Each period's digest is claimed in
/// the store first, so one node sends it; a node started in a period not yet sent sends it.
pub async fn send_digests(mailer: Arc<Mailer>, engine: Engine, every: Duration, hour_utc: u8) {
    let every_ms = every.as_millis() as u64;
    let offset_ms = u64::from(hour_utc) * 3_600_000 % every_ms;
    loop {
        let now = helpyap_actors::time::now_ms();
        // Claimed by the period's start time: a later period is later whatever `every` was.
        let start = now.saturating_sub(offset_ms) / every_ms * every_ms + offset_ms;
        let mut wait = (start + every_ms).saturating_sub(now);
        match engine.projects.list().await {
            Ok(projects) => {
                for project in projects {
                    match engine.reports.claim_digest(&project.slug, start).await {
                        Ok(true) => {
                            let from = start.saturating_sub(every_ms);
                            digest(&mailer, &engine, &project.slug, from, start).await;
                        }
                        Ok(false) => {}
                        Err(error) => {
                            tracing::warn!(project = %project.slug, %error, "a digest was not sent");
                            wait = wait.min(60_000); // try again soon
                        }
                    }
                }
            }
            Err(error) => {
                tracing::warn!(%error, "digests wait: the projects could not be read");
                wait = wait.min(60_000);
            }
        }
        tokio::time::sleep(Duration::from_millis(wait.max(50))).await;
    }
}

/// Questions shown in a digest, at most.
const DIGEST_QUESTIONS: usize = 10;

/// Emails `slug`'s unanswered questions of the conversations started in `[from_ms, to_ms)`.
async fn digest(mailer: &Mailer, engine: &Engine, slug: &str, from_ms: u64, to_ms: u64) {
    let query = InboxQuery {
        limit: INBOX_PAGE_MAX,
        before: None,
        from_ms: Some(from_ms),
        to_ms: Some(to_ms),
        unanswered: true,
        status: None,
        assignee: None,
    };
    let (Ok(page), Ok(project), Ok(users)) = (
        engine.chat.inbox(slug, query).await,
        engine.projects.snapshot(slug).await,
        engine.accounts.users().await,
    ) else {
        tracing::warn!(project = %slug, "a digest was not sent: its data could not be read");
        return;
    };
    if page.conversations.is_empty() {
        return;
    }
    let count = page.conversations.len();
    let more = if page.next.is_some() { "+" } else { "" };
    let mut lines = String::new();
    for (session, messages) in page.conversations.iter().take(DIGEST_QUESTIONS) {
        let question = messages
            .iter()
            .find(|message| message.role == helpyap_actors::chat::Role::User)
            .map_or("(no question)".into(), |message| preview(&message.content));
        let link = mailer.link(&format!("/admin#/{slug}/inbox/{}", session.id));
        lines.push_str(&format!("- \u{201c}{question}\u{201d}\n  {link}\n"));
    }
    let subject = format!(
        "{count}{more} unanswered question{} on {}",
        if count == 1 && more.is_empty() {
            ""
        } else {
            "s"
        },
        project.widget.name
    );
    let body = format!(
        "Visitors asked {name} questions its knowledge base could not answer:\n\n{lines}\n\
         Add what they were looking for to the knowledge base, or answer them in the inbox.\n\n\
         You get this email because you turned on email notifications in HelpYap (Your profile).\n",
        name = project.widget.name,
    );
    mailer
        .tell_opted_in(&users, slug, &subject, &body, "digest")
        .await;
}

/// An invitation to email.
pub struct Invite {
    pub slug: String,
    /// The project's name.
    pub project: String,
    pub email: String,
    pub role: Role,
    /// How the inviter is named: their display name, else their email.
    pub inviter: String,
    /// For someone with no account: the token of the link that sets their password.
    pub token: Option<String>,
}

/// Emails an invitation: a link that sets a password and joins (no account yet), or a link to
/// sign in and accept.
pub async fn send_invitation(mailer: Arc<Mailer>, invite: Invite) {
    if !mailer.first_in_a_while(format!("invite:{}:{}", invite.slug, invite.email)) {
        return;
    }
    let role = match invite.role {
        Role::Owner => "an owner",
        Role::Agent => "a teammate",
    };
    let subject = format!(
        "{} invited you to {} on HelpYap",
        invite.inviter, invite.project
    );
    let next = match &invite.token {
        Some(token) => format!(
            "Choose a password to join (the link works once, for 7 days):\n{}",
            mailer.link(&format!("/admin#/join/{}/{token}", invite.slug))
        ),
        None => format!(
            "Sign in to accept it (it is on top of the dashboard):\n{}",
            mailer.link("/admin")
        ),
    };
    let body = format!(
        "{inviter} invited you to answer the visitors of {project} as {role}.\n\n{next}\n\n\
         If you do not know them, ignore this email.\n",
        inviter = invite.inviter,
        project = invite.project,
    );
    if let Err(error) = mailer.send(&invite.email, &subject, body).await {
        tracing::warn!(project = %invite.slug, %error, "an invitation email was not sent");
    }
}

/// At most [`PREVIEW_CHARS`] of `text`, on one line.
fn preview(text: &str) -> String {
    let line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match line.char_indices().nth(PREVIEW_CHARS) {
        Some((cut, _)) => format!("{}\u{2026}", &line[..cut]),
        None => line,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_preview_is_one_short_line() {
        assert_eq!(preview("call\n me  back"), "call me back");
        let long = "é".repeat(PREVIEW_CHARS + 10);
        let cut = preview(&long);
        assert_eq!(cut.chars().count(), PREVIEW_CHARS + 1);
        assert!(cut.ends_with('\u{2026}'));
    }
}
