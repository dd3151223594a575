// The world as a client knows it without being told: the grid (from the manager's
// `GET /v1/world`) and each area's static content, which is derived, not sent. Every zone
// builds an area's obstacles, resource nodes and NPC homes from the area's id alone
// (zone-server/src/sim/content.rs, with splitmix64); this is the same algorithm, so the
// page draws the same boxes the zone's physics collides with (PROTOCOL.md §13). The
// arithmetic is the zone's 32-bit float arithmetic: every step goes through Math.fround.

import { RULES } from "./protocol.js";

const f32 = Math.fround;
const MASK64 = (1n << 64n) - 1n;

/** splitmix64, as zone-server/src/sim/rng.rs. */
export class SplitMix {
  constructor(seed) {
    this.state = BigInt.asUintN(64, seed);
  }

  nextU64() {
    this.state = (this.state + 0x9e3779b97f4a7c15n) & MASK64;
    let z = this.state;
    z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK64;
    z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK64;
    return z ^ (z >> 31n);
  }

  /** Uniform in [0, 1): the top 24 bits over 2^24, exact in a 32-bit float. */
  unit() {
    return Number(this.nextU64() >> 40n) / 16777216;
  }

  /** Uniform in [lo, hi), in 32-bit floats. */
  range(lo, hi) {
    return f32(lo + f32(f32(hi - lo) * this.unit()));
  }
}

/** No obstacle comes closer than this to an area's edge (content.rs). */
const EDGE_CLEARANCE = 8;
/** ... nor to the player spawn point. */
const SPAWN_CLEARANCE = 12;

/** Whether the ground point (x, z), grown by `radius`, overlaps an obstacle box. */
export function overlaps(o, x, z, radius) {
  return f32(Math.abs(f32(x - o.x))) < f32(o.halfX + radius) &&
    f32(Math.abs(f32(z - o.z))) < f32(o.halfZ + radius);
}

/** The world grid and the content of its areas (made once each, on first use). */
export class World {
  /** `grid` as `GET /v1/world` answers it. */
  constructor(grid) {
    this.columns = grid.columns;
    this.rows = grid.rows;
    this.size = f32(grid.area_size);
    this.originX = f32(grid.origin_x);
    this.originZ = f32(grid.origin_z);
    this.margin = f32(grid.handoff_margin);
    this.contents = new Map();
  }

  /** The area `[x, z]` holding the ground point, or null outside the world. */
  areaAt(x, z) {
    const col = Math.floor((x - this.originX) / this.size);
    const row = Math.floor((z - this.originZ) / this.size);
    if (col < 0 || row < 0 || col >= this.columns || row >= this.rows) return null;
    return [col, row];
  }

  /** An area's ground rectangle: min inclusive, max exclusive. */
  bounds(area) {
    const minX = f32(this.originX + f32(area[0] * this.size));
    const minZ = f32(this.originZ + f32(area[1] * this.size));
    return { minX, minZ, maxX: f32(minX + this.size), maxZ: f32(minZ + this.size) };
  }

  /** The static content of `area`: {spawn, obstacles, resourceNodes, npcHomes}. */
  content(area) {
    const key = area[0] + "-" + area[1];
    let c = this.contents.get(key);
    if (!c) {
      c = this.generate(area);
      this.contents.set(key, c);
    }
    return c;
  }

  /** AreaContent::generate, step for step (the order of the draws is the format). */
  generate(area) {
    const b = this.bounds(area);
    const rng = new SplitMix((BigInt(area[0]) << 32n) | BigInt(area[1]) | 0x5eed000000000000n);
    const spawn = { x: f32(f32(b.minX + b.maxX) / 2), z: f32(f32(b.minZ + b.maxZ) / 2) };
    const size = this.size;
    const scale = Math.min(Math.max(f32(size / 128), f32(0.1)), 4);
    const inner = (margin) => {
      const m = Math.min(margin, f32(size / 4));
      const x = rng.range(f32(b.minX + m), f32(b.maxX - m));
      const z = rng.range(f32(b.minZ + m), f32(b.maxZ - m));
      return { x, z };
    };
    const obstacles = [];
    const obstacleCount = Math.max(Math.trunc(f32(14 * scale)), 1);
    for (let i = 0; i < obstacleCount; i++) {
      const centre = inner(EDGE_CLEARANCE + 3);
      const o = { x: centre.x, z: centre.z, halfX: rng.range(1, 3.5), halfZ: rng.range(1, 3.5) };
      if (!overlaps(o, spawn.x, spawn.z, SPAWN_CLEARANCE)) obstacles.push(o);
    }
    const place = () => {
      for (;;) {
        const p = inner(EDGE_CLEARANCE);
        if (obstacles.every((o) => !overlaps(o, p.x, p.z, 1.5))) return p;
      }
    };
    const npcKinds = [1, 1, 2, 3]; // wolf, wolf, boar, bandit
    const npcHomes = [];
    const npcCount = Math.max(Math.trunc(f32(10 * scale)), 2);
    for (let i = 0; i < npcCount; i++) npcHomes.push({ ...place(), kind: npcKinds[i % 4] });
    const nodeItems = [3, 4]; // healing_herb, iron_ore
    const resourceNodes = [];
    const nodeCount = Math.max(Math.trunc(f32(6 * scale)), 2);
    for (let i = 0; i < nodeCount; i++) {
      resourceNodes.push({ ...place(), item: nodeItems[i % 2] });
    }
    return { area, bounds: b, spawn, obstacles, npcHomes, resourceNodes };
  }

  /** Whether a character standing at (x, z) touches an obstacle of the area it is in. */
  blocked(x, z) {
    const area = this.areaAt(x, z);
    if (!area) return true;
    return this.content(area).obstacles.some((o) => overlaps(o, x, z, RULES.characterRadius));
  }

  /**
   * Where a character at (x, z) ends up moving by (dx, dz): stopped per axis by obstacles
   * and the world's edge. A cheap stand-in for the zone's character controller (which
   * slides along boxes too): good enough to predict, and the zone's word corrects it.
   */
  move(x, z, dx, dz) {
    let nx = x + dx;
    if (this.blocked(nx, z)) nx = x;
    let nz = z + dz;
    if (this.blocked(nx, nz)) nz = z;
    return { x: nx, z: nz };
  }
}
