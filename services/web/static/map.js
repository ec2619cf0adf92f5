// The rider's map: every station, live from the websocket, or as it was at a chosen moment.
//
// Other scripts (e.g. the search box) use it through `window.bikeshareMap`, set before the
// `bikeshare:ready` event fires on window:
//   bikeshareMap.map              the Leaflet map (L.Map)
//   bikeshareMap.stations()       the stations currently shown, in the API's shape
//                                 ({station_id, name, lat, lon, bikes, ebikes, docks, capacity, ...})
//   bikeshareMap.onUpdate(fn)     fn({stations, full, mode}) after every change shown: `full` = the whole
//                                 set was replaced (load, resync, history moment), else `stations` changed;
//                                 mode is "live" or "history". Returns a function that unsubscribes.
//   bikeshareMap.openStation(id)  pan to a station and open its popup; false if unknown
//
// The page needs no inline script or style, so it runs under a strict Content-Security-Policy.
import { HistoryPanel } from "./history.js";
import { LiveFeed } from "./live.js";
import { StationsLayer } from "./stations-layer.js";
import { drawStationHistory } from "./chart.js";
import { formatNewYork } from "./time.js";

const PHONE = window.matchMedia("(max-width: 600px)");
const statusText = {
  connecting: () => "connecting…",
  waiting: () => "connected: waiting for the first batch",
  live: () => "live",
  reconnecting: (seconds) => `connection lost: retrying in ${seconds} s`,
};

const body = document.body;
const statusEl = document.getElementById("status");
const clockEl = document.getElementById("clock");
const countEl = document.getElementById("count");
const tilesNotice = document.getElementById("tiles-notice");

const map = L.map("map", { zoomControl: true, preferCanvas: false }).setView([40.73, -73.97], PHONE.matches ? 12 : 13);
const live = new Map(); // station_id -> the latest live station
let liveClock = NaN; // the data's clock (ms)
let shownClock = NaN; // the clock of what is shown (liveClock, or the history moment)
let fitted = false;
const listeners = new Set();

const layer = new StationsLayer(map, { getClock: () => shownClock, onStationHistory: drawStationHistory });

function notify(stations, full) {
  for (const fn of listeners) {
    try { fn({ stations, full, mode: body.dataset.mode }); } catch (error) { console.error(error); }
  }
}

function refreshCount() {
  const n = layer.withBikes();
  countEl.textContent = `${n.toLocaleString("en-US")} docks with bikes`;
  body.dataset.docks = String(n);
}

function refreshClock() {
  const label = body.dataset.mode === "history" ? "Showing" : "Data time";
  clockEl.textContent = Number.isFinite(shownClock) ? `${label}: ${formatNewYork(shownClock)}` : `${label}: no data yet`;
  clockEl.dataset.clock = Number.isFinite(shownClock) ? new Date(shownClock).toISOString() : "";
}

function fitOnce(stations) {
  if (fitted || stations.length === 0) return;
  fitted = true;
  const bounds = L.latLngBounds(stations.map((s) => [s.lat, s.lon]));
  map.fitBounds(bounds.pad(0.02), { maxZoom: 14, animate: false });
}

function advanceClock(ms) {
  if (Number.isFinite(ms) && !(ms <= liveClock)) liveClock = ms;
}

const history = new HistoryPanel({
  onSnapshot: ({ stations, atMs }) => {
    body.dataset.mode = "history";
    shownClock = atMs;
    layer.showAll(stations, { missingAsNoData: true });
    refreshCount(); refreshClock(); notify(stations, true);
  },
  onLive: () => {
    body.dataset.mode = "live";
    shownClock = liveClock;
    layer.showAll([...live.values()]);
    refreshCount(); refreshClock(); notify([...live.values()], true);
  },
});

