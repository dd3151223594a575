//! proptest strategies for every message type, shared by the property tests.
#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;

use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use protocol::client::entity::{AnimState, EntityDelta, EntityKind, EntityState};
use protocol::client::packets::*;
use protocol::client::{ClientPacket, ServerPacket};
use protocol::cluster::*;
use protocol::content::{ItemKind, ItemStack};
use protocol::http::character::{Character, Inventory, Skill, Stats as CharStats};
use protocol::http::quest::QuestProgress as HttpQuestProgress;
use protocol::*;

pub fn uuid() -> impl Strategy<Value = uuid::Uuid> {
    any::<u128>().prop_map(uuid::Uuid::from_u128)
}
pub fn ticket() -> impl Strategy<Value = Ticket> {
    any::<[u8; 16]>().prop_map(Ticket)
}
pub fn area() -> impl Strategy<Value = AreaId> {
    (any::<u16>(), any::<u16>()).prop_map(|(x, z)| AreaId::new(x, z))
}
pub fn entity() -> impl Strategy<Value = EntityId> {
    (1..=EntityId::MAX).prop_map(EntityId)
}
pub fn quest_id() -> impl Strategy<Value = QuestId> {
    "[a-z0-9_-]{1,64}".prop_map(QuestId)
}
/// Finite floats only: NaN would make equality (not the codec) fail.
pub fn coord() -> impl Strategy<Value = f32> {
    -1.0e6f32..1.0e6f32
}
pub fn position() -> impl Strategy<Value = Position> {
    (coord(), coord(), coord()).prop_map(|(x, y, z)| Position::new(x, y, z))
}
pub fn stack() -> impl Strategy<Value = ItemStack> {
    (any::<u16>(), any::<u16>()).prop_map(|(k, count)| ItemStack {
        item: ItemKind(k),
        count,
    })
}
/// Text without control characters, as the codec's limits require.
pub fn text(max: usize) -> impl Strategy<Value = String> {
    proptest::string::string_regex(&format!("[^\\p{{Cc}}]{{1,{max}}}"))
        .expect("regex")
        .prop_filter("fits the byte limit and is not blank", move |s| {
            s.len() <= max && !s.trim().is_empty()
        })
}
pub fn anim() -> impl Strategy<Value = AnimState> {
    proptest::sample::select(AnimState::ALL)
}
pub fn channel() -> impl Strategy<Value = ChatChannel> {
    proptest::sample::select(ChatChannel::ALL)
}

pub fn entity_state() -> impl Strategy<Value = EntityState> {
    (
        entity(),
        proptest::sample::select(EntityKind::ALL),
        any::<u16>(),
        any::<[i32; 3]>(),
        any::<u8>(),
        anim(),
        any::<u8>(),
        option::of("[a-zA-Z]{3,20}"),
    )
        .prop_map(
            |(id, kind, type_id, pos, yaw, anim, health, name)| EntityState {
                id,
                kind,
                type_id,
                pos,
                yaw,
                anim,
                health,
                name,
            },
        )
}

pub fn entity_delta() -> impl Strategy<Value = EntityDelta> {
    (
        entity(),
        option::of(any::<i32>()),
        option::of(any::<i32>()),
        option::of(any::<i32>()),
        option::of(any::<i8>()),
        option::of(anim()),
        option::of(any::<u8>()),
    )
        .prop_map(|(id, dx, dy, dz, dyaw, anim, health)| EntityDelta {
            id,
            dx,
            dy,
            dz,
            dyaw,
            anim,
            health,
        })
}

pub fn input() -> impl Strategy<Value = Input> {
    (
        any::<u32>(),
        any::<i8>(),
        any::<i8>(),
        any::<bool>(),
        any::<u8>(),
    )
        .prop_map(|(seq, move_x, move_z, running, yaw)| Input {
            seq,
            move_x,
            move_z,
            running,
            yaw,
        })
}

pub fn client_packet() -> impl Strategy<Value = ClientPacket> {
    prop_oneof![
        (ticket(), any::<u16>()).prop_map(|(ticket, protocol_version)| Hello {
            ticket,
            protocol_version
        }
        .into()),
        input().prop_map(ClientPacket::from),
        entity().prop_map(|target| Attack { target }.into()),
        entity().prop_map(|item| Pickup { item }.into()),
        any::<u8>().prop_map(|slot| UseItem { slot }.into()),
        any::<u8>().prop_map(|slot| EquipItem { slot }.into()),
        (any::<u8>(), any::<u16>()).prop_map(|(slot, count)| DropItem { slot, count }.into()),
        (channel(), text(MAX_CHAT_BYTES)).prop_map(|(channel, text)| Chat { channel, text }.into()),
        Just(QuestListRequest {}.into()),
        quest_id().prop_map(|quest| QuestAccept { quest }.into()),
        any::<u32>().prop_map(|nonce| Ping { nonce }.into()),
    ]
}

pub fn quest_entry() -> impl Strategy<Value = QuestEntry> {
    (
        quest_id(),
        proptest::sample::select(QuestStatus::ALL),
        vec(any::<u32>(), 0..4),
    )
        .prop_map(|(quest, status, counters)| QuestEntry {
            quest,
            status,
            counters,
        })
}

