// Address search on the map: a Leaflet control with a search box; GET /api/search draws a red circle at
// the address, the docks with bikes within N blocks as blue dots (a layer of its own, on top of the
// station layer) and lists them by walking distance. Pushed updates change the listed numbers live.
//
// Uses the map through `window.bikeshareMap` (set by map.js, announced by the `bikeshare:ready` event):
//   .map           the Leaflet map                          (required)
//   .onUpdate(fn)  fn({stations, full, mode}) on each change (optional: without it this script opens
//                  its own websocket to /ws for the numbers)
// Everything the user typed or the server sent is put into the page as text (textContent), never as HTML.
(function () {
  "use strict";

  const state = { map: null, layer: null, addressMarker: null, dots: new Map(), rows: new Map(), view: null, seq: 0 };
  window.bikeshareSearch = state; // for tests and other scripts: the current circle, dots and rows

  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, value);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function plural(n, one, many) { return `${n} ${n === 1 ? one : many}`; }

  function docksText(station) {
    return station.docks === null || station.docks === undefined ? "? free docks" : plural(station.docks, "free dock", "free docks");
  }

  function dotLabel(station) {
    return `${station.name}: ${plural(station.bikes, "bike", "bikes")}, ${plural(station.ebikes, "e-bike", "e-bikes")}, ${docksText(station)}`;
  }

  function buildControl() {
    const box = el("div", { id: "search-box", class: "search-box" });
    const form = el("form", { id: "search-form", role: "search", novalidate: "" });
    const input = el("input", {
      id: "search-input", type: "search", name: "q", maxlength: "200", autocomplete: "street-address",
      placeholder: "1 Park Avenue", "aria-label": "Address: a building number and a street, or two crossing streets",
    });
    const go = el("button", { type: "submit", id: "search-go" }, "Search");
    const clear = el("button", { type: "button", id: "search-clear", hidden: "" }, "Clear");
    form.append(input, go, clear);
    const flash = el("p", { id: "search-flash", role: "alert", hidden: "" });
    const summary = el("p", { id: "search-summary", "aria-live": "polite", hidden: "" });
    const list = el("ol", { id: "search-results", "aria-label": "Docks with bikes, nearest walk first" });
    box.append(form, flash, summary, list);
    form.addEventListener("submit", (event) => { event.preventDefault(); search(input.value); });
    clear.addEventListener("click", () => { input.value = ""; reset(true); input.focus(); });
    return box;
  }

  function flash(text) {
    const node = document.getElementById("search-flash");
    node.textContent = text;
    node.hidden = !text;
  }

  function reset(restoreView) {
    if (state.layer) state.layer.clearLayers();
    state.addressMarker = null;
    state.dots.clear();
    state.rows.clear();
    document.getElementById("search-results").replaceChildren();
    const summary = document.getElementById("search-summary");
    summary.textContent = "";
    summary.hidden = true;
    document.getElementById("search-clear").hidden = true;
    flash("");
    state.map.getContainer().classList.remove("search-active");
    document.body.removeAttribute("data-search");
    if (restoreView && state.view) state.map.setView(state.view.center, state.view.zoom);
    state.view = null;
  }

  function row(station) {
    const li = el("li", { "data-station-id": station.station_id });
    const name = el("button", { type: "button", class: "search-name" }, station.name);
    name.addEventListener("click", () => state.map.setView([station.lat, station.lon], Math.max(state.map.getZoom(), 16)));
    li.append(
      name,
      el("span", { class: "search-walk" }, `${station.walking_m} m walk`),
      el("span", { class: "search-bikes" }, plural(station.bikes, "bike", "bikes")),
      el("span", { class: "search-ebikes" }, plural(station.ebikes, "e-bike", "e-bikes")),
      el("span", { class: "search-docks" }, docksText(station)),
    );
    return li;
  }

  function show(body) {
    const list = document.getElementById("search-results");
    const point = body.point;
    state.addressMarker = L.circleMarker([point.lat, point.lon], {
      radius: 11, color: "#b00020", weight: 3, fillColor: "#e53935", fillOpacity: 0.35, className: "search-address",
    }).bindTooltip(`${point.label} (${point.method}, ±${point.precision_m} m)`).addTo(state.layer);
    const stations = body.stations.length ? body.stations : body.nearest;
    const bounds = [[point.lat, point.lon]];
    for (const station of stations) {
      const dot = L.circleMarker([station.lat, station.lon], {
        radius: 8, color: "#ffffff", weight: 2, fillColor: "#0b57d0", fillOpacity: 1, className: "search-dock",
      }).bindTooltip(dotLabel(station)).addTo(state.layer);
      state.dots.set(station.station_id, dot);
      const li = row(station);
      state.rows.set(station.station_id, li);
      list.append(li);
      bounds.push([station.lat, station.lon]);
    }
    const summary = document.getElementById("search-summary");
    summary.textContent = body.message
      ? `${point.label}: ${body.message}`
      : `${point.label}: ${plural(body.stations.length, "dock", "docks")} with bikes within ${body.radius.blocks} blocks`;
    summary.title = body.radius.definition;
    summary.hidden = false;
    document.getElementById("search-clear").hidden = false;
    state.map.getContainer().classList.add("search-active");
    document.body.dataset.search = body.stations.length ? "found" : "nearest";
    state.map.fitBounds(bounds, { padding: [40, 40], maxZoom: 17 });
  }

  async function search(text) {
    const seq = ++state.seq;
    const query = text.trim();
    const view = state.view || { center: state.map.getCenter(), zoom: state.map.getZoom() };
    reset(false);
    state.view = view; // what Clear goes back to: the map as it was before the first search
    if (!query) { flash("Enter a building number and a street name, such as 1 Park Avenue"); return; }
    document.body.dataset.search = "searching";
    let response, body;
    try {
      response = await fetch(`/api/search?q=${encodeURIComponent(query)}`);
      body = await response.json();
    } catch (error) {
      if (seq === state.seq) { flash("The search is unavailable right now; try again."); document.body.dataset.search = "error"; }
      return;
    }
    if (seq !== state.seq) return; // a newer search was started meanwhile
    if (!response.ok) {
      flash(body.error || "The search failed.");
      document.body.dataset.search = "error";
      document.getElementById("search-clear").hidden = false;
      return;
    }
    show(body);
  }

  // Live numbers: every pushed station that is listed gets its numbers and dot label refreshed.
  function applyStations(stations) {
    for (const station of stations) {
      const li = state.rows.get(station.station_id);
      if (!li) continue;
      li.querySelector(".search-bikes").textContent = plural(station.bikes, "bike", "bikes");
      li.querySelector(".search-ebikes").textContent = plural(station.ebikes, "e-bike", "e-bikes");
      li.querySelector(".search-docks").textContent = docksText(station);
      li.classList.toggle("search-no-bikes", station.bikes <= 0);
      const dot = state.dots.get(station.station_id);
      if (dot) dot.setTooltipContent(dotLabel({ ...station, name: station.name || station.street }));
    }
  }

  function ownSocket() {
    const ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`);
    ws.onmessage = (message) => {
      const update = JSON.parse(message.data);
      if (update.type === "stations") applyStations(update.stations);
    };
    ws.onclose = () => setTimeout(ownSocket, 2000);
  }

  function start(api) {
    if (state.map) return;
    state.map = api.map;
    state.layer = L.layerGroup().addTo(state.map);
    const Control = L.Control.extend({
      options: { position: "topright" },
      onAdd() {
        const box = buildControl();
        L.DomEvent.disableClickPropagation(box);
        L.DomEvent.disableScrollPropagation(box);
        return box;
      },
    });
    new Control().addTo(state.map);
    if (typeof api.onUpdate === "function") {
      api.onUpdate((update) => { if (!update.mode || update.mode === "live") applyStations(update.stations || []); });
    } else {
      ownSocket();
    }
    document.body.dataset.searchReady = "true";
  }

  if (window.bikeshareMap && window.bikeshareMap.map) start(window.bikeshareMap);
  else window.addEventListener("bikeshare:ready", () => start(window.bikeshareMap));
})();
