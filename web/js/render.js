// The top-down view on a canvas, centred on the player: the ground of each area in sight
// with its obstacles and resource spots (derived, see world.js), area borders and their
// handoff margin, then ground items, NPCs and players with names and health bars, the
// clicked target and floating damage numbers. X grows to the right (east), Z downwards
// (south), as on the wire.

import { AnimState, EntityKind, NPCS, itemName } from "./protocol.js";

const PX_PER_M = 12;
const COLOURS = {
  outside: "#15191d",
  ground: ["#34513a", "#3a5a3f"],
  grid: "rgba(255,255,255,0.05)",
  obstacle: "#6b5a45",
  obstacleEdge: "#4a3d2f",
  node: "rgba(230,220,120,0.25)",
  border: "rgba(255,255,255,0.75)",
  margin: "rgba(255,255,255,0.08)",
  item: "#f2d14b",
  npc: { 1: "#c9c9c9", 2: "#b07a4f", 3: "#d9534f" },
  player: "#4f8fe6",
  me: "#ffffff",
  dead: "#777777",
  text: "#f5f5f5",
  health: "#4caf50",
  healthBack: "rgba(0,0,0,0.6)",
};

export class Renderer {
  constructor(canvas, world) {
    this.canvas = canvas;
    this.ctx = canvas.getContext("2d");
    this.world = world;
    this.centre = { x: 0, z: 0 };
    this.drawnEntities = [];
    this.floaters = [];
  }

  /** Canvas pixel of a world point. */
  screenOf(x, z) {
    return {
      x: (x - this.centre.x) * PX_PER_M + this.canvas.width / 2,
      y: (z - this.centre.z) * PX_PER_M + this.canvas.height / 2,
    };
  }

  /** World point of a canvas pixel. */
  worldOf(px, py) {
    return {
      x: (px - this.canvas.width / 2) / PX_PER_M + this.centre.x,
      z: (py - this.canvas.height / 2) / PX_PER_M + this.centre.z,
    };
  }

  /** The NPC or ground item drawn under a canvas point, or null. */
  pick(px, py) {
    const p = this.worldOf(px * this.pixelRatio(), py * this.pixelRatio());
    let best = null;
    let bestDistance = 1.5;
    for (const e of this.drawnEntities) {
      if (e.state.kind === EntityKind.PLAYER) continue;
      const d = Math.hypot(e.at.x - p.x, e.at.z - p.z);
      if (d < bestDistance) {
        best = e.id;
        bestDistance = d;
      }
    }
    return best;
  }

  pixelRatio() {
    return this.canvas.width / (this.canvas.clientWidth || this.canvas.width);
  }

  /** A damage number rising over a point for a second. */
  float(x, z, text, colour) {
    this.floaters.push({ x, z, text, colour, born: performance.now() });
  }

  /** One frame. `view`: {me: {x, z, yaw} | null, myId, entities: [{id, state, at}],
   *  target, owners: Map "x-z" → short zone id}. */
  draw(view) {
    const { canvas, ctx } = this;
    const ratio = window.devicePixelRatio || 1;
    const w = Math.round(canvas.clientWidth * ratio);
    const h = Math.round(canvas.clientHeight * ratio);
    if (canvas.width !== w || canvas.height !== h) {
      canvas.width = w;
      canvas.height = h;
    }
    if (view.me) this.centre = { x: view.me.x, z: view.me.z };
    ctx.fillStyle = COLOURS.outside;
    ctx.fillRect(0, 0, w, h);
    const tl = this.worldOf(0, 0);
    const br = this.worldOf(w, h);
    for (let ax = 0; ax < this.world.columns; ax++) {
      for (let az = 0; az < this.world.rows; az++) {
        const b = this.world.bounds([ax, az]);
        if (b.maxX < tl.x || b.minX > br.x || b.maxZ < tl.z || b.minZ > br.z) continue;
        this.drawArea([ax, az], b, view.owners);
      }
    }
    this.drawnEntities = view.entities.filter((e) => e.at && e.id !== view.myId);
    const order = [EntityKind.ITEM, EntityKind.NPC, EntityKind.PLAYER];
    for (const kind of order) {
      for (const e of this.drawnEntities) if (e.state.kind === kind) this.drawEntity(e, false);
    }
    if (view.me && view.meState) {
      this.drawEntity({ id: view.myId, state: view.meState, at: view.me }, true);
    }
    if (view.target) {
      const t = this.drawnEntities.find((e) => e.id === view.target.id);
      if (t) this.ring(t.at, 0.9, "rgba(255,80,80,0.9)");
    }
    this.drawFloaters();
  }

