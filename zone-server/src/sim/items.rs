//! Items: the bags (use, equip, drop) and the ground (picked up within reach, dropped items
//! despawning after a while, resource nodes regrowing what was picked off them).

use protocol::client::entity::{
    AnimState, EntityKind, EntityMotion, EntityState, quantize_position,
};
use protocol::client::packets as pk;
use protocol::content::ItemStack;
use protocol::http::character::Skill;
use protocol::{EntityId, Position};

use super::quests::GameEvent;
use super::{PICKUP_RANGE, Simulation, TickOutput, inventory};

/// How long a dropped item lies on the ground.
pub(super) const GROUND_ITEM_SECS: u32 = 120;
/// How long a resource node takes to regrow its item.
pub(super) const RESOURCE_RESPAWN_SECS: u32 = 30;

/// An item lying on the ground.
#[derive(Debug, Clone)]
pub(super) struct GroundItem {
    pub(super) entity: EntityId,
    pub(super) stack: ItemStack,
    pub(super) pos: Position,
    /// Tick it goes (none for a resource, which stays until picked).
    pub(super) despawn_at: Option<u32>,
    /// The resource node it grew on.
    pub(super) node: Option<usize>,
}

impl GroundItem {
    pub(super) fn motion(&self) -> EntityMotion {
        EntityMotion {
            pos: quantize_position(self.pos),
            yaw: 0,
            anim: AnimState::Idle,
            health: 100,
        }
    }

    pub(super) fn state(&self) -> EntityState {
        let m = self.motion();
        EntityState {
            id: self.entity,
            kind: EntityKind::Item,
            type_id: self.stack.item.0,
            pos: m.pos,
            yaw: 0,
            anim: m.anim,
            health: m.health,
            name: None,
        }
    }
}

impl Simulation {
    /// A player picks an item up: alive, within reach, with room in the bags (what does
    /// not fit stays on the ground). Gathering counts for quests.
    pub(super) fn pickup(&mut self, id: EntityId, item: EntityId, out: &mut TickOutput) {
        if !self.items.contains_key(&item) {
            return self.pickup_across_border(id, item, out);
        }
        let tick = self.tick;
        let respawn = self.secs(RESOURCE_RESPAWN_SECS as f32);
        let Some(player) = self.players.get_mut(&id) else {
            return;
        };
        if !player.alive() {
            return Self::reject(out, id, "dead");
        }
        let Some(ground) = self.items.get_mut(&item) else {
            return Self::reject(out, id, "no such item");
        };
        if ground.pos.planar_distance(&player.character.position) > PICKUP_RANGE {
            return Self::reject(out, id, "item out of reach");
        }
        let left = inventory::add_stack(&mut player.character.inventory, ground.stack);
        let taken = ground.stack.count - left.count;
        if taken == 0 {
            return Self::reject(out, id, "inventory is full");
        }
        gathered(&self.catalog, player, ground.stack.item, taken, out);
        if left.count == 0 {
            if let Some(node) = ground.node {
                self.node_respawn[node] = Some(tick + respawn);
            }
            self.items.remove(&item);
        } else {
            ground.stack = left;
        }
    }

    /// A player uses (eats, drinks) the item in a bag slot.
    pub(super) fn use_item(&mut self, id: EntityId, slot: u8, out: &mut TickOutput) {
        let Some(player) = self.players.get_mut(&id) else {
            return;
        };
        match inventory::use_item(&mut player.character, slot) {
            Ok(()) => {
                player.inventory_changed();
                player.stats_changed();
            }
            Err(e) => Self::reject(out, id, &e.to_string()),
        }
    }

    /// A player wields the weapon in a bag slot.
    pub(super) fn equip_item(&mut self, id: EntityId, slot: u8, out: &mut TickOutput) {
        let Some(player) = self.players.get_mut(&id) else {
            return;
        };
        match inventory::equip(&mut player.character.inventory, slot) {
            Ok(()) => player.inventory_changed(),
            Err(e) => Self::reject(out, id, &e.to_string()),
        }
    }

    /// A player drops part of a bag slot at their feet, where it lies for a while.
    pub(super) fn drop_item(&mut self, id: EntityId, drop: pk::DropItem, out: &mut TickOutput) {
        let despawn = self.tick + self.secs(GROUND_ITEM_SECS as f32);
        let Some(player) = self.players.get_mut(&id) else {
            return;
        };
        if drop.count == 0 {
            return Self::reject(out, id, "nothing to drop");
        }
        match inventory::take(&mut player.character.inventory, drop.slot, drop.count) {
            Ok(stack) => {
                player.inventory_changed();
                let at = player.character.position;
                self.spawn_ground_item(stack, at, Some(despawn));
            }
            Err(e) => Self::reject(out, id, &e.to_string()),
        }
    }

    /// Puts items on the ground at `at` (rewards of a player who already left, that did not
    /// fit in their bags).
    pub fn drop_items(&mut self, at: Position, stacks: Vec<ItemStack>) {
        for stack in stacks {
            self.spawn_ground_item(stack, at, None);
        }
    }

    pub(super) fn spawn_ground_item(
        &mut self,
        stack: ItemStack,
        at: Position,
        despawn_at: Option<u32>,
    ) -> EntityId {
        self.spawn_ground_item_as(None, stack, at, despawn_at)
    }

    /// Lays an item down under `id` (a migrated item keeps its id) or a new one.
    pub(super) fn spawn_ground_item_as(
        &mut self,
        id: Option<EntityId>,
        stack: ItemStack,
        at: Position,
        despawn_at: Option<u32>,
    ) -> EntityId {
        let entity = self.keep_or_mint(id);
        self.items.insert(
            entity,
            GroundItem {
                entity,
                stack,
                pos: at,
                despawn_at,
                node: None,
            },
        );
        entity
    }

    /// Takes away the items whose time is up and regrows the resource nodes that are due.
    pub(super) fn tend_items(&mut self) {
        let tick = self.tick;
        self.items
            .retain(|_, item| item.despawn_at.is_none_or(|at| tick < at));
        for node in 0..self.node_respawn.len() {
            if self.node_respawn[node].is_some_and(|at| tick >= at) {
                self.node_respawn[node] = None;
                let spec = self.content.resource_nodes[node];
                let entity = self.spawn_ground_item(
                    ItemStack {
                        item: spec.item,
                        count: 1,
                    },
                    spec.position,
                    None,
                );
                if let Some(item) = self.items.get_mut(&entity) {
                    item.node = Some(node);
                }
            }
        }
    }
}

/// What picking `taken` of `item` up earns a player (here or across a border): their bags
/// are sent again, a point of gathering experience, and the quests that count it.
pub(super) fn gathered(
    catalog: &[protocol::http::quest::Quest],
    player: &mut super::player::Player,
    item: protocol::content::ItemKind,
    taken: u16,
    out: &mut TickOutput,
) {
    player.inventory_changed();
    *player
        .character
        .stats
        .xp
        .entry(Skill::Gathering)
        .or_default() += 1;
    let gather = GameEvent::Gather(item, u32::from(taken));
    super::quests::report(catalog, player, gather, &mut out.effects);
}
