//! NATS requests addressed to this zone by id: the manager's allocate, release, lost area,
//! expect (a player will join) and migrate, and another zone's whole-area state. Each names
//! the area and epoch it is about; one this zone does not hold under that epoch is refused
//! as `wrong_epoch` and changes nothing.

use std::time::Instant;

use protocol::client::packets::ErrorCode;
use protocol::cluster::{self, *};
use protocol::{AreaId, Epoch, ZoneId};
use ractor::ActorRef;

use super::arrivals::{Origin, PendingArrival};
use super::{Held, ZoneActorState};
use crate::sim::{SimConfig, Simulation, joining};
use crate::zone::nats::{self, answer, refuse};
use crate::zone::{Preload, PreloadError, ZoneMsg};
use service_kit::time::now_millis;

impl ZoneActorState {
    pub(super) fn request(
        &mut self,
        myself: &ActorRef<ZoneMsg>,
        verb: ZoneVerb,
        sender: &Identity,
        payload: &[u8],
        reply: Option<async_nats::Subject>,
    ) {
        metrics::counter!("zone_nats_requests_total", "verb" => verb.to_string()).increment(1);
        match verb {
            ZoneVerb::Allocate => match cluster::decode::<Allocate>(payload) {
                Ok(m) => self.allocate(myself, m, reply),
                Err(e) => {
                    refuse::<Allocated>(&self.shared, reply, ErrorKind::Malformed, e.to_string())
                }
            },
            ZoneVerb::Release => match cluster::decode::<Release>(payload) {
                Ok(m) if self.holds(m.zone, m.area, m.epoch) => {
                    self.leave_area(myself, ErrorCode::ZONE_UNAVAILABLE, "the area was released");
                    answer(&self.shared, reply, &Ok(Released { zone: self.id }));
                }
                Ok(m) => self.wrong_epoch::<Released>(reply, m.zone, m.area, m.epoch),
                Err(e) => {
                    refuse::<Released>(&self.shared, reply, ErrorKind::Malformed, e.to_string())
                }
            },
            ZoneVerb::LostArea => match cluster::decode::<LostArea>(payload) {
                Ok(m) if self.holds(m.zone, m.area, m.lost_epoch) => {
                    self.lost_area(myself, m);
                    answer(&self.shared, reply, &Ok(Released { zone: self.id }));
                }
                Ok(m) => self.wrong_epoch::<Released>(reply, m.zone, m.area, m.lost_epoch),
                Err(e) => {
                    refuse::<Released>(&self.shared, reply, ErrorKind::Malformed, e.to_string())
                }
            },
            ZoneVerb::Expect => match cluster::decode::<Expect>(payload) {
                Ok(m) if self.holds(m.zone, m.area, m.epoch) => self.expect(myself, m, reply),
                Ok(m) => self.wrong_epoch::<ExpectReady>(reply, m.zone, m.area, m.epoch),
                Err(e) => {
                    refuse::<ExpectReady>(&self.shared, reply, ErrorKind::Malformed, e.to_string())
                }
            },
            ZoneVerb::Migrate => match cluster::decode::<Migrate>(payload) {
                Ok(m) if self.holds(m.zone, m.area, m.epoch) => self.migrate(m, reply),
                Ok(m) => self.wrong_epoch::<Migrated>(reply, m.zone, m.area, m.epoch),
                Err(e) => {
                    refuse::<Migrated>(&self.shared, reply, ErrorKind::Malformed, e.to_string())
                }
            },
            ZoneVerb::AreaState => match cluster::decode::<AreaStateTransfer>(payload) {
                Ok(m) if self.holds(m.zone, m.area, m.epoch) => {
                    self.receive_area(myself, m, sender, reply)
                }
                Ok(m) => self.wrong_epoch::<AreaStateAccepted>(reply, m.zone, m.area, m.epoch),
                Err(e) => refuse::<AreaStateAccepted>(
                    &self.shared,
                    reply,
                    ErrorKind::Malformed,
                    e.to_string(),
                ),
            },
            ZoneVerb::Ghosts => self.ghost_frame(sender, payload),
            ZoneVerb::BorderAct => self.border_act_request(sender, payload, reply),
            ZoneVerb::BorderChat => self.border_chat_message(sender, payload),
        }
    }

    fn holds(&self, zone: ZoneId, area: AreaId, epoch: Epoch) -> bool {
        zone == self.id
            && self
                .held
                .as_ref()
                .is_some_and(|h| h.area == area && h.epoch == epoch)
    }

    fn wrong_epoch<T: serde::Serialize>(
        &self,
        reply: Option<async_nats::Subject>,
        zone: ZoneId,
        area: AreaId,
        epoch: Epoch,
    ) {
        let holds = self
            .held
            .as_ref()
            .map(|h| format!("{} under epoch {}", h.area, h.epoch))
            .unwrap_or_else(|| "no area".into());
        let message = if zone == self.id {
            format!("zone {zone} does not hold area {area} under epoch {epoch}; it holds {holds}")
        } else {
            format!("this is zone {}, not {zone}", self.id)
        };
        refuse::<T>(&self.shared, reply, ErrorKind::WrongEpoch, message);
    }

