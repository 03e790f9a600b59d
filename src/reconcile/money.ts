/**
 * Report amounts are decimal strings in cents with fractional minor units ("1234.5678" is
 * $12.345678). They are parsed exactly into whole nanodollars (1 cent = 10^7 nanodollars),
 * the unit the store sums costs in, so no float ever touches a billed amount.
 */

const NANO_PER_CENT = 10_000_000;

/** `"1234.5678"` (cents) → 12_345_678_000 nanodollars. Throws on anything but a decimal. */
export function centsToNanoUsd(amount: string): number {
  const m = /^(-?)(\d+)(?:\.(\d+))?$/.exec(amount.trim());
  if (!m) throw new Error(`not a decimal amount in cents: ${JSON.stringify(amount)}`);
  const sign = m[1] === '-' ? -1 : 1;
  const whole = Number(m[2]) * NANO_PER_CENT;
  const frac = (m[3] ?? '').padEnd(8, '0');
  // 7 fractional digits of a cent are whole nanodollars; the 8th rounds half up.
  const fracNano = Number(frac.slice(0, 7)) + (Number(frac[7]) >= 5 ? 1 : 0);
  return sign * (whole + fracNano);
}

/** Nanodollars → a decimal string in cents, as the reports write it (trailing zeros trimmed). */
export function nanoUsdToCents(nano: number): string {
  const sign = nano < 0 ? '-' : '';
  const n = Math.abs(Math.round(nano));
  const whole = Math.floor(n / NANO_PER_CENT);
  const frac = String(n % NANO_PER_CENT).padStart(7, '0').replace(/0+$/, '');
  return `${sign}${whole}${frac ? `.${frac}` : ''}`;
}

export const usdToNano = (usd: number): number => Math.round(usd * 1e9);
