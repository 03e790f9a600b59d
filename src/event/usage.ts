/**
 * Turns usage as Anthropic returns it into the event's {@link Usage}.
 *
 * - A non-streamed `Message.usage` maps field by field ({@link usageFromApi}).
 * - A stream carries **snapshots**, not increments: `message_start.message.usage`, then one or
 *   more cumulative `message_delta.usage`. Each non-null value **replaces** the earlier one; a
 *   delta never adds ({@link foldUsage}, {@link UsageFolder}).
 * - The cache-write TTL split (`cache_creation`) comes only with `message_start`. When the
 *   final `cache_creation_input_tokens` exceeds that split (server tools, iterations), the
 *   excess is kept as `cache_write_unknown_ttl_input_tokens`, never dropped; with no split at
 *   all, every write is TTL-unknown.
 * - `output_tokens_details.thinking_tokens` is a breakdown of `output_tokens`, kept apart.
 *
 * Total: any input (null, strings, wrong types, negative or fractional counts, throwing
 * getters) gives a valid `Usage`; nothing here throws. Used by the emitter on every call.
 */
import type { Usage, UsageIteration } from './types.js';

type Obj = Record<string, unknown>;

function isObj(x: unknown): x is Obj {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** A token count, or null when absent/unusable. Fractions are floored; negatives are absent. */
function toCount(x: unknown): number | null {
  if (typeof x === 'number') return Number.isFinite(x) && x >= 0 ? Math.floor(x) : null;
  if (typeof x === 'string' && /^\d+$/.test(x)) {
    const n = Number(x);
    return Number.isSafeInteger(n) ? n : null;
  }
  return null;
}

function toText(x: unknown): string | null {
  return typeof x === 'string' ? x : null;
}

function toIterations(x: unknown): UsageIteration[] | null {
  if (!Array.isArray(x)) return null;
  const out: UsageIteration[] = [];
  for (const e of x) {
    if (!isObj(e)) continue;
    out.push({
      type: toText(e['type']) ?? 'unknown',
      model: toText(e['model']),
      input_tokens: toCount(e['input_tokens']) ?? 0,
      output_tokens: toCount(e['output_tokens']) ?? 0,
      cache_read_input_tokens: toCount(e['cache_read_input_tokens']) ?? 0,
      cache_creation_input_tokens: toCount(e['cache_creation_input_tokens']) ?? 0,
    });
  }
  return out;
}

/**
 * Folds usage snapshots one by one. Accepts a usage object, a `message_start` or
 * `message_delta` stream event, or a `Message`; anything else is ignored.
 *
 * @example
 * const f = new UsageFolder();
 * f.add(messageStartEvent);       // { type: 'message_start', message: { usage } }
 * f.add(messageDeltaEvent);       // { type: 'message_delta', usage }
 * const usage = f.usage();
 * const complete = f.sawDelta;    // false: a partial stream (still billed)
 */
export class UsageFolder {
  #input: number | null = null;
  #output: number | null = null;
  #read: number | null = null;
  #creation: number | null = null;
  #split5m: number | null = null;
  #split1h: number | null = null;
  #hasSplit = false;
  #thinking: number | null = null;
  #webSearch: number | null = null;
  #webFetch: number | null = null;
  #codeExec: number | null = null;
  #tier: string | null = null;
  #speed: string | null = null;
  #geo: string | null = null;
  #iterations: UsageIteration[] | null = null;
  /** A `message_delta` usage was folded in: output is final (a stream that ended normally). */
  sawDelta = false;
  /** Any usage was folded in. */
  sawUsage = false;

  /** Folds one snapshot in (replace, never add). Never throws. */
  add(snapshot: unknown): this {
    try {
      this.#add(snapshot);
    } catch {
      // A hostile object (throwing getter): keep what was folded so far.
    }
    return this;
  }

  #add(snapshot: unknown): void {
    if (!isObj(snapshot)) return;
    let u: unknown = snapshot;
    const type = snapshot['type'];
    if (type === 'message_start') {
      const msg = snapshot['message'];
      u = isObj(msg) ? msg['usage'] : undefined;
    } else if (type === 'message_delta') {
      u = snapshot['usage'];
      if (isObj(u)) this.sawDelta = true;
    } else if (type === 'message' || (!('input_tokens' in snapshot) && !('output_tokens' in snapshot) && isObj(snapshot['usage']))) {
      u = snapshot['usage'];
    }
    if (!isObj(u)) return;
    this.sawUsage = true;
    let n: number | null;
    if ((n = toCount(u['input_tokens'])) !== null) this.#input = n;
    if ((n = toCount(u['output_tokens'])) !== null) this.#output = n;
    if ((n = toCount(u['cache_read_input_tokens'])) !== null) this.#read = n;
    if ((n = toCount(u['cache_creation_input_tokens'])) !== null) this.#creation = n;
    const split = u['cache_creation'];
    if (isObj(split)) {
      this.#hasSplit = true;
      this.#split5m = toCount(split['ephemeral_5m_input_tokens']) ?? 0;
      this.#split1h = toCount(split['ephemeral_1h_input_tokens']) ?? 0;
    }
    const details = u['output_tokens_details'];
    if (isObj(details) && (n = toCount(details['thinking_tokens'])) !== null) this.#thinking = n;
    const tools = u['server_tool_use'];
    if (isObj(tools)) {
      if ((n = toCount(tools['web_search_requests'])) !== null) this.#webSearch = n;
      if ((n = toCount(tools['web_fetch_requests'])) !== null) this.#webFetch = n;
      if ((n = toCount(tools['code_execution_requests'])) !== null) this.#codeExec = n;
    }
    let s: string | null;
    if ((s = toText(u['service_tier'])) !== null) this.#tier = s;
    if ((s = toText(u['speed'])) !== null) this.#speed = s;
    if ((s = toText(u['inference_geo'])) !== null) this.#geo = s;
    const its = toIterations(u['iterations']);
    if (its !== null) this.#iterations = its;
  }

  /** The folded usage. */
  usage(): Usage {
    let w5 = 0;
    let w1 = 0;
    let unknown = 0;
    let total = this.#creation ?? 0;
    if (this.#hasSplit) {
      w5 = this.#split5m ?? 0;
      w1 = this.#split1h ?? 0;
      if (total > w5 + w1) unknown = total - w5 - w1;
      else total = w5 + w1; // a split with a missing or smaller total: the split is the detail
    } else {
      unknown = total;
    }
    const usage: Usage = {
      input_tokens: this.#input ?? 0,
      output_tokens: this.#output ?? 0,
      cache_read_input_tokens: this.#read ?? 0,
      cache_creation_input_tokens: total,
      cache_write_5m_input_tokens: w5,
      cache_write_1h_input_tokens: w1,
      cache_write_unknown_ttl_input_tokens: unknown,
      thinking_tokens: this.#thinking,
      web_search_requests: this.#webSearch ?? 0,
      web_fetch_requests: this.#webFetch ?? 0,
      code_execution_requests: this.#codeExec ?? 0,
      service_tier: this.#tier,
      speed: this.#speed,
      inference_geo: this.#geo,
    };
    if (this.#iterations !== null) usage.iterations = this.#iterations;
    return usage;
  }
}

/**
 * Folds a stream's usage snapshots, in order: `message_start`'s usage first, then each
 * `message_delta`'s (the raw usage objects or the events themselves). Replace, never add.
 *
 * @example
 * foldUsage([{ input_tokens: 2679, output_tokens: 3, cache_creation: {…} }, { output_tokens: 510, input_tokens: 10682 }])
 */
export function foldUsage(snapshots: Iterable<unknown> | null | undefined): Usage {
  const folder = new UsageFolder();
  try {
    if (snapshots !== null && snapshots !== undefined && typeof (snapshots as Iterable<unknown>)[Symbol.iterator] === 'function') {
      for (const s of snapshots) folder.add(s);
    }
  } catch {
    // A throwing iterable: keep what was folded.
  }
  return folder.usage();
}

/** Maps one API usage object (a non-streamed `Message.usage`, or a `Message`) to {@link Usage}. */
export function usageFromApi(raw: unknown): Usage {
  return new UsageFolder().add(raw).usage();
}
