//! What is measured while a fault lasts: the longest any player goes without an input
//! acknowledged, and each NATS client's failovers (from its own `/metrics`:
//! `nats_failover_seconds`, the time from losing its server to being connected again).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use test_support::metric;
use tokio::sync::watch;

use super::Players;
use crate::bot::BotStats;
use crate::hosts::HostCluster;

/// How often the stall watch looks at the players.
const LOOK_EVERY: Duration = Duration::from_millis(20);

/// Watches every player's acknowledged inputs for the longest gap.
pub(super) struct Stalls {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<Duration>,
}

impl Stalls {
    pub(super) fn start(players: &Players) -> Self {
        let stats: Vec<Arc<BotStats>> = players.players.iter().map(|p| p.stats.clone()).collect();
        let (stop, mut stopped) = watch::channel(false);
        let task = tokio::spawn(async move {
            let now = Instant::now();
            let mut last: Vec<(u64, Instant)> = stats
                .iter()
                .map(|s| (s.inputs_acked.load(Ordering::SeqCst), now))
                .collect();
            let mut longest = Duration::ZERO;
            let mut every = tokio::time::interval(LOOK_EVERY);
            loop {
                tokio::select! {
                    _ = stopped.changed() => return longest,
                    _ = every.tick() => {}
                }
                for (s, (acked, since)) in stats.iter().zip(last.iter_mut()) {
                    let now_acked = s.inputs_acked.load(Ordering::SeqCst);
                    if now_acked != *acked {
                        longest = longest.max(since.elapsed());
                        *acked = now_acked;
                        *since = Instant::now();
                    }
                }
            }
        });
        Self { stop, task }
    }

    /// Stops watching; the longest gap seen.
    pub(super) async fn stop(self) -> Duration {
        let _ = self.stop.send(true);
        self.task.await.unwrap_or_default()
    }
}

/// Each NATS client's failovers so far: (count, total seconds), by process name.
pub(super) struct Failovers(Vec<(String, f64, f64)>);

/// Reads every NATS client's failover counters (a process that does not answer reads 0).
pub(super) async fn failovers(cluster: &HostCluster) -> Failovers {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap_or_default();
    let mut read = Vec::new();
    for (name, addr) in cluster.nats_clients() {
        let text = match http.get(format!("http://{addr}/metrics")).send().await {
            Ok(r) => r.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        read.push((
            name,
            metric(&text, "nats_failover_seconds_count", &[]),
            metric(&text, "nats_failover_seconds_sum", &[]),
        ));
    }
    Failovers(read)
}

impl Failovers {
    /// The processes that failed over between `self` and `later`, each with its mean
    /// failover time over that span.
    pub(super) fn compare(&self, later: &Failovers) -> Vec<(String, Duration)> {
        self.0
            .iter()
            .zip(&later.0)
            .filter_map(|((name, count, sum), (_, count2, sum2))| {
                let n = count2 - count;
                (n >= 1.0).then(|| {
                    (
                        name.clone(),
                        Duration::from_secs_f64(((sum2 - sum) / n).max(0.0)),
                    )
                })
            })
            .collect()
    }
}

/// When each player on a faulted zone played again: the first `Welcome` after the fault
/// began (a new connection: its first frame from the zone it rejoined or was handed to),
/// and the first input acknowledged after the fault ended (a zone that came back and kept
/// its area).
pub(super) struct PlaysAgain {
    ended: Arc<std::sync::Mutex<Option<Instant>>>,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<Vec<Recovery>>,
}

/// One watched player's recovery.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Recovery {
    /// Its first `Welcome` after the fault began.
    pub(super) welcomed: Option<Instant>,
    /// Its first input acknowledged after the fault ended.
    pub(super) acked: Option<Instant>,
}

impl PlaysAgain {
    /// Watches `stats` from now (the fault begins).
    pub(super) fn start(stats: Vec<Arc<BotStats>>) -> Self {
        let ended = Arc::new(std::sync::Mutex::new(None::<Instant>));
        let (stop, mut stopped) = watch::channel(false);
        let watched_end = ended.clone();
        let task = tokio::spawn(async move {
            let began = Instant::now();
            let mut seen: Vec<(u64, u64)> = stats
                .iter()
                .map(|s| {
                    (
                        s.welcomes.load(Ordering::SeqCst),
                        s.inputs_acked.load(Ordering::SeqCst),
                    )
                })
                .collect();
            let mut out = vec![Recovery::default(); stats.len()];
            let mut every = tokio::time::interval(LOOK_EVERY);
            loop {
                tokio::select! {
                    _ = stopped.changed() => return out,
                    _ = every.tick() => {}
                }
                let end = *watched_end
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                for ((s, (welcomes, acked)), r) in stats.iter().zip(&mut seen).zip(&mut out) {
                    let (w, a) = (
                        s.welcomes.load(Ordering::SeqCst),
                        s.inputs_acked.load(Ordering::SeqCst),
                    );
                    if w != *welcomes && r.welcomed.is_none() {
                        r.welcomed = s.welcomed_at().filter(|at| *at >= began);
                    }
                    if a != *acked
                        && r.acked.is_none()
                        && let Some(end) = end
                    {
                        r.acked = Some(Instant::now().max(end));
                    }
                    *welcomes = w;
                    *acked = a;
                }
            }
        });
        Self { ended, stop, task }
    }

    /// The fault ended now.
    pub(super) fn ended(&self) {
        *self
            .ended
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Instant::now());
    }

    /// Stops watching; each player's recovery.
    pub(super) async fn stop(self) -> Vec<Recovery> {
        let _ = self.stop.send(true);
        self.task.await.unwrap_or_default()
    }
}
