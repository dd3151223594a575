//! The binary's subcommands: `token` mints a join token the manager accepts, and
//! `healthcheck` exits 0 only when the manager's /readyz says ready.

mod support;

use std::process::Command;
use std::time::Duration;

use protocol::AccountId;
use support::*;
use test_support::{NatsServer, wait_ready};

const BIN: &str = env!("CARGO_BIN_EXE_server-manager");

#[test]
fn token_mints_a_join_token_for_the_account() {
    let account = AccountId::new_random();
    let out = Command::new(BIN)
        .args(["token", "--account", &account.to_string(), "--ttl", "10m"])
        .env("JWT_SECRET", JWT_SECRET)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        server_manager::auth::verify(JWT_SECRET.as_bytes(), token.trim()),
        Ok(account)
    );
    // Without a secret it refuses, and says why.
    let out = Command::new(BIN)
        .args(["token", "--account", &account.to_string()])
        .env_remove("JWT_SECRET")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("jwt-secret"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthcheck_follows_readiness() {
    let nats = NatsServer::start().unwrap();
    let logs = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let mut manager = manager_process(
        "manager",
        logs.path(),
        data.path(),
        &nats,
        "http://127.0.0.1:9",
        &[],
    );
    let listen = manager.addr().to_string();
    wait_ready(&format!("http://{listen}")).await;
    let probe = |listen: &str| {
        Command::new(BIN)
            .args(["healthcheck", "--listen", listen])
            .output()
            .unwrap()
            .status
            .success()
    };
    assert!(probe(&listen));
    manager
        .terminate(Duration::from_secs(10))
        .expect("stops on SIGTERM");
    assert!(!probe(&listen));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_the_manager_even_with_nats_gone() {
    let mut nats = NatsServer::start().unwrap();
    let logs = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let mut manager = manager_process(
        "manager",
        logs.path(),
        data.path(),
        &nats,
        "http://127.0.0.1:9",
        &[],
    );
    wait_ready(&format!("http://{}", manager.addr())).await;
    nats.process().kill();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let status = manager
        .terminate(Duration::from_secs(10))
        .expect("the manager exits on SIGTERM while NATS is unreachable");
    assert!(status.success(), "{status:?}\n{}", manager.log());
}
