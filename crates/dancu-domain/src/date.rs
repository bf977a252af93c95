//! Partial dates: old records may know only the year, or the year and month, of a birth
//! or death. The contract spells them `YYYY-MM-DD`, `YYYY-MM` or `YYYY`.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Years the registry can hold: the oldest living records to the last ID-number century.
const FIRST_YEAR: i32 = 1800;
const LAST_YEAR: i32 = 2399;

const STRICT_FORMS: &str = "YYYY-MM-DD, YYYY-MM or YYYY";
const LENIENT_FORMS: &str =
    "YYYY-MM-DD, DD/MM/YYYY, DD-MM-YYYY, DD.MM.YYYY, MM/YYYY, YYYY/MM/DD or YYYY";

/// Why a text is not a date.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DateError {
    #[error("date is empty")]
    Empty,
    #[error("'{input}' is not a date in the form {expected}")]
    Format {
        input: String,
        expected: &'static str,
    },
    #[error("year {0} is outside {FIRST_YEAR}–{LAST_YEAR}")]
    YearOutOfRange(i32),
    #[error("month {0} does not exist")]
    MonthOutOfRange(u32),
    #[error("day {day} does not exist in {year:04}-{month:02}, which has {days_in_month} days")]
    DayOutOfRange {
        year: i32,
        month: u8,
        day: u32,
        days_in_month: u8,
    },
}

/// Outcome of comparing two dates the way verification reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DateAgreement {
    /// Identical, including precision.
    Match,
    /// Equal in the part both know; one of them is less precise ("1975" vs "1975-03-02").
    Partial,
    /// Different in a part both know.
    Mismatch,
}

/// A date known to the year, the month or the day. Build it with [`PartialDate::parse`]
/// (or [`PartialDate::validate`] a hand-built value): the methods assume a real date.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum PartialDate {
    Year(i32),
    YearMonth(i32, u8),
    Full(i32, u8, u8),
}

fn is_leap(year: i32) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i32, month: u8) -> u8 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Validates the numeric parts and builds the date of the precision given.
fn build(year: i32, month: Option<u32>, day: Option<u32>) -> Result<PartialDate, DateError> {
    if !(FIRST_YEAR..=LAST_YEAR).contains(&year) {
        return Err(DateError::YearOutOfRange(year));
    }
    let Some(month) = month else {
        return Ok(PartialDate::Year(year));
    };
    if !(1..=12).contains(&month) {
        return Err(DateError::MonthOutOfRange(month));
    }
    let month = month as u8;
    let Some(day) = day else {
        return Ok(PartialDate::YearMonth(year, month));
    };
    let days_in_month = days_in_month(year, month);
    if day == 0 || day > u32::from(days_in_month) {
        return Err(DateError::DayOutOfRange {
            year,
            month,
            day,
            days_in_month,
        });
    }
    Ok(PartialDate::Full(year, month, day as u8))
}

/// Parses a run of ASCII digits whose length is within `lens`.
fn number(s: &str, lens: std::ops::RangeInclusive<usize>) -> Option<u32> {
    if lens.contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit()) {
        debug_assert!(s.len() <= 9, "at most 9 digits fit in a u32");
        Some(s.bytes().fold(0, |n, d| n * 10 + u32::from(d - b'0')))
    } else {
        None
    }
}

impl PartialDate {
    /// Parses the contract form: `YYYY`, `YYYY-MM` or `YYYY-MM-DD` (two-digit month and
    /// day), surrounding whitespace trimmed. The date must exist (leap years included)
    /// and the year be within 1800–2399.
    pub fn parse(s: &str) -> Result<Self, DateError> {
        let s = crate::text::trim(s);
        if s.is_empty() {
            return Err(DateError::Empty);
        }
        let format_error = || DateError::Format {
            input: s.to_owned(),
            expected: STRICT_FORMS,
        };
        let mut parts = s.split('-');
        let year = parts
            .next()
            .and_then(|p| number(p, 4..=4))
            .ok_or_else(format_error)? as i32;
        let mut next = || {
            parts
                .next()
                .map(|p| number(p, 2..=2).ok_or_else(format_error))
                .transpose()
        };
        let month = next()?;
        let day = if month.is_some() { next()? } else { None };
        if next()?.is_some() {
            return Err(format_error());
        }
        build(year, month, day)
    }

