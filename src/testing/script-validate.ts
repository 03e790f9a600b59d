/**
 * Validation of scripts, done once where a script enters the fake (enqueue, a header, a
 * script file) so the request path can trust its input. Unknown fields are errors: a typo
 * such as `retryAfterMS` must not silently become a default response.
 */
import { FAKE_ROUTE_NAMES, type FakeScript, type ScriptFile } from './script-types.js';

/** A script that failed validation; `path` names the field, e.g. `["queue", 2, "status"]`. */
export class InvalidScriptError extends Error {
  override readonly name = 'InvalidScriptError';
  readonly code = 'E_FAKE_SCRIPT_INVALID';
  constructor(
    message: string,
    readonly path: ReadonlyArray<string | number>,
  ) {
    super(`${formatPath(path)}: ${message}`);
  }
}

/** `["queue", 2, "status"]` → `queue[2].status`. */
export function formatPath(path: ReadonlyArray<string | number>): string {
  let out = '';
  for (const part of path) out += typeof part === 'number' ? `[${part}]` : out ? `.${part}` : part;
  return out || '(root)';
}

type Path = Array<string | number>;
type Check = (value: unknown, path: Path) => void;

function fail(path: Path, message: string): never {
  throw new InvalidScriptError(message, path);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const int =
  (min: number, max = Number.MAX_SAFE_INTEGER): Check =>
  (v, p) => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      fail(p, `must be an integer ${max === Number.MAX_SAFE_INTEGER ? `≥ ${min}` : `from ${min} to ${max}`}`);
    }
  };
const num =
  (min: number): Check =>
  (v, p) => {
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min) fail(p, `must be a number ≥ ${min}`);
  };
const str: Check = (v, p) => {
  if (typeof v !== 'string') fail(p, 'must be a string');
};
const bool: Check = (v, p) => {
  if (typeof v !== 'boolean') fail(p, 'must be true or false');
};
const oneOf =
  (...allowed: Array<string | null>): Check =>
  (v, p) => {
    if (!allowed.includes(v as string | null)) fail(p, `must be one of ${allowed.map((a) => JSON.stringify(a)).join(', ')}`);
  };
const nullable =
  (check: Check): Check =>
  (v, p) => {
    if (v !== null) check(v, p);
  };
const arrayOf =
  (check: Check): Check =>
  (v, p) => {
    if (!Array.isArray(v)) fail(p, 'must be an array');
    v.forEach((item, i) => check(item, [...p, i]));
  };
const anyRecord: Check = (v, p) => {
  if (!isRecord(v)) fail(p, 'must be an object');
};
const object =
  (fields: Record<string, Check>): Check =>
  (v, p) => {
    if (!isRecord(v)) fail(p, 'must be an object');
    for (const [key, value] of Object.entries(v)) {
      const check = fields[key];
      if (!check) fail([...p, key], `unknown field (known: ${Object.keys(fields).join(', ')})`);
      if (value !== undefined) check(value, [...p, key]);
    }
  };

const errorFields = object({ type: str, message: str, code: str, details: anyRecord });

const ROUTES: readonly string[] = FAKE_ROUTE_NAMES;
const STOP_REASONS = ['end_turn', 'max_tokens', 'stop_sequence', 'tool_use', 'pause_turn', 'refusal', 'model_context_window_exceeded'];

const contentBlock: Check = (v, p) => {
  if (!isRecord(v)) fail(p, 'must be an object');
  switch (v['type']) {
    case 'text':
      return object({ type: str, text: str })(v, p);
    case 'tool_use':
      return object({ type: str, name: str, input: anyRecord, id: str })(v, p);
    case 'thinking':
      return object({ type: str, thinking: str, signature: str })(v, p);
    default:
      return fail([...p, 'type'], 'must be "text", "tool_use" or "thinking"');
  }
};

const content: Check = (v, p) => {
  if (typeof v === 'string') return oneOf('text', 'tool_use', 'thinking')(v, p);
  arrayOf(contentBlock)(v, p);
  if ((v as unknown[]).length === 0) fail(p, 'must hold at least one block');
};

const headers: Check = (v, p) => {
  if (!isRecord(v)) fail(p, 'must be an object of header names to strings (or null to remove)');
  for (const [name, value] of Object.entries(v)) {
    if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) fail([...p, name], 'is not a valid header name');
    if (value !== null && typeof value !== 'string') fail([...p, name], 'must be a string or null');
    if (typeof value === 'string' && /[\r\n]/.test(value)) fail([...p, name], 'must not contain a line break');
  }
};

const usage = object({
  input_tokens: int(0),
  output_tokens: int(0),
  cache_read_input_tokens: int(0),
  cache_creation_input_tokens: int(0),
  cache_creation: nullable(object({ ephemeral_5m_input_tokens: int(0), ephemeral_1h_input_tokens: int(0) })),
  thinking_tokens: int(0),
  web_search_requests: int(0),
  web_fetch_requests: int(0),
  service_tier: oneOf('standard', 'priority', 'batch', null),
  speed: oneOf('standard', 'fast', null),
  inference_geo: nullable(str),
});

const stream = object({
  textDeltas: int(0),
  eventDelayMs: num(0),
  firstDeltaDelayMs: num(0),
  pingEvery: int(1),
  messageDeltas: int(1, 1000),
  deltaUsage: oneOf('auto', 'minimal', 'full'),
  startUsage: object({ input_tokens: int(0), cache_read_input_tokens: int(0), cache_creation_input_tokens: int(0), output_tokens: int(0) }),
  cutAfterEvents: int(0),
  errorAfterEvents: int(0),
  error: errorFields,
});

const script: Check = object({
  status: int(100, 599),
  error: errorFields,
  headers,
  retryAfter: nullable(num(0)),
  retryAfterMs: num(0),
  delayMs: num(0),
  model: str,
  stopReason: oneOf(...STOP_REASONS),
  content,
  usage,
  stream,
  batch: object({ results: arrayOf(oneOf('succeeded', 'errored', 'canceled', 'expired')), processingMs: num(0) }),
  match: object({
    route: (v, p) => (Array.isArray(v) ? arrayOf(oneOf(...ROUTES))(v, p) : oneOf(...ROUTES)(v, p)),
    stream: bool,
  }),
  times: int(1),
});

/**
 * Checks that `value` is a {@link FakeScript} and returns it typed. Throws a
 * {@link InvalidScriptError} naming the first bad field.
 */
export function validateScript(value: unknown, path: Path = []): FakeScript {
  script(value, path);
  return value as FakeScript;
}

/** Checks a whole script file's content: an array of scripts, or `{ queue, default }`. */
export function validateScriptFile(value: unknown): ScriptFile {
  if (Array.isArray(value)) {
    value.forEach((s, i) => validateScript(s, [i]));
    return { queue: value as FakeScript[] };
  }
  if (!isRecord(value)) fail([], 'a script file holds an array of scripts or an object with `queue` and `default`');
  object({ queue: arrayOf(script), default: script })(value, []);
  return value as ScriptFile;
}
