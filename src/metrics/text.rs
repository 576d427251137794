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

/// Writes families into `out`, one whole line per `write_str`.
pub(crate) struct FamilyText<'w> {
    out: &'w mut dyn fmt::Write,
    line: String,
    /// Comment lines as the classic format writes them (counters named with `_total` in
    /// HELP and TYPE, no UNIT), as [`super::ClassicConverter`] would make them.
    classic: bool,
}

impl<'w> FamilyText<'w> {
    pub fn new(out: &'w mut dyn fmt::Write, classic: bool) -> Self {
        FamilyText {
            out,
            line: String::with_capacity(512),
            classic,
        }
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
        Family {
            text: self,
            name,
            help,
            unit,
            kind,
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
    started: bool,
}

impl Family<'_, '_> {
    fn push_name(&mut self) {
        let line = &mut self.text.line;
        line.push_str(self.name);
        if let Some(unit) = &self.unit {
            line.push('_');
            line.push_str(unit.as_str());
        }
    }

    fn descriptor(&mut self) -> fmt::Result {
        self.text.line.clear();
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
            self.text.line.push_str(comment);
            self.push_name();
            if self.text.classic && self.kind == Kind::Counter {
                self.text.line.push_str("_total");
            }
            self.text.line.push(' ');
            self.text.line.push_str(tail);
            self.text.line.push('\n');
        }
        if let Some(unit) = self.unit.as_ref().filter(|_| !self.text.classic) {
            self.text.line.push_str("# UNIT ");
            self.text.line.push_str(self.name);
            self.text.line.push('_');
            self.text.line.push_str(unit.as_str());
            self.text.line.push(' ');
            self.text.line.push_str(unit.as_str());
            self.text.line.push('\n');
        }
        self.text.out.write_str(&self.text.line)
    }

    /// Writes one series: `labels` appends its labels as `key="value"` pairs (with
    /// [`push_label`] or already rendered text), nothing for a series without labels.
    pub fn series(&mut self, labels: impl FnOnce(&mut String), value: Value) -> fmt::Result {
        if !self.started {
            self.descriptor()?;
            self.started = true;
        }
        self.text.line.clear();
        self.push_name();
        if self.kind == Kind::Counter {
            self.text.line.push_str("_total");
        }
        self.text.line.push('{');
        let open = self.text.line.len();
        labels(&mut self.text.line);
        if self.text.line.len() == open {
            self.text.line.pop();
        } else {
            self.text.line.push('}');
        }
        self.text.line.push(' ');
        match value {
            Value::Signed(v) => self.text.line.push_str(itoa::Buffer::new().format(v)),
            Value::Unsigned(v) => self.text.line.push_str(itoa::Buffer::new().format(v)),
            Value::Float(v) => self.text.line.push_str(dtoa::Buffer::new().format(v)),
        }
        self.text.line.push('\n');
        self.text.out.write_str(&self.text.line)
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

    #[derive(Debug)]
    struct Reference;

    impl Collector for Reference {
        fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
            for (name, help, unit, kind, series) in families()
                .into_iter()
                .map(|(n, u, k, s)| (n, format!("Help of {n}."), u, k, s))
            {
                match kind {
                    // Each value type through the encoder's own type for it.
                    Kind::Gauge => match series.first().map(|(_, v)| *v) {
                        Some(Value::Signed(_)) => gauges(
                            &mut encoder,
                            name,
                            &help,
                            unit,
                            series.iter().map(|(l, v)| match v {
                                Value::Signed(v) => (Labels(l.clone()), *v),
                                _ => unreachable!("one value type per family"),
                            }),
                        )?,
                        Some(Value::Unsigned(_)) => gauges(
                            &mut encoder,
                            name,
                            &help,
                            unit,
                            series.iter().map(|(l, v)| match v {
                                Value::Unsigned(v) => (Labels(l.clone()), *v),
                                _ => unreachable!("one value type per family"),
                            }),
                        )?,
                        _ => gauges(
                            &mut encoder,
                            name,
                            &help,
                            unit,
                            series.iter().map(|(l, v)| match v {
                                Value::Float(v) => (Labels(l.clone()), *v),
                                _ => unreachable!("one value type per family"),
                            }),
                        )?,
                    },
                    Kind::Counter => counters(
                        &mut encoder,
                        name,
                        &help,
                        unit,
                        series.iter().map(|(l, v)| match v {
                            Value::Unsigned(v) => (Labels(l.clone()), *v),
                            _ => unreachable!("counters are unsigned"),
                        }),
                    )?,
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
