//! The `healthcheck` subcommand's probe: `GET /readyz` over a plain blocking TCP
//! connection, so container images need no curl.
//!
//! One technique for every binary: blocking `std::net`, because a probe runs once and
//! exits, needs neither a runtime nor an HTTP client, and reads only the status line.

use std::io::{Read as _, Write as _};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::time::Duration;

/// Why the service is not (known to be) ready.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// No connection, or the connection failed or timed out mid-way.
    #[error("no answer from {addr}: {source}")]
    Unreachable {
        /// The address probed.
        addr: SocketAddr,
        /// What failed.
        source: std::io::Error,
    },
    /// An answer other than `200`.
    #[error("{addr}/readyz answered {status_line:?}")]
    NotReady {
        /// The address probed.
        addr: SocketAddr,
        /// The answer's first line (empty if the connection closed without one).
        status_line: String,
    },
}

/// Succeeds when `GET /readyz` of the service listening on `listen` answers `200` within
/// `timeout` (per step). A wildcard listen address (`0.0.0.0`, `::`) is probed on loopback,
/// so the same `LISTEN` setting serves the service and its probe.
pub fn probe(listen: SocketAddr, timeout: Duration) -> Result<(), ProbeError> {
    let mut addr = listen;
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr.ip() {
            IpAddr::V4(_) => Ipv4Addr::LOCALHOST.into(),
            IpAddr::V6(_) => Ipv6Addr::LOCALHOST.into(),
        });
    }
    let unreachable = |source| ProbeError::Unreachable { addr, source };
    let head = read_status_line(addr, timeout).map_err(unreachable)?;
    let status_line = String::from_utf8_lossy(&head)
        .lines()
        .next()
        .unwrap_or("")
        .to_owned();
    if status_line.split_whitespace().nth(1) == Some("200") {
        Ok(())
    } else {
        Err(ProbeError::NotReady { addr, status_line })
    }
}

/// Sends the request and reads until the end of the first line (or 4 KiB, or EOF).
fn read_status_line(addr: SocketAddr, timeout: Duration) -> std::io::Result<Vec<u8>> {
    let mut stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    // One write of the whole request: `write!` would send it in pieces, and a server that
    // answers after the first piece and closes would fail the later ones (EPIPE).
    let request = format!("GET /readyz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes())?;
    let mut head = Vec::new();
    let mut buf = [0u8; 256];
    while !head.contains(&b'\n') && head.len() < 4096 {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    Ok(head)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    /// A one-shot server answering `answer` to the first connection.
    fn answering(answer: &'static str) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            // Read the whole request head before answering, as an HTTP server does.
            let mut head = Vec::new();
            let mut buf = [0u8; 512];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match conn.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => head.extend_from_slice(&buf[..n]),
                }
            }
            let _ = conn.write_all(answer.as_bytes());
        });
        addr
    }

    #[test]
    fn ready_only_on_200() {
        let timeout = Duration::from_secs(3);
        assert!(probe(answering("HTTP/1.1 200 OK\r\n\r\n"), timeout).is_ok());
        let err = probe(
            answering("HTTP/1.1 503 Service Unavailable\r\n\r\n"),
            timeout,
        );
        assert!(matches!(err, Err(ProbeError::NotReady { .. })), "{err:?}");
        let closed = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        assert!(matches!(
            probe(closed, timeout),
            Err(ProbeError::Unreachable { .. })
        ));
    }

    #[test]
    fn wildcard_addresses_probe_loopback() {
        let addr = answering("HTTP/1.1 200 OK\r\n\r\n");
        let wildcard = SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), addr.port());
        assert!(probe(wildcard, Duration::from_secs(3)).is_ok());
    }
}
