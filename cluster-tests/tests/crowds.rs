//! A flash crowd on a real cluster (every process the real binary): bots that joined in area
//! 0-0 all walk into its neighbour 1-0, whose zone takes a few players at most. The area
//! fills to its capacity and no further: the others are held at its border, still playing
//! in 0-0, their handoffs refused and retried; a join into the full area is answered 503
//! with `Retry-After`; the manager reports the crowding; and the zones' own records show
//! nobody lost — no player in two zones, no input lost, every bot still connected.

use std::sync::atomic::Ordering;
use std::time::Duration;

use cluster_tests::bot::{Bot, Route};
use cluster_tests::viewer::place_character;
use cluster_tests::{Cluster, ClusterOptions};
use protocol::{AreaId, Position};
use support::{Admin, SERIAL, stays_closed_and_nothing_lost, stop_cluster, wait_for};
use tokio::sync::watch;

mod support;

/// The area the crowd converges on, and how many it takes.
const TARGET: AreaId = AreaId::new(1, 0);
const CAPACITY: u32 = 4;
/// Bots in the crowd: more than the area takes.
const BOTS: usize = 7;

async fn start() -> Cluster {
    tokio::task::spawn_blocking(|| {
        Cluster::start(ClusterOptions {
            zone_servers: 1,
            slots: 3,
            zone_args: vec!["--area-capacities".into(), format!("{TARGET}={CAPACITY}")],
            ..ClusterOptions::default()
        })
    })
    .await
    .expect("join")
    .expect("the cluster starts")
}

/// A join into the full area: 503, `Retry-After`, problem+json saying it is full.
async fn join_into_the_full_area(cluster: &Cluster) {
    let http = reqwest::Client::new();
    let config = cluster.bot_config();
    let (character, join) = support::create_character(&config, "Latecomer").await;
    let inside = Position::new(200.0, 0.0, 64.0);
    let character = place_character(&http, &config, &character, TARGET, inside)
        .await
        .expect("placed in the full area");
    let answer = http
        .post(format!("{}/v1/join", cluster.manager_url()))
        .bearer_auth(&join)
        .json(&serde_json::json!({ "character_id": character.id }))
        .send()
        .await
        .expect("the manager answers");
    assert_eq!(answer.status(), 503);
    let retry_after = answer.headers().get("retry-after").expect("Retry-After");
    assert!(retry_after.to_str().unwrap().parse::<u64>().is_ok());
    let kind = answer
        .headers()
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap();
    assert_eq!(kind, "application/problem+json");
    let problem: serde_json::Value = answer.json().await.unwrap();
    let detail = problem["detail"].as_str().unwrap();
    assert!(detail.contains("full"), "{problem}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flash_crowd_fills_an_area_to_its_capacity_holds_the_rest_at_its_border_and_loses_nobody()
{
    let _serial = SERIAL.lock().await;
    let cluster = start().await;
    let (stop, stopped) = watch::channel(false);
    let mut bots = Vec::new();
    let mut tasks = Vec::new();
    for i in 0..BOTS {
        let bot = Bot::create(cluster.bot_config(), &format!("crowd{i}"))
            .await
            .expect("a bot")
            .with_route(Route::Converge);
        // Walking only: the crowd goes where it is sent, not after wolves.
        bot.controls.fight.store(false, Ordering::SeqCst);
        bots.push((bot.stats.clone(), bot.character.id));
        tasks.push(tokio::spawn(bot.play(stopped.clone())));
    }

    // The area fills to its capacity, the rest wait at its border, refused as full.
    let admin = Admin::new(&cluster);
    let mut seen = None;
    wait_for(
        "the target full and the rest held at its border",
        Duration::from_secs(90),
        async || {
            let Some(zones) = admin.zones().await else {
                return false;
            };
            let target = zones.iter().find(|z| z.area == Some(TARGET));
            let spawn = zones.iter().find(|z| z.area == Some(AreaId::new(0, 0)));
            let (Some(target), Some(spawn)) = (target, spawn) else {
                return false;
            };
            seen = Some((target.clone(), spawn.clone()));
            target.players == CAPACITY
                && target.crowding.capacity == CAPACITY
                && spawn.crowding.held_at_border as usize == BOTS - CAPACITY as usize
        },
    )
    .await;
    let (target, spawn) = seen.expect("read");
    eprintln!(
        "full: {TARGET} holds {} of {CAPACITY}; {} held at its border in 0-0; clock rate {} ‰",
        target.players, spawn.crowding.held_at_border, target.crowding.time_rate_permille
    );
    join_into_the_full_area(&cluster).await;

    // Held, not stuck: it stays full for a while, nobody slips in past the capacity.
    for _ in 0..6 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let zones = admin.zones().await.expect("zones");
        let target = zones
            .iter()
            .find(|z| z.area == Some(TARGET))
            .expect("owned");
        assert!(target.players <= CAPACITY, "over capacity: {target:?}");
    }
    let refused = cluster_tests::measure::sum_metric(
        &reqwest::Client::new(),
        &cluster.zone_urls(),
        "zone_arrivals_refused_total{reason=\"full\",via=\"handoff\"}",
    )
    .await;
    assert!(refused >= 1.0, "handoffs refused as full: {refused}");

    let _ = stop.send(true);
    for task in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
    }
    // Nobody lost: every bot stayed connected (a transfer at most), and the zones' records
    // show one zone at a time and every input applied.
    for (stats, id) in &bots {
        assert_eq!(
            stats.lost.load(Ordering::Relaxed),
            0,
            "{id} lost its connection"
        );
        assert_eq!(
            stats.joins.load(Ordering::Relaxed),
            1,
            "{id} joined more than once"
        );
    }
    let ids: Vec<_> = bots.iter().map(|(_, id)| *id).collect();
    let report = stays_closed_and_nothing_lost(&cluster, &ids).await;
    assert_eq!(
        report.handoffs, CAPACITY as usize,
        "one handoff per player let in"
    );
    stop_cluster(cluster).await;
}
