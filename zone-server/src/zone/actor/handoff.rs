//! The two-phase handoff of DESIGN.md, both ends. The sending zone (the player crossed its
//! border) waits until nothing about the player is in flight, freezes them and sends
//! *prepare* with their whole state to the neighbouring area's subject; on *accepted* it
//! removes them, sends `Transfer` and *commits*; on a refusal or no answer it thaws them,
//! holds them inside the border and retries with backoff (aborting what may have been
//! accepted); when the area has no owner it asks the manager for one. The receiving zone
//! first checks the prepare against the authorities (`trust`: the sender owns a
//! neighbouring area by the manager's word, the carried character is the saved one), then
//! turns it into a pending arrival with a ticket, which it saves as its own when the commit
//! came but the client never did. Commits and aborts are taken only from the prepare's
//! sender; one for a handoff never prepared here gets a `not_found` error reply.

use protocol::cluster::{self, *};
use protocol::{AreaId, CharacterId, EntityId, Epoch, HandoffId, Ticket};
use ractor::ActorRef;

use super::ZoneActorState;
use super::arrivals::{Origin, PendingArrival, UnknownHandoff};
use crate::zone::nats::{self, answer, refuse};
use crate::zone::trust;
use crate::zone::{AskError, Distrust, ZoneMsg};
use service_kit::time::now_millis;

/// How long a handoff ticket lives.
const HANDOFF_TICKET_LIFE_MS: u64 = 10_000;

impl ZoneActorState {
    /// The simulation reports `player` past the border into `target` (every tick they
    /// stay there).
    pub(super) fn crossing(
        &mut self,
        myself: &ActorRef<ZoneMsg>,
        player: EntityId,
        character: CharacterId,
        target: AreaId,
    ) {
        let Some(held) = &mut self.held else { return };
        if !self.crossings.seen(player, held.sim.tick_number()) {
            return;
        }
        // The carried version must be the latest and no reward may land after the player
        // left: wait (at the border) for saves and quest calls still in flight.
        if self.saves.in_flight(character) || self.quests.busy(character) {
            return;
        }
        let Some(departure) = held.sim.freeze(player) else {
            return;
        };
        let handoff = HandoffId::new_random();
        self.crossings.sent(player, handoff);
        metrics::counter!("zone_handoffs_started_total").increment(1);
        let prepare = HandoffPrepare {
            handoff,
            from_zone: self.id,
            from_area: held.area,
            from_epoch: held.epoch,
            to_area: target,
            player: departure,
        };
        nats::prepare(&self.shared, myself, player, prepare);
    }

    /// The answer to a prepare this zone sent.
    pub(super) fn handoff_answered(
        &mut self,
        player: EntityId,
        character: CharacterId,
        handoff: HandoffId,
        target: AreaId,
        outcome: Result<HandoffAnswer, AskError>,
    ) {
        if !self.crossings.is_current(player, handoff) {
            // The player left meanwhile (disconnected, dropped): what was accepted must
            // not wait for a client that will never come.
            if let Ok(HandoffAnswer::Accepted { epoch, .. }) = outcome {
                self.send_abort(handoff, target, epoch, character);
            }
            return;
        }
        match outcome {
            Ok(HandoffAnswer::Accepted {
                epoch,
                ws_url,
                ticket,
                ..
            }) => self.hand_over(player, handoff, target, epoch, ws_url, ticket),
            Ok(HandoffAnswer::Refused { reason, .. }) => {
                self.retry_later(player, target, "refused", &reason);
            }
            Err(AskError::NoResponders) => {
                nats::request_owner(&self.shared, target, self.id);
                self.retry_later(player, target, "no_owner", "the area has no zone yet");
            }
            Err(AskError::TimedOut) => {
                self.send_abort(handoff, target, Epoch(0), character);
                self.retry_later(player, target, "timed_out", "no answer in time");
            }
            Err(e) => self.retry_later(player, target, "failed", &e.to_string()),
        }
    }

