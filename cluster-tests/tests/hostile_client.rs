//! A hostile client at cluster level: it gets real tickets through the real manager, then
//! misbehaves against the real zone-server process (garbage frames, replayed, unknown and
//! expired tickets, a speed hack, floods, an oversized message, silence) while well-behaved
//! players play in the same zone. Each abuse gets its `Error` packet and/or the connection
//! closed (docs/PROTOCOL.md, sections 4 and 10), is counted in the zone's `/metrics`, and
//! nobody else notices.

mod support;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use protocol::client::ServerPacket;
use protocol::client::entity::dequantize_position;
use protocol::client::packets::{self as pk, ErrorCode};
use protocol::{Position, Ticket};
use support::*;
use tokio::sync::watch;

/// The fastest a player may move (running), metres per second (zone-server's sim).
const RUN_SPEED: f32 = 7.0;

fn get(c: &std::sync::atomic::AtomicU64) -> u64 {
    c.load(Ordering::SeqCst)
}

/// The honest players keep getting inputs acknowledged (20 more each), untroubled.
async fn honest_play_on(honest: &[PlayerHandle], after: &str) {
    let before: Vec<u64> = honest.iter().map(|p| get(&p.stats.inputs_acked)).collect();
    wait_for(
        &format!("honest players acknowledged after {after}"),
        Duration::from_secs(30),
        async || {
            honest
                .iter()
                .zip(&before)
                .all(|(p, b)| get(&p.stats.inputs_acked) >= b + 20)
        },
    )
    .await;
    for p in honest {
        assert_eq!(
            get(&p.stats.welcomes),
            1,
            "{} had to reconnect ({after})",
            p.name
        );
        assert_eq!(
            get(&p.stats.lost),
            0,
            "{} lost its connection ({after})",
            p.name
        );
        assert!(
            p.stats.error_packets().is_empty(),
            "{} got errors ({after}): {:?}",
            p.name,
            p.stats.error_packets()
        );
    }
}

/// Joins `name` through the manager, connects and spends the ticket; returns the client,
/// the ticket and the player's entity.
async fn admitted(
    config: &cluster_tests::bot::BotConfig,
    name: &str,
) -> (RawClient, Ticket, protocol::EntityId) {
    let (character, token) = create_character(config, name).await;
    let join = join_until(config, &token, character.id, Duration::from_secs(30)).await;
    let mut client = RawClient::connect(&join.zone_url).await;
    assert!(client.hello(join.ticket).await);
    let me = client
        .until(Duration::from_secs(10), |p| match p {
            ServerPacket::Welcome(w) => Some(w.player),
            _ => None,
        })
        .await
        .unwrap_or_else(|| panic!("{name} was not welcomed"));
    (client, join.ticket, me)
}

