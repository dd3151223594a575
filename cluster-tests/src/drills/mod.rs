//! Drills on a cluster over simulated hosts ([`HostCluster`]): faults applied while bots
//! play ([`Players`]), each schedule of them ending with the stays check (no double owners,
//! no lost inputs) and the item audit (nothing duplicated, nothing lost), and the figures
//! each fault shows (failover per process, reallocation, standing down, stalls).
//!
//! | module | what |
//! | --- | --- |
//! | `mod.rs` | the faults, one step of a schedule, a schedule's checks |
//! | [`players`] | the bots of a drill, waiting for them, standing still for the checks |
//! | `watch` | what is measured while a fault lasts |
//! | [`schedule`] | random schedules for the soak |
//! | [`summary`] | what many schedules showed together |

pub mod players;
pub mod schedule;
pub mod summary;
mod watch;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::{Duration, Instant};

use protocol::ZoneId;
use protocol::cluster::messages::ZoneState;
use protocol::http::zone::PlayerStay;

use crate::audit::Ledger;
use crate::hosts::{EAST, HostCluster, WEST};
use crate::stays::{check_stays, fetch_stays};

pub use self::players::{Player, Players};
pub use self::schedule::Schedules;
pub use self::summary::Summary;
use self::watch::{PlaysAgain, Stalls, failovers};

/// How long players may take to play again after a fault ends.
const RECOVERY_TIMEOUT: Duration = Duration::from_secs(90);
/// How long the saves may take to land once everybody stands still.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(60);
/// How long an outcome a fault should lead to (a reallocation, a stand-down, a failover,
/// handoffs resuming) may take before it counts as not happening.
const OUTCOME_TIMEOUT: Duration = Duration::from_secs(30);
/// A zone cut off (or paused, or killed) this long must have lost its area: three missed
/// heartbeats (3 s) and the reallocation, with room for a loaded machine.
const MUST_REALLOCATE: Duration = Duration::from_secs(8);
/// The manager cut off this long must have seen a handoff go through without it: the eight
/// border runners cross every second or so, but 100 schedules saw gaps of up to 3.4 s, so a
/// shorter cut proves nothing by having none.
const MUST_HAND_OFF: Duration = Duration::from_secs(5);
/// Inputs each player must have acknowledged to count as playing again.
const PLAYING_AGAIN: u64 = 20;

/// One fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// `kill -9` of the NATS node on this host; started again when the step ends.
    KillNats(&'static str),
    /// The host cut off from the other hosts by `iptables` (its players still reach it).
    Partition(&'static str),
    /// SIGSTOP of this zone-server process (an index into [`HostCluster::zones`]), SIGCONT
    /// when the step ends.
    PauseZone(usize),
    /// `kill -9` of this zone-server process; started again when the step ends.
    KillZone(usize),
}

impl Fault {
    /// What kind of fault, without its target (the figures of one kind go together).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::KillNats(_) => "kill -9 of a NATS node",
            Self::Partition("control") => "partition of the manager's host",
            Self::Partition("data") => "partition of the APIs' host",
            Self::Partition(_) => "partition of a zone host",
            Self::PauseZone(_) => "SIGSTOP of a zone-server",
            Self::KillZone(_) => "kill -9 of a zone-server",
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::KillNats(host) => write!(f, "kill -9 the NATS node on {host}"),
            Self::Partition(host) => write!(f, "partition {host}"),
            Self::PauseZone(zone) => write!(f, "SIGSTOP zone-server #{zone}"),
            Self::KillZone(zone) => write!(f, "kill -9 zone-server #{zone}"),
        }
    }
}

/// A fault and how long it lasts.
#[derive(Debug, Clone, Copy)]
pub struct Step {
    /// What goes wrong.
    pub fault: Fault,
    /// For how long.
    pub hold: Duration,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} for {:.1} s", self.fault, self.hold.as_secs_f64())
    }
}

/// A measured figure.
#[derive(Debug, Clone)]
pub struct Figure {
    /// What was measured.
    pub what: String,
    /// How long it took.
    pub took: Duration,
}

