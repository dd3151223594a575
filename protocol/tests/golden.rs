//! Golden byte vectors: the exact bytes of a handful of packets. A change here is a change
//! of the wire format — bump `PROTOCOL_VERSION` and update `docs/PROTOCOL.md` with it.
//! These are the same bytes as the annotated session in `docs/PROTOCOL.md`.

use protocol::client::entity::{AnimState, EntityDelta, EntityKind, EntityState};
use protocol::client::packets::*;
use protocol::client::{ClientPacket, PROTOCOL_VERSION, ServerPacket};
use protocol::{AreaId, CharacterId, EntityId, Epoch, Ticket};

/// The player: the 5th id minted under epoch 7 (`7 << 26 | 5`).
const PLAYER: EntityId = EntityId::minted(Epoch(7), 5);
/// An NPC: spawn point 3 of area 1-0 (`1 << 52 | 1 << 36 | 0 << 20 | 3`).
const NPC: EntityId = EntityId::npc(AreaId::new(1, 0), 3);

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn ticket() -> Ticket {
    Ticket([
        0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee,
        0xff,
    ])
}

fn character() -> CharacterId {
    CharacterId(uuid::Uuid::from_u128(
        0x0123_4567_89ab_cdef_0123_4567_89ab_cdef,
    ))
}

fn golden_client(packet: ClientPacket, expected: &str) {
    let frame = packet.encode().expect("encodes");
    assert_eq!(hex(&frame), expected, "{}", packet.name());
    assert_eq!(ClientPacket::decode(&frame), Ok(packet));
}

fn golden_server(packet: ServerPacket, expected: &str) {
    let frame = packet.encode().expect("encodes");
    assert_eq!(hex(&frame), expected, "{}", packet.name());
    assert_eq!(ServerPacket::decode(&frame), Ok(packet));
}

#[test]
fn protocol_version_is_pinned() {
    assert_eq!(PROTOCOL_VERSION, 3);
}

#[test]
fn hello() {
    golden_client(
        Hello {
            ticket: ticket(),
            protocol_version: PROTOCOL_VERSION,
        }
        .into(),
        "01 92 c4 10 00 11 22 33 44 55 66 77 88 99 aa bb cc dd ee ff 03",
    );
}

#[test]
fn input() {
    golden_client(
        Input {
            seq: 1,
            move_x: 0,
            move_z: -127,
            running: true,
            yaw: 128,
        }
        .into(),
        "02 95 01 00 d0 81 c3 cc 80",
    );
}

#[test]
fn chat() {
    golden_client(
        Chat {
            channel: ChatChannel::Local,
            text: "hi".into(),
        }
        .into(),
        "08 92 00 a2 68 69",
    );
}

#[test]
fn ping_and_quest_list() {
    golden_client(Ping { nonce: 7 }.into(), "0b 91 07");
    golden_client(QuestListRequest {}.into(), "09 90");
}

#[test]
fn welcome() {
    golden_server(
        Welcome {
            player: PLAYER,
            character: character(),
            area: AreaId::new(1, 0),
            tick_rate: 20,
            protocol_version: PROTOCOL_VERSION,
            tick: 1000,
        }
        .into(),
        "40 96 ce 1c 00 00 05 c4 10 01 23 45 67 89 ab cd ef 01 23 45 67 89 ab cd ef 92 01 00 14 03 cd 03 e8",
    );
}

#[test]
fn snapshot() {
    golden_server(
        Snapshot {
            tick: 1000,
            entities: vec![EntityState {
                id: PLAYER,
                kind: EntityKind::Player,
                type_id: 0,
                pos: [4096, 0, 2048],
                yaw: 0,
                anim: AnimState::Idle,
                health: 100,
                name: Some("Aria".into()),
            }],
        }
        .into(),
        "41 92 cd 03 e8 91 98 ce 1c 00 00 05 00 00 93 cd 10 00 00 cd 08 00 00 00 64 a4 41 72 69 61",
    );
}

#[test]
fn delta() {
    golden_server(
        Delta {
            tick: 1001,
            baseline: 1000,
            added: vec![],
            updated: vec![EntityDelta {
                id: PLAYER,
                dz: Some(-4),
                anim: Some(AnimState::Walk),
                ..EntityDelta::default()
            }],
            removed: vec![NPC],
        }
        .into(),
        "42 95 cd 03 e9 cd 03 e8 90 91 94 ce 1c 00 00 05 14 fc 01 91 cf 00 10 00 10 00 00 00 03",
    );
}

#[test]
fn input_ack_transfer_error_pong() {
    golden_server(InputAck { seq: 1 }.into(), "4b 91 01");
    golden_server(
        Transfer {
            ws_url: "ws://b/ws".into(),
            ticket: ticket(),
        }
        .into(),
        "4c 92 a9 77 73 3a 2f 2f 62 2f 77 73 c4 10 00 11 22 33 44 55 66 77 88 99 aa bb cc dd ee ff",
    );
    golden_server(
        ServerPacket::error(ErrorCode::BAD_TICKET, "spent"),
        "4d 92 06 a5 73 70 65 6e 74",
    );
    golden_server(Pong { nonce: 7 }.into(), "4e 91 07");
    golden_server(TimeRate { permille: 500 }.into(), "4f 91 cd 01 f4");
}

#[test]
fn a_time_rate_outside_its_range_is_malformed() {
    for hex in ["4f 91 00", "4f 91 cd 03 e9"] {
        let frame: Vec<u8> = hex
            .split(' ')
            .map(|b| u8::from_str_radix(b, 16).unwrap())
            .collect();
        assert!(ServerPacket::decode(&frame).is_err(), "{hex}");
    }
}
