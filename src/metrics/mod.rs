//! Snapshot -> Prometheus exposition. Pure: nothing here can fail on data, and nothing reads
//! the kernel. `prometheus-client` writes OpenMetrics; the classic 0.0.4 text format is derived
//! from it by [`openmetrics_to_classic`].

mod advisor;
mod conntrack;
mod ethtool;
mod ipvs;
mod keepalived;
mod keepalived_health;
mod netdev;
mod scrape;
mod softnet;
mod text;

use std::fmt;
use std::sync::Arc;

use prometheus_client::collector::Collector;
use std::fmt::Write as _;

use prometheus_client::encoding::{
    DescriptorEncoder, EncodeLabel, EncodeLabelSet, LabelSetEncoder, NoLabelSet,
};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Registry, Unit};

use crate::advisor::AdviceOptions;
use crate::model::snapshot::Snapshot;

/// The exposition formats /metrics can answer in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Prometheus text format 0.0.4.
    Classic,
    /// OpenMetrics 1.0 text.
    OpenMetrics,
}

impl Format {
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Classic => "text/plain; version=0.0.4; charset=utf-8",
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }
}

/// The real-server labels, in the order of [`BackendLabels`]' bits.
pub const BACKEND_LABEL_NAMES: [&str; 6] = [
    "proto",
    "local_address",
    "local_port",
    "local_mark",
    "remote_address",
    "remote_port",
];

/// Which real-server labels to keep (`--collector.ipvs.backend-labels`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackendLabels {
    kept: [bool; 6],
}

impl BackendLabels {
    pub fn all() -> Self {
        BackendLabels { kept: [true; 6] }
    }

    pub fn none() -> Self {
        BackendLabels { kept: [false; 6] }
    }

    /// Keeps the named label; false when there is no such label.
    pub fn keep(&mut self, name: &str) -> bool {
        match BACKEND_LABEL_NAMES.iter().position(|known| *known == name) {
            Some(index) => {
                if let Some(slot) = self.kept.get_mut(index) {
                    *slot = true;
                }
                true
            }
            None => false,
        }
    }

    pub fn keeps(&self, index: usize) -> bool {
        self.kept.get(index).copied().unwrap_or(false)
    }

    pub fn keeps_all(&self) -> bool {
        self.kept.iter().all(|k| *k)
    }
}

/// How a snapshot is turned into series.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodeOptions {
    pub backend_labels: BackendLabels,
    /// Whether to export per-real-server series at all.
    pub backends: bool,
    /// Whether to export the kernel's rate estimates per real server too (they are always
    /// exported per service and for the host).
    pub backend_estimates: bool,
    /// How the advisor runs for the `ipvs_advisor_*` families.
    pub advice: AdviceOptions,
}

impl Default for EncodeOptions {
    fn default() -> Self {
        EncodeOptions {
            backend_labels: BackendLabels::all(),
            backends: true,
            backend_estimates: false,
            advice: AdviceOptions::default(),
        }
    }
}

/// How much text is handed on at a time when encoding in chunks.
pub const CHUNK_BYTES: usize = 256 * 1024;

/// Encodes a snapshot in chunks of about [`CHUNK_BYTES`], each ending at the end of a line,
/// and hands each to `sink`; a table of any size is never held in memory as text whole.
/// `sink` returns false to stop early (the client went away).
pub fn encode_chunks(
    snapshot: Arc<Snapshot>,
    format: Format,
    options: &EncodeOptions,
    sink: &mut dyn FnMut(String) -> bool,
) {
    let mut writer = ChunkWriter {
        buffer: String::with_capacity(CHUNK_BYTES + 4096),
        classic: (format == Format::Classic).then(ClassicConverter::default),
        sink,
        stopped: false,
        written_classic: false,
    };
    let encoded = encode_parts(&snapshot, options, &mut writer);
    if let Err(err) = encoded
        && !writer.stopped
    {
        // Nothing in the encoder can fail on data; say so plainly if it ever does.
        tracing::error!(error = %err, "encoding metrics failed");
    }
    writer.finish();
}

