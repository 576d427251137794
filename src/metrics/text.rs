//! Families written straight into the output, byte for byte as prometheus-client's text
//! encoder writes them in OpenMetrics, or as the classic converter turns that into the classic
//! format when a scrape asks for it. Used for the families with a series per real server,
//! where going through the encoder's per-label and per-value calls was most of a large
//! scrape's time (docs/decisions/prometheus-client.md); every other family goes through
//! prometheus-client. `same_bytes_as_prometheus_client` holds the two to each other.

use std::fmt;

use prometheus_client::registry::Unit;

/// Whether a family is a gauge or a counter (whose samples are named `…_total`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Gauge,
    Counter,
}

/// A sample's value, written as prometheus-client writes it (`itoa`, `dtoa`).
#[derive(Clone, Copy)]
pub(crate) enum Value {
    Signed(i64),
    Unsigned(u64),
    Float(f64),
}

/// Where whole lines go: appended straight to the output's own buffer, then ended, so that a
/// line is not put together first and copied after.
pub(crate) trait LineOutput {
    /// The buffer lines are appended to.
    fn line_buffer(&mut self) -> &mut String;
    /// Says that whole lines were appended; fails when the output takes no more.
    fn lines_written(&mut self) -> fmt::Result;
}

/// The whole text in one string (tests).
impl LineOutput for String {
    fn line_buffer(&mut self) -> &mut String {
        self
    }
    fn lines_written(&mut self) -> fmt::Result {
        Ok(())
    }
}

/// Writes families into `out`, a line or a family's comment lines at a time.
pub(crate) struct FamilyText<'w> {
    out: &'w mut dyn LineOutput,
    /// Comment lines as the classic format writes them (counters named with `_total` in
    /// HELP and TYPE, no UNIT), as [`super::ClassicConverter`] would make them.
    classic: bool,
}

impl<'w> FamilyText<'w> {
    pub fn new(out: &'w mut dyn LineOutput, classic: bool) -> Self {
        FamilyText { out, classic }
    }

    /// Starts a family; nothing is written until its first series, so that a family without
    /// any is left out, as [`super::gauges`] leaves it.
    pub fn family<'f>(
        &'f mut self,
        name: &'f str,
        help: &'f str,
        unit: Option<Unit>,
        kind: Kind,
    ) -> Family<'f, 'w> {
        let mut series_start = String::with_capacity(name.len() + 16);
        Family::push_name(&mut series_start, name, unit.as_ref());
        if kind == Kind::Counter {
            series_start.push_str("_total");
        }
        series_start.push('{');
        Family {
            text: self,
            name,
            help,
            unit,
            kind,
            series_start,
            started: false,
        }
    }
}

/// One family being written.
pub(crate) struct Family<'f, 'w> {
    text: &'f mut FamilyText<'w>,
    name: &'f str,
    help: &'f str,
    unit: Option<Unit>,
    kind: Kind,
    /// What each series' line starts with: `name_unit_total{`.
    series_start: String,
    started: bool,
}

impl Family<'_, '_> {
    /// Appends the family's name, with its unit if it has one.
    fn push_name(line: &mut String, name: &str, unit: Option<&Unit>) {
        line.push_str(name);
        if let Some(unit) = unit {
            line.push('_');
            line.push_str(unit.as_str());
        }
    }

    fn descriptor(&mut self) -> fmt::Result {
        let classic = self.text.classic;
        let line = self.text.out.line_buffer();
        for (comment, tail) in [
            ("# HELP ", self.help),
            (
                "# TYPE ",
                match self.kind {
                    Kind::Gauge => "gauge",
                    Kind::Counter => "counter",
                },
            ),
        ] {
            line.push_str(comment);
            Self::push_name(line, self.name, self.unit.as_ref());
            if classic && self.kind == Kind::Counter {
                line.push_str("_total");
            }
            line.push(' ');
            line.push_str(tail);
            line.push('\n');
        }
        if let Some(unit) = self.unit.as_ref().filter(|_| !classic) {
            line.push_str("# UNIT ");
            line.push_str(self.name);
            line.push('_');
            line.push_str(unit.as_str());
            line.push(' ');
            line.push_str(unit.as_str());
            line.push('\n');
        }
        self.text.out.lines_written()
    }

    /// Writes one series: `labels` appends its labels as `key="value"` pairs (with
    /// [`push_label`] or already rendered text), nothing for a series without labels.
    pub fn series(&mut self, labels: impl FnOnce(&mut String), value: Value) -> fmt::Result {
        if !self.started {
            self.descriptor()?;
            self.started = true;
        }
        let line = self.text.out.line_buffer();
        line.push_str(&self.series_start);
        let open = line.len();
        labels(line);
        if line.len() == open {
            line.pop();
        } else {
            line.push('}');
        }
        line.push(' ');
        match value {
            Value::Signed(v) => line.push_str(itoa::Buffer::new().format(v)),
            Value::Unsigned(v) => line.push_str(itoa::Buffer::new().format(v)),
            Value::Float(v) => line.push_str(dtoa::Buffer::new().format(v)),
        }
        line.push('\n');
        self.text.out.lines_written()
    }
}

