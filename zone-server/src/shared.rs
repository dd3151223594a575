//! State shared by everything in one zone-server process: the zone actors (by id), the
//! tickets waiting to be spent (so a WebSocket finds its zone), the NATS client, the API
//! clients and the quest catalog.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use protocol::cluster::Subjects;
use protocol::http::quest::Quest;
use protocol::{Ticket, WorldGrid, ZoneId};
use ractor::ActorRef;

use crate::apis::Apis;
use crate::config::Config;
use crate::stays::StayBook;
use crate::zone::{OwnerBook, ZoneMsg};

/// Process-wide state, handed to handlers through `web::Data` and to actors as arguments.
#[derive(Debug)]
pub struct Shared {
    /// Settings.
    pub config: Config,
    /// The world grid.
    pub grid: WorldGrid,
    /// Subject builder, speaking as this process's NATS identity.
    pub subjects: Subjects,
    /// Who owns the neighbouring areas, by the manager's word (handoffs are checked
    /// against it).
    pub owners: OwnerBook,
    /// NATS.
    pub nats: async_nats::Client,
    /// character-api and quest-api.
    pub apis: Apis,
    /// The URL clients connect to.
    pub ws_url: String,
    /// Who was in which zone when.
    pub stays: StayBook,
    zones: RwLock<HashMap<ZoneId, ActorRef<ZoneMsg>>>,
    tickets: Mutex<HashMap<Ticket, ZoneId>>,
    catalog: RwLock<Arc<Vec<Quest>>>,
}

impl Shared {
    /// Shared state for a process.
    pub fn new(
        config: Config,
        grid: WorldGrid,
        nats: service_kit::nats::Nats,
        apis: Apis,
        ws_url: String,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            subjects: config.subjects()?.speaking_as(nats.identity),
            config,
            grid,
            nats: nats.client,
            owners: OwnerBook::default(),
            apis,
            ws_url,
            stays: StayBook::default(),
            zones: RwLock::default(),
            tickets: Mutex::default(),
            catalog: RwLock::default(),
        })
    }

    /// The actor currently serving `zone` (it changes when a crashed zone is restarted).
    pub fn zone(&self, zone: ZoneId) -> Option<ActorRef<ZoneMsg>> {
        self.zones
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&zone)
            .cloned()
    }

    /// Every zone of the process.
    pub fn zones(&self) -> Vec<(ZoneId, ActorRef<ZoneMsg>)> {
        self.zones
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(k, v)| (*k, v.clone()))
            .collect()
    }

    /// Records the actor serving `zone`.
    pub fn set_zone(&self, zone: ZoneId, actor: ActorRef<ZoneMsg>) {
        self.zones
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(zone, actor);
    }

    /// Which zone holds `ticket`.
    pub fn ticket_zone(&self, ticket: &Ticket) -> Option<ZoneId> {
        self.tickets
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(ticket)
            .copied()
    }

    /// Records that `zone` holds `ticket`.
    pub fn add_ticket(&self, ticket: Ticket, zone: ZoneId) {
        self.tickets
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(ticket, zone);
    }

    /// Forgets `ticket` (spent or expired).
    pub fn remove_ticket(&self, ticket: &Ticket) {
        self.tickets
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(ticket);
    }

    /// The quest catalog as last fetched (empty until quest-api first answers).
    pub fn catalog(&self) -> Arc<Vec<Quest>> {
        self.catalog
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Replaces the quest catalog.
    pub fn set_catalog(&self, catalog: Vec<Quest>) {
        *self.catalog.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(catalog);
    }
}
