//! The zone's side of seamless borders (DESIGN.md, "Ghosts"): after each tick, a ghost frame
//! to the owner of every neighbouring area (by the manager's owner map); ghost frames,
//! border acts and border chat from those owners, each believed only from the current owner
//! of a neighbouring area under its current epoch (`trust::check_border_sender`), anything
//! else dropped (or refused, for a request) and counted; and the acts this zone's players
//! make across a border, sent to the entity's owner and answered back into the simulation.

use bytes::Bytes;
use protocol::cluster::{self, *};
use protocol::{AreaId, Epoch, EventId, Position, ZoneId};
use ractor::ActorRef;
use rustc_hash::FxHashMap;

use super::ZoneActorState;
use crate::sim::{BorderActAnswer, BorderChatLine, GhostUpdate, NeighbourOwner};
use crate::zone::ZoneMsg;
use crate::zone::nats::{self, AskError, answer, refuse};
use crate::zone::trust::{self, BorderDistrust};

/// The longest speaker name a border chat line may carry (character names are shorter).
const MAX_NAME_BYTES: usize = 64;

/// What the zone keeps about its borders.
#[derive(Debug)]
pub(super) struct Borders {
    /// Keeps ghost frames and chat lines in the order they were made.
    publisher: tokio::sync::mpsc::Sender<(String, Bytes)>,
    /// The owner whose frames each neighbour's ghosts came from: when the manager's map
    /// names another (or none), those ghosts go at once.
    sources: FxHashMap<AreaId, (ZoneId, Epoch)>,
    /// This tick's frames (kept for their allocation).
    frames: Vec<GhostUpdate>,
}

impl Borders {
    pub(super) fn new(shared: &std::sync::Arc<crate::shared::Shared>) -> Self {
        Self {
            publisher: nats::ordered_publisher(shared),
            sources: FxHashMap::default(),
            frames: Vec::new(),
        }
    }

    fn publish(&self, subject: String, payload: Vec<u8>) {
        if self.publisher.try_send((subject, payload.into())).is_err() {
            metrics::counter!("zone_border_messages_dropped_total").increment(1);
        }
    }
}

fn count_distrust(kind: &'static str, why: BorderDistrust) {
    metrics::counter!("zone_border_messages_refused_total", "kind" => kind, "reason" => why.label())
        .increment(1);
}

impl ZoneActorState {
    /// The tick's last phase: each neighbouring area's owner is sent what lies near its
    /// border; ghosts of a neighbour whose owner changed (or went) are dropped.
    pub(super) fn send_ghosts(&mut self) {
        let Some(held) = &mut self.held else { return };
        let owners = self
            .shared
            .owners
            .get_all(self.shared.grid.neighbours(held.area));
        // Ghosts from an owner the manager no longer names go now, not after a second.
        self.borders.sources.retain(|area, source| {
            let still = owners
                .iter()
                .any(|o| o.area == *area && (o.zone, o.epoch) == *source);
            if !still {
                held.sim.drop_ghosts(*area);
            }
            still
        });
        let neighbours: Vec<NeighbourOwner> = owners
            .iter()
            .filter(|o| o.zone != self.id && !o.identity.is_empty())
            .map(|o| NeighbourOwner {
                area: o.area,
                zone: o.zone,
                epoch: o.epoch,
            })
            .collect();
        let mut frames = std::mem::take(&mut self.borders.frames);
        frames.clear();
        held.sim.ghost_frames(&neighbours, &mut frames);
        let from = BorderSender {
            zone: self.id,
            area: held.area,
            epoch: held.epoch,
        };
        let tick = held.sim.tick_number();
        for GhostUpdate {
            area: to_area,
            update,
            events,
        } in frames.drain(..)
        {
            let Some(owner) = owners.iter().find(|o| o.area == to_area) else {
                continue;
            };
            let Ok(recipient) = Identity::new(&owner.identity) else {
                continue;
            };
            metrics::counter!("zone_ghost_update_bytes_total").increment(update.len() as u64);
            let frame = GhostFrame {
                from,
                to_area,
                tick,
                update,
                events,
            };
            let subject = self
                .shared
                .subjects
                .zone(&recipient, owner.zone, ZoneVerb::Ghosts);
            let payload = cluster::encode(&frame);
            metrics::counter!("zone_ghost_frame_bytes_total").increment(payload.len() as u64);
            metrics::counter!("zone_ghost_frames_sent_total").increment(1);
            self.borders.publish(subject, payload);
        }
        self.borders.frames = frames;
        metrics::gauge!("zone_ghosts", "zone" => self.heartbeats.label.clone())
            .set(held.sim.ghost_count() as f64);
    }

    /// A ghost frame from `sender`.
    pub(super) fn ghost_frame(&mut self, sender: &Identity, payload: &[u8]) {
        let Some(held) = &mut self.held else { return };
        let frame = match cluster::decode::<GhostFrame>(payload) {
            Ok(frame) => frame,
            Err(e) => {
                metrics::counter!("zone_border_messages_refused_total", "kind" => "ghosts", "reason" => "malformed").increment(1);
                tracing::debug!(error = %e, "an undecodable ghost frame");
                return;
            }
        };
        let owners = &self.shared.owners;
        if let Err(why) =
            trust::check_border_sender(owners, sender, &frame.from, frame.to_area, held.area)
        {
            return count_distrust("ghosts", why);
        }
        let source = (frame.from.zone, frame.from.epoch);
        if self.borders.sources.insert(frame.from.area, source) != Some(source) {
            // A new owner's stream starts from nothing.
            held.sim.drop_ghosts(frame.from.area);
        }
        metrics::counter!("zone_ghost_frames_received_total").increment(1);
        if let Err(refusal) =
            held.sim
                .apply_ghost_frame(frame.from.area, &frame.update, &frame.events)
        {
            metrics::counter!("zone_ghost_frames_refused_total", "reason" => refusal.label())
                .increment(1);
            tracing::debug!(from = %frame.from.area, %refusal, "a ghost frame was not taken in whole");
        }
    }

