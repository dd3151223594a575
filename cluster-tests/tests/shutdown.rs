//! Stopping, on real processes: every binary that talks to NATS (zone-server,
//! server-manager) exits on SIGTERM whatever state NATS is in (never reachable, or up at
//! start and then killed), and the local cluster (`local-cluster`, the README's run
//! command) stops in order on a Ctrl-C sent to its whole process group, as a terminal
//! sends it, with every zone's saves confirmed. The bounds are generous on purpose (a
//! loaded 2-core machine): what is asserted is that everything stops by itself, not how
//! fast; the times are printed (`--nocapture` shows them).
#![allow(clippy::print_stdout)]

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use protocol::http::manager::AreaInfo;
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

/// `--nats-creds <file>` when there are credentials to give.
fn creds_args(creds: Option<&Path>) -> Vec<String> {
    creds
        .map(|c| vec!["--nats-creds".to_owned(), c.display().to_string()])
        .unwrap_or_default()
}

fn zone_server(nats_url: &str, creds: Option<&Path>, dir: &Path) -> ManagedProcess {
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
    ])
    .args(creds_args(creds));
    ManagedProcess::start(spec, dir).expect("zone-server starts")
}

fn server_manager(nats_url: &str, creds: Option<&Path>, dir: &Path) -> ManagedProcess {
    let addr = free_addr().expect("a free port");
    let program = binary("server-manager").expect("server-manager");
    let data = dir.join("manager-data").display().to_string();
    let spec = ProcessSpec::new("server-manager", program, addr)
        .args([
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
        ])
        .args(creds_args(creds));
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
    let mut zone = zone_server(&unreachable_nats(), None, dir.path());
    // Long enough for the zones' registrations and heartbeats to queue up behind the
    // connection that never comes.
    std::thread::sleep(Duration::from_secs(2));
    assert_stops(&mut zone, "zone-server, NATS never reachable");
}

#[tokio::test(flavor = "multi_thread")]
async fn zone_server_stops_on_sigterm_after_nats_went_away() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let mut nats = NatsServer::start().expect("nats-server starts");
    let mut zone = zone_server(&nats.url(), Some(&nats.creds("zone-1")), dir.path());
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
    let mut manager = server_manager(&unreachable_nats(), None, dir.path());
    std::thread::sleep(Duration::from_secs(2));
    assert_stops(&mut manager, "server-manager, NATS never reachable");
}

#[tokio::test(flavor = "multi_thread")]
async fn server_manager_stops_on_sigterm_after_nats_went_away() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let mut nats = NatsServer::start().expect("nats-server starts");
    let mut manager = server_manager(&nats.url(), Some(&nats.creds("manager")), dir.path());
    wait_ready(&format!("http://{}", manager.addr())).await;
    nats.process().kill();
    wait_not_ready(manager.addr()).await;
    tokio::task::spawn_blocking(move || assert_stops(&mut manager, "server-manager, NATS killed"))
        .await
        .expect("join");
}

/// The first `http://…` URL on the log's `dashboard:` line.
fn dashboard_url(log: &str) -> Option<String> {
    let line = log
        .lines()
        .find(|l| l.trim_start().starts_with("dashboard:"))?;
    let url = line.split_whitespace().nth(1)?;
    Some(url.trim_end_matches('/').to_owned())
}

/// Players in the cluster, by the manager's word (its operator API).
async fn players(http: &reqwest::Client, manager: &str) -> u32 {
    let Ok(answer) = http
        .get(format!("{manager}/v1/areas"))
        .bearer_auth("dev-admin-token")
        .send()
        .await
    else {
        return 0;
    };
    answer
        .json::<Vec<AreaInfo>>()
        .await
        .map_or(0, |areas| areas.iter().map(|a| a.players).sum())
}

#[tokio::test(flavor = "multi_thread")]
async fn local_cluster_stops_in_order_on_ctrl_c_to_its_process_group() {
    const BOTS: u32 = 2;
    let dir = tempfile::tempdir().expect("a temp dir");
    let cluster_dir = dir.path().join("cluster");
    let mut spec = ProcessSpec::new(
        "local-cluster",
        env!("CARGO_BIN_EXE_local-cluster"),
        free_addr().expect("a free port"),
    )
    .args([
        "--free-ports",
        "--bots",
        &BOTS.to_string(),
        "--zone-servers",
        "1",
    ])
    .env("CLUSTER_DIR", cluster_dir.display().to_string())
    // A terminal's foreground job: a group of its own, which the Ctrl-C below goes to.
    .own_process_group();
    // The programs it starts, found (built if need be) here rather than by it.
    for name in [
        "character-api",
        "quest-api",
        "server-manager",
        "zone-server",
    ] {
        let var = format!("{}_BIN", name.to_uppercase().replace('-', "_"));
        spec = spec.env(var, binary(name).expect(name).display().to_string());
    }
    let mut launcher = ManagedProcess::spawn(spec, dir.path()).expect("local-cluster starts");

    wait_for(
        "local-cluster printing its URLs",
        Duration::from_secs(120),
        async || launcher.log().contains("Ctrl-C stops everything"),
    )
    .await;
    let manager = dashboard_url(&launcher.log()).expect("the dashboard URL in its output");
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("an HTTP client");
    wait_for("every bot in play", Duration::from_secs(60), async || {
        players(&http, &manager).await >= BOTS
    })
    .await;

    let pgid = launcher.pid().expect("local-cluster runs");
    let started = Instant::now();
    let sent = Command::new("kill")
        .args(["-INT", "--", &format!("-{pgid}")])
        .status()
        .expect("kill runs");
    assert!(sent.success(), "SIGINT to process group {pgid}");
    let status = tokio::task::spawn_blocking(move || {
        let status = launcher.wait_exit(Duration::from_secs(60));
        (status, launcher)
    })
    .await
    .expect("join");
    let (status, launcher) = status;
    let log = launcher.log();
    let status =
        status.unwrap_or_else(|| panic!("local-cluster still runs 60 s after Ctrl-C:\n{log}"));
    println!(
        "local-cluster: stopped {:?} after Ctrl-C",
        started.elapsed()
    );
    assert!(
        status.success(),
        "local-cluster exited with {status}:\n{log}"
    );
    assert!(
        log.contains("stopped."),
        "everything stopped by itself:\n{log}"
    );

    let zone_log = std::fs::read_to_string(cluster_dir.join("zone-server-0.log"))
        .expect("the zone-server's log");
    assert!(
        !zone_log.contains("did not confirm its saves"),
        "the zone saved every player before stopping:\n{zone_log}"
    );
    assert!(
        zone_log.contains("SIGTERM received") && !zone_log.contains("SIGINT received"),
        "the zone heard the launcher's SIGTERM, not the terminal's SIGINT:\n{zone_log}"
    );
}
