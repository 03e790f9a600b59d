// The writer encodes call events as UTF-8 JSON itself (src/emitter/call-event-json.ts). Its
// output must be the bytes JSON.stringify and a UTF-8 encode give, for any values the
// contract's fields can hold, and stay so when the runs it keeps between events change.
import { deepStrictEqual } from 'node:assert';
import test from 'ava';
import fc from 'fast-check';
import { CallEventEncoder, JsonBytes } from '../../src/emitter/call-event-json.js';
import { EventWriter, type CallEventInput } from '../../src/emitter/file-writer.js';
import { JsonText } from '../../src/emitter/json-shape.js';
import { BLOCK_BYTES, BlockPool, LineQueue } from '../../src/emitter/line-queue.js';
import { callEvent, eventFiles, readLines, tempDir } from './file-writer-helpers.js';

/** Characters JSON escapes or UTF-8 widens, lone surrogates among them. */
const tricky = fc.constantFrom('"', '\\', '\n', '\u0000', '\u001f', '\u007f', '\u0080', 'é', '€', '😀', '\ud800', '\udfff', '\u2028');
const text = fc.oneof(
  { weight: 3, arbitrary: fc.string({ maxLength: 30 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 20 }) },
  { weight: 1, arbitrary: fc.array(fc.oneof(tricky, fc.string({ maxLength: 3 })), { maxLength: 8 }).map((p) => p.join('')) },
);
const nullableText = fc.option(text, { nil: null });
/** Integers around every boundary the encoder's digit paths have, and any double. */
const number = fc.oneof(
  fc.nat(),
  fc.integer(),
  fc.maxSafeNat(),
  fc.maxSafeInteger(),
  fc.double(),
  fc.integer({ min: 1, max: 2e12 }).map((k) => k / 1000), // durations in ms, to the µs
  fc.double({ min: 0, max: 2e9, noNaN: true }),
  fc.constantFrom(0, -0, 9, 10, 2 ** 31 - 1, 2 ** 31, 99_999_999, 1e8, 1e8 + 1, 1_760_000_000_123, Number.MAX_SAFE_INTEGER, 2 ** 53 + 2, 1e21, 0.1, 0.001, 0.0005, 0.01, 1.1, 1234.567, 1234.5, 999_999_999.999, 1e9, 1e9 + 0.5, NaN, Infinity, -Infinity),
);
const nullableNumber = fc.option(number, { nil: null });

/** Strings that repeat within an event and across events (request ids, reset times, account ids), some needing escapes. */
const repeated = fc.oneof(fc.constantFrom<string | null>('req_011CgqA', 'req "quoted"', 'ré', '2026-11-27T21:01:43Z', null), nullableText);

/** Values from small pools, so that consecutive events share the runs the encoder keeps, or not. */
const pooled = <T>(...values: T[]): fc.Arbitrary<T> => fc.constantFrom(...values);
const pooledNumber = (...values: (number | null)[]): fc.Arbitrary<number | null> => fc.oneof(pooled(...values), nullableNumber);
const pooledText = (...values: (string | null)[]): fc.Arbitrary<string | null> => fc.oneof(pooled(...values), nullableText);

const attempt = fc.record({
  status: nullableNumber,
  error_type: nullableText,
  request_id: repeated,
  start_offset_ms: number,
  duration_ms: number,
  retry_after_ms: nullableNumber,
});