/// Appends `key="value"` to a series' labels, after a comma unless it is the first; the value
/// escaped as the text encoder escapes it.
pub(crate) fn push_label(line: &mut String, key: &str, value: &str) {
    if !line.ends_with('{') {
        line.push(',');
    }
    line.push_str(key);
    line.push_str("=\"");
    super::escape_label_value(line, value);
    line.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{SeriesLabels, counters, gauges};
    use prometheus_client::collector::Collector;
    use prometheus_client::encoding::DescriptorEncoder;
    use prometheus_client::registry::Registry;

    type Pairs = Vec<(&'static str, &'static str)>;
    /// Name, unit, kind, and the series: labels and value.
    type TestFamily = (&'static str, Option<Unit>, Kind, Vec<(Pairs, Value)>);

    /// Families of every shape the direct writer is used for: gauges of each value type,
    /// counters with and without a unit, series without labels, values to escape, and a
    /// family without series.
    fn families() -> Vec<TestFamily> {
        let labels: Pairs = vec![("proto", "TCP"), ("remote_address", "10.0.0.1")];
        let odd: Pairs = vec![("netns", "a\"b\\c\nd"), ("forward", "masq")];
        vec![
            (
                "t_weight",
                None,
                Kind::Gauge,
                vec![
                    (labels.clone(), Value::Signed(-3)),
                    (odd.clone(), Value::Signed(i64::MAX)),
                    (vec![], Value::Signed(0)),
                ],
            ),
            (
                "t_estimate",
                Some(Unit::Seconds),
                Kind::Gauge,
                vec![
                    (labels.clone(), Value::Float(12.5)),
                    (odd.clone(), Value::Float(1e21)),
                    (labels.clone(), Value::Float(0.1)),
                ],
            ),
            (
                "t_rate",
                None,
                Kind::Gauge,
                vec![(labels.clone(), Value::Unsigned(u64::MAX))],
            ),
            (
                "t_incoming",
                Some(Unit::Bytes),
                Kind::Counter,
                vec![
                    (labels.clone(), Value::Unsigned(7)),
                    (vec![], Value::Unsigned(0)),
                ],
            ),
            ("t_none", None, Kind::Counter, vec![]),
            (
                "t_connections",
                None,
                Kind::Counter,
                vec![(odd, Value::Unsigned(1))],
            ),
        ]
    }

    struct Labels(Pairs);

    impl prometheus_client::encoding::EncodeLabelSet for Labels {
        fn encode(
            &self,
            encoder: &mut prometheus_client::encoding::LabelSetEncoder,
        ) -> fmt::Result {
            self.0.as_slice().encode(encoder)
        }
    }

    impl SeriesLabels for Labels {
        fn is_empty(&self) -> bool {
            self.0.is_empty()
        }
    }

    /// A family's series with their values as one type; every value of a test family is of
    /// the same type.
    fn typed<'s, V: 's>(
        series: &'s [(Pairs, Value)],
        value: fn(Value) -> Option<V>,
    ) -> impl Iterator<Item = (Labels, V)> + 's {
        series
            .iter()
            .map(move |(l, v)| (Labels(l.clone()), value(*v).expect("one value type")))
    }

    fn signed(v: Value) -> Option<i64> {
        match v {
            Value::Signed(v) => Some(v),
            _ => None,
        }
    }

    fn unsigned(v: Value) -> Option<u64> {
        match v {
            Value::Unsigned(v) => Some(v),
            _ => None,
        }
    }

    fn float(v: Value) -> Option<f64> {
        match v {
            Value::Float(v) => Some(v),
            _ => None,
        }
    }

    #[derive(Debug)]
    struct Reference;

    impl Collector for Reference {
        fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
            for (name, help, unit, kind, series) in families()
                .into_iter()
                .map(|(n, u, k, s)| (n, format!("Help of {n}."), u, k, s))
            {
                // Each value type through the encoder's own type for it.
                let help = help.as_str();
                match (kind, series.first().map(|(_, v)| *v)) {
                    (Kind::Gauge, Some(Value::Signed(_))) => {
                        gauges(&mut encoder, name, help, unit, typed(&series, signed))?
                    }
                    (Kind::Gauge, Some(Value::Unsigned(_))) => {
                        gauges(&mut encoder, name, help, unit, typed(&series, unsigned))?
                    }
                    (Kind::Gauge, _) => {
                        gauges(&mut encoder, name, help, unit, typed(&series, float))?
                    }
                    (Kind::Counter, _) => {
                        counters(&mut encoder, name, help, unit, typed(&series, unsigned))?
                    }
                }
            }
            Ok(())
        }
    }

    #[test]
    fn same_bytes_as_prometheus_client() {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(Reference));
        let mut expected = String::new();
        prometheus_client::encoding::text::encode_registry(&mut expected, &registry).unwrap();

        assert!(expected.contains("t_incoming_bytes_total{"), "{expected}");
        assert!(expected.contains("\\\"b\\\\c\\nd"), "{expected}");
        assert!(!expected.contains("t_none"), "{expected}");
        // The classic format as the converter makes it from the same text.
        for classic in [false, true] {
            let mut written = String::new();
            let mut text = FamilyText::new(&mut written, classic);
            for (name, unit, kind, series) in families() {
                let help = format!("Help of {name}.");
                let mut family = text.family(name, &help, unit, kind);
                for (labels, value) in series {
                    family
                        .series(
                            |line| {
                                for (k, v) in &labels {
                                    push_label(line, k, v);
                                }
                            },
                            value,
                        )
                        .unwrap();
                }
            }
            let expected = if classic {
                crate::metrics::openmetrics_to_classic(&expected)
            } else {
                expected.clone()
            };
            assert_eq!(written, expected, "classic: {classic}");
        }
    }
}
