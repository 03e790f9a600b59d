/**
 * A fast decoder of event lines: bytes → JSON → schema-checked {@link EventLine}.
 *
 * The JSON Schema (`event.schema.json`) is compiled once, one validator per line kind, so a
 * line is checked against its own kind only (dispatch on `t`) instead of against the schema's
 * `oneOf` of four kinds, which would run up to four validators per line.
 */
import { readFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import type { ValidateFunction } from 'ajv';
import { EVENT_VERSION, type EventLine } from './types.js';

/** Why a line could not be decoded. */
export type DecodeFailure = 'malformed_json' | 'invalid_schema' | 'unknown_version';

export type DecodeResult =
  | { ok: true; line: EventLine }
  | { ok: false; reason: DecodeFailure; detail: string };

/** Decodes one line (without its `\n`). */
export type LineDecoder = (text: string) => DecodeResult;

const SCHEMA_URL = new URL('./event.schema.json', import.meta.url);

let cached: LineDecoder | undefined;

/**
 * Returns the process-wide line decoder, compiling the schema on first use.
 *
 * @example
 * const decode = lineDecoder();
 * const r = decode('{"t":"stats",…}');
 * if (r.ok) handle(r.line); else deadLetter(r.reason);
 */
export function lineDecoder(): LineDecoder {
  cached ??= compileDecoder();
  return cached;
}

function compileDecoder(): LineDecoder {
  const schema = JSON.parse(readFileSync(SCHEMA_URL, 'utf8')) as { $id: string };
  // strictNumbers: a number JSON cannot hold as written (1e999 parses to Infinity) is refused, not stored.
  const ajv = new Ajv2020({ allErrors: false, strict: false, strictNumbers: true, validateFormats: false });
  ajv.addSchema(schema);
  const get = (def: string): ValidateFunction => {
    const v = ajv.getSchema(`${schema.$id}#/$defs/${def}`);
    if (!v) throw new Error(`event schema lacks $defs/${def}`);
    return v;
  };
  const byKind: Record<string, ValidateFunction> = {
    header: get('header'),
    call: get('call'),
    stats: get('stats_line'),
    footer: get('footer'),
  };
  return (text: string): DecodeResult => {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err: unknown) {
      return { ok: false, reason: 'malformed_json', detail: (err as Error).message };
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      return { ok: false, reason: 'malformed_json', detail: 'not a JSON object' };
    }
    const obj = value as { t?: unknown; v?: unknown };
    // Version first: a future emitter's line is "unknown version", not "invalid".
    if (obj.v !== EVENT_VERSION) {
      return { ok: false, reason: 'unknown_version', detail: `v=${JSON.stringify(obj.v) ?? 'missing'}` };
    }
    const validate = typeof obj.t === 'string' ? byKind[obj.t] : undefined;
    if (!validate) {
      return { ok: false, reason: 'invalid_schema', detail: `unknown line kind t=${JSON.stringify(obj.t) ?? 'missing'}` };
    }
    if (!validate(value)) {
      const e = validate.errors?.[0];
      return { ok: false, reason: 'invalid_schema', detail: e ? `${e.instancePath || '/'} ${e.message ?? ''}` : 'invalid' };
    }
    return { ok: true, line: value as EventLine };
  };
}
