//! Quiet hours: a daily window of the user's own wall-clock time during which
//! notifications that can wait are held, and the instant the worker may send
//! them. Wall-clock, not UTC, because "not before 7 in the morning" must
//! stay 7 in the morning across daylight saving changes and travel of the
//! server, not of the user.

use std::fmt;

use chrono::{DateTime, LocalResult, NaiveDateTime, NaiveTime, Offset, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

#[cfg(feature = "openapi")]
use utoipa::ToSchema;

/// A time of day to the minute, written `HH:MM` (00:00 to 23:59): minutes
/// are all a person sets a quiet window to, and seconds would only make
/// two spellings of one setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TimeOfDay {
    /// Since midnight, below 24 × 60.
    minutes: u16,
}

/// Why quiet hours were refused; each message is written for the field the
/// request reader files it under.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuietHoursError {
    #[error("must be a time HH:MM from 00:00 to 23:59")]
    BadTime,
    #[error("must be an IANA time zone name such as Europe/Berlin")]
    UnknownZone,
    #[error("must differ from start: a window from a time to itself would be either empty or the whole day")]
    EmptyWindow,
}

impl TimeOfDay {
    /// The schema's pattern for exactly what [`TimeOfDay::parse`] accepts.
    pub const PATTERN: &str = "^([01][0-9]|2[0-3]):[0-5][0-9]$";

    pub fn parse(raw: &str) -> Result<Self, QuietHoursError> {
        let &[h1, h2, b':', m1, m2] = raw.as_bytes() else { return Err(QuietHoursError::BadTime) };
        let digits = [h1, h2, m1, m2];
        if !digits.iter().all(u8::is_ascii_digit) {
            return Err(QuietHoursError::BadTime);
        }
        let [h1, h2, m1, m2] = digits.map(|d| u16::from(d - b'0'));
        let (hour, minute) = (h1 * 10 + h2, m1 * 10 + m2);
        if hour > 23 || minute > 59 {
            return Err(QuietHoursError::BadTime);
        }
        Ok(Self { minutes: hour * 60 + minute })
    }

    fn naive(self) -> NaiveTime {
        NaiveTime::from_num_seconds_from_midnight_opt(u32::from(self.minutes) * 60, 0).unwrap_or(NaiveTime::MIN)
    }
}

impl TryFrom<String> for TimeOfDay {
    type Error = QuietHoursError;
    fn try_from(raw: String) -> Result<Self, Self::Error> {
        Self::parse(&raw)
    }
}

impl From<TimeOfDay> for String {
    fn from(time: TimeOfDay) -> Self {
        time.to_string()
    }
}

impl fmt::Display for TimeOfDay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.minutes / 60, self.minutes % 60)
    }
}

/// A zone of the IANA database (`Europe/Berlin`, `Asia/Kolkata`, `UTC`),
/// by its exact name: the one name a browser's
/// `Intl.DateTimeFormat().resolvedOptions().timeZone` and a phone report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Zone(Tz);

impl Zone {
    pub fn parse(name: &str) -> Result<Self, QuietHoursError> {
        name.parse::<Tz>().map(Self).map_err(|_| QuietHoursError::UnknownZone)
    }

    pub fn name(self) -> &'static str {
        self.0.name()
    }
}

/// Every name [`Zone::parse`] accepts, in the database's order.
pub fn zone_names() -> impl Iterator<Item = &'static str> {
    chrono_tz::TZ_VARIANTS.iter().map(|zone| zone.name())
}

/// The schema of a zone name: the database's names as an enum, so that a
/// client (or a generator) that follows the document sends only names the
/// service accepts. A pattern would let `c` through, and `c` is a 400.
#[cfg(feature = "openapi")]
pub struct ZoneName;

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for ZoneName {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some("An IANA time zone name, exactly as the time-zone database spells it."))
            .enum_values(Some(zone_names()))
            .into()
    }
}

#[cfg(feature = "openapi")]
impl ToSchema for ZoneName {
    fn name() -> std::borrow::Cow<'static, str> {
        "ZoneName".into()
    }
}

impl TryFrom<String> for Zone {
    type Error = QuietHoursError;
    fn try_from(raw: String) -> Result<Self, Self::Error> {
        Self::parse(&raw)
    }
}

