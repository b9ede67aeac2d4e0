//! Time as the API shows it: milliseconds since the Unix epoch in, RFC 3339 (UTC) out. The
//! one place timestamps are formatted.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// One UTC day in milliseconds.
pub const DAY_MS: u64 = 24 * crate::records::HOUR_MS;

/// Now, in milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// `2026-11-24T10:30:00.000Z`.
pub fn rfc3339(ms: u64) -> String {
    humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(ms)).to_string()
}

/// The UTC date of `ms`: `2026-11-24`.
pub fn utc_date(ms: u64) -> String {
    rfc3339(ms)[..10].to_owned()
}

/// The first millisecond of a UTC date written `YYYY-MM-DD`.
pub fn parse_utc_date(text: &str) -> Option<u64> {
    if text.len() != 10 {
        return None;
    }
    let midnight = humantime::parse_rfc3339(&format!("{text}T00:00:00Z")).ok()?;
    let ms = midnight.duration_since(UNIX_EPOCH).ok()?.as_millis();
    u64::try_from(ms).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip_and_bad_ones_are_refused() {
        let day = parse_utc_date("2026-11-24").unwrap();
        assert_eq!(rfc3339(day + 1), "2026-11-24T00:00:00.001Z");
        assert_eq!(utc_date(day + DAY_MS - 1), "2026-11-24");
        for bad in ["2026-11-24T00:00:00Z", "2026-13-01", "24.11.2026", ""] {
            assert_eq!(parse_utc_date(bad), None, "{bad}");
        }
    }
}
