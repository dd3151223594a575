//! The sending half of ghosts: after each tick, every neighbouring area that has an owner
//! is sent this area's entities within the interest radius of their shared edge or corner
//! (all eight neighbours, diagonals included), so that owner's players see across the
//! border as if one server ran both areas.
//!
//! Each neighbour gets a client-protocol stream, built by the same [`View`] that serves
//! clients: a `Snapshot`, then `Delta`s against what that neighbour last received (a
//! walking entity costs a few bytes), a fresh `Snapshot` every second and whenever the
//! neighbour's owner changes, so a receiver that missed a frame recovers within a second.
//! Each frame also carries the `Damage` and `Death` shown near the shared border since the
//! last one, so players on both sides see a fight at the border.

use protocol::client::entity::{dequantize_position, quantize_position};
use protocol::client::{ServerPacket, UpdateWriter};
use protocol::cluster::GhostEvent;
use protocol::{AreaId, EntityId, Epoch, Position, ZoneId};
use rustc_hash::FxHashMap;

use super::Simulation;
use super::ghosts::MAX_GHOSTS_PER_NEIGHBOUR;
use super::outbox::TickEntities;
use super::view::View;

/// A neighbouring area's owner, by the manager's word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NeighbourOwner {
    /// The neighbouring area.
    pub area: AreaId,
    /// Its owner.
    pub zone: ZoneId,
    /// The owner's epoch.
    pub epoch: Epoch,
}

/// The most border events kept for the next ghost frames (a burst beyond is dropped and
/// counted: the entities' states in the stream still show the outcome).
const MAX_BORDER_EVENTS: usize = 1024;

/// One neighbour's ghost frame of a tick.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GhostUpdate {
    /// The neighbouring area.
    pub area: AreaId,
    /// A client-protocol `Snapshot` or `Delta`, empty when the neighbour already holds
    /// exactly this.
    pub update: Vec<u8>,
    /// `Damage` and `Death` near the shared border since the last frame.
    pub events: Vec<GhostEvent>,
}

/// What one neighbour's owner was last sent.
#[derive(Debug)]
struct Stream {
    owner: (ZoneId, Epoch),
    view: View,
    since_snapshot: u32,
}

/// Every neighbour's stream.
#[derive(Debug, Default)]
pub(super) struct GhostStreams {
    streams: FxHashMap<AreaId, Stream>,
    band: Vec<(f32, EntityId, u32)>,
    visible: Vec<(EntityId, u32)>,
    writer: UpdateWriter,
}