/// A `Ping` is answered: the connection is alive and served.
async fn still_served(client: &mut RawClient, nonce: u32) -> bool {
    client.send(pk::Ping { nonce }.into()).await
        && client
            .until(Duration::from_secs(10), |p| {
                matches!(p, ServerPacket::Pong(pong) if pong.nonce == nonce).then_some(())
            })
            .await
            .is_some()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_client_is_refused_and_disconnected_while_honest_players_play_on() {
    let cluster = start_cluster(1, 2).await;
    let config = bot_config(&cluster);
    let zone_addr = cluster.zones[0].addr();
    let (stop, stopped) = watch::channel(false);
    let (honest, tasks) = spawn_players(&config, "Honest", 3, false, &stopped).await;
    wait_for(
        "the honest players admitted and acknowledged",
        Duration::from_secs(60),
        async || {
            honest
                .iter()
                .all(|p| get(&p.stats.welcomes) == 1 && get(&p.stats.inputs_acked) >= 20)
        },
    )
    .await;

    // A ticket that will be left to expire (the manager issues them for 30 s).
    let (sleeper, sleeper_token) = create_character(&config, "Sleeper").await;
    let unused = join_until(&config, &sleeper_token, sleeper.id, Duration::from_secs(30)).await;
    let zone_url = unused.zone_url.clone();

    // 1. Before Hello: silence, another packet first, a wrong version, an unknown ticket.
    let started = Instant::now();
    let mut silent = RawClient::connect(&zone_url).await;
    let (codes, closed) = silent.errors_until_closed(Duration::from_secs(20)).await;
    assert_eq!(
        (codes.as_slice(), closed),
        (&[ErrorCode::HELLO_TIMEOUT][..], true)
    );
    eprintln!(
        "hostile: a silent connection was closed with HELLO_TIMEOUT after {:?}",
        started.elapsed()
    );
    let mut early = RawClient::connect(&zone_url).await;
    assert!(early.send(pk::Ping { nonce: 1 }.into()).await);
    assert_eq!(
        early.errors_until_closed(Duration::from_secs(10)).await,
        (vec![ErrorCode::UNEXPECTED_PACKET], true)
    );
    let mut versioned = RawClient::connect(&zone_url).await;
    assert!(
        versioned
            .send(
                pk::Hello {
                    ticket: Ticket::new_random(),
                    protocol_version: 99,
                }
                .into()
            )
            .await
    );
    assert_eq!(
        versioned.errors_until_closed(Duration::from_secs(10)).await,
        (vec![ErrorCode::VERSION_MISMATCH], true)
    );
    let mut stranger = RawClient::connect(&zone_url).await;
    assert!(stranger.hello(Ticket::new_random()).await);
    assert_eq!(
        stranger.errors_until_closed(Duration::from_secs(10)).await,
        (vec![ErrorCode::BAD_TICKET], true)
    );
    honest_play_on(&honest, "refused handshakes").await;

    // 2. Garbage from an admitted player: each frame gets its error, the connection stays.
    let (mut garbler, spent, _) = admitted(&config, "Garbler").await;
    let cases: Vec<(&str, Vec<u8>, ErrorCode)> = vec![
        ("truncated payload", vec![0x02, 0xc1], ErrorCode::MALFORMED),
        (
            "unknown packet id",
            vec![0x7e, 0x90],
            ErrorCode::UNKNOWN_PACKET,
        ),
        (
            "5000-byte frame",
            vec![0x0b; 5000],
            ErrorCode::FRAME_TOO_LARGE,
        ),
        ("empty frame", vec![], ErrorCode::MALFORMED),
        (
            "trailing bytes",
            vec![0x0b, 0x91, 0x07, 0x00],
            ErrorCode::MALFORMED,
        ),
        (
            "random bytes",
            vec![0x02, 0xde, 0xad, 0xbe, 0xef],
            ErrorCode::MALFORMED,
        ),
    ];
    for (what, frame, code) in cases {
        assert!(garbler.send_raw(frame).await, "{what} sent");
        assert_eq!(
            garbler.next_error(Duration::from_secs(10)).await,
            Some(code),
            "{what}"
        );
    }
    assert!(garbler.send_text("hello?").await);
    assert_eq!(
        garbler.next_error(Duration::from_secs(10)).await,
        Some(ErrorCode::UNEXPECTED_PACKET),
        "a text message"
    );
    assert!(garbler.hello(spent).await);
    assert_eq!(
        garbler.next_error(Duration::from_secs(10)).await,
        Some(ErrorCode::UNEXPECTED_PACKET),
        "a second Hello"
    );
    assert!(
        still_served(&mut garbler, 7).await,
        "a few bad frames do not close the connection"
    );

    // 3. The spent ticket replayed on a new connection.
    let mut replay = RawClient::connect(&zone_url).await;
    assert!(replay.hello(spent).await);
    assert_eq!(
        replay.errors_until_closed(Duration::from_secs(10)).await,
        (vec![ErrorCode::BAD_TICKET], true),
        "a replayed ticket"
    );
    assert!(
        still_served(&mut garbler, 8).await,
        "the ticket's owner is not disturbed"
    );
    honest_play_on(&honest, "garbage and a replayed ticket").await;

    // 4. Persistent garbage: kicked.
    for _ in 0..200 {
        if !garbler.send_raw(vec![0x02, 0xc1]).await {
            break;
        }
    }
    let (codes, closed) = garbler.errors_until_closed(Duration::from_secs(20)).await;
    assert!(closed, "persistent garbage closes the connection");
    assert_eq!(codes.last(), Some(&ErrorCode::KICKED), "{codes:?}");
    honest_play_on(&honest, "a garbage flood").await;

    // 5. A speed hack: inputs far faster than allowed (running, one direction). The excess
    // is dropped with RATE_LIMITED, movement never beats the run speed, and the persistent
    // excess gets the connection closed.
    let (speeder, _, me) = admitted(&config, "Speeder").await;
    let mut ws = speeder.into_inner();
    let mut codes = Vec::new();
    let mut first: Option<(Position, Instant)> = None;
    let mut last: Option<(Position, Instant)> = None;
    let mut own = None;
    let mut seq = 0u32;
    let hack_started = Instant::now();
    let mut next_send = tokio::time::Instant::now();
    let closed = loop {
        if hack_started.elapsed() > Duration::from_secs(30) {
            break false;
        }
        tokio::select! {
            _ = tokio::time::sleep_until(next_send) => {
                // 45 a second for two seconds (the limit is 30), then 200 a second.
                let period = if hack_started.elapsed() < Duration::from_secs(2) { 22 } else { 5 };
                next_send += Duration::from_millis(period);
                seq += 1;
                let input = pk::Input { seq, move_x: 127, move_z: 0, running: true, yaw: 64 };
                let _ = send_on(&mut ws, input.into()).await;
            }
            frame = futures_util::StreamExt::next(&mut ws) => {
                let Some(Ok(tokio_tungstenite::tungstenite::Message::Binary(frame))) = frame else {
                    match frame {
                        Some(Ok(tokio_tungstenite::tungstenite::Message::Close(_))) | Some(Err(_)) | None => break true,
                        _ => continue,
                    }
                };
                let Ok(packet) = ServerPacket::decode(&frame) else { continue };
                match packet {
                    ServerPacket::Error(e) => codes.push(e.code),
                    ServerPacket::Snapshot(s) => {
                        own = s.entities.into_iter().find(|e| e.id == me);
                    }
                    ServerPacket::Delta(d) => {
                        if let Some(e) = d.added.into_iter().find(|e| e.id == me) {
                            own = Some(e);
                        }
                        if let (Some(e), Some(u)) = (own.as_mut(), d.updated.iter().find(|u| u.id == me)) {
                            u.apply(e);
                        }
                    }
                    _ => {}
                }
                if let Some(e) = &own {
                    let at = (dequantize_position(e.pos), Instant::now());
                    first.get_or_insert(at);
                    last = Some(at);
                }
            }
        }
    };
    assert!(closed, "a sustained input flood closes the connection");
    assert!(codes.contains(&ErrorCode::RATE_LIMITED), "{codes:?}");
    assert_eq!(codes.last(), Some(&ErrorCode::KICKED), "{codes:?}");
    let ((from, t0), (to, t1)) = (first.expect("seen"), last.expect("seen"));
    let moved = from.planar_distance(&to);
    let secs = (t1 - t0).as_secs_f32();
    eprintln!(
        "hostile: speed hack sent {seq} inputs in {:?} (limit 30/s): moved {moved:.1} m in {secs:.2} s \
         = {:.1} m/s (run speed {RUN_SPEED} m/s), then kicked",
        hack_started.elapsed(),
        moved / secs.max(0.05)
    );
    assert!(
        moved <= RUN_SPEED * (secs + 0.25) + 1.0,
        "moved {moved} m in {secs} s: faster than running"
    );
    honest_play_on(&honest, "a speed hack").await;

    // 6. A flood of (valid) packets: rate limited, then kicked.
    let (mut flooder, _, _) = admitted(&config, "Flooder").await;
    for nonce in 0..500 {
        if !flooder.send(pk::Ping { nonce }.into()).await {
            break;
        }
    }
    let (codes, closed) = flooder.errors_until_closed(Duration::from_secs(20)).await;
    assert!(closed, "a packet flood closes the connection");
    assert!(codes.contains(&ErrorCode::RATE_LIMITED), "{codes:?}");
    assert_eq!(codes.last(), Some(&ErrorCode::KICKED), "{codes:?}");
    honest_play_on(&honest, "a ping flood").await;

    // 7. A message over the WebSocket limit (64 KiB): the connection is closed.
    let (mut giant, _, _) = admitted(&config, "Giant").await;
    let _ = giant.send_raw(vec![0x0b; 100 * 1024]).await;
    let (_, closed) = giant.errors_until_closed(Duration::from_secs(20)).await;
    assert!(closed, "an oversized message closes the connection");

    // 8. The ticket left unused past its expiry.
    let wait = unused
        .expires_at
        .saturating_sub(service_kit::time::now_millis())
        + 1_500;
    eprintln!("hostile: waiting {wait} ms for a ticket to expire");
    tokio::time::sleep(Duration::from_millis(wait)).await;
    let mut late = RawClient::connect(&zone_url).await;
    assert!(late.hello(unused.ticket).await);
    let (codes, closed) = late.errors_until_closed(Duration::from_secs(10)).await;
    assert!(closed, "an expired ticket closes the connection");
    assert!(
        codes == [ErrorCode::TICKET_EXPIRED] || codes == [ErrorCode::BAD_TICKET],
        "an expired ticket: {codes:?}"
    );
    honest_play_on(&honest, "an expired ticket").await;

    // Every abuse was counted by the zone-server.
    let metrics = zone_metrics(zone_addr).await;
    let rejected = |reason: &str| {
        metric(
            &metrics,
            "zone_rejected_packets_total",
            &[("reason", reason)],
        )
    };
    for (reason, at_least) in [
        ("before_hello", 1.0),
        ("version", 1.0),
        ("bad_ticket", 3.0),
        ("malformed", 3.0),
        ("unknown_packet", 1.0),
        ("too_large", 1.0),
        ("empty", 1.0),
        ("trailing_bytes", 1.0),
        ("text", 1.0),
        ("second_hello", 1.0),
        ("rate_limited", 2.0),
    ] {
        assert!(
            rejected(reason) >= at_least,
            "zone_rejected_packets_total{{reason={reason}}} = {} < {at_least}",
            rejected(reason)
        );
    }
    let kicked = metric(
        &metrics,
        "zone_clients_dropped_total",
        &[("reason", "abuse")],
    );
    assert!(kicked >= 3.0, "{kicked} connections dropped for abuse");
    eprintln!(
        "hostile: the zone counted {} rejected packets and {kicked} abusive connections closed",
        metric(&metrics, "zone_rejected_packets_total", &[])
    );

    // The honest players never noticed.
    for p in &honest {
        assert_eq!(get(&p.stats.welcomes), 1);
        assert!(
            p.stats.error_packets().is_empty(),
            "{}: {:?}",
            p.name,
            p.stats.error_packets()
        );
        assert!(p.stats.connected.load(Ordering::SeqCst));
    }
    stop_players(stop, tasks).await;
    stop_cluster(cluster).await;
}

/// Invariant 4 for the largest messages: one over the WebSocket limit (64 KiB) should get
/// `Error{FRAME_TOO_LARGE}` like any oversized frame, and be counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_over_the_websocket_limit_gets_frame_too_large_and_is_counted() {
    let cluster = start_cluster(1, 1).await;
    let config = bot_config(&cluster);
    let zone_addr = cluster.zones[0].addr();
    let before = zone_metrics(zone_addr).await;
    let (mut giant, _, _) = admitted(&config, "Giant").await;
    let _ = giant.send_raw(vec![0x0b; 100 * 1024]).await;
    let (codes, closed) = giant.errors_until_closed(Duration::from_secs(20)).await;
    assert!(closed, "an oversized message closes the connection");
    let after = zone_metrics(zone_addr).await;
    let counted = metric(&after, "zone_rejected_packets_total", &[])
        - metric(&before, "zone_rejected_packets_total", &[]);
    eprintln!("oversized: errors {codes:?}, {counted} rejections counted");
    assert_eq!(codes, vec![ErrorCode::FRAME_TOO_LARGE], "a clear error");
    assert!(counted >= 1.0, "counted in the zone's metrics");
    stop_cluster(cluster).await;
}
