/**
 * claudescope: observability for applications that call the Claude API.
 *
 * This entry is the emitter alone. Importing it opens no file, starts no timer and adds no
 * process listener; the first recorded call opens the process's events file.
 *
 * @example
 * ```ts
 * import Anthropic from '@anthropic-ai/sdk';
 * import { instrument, withTags } from 'claudescope';
 *
 * const client = instrument(new Anthropic());
 * await withTags({ feature: 'search' }, () => client.messages.create({ ... }));
 * ```
 */
import { createEmitter } from './emitter/emitter.js';
import type { ClientScopeOptions, Emitter, EmitterOptions, InstrumentedClientOptions } from './emitter/emitter.js';

export { createEmitter } from './emitter/emitter.js';
export type { CallContent, ClientScopeOptions, Emitter, EmitterOptions, InstrumentedClientOptions } from './emitter/emitter.js';
export { withTags, currentTags, MAX_TAGS, MAX_TAG_KEY_LENGTH, MAX_TAG_VALUE_LENGTH } from './emitter/tags.js';
export { EVENT_VERSION } from './event/types.js';
export type * from './event/types.js';

let shared: Emitter | undefined;

/** The process-wide emitter, created on first use from the environment. */
function sharedEmitter(): Emitter {
  return (shared ??= createEmitter());
}

/**
 * Configures the process-wide emitter (call it before the first client is hooked; a later
 * call closes the previous one). Environment variables apply under these options.
 */
export function configure(options: EmitterOptions): Emitter {
  const previous = shared;
  shared = createEmitter(options);
  if (previous) void previous.close().catch(() => {});
  return shared;
}

/** A copy of an `@anthropic-ai/sdk` client that records every API call it makes. */
export function instrument<C>(client: C, scope?: ClientScopeOptions): C {
  return sharedEmitter().instrument(client, scope);
}

/** Options to spread into `new Anthropic({ ...clientOptions(), … })`. */
export function clientOptions(scope?: ClientScopeOptions): InstrumentedClientOptions {
  return sharedEmitter().clientOptions(scope);
}

/** Writes the buffered events of the process-wide emitter. */
export function flush(): Promise<void> {
  return shared ? shared.flush() : Promise.resolve();
}

/** Flushes and seals the process-wide emitter's file. */
export function close(): Promise<void> {
  return shared ? shared.close() : Promise.resolve();
}