const usage = fc.record(
  {
    input_tokens: number,
    output_tokens: number,
    cache_read_input_tokens: number,
    cache_creation_input_tokens: number,
    cache_write_5m_input_tokens: number,
    cache_write_1h_input_tokens: number,
    cache_write_unknown_ttl_input_tokens: number,
    thinking_tokens: pooledNumber(null, 0),
    web_search_requests: fc.oneof(pooled(0), number),
    web_fetch_requests: fc.oneof(pooled(0), number),
    code_execution_requests: fc.oneof(pooled(0), number),
    service_tier: pooledText('standard', null),
    speed: pooledText('standard', null),
    inference_geo: pooledText('global', null),
    iterations: fc.array(fc.record({ type: text, model: nullableText, input_tokens: number, output_tokens: number, cache_read_input_tokens: number, cache_creation_input_tokens: number })),
  },
  { requiredKeys: ['input_tokens', 'output_tokens', 'cache_read_input_tokens', 'cache_creation_input_tokens', 'cache_write_5m_input_tokens', 'cache_write_1h_input_tokens', 'cache_write_unknown_ttl_input_tokens', 'thinking_tokens', 'web_search_requests', 'web_fetch_requests', 'code_execution_requests', 'service_tier', 'speed', 'inference_geo'] },
);

const bucket = fc.record({ limit: nullableNumber, remaining: nullableNumber, reset: repeated });
const rateLimits = fc.record({ requests: bucket, tokens: bucket, input_tokens: bucket, output_tokens: bucket }, { requiredKeys: [] });

const event: fc.Arbitrary<CallEventInput> = fc
  .record(
    {
      t: fc.constant('call' as const),
      v: fc.constant(1 as const),
      event_id: text,
      ts: number,
      ts_start: number,
      app: fc.oneof(pooled('app', 'other-app'), text),
      env: fc.oneof(pooled<string | null>('prod', null), nullableText),
      host: pooled('host-1', 'hôte-2'),
      pid: fc.oneof(pooled(4242, 1), number),
      tags: fc.dictionary(text, text, { maxKeys: 4 }),
      provider: pooled('anthropic', 'bedrock'),
      operation: fc.oneof(pooled('messages.create', 'messages.stream'), text),
      model_requested: fc.oneof(pooled<string | null>('claude-sonnet-4-5', null), nullableText),
      model: fc.oneof(pooled<string | null>('claude-sonnet-4-5-20250929', null), nullableText),
      stream: fc.boolean(),
      max_tokens: pooledNumber(1024, null),
      tool_count: pooledNumber(null, 2),
      status: pooled('ok', 'error', 'aborted'),
      http_status: pooledNumber(200, 529, null),
      error_type: pooledText(null, 'overloaded_error'),
      error_code: pooledText(null),
      stop_reason: nullableText,
      request_id: repeated,
      message_id: nullableText,
      organization_id: repeated,
      workspace_id: repeated,
      api_key_alias: nullableText,
      attempts: number,
      attempt_log: fc.array(attempt, { maxLength: 4 }),
      duration_ms: number,
      ttft_ms: pooledNumber(null),
      output_tokens_per_second: pooledNumber(null),
      complete: fc.boolean(),
      usage: fc.option(usage, { nil: null }),
      rate_limits: fc.option(rateLimits, { nil: null }),
      batch: fc.record({ batch_id: nullableText, custom_id: text, result_type: text }, { requiredKeys: ['batch_id'] }),
      counted_input_tokens: number,
      content: fc.oneof(fc.jsonValue(), fc.constant(undefined)),
    },
    { requiredKeys: ['t', 'v', 'event_id', 'ts', 'ts_start', 'app', 'env', 'host', 'pid', 'tags', 'provider', 'operation', 'model_requested', 'model', 'stream', 'max_tokens', 'tool_count', 'status', 'http_status', 'error_type', 'error_code', 'stop_reason', 'request_id', 'message_id', 'organization_id', 'workspace_id', 'api_key_alias', 'attempts', 'attempt_log', 'duration_ms', 'ttft_ms', 'output_tokens_per_second', 'complete', 'usage', 'rate_limits'] },
  )
  .map((e) => e as CallEventInput);

