//! Test doubles for ipvs_exporter's integration tests and benches, kept out of the shipped
//! library: [`fake_kernel`] is a synthetic IPVS generic netlink peer, [`replay`] serves captured
//! netlink exchanges back. Both stand in for the kernel through the library's
//! [`Transport`](ipvs_exporter::netlink::socket::Transport) trait.

pub mod fake_kernel;
pub mod replay;

pub use fake_kernel::FakeIpvsKernel;
pub use replay::{Replay, read_capture, read_capture_file};

use ipvs_exporter::netlink::capture::{Exchange, Recording};
use ipvs_exporter::netlink::socket::TransportError;
use ipvs_exporter::source::ipvs_netlink::read_table;

/// The exchanges of one IPVS read of a synthetic table of `services` services with `dests` real
/// servers each, recorded so that a bench or test can replay them without the fake kernel's
/// cost of building replies.
pub fn recorded_synthetic_table(
    services: usize,
    dests: usize,
) -> Result<Vec<Exchange>, TransportError> {
    let mut recording = Recording {
        inner: FakeIpvsKernel::synthetic(services, dests),
        exchanges: Vec::new(),
    };
    read_table(&mut recording)?;
    Ok(recording.exchanges)
}
