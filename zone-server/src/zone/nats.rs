//! The zone's side of NATS: answering requests with a `Reply<T>`, asking the rest of the
//! cluster (the manager, a neighbouring area's owner, the zone taking an area over) with a
//! deadline, and the messages a zone only publishes (heartbeats, handoff events, aborts).
//!
//! Every payload is named-field MessagePack (`protocol::cluster::encode`/`decode`). Every
//! call here runs in a task of its own, so the actor never waits on NATS; what the actor
//! must learn comes back to it as a [`ZoneMsg`].

use std::sync::Arc;
use std::time::Duration;

use async_nats::Subject;
use bytes::Bytes;
use futures_util::StreamExt;
use protocol::cluster::{self, *};
use protocol::{AreaId, EntityId, ZoneId};
use ractor::ActorRef;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::task::JoinHandle;

use super::ZoneMsg;
use crate::shared::Shared;

/// How long a handoff prepare or commit may take before the sender gives up on it.
const HANDOFF_TIMEOUT: Duration = Duration::from_secs(1);
/// How often a commit is sent before the sender stops trying (the receiver saves the
/// carried state as its own once the client comes, commit or not).
const COMMIT_ATTEMPTS: usize = 3;
/// How long the new owner of an area may take to load it.
const AREA_STATE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the manager may take to answer a registration.
const REGISTER_TIMEOUT: Duration = Duration::from_secs(2);
/// How long the manager may take to find a neighbouring area an owner.
const AREA_REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a request to another part of the cluster got no usable answer.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AskError {
    /// Nobody listens on the subject (for an area: it has no owner).
    #[error("nobody answers on that subject")]
    NoResponders,
    /// No answer within the deadline: the other side may still have acted on it.
    #[error("no answer in time")]
    TimedOut,
    /// The other side answered with an error.
    #[error("{0}")]
    Refused(ErrorReply),
    /// The answer did not decode.
    #[error("undecodable answer: {0}")]
    Undecodable(String),
    /// NATS failed (disconnected, payload too big).
    #[error("{0}")]
    Nats(String),
}

/// Answers a request (if it asked for an answer), in a task.
pub(super) fn answer<T: Serialize>(shared: &Arc<Shared>, reply: Option<Subject>, body: &Reply<T>) {
    let Some(reply) = reply else { return };
    let nats = shared.nats.clone();
    let payload = Bytes::from(cluster::encode(body));
    tokio::spawn(async move {
        if let Err(e) = nats.publish(reply, payload).await {
            tracing::warn!(error = %e, "cannot answer a NATS request");
        }
        let _ = nats.flush().await;
    });
}

/// Answers a request with an error reply of `kind` (typed as the `Reply<T>` it expected),
/// and counts it.
pub(super) fn refuse<T: Serialize>(
    shared: &Arc<Shared>,
    reply: Option<Subject>,
    kind: ErrorKind,
    message: impl Into<String>,
) {
    let message = message.into();
    metrics::counter!("zone_nats_errors_total", "kind" => kind.word()).increment(1);
    tracing::debug!(%message, ?kind, "refusing a cluster request");
    answer::<T>(shared, reply, &Err(ErrorReply::new(kind, message)));
}

/// One NATS request-reply with a deadline, the answer decoded: the asking side of
/// [`answer`] and [`refuse`], shared by every request a zone makes.
async fn ask<T: DeserializeOwned>(
    shared: &Shared,
    subject: String,
    body: &impl Serialize,
    within: Duration,
) -> Result<T, AskError> {
    let request = shared
        .nats
        .request(subject, Bytes::from(cluster::encode(body)));
    match tokio::time::timeout(within, request).await {
        Err(_) => Err(AskError::TimedOut),
        Ok(Err(e)) => Err(match e.kind() {
            async_nats::RequestErrorKind::NoResponders => AskError::NoResponders,
            async_nats::RequestErrorKind::TimedOut => AskError::TimedOut,
            _ => AskError::Nats(e.to_string()),
        }),
        Ok(Ok(reply)) => match cluster::decode::<Reply<T>>(&reply.payload) {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(e)) => Err(AskError::Refused(e)),
            Err(e) => Err(AskError::Undecodable(e.to_string())),
        },
    }
}

/// Subscribes to the area's subjects, answers the allocation once the subscription is in
/// place (so a neighbour's first prepare finds this zone), then forwards every request on
/// them to the actor until aborted (which unsubscribes).
pub(super) fn subscribe_area(
    shared: Arc<Shared>,
    myself: ActorRef<ZoneMsg>,
    allocated: Allocated,
    reply: Option<Subject>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let area = allocated.area;
        let subscribed = shared.nats.subscribe(shared.subjects.area_all(area)).await;
        let _ = shared.nats.flush().await;
        let mut subscriber = match subscribed {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(%area, error = %e, "cannot subscribe to the area's subjects");
                return refuse::<Allocated>(&shared, reply, ErrorKind::Upstream, e.to_string());
            }
        };
        answer(&shared, reply, &Ok(allocated));
        while let Some(message) = subscriber.next().await {
            match shared.subjects.parse_area(&message.subject) {
                Some(parsed) => {
                    let _ = myself.cast(ZoneMsg::AreaRequest {
                        area: parsed.area,
                        verb: parsed.verb,
                        sender: parsed.sender,
                        payload: message.payload,
                        reply: message.reply,
                    });
                }
                None => refuse::<()>(
                    &shared,
                    message.reply,
                    ErrorKind::Malformed,
                    format!("no such request: {}", message.subject),
                ),
            }
        }
    })
}

