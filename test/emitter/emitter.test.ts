/**
 * The emitter against the real `@anthropic-ai/sdk` and the fake Claude API: one event per
 * API call, on every path, with exact boundaries, and never at the app's expense.
 */
import test from 'ava';
import type { ExecutionContext } from 'ava';
import Anthropic from '@anthropic-ai/sdk';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { createEmitter, withTags } from '../../src/index.js';
import { emitterOptionsFromEnv } from '../../src/emitter/emitter-env.js';
import type { EmitterOptions } from '../../src/index.js';
import { startFakeApi } from '../../src/testing/index.js';
import type { FakeApi } from '../../src/testing/index.js';
import { readEvents, tempDir } from '../helpers/events.js';

const API_KEY = 'sk-ant-api03-never-written-anywhere';

/**
 * How `setup()` hooks its client: `instrument(client)` (the middleware alone finds and ends each
 * call), or, when emitter-client-options.test.ts runs these same tests, `clientOptions()` (the
 * SDK's call span ends each call).
 */
const MODE: 'instrument' | 'clientOptions' = (globalThis as { emitterTestMode?: 'clientOptions' }).emitterTestMode ?? 'instrument';

interface Setup {
  api: FakeApi;
  dir: string;
  emitter: ReturnType<typeof createEmitter>;
  client: Anthropic;
  bare: Anthropic;
}

async function setup(t: ExecutionContext, options: EmitterOptions = {}, clientOptions: Record<string, unknown> = {}): Promise<Setup> {
  const api = await startFakeApi();
  t.teardown(() => api.close());
  const dir = tempDir(t);
  const emitter = createEmitter({ dir, app: 'test', flushIntervalMs: 5, ...options });
  t.teardown(() => emitter.close());
  const bare = new Anthropic({ apiKey: API_KEY, baseURL: api.url, maxRetries: 2, ...clientOptions });
  const client = MODE === 'instrument' ? emitter.instrument(bare) : new Anthropic({ apiKey: API_KEY, baseURL: api.url, maxRetries: 2, ...clientOptions, ...emitter.clientOptions() });
  return { api, dir, emitter, client, bare };
}

async function eventsOf(s: Setup) {
  await s.emitter.flush();
  return readEvents(s.dir);
}

const MSG = { model: 'claude-haiku-4-5', max_tokens: 256, messages: [{ role: 'user' as const, content: 'a secret prompt about zebras' }] };

test('a non-streaming call gives one valid event with usage, ids and rate limits', async (t) => {
  const s = await setup(t);
  s.api.enqueue({ usage: { input_tokens: 120, output_tokens: 30, cache_read_input_tokens: 1000, cache_creation: { ephemeral_5m_input_tokens: 200, ephemeral_1h_input_tokens: 50 } } });
  const { data, response } = await s.client.messages.create(MSG).withResponse();
  const r = await eventsOf(s);
  t.deepEqual(r.invalid, []);
  t.is(r.calls.length, 1);
  const e = r.calls[0]!;
  t.is(e.operation, 'messages.create');
  t.is(e.status, 'ok');
  t.is(e.http_status, 200);
  t.is(e.model, data.model);
  t.is(e.model_requested, 'claude-haiku-4-5');
  t.is(e.message_id, data.id);
  t.is(e.request_id, response.headers.get('request-id'));
  t.is(e.organization_id, response.headers.get('anthropic-organization-id'));
  t.is(e.workspace_id, response.headers.get('anthropic-workspace-id'));
  t.is(e.stop_reason, data.stop_reason);
  t.is(e.attempts, 1);
  t.is(e.usage?.input_tokens, 120);
  t.is(e.usage?.output_tokens, 30);
  t.is(e.usage?.cache_read_input_tokens, 1000);
  t.is(e.usage?.cache_write_5m_input_tokens, 200);
  t.is(e.usage?.cache_write_1h_input_tokens, 50);
  t.is(e.complete, true);
  t.is(e.rate_limits?.requests?.limit, Number(response.headers.get('anthropic-ratelimit-requests-limit')));
  t.is(e.rate_limits?.output_tokens?.remaining, Number(response.headers.get('anthropic-ratelimit-output-tokens-remaining')));
  t.true(e.duration_ms > 0);
  t.true(e.ts >= e.ts_start);
  t.is(e.stream, false);
  t.is(e.max_tokens, 256);
});

test('a raw stream gives one event with the final cumulative usage and a time to first token', async (t) => {
  const s = await setup(t);
  s.api.enqueue({
    usage: { input_tokens: 900, output_tokens: 77, cache_creation_input_tokens: 500, cache_creation: { ephemeral_5m_input_tokens: 300, ephemeral_1h_input_tokens: 0 }, web_search_requests: 2 },
    stream: { textDeltas: 20, firstDeltaDelayMs: 30, eventDelayMs: 2, messageDeltas: 3 },
  });
  const stream = await s.client.messages.create({ ...MSG, stream: true });
  let n = 0;
  for await (const _ of stream) n++;
  t.true(n > 20);
  const r = await eventsOf(s);
  t.deepEqual(r.invalid, []);
  t.is(r.calls.length, 1);
  const e = r.calls[0]!;
  t.is(e.status, 'ok');
  t.is(e.stream, true);
  t.is(e.complete, true);
  t.is(e.usage?.output_tokens, 77);
  t.is(e.usage?.input_tokens, 900);
  t.is(e.usage?.web_search_requests, 2);
  // 500 written, 300 with a known TTL: the rest is kept, never dropped.
  t.is(e.usage?.cache_write_5m_input_tokens, 300);
  t.is(e.usage?.cache_write_unknown_ttl_input_tokens, 200);
  t.not(e.ttft_ms, null);
  t.true(e.ttft_ms! >= 25, `ttft ${e.ttft_ms}`);
  t.true(e.duration_ms >= e.ttft_ms!);
  t.not(e.output_tokens_per_second, null);
});

