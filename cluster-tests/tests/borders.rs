//! Seamless borders on a real cluster (real NATS with auth, real zone-servers, real
//! WebSockets): players on either side of a border see each other where the owner has them,
//! hit the same NPC from both sides without a hit counted twice, pick up and chat across
//! it, keep every id across a transfer, and lose a killed neighbour's ghosts (which return
//! when its area is reallocated).

use std::collections::HashSet;
use std::time::{Duration, Instant};

use cluster_tests::Cluster;
use cluster_tests::spots::{
    NpcAtBorder, border_row, free_spot, npc_near_a_border, pump_all, steer,
};
use cluster_tests::viewer::Viewer;
use protocol::client::ClientPacket;
use protocol::client::entity::EntityKind;
use protocol::client::packets::{self as pk, ChatChannel};
use protocol::content::{ItemKind, ItemStack};
use protocol::http::character::Inventory;
use protocol::{AreaId, EntityId, Position, WorldGrid};
use support::{Admin, SERIAL, start_cluster, stop_cluster, wait_for, zone_process_of};
use zone_server::sim::content::AreaContent;

mod support;

const WEST: AreaId = AreaId::new(0, 0);
const EAST: AreaId = AreaId::new(1, 0);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn players_see_chat_and_pick_up_across_a_border_where_the_owner_has_things() {
    let _serial = SERIAL.lock().await;
    let cluster = start_cluster(1, 2).await;
    let config = cluster.bot_config();
    let z = border_row(WEST, 64.0);
    let pelts = {
        let mut bags = Inventory::empty();
        bags.slots[0] = Some(ItemStack {
            item: ItemKind::WOLF_PELT,
            count: 3,
        });
        bags
    };
    let mut west = Viewer::place(&config, "Westy", WEST, Position::new(125.0, 0.0, z), None)
        .await
        .expect("west joins");
    let mut east = Viewer::place(
        &config,
        "Easty",
        EAST,
        Position::new(131.0, 0.0, z),
        Some(pelts),
    )
    .await
    .expect("east joins");

    // Each sees the other under the id the other has at home.
    let both = wait_for(
        "each to see the other",
        Duration::from_secs(10),
        async || {
            pump_all(&mut [&mut west, &mut east], Duration::from_millis(100)).await;
            west.table.contains_key(&east.me) && east.table.contains_key(&west.me)
        },
    )
    .await;
    eprintln!("borders: both sides in view {both:?} after joining");
    assert_eq!(west.player_named("Easty"), Some(east.me));
    assert_eq!(east.player_named("Westy"), Some(west.me));

    // East walks up and down its side; every position West is sent for East is one East's
    // own zone sent East (the owner's position, quantized, not a guess).
    for step in 0..60 {
        let dz = if (step / 15) % 2 == 0 { 127 } else { -127 };
        east.walk(0, dz).await.expect("sent");
        pump_all(&mut [&mut west, &mut east], Duration::from_millis(50)).await;
    }
    east.walk(0, 0).await.expect("sent");
    pump_all(&mut [&mut west, &mut east], Duration::from_millis(500)).await;
    let own: HashSet<[i32; 3]> = east.sightings[&east.me].iter().map(|s| s.pos).collect();
    let seen = &west.sightings[&east.me];
    assert!(
        seen.len() >= 20,
        "West saw East move: {} positions",
        seen.len()
    );
    let unknown: Vec<_> = seen.iter().filter(|s| !own.contains(&s.pos)).collect();
    assert!(
        unknown.is_empty(),
        "positions East's owner never had: {unknown:?}"
    );

    // Local chat crosses the border.
    west.send(
        pk::Chat {
            channel: ChatChannel::Local,
            text: "hello across".into(),
        }
        .into(),
    )
    .await
    .expect("sent");
    wait_for("East to hear West", Duration::from_secs(5), async || {
        pump_all(&mut [&mut west, &mut east], Duration::from_millis(50)).await;
        east.chat
            .iter()
            .any(|c| c.from == west.me && c.text == "hello across")
    })
    .await;

    // East drops pelts at its feet, a step from the border; West picks them up across it.
    east.send(pk::DropItem { slot: 0, count: 3 }.into())
        .await
        .expect("sent");
    let mut pile = None;
    wait_for(
        "West to see the pelts",
        Duration::from_secs(5),
        async || {
            pump_all(&mut [&mut west, &mut east], Duration::from_millis(50)).await;
            pile = west
                .in_view(EntityKind::Item)
                .find(|e| e.type_id == ItemKind::WOLF_PELT.0)
                .map(|e| e.id);
            pile.is_some()
        },
    )
    .await;
    let pile = pile.expect("seen");
    assert!(east.table.contains_key(&pile), "the same id on both sides");
    // West steps next to it (still in its own area) and picks it up.
    let target = west.position_of(pile).expect("in view");
    while west.position().expect("me").planar_distance(&target) > 2.0 {
        let dx = if west.position().expect("me").x < target.x {
            127
        } else {
            -127
        };
        west.walk(dx, 0).await.expect("sent");
        pump_all(&mut [&mut west, &mut east], Duration::from_millis(50)).await;
    }
    west.walk(0, 0).await.expect("sent");
    west.send(ClientPacket::Pickup(pk::Pickup { item: pile }))
        .await
        .expect("sent");
    wait_for(
        "the pelts to move to West's bags",
        Duration::from_secs(5),
        async || {
            pump_all(&mut [&mut west, &mut east], Duration::from_millis(50)).await;
            let held: u16 = west
                .inventory
                .iter()
                .flat_map(|i| i.slots.iter().flatten())
                .filter(|s| s.item == ItemKind::WOLF_PELT)
                .map(|s| s.count)
                .sum();
            held == 3 && !east.table.contains_key(&pile) && !west.table.contains_key(&pile)
        },
    )
    .await;
    let east_has: u16 = east
        .inventory
        .iter()
        .flat_map(|i| i.slots.iter().flatten())
        .filter(|s| s.item == ItemKind::WOLF_PELT)
        .map(|s| s.count)
        .sum();
    assert_eq!(east_has, 0, "the pelts are in one place only");
    assert!(
        west.errors.is_empty() && east.errors.is_empty(),
        "errors: {:?} {:?}",
        west.errors,
        east.errors
    );
    stop_cluster(cluster).await;
}

