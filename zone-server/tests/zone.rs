//! The zone-server against real NATS messages built with `protocol`, the real APIs and
//! real WebSocket clients.

mod support;

use std::time::Duration;

use protocol::client::packets::*;
use protocol::client::{ClientPacket, PROTOCOL_VERSION, ServerPacket};
use protocol::cluster::*;
use protocol::content::{ItemKind, NpcKind};
use protocol::{AreaId, Epoch, QuestId, Ticket};
use support::*;
use test_support::wait_for;
use zone_server::zone::ZoneMsg;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allocation_goes_idle_allocated_idle_and_heartbeats_say_so() {
    let t = TestZone::start().await;
    let zone = t.zone(0);
    let mut beats = t
        .nats
        .subscribe(t.subjects.manager_all(ManagerVerb::Heartbeat))
        .await
        .expect("subscribe");
    let allocated = t
        .allocate(zone, AreaId::new(1, 2), 7)
        .await
        .expect("allocated");
    assert_eq!(
        (allocated.zone, allocated.area, allocated.epoch),
        (zone, AreaId::new(1, 2), Epoch(7))
    );
    assert_eq!(allocated.ws_url, t.ws_url);
    // A retried allocation gets the same answer; another area is refused.
    assert!(t.allocate(zone, AreaId::new(1, 2), 7).await.is_ok());
    let err = t
        .allocate(zone, AreaId::new(0, 0), 8)
        .await
        .expect_err("already allocated");
    assert_eq!(err.kind, ErrorKind::WrongState);
    let beat = loop {
        let m = tokio::time::timeout(
            Duration::from_secs(5),
            futures_util::StreamExt::next(&mut beats),
        )
        .await
        .expect("a heartbeat")
        .expect("open");
        let beat: Heartbeat = decode(&m.payload).expect("a heartbeat");
        if beat.zone == zone {
            break beat;
        }
    };
    assert_eq!(
        (beat.state, beat.area, beat.epoch),
        (
            ZoneState::Allocated,
            Some(AreaId::new(1, 2)),
            Some(Epoch(7))
        )
    );

    let released: Released = t
        .request::<_, Released>(
            zone,
            ZoneVerb::Release,
            &Release {
                zone,
                area: AreaId::new(1, 2),
                epoch: Epoch(7),
            },
        )
        .await
        .expect("released");
    assert_eq!(released.zone, zone);
    let report = t.inspect(zone).await;
    assert_eq!((report.state, report.area), (ZoneState::Idle, None));
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_epoch_or_garbage_request_gets_an_error_and_changes_nothing() {
    let t = TestZone::start().await;
    let zone = t.zone(0);
    t.allocate(zone, AreaId::new(0, 0), 3)
        .await
        .expect("allocated");
    let c = t.create_character("Epochal").await;
    let err = t
        .expect(zone, AreaId::new(0, 0), 2, &c, Ticket::new_random(), 30_000)
        .await
        .expect_err("stale epoch");
    assert_eq!(err.kind, ErrorKind::WrongEpoch);
    let err = t
        .request::<_, Released>(
            zone,
            ZoneVerb::Release,
            &Release {
                zone,
                area: AreaId::new(0, 0),
                epoch: Epoch(4),
            },
        )
        .await
        .expect_err("future epoch");
    assert_eq!(err.kind, ErrorKind::WrongEpoch);
    let reply = t
        .nats
        .request(
            t.subjects.zone(&t.identity, zone, ZoneVerb::Allocate),
            vec![0xc1, 0xff, 0x00].into(),
        )
        .await
        .expect("a reply");
    let err = decode::<Reply<Allocated>>(&reply.payload)
        .expect("an error reply")
        .expect_err("malformed");
    assert_eq!(err.kind, ErrorKind::Malformed);
    let report = t.inspect(zone).await;
    assert_eq!(
        (
            report.state,
            report.area,
            report.epoch,
            report.pending_arrivals
        ),
        (
            ZoneState::Allocated,
            Some(AreaId::new(0, 0)),
            Some(Epoch(3)),
            0
        )
    );
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expect_then_hello_welcomes_the_preloaded_character() {
    let t = TestZone::start().await;
    t.allocate(t.zone(0), AreaId::new(0, 0), 1)
        .await
        .expect("allocated");
    let c = t.create_character("Welcomed").await;
    let mut client = t.join(&c, 1).await;
    let welcome = client
        .until(|p| match p {
            ServerPacket::Welcome(w) => Some(w.clone()),
            _ => None,
        })
        .await;
    assert_eq!(
        (welcome.character, welcome.area, welcome.tick_rate),
        (c.id, AreaId::new(0, 0), 20)
    );
    let inventory = client
        .until(|p| match p {
            ServerPacket::Inventory(i) => Some(i.clone()),
            _ => None,
        })
        .await;
    assert_eq!(inventory.coins, c.inventory.coins);
    let snapshot = client
        .until(|p| match p {
            ServerPacket::Snapshot(s) => Some(s.clone()),
            _ => None,
        })
        .await;
    assert!(
        snapshot
            .entities
            .iter()
            .any(|e| e.id == welcome.player && e.name.as_deref() == Some("Welcomed"))
    );
    client.send(Ping { nonce: 42 }.into()).await;
    client
        .until(|p| (*p == ServerPacket::Pong(Pong { nonce: 42 })).then_some(()))
        .await;
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replayed_expired_and_unknown_tickets_are_refused() {
    let t = TestZone::start().await;
    let zone = t.zone(0);
    t.allocate(zone, AreaId::new(0, 0), 1)
        .await
        .expect("allocated");
    let c = t.create_character("Ticketed").await;
    let ticket = Ticket::new_random();
    t.expect(zone, AreaId::new(0, 0), 1, &c, ticket, 30_000)
        .await
        .expect("ready");
    let mut first = Client::connect(&t.ws_url).await;
    first
        .send(
            Hello {
                ticket,
                protocol_version: PROTOCOL_VERSION,
            }
            .into(),
        )
        .await;
    first
        .until(|p| matches!(p, ServerPacket::Welcome(_)).then_some(()))
        .await;

    let mut replay = Client::connect(&t.ws_url).await;
    replay
        .send(
            Hello {
                ticket,
                protocol_version: PROTOCOL_VERSION,
            }
            .into(),
        )
        .await;
    assert_eq!(
        replay.error_then_close().await.map(|e| e.code),
        Some(ErrorCode::BAD_TICKET)
    );

    let short = Ticket::new_random();
    t.expect(zone, AreaId::new(0, 0), 1, &c, short, 300)
        .await
        .expect("ready");
    tokio::time::sleep(Duration::from_millis(400)).await;
    let mut late = Client::connect(&t.ws_url).await;
    late.send(
        Hello {
            ticket: short,
            protocol_version: PROTOCOL_VERSION,
        }
        .into(),
    )
    .await;
    let code = late.error_then_close().await.map(|e| e.code);
    assert!(
        code == Some(ErrorCode::TICKET_EXPIRED) || code == Some(ErrorCode::BAD_TICKET),
        "{code:?}"
    );

    let mut wrong_version = Client::connect(&t.ws_url).await;
    wrong_version
        .send(
            Hello {
                ticket: Ticket::new_random(),
                protocol_version: 99,
            }
            .into(),
        )
        .await;
    assert_eq!(
        wrong_version.error_then_close().await.map(|e| e.code),
        Some(ErrorCode::VERSION_MISMATCH)
    );

    // The first player is unaffected.
    assert_eq!(t.inspect(zone).await.players.len(), 1);
    first.send(Ping { nonce: 1 }.into()).await;
    first
        .until(|p| matches!(p, ServerPacket::Pong(_)).then_some(()))
        .await;
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_frames_get_errors_and_change_nothing_and_abuse_closes_only_that_connection() {
    let t = TestZone::start().await;
    let zone = t.zone(0);
    t.allocate(zone, AreaId::new(0, 0), 1)
        .await
        .expect("allocated");

    // Before Hello: anything else is refused and closed.
    let mut early = Client::connect(&t.ws_url).await;
    early.send(Ping { nonce: 1 }.into()).await;
    assert_eq!(
        early.error_then_close().await.map(|e| e.code),
        Some(ErrorCode::UNEXPECTED_PACKET)
    );

    let good = t.create_character("Goody").await;
    let mut bystander = t.join(&good, 1).await;
    bystander
        .until(|p| matches!(p, ServerPacket::Snapshot(_)).then_some(()))
        .await;
    let bad = t.create_character("Baddy").await;
    let mut hostile = t.join(&bad, 1).await;
    hostile
        .until(|p| matches!(p, ServerPacket::Snapshot(_)).then_some(()))
        .await;
    let before = t.character(&bad).await;

    let cases: Vec<(Vec<u8>, ErrorCode)> = vec![
        (vec![0x02, 0xc1], ErrorCode::MALFORMED),
        (vec![0x7e, 0x90], ErrorCode::UNKNOWN_PACKET),
        (vec![0x0b; 5000], ErrorCode::FRAME_TOO_LARGE),
        (vec![], ErrorCode::MALFORMED),
    ];
    for (frame, code) in cases {
        hostile.send_raw(frame).await;
        let got = hostile
            .until(|p| match p {
                ServerPacket::Error(e) => Some(e.code),
                _ => None,
            })
            .await;
        assert_eq!(got, code);
    }
    hostile.send_text("hello?").await;
    assert_eq!(
        hostile
            .until(|p| match p {
                ServerPacket::Error(e) => Some(e.code),
                _ => None,
            })
            .await,
        ErrorCode::UNEXPECTED_PACKET
    );
    hostile
        .send(
            Hello {
                ticket: Ticket::new_random(),
                protocol_version: PROTOCOL_VERSION,
            }
            .into(),
        )
        .await;
    assert_eq!(
        hostile
            .until(|p| match p {
                ServerPacket::Error(e) => Some(e.code),
                _ => None,
            })
            .await,
        ErrorCode::UNEXPECTED_PACKET
    );

    // A chat flood: the excess is rate limited, then persistent abuse closes the connection.
    for i in 0..200u32 {
        hostile
            .send(
                Chat {
                    channel: ChatChannel::Area,
                    text: format!("spam {i}"),
                }
                .into(),
            )
            .await;
    }
    let last = hostile.error_then_close().await.map(|e| e.code);
    assert_eq!(last, Some(ErrorCode::KICKED));
    let after = t.character(&bad).await;
    assert_eq!(
        after.inventory, before.inventory,
        "bad input changed nothing"
    );

    // The bystander plays on.
    bystander.send(Ping { nonce: 9 }.into()).await;
    bystander
        .until(|p| (*p == ServerPacket::Pong(Pong { nonce: 9 })).then_some(()))
        .await;
    let report = t.inspect(zone).await;
    assert_eq!(report.players.len(), 1);
    assert_eq!(report.players[0].character.id, good.id);
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_wolf_drops_a_pelt_that_is_picked_up_saved_and_counted_once_by_quest_api() {
    let t = TestZone::start().await;
    let zone = t.zone(0);
    t.allocate(zone, AreaId::new(0, 0), 1)
        .await
        .expect("allocated");
    let c = t.create_character("Huntress").await;
    let mut client = t.join(&c, 1).await;
    client
        .send(
            QuestAccept {
                quest: QuestId("wolf-cull".into()),
            }
            .into(),
        )
        .await;

    // One read loop tracks every wolf the client is told about from its first snapshot on.
    // Once the quest is active: go to a wolf's home (the area's content is deterministic),
    // stand next to the tracked wolf and swing (within the attack rate limit) until it dies.
    let actor = t.handle.shared.zone(zone).expect("actor");
    let content = zone_server::sim::content::AreaContent::generate(
        AreaId::new(0, 0),
        &protocol::WorldGrid::default(),
    );
    let home = content
        .npc_spawns
        .iter()
        .find(|s| s.kind == NpcKind::WOLF)
        .expect("a wolf spawn")
        .position;
    let is_wolf = |e: &protocol::client::EntityState| {
        e.kind == protocol::client::EntityKind::Npc && e.type_id == NpcKind::WOLF.0
    };
    let mut wolves = std::collections::HashMap::new();
    let (mut me, mut quest_active, mut dead_wolf, mut target) = (None, false, None, None);
    let mut last_swing = std::time::Instant::now() - Duration::from_secs(1);
    let deadline = std::time::Instant::now() + Duration::from_secs(40);
    while dead_wolf.is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "could not kill a wolf"
        );
        let Some(packet) = client.next().await else {
            panic!("connection closed")
        };
        match &packet {
            ServerPacket::Welcome(w) => me = Some(w.player),
            ServerPacket::QuestLog(log)
                if !quest_active
                    && log
                        .quests
                        .iter()
                        .any(|q| q.quest.0 == "wolf-cull" && q.status == QuestStatus::Active) =>
            {
                quest_active = true;
                let _ = actor.cast(ZoneMsg::Teleport {
                    character: c.id,
                    to: protocol::Position::new(home.x + 1.0, 0.0, home.z),
                });
            }
            ServerPacket::Snapshot(s) => wolves.extend(
                s.entities
                    .iter()
                    .filter(|e| is_wolf(e))
                    .map(|e| (e.id, e.pos)),
            ),
            ServerPacket::Delta(d) => {
                wolves.extend(d.added.iter().filter(|e| is_wolf(e)).map(|e| (e.id, e.pos)));
                for u in &d.updated {
                    if let Some(pos) = wolves.get_mut(&u.id) {
                        pos[0] += u.dx.unwrap_or(0);
                        pos[2] += u.dz.unwrap_or(0);
                    }
                }
                for id in &d.removed {
                    wolves.remove(id);
                }
            }
            ServerPacket::Death(d) if Some(d.entity) == target && Some(d.killer) == me => {
                dead_wolf = Some(d.entity)
            }
            ServerPacket::Error(e) if e.code != ErrorCode::REJECTED => {
                panic!("unexpected error: {e:?}")
            }
            _ => {}
        }
        if !quest_active {
            continue;
        }
        if target.is_none_or(|t| !wolves.contains_key(&t)) {
            target = wolves.keys().min().copied();
        }
        if let Some(wolf) = target
            && let Some(pos) = wolves.get(&wolf)
            && last_swing.elapsed() >= Duration::from_millis(250)
        {
            last_swing = std::time::Instant::now();
            let at = protocol::client::entity::dequantize_position(*pos);
            let _ = actor.cast(ZoneMsg::Teleport {
                character: c.id,
                to: protocol::Position::new(at.x + 1.0, 0.0, at.z),
            });
            client.send(Attack { target: wolf }.into()).await;
        }
    }
    let pelt = client
        .until(|p| match p {
            ServerPacket::Delta(d) => d
                .added
                .iter()
                .find(|e| {
                    e.kind == protocol::client::EntityKind::Item
                        && e.type_id == ItemKind::WOLF_PELT.0
                })
                .map(|e| e.id),
            _ => None,
        })
        .await;
    client.send(Pickup { item: pelt }.into()).await;
    client
        .until(|p| match p {
            ServerPacket::Inventory(i) => i
                .slots
                .iter()
                .flatten()
                .any(|s| s.item == ItemKind::WOLF_PELT)
                .then_some(()),
            _ => None,
        })
        .await;
    // Saved at once: character-api has the pelt.
    let shared_c = c.clone();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let saved = t.character(&shared_c).await;
        if saved.inventory.count_of(ItemKind::WOLF_PELT) == 1 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the pelt was not saved"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // quest-api counted the kill exactly once (and it stays counted once).
    let quests_url = format!("{}/v1/characters/{}/quests", t.quests.url(), c.id);
    let counters = || async {
        let quests: protocol::http::quest::CharacterQuests = t
            .http
            .get(&quests_url)
            .bearer_auth(TOKEN)
            .send()
            .await
            .expect("quest-api")
            .json()
            .await
            .expect("quests");
        quests
            .quests
            .iter()
            .find(|q| q.quest_id.0 == "wolf-cull")
            .expect("wolf-cull")
            .counters
            .clone()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while counters().await != vec![1] {
        assert!(
            std::time::Instant::now() < deadline,
            "the kill never reached quest-api"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(counters().await, vec![1]);
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_does_not_delay_the_tick() {
    let t = TestZone::start().await;
    let zone = t.zone(0);
    t.allocate(zone, AreaId::new(0, 0), 1)
        .await
        .expect("allocated");
    let sleeper = t.create_character("Sleeper").await;
    let _never_reads = t.join(&sleeper, 1).await;
    let reader = t.create_character("Reader").await;
    let mut client = t.join(&reader, 1).await;
    client
        .until(|p| matches!(p, ServerPacket::Snapshot(_)).then_some(()))
        .await;
    let start = t.inspect(zone).await.tick;
    let began = std::time::Instant::now();
    // Keep the reader busy for two seconds, walking back and forth.
    let mut seq = 0;
    while began.elapsed() < Duration::from_secs(2) {
        seq += 1;
        client
            .send(
                Input {
                    seq,
                    move_x: if seq % 40 < 20 { 127 } else { -127 },
                    move_z: 0,
                    running: false,
                    yaw: 0,
                }
                .into(),
            )
            .await;
        let acked = client
            .until(|p| match p {
                ServerPacket::InputAck(a) => Some(a.seq),
                _ => None,
            })
            .await;
        assert!(acked <= seq);
    }
    let ticks = t.inspect(zone).await.tick - start;
    let expected = began.elapsed().as_secs_f64() * 20.0;
    assert!(
        f64::from(ticks) > expected * 0.7,
        "{ticks} ticks in {:?}",
        began.elapsed()
    );
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_zone_is_restarted_idle_and_the_other_zone_plays_on() {
    let t = TestZone::start().await;
    let (a, b) = (t.zone(0), t.zone(1));
    t.allocate(a, AreaId::new(0, 0), 1)
        .await
        .expect("allocated");
    t.allocate(b, AreaId::new(1, 0), 2)
        .await
        .expect("allocated");
    let old = t.handle.shared.zone(a).expect("actor");
    let _ = old.cast(ZoneMsg::Panic);
    let shared = t.handle.shared.clone();
    wait_for("the zone restarted", Duration::from_secs(5), async || {
        shared
            .zone(a)
            .is_some_and(|now| now.get_id() != old.get_id())
    })
    .await;
    let report = t.inspect(a).await;
    assert_eq!((report.state, report.area), (ZoneState::Idle, None));
    let other = t.inspect(b).await;
    assert_eq!(
        (other.state, other.area),
        (ZoneState::Allocated, Some(AreaId::new(1, 0)))
    );
    // The restarted zone serves again.
    t.allocate(a, AreaId::new(0, 0), 3)
        .await
        .expect("allocated again");
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leaving_saves_the_player_with_compare_and_set() {
    let t = TestZone::start().await;
    t.allocate(t.zone(0), AreaId::new(0, 0), 1)
        .await
        .expect("allocated");
    let c = t.create_character("Walker").await;
    let mut client = t.join(&c, 1).await;
    client
        .until(|p| matches!(p, ServerPacket::Snapshot(_)).then_some(()))
        .await;
    for seq in 1..=10 {
        client
            .send(ClientPacket::Input(Input {
                seq,
                move_x: 127,
                move_z: 0,
                running: false,
                yaw: 64,
            }))
            .await;
    }
    client
        .until(|p| (*p == ServerPacket::InputAck(InputAck { seq: 10 })).then_some(()))
        .await;
    drop(client);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let saved = t.character(&c).await;
        if saved.position.x > c.position.x && saved.version > c.version {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the departure was not saved"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    t.stop().await;
}
