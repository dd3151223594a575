//! server-manager bodies: player routing (`join`) and the operator API.

use serde::{Deserialize, Serialize};

use crate::UnixMillis;
pub use crate::cluster::messages::ZoneState;
use crate::ids::{AreaId, CharacterId, Epoch, Ticket, ZoneId};

/// `POST /v1/join`: which character the (token's) account wants to play.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JoinRequest {
    /// The character.
    pub character_id: CharacterId,
}

/// Where to connect and with what.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinResponse {
    /// The zone's WebSocket URL.
    pub zone_url: String,
    /// The one-time ticket to send in `Hello` (32 hex digits).
    pub ticket: Ticket,
    /// The area the character is in.
    pub area: AreaId,
    #[cfg_attr(feature = "openapi", schema(schema_with = super::schema::unix_millis))]
    /// When the ticket stops being accepted.
    pub expires_at: UnixMillis,
}

/// One zone as the manager sees it (`GET /v1/zones`).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ZoneInfo {
    /// The zone.
    pub zone: ZoneId,
    /// Its WebSocket URL.
    pub ws_url: String,
    /// Its lifecycle state (`unhealthy` when heartbeats stopped).
    pub state: ZoneState,
    /// The area it simulates.
    pub area: Option<AreaId>,
    /// The epoch it holds the area under.
    pub epoch: Option<Epoch>,
    #[cfg_attr(feature = "openapi", schema(schema_with = super::schema::count))]
    /// Players connected.
    pub players: u32,
    #[cfg_attr(feature = "openapi", schema(schema_with = super::schema::count))]
    /// Tick duration p99, microseconds.
    pub tick_p99_us: u32,
    #[cfg_attr(feature = "openapi", schema(schema_with = super::schema::count))]
    /// Ghosts it shows its players: entities of neighbouring areas near its borders.
    #[serde(default)]
    pub ghosts: u32,
    /// Its area's capacity, the players held at its borders, arrivals refused as full,
    /// and its clock rate.
    #[serde(default)]
    pub crowding: crate::cluster::Crowding,
    #[cfg_attr(feature = "openapi", schema(schema_with = super::schema::millis))]
    /// Milliseconds since its last heartbeat.
    pub last_seen_ms: u64,
}

/// One area of the grid (`GET /v1/areas`).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AreaInfo {
    /// The area.
    pub area: AreaId,
    /// Its owner, if allocated.
    pub zone: Option<ZoneId>,
    /// The owner's epoch.
    pub epoch: Option<Epoch>,
    #[cfg_attr(feature = "openapi", schema(schema_with = super::schema::count))]
    /// Players in it.
    pub players: u32,
}

/// `GET /v1/pool`: the pool's shape and, with an idle buffer configured, the change in
/// zone slots an autoscaler should make.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolStatus {
    #[cfg_attr(feature = "openapi", schema(schema_with = super::schema::count))]
    /// Zones waiting for an area.
    pub idle: u32,
    #[cfg_attr(feature = "openapi", schema(schema_with = super::schema::count))]
    /// Zones simulating an area.
    pub allocated: u32,
    #[cfg_attr(feature = "openapi", schema(schema_with = super::schema::count))]
    /// Zones handing their area over.
    pub draining: u32,
    #[cfg_attr(feature = "openapi", schema(schema_with = super::schema::count))]
    /// Zones whose heartbeats stopped.
    pub unhealthy: u32,
    /// The configured idle buffer.
    pub idle_buffer: Option<u32>,
    /// Zone slots to add (positive) or remove (negative) to keep `idle_buffer` idle.
    pub scale_delta: i64,
}

/// `POST /v1/zones/{id}/drain`'s answer: the area has a new owner and the old one was told
/// to migrate to it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DrainStarted {
    /// The draining zone.
    pub zone: ZoneId,
    /// Its area.
    pub area: AreaId,
    /// The epoch it held.
    pub epoch: Epoch,
    /// The zone that took the area over.
    pub target_zone: ZoneId,
    /// The new epoch.
    pub target_epoch: Epoch,
}
