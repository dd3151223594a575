//! Scenario tests of the simulation: real physics, real content, no I/O.

use std::collections::BTreeMap;
use std::sync::Arc;

use protocol::client::packets::*;
use protocol::client::{ClientPacket, ServerPacket};
use protocol::cluster::PlayerTransfer;
use protocol::content::{ItemKind, NpcKind};
use protocol::http::character::{Character, Inventory, Stats};
use protocol::http::quest::{
    Objective, ObjectiveKind, ProgressOutcome, Quest, QuestProgress, QuestStatus, Rewards,
};
use protocol::{AccountId, AreaId, CharacterId, EntityId, Position, QuestId, WorldGrid};

use super::content::Obstacle;
use super::*;

pub(super) fn character(name: &str, at: Position) -> Character {
    Character {
        id: CharacterId::new_random(),
        account_id: AccountId::new_random(),
        name: name.into(),
        version: 1,
        area: AreaId::new(0, 0),
        position: at,
        yaw: 0.0,
        stats: Stats {
            health: 100,
            max_health: 100,
            level: 1,
            xp: BTreeMap::new(),
        },
        inventory: Inventory::empty(),
        created_at: 0,
        updated_at: 0,
    }
}

fn wolf_quest() -> Quest {
    Quest {
        id: QuestId("wolf-cull".into()),
        title: "Wolf cull".into(),
        description: String::new(),
        prerequisites: vec![],
        objectives: vec![Objective {
            kind: ObjectiveKind::Kill { npc: NpcKind::WOLF },
            count: 1,
        }],
        rewards: Rewards {
            xp: 50,
            coins: 10,
            items: vec![ItemStack {
                item: ItemKind::BRONZE_SWORD,
                count: 1,
            }],
        },
    }
}

pub(super) fn sim() -> Simulation {
    Simulation::new(
        AreaId::new(0, 0),
        WorldGrid::default(),
        SimConfig::default(),
        Arc::new(vec![wolf_quest()]),
        Epoch(1),
    )
}

pub(super) fn join(
    sim: &mut Simulation,
    name: &str,
    at: Position,
    quests: Vec<QuestProgress>,
) -> EntityId {
    let (id, opening) = sim.add_player(PlayerTransfer {
        character: character(name, at),
        quests,
        last_input_seq: 0,
        pending_inputs: vec![],
        entity: None,
    });
    assert!(matches!(opening[0], ServerPacket::Welcome(_)));
    id
}

pub(super) fn input(seq: u32, move_x: i8, move_z: i8, running: bool) -> ClientPacket {
    ClientPacket::Input(Input {
        seq,
        move_x,
        move_z,
        running,
        yaw: 0,
    })
}

fn pos(sim: &Simulation, id: EntityId) -> Position {
    sim.player(id).expect("player").character.position
}

pub(super) fn run(sim: &mut Simulation, ticks: u32) -> TickOutput {
    let mut out = TickOutput::default();
    for _ in 0..ticks {
        sim.tick(&mut out);
    }
    out
}

#[test]
fn first_tick_sends_a_snapshot_then_deltas() {
    let mut sim = sim();
    let spawn = sim.content().player_spawn;
    let id = join(&mut sim, "Aria", spawn, vec![]);
    let out = run(&mut sim, 1);
    let packets = out.packets();
    let snapshot = packets.iter().find_map(|(to, p)| match p {
        ServerPacket::Snapshot(s) if *to == id => Some(s),
        _ => None,
    });
    let snapshot = snapshot.expect("snapshot");
    assert!(
        snapshot
            .entities
            .iter()
            .any(|e| e.id == id && e.name.as_deref() == Some("Aria"))
    );
    sim.push(id, input(1, 127, 0, false)).expect("queued");
    let out = run(&mut sim, 1);
    assert!(
        out.packets()
            .iter()
            .any(|(to, p)| *to == id && matches!(p, ServerPacket::Delta(_)))
    );
    assert!(
        out.packets()
            .iter()
            .any(|(to, p)| *to == id && *p == ServerPacket::InputAck(InputAck { seq: 1 }))
    );
}

