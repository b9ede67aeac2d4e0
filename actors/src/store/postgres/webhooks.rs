//! The webhook side of [`PgStore`]: webhooks, the outbox and the delivery log, in SQL.
//!
//! A write that reports news puts it into `webhook_outbox` in the same statement, through the
//! [`queue`] CTE: one row per enabled webhook of the project that hears the event's type.
//! Nodes claim due rows with `FOR UPDATE SKIP LOCKED`, moving them `lease` into the future, so
//! two nodes never send one delivery at once and a node that dies lets its claims go.

use serde_json::{Value, json};
use tokio_postgres::types::Json;
use uuid::Uuid;

use super::{PgStore, json, signed};
use crate::store::StoreError;
use crate::webhook::{Attempt, Delivery, LOG_KEEP, WebhookEvent, WebhookRecord};

/// A CTE named `queued` that puts the news in parameter `$news` (see [`news`]) into the
/// outbox, due at `$due` (ms), if the CTE `gate` has a row; `event` is the SQL of each event's
/// JSON (`n.event`, or that with something filled in).
pub(super) fn queue(news: usize, due: usize, gate: &str, event: &str) -> String {
    format!(
        "queued AS (
             INSERT INTO webhook_outbox (event_id, webhook_id, slug, due_ms, record)
             SELECT n.id, w.id, w.slug, ${due}, jsonb_build_object('webhook', w.id, 'event', {event},
                 'dueMs', ${due}::bigint, 'attempts', 0, 'firstAttemptMs', NULL)
             FROM jsonb_to_recordset(${news}::jsonb) AS n(id uuid, kind text, event jsonb)
             JOIN webhooks w ON w.slug = n.event->>'project' AND w.enabled AND n.kind = ANY(w.events)
             WHERE EXISTS (SELECT 1 FROM {gate})
         )"
    )
}

/// `news` as [`queue`] reads it: `[{"id", "kind", "event"}]`.
pub(super) fn news(news: &[WebhookEvent]) -> Json<Value> {
    Json(Value::Array(
        news.iter()
            .map(|event| json!({ "id": event.id, "kind": event.kind.as_str(), "event": event }))
            .collect(),
    ))
}

impl PgStore {
    pub(super) async fn project_webhooks(
        &self,
        slug: &str,
    ) -> Result<Vec<WebhookRecord>, StoreError> {
        self.records(
            "SELECT record FROM webhooks WHERE slug = $1 ORDER BY created_ms, id",
            &[&slug],
        )
        .await
    }

    pub(super) async fn write_webhook(&self, webhook: &WebhookRecord) -> Result<(), StoreError> {
        let events: Vec<&str> = webhook.events.iter().map(|kind| kind.as_str()).collect();
        self.execute(
            "INSERT INTO webhooks (id, slug, enabled, events, created_ms, record)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (id) DO UPDATE SET enabled = $3, events = $4, record = $6",
            &[
                &webhook.id,
                &webhook.project,
                &webhook.enabled,
                &events,
                &signed(webhook.created_at_ms),
                &json(webhook),
            ],
        )
        .await?;
        Ok(())
    }

    pub(super) async fn remove_webhook(&self, slug: &str, id: Uuid) -> Result<bool, StoreError> {
        let mut client = self.pool.get().await?;
        let transaction = client.transaction().await?;
        let removed = transaction
            .execute(
                "DELETE FROM webhooks WHERE slug = $1 AND id = $2",
                &[&slug, &id],
            )
            .await?;
        if removed == 0 {
            return Ok(false); // not this project's: its deliveries and log are not ours to touch
        }
        transaction
            .execute("DELETE FROM webhook_outbox WHERE webhook_id = $1", &[&id])
            .await?;
        transaction
            .execute("DELETE FROM webhook_log WHERE webhook_id = $1", &[&id])
            .await?;
        transaction.commit().await?;
        Ok(true)
    }

    pub(super) async fn disable(
        &self,
        slug: &str,
        id: Uuid,
        reason: &str,
    ) -> Result<bool, StoreError> {
        let changed = self
            .execute(
                "UPDATE webhooks SET enabled = false, record = record
                     || jsonb_build_object('enabled', false, 'disabledReason', $3::text)
                 WHERE slug = $1 AND id = $2 AND enabled",
                &[&slug, &id, &reason],
            )
            .await?;
        Ok(changed > 0)
    }

