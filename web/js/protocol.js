// The client ⇄ zone protocol, version 1, written from docs/PROTOCOL.md: frames are
// [1 byte packet id][one MessagePack value], structs are arrays of their fields in the
// documented order. Packets are plain objects `{type, ...fields}` with the doc's field
// names; tickets are 32 lower-case hex digits (as the manager's join answer gives them),
// character ids UUID strings, areas `[x, z]`, positions `[x, y, z]` in 1/32 m.

import { DecodeError, Reader, encodeInto } from "./msgpack.js";

export { DecodeError };

export const PROTOCOL_VERSION = 3;

/** The game's rules a client predicts with or shows (PROTOCOL.md §12). */
export const RULES = {
  walkSpeed: 4, // m/s
  runSpeed: 7, // m/s, with `running`
  attackRange: 3, // m, to an NPC
  attackCooldownMs: 600,
  pickupReach: 2.5, // m
  characterRadius: 0.4, // m, against obstacles
  positionScale: 32, // wire units per metre
};

export const EntityKind = { PLAYER: 0, NPC: 1, ITEM: 2 };
export const AnimState = { IDLE: 0, WALK: 1, RUN: 2, ATTACK: 3, DEAD: 4 };
export const ChatChannel = { LOCAL: 0, AREA: 1 };
export const QuestStatus = ["available", "active", "completed", "locked"];

/** Item kinds by number: name, and what using or equipping does. */
export const ITEMS = {
  1: { name: "wolf_pelt" },
  2: { name: "boar_tusk" },
  3: { name: "healing_herb", use: "heal 25" },
  4: { name: "iron_ore" },
  5: { name: "bronze_sword", weapon: "+6 damage" },
  6: { name: "bandit_insignia" },
};

/** NPC kinds by number. */
export const NPCS = { 1: "wolf", 2: "boar", 3: "bandit" };

/** Error codes by number (§4); an unknown code is a generic error. */
export const ERRORS = {
  1: "MALFORMED", 2: "UNKNOWN_PACKET", 3: "FRAME_TOO_LARGE", 4: "UNEXPECTED_PACKET",
  5: "VERSION_MISMATCH", 6: "BAD_TICKET", 7: "TICKET_EXPIRED", 8: "HELLO_TIMEOUT",
  9: "RATE_LIMITED", 10: "REJECTED", 11: "KICKED", 12: "STALE_STATE",
  13: "ZONE_UNAVAILABLE", 14: "IDLE_TIMEOUT", 15: "TOO_SLOW", 16: "INTERNAL",
};

// ------------------------------------------------------------------ client → zone

/** Field order of every client packet, by type, with its id. */
const CLIENT = {
  Hello: [0x01, (p) => [hexBytes(p.ticket), p.protocol_version]],
  Input: [0x02, (p) => [p.seq, p.move_x, p.move_z, p.running, p.yaw]],
  Attack: [0x03, (p) => [p.target]],
  Pickup: [0x04, (p) => [p.item]],
  UseItem: [0x05, (p) => [p.slot]],
  EquipItem: [0x06, (p) => [p.slot]],
  DropItem: [0x07, (p) => [p.slot, p.count]],
  Chat: [0x08, (p) => [p.channel, p.text]],
  QuestList: [0x09, () => []],
  QuestAccept: [0x0a, (p) => [p.quest]],
  Ping: [0x0b, (p) => [p.nonce]],
};

/** The frame of a client packet. */
export function encodeClient(packet) {
  const spec = CLIENT[packet.type];
  if (!spec) throw new TypeError("not a client packet: " + packet.type);
  const out = [spec[0]];
  encodeInto(out, spec[1](packet));
  return new Uint8Array(out);
}

// ------------------------------------------------------------------ zone → client

const uint = (v) => {
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0) {
    if (typeof v === "bigint" && v >= 0n) return v;
    throw new DecodeError("expected an unsigned integer");
  }
  return v;
};
const int = (v) => {
  if (typeof v !== "number" || !Number.isInteger(v)) throw new DecodeError("expected an integer");
  return v;
};
const str = (v) => {
  if (typeof v !== "string") throw new DecodeError("expected a string");
  return v;
};
const bool = (v) => {
  if (typeof v !== "boolean") throw new DecodeError("expected a boolean");
  return v;
};
const list = (v, n) => {
  if (!Array.isArray(v) || (n !== undefined && v.length !== n)) {
    throw new DecodeError(n === undefined ? "expected an array" : "expected " + n + " fields");
  }
  return v;
};
const area = (v) => list(v, 2).map(uint);
const stack = (v) => (v === null ? null : { item: uint(list(v, 2)[0]), count: uint(v[1]) });

function bin16(v) {
  if (!(v instanceof Uint8Array) || v.length !== 16) throw new DecodeError("expected 16 bytes");
  return v;
}

/** 16 bytes as a UUID string. */
function uuid(v) {
  const h = bytesHex(bin16(v));
  return [h.slice(0, 8), h.slice(8, 12), h.slice(12, 16), h.slice(16, 20), h.slice(20)].join("-");
}

function entityState(v) {
  const f = list(v, 8);
  return {
    id: uint(f[0]),
    kind: uint(f[1]),
    type_id: uint(f[2]),
    pos: list(f[3], 3).map(int),
    yaw: uint(f[4]),
    anim: uint(f[5]),
    health: uint(f[6]),
    name: f[7] === null ? null : str(f[7]),
  };
}

