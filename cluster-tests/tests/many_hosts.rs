//! Many hosts: the whole cluster over simulated hosts (network namespaces on one bridge,
//! one NATS node per host routed into a NATS cluster with auth on; see
//! `cluster_tests::hosts`), with bots in the root namespace running back and forth between
//! the areas of the two zone hosts and gathering items. Each drill applies one fault while
//! they play and ends with the stays check (no double owners, no lost inputs) and the item
//! audit (nothing duplicated, nothing lost); the figures are printed (`--nocapture`), never
//! asserted. Where namespaces cannot be made, each test prints a SKIP line and passes.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use cluster_tests::drills::summary::plays_again_lines;
use cluster_tests::drills::{Drills, Fault, Players, ScheduleReport, Schedules, Step, Summary};
use cluster_tests::hosts::{HostCluster, HostsError};
use test_support::netns::{NetnsError, Network};

/// One cluster of namespaces at a time: the machine has two cores.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The cluster, or `None` (with a SKIP line) where namespaces cannot be made.
async fn cluster_or_skip(test: &str) -> Option<HostCluster> {
    match HostCluster::start(None).await {
        Ok(cluster) => Some(cluster),
        Err(HostsError::Unavailable(why)) => {
            eprintln!("SKIP {test}: {why}");
            None
        }
        Err(e) => panic!("the cluster over simulated hosts starts: {e}"),
    }
}

/// Starts the players and waits until they all play and hand-offs between the hosts are
/// under way.
async fn players(cluster: &HostCluster, prefix: &str) -> Players {
    let players = Players::start(&cluster.bot_config(), prefix, 8, 2)
        .await
        .expect("bots");
    let zero = vec![0; players.players.len()];
    players
        .playing_again(&zero, 20, Duration::from_secs(60))
        .await
        .expect("every bot plays");
    let took = players
        .crossing(0, 8, Duration::from_secs(120))
        .await
        .expect("handoffs between the zone hosts");
    eprintln!("{prefix}: 8 handoffs between the zone hosts within {took:?} of playing");
    players
}

fn print(drill: &str, report: &ScheduleReport) {
    for figure in &report.figures {
        eprintln!("{drill}: {} {:?}", figure.what, figure.took);
    }
    for line in plays_again_lines(&report.plays_again) {
        eprintln!("{drill}: {line}");
    }
    eprintln!(
        "{drill}: audit: {} items and {} coins accounted for, {} arrivals checked, {} items \
         rolled back by rejoins; {} moves between zones in the stays; violations: {:?}; \
         inputs refused from a stalled zone's backlog: {:?}",
        report.items,
        report.coins,
        report.arrivals,
        report.rolled_back,
        report.moves,
        report.violations,
        report.refused_backlog
    );
}

/// Runs one step as a whole schedule and holds it to no violations.
async fn drill(test: &str, prefix: &str, step: impl FnOnce(&HostCluster) -> Step) {
    let _serial = SERIAL.lock().await;
    let Some(mut cluster) = cluster_or_skip(test).await else {
        return;
    };
    let players = players(&cluster, prefix).await;
    let step = step(&cluster);
    eprintln!("{test}: {step}");
    let report = Drills::default().run(&mut cluster, &players, &[step]).await;
    print(test, &report);
    players.stop().await;
    assert!(
        report.violations.is_empty(),
        "{test}: {:?}",
        report.violations
    );
}