/// What a schedule showed.
#[derive(Debug, Default, Clone)]
pub struct ScheduleReport {
    /// The figures measured, in order.
    pub figures: Vec<Figure>,
    /// Everything that went against the invariants or the expected outcome.
    pub violations: Vec<String>,
    /// Inputs missing from the stays that the zones themselves refused (a stalled zone
    /// given the client's backlog at once, over its rate limit): not counted as violations,
    /// reported apart.
    pub refused_backlog: Vec<String>,
    /// Handoffs and migrations the stays show in all (so far).
    pub moves: usize,
    /// Items and coins the audit accounted for at the end.
    pub items: u64,
    /// See [`ScheduleReport::items`].
    pub coins: u64,
    /// Arrivals in zones the audit checked.
    pub arrivals: u64,
    /// Items rolled back to the last save by rejoins (not violations).
    pub rolled_back: u64,
    /// By kind of fault ([`Fault::kind`]): for each player on a zone-server the fault cut
    /// off, the time from the fault (or from the heal, for a partition: its players cannot
    /// play elsewhere before it) to its first frame from the zone it plays on next (or, if
    /// its zone came back still owning the area, to its first input acknowledged there).
    pub plays_again: BTreeMap<&'static str, Vec<Duration>>,
}

impl ScheduleReport {
    fn figure(&mut self, what: impl Into<String>, took: Duration) {
        self.figures.push(Figure {
            what: what.into(),
            took,
        });
    }
}

/// Runs schedules on one cluster with one set of players, remembering which stays
/// violations it has reported (the zones keep their whole history), and the history of
/// zone-server processes it killed (read just before each kill: a new process starts with
/// none, and the players' paths through the old one must not look like gaps).
#[derive(Debug, Default)]
pub struct Drills {
    reported: BTreeSet<String>,
    archive: Vec<PlayerStay>,
    lost_inputs: u64,
    /// Inputs refused by zone-server processes before they were killed (a new process
    /// counts from 0).
    refused_by_killed: f64,
}

impl Drills {
    /// Runs `steps` in order while the players play, then stands everybody still and
    /// checks the stays and the audit.
    pub async fn run(
        &mut self,
        cluster: &mut HostCluster,
        players: &Players,
        steps: &[Step],
    ) -> ScheduleReport {
        let mut report = ScheduleReport::default();
        let ledger = Ledger::start(players.audited());
        let refused_before = self.refused_by_killed + inputs_refused(&cluster.zone_urls()).await;
        for step in steps {
            if let Fault::KillZone(i) = step.fault {
                self.archive_before_kill(cluster, i).await;
            }
            run_step(cluster, players, *step, &mut report).await;
        }
        players.stand(true);
        if let Err(unsaved) = players.settled(SETTLE_TIMEOUT).await {
            report.violations.push(format!(
                "saves did not land within {SETTLE_TIMEOUT:?} for {unsaved:?}"
            ));
        }
        match fetch_stays(&cluster.zone_urls(), &cluster.secrets.service_token).await {
            Ok(mut stays) => {
                stays.extend(self.archive.iter().cloned());
                let stays = check_stays(&stays);
                report.moves = stays.moves;
                for found in &stays.double_owners {
                    if self.reported.insert(found.clone()) {
                        report.violations.push(format!("stays: {found}"));
                    }
                }
                // Inputs missing from the stays are explained when the zones themselves
                // refused at least as many: a zone that stalled (SIGSTOP) gets the
                // client's backlog at once, over its rate limit and event stack. Those are
                // reported apart; any other loss is a violation.
                let lost = stays.lost_inputs.saturating_sub(self.lost_inputs);
                self.lost_inputs = stays.lost_inputs;
                let refused = self.refused_by_killed + inputs_refused(&cluster.zone_urls()).await
                    - refused_before;
                let new: Vec<&String> = stays
                    .losses
                    .iter()
                    .filter(|found| self.reported.insert((*found).clone()))
                    .collect();
                let explained = lost > 0 && refused >= lost as f64;
                for found in new {
                    let line = format!("stays: {found}");
                    if explained {
                        report.refused_backlog.push(format!(
                            "{line} [the zones refused {refused} inputs of a backlog]"
                        ));
                    } else {
                        report.violations.push(line);
                    }
                }
            }
            Err(e) => report.violations.push(format!("stays unreadable: {e}")),
        }
        let audit = ledger.audit(async |c| players.stored(c).await).await;
        report.items = audit.items;
        report.coins = audit.coins;
        report.arrivals = audit.arrivals;
        report.rolled_back = audit.rolled_back;
        report
            .violations
            .extend(audit.violations.into_iter().map(|v| format!("audit: {v}")));
        players.stand(false);
        report
    }
}

