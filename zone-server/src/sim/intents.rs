//! The event stack drained: each player's packets, in arrival order, validated and applied
//! (or refused with an `Error` frame). Inputs set the movement intent the movement phase
//! applies; the other packets go to the phase they concern.

use protocol::EntityId;
use protocol::client::packets::{self as pk, ErrorCode, Input};
use protocol::client::{ClientPacket, ServerPacket};

use super::player::Intent;
use super::{EVENTS_PER_TICK, Simulation, TickOutput};

impl Simulation {
    /// Drains every player's event stack, in player order.
    pub(super) fn apply_intents(&mut self, ids: &[EntityId], out: &mut TickOutput) {
        for &id in ids {
            self.drain_events(id, out);
        }
    }

    fn drain_events(&mut self, id: EntityId, out: &mut TickOutput) {
        let Some(player) = self.players.get_mut(&id).filter(|p| !p.frozen()) else {
            return;
        };
        // At most EVENTS_PER_TICK now; the rest wait for the next tick (the stack itself is
        // bounded at push, and the connection's rate limit bounds the flow), so a burst from
        // an honest client, such as the inputs it resends after a transfer, loses nothing.
        let take = player.events.len().min(EVENTS_PER_TICK);
        if player.events.len() > take {
            metrics::counter!("zone_inputs_deferred_total").increment(1);
        }
        let mut batch = std::mem::take(&mut self.batch);
        batch.extend(player.events.drain(..take));
        for packet in batch.drain(..) {
            self.apply_packet(id, packet, out);
        }
        self.batch = batch;
    }

    fn apply_packet(&mut self, id: EntityId, packet: ClientPacket, out: &mut TickOutput) {
        match packet {
            ClientPacket::Input(input) => self.apply_input(id, input, out),
            ClientPacket::Attack(a) => self.player_attacks(id, a.target, out),
            ClientPacket::Pickup(p) => self.pickup(id, p.item, out),
            ClientPacket::UseItem(u) => self.use_item(id, u.slot, out),
            ClientPacket::EquipItem(e) => self.equip_item(id, e.slot, out),
            ClientPacket::DropItem(d) => self.drop_item(id, d, out),
            ClientPacket::Chat(chat) => self.chat(id, chat, out),
            ClientPacket::QuestList(_) => self.send_quest_log(id, out),
            ClientPacket::QuestAccept(a) => self.accept_quest(id, a.quest, out),
            ClientPacket::Ping(p) => out.send(id, ServerPacket::Pong(pk::Pong { nonce: p.nonce })),
            // The connection answers a second `Hello` itself (`net::ws`): none is queued.
            ClientPacket::Hello(_) => {}
        }
    }

    /// An input steers the player from now on; one already applied (resent after a
    /// transfer) is ignored.
    fn apply_input(&mut self, id: EntityId, input: Input, out: &mut TickOutput) {
        let Some(player) = self.players.get_mut(&id) else {
            return;
        };
        if !player.unapplied(input.seq) {
            return;
        }
        if player.inputs_applied == 0 {
            out.first_inputs.push((id, input.seq));
        }
        player.last_input_seq = input.seq;
        player.inputs_applied += 1;
        player.intent = Intent::of(&input);
        player.facing = input.yaw;
    }

    /// Refuses an intent: the client is told why and the refusal counted.
    pub(super) fn reject(out: &mut TickOutput, id: EntityId, why: &str) {
        metrics::counter!("zone_rejected_intents_total").increment(1);
        out.send(id, ServerPacket::error(ErrorCode::REJECTED, why));
    }
}
