//! The web client (`web/`, served by the manager at `/play/`) played in a real headless
//! Chromium against a real cluster of the project's binaries: a player logs in with the
//! development login, chats (a bot hears it), picks an item up and hits an NPC by clicking
//! them, walks east across the border of areas 0-0 and 1-0 by key presses, is transferred
//! to the next zone and keeps walking; the test reads the client's state from its debug
//! object (`window.zc`), saves a screenshot and finds no console error; then that zone's
//! process dies, and the page shows it reconnecting and plays on.

mod support;

use std::path::PathBuf;
use std::time::Duration;

use cluster_tests::{Cluster, ClusterOptions};
use protocol::AreaId;
use protocol::client::ServerPacket;
use protocol::client::packets::ChatChannel;
use serde_json::json;
use support::{Admin, RawClient, SERIAL, wait_for};
use test_support::browser::{self, Browser};

/// What the test prints when a wait times out.
const STATE: &str = r#"(() => window.zc ? ({ phase: zc.phase, me: zc.me, area: zc.area,
  position: zc.position(), session: zc.session, errors: zc.errors, chat: zc.chat,
  inventory: zc.inventory, pickedUp: zc.pickedUp, hits: zc.hits, unacked: zc.unacked,
  banner: document.getElementById("banner").textContent,
  login: document.getElementById("login-error").textContent }) : null)()"#;

