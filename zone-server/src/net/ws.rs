//! One WebSocket connection: `Hello` within a deadline, then a reader that decodes,
//! rate-limits and forwards packets to the zone, and a writer that drains the zone's
//! bounded queue for this client. Bad input is answered with an `Error` packet and counted;
//! persistent abuse closes this connection only.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::{HttpRequest, HttpResponse, web};
use actix_ws::{
    AggregatedMessage, AggregatedMessageStream, CloseCode, CloseReason, ProtocolError, Session,
};
use protocol::EntityId;
use protocol::client::packets::ErrorCode;
use protocol::client::{ClientPacket, PROTOCOL_VERSION, ServerPacket};
use ractor::ActorRef;
use ractor::rpc::CallResult;
use tokio::sync::mpsc;

use super::ratelimit::{AbuseMeter, RateLimiter};
use crate::shared::Shared;
use crate::zone::{ConnectRefused, OUTBOUND_QUEUE, Outbound, ZoneMsg};

/// How long a new connection has to send `Hello`.
pub const HELLO_DEADLINE: Duration = Duration::from_secs(5);
/// How long a connection may stay silent.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(300);
/// WebSocket-level ping period.
const PING_EVERY: Duration = Duration::from_secs(20);
/// Largest WebSocket message accepted at all; bigger ones close the connection. Frames
/// between this and the protocol's limit get `FRAME_TOO_LARGE` and the connection lives.
const MAX_WS_MESSAGE: usize = 64 * 1024;

/// `GET /ws`: upgrades and hands the connection to its own task.
pub async fn route(
    req: HttpRequest,
    body: web::Payload,
    shared: web::Data<Shared>,
) -> actix_web::Result<HttpResponse> {
    let (response, session, stream) = actix_ws::handle(&req, body)?;
    let stream = stream
        .max_frame_size(MAX_WS_MESSAGE)
        .aggregate_continuations()
        .max_continuation_size(MAX_WS_MESSAGE);
    let shared = shared.into_inner();
    actix_web::rt::spawn(async move {
        metrics::gauge!("zone_connections").increment(1.0);
        connection(shared, session, stream).await;
        metrics::gauge!("zone_connections").decrement(1.0);
    });
    Ok(response)
}

fn reject(reason: &'static str) {
    metrics::counter!("zone_rejected_packets_total", "reason" => reason).increment(1);
}

async fn send_error(session: &mut Session, code: ErrorCode, message: &str) -> bool {
    match ServerPacket::error(code, message).encode() {
        Ok(frame) => session.binary(frame).await.is_ok(),
        Err(_) => false,
    }
}

async fn close_with(mut session: Session, code: ErrorCode, message: &str) {
    let _ = send_error(&mut session, code, message).await;
    let _ = session
        .close(Some(CloseReason {
            code: CloseCode::Policy,
            description: Some(message.to_owned()),
        }))
        .await;
}

/// Why a connection was not admitted: what its client is told before the close.
#[derive(Debug)]
struct Rejection {
    code: ErrorCode,
    message: String,
}

