//! Faults on a real cluster of real processes (nats-server, character-api, quest-api, the
//! server-manager and zone-servers, each the real binary on its own loopback port): a
//! zone-server, the manager and character-api are each killed with SIGKILL while players
//! play (and character-api also stalled with SIGSTOP), and the cluster is held to
//! DESIGN.md's "Failure" flow and invariants 3 and 5. The tests take turns (one cluster at
//! a time). Measured figures are printed (`--nocapture` shows them); the bounds asserted
//! are generous on purpose (a loaded 2-core machine): speed is reported, not tested.

mod support;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use cluster_tests::audit::same_inventory;
use cluster_tests::bot::{Bot, BotStats, items_in};
use protocol::cluster::messages::ZoneState;
use support::*;
use test_support::wait_for_showing;
use tokio::sync::watch;

fn get(c: &std::sync::atomic::AtomicU64) -> u64 {
    c.load(Ordering::SeqCst)
}

/// Waits until every player is admitted and has had `acks` inputs acknowledged.
async fn all_playing(players: &[PlayerHandle], acks: u64, timeout: Duration) -> Duration {
    wait_for_showing(
        "every player admitted and acknowledged",
        timeout,
        async || {
            players.iter().all(|p| {
                get(&p.stats.welcomes) >= 1
                    && p.stats.connected.load(Ordering::SeqCst)
                    && get(&p.stats.inputs_acked) >= acks
            })
        },
        || describe(players),
    )
    .await
}

/// Waits until character-api holds exactly the inventory each player last saw.
async fn saves_settled(
    characters: &Characters,
    players: &[PlayerHandle],
    timeout: Duration,
) -> Duration {
    wait_for_showing(
        "character-api to hold what every player last saw",
        timeout,
        async || {
            for p in players {
                let (Some(seen), Some(stored)) =
                    (p.stats.last_inventory(), characters.get(p.character).await)
                else {
                    return false;
                };
                if !same_inventory(&seen, &stored.inventory) {
                    return false;
                }
            }
            true
        },
        || describe(players),
    )
    .await
}

/// One bot as shipped (walking and fighting, as `bots` runs them) playing beside the players.
async fn library_bot(
    config: &cluster_tests::bot::BotConfig,
    name: &str,
    stop: &watch::Receiver<bool>,
) -> (std::sync::Arc<BotStats>, tokio::task::JoinHandle<()>) {
    let bot = Bot::create(config.clone(), name).await.expect("a bot");
    let stats = bot.stats.clone();
    (stats, tokio::spawn(bot.play(stop.clone())))
}