/// The families in their order: through prometheus-client up to the IPVS services, the
/// real servers' straight into the text (see [`text`]), then the rest through
/// prometheus-client again, and the end marker.
fn encode_parts<W: OutputText>(
    snapshot: &Arc<Snapshot>,
    options: &EncodeOptions,
    writer: &mut W,
) -> fmt::Result {
    use prometheus_client::encoding::text::{encode_eof, encode_registry};
    let registry = |part| {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(SnapshotCollector {
            snapshot: Arc::clone(snapshot),
            options: options.clone(),
            part,
        }));
        registry
    };
    encode_registry(writer, &registry(Part::UpToServices))?;
    let classic = writer.start_own_format();
    ipvs::write_backends(
        snapshot,
        options,
        &mut text::FamilyText::new(writer, classic),
    )?;
    writer.end_own_format();
    encode_registry(writer, &registry(Part::AfterRealServers))?;
    encode_eof(writer)
}

/// Where the text goes. It is OpenMetrics text, converted to the classic format on its way
/// out when that was asked for, except between [`OutputText::start_own_format`] and
/// [`OutputText::end_own_format`], where the text is written in the output's own format.
trait OutputText: fmt::Write + text::LineOutput {
    /// From here the text is written in the output's own format; returns whether that is
    /// the classic one.
    fn start_own_format(&mut self) -> bool;
    /// From here the text is OpenMetrics again.
    fn end_own_format(&mut self);
}

/// OpenMetrics text, whole (tests).
impl OutputText for String {
    fn start_own_format(&mut self) -> bool {
        false
    }
    fn end_own_format(&mut self) {}
}

/// Encodes a snapshot into one string (tests, benchmarks, small outputs).
pub fn encode(snapshot: Arc<Snapshot>, format: Format, options: &EncodeOptions) -> String {
    let mut text = String::new();
    encode_chunks(snapshot, format, options, &mut |chunk| {
        text.push_str(&chunk);
        true
    });
    text
}

/// Collects what the encoder writes and hands it on in chunks that end at a line's end.
struct ChunkWriter<'a> {
    buffer: String,
    classic: Option<ClassicConverter>,
    sink: &'a mut dyn FnMut(String) -> bool,
    stopped: bool,
    /// Whether the buffer holds text written in the classic format already, which the
    /// converter leaves alone.
    written_classic: bool,
}

impl OutputText for ChunkWriter<'_> {
    fn start_own_format(&mut self) -> bool {
        let classic = self.classic.is_some();
        self.written_classic_from_here(classic);
        classic
    }

    fn end_own_format(&mut self) {
        self.written_classic_from_here(false);
    }
}

impl ChunkWriter<'_> {
    /// Says whether the text written from here is classic already; what is buffered goes on
    /// first, as it was written.
    fn written_classic_from_here(&mut self, classic: bool) {
        if self.written_classic != classic {
            if !self.stopped {
                self.hand_on(false);
            }
            self.written_classic = classic;
        }
    }

    fn hand_on(&mut self, last: bool) {
        let converter = self.classic.as_mut().filter(|_| !self.written_classic);
        let chunk = match converter {
            // The converted text goes on; the encoder's buffer is kept for the next chunk.
            Some(converter) => {
                let mut converted = converter.convert(&self.buffer);
                if last {
                    converted.push_str(&converter.finish());
                }
                self.buffer.clear();
                converted
            }
            None => std::mem::replace(&mut self.buffer, String::with_capacity(CHUNK_BYTES + 4096)),
        };
        if !chunk.is_empty() && !(self.sink)(chunk) {
            self.stopped = true;
        }
    }

    fn finish(mut self) {
        if !self.stopped {
            self.hand_on(true);
        }
    }
}

