//! What zones send the manager over NATS: registrations and area requests (requests, each
//! answered with a `Reply`), heartbeats, position samples and handoff events (publishes).
//! One task per subject reads its subscription; a request that needs the network (an area
//! request may allocate) gets a task of its own so one slow zone does not hold up others.

use async_nats::{Client, Message, Subscriber};
use futures_util::StreamExt;
use protocol::cluster::{
    AreaOwner, AreaRequest, ErrorKind, ErrorReply, HandoffEvent, Heartbeat, PositionSample,
    Register, RegisterAck, Reply,
};
use tokio::task::JoinHandle;

use crate::manager::Manager;
use crate::nats::{decode_or_refuse, reply};
use crate::registry::{AllocError, Report};

/// Most player dots forwarded per position sample (the dashboard needs a picture, not
/// every player of a crowded area).
const MAX_DOTS: usize = 256;

/// Subscribes to the manager's subjects and starts one task per subscription.
pub async fn start(manager: &Manager) -> Result<Vec<JoinHandle<()>>, async_nats::SubscribeError> {
    let client = manager.link().client().clone();
    let s = manager.link().subjects().clone();
    let register = client.subscribe(s.register()).await?;
    let heartbeat = client.subscribe(s.heartbeat()).await?;
    let area_request = client.subscribe(s.area_request()).await?;
    let positions = client.subscribe(s.positions()).await?;
    let handoffs = client.subscribe(s.handoff_events()).await?;
    Ok(vec![
        tokio::spawn(serve(manager.clone(), register, on_register)),
        tokio::spawn(serve(manager.clone(), heartbeat, on_heartbeat)),
        tokio::spawn(serve(manager.clone(), area_request, on_area_request)),
        tokio::spawn(serve(manager.clone(), positions, on_positions)),
        tokio::spawn(serve(manager.clone(), handoffs, on_handoff)),
    ])
}

async fn serve<F, Fut>(manager: Manager, mut sub: Subscriber, handler: F)
where
    F: Fn(Manager, Client, Message) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let client = manager.link().client().clone();
    while let Some(msg) = sub.next().await {
        handler(manager.clone(), client.clone(), msg).await;
    }
}

async fn on_register(manager: Manager, client: Client, msg: Message) {
    let Some(r) = decode_or_refuse::<Register, RegisterAck>(&client, &msg, "register").await else {
        return;
    };
    tracing::info!(zone = %r.zone, state = %r.state, area = ?r.area, epoch = ?r.epoch, "zone registered");
    manager.handle_report(Report {
        zone: r.zone,
        ws_url: r.ws_url,
        state: r.state,
        area: r.area,
        epoch: r.epoch,
        players: 0,
        tick_p99_us: 0,
        register: true,
    });
    let interval = manager.config().heartbeat_interval.as_millis();
    let ack: Reply<RegisterAck> = Ok(RegisterAck {
        heartbeat_interval_ms: u32::try_from(interval).unwrap_or(u32::MAX),
    });
    reply(&client, &msg, &ack).await;
}

async fn on_heartbeat(manager: Manager, client: Client, msg: Message) {
    let Some(hb) = decode_or_refuse::<Heartbeat, ()>(&client, &msg, "heartbeat").await else {
        return;
    };
    manager.handle_report(Report {
        zone: hb.zone,
        ws_url: hb.ws_url,
        state: hb.state,
        area: hb.area,
        epoch: hb.epoch,
        players: hb.players,
        tick_p99_us: hb.tick_p99_us,
        register: false,
    });
}

async fn on_area_request(manager: Manager, client: Client, msg: Message) {
    let Some(req) = decode_or_refuse::<AreaRequest, AreaOwner>(&client, &msg, "area_request").await
    else {
        return;
    };
    let m = manager.clone();
    manager.spawn(async move {
        let answer: Reply<AreaOwner> = match m.ensure(req.area).await {
            Ok(o) => Ok(AreaOwner {
                area: req.area,
                zone: o.zone,
                epoch: o.epoch,
                ws_url: o.ws_url,
            }),
            Err(e) => {
                let kind = match e {
                    AllocError::NoIdleZone => ErrorKind::NoIdleZone,
                    AllocError::OutsideGrid(_) => ErrorKind::NotFound,
                    AllocError::Busy(_) | AllocError::ZoneFailed(_) => ErrorKind::Upstream,
                    AllocError::Store(_) => ErrorKind::Internal,
                };
                Err(ErrorReply::new(kind, e.to_string()))
            }
        };
        reply(&client, &msg, &answer).await;
    });
}

async fn on_positions(manager: Manager, client: Client, msg: Message) {
    let Some(mut sample) = decode_or_refuse::<PositionSample, ()>(&client, &msg, "positions").await
    else {
        return;
    };
    sample.players.truncate(MAX_DOTS);
    sample
        .players
        .retain(|p| p.x.is_finite() && p.z.is_finite());
    manager.feed().positions(&sample);
}

async fn on_handoff(manager: Manager, client: Client, msg: Message) {
    let Some(event) = decode_or_refuse::<HandoffEvent, ()>(&client, &msg, "handoffs").await else {
        return;
    };
    manager.feed().handoff(&event);
}
