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
import { WARNING_CODES, warnOnce } from './emitter/warnings.js';

export { createEmitter } from './emitter/emitter.js';
export type { CallContent, ClientScopeOptions, Emitter, EmitterOptions, InstrumentedClientOptions } from './emitter/emitter.js';
export { withTags, currentTags, MAX_TAGS, MAX_TAG_KEY_LENGTH, MAX_TAG_VALUE_LENGTH } from './emitter/tags.js';
export { EVENT_VERSION } from './event/types.js';
export type * from './event/types.js';

let shared: Emitter | undefined;
/**
 * Whether `shared` has hooked a client: such a client records through it for good, so a
 * later configure() cannot reach it.
 */
let hooked = false;

/** The process-wide emitter, created on first use from the environment. */
function sharedEmitter(): Emitter {
  return (shared ??= createEmitter());
}

/**
 * Configures the process-wide emitter (call it before the first client is hooked; a later
 * call closes the previous one). Environment variables apply under these options.
 */
export function configure(options: EmitterOptions): Emitter {
  if (hooked) {
    // Otherwise silent: its calls go on to the earlier folder, without the new redact hook or tags.
    warnOnce(WARNING_CODES.configuredLate, 'configure() was called after instrument() or clientOptions() had hooked a client: clients hooked before keep recording with the earlier settings (their events folder, tags, redact hook), and only clients hooked from now on take the new ones. Call configure() before the first instrument() or clientOptions()');
  }
  const previous = shared;
  shared = createEmitter(options);
  hooked = false;
  if (previous) void previous.close().catch(() => {});
  return shared;
}

/** A copy of an `@anthropic-ai/sdk` client that records every API call it makes. */
export function instrument<C>(client: C, scope?: ClientScopeOptions): C {
  hooked = true;
  return sharedEmitter().instrument(client, scope);
}

/** Options to spread into `new Anthropic({ ...clientOptions(), … })`. */
export function clientOptions(scope?: ClientScopeOptions): InstrumentedClientOptions {
  hooked = true;
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