impl Rejection {
    fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

impl From<ConnectRefused> for Rejection {
    fn from(refused: ConnectRefused) -> Self {
        Self::new(refused.code(), refused.to_string())
    }
}

/// Waits for `Hello` and admits the player, or says why not.
async fn hello(
    shared: &Shared,
    session: &mut Session,
    stream: &mut AggregatedMessageStream,
    tx: mpsc::Sender<Outbound>,
) -> Result<(EntityId, ActorRef<ZoneMsg>), Rejection> {
    let deadline = tokio::time::Instant::now() + HELLO_DEADLINE;
    loop {
        let message = match tokio::time::timeout_at(deadline, stream.recv()).await {
            Err(_) => {
                return Err(Rejection::new(
                    ErrorCode::HELLO_TIMEOUT,
                    "no Hello within 5 s",
                ));
            }
            Ok(None | Some(Err(_))) => {
                return Err(Rejection::new(ErrorCode::MALFORMED, "connection closed"));
            }
            Ok(Some(Ok(m))) => m,
        };
        let frame = match message {
            AggregatedMessage::Binary(frame) => frame,
            AggregatedMessage::Ping(bytes) => {
                let _ = session.pong(&bytes).await;
                continue;
            }
            AggregatedMessage::Pong(_) => continue,
            AggregatedMessage::Text(_) => {
                reject("text");
                return Err(Rejection::new(
                    ErrorCode::UNEXPECTED_PACKET,
                    "binary frames only; the first must be Hello",
                ));
            }
            AggregatedMessage::Close(_) => {
                return Err(Rejection::new(ErrorCode::MALFORMED, "closed before Hello"));
            }
        };
        let hello = match ClientPacket::decode(&frame) {
            Ok(ClientPacket::Hello(h)) => h,
            Ok(other) => {
                reject("before_hello");
                return Err(Rejection::new(
                    ErrorCode::UNEXPECTED_PACKET,
                    format!("expected Hello first, got {}", other.name()),
                ));
            }
            Err(e) => {
                reject(e.reason());
                return Err(Rejection::new(e.code(), e.to_string()));
            }
        };
        if hello.protocol_version != PROTOCOL_VERSION {
            reject("version");
            return Err(Rejection::new(
                ErrorCode::VERSION_MISMATCH,
                format!(
                    "this zone speaks protocol {PROTOCOL_VERSION}, not {}",
                    hello.protocol_version
                ),
            ));
        }
        let zone = shared
            .ticket_zone(&hello.ticket)
            .and_then(|z| shared.zone(z));
        let Some(zone) = zone else {
            reject("bad_ticket");
            return Err(Rejection::new(
                ErrorCode::BAD_TICKET,
                "unknown or already spent ticket",
            ));
        };
        let answer = zone
            .call(
                |reply| ZoneMsg::Connect {
                    ticket: hello.ticket,
                    link: tx,
                    reply,
                },
                Some(Duration::from_secs(5)),
            )
            .await;
        return match answer {
            Ok(CallResult::Success(Ok(player))) => Ok((player, zone)),
            Ok(CallResult::Success(Err(refusal))) => {
                reject("bad_ticket");
                Err(refusal.into())
            }
            _ => Err(Rejection::new(
                ErrorCode::ZONE_UNAVAILABLE,
                "the zone did not answer",
            )),
        };
    }
}

async fn connection(
    shared: Arc<Shared>,
    mut session: Session,
    mut stream: AggregatedMessageStream,
) {
    let (tx, mut rx) = mpsc::channel::<Outbound>(OUTBOUND_QUEUE);
    let (player, zone) = match hello(&shared, &mut session, &mut stream, tx).await {
        Ok(admitted) => admitted,
        Err(rejection) => {
            return close_with(session, rejection.code, &rejection.message).await;
        }
    };

    // The writer: the zone's frames for this client, in order. It ends when the zone drops
    // the client (queue closed, or a last `Close`), and closes the socket.
    let mut writer_session = session.clone();
    let writer = actix_web::rt::spawn(async move {
        while let Some(out) = rx.recv().await {
            match out {
                Outbound::Frame(frame) => {
                    if writer_session.binary(frame).await.is_err() {
                        return;
                    }
                }
                Outbound::Close(code, message) => {
                    return close_with(writer_session, code, &message).await;
                }
            }
        }
        let _ = writer_session.close(None).await;
    });

    let mut limiter = RateLimiter::default();
    let mut abuse = AbuseMeter::default();
    let mut last_rate_error: Option<Instant> = None;
    let mut ping = tokio::time::interval(PING_EVERY);
    let mut last_heard = Instant::now();
    loop {
        let message = tokio::select! {
            m = stream.recv() => m,
            _ = ping.tick() => {
                if last_heard.elapsed() > IDLE_TIMEOUT {
                    metrics::counter!("zone_clients_dropped_total", "reason" => "idle").increment(1);
                    close_with(session.clone(), ErrorCode::IDLE_TIMEOUT, "nothing received for 5 minutes").await;
                    break;
                }
                if session.ping(b"").await.is_err() {
                    break;
                }
                continue;
            }
        };
        let message = match message {
            Some(Ok(message)) => message,
            None => break,
            Some(Err(e)) => {
                // A message past the WebSocket limit (or broken framing) ends the connection,
                // but never silently: the client is told why and it is counted.
                let overflow = match &e {
                    ProtocolError::Overflow => true,
                    ProtocolError::Io(io) => io.to_string().contains("maximum"),
                    _ => false,
                };
                let (reason, code, why) = match e {
                    _ if overflow => (
                        "ws_overflow",
                        ErrorCode::FRAME_TOO_LARGE,
                        "message larger than 64 KiB",
                    ),
                    // The peer went away without a closing handshake (as a client does
                    // once it has its Transfer): a disconnect, not bad input.
                    ProtocolError::Io(_) => break,
                    _ => (
                        "ws_protocol",
                        ErrorCode::MALFORMED,
                        "broken WebSocket framing",
                    ),
                };
                reject(reason);
                metrics::counter!("zone_clients_dropped_total", "reason" => reason).increment(1);
                close_with(session.clone(), code, why).await;
                break;
            }
        };
        last_heard = Instant::now();
        let now = Instant::now();
        let strike = match message {
            AggregatedMessage::Binary(frame) => match ClientPacket::decode(&frame) {
                Ok(ClientPacket::Hello(_)) => {
                    reject("second_hello");
                    let _ = send_error(
                        &mut session,
                        ErrorCode::UNEXPECTED_PACKET,
                        "already admitted",
                    )
                    .await;
                    true
                }
                Ok(packet) => {
                    if limiter.allow(&packet, now) {
                        let _ = zone.cast(ZoneMsg::Packet { player, packet });
                        false
                    } else {
                        reject("rate_limited");
                        if last_rate_error
                            .is_none_or(|t| now.duration_since(t) >= Duration::from_secs(1))
                        {
                            last_rate_error = Some(now);
                            let _ = send_error(
                                &mut session,
                                ErrorCode::RATE_LIMITED,
                                &format!("too many {} packets; excess dropped", packet.name()),
                            )
                            .await;
                        }
                        true
                    }
                }
                Err(e) => {
                    reject(e.reason());
                    let _ = send_error(&mut session, e.code(), &e.to_string()).await;
                    true
                }
            },
            AggregatedMessage::Text(_) => {
                reject("text");
                let _ = send_error(
                    &mut session,
                    ErrorCode::UNEXPECTED_PACKET,
                    "binary frames only",
                )
                .await;
                true
            }
            AggregatedMessage::Ping(bytes) => {
                let _ = session.pong(&bytes).await;
                false
            }
            AggregatedMessage::Pong(_) => false,
            AggregatedMessage::Close(_) => break,
        };
        if strike && abuse.strike(now) {
            metrics::counter!("zone_clients_dropped_total", "reason" => "abuse").increment(1);
            close_with(
                session.clone(),
                ErrorCode::KICKED,
                "too many bad or excess packets",
            )
            .await;
            break;
        }
    }
    let _ = zone.cast(ZoneMsg::Disconnected { player });
    writer.abort();
}