const feed = new LiveFeed({
  onState: ({ state, detail }) => {
    statusEl.dataset.state = state;
    statusEl.textContent = statusText[state](detail);
  },
  onFull: ({ stations, asOf }) => {
    live.clear();
    for (const s of stations) live.set(s.station_id, s);
    advanceClock(asOf);
    if (stations.length) history.liveClock(liveClock);
    if (body.dataset.mode === "history") return;
    shownClock = liveClock;
    layer.showAll(stations);
    fitOnce(stations);
    refreshCount(); refreshClock(); notify(stations, true);
  },
  onChange: ({ stations, asOf, batchId }) => {
    for (const s of stations) live.set(s.station_id, s);
    advanceClock(asOf);
    body.dataset.lastBatch = String(batchId);
    history.liveClock(liveClock);
    if (body.dataset.mode === "history") return;
    shownClock = liveClock;
    layer.update(stations);
    fitOnce(stations);
    refreshCount(); refreshClock(); notify(stations, false);
  },
});

async function setUpTiles() {
  let config = { tile_url: "" };
  try { config = await (await fetch("/api/map-config")).json(); } catch { /* no tiles then */ }
  const unavailable = (why) => {
    body.dataset.tiles = "unavailable";
    tilesNotice.textContent = `Map tiles unavailable (${why}): stations are drawn on a plain background.`;
    tilesNotice.hidden = false;
  };
  if (!config.tile_url) { unavailable("no tile server configured"); return; }
  // The attribution is an operator setting, but Leaflet inserts it as HTML: pass it as text.
  const attribution = document.createElement("span");
  attribution.textContent = config.tile_attribution || "";
  const tiles = L.tileLayer(config.tile_url, { maxZoom: 19, attribution: attribution.innerHTML });
  let loaded = 0;
  let failed = 0;
  tiles.on("tileload", () => { loaded += 1; body.dataset.tiles = "ok"; });
  tiles.on("tileerror", () => {
    failed += 1;
    if (loaded === 0 && failed >= 3) { tiles.remove(); unavailable("the tile server cannot be reached"); }
  });
  tiles.addTo(map);
}

function setUpControls() {
  const showEmpty = document.getElementById("show-empty");
  showEmpty.addEventListener("change", () => layer.setShowEmpty(showEmpty.checked));
  const legend = document.getElementById("legend");
  if (PHONE.matches) legend.open = false;
  const panel = document.getElementById("history");
  const toggle = document.getElementById("history-toggle");
  const setOpen = (open) => {
    panel.classList.toggle("collapsed", !open);
    toggle.setAttribute("aria-expanded", String(open));
    toggle.textContent = open ? "Hide" : "Show";
    map.invalidateSize();
    history.chart.fit();
  };
  toggle.addEventListener("click", () => setOpen(panel.classList.contains("collapsed")));
  setOpen(!PHONE.matches);
  // Keyboard: with the map focused, Enter opens the station nearest the map's centre.
  map.getContainer().addEventListener("keydown", (event) => {
    if (event.key !== "Enter" || event.target !== map.getContainer()) return;
    const centre = map.latLngToContainerPoint(map.getCenter());
    let best = null;
    let bestDistance = Infinity;
    for (const s of layer.stations()) {
      const d = map.latLngToContainerPoint([s.lat, s.lon]).distanceTo(centre);
      if (d < bestDistance) { best = s; bestDistance = d; }
    }
    if (best) layer.open(best.station_id);
  });
}

window.bikeshareMap = {
  map,
  stations: () => layer.stations(),
  onUpdate(fn) { listeners.add(fn); return () => listeners.delete(fn); },
  openStation(id) {
    const station = layer.stations().find((s) => s.station_id === id);
    if (!station) return false;
    map.setView([station.lat, station.lon], Math.max(map.getZoom(), 15), { animate: false });
    return layer.open(id);
  },
};

body.dataset.mode = "live";
setUpControls();
refreshClock();
setUpTiles();
feed.start();
history.init().catch((error) => { document.getElementById("history-status").textContent = `History unavailable: ${error.message}`; });
window.dispatchEvent(new CustomEvent("bikeshare:ready"));