impl Drills {
    /// Keeps what zone-server `i` remembers before it is killed (its stays, its refused
    /// inputs); its open stays end now (the kill ends them).
    async fn archive_before_kill(&mut self, cluster: &HostCluster, i: usize) {
        let Some(url) = cluster.zone_urls().get(i).cloned() else {
            return;
        };
        self.refused_by_killed += inputs_refused(std::slice::from_ref(&url)).await;
        let Ok(stays) = fetch_stays(&[url], &cluster.secrets.service_token).await else {
            return;
        };
        // The zones' clock: wall-clock microseconds (the same machine's).
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
        self.archive.extend(stays.into_iter().map(|mut stay| {
            stay.left_us.get_or_insert(now);
            stay
        }));
    }
}

/// Packets and inputs the zone-servers at `urls` have refused: over a connection's rate
/// limit, or past a player's full event stack (a process that does not answer counts 0).
async fn inputs_refused(urls: &[String]) -> f64 {
    let http = reqwest::Client::new();
    let mut refused = 0.0;
    for url in urls {
        if let Ok(response) = http.get(format!("{url}/metrics")).send().await {
            let text = response.text().await.unwrap_or_default();
            refused += test_support::metric(
                &text,
                "zone_inputs_dropped_total",
                &[("reason", "stack_full")],
            ) + test_support::metric(
                &text,
                "zone_rejected_packets_total",
                &[("reason", "rate_limited")],
            );
        }
    }
    refused
}

/// Which areas (of the two played) are owned by a zone-server of `processes`, with the
/// owning zone.
async fn owned_by(cluster: &HostCluster, processes: &[usize]) -> Vec<(protocol::AreaId, ZoneId)> {
    let admin = cluster.admin();
    let mut owned = Vec::new();
    for area in [WEST, EAST] {
        if let Some(owner) = admin.owner(area).await
            && cluster
                .zone_of(&owner.ws_url)
                .is_some_and(|i| processes.contains(&i))
        {
            owned.push((area, owner.zone));
        }
    }
    owned
}

/// The zone-server processes a fault cuts off (all of a partitioned host's, or the one).
fn victims(cluster: &HostCluster, fault: Fault) -> Vec<usize> {
    match fault {
        Fault::Partition(host) => cluster
            .zones
            .iter()
            .enumerate()
            .filter(|(_, z)| z.host == host)
            .map(|(i, _)| i)
            .collect(),
        Fault::PauseZone(i) | Fault::KillZone(i) => vec![i],
        Fault::KillNats(_) => Vec::new(),
    }
}