test('messages.stream() is recorded as one messages.stream event matching finalMessage', async (t) => {
  const s = await setup(t);
  s.api.enqueue({ usage: { input_tokens: 40, output_tokens: 12, cache_read_input_tokens: 7 }, stream: { textDeltas: 5 } });
  const final = await s.client.messages.stream(MSG).finalMessage();
  const r = await eventsOf(s);
  t.is(r.calls.length, 1);
  const e = r.calls[0]!;
  t.is(e.operation, 'messages.stream');
  t.is(e.usage?.output_tokens, final.usage.output_tokens);
  t.is(e.usage?.input_tokens, final.usage.input_tokens);
  t.is(e.usage?.cache_read_input_tokens, 7);
  t.is(e.message_id, final.id);
  t.is(e.stop_reason, final.stop_reason);
});

test('tool use and thinking are recorded: tool count and thinking tokens', async (t) => {
  const s = await setup(t);
  s.api.enqueue({ content: [{ type: 'thinking' }, { type: 'tool_use', name: 'lookup' }], stopReason: 'tool_use', usage: { output_tokens: 300, thinking_tokens: 120 } });
  await s.client.messages.create({ ...MSG, tools: [{ name: 'lookup', input_schema: { type: 'object' } }, { name: 'other', input_schema: { type: 'object' } }] });
  const e = (await eventsOf(s)).calls[0]!;
  t.is(e.tool_count, 2);
  t.is(e.stop_reason, 'tool_use');
  t.is(e.usage?.thinking_tokens, 120);
  t.is(e.usage?.output_tokens, 300);
});

test('count_tokens is one event whose count is not billed usage', async (t) => {
  const s = await setup(t);
  const counted = await s.client.messages.countTokens({ model: MSG.model, messages: MSG.messages });
  const e = (await eventsOf(s)).calls[0]!;
  t.is(e.operation, 'messages.count_tokens');
  t.is(e.counted_input_tokens, counted.input_tokens);
  t.is(e.usage, null);
  t.is(e.status, 'ok');
});

test('beta messages are recorded under beta.messages.create', async (t) => {
  const s = await setup(t);
  await s.client.beta.messages.create({ ...MSG, betas: ['context-1m-2025-08-07'] });
  const e = (await eventsOf(s)).calls[0]!;
  t.is(e.operation, 'beta.messages.create');
  t.is(e.status, 'ok');
  t.truthy(e.usage);
});

test('creating a batch is one event and each result read is one event at the batch tier', async (t) => {
  const s = await setup(t);
  const batch = await s.client.messages.batches.create({
    requests: [
      { custom_id: 'a', params: MSG },
      { custom_id: 'b', params: MSG },
      { custom_id: 'c', params: MSG },
    ],
  });
  const results = [];
  for await (const item of await s.client.messages.batches.results(batch.id)) results.push(item);
  const r = await eventsOf(s);
  t.deepEqual(r.invalid, []);
  const created = r.calls.filter((e) => e.operation === 'messages.batches.create');
  t.is(created.length, 1);
  t.is(created[0]!.batch?.batch_id, batch.id);
  const perResult = r.calls.filter((e) => e.operation === 'messages.batches.result');
  t.is(perResult.length, results.length);
  t.deepEqual(perResult.map((e) => e.batch?.custom_id).sort(), results.map((x) => x.custom_id).sort());
  for (const e of perResult.filter((x) => x.batch?.result_type === 'succeeded')) {
    t.is(e.usage?.service_tier, 'batch');
    t.is(e.batch?.batch_id, batch.id);
  }
  // The download itself, read to its end, is one call that went well.
  const download = r.calls.filter((e) => e.operation === 'messages.batches.results');
  t.is(download.length, 1);
  t.like(download[0], { status: 'ok', complete: true, http_status: 200, batch: { batch_id: batch.id } });
});

test('a batch results download the app stops reading early is aborted, with the results that reached it', async (t) => {
  const s = await setup(t);
  const batch = await s.client.messages.batches.create({ requests: ['a', 'b', 'c'].map((custom_id) => ({ custom_id, params: MSG })) });
  for await (const _item of await s.client.messages.batches.results(batch.id)) break;
  const r = await eventsOf(s);
  // Results are seen as their bytes arrive: one chunk may hold all of them.
  t.true(r.calls.filter((e) => e.operation === 'messages.batches.result').length >= 1);
  const download = r.calls.filter((e) => e.operation === 'messages.batches.results');
  t.is(download.length, 1);
  t.like(download[0], { status: 'aborted', complete: false });
});

const ERROR_CASES: Array<[number, string, string | null]> = [
  [400, 'invalid_request_error', null],
  [401, 'authentication_error', null],
  [402, 'billing_error', null],
  [403, 'permission_error', null],
  [404, 'not_found_error', null],
  [413, 'request_too_large', null],
  [429, 'rate_limit_error', 'enforced_spend_limit_reached'],
];
for (const [status, type, code] of ERROR_CASES) {
  test(`a ${status} gives one error event classified ${type}${code ? ` (${code})` : ''}`, async (t) => {
    const s = await setup(t, {}, { maxRetries: 0 });
    s.api.enqueue({ status, ...(code ? { error: { code } } : {}) });
    const err = await t.throwsAsync(s.client.messages.create(MSG));
    t.true(err instanceof Anthropic.APIError);
    const r = await eventsOf(s);
    t.is(r.calls.length, 1);
    const e = r.calls[0]!;
    t.is(e.status, 'error');
    t.is(e.http_status, status);
    t.is(e.error_type, type);
    t.is(e.error_code, code);
    t.is(e.request_id, (err as InstanceType<typeof Anthropic.APIError>).requestID ?? null);
  });
}

