//! Business hours: when a project's team answers, in its own time zone.
//!
//! Owns the schedule as owners set it (an IANA time zone, opening hours per weekday, holidays),
//! its checks, and the one question asked of it: at this instant, is the team in, and when does
//! that change (the team is back at…)? Times are wall-clock times in the project's zone
//! (jiff, with the system's time zone database), so a schedule follows daylight saving time.
//! The schedule never reads the clock: the instant is given, so tests step across a boundary.
//! The server asks at [`HoursClock`]'s time, the system clock's unless a test build moved it.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use jiff::civil::{Date, Weekday};
use jiff::tz::TimeZone;
use jiff::{Timestamp, Zoned};
use serde::{Deserialize, Serialize};

/// The time business hours are judged at: the system clock, moved by an offset that is zero
/// unless a test sets it (only builds with the `test-clock` feature can), to take an open page
/// across an opening or a closing without waiting for one. Clones share the offset.
#[derive(Clone, Debug, Default)]
pub struct HoursClock {
    offset_ms: Arc<AtomicI64>,
}

impl HoursClock {
    /// Milliseconds since the Unix epoch.
    pub fn now_ms(&self) -> u64 {
        let now = i64::try_from(crate::time::now_ms()).unwrap_or(i64::MAX);
        let moved = now.saturating_add(self.offset_ms.load(Ordering::Relaxed));
        u64::try_from(moved).unwrap_or(0)
    }

    /// From now on it is `at_ms`, moving on with the system clock.
    #[cfg(any(test, feature = "test-clock"))]
    pub fn set(&self, at_ms: u64) {
        let now = i64::try_from(crate::time::now_ms()).unwrap_or(i64::MAX);
        let at = i64::try_from(at_ms).unwrap_or(i64::MAX);
        self.offset_ms
            .store(at.saturating_sub(now), Ordering::Relaxed);
    }

    /// Back to the system clock.
    #[cfg(any(test, feature = "test-clock"))]
    pub fn reset(&self) {
        self.offset_ms.store(0, Ordering::Relaxed);
    }
}

/// At most this many opening intervals per day, and holidays.
pub const INTERVALS_PER_DAY_MAX: usize = 4;
pub const HOLIDAYS_MAX: usize = 100;
/// How far ahead the next opening is looked for.
const LOOKAHEAD_DAYS: usize = 400;

