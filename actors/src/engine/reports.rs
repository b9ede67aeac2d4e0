//! [`Reports`]: figures read from the store and the running engine — a project's analytics
//! per day, event counts and deliveries, live actors and visitors, model counters, the
//! store's size and backups.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;

use crate::proactive::{CountsByRule, ProactiveCounts, ProactiveRule};
use crate::project::{COUNTS_KEPT_HOURS, ProjectError};
use crate::records::HOUR_MS;
use crate::social_proof::{EventCounts, EventKind, PopupCounts};
use crate::store::StoreError;
use crate::time::now_ms;
use crate::time::{DAY_MS, utc_date};

use super::{Core, Projects};

#[derive(Clone)]
pub struct Reports {
    pub(super) core: Arc<Core>,
}

impl Reports {
    /// Events of `slug` handed to live visitors, per hour since `from_hour`.
    pub async fn deliveries_by_hour(
        &self,
        slug: &str,
        from_hour: u64,
    ) -> Result<Vec<(u64, u64)>, ProjectError> {
        self.core.snapshot(slug).await?;
        Ok(self.core.store.deliveries_by_hour(slug, from_hour).await?)
    }

    /// How many events of each type `slug` got in the last `hours` hours (the current hour
    /// counting as one), at most [`COUNTS_KEPT_HOURS`].
    pub async fn event_counts(&self, slug: &str, hours: u64) -> Result<EventCounts, ProjectError> {
        self.core.snapshot(slug).await?;
        let hours = hours.clamp(1, COUNTS_KEPT_HOURS);
        let now_hour = now_ms() / HOUR_MS;
        Ok(self
            .core
            .store
            .event_counts(slug, now_hour + 1 - hours)
            .await?)
    }

    /// Popups of `slug` shown and clicked, per UTC day (`YYYY-MM-DD`) of the `days` days up to
    /// `now_ms`, today included; days with none are left out.
    pub async fn popups_by_day(
        &self,
        slug: &str,
        days: u64,
        now_ms: u64,
    ) -> Result<Vec<(String, PopupCounts)>, ProjectError> {
        self.core.snapshot(slug).await?;
        let first_day = (now_ms / DAY_MS + 1).saturating_sub(days);
        let mut per_day: BTreeMap<u64, PopupCounts> = BTreeMap::new();
        for (hour, counts) in self
            .core
            .store
            .popup_counts_by_hour(slug, first_day * 24)
            .await?
        {
            per_day.entry(hour / 24).or_default().merge(&counts);
        }
        Ok(per_day
            .into_iter()
            .map(|(day, counts)| (utc_date(day * DAY_MS), counts))
            .collect())
    }

    /// Pushed events of `slug` per hour since `from_hour`.
    pub async fn event_counts_by_hour(
        &self,
        slug: &str,
        from_hour: u64,
    ) -> Result<Vec<(u64, EventCounts)>, ProjectError> {
        self.core.snapshot(slug).await?;
        Ok(self
            .core
            .store
            .event_counts_by_hour(slug, from_hour)
            .await?)
    }

    /// Counters of the model side, for health and metrics.
    pub fn llm_stats(&self) -> &crate::llm::LlmStats {
        &self.core.chat.stats
    }

    /// The number of session actors alive now.
    pub fn live_sessions(&self) -> usize {
        self.core.sessions.len()
    }

