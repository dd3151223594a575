//! The manager restarts while zones keep running: the real binary is SIGKILLed and started
//! again on the same data dir. The area map comes back from heartbeats unchanged, no area
//! ever has two owners, nobody is told anything alarming, and epochs never repeat.

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use protocol::{AreaId, Epoch};
use support::*;
use test_support::{NatsServer, wait_for, wait_ready};

const NO_CHARACTER_API: &str = "http://127.0.0.1:9";

/// Which zone holds which area, according to the zones themselves; panics on a double
/// owner.
fn held(zones: &[StandInZone]) -> BTreeMap<String, (String, u64)> {
    let mut map = BTreeMap::new();
    for z in zones {
        if let Some((area, epoch)) = z.sim().holds() {
            let previous = map.insert(area.to_string(), (z.id.to_string(), epoch.0));
            assert!(previous.is_none(), "two zones hold {area}");
        }
    }
    map
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_killed_manager_comes_back_with_the_same_area_map() {
    let nats = NatsServer::start().unwrap();
    let logs = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let mut manager = manager_process(
        "manager",
        logs.path(),
        data.path(),
        &nats,
        NO_CHARACTER_API,
        &[("SPAWN_AREAS", "0-0,1-0,2-0")],
    );
    let url = format!("http://{}", manager.addr());
    wait_ready(&url).await;
    let mut zones = Vec::new();
    for _ in 0..6 {
        zones.push(StandInZone::start(&nats, ZoneOptions::default()).await);
    }
    wait_for("spawn areas allocated", Duration::from_secs(10), || async {
        area_map(&url).await.len() == 3
    })
    .await;
    assert_eq!(
        admin_post(&url, "/v1/areas/3-3/allocate").await.status(),
        200
    );
    let before = area_map(&url).await;
    assert_eq!(before.len(), 4);
    assert_eq!(before, held(&zones), "the map is what the zones hold");
    let max_epoch = before.values().map(|(_, e)| *e).max().unwrap();
    let allocations: Vec<usize> = zones.iter().map(|z| z.sim().allocations.len()).collect();

    // SIGKILL: no goodbye, no flush beyond what the manager did before answering.
    manager.kill();
    tokio::time::sleep(Duration::from_millis(500)).await;
    manager.restart().unwrap();
    wait_ready(&url).await;

    // Within a few seconds the map is rebuilt from heartbeats, identical; meanwhile no zone
    // ever shares an area with another one (held() checks on every poll).
    let started = Instant::now();
    wait_for("area map rebuilt", Duration::from_secs(5), || async {
        let _ = held(&zones);
        area_map(&url).await == before
    })
    .await;
    let rebuilt_in = started.elapsed();
    // Past the settle period, still the same (nothing reallocated the spawn areas).
    let until = Instant::now() + Duration::from_secs(2);
    while Instant::now() < until {
        assert_eq!(held(&zones), before);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(area_map(&url).await, before);
    for (z, n) in zones.iter().zip(&allocations) {
        let sim = z.sim();
        assert_eq!(sim.allocations.len(), *n, "no zone was allocated again");
        assert!(sim.lost.is_empty(), "no zone was told it lost its area");
        assert!(sim.releases.is_empty(), "no zone was released");
    }
    let pool = admin_get(&url, "/v1/pool").await;
    assert_eq!(
        (pool["allocated"].as_u64(), pool["idle"].as_u64()),
        (Some(4), Some(2))
    );

    // Epochs given out after the restart are above every epoch given out before.
    let res = admin_post(&url, "/v1/areas/2-2/allocate").await;
    assert_eq!(res.status(), 200);
    let info: serde_json::Value = res.json().await.unwrap();
    assert!(info["epoch"].as_u64().unwrap() > max_epoch);
    eprintln!("area map rebuilt {rebuilt_in:?} after the restart");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn epochs_never_repeat_across_kills() {
    let nats = NatsServer::start().unwrap();
    let logs = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let mut manager = manager_process(
        "manager",
        logs.path(),
        data.path(),
        &nats,
        NO_CHARACTER_API,
        &[("SPAWN_AREAS", ""), ("SETTLE", "0s")],
    );
    let url = format!("http://{}", manager.addr());
    wait_ready(&url).await;
    let zone = StandInZone::start(&nats, ZoneOptions::default()).await;
    let mut epochs = Vec::new();
    for round in 0..4 {
        wait_for("zone idle", Duration::from_secs(5), || async {
            admin_get(&url, "/v1/pool").await["idle"] == 1
        })
        .await;
        let res = admin_post(&url, "/v1/areas/1-2/allocate").await;
        assert_eq!(res.status(), 200, "round {round}");
        let info: serde_json::Value = res.json().await.unwrap();
        epochs.push(info["epoch"].as_u64().unwrap());
        assert_eq!(
            admin_post(&url, "/v1/areas/1-2/release").await.status(),
            200
        );
        // Killed right after using an epoch.
        manager.kill();
        manager.restart().unwrap();
        wait_ready(&url).await;
    }
    assert!(
        epochs.windows(2).all(|w| w[0] < w[1]),
        "epochs grow across kills: {epochs:?}"
    );
    assert_eq!(zone.sim().allocations.len(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_zones_claiming_one_area_keep_the_higher_epoch() {
    // As after a restart during which an Unhealthy zone's area was given away: both
    // zones report it; the later epoch wins and the other is told.
    let nats = NatsServer::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    // The epochs the zones hold were issued by this store before the restart.
    issue_epochs(dir.path(), 12).await;
    let mut config = test_config(dir.path(), &nats, NO_CHARACTER_API);
    config.spawn_areas = vec![AreaId::new(0, 0)];
    config.settle = Some(Duration::from_millis(1500));
    let manager = TestManager::start(config).await;
    let area = AreaId::new(0, 0);
    let old = StandInZone::start_holding(&nats, ZoneOptions::default(), area, Epoch(7)).await;
    let new = StandInZone::start_holding(&nats, ZoneOptions::default(), area, Epoch(12)).await;
    let idle = StandInZone::start(&nats, ZoneOptions::default()).await;
    wait_for("old owner told", Duration::from_secs(5), || async {
        !old.sim().lost.is_empty()
    })
    .await;
    let lost = old.sim().lost[0].clone();
    assert_eq!(
        (lost.lost_epoch, lost.new_owner, lost.new_epoch),
        (Epoch(7), new.id, Epoch(12))
    );
    assert_eq!(
        area_map(&manager.url).await["0-0"],
        (new.id.to_string(), 12)
    );
    // The settle period passes: the spawn area is held, so the idle zone stays idle.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(idle.sim().allocations.is_empty());
    assert!(new.sim().lost.is_empty());
    // New epochs start above what the zones reported.
    let res = admin_post(&manager.url, "/v1/areas/3-0/allocate").await;
    let info: serde_json::Value = res.json().await.unwrap();
    assert!(info["epoch"].as_u64().unwrap() > 12, "{info}");
    manager.stop().await;
}

/// Issues `n` epochs from the manager's store in `dir`, as an earlier run would have.
async fn issue_epochs(dir: &std::path::Path, n: usize) {
    let store = server_manager::store::EpochStore::open(dir, 16).unwrap();
    for _ in 0..n {
        store.next().await.unwrap();
    }
    store.flush().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_claim_on_an_epoch_never_issued_is_refused_and_cannot_push_the_counter() {
    let nats = NatsServer::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    issue_epochs(dir.path(), 3).await;
    let manager = TestManager::start(test_config(dir.path(), &nats, NO_CHARACTER_API)).await;
    let area = AreaId::new(1, 1);
    // A zone (with a zone's credentials) claims an area under an epoch nobody issued, as
    // a forged heartbeat did: `u64::MAX`, and one past the counter.
    let forged =
        StandInZone::start_holding(&nats, ZoneOptions::default(), area, Epoch(u64::MAX)).await;
    let also =
        StandInZone::start_holding(&nats, ZoneOptions::default(), AreaId::new(2, 2), Epoch(17))
            .await;
    wait_for(
        "the claims counted as refused",
        Duration::from_secs(5),
        || async {
            let response = reqwest::get(format!("{}/metrics", manager.url)).await;
            let text = response.unwrap().text().await.unwrap();
            test_support::metric(
                &text,
                "manager_nats_refused_total",
                &[("reason", "unissued_epoch")],
            ) >= 2.0
        },
    )
    .await;
    let map = area_map(&manager.url).await;
    assert!(
        !map.contains_key("1-1") && !map.contains_key("2-2"),
        "{map:?}"
    );
    // Epochs keep growing from the store, not from what was claimed.
    let idle = StandInZone::start(&nats, ZoneOptions::default()).await;
    wait_for(
        "the idle zone registered",
        Duration::from_secs(5),
        || async {
            admin_get(&manager.url, "/v1/zones")
                .await
                .as_array()
                .is_some_and(|zones| zones.iter().any(|z| z["state"] == "idle"))
        },
    )
    .await;
    let res = admin_post(&manager.url, "/v1/areas/3-0/allocate").await;
    let info: serde_json::Value = res.json().await.unwrap();
    let epoch = info["epoch"].as_u64().unwrap_or_else(|| panic!("{info}"));
    assert!(epoch > 3 && epoch < 100, "{info}");
    assert_eq!(idle.sim().allocations.len(), 1);
    drop((forged, also));
    manager.stop().await;
}
