//! Listening sockets and the file-descriptor budget: `:PORT` is one IPv6 socket that also
//! takes IPv4 (IPV6_V6ONLY off, whatever `net.ipv6.bindv6only` says), or IPv4 alone on a host
//! without IPv6; the soft RLIMIT_NOFILE is raised to the hard one at start, and the
//! connection cap is sized from what is left.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};

use anyhow::{Context, bail};
use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::TcpListener;

/// Pending connections the kernel queues before `accept`.
const BACKLOG: i32 = 1024;

/// File descriptors kept back from the connection cap: collectors' files and netlink
/// sockets, the listeners, logging.
pub const RESERVED_FDS: u64 = 64;

/// The default connection cap when the descriptor budget allows more.
pub const DEFAULT_MAX_CONNECTIONS: u64 = 1024;

/// Raises the soft RLIMIT_NOFILE to the hard limit (as Go programs do) and returns the
/// resulting soft limit.
pub fn raise_nofile_limit() -> u64 {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, hard)) => {
            if soft < hard {
                match setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
                    Ok(()) => return hard,
                    Err(err) => {
                        tracing::warn!(error = %err, soft, hard, "cannot raise the open-files limit")
                    }
                }
            }
            soft
        }
        Err(err) => {
            tracing::warn!(error = %err, "cannot read the open-files limit");
            1024
        }
    }
}

/// The connection cap for a soft open-files limit: what is left after the reserve, at
/// most [`DEFAULT_MAX_CONNECTIONS`], at least 8.
pub fn connection_cap(nofile: u64) -> usize {
    let budget = nofile
        .saturating_sub(RESERVED_FDS)
        .clamp(8, DEFAULT_MAX_CONNECTIONS);
    usize::try_from(budget).unwrap_or(8)
}

/// Binds `host:port`; `:port` means every address, IPv6 and IPv4.
pub fn bind(address: &str) -> anyhow::Result<TcpListener> {
    if let Some(port) = address.strip_prefix(':') {
        let port: u16 = port
            .parse()
            .with_context(|| format!("bad port in listen address {address:?}"))?;
        return match bind_one(SocketAddr::from((Ipv6Addr::UNSPECIFIED, port)), true) {
            Ok(listener) => Ok(listener),
            Err(v6_error) => {
                tracing::warn!(error = %v6_error, "no dual-stack IPv6 socket; listening on IPv4 only");
                bind_one(SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)), false)
                    .with_context(|| format!("cannot listen on {address} (IPv6: {v6_error})"))
            }
        };
    }
    let candidates: Vec<SocketAddr> = address
        .to_socket_addrs()
        .with_context(|| format!("bad listen address {address:?} (expected host:port)"))?
        .collect();
    let mut last_error = None;
    for candidate in candidates {
        match bind_one(candidate, false) {
            Ok(listener) => return Ok(listener),
            Err(err) => last_error = Some((candidate, err)),
        }
    }
    match last_error {
        Some((candidate, err)) => Err(err).with_context(|| format!("cannot listen on {candidate}")),
        None => bail!("listen address {address:?} resolves to nothing"),
    }
}

fn bind_one(address: SocketAddr, dual_stack: bool) -> std::io::Result<TcpListener> {
    let socket = Socket::new(
        Domain::for_address(address),
        Type::STREAM,
        Some(Protocol::TCP),
    )?;
    if address.is_ipv6() {
        // Explicit either way: the sysctl net.ipv6.bindv6only must not decide.
        socket.set_only_v6(!dual_stack)?;
    }
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.set_cloexec(true)?;
    socket.bind(&address.into())?;
    socket.listen(BACKLOG)?;
    TcpListener::from_std(socket.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cap_follows_the_descriptor_budget() {
        assert_eq!(connection_cap(1024), 960);
        assert_eq!(connection_cap(524_288), 1024);
        assert_eq!(connection_cap(10), 8);
    }

    #[tokio::test]
    async fn port_only_takes_ipv4_and_ipv6() {
        let listener = bind(":0").expect("bind");
        let port = listener.local_addr().expect("address").port();
        for target in [
            SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
            SocketAddr::from((Ipv6Addr::LOCALHOST, port)),
        ] {
            // Hosts without IPv6 on loopback cannot check the IPv6 half.
            if target.is_ipv6() && std::net::UdpSocket::bind((Ipv6Addr::LOCALHOST, 0)).is_err() {
                continue;
            }
            let client = tokio::net::TcpStream::connect(target);
            let (connected, accepted) = tokio::join!(client, listener.accept());
            connected.unwrap_or_else(|e| panic!("connect {target}: {e}"));
            accepted.expect("accept");
        }
    }
}
