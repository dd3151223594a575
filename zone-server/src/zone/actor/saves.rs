//! The save pipeline: at most one save in flight per character, the newest state waiting
//! behind it (intermediate ones are skipped), each save naming the version the previous
//! one produced; and the shutdown waiters, answered once nothing is in flight. The state
//! being saved is kept until its save ends: a player who reconnects meanwhile continues it
//! (`latest`), not the older state character-api still holds.

use std::collections::HashMap;
use std::sync::Arc;

use protocol::CharacterId;
use protocol::http::character::Character;
use ractor::{ActorRef, RpcReplyPort};

use crate::apis::{ApiError, Apis};
use crate::zone::ZoneMsg;

/// One character's save in flight.
#[derive(Debug)]
struct Saving {
    /// The state being written (its `version` is the one the write names), shared with
    /// the task writing it.
    writing: Arc<Character>,
    /// The newest state waiting behind it.
    next: Option<Box<Character>>,
}

/// Saves in flight, per character.
#[derive(Debug)]
pub(super) struct SaveQueue {
    apis: Apis,
    in_flight: HashMap<CharacterId, Saving>,
    /// Answered once no save is in flight.
    drained: Vec<RpcReplyPort<()>>,
}

impl SaveQueue {
    pub(super) fn new(apis: Apis) -> Self {
        Self {
            apis,
            in_flight: HashMap::new(),
            drained: Vec::new(),
        }
    }

    /// Whether a save of `character` is in flight (a handoff waits for it).
    pub(super) fn in_flight(&self, character: CharacterId) -> bool {
        self.in_flight.contains_key(&character)
    }

    /// Whether no save at all is in flight (an evacuation waits for that).
    pub(super) fn is_empty(&self) -> bool {
        self.in_flight.is_empty()
    }

    /// How many characters have a save in flight.
    #[cfg(feature = "test-hooks")]
    pub(super) fn len(&self) -> usize {
        self.in_flight.len()
    }

    /// Saves `character` now, or after the save in flight (replacing any state waiting).
    pub(super) fn queue(&mut self, myself: &ActorRef<ZoneMsg>, character: Box<Character>) {
        match self.in_flight.get_mut(&character.id) {
            Some(saving) => saving.next = Some(character),
            None => self.start(myself, character),
        }
    }

    /// The newest state of `character` being saved or waiting to be, named by the version
    /// the write in flight names (a session continuing it learns the next version when
    /// that write ends, as any session here does).
    pub(super) fn latest(&self, character: CharacterId) -> Option<Character> {
        let saving = self.in_flight.get(&character)?;
        let mut latest = match &saving.next {
            Some(next) => next.as_ref().clone(),
            None => saving.writing.as_ref().clone(),
        };
        latest.version = saving.writing.version;
        Some(latest)
    }

    /// A save ended: on success the waiting state (if any) goes next under the new
    /// version; on a refusal it is dropped with the slot (a stale writer must not write).
    /// Returns the version the ended write named (`None` if none was in flight).
    pub(super) fn finished(
        &mut self,
        myself: &ActorRef<ZoneMsg>,
        character: CharacterId,
        result: &Result<u64, ApiError>,
    ) -> Option<u64> {
        let Saving { writing, next } = self.in_flight.remove(&character)?;
        match result {
            Ok(version) => {
                metrics::counter!("zone_saves_total", "result" => "ok").increment(1);
                if let Some(mut next) = next {
                    next.version = *version;
                    self.start(myself, next);
                }
            }
            Err(e) => {
                let stale = e.status() == Some(412);
                metrics::counter!("zone_saves_total", "result" => if stale { "stale" } else { "refused" }).increment(1);
                tracing::warn!(%character, version = writing.version, error = %e, "save failed");
            }
        }
        self.reply_if_drained();
        Some(writing.version)
    }

    /// Answers `reply` once no save is in flight (at once if none is).
    pub(super) fn when_drained(&mut self, reply: RpcReplyPort<()>) {
        self.drained.push(reply);
        self.reply_if_drained();
    }

    fn reply_if_drained(&mut self) {
        if self.in_flight.is_empty() {
            for reply in self.drained.drain(..) {
                let _ = reply.send(());
            }
        }
    }

    fn start(&mut self, myself: &ActorRef<ZoneMsg>, character: Box<Character>) {
        let apis = self.apis.clone();
        let myself = myself.clone();
        let writing = Arc::<Character>::from(character);
        let written = Arc::clone(&writing);
        tokio::spawn(async move {
            let result = apis.save_with_retry(&written).await;
            let _ = myself.cast(ZoneMsg::SaveDone {
                character: written.id,
                result,
            });
        });
        self.in_flight.insert(
            writing.id,
            Saving {
                writing,
                next: None,
            },
        );
    }
}
