//! Stopping, on real processes: every binary that talks to NATS (zone-server,
//! server-manager) exits on SIGTERM whatever state NATS is in (never reachable, or up at
//! start and then killed). The bounds are generous on purpose (a
//! loaded 2-core machine): what is asserted is that everything stops by itself, not how
//! fast; the times are printed (`--nocapture` shows them).
#![allow(clippy::print_stdout)]

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use test_support::{
    ManagedProcess, NatsServer, ProcessSpec, binary, free_addr, wait_for, wait_ready,
};

/// How long a process may take to exit after SIGTERM before the test calls it a hang.
const STOPS_WITHIN: Duration = Duration::from_secs(15);

/// A NATS URL where nothing listens.
fn unreachable_nats() -> String {
    format!("nats://{}", free_addr().expect("a free port"))
}

/// An HTTP base URL where nothing listens (the APIs, which these tests do not need).
fn nowhere() -> String {
    format!("http://{}", free_addr().expect("a free port"))
}

fn zone_server(nats_url: &str, dir: &Path) -> ManagedProcess {
    let addr = free_addr().expect("a free port");
    let spec = ProcessSpec::new(
        "zone-server",
        binary("zone-server").expect("zone-server"),
        addr,
    )
    .args([
        "--listen",
        &addr.to_string(),
        "--nats-url",
        nats_url,
        "--character-api",
        &nowhere(),
        "--quest-api",
        &nowhere(),
        "--service-token",
        "t",
    ]);
    ManagedProcess::start(spec, dir).expect("zone-server starts")
}

fn server_manager(nats_url: &str, dir: &Path) -> ManagedProcess {
    let addr = free_addr().expect("a free port");
    let program = binary("server-manager").expect("server-manager");
    let data = dir.join("manager-data").display().to_string();
    let spec = ProcessSpec::new("server-manager", program, addr).args([
        "--listen",
        &addr.to_string(),
        "--data-dir",
        &data,
        "--nats-url",
        nats_url,
        "--character-api",
        &nowhere(),
        "--service-token",
        "t",
        "--jwt-secret",
        "j",
        "--admin-token",
        "a",
    ]);
    ManagedProcess::start(spec, dir).expect("server-manager starts")
}

/// Sends SIGTERM and asserts the process exits, successfully, by itself.
fn assert_stops(process: &mut ManagedProcess, what: &str) {
    let started = Instant::now();
    let status = process.terminate(STOPS_WITHIN);
    let log = process.log();
    let status = status.unwrap_or_else(|| {
        panic!("{what}: still running {STOPS_WITHIN:?} after SIGTERM (killed); its log:\n{log}")
    });
    println!("{what}: exited {:?} after SIGTERM", started.elapsed());
    assert!(
        status.success(),
        "{what}: exited with {status}; its log:\n{log}"
    );
}

/// Waits until the process's `/readyz` stops answering 200 (it noticed NATS is gone).
async fn wait_not_ready(addr: SocketAddr) {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .expect("an HTTP client");
    let url = format!("http://{addr}/readyz");
    wait_for(
        "not ready once NATS is gone",
        Duration::from_secs(30),
        async || {
            http.get(&url)
                .send()
                .await
                .is_ok_and(|r| r.status() != reqwest::StatusCode::OK)
        },
    )
    .await;
}

#[test]
fn zone_server_stops_on_sigterm_while_nats_was_never_reachable() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let mut zone = zone_server(&unreachable_nats(), dir.path());
    // Long enough for the zones' registrations and heartbeats to queue up behind the
    // connection that never comes.
    std::thread::sleep(Duration::from_secs(2));
    assert_stops(&mut zone, "zone-server, NATS never reachable");
}

#[tokio::test(flavor = "multi_thread")]
async fn zone_server_stops_on_sigterm_after_nats_went_away() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let mut nats = NatsServer::start().expect("nats-server starts");
    let mut zone = zone_server(&nats.url(), dir.path());
    wait_ready(&format!("http://{}", zone.addr())).await;
    nats.process().kill();
    wait_not_ready(zone.addr()).await;
    tokio::task::spawn_blocking(move || assert_stops(&mut zone, "zone-server, NATS killed"))
        .await
        .expect("join");
}

#[test]
fn server_manager_stops_on_sigterm_while_nats_was_never_reachable() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let mut manager = server_manager(&unreachable_nats(), dir.path());
    std::thread::sleep(Duration::from_secs(2));
    assert_stops(&mut manager, "server-manager, NATS never reachable");
}

#[tokio::test(flavor = "multi_thread")]
async fn server_manager_stops_on_sigterm_after_nats_went_away() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let mut nats = NatsServer::start().expect("nats-server starts");
    let mut manager = server_manager(&nats.url(), dir.path());
    wait_ready(&format!("http://{}", manager.addr())).await;
    nats.process().kill();
    wait_not_ready(manager.addr()).await;
    tokio::task::spawn_blocking(move || assert_stops(&mut manager, "server-manager, NATS killed"))
        .await
        .expect("join");
}