/// The x the client shows its player at (the zone's word).
async fn server_x(page: &mut browser::Page) -> f64 {
    page.eval("zc.position().server.x").await.as_f64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_player_in_the_browser_chats_picks_up_fights_crosses_into_the_next_zone_and_reconnects() {
    // Two zone-servers of one zone each: area 0-0 on one, area 1-0 on the other once the
    // player crosses (so the transfer goes to another process, allocated on demand).
    let _serial = SERIAL.lock().await;
    let mut cluster = tokio::task::spawn_blocking(|| {
        Cluster::start(ClusterOptions {
            zone_servers: 2,
            slots: 1,
            dev_login: true,
            ..ClusterOptions::default()
        })
    })
    .await
    .expect("join")
    .expect("the cluster starts");
    let config = support::bot_config(&cluster);

    // A bot standing at the spawn point, listening.
    let (listener_character, token) = support::create_character(&config, "Listener").await;
    let join = support::join_until(
        &config,
        &token,
        listener_character.id,
        Duration::from_secs(20),
    )
    .await;
    let mut listener = RawClient::connect(&join.zone_url).await;
    assert!(listener.hello(join.ticket).await);
    let welcomed = listener
        .until(Duration::from_secs(10), |p| {
            matches!(p, ServerPacket::Welcome(_)).then_some(())
        })
        .await;
    assert!(welcomed.is_some(), "the listening bot was admitted");

    // The page loads, the player logs in with a name.
    let browser = Browser::start();
    let mut page = browser
        .open(&format!("{}/play/", cluster.manager_url()))
        .await;
    page.wait_until(
        "the login form",
        Duration::from_secs(15),
        r#"document.body.dataset.ready === "true" && !document.getElementById("login").hidden"#,
        "document.body.outerHTML.slice(0, 2000)",
    )
    .await;
    page.eval(r#"document.getElementById("dev-name").focus()"#)
        .await;
    page.type_text("Webby").await;
    page.enter().await;
    page.wait_until(
        "the player in the game",
        Duration::from_secs(20),
        r#"zc.phase === "playing" && zc.me !== null && zc.position().server !== null && zc.unacked === 0"#,
        STATE,
    )
    .await;
    assert_eq!(page.eval("zc.area").await, json!([0, 0]));

    // A chat line on the area channel: the bot hears it, and so does the sender.
    let line = "hello from the browser";
    page.eval(
        r#"document.getElementById("chat-channel").value = "1";
           document.getElementById("chat-text").focus()"#,
    )
    .await;
    page.type_text(line).await;
    page.enter().await;
    let heard = listener
        .until(Duration::from_secs(10), |p| match p {
            ServerPacket::Chat(c) if c.text == line => Some(c.clone()),
            _ => None,
        })
        .await
        .expect("the bot heard the player's chat line");
    assert_eq!(heard.name, "Webby");
    assert_eq!(heard.channel, ChatChannel::Area);
    page.wait_until(
        "the player's own line in the chat",
        Duration::from_secs(5),
        &format!("zc.chat.some(c => c.text === {line:?} && c.name === \"Webby\")"),
        STATE,
    )
    .await;

    // Click the nearest ground item: the client walks there and picks it up.
    page.wait_until(
        "a ground item in sight",
        Duration::from_secs(20),
        "zc.entities().some(e => e.kind === 2)",
        STATE,
    )
    .await;
    let item = page
        .eval(
            r#"(() => { const me = zc.position().server;
                 const items = zc.entities().filter(e => e.kind === 2)
                   .sort((a, b) => Math.hypot(a.x - me.x, a.z - me.z) - Math.hypot(b.x - me.x, b.z - me.z));
                 return items[0].id; })()"#,
        )
        .await;
    let at = page.eval(&format!("zc.clickPoint({item})")).await;
    page.click(at["x"].as_f64().unwrap(), at["y"].as_f64().unwrap())
        .await;
    page.wait_until(
        "the item picked up",
        Duration::from_secs(20),
        "zc.pickedUp >= 1 && zc.inventory.slots.some(s => s !== null)",
        STATE,
    )
    .await;

    // Click the nearest living NPC: the client closes in and hits it.
    let npc = page
        .eval(
            r#"(() => { const me = zc.position().server;
                 const npcs = zc.entities().filter(e => e.kind === 1 && e.anim !== 4)
                   .sort((a, b) => Math.hypot(a.x - me.x, a.z - me.z) - Math.hypot(b.x - me.x, b.z - me.z));
                 return npcs.length ? npcs[0].id : null; })()"#,
        )
        .await;
    let at = page.eval(&format!("zc.clickPoint({npc})")).await;
    page.click(at["x"].as_f64().unwrap(), at["y"].as_f64().unwrap())
        .await;
    page.wait_until(
        "the NPC hit",
        Duration::from_secs(20),
        "zc.hits >= 1",
        STATE,
    )
    .await;

    // Run east (Shift+D held) across the border into area 1-0: handed over to the other
    // zone-server, the player keeps running there.
    page.key(true, "ShiftLeft", "Shift", true).await;
    page.key(true, "KeyD", "d", true).await;
    page.wait_until(
        "the player transferred into area 1-0",
        Duration::from_secs(45),
        r#"zc.session.transfers >= 1 && zc.area && zc.area[0] === 1 && zc.phase === "playing"
           && zc.position().server !== null"#,
        STATE,
    )
    .await;
    let crossed_at = server_x(&mut page).await;
    assert!(
        crossed_at >= 126.0,
        "the player crossed at x = {crossed_at}"
    );
    page.wait_until(
        "the player running on in the next zone",
        Duration::from_secs(10),
        &format!("zc.position().server.x > {}", crossed_at + 6.0),
        STATE,
    )
    .await;
    page.key(false, "KeyD", "d", true).await;
    page.key(false, "ShiftLeft", "Shift", false).await;
    page.wait_until(
        "the player standing, prediction and zone agreeing",
        Duration::from_secs(5),
        r#"(() => { const p = zc.position(); return zc.unacked === 0 &&
             Math.hypot(p.server.x - p.predicted.x, p.server.z - p.predicted.z) < 0.5; })()"#,
        STATE,
    )
    .await;

    // The player is on the other process, the one the manager gave area 1-0.
    let admin = Admin::new(&cluster);
    let mut owners = (None, None);
    wait_for("both areas owned", Duration::from_secs(5), async || {
        owners = (
            admin.owner(AreaId::new(0, 0)).await,
            admin.owner(AreaId::new(1, 0)).await,
        );
        owners.0.is_some() && owners.1.is_some()
    })
    .await;
    let (west, east) = (owners.0.unwrap(), owners.1.unwrap());
    assert_ne!(west.ws_url, east.ws_url, "the areas are on two processes");
    assert_eq!(page.eval("zc.zoneUrl").await, json!(east.ws_url));

    // Seamless: one join, one transfer, never a lost connection or a serious error.
    let session = page.eval("zc.session").await;
    assert_eq!(session["joins"], 1, "{session}");
    assert_eq!(session["lost"], 0, "{session}");
    let errors = page
        .eval("zc.errors.filter(e => e.name !== \"REJECTED\")")
        .await;
    assert_eq!(errors, json!([]), "the zones sent errors");

    let shot = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("web-client/play.png");
    page.screenshot(&shot).await;
    let size = std::fs::metadata(&shot).expect("a screenshot").len();
    assert!(size > 10_000, "the screenshot is only {size} bytes");
    eprintln!("screenshot: {}", shot.display());

    // Let the page run a little longer (timers, pings, the overlay), then: no errors.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    page.eval("1").await;
    let console = page.errors();
    assert!(console.is_empty(), "console errors: {console:#?}");

    // The zone-server of area 1-0 dies and comes back (as a new, idle zone): the page says
    // it lost the connection and is retrying, backs off, and plays on once the manager has
    // given the area to a zone again, from the player's last saved state. (No console
    // check from here on: the browser logs every refused join as a failed load.)
    let victim = support::zone_process_of(&cluster, &east.ws_url).expect("the east process");
    cluster.zones[victim].kill();
    page.wait_until(
        "the page showing the lost connection",
        Duration::from_secs(10),
        r#"zc.phase === "reconnecting" &&
           document.getElementById("banner").textContent.includes("reconnecting")"#,
        STATE,
    )
    .await;
    page.screenshot(&shot.with_file_name("reconnecting.png"))
        .await;
    tokio::task::block_in_place(|| cluster.zones[victim].restart()).expect("restarted");
    page.wait_until(
        "the player back in play",
        Duration::from_secs(60),
        r#"zc.phase === "playing" && zc.session.lost >= 1 && zc.session.joins >= 2"#,
        STATE,
    )
    .await;

    drop(browser);
    drop(listener);
    support::stop_cluster(cluster).await;
}
