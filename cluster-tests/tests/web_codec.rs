//! The web client's codec (`web/js/protocol.js`, `web/js/msgpack.js`) against the
//! protocol's golden vectors (`web/test/vectors.json`): each vector is first checked against
//! the Rust codec (same bytes, same meaning), then the client's own tests (`web/test/`, as
//! served by the manager at `/play/test/`) run on them in a real headless Chromium.

use std::time::Duration;

use cluster_tests::{Cluster, ClusterOptions};
use protocol::client::entity::{EntityDelta, EntityState};
use protocol::client::{ClientPacket, DecodeError, ServerPacket};
use protocol::content::ItemStack;
use serde_json::{Value, json};
use test_support::browser::Browser;

/// The vectors the JavaScript codec is tested with.
const VECTORS: &str = include_str!("../../web/test/vectors.json");

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
        ServerPacket::TimeRate(p) => json!({ "permille": p.permille }),
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

    let mut cluster = tokio::task::spawn_blocking(|| {
        Cluster::start(ClusterOptions {
            zone_servers: 1,
            slots: 1,
            ..ClusterOptions::default()
        })
    })
    .await
    .expect("join")
    .expect("the cluster starts");
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
    tokio::task::spawn_blocking(move || cluster.stop())
        .await
        .expect("stopped");
}
