//! The web client (`web/`, served by the manager at `/play/`) in a real headless Chromium,
//! against a real cluster of the project's binaries:
//!
//! - its codec against the protocol's golden vectors (`web/test/vectors.json`, checked here
//!   against the Rust codec first, so both implementations are held to the same bytes);
//! - a player who logs in with the development login, chats (a bot hears it), picks an item
//!   up and hits an NPC by clicking them, walks east across the border of areas 0-0 and 1-0 by key presses,
//!   is transferred to the next zone and keeps walking; the test reads the client's state
//!   from its debug object (`window.zc`), saves a screenshot, and finds no console error;
//!   then that zone's process dies: the page shows it reconnecting and plays on.

mod browser;
mod support;

use std::path::PathBuf;
use std::time::Duration;

use browser::Browser;
use cluster_tests::{Cluster, ClusterOptions};
use protocol::AreaId;
use protocol::client::entity::{EntityDelta, EntityState};
use protocol::client::packets::ChatChannel;
use protocol::client::{ClientPacket, DecodeError, ServerPacket};
use protocol::content::ItemStack;
use serde_json::{Value, json};
use support::{Admin, RawClient, SERIAL, wait_for};

/// The vectors the JavaScript codec is tested with.
const VECTORS: &str = include_str!("../../web/test/vectors.json");

async fn start_cluster(zone_servers: usize, slots: u16, dev_login: bool) -> Cluster {
    tokio::task::spawn_blocking(move || {
        Cluster::start(ClusterOptions {
            zone_servers,
            slots,
            dev_login,
            ..ClusterOptions::default()
        })
    })
    .await
    .expect("join")
    .expect("the cluster starts")
}

fn hex_bytes(hex: &str) -> Vec<u8> {
    let clean: String = hex.split_whitespace().collect();
    (0..clean.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&clean[i..i + 2], 16).expect("hex"))
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

// ---------------------------------------------------------------------------- the vectors

/// A client packet as the JavaScript client writes it (`web/js/protocol.js`).
fn client_json(packet: &ClientPacket) -> Value {
    let mut v = match packet {
        ClientPacket::Hello(p) => {
            json!({ "ticket": p.ticket.to_string(), "protocol_version": p.protocol_version })
        }
        ClientPacket::Input(p) => json!({ "seq": p.seq, "move_x": p.move_x, "move_z": p.move_z,
            "running": p.running, "yaw": p.yaw }),
        ClientPacket::Attack(p) => json!({ "target": p.target.0 }),
        ClientPacket::Pickup(p) => json!({ "item": p.item.0 }),
        ClientPacket::UseItem(p) => json!({ "slot": p.slot }),
        ClientPacket::EquipItem(p) => json!({ "slot": p.slot }),
        ClientPacket::DropItem(p) => json!({ "slot": p.slot, "count": p.count }),
        ClientPacket::Chat(p) => json!({ "channel": p.channel as u8, "text": p.text }),
        ClientPacket::QuestList(_) => json!({}),
        ClientPacket::QuestAccept(p) => json!({ "quest": p.quest.0 }),
        ClientPacket::Ping(p) => json!({ "nonce": p.nonce }),
    };
    v["type"] = json!(packet.name());
    v
}

fn state_json(e: &EntityState) -> Value {
    json!({ "id": e.id.0, "kind": e.kind as u8, "type_id": e.type_id, "pos": e.pos,
        "yaw": e.yaw, "anim": e.anim as u8, "health": e.health, "name": e.name })
}

fn delta_json(d: &EntityDelta) -> Value {
    let mut v = json!({ "id": d.id.0 });
    let fields = [
        ("dx", d.dx.map(i64::from)),
        ("dy", d.dy.map(i64::from)),
        ("dz", d.dz.map(i64::from)),
        ("dyaw", d.dyaw.map(i64::from)),
        ("anim", d.anim.map(|a| a as i64)),
        ("health", d.health.map(i64::from)),
    ];
    for (name, value) in fields {
        if let Some(value) = value {
            v[name] = json!(value);
        }
    }
    v
}

fn stack_json(s: &Option<ItemStack>) -> Value {
    s.map_or(
        Value::Null,
        |s| json!({ "item": s.item.0, "count": s.count }),
    )
}