#[test]
fn a_player_walking_into_an_obstacle_is_stopped() {
    let mut sim = sim();
    let o: Obstacle = sim.content().obstacles[0];
    // Start 4 m west of the box's west face, level with its centre, and walk east.
    let start = Position::new(o.centre.x - o.half_x - 4.0, 0.0, o.centre.z);
    let id = join(&mut sim, "Aria", start, vec![]);
    assert_eq!(pos(&sim, id).x, start.x, "placed where saved");
    for seq in 1..=60 {
        sim.push(id, input(seq, 127, 0, false)).expect("queued");
        run(&mut sim, 1);
    }
    let p = pos(&sim, id);
    assert!(
        p.x < o.centre.x - o.half_x,
        "walked through the obstacle to x = {}",
        p.x
    );
    assert!(
        p.x > start.x + 3.0,
        "should have walked up to the face, at x = {}",
        p.x
    );
}

#[test]
fn a_speed_hack_is_clamped_to_running_speed() {
    let mut sim = sim();
    let spawn = sim.content().player_spawn;
    let id = join(&mut sim, "Speedy", spawn, vec![]);
    let ticks = 20;
    let mut seq = 0;
    for _ in 0..ticks {
        // Ten inputs a tick, each asking for a full-speed run.
        for _ in 0..10 {
            seq += 1;
            let _ = sim.push(id, input(seq, 0, 127, true));
        }
        run(&mut sim, 1);
    }
    let moved = pos(&sim, id).planar_distance(&spawn);
    let max = RUN_SPEED * ticks as f32 / 20.0;
    assert!(
        moved <= max + 0.01,
        "moved {moved} m in {ticks} ticks, the cap is {max}"
    );
}

#[test]
fn the_event_stack_is_bounded() {
    let mut sim = sim();
    let spawn = sim.content().player_spawn;
    let id = join(&mut sim, "Flood", spawn, vec![]);
    let accepted = (0..200)
        .filter(|i| sim.push(id, ClientPacket::Ping(Ping { nonce: *i })).is_ok())
        .count();
    assert_eq!(accepted, player::EVENT_STACK_CAPACITY);
    let out = run(&mut sim, 1);
    let pongs = out
        .packets()
        .iter()
        .filter(|(_, p)| matches!(p, ServerPacket::Pong(_)))
        .count();
    assert_eq!(pongs, EVENTS_PER_TICK);
    let later = run(&mut sim, 3)
        .packets()
        .iter()
        .filter(|(_, p)| matches!(p, ServerPacket::Pong(_)))
        .count();
    assert_eq!(
        pongs + later,
        player::EVENT_STACK_CAPACITY,
        "the rest wait for later ticks, none dropped"
    );
    assert_eq!(
        sim.push(EntityId(9999), ClientPacket::Ping(Ping { nonce: 0 })),
        Err(PushError::UnknownPlayer)
    );
}