    /// A border act from `sender` on one of this area's entities: applied once, answered.
    pub(super) fn border_act_request(
        &mut self,
        sender: &Identity,
        payload: &[u8],
        reply: Option<async_nats::Subject>,
    ) {
        let act = match cluster::decode::<BorderAct>(payload) {
            Ok(act) => act,
            Err(e) => {
                metrics::counter!("zone_border_messages_refused_total", "kind" => "border_act", "reason" => "malformed").increment(1);
                return refuse::<BorderOutcome>(
                    &self.shared,
                    reply,
                    ErrorKind::Malformed,
                    e.to_string(),
                );
            }
        };
        let Some(held) = &mut self.held else {
            return refuse::<BorderOutcome>(
                &self.shared,
                reply,
                ErrorKind::WrongState,
                "this zone holds no area",
            );
        };
        let owners = &self.shared.owners;
        if let Err(why) =
            trust::check_border_sender(owners, sender, &act.from, act.to_area, held.area)
        {
            count_distrust("border_act", why);
            return refuse::<BorderOutcome>(
                &self.shared,
                reply,
                ErrorKind::Forbidden,
                why.to_string(),
            );
        }
        let outcome = held.sim.apply_border_act(&act);
        answer(&self.shared, reply, &Ok(outcome));
    }

    /// A local chat line from across the border.
    pub(super) fn border_chat_message(&mut self, sender: &Identity, payload: &[u8]) {
        let Some(held) = &mut self.held else { return };
        let chat = match cluster::decode::<BorderChat>(payload) {
            Ok(chat) => chat,
            Err(e) => {
                metrics::counter!("zone_border_messages_refused_total", "kind" => "border_chat", "reason" => "malformed").increment(1);
                tracing::debug!(error = %e, "an undecodable border chat line");
                return;
            }
        };
        let owners = &self.shared.owners;
        if let Err(why) =
            trust::check_border_sender(owners, sender, &chat.from, chat.to_area, held.area)
        {
            return count_distrust("border_chat", why);
        }
        // The limits a client's own chat line keeps (PROTOCOL.md).
        let clean = |t: &str, max: usize| t.len() <= max && !t.chars().any(char::is_control);
        let valid = clean(&chat.text, protocol::client::packets::MAX_CHAT_BYTES)
            && !chat.text.trim().is_empty()
            && clean(&chat.name, MAX_NAME_BYTES)
            && chat.speaker.is_valid();
        if !valid {
            metrics::counter!("zone_border_messages_refused_total", "kind" => "border_chat", "reason" => "malformed").increment(1);
            return;
        }
        held.sim.border_chat(BorderChatLine {
            speaker: chat.speaker,
            name: chat.name,
            position: chat.position,
            text: chat.text,
        });
    }

    /// The simulation asks a neighbour's owner to apply a player's act.
    pub(super) fn send_border_act(
        &mut self,
        myself: &ActorRef<ZoneMsg>,
        to_area: AreaId,
        actor: protocol::EntityId,
        actor_position: Position,
        action: BorderAction,
    ) {
        let Some(held) = &mut self.held else { return };
        let owner = self
            .shared
            .owners
            .get(to_area)
            .and_then(|o| Identity::new(&o.identity).ok().map(|id| (id, o.zone)));
        let Some(owner) = owner else {
            let answer = BorderActAnswer::Unanswered("the area has no owner".into());
            return held.sim.border_act_answered(actor, actor_position, answer);
        };
        let act = BorderAct {
            request: EventId::new_random(),
            from: BorderSender {
                zone: self.id,
                area: held.area,
                epoch: held.epoch,
            },
            to_area,
            actor,
            actor_position,
            action,
        };
        nats::border_act(&self.shared, myself, owner, act);
    }

    /// The owner answered a border act (or never did).
    pub(super) fn border_act_answered(
        &mut self,
        act: BorderAct,
        result: Result<BorderOutcome, AskError>,
    ) {
        let Some(held) = &mut self.held else { return };
        let answer = match result {
            Ok(outcome) => BorderActAnswer::Outcome(outcome),
            Err(e) => BorderActAnswer::Unanswered(e.to_string()),
        };
        held.sim
            .border_act_answered(act.actor, act.actor_position, answer);
    }

    /// A player's local chat reaches across the border into `to_area`.
    pub(super) fn send_border_chat(&mut self, to_area: AreaId, line: BorderChatLine) {
        let Some(held) = &self.held else { return };
        let Some(owner) = self.shared.owners.get(to_area) else {
            return;
        };
        let Ok(recipient) = Identity::new(&owner.identity) else {
            return;
        };
        let chat = BorderChat {
            from: BorderSender {
                zone: self.id,
                area: held.area,
                epoch: held.epoch,
            },
            to_area,
            speaker: line.speaker,
            name: line.name,
            position: line.position,
            text: line.text,
        };
        let subject = self
            .shared
            .subjects
            .zone(&recipient, owner.zone, ZoneVerb::BorderChat);
        self.borders.publish(subject, cluster::encode(&chat));
    }
}