pub fn server_packet() -> impl Strategy<Value = ServerPacket> {
    prop_oneof![
        (
            entity(),
            uuid(),
            area(),
            any::<u8>(),
            any::<u16>(),
            any::<u32>()
        )
            .prop_map(
                |(player, c, area, tick_rate, protocol_version, tick)| Welcome {
                    player,
                    character: CharacterId(c),
                    area,
                    tick_rate,
                    protocol_version,
                    tick
                }
                .into()
            ),
        (any::<u32>(), vec(entity_state(), 0..8)).prop_map(|(tick, entities)| Snapshot {
            tick,
            entities
        }
        .into()),
        (
            any::<u32>(),
            any::<u32>(),
            vec(entity_state(), 0..4),
            vec(entity_delta(), 0..8),
            vec(entity(), 0..4)
        )
            .prop_map(|(tick, baseline, added, updated, removed)| Delta {
                tick,
                baseline,
                added,
                updated,
                removed
            }
            .into()),
        (
            any::<u64>(),
            vec(option::of(stack()), 0..24),
            option::of(stack())
        )
            .prop_map(|(coins, slots, weapon)| ServerPacket::Inventory(
                protocol::client::packets::Inventory {
                    coins,
                    slots,
                    weapon
                }
            )),
        (entity(), "[a-zA-Z]{3,20}", channel(), text(MAX_CHAT_BYTES)).prop_map(
            |(from, name, channel, text)| ChatMessage {
                from,
                name,
                channel,
                text
            }
            .into()
        ),
        (entity(), entity(), any::<u16>(), any::<u16>()).prop_map(
            |(source, target, amount, health)| Damage {
                source,
                target,
                amount,
                health
            }
            .into()
        ),
        (entity(), entity()).prop_map(|(entity, killer)| Death { entity, killer }.into()),
        (any::<u32>(), any::<u32>(), any::<u32>(), any::<u64>()).prop_map(
            |(health, max_health, level, xp)| ServerPacket::Stats(
                protocol::client::packets::Stats {
                    health,
                    max_health,
                    level,
                    xp
                }
            )
        ),
        vec(quest_entry(), 0..6).prop_map(|quests| QuestLog { quests }.into()),
        (quest_id(), any::<u8>(), any::<u32>(), any::<u32>()).prop_map(
            |(quest, objective, count, required)| ServerPacket::QuestProgress(
                protocol::client::packets::QuestProgress {
                    quest,
                    objective,
                    count,
                    required
                }
            )
        ),
        (quest_id(), any::<u64>(), any::<u64>(), vec(stack(), 0..3)).prop_map(
            |(quest, xp, coins, items)| QuestCompleted {
                quest,
                xp,
                coins,
                items
            }
            .into()
        ),
        any::<u32>().prop_map(|seq| InputAck { seq }.into()),
        ("wss?://[a-z0-9.]{1,30}:[0-9]{1,5}/ws", ticket()).prop_map(|(ws_url, ticket)| Transfer {
            ws_url,
            ticket
        }
        .into()),
        (any::<u16>(), "[ -~]{0,100}").prop_map(|(code, message)| ServerPacket::Error(
            protocol::client::packets::Error {
                code: ErrorCode(code),
                message
            }
        )),
        any::<u32>().prop_map(|nonce| Pong { nonce }.into()),
    ]
}

// ------------------------------------------------------------------ HTTP and cluster

pub fn character() -> impl Strategy<Value = Character> {
    (
        (
            uuid(),
            uuid(),
            "[A-Za-z][A-Za-z0-9_-]{2,19}",
            any::<u64>(),
            area(),
        ),
        (position(), coord()),
        (
            any::<u32>(),
            any::<u32>(),
            any::<u32>(),
            vec(any::<u64>(), 3),
        ),
        (
            vec(option::of(stack()), 0..24),
            any::<u64>(),
            option::of(stack()),
        ),
        (any::<u64>(), any::<u64>()),
    )
        .prop_map(
            |(
                (id, account, name, version, area),
                (position, yaw),
                (h, mh, level, xp),
                (slots, coins, weapon),
                (created_at, updated_at),
            )| {
                let xp: BTreeMap<Skill, u64> = Skill::ALL.iter().copied().zip(xp).collect();
                Character {
                    id: CharacterId(id),
                    account_id: AccountId(account),
                    name,
                    version,
                    area,
                    position,
                    yaw,
                    stats: CharStats {
                        health: h,
                        max_health: mh,
                        level,
                        xp,
                    },
                    inventory: Inventory {
                        slots,
                        coins,
                        weapon,
                    },
                    created_at,
                    updated_at,
                }
            },
        )
}

pub fn quest_progress() -> impl Strategy<Value = HttpQuestProgress> {
    (
        quest_id(),
        proptest::sample::select(QuestStatus::ALL),
        vec(any::<u32>(), 0..4),
        option::of(any::<u64>()),
        option::of(any::<u64>()),
    )
        .prop_map(|(quest_id, status, counters, accepted_at, completed_at)| {
            HttpQuestProgress {
                quest_id,
                status,
                counters,
                accepted_at,
                completed_at,
            }
        })
}

pub fn player_transfer() -> impl Strategy<Value = PlayerTransfer> {
    (
        character(),
        vec(quest_progress(), 0..3),
        vec(input(), 0..4),
        any::<u32>(),
        proptest::option::of(entity()),
    )
        .prop_map(
            |(character, quests, pending_inputs, last_input_seq, entity)| PlayerTransfer {
                character,
                quests,
                pending_inputs,
                last_input_seq,
                entity,
            },
        )
}

pub fn zone_state() -> impl Strategy<Value = ZoneState> {
    proptest::sample::select(ZoneState::ALL)
}

pub fn error_reply() -> impl Strategy<Value = ErrorReply> {
    (proptest::sample::select(ErrorKind::ALL), ".{0,40}")
        .prop_map(|(kind, message)| ErrorReply { kind, message })
}
