// Formatting helpers of the dashboard page: durations, ages, short ids. Pure functions, no DOM.

/**
 * A duration in ms as people read it: `850 ms`, `12.3 s`, `4m 05s`, `2h 10m`.
 * @param {number | null | undefined} ms
 */
export function duration(ms) {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '—';
  if (ms < 0) ms = 0;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`;
  const s = Math.floor(ms / 1000);
  if (s < 3600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/**
 * How long ago `iso` was, from `nowMs` (server time): `just now`, `42 s ago`, `3m 10s ago`.
 * @param {string | null | undefined} iso
 * @param {number} nowMs
 */
export function ago(iso, nowMs) {
  if (!iso) return '—';
  const ms = nowMs - Date.parse(iso);
  if (ms < 1500) return 'just now';
  return `${duration(ms)} ago`;
}

/**
 * Time since `iso` (server time), for waits and elapsed times.
 * @param {string | null | undefined} iso
 * @param {number} nowMs
 */
export function since(iso, nowMs) {
  return iso ? duration(nowMs - Date.parse(iso)) : '—';
}

/** Local wall-clock time of `iso`, e.g. `14:03:27`. @param {string | null | undefined} iso */
export function clock(iso) {
  if (!iso) return '—';
  return new Date(iso).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false });
}

/** The distinctive end of a job id (`job_01J…QCB` → `…X69QCB`). @param {string} id */
export function shortId(id) {
  return id.length > 12 ? `…${id.slice(-8)}` : id;
}

/** A link target only if it is an http(s) URL (never `javascript:` and the like). @param {string | null | undefined} url */
export function safeUrl(url) {
  if (!url) return null;
  try {
    const u = new URL(url, location.href);
    return u.protocol === 'http:' || u.protocol === 'https:' ? u.href : null;
  } catch {
    return null;
  }
}

/** `1 job` / `3 jobs`. @param {number} n @param {string} word */
export function plural(n, word) {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}
