//! A bot's view of its zone (the entities it was shown, its inventory) and its choice of
//! packets for each 50 ms step: where to walk, what to pick up, attack or drop.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use protocol::client::ClientPacket;
use protocol::client::entity::{AnimState, EntityKind, EntityState, dequantize_position};
use protocol::client::packets::{Attack, DropItem, Input, Inventory, Pickup};
use protocol::{EntityId, Position};

use super::Route;
use super::stats::Activity;

/// Edge of an area (the default grid).
const AREA_SIZE: f32 = 128.0;
/// How close a bot must stand to pick an item up (the zone allows 2.5 m).
const PICKUP_REACH: f32 = 2.3;
/// How close to attack (the zone allows 3 m).
const ATTACK_REACH: f32 = 2.8;
/// Inputs kept for resending after a `Transfer`.
const UNACKED_KEPT: usize = 256;

/// What a bot knows and wants; kept across connections.
pub(super) struct PlayState {
    pub(super) me: Option<EntityId>,
    pub(super) entities: HashMap<EntityId, EntityState>,
    pub(super) inventory: Option<Inventory>,
    /// The next `Inventory` is the one the zone loaded (the first after `Welcome`).
    pub(super) awaiting_welcome_inventory: bool,
    seq: u32,
    /// Inputs sent and not yet acknowledged, oldest first.
    pub(super) unacked: VecDeque<Input>,
    /// After a transfer: resend the unacknowledged inputs once the new zone acks.
    pub(super) resend: bool,
    /// No ack seen yet on this connection.
    pub(super) fresh: bool,
    route: Route,
    waypoint: Position,
    rng: u64,
    last_pickup: Instant,
    last_fight: Instant,
    last_drop: Instant,
    /// The item being run to (gathering), and since when.
    target: Option<(EntityId, Instant)>,
    /// Items given up on (unreachable or contested), per connection.
    ignored: HashMap<EntityId, Instant>,
    /// Where the bot last knew itself to be (kept across connections).
    last_at: Option<Position>,
    /// Where the bot was when it last made progress, and when.
    progress: (Position, Instant),
    /// Which side of the border it heads for (border runners).
    east: bool,
}

impl PlayState {
    pub(super) fn new(start: Position, route: Route) -> Self {
        let seed = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(7, |d| d.as_nanos() as u64)
            | 1;
        let long_ago = Instant::now()
            .checked_sub(Duration::from_secs(10))
            .unwrap_or_else(Instant::now);
        Self {
            me: None,
            entities: HashMap::new(),
            inventory: None,
            awaiting_welcome_inventory: false,
            seq: 0,
            unacked: VecDeque::new(),
            resend: false,
            fresh: true,
            route,
            waypoint: start,
            rng: seed,
            last_pickup: long_ago,
            last_fight: long_ago,
            last_drop: long_ago,
            target: None,
            ignored: HashMap::new(),
            last_at: None,
            progress: (start, Instant::now()),
            east: true,
        }
    }

    /// Entity ids are per zone: forget them on a new connection.
    pub(super) fn new_connection(&mut self) {
        self.me = None;
        self.entities.clear();
        self.target = None;
        self.ignored.clear();
        self.fresh = true;
    }

    /// Where the zone last showed the bot.
    pub(super) fn position(&self) -> Option<Position> {
        self.me
            .and_then(|id| self.entities.get(&id))
            .map(|e| dequantize_position(e.pos))
    }

    fn alive(&self) -> bool {
        self.me
            .and_then(|id| self.entities.get(&id))
            .is_some_and(|e| e.anim != AnimState::Dead)
    }

