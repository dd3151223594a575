//! The two-phase handoff of DESIGN.md, both ends. The sending zone (the player crossed its
//! border) waits until nothing about the player is in flight, freezes them and sends
//! *prepare* with their whole state to the neighbouring area's subject; on *accepted* it
//! removes them, sends `Transfer` and *commits*; on a refusal or no answer it thaws them,
//! keeps them at the border and retries with backoff (aborting what may have been
//! accepted); when the area has no owner it asks the manager for one. The receiving zone
//! turns a prepare into a pending arrival with a ticket, which it saves as its own when the
//! commit came but the client never did.

use std::time::{Duration, Instant};

use bytes::Bytes;
use protocol::cluster::{self, *};
use protocol::{AreaId, CharacterId, EntityId, Epoch, HandoffId, Ticket};
use ractor::ActorRef;

use super::{AskError, Origin, PendingArrival, ZoneActorState, answer, ask, now_ms, refuse};
use crate::stays::now_us;
use crate::zone::{HandoffOutcome, ZoneMsg};

/// How long a prepare may take before the sender gives up on it.
const PREPARE_TIMEOUT: Duration = Duration::from_secs(1);
/// How long a handoff ticket lives.
const HANDOFF_TICKET_LIFE_MS: u64 = 10_000;
/// First wait before retrying a refused handoff; doubles per attempt.
const RETRY_FIRST: Duration = Duration::from_millis(100);
/// Longest wait between attempts.
const RETRY_MAX: Duration = Duration::from_secs(2);

/// A player at the border, as the sending zone tracks them.
#[derive(Debug)]
pub(super) struct Crossing {
    /// The first tick the player was past the margin (the benchmark's start).
    started_us: u64,
    /// Attempts so far.
    attempts: u32,
    /// Last tick a `Crossing` effect named the player (entries not renewed are dropped).
    seen_tick: u32,
    state: CrossingState,
}