/// A server packet as the JavaScript client reads it (`web/js/protocol.js`).
fn server_json(packet: &ServerPacket) -> Value {
    let mut v = match packet {
        ServerPacket::Welcome(p) => json!({ "player": p.player.0,
            "character": p.character.to_string(), "area": [p.area.x, p.area.z],
            "tick_rate": p.tick_rate, "protocol_version": p.protocol_version, "tick": p.tick }),
        ServerPacket::Snapshot(p) => json!({ "tick": p.tick,
            "entities": p.entities.iter().map(state_json).collect::<Vec<_>>() }),
        ServerPacket::Delta(p) => json!({ "tick": p.tick, "baseline": p.baseline,
            "added": p.added.iter().map(state_json).collect::<Vec<_>>(),
            "updated": p.updated.iter().map(delta_json).collect::<Vec<_>>(),
            "removed": p.removed.iter().map(|e| e.0).collect::<Vec<_>>() }),
        ServerPacket::Inventory(p) => json!({ "coins": p.coins,
            "slots": p.slots.iter().map(stack_json).collect::<Vec<_>>(),
            "weapon": stack_json(&p.weapon) }),
        ServerPacket::Chat(p) => json!({ "from": p.from.0, "name": p.name,
            "channel": p.channel as u8, "text": p.text }),
        ServerPacket::Damage(p) => json!({ "source": p.source.0, "target": p.target.0,
            "amount": p.amount, "health": p.health }),
        ServerPacket::Death(p) => json!({ "entity": p.entity.0, "killer": p.killer.0 }),
        ServerPacket::Stats(p) => json!({ "health": p.health, "max_health": p.max_health,
            "level": p.level, "xp": p.xp }),
        ServerPacket::QuestLog(p) => json!({ "quests": p.quests.iter().map(|q| json!({
            "quest": q.quest.0, "status": q.status as u8, "counters": q.counters })).collect::<Vec<_>>() }),
        ServerPacket::QuestProgress(p) => json!({ "quest": p.quest.0, "objective": p.objective,
            "count": p.count, "required": p.required }),
        ServerPacket::QuestCompleted(p) => json!({ "quest": p.quest.0, "xp": p.xp,
            "coins": p.coins, "items": p.items.iter().map(|s| stack_json(&Some(*s))).collect::<Vec<_>>() }),
        ServerPacket::InputAck(p) => json!({ "seq": p.seq }),
        ServerPacket::Transfer(p) => json!({ "ws_url": p.ws_url, "ticket": p.ticket.to_string() }),
        ServerPacket::Error(p) => json!({ "code": p.code.0, "message": p.message }),
        ServerPacket::Pong(p) => json!({ "nonce": p.nonce }),
    };
    v["type"] = json!(packet.name());
    v
}

/// Every vector is what the Rust codec says: client and server packets decode, re-encode
/// to the same bytes (unless marked as a wider-than-needed encoding) and mean the fields
/// the JavaScript expectations name; malformed frames and unknown ids are refused.
fn check_vectors_against_the_rust_codec(vectors: &Value) -> usize {
    let mut checked = 0;
    for v in vectors["client"].as_array().unwrap() {
        let bytes = hex_bytes(v["hex"].as_str().unwrap());
        let packet = ClientPacket::decode(&bytes).unwrap_or_else(|e| panic!("{v}: {e}"));
        assert_eq!(hex(&packet.encode().unwrap()), hex(&bytes), "{}", v["name"]);
        assert_eq!(client_json(&packet), v["packet"], "{}", v["name"]);
        checked += 1;
    }
    for v in vectors["server"].as_array().unwrap() {
        let bytes = hex_bytes(v["hex"].as_str().unwrap());
        let packet = ServerPacket::decode(&bytes).unwrap_or_else(|e| panic!("{v}: {e}"));
        if v["canonical"] != false {
            assert_eq!(hex(&packet.encode().unwrap()), hex(&bytes), "{}", v["name"]);
        }
        assert_eq!(server_json(&packet), v["packet"], "{}", v["name"]);
        checked += 1;
    }
    for v in vectors["unknown"].as_array().unwrap() {
        let bytes = hex_bytes(v["hex"].as_str().unwrap());
        let id = u8::try_from(v["id"].as_u64().unwrap()).unwrap();
        assert_eq!(
            ServerPacket::decode(&bytes),
            Err(DecodeError::UnknownPacket(id))
        );
        checked += 1;
    }
    for v in vectors["malformed"].as_array().unwrap() {
        let bytes = hex_bytes(v["hex"].as_str().unwrap());
        assert!(ServerPacket::decode(&bytes).is_err(), "{}", v["name"]);
        checked += 1;
    }
    checked
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_javascript_codec_reads_and_writes_the_golden_vectors() {
    let vectors: Value = serde_json::from_str(VECTORS).expect("vectors.json is JSON");
    let checked = check_vectors_against_the_rust_codec(&vectors);

    let _serial = SERIAL.lock().await;
    let cluster = start_cluster(1, 1, false).await;
    let browser = Browser::start();
    let mut page = browser
        .open(&format!("{}/play/test/", cluster.manager_url()))
        .await;
    page.wait_until(
        "the tests to finish",
        Duration::from_secs(30),
        "!!(window.testResults && window.testResults.done)",
        "window.testResults || null",
    )
    .await;
    let results = page.eval("window.testResults").await;
    let failed = results["failed"].as_array().unwrap();
    assert!(failed.is_empty(), "JavaScript tests failed: {failed:#?}");
    let passed = results["passed"].as_array().unwrap().len();
    assert!(
        passed > checked,
        "{passed} JavaScript tests passed; the {checked} vectors and more were expected"
    );
    let errors = page.errors();
    assert!(errors.is_empty(), "console errors: {errors:#?}");
    drop(browser);
    support::stop_cluster(cluster).await;
}

// ---------------------------------------------------------------------------- playing

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
    let mut cluster = start_cluster(2, 1, true).await;
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
