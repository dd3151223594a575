// Getting in and staying in: a join token (from the game's identity provider, or the
// cluster's development login), `POST /v1/join` on the manager for a zone URL and a
// ticket, the WebSocket to that zone (Hello first), `Transfer`s followed to the next zone,
// and, when a connection is lost, a rejoin through the manager with backoff (250 ms
// doubling to 2 s, each wait jittered; PROTOCOL.md §12). A zone that sends nothing for 2 s
// while it owes an answer (a Ping, an input, the handshake) is taken as gone: a stalled or
// cut-off zone may keep its TCP connection open. The phase and what it waits for are always
// on screen (`onPhase`).

import { PROTOCOL_VERSION, decodeServer, encodeClient } from "./protocol.js";

const FIRST_RETRY_MS = 250;
const LAST_RETRY_MS = 2000;
/** A Ping a second keeps a standing player's connection answering (PROTOCOL.md §12). */
const PING_EVERY_MS = 1000;
/** No frame this long after sending something the zone answers: the zone is gone. */
export const SILENCE_MS = 2000;
const SILENCE_CHECK_MS = 100;

/** What a join answer's failure means for the player. */
class JoinRefused extends Error {
  constructor(status, detail) {
    super(detail);
    this.status = status;
  }
}

export class Session {
  /**
   * `handlers`: onPacket(packet, connection) for every zone packet, onPhase(phase) on
   * every change of phase.
   */
  constructor(handlers) {
    this.handlers = handlers;
    this.credentials = null;
    this.ws = null;
    this.connection = null;
    this.retryMs = FIRST_RETRY_MS;
    this.attempt = 0;
    this.retryTimer = null;
    this.phase = { name: "login", detail: "" };
    this.nonce = 0;
    this.pings = new Map();
    this.rtt = null;
    this.stats = { joins: 0, welcomes: 0, transfers: 0, lost: 0, silent: 0, closes: [] };
    /** When the client began waiting for a frame (sent something, or connected), or null
     *  when every frame it waits for came. */
    this.awaitingSince = null;
    setInterval(() => this.ping(), PING_EVERY_MS);
    setInterval(() => this.checkSilence(), SILENCE_CHECK_MS);
  }

  /** Gives the connection up when the zone owes a frame and has been silent too long. */
  checkSilence() {
    if (!this.ws || this.awaitingSince === null) return;
    if (performance.now() - this.awaitingSince > SILENCE_MS) {
      this.stats.silent++;
      this.drop("no answer from the zone for " + SILENCE_MS / 1000 + " s");
    }
  }

  setPhase(name, detail = "", extra = {}) {
    this.phase = { name, detail, ...extra };
    this.handlers.onPhase(this.phase);
  }

  /** Plays as `credentials` ({token, character_id}) from now on. */
  start(credentials) {
    this.stop();
    this.credentials = credentials;
    this.retryMs = FIRST_RETRY_MS;
    this.attempt = 0;
    this.join();
  }

  /** Leaves: no connection, no retries. */
  stop() {
    clearTimeout(this.retryTimer);
    this.credentials = null;
    this.retire();
    this.setPhase("login");
  }

  async join() {
    if (!this.credentials) return;
    // A rejoin stays "reconnecting" while the manager is asked: it may hold the request
    // until the area has a zone again (PROTOCOL.md §12).
    const phase = this.attempt > 0 ? "reconnecting" : "joining";
    this.setPhase(phase, "asking the manager for a zone");
    let answer;
    try {
      answer = await joinOnce(this.credentials);
    } catch (e) {
      if (e instanceof JoinRefused && [401, 403, 404].includes(e.status)) {
        // The token or the character is no good: retrying cannot help.
        this.credentials = null;
        this.setPhase("login", "the manager refused: " + e.message);
        return;
      }
      return this.retryLater("join failed: " + e.message, e.retryAfterMs);
    }
    this.stats.joins++;
    this.connect(answer.zone_url, answer.ticket, "join");
  }

