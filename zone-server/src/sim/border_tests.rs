//! Ghosts and acts across a border, between two simulations of neighbouring areas: what
//! one sends, the other shows and applies, and what neither believes.

use std::sync::Arc;

use protocol::client::ServerPacket;
use protocol::client::entity::{AnimState, EntityKind, EntityState, quantize_position};
use protocol::client::packets::{self as pk, ChatChannel};
use protocol::cluster::{BorderAct, BorderAction, BorderOutcome, BorderSender};
use protocol::content::{ItemKind, ItemStack};
use protocol::{AreaId, EntityId, Epoch, EventId, Position, WorldGrid, ZoneId};

use super::tests::{character, join, run};
use super::*;

const WEST: AreaId = AreaId::new(0, 0);
const EAST: AreaId = AreaId::new(1, 0);

fn area_sim(area: AreaId, epoch: u64) -> Simulation {
    Simulation::new(
        area,
        WorldGrid::default(),
        SimConfig::default(),
        Arc::new(Vec::new()),
        Epoch(epoch),
    )
}

fn owner(area: AreaId, epoch: u64) -> NeighbourOwner {
    NeighbourOwner {
        area,
        zone: ZoneId(uuid::Uuid::from_u128(u128::from(epoch))),
        epoch: Epoch(epoch),
    }
}

/// One tick of `from`, and its frame for `to` taken in by `to`'s simulation.
fn stream(from: &mut Simulation, to: &mut Simulation, epoch: u64) -> Result<(), GhostRefusal> {
    run(from, 1);
    let mut frames = Vec::new();
    from.ghost_frames(&[owner(to.area(), epoch)], &mut frames);
    let frame = frames.pop().expect("a frame for the neighbour");
    to.apply_ghost_frame(from.area(), &frame.update, &frame.events)
}

/// What `player`'s client holds after the frames in `out` (snapshots and deltas applied).
fn view_of(out: &TickOutput, player: EntityId) -> Vec<EntityState> {
    let mut table: Vec<EntityState> = Vec::new();
    for (to, packet) in &out.packets() {
        if *to != player {
            continue;
        }
        match packet {
            ServerPacket::Snapshot(s) => table = s.entities.clone(),
            ServerPacket::Delta(d) => {
                table.extend(d.added.iter().cloned());
                for u in &d.updated {
                    if let Some(e) = table.iter_mut().find(|e| e.id == u.id) {
                        u.apply(e);
                    }
                }
                table.retain(|e| !d.removed.contains(&e.id));
            }
            _ => {}
        }
    }
    table
}

fn ghost_state(id: EntityId, kind: EntityKind, at: Position) -> EntityState {
    EntityState {
        id,
        kind,
        type_id: 1,
        pos: quantize_position(at),
        yaw: 0,
        anim: AnimState::Idle,
        health: 100,
        name: None,
    }
}

fn snapshot(tick: u32, entities: Vec<EntityState>) -> Vec<u8> {
    ServerPacket::Snapshot(pk::Snapshot { tick, entities })
        .encode()
        .expect("encodes")
}

#[test]
fn a_player_near_the_border_sees_the_neighbours_players_under_their_own_ids() {
    let (mut west, mut east) = (area_sim(WEST, 1), area_sim(EAST, 2));
    let near = join(&mut west, "Near", Position::new(124.0, 0.0, 64.0), vec![]);
    let across = join(&mut east, "Across", Position::new(133.0, 0.0, 64.0), vec![]);
    let deep = join(&mut east, "Deep", Position::new(240.0, 0.0, 64.0), vec![]);
    assert_ne!(near, across, "ids minted under different epochs differ");
    stream(&mut east, &mut west, 1).expect("the frame is taken in");
    let out = run(&mut west, 1);
    let view = view_of(&out, near);
    let seen = view
        .iter()
        .find(|e| e.id == across)
        .expect("the player across is seen");
    let owners = east
        .player(across)
        .expect("east has them")
        .character
        .position;
    assert_eq!(seen.pos, quantize_position(owners));
    assert_eq!(seen.name.as_deref(), Some("Across"));
    assert!(
        view.iter().all(|e| e.id != deep),
        "beyond the band: not sent"
    );
    // The neighbour's own NPCs near the border carry their area in their ids.
    for ghost in view
        .iter()
        .filter(|e| e.kind == EntityKind::Npc && e.id.npc_area() == Some(EAST))
    {
        assert!(ghost.pos[0] >= 128 * 32);
    }
}

