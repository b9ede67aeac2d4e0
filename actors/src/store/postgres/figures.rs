//! The day tallies of [`PgStore`] (`figure_days`): applied inside the transactions that write
//! sessions and messages, and counted from every record once, by the migration that made the
//! table.
//!
//! A day's row is read, changed and written back, locked from then until the transaction
//! commits: the writes of one project on one day take turns for that long (each locks it last,
//! after its other statements), which bounds them at one per commit.

use futures_util::TryStreamExt;
use tokio_postgres::Transaction;
use tokio_postgres::types::{Json, ToSql};

use super::{signed, unsigned};
use crate::records::{MessageRecord, SessionRecord};
use crate::store::StoreError;
use crate::store::figures::{DayTally, FigureChange, Recount};

/// Schema 13: the day tallies.
pub(super) const MIGRATION_13: &str = r#"
CREATE TABLE figure_days (
    slug TEXT COLLATE "C", day BIGINT, tally JSONB NOT NULL, PRIMARY KEY (slug, day)
);
"#;

/// Adds `change` to `slug`'s tallies; a day left with nothing is removed.
pub(super) async fn apply(
    transaction: &Transaction<'_>,
    slug: &str,
    change: &FigureChange,
) -> Result<(), StoreError> {
    for (day, change) in change.days() {
        let day = signed(day);
        // Inserted empty, or locked as it is: either way the row is this transaction's now.
        let row = transaction
            .query_one(
                "INSERT INTO figure_days (slug, day, tally) VALUES ($1, $2, '{}')
                 ON CONFLICT (slug, day) DO UPDATE SET slug = EXCLUDED.slug RETURNING tally",
                &[&slug, &day],
            )
            .await?;
        let Json(mut tally) = row.try_get::<_, Json<DayTally>>(0)?;
        tally.apply(change);
        if tally.is_empty() {
            transaction
                .execute(
                    "DELETE FROM figure_days WHERE slug = $1 AND day = $2",
                    &[&slug, &day],
                )
                .await?;
        } else {
            transaction
                .execute(
                    "UPDATE figure_days SET tally = $3 WHERE slug = $1 AND day = $2",
                    &[&slug, &day, &Json(&tally)],
                )
                .await?;
        }
    }
    Ok(())
}

/// `slug`'s tallies from `from_day` on, in day order.
pub(super) const READ: &str =
    "SELECT day, tally FROM figure_days WHERE slug = $1 AND day >= $2 ORDER BY day";

pub(super) fn day_tally(row: &tokio_postgres::Row) -> Result<(u64, DayTally), StoreError> {
    let Json(tally) = row.try_get::<_, Json<DayTally>>(1)?;
    Ok((unsigned(row.try_get(0)?), tally))
}

/// Counts every stored conversation into the (empty) tallies: run by the migration to schema
/// 13, reading the conversations one at a time.
pub(super) async fn count_all(transaction: &Transaction<'_>) -> Result<(), StoreError> {
    let rows = transaction
        .query_raw(
            "SELECT s.record, COALESCE((SELECT jsonb_agg(m.record ORDER BY m.seq)
                 FROM messages m WHERE m.session = s.id), '[]'::jsonb)
             FROM sessions s",
            std::iter::empty::<&(dyn ToSql + Sync)>(),
        )
        .await?;
    futures_util::pin_mut!(rows);
    let mut recount = Recount::default();
    while let Some(row) = rows.try_next().await? {
        let read = row
            .try_get::<_, Json<SessionRecord>>(0)
            .and_then(|session| Ok((session, row.try_get::<_, Json<Vec<MessageRecord>>>(1)?)));
        // A damaged conversation is left out of the figures, not the migration.
        match read {
            Ok((Json(session), Json(messages))) => recount.add(&session, &messages),
            Err(error) => tracing::warn!(%error, "a conversation is not counted in the reports"),
        }
    }
    for row in transaction
        .query("SELECT slug, created_ms FROM leads", &[])
        .await?
    {
        recount.add_lead(row.try_get(0)?, unsigned(row.try_get(1)?));
    }
    let mut slugs = Vec::new();
    let mut days = Vec::new();
    let mut tallies = Vec::new();
    for ((slug, day), tally) in recount.tallies {
        slugs.push(slug);
        days.push(signed(day));
        tallies.push(Json(tally));
    }
    transaction
        .execute(
            "INSERT INTO figure_days (slug, day, tally)
             SELECT * FROM unnest($1::text[], $2::bigint[], $3::jsonb[])",
            &[&slugs, &days, &tallies],
        )
        .await?;
    Ok(())
}