/// Registers with the manager. Nobody answering is not an error: heartbeats carry the same
/// facts, and a manager that comes up later rebuilds its map from them.
pub(super) fn register(shared: &Arc<Shared>, message: Register) {
    let shared = shared.clone();
    let zone = message.zone;
    tokio::spawn(async move {
        let subject = shared.subjects.manager(ManagerVerb::Register);
        match ask::<RegisterAck>(&shared, subject, &message, REGISTER_TIMEOUT).await {
            Ok(_) => tracing::info!(%zone, "registered with the manager"),
            Err(AskError::NoResponders | AskError::TimedOut) => {
                tracing::info!(%zone, "no manager answered the registration; heartbeats go on")
            }
            Err(why) => tracing::warn!(%zone, %why, "registration refused"),
        }
    });
}

/// Publishes a heartbeat and, while an area is held, where its players are.
pub(super) fn publish_heartbeat(
    shared: &Arc<Shared>,
    beat: Heartbeat,
    sample: Option<PositionSample>,
) {
    let shared = shared.clone();
    tokio::spawn(async move {
        let _ = shared
            .nats
            .publish(
                shared.subjects.manager(ManagerVerb::Heartbeat),
                cluster::encode(&beat).into(),
            )
            .await;
        if let Some(sample) = sample {
            let _ = shared
                .nats
                .publish(
                    shared.subjects.manager(ManagerVerb::Positions),
                    cluster::encode(&sample).into(),
                )
                .await;
        }
    });
}

/// Sends a handoff prepare to the owner of `prepare.to_area`; the actor learns the
/// outcome as [`ZoneMsg::HandoffAnswered`].
pub(super) fn prepare(
    shared: &Arc<Shared>,
    myself: &ActorRef<ZoneMsg>,
    player: EntityId,
    prepare: HandoffPrepare,
) {
    let (shared, myself) = (shared.clone(), myself.clone());
    tokio::spawn(async move {
        let (handoff, target) = (prepare.handoff, prepare.to_area);
        let character = prepare.player.character.id;
        let subject = shared.subjects.area(target, AreaVerb::Prepare);
        let mut outcome = ask::<HandoffAnswer>(&shared, subject, &prepare, HANDOFF_TIMEOUT).await;
        if let Ok(HandoffAnswer::Accepted {
            zone,
            epoch,
            ws_url,
            ..
        }) = &outcome
            && let Err(distrust) =
                super::trust::check_accepted(&shared, target, *zone, *epoch, ws_url).await
        {
            metrics::counter!("zone_handoffs_forbidden_total", "reason" => "accepted_by_non_owner")
                .increment(1);
            tracing::warn!(%target, %zone, "ignoring an acceptance: {distrust}");
            outcome = Err(AskError::Refused(ErrorReply::new(
                ErrorKind::Forbidden,
                distrust.to_string(),
            )));
        }
        let _ = myself.cast(ZoneMsg::HandoffAnswered {
            player,
            character,
            handoff,
            target,
            outcome,
        });
    });
}

/// Tells the receiver the carried state is its own (a few times, until acknowledged),
/// then publishes the handoff for watchers (the dashboard).
pub(super) fn commit(shared: &Arc<Shared>, commit: HandoffCommit, event: Option<HandoffEvent>) {
    let shared = shared.clone();
    tokio::spawn(async move {
        let subject = shared.subjects.area(commit.to_area, AreaVerb::Commit);
        for _ in 0..COMMIT_ATTEMPTS {
            let acked = ask::<HandoffAck>(&shared, subject.clone(), &commit, HANDOFF_TIMEOUT).await;
            if acked.is_ok() {
                break;
            }
        }
        if let Some(event) = event {
            let _ = shared
                .nats
                .publish(
                    shared.subjects.manager(ManagerVerb::Handoffs),
                    cluster::encode(&event).into(),
                )
                .await;
        }
    });
}

/// Tells the receiver to forget a pending arrival that no client will claim.
pub(super) fn abort(shared: &Arc<Shared>, abort: HandoffAbort) {
    let shared = shared.clone();
    tokio::spawn(async move {
        let subject = shared.subjects.area(abort.to_area, AreaVerb::Abort);
        let _ = shared
            .nats
            .publish(subject, Bytes::from(cluster::encode(&abort)))
            .await;
    });
}