/** Fields an app's next call may change, usage's one by one. */
const CHANGING = ['event_id', 'ts', 'app', 'env', 'pid', 'model', 'stream', 'max_tokens', 'tool_count', 'status', 'http_status', 'error_type', 'error_code', 'stop_reason', 'request_id', 'organization_id', 'ttft_ms', 'output_tokens_per_second', 'usage', 'rate_limits'] as const;
const USAGE_CHANGING = ['input_tokens', 'thinking_tokens', 'web_search_requests', 'web_fetch_requests', 'code_execution_requests', 'service_tier', 'speed', 'inference_geo'] as const;

/**
 * Events each changing a few fields of the one before, as an app's calls do: every run the
 * encoder keeps is copied, and written again once one of its fields changed.
 */
const series: fc.Arbitrary<CallEventInput[]> = fc
  .tuple(event, fc.array(fc.tuple(event, fc.subarray([...CHANGING], { maxLength: 2 }), fc.subarray([...USAGE_CHANGING], { maxLength: 2 })), { minLength: 1, maxLength: 15 }))
  .map(([first, steps]) => {
    const events = [first];
    for (const [other, fields, usageFields] of steps) {
      const next: Record<string, unknown> = { ...events[events.length - 1]! };
      for (const f of fields) next[f] = other[f];
      const u = next['usage'] as Record<string, unknown> | null;
      if (u !== null && other.usage !== null) {
        const changed: Record<string, unknown> = { ...u };
        for (const f of usageFields) changed[f] = other.usage[f];
        next['usage'] = changed;
      }
      events.push(next as CallEventInput);
    }
    return events;
  });

/** The line JSON.stringify gives, with `seq` where the emitter puts it (after `event_id`). */
function stringified(e: CallEventInput, seq: number): string {
  const { t, v, event_id, ...rest } = e;
  return JSON.stringify({ t, v, event_id, seq, ...rest });
}

function encoded(encoder: CallEventEncoder, e: CallEventInput, seq: number): string {
  const out = new JsonBytes();
  out.begin(Buffer.alloc(64), 3); // small on purpose: most events outgrow it and move
  encoder.encode(out, e, seq);
  return out.bytes().toString('utf8');
}

test('an event is encoded as the bytes JSON.stringify gives, for any values of its fields', (t) => {
  t.notThrows(() =>
    fc.assert(
      fc.property(event, fc.nat(), (e, seq) => {
        deepStrictEqual(encoded(new CallEventEncoder(), e, seq), stringified(e, seq));
      }),
      { numRuns: 1500 },
    ),
  );
});

test('events encoded one after another by one encoder stay exact as the runs it keeps change', (t) => {
  t.notThrows(() =>
    fc.assert(
      fc.property(fc.array(event, { minLength: 2, maxLength: 12 }), (events) => {
        const encoder = new CallEventEncoder();
        for (const [i, e] of events.entries()) deepStrictEqual(encoded(encoder, e, i + 1), stringified(e, i + 1));
      }),
      { numRuns: 300 },
    ),
  );
});

test('events that change a few fields of the one before are encoded exactly, from the kept runs or anew', (t) => {
  t.notThrows(() =>
    fc.assert(
      fc.property(series, (events) => {
        const encoder = new CallEventEncoder();
        for (const [i, e] of events.entries()) deepStrictEqual(encoded(encoder, e, i + 1), stringified(e, i + 1));
      }),
      { numRuns: 400 },
    ),
  );
});

test('a realistic event is encoded exactly, and the same again from the kept runs', (t) => {
  const encoder = new CallEventEncoder();
  t.is(encoded(encoder, callEvent(1), 1), stringified(callEvent(1), 1));
  t.is(encoded(encoder, callEvent(2), 2), stringified(callEvent(2), 2));
  const other = { ...callEvent(3), app: 'other', model: 'claude-haiku-4-5' };
  t.is(encoded(encoder, other, 3), stringified(other, 3));
});

