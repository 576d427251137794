//! The softnet collector's I/O: `net/softnet_stat` under `--path.procfs`.

use std::path::PathBuf;

use super::text_file::{PER_CPU_FILE_BYTES, read_text};
use super::{
    Collected, CollectedData, Collector, CollectorOptions, CollectorSpec, Paths, SourceError,
};
use crate::parse::softnet::parse_softnet_stat;

pub struct SoftnetCollector {
    procfs: PathBuf,
}

impl SoftnetCollector {
    pub fn new(procfs: PathBuf) -> Self {
        SoftnetCollector { procfs }
    }
}

/// The `softnet` collector, as [`COLLECTORS`](super::COLLECTORS) lists it.
pub const COLLECTOR: CollectorSpec = CollectorSpec {
    name: "softnet",
    help: "per-CPU packet processing from /proc/net/softnet_stat",
    enabled_by_default: true,
    build: build_collector,
};

fn build_collector(paths: &Paths, _options: &CollectorOptions) -> Box<dyn Collector> {
    Box::new(SoftnetCollector::new(paths.procfs.clone()))
}

impl Collector for SoftnetCollector {
    fn collect(&self) -> Result<Collected, SourceError> {
        let path = self.procfs.join("net/softnet_stat");
        let Some(text) = read_text(&path, PER_CPU_FILE_BYTES)? else {
            return Ok(Collected {
                data: CollectedData::NoData {
                    reason: format!("{} does not exist", path.display()),
                },
                problems: Vec::new(),
            });
        };
        let parsed = parse_softnet_stat(&text);
        Ok(Collected {
            data: CollectedData::Softnet(parsed.value),
            problems: parsed
                .problems
                .iter()
                .map(|p| format!("{}: {p}", path.display()))
                .collect(),
        })
    }
}

impl super::SnapshotPart for Vec<crate::model::softnet::SoftnetCpu> {
    fn store(self, snapshot: &mut crate::model::snapshot::Snapshot) {
        snapshot.softnet = self;
    }
}