/// A project's business hours; off by default (the team is always "in").
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct BusinessHours {
    pub enabled: bool,
    /// An IANA time zone, e.g. `America/New_York`; the schedule's wall-clock times are in it.
    #[schema(example = "America/New_York")]
    pub time_zone: String,
    /// Opening hours per weekday (`mon` … `sun`), each a list of `["09:00", "17:00"]` pairs
    /// (24-hour `HH:MM`; `24:00` closes at midnight). A day left out is closed.
    pub weekly: Weekly,
    /// Whole days closed, `YYYY-MM-DD` in the project's zone.
    #[schema(example = json!(["2026-12-25"]))]
    pub holidays: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Weekly {
    pub mon: Vec<[String; 2]>,
    pub tue: Vec<[String; 2]>,
    pub wed: Vec<[String; 2]>,
    pub thu: Vec<[String; 2]>,
    pub fri: Vec<[String; 2]>,
    pub sat: Vec<[String; 2]>,
    pub sun: Vec<[String; 2]>,
}

impl Weekly {
    fn of(&self, day: Weekday) -> &[[String; 2]] {
        match day {
            Weekday::Monday => &self.mon,
            Weekday::Tuesday => &self.tue,
            Weekday::Wednesday => &self.wed,
            Weekday::Thursday => &self.thu,
            Weekday::Friday => &self.fri,
            Weekday::Saturday => &self.sat,
            Weekday::Sunday => &self.sun,
        }
    }

    fn days(&self) -> [(&'static str, &[[String; 2]]); 7] {
        [
            ("mon", &self.mon),
            ("tue", &self.tue),
            ("wed", &self.wed),
            ("thu", &self.thu),
            ("fri", &self.fri),
            ("sat", &self.sat),
            ("sun", &self.sun),
        ]
    }
}

/// Whether the team is in at an instant, and when that changes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Availability {
    pub open: bool,
    /// When `open` flips next (the end of this opening, or the next one), in ms since the
    /// epoch; `None` when it never does within a year (always open, or closed with no opening
    /// ahead).
    pub changes_at_ms: Option<u64>,
}

/// Minutes since midnight of an `HH:MM` (00:00 to 24:00).
fn minutes(clock: &str) -> Option<u16> {
    let (hours, minutes) = clock.split_once(':')?;
    let digits = |part: &str| part.len() == 2 && part.bytes().all(|b| b.is_ascii_digit());
    if !digits(hours) || !digits(minutes) {
        return None;
    }
    let (hours, minutes): (u16, u16) = (hours.parse().ok()?, minutes.parse().ok()?);
    let total = hours * 60 + minutes;
    (minutes < 60 && total <= 24 * 60).then_some(total)
}

impl BusinessHours {
    /// Every problem with these hours, for the owner (`weekly.mon: …`); empty when they can be
    /// used. Off, they
    /// are not checked beyond their size.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.holidays.len() > HOLIDAYS_MAX {
            problems.push(format!("holidays: at most {HOLIDAYS_MAX}"));
        }
        for (day, intervals) in self.weekly.days() {
            if intervals.len() > INTERVALS_PER_DAY_MAX {
                problems.push(format!(
                    "weekly.{day}: at most {INTERVALS_PER_DAY_MAX} intervals"
                ));
            }
        }
        if !self.enabled {
            return problems;
        }
        if TimeZone::get(&self.time_zone).is_err() {
            problems.push(format!(
                "timeZone: {:?} is not an IANA time zone such as America/New_York",
                self.time_zone
            ));
        }
        for (day, intervals) in self.weekly.days() {
            for [open, close] in intervals {
                match (minutes(open), minutes(close)) {
                    (Some(open), Some(close)) if open < close => {}
                    _ => problems.push(format!(
                        "weekly.{day}: {open:?} to {close:?} must be two HH:MM times, the first earlier"
                    )),
                }
            }
        }
        for holiday in &self.holidays {
            if holiday.len() != 10 || holiday.parse::<Date>().is_err() {
                problems.push(format!(
                    "holidays: {holiday:?} must be a date as YYYY-MM-DD"
                ));
            }
        }
        problems
    }

    /// Whether the team is in at `now_ms` (ms since the epoch), and when that changes. Always
    /// in when off (or, should stored hours not check out, rather than leave visitors told
    /// nobody is there).
    pub fn at(&self, now_ms: u64) -> Availability {
        let always = Availability {
            open: true,
            changes_at_ms: None,
        };
        let Some(now) = i64::try_from(now_ms)
            .ok()
            .and_then(|ms| Timestamp::from_millisecond(ms).ok())
        else {
            return always;
        };
        if !self.enabled || !self.problems().is_empty() {
            return always;
        }
        let Ok(zone) = TimeZone::get(&self.time_zone) else {
            return always;
        };
        let holidays: Vec<Date> = self
            .holidays
            .iter()
            .filter_map(|day| day.parse().ok())
            .collect();
        // Openings from yesterday on (one may run past midnight into today), in time order.
        let today = now.to_zoned(zone.clone()).date();
        let Ok(mut day) = today.yesterday() else {
            return always;
        };
        let mut open_until: Option<Timestamp> = None;
        for _ in 0..LOOKAHEAD_DAYS {
            if !holidays.contains(&day) {
                // In time order, however the owner listed them.
                let mut openings: Vec<(Timestamp, Timestamp)> = self
                    .weekly
                    .of(day.weekday())
                    .iter()
                    .filter_map(|[start, end]| {
                        let start = instant(day, minutes(start), &zone)?;
                        let end = instant(day, minutes(end), &zone)?;
                        (start < end).then_some((start, end))
                    })
                    .collect();
                openings.sort();
                for (start, end) in openings {
                    match open_until {
                        // Back to back with the opening we are in: it goes on.
                        Some(until) if start <= until => open_until = Some(until.max(end)),
                        Some(until) => {
                            return Availability {
                                open: true,
                                changes_at_ms: ms(until),
                            };
                        }
                        None if start <= now && now < end => open_until = Some(end),
                        None if now < start => {
                            return Availability {
                                open: false,
                                changes_at_ms: ms(start),
                            };
                        }
                        None => {}
                    }
                }
            }
            let Ok(next) = day.tomorrow() else { break };
            day = next;
        }
        // Open all the way through the year looked at (or closed all of it): no change ahead.
        Availability {
            open: open_until.is_some(),
            changes_at_ms: None,
        }
    }
}

