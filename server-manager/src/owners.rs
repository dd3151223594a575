//! The owner map every zone reads: each allocated area's owner (zone, epoch, address and
//! NATS identity), published on `<prefix>.owners.<manager>` every heartbeat interval. A
//! zone believes a neighbour's handoff only from that area's owner by the manager's word;
//! with the map in hand it needs no question to the manager, so handoffs between
//! allocated areas go on while the manager is restarting or cut off. Only the manager's
//! role may publish there (see `protocol::cluster::subjects`).

use protocol::AreaId;
use protocol::cluster::{self, AreaOwner, OwnerMap};

use crate::manager::Manager;
use crate::registry::Owner;

/// The wire form of `area`'s owner, with the NATS identity that serves it.
pub fn area_owner(manager: &Manager, area: AreaId, owner: Owner) -> AreaOwner {
    AreaOwner {
        area,
        identity: manager
            .link()
            .identity_of(owner.zone)
            .map(|i| i.to_string())
            .unwrap_or_default(),
        zone: owner.zone,
        epoch: owner.epoch,
        ws_url: owner.ws_url,
    }
}

/// Every allocated area's owner, now.
pub fn owner_map(manager: &Manager) -> OwnerMap {
    let owned: Vec<(AreaId, Owner)> = {
        let registry = manager.registry();
        registry
            .areas(true)
            .into_iter()
            .filter_map(|a| Some((a.area, registry.owner(a.area)?)))
            .collect()
    };
    OwnerMap {
        owners: owned
            .into_iter()
            .map(|(area, owner)| area_owner(manager, area, owner))
            .collect(),
    }
}

/// Publishes the owner map every heartbeat interval until aborted.
pub async fn run_publisher(manager: Manager) {
    let mut every = tokio::time::interval(manager.config().heartbeat_interval);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        let map = owner_map(&manager);
        let subject = manager.link().subjects().owners();
        let client = manager.link().client();
        if let Err(e) = client.publish(subject, cluster::encode(&map).into()).await {
            tracing::debug!(error = %e, "cannot publish the owner map");
        }
    }
}
