//! The day tallies of [`SledStore`] (`figures`): applied inside the transactions that write
//! sessions and messages, read by day range, and rebuilt from the records at open when the
//! tree lacks its mark — a store migrated from schema 3, or restored (backups leave the tree
//! out: its tallies would not match records copied at other moments).

use sled::transaction::{ConflictableTransactionError, TransactionalTree};
use uuid::Uuid;

use super::{SledStore, decode, encode, event_key};
use crate::chat::{MessageRecord, Role};
use crate::records::{LeadRecord, SessionRecord};
use crate::store::StoreError;
use crate::store::figures::{DayTally, FigureChange, Recount};

/// The key marking the tallies as counted from every record (slugs never start with 0xff).
const BUILT: &[u8] = &[0xff];

/// slug, 0x00, day since the epoch (u64 big-endian).
fn day_key(slug: &str, day: u64) -> Vec<u8> {
    event_key(slug, day)
}

/// Adds `change` to `slug`'s tallies inside a transaction; a day left with nothing is removed.
pub(super) fn apply(
    figures: &TransactionalTree,
    slug: &str,
    change: &FigureChange,
) -> Result<(), ConflictableTransactionError<StoreError>> {
    for (day, change) in change.days() {
        let key = day_key(slug, day);
        let mut tally: DayTally = match figures.get(&key)? {
            Some(bytes) => {
                decode("figures", &bytes).map_err(ConflictableTransactionError::Abort)?
            }
            None => DayTally::default(),
        };
        tally.apply(change);
        if tally.is_empty() {
            figures.remove(key)?;
        } else {
            figures.insert(key, encode(&tally))?;
        }
    }
    Ok(())
}

impl SledStore {
    pub(super) fn day_tallies(
        &self,
        slug: &str,
        from_day: u64,
    ) -> Result<Vec<(u64, DayTally)>, StoreError> {
        let start = day_key(slug, from_day);
        let end = day_key(slug, u64::MAX);
        self.figures
            .range(start..=end)
            .map(|entry| {
                let (key, value) = entry?;
                let day = super::be_u64(&key[key.len() - 8..]);
                Ok((day, decode("figures", &value)?))
            })
            .collect()
    }

    /// Whether a visitor message of `session` comes before `seq` (then a visitor message at
    /// `seq` is not the conversation's first question). Earlier messages keep their roles, so
    /// this is read outside the transaction that writes `seq`.
    pub(super) fn asked_before(&self, session: Uuid, seq: u32) -> Result<bool, StoreError> {
        let start = message_key(session, 0);
        let end = message_key(session, seq);
        for entry in self.messages.range(start..end) {
            let (key, value) = entry?;
            let message: MessageRecord = decode(&String::from_utf8_lossy(&key), &value)?;
            if message.role == Role::User {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Counts every conversation into the tallies when they are not marked as counted.
    pub(super) fn ensure_figures(&self) -> Result<(), StoreError> {
        if self.figures.contains_key(BUILT)? {
            return Ok(());
        }
        let mut recount = Recount::default();
        for entry in self.sessions.iter() {
            let (key, value) = entry?;
            let read = decode::<SessionRecord>(&String::from_utf8_lossy(&key), &value).and_then(
                |session| {
                    let messages: Vec<MessageRecord> =
                        super::decode_all(self.messages.scan_prefix(session.id.as_bytes()))?;
                    Ok((session, messages))
                },
            );
            // A damaged conversation is left out of the figures, not the store's start.
            match read {
                Ok((session, messages)) => recount.add(&session, &messages),
                Err(error) => {
                    tracing::warn!(%error, "a conversation is not counted in the reports")
                }
            }
        }
        for entry in self.leads.iter() {
            let (key, value) = entry?;
            let slug = key.split(|&byte| byte == 0).next().unwrap_or_default();
            match decode::<LeadRecord>(&String::from_utf8_lossy(&key), &value) {
                Ok(lead) => recount.add_lead(&String::from_utf8_lossy(slug), lead.created_at_ms),
                Err(error) => tracing::warn!(%error, "a lead is not counted in the reports"),
            }
        }
        self.figures.clear()?;
        let mut batch = sled::Batch::default();
        for ((slug, day), tally) in &recount.tallies {
            batch.insert(day_key(slug, *day), encode(tally));
        }
        batch.insert(BUILT, &[]);
        self.figures.apply_batch(batch)?;
        self.db.flush()?;
        Ok(())
    }
}

/// session id (16 bytes), seq (u32 big-endian).
pub(super) fn message_key(session: Uuid, seq: u32) -> Vec<u8> {
    let mut key = session.as_bytes().to_vec();
    key.extend_from_slice(&seq.to_be_bytes());
    key
}