fn zone_server(cluster: &HostCluster, name: &str) -> usize {
    cluster
        .zones
        .iter()
        .position(|z| z.name == name)
        .expect("a zone-server of that name")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_a_nats_node_disconnects_no_player_and_handoffs_go_on() {
    drill("nats node kill", "Routed", |_| Step {
        fault: Fault::KillNats("zone-a"),
        hold: Duration::from_secs(10),
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partitioned_zone_host_loses_its_area_and_stands_down_after_the_heal() {
    drill("zone host partition", "Islander", |_| Step {
        fault: Fault::Partition("zone-a"),
        hold: Duration::from_secs(10),
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zone_server_paused_past_the_failure_timeout_stands_down_when_resumed() {
    drill("zone-server pause", "Sleeper", |cluster| Step {
        fault: Fault::PauseZone(zone_server(cluster, "zone-a-1")),
        hold: Duration::from_secs(10),
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn players_play_on_while_the_managers_host_is_cut_off() {
    drill("manager host partition", "Loyal", |_| Step {
        fault: Fault::Partition("control"),
        hold: Duration::from_secs(10),
    })
    .await;
}

/// A few random schedules, as the soak runs them (`soak --schedules 100` for a long run):
/// `SOAK_SCHEDULES` (default 3) from `SOAK_SEED` (default 17, so CI repeats itself).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_few_random_fault_schedules_break_no_invariant() {
    let _serial = SERIAL.lock().await;
    let Some(mut cluster) = cluster_or_skip("random schedules").await else {
        return;
    };
    let players = players(&cluster, "Soaked").await;
    let env = |name: &str, default: u64| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let seed = env("SOAK_SEED", 17);
    let mut schedules = Schedules::new(seed, cluster.zones.len());
    let mut drills = Drills::default();
    let mut summary = Summary::default();
    for n in 1..=env("SOAK_SCHEDULES", 3) as usize {
        let steps = schedules.next_schedule();
        let plan: Vec<String> = steps.iter().map(ToString::to_string).collect();
        eprintln!("schedule {n} (seed {seed}): {}", plan.join("; "));
        let report = drills.run(&mut cluster, &players, &steps).await;
        print(&format!("schedule {n}"), &report);
        summary.add(n, &steps, &report);
    }
    players.stop().await;
    for line in summary.figure_lines() {
        eprintln!("random schedules: {line}");
    }
    for line in summary.plays_again_lines() {
        eprintln!("random schedules: {line}");
    }
    assert!(
        summary.violations.is_empty(),
        "{} schedules, violations: {:?}",
        summary.schedules,
        summary.violations
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulated_hosts_reach_each_other_until_partitioned_and_leave_nothing_behind() {
    let _serial = SERIAL.lock().await;
    let network = match Network::create(&["one", "two"]) {
        Ok(network) => network,
        Err(NetnsError::Unavailable(why)) => {
            eprintln!("SKIP simulated hosts: {why}");
            return;
        }
        Err(e) => panic!("{e}"),
    };
    let (one, two) = (&network.hosts()[0], &network.hosts()[1]);
    // A listener on host one (a socket made inside its namespace by a helper process).
    let listen = one.addr(9000);
    let mut server = test_support::ManagedProcess::start(
        one.spec("listener", std::path::Path::new("python3"), listen)
            .args([
                "-m",
                "http.server",
                "9000",
                "--bind",
                &one.address().to_string(),
            ]),
        &std::env::temp_dir(),
    )
    .expect("a listener on host one");
    let connects_from_two = || {
        let mut probe = std::process::Command::new("ip");
        probe.args(two.launcher().iter().skip(1)).args([
            "python3",
            "-c",
            &format!(
                "import socket; socket.create_connection(('{}', 9000), timeout=1)",
                one.address()
            ),
        ]);
        probe.output().is_ok_and(|o| o.status.success())
    };
    let connects_from_root =
        |addr: SocketAddr| TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok();
    assert!(
        connects_from_root(listen),
        "the root namespace reaches host one"
    );
    assert!(connects_from_two(), "host two reaches host one");
    one.partition().expect("partitioned");
    assert!(!connects_from_two(), "host two is cut off from host one");
    assert!(
        connects_from_root(listen),
        "the root namespace still reaches it"
    );
    one.heal().expect("healed");
    assert!(connects_from_two(), "healed");
    // Nothing of the network outlives it.
    let names: Vec<String> = network
        .hosts()
        .iter()
        .map(|h| h.namespace().to_owned())
        .collect();
    server.kill();
    drop(network);
    let left = std::process::Command::new("ip")
        .args(["netns", "list"])
        .output()
        .expect("ip");
    let left = String::from_utf8_lossy(&left.stdout);
    for name in names {
        assert!(!left.contains(&name), "{name} deleted");
    }
    // The root's own ports are untouched.
    assert!(TcpListener::bind("127.0.0.1:0").is_ok());
}
