//! The runtime's shared vocabulary: the few plain types its modules all speak (what a provider
//! bills in, a rate plan, the kind of an error answer, how a reservation ended). A leaf: it
//! imports nothing of the crate, so the modules above it never import each other in a circle.

use std::fmt;
use std::time::Duration;

/// What a provider bills in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Unit {
    /// Credits (RocketReach, Enrich).
    Credits,
    /// Rows: unique entities and connections returned (Spider News).
    Rows,
}

impl fmt::Display for Unit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Unit::Credits => "credits",
            Unit::Rows => "rows",
        })
    }
}

/// A provider's documented request rate: `requests` per `per`, with bursts of `burst`.
///
/// The limiter spreads requests evenly, one every `per / requests`, and lets `burst` go at once
/// after idle time. Every provider profile uses a burst of 1, pure pacing: against a server
/// that counts a rolling window, a client with a burst of `b` can send `requests + b - 1` in one
/// window (429s), and after a pause it would come back with a burst instead of at the rate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RateLimitPlan {
    /// Requests allowed per period.
    pub requests: u32,
    /// The period.
    pub per: Duration,
    /// Requests allowed at once.
    pub burst: u32,
}

impl RateLimitPlan {
    /// `n` requests per second, evenly spread (a burst of 1).
    pub const fn per_second(n: u32) -> Self {
        RateLimitPlan::new(n, Duration::from_secs(1))
    }

    /// `requests` per `per`, evenly spread (a burst of 1).
    pub const fn new(requests: u32, per: Duration) -> Self {
        RateLimitPlan {
            requests,
            per,
            burst: 1,
        }
    }

    /// The same plan with `burst` requests allowed at once.
    pub const fn with_burst(mut self, burst: u32) -> Self {
        self.burst = burst;
        self
    }
}

/// What kind of error answer a provider sent, from its status and, where a provider uses one
/// status for several things (RocketReach's 403s), from its message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// 400, 405, 409, 413, 422: the request is wrong.
    BadRequest,
    /// 401: the key is missing, wrong, revoked or disabled.
    Unauthorized,
    /// 402, or a provider's "insufficient credits" 403: the account is out of credits or rows.
    OutOfCredits,
    /// RocketReach: the key belongs to the other plan family (legacy vs Universal Credits).
    WrongPlanFamily,
    /// RocketReach: the plan has no API access.
    NoApiAccess,
    /// Another 403.
    Forbidden,
    /// 404.
    NotFound,
    /// 408 or 429.
    Throttled,
    /// 5xx.
    Server,
    /// Anything else.
    Other,
}

impl ErrorKind {
    /// The kind a status means by itself.
    pub fn from_status(status: u16) -> ErrorKind {
        match status {
            400 | 405 | 409 | 413 | 415 | 422 => ErrorKind::BadRequest,
            401 => ErrorKind::Unauthorized,
            402 => ErrorKind::OutOfCredits,
            403 => ErrorKind::Forbidden,
            404 | 410 => ErrorKind::NotFound,
            408 | 429 => ErrorKind::Throttled,
            500..=599 => ErrorKind::Server,
            _ => ErrorKind::Other,
        }
    }
}

/// How a reservation ended.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Settlement {
    /// What the call cost.
    pub charged: i64,
    /// What it refunded.
    pub refunded: i64,
    /// No answer came after the request may have been received: `charged` is the maximum,
    /// possibly charged.
    pub uncertain: bool,
}

/// When a budget renews: never ([`Period::Total`], the default), at every midnight UTC, or once
/// a month at 00:00 UTC on an anchor day (a billing period: Spider News rows renew on the
/// subscription's anniversary day). In a month shorter than the anchor day, the period renews on
/// the month's last day.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Period {
    /// Never renews: everything spent counts.
    #[default]
    Total,
    /// Renews at 00:00 UTC every day.
    Daily,
    /// Renews at 00:00 UTC on `day` (1 to 31) of every month.
    Monthly {
        /// The anchor day of the month.
        day: u8,
    },
}

