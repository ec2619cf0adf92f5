// Times on the page: every moment is shown in New York time, and "how long ago" is measured against
// the DATA's clock (the replay's latest event time), never the viewer's wall clock.
export const ZONE = "America/New_York";

const full = new Intl.DateTimeFormat("en-US", {
  timeZone: ZONE, year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit",
  second: "2-digit", hour12: false,
});
const short = new Intl.DateTimeFormat("en-US", {
  timeZone: ZONE, month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", hour12: false,
});
const parts = new Intl.DateTimeFormat("en-US", {
  timeZone: ZONE, year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit",
  second: "2-digit", hour12: false,
});

/** "Sep 30, 2024, 14:05:09 New York" */
export function formatNewYork(ms) {
  return `${full.format(new Date(ms))} New York`;
}

/** "Sep 30, 14:05" (axis labels, compact places) */
export function formatShort(ms) {
  return short.format(new Date(ms));
}

/** "just now", "2 min ago", "3 h 5 min ago", "2 days ago"; "later" if `ms` is after `clockMs`. */
export function ago(ms, clockMs) {
  const seconds = Math.round((clockMs - ms) / 1000);
  if (seconds < 0) return "after the data's clock";
  if (seconds < 60) return "just now";
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ago`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return minutes % 60 ? `${hours} h ${minutes % 60} min ago` : `${hours} h ago`;
  return `${Math.floor(hours / 24)} days ago`;
}

function newYorkFields(ms) {
  const out = {};
  for (const p of parts.formatToParts(new Date(ms))) out[p.type] = p.value;
  return out;
}

/** The value for an <input type="datetime-local"> showing `ms` as New York wall-clock time. */
export function toNewYorkInput(ms) {
  const f = newYorkFields(ms);
  const hour = f.hour === "24" ? "00" : f.hour;
  return `${f.year}-${f.month}-${f.day}T${hour}:${f.minute}`;
}

/** The UTC instant (ms) of a New York wall-clock "YYYY-MM-DDTHH:MM" (NaN if it does not parse). */
export function fromNewYorkInput(value) {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?$/.exec(value);
  if (!m) return NaN;
  const wall = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +(m[6] || 0));
  // Guess with the offset at `wall`, then correct once with the offset at the guess (DST edges).
  let guess = wall - offsetMs(wall);
  guess = wall - offsetMs(guess);
  return guess;
}

function offsetMs(ms) {
  const f = newYorkFields(ms);
  const hour = f.hour === "24" ? 0 : +f.hour;
  const asUtc = Date.UTC(+f.year, +f.month - 1, +f.day, hour, +f.minute, +f.second);
  return asUtc - Math.floor(ms / 1000) * 1000;
}