test('a retried 529 gives one event with two attempts and each attempt status', async (t) => {
  const s = await setup(t);
  s.api.enqueue({ status: 529, headers: { 'retry-after-ms': '20' } }, {});
  await s.client.messages.create(MSG);
  const r = await eventsOf(s);
  t.is(r.calls.length, 1);
  const e = r.calls[0]!;
  t.is(e.status, 'ok');
  t.is(e.attempts, 2);
  t.deepEqual(e.attempt_log.map((a) => a.status), [529, 200]);
  t.is(e.attempt_log[0]!.error_type, 'overloaded_error');
  t.is(e.attempt_log[0]!.retry_after_ms, 20);
  t.truthy(e.attempt_log[0]!.request_id);
  t.not(e.attempt_log[0]!.request_id, e.attempt_log[1]!.request_id);
  t.true(e.attempt_log[1]!.start_offset_ms >= 20);
});

test('a call failing after its last retry is written once, after the last attempt', async (t) => {
  const s = await setup(t);
  s.api.enqueue({ status: 529, headers: { 'retry-after-ms': '5' } }, { status: 529, headers: { 'retry-after-ms': '5' } }, { status: 529, headers: { 'retry-after-ms': '5' } });
  const err = await t.throwsAsync(s.client.messages.create(MSG));
  t.is((err as InstanceType<typeof Anthropic.APIError>).status, 529);
  const r = await eventsOf(s);
  t.is(r.calls.length, 1);
  t.is(r.calls[0]!.attempts, 3);
  t.is(r.calls[0]!.error_type, 'overloaded_error');
});

test('an abort during a retry backoff gives one aborted event', async (t) => {
  const s = await setup(t);
  s.api.enqueue({ status: 529, headers: { 'retry-after-ms': '1500' } }, {});
  const controller = new AbortController();
  const call = s.client.messages.create(MSG, { signal: controller.signal });
  // Abort once the 529 is answered, while the SDK waits out its backoff.
  while (s.api.requests.length === 0) await new Promise((r) => setTimeout(r, 5));
  controller.abort();
  await t.throwsAsync(call);
  const r = await eventsOf(s);
  t.is(r.calls.length, 1);
  t.is(r.calls[0]!.status, 'aborted');
  t.is(r.calls[0]!.attempts, 1);
  t.is(s.api.requests.length, 1);
});

test('a mid-stream error is classified by its type, not by the HTTP 200', async (t) => {
  const s = await setup(t);
  s.api.enqueue({ stream: { textDeltas: 10, errorAfterEvents: 5 } });
  const stream = await s.client.messages.create({ ...MSG, stream: true });
  const err = await t.throwsAsync(async () => {
    for await (const _ of stream) {
      // read until it fails
    }
  });
  t.is((err as InstanceType<typeof Anthropic.APIError>).status, undefined);
  const e = (await eventsOf(s)).calls[0]!;
  t.is(e.status, 'error');
  t.is(e.error_type, 'overloaded_error');
  t.is(e.http_status, 200);
  t.truthy(e.usage, 'input usage from message_start is kept');
  t.is(e.complete, false);
});

test('a connection cut mid-stream gives one error event with the usage seen so far', async (t) => {
  const s = await setup(t);
  s.api.enqueue({ usage: { input_tokens: 321 }, stream: { textDeltas: 30, cutAfterEvents: 6 } });
  const stream = await s.client.messages.create({ ...MSG, stream: true });
  await t.throwsAsync(async () => {
    for await (const _ of stream) {
      // read until the cut
    }
  });
  const r = await eventsOf(s);
  t.is(r.calls.length, 1);
  const e = r.calls[0]!;
  t.is(e.status, 'error');
  t.is(e.usage?.input_tokens, 321);
  t.is(e.complete, false);
});

test('a stream cut after its message_delta but before message_stop is not complete: more deltas may have followed', async (t) => {
  const s = await setup(t);
  // message_start, ping, content_block_start, 3 deltas, content_block_stop, message_delta | message_stop
  s.api.enqueue({ usage: { input_tokens: 40, output_tokens: 17 }, stream: { textDeltas: 3, cutAfterEvents: 8 } });
  const stream = await s.client.messages.create({ ...MSG, stream: true });
  const seen: string[] = [];
  await t.throwsAsync(async () => {
    for await (const ev of stream) seen.push(ev.type);
  });
  t.is(seen.at(-1), 'message_delta', 'the cut came right after the message_delta');
  const e = (await eventsOf(s)).calls[0]!;
  t.like(e, { status: 'error', complete: false, stop_reason: 'end_turn', usage: { input_tokens: 40, output_tokens: 17 } });
});

/**
 * Reads a 100-delta stream with `read` through the bare SDK, then through the emitter's client,
 * and returns the fake API's record of each request (how many events it sent before the
 * connection closed).
 */
async function readBothWays(s: Setup, inputTokens: number, read: (client: Anthropic) => Promise<void>) {
  const script = { usage: { input_tokens: inputTokens }, stream: { textDeltas: 100, eventDelayMs: 3 } };
  s.api.enqueue(script);
  await read(s.bare);
  s.api.enqueue(script);
  await read(s.client);
  // Until the fake has seen both responses end (each record final), however loaded the machine.
  await s.api.waitForIdle(10_000);
  const [without, withEmitter] = s.api.requests.slice(-2);
  return { without: without!, withEmitter: withEmitter! };
}

/** The connection closed early with the emitter as without it (within 10 of the same SSE events sent). */
function closedAsWithout(t: ExecutionContext, { without, withEmitter }: Awaited<ReturnType<typeof readBothWays>>): void {
  t.true(without.clientClosed === true && withEmitter.clientClosed === true);
  t.true(withEmitter.eventsSent! < 60, `with: ${withEmitter.eventsSent}`);
  t.true(Math.abs(withEmitter.eventsSent! - without.eventsSent!) <= 10);
}

