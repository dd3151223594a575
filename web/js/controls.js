// What the player wants, from the keyboard and the mouse: WASD or the arrows to move
// (Shift runs), a click on an NPC to attack it, a click on a ground item to pick it up.
// A clicked target out of reach is walked to first; moving by hand forgets it. Keys typed
// into a text field (chat) are the field's, not the game's.

const KEYS = {
  KeyW: [0, -1], ArrowUp: [0, -1],
  KeyS: [0, 1], ArrowDown: [0, 1],
  KeyA: [-1, 0], ArrowLeft: [-1, 0],
  KeyD: [1, 0], ArrowRight: [1, 0],
};

export class Controls {
  /** `canvas`: where clicks pick targets; `pick(x, y)`: the entity id under a canvas
   *  point, or null. */
  constructor(canvas, pick) {
    this.held = new Set();
    this.running = false;
    this.target = null;
    window.addEventListener("keydown", (e) => this.key(e, true));
    window.addEventListener("keyup", (e) => this.key(e, false));
    // A window that loses focus never hears the key go up: let go of everything.
    window.addEventListener("blur", () => this.held.clear());
    canvas.addEventListener("mousedown", (e) => {
      const rect = canvas.getBoundingClientRect();
      const id = pick(e.clientX - rect.left, e.clientY - rect.top);
      this.target = id === null ? null : { id };
    });
  }

  key(e, down) {
    // A key let go while typing was pressed before: it is the game's to release.
    const typing = e.target instanceof HTMLInputElement || e.target instanceof HTMLSelectElement;
    if (typing && down) return;
    this.running = e.shiftKey;
    if (!(e.code in KEYS)) return;
    if (!typing) e.preventDefault();
    if (down) {
      this.held.add(e.code);
      this.target = null;
    } else {
      this.held.delete(e.code);
    }
  }

  /** The stick from the keys held: {x, z} in −127…127 and whether running. */
  stick() {
    let x = 0;
    let z = 0;
    for (const code of this.held) {
      x += KEYS[code][0];
      z += KEYS[code][1];
    }
    return { x: Math.sign(x) * 127, z: Math.sign(z) * 127, running: this.running };
  }

  /** A stick pointing from `from` to `to` (metres), running. */
  static toward(from, to) {
    const dx = to.x - from.x;
    const dz = to.z - from.z;
    const len = Math.hypot(dx, dz) || 1;
    return { x: Math.round((dx / len) * 127), z: Math.round((dz / len) * 127), running: true };
  }
}
