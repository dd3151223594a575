// The part of MessagePack the client ⇄ zone protocol uses (docs/PROTOCOL.md §2): nil,
// booleans, integers, strings, binary and arrays. No maps, floats or extensions: the zone
// never sends them, so meeting one means the frame is not ours and decoding fails.
//
// JavaScript values: null, booleans, integers as Numbers (a uint 64 above 2^53 as a
// BigInt), strings, Uint8Array for binary, arrays. The encoder picks the smallest encoding
// of every integer, as the zone does; the decoder accepts any valid one (§2: a sender may
// use a wider one).

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder("utf-8", { fatal: true });

/** Why bytes could not be decoded. */
export class DecodeError extends Error {}

/** Encodes `value` into a growing byte list `out` (an array of byte values). */
export function encodeInto(out, value) {
  if (value === null || value === undefined) {
    out.push(0xc0);
  } else if (value === false || value === true) {
    out.push(value ? 0xc3 : 0xc2);
  } else if (typeof value === "number") {
    encodeInt(out, value);
  } else if (typeof value === "string") {
    const bytes = utf8Encoder.encode(value);
    if (bytes.length < 32) out.push(0xa0 | bytes.length);
    else if (bytes.length < 0x100) out.push(0xd9, bytes.length);
    else if (bytes.length < 0x10000) out.push(0xda, bytes.length >> 8, bytes.length & 0xff);
    else throw new RangeError("string too long for this protocol");
    for (const b of bytes) out.push(b);
  } else if (value instanceof Uint8Array) {
    if (value.length >= 0x100) throw new RangeError("binary too long for this protocol");
    out.push(0xc4, value.length);
    for (const b of value) out.push(b);
  } else if (Array.isArray(value)) {
    if (value.length < 16) out.push(0x90 | value.length);
    else if (value.length < 0x10000) out.push(0xdc, value.length >> 8, value.length & 0xff);
    else throw new RangeError("array too long for this protocol");
    for (const item of value) encodeInto(out, item);
  } else {
    throw new TypeError("cannot encode " + typeof value);
  }
}

function pushBigEndian(out, value, bytes) {
  for (let i = bytes - 1; i >= 0; i--) out.push(Math.floor(value / 2 ** (8 * i)) & 0xff);
}

function encodeInt(out, n) {
  if (!Number.isSafeInteger(n)) throw new RangeError("not an integer: " + n);
  if (n >= 0) {
    if (n < 0x80) out.push(n);
    else if (n < 0x100) out.push(0xcc, n);
    else if (n < 0x10000) { out.push(0xcd); pushBigEndian(out, n, 2); }
    else if (n < 0x100000000) { out.push(0xce); pushBigEndian(out, n, 4); }
    else { out.push(0xcf); pushBigEndian(out, n, 8); }
  } else if (n >= -32) {
    out.push(n & 0xff);
  } else if (n >= -0x80) {
    out.push(0xd0, n & 0xff);
  } else if (n >= -0x8000) {
    out.push(0xd1, (n >> 8) & 0xff, n & 0xff);
  } else if (n >= -0x80000000) {
    out.push(0xd2, (n >>> 24) & 0xff, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff);
  } else {
    throw new RangeError("integer below the protocol's range: " + n);
  }
}

/** Reads MessagePack values one after the other from `bytes`, from `offset`. */
export class Reader {
  constructor(bytes, offset = 0) {
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.pos = offset;
  }

  /** Whether every byte has been read. */
  done() {
    return this.pos === this.bytes.length;
  }

  take(n) {
    if (this.pos + n > this.bytes.length) throw new DecodeError("truncated");
    const at = this.pos;
    this.pos += n;
    return at;
  }

  /** The next value. */
  value() {
    const b = this.view.getUint8(this.take(1));
    if (b <= 0x7f) return b;
    if (b >= 0xe0) return b - 0x100;
    if (b >= 0x90 && b <= 0x9f) return this.items(b & 0x0f);
    if (b >= 0xa0 && b <= 0xbf) return this.text(b & 0x1f);
    const v = this.view;
    switch (b) {
      case 0xc0: return null;
      case 0xc2: return false;
      case 0xc3: return true;
      case 0xc4: return this.binary(v.getUint8(this.take(1)));
      case 0xc5: return this.binary(v.getUint16(this.take(2)));
      case 0xc6: return this.binary(v.getUint32(this.take(4)));
      case 0xcc: return v.getUint8(this.take(1));
      case 0xcd: return v.getUint16(this.take(2));
      case 0xce: return v.getUint32(this.take(4));
      case 0xcf: return safe(v.getBigUint64(this.take(8)));
      case 0xd0: return v.getInt8(this.take(1));
      case 0xd1: return v.getInt16(this.take(2));
      case 0xd2: return v.getInt32(this.take(4));
      case 0xd3: return safe(v.getBigInt64(this.take(8)));
      case 0xd9: return this.text(v.getUint8(this.take(1)));
      case 0xda: return this.text(v.getUint16(this.take(2)));
      case 0xdb: return this.text(v.getUint32(this.take(4)));
      case 0xdc: return this.items(v.getUint16(this.take(2)));
      case 0xdd: return this.items(v.getUint32(this.take(4)));
      default:
        throw new DecodeError("type 0x" + b.toString(16) + " is not used by this protocol");
    }
  }

  items(n) {
    // Every element takes at least one byte: a length beyond what is left is a lie.
    if (n > this.bytes.length - this.pos) throw new DecodeError("truncated");
    const out = new Array(n);
    for (let i = 0; i < n; i++) out[i] = this.value();
    return out;
  }

  text(n) {
    const at = this.take(n);
    try {
      return utf8Decoder.decode(this.bytes.subarray(at, at + n));
    } catch {
      throw new DecodeError("a string is not UTF-8");
    }
  }

  binary(n) {
    const at = this.take(n);
    return this.bytes.slice(at, at + n);
  }
}

/** A 64-bit integer as a Number when it is exactly one, else as a BigInt. */
function safe(big) {
  const n = Number(big);
  return Number.isSafeInteger(n) ? n : big;
}