/**
 * A stream read by `read` both ways and let go early: the connection closed as without the
 * emitter, and the call is one aborted event with the usage so far (`inputTokens`).
 */
async function abortedAsWithout(t: ExecutionContext, s: Setup, inputTokens: number, read: (client: Anthropic) => Promise<void>): Promise<void> {
  closedAsWithout(t, await readBothWays(s, inputTokens, read));
  const r = await eventsOf(s);
  t.is(r.calls.length, 1);
  t.like(r.calls[0], { status: 'aborted', complete: false, usage: { input_tokens: inputTokens } });
}

/**
 * A streamed call whose usage is scripted as `usage`, read by the app through `asResponse()`
 * with `read` (given its body); returns the call's one event.
 */
async function readRaw(t: ExecutionContext, s: Setup, usage: { input_tokens: number; output_tokens: number }, read: (body: ReadableStream<Uint8Array>) => Promise<void>) {
  s.api.enqueue({ usage, stream: { textDeltas: 20 } });
  const response = await s.client.messages.create({ ...MSG, stream: true }).asResponse();
  await read(response.body!);
  const r = await eventsOf(s);
  t.is(r.calls.length, 1);
  return r.calls[0];
}

test('a stream the app abandons is aborted, with the usage so far, and closes the connection as without the emitter', async (t) => {
  const s = await setup(t);
  const { without, withEmitter } = await readBothWays(s, 55, async (client) => {
    const stream = await client.messages.create({ ...MSG, stream: true });
    let n = 0;
    for await (const _ of stream) if (++n === 5) break;
  });
  t.true(without.clientClosed === true && withEmitter.clientClosed === true);
  t.true(without.eventsSent! < 60, `without: ${without.eventsSent}`);
  t.true(withEmitter.eventsSent! < 60, `with: ${withEmitter.eventsSent}`);
  t.true(Math.abs(withEmitter.eventsSent! - without.eventsSent!) <= 10);
  const r = await eventsOf(s);
  t.is(r.calls.length, 1);
  const e = r.calls[0]!;
  t.is(e.status, 'aborted');
  t.is(e.complete, false);
  t.is(e.usage?.input_tokens, 55);
});

test('a raw stream body the app cancels unread is one aborted event at once, and closes the connection as without the emitter', async (t) => {
  const s = await setup(t);
  closedAsWithout(t, await readBothWays(s, 68, async (client) => {
    const response = await client.messages.create({ ...MSG, stream: true }).asResponse();
    await response.body!.cancel();
  }));
  // Ended by the cancel, not left for the garbage collector to find once the response is gone.
  const r = await eventsOf(s);
  t.like(r.calls, [{ status: 'aborted', complete: false, http_status: 200 }]);
});

test('a raw stream body read through getReader() and cancelled is aborted, with the usage so far, and closes the connection as without the emitter', async (t) => {
  const s = await setup(t);
  await abortedAsWithout(t, s, 66, async (client) => {
    const response = await client.messages.create({ ...MSG, stream: true }).asResponse();
    const reader = response.body!.getReader();
    for (let n = 0; n < 5; n++) await reader.read();
    await reader.cancel();
  });
});

test('a raw stream body piped through a transform to its end is one ok event with the final usage', async (t) => {
  const event = await readRaw(t, await setup(t), { input_tokens: 71, output_tokens: 19 }, async (body) => {
    let text = '';
    for await (const piece of body.pipeThrough(new TextDecoderStream())) text += piece;
    t.true(text.includes('event: message_stop'));
  });
  t.like(event, { status: 'ok', complete: true, usage: { input_tokens: 71, output_tokens: 19 } });
});

test('a raw stream body piped to a sink that fails early is aborted, with the usage so far, and closes the connection as without the emitter', async (t) => {
  const s = await setup(t);
  await abortedAsWithout(t, s, 77, async (client) => {
    const response = await client.messages.create({ ...MSG, stream: true }).asResponse();
    let chunks = 0;
    const sink = new WritableStream<Uint8Array>({
      write() {
        if (++chunks === 5) throw new Error('the sink is full');
      },
    });
    await response.body!.pipeTo(sink).catch(() => undefined);
  });
});

test('a raw stream body read through a byte (BYOB) reader to its end is one ok event with the final usage', async (t) => {
  const event = await readRaw(t, await setup(t), { input_tokens: 72, output_tokens: 23 }, async (body) => {
    const reader = body.getReader({ mode: 'byob' });
    let bytes = 0;
    for (;;) {
      // Small views, so that frames are cut across reads.
      const { done, value } = await reader.read(new Uint8Array(64));
      if (done) break;
      bytes += value.byteLength;
    }
    t.true(bytes > 1000);
  });
  t.like(event, { status: 'ok', complete: true, usage: { input_tokens: 72, output_tokens: 23 } });
});

test('a raw stream body split with tee() and read to its end on one branch is one ok event with the final usage', async (t) => {
  const event = await readRaw(t, await setup(t), { input_tokens: 73, output_tokens: 29 }, async (body) => {
    const [read, other] = body.tee();
    void other.cancel();
    let bytes = 0;
    for await (const chunk of read) bytes += chunk.byteLength;
    t.true(bytes > 1000);
  });
  t.like(event, { status: 'ok', complete: true, usage: { input_tokens: 73, output_tokens: 29 } });
});