fn assert_no_serious_errors(players: &[PlayerHandle]) {
    for p in players {
        let errors = p.stats.serious_errors();
        assert!(errors.is_empty(), "{} got errors: {errors:?}", p.name);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_zone_server_loses_its_area_to_an_idle_zone_and_its_players_resume_from_their_saves()
 {
    let _serial = SERIAL.lock().await;
    let mut cluster = start_cluster(2, 2).await;
    let admin = Admin::new(&cluster);
    let characters = Characters::new(&cluster);
    let config = bot_config(&cluster);
    let (stop, stopped) = watch::channel(false);
    let (players, mut tasks) = spawn_players(&config, "Crash", 3, true, &stopped).await;
    let (stock, task) = library_bot(&config, "CrashBot", &stopped).await;
    tasks.push(task);
    all_playing(&players, 20, Duration::from_secs(60)).await;

    // Play until they carry something; every pickup is saved at once.
    let took = wait_for(
        "the players to pick items up",
        Duration::from_secs(180),
        async || players.iter().map(|p| p.stats.items()).sum::<u64>() >= 3,
    )
    .await;
    eprintln!("zone kill: the players picked up their first items in {took:?}");
    for p in &players {
        p.controls.gather.store(false, Ordering::SeqCst);
    }
    // A pickup sent just before the pause lands within a tick or two.
    tokio::time::sleep(Duration::from_millis(500)).await;
    saves_settled(&characters, &players, Duration::from_secs(30)).await;
    let before: Vec<_> = players
        .iter()
        .map(|p| p.stats.last_inventory().expect("an inventory"))
        .collect();
    let carried: u64 = before.iter().map(items_in).sum();

    // Kill the zone-server process holding the spawn area (with the players in it).
    let mut owner = None;
    wait_for(
        "the manager to count the players",
        Duration::from_secs(20),
        async || {
            owner = admin.owner(SPAWN_AREA).await;
            admin.area(SPAWN_AREA).await.is_some_and(|a| a.players == 4)
        },
    )
    .await;
    let owner = owner.expect("the spawn area has an owner");
    let old_epoch = owner.epoch.expect("an epoch");
    let victim = zone_process_of(&cluster, &owner.ws_url).expect("the owner is one of ours");
    let welcomes_before: Vec<u64> = players.iter().map(|p| get(&p.stats.welcomes)).collect();
    let acks_before: Vec<u64> = players.iter().map(|p| get(&p.stats.inputs_acked)).collect();
    let failures_before: Vec<u64> = players
        .iter()
        .map(|p| get(&p.stats.join_failures))
        .collect();
    let stock_before = (get(&stock.welcomes), get(&stock.inputs_acked));
    let killed = Instant::now();
    cluster.zones[victim].kill();

    // The manager judges the zone Unhealthy and gives the area to an idle zone.
    let (mut unhealthy_after, mut reallocated_after) = (None, None);
    let mut new_owner = None;
    wait_for(
        "the spawn area to be reallocated",
        Duration::from_secs(15),
        async || {
            if unhealthy_after.is_none()
                && admin.zones().await.is_some_and(|zones| {
                    zones
                        .iter()
                        .any(|z| z.zone == owner.zone && z.state == ZoneState::Unhealthy)
                })
            {
                unhealthy_after = Some(killed.elapsed());
            }
            if let Some(area) = admin.area(SPAWN_AREA).await
                && let Some(zone) = area.zone
                && zone != owner.zone
            {
                reallocated_after = Some(killed.elapsed());
                new_owner = Some(area);
                return true;
            }
            false
        },
    )
    .await;
    let reallocated_after = reallocated_after.expect("measured");
    eprintln!(
        "zone kill: owner marked unhealthy after {:?}; area reallocated after {reallocated_after:?} \
         (design target about 3 s; asserted bound 15 s)",
        unhealthy_after.unwrap_or(reallocated_after)
    );
    let new_owner = new_owner.expect("a new owner");
    assert!(
        new_owner.epoch.expect("an epoch") > old_epoch,
        "a reallocation takes a new, higher epoch"
    );
    let survivor = admin
        .owner(SPAWN_AREA)
        .await
        .and_then(|z| zone_process_of(&cluster, &z.ws_url))
        .expect("the new owner is one of ours");
    assert_ne!(survivor, victim, "the area went to the other process");

    // The players rejoin through the manager (with backoff) and play again.
    let mut back: Vec<Option<Duration>> = vec![None; players.len()];
    wait_for(
        "every player back in play",
        Duration::from_secs(90),
        async || {
            for (i, p) in players.iter().enumerate() {
                if back[i].is_none()
                    && get(&p.stats.welcomes) > welcomes_before[i]
                    && get(&p.stats.inputs_acked) >= acks_before[i] + 10
                {
                    back[i] = Some(killed.elapsed());
                }
            }
            back.iter().all(Option::is_some)
                && get(&stock.welcomes) > stock_before.0
                && get(&stock.inputs_acked) >= stock_before.1 + 10
        },
    )
    .await;
    for ((p, t), failures) in players.iter().zip(&back).zip(&failures_before) {
        eprintln!(
            "zone kill: {} back in play (rejoined, inputs acknowledged) {:?} after the kill, \
             after {} failed joins",
            p.name,
            t.expect("measured"),
            get(&p.stats.join_failures) - failures
        );
    }

    // Nothing lost but unsaved movement: the new zone loaded what was saved before the kill,
    // and character-api still holds exactly that.
    for (p, saved) in players.iter().zip(&before) {
        let reloaded = p.stats.welcome_inventory().expect("an inventory on rejoin");
        assert_eq!(
            &reloaded, saved,
            "{} came back with another inventory",
            p.name
        );
        let stored = characters.get(p.character).await.expect("character-api");
        assert!(
            same_inventory(saved, &stored.inventory),
            "{}: character-api holds {:?}, the player had {saved:?}",
            p.name,
            stored.inventory
        );
    }
    eprintln!("zone kill: {carried} carried items, all still there after the recovery");
    wait_for(
        "the manager to count the players in the new zone",
        Duration::from_secs(20),
        async || admin.area(SPAWN_AREA).await.is_some_and(|a| a.players == 4),
    )
    .await;
    assert_no_serious_errors(&players);
    assert!(
        get(&stock.lost) >= 1,
        "the library bot saw its connection go"
    );

    stop_players(stop, tasks).await;
    stop_cluster(cluster).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_manager_leaves_players_connected_and_rebuilds_its_area_map_from_heartbeats() {
    let _serial = SERIAL.lock().await;
    let mut cluster = start_cluster(1, 2).await;
    let admin = Admin::new(&cluster);
    let config = bot_config(&cluster);
    let (stop, stopped) = watch::channel(false);
    let (players, mut tasks) = spawn_players(&config, "Calm", 3, false, &stopped).await;
    let (stock, task) = library_bot(&config, "CalmBot", &stopped).await;
    tasks.push(task);
    all_playing(&players, 20, Duration::from_secs(60)).await;
    let mut owner = None;
    wait_for(
        "the manager to count the players",
        Duration::from_secs(20),
        async || {
            owner = admin.area(SPAWN_AREA).await;
            owner.as_ref().is_some_and(|a| a.players == 4)
        },
    )
    .await;
    let owner = owner.expect("the spawn area");
    let counters = |p: &PlayerHandle| {
        (
            get(&p.stats.joins),
            get(&p.stats.welcomes),
            get(&p.stats.lost),
        )
    };
    let before: Vec<_> = players.iter().map(counters).collect();
    let acks_before: Vec<u64> = players.iter().map(|p| get(&p.stats.inputs_acked)).collect();
    let stock_counters = |s: &BotStats| (get(&s.welcomes), get(&s.lost), get(&s.join_failures));
    let stock_before = stock_counters(&stock);
    let stock_acked = get(&stock.inputs_acked);

    cluster.manager.kill();
    let killed = Instant::now();
    assert!(admin.areas().await.is_none(), "the manager is gone");
    // Players keep playing: every one keeps getting inputs acknowledged by its zone.
    let took = wait_for(
        "inputs acknowledged while the manager is down",
        Duration::from_secs(30),
        async || {
            players
                .iter()
                .zip(&acks_before)
                .all(|(p, before)| get(&p.stats.inputs_acked) >= before + 100)
                && get(&stock.inputs_acked) >= stock_acked + 100
        },
    )
    .await;
    eprintln!(
        "manager kill: 100 more inputs acknowledged for every player within {took:?} of the kill"
    );
    for (p, b) in players.iter().zip(&before) {
        assert_eq!(
            counters(p),
            *b,
            "{} lost its connection or rejoined during the outage",
            p.name
        );
        assert!(p.stats.connected.load(Ordering::SeqCst));
    }

    // Restart it on the same port and data dir: the area map comes back from heartbeats.
    tokio::task::block_in_place(|| cluster.manager.restart()).expect("the manager restarts");
    let restarted = Instant::now();
    eprintln!("manager kill: down for {:?}", killed.elapsed());
    let mut seen = None;
    let took = wait_for(
        "the manager to show the area owned again, players counted",
        Duration::from_secs(30),
        async || {
            seen = admin.area(SPAWN_AREA).await;
            seen.as_ref()
                .is_some_and(|a| a.zone.is_some() && a.players == 4)
        },
    )
    .await;
    eprintln!("manager kill: area map rebuilt {took:?} after the restart");
    let seen = seen.expect("the area");
    assert_eq!(
        (seen.zone, seen.epoch),
        (owner.zone, owner.epoch),
        "the same zone still holds the area under the same epoch"
    );

    // Nobody noticed, and a newcomer can join through the restarted manager.
    let (late, task) = spawn_player(&config, "Latecomer", false, &stopped).await;
    tasks.push(task);
    let took = all_playing(std::slice::from_ref(&late), 20, Duration::from_secs(60)).await;
    eprintln!(
        "manager kill: a new player joined and played {took:?} after asking ({:?} after the restart)",
        restarted.elapsed()
    );
    wait_for(
        "the manager to count the newcomer",
        Duration::from_secs(20),
        async || admin.area(SPAWN_AREA).await.is_some_and(|a| a.players == 5),
    )
    .await;
    for (p, b) in players.iter().zip(&before) {
        assert_eq!(counters(p), *b, "{} noticed the manager's restart", p.name);
    }
    assert_eq!(
        stock_counters(&stock),
        stock_before,
        "the library bot noticed the manager's restart"
    );
    let mut everyone = players.clone();
    everyone.push(late);
    assert_no_serious_errors(&everyone);

    stop_players(stop, tasks).await;
    stop_cluster(cluster).await;
}

/// Waits until character-api holds what each player last saw *and* where it stands: with
/// the players standing still, nothing is left to save, so no save is in flight.
async fn quiet(characters: &Characters, players: &[PlayerHandle], timeout: Duration) -> Duration {
    wait_for_showing(
        "every player's state saved (inventory and position)",
        timeout,
        async || {
            for p in players {
                let (Some(seen), Some(at), Some(stored)) = (
                    p.stats.last_inventory(),
                    p.stats.position(),
                    characters.get(p.character).await,
                ) else {
                    return false;
                };
                if !same_inventory(&seen, &stored.inventory)
                    || stored.position.planar_distance(&at) > 0.25
                {
                    return false;
                }
            }
            true
        },
        || describe(players),
    )
    .await
}

/// Gathers until `n` players carry something; those will juggle.
async fn carriers(players: &[PlayerHandle], n: usize, timeout: Duration) -> Vec<PlayerHandle> {
    let took = wait_for_showing(
        "players to pick something up",
        timeout,
        async || players.iter().filter(|p| p.stats.items() >= 1).count() >= n,
        || describe(players),
    )
    .await;
    eprintln!("{n} player(s) carried something after {took:?}");
    players
        .iter()
        .filter(|p| p.stats.items() >= 1)
        .cloned()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn character_api_restarted_mid_play_loses_nothing_players_picked_up() {
    let _serial = SERIAL.lock().await;
    let mut cluster = start_cluster(1, 2).await;
    let characters = Characters::new(&cluster);
    let config = bot_config(&cluster);
    let zone_addr = cluster.zones[0].addr();
    let (stop, stopped) = watch::channel(false);
    let (players, tasks) = spawn_players(&config, "Keeper", 3, true, &stopped).await;
    all_playing(&players, 20, Duration::from_secs(60)).await;
    let jugglers = carriers(&players, 1, Duration::from_secs(180)).await;
    let is_juggler = |p: &PlayerHandle| jugglers.iter().any(|j| j.character == p.character);

    // Everyone stands still until their state is saved: the kill then interrupts no save
    // (a save cut off after it was applied is a separate matter, see the stress test below).
    for p in &players {
        p.controls.stand.store(true, Ordering::SeqCst);
    }
    let took = quiet(&characters, &players, Duration::from_secs(60)).await;
    eprintln!("character-api restart: every state saved {took:?} after standing still");
    let metrics = zone_metrics(zone_addr).await;
    let saved_before = metric(&metrics, "zone_saves_total", &[("result", "ok")]);

    cluster.characters.kill();
    let killed = Instant::now();
    // Play on while it is down: whoever carries something juggles it (drop one, pick it up
    // again: every step an urgent save, failing and retried), the others walk their routes
    // (moves saved now and then). Nobody else picks up: a gatherer beside a juggler could
    // take its dropped item and leave it nothing to juggle.
    for p in &players {
        p.controls.gather.store(false, Ordering::SeqCst);
        p.controls.juggle.store(is_juggler(p), Ordering::SeqCst);
        p.controls.stand.store(false, Ordering::SeqCst);
    }
    let updates_before: Vec<u64> = players
        .iter()
        .map(|p| get(&p.stats.inventory_updates))
        .collect();
    let acks_before: Vec<u64> = players.iter().map(|p| get(&p.stats.inputs_acked)).collect();
    let took = wait_for_showing(
        "inventory changes and acknowledged inputs while character-api is down",
        Duration::from_secs(60),
        async || {
            let juggled = players
                .iter()
                .zip(&updates_before)
                .all(|(p, before)| !is_juggler(p) || get(&p.stats.inventory_updates) >= before + 6);
            let acked = players
                .iter()
                .zip(&acks_before)
                .all(|(p, before)| get(&p.stats.inputs_acked) >= before + 40);
            juggled && acked
        },
        || describe(&players),
    )
    .await;
    let changes: u64 = players
        .iter()
        .zip(&updates_before)
        .map(|(p, before)| get(&p.stats.inventory_updates) - before)
        .sum();
    assert!(
        characters.get(players[0].character).await.is_none(),
        "character-api is down"
    );
    eprintln!(
        "character-api restart: {changes} inventory changes made while it was down ({took:?})"
    );

    // Back on the same port and data dir; play on a little, then let the saves settle.
    tokio::task::block_in_place(|| cluster.characters.restart()).expect("character-api restarts");
    let restarted = Instant::now();
    eprintln!("character-api restart: down for {:?}", killed.elapsed());
    let updates_at_restart: Vec<u64> = players
        .iter()
        .map(|p| get(&p.stats.inventory_updates))
        .collect();
    wait_for_showing(
        "more inventory changes after the restart",
        Duration::from_secs(30),
        async || {
            players
                .iter()
                .zip(&updates_at_restart)
                .all(|(p, before)| !is_juggler(p) || get(&p.stats.inventory_updates) >= before + 2)
        },
        || describe(&players),
    )
    .await;
    for p in &players {
        p.controls.stand.store(true, Ordering::SeqCst);
    }
    let took = quiet(&characters, &players, Duration::from_secs(60)).await;
    eprintln!(
        "character-api restart: every save landed {:?} after the restart ({took:?} after play paused)",
        restarted.elapsed()
    );
    // What every player holds (seen in one unbroken session) is what character-api stores.
    for p in &players {
        assert_eq!(get(&p.stats.welcomes), 1, "{} had to rejoin", p.name);
        assert_eq!(get(&p.stats.lost), 0, "{} lost its connection", p.name);
    }
    assert_no_serious_errors(&players);
    let metrics = zone_metrics(zone_addr).await;
    let saved_after = metric(&metrics, "zone_saves_total", &[("result", "ok")]);
    assert!(
        saved_after > saved_before,
        "saves went through after the restart"
    );
    assert_eq!(
        metric(&metrics, "zone_saves_total", &[("result", "stale")])
            + metric(&metrics, "zone_saves_total", &[("result", "refused")]),
        0.0,
        "no save was refused"
    );
    eprintln!(
        "character-api restart: {} saves acknowledged since the kill, {} items carried in all",
        saved_after - saved_before,
        players.iter().map(|p| p.stats.items()).sum::<u64>()
    );

    stop_players(stop, tasks).await;
    stop_cluster(cluster).await;
}

/// The same restart, but with saves in flight at the moment of the kill, again and again.
/// A save that character-api applied (durably) but could not answer before dying is retried
/// by the zone after the restart and gets 412 (its own earlier write moved the version on):
/// the zone must recognise its own write (the stored character is what it sent, one version
/// on) instead of taking it for a newer writer and dropping the player. The window is
/// narrow: before the fix it showed on a busy machine within 20 kills.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn character_api_killed_during_saves_never_makes_a_zone_drop_its_players() {
    let _serial = SERIAL.lock().await;
    let mut cluster = start_cluster(1, 2).await;
    let config = bot_config(&cluster);
    let zone_addr = cluster.zones[0].addr();
    let (stop, stopped) = watch::channel(false);
    let (players, tasks) = spawn_players(&config, "Juggler", 3, true, &stopped).await;
    all_playing(&players, 20, Duration::from_secs(60)).await;
    let jugglers = carriers(&players, 2, Duration::from_secs(180)).await;
    // Nobody gathers from now on: a gatherer could take the jugglers' dropped items.
    for p in &players {
        p.controls.gather.store(false, Ordering::SeqCst);
    }
    for p in &jugglers {
        p.controls.juggle_every_ms.store(300, Ordering::SeqCst);
        p.controls.juggle.store(true, Ordering::SeqCst);
    }
    let cycles = 20;
    for cycle in 0..cycles {
        // Saves flowing: a few inventory changes, then the kill lands among them.
        let before: Vec<u64> = jugglers
            .iter()
            .map(|p| get(&p.stats.inventory_updates))
            .collect();
        let before: u64 = before.iter().sum();
        wait_for_showing(
            "saves flowing",
            Duration::from_secs(30),
            async || {
                jugglers
                    .iter()
                    .map(|p| get(&p.stats.inventory_updates))
                    .sum::<u64>()
                    >= before + 4
            },
            || describe(&jugglers),
        )
        .await;
        cluster.characters.kill();
        tokio::time::sleep(Duration::from_millis(500)).await;
        tokio::task::block_in_place(|| cluster.characters.restart()).expect("restarts");
        let stale = metric(
            &zone_metrics(zone_addr).await,
            "zone_saves_total",
            &[("result", "stale")],
        );
        eprintln!(
            "character-api kill {}/{cycles}: {stale} saves taken for stale so far",
            cycle + 1
        );
    }
    // Let the last retries land.
    for p in &players {
        p.controls.stand.store(true, Ordering::SeqCst);
    }
    let characters = Characters::new(&cluster);
    saves_settled(&characters, &players, Duration::from_secs(60)).await;
    let metrics = zone_metrics(zone_addr).await;
    let stale = metric(&metrics, "zone_saves_total", &[("result", "stale")]);
    for p in &players {
        eprintln!(
            "{}: welcomes {}, errors {:?}",
            p.name,
            get(&p.stats.welcomes),
            p.stats.serious_errors()
        );
    }
    assert_eq!(stale, 0.0, "a save was taken for a stale writer's");
    for p in &players {
        assert_eq!(get(&p.stats.welcomes), 1, "{} was dropped", p.name);
    }
    assert_no_serious_errors(&players);

    stop_players(stop, tasks).await;
    stop_cluster(cluster).await;
}

/// character-api stalls (SIGSTOP: a hung disk, a long pause) for longer than a zone's HTTP
/// timeout, then carries on (SIGCONT). Players keep playing and changing their
/// inventories; the zones' saves time out and are retried, and once it is back everything
/// lands: nobody is dropped, nothing is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_character_api_delays_saves_but_loses_nothing() {
    let _serial = SERIAL.lock().await;
    let cluster = start_cluster(1, 2).await;
    let characters = Characters::new(&cluster);
    let config = bot_config(&cluster);
    let zone_addr = cluster.zones[0].addr();
    let (stop, stopped) = watch::channel(false);
    let (players, tasks) = spawn_players(&config, "Patient", 3, true, &stopped).await;
    all_playing(&players, 20, Duration::from_secs(60)).await;
    let jugglers = carriers(&players, 1, Duration::from_secs(180)).await;
    for p in &players {
        p.controls.stand.store(true, Ordering::SeqCst);
    }
    quiet(&characters, &players, Duration::from_secs(60)).await;

    assert!(cluster.characters.pause(), "character-api paused");
    let stalled = Instant::now();
    for p in &jugglers {
        p.controls.gather.store(false, Ordering::SeqCst);
        p.controls.juggle.store(true, Ordering::SeqCst);
        p.controls.stand.store(false, Ordering::SeqCst);
    }
    let updates: Vec<u64> = players
        .iter()
        .map(|p| get(&p.stats.inventory_updates))
        .collect();
    let acks: Vec<u64> = players.iter().map(|p| get(&p.stats.inputs_acked)).collect();
    // Longer than the zone's 5 s request timeout.
    wait_for(
        "play during the stall",
        Duration::from_secs(30),
        async || stalled.elapsed() > Duration::from_secs(7),
    )
    .await;
    assert!(cluster.characters.resume(), "character-api resumed");
    let changes: u64 = players
        .iter()
        .zip(&updates)
        .map(|(p, before)| get(&p.stats.inventory_updates) - before)
        .sum();
    for (p, before) in players.iter().zip(&acks) {
        assert!(
            get(&p.stats.inputs_acked) > before + 40,
            "{} played on",
            p.name
        );
    }
    assert!(
        changes >= 4,
        "inventories changed during the stall ({changes})"
    );
    eprintln!(
        "character-api stall: {changes} inventory changes during a {:?} stall",
        stalled.elapsed()
    );
    for p in &players {
        p.controls.stand.store(true, Ordering::SeqCst);
    }
    let took = quiet(&characters, &players, Duration::from_secs(60)).await;
    eprintln!("character-api stall: every save landed {took:?} after it resumed");
    for p in &players {
        assert_eq!(get(&p.stats.welcomes), 1, "{} had to rejoin", p.name);
    }
    assert_no_serious_errors(&players);
    let metrics = zone_metrics(zone_addr).await;
    assert_eq!(
        metric(&metrics, "zone_saves_total", &[("result", "stale")])
            + metric(&metrics, "zone_saves_total", &[("result", "refused")]),
        0.0,
        "no save was refused"
    );

    stop_players(stop, tasks).await;
    stop_cluster(cluster).await;
}
