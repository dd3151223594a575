//! The dashboard in a real headless Chromium, driven over the DevTools protocol: the page
//! loads without console errors or failed requests and shows the areas of a running
//! manager with stand-in zones (owners, an Unhealthy zone, player dots, a handoff).

mod support;

use std::time::{Duration, Instant};

use protocol::cluster::{self, HandoffEvent, ManagerVerb};
use protocol::{AreaId, CharacterId};
use serde_json::Value;
use support::*;
use test_support::browser::Browser;
use test_support::{NatsServer, wait_for};

const NO_CHARACTER_API: &str = "http://127.0.0.1:9";

const PAGE_STATE: &str = r##"JSON.stringify({
  ready: document.body.dataset.ready === "true",
  live: document.getElementById("conn").textContent,
  areas: Array.from(document.querySelectorAll("#world .area")).map(c => ({
    area: c.dataset.area, state: c.dataset.state, zone: c.dataset.zone, text: c.textContent,
    band: !c.querySelector(".band").hidden })),
  zones: Array.from(document.querySelectorAll("#zones tbody tr")).map(r => ({
    zone: r.dataset.zone, state: r.className })),
  dots: document.querySelectorAll("#dots .dot").length,
  handoffs: document.querySelectorAll("#handoffs li").length,
  pool: document.getElementById("pool").textContent
})"##;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_dashboard_shows_the_live_cluster_without_console_errors() {
    let nats = NatsServer::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path(), &nats, NO_CHARACTER_API);
    config.spawn_areas = vec![AreaId::new(0, 0), AreaId::new(2, 1)];
    let manager = TestManager::start(config).await;
    let options = ZoneOptions {
        sample_players: 3,
        ..ZoneOptions::default()
    };
    let mut zones = Vec::new();
    for _ in 0..4 {
        zones.push(StandInZone::start(&nats, options.clone()).await);
    }
    wait_for("spawn areas allocated", Duration::from_secs(10), || async {
        area_map(&manager.url).await.len() == 2
    })
    .await;
    let map = area_map(&manager.url).await;
    // One idle zone goes silent: Unhealthy, and marked so on the page.
    let silent = zones.iter().find(|z| z.sim().holds().is_none()).unwrap();
    silent.pause_heartbeats(true);
    wait_for("a zone unhealthy", Duration::from_secs(5), || async {
        admin_get(&manager.url, "/v1/pool").await["unhealthy"] == 1
    })
    .await;

    let browser = Browser::start();
    let mut cdp = browser.open(&format!("{}/", manager.url)).await;

    // A handoff happens while the page is open.
    let handoff = HandoffEvent {
        character: CharacterId::new_random(),
        from: AreaId::new(0, 0),
        to: AreaId::new(1, 0),
        at: service_kit::time::now_millis(),
    };
    let s = silent.subjects().clone();
    let deadline = Instant::now() + Duration::from_secs(15);
    let page = loop {
        let state: Value =
            serde_json::from_str(cdp.eval(PAGE_STATE).await.as_str().unwrap_or("{}"))
                .unwrap_or(Value::Null);
        let complete = state["ready"] == true
            && state["live"] == "live"
            && state["dots"].as_u64().unwrap_or(0) >= 3
            && state["handoffs"].as_u64().unwrap_or(0) >= 1
            && state["zones"]
                .as_array()
                .is_some_and(|z| z.iter().any(|z| z["state"] == "unhealthy"));
        if complete {
            break state;
        }
        assert!(
            Instant::now() < deadline,
            "the page never showed the cluster: {state:#}\nerrors: {:#?}",
            cdp.errors()
        );
        if state["live"] == "live" {
            silent
                .client()
                .publish(
                    s.manager(ManagerVerb::Handoffs),
                    cluster::encode(&handoff).into(),
                )
                .await
                .unwrap();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };

    // Every area of the 4x4 grid, the spawn areas owned by the zones the manager says.
    let areas = page["areas"].as_array().unwrap();
    assert_eq!(areas.len(), 16);
    for cell in areas {
        let key = cell["area"].as_str().unwrap();
        match map.get(key) {
            Some((zone, epoch)) => {
                assert_eq!(cell["state"], "allocated", "{cell}");
                assert_eq!(cell["zone"], zone.as_str());
                let text = cell["text"].as_str().unwrap();
                assert!(text.contains(&zone[..8]) && text.contains(&format!("epoch {epoch}")));
                // Its border band, and the ghosts its zone shows.
                assert_eq!(cell["band"], true, "{cell}");
                assert!(text.contains("5 ghosts"), "{cell}");
                // How crowded it is: arrivals refused as full, held at its borders, its
                // clock slowed.
                for shown in ["full · 3 refused/s", "time 60 %", "2 held at border"] {
                    assert!(text.contains(shown), "{shown}: {cell}");
                }
            }
            None => {
                assert_eq!(cell["state"], "free", "{cell}");
                assert_eq!(cell["band"], false, "{cell}");
            }
        }
    }
    let unhealthy: Vec<_> = page["zones"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|z| z["state"] == "unhealthy")
        .collect();
    assert_eq!(unhealthy.len(), 1);
    assert_eq!(unhealthy[0]["zone"], silent.id.to_string());
    assert!(page["pool"].as_str().unwrap().contains("unhealthy 1"));

    // Let the page run a little longer (reconnects, timers), then: no errors at all.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    cdp.eval("1").await;
    let errors = cdp.errors();
    assert!(errors.is_empty(), "console errors: {errors:#?}");
    drop(browser);
    manager.stop().await;
}
