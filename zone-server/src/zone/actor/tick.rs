//! One tick of the held area: the simulation steps, its frames fan out to the clients, and
//! its effects start what runs outside the tick (saves, quest calls, handoffs), whose
//! answers come back later as messages handled here too. The real-time ticker beats at the
//! tick rate; while the zone's clock is dilated (its ticks overran the budget), some beats
//! pass without a tick.

use std::time::Instant;

use protocol::CharacterId;
use protocol::client::packets::ErrorCode;
use protocol::http::quest::{ProgressOutcome, QuestProgress};
use ractor::ActorRef;

use super::ZoneActorState;
use super::quest_calls::Landing;
use crate::apis::ApiError;
use crate::sim::Effect;
use crate::stays::now_us;
use crate::zone::ZoneMsg;

impl ZoneActorState {
    pub(super) fn tick(&mut self, myself: &ActorRef<ZoneMsg>) {
        let started = Instant::now();
        let Some(held) = &mut self.held else { return };
        if !self.heartbeats.dilation.beat() {
            return;
        }
        let mut out = std::mem::take(&mut self.out);
        out.clear();
        held.sim.set_time_rate(self.heartbeats.dilation.permille());
        held.sim.tick(&mut out);
        self.send_ghosts(); // the tick's last phase: neighbours see what lies near them
        for player in self.outbox.fan_out(&mut out.frames) {
            metrics::counter!("zone_clients_dropped_total", "reason" => "too_slow").increment(1);
            self.drop_player(
                myself,
                player,
                ErrorCode::TOO_SLOW,
                "the client fell too far behind",
                true,
            );
        }
        // Border crossings last: a save or quest call this tick produced must be seen in
        // flight by the handoff, which then waits for it (the carried state stays exact).
        // (A stable sort in place rather than two new lists every tick.)
        out.effects
            .sort_by_key(|e| matches!(e, Effect::Crossing { .. }));
        for effect in out.effects.drain(..) {
            self.apply(myself, effect);
        }
        if let Some(held) = &self.held {
            self.crossings.forget_stale(held.sim.tick_number());
        }
        self.record_first_inputs(&mut out.first_inputs);
        self.out = out;
        let budget = self.shared.config.tick_interval();
        self.heartbeats.tick_took(started.elapsed(), budget);
    }

    fn apply(&mut self, myself: &ActorRef<ZoneMsg>, effect: Effect) {
        match effect {
            Effect::Save { character, .. } => self.saves.queue(myself, character),
            Effect::QuestProgress {
                character,
                quest,
                objective,
                amount,
            } => self
                .quests
                .progress(myself, character, quest, objective, amount),
            Effect::QuestAccept { character, quest } => {
                self.quests.accept(myself, character, quest);
            }
            Effect::Crossing {
                player,
                character,
                target,
            } => self.crossing(myself, player, character, target),
            Effect::BorderAct {
                to_area,
                actor,
                actor_position,
                action,
            } => self.send_border_act(myself, to_area, actor, actor_position, action),
            Effect::BorderChat { to_area, chat } => self.send_border_chat(to_area, chat),
        }
    }

    /// Records when each new stay's first input was applied (the handoff benchmark's end).
    /// A player who left this tick has no open stay any more, and is not recorded.
    fn record_first_inputs(&self, first_inputs: &mut Vec<(protocol::EntityId, u32)>) {
        if first_inputs.is_empty() {
            return;
        }
        let now = now_us();
        for (player, seq) in first_inputs.drain(..) {
            self.shared.stays.first_input(self.id, player, now, seq);
        }
    }

    /// A save ended. Only the session whose state it wrote (the one holding the version
    /// the write named) hears of it: on success it names the new version from now on; on a
    /// refusal as stale (412) someone newer owns the character's state, so that session must
    /// not write it again nor keep simulating the player from old data. A session that
    /// started from a newer state (a rejoin that loaded what another zone saved since) is
    /// not the writer's and plays on.
    pub(super) fn save_done(
        &mut self,
        myself: &ActorRef<ZoneMsg>,
        character: CharacterId,
        result: Result<u64, ApiError>,
    ) {
        let Some(wrote) = self.saves.finished(myself, character, &result) else {
            return;
        };
        match result {
            Ok(version) => {
                if let Some(held) = &mut self.held {
                    held.sim.saved(character, wrote, version);
                }
                self.quests.saved(character, wrote, version);
            }
            Err(e) if e.status() == Some(412) => {
                let player = self
                    .held
                    .as_ref()
                    .and_then(|h| h.sim.player_at_version(character, wrote));
                if let Some(player) = player {
                    self.drop_player(
                        myself,
                        player,
                        ErrorCode::STALE_STATE,
                        "your character was saved elsewhere; rejoin",
                        false,
                    );
                }
            }
            Err(_) => {}
        }
    }

    /// quest-api's answer to a progress event: into the player's simulation, or, if they
    /// left while it was on its way, into the state about to be saved for them (so a reward
    /// earned just before leaving is never lost).
    pub(super) fn quest_progress_done(
        &mut self,
        myself: &ActorRef<ZoneMsg>,
        character: CharacterId,
        result: Result<ProgressOutcome, ApiError>,
    ) {
        match result {
            Ok(outcome) => match (self.quests.land(character, outcome), &mut self.held) {
                (Landing::Present(outcome), Some(held)) => {
                    held.sim.quest_progressed(character, outcome);
                }
                (Landing::Held(Some((at, items))), Some(held)) => held.sim.drop_items(at, items),
                _ => {}
            },
            Err(e) => tracing::warn!(%character, error = %e, "quest progress refused"),
        }
        self.quest_call_done(myself, character);
    }

    /// quest-api's answer to an accept.
    pub(super) fn quest_accept_done(
        &mut self,
        myself: &ActorRef<ZoneMsg>,
        character: CharacterId,
        result: Result<QuestProgress, ApiError>,
    ) {
        if let Some(held) = &mut self.held {
            held.sim
                .quest_accepted(character, result.map_err(|e| e.to_string()));
        }
        self.quest_call_done(myself, character);
    }

    /// A quest call ended; a player who left meanwhile is saved once their last one has.
    fn quest_call_done(&mut self, myself: &ActorRef<ZoneMsg>, character: CharacterId) {
        if let Some(left) = self.quests.finished(character) {
            self.saves.queue(myself, left);
        }
    }
}
