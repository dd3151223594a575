//! The supervisor of a process's zone actors. A zone that panics loses its area (its
//! players reconnect through the manager, which reallocates the area); the supervisor
//! starts a fresh Idle actor under the same zone id, and the process keeps serving its
//! other zones.

use std::collections::HashMap;
use std::sync::Arc;

use protocol::ZoneId;
use ractor::{
    Actor, ActorCell, ActorId, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent,
};

use super::ZoneActor;
use crate::shared::Shared;

/// Supervises the zone actors.
#[derive(Debug, Clone, Copy)]
pub struct ZoneSupervisor;

/// Messages of the supervisor.
#[derive(Debug)]
pub enum SupervisorMsg {
    /// How many zone restarts have happened.
    Restarts(RpcReplyPort<u64>),
}

/// The supervisor's state.
#[derive(Debug)]
pub struct SupervisorState {
    shared: Arc<Shared>,
    children: HashMap<ActorId, ZoneId>,
    restarts: u64,
}

impl SupervisorState {
    async fn start_zone(
        &mut self,
        myself: &ActorRef<SupervisorMsg>,
        zone: ZoneId,
    ) -> Result<(), ActorProcessingErr> {
        let cell: ActorCell = myself.get_cell();
        let (actor, _) =
            Actor::spawn_linked(None, ZoneActor, (zone, self.shared.clone()), cell).await?;
        self.children.insert(actor.get_id(), zone);
        self.shared.set_zone(zone, actor);
        Ok(())
    }
}

impl Actor for ZoneSupervisor {
    type Msg = SupervisorMsg;
    type State = SupervisorState;
    type Arguments = (Vec<ZoneId>, Arc<Shared>);

    async fn pre_start(
        &self,
        myself: ActorRef<SupervisorMsg>,
        (zones, shared): Self::Arguments,
    ) -> Result<Self::State, ActorProcessingErr> {
        let mut state = SupervisorState {
            shared,
            children: HashMap::new(),
            restarts: 0,
        };
        for zone in zones {
            state.start_zone(&myself, zone).await?;
        }
        Ok(state)
    }

    async fn handle(
        &self,
        _: ActorRef<SupervisorMsg>,
        message: SupervisorMsg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            SupervisorMsg::Restarts(reply) => {
                let _ = reply.send(state.restarts);
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<SupervisorMsg>,
        event: SupervisionEvent,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let (cell, reason) = match &event {
            SupervisionEvent::ActorFailed(cell, error) => (cell.clone(), error.to_string()),
            SupervisionEvent::ActorTerminated(cell, _, reason) => {
                (cell.clone(), reason.clone().unwrap_or_default())
            }
            _ => return Ok(()),
        };
        let Some(zone) = state.children.remove(&cell.get_id()) else {
            return Ok(());
        };
        tracing::error!(%zone, %reason, "zone actor stopped; restarting it idle");
        metrics::counter!("zone_actor_restarts_total").increment(1);
        state.restarts += 1;
        state.start_zone(&myself, zone).await
    }
}