test('a raw stream body piped with preventCancel to a sink that fails is left to the app, which reads it on to an ok event', async (t) => {
  const s = await setup(t);
  for (const client of [s.bare, s.client]) {
    s.api.enqueue({ usage: { input_tokens: 74, output_tokens: 31 }, stream: { textDeltas: 20, eventDelayMs: 2 } });
    const response = await client.messages.create({ ...MSG, stream: true }).asResponse();
    let chunks = 0;
    const sink = new WritableStream<Uint8Array>({
      write() {
        if (++chunks === 3) throw new Error('the sink is full');
      },
    });
    await t.throwsAsync(() => response.body!.pipeTo(sink, { preventCancel: true }), { message: 'the sink is full' });
    t.false(response.body!.locked);
    const reader = response.body!.getReader();
    let text = '';
    const decoder = new TextDecoder();
    for (let r = await reader.read(); !r.done; r = await reader.read()) text += decoder.decode(r.value, { stream: true });
    t.true(text.includes('event: message_stop'));
  }
  const r = await eventsOf(s);
  t.is(r.calls.length, 1);
  if (MODE === 'instrument') {
    t.like(r.calls[0], { status: 'ok', complete: true, usage: { input_tokens: 74, output_tokens: 31 } });
  } else {
    // With clientOptions() the SDK's call span ends the call, and the SDK ends it when the pipe
    // lets go of the body: what was read until then.
    t.like(r.calls[0], { status: 'aborted', complete: false, usage: { input_tokens: 74 } });
  }
});

test('piping a raw stream body to a locked destination fails and leaves the body unlocked, as without the emitter', async (t) => {
  const s = await setup(t);
  for (const client of [s.bare, s.client]) {
    const response = await client.messages.create({ ...MSG, stream: true }).asResponse();
    const dest = new WritableStream();
    dest.getWriter();
    await t.throwsAsync(() => response.body!.pipeTo(dest), { instanceOf: TypeError });
    t.throws(() => response.body!.pipeThrough({ writable: dest, readable: new ReadableStream() }), { instanceOf: TypeError });
    t.false(response.body!.locked);
    await response.body!.cancel();
  }
  // Cancelled unread: one aborted call, ended by the cancel (not left for the GC to find).
  const r = await eventsOf(s);
  t.like(r.calls, [{ status: 'aborted', complete: false }]);
});

test('the branches of a teed raw stream body take byte readers, as without the emitter, and the call is one ok event', async (t) => {
  const event = await readRaw(t, await setup(t), { input_tokens: 75, output_tokens: 37 }, async (body) => {
    const [a, b] = body.tee();
    const readAll = async (branch: ReadableStream<Uint8Array>): Promise<number> => {
      const reader = branch.getReader({ mode: 'byob' });
      let n = 0;
      for (let r = await reader.read(new Uint8Array(100)); !r.done; r = await reader.read(new Uint8Array(100))) n += r.value!.byteLength;
      return n;
    };
    const [na, nb] = await Promise.all([readAll(a), readAll(b)]);
    t.true(na > 1000);
    t.is(na, nb);
  });
  t.like(event, { status: 'ok', complete: true, usage: { input_tokens: 75, output_tokens: 37 } });
});

test('a raw stream body iterated through values() is one ok event with the final usage', async (t) => {
  const event = await readRaw(t, await setup(t), { input_tokens: 76, output_tokens: 41 }, async (body) => {
    let bytes = 0;
    for await (const chunk of body.values()) bytes += chunk.byteLength;
    t.true(bytes > 1000);
  });
  t.like(event, { status: 'ok', complete: true, usage: { input_tokens: 76, output_tokens: 41 } });
});

test('piping a raw stream body the app already locked fails as it would without the emitter', async (t) => {
  const s = await setup(t);
  for (const client of [s.bare, s.client]) {
    const response = await client.messages.create({ ...MSG, stream: true }).asResponse();
    const reader = response.body!.getReader();
    await t.throwsAsync(() => response.body!.pipeTo(new WritableStream()), { instanceOf: TypeError });
    t.throws(() => response.body!.tee(), { instanceOf: TypeError });
    await reader.cancel();
  }
  const r = await eventsOf(s);
  t.like(r.calls, [{ status: 'aborted', complete: false }]);
});

test('a stream the app aborts is one aborted event with the usage seen so far', async (t) => {
  const s = await setup(t);
  s.api.enqueue({ usage: { input_tokens: 77 }, stream: { textDeltas: 100, eventDelayMs: 3 } });
  const controller = new AbortController();
  const stream = await s.client.messages.create({ ...MSG, stream: true }, { signal: controller.signal });
  let n = 0;
  // The SDK ends the iteration quietly once the request is aborted.
  for await (const _ of stream) if (++n === 5) controller.abort();
  t.true(n < 60);
  await new Promise((r) => setTimeout(r, 100));
  const r = await eventsOf(s);
  t.is(r.calls.length, 1);
  const e = r.calls[0]!;
  t.is(e.status, 'aborted');
  t.is(e.complete, false);
  t.is(e.usage?.input_tokens, 77);
  t.true(s.api.requests.at(-1)!.eventsSent! < 60);
});

test('tags from withTags and from the client are attached, bounded in number and length', async (t) => {
  const s = await setup(t, { tags: { team: 'core' } });
  const tagged = s.emitter.instrument(s.bare, { tags: { service: 'api' } });
  const many: Record<string, string> = { feature: 'search', long: 'x'.repeat(1000) };
  for (let i = 0; i < 40; i++) many[`k${i}`] = String(i);
  await withTags(many, () => tagged.messages.create(MSG));
  const e = (await eventsOf(s)).calls[0]!;
  t.is(e.tags['team'], 'core');
  t.is(e.tags['service'], 'api');
  t.is(e.tags['feature'], 'search');
  t.is(e.tags['long']!.length, 128);
  t.true(Object.keys(e.tags).length <= 16);
});

