//! The netlink layer, for all three protocols the exporter speaks: generic netlink (IPVS),
//! nfnetlink (ctnetlink) and rtnetlink. The kernel's numbers ([`uapi`]), the one encoder that
//! writes requests ([`encode`]) and the bounds-checked reader of replies ([`decode`]) are pure;
//! [`socket`] owns the sockets, and [`capture`] records exchanges and writes them down.

pub mod capture;
pub mod decode;
pub mod encode;
pub mod socket;
pub mod uapi;