    fn allocate(
        &mut self,
        myself: &ActorRef<ZoneMsg>,
        m: Allocate,
        reply: Option<async_nats::Subject>,
    ) {
        if m.zone != self.id {
            return self.wrong_epoch::<Allocated>(reply, m.zone, m.area, m.epoch);
        }
        if let Some(held) = &self.held {
            if held.area == m.area && held.epoch == m.epoch {
                // A retried allocation: same answer.
                return answer(
                    &self.shared,
                    reply,
                    &Ok(Allocated {
                        zone: self.id,
                        area: m.area,
                        epoch: m.epoch,
                        ws_url: self.shared.ws_url.clone(),
                    }),
                );
            }
            let message = format!(
                "already holds area {} under epoch {}",
                held.area, held.epoch
            );
            return refuse::<Allocated>(&self.shared, reply, ErrorKind::WrongState, message);
        }
        if !self.shared.grid.contains(m.area) {
            return refuse::<Allocated>(
                &self.shared,
                reply,
                ErrorKind::NotFound,
                format!("area {} is outside the world grid", m.area),
            );
        }
        let started = Instant::now();
        let cfg = SimConfig {
            tick_rate: self.shared.config.tick_rate,
            ..SimConfig::default()
        };
        let sim = Simulation::new(
            m.area,
            self.shared.grid,
            cfg,
            self.shared.catalog(),
            m.epoch,
        );
        let ticker = myself.send_interval(self.shared.config.tick_interval(), || ZoneMsg::Tick);
        let allocated = Allocated {
            zone: self.id,
            area: m.area,
            epoch: m.epoch,
            ws_url: self.shared.ws_url.clone(),
        };
        let subscription =
            nats::subscribe_area(self.shared.clone(), myself.clone(), allocated, reply);
        self.held = Some(Held {
            area: m.area,
            epoch: m.epoch,
            sim: Box::new(sim),
            ticker,
            subscription,
            handover_from: m.handover_from,
            last_beat: None,
        });
        metrics::histogram!("zone_allocate_seconds").record(started.elapsed().as_secs_f64());
        tracing::info!(zone = %self.id, area = %m.area, epoch = %m.epoch, "allocated");
        self.report_heartbeat();
    }

    /// A player will join: their character and quests are fetched (concurrently, outside
    /// the actor), and the manager is answered once they are a pending arrival.
    fn expect(
        &mut self,
        myself: &ActorRef<ZoneMsg>,
        m: Expect,
        reply: Option<async_nats::Subject>,
    ) {
        if m.expires_at <= now_millis() {
            return refuse::<ExpectReady>(
                &self.shared,
                reply,
                ErrorKind::Malformed,
                "the ticket has already expired",
            );
        }
        if let Err(full) = self.room_for(m.character, "join") {
            return refuse::<ExpectReady>(&self.shared, reply, ErrorKind::Full, full.to_string());
        }
        let apis = self.shared.apis.clone();
        let myself = myself.clone();
        tokio::spawn(async move {
            let (character, quests) =
                tokio::join!(apis.character(m.character), apis.quests(m.character));
            let result = match (character, quests) {
                (Ok(character), Ok(quests)) if character.account_id == m.account => {
                    Ok(Preload { character, quests })
                }
                (Ok(c), Ok(_)) => Err(PreloadError::OtherAccount {
                    character: c.id,
                    account: m.account,
                }),
                (Err(e), _) | (_, Err(e)) => Err(PreloadError::Api(e)),
            };
            let _ = myself.cast(ZoneMsg::Preloaded {
                expect: m,
                reply,
                result,
            });
        });
    }

    pub(super) fn preloaded(
        &mut self,
        m: Expect,
        reply: Option<async_nats::Subject>,
        result: Result<Preload, PreloadError>,
    ) {
        if !self.holds(m.zone, m.area, m.epoch) {
            return self.wrong_epoch::<ExpectReady>(reply, m.zone, m.area, m.epoch);
        }
        match result {
            Ok(Preload { character, quests }) => {
                self.arrivals.insert(
                    m.ticket,
                    PendingArrival {
                        arrival: joining(character, quests),
                        expires_at: m.expires_at,
                        origin: Origin::Join,
                    },
                );
                answer(
                    &self.shared,
                    reply,
                    &Ok(ExpectReady {
                        zone: self.id,
                        ws_url: self.shared.ws_url.clone(),
                        ticket: m.ticket,
                        expires_at: m.expires_at,
                    }),
                );
            }
            Err(reason) => {
                refuse::<ExpectReady>(&self.shared, reply, ErrorKind::Upstream, reason.to_string())
            }
        }
    }
}