    /// Parses what partner files contain besides the contract form: `dd/mm/yyyy`,
    /// `d/m/yyyy`, `dd-mm-yyyy`, `dd.mm.yyyy`, `mm/yyyy`, `yyyy/mm/dd` (any of the
    /// separators `/`, `-`, `.`, one kind per date), trimmed. Day-first is assumed when
    /// the year comes last, as Vietnamese writes dates.
    pub fn parse_lenient(s: &str) -> Result<Self, DateError> {
        let s = crate::text::trim(s);
        if s.is_empty() {
            return Err(DateError::Empty);
        }
        let format_error = || DateError::Format {
            input: s.to_owned(),
            expected: LENIENT_FORMS,
        };
        // At most three parts, split at the first separator's kind: no allocation, as a
        // batch parses a date on every row.
        let sep = s.bytes().find(|b| matches!(b, b'/' | b'-' | b'.'));
        let mut parts = [""; 3];
        let (mut count, mut rest) = (0, Some(s));
        while let Some(r) = rest {
            if count == parts.len() {
                return Err(format_error());
            }
            // Cut at an ASCII byte: always a character boundary.
            (parts[count], rest) = match sep.and_then(|sep| r.bytes().position(|b| b == sep)) {
                Some(i) => (&r[..i], Some(&r[i + 1..])),
                None => (r, None),
            };
            count += 1;
        }
        let parts = &parts[..count];
        let year = |p: &str| number(p, 4..=4).map(|y| y as i32);
        let small = |p: &str| number(p, 1..=2);
        let parsed = match parts {
            [y] => year(y).map(|y| (y, None, None)),
            [y, m] if year(y).is_some() => Some((year(y).unwrap(), Some(small(m)), None)),
            [m, y] => year(y).map(|y| (y, Some(small(m)), None)),
            [y, m, d] if year(y).is_some() => {
                Some((year(y).unwrap(), Some(small(m)), Some(small(d))))
            }
            [d, m, y] => year(y).map(|y| (y, Some(small(m)), Some(small(d)))),
            _ => None,
        };
        match parsed {
            Some((y, Some(Some(m)), None)) => build(y, Some(m), None),
            Some((y, Some(Some(m)), Some(Some(d)))) => build(y, Some(m), Some(d)),
            Some((y, None, None)) => build(y, None, None),
            _ => Err(format_error()),
        }
    }

    /// Checks a hand-built value, e.g. `Full(1990, 2, 30)` is refused.
    pub fn validate(self) -> Result<Self, DateError> {
        let (year, month, day) = match self {
            PartialDate::Year(y) => (y, None, None),
            PartialDate::YearMonth(y, m) => (y, Some(m), None),
            PartialDate::Full(y, m, d) => (y, Some(m), Some(d)),
        };
        build(year, month.map(u32::from), day.map(u32::from))
    }

    pub fn year(self) -> i32 {
        match self {
            PartialDate::Year(y) | PartialDate::YearMonth(y, _) | PartialDate::Full(y, _, _) => y,
        }
    }

    pub fn month(self) -> Option<u8> {
        match self {
            PartialDate::Year(_) => None,
            PartialDate::YearMonth(_, m) | PartialDate::Full(_, m, _) => Some(m),
        }
    }

    pub fn day(self) -> Option<u8> {
        match self {
            PartialDate::Full(_, _, d) => Some(d),
            _ => None,
        }
    }

    /// Sortable integer key `yyyymmdd`, unknown parts as `00`, so a less precise date
    /// sorts before the more precise ones it contains ("1975" < "1975-01" < "1975-01-01").
    pub fn sort_key(self) -> i32 {
        self.year() * 10_000
            + i32::from(self.month().unwrap_or(0)) * 100
            + i32::from(self.day().unwrap_or(0))
    }