test('content already serialised (JsonText) is written as its text, the bytes of the value it stands for', (t) => {
  const value = { messages: [{ role: 'user', content: 'é "quoted" \\ \u2028' }], n: 1.5 };
  const e = { ...callEvent(1), content: new JsonText(JSON.stringify(value)) };
  t.is(encoded(new CallEventEncoder(), e, 1), stringified({ ...callEvent(1), content: value }, 1));
});

test('undefined in a required field is written as null (JSON.stringify would drop the key)', (t) => {
  const e = { ...callEvent(1), model: undefined, tool_count: undefined } as unknown as CallEventInput;
  const line = JSON.parse(encoded(new CallEventEncoder(), e, 1)) as Record<string, unknown>;
  t.is(line['model'], null);
  t.is(line['tool_count'], null);
});

test('content that JSON has no value for is left out, as JSON.stringify leaves it out', (t) => {
  const e = { ...callEvent(1), content: () => 'no JSON' };
  const line = encoded(new CallEventEncoder(), e, 1);
  t.false('content' in (JSON.parse(line) as object));
  t.is(line, stringified(e, 1));
});

test('lines encoded in place keep whole across block ends, when one outgrows a block, and when one is not committed', (t) => {
  const queue = new LineQueue(new BlockPool());
  const out = new JsonBytes();
  const encoder = new CallEventEncoder();
  const big = { ...callEvent(0), content: { text: 'é'.repeat(BLOCK_BYTES) } }; // twice a block, in UTF-8
  const sent: string[] = [];
  for (let i = 1; i <= 120; i++) {
    const e = i % 40 === 0 ? { ...big, event_id: `big-${i}` } : callEvent(i);
    queue.openLine(out);
    encoder.encode(out, e, i);
    const bytes = queue.closeLine(out);
    if (i % 7 === 0) continue; // staged, then refused (a cap): the next line is staged over it
    queue.commit(bytes, 1);
    sent.push(stringified(e, i));
  }
  const taken = queue.take(Number.MAX_SAFE_INTEGER, '');
  t.is(taken.buf.toString('utf8'), sent.map((l) => `${l}\n`).join(''));
  t.like(taken, { lines: sent.length, events: sent.length, bytes: taken.buf.length });
});

for (const run of ['origin', 'what'] as const) {
  test(`a line whose ${run} run crosses its block's end leaves the kept run whole for the next events`, async (t) => {
    // The run is kept as bytes copied from the line; when the line moves to a buffer of its
    // own while that run is written, the copy must still be of the run, not of where the line
    // began in the block it left.
    const dir = tempDir(t);
    const writer = new EventWriter({ dir, app: 'runs', flushIntervalMs: 60_000 });
    const wide = (i: number): CallEventInput => ({
      ...callEvent(i),
      // Enough before the run for the line to begin with MIN_LINE_ROOM free and still cross.
      ...(run === 'origin' ? { event_id: `evt_${i}_${'i'.repeat(6000)}`, env: `env-${i}` } : { tags: { long: 'x'.repeat(6000) }, model: `model-${i}` }),
    });
    const crossing = wide(2);
    const line = stringified(crossing, 2);
    const key = run === 'origin' ? '"host":' : '"operation":';
    const room = line.indexOf(key); // the block ends inside the run, at this key
    const filler = (pad: number): CallEventInput => ({ ...callEvent(1), error_code: 'y'.repeat(pad) });
    const fillerBytes = BLOCK_BYTES - room;
    const pad = fillerBytes - (stringified(filler(0), 1).length + 1);
    t.is(stringified(filler(pad), 1).length + 1, fillerBytes);
    const sent = [filler(pad), crossing, { ...crossing, event_id: 'evt_3', content: 'after' }];
    for (const e of sent) writer.write(e);
    await writer.close();
    const lines = readLines(eventFiles(dir)[0] as string).filter((l) => l.t === 'call');
    t.deepEqual(
      lines.map((l) => JSON.stringify(l)),
      sent.map((e, i) => stringified(e, i + 1)),
    );
  });
}