  drawArea(area, b, owners) {
    const { ctx } = this;
    const a = this.screenOf(b.minX, b.minZ);
    const size = this.world.size * PX_PER_M;
    ctx.fillStyle = COLOURS.ground[(area[0] + area[1]) % 2];
    ctx.fillRect(a.x, a.y, size, size);
    ctx.strokeStyle = COLOURS.grid;
    ctx.lineWidth = 1;
    ctx.beginPath();
    for (let m = 8; m < this.world.size; m += 8) {
      ctx.moveTo(a.x + m * PX_PER_M, a.y);
      ctx.lineTo(a.x + m * PX_PER_M, a.y + size);
      ctx.moveTo(a.x, a.y + m * PX_PER_M);
      ctx.lineTo(a.x + size, a.y + m * PX_PER_M);
    }
    ctx.stroke();
    const content = this.world.content(area);
    ctx.fillStyle = COLOURS.node;
    for (const n of content.resourceNodes) this.disc(n, 1.2);
    for (const o of content.obstacles) {
      const p = this.screenOf(o.x - o.halfX, o.z - o.halfZ);
      ctx.fillStyle = COLOURS.obstacle;
      ctx.fillRect(p.x, p.y, 2 * o.halfX * PX_PER_M, 2 * o.halfZ * PX_PER_M);
      ctx.strokeStyle = COLOURS.obstacleEdge;
      ctx.lineWidth = 2;
      ctx.strokeRect(p.x, p.y, 2 * o.halfX * PX_PER_M, 2 * o.halfZ * PX_PER_M);
    }
    // The handoff margin just inside the border (a player crossing walks through the
    // neighbour's), then the border itself.
    const band = this.world.margin * PX_PER_M;
    ctx.strokeStyle = COLOURS.margin;
    ctx.lineWidth = 2 * band;
    ctx.strokeRect(a.x, a.y, size, size);
    ctx.strokeStyle = COLOURS.border;
    ctx.lineWidth = 2;
    ctx.setLineDash([10, 6]);
    ctx.strokeRect(a.x, a.y, size, size);
    ctx.setLineDash([]);
    // The area's name in its top-left corner, or as near it as the view shows (below the
    // status line).
    const owner = owners.get(area[0] + "-" + area[1]);
    const x = Math.min(Math.max(a.x + 8, 8), a.x + size - 180);
    const y = Math.min(Math.max(a.y + 18, 56), a.y + size - 8);
    this.label(x, y, "area " + area[0] + "-" + area[1] + (owner ? " · zone " + owner : " · no zone"), "left", 13);
  }

  drawEntity(e, isMe) {
    const { ctx } = this;
    const s = e.state;
    const dead = s.anim === AnimState.DEAD;
    let colour;
    let name;
    let radius = 0.5;
    if (s.kind === EntityKind.ITEM) {
      const p = this.screenOf(e.at.x, e.at.z);
      const r = 0.4 * PX_PER_M;
      ctx.fillStyle = COLOURS.item;
      ctx.beginPath();
      ctx.moveTo(p.x, p.y - r);
      ctx.lineTo(p.x + r, p.y);
      ctx.lineTo(p.x, p.y + r);
      ctx.lineTo(p.x - r, p.y);
      ctx.closePath();
      ctx.fill();
      this.label(p.x, p.y - r - 4, itemName(s.type_id), "center", 11);
      return;
    }
    if (s.kind === EntityKind.NPC) {
      colour = COLOURS.npc[s.type_id] || "#d0a0ff";
      name = NPCS[s.type_id] || "npc " + s.type_id;
      radius = s.type_id === 2 ? 0.6 : 0.5;
    } else {
      colour = isMe ? COLOURS.me : COLOURS.player;
      name = s.name || "player";
    }
    if (dead) colour = COLOURS.dead;
    ctx.fillStyle = colour;
    this.disc(e.at, radius);
    const p = this.screenOf(e.at.x, e.at.z);
    // Facing.
    ctx.strokeStyle = "rgba(0,0,0,0.6)";
    ctx.lineWidth = 2;
    ctx.beginPath();
    ctx.moveTo(p.x, p.y);
    ctx.lineTo(p.x + Math.sin(e.at.yaw) * radius * PX_PER_M, p.y + Math.cos(e.at.yaw) * radius * PX_PER_M);
    ctx.stroke();
    if (isMe) this.ring(e.at, radius + 0.25, "#ffd54f");
    const top = p.y - radius * PX_PER_M;
    this.label(p.x, top - 10, name, "center", 12);
    const barW = 30;
    ctx.fillStyle = COLOURS.healthBack;
    ctx.fillRect(p.x - barW / 2, top - 7, barW, 4);
    ctx.fillStyle = COLOURS.health;
    ctx.fillRect(p.x - barW / 2, top - 7, (barW * s.health) / 100, 4);
  }

  disc(at, radius) {
    const p = this.screenOf(at.x, at.z);
    this.ctx.beginPath();
    this.ctx.arc(p.x, p.y, radius * PX_PER_M, 0, 2 * Math.PI);
    this.ctx.fill();
  }

  ring(at, radius, colour) {
    const p = this.screenOf(at.x, at.z);
    this.ctx.strokeStyle = colour;
    this.ctx.lineWidth = 2;
    this.ctx.beginPath();
    this.ctx.arc(p.x, p.y, radius * PX_PER_M, 0, 2 * Math.PI);
    this.ctx.stroke();
  }

  label(x, y, text, align, size, colour = COLOURS.text) {
    const { ctx } = this;
    ctx.font = size + "px system-ui, sans-serif";
    ctx.textAlign = align;
    ctx.lineWidth = 3;
    ctx.strokeStyle = "rgba(0,0,0,0.7)";
    ctx.strokeText(text, x, y);
    ctx.fillStyle = colour;
    ctx.fillText(text, x, y);
  }

  drawFloaters() {
    const now = performance.now();
    this.floaters = this.floaters.filter((f) => now - f.born < 1000);
    for (const f of this.floaters) {
      const age = (now - f.born) / 1000;
      const p = this.screenOf(f.x, f.z);
      this.ctx.globalAlpha = 1 - age;
      this.label(p.x, p.y - 24 - age * 30, f.text, "center", 14, f.colour);
      this.ctx.globalAlpha = 1;
    }
  }
}

