// A station's popup, built from DOM nodes with textContent only: a station name (or any other text
// from the data) is never parsed as HTML, so `<img src=x onerror=...>` shows as those characters.
import { ago, formatNewYork } from "./time.js";

function el(tag, attrs = {}, text = null) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  if (text !== null) node.textContent = text;
  return node;
}

function row(list, field, label, value) {
  list.append(el("dt", {}, label), el("dd", { "data-field": field }, value));
}

const orUnknown = (value) => (value === null || value === undefined ? "unknown" : String(value));

/**
 * @param station  the API's station shape ({station_id, name, bikes, ebikes, docks, capacity, ...})
 * @param clockMs  the data's clock (ms), for "2 min ago"
 * @param onHistory (station, container) => void, draws the 24 h chart into `container`
 */
export function stationPopup(station, clockMs, onHistory) {
  const root = el("div", { class: "station-popup", "data-station-id": station.station_id });
  L.DomEvent.disableClickPropagation(root); // a click inside must not reach the map (it would close the popup)
  root.append(el("h2", { class: "station-name" }, station.name ?? station.street ?? station.station_id));
  const list = el("dl");
  const noData = station.bikes === null || station.bikes === undefined;
  row(list, "bikes", "Bikes", noData ? "no data at this moment" : String(station.bikes));
  row(list, "ebikes", "of which e-bikes", noData ? "–" : orUnknown(station.ebikes));
  row(list, "docks", "Free docks", noData ? "–" : orUnknown(station.docks));
  row(list, "capacity", "Capacity", orUnknown(station.capacity));
  if (station.last_event_time) {
    const changed = Date.parse(station.last_event_time);
    const when = formatNewYork(changed);
    row(list, "last_change", "Last change", Number.isFinite(clockMs) ? `${when} (${ago(changed, clockMs)})` : when);
  }
  if (station.over_capacity) list.append(el("dd", { class: "warning" }, "more bikes than the known capacity"));
  root.append(list);
  const chart = el("div", { class: "station-chart" });
  const button = el("button", { type: "button", class: "station-history" }, "Bikes over the last 24 h of data");
  button.addEventListener("click", (event) => {
    // The chart replaces the button: stop the click here, or Leaflet (seeing a target no longer inside
    // the popup) would take it for a click on the map.
    L.DomEvent.stop(event);
    button.disabled = true;
    onHistory(station, chart);
  });
  chart.append(button);
  root.append(chart);
  return root;
}
