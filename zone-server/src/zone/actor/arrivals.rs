//! Players expected but not connected yet: each with its ticket, its data (loaded for a
//! join, carried by a handoff or a migration) and where it came from. Invariants kept here:
//! a ticket admits someone (is in the process's ticket map) exactly while its arrival is
//! pending; a handoff names at most one pending arrival; a pending arrival leaves only
//! through [`Arrivals::claim`], [`Arrivals::expired`], [`Arrivals::abort`],
//! [`Arrivals::drain`] or [`Arrivals::take_character`], which hand back what must still be
//! saved (or continued). A handoff's commit and
//! abort are taken only from the identity that sent its prepare; one this zone never
//! prepared is answered as unknown.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use protocol::cluster::{Identity, PlayerTransfer};
use protocol::http::character::Character;
use protocol::http::zone::ArrivedBy;
use protocol::{CharacterId, HandoffId, Ticket, UnixMillis, ZoneId};

use crate::shared::Shared;

/// A player whose data is loaded and whose ticket is not spent yet.
#[derive(Debug)]
pub(super) struct PendingArrival {
    /// As loaded (a join) or carried (a handoff or a migration, with its inputs).
    pub(super) arrival: PlayerTransfer,
    pub(super) expires_at: UnixMillis,
    pub(super) origin: Origin,
}

impl PendingArrival {
    /// The character to save if nobody claims this arrival: carried state that is this
    /// zone's (a committed handoff, a migration) is saved, never dropped.
    pub(super) fn unclaimed(self) -> Option<Box<Character>> {
        self.origin
            .owned()
            .then(|| Box::new(self.arrival.character))
    }
}

/// Where a pending arrival came from, which decides what happens if its ticket expires.
#[derive(Debug, Clone, Copy)]
pub(super) enum Origin {
    /// A join: the data is as saved; nothing to do.
    Join,
    /// A handoff: once committed, the carried state is this zone's to save.
    Handoff { handoff: HandoffId, committed: bool },
    /// A migration: the carried state is this zone's to save.
    Migration,
}

impl Origin {
    pub(super) fn arrived_by(self) -> ArrivedBy {
        match self {
            Self::Join => ArrivedBy::Join,
            Self::Handoff { .. } => ArrivedBy::Handoff,
            Self::Migration => ArrivedBy::Migration,
        }
    }

    /// Whether the carried state must be saved if the client never comes.
    pub(super) fn owned(self) -> bool {
        matches!(
            self,
            Self::Migration
                | Self::Handoff {
                    committed: true,
                    ..
                }
        )
    }
}

/// How many handoffs' senders are remembered after their arrival left (a commit that comes
/// after the client is acknowledged, not refused).
const HANDOFFS_REMEMBERED: usize = 4096;

/// Why a commit or an abort is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("no handoff {0} was prepared here by this sender")]
pub(super) struct UnknownHandoff(pub(super) HandoffId);

/// The pending arrivals of one zone, by ticket and by the handoff that made them.
#[derive(Debug)]
pub(super) struct Arrivals {
    zone: ZoneId,
    shared: Arc<Shared>,
    pending: HashMap<Ticket, PendingArrival>,
    by_handoff: HashMap<HandoffId, Ticket>,
    /// Who sent each recent handoff's prepare, oldest first in `handoff_order`.
    handoff_senders: HashMap<HandoffId, Identity>,
    handoff_order: VecDeque<HandoffId>,
}

impl Arrivals {
    pub(super) fn new(zone: ZoneId, shared: Arc<Shared>) -> Self {
        Self {
            zone,
            shared,
            pending: HashMap::new(),
            by_handoff: HashMap::new(),
            handoff_senders: HashMap::new(),
            handoff_order: VecDeque::new(),
        }
    }

    /// How many tickets wait to be spent.
    #[cfg(feature = "test-hooks")]
    pub(super) fn len(&self) -> usize {
        self.pending.len()
    }

    /// The places in the area that pending arrivals hold: one per character expected
    /// (a character joining again before spending its ticket holds one place, not two),
    /// `except` left out.
    pub(super) fn places_held(&self, except: CharacterId) -> usize {
        let characters: std::collections::HashSet<CharacterId> = self
            .pending
            .values()
            .map(|p| p.arrival.character.id)
            .filter(|c| *c != except)
            .collect();
        characters.len()
    }

    /// Whether `ticket` is pending here.
    pub(super) fn contains(&self, ticket: &Ticket) -> bool {
        self.pending.contains_key(ticket)
    }