/// Reads the lure's and the hitters' frames for `duration`.
async fn pump_duel(lure: &mut Viewer, hitters: &mut [Viewer], duration: Duration) {
    let mut all: Vec<&mut Viewer> = std::iter::once(lure).chain(hitters.iter_mut()).collect();
    pump_all(&mut all, duration).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_npc_hit_from_both_sides_of_a_border_dies_once_and_no_hit_counts_twice() {
    let _serial = SERIAL.lock().await;
    let cluster = start_cluster(1, 3).await;
    let config = cluster.bot_config();
    // (The spawn area is allocated at start: three areas in all.)
    let NpcAtBorder {
        home,
        spawn,
        at,
        across,
        edge,
    } = npc_near_a_border();
    eprintln!("borders: NPC {spawn} of {home} near x = {edge} (across: {across})");
    let npc = EntityId::npc(home, spawn);
    // Which way the border is from the NPC's side, and a step into each side.
    let toward = if at.x < edge { 1.0 } else { -1.0 };
    let lure_spot = free_spot(home, at.x + toward * 2.0, at.z);
    let mut lure = Viewer::place(&config, "Lure", home, lure_spot, None)
        .await
        .expect("lure joins");
    let mut hitters = Vec::new();
    for (i, dz) in [(0, -1.5f32), (1, 1.5)] {
        let spot = free_spot(across, edge + toward * 1.0, at.z + dz);
        let hitter = Viewer::place(&config, &format!("Hitter{i}"), across, spot, None)
            .await
            .expect("hitter joins");
        hitters.push(hitter);
    }

    // The lure draws the NPC to the border, stepping half a metre past it (well within the
    // handoff margin: still its own zone's player), next to where the hitters stand.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut in_reach = false;
    while Instant::now() < deadline && !in_reach {
        steer(&mut lure, edge + toward * 0.5).await;
        pump_duel(&mut lure, &mut hitters, Duration::from_millis(50)).await;
        in_reach = hitters.iter().all(|h| {
            h.position_of(npc)
                .zip(h.position())
                .is_some_and(|(n, me)| n.planar_distance(&me) < 2.8)
        });
    }
    assert!(
        in_reach,
        "the NPC came within reach of the hitters across the border: lure at {:?} sees it at \
         {:?}; hitters at {:?} see it at {:?}",
        lure.position(),
        lure.position_of(npc),
        hitters.iter().map(Viewer::position).collect::<Vec<_>>(),
        hitters
            .iter()
            .map(|h| h.position_of(npc))
            .collect::<Vec<_>>(),
    );

    // Everyone hits it, as fast as the cooldown allows, until it dies.
    let items_before: HashSet<EntityId> = lure.in_view(EntityKind::Item).map(|e| e.id).collect();
    let initial_xp: Vec<u64> = hitters
        .iter()
        .map(|h| h.stats.as_ref().map_or(0, |s| s.xp))
        .collect();
    // (The lure is steered every 50 ms, so it never walks past the handoff margin; if the
    // NPC loses interest it goes back for it.)
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut swing = Instant::now() - Duration::from_secs(1);
    while Instant::now() < deadline && lure.deaths.iter().all(|d| d.entity != npc) {
        let chasing = lure
            .position_of(npc)
            .zip(lure.position())
            .is_some_and(|(n, me)| n.planar_distance(&me) < 4.0);
        let goal = if chasing {
            edge + toward * 0.5
        } else {
            at.x + toward * 2.0
        };
        steer(&mut lure, goal).await;
        if swing.elapsed() >= Duration::from_millis(650) {
            swing = Instant::now();
            for h in hitters.iter_mut() {
                h.send(ClientPacket::Attack(pk::Attack { target: npc }))
                    .await
                    .expect("sent");
            }
            lure.send(ClientPacket::Attack(pk::Attack { target: npc }))
                .await
                .expect("sent");
        }
        pump_duel(&mut lure, &mut hitters, Duration::from_millis(50)).await;
    }
    lure.walk(0, 0).await.expect("sent");
    pump_duel(&mut lure, &mut hitters, Duration::from_secs(1)).await;

    // One death, seen by everyone.
    let deaths = |v: &Viewer| v.deaths.iter().filter(|d| d.entity == npc).count();
    assert_eq!(deaths(&lure), 1, "the owner's side sees one death");
    for h in &hitters {
        assert_eq!(deaths(h), 1, "{} sees one death", h.character.name);
    }
    // The owner's side saw every hit: each takes exactly its damage off what was left.
    let hits: Vec<&pk::Damage> = lure.damage.iter().filter(|d| d.target == npc).collect();
    for pair in hits.windows(2) {
        assert_eq!(
            u32::from(pair[1].health),
            u32::from(pair[0].health).saturating_sub(u32::from(pair[1].amount)),
            "a hit applied twice or lost: {pair:?}"
        );
    }
    assert_eq!(hits.last().map(|d| d.health), Some(0));
    // Each hitter across the border saw its own hits once, and the owner's side saw the
    // same number from it.
    let mut across_hits = 0;
    for h in &hitters {
        let own = h
            .damage
            .iter()
            .filter(|d| d.target == npc && d.source == h.me)
            .count();
        let at_home = hits.iter().filter(|d| d.source == h.me).count();
        assert_eq!(own, at_home, "{}'s hits", h.character.name);
        across_hits += own;
    }
    assert!(across_hits > 0, "hits from across the border landed");
    // The killer earned experience (once), wherever they stood.
    let killer = lure
        .deaths
        .iter()
        .find(|d| d.entity == npc)
        .expect("dead")
        .killer;
    if let Some(i) = hitters.iter().position(|h| h.me == killer) {
        let xp = hitters[i].stats.as_ref().map_or(0, |s| s.xp);
        assert!(xp > initial_xp[i], "the killer across the border earned xp");
    }
    // The drop lies on the owner's side, seen by both sides under one id.
    wait_for(
        "the drop to be seen on both sides",
        Duration::from_secs(5),
        async || {
            pump_duel(&mut lure, &mut hitters, Duration::from_millis(50)).await;
            let hitters = &hitters;
            lure.in_view(EntityKind::Item)
                .filter(|e| !items_before.contains(&e.id))
                .any(|e| {
                    hitters.iter().any(|h| {
                        h.table
                            .get(&e.id)
                            .is_some_and(|g| g.kind == EntityKind::Item)
                    })
                })
        },
    )
    .await;
    stop_cluster(cluster).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transfer_keeps_every_id_the_player_saw() {
    let _serial = SERIAL.lock().await;
    let cluster = start_cluster(1, 2).await;
    let config = cluster.bot_config();
    let z = border_row(WEST, 64.0);
    let mut stay_west = Viewer::place(
        &config,
        "StayWest",
        WEST,
        Position::new(122.0, 0.0, z),
        None,
    )
    .await
    .expect("joins");
    let mut stay_east = Viewer::place(
        &config,
        "StayEast",
        EAST,
        Position::new(134.0, 0.0, z),
        None,
    )
    .await
    .expect("joins");
    let mut walker = Viewer::place(&config, "Walker", WEST, Position::new(118.0, 0.0, z), None)
        .await
        .expect("joins");
    let before = walker.me;
    wait_for(
        "the walker to see both",
        Duration::from_secs(10),
        async || {
            pump_all(
                &mut [&mut walker, &mut stay_west, &mut stay_east],
                Duration::from_millis(50),
            )
            .await;
            walker.table.contains_key(&stay_west.me) && walker.table.contains_key(&stay_east.me)
        },
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while walker.transfers.is_empty() && Instant::now() < deadline {
        walker.walk(127, 0).await.expect("sent");
        pump_all(
            &mut [&mut walker, &mut stay_west, &mut stay_east],
            Duration::from_millis(50),
        )
        .await;
    }
    walker.walk(0, 0).await.expect("sent");
    pump_all(
        &mut [&mut walker, &mut stay_west, &mut stay_east],
        Duration::from_secs(1),
    )
    .await;
    let report = walker
        .transfers
        .first()
        .expect("the walker was handed over")
        .clone();
    eprintln!("borders: transfer kept {} entities in view", report.kept);
    assert!(report.kept_own_id, "the walker kept their id");
    assert_eq!(walker.me, before);
    assert!(report.renamed.is_empty(), "renamed: {:?}", report.renamed);
    assert!(
        report.kept >= 3,
        "the walker and both others stayed in view: {}",
        report.kept
    );
    assert_eq!(walker.area, EAST);
    // Those who stayed saw the walker under one id all along.
    assert_eq!(stay_west.player_named("Walker"), Some(before));
    assert_eq!(stay_east.player_named("Walker"), Some(before));
    stop_cluster(cluster).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_neighbours_ghosts_leave_the_view_and_return_with_its_new_owner() {
    let _serial = SERIAL.lock().await;
    let mut cluster: Cluster = start_cluster(3, 1).await;
    // (Stopping a cluster with a killed process is fine: stop skips the dead.)
    let config = cluster.bot_config();
    let admin = Admin::new(&cluster);
    let z = border_row(WEST, 64.0);
    let mut west = Viewer::place(&config, "Watcher", WEST, Position::new(125.0, 0.0, z), None)
        .await
        .expect("joins");
    let mut east = Viewer::place(&config, "Victim", EAST, Position::new(131.0, 0.0, z), None)
        .await
        .expect("joins");
    let of_east = |v: &Viewer, victim: EntityId| -> Vec<EntityId> {
        v.table
            .keys()
            .copied()
            .filter(|id| *id == victim || id.npc_area() == Some(EAST))
            .collect()
    };
    let victim = east.me;
    wait_for(
        "the watcher to see across",
        Duration::from_secs(10),
        async || {
            pump_all(&mut [&mut west, &mut east], Duration::from_millis(50)).await;
            west.table.contains_key(&victim)
        },
    )
    .await;
    let npcs_before: HashSet<EntityId> = of_east(&west, victim)
        .into_iter()
        .filter(|id| id.npc_area().is_some())
        .collect();
    let owner = admin.owner(EAST).await.expect("the east has an owner");
    let process = zone_process_of(&cluster, &owner.ws_url).expect("one of ours");
    drop(east);
    cluster.zones[process].kill();
    let gone = wait_for(
        "the east's ghosts to leave the view",
        Duration::from_secs(10),
        async || {
            west.pump(Duration::from_millis(50))
                .await
                .expect("the watcher stays connected");
            of_east(&west, victim).is_empty()
        },
    )
    .await;
    eprintln!("borders: a killed neighbour's ghosts left the view {gone:?} after the kill");
    // The manager gives the area to the idle zone; its NPCs come back under the same ids.
    let back = wait_for(
        "the east's NPCs to come back",
        Duration::from_secs(30),
        async || {
            west.pump(Duration::from_millis(50))
                .await
                .expect("connected");
            !of_east(&west, victim).is_empty()
        },
    )
    .await;
    eprintln!("borders: ghosts back {back:?} after they left");
    let npcs_after: HashSet<EntityId> = of_east(&west, victim).into_iter().collect();
    assert!(
        !npcs_after.contains(&victim),
        "the killed zone's player is gone"
    );
    // The new owner's NPCs have the ids the old owner's had: one per spawn point.
    let spawns = AreaContent::generate(EAST, &WorldGrid::default())
        .npc_spawns
        .len() as u32;
    let ids: HashSet<EntityId> = (0..spawns).map(|i| EntityId::npc(EAST, i)).collect();
    assert!(npcs_after.is_subset(&ids), "{npcs_after:?}");
    assert!(npcs_before.is_subset(&ids), "{npcs_before:?}");
    stop_cluster(cluster).await;
}