#[test]
fn implausible_ghosts_are_left_out_and_the_rest_taken_in() {
    let mut west = area_sim(WEST, 1);
    let own = join(&mut west, "Own", Position::new(120.0, 0.0, 64.0), vec![]);
    let good = EntityId::minted(Epoch(2), 1);
    let update = snapshot(
        7,
        vec![
            ghost_state(good, EntityKind::Player, Position::new(130.0, 0.0, 64.0)),
            // An NPC of another area, sent as the east's.
            ghost_state(
                EntityId::npc(AreaId::new(3, 3), 0),
                EntityKind::Npc,
                Position::new(131.0, 0.0, 64.0),
            ),
            // An id of the west's own player.
            ghost_state(own, EntityKind::Player, Position::new(132.0, 0.0, 64.0)),
            // Not in the east at all.
            ghost_state(
                EntityId::minted(Epoch(2), 2),
                EntityKind::Player,
                Position::new(60.0, 0.0, 64.0),
            ),
            // In the east, but far from the west.
            ghost_state(
                EntityId::minted(Epoch(2), 3),
                EntityKind::Player,
                Position::new(250.0, 0.0, 64.0),
            ),
        ],
    );
    assert_eq!(
        west.apply_ghost_frame(EAST, &update, &[]),
        Err(GhostRefusal::Implausible(4))
    );
    assert_eq!(west.ghost_count(), 1);
    assert_eq!(west.ghost_positions()[0].0, good);
    assert!(matches!(
        west.apply_ghost_frame(EAST, b"\x41\xff", &[]),
        Err(GhostRefusal::Malformed(_))
    ));
    let pong = ServerPacket::Pong(pk::Pong { nonce: 1 }).encode().unwrap();
    assert_eq!(
        west.apply_ghost_frame(EAST, &pong, &[]),
        Err(GhostRefusal::NotAnUpdate)
    );
    assert_eq!(west.ghost_count(), 1, "refused frames change nothing");
}

#[test]
fn a_delta_after_a_missed_frame_drops_the_stream_until_the_next_snapshot() {
    let (mut west, mut east) = (area_sim(WEST, 1), area_sim(EAST, 2));
    let across = join(&mut east, "Across", Position::new(133.0, 0.0, 64.0), vec![]);
    stream(&mut east, &mut west, 1).expect("snapshot");
    assert!(west.ghost_positions().iter().any(|g| g.0 == across));
    // A frame lost on the way...
    east.push(across, super::tests::input(1, 127, 0, false))
        .unwrap();
    run(&mut east, 1);
    let mut lost = Vec::new();
    east.ghost_frames(&[owner(WEST, 1)], &mut lost);
    // ...so the next delta does not apply: the east's ghosts go until a snapshot.
    let mut result = stream(&mut east, &mut west, 1);
    while result == Ok(()) {
        result = stream(&mut east, &mut west, 1);
    }
    assert_eq!(result, Err(GhostRefusal::Gap));
    assert_eq!(west.ghost_count(), 0);
    // A snapshot comes within a second.
    for _ in 0..20 {
        let _ = stream(&mut east, &mut west, 1);
    }
    assert!(west.ghost_positions().iter().any(|g| g.0 == across));
}

#[test]
fn ghosts_of_a_silent_neighbour_are_gone_within_a_second() {
    let (mut west, mut east) = (area_sim(WEST, 1), area_sim(EAST, 2));
    join(&mut east, "Across", Position::new(133.0, 0.0, 64.0), vec![]);
    stream(&mut east, &mut west, 1).expect("snapshot");
    assert!(west.ghost_count() > 0);
    run(&mut west, 20);
    assert!(west.ghost_count() > 0, "a second is allowed");
    run(&mut west, 2);
    assert_eq!(west.ghost_count(), 0);
}

fn act(key: EventId, actor: EntityId, at: Position, action: BorderAction) -> BorderAct {
    BorderAct {
        request: key,
        from: BorderSender {
            zone: ZoneId(uuid::Uuid::from_u128(1)),
            area: WEST,
            epoch: Epoch(1),
        },
        to_area: EAST,
        actor,
        actor_position: at,
        action,
    }
}

