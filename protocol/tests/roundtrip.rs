//! Property tests: every message survives its own encoding, and no input makes a decoder
//! panic.

mod support;

use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use protocol::client::entity::{EntityDelta, EntityState};
use protocol::client::{ClientPacket, ServerPacket};
use protocol::cluster::{self, *};
use protocol::http::character::{Character, CharacterUpdate};
use protocol::http::quest::QuestProgress;
use protocol::*;
use support::*;

fn spawn_of(at: u64) -> u32 {
    (at % 7) as u32
}

fn named_round_trip<T>(value: &T) -> Result<(), TestCaseError>
where
    T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let bytes = cluster::encode(value);
    let back: T = cluster::decode(&bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(&back, value);
    // Replies wrap every answer: both halves must survive too.
    let ok: Reply<&T> = Ok(value);
    let back: Reply<T> =
        cluster::decode(&cluster::encode(&ok)).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(back.as_ref().ok(), Some(value));
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn client_packets_round_trip(packet in client_packet()) {
        let frame = packet.encode().map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(frame[0], packet.id());
        prop_assert!(frame.len() <= ClientPacket::MAX_FRAME);
        prop_assert_eq!(ClientPacket::decode(&frame), Ok(packet));
    }

    #[test]
    fn server_packets_round_trip(packet in server_packet()) {
        let frame = packet.encode().map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(frame[0], packet.id());
        prop_assert_eq!(ServerPacket::decode(&frame), Ok(packet));
    }

    #[test]
    fn the_hand_written_delta_writer_matches_serde(
        tick in any::<u32>(), baseline in any::<u32>(), added in vec(entity_state(), 0..3),
        updated in vec(entity_delta(), 0..20), removed in vec(entity(), 0..5),
    ) {
        let delta = protocol::client::packets::Delta { tick, baseline, added, updated, removed };
        let via_serde = rmp_serde::to_vec(&delta).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let frame = ServerPacket::Delta(delta).encode().map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&frame[1..], &via_serde[..]);
    }

    #[test]
    fn deltas_reproduce_the_new_state(old in entity_state(), new in entity_state()) {
        let mut new = new;
        new.id = old.id;
        new.kind = old.kind;
        new.type_id = old.type_id;
        new.name.clone_from(&old.name);
        let mut applied = old.clone();
        if let Some(delta) = EntityDelta::between(&old, &new) {
            delta.apply(&mut applied);
        }
        prop_assert_eq!(applied, new);
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_client_decoders(bytes in vec(any::<u8>(), 0..2048)) {
        let _ = ClientPacket::decode(&bytes);
        let _ = ServerPacket::decode(&bytes);
    }

    #[test]
    fn arbitrary_payloads_behind_every_id_never_panic(id in any::<u8>(), payload in vec(any::<u8>(), 0..512)) {
        let mut frame = vec![id];
        frame.extend(payload);
        let _ = ClientPacket::decode(&frame);
        let _ = ServerPacket::decode(&frame);
    }

    #[test]
    fn corrupted_valid_frames_never_panic(packet in server_packet(), flips in vec((any::<prop::sample::Index>(), any::<u8>()), 1..4)) {
        let mut frame = packet.encode().map_err(|e| TestCaseError::fail(e.to_string()))?;
        for (at, byte) in flips {
            let i = at.index(frame.len());
            frame[i] = byte;
        }
        let _ = ServerPacket::decode(&frame);
        let _ = ClientPacket::decode(&frame);
        frame.truncate(frame.len() / 2);
        let _ = ServerPacket::decode(&frame);
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_cluster_decoders(bytes in vec(any::<u8>(), 0..1024)) {
        let _ = cluster::decode::<Heartbeat>(&bytes);
        let _ = cluster::decode::<HandoffPrepare>(&bytes);
        let _ = cluster::decode::<AreaStateTransfer>(&bytes);
        let _ = cluster::decode::<Reply<HandoffAnswer>>(&bytes);
        let _ = cluster::decode::<Expect>(&bytes);
    }

    #[test]
    fn characters_round_trip_through_json(c in character()) {
        let json = serde_json::to_string(&c).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let back: Character = serde_json::from_str(&json).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&back, &c);
        // PUT accepts what GET returns.
        let update: CharacterUpdate = serde_json::from_str(&json).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(update.inventory, c.inventory);
    }

    #[test]
    fn quest_progress_round_trips_through_json(p in quest_progress()) {
        let json = serde_json::to_string(&p).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let back: QuestProgress = serde_json::from_str(&json).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(back, p);
    }

    #[test]
    fn lifecycle_messages_round_trip(
        zone in uuid(), ws in "ws://[a-z0-9.:]{1,30}/ws", state in zone_state(),
        area in option::of(area()), epoch in option::of(any::<u64>()),
        players in any::<u32>(), npcs in any::<u32>(), p99 in any::<u32>(), at in any::<u64>(),
        interval in any::<u32>(), err in error_reply(),
    ) {
        let zone = ZoneId(zone);
        let epoch = epoch.map(Epoch);
        named_round_trip(&Register { zone, ws_url: ws.clone(), state, area, epoch })?;
        named_round_trip(&RegisterAck { heartbeat_interval_ms: interval })?;
        named_round_trip(&Heartbeat { zone, ws_url: ws, state, area, epoch, players, npcs, tick_p99_us: p99, ghosts: npcs / 2, crowding: Crowding { capacity: players / 3, held_at_border: npcs / 3, refused_full: p99 / 7, time_rate_permille: (p99 % 1000) as u16 + 1 }, sent_at: at })?;
        let back: Reply<Released> = cluster::decode(&cluster::encode(&Reply::<Released>::Err(err.clone())))
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(back, Err(err));
    }

    #[test]
    fn control_messages_round_trip(
        zone in uuid(), other in uuid(), a in area(), e in any::<u64>(), e2 in any::<u64>(),
        account in uuid(), character in uuid(), t in ticket(), at in any::<u64>(), ws in "ws://[a-z0-9.:]{1,30}/ws",
        who in "[A-Z0-9]{1,56}",
    ) {
        let (zone, other, epoch, e2) = (ZoneId(zone), ZoneId(other), Epoch(e), Epoch(e2));
        named_round_trip(&Allocate { zone, area: a, epoch, handover_from: None })?;
        let handover_from = Some(Handover { zone: other, identity: who.clone() });
        named_round_trip(&Allocate { zone, area: a, epoch, handover_from })?;
        named_round_trip(&Allocated { zone, area: a, epoch, ws_url: ws.clone() })?;
        named_round_trip(&Release { zone, area: a, epoch })?;
        named_round_trip(&Released { zone })?;
        named_round_trip(&LostArea { zone, area: a, lost_epoch: epoch, new_owner: other, new_epoch: e2, new_owner_identity: who.clone() })?;
        named_round_trip(&AreaRequest { area: a, requested_by: zone })?;
        named_round_trip(&AreaOwner { area: a, zone, epoch, ws_url: ws.clone(), identity: who.clone() })?;
        named_round_trip(&AreaOwnerQuery { area: a })?;
        named_round_trip(&Expect { zone, area: a, epoch, account: AccountId(account), character: CharacterId(character), ticket: t, expires_at: at })?;
        named_round_trip(&ExpectReady { zone, ws_url: ws, ticket: t, expires_at: at })?;
        named_round_trip(&Migrate { zone, area: a, epoch, target_zone: other, target_epoch: e2, target_identity: who })?;
        named_round_trip(&Migrated { zone, players: 3 })?;
    }

    #[test]
    fn border_messages_round_trip(
        zone in uuid(), from in area(), to in area(), e in any::<u64>(), tick in any::<u32>(),
        update in vec(any::<u8>(), 0..64), key in uuid(), actor in entity(), target in entity(),
        at in position(), damage in any::<u16>(), s in stack(), name in ".{0,20}", text in ".{0,40}",
        health in any::<u32>(), killed in any::<bool>(), xp in any::<u32>(),
    ) {
        let from = BorderSender { zone: ZoneId(zone), area: from, epoch: Epoch(e) };
        let events = vec![GhostEvent { pos: [1, -2, 3], frame: update.clone() }];
        named_round_trip(&GhostFrame { from, to_area: to, tick, update, events })?;
        for action in [
            BorderAction::Hit { npc: target, damage },
            BorderAction::Pickup { item: target, room: damage },
        ] {
            named_round_trip(&BorderAct { request: EventId(key), from, to_area: to, actor, actor_position: at, action })?;
        }
        for outcome in [
            BorderOutcome::Hit { npc: target, kind: protocol::content::NpcKind(1), damage, health, killed, xp },
            BorderOutcome::Picked { stack: s },
            BorderOutcome::Rejected { reason: text.clone() },
        ] {
            named_round_trip(&outcome)?;
        }
        named_round_trip(&BorderChat { from, to_area: to, speaker: actor, name, position: at, text })?;
    }

    #[test]
    fn handoff_and_migration_messages_round_trip(
        h in uuid(), zone in uuid(), from in area(), to in area(), e in any::<u64>(),
        player in player_transfer(), t in ticket(), at in any::<u64>(), reason in ".{0,30}",
        npcs in vec((any::<u16>(), any::<u32>(), position(), any::<u32>()), 0..4),
        items in vec((stack(), position(), any::<u64>()), 0..4),
        dots in vec((uuid(), coord(), coord()), 0..4),
    ) {
        let (handoff, zone, epoch) = (HandoffId(h), ZoneId(zone), Epoch(e));
        let character = player.character.id;
        named_round_trip(&HandoffPrepare { handoff, from_zone: zone, from_area: from, from_epoch: epoch, to_area: to, player: player.clone() })?;
        named_round_trip(&HandoffAnswer::Accepted { handoff, zone, epoch, ws_url: "ws://x/ws".into(), ticket: t, expires_at: at })?;
        named_round_trip(&HandoffAnswer::Refused { handoff, reason })?;
        named_round_trip(&HandoffCommit { handoff, to_area: to, to_epoch: epoch, character })?;
        named_round_trip(&HandoffAbort { handoff, to_area: to, to_epoch: epoch, character })?;
        named_round_trip(&HandoffAck { handoff })?;
        named_round_trip(&AreaStateTransfer {
            zone, area: to, epoch, from_zone: zone, players: vec![player],
            npcs: npcs.into_iter().map(|(k, spawn, position, health)| NpcSnapshot { kind: protocol::content::NpcKind(k), spawn, position, health }).collect(),
            ground_items: items.into_iter().map(|(stack, position, despawn_at)| GroundItemSnapshot { stack, position, despawn_at, node: Some(spawn_of(despawn_at)), entity: Some(EntityId(despawn_at % EntityId::MAX + 1)) }).collect(),
        })?;
        named_round_trip(&AreaStateAccepted { zone, ws_url: "ws://x/ws".into(), tickets: vec![PlayerTicket { character, ticket: t }], expires_at: at })?;
        named_round_trip(&PositionSample { zone, area: to, players: dots.into_iter().map(|(c, x, z)| PlayerDot { character: CharacterId(c), x, z }).collect() })?;
        named_round_trip(&HandoffEvent { character, from, to, at })?;
    }
}

#[test]
fn named_messages_tolerate_added_fields() {
    // A newer sender adds a field: an older receiver must still decode (rolling upgrade).
    #[derive(serde::Serialize)]
    struct ReleasedV2 {
        zone: ZoneId,
        reason: &'static str,
    }
    let zone = ZoneId::new_random();
    let bytes = cluster::encode(&ReleasedV2 {
        zone,
        reason: "drained",
    });
    assert_eq!(cluster::decode::<Released>(&bytes), Ok(Released { zone }));
}

#[test]
fn entity_state_is_a_compact_array() {
    let s = EntityState {
        id: EntityId(1),
        kind: protocol::client::EntityKind::Npc,
        type_id: 2,
        pos: [3, 4, 5],
        yaw: 6,
        anim: protocol::client::AnimState::Walk,
        health: 100,
        name: None,
    };
    let bytes = rmp_serde::to_vec(&s).map_err(|e| e.to_string());
    assert_eq!(
        bytes,
        Ok(vec![0x98, 1, 1, 2, 0x93, 3, 4, 5, 6, 1, 100, 0xc0])
    );
}