impl fmt::Write for ChunkWriter<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if self.stopped {
            return Err(fmt::Error);
        }
        self.buffer.push_str(s);
        text::LineOutput::lines_written(self)
    }
}

impl text::LineOutput for ChunkWriter<'_> {
    fn line_buffer(&mut self) -> &mut String {
        &mut self.buffer
    }

    fn lines_written(&mut self) -> fmt::Result {
        if self.stopped {
            return Err(fmt::Error);
        }
        if self.buffer.len() >= CHUNK_BYTES && self.buffer.ends_with('\n') {
            self.hand_on(false);
        }
        Ok(())
    }
}

/// Which families of a snapshot a collector writes: those before the real servers', or those
/// after them.
#[derive(Debug, Clone, Copy)]
enum Part {
    UpToServices,
    AfterRealServers,
}

#[derive(Debug)]
struct SnapshotCollector {
    snapshot: Arc<Snapshot>,
    options: EncodeOptions,
    part: Part,
}

impl Collector for SnapshotCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), fmt::Error> {
        let (snapshot, options) = (&self.snapshot, &self.options);
        match self.part {
            Part::UpToServices => ipvs::encode(snapshot, options, &mut encoder),
            Part::AfterRealServers => {
                conntrack::encode(snapshot, &mut encoder)?;
                softnet::encode(snapshot, &mut encoder)?;
                netdev::encode(snapshot, &mut encoder)?;
                ethtool::encode(snapshot, &mut encoder)?;
                advisor::encode(snapshot, &options.advice, &mut encoder)?;
                keepalived::encode(snapshot, &mut encoder)?;
                keepalived_health::encode(snapshot, &mut encoder)?;
                scrape::encode(snapshot, &mut encoder)
            }
        }
    }
}

/// A label set that can tell whether it is empty, so that a series without labels is written
/// as `name value` rather than `name{} value`.
pub(crate) trait SeriesLabels: EncodeLabelSet {
    fn is_empty(&self) -> bool;
}

impl<T: EncodeLabel, const N: usize> SeriesLabels for [T; N] {
    fn is_empty(&self) -> bool {
        N == 0
    }
}

impl<T: EncodeLabel> SeriesLabels for &[T] {
    fn is_empty(&self) -> bool {
        <[T]>::is_empty(self)
    }
}

impl<A: SeriesLabels, B: SeriesLabels> SeriesLabels for (A, B) {
    fn is_empty(&self) -> bool {
        self.0.is_empty() && self.1.is_empty()
    }
}

/// Label pairs rendered to text once (`a="x",b="y"`, values escaped) and written whole into
/// every series that carries them. A director with 20,000 real servers has 17 families of
/// 20,000 series with six labels each; written pair by pair, labels take most of a scrape.
///
/// The text encoder writes a label as `key="value"`: the block up to its last value goes
/// through the key writer, and the last value through the value writer, which escapes it.
/// `rendered_labels_are_written_like_plain_pairs` checks the result byte for byte.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct RenderedLabels {
    /// `a="x",b` for pairs (a, x), (b, y).
    head: String,
    /// `y`, unescaped.
    last_value: String,
}

impl RenderedLabels {
    pub fn new<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        RenderedLabels::default().extended(pairs)
    }

    /// These labels followed by more pairs.
    pub fn extended<'a>(&self, pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let mut head = String::with_capacity(self.head.len() + self.last_value.len() + 64);
        head.push_str(&self.head);
        let mut last_value = self.last_value.as_str();
        let mut last_key_written = !self.head.is_empty();
        for (key, value) in pairs {
            if last_key_written {
                head.push_str("=\"");
                escape_label_value(&mut head, last_value);
                head.push_str("\",");
            }
            head.push_str(key);
            last_value = value;
            last_key_written = true;
        }
        RenderedLabels {
            head,
            last_value: last_value.to_string(),
        }
    }
}