    /// Accepted: the player leaves this zone for good, then the client is told where to
    /// go, then the receiver is told the state is its own.
    fn hand_over(
        &mut self,
        player: EntityId,
        handoff: HandoffId,
        target: AreaId,
        epoch: Epoch,
        ws_url: String,
        ticket: Ticket,
    ) {
        let started = self.crossings.started_us(player);
        let from = self.held.as_ref().map(|h| h.area);
        let seen = self.held.as_ref().and_then(|h| h.sim.entity_state(player));
        let Some(departure) = self.remove_from_sim(player, started) else {
            return;
        };
        // Players here keep seeing them until the new owner's ghost stream shows them.
        if let (Some(held), Some(seen)) = (&mut self.held, seen) {
            held.sim.keep_in_view(seen, target);
        }
        let character = departure.character.id;
        self.outbox.transfer(player, ws_url, ticket);
        metrics::counter!("zone_handoffs_total", "result" => "committed").increment(1);
        let commit = HandoffCommit {
            handoff,
            to_area: target,
            to_epoch: epoch,
            character,
        };
        let event = from.map(|from| HandoffEvent {
            character,
            from,
            to: target,
            at: now_millis(),
        });
        nats::commit(&self.shared, commit, event);
    }

    /// The handoff did not go through: the player plays on, held inside the border towards
    /// `target`, and the zone tries again later.
    fn retry_later(
        &mut self,
        player: EntityId,
        target: AreaId,
        result: &'static str,
        reason: &str,
    ) {
        metrics::counter!("zone_handoffs_total", "result" => result).increment(1);
        if let Some(held) = &mut self.held {
            held.sim.thaw(player);
            held.sim.hold_at_border(player, target);
        }
        self.crossings.retry_later(player, reason);
    }

    /// Tells the receiver to forget a pending arrival that no client will claim.
    fn send_abort(
        &self,
        handoff: HandoffId,
        to_area: AreaId,
        to_epoch: Epoch,
        character: CharacterId,
    ) {
        let abort = HandoffAbort {
            handoff,
            to_area,
            to_epoch,
            character,
        };
        nats::abort(&self.shared, abort);
    }

    // ------------------------------------------------------------------ receiving end

    /// A request on one of this zone's area subjects, from `sender` (the NATS server's
    /// word). A prepare is checked against the manager and character-api first (in a task:
    /// the actor never waits), then [`prepare_checked`](Self::prepare_checked) goes on.
    pub(super) fn area_request(
        &mut self,
        myself: &ActorRef<ZoneMsg>,
        area: AreaId,
        verb: AreaVerb,
        sender: Identity,
        payload: &[u8],
        reply: Option<async_nats::Subject>,
    ) {
        metrics::counter!("zone_nats_requests_total", "verb" => format!("area_{verb:?}").to_lowercase()).increment(1);
        match verb {
            AreaVerb::Prepare => match cluster::decode::<HandoffPrepare>(payload) {
                Ok(m) => self.check_prepare(myself, area, sender, m, reply),
                Err(e) => refuse::<HandoffAnswer>(
                    &self.shared,
                    reply,
                    ErrorKind::Malformed,
                    e.to_string(),
                ),
            },
            AreaVerb::Commit => match cluster::decode::<HandoffCommit>(payload) {
                Ok(m) => {
                    let known = self.arrivals.commit(m.handoff, &sender);
                    self.ack(reply, m.handoff, known);
                }
                Err(e) => {
                    refuse::<HandoffAck>(&self.shared, reply, ErrorKind::Malformed, e.to_string())
                }
            },
            AreaVerb::Abort => match cluster::decode::<HandoffAbort>(payload) {
                Ok(m) => {
                    let known = self.arrivals.abort(m.handoff, &sender);
                    self.ack(reply, m.handoff, known);
                }
                Err(e) => {
                    refuse::<HandoffAck>(&self.shared, reply, ErrorKind::Malformed, e.to_string())
                }
            },
        }
    }

    /// Answers a commit or an abort: acknowledged, or `not_found` for a handoff this sender
    /// never prepared here.
    fn ack(
        &self,
        reply: Option<async_nats::Subject>,
        handoff: HandoffId,
        known: Result<(), UnknownHandoff>,
    ) {
        match known {
            Ok(()) => answer(&self.shared, reply, &Ok(HandoffAck { handoff })),
            Err(e) => refuse::<HandoffAck>(&self.shared, reply, ErrorKind::NotFound, e.to_string()),
        }
    }

