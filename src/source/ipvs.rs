//! The IPVS collector's I/O: reads `net/ip_vs` and `net/ip_vs_stats` under `--path.procfs`.
//! A missing `net/ip_vs` means the kernel has no IPVS loaded: no data, not an error.

use std::path::PathBuf;

use super::{Collected, CollectedData, Collector, SourceError, read_optional};
use crate::model::IpvsTable;
use crate::parse::ipvs_proc::{parse_ip_vs, parse_ip_vs_stats};

/// Reads the IPVS tables from procfs.
#[derive(Debug, Clone)]
pub struct ProcfsIpvs {
    procfs: PathBuf,
}

impl ProcfsIpvs {
    pub fn new(procfs: PathBuf) -> Self {
        ProcfsIpvs { procfs }
    }
}

impl Collector for ProcfsIpvs {
    fn name(&self) -> &'static str {
        "ipvs"
    }

    fn collect(&self) -> Result<Collected, SourceError> {
        let table_path = self.procfs.join("net/ip_vs");
        let Some(table_text) = read_optional(&table_path)? else {
            return Ok(Collected {
                data: CollectedData::NoData {
                    reason: format!("{} does not exist (ip_vs not loaded)", table_path.display()),
                },
                problems: Vec::new(),
            });
        };
        let mut problems = Vec::new();
        let table = parse_ip_vs(&table_text);
        problems.extend(
            table
                .problems
                .iter()
                .map(|p| format!("{}: {p}", table_path.display())),
        );

        let stats_path = self.procfs.join("net/ip_vs_stats");
        let stats = match read_optional(&stats_path)? {
            Some(text) => {
                let stats = parse_ip_vs_stats(&text);
                problems.extend(
                    stats
                        .problems
                        .iter()
                        .map(|p| format!("{}: {p}", stats_path.display())),
                );
                stats.value
            }
            None => {
                problems.push(format!("{} does not exist", stats_path.display()));
                Default::default()
            }
        };

        Ok(Collected {
            data: CollectedData::Ipvs(IpvsTable {
                version: table.value.version,
                connection_table_buckets: table.value.connection_table_buckets,
                totals: stats.totals,
                total_rates: stats.rates,
                services: table.value.services,
            }),
            problems,
        })
    }
}