    /// Inverse of [`PartialDate::sort_key`], for values read back from the store; `None`
    /// if the key is not a valid date.
    pub fn from_sort_key(k: i32) -> Option<Self> {
        let (year, month, day) = (
            k.div_euclid(10_000),
            (k / 100).rem_euclid(100),
            k.rem_euclid(100),
        );
        let (month, day) = match (month, day) {
            (0, 0) => (None, None),
            (0, _) => return None,
            (m, 0) => (Some(m as u32), None),
            (m, d) => (Some(m as u32), Some(d as u32)),
        };
        build(year, month, day).ok()
    }

    /// Contract semantics: `Match` if identical; `Partial` if equal in the part both know
    /// (one is less precise); `Mismatch` otherwise.
    pub fn agreement(self, other: PartialDate) -> DateAgreement {
        if self == other {
            return DateAgreement::Match;
        }
        let same_known = self.year() == other.year()
            && (self.month().is_none() || other.month().is_none() || self.month() == other.month())
            && (self.day().is_none() || other.day().is_none() || self.day() == other.day());
        if same_known {
            DateAgreement::Partial
        } else {
            DateAgreement::Mismatch
        }
    }

    /// True when both are full, distinct dates that become equal once day and month are
    /// swapped ("1990-03-05" vs "1990-05-03"): a typical data-entry fault to report.
    pub fn is_day_month_swap_of(self, other: PartialDate) -> bool {
        match (self, other) {
            (PartialDate::Full(y1, m1, d1), PartialDate::Full(y2, m2, d2)) => {
                y1 == y2 && m1 == d2 && d1 == m2 && m1 != d1
            }
            _ => false,
        }
    }

    /// Earliest day the date can stand for.
    pub fn earliest(self) -> (i32, u8, u8) {
        match self {
            PartialDate::Year(y) => (y, 1, 1),
            PartialDate::YearMonth(y, m) => (y, m, 1),
            PartialDate::Full(y, m, d) => (y, m, d),
        }
    }

    /// Latest day the date can stand for.
    pub fn latest(self) -> (i32, u8, u8) {
        match self {
            PartialDate::Year(y) => (y, 12, 31),
            PartialDate::YearMonth(y, m) => (y, m, days_in_month(y, m)),
            PartialDate::Full(y, m, d) => (y, m, d),
        }
    }

    /// The day (UTC) of a Unix time in milliseconds, as a full date.
    pub fn from_unix_millis(millis: i64) -> PartialDate {
        let (y, m, d) = civil_from_days(millis.div_euclid(86_400_000));
        PartialDate::Full(y, m, d)
    }

    /// Age in whole years on the day `on` of someone born on this date; `None` if it
    /// depends on the unknown part (or `on` may precede the birth).
    pub fn age_on(self, on: (i32, u8, u8)) -> Option<u32> {
        let age = |born: (i32, u8, u8)| {
            let years = on.0 - born.0 - i32::from((on.1, on.2) < (born.1, born.2));
            u32::try_from(years).ok()
        };
        if on < self.latest() {
            return None;
        }
        let (oldest, youngest) = (age(self.earliest())?, age(self.latest())?);
        (oldest == youngest).then_some(oldest)
    }
}

/// Days since 1970-01-01 to a civil date (H. Hinnant's algorithm).
pub fn civil_from_days(z: i64) -> (i32, u8, u8) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    ((if m <= 2 { y + 1 } else { y }) as i32, m, d)
}

impl fmt::Display for PartialDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            PartialDate::Year(y) => write!(f, "{y:04}"),
            PartialDate::YearMonth(y, m) => write!(f, "{y:04}-{m:02}"),
            PartialDate::Full(y, m, d) => write!(f, "{y:04}-{m:02}-{d:02}"),
        }
    }
}

impl FromStr for PartialDate {
    type Err = DateError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PartialDate::parse(s)
    }
}

impl Ord for PartialDate {
    fn cmp(&self, other: &Self) -> Ordering {
        self.sort_key().cmp(&other.sort_key())
    }
}

