/** Reading parsed JSON of unknown shape without throwing: an object, or a string, or null. */
export function asObject(v: unknown): Record<string, unknown> | null {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
}

export function str(v: unknown): string | null {
  return typeof v === 'string' ? v : null;
}

/** A deep copy of parsed JSON (plain objects, arrays and primitives). */
export function copyJson(v: unknown): unknown {
  if (typeof v !== 'object' || v === null) return v;
  if (Array.isArray(v)) return v.map(copyJson);
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(v)) out[key] = copyJson((v as Record<string, unknown>)[key]);
  return out;
}

/**
 * JSON text standing for the value it encodes: the event encoder writes it as it is, and
 * `JSON.stringify` as that value. Content serialised once, when it was taken.
 */
export class JsonText {
  constructor(readonly text: string) {}

  toJSON(): unknown {
    return JSON.parse(this.text) as unknown;
  }
}
