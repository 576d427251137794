//! Kernel settings the advisor checks, by their dotted sysctl names.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Values of the sysctls the advisor reads, by dotted name (`net.ipv4.ip_forward`,
/// `net.ipv4.conf.eth0.arp_ignore`), as the kernel prints them (trimmed). A key the kernel
/// does not have is absent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Sysctls {
    pub values: BTreeMap<String, String>,
}

impl Sysctls {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(String::as_str)
    }

    /// A value that is a whole number.
    pub fn number(&self, key: &str) -> Option<i64> {
        self.get(key).and_then(|v| v.trim().parse().ok())
    }
}
