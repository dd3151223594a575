//! The pool and the area map through the real NATS: registration, spawn areas, heartbeat
//! loss and reallocation, the old owner told it lost the area, the operator API (allocate,
//! release, drain, pool), idle release, area requests, and malformed messages.

mod support;

use std::time::Duration;

use protocol::cluster::{self, AreaOwner, ErrorKind, ManagerVerb, RegisterAck, Reply};
use protocol::http::Problem;
use protocol::{AreaId, Epoch};
use support::*;
use test_support::{NatsServer, wait_for, wait_ready};

const NO_CHARACTER_API: &str = "http://127.0.0.1:9";

async fn zones_json(url: &str) -> Vec<serde_json::Value> {
    admin_get(url, "/v1/zones")
        .await
        .as_array()
        .unwrap()
        .clone()
}

fn holders(zones: &[&StandInZone], area: AreaId) -> Vec<(protocol::ZoneId, Epoch)> {
    zones
        .iter()
        .filter_map(|z| match z.sim().holds() {
            Some((a, e)) if a == area => Some((z.id, e)),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn zones_register_and_spawn_areas_are_allocated() {
    let nats = NatsServer::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path(), &nats, NO_CHARACTER_API);
    config.spawn_areas = vec![AreaId::new(0, 0), AreaId::new(1, 0)];
    config.idle_buffer = Some(3);
    let manager = TestManager::start(config).await;
    let zones = [
        StandInZone::start(&nats, ZoneOptions::default()).await,
        StandInZone::start(&nats, ZoneOptions::default()).await,
        StandInZone::start(&nats, ZoneOptions::default()).await,
    ];
    wait_for("spawn areas allocated", Duration::from_secs(10), || async {
        area_map(&manager.url).await.len() == 2
    })
    .await;
    let map = area_map(&manager.url).await;
    let refs: Vec<&StandInZone> = zones.iter().collect();
    for area in [AreaId::new(0, 0), AreaId::new(1, 0)] {
        let h = holders(&refs, area);
        assert_eq!(h.len(), 1, "exactly one zone holds {area}: {h:?}");
        let (zone, epoch) = &map[&area.to_string()];
        assert_eq!(zone, &h[0].0.to_string());
        assert_eq!(*epoch, h[0].1.0);
    }
    // Registration told each zone the configured heartbeat interval.
    assert!(zones.iter().all(|z| z.sim().heartbeat_interval_ms == 200));
    wait_for("three zones listed", Duration::from_secs(5), || async {
        zones_json(&manager.url).await.len() == 3
    })
    .await;
    let pool = admin_get(&manager.url, "/v1/pool").await;
    assert_eq!(pool["idle"], 1);
    assert_eq!(pool["allocated"], 2);
    assert_eq!(pool["unhealthy"], 0);
    assert_eq!(pool["idle_buffer"], 3);
    assert_eq!(pool["scale_delta"], 2, "{pool}");
    // Every area of the 4x4 grid is listed, the free ones without an owner.
    let all = admin_get(&manager.url, "/v1/areas").await;
    assert_eq!(all.as_array().unwrap().len(), 16);
    manager.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_silent_zone_becomes_unhealthy_and_its_area_moves_under_a_higher_epoch() {
    let nats = NatsServer::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path(), &nats, NO_CHARACTER_API);
    let spawn = AreaId::new(0, 0);
    config.spawn_areas = vec![spawn];
    let manager = TestManager::start(config).await;
    let a = StandInZone::start(&nats, ZoneOptions::default()).await;
    let b = StandInZone::start(&nats, ZoneOptions::default()).await;
    wait_for("spawn area allocated", Duration::from_secs(10), || async {
        holders(&[&a, &b], spawn).len() == 1
    })
    .await;
    let (first_owner, first_epoch) = holders(&[&a, &b], spawn)[0];
    let (old, new) = if first_owner == a.id {
        (&a, &b)
    } else {
        (&b, &a)
    };

    // The owner stops heartbeating (hung, partitioned) but keeps its state.
    old.pause_heartbeats(true);
    wait_for(
        "area moved to the other zone",
        Duration::from_secs(10),
        || async { new.sim().holds().is_some_and(|(area, _)| area == spawn) },
    )
    .await;
    let (_, new_epoch) = new.sim().holds().unwrap();
    assert!(new_epoch > first_epoch, "{new_epoch:?} > {first_epoch:?}");
    let zones = zones_json(&manager.url).await;
    let old_info = zones
        .iter()
        .find(|z| z["zone"] == old.id.to_string())
        .unwrap();
    assert_eq!(old_info["state"], "unhealthy");
    let map = area_map(&manager.url).await;
    assert_eq!(map["0-0"], (new.id.to_string(), new_epoch.0));

    // It comes back still claiming the area under the old epoch: it is told it lost it.
    old.pause_heartbeats(false);
    wait_for("old owner told", Duration::from_secs(10), || async {
        !old.sim().lost.is_empty()
    })
    .await;
    let lost = old.sim().lost[0].clone();
    assert_eq!(lost.area, spawn);
    assert_eq!(lost.lost_epoch, first_epoch);
    assert_eq!(lost.new_owner, new.id);
    assert_eq!(lost.new_epoch, new_epoch);
    assert_eq!(old.sim().holds(), None);
    assert_eq!(holders(&[&a, &b], spawn).len(), 1, "no double owner");
    wait_for("old zone idle again", Duration::from_secs(5), || async {
        zones_json(&manager.url)
            .await
            .iter()
            .any(|z| z["zone"] == old.id.to_string() && z["state"] == "idle")
    })
    .await;
    assert_eq!(area_map(&manager.url).await["0-0"].0, new.id.to_string());
    manager.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_operator_api_needs_the_admin_token() {
    let nats = NatsServer::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let manager = TestManager::start(test_config(dir.path(), &nats, NO_CHARACTER_API)).await;
    let client = http();
    for (method, path) in [
        ("GET", "/v1/zones"),
        ("GET", "/v1/areas"),
        ("GET", "/v1/pool"),
        ("POST", "/v1/areas/1-1/allocate"),
        ("POST", "/v1/areas/1-1/release"),
        (
            "POST",
            "/v1/zones/7f1d2a52-2f6b-4a53-9d3a-3a4a3e6a7b10/drain",
        ),
    ] {
        for token in [None, Some("wrong")] {
            let mut req = client.request(method.parse().unwrap(), format!("{}{path}", manager.url));
            if let Some(t) = token {
                req = req.bearer_auth(t);
            }
            let res = req.send().await.unwrap();
            assert_eq!(res.status(), 401, "{method} {path} with {token:?}");
            assert_eq!(
                res.headers()["content-type"],
                protocol::http::problem::PROBLEM_CONTENT_TYPE
            );
            let p: Problem = res.json().await.unwrap();
            assert_eq!(p.status, 401);
        }
    }
    // Unknown paths and wrong methods are problems too.
    let res = client
        .get(format!("{}/nope", manager.url))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    assert_eq!(
        res.headers()["content-type"],
        protocol::http::problem::PROBLEM_CONTENT_TYPE
    );
    let res = client
        .get(format!("{}/v1/join", manager.url))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 405);
    manager.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn operators_allocate_release_and_drain() {
    let nats = NatsServer::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let manager = TestManager::start(test_config(dir.path(), &nats, NO_CHARACTER_API)).await;
    let zones = [
        StandInZone::start(&nats, ZoneOptions::default()).await,
        StandInZone::start(&nats, ZoneOptions::default()).await,
        StandInZone::start(&nats, ZoneOptions::default()).await,
    ];
    wait_for("zones registered", Duration::from_secs(5), || async {
        zones_json(&manager.url).await.len() == 3
    })
    .await;
    let refs: Vec<&StandInZone> = zones.iter().collect();

    // Allocate, then release.
    let res = admin_post(&manager.url, "/v1/areas/2-2/allocate").await;
    assert_eq!(res.status(), 200);
    let info: serde_json::Value = res.json().await.unwrap();
    let owner = info["zone"].as_str().unwrap().to_owned();
    assert_eq!(holders(&refs, AreaId::new(2, 2)).len(), 1);
    assert_eq!(holders(&refs, AreaId::new(2, 2))[0].0.to_string(), owner);
    let res = admin_post(&manager.url, "/v1/areas/2-2/release").await;
    assert_eq!(res.status(), 200);
    let info: serde_json::Value = res.json().await.unwrap();
    assert!(info["zone"].is_null(), "{info}");
    assert!(holders(&refs, AreaId::new(2, 2)).is_empty());
    let res = admin_post(&manager.url, "/v1/areas/2-2/release").await;
    assert_eq!(res.status(), 409, "releasing a free area");

    // Bad and unknown areas.
    assert_eq!(
        admin_post(&manager.url, "/v1/areas/x/allocate")
            .await
            .status(),
        400
    );
    assert_eq!(
        admin_post(&manager.url, "/v1/areas/9-9/allocate")
            .await
            .status(),
        404
    );

    // Drain: the area goes to an idle zone under a new epoch, then the old zone is told to
    // migrate to it.
    let res = admin_post(&manager.url, "/v1/areas/1-1/allocate").await;
    assert_eq!(res.status(), 200);
    let info: serde_json::Value = res.json().await.unwrap();
    let a_id = info["zone"].as_str().unwrap().to_owned();
    let a_epoch = info["epoch"].as_u64().unwrap();
    let a = zones.iter().find(|z| z.id.to_string() == a_id).unwrap();
    let res = admin_post(&manager.url, &format!("/v1/zones/{a_id}/drain")).await;
    assert_eq!(res.status(), 202);
    let started: serde_json::Value = res.json().await.unwrap();
    assert_eq!(started["zone"], a_id);
    assert_eq!(started["epoch"], a_epoch);
    let b_id = started["target_zone"].as_str().unwrap().to_owned();
    let b_epoch = started["target_epoch"].as_u64().unwrap();
    assert_ne!(a_id, b_id);
    assert!(b_epoch > a_epoch);
    wait_for("migrate received", Duration::from_secs(5), || async {
        !a.sim().migrates.is_empty()
    })
    .await;
    let m = a.sim().migrates[0].clone();
    assert_eq!(m.area, AreaId::new(1, 1));
    assert_eq!(m.epoch, Epoch(a_epoch));
    assert_eq!(m.target_zone.to_string(), b_id);
    assert_eq!(m.target_epoch, Epoch(b_epoch));
    let h = holders(&refs, AreaId::new(1, 1));
    assert_eq!(h.len(), 1);
    assert_eq!((h[0].0.to_string(), h[0].1.0), (b_id.clone(), b_epoch));
    assert_eq!(area_map(&manager.url).await["1-1"], (b_id, b_epoch));
    // The drained zone is idle again and was never sent LostArea.
    wait_for("drained zone idle", Duration::from_secs(5), || async {
        zones_json(&manager.url)
            .await
            .iter()
            .any(|z| z["zone"] == a_id && z["state"] == "idle")
    })
    .await;
    assert!(a.sim().lost.is_empty());

    // Draining an idle or unknown zone is refused.
    let res = admin_post(&manager.url, &format!("/v1/zones/{a_id}/drain")).await;
    assert_eq!(res.status(), 409);
    let res = admin_post(
        &manager.url,
        "/v1/zones/7f1d2a52-2f6b-4a53-9d3a-3a4a3e6a7b10/drain",
    )
    .await;
    assert_eq!(res.status(), 404);
    assert_eq!(
        admin_post(&manager.url, "/v1/zones/nope/drain")
            .await
            .status(),
        400
    );
    manager.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn without_an_idle_zone_allocation_is_503_with_retry_after() {
    let nats = NatsServer::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let manager = TestManager::start(test_config(dir.path(), &nats, NO_CHARACTER_API)).await;
    let _zone = StandInZone::start(&nats, ZoneOptions::default()).await;
    wait_for("zone registered", Duration::from_secs(5), || async {
        zones_json(&manager.url).await.len() == 1
    })
    .await;
    assert_eq!(
        admin_post(&manager.url, "/v1/areas/0-1/allocate")
            .await
            .status(),
        200
    );
    let res = admin_post(&manager.url, "/v1/areas/0-2/allocate").await;
    assert_eq!(res.status(), 503);
    assert_eq!(res.headers()["retry-after"], "2");
    let p: Problem = res.json().await.unwrap();
    assert_eq!(p.problem_type, "urn:zone-cluster:problem:no-idle-zone");
    manager.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn empty_areas_are_released_after_the_grace_time() {
    let nats = NatsServer::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path(), &nats, NO_CHARACTER_API);
    config.release_grace = Duration::from_millis(800);
    let manager = TestManager::start(config).await;
    let busy = StandInZone::start(&nats, ZoneOptions::default()).await;
    let empty = StandInZone::start(&nats, ZoneOptions::default()).await;
    wait_for("zones registered", Duration::from_secs(5), || async {
        zones_json(&manager.url).await.len() == 2
    })
    .await;
    busy.set_players(3);
    empty.set_players(0);
    for area in ["3-3", "3-2"] {
        assert_eq!(
            admin_post(&manager.url, &format!("/v1/areas/{area}/allocate"))
                .await
                .status(),
            200
        );
    }
    wait_for("empty area released", Duration::from_secs(10), || async {
        area_map(&manager.url).await.len() == 1
    })
    .await;
    // The one left is the one with players.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let map = area_map(&manager.url).await;
    assert_eq!(map.len(), 1, "{map:?}");
    assert_eq!(map.values().next().unwrap().0, busy.id.to_string());
    assert!(empty.sim().holds().is_none());
    assert_eq!(empty.sim().releases.len(), 1);
    manager.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn zones_request_areas_and_malformed_messages_get_error_replies() {
    let nats = NatsServer::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let manager = TestManager::start(test_config(dir.path(), &nats, NO_CHARACTER_API)).await;
    let asker = StandInZone::start(&nats, ZoneOptions::default()).await;
    let other = StandInZone::start(&nats, ZoneOptions::default()).await;
    wait_for("zones registered", Duration::from_secs(5), || async {
        zones_json(&manager.url).await.len() == 2
    })
    .await;
    let owner = asker
        .area_request("zc", AreaId::new(2, 1))
        .await
        .expect("area allocated");
    assert_eq!(owner.area, AreaId::new(2, 1));
    let (holder, _) = holders(&[&asker, &other], AreaId::new(2, 1))[0];
    assert_eq!(owner.zone, holder);
    // Asked again, the same owner (no new allocation).
    let again = asker.area_request("zc", AreaId::new(2, 1)).await.unwrap();
    assert_eq!(again, owner);
    let outside = asker.area_request("zc", AreaId::new(40, 40)).await;
    assert_eq!(outside.unwrap_err().kind, ErrorKind::NotFound);

    // Garbage on every manager subject: requests get a `malformed` error reply, publishes
    // are dropped, and the manager carries on.
    let s = asker.subjects().clone();
    let client = asker.client();
    let reply: Reply<RegisterAck> = raw_request(
        client,
        s.manager(ManagerVerb::Register),
        b"\x00garbage".to_vec(),
    )
    .await;
    assert_eq!(reply.unwrap_err().kind, ErrorKind::Malformed);
    let reply: Reply<AreaOwner> = raw_request(
        client,
        s.manager(ManagerVerb::AreaRequest),
        cluster::encode(&"nope"),
    )
    .await;
    assert_eq!(reply.unwrap_err().kind, ErrorKind::Malformed);
    let heartbeat = s.manager(ManagerVerb::Heartbeat);
    let positions = s.manager(ManagerVerb::Positions);
    let handoffs = s.manager(ManagerVerb::Handoffs);
    for subject in [heartbeat, positions, handoffs] {
        client
            .publish(subject, vec![0xc1, 0xff].into())
            .await
            .unwrap();
    }
    client.flush().await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    wait_ready(&manager.url).await;
    let metrics = get_text(&format!("{}/metrics", manager.url)).await;
    assert!(
        metrics.contains("manager_nats_malformed_total{subject=\"register\"}"),
        "{metrics}"
    );
    assert!(metrics.contains("manager_nats_malformed_total{subject=\"heartbeat\"}"));
    assert_eq!(zones_json(&manager.url).await.len(), 2);
    manager.stop().await;
}