#[test]
fn a_hit_from_across_the_border_is_applied_once_however_often_it_is_sent() {
    let mut east = area_sim(EAST, 2);
    let npc = east.npcs()[0].clone();
    let (id, at, health) = (npc.entity, npc.pos, npc.health);
    let attacker = EntityId::minted(Epoch(1), 9);
    let hit = act(
        EventId::new_random(),
        attacker,
        Position::new(at.x - 1.0, at.y, at.z),
        BorderAction::Hit { npc: id, damage: 5 },
    );
    let first = east.apply_border_act(&hit);
    assert!(matches!(
        first,
        BorderOutcome::Hit {
            damage: 5,
            killed: false,
            ..
        }
    ));
    assert_eq!(
        east.apply_border_act(&hit),
        first,
        "a retry gets the first outcome"
    );
    assert_eq!(
        east.npcs()[0].health,
        health - 5,
        "and is not applied again"
    );
    // Out of range, and more damage than any weapon deals.
    let far = act(
        EventId::new_random(),
        attacker,
        Position::new(at.x - 30.0, at.y, at.z),
        BorderAction::Hit { npc: id, damage: 5 },
    );
    assert!(matches!(
        east.apply_border_act(&far),
        BorderOutcome::Rejected { .. }
    ));
    let huge = act(
        EventId::new_random(),
        attacker,
        Position::new(at.x - 1.0, at.y, at.z),
        BorderAction::Hit {
            npc: id,
            damage: u16::MAX,
        },
    );
    let BorderOutcome::Hit { damage, .. } = east.apply_border_act(&huge) else {
        panic!("a hit");
    };
    assert!(damage < 100, "damage is capped at the best weapon's");
}

#[test]
fn an_item_across_the_border_is_picked_up_once_and_lands_in_the_pickers_bags() {
    let (mut west, mut east) = (area_sim(WEST, 1), area_sim(EAST, 2));
    let picker = join(&mut west, "Picker", Position::new(127.0, 0.0, 64.0), vec![]);
    let pelt = ItemStack {
        item: ItemKind::WOLF_PELT,
        count: 2,
    };
    east.drop_items(Position::new(128.5, 0.0, 64.0), vec![pelt]);
    stream(&mut east, &mut west, 1).expect("snapshot");
    let item = west
        .ghost_positions()
        .into_iter()
        .find(|g| {
            west.entity_state(g.0)
                .is_some_and(|s| s.kind == EntityKind::Item && s.pos[0] == 128 * 32 + 16)
        })
        .expect("the item is a ghost in the west")
        .0;
    west.push(picker, ClientPacket::Pickup(pk::Pickup { item }))
        .unwrap();
    let out = run(&mut west, 1);
    let Some(Effect::BorderAct {
        to_area,
        actor,
        actor_position,
        action,
    }) = out
        .effects
        .iter()
        .find(|e| matches!(e, Effect::BorderAct { .. }))
        .cloned()
    else {
        panic!("the pickup goes to the owner");
    };
    assert_eq!((to_area, actor), (EAST, picker));
    let request = act(EventId::new_random(), actor, actor_position, action);
    let outcome = east.apply_border_act(&request);
    assert_eq!(outcome, BorderOutcome::Picked { stack: pelt });
    assert_eq!(
        east.apply_border_act(&request),
        outcome,
        "a retry takes nothing more"
    );
    assert!(
        east.ground_items().all(|(e, _, _)| e != item),
        "gone from the ground"
    );
    west.border_act_answered(actor, actor_position, BorderActAnswer::Outcome(outcome));
    let bags = &west.player(picker).unwrap().character.inventory;
    let held: u16 = bags
        .slots
        .iter()
        .flatten()
        .filter(|s| s.item == ItemKind::WOLF_PELT)
        .map(|s| s.count)
        .sum();
    assert_eq!(held, 2);
}

