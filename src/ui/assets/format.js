// Formatting shared by the dashboard's pages.

/** Escapes text for HTML. */
export const esc = (v) => String(v ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
/** A share as a percentage, '–' when unknown. */
export const pct = (v) => (v === null || v === undefined || !Number.isFinite(v) ? '–' : `${Math.round(v * 100)} %`);
/** A number with `d` decimals, '–' when unknown. */
export const num = (v, d = 1) => (v === null || v === undefined || !Number.isFinite(v) ? '–' : Number(v).toFixed(d));
/** A time in the browser's locale. */
export const when = (ms) => (ms ? new Date(ms).toLocaleString() : '–');
/** How long ago, in words. */
export const ago = (ms, now = Date.now()) => {
  const s = Math.round((now - ms) / 1000);
  return s < 90 ? `${s}s ago` : s < 5400 ? `${Math.round(s / 60)} min ago` : s < 129600 ? `${Math.round(s / 3600)} h ago` : `${Math.round(s / 86400)} d ago`;
};
