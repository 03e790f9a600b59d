/**
 * A serializer for call events compiled from the contract's JSON Schema with
 * `fast-json-stringify`: it knows the shape in advance, so it writes a call event two to
 * three times faster than `JSON.stringify` (serialization is most of what the emitter's
 * writer costs the app per event).
 *
 * Compiling takes some milliseconds, so it never happens in the app's request path:
 * {@link callSerializer} returns `JSON.stringify` until a compile started with
 * {@link prepareCallSerializer} (on the next turn of the event loop) has finished. The two
 * produce the same JSON values; keys within nested objects may come in schema order.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

type Serialize = (value: unknown) => string;

let compiled: Serialize | null = null;
let scheduled = false;

/** The fastest serializer ready now. */
export function callSerializer(): Serialize {
  return compiled ?? JSON.stringify;
}

/** Starts compiling the schema serializer soon, off the current call's path. Idempotent. */
export function prepareCallSerializer(): void {
  if (scheduled) return;
  scheduled = true;
  setImmediate(() => {
    try {
      compiled = compileCallSerializer();
    } catch {
      // Stay on JSON.stringify: slower, never wrong.
    }
  });
}

/** Compiles the serializer now (tests, benchmarks). */
export function compileCallSerializer(): Serialize {
  const require = createRequire(import.meta.url);
  const build = require('fast-json-stringify') as (schema: object, options?: object) => Serialize;
  const schema = JSON.parse(readFileSync(new URL('./event.schema.json', import.meta.url), 'utf8')) as {
    $defs: Record<string, Record<string, unknown>>;
  };
  const defs = schema.$defs;
  const call = structuredClone(defs['call']!) as { properties: Record<string, unknown> };
  // fast-json-stringify is fastest without oneOf: `null | object` becomes a type list.
  call.properties['usage'] = { ...defs['usage'], type: ['object', 'null'] };
  call.properties['rate_limits'] = {
    type: ['object', 'null'],
    additionalProperties: false,
    properties: { requests: defs['bucket'], tokens: defs['bucket'], input_tokens: defs['bucket'], output_tokens: defs['bucket'] },
  };
  call.properties['attempt_log'] = { type: 'array', items: defs['attempt'] };
  return build(call);
}
