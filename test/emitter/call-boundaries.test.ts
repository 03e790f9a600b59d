/**
 * Where `instrument(client)` (the middleware alone, no call span) ends each call: on the SDK's
 * own signals when it gives them, and by a sweep once the SDK would have retried when it does
 * not. Real SDK, fake Claude API, real files.
 */
import test from 'ava';
import Anthropic from '@anthropic-ai/sdk';
import type { Middleware } from '@anthropic-ai/sdk';
import { EventEmitter } from 'node:events';
import { inspect } from 'node:util';
import { createServer } from 'node:net';
import { readEvents } from '../helpers/events.js';
import { fakeApiAndEmitter, type EmitterSetup } from '../helpers/emitter-setup.js';
import type { CallEvent } from '../../src/event/types.js';

const MSG = { model: 'claude-haiku-4-5', max_tokens: 64, messages: [{ role: 'user' as const, content: 'hello' }] };

type Setup = EmitterSetup;
const setup = fakeApiAndEmitter;

async function calls(s: Setup): Promise<CallEvent[]> {
  await s.emitter.flush();
  const r = readEvents(s.dir);
  if (r.invalid.length > 0) throw new Error(r.invalid.join('\n'));
  return r.calls;
}

/** Polls until `n` call events were written, or `ms` passed. */
async function waitForCalls(s: Setup, n: number, ms: number): Promise<CallEvent[]> {
  const until = Date.now() + ms;
  for (;;) {
    const got = await calls(s);
    if (got.length >= n || Date.now() > until) return got;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A loopback address where nothing listens (connections are refused). */
async function closedPortUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((r) => server.close(() => r()));
  return `http://127.0.0.1:${port}`;
}

test('a call that cannot connect on any attempt is one connection_error event, written before the app sees the error', async (t) => {
  const s = await setup(t);
  const client = s.emitter.instrument(new Anthropic({ apiKey: 'k', baseURL: await closedPortUrl(), maxRetries: 1 }));
  await t.throwsAsync(client.messages.create(MSG), { instanceOf: Anthropic.APIConnectionError });
  const got = await calls(s);
  t.is(got.length, 1);
  const e = got[0]!;
  t.is(e.status, 'error');
  t.is(e.error_type, 'connection_error');
  t.is(e.attempts, 2);
  t.deepEqual(e.attempt_log.map((a) => [a.status, a.error_type]), [[null, 'connection_error'], [null, 'connection_error']]);
});

test('a call the SDK times out on every attempt is one client_timeout_error event, each attempt named alike', async (t) => {
  const s = await setup(t);
  s.api.enqueue({ delayMs: 2000 }, { delayMs: 2000 });
  const client = s.emitter.instrument(new Anthropic({ apiKey: 'k', baseURL: s.api.url, maxRetries: 1, timeout: 100 }));
  await t.throwsAsync(client.messages.create(MSG), { instanceOf: Anthropic.APIConnectionTimeoutError });
  const got = await calls(s);
  t.is(got.length, 1);
  t.is(got[0]!.status, 'error');
  t.is(got[0]!.error_type, 'client_timeout_error');
  t.deepEqual(got[0]!.attempt_log.map((a) => a.error_type), ['client_timeout_error', 'client_timeout_error']);
});

test("a request's own maxRetries decides which attempt is the last", async (t) => {
  const s = await setup(t);
  const client = s.emitter.instrument(new Anthropic({ apiKey: 'k', baseURL: await closedPortUrl(), maxRetries: 3 }));
  await t.throwsAsync(client.messages.create(MSG, { maxRetries: 0 }));
  const got = await calls(s);
  t.is(got.length, 1, 'written at once: no retry can follow');
  t.is(got[0]!.attempts, 1);
});

test('a copy of an instrumented client allowed more retries (withOptions) writes a call failing on every attempt once, with each attempt', async (t) => {
  const s = await setup(t);
  const client = s.emitter.instrument(new Anthropic({ apiKey: 'k', baseURL: await closedPortUrl(), maxRetries: 0 })).withOptions({ maxRetries: 2 });
  await t.throwsAsync(client.messages.create(MSG), { instanceOf: Anthropic.APIConnectionError });
  const got = await calls(s);
  t.is(got.length, 1);
  t.like(got[0], { status: 'error', error_type: 'connection_error', attempts: 3 });
});

test('a copy of an instrumented client allowed fewer retries (withOptions) writes its failed call at once', async (t) => {
  const s = await setup(t);
  const client = s.emitter.instrument(new Anthropic({ apiKey: 'k', baseURL: await closedPortUrl(), maxRetries: 2 })).withOptions({ maxRetries: 0 });
  await t.throwsAsync(client.messages.create(MSG), { instanceOf: Anthropic.APIConnectionError });
  const got = await calls(s);
  t.is(got.length, 1, 'written at once: no retry can follow');
  t.like(got[0], { status: 'error', attempts: 1 });
});

test("a copy of an instrumented client keeps the client's tags and middleware once, and one given middleware of its own is still recorded", async (t) => {
  const s = await setup(t);
  const seen: string[] = [];
  const log = (name: string): Middleware => async (req, next) => {
    seen.push(name);
    return next(req);
  };
  const client = s.emitter.instrument(new Anthropic({ apiKey: 'k', baseURL: s.api.url }), { tags: { team: 'core' }, middleware: [log('scope')] });
  await client.withOptions({ timeout: 30_000 }).messages.create(MSG);
  await client.withOptions({ middleware: [log('replaced')] }).withOptions({ maxRetries: 1 }).messages.create(MSG);
  t.deepEqual(seen, ['scope', 'replaced']);
  const got = await calls(s);
  t.is(got.length, 2);
  t.deepEqual(got.map((e) => [e.status, e.tags['team']]), [['ok', 'core'], ['ok', 'core']]);
});

test('a connection error the SDK retries, then a success, is one ok event with both attempts', async (t) => {
  const s = await setup(t);
  let n = 0;
  const client = s.emitter.instrument(new Anthropic({ apiKey: 'k', baseURL: s.api.url, maxRetries: 2 }), {
    middleware: [
      async (req, next) => {
        if (n++ === 0) throw new Anthropic.APIConnectionError({ message: 'connection reset' });
        return next(req);
      },
    ],
  });
  const msg = await client.messages.create(MSG);
  t.is(msg.type, 'message');
  const got = await calls(s);
  t.is(got.length, 1);
  t.is(got[0]!.status, 'ok');
  t.deepEqual(got[0]!.attempt_log.map((a) => a.status), [null, 200]);
  t.truthy(got[0]!.usage);
});

test('what the middleware keeps on the SDK request options of a call is seen by no one else: no key, symbol or printed field, and a copy spread from them carries none', async (t) => {
  const s = await setup(t);
  const seen: { keys: string[]; symbols: symbol[]; printed: string; copy: Record<string | symbol, unknown> }[] = [];
  s.api.enqueue({ status: 529 });
  const client = s.emitter.instrument(new Anthropic({ apiKey: 'k', baseURL: s.api.url, maxRetries: 2 }), {
    middleware: [
      async (req, next, ctx) => {
        const o = ctx.options as unknown as Record<string | symbol, unknown>;
        seen.push({ keys: Object.keys(o), symbols: Object.getOwnPropertySymbols(o), printed: inspect(o, { depth: 0, showHidden: true }), copy: { ...o } });
        return next(req);
      },
    ],
  });
  await client.messages.create(MSG);
  t.is(seen.length, 2, 'the 529, then its retry');
  for (const { keys, symbols, printed, copy } of seen) {
    t.false(keys.some((k) => /claudescope/i.test(k)), keys.join(', '));
    t.false(symbols.some((k) => /claudescope/i.test(String(k))), symbols.map(String).join(', '));
    t.false(/CallRecord|claudescope/i.test(printed), printed);
    t.deepEqual(Object.getOwnPropertySymbols(copy).filter((k) => /claudescope/i.test(String(k))), []);
  }
  const got = await calls(s);
  t.is(got.length, 1, 'both attempts, one call');
  t.deepEqual(got[0]!.attempt_log.map((a) => a.status), [529, 200]);
});

test('an error an app middleware throws reaches the app as is, and the call is written once, after the SDK would have retried', async (t) => {
  const s = await setup(t);
  const mine = new Error('refused by policy');
  const client = s.emitter.instrument(new Anthropic({ apiKey: 'k', baseURL: s.api.url, maxRetries: 2 }), {
    middleware: [
      async () => {
        throw mine;
      },
    ],
  });
  const err = await t.throwsAsync(client.messages.create(MSG));
  t.is(err, mine);
  const got = await waitForCalls(s, 1, 8000);
  t.is(got.length, 1);
  t.is(got[0]!.status, 'error');
  t.is(got[0]!.attempts, 1);
  // Nothing more comes for that call.
  await new Promise((r) => setTimeout(r, 1500));
  t.is((await calls(s)).length, 1);
  t.is(s.api.requests.length, 0);
});

test('a value with no text an app middleware throws (no prototype) is recorded as its attempt, and the call written once, after the SDK would have retried', async (t) => {
  const s = await setup(t);
  const mine = Object.create(null) as object;
  const client = s.emitter.instrument(new Anthropic({ apiKey: 'k', baseURL: s.api.url, maxRetries: 2 }), {
    middleware: [
      async () => {
        throw mine;
      },
    ],
  });
  await t.throwsAsync(client.messages.create(MSG), { any: true });
  const got = await waitForCalls(s, 1, 8000);
  t.is(got.length, 1);
  t.like(got[0], { status: 'error', error_type: 'connection_error', attempts: 1 });
  t.is(s.emitter.stats().internal_errors, 0);
});

const RAW_READS = ['text', 'arrayBuffer', ...(typeof (Response.prototype as { bytes?: unknown }).bytes === 'function' ? ['bytes' as const] : [])] as const;
for (const read of RAW_READS) {
  test(`a response the app reads raw through asResponse() and ${read}() is a complete event with its usage, at once, and the app gets the body unchanged`, async (t) => {
    const s = await setup(t);
    const client = s.emitter.instrument(new Anthropic({ apiKey: 'k', baseURL: s.api.url }));
    const res = await client.messages.create(MSG).asResponse();
    const length = Number(res.headers.get('content-length'));
    const bytes =
      read === 'text' ? new TextEncoder().encode(await res.text())
      : read === 'arrayBuffer' ? new Uint8Array(await res.arrayBuffer())
      : await (res as unknown as { bytes: () => Promise<Uint8Array> }).bytes();
    t.true(length > 0);
    t.is(bytes.byteLength, length, 'every byte the API sent');
    const msg = JSON.parse(new TextDecoder().decode(bytes)) as { id: string; usage: { input_tokens: number; output_tokens: number } };
    const got = await calls(s);
    t.is(got.length, 1);
    t.is(got[0]!.status, 'ok');
    t.true(got[0]!.complete);
    t.is(got[0]!.message_id, msg.id);
    t.is(got[0]!.usage?.input_tokens, msg.usage.input_tokens);
    t.is(got[0]!.usage?.output_tokens, msg.usage.output_tokens);
    // The SDK's own parse still works on a call read that way.
    const again = await client.messages.create(MSG);
    t.is(again.type, 'message');
    t.is((await calls(s)).length, 2);
  });
}

/** A fetch to the fake API whose responses are `wrap`ped (a subclass, a look-alike: what another fetch returns). */
function wrappingFetch(wrap: (r: Response) => unknown): typeof fetch {
  return (async (url: string | URL | Request, init?: RequestInit) => wrap(await fetch(url, init))) as typeof fetch;
}

test('a response of another fetch whose body methods cannot be assigned (getter-only) still gives its usage at once', async (t) => {
  const s = await setup(t);
  class GetterOnly extends Response {}
  // `json` an accessor without a setter: assigning it on an instance throws.
  Object.defineProperty(GetterOnly.prototype, 'json', { get: () => Response.prototype.json, configurable: true });
  const client = s.emitter.instrument(new Anthropic({ apiKey: 'k', baseURL: s.api.url, fetch: wrappingFetch((r) => new GetterOnly(r.body, r)) }));
  const reply = await client.messages.create(MSG);
  const got = await calls(s);
  t.is(got.length, 1);
  t.is(got[0]!.status, 'ok');
  // Usage comes only from the parse (a call ended by the wait for an unread body has none), and
  // `calls()` reads what was written by now, not seconds later.
  t.is(got[0]!.usage?.output_tokens, reply.usage.output_tokens);
  t.true(got[0]!.complete);
});

test("a response's call facts are not enumerable: a spread or an inspection of it carries neither them nor the prompt, and the call is untouched", async (t) => {
  const s = await setup(t);
  const client = s.emitter.instrument(new Anthropic({ apiKey: 'k', baseURL: s.api.url }));
  const secret = { ...MSG, messages: [{ role: 'user' as const, content: 'a prompt about okapis' }] };
  const res = await client.messages.create(secret).asResponse();
  const { inspect } = await import('node:util');
  t.notRegex(inspect(res, { depth: 8 }), /okapis/);
  const copy = { ...res } as Record<PropertyKey, unknown>;
  t.deepEqual(Object.getOwnPropertySymbols(copy).filter((k) => k.description?.startsWith('claudescope')), []);
  // A method of the copy is no read of the response: the call still ends on the app's own read.
  await t.throwsAsync(async () => (copy['text'] as () => Promise<string>)());
  const msg = JSON.parse(await res.text()) as { usage: { output_tokens: number } };
  const got = await calls(s);
  t.is(got.length, 1);
  t.is(got[0]!.status, 'ok');
  t.is(got[0]!.usage?.output_tokens, msg.usage.output_tokens);
});

test('a look-alike response with only some body methods gets wrappers for those alone', async (t) => {
  const s = await setup(t);
  // What a minimal fetch polyfill returns: no arrayBuffer(), bytes() or blob().
  const lookAlike = (r: Response) => ({ status: r.status, ok: r.ok, url: r.url, headers: r.headers, body: r.body, json: () => r.json(), text: () => r.text() });
  const client = s.emitter.instrument(new Anthropic({ apiKey: 'k', baseURL: s.api.url, fetch: wrappingFetch(lookAlike) }));
  const res = (await client.messages.create(MSG).asResponse()) as unknown as Record<string, unknown>;
  t.is(res['arrayBuffer'], undefined);
  t.is(res['bytes'], undefined);
  t.deepEqual(Object.keys(res).sort(), ['body', 'headers', 'json', 'ok', 'status', 'text', 'url']);
  const msg = (await (res['json'] as () => Promise<{ usage: { output_tokens: number } }>)());
  const got = await calls(s);
  t.is(got.length, 1);
  t.is(got[0]!.usage?.output_tokens, msg.usage.output_tokens);
});

test('a 200 whose JSON body does not parse fails the app as without the emitter, and is one event at once, not a connection error', async (t) => {
  const s = await setup(t);
  const fetchBad = (async () => new Response('{"id":"msg_1","usage":', { status: 200, headers: { 'content-type': 'application/json', 'request-id': 'req_bad' } })) as typeof fetch;
  const bare = new Anthropic({ apiKey: 'k', baseURL: s.api.url, fetch: fetchBad, maxRetries: 0 });
  const client = s.emitter.instrument(new Anthropic({ apiKey: 'k', baseURL: s.api.url, fetch: fetchBad, maxRetries: 0 }));
  const without = await t.throwsAsync(bare.messages.create(MSG));
  const withIt = await t.throwsAsync(client.messages.create(MSG));
  t.is(withIt?.constructor, without?.constructor);
  t.is(withIt?.message, without?.message);
  const got = await calls(s);
  t.is(got.length, 1);
  t.is(got[0]!.status, 'ok');
  t.is(got[0]!.error_type, null);
  t.is(got[0]!.request_id, 'req_bad');
  t.is(got[0]!.usage, null);
  t.false(got[0]!.complete);
});

test('a response the app reads raw through asResponse() and blob() is one ok event, without the usage it did not parse', async (t) => {
  const s = await setup(t);
  const client = s.emitter.instrument(new Anthropic({ apiKey: 'k', baseURL: s.api.url }));
  const res = await client.messages.create(MSG).asResponse();
  const body = (await res.blob()).size;
  t.true(body > 0);
  const got = await waitForCalls(s, 1, 9000);
  t.is(got.length, 1);
  t.is(got[0]!.status, 'ok');
  t.is(got[0]!.http_status, 200);
  t.is(got[0]!.usage, null);
  t.false(got[0]!.complete);
});

test('a response read through asResponse() and then .json() is a complete event with its usage, at once', async (t) => {
  const s = await setup(t);
  const client = s.emitter.instrument(new Anthropic({ apiKey: 'k', baseURL: s.api.url }));
  const res = await client.messages.create(MSG).asResponse();
  await res.json();
  const got = await calls(s);
  t.is(got.length, 1);
  t.true(got[0]!.complete);
  t.truthy(got[0]!.usage);
});

test('instrumenting a client built with clientOptions() records each call once', async (t) => {
  const s = await setup(t);
  const viaOptions = new Anthropic({ apiKey: 'k', baseURL: s.api.url, ...s.emitter.clientOptions() });
  const both = s.emitter.instrument(viaOptions);
  s.api.enqueue({ status: 529, headers: { 'retry-after-ms': '5' } }, {});
  await both.messages.create(MSG);
  await viaOptions.messages.countTokens({ model: MSG.model, messages: MSG.messages });
  const got = await calls(s);
  t.deepEqual(got.map((e) => [e.operation, e.attempts]), [['messages.create', 2], ['messages.count_tokens', 1]]);
});

test('a long-lived AbortSignal shared by many calls keeps no listener of the emitter once they end', async (t) => {
  const s = await setup(t);
  const controller = new AbortController();
  const bare = new Anthropic({ apiKey: 'k', baseURL: s.api.url });
  const client = s.emitter.instrument(bare);
  for (let i = 0; i < 20; i++) await bare.messages.create(MSG, { signal: controller.signal });
  const withoutEmitter = EventEmitter.getEventListeners(controller.signal, 'abort').length;
  for (let i = 0; i < 20; i++) await client.messages.create(MSG, { signal: controller.signal });
  const stream = await client.messages.create({ ...MSG, stream: true }, { signal: controller.signal });
  for await (const _ of stream) {
    // read to the end
  }
  t.is(EventEmitter.getEventListeners(controller.signal, 'abort').length, withoutEmitter);
  t.is((await calls(s)).length, 21);
});
