//! Ghosts: the entities of neighbouring areas near this one, as their owners describe them
//! every tick (DESIGN.md, "Ghosts"). Each neighbour's stream is a client-protocol `Snapshot`
//! followed by `Delta`s, so this side keeps exactly the table a client would. Ghosts are
//! read-only: they are seen (the area of interest is chosen from real entities and ghosts
//! together) and acted on through their owner (`border_acts.rs`), never simulated here.
//!
//! Nothing a neighbour sends is taken on faith beyond what it may say: an entity must stand
//! in (or just past) the sender's area and near this one, an NPC's id must be one of the
//! sender's area's, no ghost may take the id of an entity of this area, and a stream that
//! skips a frame is dropped until its next `Snapshot`. A neighbour heard from for more than a
//! second has its ghosts removed.

use protocol::client::ServerPacket;
use protocol::client::entity::{EntityKind, EntityState, dequantize_position};
use protocol::cluster::GhostEvent;
use protocol::{AreaId, EntityId};
use rustc_hash::FxHashMap;

use super::Simulation;

/// The most ghosts one neighbour may show here.
pub(super) const MAX_GHOSTS_PER_NEIGHBOUR: usize = 1024;

/// Why a neighbour's frame was not (wholly) taken in. Counted by the zone as
/// `zone_ghost_frames_refused_total{reason}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum GhostRefusal {
    /// Not a client-protocol frame.
    #[error("the update is not a frame: {0}")]
    Malformed(&'static str),
    /// A frame, but not a `Snapshot` or `Delta`.
    #[error("the update is neither a Snapshot nor a Delta")]
    NotAnUpdate,
    /// A `Delta` against a frame this side does not hold: the stream waits for a snapshot.
    #[error("a delta against a frame not received")]
    Gap,
    /// More ghosts than one neighbour may show.
    #[error("too many ghosts")]
    TooMany,
    /// Entities that cannot be the sender's (out of place, foreign NPC ids, ids of this
    /// area's own entities) were left out; the rest was taken in.
    #[error("{0} entities that cannot be the sender's were left out")]
    Implausible(usize),
    /// Events that are not a `Damage` or `Death` of one of the sender's entities where it
    /// could be were left out; the rest was shown.
    #[error("{0} events that cannot be the sender's were left out")]
    ImplausibleEvents(usize),
}

impl GhostRefusal {
    /// The metric label.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Malformed(_) => "malformed",
            Self::NotAnUpdate => "not_an_update",
            Self::Gap => "gap",
            Self::TooMany => "too_many",
            Self::Implausible(_) => "implausible",
            Self::ImplausibleEvents(_) => "implausible_events",
        }
    }
}

/// One neighbour's ghosts, as a client of its stream would hold them.
#[derive(Debug, Default)]
struct Source {
    entities: FxHashMap<EntityId, EntityState>,
    /// The sender's tick of the last frame taken in; `None` until a snapshot comes.
    baseline: Option<u32>,
    /// This area's tick when the neighbour was last heard from.
    heard_at: u32,
    /// Entities shown here although the stream does not list them yet: a player this
    /// zone just handed over, until the new owner's stream shows them (or a second
    /// passes), so nobody here sees them vanish and reappear.
    provisional: FxHashMap<EntityId, (EntityState, u32)>,
}

/// Every neighbour's ghosts.
#[derive(Debug, Default)]
pub(super) struct Ghosts {
    sources: FxHashMap<AreaId, Source>,
}

impl Ghosts {
    /// Every ghost (one entity may not appear twice: a later source's copy is skipped by
    /// the caller's check against the table it builds, see `rebuild_spatial`).
    pub(super) fn iter(&self) -> impl Iterator<Item = &EntityState> {
        self.sources.values().flat_map(|s| {
            s.entities.values().chain(
                s.provisional
                    .iter()
                    .filter(|(id, _)| !s.entities.contains_key(id))
                    .map(|(_, (state, _))| state),
            )
        })
    }

