/**
 * Attribution tags: a bounded string map attached to every call made inside a block of code
 * (`withTags`) or by a client (`clientOptions({ tags })`). Bounded in count and length so a
 * tag fed from user input cannot grow events or metric label sets without limit.
 */
import { AsyncLocalStorage } from 'node:async_hooks';

/** Most tags one call carries; further tags are ignored. */
export const MAX_TAGS = 16;
/** Longest tag key, in characters; longer keys are ignored. */
export const MAX_TAG_KEY_LENGTH = 64;
/** Longest tag value, in characters; longer values are cut to this length. */
export const MAX_TAG_VALUE_LENGTH = 128;

export type Tags = Readonly<Record<string, string>>;

const EMPTY: Tags = Object.freeze({});
const storage = new AsyncLocalStorage<Tags>();

/**
 * Returns `extra` merged over `base` (later wins), keeping at most {@link MAX_TAGS} entries,
 * dropping keys that are too long or not strings and values with no text, and cutting long values.
 */
export function mergeTags(base: Tags, extra: Record<string, unknown> | undefined): Tags {
  if (!extra || extra === EMPTY) return base;
  const out: Record<string, string> = { ...base };
  let count = Object.keys(out).length;
  for (const key of Object.keys(extra)) {
    const raw = extra[key];
    if (raw === undefined || raw === null) continue;
    if (key.length === 0 || key.length > MAX_TAG_KEY_LENGTH) continue;
    const value = tagText(raw);
    if (value === null) continue;
    // Own keys only: `in` takes `toString`, `constructor`… (every object inherits them) for tags counted already.
    if (!Object.hasOwn(out, key)) {
      if (count >= MAX_TAGS) continue;
      count++;
    }
    setTag(out, key, value.length > MAX_TAG_VALUE_LENGTH ? value.slice(0, MAX_TAG_VALUE_LENGTH) : value);
  }
  return Object.freeze(out);
}

/**
 * `tags[key] = value`, for any key. Assigned, `__proto__` (an own key of parsed JSON, a
 * computed key) would reach Object.prototype's setter, which ignores a string: the tag was
 * lost, and its place among the 16 taken. Defined, it is an own key like any other, and no
 * prototype changes. Spreading or `Object.keys` the result keeps it so.
 */
export function setTag(tags: Record<string, string>, key: string, value: string): void {
  if (key === '__proto__') Object.defineProperty(tags, key, { value, enumerable: true, writable: true, configurable: true });
  else tags[key] = value;
}

/**
 * A tag value as text, or null for one that has none: an object whose conversion throws (a
 * dictionary made with `Object.create(null)`, a throwing `toString`), which must not fail the
 * app's `withTags` block, nor `instrument()` or `clientOptions()` given it as a client's tag.
 */
function tagText(raw: unknown): string | null {
  if (typeof raw === 'string') return raw;
  try {
    return String(raw);
  } catch {
    return null;
  }
}

/**
 * Runs `fn` with `tags` attached to every Claude API call it starts, including calls in the
 * async work it spawns. Nested blocks merge, the inner value winning.
 *
 * @example
 * ```ts
 * await withTags({ feature: 'search', customer: 'acme' }, () => answer(question));
 * ```
 */
export function withTags<T>(tags: Record<string, string | number | boolean>, fn: () => T): T {
  return storage.run(mergeTags(storage.getStore() ?? EMPTY, tags), fn);
}

/**
 * `scoped` (a client's tags) with the tags of the code running now laid over them. Tags from
 * `withTags` are already bounded, so with no client tags they are used as they are.
 */
export function callTags(scoped: Tags): Tags {
  const running = storage.getStore();
  if (running === undefined) return scoped;
  if (scoped === EMPTY || Object.keys(scoped).length === 0) return running;
  return mergeTags(scoped, running);
}

/** The tags of the code running now (empty outside any `withTags` block). */
export function currentTags(): Tags {
  return storage.getStore() ?? EMPTY;
}