test('a tag value with no text (an Object.create(null) dictionary, a throwing toString) is left out, failing neither the call nor the client', async (t) => {
  const s = await setup(t);
  const odd = { none: Object.create(null) as unknown, throws: { toString: () => { throw new Error('no text'); } }, count: 3 } as unknown as Record<string, string>;
  const tagged = s.emitter.instrument(s.bare, { tags: odd });
  const msg = await withTags(odd, () => tagged.messages.create(MSG));
  t.is(msg.type, 'message');
  const e = (await eventsOf(s)).calls[0]!;
  t.deepEqual(e.tags, { count: '3' });
});

test("tags named as Object.prototype's members count towards the bound like any other", async (t) => {
  const s = await setup(t);
  const many = JSON.parse('{"toString":"a","constructor":"b","valueOf":"c","hasOwnProperty":"d","isPrototypeOf":"e","toLocaleString":"f"}') as Record<string, string>;
  for (let i = 0; i < 20; i++) many[`k${i}`] = String(i);
  await withTags(many, () => s.client.messages.create(MSG));
  const e = (await eventsOf(s)).calls[0]!;
  t.is(Object.keys(e.tags).length, 16);
  t.is(e.tags['toString'], 'a');
});

test('a tag named __proto__ (a JSON key, a computed key, CLAUDESCOPE_TAGS) is kept as an ordinary tag, changing no prototype', async (t) => {
  const s = await setup(t, { tags: emitterOptionsFromEnv({ CLAUDESCOPE_TAGS: '__proto__=from-env' }).options.tags! });
  await s.client.messages.create(MSG);
  const fromJson = JSON.parse('{"__proto__":"from-json","feature":"search"}') as Record<string, string>;
  await withTags(fromJson, () => s.client.messages.create(MSG));
  const tagged = s.emitter.instrument(s.bare, { tags: { ['__proto__']: 'from-client' } });
  await tagged.messages.create(MSG);
  // One of the 16: with the emitter's, and 16 more, the last given is left out.
  const many = JSON.parse('{"__proto__":"counted"}') as Record<string, string>;
  for (let i = 0; i < 16; i++) many[`k${i}`] = String(i);
  await withTags(many, () => s.client.messages.create(MSG));
  const r = await eventsOf(s);
  t.deepEqual(r.invalid, []);
  const tags = r.calls.map((e) => e.tags);
  t.true(tags.every((tg) => Object.hasOwn(tg, '__proto__') && Object.getPrototypeOf(tg) === Object.prototype));
  t.deepEqual(tags.map((tg) => Object.getOwnPropertyDescriptor(tg, '__proto__')?.value), ['from-env', 'from-json', 'from-client', 'counted']);
  t.is(tags[1]!['feature'], 'search');
  t.is(Object.keys(tags[3]!).length, 16);
  t.true(Object.hasOwn(tags[3]!, 'k14'));
  t.false(Object.hasOwn(tags[3]!, 'k15'));
  t.is(Object.getPrototypeOf({}), Object.prototype);
});

test('no API key, authorization header or message content is ever written', async (t) => {
  const s = await setup(t, { apiKeyAlias: 'prod-main' });
  await s.client.messages.create(MSG);
  s.api.enqueue({ status: 401 });
  await t.throwsAsync(s.client.messages.create(MSG, { maxRetries: 0 }));
  await s.emitter.close();
  const text = readdirSync(s.dir).map((f) => readFileSync(join(s.dir, f), 'utf8')).join('');
  t.false(text.includes(API_KEY));
  t.false(text.includes('zebras'));
  t.false(/authorization|x-api-key/i.test(text));
  t.true(text.includes('"api_key_alias":"prod-main"'));
});

test('content is written only through the redaction hook, and a failing hook fails nothing', async (t) => {
  const s = await setup(t, { redact: ({ request }) => ({ model: (request as { model: string }).model }) });
  await s.client.messages.create(MSG);
  const e = (await eventsOf(s)).calls[0]!;
  t.deepEqual(e.content, { model: MSG.model });
  const s2 = await setup(t, {
    redact: () => {
      throw new Error('hook bug');
    },
  });
  const msg = await s2.client.messages.create(MSG);
  t.is(msg.type, 'message');
  const e2 = (await eventsOf(s2)).calls[0]!;
  t.deepEqual(e2.content, { redaction_failed: true, event_id: e2.event_id });
});

test('the redaction hook sees the request as the call sent it, not as the app changed it afterwards', async (t) => {
  // The event is built later than the call ends; by then a chat loop has added the reply
  // (and its next turn) to the very `messages` array the request held.
  const s = await setup(t, { flushIntervalMs: 60_000, redact: ({ request }) => ({ turns: (request as { messages: unknown[] }).messages.length }) });
  const messages: Anthropic.MessageParam[] = [{ role: 'user', content: 'first' }];
  const reply = await s.client.messages.create({ ...MSG, messages });
  messages.push({ role: 'assistant', content: reply.content }, { role: 'user', content: 'second' });
  const e = (await eventsOf(s)).calls[0]!;
  t.deepEqual(e.content, { turns: 1 });
});

test("content the hook returns is the call's even when it shares objects the app changes afterwards", async (t) => {
  // A hook that keeps the request as it is returns the app's own `messages` array.
  const s = await setup(t, { flushIntervalMs: 60_000, redact: ({ request }) => request });
  const messages: Anthropic.MessageParam[] = [{ role: 'user', content: 'first' }];
  const reply = await s.client.messages.create({ ...MSG, messages });
  messages.push({ role: 'assistant', content: reply.content }, { role: 'user', content: 'second' });
  const e = (await eventsOf(s)).calls[0]!;
  t.deepEqual((e.content as { messages: unknown[] }).messages, [{ role: 'user', content: 'first' }]);
});

