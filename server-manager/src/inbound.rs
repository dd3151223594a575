//! What zones send the manager over NATS: registrations, area requests and area-owner
//! queries (requests, each answered with a `Reply`), heartbeats, position samples and
//! handoff events (publishes). One task per subject reads its subscription; a request that
//! needs the network (an area request may allocate) gets a task of its own so one slow zone
//! does not hold up others.
//!
//! Every subject ends with its sender's NATS identity (the server lets no one publish under
//! another's), and a message speaking for a zone is taken only from the identity that zone
//! registered with; anything else is refused with `forbidden` and counted.

use async_nats::{Client, Message, Subscriber};
use futures_util::StreamExt;
use protocol::ZoneId;
use protocol::cluster::{
    AreaOwner, AreaOwnerQuery, AreaRequest, Crowding, ErrorKind, ErrorReply, HandoffEvent,
    Heartbeat, Identity, ManagerVerb, PositionSample, Register, RegisterAck, Reply,
};
use serde::Serialize;
use tokio::task::JoinHandle;

use crate::manager::Manager;
use crate::nats::{decode_or_refuse, reply};
use crate::owners::area_owner;
use crate::registry::{AllocError, Report};

/// Most player dots forwarded per position sample (the dashboard needs a picture, not
/// every player of a crowded area).
const MAX_DOTS: usize = 256;

/// Subscribes to the manager's subjects and starts one task per subscription.
pub async fn start(manager: &Manager) -> Result<Vec<JoinHandle<()>>, async_nats::SubscribeError> {
    let client = manager.link().client().clone();
    let s = manager.link().subjects().clone();
    let sub = |verb| client.subscribe(s.manager_all(verb));
    let register = sub(ManagerVerb::Register).await?;
    let heartbeat = sub(ManagerVerb::Heartbeat).await?;
    let area_request = sub(ManagerVerb::AreaRequest).await?;
    let area_owner = sub(ManagerVerb::AreaOwner).await?;
    let positions = sub(ManagerVerb::Positions).await?;
    let handoffs = sub(ManagerVerb::Handoffs).await?;
    Ok(vec![
        tokio::spawn(serve(manager.clone(), register, on_register)),
        tokio::spawn(serve(manager.clone(), heartbeat, on_heartbeat)),
        tokio::spawn(serve(manager.clone(), area_request, on_area_request)),
        tokio::spawn(serve(manager.clone(), area_owner, on_area_owner)),
        tokio::spawn(serve(manager.clone(), positions, on_positions)),
        tokio::spawn(serve(manager.clone(), handoffs, on_handoff)),
    ])
}

async fn serve<F, Fut>(manager: Manager, mut sub: Subscriber, handler: F)
where
    F: Fn(Manager, Client, Message, Identity) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let client = manager.link().client().clone();
    while let Some(msg) = sub.next().await {
        match manager.link().subjects().parse_manager(&msg.subject) {
            Some((_, sender)) => handler(manager.clone(), client.clone(), msg, sender).await,
            None => {
                metrics::counter!(crate::metrics::MALFORMED, "subject" => "unknown").increment(1);
                let refusal: Reply<()> = Err(ErrorReply::new(
                    ErrorKind::Malformed,
                    format!("no such subject: {}", msg.subject),
                ));
                reply(&client, &msg, &refusal).await;
            }
        }
    }
}

/// Refuses (and counts) a message that speaks for a zone its sender does not serve.
async fn forbid<T: Serialize>(client: &Client, msg: &Message, why: String) {
    metrics::counter!(crate::metrics::REFUSED, "reason" => "wrong_sender").increment(1);
    tracing::warn!(subject = %msg.subject, "refusing a zone's message: {why}");
    let refusal: Reply<T> = Err(ErrorReply::new(ErrorKind::Forbidden, why));
    reply(client, msg, &refusal).await;
}

/// Whether `sender` speaks for `zone` (the identity it registered with).
fn speaks_for(manager: &Manager, zone: ZoneId, sender: &Identity) -> bool {
    manager.link().identity_of(zone).as_ref() == Some(sender)
}