    fn unit(&mut self) -> f32 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        (self.rng >> 40) as f32 / (1u64 << 24) as f32
    }

    /// The next waypoint: somewhere inside the current area, or just across the border.
    fn next_waypoint(&mut self, at: Position) -> Position {
        match self.route {
            Route::Roam => {
                let (ax, az) = (
                    (at.x / AREA_SIZE).floor() * AREA_SIZE,
                    (at.z / AREA_SIZE).floor() * AREA_SIZE,
                );
                Position::new(
                    ax + 10.0 + self.unit() * (AREA_SIZE - 20.0),
                    0.0,
                    az + 10.0 + self.unit() * (AREA_SIZE - 20.0),
                )
            }
            Route::BorderBand => {
                // Within 40 m of the nearer of its area's west and east edges.
                let (west, north) = (
                    (at.x / AREA_SIZE).floor() * AREA_SIZE,
                    (at.z / AREA_SIZE).floor() * AREA_SIZE,
                );
                let depth = 4.0 + self.unit() * 36.0;
                let x = if at.x - west < AREA_SIZE / 2.0 {
                    west + depth
                } else {
                    west + AREA_SIZE - depth
                };
                Position::new(x, 0.0, north + 10.0 + self.unit() * (AREA_SIZE - 20.0))
            }
            Route::Converge => Position::new(
                AREA_SIZE + 8.0 + self.unit() * (AREA_SIZE - 16.0),
                0.0,
                8.0 + self.unit() * (AREA_SIZE - 16.0),
            ),
            Route::BorderRunner => {
                self.east = at.x < AREA_SIZE;
                let depth = 6.0 + self.unit() * 6.0;
                let x = if self.east {
                    AREA_SIZE + depth
                } else {
                    AREA_SIZE - depth
                };
                Position::new(x, 0.0, 20.0 + self.unit() * (AREA_SIZE - 40.0))
            }
        }
    }

    /// The nearest living entity of `kind` within `range` that is not given up on.
    fn nearest(&self, at: Position, kind: EntityKind, range: f32) -> Option<(EntityId, Position)> {
        self.entities
            .values()
            .filter(|e| e.kind == kind && e.anim != AnimState::Dead)
            .filter(|e| !self.ignored.contains_key(&e.id))
            .map(|e| {
                let p = dequantize_position(e.pos);
                (p.planar_distance(&at), e.id, p)
            })
            .filter(|(d, _, _)| *d <= range)
            .min_by(|a, b| a.0.total_cmp(&b.0))
            .map(|(_, id, p)| (id, p))
    }

    /// This step's packets: maybe an action (pickup, attack or drop), then one input.
    pub(super) fn next_packets(&mut self, activity: Activity) -> Vec<ClientPacket> {
        // Until the new zone's first snapshot, where the bot last was is good enough.
        let Some(at) = self.position().or(self.last_at) else {
            return Vec::new();
        };
        self.last_at = Some(at);
        let now = Instant::now();
        self.ignored
            .retain(|_, since| now.duration_since(*since) < Duration::from_secs(20));
        let mut out = Vec::new();
        let alive = self.alive();

        // Pick up what is in reach: at most 4 a second when gathering or juggling (the
        // limit is 5), now and then when walking.
        let item_in_reach = self.nearest(at, EntityKind::Item, PICKUP_REACH);
        let pickup_every = match activity {
            Activity::Gather | Activity::Juggle { .. } => Some(Duration::from_millis(250)),
            Activity::Walk { fight: true } => Some(Duration::from_millis(700)),
            Activity::Walk { fight: false } | Activity::Stand => None,
        };
        if alive
            && let Some(every) = pickup_every
            && now.duration_since(self.last_pickup.max(self.last_fight)) >= every
            && let Some((item, _)) = item_in_reach
        {
            self.last_pickup = now;
            out.push(Pickup { item }.into());
        }

        let intent = match activity {
            Activity::Stand => None,
            Activity::Juggle { every_ms } => {
                // Drop one of something now and then (picked up again above).
                if alive
                    && item_in_reach.is_none()
                    && now.duration_since(self.last_drop) >= Duration::from_millis(every_ms)
                    && let Some(slot) = self
                        .inventory
                        .as_ref()
                        .and_then(|i| i.slots.iter().position(Option::is_some))
                {
                    self.last_drop = now;
                    out.push(
                        DropItem {
                            slot: slot as u8,
                            count: 1,
                        }
                        .into(),
                    );
                }
                None
            }
            Activity::Gather => {
                self.aim_at_items(at, now);
                Some(self.towards_waypoint(at, now))
            }
            Activity::Walk { fight } => {
                if fight
                    && alive
                    && out.is_empty()
                    && now.duration_since(self.last_pickup.max(self.last_fight))
                        >= Duration::from_millis(700)
                    && let Some((target, _)) = self.nearest(at, EntityKind::Npc, ATTACK_REACH)
                {
                    self.last_fight = now;
                    out.push(Attack { target }.into());
                }
                Some(self.towards_waypoint(at, now))
            }
        };
        let (dx, dz) = intent.unwrap_or((0.0, 0.0));
        self.seq += 1;
        let input = Input {
            seq: self.seq,
            move_x: (dx * 127.0) as i8,
            move_z: (dz * 127.0) as i8,
            running: activity == Activity::Gather,
            yaw: protocol::client::entity::quantize_yaw(dx.atan2(dz)),
        };
        self.unacked.push_back(input);
        if self.unacked.len() > UNACKED_KEPT {
            self.unacked.pop_front();
        }
        out.push(input.into());
        out
    }

    /// Gathering: keep running to the nearest item; give up on one that takes too long.
    fn aim_at_items(&mut self, at: Position, now: Instant) {
        if let Some((target, since)) = self.target
            && (!self.entities.contains_key(&target)
                || now.duration_since(since) > Duration::from_secs(15))
        {
            if self.entities.contains_key(&target) {
                self.ignored.insert(target, now);
            }
            self.target = None;
        }
        if self.target.is_none()
            && let Some((item, _)) = self.nearest(at, EntityKind::Item, f32::INFINITY)
        {
            self.target = Some((item, now));
        }
        if let Some((target, _)) = self.target
            && let Some(e) = self.entities.get(&target)
        {
            self.waypoint = dequantize_position(e.pos);
        }
    }

    /// A unit direction towards the waypoint; a new waypoint when it is reached or the bot
    /// is stuck (an obstacle: go somewhere else, and give up on the item it ran to).
    fn towards_waypoint(&mut self, at: Position, now: Instant) -> (f32, f32) {
        if at.planar_distance(&self.progress.0) > 1.0 {
            self.progress = (at, now);
        }
        let stuck = now.duration_since(self.progress.1) > Duration::from_secs(3);
        if stuck && let Some((target, _)) = self.target.take() {
            self.ignored.insert(target, now);
        }
        let reached = self.target.is_none() && at.planar_distance(&self.waypoint) < 1.5;
        if reached || stuck {
            self.waypoint = self.next_waypoint(at);
            self.progress = (at, now);
        }
        let (dx, dz) = (self.waypoint.x - at.x, self.waypoint.z - at.z);
        let len = dx.hypot(dz);
        if len < 0.3 {
            (0.0, 0.0)
        } else {
            (dx / len, dz / len)
        }
    }
}