impl PartialOrd for PartialDate {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Serialized in the contract form, as files and the API spell it.
impl Serialize for PartialDate {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for PartialDate {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        PartialDate::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use DateAgreement::*;
    use PartialDate::{Full, Year, YearMonth};
    use proptest::prelude::*;
    use serde::de::IntoDeserializer;
    use serde::de::value::{Error as DeError, StrDeserializer};

    #[test]
    fn civil_dates_from_day_numbers() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(20_635), (2026, 7, 1));
        assert_eq!(
            PartialDate::from_unix_millis(20_635 * 86_400_000 + 86_399_999),
            Full(2026, 7, 1)
        );
    }

    #[test]
    fn strict_accepts_the_contract_forms() {
        let cases = [
            ("1975", Year(1975)),
            ("1975-03", YearMonth(1975, 3)),
            ("1975-03-02", Full(1975, 3, 2)),
            (" 1975-03-02 ", Full(1975, 3, 2)),
            ("1800", Year(1800)),
            ("2399-12-31", Full(2399, 12, 31)),
            ("2000-02-29", Full(2000, 2, 29)),
            ("2024-02-29", Full(2024, 2, 29)),
            ("1990-04-30", Full(1990, 4, 30)),
            ("1990-01-31", Full(1990, 1, 31)),
        ];
        for (input, expected) in cases {
            assert_eq!(PartialDate::parse(input), Ok(expected), "{input:?}");
        }
    }

    #[test]
    fn strict_rejects() {
        let format = |s: &str| DateError::Format {
            input: s.to_owned(),
            expected: STRICT_FORMS,
        };
        let day = |year, month, day, days_in_month| DateError::DayOutOfRange {
            year,
            month,
            day,
            days_in_month,
        };
        let cases = [
            ("", DateError::Empty),
            ("  ", DateError::Empty),
            ("1990-02-30", day(1990, 2, 30, 28)),
            ("1900-02-29", day(1900, 2, 29, 28)),
            ("2023-02-29", day(2023, 2, 29, 28)),
            ("2024-02-30", day(2024, 2, 30, 29)),
            ("1990-04-31", day(1990, 4, 31, 30)),
            ("1990-01-00", day(1990, 1, 0, 31)),
            ("1990-13", DateError::MonthOutOfRange(13)),
            ("1990-00-01", DateError::MonthOutOfRange(0)),
            ("1799", DateError::YearOutOfRange(1799)),
            ("2400-01-01", DateError::YearOutOfRange(2400)),
            ("75", format("75")),
            ("01975", format("01975")),
            ("1975-3-2", format("1975-3-2")),
            ("1975-03-02-01", format("1975-03-02-01")),
            ("1975-", format("1975-")),
            ("02/03/1975", format("02/03/1975")),
            ("1975/03/02", format("1975/03/02")),
            ("+975-03-02", format("+975-03-02")),
            ("19a5", format("19a5")),
        ];
        for (input, expected) in cases {
            assert_eq!(PartialDate::parse(input), Err(expected), "{input:?}");
        }
        assert_eq!(
            PartialDate::parse("1990-02-30").unwrap_err().to_string(),
            "day 30 does not exist in 1990-02, which has 28 days"
        );
    }

    #[test]
    fn lenient_spellings() {
        let cases = [
            ("1975-03-02", Full(1975, 3, 2)),
            ("1975", Year(1975)),
            ("1975-03", YearMonth(1975, 3)),
            ("02/03/1975", Full(1975, 3, 2)),
            ("2/3/1975", Full(1975, 3, 2)),
            ("12/11/1975", Full(1975, 11, 12)),
            ("02-03-1975", Full(1975, 3, 2)),
            ("02.03.1975", Full(1975, 3, 2)),
            ("03/1975", YearMonth(1975, 3)),
            ("3/1975", YearMonth(1975, 3)),
            ("1975/03/02", Full(1975, 3, 2)),
            ("1975/3/2", Full(1975, 3, 2)),
            ("1975/03", YearMonth(1975, 3)),
            ("  29/02/2000\t", Full(2000, 2, 29)),
        ];
        for (input, expected) in cases {
            assert_eq!(PartialDate::parse_lenient(input), Ok(expected), "{input:?}");
        }
    }

