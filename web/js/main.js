// The web client's wiring: login (the cluster's development login, or a token from the
// game's identity provider), the session with its zones, the prediction of the player's
// own movement, the entity table, the canvas and the panels, and one input per zone tick.
//
// `window.zc` exposes the client's state for the curious and for the end-to-end test in
// headless Chromium (cluster-tests/tests/web_client.rs): read-only views, plus where to
// click to target an entity.

import { Controls } from "./controls.js";
import { Entities, OutOfStep } from "./entities.js";
import { Panels } from "./panels.js";
import { Prediction, UNACKED_MOST } from "./prediction.js";
import { AnimState, ERRORS, EntityKind, RULES, metres } from "./protocol.js";
import { Renderer } from "./render.js";
import { Session } from "./session.js";
import { World } from "./world.js";

const $ = (id) => document.getElementById(id);
const STORAGE_KEY = "zone-cluster.login";
const CLUSTER_EVERY_MS = 2000;
/** Chat lines and errors kept for `window.zc` (the page shows as many). */
const KEPT = 100;

function keep(list, item) {
  list.push(item);
  if (list.length > KEPT) list.shift();
}

async function getJson(url, init) {
  const res = await fetch(url, init);
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(body.detail || res.status + " " + res.statusText);
  return body;
}

async function start() {
  const world = new World(await getJson("../v1/world"));
  const entities = new Entities();
  const prediction = new Prediction(world);
  const renderer = new Renderer($("view"), world);
  const controls = new Controls($("view"), (x, y) => renderer.pick(x, y));
  const game = {
    me: null,
    area: null,
    tick: null,
    stats: null,
    inventory: null,
    chat: [],
    errors: [],
    cluster: null,
    owners: new Map(),
    lastAttack: 0,
    pickedUp: 0,
    hits: 0,
    tickRate: 20,
    /** The zone's clock against real time, per mille (time dilation). */
    timeRate: 1000,
  };

  const panels = new Panels({
    use: (slot) => session.send({ type: "UseItem", slot }),
    equip: (slot) => session.send({ type: "EquipItem", slot }),
    drop: (slot, count) => session.send({ type: "DropItem", slot, count }),
    accept: (quest) => session.send({ type: "QuestAccept", quest }),
    chat: (channel, text) => session.send({ type: "Chat", channel, text }),
    logout: () => {
      localStorage.removeItem(STORAGE_KEY);
      session.stop();
      panels.showLogin(true);
    },
  });

  const session = new Session({
    onPhase: (p) => {
      panels.phase(p);
      if (p.name === "login" && p.detail) {
        localStorage.removeItem(STORAGE_KEY);
        panels.showLogin(true, p.detail);
      }
    },
    onPacket: (p, connection) => receive(p, connection),
  });

  function play(login) {
    localStorage.setItem(STORAGE_KEY, JSON.stringify(login));
    $("who").textContent = login.name || login.character_id.slice(0, 8);
    panels.showLogin(false);
    session.start(login);
  }

  function receive(p, connection) {
    const now = performance.now();
    switch (p.type) {
      case "Welcome":
        game.me = p.player;
        game.area = p.area;
        entities.newConnection(p.tick_rate);
        game.tickRate = p.tick_rate;
        game.timeRate = 1000;
        prediction.tickMs = 1000 / p.tick_rate;
        prediction.stepSeconds = 1 / p.tick_rate;
        // A fresh join starts from the saved state: inputs are numbered from 1 again.
        if (connection.how === "join") prediction.reset();
        else panels.system("Crossed into area " + p.area[0] + "-" + p.area[1]);
        session.send({ type: "QuestList" });
        break;
      case "InputAck":
        prediction.ack(p.seq);
        if (!connection.ready) {
          // The zone's first ack says what it has applied: resend the rest (after a
          // transfer), and only then send anything new (PROTOCOL.md §9).
          connection.ready = true;
          for (const input of prediction.pending()) session.send(input);
        }
        break;
      case "Snapshot":
        entities.snapshot(p, now);
        game.tick = p.tick;
        reconcile(now);
        break;
      case "Delta":
        try {
          entities.delta(p, now);
        } catch (e) {
          if (!(e instanceof OutOfStep)) throw e;
          return session.drop(e.message);
        }
        game.tick = p.tick;
        reconcile(now);
        break;
      case "Inventory":
        if (game.inventory && countItems(p) > countItems(game.inventory)) game.pickedUp++;
        game.inventory = p;
        panels.inventory(p);
        break;
      case "Stats":
        game.stats = p;
        panels.stats(p);
        break;
      case "Chat":
        keep(game.chat, { name: p.name, channel: p.channel, text: p.text });
        panels.chat(p);
        break;
      case "Damage": {
        if (p.source === game.me) game.hits++;
        const target = entities.drawn(p.target, now);
        if (target) renderer.float(target.x, target.z, "−" + p.amount, p.target === game.me ? "#ff8a80" : "#ffe082");
        break;
      }
      case "Death":
        if (p.entity === game.me) panels.system("You died; you will respawn.");
        break;
      case "QuestLog":
        panels.questLog(p);
        break;
      case "QuestProgress":
        panels.questProgress(p);
        break;
      case "QuestCompleted":
        panels.questCompleted(p);
        break;
      case "Transfer":
        panels.system("Handed over to the next zone…");
        break;
      case "TimeRate": {
        // The zone slowed (or restored) its clock: its ticks, and so this client's inputs
        // and interpolation, come at the dilated pace; a tick still moves as far.
        game.timeRate = p.permille;
        const tickMs = 1000 / ((game.tickRate * p.permille) / 1000);
        prediction.tickMs = tickMs;
        entities.retime(tickMs);
        panels.system(p.permille === 1000 ? "Time runs normally again." : "The zone is crowded: time runs at " + p.permille / 10 + " %.");
        break;
      }
      case "Error": {
        const name = ERRORS[p.code] || "error " + p.code;
        keep(game.errors, { code: p.code, name, message: p.message });
        panels.system(name + ": " + p.message);
        break;
      }
      default:
        break;
    }
  }

  function countItems(inv) {
    return inv.slots.reduce((n, s) => n + (s ? s.count : 0), 0) + (inv.weapon ? 1 : 0);
  }

  /** The zone's view of this player just changed: restart the prediction from it. */
  function reconcile(now) {
    const me = entities.get(game.me);
    if (me) prediction.reconcile(metres(me.pos), now);
  }

  // One input per zone tick: the keys' stick, or the way to a clicked target.
  let inputTimer = null;
  function clientTick() {
    const connection = session.connection;
    if (!connection || !connection.ready) return;
    // At most a second of inputs unacknowledged (PROTOCOL.md §10): a zone that stalled
    // is not sent a backlog it would refuse as a flood when it resumes.
    if (prediction.unacked.length >= UNACKED_MOST) return;
    const now = performance.now();
    let stick = controls.stick();
    const id = controls.target && controls.target.id;
    const target = id !== null && entities.get(id);
    // A target gone from sight, or dead, is no target any more.
    if (!target || target.anim === AnimState.DEAD) {
      controls.target = null;
    } else if (stick.x === 0 && stick.z === 0 && prediction.predicted) {
      const at = metres(target.pos);
      const distance = Math.hypot(at.x - prediction.predicted.x, at.z - prediction.predicted.z);
      const reach = target.kind === EntityKind.ITEM ? RULES.pickupReach : RULES.attackRange;
      if (distance > reach * 0.85) {
        stick = Controls.toward(prediction.predicted, at);
      } else if (target.kind === EntityKind.ITEM) {
        session.send({ type: "Pickup", item: id });
        controls.target = null;
      } else if (now - game.lastAttack >= RULES.attackCooldownMs) {
        session.send({ type: "Attack", target: id });
        game.lastAttack = now;
      }
    }
    const input = prediction.next(stick, now);
    if (input) session.send(input);
  }
  function restartClock() {
    clearInterval(inputTimer);
    inputTimer = setInterval(clientTick, prediction.tickMs);
  }
  restartClock();
  let clockMs = prediction.tickMs;

  // The cluster overlay, from the manager's dashboard state.
  async function refreshCluster() {
    try {
      game.cluster = await getJson("../v1/dashboard/state");
      game.owners = new Map(game.cluster.areas.map((a) => [a.area.x + "-" + a.area.z, a.zone.slice(0, 8)]));
      panels.cluster(game.cluster, game.area);
    } catch {
      // The overlay waits for the manager like everything else; nothing to show meanwhile.
    }
  }
  refreshCluster();
  setInterval(refreshCluster, CLUSTER_EVERY_MS);

  let lastFrame = performance.now();
  function frame(now) {
    const dt = now - lastFrame;
    lastFrame = now;
    if (clockMs !== prediction.tickMs) {
      clockMs = prediction.tickMs;
      restartClock();
    }
    const me = prediction.drawn(now, dt);
    renderer.draw({
      me,
      myId: game.me,
      meState: entities.get(game.me),
      entities: entities.visible(now),
      target: controls.target,
      owners: game.owners,
    });
    const ownerOfMine = game.area && game.owners.get(game.area[0] + "-" + game.area[1]);
    const host = hostOf(session.connection);
    panels.status({
      area: game.area,
      zone: [ownerOfMine, host && "(" + host + ")"].filter(Boolean).join(" "),
      rtt: session.rtt,
      pos: me,
      transfers: session.stats.transfers,
      timeRate: game.timeRate,
      retryAt: session.phase.retryAt,
      attempt: session.attempt,
    });
    requestAnimationFrame(frame);
  }
  requestAnimationFrame(frame);

  function hostOf(connection) {
    if (!connection) return "";
    try {
      return new URL(connection.url).host;
    } catch {
      return connection.url;
    }
  }

  // ------------------------------------------------------------------ login

  $("dev-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const name = $("dev-name").value.trim();
    try {
      const login = await getJson("../v1/dev/login", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ name }),
      });
      play({ token: login.token, character_id: login.character_id, name: login.name });
    } catch (err) {
      panels.showLogin(true, "Development login: " + err.message);
    }
  });
  $("token-form").addEventListener("submit", (e) => {
    e.preventDefault();
    play({ token: $("token").value.trim(), character_id: $("character").value.trim(), name: "" });
  });
  // A token handed over in the URL (`#token=…&character=…`, as an identity provider's
  // redirect would), else the last login of this browser.
  const hash = new URLSearchParams(location.hash.slice(1));
  const saved = JSON.parse(localStorage.getItem(STORAGE_KEY) || "null");
  if (hash.get("token") && hash.get("character")) {
    history.replaceState(null, "", location.pathname);
    play({ token: hash.get("token"), character_id: hash.get("character"), name: "" });
  } else if (saved && saved.token && saved.character_id) {
    play(saved);
  } else {
    panels.showLogin(true);
  }

  window.zc = {
    world,
    get phase() { return session.phase.name; },
    get me() { return game.me; },
    get area() { return game.area; },
    get tick() { return game.tick; },
    get stats() { return game.stats; },
    get inventory() { return game.inventory; },
    get chat() { return game.chat; },
    get errors() { return game.errors; },
    get session() { return session.stats; },
    get zoneUrl() { return session.connection ? session.connection.url : null; },
    get pickedUp() { return game.pickedUp; },
    get hits() { return game.hits; },
    get unacked() { return prediction.unacked.length; },
    /** The player: where the zone last put them, and where they are drawn. */
    position() {
      const me = entities.get(game.me);
      return { server: me ? metres(me.pos) : null, predicted: prediction.predicted };
    },
    /** What the player can see: [{id, kind, type_id, name, x, z, anim, health}]. */
    entities() {
      return entities.visible(performance.now()).map((e) => ({
        id: e.id, kind: e.state.kind, type_id: e.state.type_id, name: e.state.name,
        x: metres(e.state.pos).x, z: metres(e.state.pos).z, anim: e.state.anim,
        health: e.state.health,
      }));
    },
    /** Where on the page (CSS pixels) entity `id` is drawn, to click it. */
    clickPoint(id) {
      const e = renderer.drawnEntities.find((d) => d.id === id);
      if (!e) return null;
      const p = renderer.screenOf(e.at.x, e.at.z);
      const rect = $("view").getBoundingClientRect();
      const ratio = renderer.pixelRatio();
      return { x: rect.left + p.x / ratio, y: rect.top + p.y / ratio };
    },
  };
  document.body.dataset.ready = "true";
}

start().catch((e) => {
  document.body.dataset.ready = "failed";
  $("fatal").hidden = false;
  $("fatal").textContent = "The client could not start: " + e.message;
  throw e;
});