impl Period {
    /// The number of the period that holds `unix_seconds` (seconds since 1970-01-01 UTC): days
    /// since the epoch for a daily period, months since year 0 for a monthly one (the month
    /// whose anchor day last passed), 0 for a total. Spending counts toward a budget only in
    /// the period it was made in.
    pub fn window(self, unix_seconds: i64) -> i64 {
        match self {
            Period::Total => 0,
            Period::Daily => unix_seconds.div_euclid(86_400),
            Period::Monthly { day } => {
                use chrono::Datelike;
                let Some(at) = chrono::DateTime::from_timestamp(unix_seconds, 0) else {
                    return 0;
                };
                let (year, month) = (i64::from(at.year()), i64::from(at.month()));
                let anchor = u32::from(day.clamp(1, 31)).min(days_in_month(at.year(), at.month()));
                let months = year * 12 + month - 1;
                if at.day() < anchor {
                    months - 1
                } else {
                    months
                }
            }
        }
    }

    /// When the period that holds `unix_seconds` began (Unix seconds); `None` for a total.
    pub fn start(self, unix_seconds: i64) -> Option<i64> {
        match self {
            Period::Total => None,
            Period::Daily => Some(unix_seconds.div_euclid(86_400) * 86_400),
            Period::Monthly { day } => {
                let months = self.window(unix_seconds);
                let year = i32::try_from(months.div_euclid(12)).ok()?;
                let month = u32::try_from(months.rem_euclid(12) + 1).ok()?;
                let anchor = u32::from(day.clamp(1, 31)).min(days_in_month(year, month));
                let date = chrono::NaiveDate::from_ymd_opt(year, month, anchor)?;
                Some(date.and_hms_opt(0, 0, 0)?.and_utc().timestamp())
            }
        }
    }

    /// `(kind, anchor day)`: 0 for a total, 1 daily, 2 monthly; what a store's script reads.
    pub fn code(self) -> (u8, u8) {
        match self {
            Period::Total => (0, 0),
            Period::Daily => (1, 0),
            Period::Monthly { day } => (2, day),
        }
    }

    /// When the period renews, in words: "it renews at midnight UTC".
    pub fn renewal(self) -> Option<String> {
        match self {
            Period::Total => None,
            Period::Daily => Some("it renews at midnight UTC".into()),
            Period::Monthly { day } => Some(format!(
                "it renews on day {day} of each month (00:00 UTC; a shorter month's last day)"
            )),
        }
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Period::Total => f.write_str("total"),
            Period::Daily => f.write_str("daily"),
            Period::Monthly { day } => write!(f, "monthly (from day {day})"),
        }
    }
}

impl std::str::FromStr for Period {
    type Err = String;

    /// `total`, `daily` (or `day`), `monthly` (from day 1) or `monthly@D` (from day D, 1 to 31).
    fn from_str(text: &str) -> Result<Period, String> {
        let text = text.trim().to_ascii_lowercase();
        match text.as_str() {
            "total" | "" => return Ok(Period::Total),
            "daily" | "day" => return Ok(Period::Daily),
            "monthly" | "month" => return Ok(Period::Monthly { day: 1 }),
            _ => {}
        }
        let day = text
            .strip_prefix("monthly@")
            .or_else(|| text.strip_prefix("month@"))
            .ok_or_else(|| {
                format!("`{text}` is not a period: use total, daily, monthly or monthly@DAY")
            })?;
        match day.parse::<u8>() {
            Ok(day @ 1..=31) => Ok(Period::Monthly { day }),
            _ => Err(format!(
                "`{day}` is not a day of the month: a monthly period starts on day 1 to 31"
            )),
        }
    }
}

