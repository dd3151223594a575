//! Moving every player of the area to another zone at once: a drain (`Migrate`: players,
//! NPCs and ground items go to the zone the manager allocated the area to) or a lost area
//! (`LostArea`: the area already has a newer owner, whose world wins, so only the players
//! go). The zone stops ticking, waits until nothing about its players is in flight (saves,
//! quest calls, handoffs), sends the whole state in one `AreaStateTransfer`, sends every
//! client `Transfer` with the ticket the new owner made for them, and goes Idle. If the new
//! owner does not take it, every player is saved and told to rejoin.

use protocol::client::packets::ErrorCode;
use protocol::cluster::*;
use protocol::{EntityId, Epoch, Ticket, ZoneId};
use ractor::ActorRef;

use super::ZoneActorState;
use super::arrivals::{Origin, PendingArrival};
use crate::zone::nats::{self, answer, refuse};
use crate::zone::trust;
use crate::zone::{AskError, Distrust, ZoneMsg};
use service_kit::time::now_millis;

/// How long a migrated player's ticket lives.
const MIGRATION_TICKET_LIFE_MS: u64 = 15_000;

/// An evacuation under way.
#[derive(Debug)]
pub(super) struct Evacuation {
    target_zone: ZoneId,
    target_epoch: Epoch,
    /// The NATS identity serving `target_zone` (its subjects name it).
    target_identity: Identity,
    /// NPCs and ground items go too (a drain), or only players (a lost area).
    carry_world: bool,
    /// Where to answer `Migrate` once done.
    reply: Option<async_nats::Subject>,
    /// The players sent, once the transfer is on its way.
    sent: Option<Vec<(EntityId, PlayerTransfer)>>,
}

impl ZoneActorState {
    /// `Migrate`: the manager allocated this zone's area to `target_zone` (a drain).
    pub(super) fn migrate(&mut self, m: Migrate, reply: Option<async_nats::Subject>) {
        if self.evacuation.is_some() {
            return refuse::<Migrated>(
                &self.shared,
                reply,
                ErrorKind::WrongState,
                "the area is already moving",
            );
        }
        if m.target_zone == self.id {
            return refuse::<Migrated>(
                &self.shared,
                reply,
                ErrorKind::Malformed,
                "a zone cannot migrate to itself",
            );
        }
        let Ok(identity) = Identity::new(&m.target_identity) else {
            return refuse::<Migrated>(
                &self.shared,
                reply,
                ErrorKind::Malformed,
                "the target zone's NATS identity is missing or malformed",
            );
        };
        tracing::info!(zone = %self.id, area = %m.area, target = %m.target_zone, "migrating the area");
        self.begin_evacuation(m.target_zone, m.target_epoch, identity, true, reply);
    }

    /// `LostArea`: the area went to `new_owner` under a newer epoch.
    pub(super) fn lost_area(&mut self, myself: &ActorRef<ZoneMsg>, m: LostArea) {
        tracing::warn!(zone = %self.id, area = %m.area, new_owner = %m.new_owner, "lost the area; handing the players to its new owner");
        if self.evacuation.is_none() {
            match Identity::new(&m.new_owner_identity) {
                Ok(identity) => {
                    self.begin_evacuation(m.new_owner, m.new_epoch, identity, false, None);
                }
                // Nobody to hand the players to: they are saved and told to rejoin.
                Err(_) => self.leave_area(
                    myself,
                    ErrorCode::ZONE_UNAVAILABLE,
                    "the area moved to another zone",
                ),
            }
        }
    }

    /// Stops ticking and marks the area as leaving; the actor sends it once nothing about
    /// its players is in flight ([`try_evacuate`](Self::try_evacuate), after each message).
    fn begin_evacuation(
        &mut self,
        target_zone: ZoneId,
        target_epoch: Epoch,
        target_identity: Identity,
        carry_world: bool,
        reply: Option<async_nats::Subject>,
    ) {
        let Some(held) = &self.held else { return };
        held.stop();
        self.evacuation = Some(Evacuation {
            target_zone,
            target_epoch,
            target_identity,
            carry_world,
            reply,
            sent: None,
        });
        self.report_heartbeat();
    }

