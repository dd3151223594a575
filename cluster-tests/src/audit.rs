//! The item audit: every item and coin the players carry accounted for, nothing duplicated,
//! nothing lost. Items have no identity of their own (an inventory is stacks of kinds), so
//! the audit follows each player instead:
//!
//! - while they play, a [`Ledger`] watches every player's inventory as its zone sends it
//!   (the zones' live state) and, each time the player arrives in a zone (a handoff, a
//!   migration, a rejoin), compares what it arrived with to what it left with. Arriving with
//!   more items than it left with (plus what it picked up meanwhile) is a **duplicate**;
//!   arriving with fewer across a handoff or migration is a **loss**; arriving with fewer
//!   after a rejoin is the unsaved part of play rolled back to the last save (DESIGN.md
//!   "Failure"), counted but not a violation;
//! - at the end, with everybody standing still and every save landed, [`Ledger::audit`]
//!   holds character-api's saved inventory to the one the player's zone last sent it,
//!   item for item and coin for coin: a save lost, or a stale zone's save that overwrote a
//!   newer one, shows there.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use protocol::CharacterId;
use protocol::client::packets::Inventory;
use protocol::http::character::Character;
use tokio::sync::{Mutex, watch};

use crate::bot::{BotStats, items_in};

/// How often the ledger looks at every player.
const SAMPLE_EVERY: Duration = Duration::from_millis(10);

/// One player the audit follows.
#[derive(Debug, Clone)]
pub struct Audited {
    /// Its name (in reports).
    pub name: String,
    /// Its character.
    pub character: CharacterId,
    /// What its bot saw.
    pub stats: Arc<BotStats>,
}

/// What the audit found.
#[derive(Debug, Default, Clone)]
pub struct AuditReport {
    /// Players audited.
    pub players: usize,
    /// Items carried by all of them at the end (saved and live agreeing).
    pub items: u64,
    /// Coins carried by all of them at the end.
    pub coins: u64,
    /// Arrivals in a zone (handoffs, migrations, rejoins) checked.
    pub arrivals: u64,
    /// Items rolled back to the last save by rejoins (not violations).
    pub rolled_back: u64,
    /// Every violation: a duplicate, a loss, or saved and live state disagreeing.
    pub violations: Vec<String>,
}

/// What the ledger last saw of one player.
#[derive(Debug, Clone, Default)]
struct Seen {
    welcomes: u64,
    transfers: u64,
    lost: u64,
    pickups: u64,
    drops: u64,
    items: u64,
}

impl Seen {
    fn of(stats: &BotStats) -> Self {
        let get = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::SeqCst);
        Self {
            welcomes: get(&stats.welcomes),
            transfers: get(&stats.transfers),
            lost: get(&stats.lost),
            pickups: get(&stats.pickups),
            drops: get(&stats.drops_sent),
            items: stats.items(),
        }
    }
}

#[derive(Debug, Default)]
struct Book {
    arrivals: u64,
    rolled_back: u64,
    violations: Vec<String>,
}

