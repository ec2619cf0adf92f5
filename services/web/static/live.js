// The live feed: GET /api/stations for the full state, then the websocket's changed stations.
// On a lost connection it retries with exponential backoff (1 s doubling to 30 s, with jitter) and
// resynchronises by reloading the full state: no page reload. Messages that arrive while the full
// state loads are kept and applied afterwards if they are newer than it.
const MIN_DELAY_MS = 1000;
const MAX_DELAY_MS = 30000;

/** The data's clock: the server's as_of, else the latest station change we know of. */
function clockOf(body, stations) {
  if (body.as_of) return Date.parse(body.as_of);
  let latest = NaN;
  for (const s of stations) {
    const t = Date.parse(s.last_event_time);
    if (!(t <= latest)) latest = t;
  }
  return latest;
}

export class LiveFeed {
  /**
   * @param onState  ({state, detail}) => void; state: connecting | waiting | live | reconnecting
   * @param onFull   ({stations, asOf}) => void, the whole state (first load and every resync)
   * @param onChange ({stations, asOf, batchId}) => void, the stations one batch changed
   */
  constructor({ onState, onFull, onChange }) {
    Object.assign(this, { onState, onFull, onChange });
    this.delay = MIN_DELAY_MS;
    this.hasData = false;
    this.socket = null;
  }

  start() {
    this.onState({ state: "connecting" });
    this.connect();
  }

  connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const socket = new WebSocket(`${scheme}://${location.host}/ws`);
    this.socket = socket;
    let pending = []; // messages received before the full state arrived
    let loaded = false;
    let snapshotBatch = null;
    socket.addEventListener("open", async () => {
      this.delay = MIN_DELAY_MS;
      try {
        snapshotBatch = await this.loadAll();
      } catch (error) {
        socket.close(); // retried by the close handler
        return;
      }
      loaded = true;
      for (const update of pending) if (snapshotBatch === null || update.batch_id > snapshotBatch) this.apply(update);
      pending = [];
    });
    socket.addEventListener("message", (message) => {
      let update;
      try { update = JSON.parse(message.data); } catch { return; }
      if (update.type === "resync") { this.loadAll().catch(() => socket.close()); return; }
      if (update.type !== "stations" || !Array.isArray(update.stations)) return;
      if (loaded) this.apply(update); else pending.push(update);
    });
    socket.addEventListener("close", () => {
      if (this.socket !== socket) return;
      const wait = Math.round(this.delay * (0.8 + 0.4 * Math.random()));
      this.delay = Math.min(MAX_DELAY_MS, this.delay * 2);
      this.onState({ state: "reconnecting", detail: Math.ceil(wait / 1000) });
      setTimeout(() => this.connect(), wait);
    });
  }

  async loadAll() {
    const response = await fetch("/api/stations", { cache: "no-store" });
    if (!response.ok) throw new Error(`GET /api/stations answered ${response.status}`);
    const body = await response.json();
    const stations = body.stations ?? [];
    if (!("as_of" in body)) body.as_of = await this.clockFromSpan(); // a server without as_of yet
    this.hasData = stations.length > 0 || Boolean(body.as_of);
    this.onFull({ stations, asOf: clockOf(body, stations) });
    this.onState({ state: this.hasData ? "live" : "waiting" });
    return body.batch_id ?? null;
  }

  async clockFromSpan() {
    try {
      const response = await fetch("/api/span", { cache: "no-store" });
      return response.ok ? (await response.json()).clock : null;
    } catch {
      return null;
    }
  }

  apply(update) {
    const asOf = update.as_of ? Date.parse(update.as_of) : clockOf({}, update.stations);
    this.onChange({ stations: update.stations, asOf, batchId: update.batch_id });
    if (!this.hasData) { this.hasData = true; this.onState({ state: "live" }); }
  }
}
