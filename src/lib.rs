//! ipvs_exporter: a Prometheus exporter and tuning advisor for Linux IPVS load balancers.
//!
//! Data flows one way: [`source`] reads the kernel into [`model`] types, [`snapshot`] gathers
//! them, and [`metrics`], [`advisor`] and [`report`] turn a snapshot into output. The readers
//! ([`source`], [`netlink::socket`]) and the server and commands ([`web`], [`http`], [`app`])
//! do I/O; parsing, the model, the advisor and the encoders are pure. docs/ARCHITECTURE.md has
//! the layer order, which `tests/layering.rs` enforces.

// Unit tests build small synthetic tables with narrowing casts; outside tests the lint holds.
#![cfg_attr(test, allow(clippy::cast_possible_truncation))]

pub mod advisor;
pub mod app;
pub mod cli;
pub mod exit_codes;
pub mod fleet;
pub mod logging;
pub mod manual;
pub mod metrics;
pub mod model;
pub mod netlink;
pub mod parse;
pub mod report;
pub mod snapshot;
pub mod source;
#[cfg(test)]
mod testing;
pub mod wait_drained;
pub mod web;

/// Build facts for `ipvs_exporter_build_info` and `--version`.
pub mod build {
    pub const VERSION: &str = env!("CARGO_PKG_VERSION");
    pub const REVISION: &str = env!("IPVS_EXPORTER_REVISION");
    pub const RUST_VERSION: &str = env!("IPVS_EXPORTER_RUST_VERSION");
}
