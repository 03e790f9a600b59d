/**
 * Numeric options checked as the user typed them. yargs' `type: 'number'` turns `abc` into
 * NaN, so a message could only say "got NaN": options that take a number are declared as
 * strings (their numeric defaults stay numbers) and read here, where a bad value is named as
 * typed: `--port: expected a port number 0-65535, got "abc"`.
 *
 * @example
 * const port = portOption('--port', argv.port);                                   // 0-65535
 * const calls = numberOption('--calls', argv.calls, { integer: true, min: 1, expected: 'a whole number ≥ 1' });
 */

export interface NumberRule {
  /** Only whole numbers. */
  integer?: boolean;
  /** Least value allowed (inclusive). */
  min?: number;
  /** Least value refused below or at (exclusive), e.g. 0 for "above 0". */
  above?: number;
  /** Greatest value allowed (inclusive). */
  max?: number;
  /** What a good value is, for the message: `a whole number ≥ 1`. */
  expected: string;
}

/** A decimal number as typed: digits, an optional fraction and exponent; no hex, no blanks. */
const DECIMAL = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;

/**
 * The number an option (or environment variable) `name` holds, `raw` as parsed: a string as
 * typed, or a number (a default). Refuses anything else, naming it as typed.
 *
 * @throws Error `NAME: expected …, got "typed"`
 */
export function numberOption(name: string, raw: unknown, rule: NumberRule): number {
  const bad = (shown: string): Error => new Error(`${name}: expected ${rule.expected}, got ${shown}`);
  if (Array.isArray(raw)) throw bad(`${raw.map((v) => JSON.stringify(String(v))).join(', ')} (give it once)`);
  let n: number;
  if (typeof raw === 'number') n = raw;
  else if (typeof raw === 'string' && DECIMAL.test(raw.trim())) n = Number(raw.trim());
  else throw bad(JSON.stringify(typeof raw === 'string' ? raw : String(raw)));
  const fits = Number.isFinite(n) && (!rule.integer || Number.isInteger(n))
    && (rule.min === undefined || n >= rule.min) && (rule.above === undefined || n > rule.above) && (rule.max === undefined || n <= rule.max);
  if (!fits) throw bad(typeof raw === 'string' ? JSON.stringify(raw) : String(raw));
  return n;
}

/** A port to listen on, 0 (any free one) to 65535. */
export function portOption(name: string, raw: unknown): number {
  return numberOption(name, raw, { integer: true, min: 0, max: 65535, expected: 'a port number 0-65535' });
}
