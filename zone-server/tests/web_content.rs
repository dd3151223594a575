//! The web client derives each area's static content (obstacles, NPC homes, resource
//! nodes) from the area's id exactly as the zones do (docs/PROTOCOL.md §14), and its tests
//! pin that derivation with numbers in `web/test/vectors.json`. This test holds the zone's
//! generator to the same numbers, so a change to `sim/content.rs` cannot leave the browser
//! drawing obstacles the zone does not have.

use protocol::{AreaId, WorldGrid};
use serde_json::Value;
use zone_server::sim::content::{AreaContent, Obstacle};

const VECTORS: &str = include_str!("../../web/test/vectors.json");

fn f32s(v: &Value) -> Vec<f32> {
    v.as_array()
        .expect("an array")
        .iter()
        .map(|n| n.as_f64().expect("a number") as f32)
        .collect()
}

fn close(a: &[f32], b: &[f32], what: &str) {
    assert_eq!(a.len(), b.len(), "{what}");
    for (x, y) in a.iter().zip(b) {
        assert!(
            (x - y).abs() <= 1e-4 * x.abs().max(1.0),
            "{what}: {a:?} vs {b:?}"
        );
    }
}

fn obstacle(o: &Obstacle) -> Vec<f32> {
    vec![o.centre.x, o.centre.z, o.half_x, o.half_z]
}

#[test]
fn the_zones_area_content_is_what_the_web_clients_vectors_say() {
    let vectors: Value = serde_json::from_str(VECTORS).expect("vectors.json is JSON");
    let cases = vectors["content"].as_array().expect("content cases");
    assert!(!cases.is_empty());
    for case in cases {
        let name = case["name"].as_str().unwrap_or("a case");
        let grid: WorldGrid = serde_json::from_value(case["grid"].clone()).expect("a grid");
        let area = f32s(&case["area"]);
        let area = AreaId::new(area[0] as u16, area[1] as u16);
        let content = AreaContent::generate(area, &grid);
        let spawn = [content.player_spawn.x, content.player_spawn.z];
        close(&spawn, &f32s(&case["spawn"]), name);
        let count = |key: &str| case[key].as_u64().expect("a count") as usize;
        assert_eq!(content.obstacles.len(), count("obstacles"), "{name}");
        assert_eq!(content.npc_spawns.len(), count("npc_homes"), "{name}");
        assert_eq!(
            content.resource_nodes.len(),
            count("resource_nodes"),
            "{name}"
        );
        // A case lists `null` where there is none (the counts above say so).
        let listed = |key: &str| (!case[key].is_null()).then(|| f32s(&case[key]));
        if let (Some(first), Some(o)) = (listed("first_obstacle"), content.obstacles.first()) {
            close(&obstacle(o), &first, name);
        }
        if let (Some(last), Some(o)) = (listed("last_obstacle"), content.obstacles.last()) {
            close(&obstacle(o), &last, name);
        }
        if let (Some(home), Some(h)) = (listed("first_npc_home"), content.npc_spawns.first()) {
            close(
                &[h.position.x, h.position.z, f32::from(h.kind.0)],
                &home,
                name,
            );
        }
        if let (Some(node), Some(n)) = (listed("last_resource_node"), content.resource_nodes.last())
        {
            close(
                &[n.position.x, n.position.z, f32::from(n.item.0)],
                &node,
                name,
            );
        }
    }
}
