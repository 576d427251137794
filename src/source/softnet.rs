//! The softnet collector's I/O: `net/softnet_stat` under `--path.procfs`.

use std::path::PathBuf;

use super::{Collected, CollectedData, Collector, SourceError, read_optional};
use crate::parse::softnet::parse_softnet_stat;

pub struct SoftnetCollector {
    procfs: PathBuf,
}

impl SoftnetCollector {
    pub fn new(procfs: PathBuf) -> Self {
        SoftnetCollector { procfs }
    }
}

impl Collector for SoftnetCollector {
    fn name(&self) -> &'static str {
        "softnet"
    }

    fn collect(&self) -> Result<Collected, SourceError> {
        let path = self.procfs.join("net/softnet_stat");
        let Some(text) = read_optional(&path)? else {
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