test("content JSON cannot hold is written as a failed redaction, and the call's event is kept", async (t) => {
  const s = await setup(t, { redact: () => ({ big: 10n }) });
  await s.client.messages.create(MSG);
  const e = (await eventsOf(s)).calls[0]!;
  t.deepEqual(e.content, { redaction_failed: true, event_id: e.event_id });
});

test("content larger than half the writer's buffer is left out, and the call's event is kept with its usage", async (t) => {
  const s = await setup(t, { maxBufferBytes: 64 * 1024, redact: ({ request }) => request });
  const prompts = ['x'.repeat(40_000), 'ж'.repeat(20_000), 'x'.repeat(20_000)];
  for (const content of prompts) await s.client.messages.create({ ...MSG, messages: [{ role: 'user', content }] });
  const r = await eventsOf(s);
  t.deepEqual(r.invalid, []);
  t.is(r.calls.length, 3);
  t.true(r.calls.every((e) => e.status === 'ok' && (e.usage?.output_tokens ?? 0) > 0));
  // 40,000 bytes of ASCII, and 20,000 characters that take 40,000 bytes, are over 32 KiB; 20,000 bytes are not.
  t.deepEqual(r.calls[0]!.content, { redaction_failed: true, event_id: r.calls[0]!.event_id, content_too_large: true });
  t.deepEqual(r.calls[1]!.content, { redaction_failed: true, event_id: r.calls[1]!.event_id, content_too_large: true });
  t.is((r.calls[2]!.content as { messages: Array<{ content: string }> }).messages[0]!.content, prompts[2]!);
  t.is(s.emitter.stats().events_dropped_buffer, 0);
});

test('the content of calls waiting for the flush interval is held only up to half maxBufferBytes: past it their events are built at once', async (t) => {
  // Each call's content is under the bound of one; waiting for a minute's interval, any number
  // of them was held, outside the buffer's cap.
  const s = await setup(t, { maxBufferBytes: 128 * 1024, flushIntervalMs: 60_000, redact: ({ request }) => request });
  const call = (i: number) => s.client.messages.create({ ...MSG, messages: [{ role: 'user', content: `${i}`.repeat(30_000) }] });
  await call(1);
  await call(2);
  t.is(s.emitter.stats().events_written, 0, 'two contents (60 KB) wait for the interval');
  await call(3);
  t.is(s.emitter.stats().events_written, 3, 'a third (90 KB, past 64 KiB) has them all built');
  const r = await eventsOf(s);
  t.deepEqual(r.invalid, []);
  t.deepEqual(
    r.calls.map((e) => (e.content as { messages: Array<{ content: string }> }).messages[0]!.content.length),
    [30_000, 30_000, 30_000],
  );
  t.is(s.emitter.stats().events_dropped_buffer, 0);
});

test('the content held for the flush interval is counted in bytes: multi-byte content is built at once past half maxBufferBytes', async (t) => {
  // 13,000 '€' are 13,000 characters but 39,000 bytes in the event: two of them pass half of 128 KiB.
  const s = await setup(t, { maxBufferBytes: 128 * 1024, flushIntervalMs: 60_000, redact: ({ request }) => request });
  const call = () => s.client.messages.create({ ...MSG, messages: [{ role: 'user', content: '€'.repeat(13_000) }] });
  await call();
  t.is(s.emitter.stats().events_written, 0, 'one (39 KB) waits for the interval');
  await call();
  t.is(s.emitter.stats().events_written, 2, 'a second (78 KB in all, past 64 KiB) has both built');
  const r = await eventsOf(s);
  t.deepEqual(r.invalid, []);
  t.deepEqual(r.calls.map((e) => (e.content as { messages: Array<{ content: string }> }).messages[0]!.content.length), [13_000, 13_000]);
  t.is(s.emitter.stats().events_dropped_buffer, 0);
});

test('the event has the response as the call returned it, whatever the app does to it afterwards', async (t) => {
  // The event is built later than the call ends; the app owns the response meanwhile.
  const s = await setup(t, { flushIntervalMs: 60_000 });
  s.api.enqueue({ usage: { input_tokens: 11, output_tokens: 22, cache_read_input_tokens: 33 } });
  const reply = await s.client.messages.create(MSG);
  const sent = { id: reply.id, model: reply.model };
  const mutable = reply as unknown as Record<string, unknown> & { usage: Record<string, unknown> };
  mutable.usage.output_tokens = 0;
  mutable.usage.cache_read_input_tokens = null;
  mutable.model = 'changed-by-the-app';
  delete mutable.id;
  const e = (await eventsOf(s)).calls[0]!;
  t.is(e.message_id, sent.id);
  t.is(e.model, sent.model);
  t.like(e.usage, { input_tokens: 11, output_tokens: 22, cache_read_input_tokens: 33 });
});

test('the response the app reads is unchanged by the emitter', async (t) => {
  const s = await setup(t);
  const script = { content: [{ type: 'text' as const, text: 'exactly this' }], usage: { input_tokens: 3, output_tokens: 4 } };
  s.api.enqueue(script);
  const plain = await s.bare.messages.create(MSG).withResponse();
  s.api.enqueue(script);
  const seen = await s.client.messages.create(MSG).withResponse();
  const strip = (m: Record<string, unknown>) => ({ ...m, id: 'x' });
  t.deepEqual(strip(seen.data as unknown as Record<string, unknown>), strip(plain.data as unknown as Record<string, unknown>));
  t.is(seen.response.status, plain.response.status);
  s.api.enqueue({ ...script, stream: { textDeltas: 8 } });
  const a = [];
  for await (const ev of await s.bare.messages.create({ ...MSG, stream: true })) a.push(ev.type);
  s.api.enqueue({ ...script, stream: { textDeltas: 8 } });
  const b = [];
  for await (const ev of await s.client.messages.create({ ...MSG, stream: true })) b.push(ev.type);
  t.deepEqual(b, a);
});