impl From<Zone> for String {
    fn from(zone: Zone) -> Self {
        zone.name().to_owned()
    }
}

/// A daily window from `start` (held) to `end` (sent), in `timezone`'s
/// local time; `start` after `end` spans midnight (22:00 to 07:00).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "QuietHoursFields")]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct QuietHours {
    /// Local time from which notifications are held.
    #[cfg_attr(feature = "openapi", schema(value_type = String, pattern = "^([01][0-9]|2[0-3]):[0-5][0-9]$", example = "22:00"))]
    start: TimeOfDay,
    /// Local time from which they are sent again; not equal to `start`.
    #[cfg_attr(feature = "openapi", schema(value_type = String, pattern = "^([01][0-9]|2[0-3]):[0-5][0-9]$", example = "07:00"))]
    end: TimeOfDay,
    /// An IANA time zone name; daylight saving time follows it.
    #[cfg_attr(feature = "openapi", schema(value_type = ZoneName, example = "Europe/Berlin"))]
    timezone: Zone,
}

/// The JSON members, before the rule that ties them ([`QuietHours::new`]).
#[derive(Deserialize)]
struct QuietHoursFields {
    start: TimeOfDay,
    end: TimeOfDay,
    timezone: Zone,
}

impl TryFrom<QuietHoursFields> for QuietHours {
    type Error = QuietHoursError;
    fn try_from(fields: QuietHoursFields) -> Result<Self, Self::Error> {
        Self::new(fields.start, fields.end, fields.timezone)
    }
}

/// How far past a local time that a spring-forward gap swallowed the
/// first existing minute is looked for. Gaps are an hour, sometimes half of
/// one; the longest on record is Samoa's skipped day at the end of 2011.
const LONGEST_GAP_MINUTES: i64 = 25 * 60;

impl QuietHours {
    pub fn new(start: TimeOfDay, end: TimeOfDay, timezone: Zone) -> Result<Self, QuietHoursError> {
        if start == end {
            return Err(QuietHoursError::EmptyWindow);
        }
        Ok(Self { start, end, timezone })
    }

    pub fn start(&self) -> TimeOfDay {
        self.start
    }

    pub fn end(&self) -> TimeOfDay {
        self.end
    }

    pub fn timezone(&self) -> Zone {
        self.timezone
    }

    /// `None` when `now` is outside the quiet hours (`start` itself is
    /// inside, `end` is not); otherwise the instant they end: the next
    /// local `end` after `now`. On a spring-forward day an `end` that does
    /// not exist becomes the first instant after the gap; on a fall-back day
    /// an `end` that happens twice is the earlier of the two still ahead.
    pub fn release_at(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let local = now.with_timezone(&self.timezone.0).naive_local();
        let (today, time) = (local.date(), local.time());
        let (start, end) = (self.start.naive(), self.end.naive());
        let end_day = if start < end {
            (start <= time && time < end).then_some(today)?
        } else if time >= start {
            today.succ_opt()?
        } else {
            (time < end).then_some(today)?
        };
        Some(self.first_instant_at(end_day.and_time(end), now))
    }

