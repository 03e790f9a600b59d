/**
 * Validation for price tables and overrides: everything is checked once, when loaded, and a
 * mistake is reported with the path of the field (e.g.
 * `pricing.models["my-model"].prices[0].input`), never discovered per call.
 */
import { rateFromUsdPerMTok, multiplierFromDecimal, type Fraction } from './money.js';

/** A price catalog or `pricing:` configuration that cannot be used. */
export class PricingConfigError extends Error {
  readonly code = 'E_PRICING_CONFIG' as const;
  /** Path of the offending field, e.g. `pricing.providers.bedrock.multiplier`. */
  readonly path: string;

  constructor(path: string, message: string, options?: { cause?: unknown }) {
    super(`${path}: ${message}`, options);
    this.name = 'PricingConfigError';
    this.path = path;
  }
}

/** `a.b`, or `a["odd key"]` when the key is not a plain identifier. */
export function childPath(path: string, key: string | number): string {
  if (typeof key === 'number') return `${path}[${key}]`;
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`;
}

export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (value instanceof Date) return `a date (${value.toISOString()})`;
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (typeof value === 'object') return 'an object';
  return String(value);
}

export function expectObject(value: unknown, path: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof Date) {
    throw new PricingConfigError(path, `expected an object (a map of fields), got ${describe(value)}`);
  }
  return value as Record<string, unknown>;
}

export function expectArray(value: unknown, path: string): unknown[] {
  if (!Array.isArray(value)) throw new PricingConfigError(path, `expected a list, got ${describe(value)}`);
  return value;
}

export function expectString(value: unknown, path: string): string {
  if (typeof value !== 'string' || value.trim() === '') {
    throw new PricingConfigError(path, `expected a non-empty string, got ${describe(value)}`);
  }
  return value;
}

export function expectBoolean(value: unknown, path: string): boolean {
  if (typeof value !== 'boolean') throw new PricingConfigError(path, `expected true or false, got ${describe(value)}`);
  return value;
}

/** Rejects keys other than `allowed`, naming the first unknown one (typos fail loudly). */
export function expectKeys(obj: Record<string, unknown>, allowed: readonly string[], path: string): void {
  for (const key of Object.keys(obj)) {
    if (!allowed.includes(key)) {
      throw new PricingConfigError(childPath(path, key), `unknown field; expected one of ${allowed.join(', ')}`);
    }
  }
}

const DATE_ONLY = /^(\d{4})-(\d{2})-(\d{2})$/;
const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})$/;

/**
 * A UTC date `YYYY-MM-DD` (midnight UTC) or an ISO 8601 time with a zone, or a `Date` (YAML 1.1
 * timestamps), as epoch milliseconds.
 */
export function expectDate(value: unknown, path: string): number {
  if (value instanceof Date) {
    const ms = value.getTime();
    if (Number.isFinite(ms)) return ms;
  } else if (typeof value === 'string') {
    const d = DATE_ONLY.exec(value);
    if (d) {
      const ms = Date.UTC(Number(d[1]), Number(d[2]) - 1, Number(d[3]));
      if (new Date(ms).toISOString().slice(0, 10) === value) return ms;
    } else if (DATE_TIME.test(value)) {
      const ms = Date.parse(value);
      if (Number.isFinite(ms)) return ms;
    }
  }
  throw new PricingConfigError(path, `expected a UTC date YYYY-MM-DD or an ISO 8601 time with a zone, got ${describe(value)}`);
}

/** A USD/MTok price → pUSD per token. */
export function expectRate(value: unknown, path: string): number {
  const rate = rateFromUsdPerMTok(value);
  if (rate === null) {
    throw new PricingConfigError(
      path,
      `expected a price in USD per million tokens (a number ≥ 0 with at most 6 decimals), got ${describe(value)}`,
    );
  }
  return rate;
}

/** A decimal multiplier (≥ 0, at most 6 decimals) → fraction. */
export function expectMultiplier(value: unknown, path: string): Fraction {
  const m = multiplierFromDecimal(value);
  if (m === null) {
    throw new PricingConfigError(path, `expected a multiplier (a number ≥ 0 with at most 6 decimals, e.g. 0.9), got ${describe(value)}`);
  }
  return m;
}

export function expectTokenCount(value: unknown, path: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new PricingConfigError(path, `expected a whole number of tokens ≥ 0, got ${describe(value)}`);
  }
  return value;
}