fn escape_label_value(out: &mut String, value: &str) {
    if !value.bytes().any(|b| matches!(b, b'\\' | b'"' | b'\n')) {
        out.push_str(value);
        return;
    }
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            other => out.push(other),
        }
    }
}

impl RenderedLabels {
    /// Appends these labels to a series' line as the text encoder writes them
    /// (see [`text::FamilyText`]): after a comma unless they are the line's first.
    pub fn push_to(&self, line: &mut String) {
        if self.head.is_empty() {
            return;
        }
        if !line.ends_with('{') {
            line.push(',');
        }
        line.push_str(&self.head);
        line.push_str("=\"");
        escape_label_value(line, &self.last_value);
        line.push('"');
    }
}

impl EncodeLabelSet for &RenderedLabels {
    fn encode(&self, encoder: &mut LabelSetEncoder) -> fmt::Result {
        if self.head.is_empty() {
            return Ok(());
        }
        let mut label = encoder.encode_label();
        let mut key = label.encode_label_key()?;
        key.write_str(&self.head)?;
        let mut value = key.encode_label_value()?;
        value.write_str(&self.last_value)?;
        value.finish()
    }
}

impl SeriesLabels for &RenderedLabels {
    fn is_empty(&self) -> bool {
        self.head.is_empty()
    }
}

/// Writes a gauge family from its series; writes nothing when there are none.
pub(crate) fn gauges<L, V>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    unit: Option<Unit>,
    series: impl Iterator<Item = (L, V)>,
) -> fmt::Result
where
    L: SeriesLabels,
    V: prometheus_client::encoding::EncodeGaugeValue,
{
    let mut series = series.peekable();
    if series.peek().is_none() {
        return Ok(());
    }
    let mut metric = encoder.encode_descriptor(name, help, unit.as_ref(), MetricType::Gauge)?;
    for (labels, value) in series {
        if labels.is_empty() {
            metric.encode_gauge(&value)?;
        } else {
            metric.encode_family(&labels)?.encode_gauge(&value)?;
        }
    }
    Ok(())
}

/// Writes a counter family (`name` without `_total`); writes nothing when there are no series.
pub(crate) fn counters<L: SeriesLabels>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    unit: Option<Unit>,
    series: impl Iterator<Item = (L, u64)>,
) -> fmt::Result {
    let mut series = series.peekable();
    if series.peek().is_none() {
        return Ok(());
    }
    let mut metric = encoder.encode_descriptor(name, help, unit.as_ref(), MetricType::Counter)?;
    for (labels, value) in series {
        if labels.is_empty() {
            metric.encode_counter::<NoLabelSet, u64, u64>(&value, None)?;
        } else {
            metric
                .encode_family(&labels)?
                .encode_counter::<NoLabelSet, u64, u64>(&value, None)?;
        }
    }
    Ok(())
}

/// A label set with no labels.
pub(crate) const NO_LABELS: [(&str, &str); 0] = [];

/// Rewrites OpenMetrics text as the classic text format: counters are named with their
/// `_total` suffix in HELP and TYPE, and `# UNIT` and `# EOF` lines are dropped. Runs of
/// sample lines are copied whole: only comment lines are looked at. Text comes in chunks
/// that end at a line's end; a HELP line waits for its TYPE line across chunks.
#[derive(Debug, Default)]
pub struct ClassicConverter {
    pending_help: Option<String>,
}

impl ClassicConverter {
    pub fn convert(&mut self, openmetrics: &str) -> String {
        let mut classic = String::with_capacity(openmetrics.len() + 256);
        // Only lines that start with '#' are looked at: the text between two of them is
        // copied whole, found by searching for '#' rather than by walking every line.
        let mut run_start = 0;
        let mut search_from = 0;
        while let Some(found) = openmetrics
            .get(search_from..)
            .and_then(|rest| rest.find('#'))
        {
            let hash = search_from + found;
            let line_end = openmetrics
                .get(hash..)
                .and_then(|rest| rest.find('\n'))
                .map_or(openmetrics.len(), |n| hash + n + 1);
            search_from = line_end;
            if hash != 0 && openmetrics.as_bytes().get(hash - 1) != Some(&b'\n') {
                continue; // a '#' inside a sample line (a label value)
            }
            self.copy_samples(&mut classic, openmetrics.get(run_start..hash).unwrap_or(""));
            run_start = line_end;
            self.convert_comment(&mut classic, openmetrics.get(hash..line_end).unwrap_or(""));
        }
        self.copy_samples(&mut classic, openmetrics.get(run_start..).unwrap_or(""));
        classic
    }

