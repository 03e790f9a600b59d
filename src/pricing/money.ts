/**
 * Exact money arithmetic for the cost engine.
 *
 * Units:
 * - A **rate** is an integer number of picodollars per token (1 pUSD = 1e-12 USD). One
 *   pUSD per token is exactly 1e-6 USD per million tokens, so a list price written with at
 *   most six decimals in USD/MTok (every Anthropic price is) is an exact integer rate:
 *   $0.125/MTok = 125,000 pUSD/token, $75/MTok = 75,000,000 pUSD/token.
 * - A **multiplier** (batch 0.5, US geo 1.1, a negotiated 0.85) is a reduced fraction of two
 *   small integers, parsed from its decimal spelling, never a float.
 * - A call's cost is rounded **once**, half-to-even, to whole **nanodollars** (1 nUSD =
 *   1e-9 USD). See {@link roundHalfEven} and docs/pricing.md for why that unit.
 *
 * The hot path works on plain numbers and checks that every intermediate stayed below
 * 2^53; when a value could be larger (billions of tokens) it redoes the sum with BigInt.
 */

/** Picodollars in one USD. */
export const PICO_PER_USD = 1_000_000_000_000;
/** Nanodollars in one USD: the unit every call's cost is rounded to. */
export const NANO_PER_USD = 1_000_000_000;
/** Picodollars in one nanodollar. */
export const PICO_PER_NANO = 1000;
/** Decimal places a rate may have in USD per million tokens (so it is a whole pUSD/token). */
export const RATE_DECIMALS = 6;
/** Decimal places a multiplier may have. */
export const MULTIPLIER_DECIMALS = 6;

/** A non-negative fraction `num / den`, both safe integers, `den > 0`, reduced. */
export interface Fraction {
  readonly num: number;
  readonly den: number;
}

/** The multiplier 1. */
export const ONE: Fraction = Object.freeze({ num: 1, den: 1 });

function gcd(a: number, b: number): number {
  while (b !== 0) {
    const t = a % b;
    a = b;
    b = t;
  }
  return a;
}

/** A reduced fraction. */
export function fraction(num: number, den: number): Fraction {
  if (num === 0) return { num: 0, den: 1 };
  const g = gcd(num, den);
  return { num: num / g, den: den / g };
}

/** Product of two fractions, reduced (inputs are small, so this stays exact). */
/** A multiplier as its decimal (0.85, 1.1). */
export function fractionText(f: Fraction): string {
  return f.den === 1 ? String(f.num) : String(f.num / f.den);
}

export function mulFraction(a: Fraction, b: Fraction): Fraction {
  if (a.den === 1 && a.num === 1) return b;
  if (b.den === 1 && b.num === 1) return a;
  return fraction(a.num * b.num, a.den * b.den);
}

/**
 * Parses a non-negative decimal (a JSON/YAML number or a numeric string) into an integer
 * scaled by 10^decimals, exactly (no float arithmetic). Returns null when the value is not
 * a finite non-negative decimal or has more than `decimals` places.
 *
 * @example parseScaledDecimal(0.125, 6) === 125000
 */
export function parseScaledDecimal(value: unknown, decimals: number): number | null {
  let text: string;
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || value < 0) return null;
    text = String(value); // shortest round-trip spelling, e.g. "0.125" or "1e-7"
  } else if (typeof value === 'string') {
    text = value.trim();
  } else {
    return null;
  }
  const m = /^\+?(\d*)(?:\.(\d*))?(?:e([+-]?\d+))?$/i.exec(text);
  if (!m) return null;
  const intPart = m[1] ?? '';
  const fracPart = m[2] ?? '';
  if (intPart === '' && fracPart === '') return null;
  const exp = m[3] === undefined ? 0 : Number(m[3]);
  // digits × 10^(exp − fracPart.length) × 10^decimals
  let digits = (intPart + fracPart).replace(/^0+(?=\d)/, '');
  let shift = exp - fracPart.length + decimals;
  if (shift < 0) {
    const cut = digits.slice(digits.length + shift);
    if (cut.length > 0 && /[^0]/.test(cut)) return null; // more places than allowed
    digits = digits.slice(0, Math.max(0, digits.length + shift)) || '0';
    shift = 0;
  }
  const big = BigInt(digits) * 10n ** BigInt(shift);
  if (big > BigInt(Number.MAX_SAFE_INTEGER)) return null;
  return Number(big);
}

/** USD per million tokens → integer pUSD per token, or null when not exact to 1e-6. */
export function rateFromUsdPerMTok(value: unknown): number | null {
  return parseScaledDecimal(value, RATE_DECIMALS);
}

