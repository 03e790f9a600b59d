/**
 * Where a request's script comes from: the per-request header (an array answers attempt N
 * with its Nth entry), else the first queued entry that matches, else the default.
 */
import type { FakeScript } from './script-types.js';
import { InvalidScriptError, validateScript } from './script-validate.js';

interface QueueEntry {
  script: FakeScript;
  remaining: number;
}

/** Scripts answered in order by the requests they match, each `times` times (default 1). */
export class ScriptQueue {
  #entries: QueueEntry[] = [];

  /** Validates all, then queues all (none on an error); `label` names them in errors. */
  push(scripts: readonly FakeScript[], label: string): void {
    const entries = scripts.map((s, i) => ({ script: validateScript(s, [`${label}[${i}]`]), remaining: s.times ?? 1 }));
    this.#entries.push(...entries);
  }

  /** Takes one use of the first entry matching the request, if any. */
  take(route: string, stream: boolean): FakeScript | undefined {
    const i = this.#entries.findIndex((e) => matches(e.script, route, stream));
    const entry = this.#entries[i];
    if (!entry) return undefined;
    entry.remaining--;
    if (entry.remaining <= 0) this.#entries.splice(i, 1);
    return entry.script;
  }

  /** Uses left (an entry with `times: 3` counts 3). */
  get pending(): number {
    return this.#entries.reduce((n, e) => n + e.remaining, 0);
  }

  clear(): void {
    this.#entries = [];
  }
}

function matches(script: FakeScript, route: string, stream: boolean): boolean {
  const m = script.match;
  if (!m) return true;
  if (m.route !== undefined && !(Array.isArray(m.route) ? (m.route as string[]).includes(route) : m.route === route)) return false;
  if (m.stream !== undefined && m.stream !== stream) return false;
  return true;
}

/**
 * The script of a header value: a JSON script, or a JSON array of them of which attempt
 * `retryCount` (the SDK's `x-stainless-retry-count`) takes its own, the last one repeating.
 * The SDK resends the same headers on every retry, so the array is how a header scripts a
 * 529-then-200 sequence. Throws `InvalidScriptError` (or `SyntaxError` for bad JSON).
 */
export function headerScript(value: string, retryCount: number | null, headerName: string): FakeScript {
  const parsed: unknown = JSON.parse(value);
  let chosen: unknown = parsed;
  if (Array.isArray(parsed)) {
    if (parsed.length === 0) throw new InvalidScriptError('an array of scripts must not be empty', [headerName]);
    chosen = parsed[Math.min(retryCount ?? 0, parsed.length - 1)];
  }
  return validateScript(chosen, [headerName]);
}
