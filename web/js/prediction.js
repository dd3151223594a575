// Client-side prediction of the player's own movement (PROTOCOL.md §8): every client tick
// with a direction held makes one numbered `Input`, applied here at once and kept until the
// zone acknowledges it; when the zone's view of the player arrives (a Snapshot or Delta,
// which follows the InputAck of the same tick), the prediction restarts from the zone's
// position with the unacknowledged inputs replayed on top. A small difference is blended
// away over a few frames instead of jumping; a large one (a respawn, a hold at a border)
// is taken at once.
//
// One input is one tick of movement: the zone moves a player every tick by the latest
// input it applied (an input steers until the next one), so a client that sends one input
// per zone tick while moving and one (0, 0) to stop is predicted exactly, give or take
// the ticks in which two inputs meet.

import { RULES, yawOf } from "./protocol.js";

/** Corrections larger than this (metres) are taken at once. */
const SNAP_DISTANCE = 4;
/** How long a correction takes to fade (ms, time constant). */
const BLEND_MS = 120;
/** Inputs kept unacknowledged at most (a zone that stopped answering is not followed). */
const UNACKED_KEPT = 256;
/** Inputs sent and not yet acknowledged at most: a second's worth at 20 Hz. The client
 *  sends nothing new past it (PROTOCOL.md §10), so a zone resumed from a stall gets no
 *  backlog over its rate limit. */
export const UNACKED_MOST = 20;

export class Prediction {
  constructor(world) {
    this.world = world;
    /** Real time between two zone ticks (longer while the zone's clock is dilated)... */
    this.tickMs = 50;
    /** ...and the game time one tick moves the world by (1 / Welcome.tick_rate). */
    this.stepSeconds = 0.05;
    this.seq = 0;
    this.unacked = [];
    this.acked = 0;
    this.predicted = null;
    this.from = null;
    this.stepAt = 0;
    this.offset = { x: 0, z: 0 };
    this.yaw = 0;
    this.moving = false;
  }

  /** A fresh join (not a transfer): the zone numbers inputs from 1 again and knows none. */
  reset() {
    this.seq = 0;
    this.acked = 0;
    this.unacked = [];
    this.predicted = null;
    this.moving = false;
  }

  /** The input of one client tick steering `move` ({x, z} in −127…127, running), or
   *  null when the player stands still and said so already. */
  next(move, now) {
    const still = move.x === 0 && move.z === 0;
    if (still && !this.moving) return null;
    this.moving = !still;
    if (!still) this.yaw = yawOf(move.x, move.z);
    const input = {
      type: "Input",
      seq: ++this.seq,
      move_x: move.x,
      move_z: move.z,
      running: move.running && !still,
      yaw: this.yaw,
    };
    this.unacked.push(input);
    if (this.unacked.length > UNACKED_KEPT) this.unacked.shift();
    if (this.predicted) {
      this.from = this.drawnBase(now);
      this.predicted = this.step(this.predicted, input);
      this.stepAt = now;
    }
    return input;
  }

  /** The zone applied every input up to `seq`. */
  ack(seq) {
    this.acked = seq;
    this.unacked = this.unacked.filter((i) => i.seq > seq);
  }

  /** The inputs the zone has not acknowledged, in order (resent after a transfer). */
  pending() {
    return this.unacked.slice();
  }

  /** The zone says the player stands at `at` ({x, z}, metres) after the acknowledged
   *  inputs: replay the others on top. */
  reconcile(at, now) {
    let p = { x: at.x, z: at.z };
    for (const input of this.unacked) p = this.step(p, input);
    if (this.predicted) {
      const dx = this.predicted.x - p.x;
      const dz = this.predicted.z - p.z;
      if (Math.hypot(dx, dz) > SNAP_DISTANCE) {
        this.offset = { x: 0, z: 0 };
        this.from = p;
      } else {
        this.offset = { x: this.offset.x + dx, z: this.offset.z + dz };
        this.from = { x: this.from.x - dx, z: this.from.z - dz };
      }
    } else {
      this.from = p;
      this.stepAt = now;
    }
    this.predicted = p;
  }

  /** One tick of `input` from `p`. */
  step(p, input) {
    const len = Math.hypot(input.move_x, input.move_z);
    if (len === 0) return p;
    const speed = input.running ? RULES.runSpeed : RULES.walkSpeed;
    const d = (speed * this.stepSeconds) / len;
    return this.world.move(p.x, p.z, input.move_x * d, input.move_z * d);
  }

  /** Where the prediction is between its last two steps (a step every tick, drawn
   *  smoothly in between). */
  drawnBase(now) {
    if (!this.predicted) return null;
    const k = Math.min(1, Math.max(0, (now - this.stepAt) / this.tickMs));
    return {
      x: this.from.x + (this.predicted.x - this.from.x) * k,
      z: this.from.z + (this.predicted.z - this.from.z) * k,
    };
  }

  /** Where to draw the player now, with what is left of the last correction. */
  drawn(now, dtMs) {
    const base = this.drawnBase(now);
    if (!base) return null;
    const fade = Math.exp(-dtMs / BLEND_MS);
    this.offset = { x: this.offset.x * fade, z: this.offset.z * fade };
    return { x: base.x + this.offset.x, z: base.z + this.offset.z, yaw: (this.yaw / 256) * 2 * Math.PI };
  }
}