  /** Opens a connection to a zone with a ticket; `how` is "join" or "transfer". */
  connect(url, ticket, how) {
    this.setPhase(how === "join" ? "connecting" : "transferring", url);
    let ws;
    try {
      ws = new WebSocket(url);
    } catch (e) {
      return this.lost("cannot open " + url + ": " + e.message);
    }
    ws.binaryType = "arraybuffer";
    this.ws = ws;
    // The upgrade and the Welcome are owed: a stalled zone's kernel still accepts TCP.
    this.awaitingSince = performance.now();
    this.connection = { url, how, admitted: false, ready: false };
    const connection = this.connection;
    ws.onopen = () => {
      if (ws === this.ws) {
        this.sendNow({ type: "Hello", ticket, protocol_version: PROTOCOL_VERSION });
      }
    };
    ws.onmessage = (event) => {
      if (ws !== this.ws) return;
      this.awaitingSince = null;
      let packet;
      try {
        packet = decodeServer(event.data);
      } catch (e) {
        return this.drop("the zone sent a frame this client cannot read: " + e.message);
      }
      this.receive(packet, connection);
    };
    ws.onclose = (event) => {
      this.stats.closes.push({ url, code: event.code, current: ws === this.ws });
      if (ws === this.ws) this.lost("the zone closed the connection (code " + event.code + ")");
    };
  }

  receive(packet, connection) {
    if (packet.type === "Welcome") {
      this.stats.welcomes++;
      connection.admitted = true;
      this.retryMs = FIRST_RETRY_MS;
      this.attempt = 0;
      this.setPhase("playing", connection.url);
    } else if (packet.type === "Transfer") {
      // The last frame on this connection (PROTOCOL.md §9): leave it at once.
      this.stats.transfers++;
      this.retire();
      this.handlers.onPacket(packet, connection);
      return this.connect(packet.ws_url, packet.ticket, "transfer");
    } else if (packet.type === "Pong") {
      const sent = this.pings.get(packet.nonce);
      if (sent !== undefined) this.rtt = performance.now() - sent;
      this.pings.delete(packet.nonce);
    }
    this.handlers.onPacket(packet, connection);
  }

  /** Sends a packet on the current connection once the zone admitted the player. */
  send(packet) {
    if (this.connection && this.connection.admitted) this.sendNow(packet);
  }

  sendNow(packet) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) {
      this.ws.send(encodeClient(packet));
      // Every packet but a Hello (answered already above) is answered within a tick or
      // two: an InputAck, a Pong, an update, an Error.
      if (this.awaitingSince === null) this.awaitingSince = performance.now();
    }
  }

  ping() {
    if (!this.connection || !this.connection.admitted) return;
    this.nonce = (this.nonce + 1) >>> 0;
    this.pings.set(this.nonce, performance.now());
    if (this.pings.size > 16) this.pings.delete(this.pings.keys().next().value);
    this.send({ type: "Ping", nonce: this.nonce });
  }

  /** Closes the current connection as this client's own choice (its close is ignored). */
  retire() {
    const ws = this.ws;
    this.ws = null;
    this.connection = null;
    this.awaitingSince = null;
    if (ws && ws.readyState <= WebSocket.OPEN) ws.close(1000, "leaving");
  }

  /** Ends the current connection because this client cannot go on with it, and rejoins. */
  drop(why) {
    this.retire();
    this.lost(why);
  }

  lost(why) {
    this.ws = null;
    this.connection = null;
    this.awaitingSince = null;
    this.stats.lost++;
    this.retryLater(why);
  }

  retryLater(why, retryAfterMs) {
    if (!this.credentials) return;
    // Jittered down to half, so players cut off together do not come back together. The
    // manager's Retry-After (2 s) is never shorter than this schedule; a longer one is
    // obeyed.
    let wait = this.retryMs * (0.5 + Math.random() / 2);
    if (retryAfterMs > LAST_RETRY_MS) wait = retryAfterMs;
    this.attempt++;
    this.retryMs = Math.min(this.retryMs * 2, LAST_RETRY_MS);
    const at = performance.now() + wait;
    this.setPhase("reconnecting", why, { retryAt: at, waitMs: wait });
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.join(), wait);
  }
}

/** One `POST /v1/join`: {zone_url, ticket, area, expires_at}. */
async function joinOnce(credentials) {
  let res;
  try {
    res = await fetch("../v1/join", {
      method: "POST",
      headers: {
        "Content-Type": "application/json",
        Authorization: "Bearer " + credentials.token,
      },
      body: JSON.stringify({ character_id: credentials.character_id }),
    });
  } catch (e) {
    throw new Error("the manager did not answer (" + e.message + ")");
  }
  if (res.ok) return res.json();
  const problem = await res.json().catch(() => ({}));
  const error = new JoinRefused(res.status, problem.detail || res.statusText);
  const retryAfter = Number(res.headers.get("Retry-After"));
  if (retryAfter > 0) error.retryAfterMs = retryAfter * 1000;
  throw error;
}