    pub(super) async fn wake(&self, id: Uuid, now_ms: u64) -> Result<(), StoreError> {
        self.execute(
            "UPDATE webhook_outbox SET due_ms = $2,
                 record = jsonb_set(record, '{dueMs}', to_jsonb($2::bigint))
             WHERE webhook_id = $1",
            &[&id, &signed(now_ms)],
        )
        .await?;
        Ok(())
    }

    pub(super) async fn claim(
        &self,
        now_ms: u64,
        lease_ms: u64,
        limit: usize,
    ) -> Result<Vec<Delivery>, StoreError> {
        let until = signed(now_ms + lease_ms);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.records(
            "WITH claimed AS (
                 UPDATE webhook_outbox o SET due_ms = $2,
                     record = jsonb_set(o.record, '{dueMs}', to_jsonb($2::bigint))
                 FROM (SELECT event_id, webhook_id, due_ms FROM webhook_outbox WHERE due_ms <= $1
                       ORDER BY due_ms, event_id LIMIT $3 FOR UPDATE SKIP LOCKED) due
                 WHERE o.event_id = due.event_id AND o.webhook_id = due.webhook_id
                 RETURNING o.record, due.due_ms AS was_due, o.event_id, o.webhook_id
             )
             SELECT record FROM claimed ORDER BY was_due, event_id, webhook_id",
            &[&signed(now_ms), &until, &limit],
        )
        .await
    }

    pub(super) async fn settle(
        &self,
        claimed: &Delivery,
        retry_at_ms: Option<u64>,
        attempt: Option<&Attempt>,
    ) -> Result<(), StoreError> {
        let mut client = self.pool.get().await?;
        let transaction = client.transaction().await?;
        let key: [&(dyn tokio_postgres::types::ToSql + Sync); 3] =
            [&claimed.event.id, &claimed.webhook, &signed(claimed.due_ms)];
        let held = "event_id = $1 AND webhook_id = $2 AND due_ms = $3";
        match retry_at_ms {
            Some(due_ms) => {
                let retry = Delivery {
                    due_ms,
                    attempts: claimed.attempts + u32::from(attempt.is_some()),
                    first_attempt_ms: claimed.first_attempt_ms.or(attempt.map(|a| a.at_ms)),
                    ..claimed.clone()
                };
                let sql =
                    format!("UPDATE webhook_outbox SET due_ms = $4, record = $5 WHERE {held}");
                let params = [key[0], key[1], key[2], &signed(due_ms), &json(&retry)];
                transaction.execute(sql.as_str(), &params).await?;
            }
            None => {
                let sql = format!("DELETE FROM webhook_outbox WHERE {held}");
                transaction.execute(sql.as_str(), &key).await?;
            }
        }
        let Some(attempt) = attempt else {
            transaction.commit().await?;
            return Ok(());
        };
        // Only while its webhook exists: a deleted one's rows would never be removed.
        transaction
            .execute(
                "INSERT INTO webhook_log (webhook_id, at_ms, event_id, record)
                 SELECT $1, $2, $3, $4 WHERE EXISTS (SELECT 1 FROM webhooks WHERE id = $1)",
                &[
                    &attempt.webhook,
                    &signed(attempt.at_ms),
                    &attempt.event.id,
                    &json(attempt),
                ],
            )
            .await?;
        let oldest_kept = LOG_KEEP as i64 - 1;
        transaction
            .execute(
                "DELETE FROM webhook_log WHERE webhook_id = $1 AND at_ms < (
                     SELECT at_ms FROM webhook_log WHERE webhook_id = $1
                     ORDER BY at_ms DESC OFFSET $2 LIMIT 1)",
                &[&attempt.webhook, &oldest_kept],
            )
            .await?;
        transaction.commit().await?;
        Ok(())
    }

    pub(super) async fn enqueue(&self, delivery: &Delivery) -> Result<(), StoreError> {
        self.execute(
            "INSERT INTO webhook_outbox (event_id, webhook_id, slug, due_ms, record)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (event_id, webhook_id) DO NOTHING",
            &[
                &delivery.event.id,
                &delivery.webhook,
                &delivery.event.project,
                &signed(delivery.due_ms),
                &json(delivery),
            ],
        )
        .await?;
        Ok(())
    }

    pub(super) async fn log_of(&self, id: Uuid) -> Result<Vec<Attempt>, StoreError> {
        self.records(
            "SELECT record FROM webhook_log WHERE webhook_id = $1 ORDER BY at_ms DESC, event_id",
            &[&id],
        )
        .await
    }
}
