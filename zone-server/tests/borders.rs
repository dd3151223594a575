//! What a zone believes of its neighbours (DESIGN.md, invariant 7), on a real nats-server
//! with auth: ghost frames and border acts are taken only from the current owner of a
//! neighbouring area, under its current epoch, sent under that owner's own identity;
//! anything else is dropped (or, for a request, refused) and counted, and changes nothing.

mod support;

use std::time::Duration;

use protocol::client::ServerPacket;
use protocol::client::entity::{AnimState, EntityKind, EntityState, quantize_position};
use protocol::client::packets as pk;
use protocol::cluster::{self, *};
use protocol::{AreaId, EntityId, Epoch, EventId, Position, ZoneId};
use support::TestZone;
use test_support::wait_for;

const WEST: AreaId = AreaId::new(0, 0);
const EAST: AreaId = AreaId::new(1, 0);

fn snapshot_with(id: EntityId, x: f32) -> Vec<u8> {
    ServerPacket::Snapshot(pk::Snapshot {
        tick: 1,
        entities: vec![EntityState {
            id,
            kind: EntityKind::Player,
            type_id: 0,
            pos: quantize_position(Position::new(x, 0.0, 64.0)),
            yaw: 0,
            anim: AnimState::Idle,
            health: 100,
            name: Some(format!("ghost{}", id.0 % 100)),
        }],
    })
    .encode()
    .expect("encodes")
}

