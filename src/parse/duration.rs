//! Durations as Prometheus writes them (`1h30m`, `30d`, `1w`, `500ms`, `0`): the one syntax
//! every duration flag of the exporter reads.
//!
//! A duration is one or more `<integer><unit>` parts, units `y` (365 days), `w`, `d`, `h`,
//! `m`, `s`, `ms`, each at most once and largest first; `0` alone is zero. No fractions, no
//! signs, no spaces, nothing bigger than Prometheus itself takes (2^63-1 milliseconds).

use std::time::Duration;

/// Why a text is not a duration. The messages leave the text out: whoever reports the error
/// names the value and where it came from (clap does for flags).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("empty duration")]
    Empty,
    #[error("a number has no unit (use y, w, d, h, m, s or ms, such as 90s or 1h30m)")]
    NoUnit,
    #[error("durations are whole numbers of a unit (such as 1h30m, not 1.5h)")]
    Fraction,
    #[error("unknown unit (use y, w, d, h, m, s or ms)")]
    UnknownUnit,
    #[error("units go largest first, each once (such as 1h30m, not 30m1h)")]
    OutOfOrder,
    #[error("not a duration (such as 500ms, 90s, 1h30m, 7d)")]
    Malformed,
    #[error("longer than any duration Prometheus takes")]
    TooLong,
}

/// The units, largest first, with their length in milliseconds.
const UNITS: [(&str, u64); 7] = [
    ("y", 365 * 24 * 3600 * 1000),
    ("w", 7 * 24 * 3600 * 1000),
    ("d", 24 * 3600 * 1000),
    ("h", 3600 * 1000),
    ("m", 60 * 1000),
    ("s", 1000),
    ("ms", 1),
];

/// The longest duration Prometheus represents (its durations are int64 milliseconds).
const MAX_MILLISECONDS: u64 = i64::MAX.unsigned_abs();

/// Reads a Prometheus duration.
pub fn parse(text: &str) -> Result<Duration, DurationError> {
    if text.is_empty() {
        return Err(DurationError::Empty);
    }
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    let mut rest = text;
    let mut total: u64 = 0;
    // Index into UNITS of the smallest unit seen so far: the next must be smaller still.
    let mut last_unit: Option<usize> = None;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let (number, after) = rest.split_at(digits);
        if number.is_empty() {
            return Err(DurationError::Malformed);
        }
        if after.is_empty() {
            return Err(DurationError::NoUnit);
        }
        if after.starts_with(['.', ',']) {
            return Err(DurationError::Fraction);
        }
        let letters = after
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(after.len());
        let (unit, after_unit) = after.split_at(letters);
        if unit.is_empty() {
            return Err(DurationError::Malformed);
        }
        let index = UNITS
            .iter()
            .position(|(name, _)| *name == unit)
            .ok_or(DurationError::UnknownUnit)?;
        if last_unit.is_some_and(|last| index <= last) {
            return Err(DurationError::OutOfOrder);
        }
        last_unit = Some(index);
        let count: u64 = number.parse().map_err(|_| DurationError::TooLong)?;
        let unit_ms = UNITS.get(index).map_or(1, |(_, ms)| *ms);
        total = count
            .checked_mul(unit_ms)
            .and_then(|ms| total.checked_add(ms))
            .filter(|ms| *ms <= MAX_MILLISECONDS)
            .ok_or(DurationError::TooLong)?;
        rest = after_unit;
    }
    Ok(Duration::from_millis(total))
}

/// The longest duration any flag takes: a week.
pub const LONGEST_DURATION: Duration = Duration::from_secs(7 * 24 * 3600);

/// Every duration flag's value: a Prometheus duration (`500ms`, `90s`, `1h30m`, `1w`), more
/// than zero and at most a week.
pub fn parse_duration_flag(text: &str) -> Result<Duration, String> {
    let duration = parse(text).map_err(|e| e.to_string())?;
    if duration.is_zero() {
        return Err("must be more than zero".to_string());
    }
    if duration > LONGEST_DURATION {
        return Err("must be at most a week (1w)".to_string());
    }
    Ok(duration)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn prometheus_forms_are_read() {
        let cases = [
            ("0", Duration::ZERO),
            ("0s", Duration::ZERO),
            ("500ms", Duration::from_millis(500)),
            ("90s", secs(90)),
            ("5m", secs(300)),
            ("1h30m", secs(5400)),
            ("1d12h", secs(36 * 3600)),
            ("30d", secs(30 * 86400)),
            ("1w", secs(7 * 86400)),
            ("1y", secs(365 * 86400)),
            (
                "1y2w3d4h5m6s7ms",
                Duration::from_millis(((((365 + 14 + 3) * 24 + 4) * 60 + 5) * 60 + 6) * 1000 + 7),
            ),
            ("1m500ms", Duration::from_millis(60_500)),
            ("0100s", secs(100)),
        ];
        for (text, expected) in cases {
            assert_eq!(parse(text), Ok(expected), "{text}");
        }
    }

    #[test]
    fn other_forms_are_refused_with_the_reason() {
        let refused = |text: &str| parse(text).expect_err(text);
        assert_eq!(refused(""), DurationError::Empty);
        assert_eq!(refused("5"), DurationError::NoUnit);
        assert_eq!(refused("1h5"), DurationError::NoUnit);
        assert_eq!(refused("1.5h"), DurationError::Fraction);
        assert_eq!(refused("0.5s"), DurationError::Fraction);
        assert_eq!(refused("30m1h"), DurationError::OutOfOrder);
        assert_eq!(refused("1s1s"), DurationError::OutOfOrder);
        assert_eq!(refused("1ms1s"), DurationError::OutOfOrder);
        assert_eq!(refused("5sec"), DurationError::UnknownUnit);
        assert_eq!(refused("5M"), DurationError::UnknownUnit);
        assert_eq!(refused("5us"), DurationError::UnknownUnit);
        for text in ["s", "-1s", "+1s", " 1s", "1s ", "1 s", "h1", "1h_30m"] {
            assert_eq!(refused(text), DurationError::Malformed, "{text}");
        }
        // Prometheus' bound: 2^63-1 milliseconds, about 292 million years.
        assert_eq!(refused("300000000y"), DurationError::TooLong);
        assert_eq!(refused("99999999999999999999999s"), DurationError::TooLong);
        assert!(parse("292000000y").is_ok());
    }
}