    /// Refuses what this zone can tell at once, then checks the rest with the authorities.
    fn check_prepare(
        &mut self,
        myself: &ActorRef<ZoneMsg>,
        area: AreaId,
        sender: Identity,
        m: HandoffPrepare,
        reply: Option<async_nats::Subject>,
    ) {
        if let Err((kind, why)) = self.can_take(area, &m) {
            return refuse::<HandoffAnswer>(&self.shared, reply, kind, why);
        }
        let (shared, myself) = (self.shared.clone(), myself.clone());
        tokio::spawn(async move {
            let verdict = trust::check_prepare(&shared, &sender, &m).await;
            let _ = myself.cast(ZoneMsg::PrepareChecked {
                area,
                sender,
                prepare: Box::new(m),
                reply,
                verdict,
            });
        });
    }

    /// Whether this zone can take a player into `area` from `m` at all, as far as its own
    /// state tells.
    fn can_take(&self, area: AreaId, m: &HandoffPrepare) -> Result<(), (ErrorKind, String)> {
        let Some(held) = &self.held else {
            return Err((ErrorKind::WrongState, "this zone holds no area".into()));
        };
        if m.to_area != area || held.area != area {
            let why = format!("this zone holds {}, not {}", held.area, m.to_area);
            return Err((ErrorKind::WrongEpoch, why));
        }
        if !self.shared.grid.contains(m.from_area) || m.from_zone == self.id {
            let why = format!("no handoff from {} by zone {}", m.from_area, m.from_zone);
            return Err((ErrorKind::Malformed, why));
        }
        Ok(())
    }

    /// A prepare checked against the manager and character-api: a pending arrival with a
    /// ticket, or a refusal.
    pub(super) fn prepare_checked(
        &mut self,
        area: AreaId,
        sender: Identity,
        m: HandoffPrepare,
        reply: Option<async_nats::Subject>,
        verdict: Result<(), Distrust>,
    ) {
        if let Err(distrust) = verdict {
            metrics::counter!("zone_handoffs_forbidden_total", "reason" => distrust.label())
                .increment(1);
            tracing::warn!(%sender, handoff = %m.handoff, from = %m.from_area, "refusing a handoff: {distrust}");
            return refuse::<HandoffAnswer>(
                &self.shared,
                reply,
                ErrorKind::Forbidden,
                distrust.to_string(),
            );
        }
        // The zone may have changed while the checks ran.
        if let Err((kind, why)) = self.can_take(area, &m) {
            return refuse::<HandoffAnswer>(&self.shared, reply, kind, why);
        }
        if self.evacuation.is_some() {
            return self.refuse_handoff(reply, m.handoff, "the area is moving to another zone");
        }
        let Some(held) = &self.held else { return };
        let (epoch, character) = (held.epoch, m.player.character.id);
        if held.sim.player_of(character).is_some() {
            return self.refuse_handoff(reply, m.handoff, "the character is already here");
        }
        // A full area takes nobody more: the sender holds the player at the border and
        // tries again later, by when someone may have left.
        if let Err(full) = self.room_for(character, "handoff") {
            return self.refuse_handoff(reply, m.handoff, &full.to_string());
        }
        let handoff = m.handoff;
        let arrival = self
            .arrivals
            .for_handoff(handoff, &sender, || PendingArrival {
                arrival: m.player,
                expires_at: now_millis() + HANDOFF_TICKET_LIFE_MS,
                origin: Origin::Handoff {
                    handoff,
                    committed: false,
                },
            });
        let Some((ticket, expires_at)) = arrival else {
            return refuse::<HandoffAnswer>(
                &self.shared,
                reply,
                ErrorKind::Forbidden,
                format!("handoff {handoff} belongs to another sender"),
            );
        };
        answer(
            &self.shared,
            reply,
            &Ok(HandoffAnswer::Accepted {
                handoff,
                zone: self.id,
                epoch,
                ws_url: self.shared.ws_url.clone(),
                ticket,
                expires_at,
            }),
        );
    }

    fn refuse_handoff(&self, reply: Option<async_nats::Subject>, handoff: HandoffId, why: &str) {
        metrics::counter!("zone_handoffs_refused_total").increment(1);
        answer(
            &self.shared,
            reply,
            &Ok(HandoffAnswer::Refused {
                handoff,
                reason: why.to_owned(),
            }),
        );
    }
}
