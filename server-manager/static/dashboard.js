// The server-manager dashboard: draws the world grid from the manager's SSE feed
// (GET /v1/events). Frames: `state` (zones, owned areas, pool), `positions` (a zone's
// sampled player dots), `handoff` (a completed handoff). Plain DOM, no build step; every
// value from the feed goes in through textContent, never as markup.
"use strict";

(function () {
  const world = document.getElementById("world");
  const dots = document.getElementById("dots");
  const overlay = document.getElementById("overlay");
  const zonesBody = document.querySelector("#zones tbody");
  const conn = document.getElementById("conn");
  const poolEl = document.getElementById("pool");
  const zoneCount = document.getElementById("zone-count");
  const handoffs = document.getElementById("handoffs");
  const SVG = "http://www.w3.org/2000/svg";
  const DOT_TTL_MS = 3000;

  let grid = null;          // { columns, rows, area_size, origin_x, origin_z }
  let cells = new Map();    // "x-z" -> element
  let zoneSamples = new Map(); // zone id -> { at, players: [...] }
  const dotEls = new Map(); // character id -> element

  const areaKey = (a) => a.x + "-" + a.z;
  const short = (id) => (id ? String(id).slice(0, 8) : "");

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function buildGrid(g) {
    grid = g;
    world.style.gridTemplateColumns = "repeat(" + g.columns + ", 1fr)";
    world.replaceChildren();
    cells = new Map();
    for (let z = 0; z < g.rows; z++) {
      for (let x = 0; x < g.columns; x++) {
        const key = x + "-" + z;
        const cell = el("div", "area free");
        cell.dataset.area = key;
        cell.setAttribute("role", "gridcell");
        cell.append(el("div", "id", key), el("div", "zone", ""), el("div", "epoch", ""),
          el("div", "players", ""), el("div", "ghosts", ""), el("div", "band"),
          el("div", "crowd", ""));
        world.append(cell);
        cells.set(key, cell);
      }
    }
  }

  function sameGrid(a, b) {
    return a && b && a.columns === b.columns && a.rows === b.rows &&
      a.area_size === b.area_size && a.origin_x === b.origin_x && a.origin_z === b.origin_z;
  }

  /** How full a zone's area is and how fast its clock runs, as the page shows it. */
  function crowding(zone) {
    const c = (zone && zone.crowding) || {};
    const capacity = c.capacity || 0;
    const players = zone ? zone.players : 0;
    const rate = c.time_rate_permille == null ? 1000 : c.time_rate_permille;
    const full = capacity > 0 && players >= capacity;
    const held = c.held_at_border || 0;
    const refused = c.refused_full || 0;
    const parts = [];
    if (full || refused) parts.push("full" + (refused ? " · " + refused + " refused/s" : ""));
    if (rate < 1000) parts.push("time " + rate / 10 + " %");
    if (held) parts.push(held + " held at border");
    return {
      full,
      dilated: rate < 1000,
      held,
      players: capacity ? players + " / " + capacity : String(players),
      time: rate / 10 + " %",
      text: parts.join(" · "),
    };
  }

  function onState(s) {
    if (!sameGrid(grid, s.grid)) buildGrid(s.grid);
    const zones = new Map(s.zones.map((z) => [z.zone, z]));
    const owned = new Map(s.areas.map((a) => [areaKey(a.area), a]));
    const spawn = new Set(s.spawn_areas.map(areaKey));
    for (const [key, cell] of cells) {
      const a = owned.get(key);
      const zone = a && a.zone ? zones.get(a.zone) : null;
      let state = "free";
      if (a && a.zone) state = zone && zone.state === "unhealthy" ? "unhealthy"
        : zone && zone.state === "draining" ? "draining" : "allocated";
      const crowd = crowding(zone);
      cell.className = "area " + state + (spawn.has(key) ? " spawn" : "") +
        (crowd.full ? " full" : "") + (crowd.dilated ? " dilated" : "");
      cell.dataset.state = state;
      cell.dataset.zone = a && a.zone ? a.zone : "";
      cell.children[1].textContent = a && a.zone ? "zone " + short(a.zone) : "";
      cell.children[2].textContent = a && a.epoch != null ? "epoch " + a.epoch : "";
      cell.children[3].textContent = a && a.players ? a.players + " ▲" : "";
      // The border band: within the interest radius of an edge, this area's entities are
      // ghosts in its neighbours, and its players see theirs.
      const ghosts = zone ? zone.ghosts || 0 : 0;
      cell.children[4].textContent = ghosts ? ghosts + " ghosts" : "";
      const band = cell.children[5];
      band.hidden = state === "free";
      const inset = (100 * s.interest_radius) / s.grid.area_size;
      band.style.inset = inset + "%";
      // A crowd: the area at its capacity (arrivals refused, players held at its
      // neighbours' borders), the zone's clock slowed (time dilation).
      cell.children[6].textContent = a && a.zone ? crowd.text : "";
      cell.title = key + (a && a.zone ? " · zone " + a.zone + " · epoch " + a.epoch +
        " · " + a.players + " players" : " · free");
    }
    // Zones whose owner is unhealthy but lost the area still show in the table.
    zonesBody.replaceChildren();
    const sorted = s.zones.slice().sort((x, y) => String(x.zone).localeCompare(String(y.zone)));
    for (const z of sorted) {
      const tr = el("tr", z.state);
      tr.dataset.zone = z.zone;
      const st = el("td");
      st.append(el("span", "state " + z.state, z.state));
      tr.append(el("td", "mono", short(z.zone)), st, el("td", "", z.area ? areaKey(z.area) : "–"),
        el("td", "", z.epoch != null ? String(z.epoch) : "–"), el("td", "", crowding(z).players),
        el("td", "", (z.tick_p99_us / 1000).toFixed(1) + " ms"), el("td", "", String(z.ghosts || 0)),
        el("td", "", crowding(z).time), el("td", "", String(crowding(z).held)),
        el("td", "", (z.last_seen_ms / 1000).toFixed(1) + " s"));
      tr.title = z.ws_url;
      zonesBody.append(tr);
    }
    zoneCount.textContent = "(" + s.zones.length + ")";
    const p = s.pool;
    poolEl.textContent = "idle " + p.idle + " · allocated " + p.allocated + " · draining " +
      p.draining + " · unhealthy " + p.unhealthy +
      (p.idle_buffer != null ? " · buffer " + p.idle_buffer + " (scale " +
        (p.scale_delta > 0 ? "+" : "") + p.scale_delta + ")" : "") +
      (s.settling ? " · rebuilding area map…" : "");
    document.body.dataset.ready = "true";
  }

  // World metres -> percent of the grid's width/height.
  function place(x, z) {
    const w = grid.columns * grid.area_size;
    const h = grid.rows * grid.area_size;
    return [((x - grid.origin_x) / w) * 100, ((z - grid.origin_z) / h) * 100];
  }

  function onPositions(sample) {
    if (!grid) return;
    zoneSamples.set(sample.zone, { at: Date.now(), players: sample.players });
    drawDots();
  }

  function drawDots() {
    const now = Date.now();
    const seen = new Set();
    for (const [zone, s] of zoneSamples) {
      if (now - s.at > DOT_TTL_MS) { zoneSamples.delete(zone); continue; }
      for (const p of s.players) {
        seen.add(p.character);
        let d = dotEls.get(p.character);
        if (!d) {
          d = el("span", "dot");
          d.title = p.character;
          dotEls.set(p.character, d);
          dots.append(d);
        }
        const [left, top] = place(p.x, p.z);
        d.style.left = left + "%";
        d.style.top = top + "%";
      }
    }
    for (const [id, d] of dotEls) {
      if (!seen.has(id)) { d.remove(); dotEls.delete(id); }
    }
  }

  function centre(a) {
    return [((a.x + 0.5) / grid.columns) * 100, ((a.z + 0.5) / grid.rows) * 100];
  }

  function onHandoff(h) {
    if (grid) {
      const [x1, y1] = centre(h.from);
      const [x2, y2] = centre(h.to);
      const line = document.createElementNS(SVG, "line");
      line.setAttribute("x1", x1 + "%"); line.setAttribute("y1", y1 + "%");
      line.setAttribute("x2", x2 + "%"); line.setAttribute("y2", y2 + "%");
      line.setAttribute("class", "handoff");
      overlay.append(line);
      setTimeout(() => line.remove(), 2000);
    }
    const li = el("li", "", new Date(h.at).toLocaleTimeString() + "  " + short(h.character) +
      "  " + areaKey(h.from) + " → " + areaKey(h.to));
    handoffs.prepend(li);
    while (handoffs.children.length > 50) handoffs.lastChild.remove();
  }

  function parse(ev) {
    try { return JSON.parse(ev.data); } catch (e) { return null; }
  }

  function connect() {
    const es = new EventSource("/v1/events");
    es.addEventListener("open", () => { conn.textContent = "live"; conn.className = "badge on"; });
    es.addEventListener("error", () => { conn.textContent = "reconnecting…"; conn.className = "badge off"; });
    es.addEventListener("state", (ev) => { const s = parse(ev); if (s) onState(s); });
    es.addEventListener("positions", (ev) => { const s = parse(ev); if (s) onPositions(s); });
    es.addEventListener("handoff", (ev) => { const h = parse(ev); if (h) onHandoff(h); });
  }

  setInterval(drawDots, 1000);
  connect();
})();