    #[test]
    fn lenient_rejects() {
        let format = |s: &str| DateError::Format {
            input: s.to_owned(),
            expected: LENIENT_FORMS,
        };
        let cases = [
            ("", DateError::Empty),
            ("02/03/75", format("02/03/75")),
            ("02/03-1975", format("02/03-1975")),
            ("002/03/1975", format("002/03/1975")),
            ("1975/03/02/01", format("1975/03/02/01")),
            ("March 1975", format("March 1975")),
            ("/1975", format("/1975")),
            (
                "29/02/1900",
                DateError::DayOutOfRange {
                    year: 1900,
                    month: 2,
                    day: 29,
                    days_in_month: 28,
                },
            ),
            ("13/1975", DateError::MonthOutOfRange(13)),
            ("05/13/1975", DateError::MonthOutOfRange(13)),
            ("01/01/1700", DateError::YearOutOfRange(1700)),
        ];
        for (input, expected) in cases {
            assert_eq!(
                PartialDate::parse_lenient(input),
                Err(expected),
                "{input:?}"
            );
        }
    }

    #[test]
    fn validate_hand_built_values() {
        assert_eq!(Full(1990, 2, 28).validate(), Ok(Full(1990, 2, 28)));
        assert!(Full(1990, 2, 30).validate().is_err());
        assert!(YearMonth(1990, 0).validate().is_err());
        assert_eq!(Year(-5).validate(), Err(DateError::YearOutOfRange(-5)));
    }

    #[test]
    fn accessors_and_display() {
        let d = Full(1975, 3, 2);
        assert_eq!((d.year(), d.month(), d.day()), (1975, Some(3), Some(2)));
        assert_eq!((Year(1975).month(), Year(1975).day()), (None, None));
        assert_eq!(YearMonth(1975, 3).day(), None);
        assert_eq!(d.to_string(), "1975-03-02");
        assert_eq!(YearMonth(1975, 3).to_string(), "1975-03");
        assert_eq!(Year(1975).to_string(), "1975");
        assert_eq!("1975-03".parse::<PartialDate>(), Ok(YearMonth(1975, 3)));
    }

    #[test]
    fn sort_key_and_order() {
        assert_eq!(Year(1975).sort_key(), 19_750_000);
        assert_eq!(YearMonth(1975, 3).sort_key(), 19_750_300);
        assert_eq!(Full(1975, 3, 2).sort_key(), 19_750_302);
        assert!(Year(1975) < Full(1975, 1, 1));
        assert!(Year(1975) < YearMonth(1975, 1));
        assert!(YearMonth(1975, 12) < Year(1976));
        assert_eq!(PartialDate::from_sort_key(19_750_002), None);
        assert_eq!(PartialDate::from_sort_key(19_901_301), None);
        assert_eq!(PartialDate::from_sort_key(19_900_230), None);
        assert_eq!(PartialDate::from_sort_key(-1), None);
    }

    #[test]
    fn agreement_follows_the_contract() {
        let cases = [
            (Full(1975, 3, 2), Full(1975, 3, 2), Match),
            (Year(1975), Year(1975), Match),
            (Year(1975), Full(1975, 3, 2), Partial),
            (Full(1975, 3, 2), Year(1975), Partial),
            (YearMonth(1975, 3), Full(1975, 3, 2), Partial),
            (Year(1975), YearMonth(1975, 3), Partial),
            (YearMonth(1975, 4), Full(1975, 3, 2), Mismatch),
            (Year(1976), Full(1975, 3, 2), Mismatch),
            (Full(1975, 3, 2), Full(1975, 3, 3), Mismatch),
            (Full(1975, 3, 2), Full(1975, 2, 3), Mismatch),
            (YearMonth(1975, 3), YearMonth(1975, 4), Mismatch),
        ];
        for (a, b, expected) in cases {
            assert_eq!(a.agreement(b), expected, "{a} vs {b}");
        }
    }

