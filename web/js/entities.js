// The entities this client can see (its area of interest), kept by the delta rules of
// PROTOCOL.md §6, and where to draw each one: remote entities are drawn slightly in the
// past, interpolated between the states the zone sent, so they move smoothly although
// updates come 20 times a second and not evenly.
//
// Ticks are turned into local time with a clock estimate per connection: the earliest
// arrival seen for a tick defines the offset (late arrivals are network jitter), creeping
// later slowly so a drifting clock is followed.

import { metres } from "./protocol.js";

/** How far behind the newest state remote entities are drawn, in ticks. */
const INTERPOLATION_TICKS = 2;
/** Samples kept per entity (a second at 20 Hz). */
const SAMPLES_KEPT = 20;
/** How fast the clock offset may creep later, ms per update. */
const CLOCK_CREEP_MS = 0.5;

/** Why an update cannot be applied: the connection must be dropped and rejoined. */
export class OutOfStep extends Error {}

export class Entities {
  constructor() {
    /** id → {state (as on the wire, kept current), samples [{t, x, z, yaw}]}. */
    this.table = new Map();
    this.tick = null;
    this.tickMs = 50;
    this.offset = null;
    /** Entities of the previous connection, drawn until the new one's first Snapshot. */
    this.carried = null;
  }

  /** A new connection at `tickRate` Hz: its ticks are a new clock (ids stay: they are the
   *  same in every zone, PROTOCOL.md §6a). */
  newConnection(tickRate) {
    this.tickMs = 1000 / tickRate;
    this.offset = null;
    this.tick = null;
    if (this.table.size > 0) this.carried = this.table;
    this.table = new Map();
  }

  /** The zone's clock changed its pace (time dilation, PROTOCOL.md §4 `TimeRate`): ticks
   *  now come every `tickMs`, and the clock is estimated afresh from the next arrival. */
  retime(tickMs) {
    this.tickMs = tickMs;
    this.offset = null;
  }

  /** The local time of `tick`, updating the clock estimate with an arrival now. */
  timeOf(tick, now) {
    const estimate = now - tick * this.tickMs;
    this.offset = this.offset === null ? estimate : Math.min(estimate, this.offset + CLOCK_CREEP_MS);
    return tick * this.tickMs + this.offset;
  }

  /** A Snapshot replaces the table. An entity already shown (on this connection, or on
   *  the previous one across a transfer: ids are the same in every zone) keeps its samples
   *  and moves on from where it was drawn, never removed and added again. */
  snapshot(s, now) {
    const t = this.timeOf(s.tick, now);
    const before = this.carried || this.table;
    this.carried = null;
    this.table = new Map();
    for (const e of s.entities) {
      const old = before.get(e.id);
      const entry = { state: e, samples: old ? old.samples : [] };
      entry.samples.push(sampleOf(e, t));
      while (entry.samples.length > SAMPLES_KEPT) entry.samples.shift();
      this.table.set(e.id, entry);
    }
    this.tick = s.tick;
  }

  /** A Delta applies to the table as of its baseline (§6): added, updated, removed. */
  delta(d, now) {
    if (this.tick === null || d.baseline !== this.tick) {
      throw new OutOfStep("a Delta on baseline " + d.baseline + " while at tick " + this.tick);
    }
    const t = this.timeOf(d.tick, now);
    for (const e of d.added) this.table.set(e.id, { state: e, samples: [sampleOf(e, t)] });
    for (const u of d.updated) {
      const entry = this.table.get(u.id);
      if (!entry) throw new OutOfStep("a Delta updates entity " + u.id + ", never sent");
      const s = entry.state;
      s.pos = [
        (s.pos[0] + (u.dx || 0)) | 0,
        (s.pos[1] + (u.dy || 0)) | 0,
        (s.pos[2] + (u.dz || 0)) | 0,
      ];
      if (u.dyaw !== undefined) s.yaw = (s.yaw + u.dyaw) & 0xff;
      if (u.anim !== undefined) s.anim = u.anim;
      if (u.health !== undefined) s.health = u.health;
      // After standing still, motion starts from where it stood one tick ago (not from
      // the last sample, which may be seconds old).
      const previous = entry.samples[entry.samples.length - 1];
      if (previous && t - previous.t > 1.5 * this.tickMs) {
        entry.samples.push({ ...previous, t: t - this.tickMs });
      }
      entry.samples.push(sampleOf(s, t));
      while (entry.samples.length > SAMPLES_KEPT) entry.samples.shift();
    }
    for (const id of d.removed) this.table.delete(id);
    this.tick = d.tick;
  }

  delayMs() {
    return INTERPOLATION_TICKS * this.tickMs;
  }

  /** One entity's state as last sent, or undefined. */
  get(id) {
    const entry = this.table.get(id);
    return entry && entry.state;
  }

  /** Where to draw entity `id` at local time `now`: {x, z, yaw} in metres and radians. */
  drawn(id, now) {
    const entry = this.table.get(id);
    return entry ? interpolate(entry.samples, now - this.delayMs()) : null;
  }

  /** Everything to draw now: the table, or, between a Transfer and the new zone's first
   *  Snapshot, what the old zone showed (frozen where it was). */
  visible(now) {
    const source = this.table.size > 0 || !this.carried ? this.table : this.carried;
    const out = [];
    for (const [id, entry] of source) {
      out.push({ id, state: entry.state, at: interpolate(entry.samples, now - this.delayMs()) });
    }
    return out;
  }
}

function sampleOf(e, t) {
  const m = metres(e.pos);
  return { t, x: m.x, z: m.z, yaw: (e.yaw / 256) * 2 * Math.PI };
}

/** The position between the two samples around `t` (the nearest end outside them). */
function interpolate(samples, t) {
  const last = samples[samples.length - 1];
  if (t >= last.t) return { x: last.x, z: last.z, yaw: last.yaw };
  for (let i = samples.length - 1; i > 0; i--) {
    const a = samples[i - 1];
    const b = samples[i];
    if (t >= a.t) {
      const k = (t - a.t) / (b.t - a.t || 1);
      return { x: a.x + (b.x - a.x) * k, z: a.z + (b.z - a.z) * k, yaw: lerpAngle(a.yaw, b.yaw, k) };
    }
  }
  const first = samples[0];
  return { x: first.x, z: first.z, yaw: first.yaw };
}

function lerpAngle(a, b, k) {
  let d = (b - a) % (2 * Math.PI);
  if (d > Math.PI) d -= 2 * Math.PI;
  if (d < -Math.PI) d += 2 * Math.PI;
  return a + d * k;
}