test('an error the app sees is the very object the SDK raised', async (t) => {
  const s = await setup(t);
  const mine = new Error('from an inner middleware');
  const client = s.emitter.instrument(new Anthropic({ apiKey: API_KEY, baseURL: s.api.url, maxRetries: 0 }), {
    middleware: [
      async () => {
        throw mine;
      },
    ],
  });
  const err = await t.throwsAsync(client.messages.create(MSG));
  t.is(err, mine);
  const r = await eventsOf(s);
  t.is(r.calls.length, 1);
  t.is(r.calls[0]!.status, 'error');
});

test('instrument keeps the client\'s own middleware, and instrumenting twice records each call once', async (t) => {
  const s = await setup(t);
  let seen = 0;
  const own = new Anthropic({
    apiKey: API_KEY,
    baseURL: s.api.url,
    middleware: [
      async (req, next) => {
        seen++;
        return next(req);
      },
    ],
  });
  const twice = s.emitter.instrument(s.emitter.instrument(own));
  s.api.enqueue({ status: 529, headers: { 'retry-after-ms': '5' } }, {});
  await twice.messages.create(MSG);
  t.is(seen, 2, 'the app middleware still runs on every attempt');
  const r = await eventsOf(s);
  t.is(r.calls.length, 1);
  t.is(r.calls[0]!.attempts, 2);
});

test('a disk-full writer does not fail the call', async (t) => {
  const fs = await import('node:fs');
  const enospc = Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });
  const full = {
    ...fs,
    write: (_fd: number, _b: Uint8Array, _o: number, _l: number, _p: null, cb: (e: Error | null, n: number) => void) => setImmediate(() => cb(enospc, 0)),
    writeSync: () => {
      throw enospc;
    },
  };
  const s = await setup(t, { fs: full as never });
  for (let i = 0; i < 5; i++) {
    const m = await s.client.messages.create(MSG);
    t.is(m.type, 'message');
  }
  await s.emitter.flush();
  const st = s.emitter.stats();
  t.true(st.events_dropped_write_error > 0, JSON.stringify(st));
});

test('a call whose response the emitter cannot hook (a fault of its own) is still written once, and the fault counted', async (t) => {
  // A frozen response: the emitter cannot shadow its json() to see the parse.
  const s = await setup(t, {}, { fetch: async (url: string, init: RequestInit) => Object.freeze(await fetch(url, init)) });
  const msg = await s.client.messages.create(MSG);
  t.is(msg.type, 'message');
  t.true(s.emitter.stats().internal_errors >= 1);
  // No parse to end it on: the call ends once the SDK could no longer retry it (a few seconds).
  const deadline = Date.now() + 15_000;
  let r = await eventsOf(s);
  while (r.calls.length === 0 && Date.now() < deadline) {
    await new Promise((res) => setTimeout(res, 250));
    r = await eventsOf(s);
  }
  t.is(r.calls.length, 1);
  t.like(r.calls[0], { operation: 'messages.create', http_status: 200 });
});

test('a retried error whose response the emitter cannot hook still makes one event with both attempts', async (t) => {
  const s = await setup(t, {}, { fetch: async (url: string, init: RequestInit) => Object.freeze(await fetch(url, init)) });
  // A wait longer than a success's unparsed-body wait: the call must be kept open for the retry.
  s.api.enqueue({ status: 529, retryAfterMs: 8000 });
  const msg = await s.client.messages.create(MSG);
  t.is(msg.type, 'message');
  const deadline = Date.now() + 20_000;
  let r = await eventsOf(s);
  while (r.calls.length === 0 && Date.now() < deadline) {
    await new Promise((res) => setTimeout(res, 250));
    r = await eventsOf(s);
  }
  await new Promise((res) => setTimeout(res, 1500));
  r = await eventsOf(s);
  t.is(r.calls.length, 1);
  t.like(r.calls[0], { attempts: 2, http_status: 200 });
  t.deepEqual(r.calls[0]!.attempt_log.map((a) => a.status), [529, 200]);
});

test('1,000 concurrent calls give 1,000 valid events and no torn line', async (t) => {
  const s = await setup(t);
  const calls = Array.from({ length: 1000 }, (_, i) =>
    withTags({ feature: `f${i % 7}` }, () => (i % 3 === 0 ? s.client.messages.create({ ...MSG, stream: true }).then(async (st) => { for await (const _ of st); }) : s.client.messages.create(MSG))),
  );
  await Promise.all(calls);
  await s.emitter.close();
  const r = readEvents(s.dir);
  t.deepEqual(r.invalid, []);
  t.deepEqual(r.torn, []);
  t.is(r.calls.length, 1000);
  t.is(new Set(r.calls.map((e) => e.event_id)).size, 1000);
  t.is(r.calls.filter((e) => e.stream).length, 334);
  // Ids grow with time (the store's unique index then grows at its end): each begins with its call's end.
  t.deepEqual(r.calls.filter((e) => parseInt(e.event_id.slice(0, 8) + e.event_id.slice(9, 13), 16) !== e.ts).map((e) => `${e.event_id} at ${e.ts}`), []);
});

test.serial('switched off by CLAUDESCOPE_DISABLED, it is a pass-through that writes nothing', async (t) => {
  const api = await startFakeApi();
  t.teardown(() => api.close());
  const dir = tempDir(t);
  process.env['CLAUDESCOPE_DISABLED'] = '1';
  t.teardown(() => {
    delete process.env['CLAUDESCOPE_DISABLED'];
  });
  const emitter = createEmitter({ dir });
  const bare = new Anthropic({ apiKey: API_KEY, baseURL: api.url });
  t.is(emitter.instrument(bare), bare);
  t.deepEqual(emitter.clientOptions(), {});
  await bare.messages.create(MSG);
  t.deepEqual(readdirSync(dir), []);
});
