//! The end of the tick: the spatial index and motion table rebuilt from where everything
//! now is, then each client sent its input acknowledgement, the changes it can see (its
//! area of interest as a `Snapshot` or `Delta`) and its own panel, in that order, and saves
//! started for players whose changes are due in storage.

use protocol::client::entity::{EntityMotion, EntityState, dequantize_position};
use protocol::client::packets as pk;
use protocol::client::{ServerPacket, UpdateWriter};
use protocol::http::character::Character;
use protocol::{CharacterId, EntityId};

use super::encodings::EntityEncodings;
use super::interest::Cadence;
use super::items::GroundItem;
use super::player::SaveDue;
use super::view::EntitySource;
use super::{Effect, Frame, Simulation, TickOutput};

impl Simulation {
    /// Indexes every entity where it now stands, with its motion this tick: this area's
    /// own, then the ghosts of its neighbours' (but none that is also here: a player just
    /// handed over is real here before the old owner's stream stops showing them).
    pub(super) fn rebuild_spatial(&mut self) {
        self.spatial.clear();
        self.frame.clear();
        self.frame_version += 1;
        let mut table = Table {
            spatial: &mut self.spatial,
            frame: &mut self.frame,
        };
        for p in self.players.values() {
            let at = p.character.position;
            table.set(p.entity, p.motion(), at.x, at.z);
        }
        for n in &self.npcs {
            table.set(n.entity, n.motion(), n.pos.x, n.pos.z);
        }
        for i in self.items.values() {
            table.set(i.entity, i.motion(), i.pos.x, i.pos.z);
        }
        self.local_slots = table.frame.len();
        let local = |id: &EntityId| {
            self.players.contains_key(id)
                || self.npc_index.contains_key(id)
                || self.items.contains_key(id)
        };
        for ghost in self.ghosts.iter().filter(|g| !local(&g.id)) {
            let at = dequantize_position(ghost.pos);
            table.set(ghost.id, ghost.motion(), at.x, at.z);
        }
    }

    /// Sends every client what changed for them, in player order.
    pub(super) fn send_views(&mut self, ids: &[EntityId], out: &mut TickOutput) {
        let frame = &self.frame;
        self.id_order.rank(frame.len(), |slot| frame[slot].0);
        self.encodings.begin(frame, self.frame_version);
        for &id in ids {
            self.send_view(id, out);
        }
    }

    /// An entity's full state: one of this area's, or a ghost as its owner described it.
    pub(super) fn state_of(&self, id: EntityId) -> Option<EntityState> {
        if let Some(p) = self.players.get(&id) {
            return Some(p.state());
        }
        if let Some(&i) = self.npc_index.get(&id) {
            return Some(self.npcs[i].state());
        }
        if let Some(item) = self.items.get(&id) {
            return Some(GroundItem::state(item));
        }
        self.ghosts.get(id).cloned()
    }