    /// Makes `ticket` admit `arrival` (a join's or a migration's).
    pub(super) fn insert(&mut self, ticket: Ticket, arrival: PendingArrival) {
        if let Origin::Handoff { handoff, .. } = arrival.origin {
            self.by_handoff.insert(handoff, ticket);
        }
        self.pending.insert(ticket, arrival);
        self.shared.add_ticket(ticket, self.zone);
    }

    /// The pending arrival a handoff prepare made, as `(ticket, expires_at)`, or a new one
    /// made by `arrive` (a repeated prepare, whose answer was lost, gets the same ticket);
    /// `None` when the handoff id was prepared by another sender.
    pub(super) fn for_handoff(
        &mut self,
        handoff: HandoffId,
        sender: &Identity,
        arrive: impl FnOnce() -> PendingArrival,
    ) -> Option<(Ticket, UnixMillis)> {
        match self.handoff_senders.get(&handoff) {
            Some(known) if known != sender => return None,
            Some(_) => {}
            None => {
                self.handoff_senders.insert(handoff, sender.clone());
                self.handoff_order.push_back(handoff);
                while self.handoff_order.len() > HANDOFFS_REMEMBERED {
                    if let Some(old) = self.handoff_order.pop_front() {
                        self.handoff_senders.remove(&old);
                    }
                }
            }
        }
        let known = self
            .by_handoff
            .get(&handoff)
            .and_then(|t| self.pending.get(t).map(|p| (*t, p.expires_at)));
        if let Some(known) = known {
            return Some(known);
        }
        let (ticket, arrival) = (Ticket::new_random(), arrive());
        let expires_at = arrival.expires_at;
        self.insert(ticket, arrival);
        Some((ticket, expires_at))
    }

    fn check_sender(&self, handoff: HandoffId, sender: &Identity) -> Result<(), UnknownHandoff> {
        match self.handoff_senders.get(&handoff) {
            Some(known) if known == sender => Ok(()),
            _ => Err(UnknownHandoff(handoff)),
        }
    }

    /// The handoff was committed: its carried state is now this zone's.
    pub(super) fn commit(
        &mut self,
        handoff: HandoffId,
        sender: &Identity,
    ) -> Result<(), UnknownHandoff> {
        self.check_sender(handoff, sender)?;
        if let Some(p) = self
            .by_handoff
            .get(&handoff)
            .and_then(|t| self.pending.get_mut(t))
        {
            p.origin = Origin::Handoff {
                handoff,
                committed: true,
            };
        }
        Ok(())
    }

    /// The sender gave the handoff up: its arrival goes unless it was committed already
    /// (then the state is this zone's, and the ticket stays until spent or expired).
    pub(super) fn abort(
        &mut self,
        handoff: HandoffId,
        sender: &Identity,
    ) -> Result<(), UnknownHandoff> {
        self.check_sender(handoff, sender)?;
        let Some(ticket) = self.by_handoff.remove(&handoff) else {
            return Ok(());
        };
        let uncommitted = self.pending.get(&ticket).is_some_and(|p| {
            matches!(
                p.origin,
                Origin::Handoff {
                    committed: false,
                    ..
                }
            )
        });
        if uncommitted {
            self.claim(&ticket);
        }
        Ok(())
    }

    /// Takes out every arrival whose ticket is past `now`.
    pub(super) fn expired(&mut self, now: UnixMillis) -> Vec<PendingArrival> {
        self.take_where(|p| p.expires_at <= now)
    }

    /// Takes out every arrival of `character` (one of their tickets was spent: that session
    /// is the character's one here, and continues the freshest of these states).
    pub(super) fn take_character(&mut self, character: CharacterId) -> Vec<PendingArrival> {
        self.take_where(|p| p.arrival.character.id == character)
    }

    /// Takes out every arrival (the area is left).
    pub(super) fn drain(&mut self) -> Vec<PendingArrival> {
        self.take_where(|_| true)
    }

    fn take_where(&mut self, pick: impl Fn(&PendingArrival) -> bool) -> Vec<PendingArrival> {
        let tickets: Vec<Ticket> = self
            .pending
            .iter()
            .filter(|(_, p)| pick(p))
            .map(|(t, _)| *t)
            .collect();
        tickets.iter().filter_map(|t| self.claim(t)).collect()
    }

    /// Spends `ticket`: its arrival, which no longer admits anyone.
    pub(super) fn claim(&mut self, ticket: &Ticket) -> Option<PendingArrival> {
        let pending = self.pending.remove(ticket)?;
        self.shared.remove_ticket(ticket);
        if let Origin::Handoff { handoff, .. } = pending.origin {
            self.by_handoff.remove(&handoff);
        }
        Some(pending)
    }
}