    /// Sends the area once nothing about its players is in flight.
    pub(super) fn try_evacuate(&mut self, myself: &ActorRef<ZoneMsg>) {
        let ready = self.evacuation.as_ref().is_some_and(|e| e.sent.is_none())
            && self.saves.is_empty()
            && self.quests.is_empty()
            && !self.crossings.any_in_flight();
        if !ready {
            return;
        }
        let Some(area) = self.held.as_ref().map(|h| h.area) else {
            return;
        };
        let players = self.outbox.players();
        let mut sent = Vec::with_capacity(players.len());
        for player in players {
            if let Some(departure) = self.remove_from_sim(player, None) {
                sent.push((player, departure));
            }
        }
        let Some(evacuation) = &mut self.evacuation else {
            return;
        };
        let (npcs, ground_items) = match (&self.held, evacuation.carry_world) {
            (Some(held), true) => held.sim.world_state(now_millis()),
            _ => (Vec::new(), Vec::new()),
        };
        let transfer = AreaStateTransfer {
            zone: evacuation.target_zone,
            area,
            epoch: evacuation.target_epoch,
            from_zone: self.id,
            players: sent.iter().map(|(_, d)| d.clone()).collect(),
            npcs,
            ground_items,
        };
        evacuation.sent = Some(sent);
        let target = evacuation.target_identity.clone();
        nats::send_area_state(&self.shared, myself, &target, transfer);
    }

    /// The new owner answered: every client goes there (or, failing that, rejoins), and
    /// this zone goes Idle.
    pub(super) fn evacuation_answered(
        &mut self,
        myself: &ActorRef<ZoneMsg>,
        result: Result<AreaStateAccepted, AskError>,
    ) {
        let Some(evacuation) = self.evacuation.take() else {
            return;
        };
        let sent = evacuation.sent.unwrap_or_default();
        let count = sent.len() as u32;
        let (ws_url, tickets) = match &result {
            Ok(accepted) => (accepted.ws_url.clone(), accepted.tickets.clone()),
            Err(e) => {
                tracing::warn!(zone = %self.id, reason = %e, "the area's new owner did not take it; players rejoin");
                (String::new(), Vec::new())
            }
        };
        for (player, departure) in sent {
            let ticket = tickets
                .iter()
                .find(|t| t.character == departure.character.id)
                .map(|t| t.ticket);
            match ticket {
                Some(ticket) if self.outbox.transfer(player, ws_url.clone(), ticket) => {}
                _ => {
                    self.outbox.close(
                        player,
                        ErrorCode::ZONE_UNAVAILABLE,
                        "the area moved; rejoin",
                    );
                    // Once the new owner took the area, their state is its: a pending
                    // arrival it saves if nobody comes, or (no ticket) a session of theirs
                    // there already, which wins. Saving it here too would race that
                    // session's saves and refuse them as stale.
                    if result.is_err() {
                        self.saves.queue(myself, Box::new(departure.character));
                    }
                }
            }
        }
        metrics::counter!("zone_evacuations_total", "result" => if result.is_ok() { "ok" } else { "failed" }).increment(1);
        self.leave_area(
            myself,
            ErrorCode::ZONE_UNAVAILABLE,
            "the area moved; rejoin",
        );
        match result {
            Ok(_) => answer(
                &self.shared,
                evacuation.reply,
                &Ok(Migrated {
                    zone: self.id,
                    players: count,
                }),
            ),
            Err(e) => refuse::<Migrated>(
                &self.shared,
                evacuation.reply,
                ErrorKind::Upstream,
                format!("the new owner: {e}"),
            ),
        }
    }

