//! The netlink layer's pure parts: the kernel's numbers ([`uapi`]) and the one encoder that
//! writes netlink messages ([`encode`]) for generic netlink (IPVS), nfnetlink (ctnetlink) and
//! rtnetlink. Replies are read by [`crate::parse::netlink`]; sockets live in
//! [`crate::source::netlink`].

pub mod encode;
pub mod uapi;