#[test]
fn killing_a_wolf_drops_a_pelt_that_is_picked_up_saved_and_counted_for_the_quest() {
    let mut sim = sim();
    let wolf = sim
        .npcs()
        .iter()
        .find(|n| n.spec.kind == NpcKind::WOLF)
        .expect("a wolf")
        .entity;
    let standing = QuestProgress {
        quest_id: QuestId("wolf-cull".into()),
        status: QuestStatus::Active,
        counters: vec![0],
        accepted_at: Some(1),
        completed_at: None,
    };
    let at = sim
        .npcs()
        .iter()
        .find(|n| n.entity == wolf)
        .expect("wolf")
        .pos;
    let id = join(
        &mut sim,
        "Hunter",
        Position::new(at.x + 1.0, 0.0, at.z),
        vec![standing],
    );
    let mut effects = Vec::new();
    let mut dropped = None;
    for _ in 0..200 {
        // Keep next to the wolf (it moves while fighting) and swing whenever allowed.
        let wolf_pos = sim
            .npcs()
            .iter()
            .find(|n| n.entity == wolf)
            .expect("wolf")
            .pos;
        if let Some(p) = sim.players.get_mut(&id) {
            p.character.position = Position::new(wolf_pos.x + 1.0, 0.0, wolf_pos.z);
            p.character.stats.health = 100; // the test is about the wolf
        }
        sim.push(id, ClientPacket::Attack(Attack { target: wolf }))
            .expect("queued");
        let out = run(&mut sim, 1);
        effects.extend(out.effects.iter().cloned());
        if out
            .packets()
            .iter()
            .any(|(_, p)| matches!(p, ServerPacket::Death(d) if d.entity == wolf))
        {
            dropped = sim
                .ground_items()
                .find(|(_, s, _)| s.item == ItemKind::WOLF_PELT)
                .map(|(e, _, _)| e);
            break;
        }
    }
    let pelt = dropped.expect("the wolf died and dropped a pelt");
    assert!(effects.iter().any(|e| matches!(e, Effect::QuestProgress { quest, objective: 0, amount: 1, .. } if quest.0 == "wolf-cull")));

    sim.push(id, ClientPacket::Pickup(Pickup { item: pelt }))
        .expect("queued");
    let out = run(&mut sim, 1);
    assert_eq!(
        sim.player(id)
            .expect("player")
            .character
            .inventory
            .count_of(ItemKind::WOLF_PELT),
        1
    );
    assert!(sim.ground_items().all(|(e, _, _)| e != pelt));
    let saved = out.effects.iter().find_map(|e| match e {
        Effect::Save { character, .. } => Some(character),
        _ => None,
    });
    assert_eq!(
        saved
            .expect("an inventory change saves at once")
            .inventory
            .count_of(ItemKind::WOLF_PELT),
        1
    );
    assert!(
        out.packets()
            .iter()
            .any(|(to, p)| *to == id && matches!(p, ServerPacket::Inventory(_)))
    );

    // quest-api answers the kill: the quest completes and its rewards arrive once.
    let character = sim.player(id).expect("player").character.id;
    let done = QuestProgress {
        quest_id: QuestId("wolf-cull".into()),
        status: QuestStatus::Completed,
        counters: vec![1],
        accepted_at: Some(1),
        completed_at: Some(2),
    };
    let outcome = ProgressOutcome {
        progress: done,
        rewards: Some(wolf_quest().rewards),
        duplicate: false,
    };
    sim.quest_progressed(character, outcome.clone());
    sim.quest_progressed(
        character,
        ProgressOutcome {
            duplicate: true,
            ..outcome
        },
    );
    let out = run(&mut sim, 1);
    assert_eq!(
        sim.player(id)
            .expect("player")
            .character
            .inventory
            .count_of(ItemKind::BRONZE_SWORD),
        1
    );
    assert_eq!(
        out.packets()
            .iter()
            .filter(|(_, p)| matches!(p, ServerPacket::QuestCompleted(_)))
            .count(),
        1
    );
}

#[test]
fn out_of_range_and_cooldown_attacks_are_rejected() {
    let mut sim = sim();
    let npc = sim.npcs()[0].entity;
    let spawn = sim.content().player_spawn;
    let id = join(&mut sim, "Far", spawn, vec![]);
    sim.push(id, ClientPacket::Attack(Attack { target: npc }))
        .expect("queued");
    sim.push(
        id,
        ClientPacket::Attack(Attack {
            target: EntityId(424_242),
        }),
    )
    .expect("queued");
    let out = run(&mut sim, 1);
    let rejected = out
        .packets()
        .iter()
        .filter(|(_, p)| matches!(p, ServerPacket::Error(e) if e.code == ErrorCode::REJECTED))
        .count();
    assert_eq!(rejected, 2);
}

#[test]
fn crossing_the_border_past_the_margin_is_reported_and_held() {
    let mut sim = sim();
    let bounds = WorldGrid::default().bounds(AreaId::new(0, 0));
    let id = join(
        &mut sim,
        "Walker",
        Position::new(bounds.max_x - 1.0, 0.0, 64.0),
        vec![],
    );
    let mut crossing = None;
    for seq in 1..=40 {
        sim.push(id, input(seq, 127, 0, false)).expect("queued");
        let out = run(&mut sim, 1);
        if let Some(Effect::Crossing { target, .. }) = out
            .effects
            .iter()
            .find(|e| matches!(e, Effect::Crossing { .. }))
        {
            crossing = Some(*target);
        }
    }
    assert_eq!(crossing, Some(AreaId::new(1, 0)));
    let x = pos(&sim, id).x;
    assert!(
        x <= bounds.max_x + WorldGrid::default().handoff_margin + 0.5 + 1e-3,
        "held at the border, x = {x}"
    );
}