#[test]
fn local_chat_reaches_players_across_the_border() {
    let (mut west, mut east) = (area_sim(WEST, 1), area_sim(EAST, 2));
    let speaker = join(
        &mut west,
        "Speaker",
        Position::new(120.0, 0.0, 64.0),
        vec![],
    );
    let listener = join(
        &mut east,
        "Listener",
        Position::new(140.0, 0.0, 64.0),
        vec![],
    );
    let far = join(&mut east, "Far", Position::new(200.0, 0.0, 64.0), vec![]);
    run(&mut east, 1);
    let chat = pk::Chat {
        channel: ChatChannel::Local,
        text: "over here".into(),
    };
    west.push(speaker, ClientPacket::Chat(chat)).unwrap();
    let out = run(&mut west, 1);
    let lines: Vec<_> = out
        .effects
        .iter()
        .filter_map(|e| match e {
            Effect::BorderChat { to_area, chat } => Some((*to_area, chat.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(lines.len(), 1, "only the east is within reach");
    let (to, line) = lines[0].clone();
    assert_eq!(to, EAST);
    east.border_chat(line);
    let out = run(&mut east, 1);
    let heard = |who| {
        out.packets().iter().any(|(to, p)| {
            *to == who
                && matches!(p, ServerPacket::Chat(m) if m.from == speaker && m.text == "over here")
        })
    };
    assert!(heard(listener));
    assert!(!heard(far));
}

#[test]
fn a_handed_over_player_keeps_their_id_and_no_entity_takes_anothers() {
    let (mut west, mut east) = (area_sim(WEST, 1), area_sim(EAST, 2));
    let id = join(&mut west, "Walker", Position::new(127.0, 0.0, 64.0), vec![]);
    let mut carried = west.remove_player(id).expect("leaves");
    assert_eq!(carried.entity, Some(id));
    carried.character.position = Position::new(129.0, 0.0, 64.0);
    let (arrived, _) = east.add_player(carried.clone());
    assert_eq!(arrived, id);
    // A second arrival claiming the same id, or an NPC's, gets an id of its own.
    let mut twin = carried.clone();
    twin.character = character("Twin", Position::new(130.0, 0.0, 64.0));
    assert_ne!(east.add_player(twin.clone()).0, id);
    twin.entity = Some(east.npcs()[0].entity);
    twin.character = character("Npc", Position::new(131.0, 0.0, 64.0));
    assert!(east.add_player(twin).0.npc_area().is_none());
}

#[test]
fn a_kill_across_the_border_is_shown_on_both_sides_and_rewards_the_killer_once() {
    let (mut west, mut east) = (area_sim(WEST, 1), area_sim(EAST, 2));
    // One of the east's NPCs stands a step past the border, nearly dead.
    let (mut npcs, items) = east.world_state(0);
    npcs[0].position = Position::new(129.0, 0.0, 64.0);
    npcs[0].health = 1;
    east.load_world_state(&npcs, &items, 0);
    let npc = EntityId::npc(EAST, npcs[0].spawn);
    let killer = join(&mut west, "Killer", Position::new(127.0, 0.0, 64.0), vec![]);
    let watcher = join(
        &mut east,
        "Watcher",
        Position::new(140.0, 0.0, 64.0),
        vec![],
    );
    stream(&mut east, &mut west, 1).expect("snapshot");
    run(&mut west, 1);
    west.push(killer, ClientPacket::Attack(pk::Attack { target: npc }))
        .unwrap();
    let out = run(&mut west, 1);
    let Some(Effect::BorderAct {
        actor,
        actor_position,
        action,
        ..
    }) = out
        .effects
        .iter()
        .find(|e| matches!(e, Effect::BorderAct { .. }))
        .cloned()
    else {
        panic!("the attack goes to the NPC's owner");
    };
    let outcome = east.apply_border_act(&act(EventId::new_random(), actor, actor_position, action));
    let BorderOutcome::Hit {
        killed: true, xp, ..
    } = outcome.clone()
    else {
        panic!("a kill: {outcome:?}");
    };
    let xp_before = west
        .player(killer)
        .unwrap()
        .character
        .stats
        .xp
        .values()
        .sum::<u64>();
    west.border_act_answered(actor, actor_position, BorderActAnswer::Outcome(outcome));
    let xp_after = west
        .player(killer)
        .unwrap()
        .character
        .stats
        .xp
        .values()
        .sum::<u64>();
    assert_eq!(
        xp_after,
        xp_before + u64::from(xp),
        "the killer earns the kill's xp once"
    );
    // The owner's players see it at once; the killer's side with the owner's next frame.
    let east_out = run(&mut east, 1);
    let deaths = |out: &TickOutput, who: EntityId| {
        out.packets()
            .iter()
            .filter(|(to, p)| {
                *to == who
                    && matches!(p, ServerPacket::Death(d) if d.entity == npc && d.killer == killer)
            })
            .count()
    };
    assert_eq!(deaths(&east_out, watcher), 1);
    let mut frames = Vec::new();
    east.ghost_frames(&[owner(WEST, 1)], &mut frames);
    let frame = frames.pop().expect("a frame");
    assert!(!frame.events.is_empty(), "the kill travels with the frame");
    west.apply_ghost_frame(EAST, &frame.update, &frame.events)
        .expect("taken in");
    let west_out = run(&mut west, 1);
    assert_eq!(deaths(&west_out, killer), 1);
    assert!(west_out.packets().iter().any(|(to, p)| {
        *to == killer
            && matches!(p, ServerPacket::Damage(d) if d.target == npc && d.source == killer)
    }));
}