    /// `AreaStateTransfer` from `sender`: checked against the manager's word (who hands
    /// the area over) and character-api (every carried player is the saved one) in a task,
    /// then taken in [`area_state_checked`](Self::area_state_checked).
    pub(super) fn receive_area(
        &mut self,
        myself: &ActorRef<ZoneMsg>,
        m: AreaStateTransfer,
        sender: &Identity,
        reply: Option<async_nats::Subject>,
    ) {
        if let Err(why) = self.can_take_area(&m) {
            return refuse::<AreaStateAccepted>(&self.shared, reply, ErrorKind::WrongState, why);
        }
        let handover_from = self.held.as_ref().and_then(|h| h.handover_from.clone());
        let (shared, myself, sender) = (self.shared.clone(), myself.clone(), sender.clone());
        tokio::spawn(async move {
            let verdict =
                trust::check_area_state(&shared, &sender, handover_from.as_ref(), &m).await;
            let _ = myself.cast(ZoneMsg::AreaStateChecked {
                transfer: Box::new(m),
                reply,
                verdict,
            });
        });
    }

    fn can_take_area(&self, m: &AreaStateTransfer) -> Result<(), &'static str> {
        if self.held.is_none() {
            Err("this zone holds no area")
        } else if self.evacuation.is_some() {
            Err("this zone is handing its own area away")
        } else if m.from_zone == self.id {
            Err("a zone cannot send its area to itself")
        } else {
            Ok(())
        }
    }

    /// A whole area's state, checked: its players become pending arrivals with tickets.
    pub(super) fn area_state_checked(
        &mut self,
        m: AreaStateTransfer,
        reply: Option<async_nats::Subject>,
        verdict: Result<(), Distrust>,
    ) {
        if let Err(distrust) = verdict {
            metrics::counter!("zone_area_states_forbidden_total", "reason" => distrust.label())
                .increment(1);
            tracing::warn!(area = %m.area, from = %m.from_zone, "refusing an area's state: {distrust}");
            return refuse::<AreaStateAccepted>(
                &self.shared,
                reply,
                ErrorKind::Forbidden,
                distrust.to_string(),
            );
        }
        let Some(held) = &mut self.held else {
            return refuse::<AreaStateAccepted>(
                &self.shared,
                reply,
                ErrorKind::WrongState,
                "this zone holds no area",
            );
        };
        if self.evacuation.is_some() {
            return refuse::<AreaStateAccepted>(
                &self.shared,
                reply,
                ErrorKind::WrongState,
                "this zone is handing its own area away",
            );
        }
        if m.from_zone == self.id {
            return refuse::<AreaStateAccepted>(
                &self.shared,
                reply,
                ErrorKind::Malformed,
                "a zone cannot send its area to itself",
            );
        }
        if !m.npcs.is_empty() || !m.ground_items.is_empty() {
            held.sim
                .load_world_state(&m.npcs, &m.ground_items, now_millis());
        }
        let expires_at = now_millis() + MIGRATION_TICKET_LIFE_MS;
        let mut tickets = Vec::with_capacity(m.players.len());
        for player in m.players {
            let character = player.character.id;
            if held.sim.player_of(character).is_some() {
                // Already back here through a join: that newer session wins.
                continue;
            }
            let ticket = Ticket::new_random();
            self.arrivals.insert(
                ticket,
                PendingArrival {
                    arrival: player,
                    expires_at,
                    origin: Origin::Migration,
                },
            );
            tickets.push(PlayerTicket { character, ticket });
        }
        tracing::info!(zone = %self.id, area = %m.area, from = %m.from_zone, players = tickets.len(), "took over the area");
        answer(
            &self.shared,
            reply,
            &Ok(AreaStateAccepted {
                zone: self.id,
                ws_url: self.shared.ws_url.clone(),
                tickets,
                expires_at,
            }),
        );
    }
}