#[test]
fn an_input_is_acknowledged_before_the_update_that_shows_its_movement() {
    let mut sim = sim();
    let spawn = sim.content().player_spawn;
    let id = join(&mut sim, "Mover", spawn, vec![]);
    run(&mut sim, 1);
    sim.push(id, input(1, 127, 0, false)).expect("queued");
    let out = run(&mut sim, 1);
    let packets = out.packets();
    let mine: Vec<&ServerPacket> = packets
        .iter()
        .filter(|(to, _)| *to == id)
        .map(|(_, p)| p)
        .collect();
    let ack = mine
        .iter()
        .position(|p| **p == ServerPacket::InputAck(InputAck { seq: 1 }))
        .expect("the input acknowledged this tick");
    let delta = mine
        .iter()
        .position(|p| match p {
            ServerPacket::Delta(d) => d
                .updated
                .iter()
                .any(|u| u.id == id && u.dx.is_some_and(|dx| dx > 0)),
            _ => false,
        })
        .expect("the movement shown this tick");
    assert!(ack < delta, "InputAck before the Delta: {mine:?}");
}

#[test]
fn a_player_whose_handoff_did_not_go_through_is_held_inside_the_border() {
    let mut sim = sim();
    let grid = WorldGrid::default();
    let bounds = grid.bounds(AreaId::new(0, 0));
    let east = AreaId::new(1, 0);
    let id = join(
        &mut sim,
        "Pioneer",
        Position::new(bounds.max_x - 1.0, 0.0, 64.0),
        vec![],
    );
    let crossing = |out: &TickOutput| {
        out.effects.iter().find_map(|e| match e {
            Effect::Crossing { target, .. } => Some(*target),
            _ => None,
        })
    };
    let mut seq = 0;
    let mut step = |sim: &mut Simulation, move_x: i8| {
        seq += 1;
        sim.push(id, input(seq, move_x, 0, false)).expect("queued");
        run(sim, 1)
    };
    // Past the border and the margin: reported. The zone freezes the player, finds no
    // zone next door, and lets them play on held at the border.
    while crossing(&step(&mut sim, 127)).is_none() {}
    assert!(pos(&sim, id).x > bounds.max_x + grid.handoff_margin);
    sim.freeze(id);
    sim.thaw(id);
    sim.hold_at_border(id, east);
    let x = pos(&sim, id).x;
    assert!(x < bounds.max_x, "put back inside the border, x = {x}");

    // Pushing on: held inside, and reported every tick so the zone retries.
    for _ in 0..20 {
        let out = step(&mut sim, 127);
        assert_eq!(crossing(&out), Some(east));
        let x = pos(&sim, id).x;
        assert!(x < bounds.max_x && x > bounds.max_x - 0.5, "x = {x}");
    }

    // Walking away (2 m) lets go: back at the border, the margin counts again.
    let mut last = None;
    for _ in 0..10 {
        last = crossing(&step(&mut sim, -127));
    }
    assert_eq!(last, None);
    assert_eq!(sim.player(id).expect("present").border_hold, None);
    let mut walked = 0;
    while crossing(&step(&mut sim, 127)).is_none() {
        walked += 1;
        assert!(walked < 40, "never reported again");
    }
    assert!(pos(&sim, id).x > bounds.max_x + grid.handoff_margin);
}

#[test]
fn a_removed_player_leaves_with_their_latest_state() {
    let mut sim = sim();
    let spawn = sim.content().player_spawn;
    let id = join(&mut sim, "Leaver", spawn, vec![]);
    sim.push(id, input(1, 127, 0, false)).expect("queued");
    run(&mut sim, 1);
    sim.push(id, input(2, 127, 0, false)).expect("queued");
    let gone = sim.remove_player(id).expect("present");
    assert!(gone.character.position.x > spawn.x);
    assert_eq!(gone.last_input_seq, 1);
    assert_eq!(
        gone.pending_inputs.len(),
        1,
        "the unapplied input travels with the player"
    );
    assert!(sim.player(id).is_none());
}