async fn run_step(
    cluster: &mut HostCluster,
    players: &Players,
    step: Step,
    report: &mut ScheduleReport,
) {
    let lost_before = players.losses();
    let stalls = Stalls::start(players);
    let cut_off = victims(cluster, step.fault);
    let stale = owned_by(cluster, &cut_off).await;
    let failovers_before = failovers(cluster).await;
    let mut reallocated = Vec::new();
    // The players on a zone-server the fault cuts off.
    let affected: Vec<_> = players
        .players
        .iter()
        .filter(|p| {
            p.stats
                .zone()
                .and_then(|url| cluster.zone_of(&url))
                .is_some_and(|i| cut_off.contains(&i))
        })
        .map(|p| p.stats.clone())
        .collect();
    let plays_again = PlaysAgain::start(affected);
    let began = Instant::now();
    if let Err(e) = begin(cluster, step.fault) {
        report
            .violations
            .push(format!("{}: could not start: {e}", step.fault));
        return;
    }
    match step.fault {
        Fault::KillNats(_) => {
            let transfers = players.transfers();
            match wait(OUTCOME_TIMEOUT, async || players.transfers() > transfers).await {
                Some(took) => report.figure(
                    format!("{}: handoffs going on again after", step.fault),
                    took,
                ),
                None => report.violations.push(format!(
                    "{}: no handoff within {OUTCOME_TIMEOUT:?}",
                    step.fault
                )),
            }
        }
        Fault::Partition("control") => {
            // Players already in a zone play on; one rejoining after an earlier fault needs
            // the manager, and waits for it.
            let (acks, transfers) = (players.acks(), players.transfers());
            let connected = players.connected();
            let played_on = wait(step.hold, async || {
                players
                    .acks()
                    .iter()
                    .zip(&acks)
                    .zip(&connected)
                    .all(|((now, then), was)| !was || *now > then + PLAYING_AGAIN)
            })
            .await;
            match played_on {
                Some(took) => report.figure(
                    format!("{}: every connected player played on within", step.fault),
                    took,
                ),
                None => report.violations.push(format!(
                    "{}: connected players did not all play on while the manager was cut off",
                    step.fault
                )),
            }
            let left = step.hold.saturating_sub(began.elapsed());
            match wait(left, async || players.transfers() > transfers).await {
                Some(_) => report.figure(
                    format!(
                        "{}: a handoff went through without the manager after",
                        step.fault
                    ),
                    began.elapsed(),
                ),
                None if step.hold >= MUST_HAND_OFF => report.violations.push(format!(
                    "{}: no handoff went through while the manager was cut off for {:?}",
                    step.fault, step.hold
                )),
                None => {}
            }
        }
        _ => {
            for (area, old) in &stale {
                let admin = cluster.admin();
                let left = step.hold.saturating_sub(began.elapsed());
                let moved = wait(left, async || {
                    admin
                        .area(*area)
                        .await
                        .is_some_and(|a| a.zone.is_some_and(|z| z != *old))
                })
                .await;
                match moved {
                    Some(_) => {
                        report.figure(
                            format!("{}: area {area} reallocated after", step.fault),
                            began.elapsed(),
                        );
                        reallocated.push(*old);
                    }
                    None if step.hold >= MUST_REALLOCATE => report.violations.push(format!(
                        "{}: area {area} not reallocated within {:?}",
                        step.fault, step.hold
                    )),
                    None => {}
                }
            }
        }
    }
    let left = step.hold.saturating_sub(began.elapsed());
    tokio::time::sleep(left).await;
    if let Err(e) = end(cluster, step.fault) {
        report
            .violations
            .push(format!("{}: could not end: {e}", step.fault));
    }
    plays_again.ended();
    let healed = Instant::now();
    match step.fault {
        Fault::KillNats(_) => {
            for (process, took) in failovers_before.compare(&failovers(cluster).await) {
                report.figure(format!("{}: {process} failed over in", step.fault), took);
            }
            let lost = players.losses_since(&lost_before);
            if !lost.is_empty() {
                report.violations.push(format!(
                    "{}: player connections lost: {}",
                    step.fault,
                    lost.join("; ")
                ));
            }
        }
        Fault::Partition("control") => {
            let admin = cluster.admin();
            // Caught up: both areas owned by a zone it hears from (heartbeats again).
            let caught_up = wait(OUTCOME_TIMEOUT, async || {
                for area in [WEST, EAST] {
                    let heard = admin.owner(area).await.is_some_and(|owner| {
                        owner.state == ZoneState::Allocated && owner.last_seen_ms < 1_500
                    });
                    if !heard {
                        return false;
                    }
                }
                true
            })
            .await;
            match caught_up {
                Some(took) => report.figure(
                    format!(
                        "{}: manager caught up (both areas' owners heard) after the heal in",
                        step.fault
                    ),
                    took,
                ),
                None => report.violations.push(format!(
                    "{}: the manager did not catch up after the heal",
                    step.fault
                )),
            }
        }
        Fault::KillZone(_) => {}
        _ => {
            for old in &reallocated {
                let admin = cluster.admin();
                let stood_down = wait(OUTCOME_TIMEOUT, async || {
                    admin.zones().await.is_some_and(|zones| {
                        zones
                            .iter()
                            .any(|z| z.zone == *old && z.state == ZoneState::Idle)
                    })
                })
                .await;
                match stood_down {
                    Some(took) => report.figure(
                        format!(
                            "{}: stale zone stood down (Idle) after the heal in",
                            step.fault
                        ),
                        took,
                    ),
                    None => report.violations.push(format!(
                        "{}: stale zone {old} did not stand down",
                        step.fault
                    )),
                }
            }
        }
    }
    let acks = players.acks();
    match players
        .playing_again(&acks, PLAYING_AGAIN, RECOVERY_TIMEOUT)
        .await
    {
        Ok(_) => {}
        Err(behind) => report.violations.push(format!(
            "{}: not playing again within {RECOVERY_TIMEOUT:?}: {behind:?}",
            step.fault
        )),
    }
    // From the fault, or from the heal where the players could not play elsewhere before
    // it (a partitioned host's players stay connected to its zones until then). A player
    // whose zone lost its area must have joined another; otherwise its zone's coming back
    // counts.
    let from = match step.fault {
        Fault::Partition(_) => healed,
        _ => began,
    };
    let new_zone = matches!(step.fault, Fault::KillZone(_)) || !reallocated.is_empty();
    for r in plays_again.stop().await {
        let again = if new_zone {
            r.welcomed
        } else {
            match (r.welcomed, r.acked) {
                (Some(w), Some(a)) => Some(w.min(a)),
                (w, a) => w.or(a),
            }
        };
        if let Some(at) = again {
            report
                .plays_again
                .entry(step.fault.kind())
                .or_default()
                .push(at.saturating_duration_since(from));
        }
    }
    let longest = stalls.stop().await;
    report.figure(
        format!(
            "{}: longest a player went without an input acknowledged",
            step.fault
        ),
        longest,
    );
}

