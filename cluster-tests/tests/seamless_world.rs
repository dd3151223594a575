//! The seamless world on a real cluster (every process the real binary): bots walking back
//! and forth across a border are handed between zones again and again, and a drained zone's
//! players move to another zone; the zones' own records prove that nobody was ever in two
//! zones at once and that no input was lost, and character-api holds what the bots last saw.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use cluster_tests::Cluster;
use cluster_tests::bot::{Bot, BotStats, Route};
use protocol::{AreaId, CharacterId};
use support::{
    Admin, Characters, start_cluster, stays_closed_and_nothing_lost, stop_cluster, wait_for,
};
use tokio::sync::watch;

mod support;

struct Players {
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    stats: Vec<Arc<BotStats>>,
    characters: Vec<CharacterId>,
}

async fn play(cluster: &Cluster, name: &str, count: usize, route: Route) -> Players {
    let (stop, stopped) = watch::channel(false);
    let mut players = Players {
        stop,
        tasks: Vec::new(),
        stats: Vec::new(),
        characters: Vec::new(),
    };
    for i in 0..count {
        let bot = Bot::create(cluster.bot_config(), &format!("{name}{i}"))
            .await
            .expect("a bot")
            .with_route(route);
        players.stats.push(bot.stats.clone());
        players.characters.push(bot.character.id);
        players.tasks.push(tokio::spawn(bot.play(stopped.clone())));
    }
    players
}

impl Players {
    async fn finish(self) -> (Vec<Arc<BotStats>>, Vec<CharacterId>) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
        }
        (self.stats, self.characters)
    }
}

/// Once every bot has stopped: the stays show one owner at a time and no input lost, and
/// what character-api holds is what each bot last saw.
async fn check_nothing_lost(cluster: &Cluster, stats: &[Arc<BotStats>], ids: &[CharacterId]) {
    let characters = Characters::new(cluster);
    let report = stays_closed_and_nothing_lost(cluster, ids).await;
    for (s, id) in stats.iter().zip(ids) {
        let seen = s.last_inventory().expect("an inventory was seen");
        let mut stored = None;
        wait_for("the last save", Duration::from_secs(15), async || {
            let Some(c) = characters.get(*id).await else {
                return false;
            };
            let same = c.inventory.coins == seen.coins && c.inventory.slots == seen.slots;
            stored = Some(c);
            same
        })
        .await;
        let stored = stored.expect("read");
        assert_eq!(stored.inventory.weapon, seen.weapon);
    }
    eprintln!(
        "stays: {} read, {} moves ({} handoffs), 0 double owners, 0 inputs lost",
        report.stays, report.moves, report.handoffs
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bots_crossing_a_border_again_and_again_are_in_one_zone_at_a_time_and_lose_nothing() {
    let cluster = start_cluster(2, 2).await;
    let players = play(&cluster, "runner", 4, Route::BorderRunner).await;
    wait_for(
        "every bot handed over at least 4 times",
        Duration::from_secs(150),
        async || {
            players
                .stats
                .iter()
                .all(|s| s.transfers.load(Ordering::Relaxed) >= 4)
        },
    )
    .await;
    // Both areas by the border have owners, given on demand.
    let areas = Admin::new(&cluster).areas().await.expect("areas");
    for area in [AreaId::new(0, 0), AreaId::new(1, 0)] {
        assert!(
            areas.iter().any(|a| a.area == area && a.zone.is_some()),
            "{area} has an owner"
        );
    }
    let (stats, ids) = players.finish().await;
    for s in &stats {
        // A refused attack or pickup (another bot was first) is play; anything else is not.
        let serious = s.serious_errors();
        assert!(serious.is_empty(), "Error packets: {serious:?}");
        assert_eq!(s.lost.load(Ordering::Relaxed), 0, "no connection lost");
    }
    let transfers: u64 = stats
        .iter()
        .map(|s| s.transfers.load(Ordering::Relaxed))
        .sum();
    let resent: u64 = stats.iter().map(|s| s.resent.load(Ordering::Relaxed)).sum();
    let refused: Vec<_> = stats.iter().flat_map(|s| s.error_packets()).collect();
    eprintln!(
        "{transfers} transfers followed, {resent} inputs resent after them; refused in play: {refused:?}"
    );
    check_nothing_lost(&cluster, &stats, &ids).await;
    stop_cluster(cluster).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn draining_a_zone_moves_its_players_who_play_on() {
    let cluster = start_cluster(2, 2).await;
    let players = play(&cluster, "drained", 3, Route::Roam).await;
    wait_for("every bot playing", Duration::from_secs(60), async || {
        players
            .stats
            .iter()
            .all(|s| s.inputs_acked.load(Ordering::Relaxed) >= 20)
    })
    .await;
    let admin = Admin::new(&cluster);
    let zones = async || admin.zones().await.expect("zones");
    let home = AreaId::new(0, 0);
    let old = zones()
        .await
        .into_iter()
        .find(|z| z.area == Some(home))
        .expect("the spawn area's zone")
        .zone;
    let drained = reqwest::Client::new()
        .post(format!("{}/v1/zones/{old}/drain", cluster.manager_url()))
        .bearer_auth(&cluster.secrets.admin_token)
        .send()
        .await
        .expect("drain");
    assert!(drained.status().is_success(), "{:?}", drained.text().await);
    wait_for(
        "the area with a new zone and the old one idle",
        Duration::from_secs(30),
        async || {
            let zones = zones().await;
            let new_owner = zones.iter().any(|z| z.area == Some(home) && z.zone != old);
            let old_idle = zones.iter().any(|z| z.zone == old && z.area.is_none());
            new_owner && old_idle
        },
    )
    .await;
    let acked: Vec<u64> = players
        .stats
        .iter()
        .map(|s| s.inputs_acked.load(Ordering::Relaxed))
        .collect();
    wait_for(
        "every bot playing on",
        Duration::from_secs(30),
        async || {
            players
                .stats
                .iter()
                .zip(&acked)
                .all(|(s, before)| s.inputs_acked.load(Ordering::Relaxed) >= before + 20)
        },
    )
    .await;
    let (stats, ids) = players.finish().await;
    for s in &stats {
        assert_eq!(s.transfers.load(Ordering::Relaxed), 1, "moved by Transfer");
        assert_eq!(s.lost.load(Ordering::Relaxed), 0, "never dropped");
        let serious = s.serious_errors();
        assert!(serious.is_empty(), "Error packets: {serious:?}");
    }
    check_nothing_lost(&cluster, &stats, &ids).await;
    stop_cluster(cluster).await;
}