/// The days of `month` (1 to 12) in `year`, by the proleptic Gregorian calendar.
fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Seconds of `YYYY-MM-DDTHH:MM:SSZ`.
    fn at(text: &str) -> i64 {
        chrono::DateTime::parse_from_rfc3339(text)
            .unwrap()
            .timestamp()
    }

    #[test]
    fn a_daily_period_renews_at_midnight_utc() {
        let d = Period::Daily;
        assert_eq!(
            d.window(at("2026-12-06T23:59:59Z")) + 1,
            d.window(at("2026-12-07T00:00:00Z"))
        );
        assert_eq!(
            d.window(at("2026-12-07T00:00:00Z")),
            d.window(at("2026-12-07T23:59:59Z"))
        );
        assert_eq!(d.window(-1), -1, "before the epoch");
        assert_eq!(Period::Total.window(at("2099-01-01T00:00:00Z")), 0);
    }

    #[test]
    fn a_monthly_period_renews_on_its_anchor_day_or_a_shorter_months_last() {
        let m15 = Period::Monthly { day: 15 };
        let w = |p: Period, t| p.window(at(t));
        assert_eq!(
            w(m15, "2026-12-14T23:59:59Z") + 1,
            w(m15, "2026-12-15T00:00:00Z")
        );
        assert_eq!(
            w(m15, "2026-12-15T00:00:00Z"),
            w(m15, "2027-01-14T23:59:59Z")
        );
        assert_eq!(
            w(m15, "2027-01-15T00:00:00Z"),
            w(m15, "2026-12-15T00:00:00Z") + 1
        );
        let m31 = Period::Monthly { day: 31 };
        // February 2027 has 28 days: the period renews on the 28th, and again on March 31.
        assert_eq!(
            w(m31, "2027-02-27T23:59:59Z"),
            w(m31, "2027-01-31T00:00:00Z")
        );
        assert_eq!(
            w(m31, "2027-02-28T00:00:00Z"),
            w(m31, "2027-01-31T00:00:00Z") + 1
        );
        assert_eq!(
            w(m31, "2027-03-30T23:59:59Z"),
            w(m31, "2027-02-28T00:00:00Z")
        );
        assert_eq!(
            w(m31, "2027-03-31T00:00:00Z"),
            w(m31, "2027-02-28T00:00:00Z") + 1
        );
        // 2028 is a leap year: the 29th.
        assert_eq!(
            w(m31, "2028-02-28T23:59:59Z"),
            w(m31, "2028-01-31T00:00:00Z")
        );
        assert_eq!(
            w(m31, "2028-02-29T00:00:00Z"),
            w(m31, "2028-01-31T00:00:00Z") + 1
        );
        // Each period starts at its anchor's midnight.
        assert_eq!(
            m31.start(at("2027-03-15T10:00:00Z")),
            Some(at("2027-02-28T00:00:00Z"))
        );
        assert_eq!(
            m15.start(at("2027-01-15T00:00:00Z")),
            Some(at("2027-01-15T00:00:00Z"))
        );
        assert_eq!(
            m15.start(at("2027-01-14T23:59:59Z")),
            Some(at("2026-12-15T00:00:00Z"))
        );
        assert_eq!(
            Period::Daily.start(at("2026-12-06T20:44:00Z")),
            Some(at("2026-12-06T00:00:00Z"))
        );
        assert_eq!(Period::Total.start(0), None);
        let m1 = Period::Monthly { day: 1 };
        assert_eq!(
            w(m1, "2026-12-31T23:59:59Z") + 1,
            w(m1, "2027-01-01T00:00:00Z")
        );
    }

    #[test]
    fn periods_parse_and_name_what_is_wrong() {
        assert_eq!("daily".parse(), Ok(Period::Daily));
        assert_eq!("monthly@15".parse(), Ok(Period::Monthly { day: 15 }));
        assert_eq!("Monthly".parse(), Ok(Period::Monthly { day: 1 }));
        assert!("monthly@32".parse::<Period>().unwrap_err().contains("`32`"));
        assert!("weekly".parse::<Period>().unwrap_err().contains("`weekly`"));
    }
}
