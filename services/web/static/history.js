// The history view: a slider and a New York date/time input over the replayed data's span. Picking a
// moment loads GET /api/stations?at= and shows the map as it was then; "Live" returns to the pushed
// state. The trips chart marks the selected moment, and a click on it picks a moment too.
import { TripsChart } from "./chart.js";
import { formatNewYork, fromNewYorkInput, toNewYorkInput } from "./time.js";

const MINUTE = 60000;
const CHART_REFRESH_MS = 20000;

export class HistoryPanel {
  /**
   * @param onSnapshot ({stations, atMs}) => void, show the map as it was at atMs
   * @param onLive     () => void, show the live state again
   */
  constructor({ onSnapshot, onLive }) {
    Object.assign(this, { onSnapshot, onLive });
    this.slider = document.getElementById("time-slider");
    this.input = document.getElementById("time-input");
    this.liveButton = document.getElementById("live-button");
    this.status = document.getElementById("history-status");
    this.wholeButton = document.getElementById("chart-whole");
    this.chartInfo = document.getElementById("chart-info");
    this.chart = new TripsChart(document.getElementById("trips-chart"), {
      onPick: (ms) => this.select(ms),
      onInfo: (body) => {
        this.chartInfo.textContent = `${body.total.toLocaleString("en-US")} trips, per ${body.step} (New York time)`;
      },
    });
    this.span = null;
    this.request = 0;
    this.debounce = null;
    this.chartLoadedAt = 0;
    this.initializing = null;
    this.slider.addEventListener("input", () => {
      const ms = Number(this.slider.value) * MINUTE;
      this.input.value = toNewYorkInput(ms);
      clearTimeout(this.debounce);
      this.debounce = setTimeout(() => this.select(ms), 200);
    });
    this.input.addEventListener("change", () => {
      const ms = fromNewYorkInput(this.input.value);
      if (Number.isFinite(ms)) this.select(ms);
    });
    this.liveButton.addEventListener("click", () => this.goLive());
    this.wholeButton.addEventListener("click", () => this.loadChart());
  }

  init() {
    // One initialisation at a time: the live feed calls liveClock() for every batch.
    this.initializing ??= (async () => {
      try {
        await this.loadSpan();
        if (this.span) await this.loadChart();
      } finally {
        this.initializing = null;
      }
    })();
    return this.initializing;
  }

  async loadSpan() {
    const response = await fetch("/api/span", { cache: "no-store" });
    const body = await response.json();
    if (!body.from || !body.to) { this.setEnabled(false); return; }
    this.span = { from: Date.parse(body.from), to: Date.parse(body.to) };
    this.slider.min = String(Math.floor(this.span.from / MINUTE));
    this.slider.max = String(Math.ceil(this.span.to / MINUTE));
    this.input.min = toNewYorkInput(this.span.from);
    this.input.max = toNewYorkInput(this.span.to);
    if (!this.isHistory()) { this.slider.value = this.slider.max; this.input.value = toNewYorkInput(this.span.to); }
    this.setEnabled(true);
  }

  async loadChart() {
    this.chartLoadedAt = Date.now();
    try { await this.chart.load(); } catch (error) { this.chartInfo.textContent = `chart unavailable: ${error.message}`; }
  }

  /** The live data's clock moved: stretch the span, refresh the chart now and then. */
  async liveClock(ms) {
    if (!this.span) { await this.init(); return; }
    if (ms > this.span.to) {
      this.span.to = ms;
      this.slider.max = String(Math.ceil(ms / MINUTE));
      this.input.max = toNewYorkInput(ms);
      if (!this.isHistory()) { this.slider.value = this.slider.max; this.input.value = toNewYorkInput(ms); }
    }
    if (!this.chart.zoomed && Date.now() - this.chartLoadedAt > CHART_REFRESH_MS) await this.loadChart();
  }

  setEnabled(enabled) {
    for (const control of [this.slider, this.input]) control.disabled = !enabled;
    if (!enabled) this.status.textContent = "History appears once the first batch has arrived.";
  }

  isHistory() {
    return document.body.dataset.mode === "history";
  }

  async select(ms) {
    if (!this.span) return;
    const at = Math.min(Math.max(ms, this.span.from), this.span.to);
    const ticket = ++this.request;
    const iso = new Date(at).toISOString();
    this.slider.value = String(Math.round(at / MINUTE));
    this.input.value = toNewYorkInput(at);
    this.status.textContent = `Loading the map at ${formatNewYork(at)}…`;
    let body;
    try {
      const response = await fetch(`/api/stations?at=${encodeURIComponent(iso)}`, { cache: "no-store" });
      body = await response.json();
      if (!response.ok) throw new Error(body.error || `status ${response.status}`);
    } catch (error) {
      if (ticket === this.request) this.status.textContent = `Could not load that moment: ${error.message}`;
      return;
    }
    if (ticket !== this.request) return; // a later pick superseded this one
    this.liveButton.disabled = false;
    this.chart.mark(at);
    this.onSnapshot({ stations: body.stations, atMs: at });
    this.status.textContent = `Showing ${formatNewYork(at)}. Live updates continue in the background.`;
    document.body.dataset.historyAt = iso;
  }

  goLive() {
    this.request += 1;
    this.liveButton.disabled = true;
    this.chart.mark(null);
    delete document.body.dataset.historyAt;
    if (this.span) { this.slider.value = this.slider.max; this.input.value = toNewYorkInput(this.span.to); }
    this.status.textContent = "Showing the live state.";
    this.onLive();
  }
}