    fn send_view(&mut self, id: EntityId, out: &mut TickOutput) {
        let tick = self.tick;
        let save_every = self.secs(self.cfg.save_interval_secs as f32);
        let Some(player) = self.players.get_mut(&id) else {
            return;
        };
        let at = player.character.position;
        let mut view = std::mem::take(&mut player.view);
        let mut near = std::mem::take(&mut self.near);
        let mut visible = std::mem::take(&mut self.visible);
        let mut in_order = std::mem::take(&mut self.in_order);
        let mut encodings = std::mem::take(&mut self.encodings);
        let mut writer = std::mem::take(&mut self.writer);
        self.spatial
            .nearest(at.x, at.z, self.cfg.aoi_radius, self.cfg.aoi_max, &mut near);
        self.id_order
            .sort(near.iter().map(|&(_, slot)| slot), &mut in_order);
        let frame = &self.frame;
        visible.clear();
        visible.extend(in_order.iter().map(|&slot| (frame[slot as usize].0, slot)));
        let cadence = Cadence::new(tick, at);
        let mut bytes = out.buffer();
        let written = view.update_paced(
            tick,
            &mut visible,
            &mut TickEntities {
                sim: self,
                encodings: &mut encodings,
            },
            |e, motion| cadence.movement_due(e, motion),
            &mut writer,
            &mut bytes,
        );
        let update = match written {
            Ok(true) => Some(Frame::Encoded(bytes)),
            Ok(false) => None,
            Err(e) => {
                tracing::error!(player = %id, error = %e, "a client's view does not encode");
                None
            }
        };
        self.near = near;
        self.visible = visible;
        self.in_order = in_order;
        self.encodings = encodings;
        self.writer = writer;
        let Some(player) = self.players.get_mut(&id) else {
            return;
        };
        player.view = view;
        // The clock's pace first: the frames after it come at that pace.
        if player.time_rate_told != self.time_rate {
            player.time_rate_told = self.time_rate;
            out.send(
                id,
                ServerPacket::TimeRate(pk::TimeRate {
                    permille: self.time_rate,
                }),
            );
        }
        // Then the acknowledgement: the update that follows shows the movement of every
        // input up to it and of none after, so a client reconciling when it applies the
        // update replays exactly the inputs it still holds (PROTOCOL.md §8).
        if player.last_input_seq > player.acked_seq {
            player.acked_seq = player.last_input_seq;
            out.send(
                id,
                ServerPacket::InputAck(pk::InputAck {
                    seq: player.acked_seq,
                }),
            );
        }
        if let Some(update) = update {
            out.frames.push((id, update));
        }
        let unsent = std::mem::take(&mut player.unsent);
        if unsent.inventory() {
            out.send(id, inventory_packet(&player.character));
        }
        if unsent.stats() {
            out.send(id, stats_packet(&player.character));
        }
        if player.save_due(tick) {
            player.save = SaveDue::Saved;
            player.next_save = tick + save_every;
            out.effects.push(Effect::Save {
                character: Box::new(player.character.clone()),
            });
        }
    }

    /// A write of `character` naming version `wrote` succeeded with `version`: the player
    /// whose state it was (the one still holding `wrote`) names `version` from now on. A
    /// player who started from another state keeps theirs: moving them onto a version
    /// written from state they do not hold would let their next save erase that write.
    pub fn saved(&mut self, character: CharacterId, wrote: u64, version: u64) {
        if let Some(p) = self
            .player_at_version(character, wrote)
            .and_then(|id| self.players.get_mut(&id))
        {
            p.character.version = version;
        }
    }
}

/// The tick's entity table being filled: each entity gets the next slot, in the spatial
/// grid and in the frame.
struct Table<'a> {
    spatial: &'a mut super::spatial::SpatialGrid,
    frame: &'a mut Vec<(EntityId, EntityMotion)>,
}

impl Table<'_> {
    fn set(&mut self, id: EntityId, motion: EntityMotion, x: f32, z: f32) {
        self.spatial.insert(self.frame.len() as u32, x, z);
        self.frame.push((id, motion));
    }
}

/// A player's bags, as their client shows them.
pub(super) fn inventory_packet(c: &Character) -> ServerPacket {
    ServerPacket::Inventory(pk::Inventory {
        coins: c.inventory.coins,
        slots: c.inventory.slots.clone(),
        weapon: c.inventory.weapon,
    })
}

/// A player's stats, as their client shows them.
pub(super) fn stats_packet(c: &Character) -> ServerPacket {
    ServerPacket::Stats(pk::Stats {
        health: c.stats.health,
        max_health: c.stats.max_health,
        level: c.stats.level,
        xp: c.stats.xp.values().sum(),
    })
}

/// The tick's entities as the views read them: motions from the tick's table, states and
/// changes encoded once for all views (`encodings.rs`).
pub(super) struct TickEntities<'a> {
    pub(super) sim: &'a Simulation,
    pub(super) encodings: &'a mut EntityEncodings,
}

impl EntitySource for TickEntities<'_> {
    #[inline]
    fn motion(&self, slot: u32) -> EntityMotion {
        self.sim.frame[slot as usize].1
    }

    fn write_added(
        &mut self,
        slot: u32,
        id: EntityId,
        writer: &mut UpdateWriter,
    ) -> Option<EntityMotion> {
        let sim = self.sim;
        self.encodings
            .write_added(slot, || sim.state_of(id), writer)
    }

    #[inline]
    fn write_update(
        &self,
        slot: u32,
        id: EntityId,
        old: &EntityMotion,
        now: &EntityMotion,
        writer: &mut UpdateWriter,
    ) {
        self.encodings.write_update(slot, id, old, now, writer);
    }
}