#[test]
fn a_frozen_player_stays_exactly_as_carried_until_thawed() {
    let mut sim = sim();
    let spawn = sim.content().player_spawn;
    let id = join(&mut sim, "Frozen", spawn, vec![]);
    run(&mut sim, 2);
    let carried = sim.freeze(id).expect("present");
    for seq in 1..=5 {
        sim.push(id, input(seq, 127, 0, true)).expect("queued");
    }
    let out = run(&mut sim, 20);
    let player = sim.player(id).expect("present");
    assert_eq!(player.character.position, carried.character.position);
    assert_eq!(player.last_input_seq, carried.last_input_seq, "inputs wait");
    assert_eq!(player.inputs_applied, 0);
    assert!(
        !out.effects.iter().any(|e| matches!(e, Effect::Save { .. })),
        "no save starts while frozen"
    );
    let departure = sim.remove_player(id).expect("present");
    assert_eq!(
        departure
            .pending_inputs
            .iter()
            .map(|i| i.seq)
            .collect::<Vec<_>>(),
        vec![1, 2, 3, 4, 5],
        "the waiting inputs leave with the player"
    );
}

#[test]
fn a_thawed_player_plays_on() {
    let mut sim = sim();
    let spawn = sim.content().player_spawn;
    let id = join(&mut sim, "Thawed", spawn, vec![]);
    sim.freeze(id);
    sim.push(id, input(1, 127, 0, false)).expect("queued");
    run(&mut sim, 3);
    assert_eq!(pos(&sim, id), spawn);
    sim.thaw(id);
    run(&mut sim, 3);
    assert!(pos(&sim, id).x > spawn.x, "moved once thawed");
    assert_eq!(sim.player(id).expect("present").inputs_applied, 1);
}

#[test]
fn the_world_state_moves_to_another_simulation_of_the_area() {
    let mut old = sim();
    run(&mut old, 3);
    // Take one resource off its node (it will regrow there later).
    let node = old.content().resource_nodes[0];
    let id = join(&mut old, "Picker", node.position, vec![]);
    run(&mut old, 1);
    let on_node = old
        .ground_items()
        .find(|(_, _, at)| at.planar_distance(&node.position) < 0.01)
        .map(|(e, _, _)| e)
        .expect("a resource on the node");
    old.push(id, ClientPacket::Pickup(Pickup { item: on_node }))
        .expect("queued");
    run(&mut old, 1);
    let (npcs, items) = old.world_state(1_000_000);
    assert!(items.iter().all(|i| i.position != node.position));

    let mut new = sim();
    new.load_world_state(&npcs, &items, 1_000_000);
    let (npcs_after, items_after) = new.world_state(1_000_000);
    let key = |v: &[protocol::cluster::GroundItemSnapshot]| {
        let mut k: Vec<_> = v
            .iter()
            .map(|i| {
                (
                    i.stack.item.0,
                    i.stack.count,
                    i.position.x.to_bits(),
                    i.node,
                )
            })
            .collect();
        k.sort_unstable();
        k
    };
    assert_eq!(key(&items), key(&items_after), "same items, same nodes");
    assert_eq!(npcs.len(), npcs_after.len());
    for (a, b) in npcs.iter().zip(&npcs_after) {
        assert_eq!(
            (a.spawn, a.position, a.health),
            (b.spawn, b.position, b.health)
        );
    }
    // The picked node does not regrow at once in the new simulation.
    run(&mut new, 2);
    assert!(
        new.ground_items()
            .all(|(_, _, at)| at.planar_distance(&node.position) >= 0.01),
        "the picked node is still regrowing"
    );
}

#[test]
fn the_first_input_applied_in_a_stay_is_reported_once() {
    let mut sim = sim();
    let spawn = sim.content().player_spawn;
    let carried = |seq| Input {
        seq,
        move_x: 127,
        move_z: 0,
        running: false,
        yaw: 0,
    };
    let (id, _) = sim.add_player(PlayerTransfer {
        character: character("Carried", spawn),
        quests: vec![],
        last_input_seq: 5,
        pending_inputs: vec![carried(4), carried(6)],
        entity: None,
    });
    let mut out = run(&mut sim, 1);
    assert_eq!(
        out.first_inputs,
        vec![(id, 6)],
        "the first input not applied elsewhere"
    );
    out.clear();
    assert!(out.first_inputs.is_empty());
    sim.push(id, input(7, 127, 0, false)).expect("queued");
    sim.tick(&mut out);
    assert!(out.first_inputs.is_empty(), "once per stay");
    assert_eq!(sim.player(id).expect("present").inputs_applied, 2);
}
