//! What a bot saw ([`BotStats`]) and what it is told to do while it plays ([`Controls`]),
//! both shared with whoever watches it: the `bots` report, the local-cluster launcher, the
//! tests and the benchmark.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use protocol::Position;
use protocol::client::packets::{Error, ErrorCode, Inventory};

/// How many `Error` packets a bot keeps (the first ones: a long-running bot must not grow).
const ERRORS_KEPT: usize = 64;

/// What a bot saw. Counters only grow.
#[derive(Debug, Default)]
pub struct BotStats {
    /// Successful joins through the manager.
    pub joins: AtomicU64,
    /// Joins through the manager that failed (and were retried).
    pub join_failures: AtomicU64,
    /// `Welcome`s received (one per zone entered).
    pub welcomes: AtomicU64,
    /// `Transfer`s followed.
    pub transfers: AtomicU64,
    /// Connections lost (each followed by a rejoin through the manager).
    pub lost: AtomicU64,
    /// Of those, connections given up because no frame came for the silence limit (a
    /// stalled or cut-off zone).
    pub silent: AtomicU64,
    /// Whether a welcomed connection is open now.
    pub connected: AtomicBool,
    /// Inputs sent.
    pub inputs_sent: AtomicU64,
    /// Highest input acknowledged (inputs are numbered from 1, one per step).
    pub inputs_acked: AtomicU64,
    /// Inputs sent again after a `Transfer` because the old zone had not acknowledged them.
    pub resent: AtomicU64,
    /// `Pickup` packets sent.
    pub pickups_sent: AtomicU64,
    /// `DropItem` packets sent.
    pub drops_sent: AtomicU64,
    /// Items picked up (by inventory growth).
    pub pickups: AtomicU64,
    /// Kills made.
    pub kills: AtomicU64,
    /// `Inventory` packets received.
    pub inventory_updates: AtomicU64,
    /// `Error` packets received.
    pub errors: AtomicU64,
    error_packets: Mutex<Vec<Error>>,
    inventory: Mutex<Option<Inventory>>,
    welcome_inventory: Mutex<Option<Inventory>>,
    position: Mutex<Option<Position>>,
    /// The zone URL of the current (or last) connection, and when its `Welcome` came.
    zone: Mutex<Option<(String, Option<Instant>)>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl BotStats {
    /// A counter's value.
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::SeqCst)
    }

    /// The inventory as the zone last sent it.
    pub fn last_inventory(&self) -> Option<Inventory> {
        lock(&self.inventory).clone()
    }

    /// The inventory the zone sent right after the latest `Welcome` (what it loaded).
    pub fn welcome_inventory(&self) -> Option<Inventory> {
        lock(&self.welcome_inventory).clone()
    }

    /// Items carried (slots and weapon) by the last inventory seen.
    pub fn items(&self) -> u64 {
        self.last_inventory().map_or(0, |i| items_in(&i))
    }

    /// The first `Error` packets received (up to 64).
    pub fn error_packets(&self) -> Vec<Error> {
        lock(&self.error_packets).clone()
    }

    /// Those of them other than `REJECTED` (a refused pickup or attack is part of play).
    pub fn serious_errors(&self) -> Vec<Error> {
        self.error_packets()
            .into_iter()
            .filter(|e| e.code != ErrorCode::REJECTED)
            .collect()
    }

    /// Where the zone last showed the bot.
    pub fn position(&self) -> Option<Position> {
        *lock(&self.position)
    }

    /// The zone URL of the current connection while one is welcomed.
    pub fn zone(&self) -> Option<String> {
        if !self.connected.load(Ordering::SeqCst) {
            return None;
        }
        lock(&self.zone).as_ref().map(|(url, _)| url.clone())
    }

    /// When the latest `Welcome` came (the first frame from a zone).
    pub fn welcomed_at(&self) -> Option<Instant> {
        lock(&self.zone).as_ref().and_then(|(_, at)| *at)
    }

    pub(super) fn connecting(&self, url: &str) {
        *lock(&self.zone) = Some((url.to_owned(), None));
    }

    pub(super) fn welcomed(&self) {
        if let Some((_, at)) = lock(&self.zone).as_mut() {
            *at = Some(Instant::now());
        }
    }

    pub(super) fn saw_error(&self, error: Error) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        let mut kept = lock(&self.error_packets);
        if kept.len() < ERRORS_KEPT {
            kept.push(error);
        }
    }

    pub(super) fn saw_inventory(&self, inventory: Inventory, first_after_welcome: bool) {
        self.inventory_updates.fetch_add(1, Ordering::Relaxed);
        if first_after_welcome {
            *lock(&self.welcome_inventory) = Some(inventory.clone());
        }
        *lock(&self.inventory) = Some(inventory);
    }

    pub(super) fn saw_position(&self, at: Position) {
        *lock(&self.position) = Some(at);
    }
}

/// Items in an inventory packet: slots and weapon.
pub fn items_in(inventory: &Inventory) -> u64 {
    inventory
        .slots
        .iter()
        .flatten()
        .chain(inventory.weapon.iter())
        .map(|s| u64::from(s.count))
        .sum()
}

/// What a bot does, changeable while it plays. The first that is set wins: `stand`,
/// `juggle`, `gather`; with none set it walks its [`Route`](super::Route), fighting what it
/// meets when `fight` is set (the default for [`Bot::create`](super::Bot::create)).
#[derive(Debug, Default)]
pub struct Controls {
    /// Stand still, sending still inputs.
    pub stand: AtomicBool,
    /// Stand still, drop one carried item and pick it up again, over and over (every step
    /// changes the inventory, so every step is an urgent save).
    pub juggle: AtomicBool,
    /// Milliseconds between two drops when juggling (0: 1500).
    pub juggle_every_ms: AtomicU64,
    /// Run to visible ground items and pick them up.
    pub gather: AtomicBool,
    /// While walking the route: attack NPCs and pick up items within reach now and then.
    pub fight: AtomicBool,
}

/// One step's choice, read from [`Controls`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Activity {
    Stand,
    Juggle { every_ms: u64 },
    Gather,
    Walk { fight: bool },
}

impl Controls {
    /// Controls for a bot that walks its route and fights.
    pub fn fighting() -> Self {
        Self {
            fight: AtomicBool::new(true),
            ..Self::default()
        }
    }

    pub(super) fn activity(&self) -> Activity {
        let on = |flag: &AtomicBool| flag.load(Ordering::SeqCst);
        if on(&self.stand) {
            Activity::Stand
        } else if on(&self.juggle) {
            Activity::Juggle {
                every_ms: match self.juggle_every_ms.load(Ordering::SeqCst) {
                    0 => 1500,
                    ms => ms,
                },
            }
        } else if on(&self.gather) {
            Activity::Gather
        } else {
            Activity::Walk {
                fight: on(&self.fight),
            }
        }
    }
}