async fn metrics(t: &TestZone) -> String {
    let base = t.ws_url.replace("ws://", "http://").replace("/ws", "");
    t.http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ghosts_and_border_acts_are_believed_only_from_a_neighbours_current_owner() {
    let t = TestZone::start().await;
    t.allocate(t.zone(0), EAST, 2).await.expect("allocated");
    // The neighbouring zone-server owns the west under epoch 1, by the manager's word.
    let west_zone = ZoneId::new_random();
    t.owners.lock().unwrap().insert(
        WEST,
        AreaOwner {
            area: WEST,
            zone: west_zone,
            epoch: Epoch(1),
            ws_url: "ws://127.0.0.1:9/ws".into(),
            identity: t.neighbour_subjects.me().to_string(),
        },
    );
    t.publish_owner_map().await;
    let shared = t.handle.shared.clone();
    wait_for(
        "the zone to take the owner map in",
        Duration::from_secs(5),
        async || shared.owners.get(WEST).is_some(),
    )
    .await;
    let owner = BorderSender {
        zone: west_zone,
        area: WEST,
        epoch: Epoch(1),
    };
    let subject = t
        .neighbour_subjects
        .zone(&t.identity, t.zone(0), ZoneVerb::Ghosts);
    let ghost_frame = |from: BorderSender, id: EntityId| GhostFrame {
        from,
        to_area: EAST,
        tick: 1,
        update: snapshot_with(id, 126.0),
        events: Vec::new(),
    };
    let publish = async |payload: Vec<u8>| {
        t.neighbour
            .publish(subject.clone(), payload.into())
            .await
            .expect("published");
    };
    let (stale, foreign, far, good) = (
        EntityId::minted(Epoch(1), 1),
        EntityId::minted(Epoch(1), 2),
        EntityId::minted(Epoch(1), 3),
        EntityId::minted(Epoch(1), 4),
    );
    // An epoch the manager no longer names, an area that is no neighbour, a frame that
    // does not decode, a ghost standing nowhere near: none shows.
    let old = BorderSender {
        epoch: Epoch(0),
        ..owner
    };
    publish(cluster::encode(&ghost_frame(old, stale))).await;
    let not_a_neighbour = BorderSender {
        area: AreaId::new(3, 3),
        ..owner
    };
    publish(cluster::encode(&ghost_frame(not_a_neighbour, foreign))).await;
    publish(b"\x93not a frame".to_vec()).await;
    let mut out_of_place = ghost_frame(owner, far);
    out_of_place.update = snapshot_with(far, 20.0);
    publish(cluster::encode(&out_of_place)).await;
    // The same frame from the manager's identity: the server itself refuses it.
    t.nats
        .publish(
            t.subjects.zone(&t.identity, t.zone(0), ZoneVerb::Ghosts),
            cluster::encode(&ghost_frame(owner, foreign)).into(),
        )
        .await
        .expect("sent (the server drops it)");
    // The owner's own frame does.
    publish(cluster::encode(&ghost_frame(owner, good))).await;
    t.neighbour.flush().await.expect("flushed");
    wait_for(
        "the owner's ghost to show",
        Duration::from_secs(5),
        async || {
            t.inspect(t.zone(0))
                .await
                .ghosts
                .iter()
                .any(|g| g.0 == good)
        },
    )
    .await;
    let ghosts: Vec<EntityId> = t
        .inspect(t.zone(0))
        .await
        .ghosts
        .iter()
        .map(|g| g.0)
        .collect();
    assert_eq!(ghosts, vec![good], "only the owner's ghost");

    // A border act from a stale epoch is refused; a malformed one too; the owner's on an
    // entity that is not here is a game refusal.
    let ask = async |body: Vec<u8>| -> Reply<BorderOutcome> {
        let reply = t
            .neighbour
            .request(
                t.neighbour_subjects
                    .zone(&t.identity, t.zone(0), ZoneVerb::BorderAct),
                body.into(),
            )
            .await
            .expect("a reply");
        cluster::decode(&reply.payload).expect("a well-formed reply")
    };
    let act = |from: BorderSender| BorderAct {
        request: EventId::new_random(),
        from,
        to_area: EAST,
        actor: good,
        actor_position: Position::new(127.0, 0.0, 64.0),
        action: BorderAction::Hit {
            npc: EntityId::npc(EAST, 9999),
            damage: 8,
        },
    };
    let refused = ask(cluster::encode(&act(old))).await.expect_err("refused");
    assert_eq!(refused.kind, ErrorKind::Forbidden);
    let malformed = ask(b"\x01".to_vec()).await.expect_err("refused");
    assert_eq!(malformed.kind, ErrorKind::Malformed);
    let answer = ask(cluster::encode(&act(owner))).await.expect("answered");
    assert!(
        matches!(answer, BorderOutcome::Rejected { .. }),
        "{answer:?}"
    );

    // A local chat line from a stale epoch is dropped and counted (no player hears it).
    let chat = BorderChat {
        from: old,
        to_area: EAST,
        speaker: good,
        name: "Ghost".into(),
        position: Position::new(127.0, 0.0, 64.0),
        text: "hello".into(),
    };
    t.neighbour
        .publish(
            t.neighbour_subjects
                .zone(&t.identity, t.zone(0), ZoneVerb::BorderChat),
            cluster::encode(&chat).into(),
        )
        .await
        .expect("published");
    t.neighbour.flush().await.expect("flushed");
    let chat_refused =
        r#"zone_border_messages_refused_total{kind="border_chat",reason="stale_epoch"} 1"#;
    wait_for(
        "the stale chat line to be counted",
        Duration::from_secs(5),
        async || metrics(&t).await.contains(chat_refused),
    )
    .await;

    let text = metrics(&t).await;
    for needle in [
        r#"zone_border_messages_refused_total{kind="ghosts",reason="stale_epoch"} 1"#,
        r#"zone_border_messages_refused_total{kind="ghosts",reason="not_a_neighbour"} 1"#,
        r#"zone_border_messages_refused_total{kind="ghosts",reason="malformed"} 1"#,
        r#"zone_ghost_frames_refused_total{reason="implausible"} 1"#,
        r#"zone_border_messages_refused_total{kind="border_act",reason="stale_epoch"} 1"#,
        r#"zone_border_messages_refused_total{kind="border_act",reason="malformed"} 1"#,
    ] {
        assert!(text.contains(needle), "{needle} missing from\n{text}");
    }
    // The owner falls silent: its ghosts go.
    wait_for(
        "the silent owner's ghosts to go",
        Duration::from_secs(5),
        async || t.inspect(t.zone(0)).await.ghosts.is_empty(),
    )
    .await;
    t.stop().await;
}
