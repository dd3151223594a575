//! End to end on a real cluster: every process is the real binary.

use std::sync::atomic::Ordering;
use std::time::Duration;

use cluster_tests::bot::Bot;
use cluster_tests::{Cluster, ClusterOptions};
use protocol::http::manager::AreaInfo;
use test_support::wait_for;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bots_join_through_the_manager_into_a_real_zone_and_play() {
    let cluster = tokio::task::spawn_blocking(|| Cluster::start(ClusterOptions::default()))
        .await
        .expect("join")
        .expect("the cluster starts");
    let config = cluster.bot_config();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut stats = Vec::new();
    let mut tasks = Vec::new();
    for i in 0..3 {
        let bot = Bot::create(config.clone(), &format!("e2e{i}"))
            .await
            .expect("a bot");
        stats.push(bot.stats.clone());
        tasks.push(tokio::spawn(bot.play(stopped.clone())));
    }
    wait_for(
        "every bot admitted and acknowledged",
        Duration::from_secs(30),
        async || {
            stats.iter().all(|s| {
                s.welcomes.load(Ordering::Relaxed) >= 1
                    && s.inputs_acked.load(Ordering::Relaxed) >= 20
            })
        },
    )
    .await;

    // The manager sees the spawn area owned by a real zone, with the bots in it.
    let http = reqwest::Client::new();
    let areas_url = format!("{}/v1/areas", cluster.manager_url());
    let token = cluster.secrets.admin_token.clone();
    wait_for(
        "the manager to count the players",
        Duration::from_secs(10),
        async || {
            let Ok(response) = http.get(&areas_url).bearer_auth(&token).send().await else {
                return false;
            };
            let areas: Vec<AreaInfo> = response.json().await.unwrap_or_default();
            areas.iter().any(|a| {
                a.area == protocol::AreaId::new(0, 0) && a.zone.is_some() && a.players == 3
            })
        },
    )
    .await;
    let dashboard = http
        .get(format!("{}/", cluster.manager_url()))
        .send()
        .await
        .expect("dashboard");
    assert!(dashboard.status().is_success());

    let _ = stop.send(true);
    for task in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
    }
    for s in &stats {
        // A refused attack or pickup (another bot was first) is play; anything else is not.
        let serious = s.serious_errors();
        assert!(
            serious.is_empty(),
            "a well-behaved bot gets no Error packets but these: {serious:?}"
        );
    }
    let mut cluster = cluster;
    tokio::task::spawn_blocking(move || cluster.stop())
        .await
        .expect("stopped");
}
