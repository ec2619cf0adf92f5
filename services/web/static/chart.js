// Charts with uPlot (npm, served from /vendor/uplot/): trips over time from /api/frequency, and one
// station's bikes over the last 24 h of data from /api/stations/<id>/history. Axes in New York time.
import uPlot from "/vendor/uplot/uPlot.esm.js";
import { formatShort, ZONE } from "./time.js";

const tzDate = (seconds) => uPlot.tzDate(new Date(seconds * 1000), ZONE);

async function getJson(url) {
  const response = await fetch(url, { cache: "no-store" });
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || `${url} answered ${response.status}`);
  return body;
}

/** Buckets as two arrays for uPlot, with the empty buckets of a uniform step filled with 0. */
function series(body) {
  const start = Date.parse(body.from) / 1000;
  const end = Date.parse(body.to) / 1000;
  const step = body.step_seconds;
  const counts = new Map(body.points.map(([t, n]) => [Date.parse(t) / 1000, n]));
  if (step >= 86400) return [[...counts.keys()], [...counts.values()]];
  const xs = [];
  const ys = [];
  for (let t = Math.floor(start / step) * step; t < end; t += step) { xs.push(t); ys.push(counts.get(t) ?? 0); }
  return [xs, ys];
}

/**
 * The trips chart. Drag across it to zoom in (finer buckets are fetched), "Whole span" zooms out,
 * a click picks that moment (onPick(ms)). `mark(ms)` draws the selected moment as a vertical line.
 */
export class TripsChart {
  constructor(container, { onPick, onInfo }) {
    Object.assign(this, { container, onPick, onInfo });
    this.marked = null;
    this.plot = null;
    this.downAt = null;
    this.zoomed = false;
  }

  async load(fromIso = null, toIso = null) {
    const query = new URLSearchParams();
    if (fromIso) query.set("from", fromIso);
    if (toIso) query.set("to", toIso);
    const body = await getJson(`/api/frequency?${query}`);
    this.zoomed = Boolean(fromIso || toIso);
    const data = series(body);
    this.container.dataset.total = String(body.total);
    this.container.dataset.step = body.step;
    this.onInfo(body);
    if (this.plot) { this.plot.setData(data); return body; }
    this.plot = new uPlot(this.options(body.step), data, this.container);
    const over = this.plot.over;
    over.addEventListener("mousedown", (event) => { this.downAt = event.clientX; });
    over.addEventListener("click", (event) => {
      if (this.downAt !== null && Math.abs(event.clientX - this.downAt) > 4) return; // that was a drag
      const seconds = this.plot.posToVal(event.offsetX, "x");
      if (Number.isFinite(seconds)) this.onPick(seconds * 1000);
    });
    new ResizeObserver(() => this.fit()).observe(this.container);
    return body;
  }

  options() {
    return {
      width: Math.max(200, this.container.clientWidth),
      height: 140,
      tzDate,
      legend: { show: false },
      scales: { x: { time: true } },
      cursor: { drag: { x: true, y: false, setScale: false }, points: { show: false } },
      series: [
        {},
        { label: "Trips", stroke: "#1f5fbf", fill: "rgba(59,130,246,0.35)", paths: uPlot.paths.bars({ size: [0.9, 40] }) },
      ],
      axes: [{ size: 44 }, { size: 44 }],
      hooks: {
        setSelect: [(u) => {
          if (u.select.width < 5) return;
          const from = u.posToVal(u.select.left, "x");
          const to = u.posToVal(u.select.left + u.select.width, "x");
          u.setSelect({ left: 0, width: 0, top: 0, height: 0 }, false);
          this.load(new Date(from * 1000).toISOString(), new Date(to * 1000).toISOString()).catch(() => {});
        }],
        draw: [(u) => this.drawMark(u)],
      },
    };
  }

  fit() {
    if (this.plot) this.plot.setSize({ width: Math.max(200, this.container.clientWidth), height: 140 });
  }

  mark(ms) {
    this.marked = ms;
    this.container.dataset.marked = ms === null ? "" : new Date(ms).toISOString();
    if (this.plot) this.plot.redraw(false);
  }

  drawMark(u) {
    if (this.marked === null) return;
    const x = u.valToPos(this.marked / 1000, "x", true);
    if (x < u.bbox.left || x > u.bbox.left + u.bbox.width) return;
    const { ctx } = u;
    ctx.save();
    ctx.strokeStyle = "#d9480f";
    ctx.lineWidth = 2 * devicePixelRatio;
    ctx.beginPath();
    ctx.moveTo(x, u.bbox.top);
    ctx.lineTo(x, u.bbox.top + u.bbox.height);
    ctx.stroke();
    ctx.restore();
  }
}

/** Draw `station`'s bikes over the last 24 h of data into `container` (a small stepped line). */
export async function drawStationHistory(station, container) {
  const status = document.createElement("p");
  status.className = "chart-status";
  status.textContent = "loading…";
  container.replaceChildren(status);
  let body;
  try {
    body = await getJson(`/api/stations/${encodeURIComponent(station.station_id)}/history`);
  } catch (error) {
    status.textContent = `history unavailable: ${error.message}`;
    return;
  }
  const start = Date.parse(body.from) / 1000;
  const end = Date.parse(body.to) / 1000;
  const xs = [];
  const ys = [];
  for (const point of body.points) { xs.push(Math.max(start, Date.parse(point.t) / 1000)); ys.push(point.bikes); }
  if (xs.length === 0) { status.textContent = "no changes in the last 24 h of data"; return; }
  xs.push(end); ys.push(ys[ys.length - 1]);
  status.textContent = `Bikes, ${formatShort(start * 1000)} – ${formatShort(end * 1000)} (New York)`;
  const plotBox = document.createElement("div");
  plotBox.setAttribute("role", "img");
  plotBox.setAttribute("aria-label", `Bikes at this station over the last 24 hours of data: from ${ys[0]} to ${ys[ys.length - 1]}, at most ${Math.max(...ys)}`);
  container.append(plotBox);
  container.dataset.points = String(body.points.length);
  new uPlot({
    width: 250, height: 110, tzDate, legend: { show: false },
    scales: { x: { time: true, range: [start, end] }, y: { range: (u, lo, hi) => [Math.min(0, lo), Math.max(1, hi + 1)] } },
    cursor: { show: false },
    series: [{}, { stroke: "#1f5fbf", fill: "rgba(59,130,246,0.25)", paths: uPlot.paths.stepped({ align: 1 }) }],
    axes: [{ size: 28, space: 60 }, { size: 30 }],
  }, [xs, ys], plotBox);
}
