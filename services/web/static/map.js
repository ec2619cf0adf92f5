// The live map: one blue circle per dock with bikes, kept current by pushes over the websocket.
(function () {
  "use strict";
  const map = L.map("map").setView([40.73, -73.98], 12);
  L.tileLayer("https://{s}.tile.openstreetmap.org/{z}/{x}/{y}.png", {
    maxZoom: 19,
    attribution: '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors',
  }).addTo(map);

  // The map for other scripts (the search box): see services/web/static/search.js.
  window.bikeshareMap = { map };
  window.dispatchEvent(new CustomEvent("bikeshare:ready"));

  const markers = new Map();
  const status = document.getElementById("status");
  const count = document.getElementById("count");

  function show(station) {
    const existing = markers.get(station.station_id);
    if (station.bikes <= 0) {
      if (existing) { existing.remove(); markers.delete(station.station_id); }
      return;
    }
    const label = `${station.street}: ${station.bikes} bike${station.bikes === 1 ? "" : "s"}`;
    if (existing) {
      existing.setLatLng([station.lat, station.lon]).setTooltipContent(label);
    } else {
      const marker = L.circleMarker([station.lat, station.lon], {
        radius: 6, color: "#1f5fbf", fillColor: "#3b82f6", fillOpacity: 0.7, weight: 1,
        className: "dock-with-bikes",
      }).bindTooltip(label).addTo(map);
      markers.set(station.station_id, marker);
    }
  }

  function refreshCount() {
    count.textContent = `${markers.size} docks with bikes`;
    document.body.dataset.docks = String(markers.size);
  }

  async function loadAll() {
    const response = await fetch("/api/stations");
    const body = await response.json();
    for (const marker of markers.values()) marker.remove();
    markers.clear();
    body.stations.forEach(show);
    refreshCount();
  }

  function connect() {
    const ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`);
    ws.onopen = () => { status.textContent = "live"; status.dataset.state = "live"; loadAll(); };
    ws.onmessage = (message) => {
      const update = JSON.parse(message.data);
      if (update.type === "resync") { loadAll(); return; }
      if (update.type !== "stations") return;
      update.stations.forEach(show);
      refreshCount();
      document.body.dataset.lastBatch = String(update.batch_id);
    };
    ws.onclose = () => {
      status.textContent = "reconnecting…"; status.dataset.state = "offline";
      setTimeout(connect, 2000);
    };
  }
  connect();
})();