    /// Copies a run of sample lines, after a HELP line still held back.
    fn copy_samples(&mut self, classic: &mut String, samples: &str) {
        if samples.is_empty() {
            return;
        }
        if let Some(help) = self.pending_help.take() {
            classic.push_str(&help);
        }
        classic.push_str(samples);
    }

    /// Rewrites one comment line (with its newline).
    fn convert_comment(&mut self, classic: &mut String, line: &str) {
        if line.starts_with("# HELP ") {
            if let Some(help) = self.pending_help.replace(line.to_string()) {
                classic.push_str(&help);
            }
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let help = self.pending_help.take();
            match rest.trim_end().strip_suffix(" counter") {
                Some(name) => {
                    if let Some(help_text) = help
                        .as_deref()
                        .and_then(|h| h.strip_prefix("# HELP "))
                        .and_then(|h| h.strip_prefix(name))
                    {
                        classic.push_str("# HELP ");
                        classic.push_str(name);
                        classic.push_str("_total");
                        classic.push_str(help_text);
                    }
                    classic.push_str("# TYPE ");
                    classic.push_str(name);
                    classic.push_str("_total counter\n");
                }
                None => {
                    if let Some(help) = help {
                        classic.push_str(&help);
                    }
                    classic.push_str(line);
                }
            }
        } else if !(line.starts_with("# UNIT ") || line.trim_end() == "# EOF") {
            if let Some(help) = self.pending_help.take() {
                classic.push_str(&help);
            }
            classic.push_str(line);
        }
    }

    /// What is still held back at the end of the text.
    pub fn finish(&mut self) -> String {
        self.pending_help.take().unwrap_or_default()
    }
}

