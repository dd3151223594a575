// The web client's codec and world tests, against the protocol's golden vectors
// (vectors.json): every client packet encodes to exactly the bytes the Rust codec makes,
// every server packet decodes to exactly the fields it means, malformed frames are refused,
// unknown packet ids are passed over, and the derived area content is the zone's. Results
// go on the page and into `window.testResults` (read by cluster-tests/tests/web_codec.rs
// in headless Chromium).

import { DecodeError, bytesHex, decodeServer, encodeClient, hexBytes, yawOf } from "../js/protocol.js";
import { Entities, OutOfStep } from "../js/entities.js";
import { Prediction } from "../js/prediction.js";
import { World } from "../js/world.js";

const results = { done: false, passed: [], failed: [] };
window.testResults = results;

function check(name, f) {
  try {
    f();
    results.passed.push(name);
  } catch (e) {
    results.failed.push({ name, error: String(e && e.message ? e.message : e) });
  }
}

function equal(actual, expected, what) {
  const a = JSON.stringify(actual);
  const b = JSON.stringify(expected);
  if (a !== b) throw new Error((what ? what + ": " : "") + "got " + a + ", expected " + b);
}

function sameF32(actual, expected, what) {
  if (actual !== Math.fround(expected)) throw new Error(what + ": got " + actual + ", expected " + expected);
}

function canonicalHex(hex) {
  return bytesHex(hexBytes(hex));
}

async function run() {
  const vectors = await (await fetch("vectors.json", { cache: "no-store" })).json();

  for (const v of vectors.client) {
    check("encode " + v.name, () => equal(bytesHex(encodeClient(v.packet)), canonicalHex(v.hex)));
  }
  for (const v of vectors.server) {
    check("decode " + v.name, () => equal(decodeServer(hexBytes(v.hex)), v.packet));
  }
  for (const v of vectors.unknown) {
    check("pass over " + v.name, () => equal(decodeServer(hexBytes(v.hex)), { type: "Unknown", id: v.id }));
  }
  for (const v of vectors.malformed) {
    check("refuse " + v.name, () => {
      try {
        decodeServer(hexBytes(v.hex));
      } catch (e) {
        if (e instanceof DecodeError) return;
        throw e;
      }
      throw new Error("decoded a malformed frame");
    });
  }

  for (const c of vectors.content) {
    check("derive the content of " + c.name, () => {
      const world = new World(c.grid);
      const content = world.content(c.area);
      equal([content.spawn.x, content.spawn.z], c.spawn, "spawn");
      equal(content.obstacles.length, c.obstacles, "obstacles");
      equal(content.npcHomes.length, c.npc_homes, "NPC homes");
      equal(content.resourceNodes.length, c.resource_nodes, "resource nodes");
      const box = (o, e, what) => {
        sameF32(o.x, e[0], what + " x");
        sameF32(o.z, e[1], what + " z");
        sameF32(o.halfX, e[2], what + " half x");
        sameF32(o.halfZ, e[3], what + " half z");
      };
      if (c.first_obstacle) box(content.obstacles[0], c.first_obstacle, "first obstacle");
      if (c.last_obstacle) box(content.obstacles[content.obstacles.length - 1], c.last_obstacle, "last obstacle");
      if (c.first_npc_home) {
        const n = content.npcHomes[0];
        sameF32(n.x, c.first_npc_home[0], "first NPC home x");
        sameF32(n.z, c.first_npc_home[1], "first NPC home z");
        equal(n.kind, c.first_npc_home[2], "first NPC home kind");
      }
      const last = content.resourceNodes[content.resourceNodes.length - 1];
      sameF32(last.x, c.last_resource_node[0], "last node x");
      sameF32(last.z, c.last_resource_node[1], "last node z");
      equal(last.item, c.last_resource_node[2], "last node item");
    });
  }

  check("grid arithmetic", () => {
    const world = new World(vectors.content[0].grid);
    equal(world.areaAt(127.9, 10), [0, 0]);
    equal(world.areaAt(128, 10), [1, 0]);
    equal(world.areaAt(-0.1, 10), null);
    equal(world.bounds([1, 2]), { minX: 128, minZ: 256, maxX: 256, maxZ: 384 });
  });

  check("yaw: 0 faces south, 64 east, 128 north", () => {
    equal([yawOf(0, 1), yawOf(1, 0), yawOf(0, -1), yawOf(-1, 0)], [0, 64, 128, 192]);
  });

  check("deltas apply by the rules of §6", () => {
    const table = new Entities();
    table.newConnection(20);
    const golden = (name) => vectors.server.find((v) => v.name === name).packet;
    table.snapshot(golden("Snapshot (golden)"), 0);
    table.delta(golden("Delta (golden)"), 50);
    equal(table.get(469762053).pos, [4096, 0, 2044], "moved north by 4 steps");
    equal(table.get(469762053).anim, 1, "walking");
    let refused = false;
    try {
      table.delta({ tick: 1003, baseline: 1000, added: [], updated: [], removed: [] }, 100);
    } catch (e) {
      refused = e instanceof OutOfStep;
    }
    equal(refused, true, "a delta on the wrong baseline is refused");
  });

  check("prediction replays what the zone has not acknowledged", () => {
    const world = new World(vectors.content[0].grid);
    const p = new Prediction(world);
    p.reconcile({ x: 64, z: 64 }, 0);
    const east = { x: 127, z: 0, running: false };
    const inputs = [p.next(east, 0), p.next(east, 50), p.next(east, 100)];
    equal(inputs.map((i) => i.seq), [1, 2, 3]);
    equal(Math.round(p.predicted.x * 100) / 100, 64.6, "three walking ticks of 0.2 m");
    p.ack(1);
    p.reconcile({ x: 64.2, z: 64 }, 120);
    equal(Math.round(p.predicted.x * 100) / 100, 64.6, "the same after the zone applied one");
    equal(p.pending().map((i) => i.seq), [2, 3]);
    equal(p.next({ x: 0, z: 0, running: false }, 150).move_x, 0, "one input to stop");
    equal(p.next({ x: 0, z: 0, running: false }, 200), null, "and no more while still");
  });

  results.done = true;
  const list = document.getElementById("results");
  for (const name of results.passed) list.append(item("pass", name));
  for (const f of results.failed) list.append(item("fail", f.name + ": " + f.error));
  document.getElementById("summary").textContent =
    results.passed.length + " passed, " + results.failed.length + " failed";
  document.body.dataset.done = results.failed.length ? "failed" : "passed";
}

function item(cls, text) {
  const li = document.createElement("li");
  li.className = cls;
  li.textContent = text;
  return li;
}

run().catch((e) => {
  results.failed.push({ name: "the test run", error: String(e) });
  results.done = true;
});
