//! The `healthcheck` subcommand: probes a running server's `/readyz` with a bare HTTP/1.1
//! request, so container images need no curl.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::time::Duration;

use anyhow::{Context, bail};

/// Succeeds when `GET /readyz` on the server listening at `listen` answers 200. A wildcard
/// listen address (`0.0.0.0`, `::`) is probed on loopback.
pub fn probe(listen: SocketAddr, timeout: Duration) -> anyhow::Result<()> {
    let mut addr = listen;
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr.ip() {
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
        });
    }
    let mut stream = TcpStream::connect_timeout(&addr, timeout)
        .with_context(|| format!("connecting to {addr}"))?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    write!(
        stream,
        "GET /readyz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut head = [0u8; 64];
    let mut len = 0;
    while len < 12 {
        let n = stream
            .read(&mut head[len..])
            .context("reading the answer")?;
        if n == 0 {
            break;
        }
        len += n;
    }
    let status_line = String::from_utf8_lossy(&head[..len]);
    match status_line.split_whitespace().nth(1) {
        Some("200") => Ok(()),
        Some(status) => bail!("{addr}/readyz answered {status}"),
        None => bail!("{addr}/readyz gave no HTTP answer"),
    }
}