    /// The instant the local wall clock first shows `local` after `now`.
    fn first_instant_at(&self, local: NaiveDateTime, now: DateTime<Utc>) -> DateTime<Utc> {
        let zone = self.timezone.0;
        match zone.from_local_datetime(&local) {
            LocalResult::Single(instant) => instant.with_timezone(&Utc),
            LocalResult::Ambiguous(earlier, later) => {
                let earlier = earlier.with_timezone(&Utc);
                if earlier > now { earlier } else { later.with_timezone(&Utc) }
            }
            // Clocks jumped over `local`: the first minute after the jump
            // is the instant of the jump itself.
            LocalResult::None => (1..=LONGEST_GAP_MINUTES)
                .find_map(|m| zone.from_local_datetime(&(local + chrono::TimeDelta::minutes(m))).earliest())
                .map(|instant| instant.with_timezone(&Utc))
                .unwrap_or_else(|| {
                    // No zone has such a gap; read `local` at today's offset.
                    let offset = zone.offset_from_utc_datetime(&now.naive_utc()).fix();
                    offset.from_local_datetime(&local).earliest().map_or(now, |i| i.with_timezone(&Utc))
                }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
    }

    fn window(start: &str, end: &str, zone: &str) -> QuietHours {
        QuietHours::new(TimeOfDay::parse(start).unwrap(), TimeOfDay::parse(end).unwrap(), Zone::parse(zone).unwrap())
            .unwrap()
    }

    #[test]
    fn across_midnight_in_berlin_the_release_is_seven_the_next_morning() {
        let night = window("22:00", "07:00", "Europe/Berlin");
        // 23:30 in Berlin in winter (UTC+1) is 22:30 UTC.
        let release = night.release_at(utc("2025-01-15T22:30:00Z"));
        assert_eq!(release, Some(utc("2025-01-16T07:00:00+01:00")));
        assert_eq!(release, Some(utc("2025-01-16T06:00:00Z")));
        // 03:00 local, after midnight: the same morning.
        assert_eq!(night.release_at(utc("2025-01-16T02:00:00Z")), Some(utc("2025-01-16T06:00:00Z")));
        // In summer (UTC+2) the same window is an hour earlier in UTC.
        assert_eq!(night.release_at(utc("2025-07-15T21:30:00Z")), Some(utc("2025-07-16T05:00:00Z")));
    }

    #[test]
    fn outside_the_window_nothing_is_held() {
        let night = window("22:00", "07:00", "Europe/Berlin");
        assert_eq!(night.release_at(utc("2025-01-15T11:00:00Z")), None);
        assert_eq!(night.release_at(utc("2025-01-15T20:59:59Z")), None, "21:59:59 local");
        let lunch = window("12:00", "13:30", "UTC");
        assert_eq!(lunch.release_at(utc("2025-01-15T11:59:00Z")), None);
        assert_eq!(lunch.release_at(utc("2025-01-15T12:10:00Z")), Some(utc("2025-01-15T13:30:00Z")));
        assert_eq!(lunch.release_at(utc("2025-01-15T14:00:00Z")), None);
    }

    #[test]
    fn start_itself_is_held_and_end_itself_is_not() {
        let night = window("22:00", "07:00", "Europe/Berlin");
        assert_eq!(night.release_at(utc("2025-01-15T21:00:00Z")), Some(utc("2025-01-16T06:00:00Z")), "22:00 local");
        assert_eq!(night.release_at(utc("2025-01-16T05:59:59Z")), Some(utc("2025-01-16T06:00:00Z")), "06:59:59");
        assert_eq!(night.release_at(utc("2025-01-16T06:00:00Z")), None, "07:00 local");
    }

    #[test]
    fn new_york_spring_forward() {
        // 2025-03-09: at 02:00 EST (07:00 UTC) clocks go to 03:00 EDT.
        let night = window("22:00", "07:00", "America/New_York");
        // 23:00 EST the evening before: 07:00 is EDT by then (11:00 UTC, not 12:00).
        assert_eq!(night.release_at(utc("2025-03-09T04:00:00Z")), Some(utc("2025-03-09T11:00:00Z")));
        // An end of 02:30 does not exist that night: the first instant after the gap.
        let short = window("22:00", "02:30", "America/New_York");
        assert_eq!(short.release_at(utc("2025-03-09T06:00:00Z")), Some(utc("2025-03-09T07:00:00Z")));
        assert_eq!(short.release_at(utc("2025-03-09T06:59:59Z")), Some(utc("2025-03-09T07:00:00Z")));
        // 03:00 EDT is past the end: nothing held.
        assert_eq!(short.release_at(utc("2025-03-09T07:00:00Z")), None);
    }

    #[test]
    fn new_york_fall_back() {
        // 2025-11-02: at 02:00 EDT (06:00 UTC) clocks go back to 01:00 EST.
        let night = window("22:00", "07:00", "America/New_York");
        // 23:00 EDT the evening before: 07:00 is EST by then (12:00 UTC).
        assert_eq!(night.release_at(utc("2025-11-02T03:00:00Z")), Some(utc("2025-11-02T12:00:00Z")));
        // 01:30 happens twice: from 00:30 the earlier (EDT) is the release.
        let short = window("00:00", "01:30", "America/New_York");
        assert_eq!(short.release_at(utc("2025-11-02T04:30:00Z")), Some(utc("2025-11-02T05:30:00Z")));
        // Between them, 01:45 EDT is outside; then the clock reads 01:00
        // again (EST) and the window is back until the later 01:30.
        assert_eq!(short.release_at(utc("2025-11-02T05:45:00Z")), None);
        assert_eq!(short.release_at(utc("2025-11-02T06:15:00Z")), Some(utc("2025-11-02T06:30:00Z")));
    }

    #[test]
    fn kolkata_half_hour_offset() {
        // UTC+05:30: 22:30 IST is 17:00 UTC; 07:00 IST is 01:30 UTC.
        let night = window("22:00", "07:00", "Asia/Kolkata");
        assert_eq!(night.release_at(utc("2025-06-01T17:00:00Z")), Some(utc("2025-06-02T01:30:00Z")));
        assert_eq!(night.release_at(utc("2025-06-01T16:29:59Z")), None, "21:59:59 IST");
        assert_eq!(night.release_at(utc("2025-06-01T16:30:00Z")), Some(utc("2025-06-02T01:30:00Z")), "22:00 IST");
    }

    #[test]
    fn auckland_is_a_day_ahead_of_utc() {
        // NZDT (UTC+13): 22:00 on the 15th local is 09:00 UTC on the 15th,
        // and 06:30 on the 16th local is 17:30 UTC on the 15th.
        let night = window("21:00", "06:30", "Pacific/Auckland");
        assert_eq!(night.release_at(utc("2025-01-15T09:00:00Z")), Some(utc("2025-01-15T17:30:00Z")));
        // In July (NZST, UTC+12) the same local times are an hour later in UTC.
        assert_eq!(night.release_at(utc("2025-07-15T10:00:00Z")), Some(utc("2025-07-15T18:30:00Z")));
    }

    #[test]
    fn a_window_from_a_time_to_itself_is_refused() {
        let nine = TimeOfDay::parse("09:00").unwrap();
        assert_eq!(QuietHours::new(nine, nine, Zone::parse("UTC").unwrap()), Err(QuietHoursError::EmptyWindow));
    }

    #[test]
    fn times_are_hh_mm_within_a_day() {
        for good in ["00:00", "07:05", "23:59", "12:00"] {
            assert_eq!(TimeOfDay::parse(good).map(|t| t.to_string()), Ok(good.to_owned()));
        }
        for bad in ["24:00", "7:00", "07:60", "07:00:00", "0700", "07-00", " 07:00", "", "ab:cd", "+1:00"] {
            assert_eq!(TimeOfDay::parse(bad), Err(QuietHoursError::BadTime), "{bad:?}");
        }
    }

    #[test]
    fn zones_are_iana_names_written_exactly() {
        for good in ["Europe/Berlin", "UTC", "America/Argentina/Buenos_Aires", "Etc/GMT+5", "America/Port-au-Prince"] {
            assert_eq!(Zone::parse(good).map(Zone::name), Ok(good));
        }
        for bad in ["europe/berlin", "Mars/Olympus", "", "+01:00", "CEST"] {
            assert_eq!(Zone::parse(bad), Err(QuietHoursError::UnknownZone), "{bad:?}");
        }
    }

    /// The schema's enum is the names `parse` accepts, each read back as itself.
    #[test]
    fn every_listed_zone_name_parses_to_itself() {
        let names: Vec<&str> = zone_names().collect();
        assert!(names.len() > 400);
        for name in names {
            assert_eq!(Zone::parse(name).unwrap().name(), name);
        }
    }

    #[test]
    fn json_is_the_three_strings_and_the_rule_holds_when_read() {
        let night = window("22:00", "07:00", "Europe/Berlin");
        let json = serde_json::to_value(night).unwrap();
        assert_eq!(json, serde_json::json!({"start": "22:00", "end": "07:00", "timezone": "Europe/Berlin"}));
        assert_eq!(serde_json::from_value::<QuietHours>(json).unwrap(), night);
        let empty = serde_json::json!({"start": "07:00", "end": "07:00", "timezone": "UTC"});
        assert!(serde_json::from_value::<QuietHours>(empty).is_err());
    }
}
