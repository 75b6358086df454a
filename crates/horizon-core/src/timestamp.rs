//! Timestamps as Horizon writes them everywhere (events, API, database):
//! RFC 3339 in UTC with exactly three fractional digits,
//! `2026-02-16T10:00:00.120Z`. Reading accepts any RFC 3339 time.

use time::OffsetDateTime;
use time::format_description::BorrowedFormatItem;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;

const MILLIS: &[BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");

/// `at` without its sub-millisecond part, so a time held in memory equals the
/// one written and read back.
pub fn truncate_to_millis(at: OffsetDateTime) -> OffsetDateTime {
    at.replace_millisecond(at.millisecond()).unwrap_or(at)
}

/// Format `at` in UTC with millisecond precision.
pub fn format(at: OffsetDateTime) -> String {
    at.to_offset(time::UtcOffset::UTC)
        .format(MILLIS)
        .unwrap_or_default()
}

/// Parse any RFC 3339 time.
pub fn parse(text: &str) -> Result<OffsetDateTime, time::error::Parse> {
    OffsetDateTime::parse(text, &Rfc3339)
}

/// `#[serde(with = "horizon_core::timestamp::millis")]`
pub mod millis {
    use serde::{Deserialize, Deserializer, Serializer};
    use time::OffsetDateTime;

    pub fn serialize<S: Serializer>(at: &OffsetDateTime, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&super::format(*at))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<OffsetDateTime, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        super::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn always_three_fractional_digits_in_utc() {
        assert_eq!(
            format(datetime!(2026-02-16 10:00:00.12 UTC)),
            "2026-02-16T10:00:00.120Z"
        );
        assert_eq!(
            format(datetime!(2026-02-16 10:00:00 UTC)),
            "2026-02-16T10:00:00.000Z"
        );
        assert_eq!(
            format(datetime!(2026-02-16 11:00:00.123456 +01:00)),
            "2026-02-16T10:00:00.123Z"
        );
        let parsed = parse("2026-02-16T10:00:00.120Z").expect("parses");
        assert_eq!(format(parsed), "2026-02-16T10:00:00.120Z");
    }
}