impl Simulation {
    /// This tick's ghost frame for each neighbour in `owners` (the ones with an owner).
    /// Run after [`Simulation::tick`].
    pub fn ghost_frames(&mut self, owners: &[NeighbourOwner], out: &mut Vec<GhostUpdate>) {
        // Each event encoded once, whichever neighbours it goes to.
        let events: Vec<(Position, GhostEvent)> = std::mem::take(&mut self.border_events)
            .into_iter()
            .filter_map(|(at, packet)| {
                let frame = packet.encode().ok()?;
                let pos = quantize_position(at);
                Some((at, GhostEvent { pos, frame }))
            })
            .collect();
        let mut streams = std::mem::take(&mut self.ghost_streams);
        // The table as the tick left it, each entity encoded once for clients and
        // neighbours alike.
        let mut encodings = std::mem::take(&mut self.encodings);
        encodings.begin(&self.frame, self.frame_version);
        streams
            .streams
            .retain(|area, _| owners.iter().any(|o| o.area == *area));
        let local = self.local_slots;
        for owner in owners {
            let Some((dx, dz)) = self.direction_to(owner.area) else {
                continue;
            };
            let stream = streams.streams.entry(owner.area).or_insert_with(|| Stream {
                owner: (owner.zone, owner.epoch),
                view: View::default(),
                since_snapshot: 0,
            });
            if stream.owner != (owner.zone, owner.epoch)
                || stream.since_snapshot >= self.cfg.tick_rate
            {
                stream.owner = (owner.zone, owner.epoch);
                stream.view = View::default();
                stream.since_snapshot = 0;
            }
            stream.since_snapshot += 1;
            // This area's own entities near the shared edge or corner, nearest first if
            // there are more than a neighbour may show.
            streams.band.clear();
            for (slot, (id, motion)) in self.frame[..local].iter().enumerate() {
                let at = dequantize_position(motion.pos);
                if let Some(d) = self.border_distance(dx, dz, at.x, at.z)
                    && d < self.cfg.aoi_radius
                {
                    streams.band.push((d, *id, slot as u32));
                }
            }
            if streams.band.len() > MAX_GHOSTS_PER_NEIGHBOUR {
                streams
                    .band
                    .select_nth_unstable_by(MAX_GHOSTS_PER_NEIGHBOUR - 1, |a, b| {
                        a.0.total_cmp(&b.0)
                    });
                streams.band.truncate(MAX_GHOSTS_PER_NEIGHBOUR);
            }
            streams.visible.clear();
            streams
                .visible
                .extend(streams.band.iter().map(|&(_, id, slot)| (id, slot)));
            let mut bytes = Vec::new();
            let written = stream.view.update(
                self.tick,
                &mut streams.visible,
                &mut TickEntities {
                    sim: self,
                    encodings: &mut encodings,
                },
                &mut streams.writer,
                &mut bytes,
            );
            if let Err(e) = written {
                // The view starts over: the next frame is a snapshot.
                tracing::warn!(area = %owner.area, error = %e, "a ghost frame does not encode");
            }
            let events = events
                .iter()
                .filter(|(at, _)| {
                    self.border_distance(dx, dz, at.x, at.z)
                        .is_some_and(|d| d < self.cfg.aoi_radius)
                })
                .map(|(_, event)| event.clone())
                .collect();
            out.push(GhostUpdate {
                area: owner.area,
                update: bytes,
                events,
            });
        }
        self.ghost_streams = streams;
        self.encodings = encodings;
    }

    /// Whether a neighbour's players may see `at` (within the interest radius of an edge).
    pub(super) fn near_a_border(&self, at: Position) -> bool {
        let b = self.grid.bounds(self.content.area);
        let r = self.cfg.aoi_radius;
        at.x - b.min_x < r || b.max_x - at.x < r || at.z - b.min_z < r || b.max_z - at.z < r
    }

    /// Keeps a `Damage` or `Death` shown at `at` for the next ghost frames.
    pub(super) fn record_border_event(&mut self, at: Position, packet: ServerPacket) {
        if self.border_events.len() < MAX_BORDER_EVENTS {
            self.border_events.push((at, packet));
        } else {
            metrics::counter!("zone_border_events_dropped_total").increment(1);
        }
    }

    /// Which way `neighbour` lies from this area, if it touches it (edge or corner).
    fn direction_to(&self, neighbour: AreaId) -> Option<(i32, i32)> {
        let me = self.content.area;
        let dx = i32::from(neighbour.x) - i32::from(me.x);
        let dz = i32::from(neighbour.z) - i32::from(me.z);
        ((dx, dz) != (0, 0) && dx.abs() <= 1 && dz.abs() <= 1).then_some((dx, dz))
    }

    /// How far (x, z) is from the edge (or corner) this area shares with the neighbour in
    /// direction (dx, dz) (0 on or past it); `None` for (0, 0).
    pub(super) fn border_distance(&self, dx: i32, dz: i32, x: f32, z: f32) -> Option<f32> {
        let b = self.grid.bounds(self.content.area);
        let along = |d: i32, v: f32, min: f32, max: f32| match d {
            -1 => Some((v - min).max(0.0)),
            1 => Some((max - v).max(0.0)),
            _ => None,
        };
        match (
            along(dx, x, b.min_x, b.max_x),
            along(dz, z, b.min_z, b.max_z),
        ) {
            (Some(ex), Some(ez)) => Some(ex.hypot(ez)),
            (Some(e), None) | (None, Some(e)) => Some(e),
            (None, None) => None,
        }
    }
}