    /// A ghost's state.
    pub(super) fn get(&self, id: EntityId) -> Option<&EntityState> {
        self.sources.values().find_map(|s| {
            s.entities
                .get(&id)
                .or_else(|| s.provisional.get(&id).map(|(state, _)| state))
        })
    }

    /// The area whose owner shows `id`.
    pub(super) fn source_of(&self, id: EntityId) -> Option<AreaId> {
        self.sources
            .iter()
            .find(|(_, s)| s.entities.contains_key(&id))
            .map(|(area, _)| *area)
    }

    fn len(&self) -> usize {
        self.sources.values().map(|s| s.entities.len()).sum()
    }
}

impl Simulation {
    /// Takes in a frame of `from`'s ghost stream (already known to come from its current
    /// owner): its update (empty: the owner is alive, nothing changed), then its events,
    /// shown to this area's players near where they happened (with the next tick).
    pub fn apply_ghost_frame(
        &mut self,
        from: AreaId,
        update: &[u8],
        events: &[GhostEvent],
    ) -> Result<(), GhostRefusal> {
        self.apply_ghost_update(from, update)?;
        let mut dropped = 0;
        let mut out = std::mem::take(&mut self.deferred);
        for event in events {
            let at = dequantize_position(event.pos);
            let packet = ServerPacket::decode(&event.frame).ok();
            let about = match &packet {
                Some(ServerPacket::Damage(d)) => Some(d.target),
                Some(ServerPacket::Death(d)) => Some(d.entity),
                _ => None,
            };
            let plausible = about.is_some_and(|id| {
                self.ghosts
                    .sources
                    .get(&from)
                    .is_some_and(|s| s.entities.contains_key(&id))
            }) && stands_at(&self.grid, from, at)
                && self.within_sight(at);
            match packet {
                Some(packet) if plausible => self.broadcast_here(at, packet, &mut out),
                _ => dropped += 1,
            }
        }
        self.deferred = out;
        if dropped > 0 {
            return Err(GhostRefusal::ImplausibleEvents(dropped));
        }
        Ok(())
    }

    fn apply_ghost_update(&mut self, from: AreaId, update: &[u8]) -> Result<(), GhostRefusal> {
        let tick = self.tick;
        let source = self.ghosts.sources.entry(from).or_default();
        source.heard_at = tick;
        if update.is_empty() {
            return Ok(());
        }
        let packet = ServerPacket::decode(update).map_err(|e| {
            GhostRefusal::Malformed(match e {
                protocol::client::DecodeError::TooLarge { .. } => "too large",
                _ => "undecodable",
            })
        })?;
        let mut dropped = 0;
        match packet {
            ServerPacket::Snapshot(snapshot) => {
                if snapshot.entities.len() > MAX_GHOSTS_PER_NEIGHBOUR {
                    self.drop_ghosts(from);
                    return Err(GhostRefusal::TooMany);
                }
                let mut entities = FxHashMap::default();
                for state in snapshot.entities {
                    if self.plausible_ghost(from, &state) {
                        entities.insert(state.id, state);
                    } else {
                        dropped += 1;
                    }
                }
                let source = self.ghosts.sources.entry(from).or_default();
                source.entities = entities;
                source.baseline = Some(snapshot.tick);
            }
            ServerPacket::Delta(delta) => {
                let source = self.ghosts.sources.entry(from).or_default();
                if source.baseline != Some(delta.baseline) {
                    source.entities.clear();
                    source.baseline = None;
                    return Err(GhostRefusal::Gap);
                }
                if source.entities.len() + delta.added.len() > MAX_GHOSTS_PER_NEIGHBOUR {
                    self.drop_ghosts(from);
                    return Err(GhostRefusal::TooMany);
                }
                let mut added = Vec::with_capacity(delta.added.len());
                for state in delta.added {
                    if self.plausible_ghost(from, &state) {
                        added.push(state);
                    } else {
                        dropped += 1;
                    }
                }
                let grid = self.grid;
                let source = self.ghosts.sources.entry(from).or_default();
                for state in added {
                    source.provisional.remove(&state.id);
                    source.entities.insert(state.id, state);
                }
                for update in &delta.updated {
                    if let Some(state) = source.entities.get_mut(&update.id) {
                        update.apply(state);
                        // Moved out of place: no longer believed.
                        if !stands_near(&grid, from, state) {
                            source.entities.remove(&update.id);
                            dropped += 1;
                        }
                    }
                }
                for id in &delta.removed {
                    source.entities.remove(id);
                }
                source.baseline = Some(delta.tick);
            }
            _ => return Err(GhostRefusal::NotAnUpdate),
        }
        if dropped > 0 {
            return Err(GhostRefusal::Implausible(dropped));
        }
        Ok(())
    }