    /// Visitors subscribed to live popups, over all projects.
    pub fn live_subscribers_total(&self) -> usize {
        self.core
            .all_subscribers
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Whether this node is one of a cluster's (its store is shared).
    pub fn in_cluster(&self) -> bool {
        self.core.nodes.shared()
    }

    /// Writes a backup of the whole store to `out` while the server runs (blocking: call it off
    /// the async threads).
    pub fn backup_to(
        &self,
        out: &mut impl std::io::Write,
    ) -> Result<crate::store::backup::BackupSummary, crate::store::backup::BackupError> {
        self.core.store.backup_to(out)
    }

    /// The store's size on disk, in bytes.
    /// Claims the sending of `slug`'s digest for `period`: `true` once per period, whichever
    /// node asks first.
    pub async fn claim_digest(&self, slug: &str, period: u64) -> Result<bool, StoreError> {
        self.core.store.claim_period(slug, period).await
    }

    /// Claims the re-sync of `slug`'s fetched documents for `period`, as digests are claimed.
    pub async fn claim_resync(&self, slug: &str, period: u64) -> Result<bool, StoreError> {
        // Slugs hold no ':', so this key is never a digest's.
        self.core
            .store
            .claim_period(&format!("resync:{slug}"), period)
            .await
    }

    pub async fn store_size(&self) -> Result<u64, StoreError> {
        self.core.store.size_on_disk().await
    }

    /// The number of project actors alive now.
    pub fn live_projects(&self) -> usize {
        self.core.actors.len()
    }

    /// Whether the store answers and the other nodes' announcements are heard, for health
    /// reports. Asks the store a trivial question (a round trip to a database server).
    pub async fn engines(&self) -> Engines {
        Engines {
            store: self.core.store.backend(),
            store_ok: matches!(
                tokio::time::timeout(STORE_CHECK_TIMEOUT, self.core.store.check()).await,
                Ok(Ok(()))
            ),
            cluster: self.core.nodes.shared(),
            fan_out_ok: self.core.nodes.fan_out.connected(),
        }
    }

    /// A project's figures per UTC day for the `days` days up to `now_ms` (today included),
    /// the ten most asked first questions, the visitors' thumbs, and live visitors now. The
    /// conversation figures come from the days' tallies the store keeps (`store::figures`):
    /// their cost follows `days`, not the traffic.
    pub async fn analytics(
        &self,
        slug: &str,
        days: u64,
        now_ms: u64,
    ) -> Result<Analytics, ProjectError> {
        let first_day = (now_ms / DAY_MS + 1).saturating_sub(days);
        let mut per_day: BTreeMap<u64, DayFigures> = (first_day..first_day + days)
            .map(|day| (day, DayFigures::new(day)))
            .collect();
        let snapshot = self.core.snapshot(slug).await?;
        let figures = self
            .core
            .store
            .conversation_figures(slug, first_day)
            .await?;
        for (day, counts) in &figures.days {
            if let Some(figures) = per_day.get_mut(day) {
                figures.conversations += counts.conversations;
                figures.messages += counts.messages;
                figures.answered += counts.answered;
                figures.unanswered += counts.unanswered;
                figures.leads += counts.leads;
            }
        }
        let feedback = Thumbs {
            up: figures.thumbs_up,
            down: figures.thumbs_down,
        };
        let questions = figures.first_questions;
        for (hour, counts) in self.event_counts_by_hour(slug, first_day * 24).await? {
            if let Some(day) = per_day.get_mut(&(hour / 24)) {
                day.pushes += counts.total();
            }
        }
        for (hour, delivered) in self.deliveries_by_hour(slug, first_day * 24).await? {
            if let Some(day) = per_day.get_mut(&(hour / 24)) {
                day.popups_delivered += delivered;
            }
        }
        let mut popups = PopupCounts::default();
        for (hour, counts) in self
            .core
            .store
            .popup_counts_by_hour(slug, first_day * 24)
            .await?
        {
            if let Some(day) = per_day.get_mut(&(hour / 24)) {
                day.popups_shown += counts.shown.total();
                day.popups_clicked += counts.clicked.total();
                popups.merge(&counts);
            }
        }
        let popups_by_type = EventKind::ALL
            .into_iter()
            .map(|kind| PopupTypeFigures {
                kind,
                shown: popups.shown.of(kind),
                clicked: popups.clicked.of(kind),
            })
            .filter(|figures| figures.shown + figures.clicked > 0)
            .collect();
        let mut proactive_counts = CountsByRule::new();
        for (_, of_hour) in self
            .core
            .store
            .proactive_counts_by_hour(slug, first_day * 24)
            .await?
        {
            for (rule, counts) in of_hour {
                proactive_counts.entry(rule).or_default().merge(&counts);
            }
        }
        let proactive = ProactiveFigures::of(&snapshot.widget.proactive, proactive_counts);
        let projects = Projects {
            core: self.core.clone(),
        };
        let subscribers_online = projects.live_subscribers(slug).await?;
        let mut top_questions: Vec<QuestionCount> = questions
            .into_iter()
            .map(|(question, count)| QuestionCount { question, count })
            .collect();
        top_questions.sort_by(|a, b| {
            b.count
                .cmp(&a.count)
                .then_with(|| a.question.cmp(&b.question))
        });
        top_questions.truncate(10);
        Ok(Analytics {
            days: per_day.into_values().collect(),
            top_questions,
            feedback,
            subscribers_online,
            popups_by_type,
            satisfaction: SatisfactionFigures::of(figures.ratings),
            proactive,
        })
    }
}

pub use crate::store::queries::REPORT_SCAN_MAX;

/// A project's figures, as `GET …/analytics` shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Analytics {
    pub days: Vec<DayFigures>,
    /// The ten most asked first questions (lowercased), most asked first.
    pub top_questions: Vec<QuestionCount>,
    pub feedback: Thumbs,
    /// Live visitors subscribed to popups now.
    pub subscribers_online: usize,
    /// Popups shown and clicked in the period, per event type (types with none left out).
    pub popups_by_type: Vec<PopupTypeFigures>,
    /// Visitors' ratings of the conversations of the period.
    pub satisfaction: SatisfactionFigures,
    /// How each proactive message did in the period: the project's rules in their order, then
    /// rules deleted since that have counts.
    pub proactive: Vec<ProactiveFigures>,
}

