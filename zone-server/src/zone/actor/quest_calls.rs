//! Calls to quest-api in flight, per character, and the players who left while some were:
//! their state is held (and a reward that lands meanwhile goes into it) and saved once their
//! last call is answered, so a reward earned just before leaving is never lost. A handoff
//! and an evacuation wait until a player has no call in flight.

use protocol::cluster::PlayerTransfer;
use protocol::content::ItemStack;
use protocol::http::character::Character;
use protocol::http::quest::{ProgressOutcome, QuestProgress};
use protocol::{CharacterId, EventId, Position, QuestId};
use ractor::ActorRef;
use rustc_hash::FxHashMap;

use crate::apis::{Apis, with_retry};
use crate::sim::quests;
use crate::zone::ZoneMsg;

/// A player who left while quest calls about them were in flight.
#[derive(Debug)]
struct Leaving {
    character: Box<Character>,
    quests: Vec<QuestProgress>,
}

/// Where quest-api's answer to a progress event goes.
#[derive(Debug)]
pub(super) enum Landing {
    /// The player is still here: into their simulation.
    Present(ProgressOutcome),
    /// The player left: absorbed into the state held for them; reward items that did not
    /// fit their inventory go on the ground where they were.
    Held(Option<(Position, Vec<ItemStack>)>),
}

/// The quest calls of one zone.
#[derive(Debug)]
pub(super) struct QuestCalls {
    apis: Apis,
    in_flight: FxHashMap<CharacterId, u32>,
    leaving: FxHashMap<CharacterId, Leaving>,
}

impl QuestCalls {
    pub(super) fn new(apis: Apis) -> Self {
        Self {
            apis,
            in_flight: FxHashMap::default(),
            leaving: FxHashMap::default(),
        }
    }

    /// Whether a call about `character` is in flight.
    pub(super) fn busy(&self, character: CharacterId) -> bool {
        self.in_flight.contains_key(&character)
    }

    /// Whether no call at all is in flight.
    pub(super) fn is_empty(&self) -> bool {
        self.in_flight.is_empty()
    }

    /// Reports progress; the answer comes back as [`ZoneMsg::QuestProgressDone`].
    pub(super) fn progress(
        &mut self,
        myself: &ActorRef<ZoneMsg>,
        character: CharacterId,
        quest: QuestId,
        objective: u8,
        amount: u32,
    ) {
        *self.in_flight.entry(character).or_default() += 1;
        let (apis, myself) = (self.apis.clone(), myself.clone());
        // One event id for every retry: quest-api counts it once.
        let event = EventId::new_random();
        tokio::spawn(async move {
            let result =
                with_retry(|| apis.progress(character, &quest, event, objective, amount)).await;
            let _ = myself.cast(ZoneMsg::QuestProgressDone { character, result });
        });
    }

    /// Accepts a quest; the answer comes back as [`ZoneMsg::QuestAcceptDone`].
    pub(super) fn accept(
        &mut self,
        myself: &ActorRef<ZoneMsg>,
        character: CharacterId,
        quest: QuestId,
    ) {
        *self.in_flight.entry(character).or_default() += 1;
        let (apis, myself) = (self.apis.clone(), myself.clone());
        tokio::spawn(async move {
            let result = apis.accept(character, &quest).await;
            let _ = myself.cast(ZoneMsg::QuestAcceptDone { character, result });
        });
    }

    /// A player left: their character to save now, or `None` when it is held until their
    /// calls are answered.
    pub(super) fn departed(&mut self, gone: PlayerTransfer) -> Option<Box<Character>> {
        let id = gone.character.id;
        let character = Box::new(gone.character);
        if !self.busy(id) {
            return Some(character);
        }
        let quests = gone.quests;
        self.leaving.insert(id, Leaving { character, quests });
        None
    }

    /// Where a progress outcome for `character` goes.
    pub(super) fn land(&mut self, character: CharacterId, outcome: ProgressOutcome) -> Landing {
        let Some(left) = self.leaving.get_mut(&character) else {
            return Landing::Present(outcome);
        };
        let overflow = quests::absorb_outcome(&mut left.character, &mut left.quests, outcome);
        Landing::Held(overflow.map(|items| (left.character.position, items)))
    }

    /// A call ended: the character to save if it was the last call about a player who left.
    pub(super) fn finished(&mut self, character: CharacterId) -> Option<Box<Character>> {
        let n = self.in_flight.get_mut(&character)?;
        *n -= 1;
        if *n > 0 {
            return None;
        }
        self.in_flight.remove(&character);
        self.leaving.remove(&character).map(|l| l.character)
    }

    /// A write of `character` naming `wrote` succeeded with `version`: a state held for
    /// them that the write was of names `version` from now on (its own save, once their
    /// last call is answered, would otherwise be refused as stale).
    pub(super) fn saved(&mut self, character: CharacterId, wrote: u64, version: u64) {
        if let Some(left) = self
            .leaving
            .get_mut(&character)
            .filter(|l| l.character.version == wrote)
        {
            left.character.version = version;
        }
    }

    /// The state held for `character`, taken back by a session of theirs that starts here
    /// (answers still in flight then land in that session instead).
    pub(super) fn take_leaving(
        &mut self,
        character: CharacterId,
    ) -> Option<(Box<Character>, Vec<QuestProgress>)> {
        self.leaving
            .remove(&character)
            .map(|l| (l.character, l.quests))
    }

    /// Every held state, to save now (the area is left; late answers then find no one).
    pub(super) fn drain_leaving(&mut self) -> impl Iterator<Item = Box<Character>> + '_ {
        self.leaving.drain().map(|(_, l)| l.character)
    }
}
