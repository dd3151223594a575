//! The harness starts a real nats-server that accepts connections and can be killed.

use std::net::TcpStream;
use std::time::Duration;

use test_support::NatsServer;

#[test]
fn nats_server_starts_on_a_free_port_and_dies_on_kill() {
    let mut nats = NatsServer::start().expect("nats-server starts (scripts/test installs it)");
    let addr = nats.process().addr();
    assert!(nats.url().starts_with("nats://127.0.0.1:"));
    assert!(TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok());
    nats.process().kill();
    assert!(!nats.process().is_running());
}
