//! Going back to the nearest NATS node. A process lists its own host's node first; when
//! that node dies it fails over to another host's and, left alone, stays there once its own
//! is back — so a later partition of that other host cuts it off too, though its own host
//! is fine. While the client is on another server than the first one listed, it checks
//! every few seconds whether the first accepts connections again, and if so reconnects
//! (the list is tried in order: the first one first). A reconnect is a failover like any
//! other: subscriptions are renewed and requests in flight sent again.
//!
//! The server the client is on is known by the address it advertises (`INFO`'s host and
//! port). Where that says nothing (a node listening on every interface, as in a container)
//! nothing is done: every node is as near as any other there.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use async_nats::{Client, ServerAddr};

use super::Outage;

/// How often the client checks which server it is on.
const CHECK_EVERY: Duration = Duration::from_secs(5);
/// After a reconnect, how long before another may be tried (a node that accepts TCP but
/// not yet clients must not make the client bounce).
const AT_MOST_EVERY: Duration = Duration::from_secs(30);
/// How long the first server has to accept a TCP connection.
const PROBE_TIMEOUT: Duration = Duration::from_millis(500);

/// Keeps `client` on `nearest` whenever it is up, for as long as the process lives
/// (`outage` is told a reconnect is the client's own doing, not a failover).
pub(super) fn spawn(client: Client, nearest: ServerAddr, outage: Outage) {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(CHECK_EVERY);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            if client.connection_state() != async_nats::connection::State::Connected {
                continue;
            }
            let info = client.server_info();
            let Some(nearest) = addresses(&nearest).await else {
                continue;
            };
            if !is_elsewhere(&info.host, info.port, &nearest) || !accepts(&nearest).await {
                continue;
            }
            tracing::info!(
                on = %format!("{}:{}", info.host, info.port),
                "the nearest NATS node is back: reconnecting to it"
            );
            metrics::counter!("nats_failbacks_total").increment(1);
            outage.plan();
            if let Err(e) = client.force_reconnect().await {
                tracing::warn!(error = %e, "cannot reconnect to the nearest NATS node");
            }
            tokio::time::sleep(AT_MOST_EVERY).await;
        }
    });
}

/// The socket addresses `server` names (resolved; `None` if it cannot be now).
async fn addresses(server: &ServerAddr) -> Option<Vec<SocketAddr>> {
    let found: Vec<SocketAddr> = tokio::net::lookup_host((server.host(), server.port()))
        .await
        .ok()?
        .collect();
    (!found.is_empty()).then_some(found)
}

/// Whether the server advertising `host:port` is known to be another than `nearest`:
/// false when it is one of them, or when the advertised host says nothing (a name, or
/// every interface).
fn is_elsewhere(host: &str, port: u16, nearest: &[SocketAddr]) -> bool {
    let Ok(ip) = host.parse::<IpAddr>() else {
        return false;
    };
    if ip.is_unspecified() {
        return false;
    }
    !nearest.contains(&SocketAddr::new(ip, port))
}

/// Whether any of `addresses` accepts a TCP connection now.
async fn accepts(addresses: &[SocketAddr]) -> bool {
    for addr in addresses {
        let attempt = tokio::time::timeout(PROBE_TIMEOUT, tokio::net::TcpStream::connect(addr));
        if matches!(attempt.await, Ok(Ok(_))) {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_server_known_to_be_another_is_elsewhere() {
        let nearest = ["10.0.1.2:4222".parse().unwrap()];
        assert!(!is_elsewhere("10.0.1.2", 4222, &nearest));
        assert!(is_elsewhere("10.0.2.2", 4222, &nearest));
        assert!(is_elsewhere("10.0.1.2", 4223, &nearest));
        assert!(!is_elsewhere("0.0.0.0", 4222, &nearest), "every interface");
        assert!(!is_elsewhere("::", 4222, &nearest), "every interface");
        assert!(!is_elsewhere("nats-2", 4222, &nearest), "a name");
    }
}