/// Rewrites a whole OpenMetrics text as the classic format.
pub fn openmetrics_to_classic(openmetrics: &str) -> String {
    let mut converter = ClassicConverter::default();
    let mut classic = converter.convert(openmetrics);
    classic.push_str(&converter.finish());
    classic
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A plain, a rendered and an extended rendered series with the same labels.
    fn render_three_ways() -> String {
        #[derive(Debug)]
        struct One(String);
        impl Collector for One {
            fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), fmt::Error> {
                let pairs = [("a", "x"), ("b", self.0.as_str()), ("c", "1\\2")];
                gauges(&mut encoder, "t", "T.", None, std::iter::once((pairs, 1)))?;
                let rendered = RenderedLabels::new(pairs);
                gauges(
                    &mut encoder,
                    "r",
                    "R.",
                    None,
                    std::iter::once((&rendered, 1)),
                )?;
                let extra = [("d", "\"")];
                gauges(
                    &mut encoder,
                    "s",
                    "S.",
                    None,
                    std::iter::once(((&rendered, extra), 1)),
                )
            }
        }
        let mut registry = Registry::default();
        registry.register_collector(Box::new(One("quote \" and\nnewline".into())));
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &registry).expect("encodes");
        out
    }

    #[test]
    fn rendered_labels_are_written_like_plain_pairs() {
        let out = render_three_ways();
        let plain = out
            .lines()
            .find(|l| l.starts_with("t{"))
            .expect("plain series");
        let rendered = out
            .lines()
            .find(|l| l.starts_with("r{"))
            .expect("rendered series");
        assert_eq!(plain.strip_prefix('t'), rendered.strip_prefix('r'));
        assert!(plain.contains(r#"b="quote \" and\nnewline""#), "{plain}");
        let extended = out.lines().find(|l| l.starts_with("s{")).expect("extended");
        assert!(extended.ends_with(r#"c="1\\2",d="\""} 1"#), "{extended}");
    }

    #[test]
    fn classic_format_names_counters_with_their_suffix() {
        let om = "# HELP a_bytes Bytes in.\n# TYPE a_bytes counter\n# UNIT a_bytes bytes\n\
                  a_bytes_total{x=\"1\"} 5\n# HELP b A gauge.\n# TYPE b gauge\nb 1\n# EOF\n";
        assert_eq!(
            openmetrics_to_classic(om),
            "# HELP a_bytes_total Bytes in.\n# TYPE a_bytes_total counter\n\
             a_bytes_total{x=\"1\"} 5\n# HELP b A gauge.\n# TYPE b gauge\nb 1\n"
        );
    }

    #[test]
    fn classic_conversion_carries_help_across_chunks() {
        let mut converter = ClassicConverter::default();
        let mut out = converter.convert("# HELP a_bytes Bytes in.\n");
        out.push_str(&converter.convert("# TYPE a_bytes counter\na_bytes_total 5\n# EOF\n"));
        out.push_str(&converter.finish());
        assert_eq!(
            out,
            "# HELP a_bytes_total Bytes in.\n# TYPE a_bytes_total counter\na_bytes_total 5\n"
        );
    }

    #[test]
    fn chunks_end_at_line_ends_and_add_up_to_the_whole() {
        use crate::model::{Backend, ForwardMethod, IpvsTable, Service, ServiceKey};
        let service = |i: u32| Service {
            backends: (0..50u8)
                .map(|b| Backend::new([10, 1, 0, b].into(), 80, ForwardMethod::Masq))
                .collect(),
            ..Service::new(
                ServiceKey::FirewallMark {
                    mark: i,
                    family: None,
                },
                "rr",
            )
        };
        let snapshot = Arc::new(Snapshot {
            ipvs: Some(IpvsTable {
                services: (1..200).map(service).collect(),
                ..IpvsTable::default()
            }),
            ..Snapshot::default()
        });
        for format in [Format::Classic, Format::OpenMetrics] {
            let mut chunks = Vec::new();
            encode_chunks(
                Arc::clone(&snapshot),
                format,
                &EncodeOptions::default(),
                &mut |c| {
                    chunks.push(c);
                    true
                },
            );
            assert!(chunks.len() > 3, "{} chunks", chunks.len());
            assert!(chunks.iter().all(|c| c.ends_with('\n')));
            let whole = whole(&snapshot);
            let expected = match format {
                Format::OpenMetrics => whole,
                Format::Classic => openmetrics_to_classic(&whole),
            };
            assert_eq!(chunks.concat(), expected);
        }
        // A sink that stops early gets no more chunks.
        let mut calls = 0;
        encode_chunks(
            snapshot,
            Format::Classic,
            &EncodeOptions::default(),
            &mut |_| {
                calls += 1;
                false
            },
        );
        assert_eq!(calls, 1);
    }

    /// The OpenMetrics text in one piece, written without chunks.
    fn whole(snapshot: &Arc<Snapshot>) -> String {
        let mut out = String::new();
        encode_parts(snapshot, &EncodeOptions::default(), &mut out).expect("encodes");
        out
    }

    #[test]
    fn classic_format_keeps_label_values_that_look_like_comments() {
        let om = "# HELP c C.\n# TYPE c gauge\nc{v=\"# EOF\"} 1\nc{v=\"# UNIT c\"} 2\n# EOF\n";
        assert_eq!(
            openmetrics_to_classic(om),
            "# HELP c C.\n# TYPE c gauge\nc{v=\"# EOF\"} 1\nc{v=\"# UNIT c\"} 2\n"
        );
    }
}