async fn on_register(manager: Manager, client: Client, msg: Message, sender: Identity) {
    let Some(r) = decode_or_refuse::<Register, RegisterAck>(&client, &msg, "register").await else {
        return;
    };
    tracing::info!(zone = %r.zone, identity = %sender, state = %r.state, area = ?r.area, epoch = ?r.epoch, "zone registers");
    let accepted = manager.handle_report(Report {
        zone: r.zone,
        identity: sender,
        ws_url: r.ws_url,
        state: r.state,
        area: r.area,
        epoch: r.epoch,
        players: 0,
        tick_p99_us: 0,
        ghosts: 0,
        crowding: Crowding::default(),
        register: true,
    });
    if let Err(refused) = accepted {
        let refusal: Reply<RegisterAck> =
            Err(ErrorReply::new(ErrorKind::Forbidden, refused.to_string()));
        return reply(&client, &msg, &refusal).await;
    }
    let interval = manager.config().heartbeat_interval.as_millis();
    let ack: Reply<RegisterAck> = Ok(RegisterAck {
        heartbeat_interval_ms: u32::try_from(interval).unwrap_or(u32::MAX),
    });
    reply(&client, &msg, &ack).await;
}

async fn on_heartbeat(manager: Manager, client: Client, msg: Message, sender: Identity) {
    let Some(hb) = decode_or_refuse::<Heartbeat, ()>(&client, &msg, "heartbeat").await else {
        return;
    };
    // Refusals are counted and logged there; a heartbeat has no one to answer.
    let _ = manager.handle_report(Report {
        zone: hb.zone,
        identity: sender,
        ws_url: hb.ws_url,
        state: hb.state,
        area: hb.area,
        epoch: hb.epoch,
        players: hb.players,
        tick_p99_us: hb.tick_p99_us,
        ghosts: hb.ghosts,
        crowding: hb.crowding,
        register: false,
    });
}

async fn on_area_request(manager: Manager, client: Client, msg: Message, sender: Identity) {
    let Some(req) = decode_or_refuse::<AreaRequest, AreaOwner>(&client, &msg, "area_request").await
    else {
        return;
    };
    if !speaks_for(&manager, req.requested_by, &sender) {
        let why = format!("{sender} does not serve zone {}", req.requested_by);
        return forbid::<AreaOwner>(&client, &msg, why).await;
    }
    let m = manager.clone();
    manager.spawn(async move {
        let answer: Reply<AreaOwner> = match m.ensure(req.area).await {
            Ok(o) => Ok(area_owner(&m, req.area, o)),
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

/// Who owns an area now, by the manager's map (a zone checks a neighbour's handoff
/// against it); `not_found` when nobody does.
async fn on_area_owner(manager: Manager, client: Client, msg: Message, _sender: Identity) {
    let Some(q) = decode_or_refuse::<AreaOwnerQuery, AreaOwner>(&client, &msg, "area_owner").await
    else {
        return;
    };
    let owner = manager.registry().owner(q.area);
    let answer: Reply<AreaOwner> = match owner {
        Some(o) => Ok(area_owner(&manager, q.area, o)),
        None => Err(ErrorReply::new(
            ErrorKind::NotFound,
            format!("area {} has no owner", q.area),
        )),
    };
    reply(&client, &msg, &answer).await;
}

async fn on_positions(manager: Manager, client: Client, msg: Message, sender: Identity) {
    let Some(mut sample) = decode_or_refuse::<PositionSample, ()>(&client, &msg, "positions").await
    else {
        return;
    };
    if !speaks_for(&manager, sample.zone, &sender) {
        let why = format!("{sender} does not serve zone {}", sample.zone);
        return forbid::<()>(&client, &msg, why).await;
    }
    sample.players.truncate(MAX_DOTS);
    sample
        .players
        .retain(|p| p.x.is_finite() && p.z.is_finite());
    manager.feed().positions(&sample);
}

async fn on_handoff(manager: Manager, client: Client, msg: Message, _sender: Identity) {
    let Some(event) = decode_or_refuse::<HandoffEvent, ()>(&client, &msg, "handoffs").await else {
        return;
    };
    manager.feed().handoff(&event);
}