/// Follows players' inventories while they play; see the module's documentation.
#[derive(Debug)]
pub struct Ledger {
    players: Vec<Audited>,
    book: Arc<Mutex<Book>>,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Ledger {
    /// Starts watching `players`.
    pub fn start(players: Vec<Audited>) -> Self {
        let book = Arc::new(Mutex::new(Book::default()));
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(watch_players(players.clone(), book.clone(), stopped));
        Self {
            players,
            book,
            stop,
            task,
        }
    }

    /// Stops watching and audits the end state against character-api (`characters`: the
    /// stored character of each player, `None` when it cannot be read). Call it once the
    /// players stand still and their saves have landed.
    pub async fn audit(
        self,
        characters: impl AsyncFn(CharacterId) -> Option<Character>,
    ) -> AuditReport {
        let _ = self.stop.send(true);
        let _ = self.task.await;
        let book = std::mem::take(&mut *self.book.lock().await);
        let mut report = AuditReport {
            players: self.players.len(),
            arrivals: book.arrivals,
            rolled_back: book.rolled_back,
            violations: book.violations,
            ..AuditReport::default()
        };
        for player in &self.players {
            let Some(live) = player.stats.last_inventory() else {
                report
                    .violations
                    .push(format!("{}: no inventory was ever sent to it", player.name));
                continue;
            };
            let Some(stored) = characters(player.character).await else {
                report.violations.push(format!(
                    "{}: character-api does not answer for it",
                    player.name
                ));
                continue;
            };
            report.items += items_in(&live);
            report.coins += live.coins;
            if !same_inventory(&live, &stored.inventory) {
                report.violations.push(format!(
                    "{}: its zone shows {live:?}, character-api holds {:?}",
                    player.name, stored.inventory
                ));
            }
        }
        report
    }
}

/// Whether what a zone sent a player and what character-api stores are the same inventory
/// (trailing empty slots aside).
pub fn same_inventory(sent: &Inventory, stored: &protocol::http::character::Inventory) -> bool {
    fn trimmed(
        slots: &[Option<protocol::content::ItemStack>],
    ) -> &[Option<protocol::content::ItemStack>] {
        let end = slots.iter().rposition(Option::is_some).map_or(0, |i| i + 1);
        &slots[..end]
    }
    sent.coins == stored.coins
        && sent.weapon == stored.weapon
        && trimmed(&sent.slots) == trimmed(&stored.slots)
}

async fn watch_players(
    players: Vec<Audited>,
    book: Arc<Mutex<Book>>,
    mut stop: watch::Receiver<bool>,
) {
    let mut seen: Vec<Seen> = players.iter().map(|p| Seen::of(&p.stats)).collect();
    let mut every = tokio::time::interval(SAMPLE_EVERY);
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            _ = every.tick() => {}
        }
        let mut book = book.lock().await;
        for (player, before) in players.iter().zip(seen.iter_mut()) {
            let now = Seen::of(&player.stats);
            if now.welcomes > before.welcomes {
                book.arrivals += now.welcomes - before.welcomes;
                let arrived = player.stats.welcome_inventory().map_or(0, |i| items_in(&i));
                check_arrival(&player.name, before, &now, arrived, &mut book);
            }
            *before = now;
        }
    }
}

/// Holds one arrival to what the player left with (see the module's documentation).
fn check_arrival(name: &str, before: &Seen, now: &Seen, arrived: u64, book: &mut Book) {
    // What happened between the two looks: pickups and drops in either zone (they only
    // widen the bounds), and whether the move was a rejoin.
    let picked = now.pickups - before.pickups;
    let dropped = now.drops - before.drops;
    let rejoined = now.lost > before.lost;
    if arrived > before.items + picked {
        book.violations.push(format!(
            "{name}: arrived with {arrived} items, left with {} (and picked up {picked}): \
             duplicated",
            before.items
        ));
    } else if arrived + dropped < before.items {
        let missing = before.items - arrived - dropped;
        if rejoined {
            book.rolled_back += missing;
        } else if now.transfers > before.transfers {
            book.violations.push(format!(
                "{name}: arrived by transfer with {arrived} items, left with {}: {missing} lost",
                before.items
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(items: u64, pickups: u64, transfers: u64, lost: u64) -> Seen {
        Seen {
            welcomes: transfers + lost,
            transfers,
            lost,
            pickups,
            drops: 0,
            items,
        }
    }

    #[test]
    fn arrivals_with_more_are_duplicates_and_with_less_losses_unless_rolled_back() {
        let mut book = Book::default();
        let before = seen(3, 5, 0, 0);
        check_arrival("kept", &before, &seen(3, 5, 1, 0), 3, &mut book);
        check_arrival("picked", &before, &seen(4, 6, 1, 0), 4, &mut book);
        assert!(book.violations.is_empty());
        check_arrival("dup", &before, &seen(4, 5, 1, 0), 4, &mut book);
        check_arrival("lost", &before, &seen(2, 5, 1, 0), 2, &mut book);
        assert_eq!(book.violations.len(), 2, "{:?}", book.violations);
        check_arrival("rejoined", &before, &seen(1, 5, 0, 1), 1, &mut book);
        assert_eq!(book.rolled_back, 2);
        assert_eq!(book.violations.len(), 2);
    }
}
