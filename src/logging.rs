//! Logging set-up: logfmt (`ts=... level=info msg="..." key=value`) or JSON lines on stderr.

use std::fmt::{self, Write as _};

use time::format_description::StaticFormatDescription;
use time::macros::format_description;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::{FormatTime, UtcTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

use crate::cli::{LogFormat, LogLevel};

/// Installs the global subscriber; later calls do nothing.
pub fn init(level: LogLevel, format: LogFormat) {
    let max = match level {
        LogLevel::Debug => Level::DEBUG,
        LogLevel::Info => Level::INFO,
        LogLevel::Warn => Level::WARN,
        LogLevel::Error => Level::ERROR,
    };
    let builder = tracing_subscriber::fmt()
        .with_max_level(max)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Logfmt => builder.event_format(Logfmt::default()).try_init(),
    };
}

/// RFC 3339 in UTC with milliseconds: `2026-11-21T23:00:18.123Z`.
const TIMESTAMP: StaticFormatDescription =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");

/// The logfmt event format.
struct Logfmt {
    timer: UtcTime<StaticFormatDescription>,
}

impl Default for Logfmt {
    fn default() -> Self {
        Logfmt {
            timer: UtcTime::new(TIMESTAMP),
        }
    }
}

impl<S, N> FormatEvent<S, N> for Logfmt
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut line = String::with_capacity(128);
        line.push_str("ts=");
        self.timer.format_time(&mut Writer::new(&mut line))?;
        let level = event.metadata().level().as_str().to_ascii_lowercase();
        write!(line, " level={level}")?;
        let mut fields = LogfmtFields::default();
        event.record(&mut fields);
        if let Some(message) = &fields.message {
            line.push_str(" msg=");
            push_value(&mut line, message);
        }
        line.push_str(&fields.rest);
        writeln!(writer, "{line}")
    }
}

#[derive(Default)]
struct LogfmtFields {
    message: Option<String>,
    rest: String,
}

impl Visit for LogfmtFields {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message = Some(value.to_string());
        } else {
            self.rest.push(' ');
            self.rest.push_str(field.name());
            self.rest.push('=');
            push_value(&mut self.rest, value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.record_str(field, &format!("{value:?}"));
    }
}

/// Writes a logfmt value, quoted when it has spaces, quotes, `=` or is empty.
fn push_value(out: &mut String, value: &str) {
    let needs_quotes = value.is_empty()
        || value
            .chars()
            .any(|c| c.is_whitespace() || c == '"' || c == '=' || c.is_control());
    if needs_quotes {
        out.push_str(&format!("{value:?}"));
    } else {
        out.push_str(value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::OffsetDateTime;

    fn at(unix_millis: i128) -> String {
        OffsetDateTime::from_unix_timestamp_nanos(unix_millis * 1_000_000)
            .expect("a time in range")
            .format(TIMESTAMP)
            .expect("formats")
    }

    #[test]
    fn timestamps_are_utc_rfc3339_with_milliseconds() {
        // `date -u -d @1795302018.123 +%FT%T.%3NZ` and friends.
        assert_eq!(at(1_795_302_018_123), "2026-11-21T23:00:18.123Z");
        assert_eq!(at(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(at(951_782_400_007), "2000-02-29T00:00:00.007Z");
        assert_eq!(at(4_102_444_799_999), "2099-12-31T23:59:59.999Z");
    }

    #[test]
    fn the_logfmt_timer_writes_the_current_time_in_that_form() {
        let now_millis = || OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
        let before = now_millis();
        let mut out = String::new();
        assert!(
            Logfmt::default()
                .timer
                .format_time(&mut Writer::new(&mut out))
                .is_ok()
        );
        let after = now_millis();
        // Fixed-width timestamps sort as text.
        assert!(at(before) <= out && out <= at(after), "{out}");
    }

    #[test]
    fn values_are_quoted_only_when_needed() {
        let mut out = String::new();
        push_value(&mut out, "plain");
        out.push(' ');
        push_value(&mut out, "two words");
        out.push(' ');
        push_value(&mut out, "");
        assert_eq!(out, "plain \"two words\" \"\"");
    }
}