fn ms(at: Timestamp) -> Option<u64> {
    u64::try_from(at.as_millisecond()).ok()
}

/// `minutes` after the start of `day` in `zone` as an instant (24:00 is the next day's start;
/// a wall-clock time a DST change skips is moved forward by the gap, as jiff's compatible rule
/// does: 02:30 becomes 03:30).
fn instant(day: Date, minutes: Option<u16>, zone: &TimeZone) -> Option<Timestamp> {
    let minutes = minutes?;
    let zoned: Zoned = if minutes == 24 * 60 {
        day.tomorrow().ok()?.to_zoned(zone.clone()).ok()?
    } else {
        let (hour, minute) = (
            i8::try_from(minutes / 60).ok()?,
            i8::try_from(minutes % 60).ok()?,
        );
        day.at(hour, minute, 0, 0).to_zoned(zone.clone()).ok()?
    };
    Some(zoned.timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hours_clock_is_the_systems_until_set_and_runs_on_from_where_it_was_set() {
        let clock = HoursClock::default();
        assert!(clock.now_ms().abs_diff(crate::time::now_ms()) < 1000);
        // Clones share the setting: the engine's and the test's are one clock.
        clock.clone().set(1_000_000);
        let read = clock.now_ms();
        assert!((1_000_000..1_001_000).contains(&read), "{read}");
        clock.reset();
        assert!(clock.now_ms().abs_diff(crate::time::now_ms()) < 1000);
    }

    fn pair(open: &str, close: &str) -> Vec<[String; 2]> {
        vec![[open.to_owned(), close.to_owned()]]
    }

    /// New York, Monday to Friday 9 to 17, Saturday 10 to 14; Christmas off.
    fn office() -> BusinessHours {
        let weekday = pair("09:00", "17:00");
        BusinessHours {
            enabled: true,
            time_zone: "America/New_York".into(),
            weekly: Weekly {
                mon: weekday.clone(),
                tue: weekday.clone(),
                wed: weekday.clone(),
                thu: weekday.clone(),
                fri: weekday,
                sat: pair("10:00", "14:00"),
                sun: Vec::new(),
            },
            holidays: vec!["2026-12-25".into()],
        }
    }

    /// ms since the epoch of an RFC 3339 instant.
    fn at(instant: &str) -> u64 {
        let instant: Timestamp = instant.parse().unwrap();
        instant.as_millisecond() as u64
    }

    fn check(hours: &BusinessHours, now: &str, open: bool, changes_at: Option<&str>) {
        let found = hours.at(at(now));
        assert_eq!(
            (found.open, found.changes_at_ms),
            (open, changes_at.map(at)),
            "at {now}"
        );
    }

    #[test]
    fn a_weekday_boundary_is_stepped_across_in_the_projects_zone() {
        let hours = office();
        // Tuesday 1 December 2026: New York is UTC-5.
        check(
            &hours,
            "2026-12-01T13:59:59Z",
            false,
            Some("2026-12-01T14:00:00Z"),
        );
        check(
            &hours,
            "2026-12-01T14:00:00Z",
            true,
            Some("2026-12-01T22:00:00Z"),
        );
        check(
            &hours,
            "2026-12-01T21:59:59Z",
            true,
            Some("2026-12-01T22:00:00Z"),
        );
        check(
            &hours,
            "2026-12-01T22:00:00Z",
            false,
            Some("2026-12-02T14:00:00Z"),
        );
        // Saturday closes at 14:00; back Monday at 9.
        check(
            &hours,
            "2026-12-05T19:00:00Z",
            false,
            Some("2026-12-07T14:00:00Z"),
        );
        // Christmas Friday is off: back Saturday at 10.
        check(
            &hours,
            "2026-12-25T15:00:00Z",
            false,
            Some("2026-12-26T15:00:00Z"),
        );
    }

    #[test]
    fn opening_hours_follow_daylight_saving_time() {
        let hours = office();
        // Friday 6 March 2026 (UTC-5) closes at 22:00 UTC; after the switch on Sunday 8 March,
        // Monday 9 opens at 9:00 EDT, 13:00 UTC.
        check(
            &hours,
            "2026-03-06T22:30:00Z",
            false,
            Some("2026-03-07T15:00:00Z"),
        );
        check(
            &hours,
            "2026-03-08T12:00:00Z",
            false,
            Some("2026-03-09T13:00:00Z"),
        );
    }

    #[test]
    fn openings_that_meet_or_run_to_midnight_are_one() {
        let mut hours = office();
        hours.weekly.fri = vec![
            ["09:00".into(), "12:00".into()],
            ["12:00".into(), "24:00".into()],
        ];
        hours.weekly.sat = pair("00:00", "02:00");
        // Friday 4 December, 11:00 New York: open until Saturday 2:00.
        check(
            &hours,
            "2026-12-04T16:00:00Z",
            true,
            Some("2026-12-05T07:00:00Z"),
        );
        // Saturday 1:00: still that opening.
        check(
            &hours,
            "2026-12-05T06:00:00Z",
            true,
            Some("2026-12-05T07:00:00Z"),
        );
    }

    #[test]
    fn openings_listed_out_of_order_are_read_in_time_order() {
        let mut hours = office();
        hours.weekly.fri = vec![
            ["13:00".into(), "17:00".into()],
            ["09:00".into(), "12:00".into()],
        ];
        // Friday 4 December, 10:00 New York: in until 12:00, back at 13:00.
        check(
            &hours,
            "2026-12-04T15:00:00Z",
            true,
            Some("2026-12-04T17:00:00Z"),
        );
        check(
            &hours,
            "2026-12-04T17:30:00Z",
            false,
            Some("2026-12-04T18:00:00Z"),
        );
        hours.weekly.fri = vec![
            ["12:00".into(), "24:00".into()],
            ["09:00".into(), "12:00".into()],
        ];
        check(
            &hours,
            "2026-12-04T15:00:00Z",
            true,
            Some("2026-12-05T05:00:00Z"),
        );
        hours.weekly.mon = pair("+9:00", "17:00");
        assert_eq!(hours.problems().len(), 1, "{:?}", hours.problems());
    }

    #[test]
    fn off_or_never_open_says_so() {
        let mut hours = office();
        hours.enabled = false;
        assert_eq!(
            hours.at(at("2026-12-01T03:00:00Z")),
            Availability {
                open: true,
                changes_at_ms: None
            }
        );
        let closed = BusinessHours {
            weekly: Weekly::default(),
            ..office()
        };
        check(&closed, "2026-12-01T15:00:00Z", false, None);
        let always = BusinessHours {
            weekly: Weekly {
                mon: pair("00:00", "24:00"),
                tue: pair("00:00", "24:00"),
                wed: pair("00:00", "24:00"),
                thu: pair("00:00", "24:00"),
                fri: pair("00:00", "24:00"),
                sat: pair("00:00", "24:00"),
                sun: pair("00:00", "24:00"),
            },
            holidays: Vec::new(),
            ..office()
        };
        // Open round the clock: it never changes within the year looked at.
        check(&always, "2026-12-01T15:00:00Z", true, None);
    }

    #[test]
    fn bad_hours_are_named() {
        let mut hours = office();
        hours.time_zone = "Mars/Olympus".into();
        hours.weekly.mon = pair("17:00", "09:00");
        hours.weekly.tue = pair("9:00", "17:00");
        hours.weekly.wed = pair("09:00", "24:01");
        hours.holidays.push("25/12/2026".into());
        let problems = hours.problems();
        assert_eq!(problems.len(), 5, "{problems:#?}");
        assert!(problems[0].contains("Mars/Olympus"));
        // Unusable hours never tell visitors the team is away.
        assert!(hours.at(at("2026-12-01T03:00:00Z")).open);
        hours.enabled = false;
        assert_eq!(hours.problems().len(), 0, "off: not checked");
    }
}