#[derive(Debug)]
enum CrossingState {
    /// Prepare sent; the player is frozen.
    InFlight { handoff: HandoffId },
    /// Waiting until then before trying again.
    Waiting { until: Instant },
}

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
        let tick = held.sim.tick_number();
        let entry = self.crossings.entry(player).or_insert_with(|| Crossing {
            started_us: now_us(),
            attempts: 0,
            seen_tick: tick,
            state: CrossingState::Waiting {
                until: Instant::now(),
            },
        });
        entry.seen_tick = tick;
        match entry.state {
            CrossingState::InFlight { .. } => return,
            CrossingState::Waiting { until } if Instant::now() < until => return,
            CrossingState::Waiting { .. } => {}
        }
        // The carried version must be the latest and no reward may land after the player
        // left: wait (at the border) for saves and quest calls still in flight.
        if self.saves.contains_key(&character) || self.quest_calls.contains_key(&character) {
            return;
        }
        let Some(departure) = held.sim.freeze(player) else {
            return;
        };
        let handoff = HandoffId::new_random();
        entry.state = CrossingState::InFlight { handoff };
        entry.attempts += 1;
        metrics::counter!("zone_handoffs_started_total").increment(1);
        let prepare = HandoffPrepare {
            handoff,
            from_zone: self.id,
            from_area: held.area,
            from_epoch: held.epoch,
            to_area: target,
            player: departure,
        };
        let shared = self.shared.clone();
        let myself = myself.clone();
        tokio::spawn(async move {
            let subject = shared.subjects.area(target, AreaVerb::Prepare);
            let outcome =
                match ask::<HandoffAnswer>(&shared, subject, &prepare, PREPARE_TIMEOUT).await {
                    Ok(answer) => HandoffOutcome::Answered(answer),
                    Err(AskError::NoResponders) => HandoffOutcome::NoOwner,
                    Err(AskError::TimedOut) => HandoffOutcome::TimedOut,
                    Err(AskError::Failed(why)) => HandoffOutcome::Failed(why),
                };
            let _ = myself.cast(ZoneMsg::HandoffAnswered {
                player,
                character,
                handoff,
                target,
                outcome,
            });
        });
    }

    /// Drops border entries the simulation no longer reports (the player stepped back).
    pub(super) fn forget_stale_crossings(&mut self) {
        let Some(held) = &self.held else { return };
        let tick = held.sim.tick_number();
        self.crossings.retain(|_, c| {
            matches!(c.state, CrossingState::InFlight { .. }) || c.seen_tick == tick
        });
    }

    /// Whether any handoff of this zone is waiting for its answer.
    pub(super) fn handoffs_in_flight(&self) -> bool {
        self.crossings
            .values()
            .any(|c| matches!(c.state, CrossingState::InFlight { .. }))
    }

    /// The answer to a prepare this zone sent.
    pub(super) fn handoff_answered(
        &mut self,
        player: EntityId,
        character: CharacterId,
        handoff: HandoffId,
        target: AreaId,
        outcome: HandoffOutcome,
    ) {
        let current = self.crossings.get(&player).is_some_and(
            |c| matches!(c.state, CrossingState::InFlight { handoff: h, .. } if h == handoff),
        );
        if !current {
            // The player left meanwhile (disconnected, dropped): what was accepted must
            // not wait for a client that will never come.
            if let HandoffOutcome::Answered(HandoffAnswer::Accepted { epoch, .. }) = outcome {
                self.send_abort(handoff, target, epoch, character);
            }
            return;
        }
        match outcome {
            HandoffOutcome::Answered(HandoffAnswer::Accepted {
                epoch,
                ws_url,
                ticket,
                ..
            }) => self.hand_over(player, handoff, target, epoch, ws_url, ticket),
            HandoffOutcome::Answered(HandoffAnswer::Refused { reason, .. }) => {
                self.retry_later(player, "refused", &reason);
            }
            HandoffOutcome::Failed(reason) => self.retry_later(player, "failed", &reason),
            HandoffOutcome::TimedOut => {
                self.send_abort(handoff, target, Epoch(0), character);
                self.retry_later(player, "timed_out", "no answer in time");
            }
            HandoffOutcome::NoOwner => {
                self.request_owner(target);
                self.retry_later(player, "no_owner", "the area has no zone yet");
            }
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
        let started = self.crossings.get(&player).map(|c| c.started_us);
        let from = self.held.as_ref().map(|h| h.area);
        let Some(departure) = self.remove_from_sim(player, started) else {
            return;
        };
        let character = departure.character.id;
        if let Some(link) = self.links.remove(&player) {
            self.send_transfer(&link, ws_url, ticket);
        }
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
            at: now_ms(),
        });
        let shared = self.shared.clone();
        tokio::spawn(async move {
            let subject = shared.subjects.area(target, AreaVerb::Commit);
            for _ in 0..3 {
                let acked =
                    ask::<HandoffAck>(&shared, subject.clone(), &commit, PREPARE_TIMEOUT).await;
                if acked.is_ok() {
                    break;
                }
            }
            if let Some(event) = event {
                let _ = shared
                    .nats
                    .publish(
                        shared.subjects.handoff_events(),
                        cluster::encode(&event).into(),
                    )
                    .await;
            }
        });
    }

    fn retry_later(&mut self, player: EntityId, result: &'static str, reason: &str) {
        metrics::counter!("zone_handoffs_total", "result" => result).increment(1);
        if let Some(held) = &mut self.held {
            held.sim.thaw(player);
        }
        if let Some(c) = self.crossings.get_mut(&player) {
            let wait = RETRY_FIRST
                .saturating_mul(1 << c.attempts.saturating_sub(1).min(8))
                .min(RETRY_MAX);
            tracing::debug!(%player, %reason, attempts = c.attempts, ?wait, "handoff not done; holding the player at the border");
            c.state = CrossingState::Waiting {
                until: Instant::now() + wait,
            };
        }
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
        let shared = self.shared.clone();
        tokio::spawn(async move {
            let subject = shared.subjects.area(to_area, AreaVerb::Abort);
            let _ = shared
                .nats
                .publish(subject, Bytes::from(cluster::encode(&abort)))
                .await;
        });
    }

    /// Asks the manager to give `area` an owner (a player waits at its border).
    fn request_owner(&self, area: AreaId) {
        let request = AreaRequest {
            area,
            requested_by: self.id,
        };
        let shared = self.shared.clone();
        tokio::spawn(async move {
            let subject = shared.subjects.area_request();
            match ask::<AreaOwner>(&shared, subject, &request, Duration::from_secs(5)).await {
                Ok(owner) => {
                    tracing::info!(%area, zone = %owner.zone, "the neighbouring area has an owner")
                }
                Err(why) => tracing::warn!(%area, %why, "no owner for the neighbouring area"),
            }
        });
    }

    // ------------------------------------------------------------------ receiving end

    /// A request on one of this zone's area subjects.
    pub(super) fn area_request(
        &mut self,
        area: AreaId,
        verb: AreaVerb,
        payload: &[u8],
        reply: Option<async_nats::Subject>,
    ) {
        metrics::counter!("zone_nats_requests_total", "verb" => format!("area_{verb:?}").to_lowercase()).increment(1);
        match verb {
            AreaVerb::Prepare => match cluster::decode::<HandoffPrepare>(payload) {
                Ok(m) => self.prepare(area, m, reply),
                Err(e) => refuse::<HandoffAnswer>(
                    &self.shared,
                    reply,
                    ErrorKind::Malformed,
                    e.to_string(),
                ),
            },
            AreaVerb::Commit => match cluster::decode::<HandoffCommit>(payload) {
                Ok(m) => {
                    if let Some(p) = self
                        .by_handoff
                        .get(&m.handoff)
                        .and_then(|t| self.pending.get_mut(t))
                    {
                        p.origin = Origin::Handoff {
                            handoff: m.handoff,
                            committed: true,
                        };
                    }
                    answer(&self.shared, reply, &Ok(HandoffAck { handoff: m.handoff }));
                }
                Err(e) => {
                    refuse::<HandoffAck>(&self.shared, reply, ErrorKind::Malformed, e.to_string())
                }
            },
            AreaVerb::Abort => match cluster::decode::<HandoffAbort>(payload) {
                Ok(m) => {
                    if let Some(ticket) = self.by_handoff.remove(&m.handoff) {
                        let uncommitted = self.pending.get(&ticket).is_some_and(|p| {
                            matches!(
                                p.origin,
                                Origin::Handoff {
                                    committed: false,
                                    ..
                                }
                            )
                        });
                        if let Some(p) = uncommitted.then(|| self.pending.remove(&ticket)).flatten()
                        {
                            self.forget_ticket(&ticket, p.origin);
                        }
                    }
                    answer(&self.shared, reply, &Ok(HandoffAck { handoff: m.handoff }));
                }
                Err(e) => {
                    refuse::<HandoffAck>(&self.shared, reply, ErrorKind::Malformed, e.to_string())
                }
            },
        }
    }

    fn prepare(&mut self, area: AreaId, m: HandoffPrepare, reply: Option<async_nats::Subject>) {
        let Some(held) = &self.held else {
            return refuse::<HandoffAnswer>(
                &self.shared,
                reply,
                ErrorKind::WrongState,
                "this zone holds no area",
            );
        };
        if self.evacuation.is_some() {
            return self.refuse_handoff(reply, m.handoff, "the area is moving to another zone");
        }
        if m.to_area != area || held.area != area {
            return refuse::<HandoffAnswer>(
                &self.shared,
                reply,
                ErrorKind::WrongEpoch,
                format!("this zone holds {}, not {}", held.area, m.to_area),
            );
        }
        if !self.shared.grid.contains(m.from_area) || m.from_zone == self.id {
            return refuse::<HandoffAnswer>(
                &self.shared,
                reply,
                ErrorKind::Malformed,
                format!("no handoff from {} by zone {}", m.from_area, m.from_zone),
            );
        }
        let (epoch, character) = (held.epoch, m.player.character.id);
        if held.sim.player_of(character).is_some() {
            return self.refuse_handoff(reply, m.handoff, "the character is already here");
        }
        // A repeated prepare (the answer was lost): the same ticket again.
        let ticket = match self.by_handoff.get(&m.handoff) {
            Some(ticket) if self.pending.contains_key(ticket) => *ticket,
            _ => {
                let ticket = Ticket::new_random();
                self.pending.insert(
                    ticket,
                    PendingArrival {
                        arrival: m.player,
                        expires_at: now_ms() + HANDOFF_TICKET_LIFE_MS,
                        origin: Origin::Handoff {
                            handoff: m.handoff,
                            committed: false,
                        },
                    },
                );
                self.by_handoff.insert(m.handoff, ticket);
                self.shared.add_ticket(ticket, self.id);
                ticket
            }
        };
        let expires_at = self.pending.get(&ticket).map_or(0, |p| p.expires_at);
        answer(
            &self.shared,
            reply,
            &Ok(HandoffAnswer::Accepted {
                handoff: m.handoff,
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