/// How one proactive message did in a period (each once per visit and action).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProactiveFigures {
    /// The rule's id.
    pub rule: String,
    /// What it says now; null for a rule deleted since.
    pub message: Option<String>,
    #[serde(flatten)]
    pub counts: ProactiveCounts,
}

impl ProactiveFigures {
    fn of(rules: &[ProactiveRule], mut counts: CountsByRule) -> Vec<ProactiveFigures> {
        let mut figures: Vec<ProactiveFigures> = rules
            .iter()
            .map(|rule| ProactiveFigures {
                rule: rule.id.clone(),
                message: Some(rule.message.clone()),
                counts: counts.remove(&rule.id).unwrap_or_default(),
            })
            .collect();
        figures.extend(counts.into_iter().map(|(rule, counts)| ProactiveFigures {
            rule,
            message: None,
            counts,
        }));
        figures
    }
}

/// Visitors' ratings (1–5) of resolved conversations.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SatisfactionFigures {
    pub ratings: u64,
    /// How many gave each score, 1 first.
    pub distribution: [u64; 5],
    /// The average score in hundredths (e.g. 450 for 4.5), when there are ratings.
    #[schema(example = 450)]
    pub average_hundredths: Option<u64>,
}

impl SatisfactionFigures {
    pub fn of(distribution: [u64; 5]) -> SatisfactionFigures {
        let ratings: u64 = distribution.iter().sum();
        let total: u64 = (1..=5).zip(distribution).map(|(score, n)| score * n).sum();
        SatisfactionFigures {
            ratings,
            distribution,
            average_hundredths: (ratings > 0).then(|| (total * 100 + ratings / 2) / ratings),
        }
    }
}

/// How one event type's popups did in a period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct PopupTypeFigures {
    #[serde(rename = "type")]
    pub kind: EventKind,
    /// Popups visitors saw (each event once per visit).
    pub shown: u64,
    /// Popups visitors clicked (each event once per visit).
    pub clicked: u64,
}

/// One UTC day's figures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DayFigures {
    /// `YYYY-MM-DD`.
    pub date: String,
    pub conversations: u64,
    /// Visitor messages.
    pub messages: u64,
    /// Answers citing the knowledge base.
    pub answered: u64,
    /// Answers with no knowledge-base match, or failed.
    pub unanswered: u64,
    pub leads: u64,
    pub pushes: u64,
    /// Events handed to live visitors.
    pub popups_delivered: u64,
    /// Popups visitors saw, as their widgets reported (each event once per visit).
    pub popups_shown: u64,
    /// Popups visitors clicked through.
    pub popups_clicked: u64,
}

impl DayFigures {
    fn new(day: u64) -> DayFigures {
        DayFigures {
            date: utc_date(day * DAY_MS),
            conversations: 0,
            messages: 0,
            answered: 0,
            unanswered: 0,
            leads: 0,
            pushes: 0,
            popups_delivered: 0,
            popups_shown: 0,
            popups_clicked: 0,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct QuestionCount {
    pub question: String,
    pub count: u64,
}

/// The visitors' thumbs on answers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Thumbs {
    pub up: u64,
    pub down: u64,
}

/// How long a health check waits for the store's answer.
const STORE_CHECK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1);

/// The engines under this node, as [`Reports::engines`] found them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Engines {
    /// "sled" or "postgresql".
    pub store: &'static str,
    pub store_ok: bool,
    /// Whether other nodes share the store.
    pub cluster: bool,
    /// Whether the other nodes' announcements are heard (always, on a node of its own).
    pub fan_out_ok: bool,
}
