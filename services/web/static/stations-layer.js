// The stations on the map: one circle marker per station, changed in place on every update.
//   blue filled circle  bikes > 0, larger and darker with more bikes   (SVG class dock-with-bikes)
//   grey hollow circle  0 bikes (hidden by the "show empty docks" toggle) (dock-empty)
//   dashed outline      no data for that moment (history view)          (dock-no-data)
// Each path carries data-station-id. Circles are scaled by zoom; taps pick the nearest station within
// TAP_PX, so a phone's finger-sized tap works even where circles are small or overlap.
import { stationPopup } from "./popup.js";

const TAP_PX = 22;
const HIGHLIGHT_MS = 2500;
const KINDS = ["dock-with-bikes", "dock-empty", "dock-no-data"];

export function kindOf(station) {
  if (station.bikes === null || station.bikes === undefined) return "dock-no-data";
  return station.bikes > 0 ? "dock-with-bikes" : "dock-empty";
}

function baseRadius(zoom) {
  return Math.max(2.5, Math.min(12, (zoom - 9) * 1.6));
}

function styleFor(station, zoom) {
  const base = baseRadius(zoom);
  const kind = kindOf(station);
  if (kind === "dock-with-bikes") {
    const share = Math.sqrt(Math.min(station.bikes, 30) / 30); // 1 bike: 0.18, 30+: 1
    return {
      radius: base * (0.75 + 0.75 * share), color: "#1f5fbf", weight: 1,
      fillColor: "#3b82f6", fillOpacity: 0.45 + 0.5 * share, dashArray: null,
    };
  }
  if (kind === "dock-empty") {
    return { radius: base * 0.7, color: "#6b7280", weight: 1.5, fillColor: "#ffffff", fillOpacity: 0.6, dashArray: null };
  }
  return { radius: base * 0.7, color: "#9ca3af", weight: 1.5, fillColor: "#ffffff", fillOpacity: 0, dashArray: "2 2" };
}

export class StationsLayer {
  constructor(map, { getClock, onStationHistory }) {
    this.map = map;
    this.getClock = getClock;
    // The chart makes the popup taller: pan again so all of it stays in view.
    this.onStationHistory = (station, container) =>
      onStationHistory(station, container).then(() => { if (this.popup.isOpen()) this.popup.update(); });
    this.entries = new Map(); // station_id -> { station, marker }
    this.showEmpty = true;
    this.openId = null;
    // Room above for the page's overlays (search box, notices) when the map pans a popup into view.
    this.popup = L.popup({ maxWidth: 300, autoPanPaddingTopLeft: [12, 70], autoPanPaddingBottomRight: [12, 12] });
    map.on("zoomend", () => this.restyleAll());
    map.on("click", (event) => this.openNearest(event.containerPoint));
    map.on("popupopen", () => document.body.classList.add("popup-open"));
    map.on("popupclose", () => { this.openId = null; document.body.classList.remove("popup-open"); });
  }

  /** Replace what is shown by `stations`; known stations missing from it are drawn as "no data". */
  showAll(stations, { missingAsNoData = false } = {}) {
    const seen = new Set();
    for (const station of stations) { this.upsert(station, false); seen.add(station.station_id); }
    for (const [id, entry] of this.entries) {
      if (seen.has(id)) continue;
      if (missingAsNoData) this.upsert({ ...entry.station, bikes: null, ebikes: null, docks: null, last_event_time: null }, false);
      else { entry.marker.remove(); this.entries.delete(id); }
    }
    this.refreshPopup();
  }

  /** Apply changed stations in place, briefly highlighting those whose bike count changed. */
  update(stations) {
    for (const station of stations) this.upsert(station, true);
    this.refreshPopup();
  }

  upsert(station, highlight) {
    const latlng = [station.lat, station.lon];
    const entry = this.entries.get(station.station_id);
    const style = styleFor(station, this.map.getZoom());
    if (!entry) {
      const marker = L.circleMarker(latlng, { ...style, interactive: false, className: kindOf(station) }).addTo(this.map);
      marker.getElement().dataset.stationId = station.station_id;
      this.entries.set(station.station_id, { station, marker });
      return;
    }
    const changed = entry.station.bikes !== station.bikes;
    entry.station = station;
    entry.marker.setLatLng(latlng).setStyle(style).setRadius(style.radius);
    const element = entry.marker.getElement();
    element.classList.remove(...KINDS);
    element.classList.add(kindOf(station));
    if (highlight && changed) {
      element.classList.remove("dock-changed");
      void element.getBoundingClientRect(); // restart the CSS animation
      element.classList.add("dock-changed");
      clearTimeout(entry.highlightTimer);
      entry.highlightTimer = setTimeout(() => element.classList.remove("dock-changed"), HIGHLIGHT_MS);
    }
  }

  restyleAll() {
    const zoom = this.map.getZoom();
    for (const { station, marker } of this.entries.values()) {
      const style = styleFor(station, zoom);
      marker.setStyle(style).setRadius(style.radius);
    }
  }

  setShowEmpty(show) {
    this.showEmpty = show;
    document.body.classList.toggle("hide-empty", !show);
  }

  stations() {
    return [...this.entries.values()].map((entry) => entry.station);
  }

  withBikes() {
    let n = 0;
    for (const { station } of this.entries.values()) if (station.bikes > 0) n += 1;
    return n;
  }

  /** The visible station nearest a container point, if within TAP_PX. */
  nearest(point) {
    let best = null;
    let bestDistance = TAP_PX;
    for (const { station } of this.entries.values()) {
      if (!this.showEmpty && kindOf(station) === "dock-empty") continue;
      const distance = this.map.latLngToContainerPoint([station.lat, station.lon]).distanceTo(point);
      if (distance <= bestDistance) { best = station; bestDistance = distance; }
    }
    return best;
  }

  openNearest(point) {
    const station = this.nearest(point);
    if (station) this.open(station.station_id);
  }

  open(stationId) {
    const entry = this.entries.get(stationId);
    if (!entry) return false;
    this.openId = stationId;
    this.popup.setLatLng([entry.station.lat, entry.station.lon])
      .setContent(stationPopup(entry.station, this.getClock(), this.onStationHistory))
      .openOn(this.map);
    return true;
  }

  refreshPopup() {
    if (this.openId === null) return;
    const entry = this.entries.get(this.openId);
    if (!entry) { this.map.closePopup(this.popup); return; }
    const chart = this.popup.getElement()?.querySelector(".station-chart");
    const content = stationPopup(entry.station, this.getClock(), this.onStationHistory);
    if (chart) content.querySelector(".station-chart").replaceWith(chart); // keep an open chart
    this.popup.setContent(content);
  }
}