    #[test]
    fn day_month_swap() {
        assert!(Full(1990, 3, 5).is_day_month_swap_of(Full(1990, 5, 3)));
        assert!(!Full(1990, 3, 3).is_day_month_swap_of(Full(1990, 3, 3)));
        assert!(!Full(1990, 3, 5).is_day_month_swap_of(Full(1991, 5, 3)));
        assert!(!Full(1990, 3, 5).is_day_month_swap_of(Full(1990, 3, 5)));
        assert!(!YearMonth(1990, 3).is_day_month_swap_of(Full(1990, 5, 3)));
    }

    #[test]
    fn earliest_latest_and_age() {
        assert_eq!(Year(1975).earliest(), (1975, 1, 1));
        assert_eq!(Year(1975).latest(), (1975, 12, 31));
        assert_eq!(YearMonth(2000, 2).latest(), (2000, 2, 29));
        assert_eq!(YearMonth(1900, 2).latest(), (1900, 2, 28));
        assert_eq!(Full(1975, 3, 2).earliest(), Full(1975, 3, 2).latest());

        let on = (2024, 6, 15);
        assert_eq!(Full(1975, 3, 2).age_on(on), Some(49));
        assert_eq!(Full(1975, 6, 15).age_on(on), Some(49));
        assert_eq!(Full(1975, 6, 16).age_on(on), Some(48));
        assert_eq!(Year(1975).age_on(on), None);
        assert_eq!(Year(1975).age_on((2024, 12, 31)), Some(49));
        assert_eq!(YearMonth(1975, 3).age_on(on), Some(49));
        assert_eq!(YearMonth(1975, 6).age_on(on), None);
        assert_eq!(Full(2024, 6, 15).age_on(on), Some(0));
        assert_eq!(Full(2024, 6, 16).age_on(on), None);
        assert_eq!(Year(2024).age_on(on), None);
    }

    #[test]
    fn serde_uses_the_contract_form() {
        let d: StrDeserializer<DeError> = "1975-03".into_deserializer();
        assert_eq!(PartialDate::deserialize(d), Ok(YearMonth(1975, 3)));
        let d: StrDeserializer<DeError> = "1990-02-30".into_deserializer();
        assert!(
            PartialDate::deserialize(d)
                .unwrap_err()
                .to_string()
                .contains("28 days")
        );
    }

    fn any_date() -> impl Strategy<Value = PartialDate> {
        (FIRST_YEAR..=LAST_YEAR, 0u8..=12, 0u8..=31).prop_map(|(y, m, d)| match (m, d) {
            (0, _) => Year(y),
            (m, 0) => YearMonth(y, m),
            (m, d) => Full(y, m, d.min(days_in_month(y, m))),
        })
    }

    proptest! {
        #[test]
        fn display_parse_round_trip(d in any_date()) {
            prop_assert_eq!(PartialDate::parse(&d.to_string()), Ok(d));
            prop_assert_eq!(PartialDate::parse_lenient(&d.to_string()), Ok(d));
        }

        #[test]
        fn sort_key_round_trip(d in any_date()) {
            prop_assert_eq!(PartialDate::from_sort_key(d.sort_key()), Some(d));
        }

        #[test]
        fn order_matches_sort_key_and_text(a in any_date(), b in any_date()) {
            prop_assert_eq!(a.cmp(&b), a.sort_key().cmp(&b.sort_key()));
            // The contract form sorts the same way as text.
            prop_assert_eq!(a.cmp(&b), a.to_string().cmp(&b.to_string()));
        }

        #[test]
        fn agreement_is_symmetric(a in any_date(), b in any_date()) {
            prop_assert_eq!(a.agreement(b), b.agreement(a));
            prop_assert_eq!(a.agreement(a), Match);
        }

        #[test]
        fn day_first_spelling_parses(d in any_date()) {
            if let Full(y, m, day) = d {
                prop_assert_eq!(PartialDate::parse_lenient(&format!("{day}/{m}/{y}")), Ok(d));
                prop_assert_eq!(PartialDate::parse_lenient(&format!("{day:02}.{m:02}.{y}")), Ok(d));
            }
        }

        #[test]
        fn parsers_never_panic(s in "\\PC{0,14}") {
            let _ = PartialDate::parse(&s);
            let _ = PartialDate::parse_lenient(&s);
        }
    }
}
