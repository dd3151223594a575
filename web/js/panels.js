// Everything around the canvas, as plain DOM: the connection line (phase, area, zone,
// ping), stats, inventory with its actions, the quest log, chat, and the cluster overlay
// (which zone owns which area, from the manager's dashboard state). Every value from the
// network goes in through textContent, never as markup.

import { ChatChannel, ITEMS, QuestStatus, itemName } from "./protocol.js";

const $ = (id) => document.getElementById(id);
const CHAT_KEPT = 100;

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function button(text, onClick) {
  const b = el("button", "small", text);
  b.type = "button";
  b.addEventListener("click", onClick);
  return b;
}

/** A colour per zone id, so areas of one zone look alike on the overlay. */
function zoneColour(zone) {
  let h = 0;
  for (const c of zone) h = (h * 31 + c.charCodeAt(0)) >>> 0;
  return "hsl(" + (h % 360) + ",55%,42%)";
}

export class Panels {
  /** `actions`: use(slot), equip(slot), drop(slot, count), accept(quest), chat(channel,
   *  text), logout(). */
  constructor(actions) {
    this.actions = actions;
    this.quests = new Map();
    $("chat-form").addEventListener("submit", (e) => {
      e.preventDefault();
      const input = $("chat-text");
      const text = input.value.trim();
      if (text) actions.chat(Number($("chat-channel").value), text);
      input.value = "";
      input.blur();
    });
    $("logout").addEventListener("click", () => actions.logout());
    window.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && document.activeElement !== $("chat-text") && !$("game").hidden) {
        e.preventDefault();
        $("chat-text").focus();
      }
    });
  }

  /** The login screen or the game. */
  showLogin(show, message = "") {
    $("login").hidden = !show;
    $("game").hidden = show;
    $("login-error").textContent = message;
  }

  /** The connection's phase ({name, detail, retryAt}) in the status line and, when not
   *  playing, over the view. */
  phase(p) {
    const badge = $("phase");
    badge.textContent = p.name;
    badge.className = "badge " + p.name;
    const banner = $("banner");
    if (p.name === "playing" || p.name === "login") {
      banner.hidden = true;
      return;
    }
    banner.hidden = false;
    const text = {
      joining: "Joining…",
      connecting: "Connecting to the zone…",
      transferring: "Crossing into the next zone…",
      reconnecting: "Connection lost — reconnecting",
    }[p.name] || p.name;
    banner.replaceChildren(el("strong", "", text), el("div", "detail", p.detail));
    if (p.retryAt) banner.append(el("div", "countdown", ""));
  }

  /** Once a frame: countdowns and the status line's numbers. */
  status(s) {
    const countdown = document.querySelector("#banner .countdown");
    if (countdown && s.retryAt) {
      const left = Math.max(0, Math.ceil((s.retryAt - performance.now()) / 1000));
      countdown.textContent = "next attempt in " + left + " s (attempt " + s.attempt + ")";
    }
    $("where").textContent = s.area ? "area " + s.area[0] + "-" + s.area[1] : "—";
    $("zone").textContent = s.zone || "—";
    $("ping").textContent = s.rtt === null ? "—" : Math.round(s.rtt) + " ms";
    $("pos").textContent = s.pos ? s.pos.x.toFixed(1) + ", " + s.pos.z.toFixed(1) : "—";
    $("transfers").textContent = String(s.transfers);
    $("time").textContent = s.timeRate === 1000 ? "100 %" : s.timeRate / 10 + " % (dilated)";
  }

  stats(s) {
    $("health-bar").style.width = (100 * s.health) / Math.max(1, s.max_health) + "%";
    $("health").textContent = s.health + " / " + s.max_health;
    $("level").textContent = String(s.level);
    $("xp").textContent = String(s.xp);
  }

  inventory(inv) {
    $("coins").textContent = String(inv.coins);
    $("weapon").textContent = inv.weapon ? itemName(inv.weapon.item) : "none";
    const list = $("slots");
    list.replaceChildren();
    inv.slots.forEach((stack, slot) => {
      if (!stack) return;
      const li = el("li", "", itemName(stack.item) + " × " + stack.count);
      li.dataset.slot = String(slot);
      const spec = ITEMS[stack.item] || {};
      if (spec.use) li.append(button("use", () => this.actions.use(slot)));
      if (spec.weapon) li.append(button("equip", () => this.actions.equip(slot)));
      li.append(button("drop", () => this.actions.drop(slot, stack.count)));
      list.append(li);
    });
    if (!list.children.length) list.append(el("li", "muted", "empty"));
  }

  questLog(log) {
    this.quests = new Map(log.quests.map((q) => [q.quest, { ...q, required: [] }]));
    this.drawQuests();
  }

  questProgress(p) {
    const q = this.quests.get(p.quest) || { quest: p.quest, status: 1, counters: [], required: [] };
    q.counters[p.objective] = p.count;
    q.required[p.objective] = p.required;
    this.quests.set(p.quest, q);
    this.drawQuests();
  }

  questCompleted(c) {
    const q = this.quests.get(c.quest);
    if (q) q.status = 2;
    this.drawQuests();
    const items = c.items.map((s) => itemName(s.item) + " × " + s.count).join(", ");
    this.system("Quest " + c.quest + " completed: +" + c.xp + " xp, +" + c.coins + " coins" + (items ? ", " + items : ""));
  }

  drawQuests() {
    const list = $("quests");
    list.replaceChildren();
    for (const q of this.quests.values()) {
      const status = QuestStatus[q.status] || "status " + q.status;
      const li = el("li", status, q.quest + " — " + status);
      if (q.status === 1 && q.counters.length) {
        const parts = q.counters.map((c, i) => (q.required[i] ? c + "/" + q.required[i] : String(c)));
        li.append(el("span", "muted", " (" + parts.join(", ") + ")"));
      }
      if (q.status === 0) li.append(button("accept", () => this.actions.accept(q.quest)));
      list.append(li);
    }
    if (!list.children.length) list.append(el("li", "muted", "no quests"));
  }

  /** A chat line from a player. */
  chat(c) {
    const channel = c.channel === ChatChannel.AREA ? "area" : "local";
    const li = el("li", channel);
    li.append(el("span", "channel", "[" + channel + "] "), el("b", "", c.name + ": "), el("span", "", c.text));
    this.line(li);
  }

  /** A line from the game itself (errors, transfers, rewards). */
  system(text) {
    this.line(el("li", "system", text));
  }

  line(li) {
    const log = $("chat-log");
    log.append(li);
    while (log.children.length > CHAT_KEPT) log.firstChild.remove();
    log.scrollTop = log.scrollHeight;
  }

  /** The cluster overlay: the grid with each area's owner, this player's area marked. */
  cluster(state, myArea) {
    const grid = $("cluster");
    grid.style.gridTemplateColumns = "repeat(" + state.grid.columns + ", 1fr)";
    const owners = new Map(state.areas.map((a) => [a.area.x + "-" + a.area.z, a]));
    grid.replaceChildren();
    for (let z = 0; z < state.grid.rows; z++) {
      for (let x = 0; x < state.grid.columns; x++) {
        const key = x + "-" + z;
        const a = owners.get(key);
        const cell = el("div", "cell" + (a ? " owned" : ""));
        cell.dataset.area = key;
        if (a) {
          cell.style.background = zoneColour(a.zone);
          cell.title = "area " + key + ": zone " + a.zone + ", epoch " + a.epoch + ", " + a.players + " players";
        } else {
          cell.title = "area " + key + ": no zone";
        }
        if (myArea && myArea[0] === x && myArea[1] === z) cell.classList.add("mine");
        cell.append(el("span", "", a ? a.zone.slice(0, 4) + " · " + a.players : key));
        grid.append(cell);
      }
    }
    const counts = state.pool;
    $("pool").textContent = counts.allocated + " allocated · " + counts.idle + " idle zones";
  }
}
