//! The conntrack collector's I/O: the table's size from `sys/net/netfilter/nf_conntrack_*`
//! under `--path.procfs`, and the per-CPU statistics. A kernel without conntrack loaded has
//! none of these files: no data, not an error.

use std::path::PathBuf;

use super::{Collected, CollectedData, Collector, SourceError, read_optional};
use crate::model::conntrack::Conntrack;

pub struct ConntrackCollector {
    procfs: PathBuf,
}

impl ConntrackCollector {
    pub fn new(procfs: PathBuf) -> Self {
        ConntrackCollector { procfs }
    }
}

impl Collector for ConntrackCollector {
    fn name(&self) -> &'static str {
        "conntrack"
    }

    fn collect(&self) -> Result<Collected, SourceError> {
        let mut problems = Vec::new();
        let mut number = |file: &str| -> Result<Option<u64>, SourceError> {
            let path = self.procfs.join("sys/net/netfilter").join(file);
            Ok(
                read_optional(&path)?.and_then(|text| match text.trim().parse() {
                    Ok(value) => Some(value),
                    Err(_) => {
                        problems.push(format!(
                            "{}: not a number: {:?}",
                            path.display(),
                            text.trim()
                        ));
                        None
                    }
                }),
            )
        };
        let conntrack = Conntrack {
            entries: number("nf_conntrack_count")?,
            limit: number("nf_conntrack_max")?,
            buckets: number("nf_conntrack_buckets")?,
            ..Conntrack::default()
        };
        if conntrack.entries.is_none() && conntrack.limit.is_none() {
            return Ok(Collected {
                data: CollectedData::NoData {
                    reason: "no connection tracking (nf_conntrack not loaded)".to_string(),
                },
                problems,
            });
        }
        Ok(Collected {
            data: CollectedData::Conntrack(Box::new(conntrack)),
            problems,
        })
    }
}