/** A decimal multiplier (e.g. `1.1`, `"0.85"`) → reduced fraction, or null. */
export function multiplierFromDecimal(value: unknown): Fraction | null {
  const scaled = parseScaledDecimal(value, MULTIPLIER_DECIMALS);
  if (scaled === null) return null;
  return fraction(scaled, 10 ** MULTIPLIER_DECIMALS);
}

/** `num / den` rounded half-to-even, for safe non-negative integers. */
export function roundHalfEven(num: number, den: number): number {
  const r = num % den;
  const q = (num - r) / den;
  const twice = r * 2;
  if (twice > den) return q + 1;
  if (twice < den) return q;
  return q % 2 === 0 ? q : q + 1;
}

/** `num / den` rounded half-to-even, BigInt version. */
export function roundHalfEvenBig(num: bigint, den: bigint): bigint {
  const q = num / den;
  const r = num - q * den;
  const twice = r * 2n;
  if (twice > den) return q + 1n;
  if (twice < den) return q;
  return q % 2n === 0n ? q : q + 1n;
}

/**
 * The exact decimal expansion of `num / den` USD-scaled values. `den` must divide a power of
 * ten (its only prime factors are 2 and 5), which holds for every amount the engine makes:
 * rates are integers and multipliers are decimals.
 *
 * @param scale how many of the value's units make one (e.g. 1e12 for pUSD → USD)
 * @example exactDecimal(11n, 20n, 1_000_000_000_000n) === "0.00000000000055"
 */
export function exactDecimal(num: bigint, den: bigint, scale: bigint): string {
  let d = den * scale;
  let n = num;
  // Bring the denominator to a power of ten.
  let places = 0;
  let pow = 1n;
  while (pow % d !== 0n) {
    pow *= 10n;
    places++;
    if (places > 60) break; // not a terminating decimal; cannot happen for our inputs
  }
  n = n * (pow / d);
  d = pow;
  const neg = n < 0n;
  if (neg) n = -n;
  const s = n.toString().padStart(places + 1, '0');
  let out = places === 0 ? s : `${s.slice(0, s.length - places)}.${s.slice(s.length - places)}`;
  if (out.includes('.')) out = out.replace(/0+$/, '').replace(/\.$/, '');
  return neg ? `-${out}` : out;
}

/** Formats whole nanodollars as a USD decimal string with nine places, e.g. "0.000001650". */
export function formatNanoUsd(nano: number): string {
  const neg = nano < 0;
  const abs = BigInt(Math.abs(nano));
  const whole = abs / 1_000_000_000n;
  const frac = (abs % 1_000_000_000n).toString().padStart(9, '0');
  return `${neg ? '-' : ''}${whole}.${frac}`;
}

/** The number formats of {@link formatUsd}, made at its first use (not when the module loads). */
let usdFormats: { cents: Intl.NumberFormat; four: Intl.NumberFormat; subCent: Intl.NumberFormat } | undefined;

/**
 * An amount in USD as every view shows it (report tables, rule notes, reconciliation, the
 * demo; the dashboard's `money()` in src/daemon/web/format.js follows the same rules, and a
 * test holds the two together): cents from $1 (`$1,234.56`), four decimals below (`$0.0123`: a
 * single call often costs a fraction of a cent), up to six below a cent (`$0.000315`), so a cost
 * is never shown as `$0.0000`. `null` (an amount the data does not give) is `nullText`.
 */
export function formatUsd(usd: number | null, nullText = 'n/a'): string {
  if (usd === null) return nullText;
  const a = Math.abs(usd);
  const f = (usdFormats ??= {
    cents: new Intl.NumberFormat('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 }),
    four: new Intl.NumberFormat('en-US', { minimumFractionDigits: 4, maximumFractionDigits: 4 }),
    subCent: new Intl.NumberFormat('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 6 }),
  });
  const digits = (a >= 1 || a === 0 ? f.cents : a >= 0.01 ? f.four : f.subCent).format(a);
  // An amount that shows as zero shows no sign (-0, a difference of a billionth).
  return `${usd < 0 && /[1-9]/.test(digits) ? '-' : ''}$${digits}`;
}

/** Whole nanodollars → USD as a number (for JSON and metrics; the integer is the truth). */
export function nanoToUsd(nano: number): number {
  return nano / NANO_PER_USD;
}

/**
 * Parses a USD decimal string ("0.0123", "12") into whole nanodollars, exactly; null when
 * it has more than nine decimals. Used by tests and by `reprice` reports.
 */
export function usdToNano(value: string | number): number | null {
  return parseScaledDecimal(value, 9);
}