fn begin(cluster: &mut HostCluster, fault: Fault) -> std::io::Result<()> {
    match fault {
        Fault::KillNats(host) => {
            let node = node_on(cluster, host)?;
            cluster.nats.node(node).process().kill();
            Ok(())
        }
        Fault::Partition(host) => host_named(cluster, host)?.partition(),
        Fault::PauseZone(i) => signalled(process(cluster, i)?.pause()),
        Fault::KillZone(i) => {
            process(cluster, i)?.kill();
            Ok(())
        }
    }
}

fn end(cluster: &mut HostCluster, fault: Fault) -> std::io::Result<()> {
    match fault {
        Fault::KillNats(host) => {
            let node = node_on(cluster, host)?;
            tokio::task::block_in_place(|| {
                cluster.nats.node(node).process().restart()?;
                cluster.nats.wait_routed(OUTCOME_TIMEOUT)
            })
        }
        Fault::Partition(host) => host_named(cluster, host)?.heal(),
        Fault::PauseZone(i) => signalled(process(cluster, i)?.resume()),
        Fault::KillZone(i) => {
            let zone = process(cluster, i)?;
            tokio::task::block_in_place(|| zone.restart())
        }
    }
}

fn signalled(delivered: bool) -> std::io::Result<()> {
    if delivered {
        Ok(())
    } else {
        Err(std::io::Error::other("the signal was not delivered"))
    }
}

fn node_on(cluster: &HostCluster, host: &str) -> std::io::Result<usize> {
    cluster
        .nats_node_on(host)
        .ok_or_else(|| std::io::Error::other(format!("no NATS node on {host}")))
}

fn host_named<'a>(
    cluster: &'a HostCluster,
    host: &str,
) -> std::io::Result<&'a test_support::netns::Host> {
    cluster
        .host(host)
        .ok_or_else(|| std::io::Error::other(format!("no host {host}")))
}

fn process(
    cluster: &mut HostCluster,
    i: usize,
) -> std::io::Result<&mut test_support::ManagedProcess> {
    cluster
        .zones
        .get_mut(i)
        .map(|z| &mut z.process)
        .ok_or_else(|| std::io::Error::other(format!("no zone-server #{i}")))
}

/// Polls `f` every 50 ms until it holds (how long that took) or `timeout` passes (`None`).
async fn wait(timeout: Duration, mut f: impl AsyncFnMut() -> bool) -> Option<Duration> {
    let started = Instant::now();
    loop {
        if f().await {
            return Some(started.elapsed());
        }
        if started.elapsed() > timeout {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