/// Asks the manager to give `area` an owner (a player waits at its border).
pub(super) fn request_owner(shared: &Arc<Shared>, area: AreaId, requested_by: ZoneId) {
    let shared = shared.clone();
    let request = AreaRequest { area, requested_by };
    tokio::spawn(async move {
        let subject = shared.subjects.manager(ManagerVerb::AreaRequest);
        match ask::<AreaOwner>(&shared, subject, &request, AREA_REQUEST_TIMEOUT).await {
            Ok(owner) => {
                tracing::info!(%area, zone = %owner.zone, "the neighbouring area has an owner")
            }
            Err(why) => tracing::warn!(%area, %why, "no owner for the neighbouring area"),
        }
    });
}

/// Sends the whole area to the zone taking it over; the actor learns the outcome as
/// [`ZoneMsg::EvacuationAnswered`].
pub(super) fn send_area_state(
    shared: &Arc<Shared>,
    myself: &ActorRef<ZoneMsg>,
    target: &Identity,
    transfer: AreaStateTransfer,
) {
    let (shared, myself) = (shared.clone(), myself.clone());
    let subject = shared
        .subjects
        .zone(target, transfer.zone, ZoneVerb::AreaState);
    tokio::spawn(async move {
        let result =
            ask::<AreaStateAccepted>(&shared, subject, &transfer, AREA_STATE_TIMEOUT).await;
        let _ = myself.cast(ZoneMsg::EvacuationAnswered(result));
    });
}

/// Keeps `shared.owners` in step with the owner map the manager publishes, until aborted.
pub async fn follow_owner_map(shared: Arc<Shared>) -> anyhow::Result<JoinHandle<()>> {
    let mut maps = shared.nats.subscribe(shared.subjects.owners_all()).await?;
    Ok(tokio::spawn(async move {
        while let Some(message) = maps.next().await {
            match cluster::decode::<OwnerMap>(&message.payload) {
                Ok(map) => shared.owners.replace(map),
                Err(e) => {
                    metrics::counter!("zone_nats_errors_total", "kind" => "malformed").increment(1);
                    tracing::debug!(error = %e, "an undecodable owner map");
                }
            }
        }
    }))
}

/// How long the owner of an entity may take to answer a border act, per attempt.
const BORDER_ACT_TIMEOUT: Duration = Duration::from_millis(500);
/// How often a border act is sent (with the same idempotency key) before the actor is told
/// it went unanswered.
const BORDER_ACT_ATTEMPTS: usize = 3;
/// Frames queued for the publisher before new ones are dropped (the receivers recover from
/// the gap at the next snapshot).
const PUBLISH_QUEUE: usize = 256;

/// A publisher that keeps order: ghost frames must reach a neighbour in the order they
/// were made (each `Delta` applies to the one before), which tasks spawned per frame would
/// not guarantee.
pub(super) fn ordered_publisher(
    shared: &Arc<Shared>,
) -> tokio::sync::mpsc::Sender<(String, Bytes)> {
    let (sender, mut queue) = tokio::sync::mpsc::channel::<(String, Bytes)>(PUBLISH_QUEUE);
    let nats = shared.nats.clone();
    tokio::spawn(async move {
        while let Some((subject, payload)) = queue.recv().await {
            if let Err(e) = nats.publish(subject, payload).await {
                tracing::debug!(error = %e, "cannot publish a border message");
            }
        }
    });
    sender
}

/// Asks the owner of the entity acted on to apply a border act, retrying with the same key
/// until it answers; the actor learns the outcome as [`ZoneMsg::BorderActAnswered`].
pub(super) fn border_act(
    shared: &Arc<Shared>,
    myself: &ActorRef<ZoneMsg>,
    owner: (Identity, ZoneId),
    act: BorderAct,
) {
    let (shared, myself) = (shared.clone(), myself.clone());
    let subject = shared.subjects.zone(&owner.0, owner.1, ZoneVerb::BorderAct);
    metrics::counter!("zone_border_acts_sent_total").increment(1);
    tokio::spawn(async move {
        let mut last = AskError::TimedOut;
        for attempt in 0..BORDER_ACT_ATTEMPTS {
            if attempt > 0 {
                metrics::counter!("zone_border_act_retries_total").increment(1);
            }
            match ask::<BorderOutcome>(&shared, subject.clone(), &act, BORDER_ACT_TIMEOUT).await {
                Ok(outcome) => {
                    metrics::counter!("zone_border_acts_answered_total").increment(1);
                    let _ = myself.cast(ZoneMsg::BorderActAnswered {
                        act,
                        answer: Ok(outcome),
                    });
                    return;
                }
                // Only "no answer" is worth a retry: a refusal or nobody listening stays so.
                Err(AskError::TimedOut) => last = AskError::TimedOut,
                Err(e) => {
                    last = e;
                    break;
                }
            }
        }
        metrics::counter!("zone_border_acts_unanswered_total").increment(1);
        let _ = myself.cast(ZoneMsg::BorderActAnswered {
            act,
            answer: Err(last),
        });
    });
}