/** The fields of an EntityDelta in mask bit order (§6). */
const DELTA_FIELDS = ["dx", "dy", "dz", "dyaw", "anim", "health"];

function entityDelta(v) {
  const f = list(v);
  if (f.length < 2) throw new DecodeError("a delta needs an id and a mask");
  const mask = uint(f[1]);
  if (mask > 0x3f) throw new DecodeError("delta mask bits 6 and 7 are never set");
  const out = { id: uint(f[0]) };
  let next = 2;
  DELTA_FIELDS.forEach((name, bit) => {
    if (mask & (1 << bit)) {
      if (next >= f.length) throw new DecodeError("delta shorter than its mask");
      out[name] = bit < 4 ? int(f[next]) : uint(f[next]);
      next++;
    }
  });
  if (next !== f.length) throw new DecodeError("delta longer than its mask");
  return out;
}

/** Decoders of every server packet, by id: fields array → object. */
const SERVER = {
  0x40: ["Welcome", 6, (f) => ({
    player: uint(f[0]), character: uuid(f[1]), area: area(f[2]),
    tick_rate: uint(f[3]), protocol_version: uint(f[4]), tick: uint(f[5]),
  })],
  0x41: ["Snapshot", 2, (f) => ({ tick: uint(f[0]), entities: list(f[1]).map(entityState) })],
  0x42: ["Delta", 5, (f) => ({
    tick: uint(f[0]), baseline: uint(f[1]), added: list(f[2]).map(entityState),
    updated: list(f[3]).map(entityDelta), removed: list(f[4]).map(uint),
  })],
  0x43: ["Inventory", 3, (f) => ({
    coins: uint(f[0]), slots: list(f[1]).map(stack), weapon: stack(f[2]),
  })],
  0x44: ["Chat", 4, (f) => ({
    from: uint(f[0]), name: str(f[1]), channel: uint(f[2]), text: str(f[3]),
  })],
  0x45: ["Damage", 4, (f) => ({
    source: uint(f[0]), target: uint(f[1]), amount: uint(f[2]), health: uint(f[3]),
  })],
  0x46: ["Death", 2, (f) => ({ entity: uint(f[0]), killer: uint(f[1]) })],
  0x47: ["Stats", 4, (f) => ({
    health: uint(f[0]), max_health: uint(f[1]), level: uint(f[2]), xp: uint(f[3]),
  })],
  0x48: ["QuestLog", 1, (f) => ({
    quests: list(f[0]).map((q) => {
      const e = list(q, 3);
      return { quest: str(e[0]), status: uint(e[1]), counters: list(e[2]).map(uint) };
    }),
  })],
  0x49: ["QuestProgress", 4, (f) => ({
    quest: str(f[0]), objective: uint(f[1]), count: uint(f[2]), required: uint(f[3]),
  })],
  0x4a: ["QuestCompleted", 4, (f) => ({
    quest: str(f[0]), xp: uint(f[1]), coins: uint(f[2]), items: list(f[3]).map(stack),
  })],
  0x4b: ["InputAck", 1, (f) => ({ seq: uint(f[0]) })],
  0x4c: ["Transfer", 2, (f) => ({ ws_url: str(f[0]), ticket: bytesHex(bin16(f[1])) })],
  0x4d: ["Error", 2, (f) => ({ code: uint(f[0]), message: str(f[1]) })],
  0x4e: ["Pong", 1, (f) => ({ nonce: uint(f[0]) })],
  0x4f: ["TimeRate", 1, (f) => {
    const permille = uint(f[0]);
    if (permille < 1 || permille > 1000) throw new DecodeError("time rate outside 1..=1000");
    return { permille };
  }],
};

/**
 * The packet in a zone's frame. An id this client does not know gives `{type: "Unknown",
 * id}` (to be ignored, §4); a frame that is not what its id says throws a DecodeError.
 */
export function decodeServer(frame) {
  const bytes = frame instanceof Uint8Array ? frame : new Uint8Array(frame);
  if (bytes.length === 0) throw new DecodeError("empty frame");
  const spec = SERVER[bytes[0]];
  if (!spec) return { type: "Unknown", id: bytes[0] };
  const reader = new Reader(bytes, 1);
  const fields = list(reader.value(), spec[1]);
  if (!reader.done()) throw new DecodeError("bytes after the payload");
  return { type: spec[0], ...spec[2](fields) };
}

// ------------------------------------------------------------------ helpers

/** Bytes as lower-case hex. */
export function bytesHex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Hex (spaces allowed) as bytes. */
export function hexBytes(hex) {
  const clean = hex.replace(/\s+/g, "");
  if (!/^([0-9a-fA-F]{2})*$/.test(clean)) throw new TypeError("not hex: " + hex);
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(clean.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** Wire position (1/32 m) → metres. */
export function metres(pos) {
  return { x: pos[0] / RULES.positionScale, y: pos[1] / RULES.positionScale, z: pos[2] / RULES.positionScale };
}

/** A direction on the ground → the protocol's yaw (1/256 turn, 0 = +Z south, 64 = +X east). */
export function yawOf(dx, dz) {
  return Math.round((Math.atan2(dx, dz) / (2 * Math.PI)) * 256) & 0xff;
}

/** The item kind's name (its number when unknown). */
export function itemName(kind) {
  return ITEMS[kind] ? ITEMS[kind].name : "item " + kind;
}