    /// Whether `state` can be an entity of `from` near this area, under an id of its own.
    fn plausible_ghost(&self, from: AreaId, state: &EntityState) -> bool {
        let id_ok = state.id.is_valid()
            && match state.kind {
                EntityKind::Npc => state.id.npc_area() == Some(from),
                _ => state.id.npc_area().is_none(),
            };
        id_ok
            && !self.is_local(state.id)
            && stands_near(&self.grid, from, state)
            && self.within_sight(dequantize_position(state.pos))
    }

    /// Whether a point is close enough to this area for one of its players to see it.
    fn within_sight(&self, at: protocol::Position) -> bool {
        let b = self.grid.bounds(self.content.area);
        let reach = self.cfg.aoi_radius + self.grid.handoff_margin + 1.0;
        at.x >= b.min_x - reach
            && at.x <= b.max_x + reach
            && at.z >= b.min_z - reach
            && at.z <= b.max_z + reach
    }

    /// Forgets every ghost of `area` (its owner changed, stopped, or lost the area).
    pub fn drop_ghosts(&mut self, area: AreaId) {
        self.ghosts.sources.remove(&area);
    }

    /// Keeps showing a player this zone just handed over to `to_area` where they were,
    /// until `to_area`'s owner's stream shows them (or a second passes).
    pub fn keep_in_view(&mut self, state: EntityState, to_area: AreaId) {
        let until = self.tick + self.cfg.tick_rate;
        let source = self.ghosts.sources.entry(to_area).or_default();
        if source.baseline.is_none() && source.entities.is_empty() {
            source.heard_at = self.tick;
        }
        source.provisional.insert(state.id, (state, until));
    }

    /// The tick's expiry phase: the ghosts of a neighbour not heard from for a second go,
    /// and so do provisional ghosts whose second is up.
    pub(super) fn expire_ghosts(&mut self) {
        let (tick, silence) = (self.tick, self.cfg.tick_rate);
        self.ghosts.sources.retain(|_, source| {
            source.provisional.retain(|_, (_, until)| tick < *until);
            let heard = tick.saturating_sub(source.heard_at) <= silence;
            if !heard {
                source.entities.clear();
                source.baseline = None;
            }
            heard || !source.provisional.is_empty()
        });
    }

    /// Ghosts held.
    pub fn ghost_count(&self) -> usize {
        self.ghosts.len()
    }

    /// Every ghost's id, position and the area that owns it (tests, the dashboard).
    pub fn ghost_positions(&self) -> Vec<(EntityId, AreaId, [i32; 3])> {
        self.ghosts
            .sources
            .iter()
            .flat_map(|(area, s)| s.entities.values().map(|e| (e.id, *area, e.pos)))
            .collect()
    }
}

/// Whether a ghost of `from` stands where one can: inside `from` or within the handoff
/// margin past its edge (a player about to cross).
fn stands_near(grid: &protocol::WorldGrid, from: AreaId, state: &EntityState) -> bool {
    stands_at(grid, from, dequantize_position(state.pos))
}

/// Whether `at` is inside `from` or within the handoff margin past its edge.
fn stands_at(grid: &protocol::WorldGrid, from: AreaId, at: protocol::Position) -> bool {
    let b = grid.bounds(from);
    let slack = grid.handoff_margin + 1.0;
    at.is_finite()
        && at.x >= b.min_x - slack
        && at.x <= b.max_x + slack
        && at.z >= b.min_z - slack
        && at.z <= b.max_z + slack
}
