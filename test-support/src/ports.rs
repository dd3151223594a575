//! Free loopback ports for servers under test, and whether one accepts connections yet.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

/// A free loopback port, found by binding port 0 and letting it go.
///
/// Another process could take it before the caller binds it; callers that start servers
/// retry (see [`crate::NatsOptions::start`] and [`crate::ServiceOptions::start`]) rather
/// than trusting it blindly.
pub fn free_port() -> std::io::Result<u16> {
    Ok(free_addr()?.port())
}

/// A free loopback address (`127.0.0.1:<free port>`); see [`free_port`] for its caveat.
pub fn free_addr() -> std::io::Result<SocketAddr> {
    TcpListener::bind("127.0.0.1:0")?.local_addr()
}

/// Whether `addr` accepts a TCP connection right now (a server that listens is up, if not
/// necessarily ready).
pub(crate) fn accepts(addr: SocketAddr) -> bool {
    TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok()
}
