// Number formatting shared by the page (and its tests): currency, tokens, durations, ratios.

// The digits of an amount; money() adds the sign and the $ (as formatUsd in src/pricing/money.ts).
const usd2 = new Intl.NumberFormat('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 });
const usd4 = new Intl.NumberFormat('en-US', { minimumFractionDigits: 4, maximumFractionDigits: 4 });
const usdSubCent = new Intl.NumberFormat('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 6 });
const int = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
const compact = new Intl.NumberFormat('en-US', { notation: 'compact', maximumFractionDigits: 1 });

/**
 * USD: cents from $1, four decimals below (a single call often costs a fraction of a cent),
 * up to six below a cent (a day's bill for one model can be less), never $0.0000 for a cost.
 */
export function money(v) {
  if (v === null || v === undefined) return 'unpriced';
  const a = Math.abs(v);
  const digits = (a >= 1 || a === 0 ? usd2 : a >= 0.01 ? usd4 : usdSubCent).format(a);
  // An amount that shows as zero shows no sign (-0, a difference of a billionth).
  return `${v < 0 && /[1-9]/.test(digits) ? '-' : ''}$${digits}`;
}

/** {@link money} where null is "n/a" (an amount the data does not give), not an unpriced cost. */
export function amount(v) {
  return v === null || v === undefined ? 'n/a' : money(v);
}

/** A count: 1,234 below 100k, then 123.4K, 1.2M. */
export function count(v) {
  if (v === null || v === undefined) return '–';
  return Math.abs(v) < 100_000 ? int.format(v) : compact.format(v);
}

/** Tokens, compact: 950, 12.3K, 4.5M. */
export function tokens(v) {
  if (v === null || v === undefined) return '–';
  return Math.abs(v) < 1000 ? int.format(v) : compact.format(v);
}

/**
 * Milliseconds as "850 ms", "1.25 s", "2 min 5 s". Each unit is chosen by the value as it will
 * be rounded, so a value just under a unit's end reads in the next one: 999.6 ms as "1.00 s",
 * 59.99 s as "1 min 0 s", never "1000 ms", "60.0 s" or "1 min 60 s".
 */
export function duration(ms) {
  if (ms === null || ms === undefined) return '–';
  if (Math.round(ms) < 1000) return `${Math.round(ms)} ms`;
  if (ms < 9_995) return `${(ms / 1000).toFixed(2)} s`;
  if (ms < 59_950) return `${(ms / 1000).toFixed(1)} s`;
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)} min ${s % 60} s`;
}

/** A ratio 0–1 as a percentage: "4.2%", "0.05%". */
export function percent(r) {
  if (r === null || r === undefined) return '–';
  const p = r * 100;
  return `${p !== 0 && Math.abs(p) < 1 ? p.toFixed(2) : p.toFixed(1)}%`;
}

/** A time as the page shows it (local time, to the second). */
export function time(ms) {
  const d = new Date(ms);
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** How long ago, roughly: "12 s ago", "5 min ago", "3 h ago". */
export function ago(ms, now = Date.now()) {
  const s = Math.max(0, Math.round((now - ms) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} d ago`;
}
