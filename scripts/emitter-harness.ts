/**
 * The emitter's middleware driven as the SDK drives it, without the SDK: one attempt, the
 * response's headers listed (the SDK logs them), its body parsed through `json()`. Runs `warm`
 * calls, then `calls` more, 8 at a time. For counting instructions (bench-emitter-instructions.ts);
 * `variant` is `noop` (a middleware that only calls `next`) or `emitter`.
 *
 * With `sdk` as a fourth argument, the calls go through the real SDK instead (`messages.create`,
 * its `fetch` option answering from memory with the same captured response), and `bare` (the
 * SDK without middleware) is a third variant: the emitter's instructions against a whole call's.
 *
 * Run: node dist/scripts/emitter-harness.js <noop|emitter|bare> <warm> <calls> [sdk]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Anthropic from '@anthropic-ai/sdk';
import type { Middleware } from '@anthropic-ai/sdk';
import { createEmitter } from '../src/index.js';
import { startFakeApi } from '../src/testing/index.js';

const [variant = 'emitter', warm = '4000', calls = '4000', via = 'middleware'] = process.argv.slice(2);
if (!['noop', 'emitter', 'bare'].includes(variant) || !['middleware', 'sdk'].includes(via) || (variant === 'bare' && via !== 'sdk')) {
  throw new Error(`usage: emitter-harness <noop|emitter|bare> <warm> <calls> [sdk] (bare only with sdk), got ${process.argv.slice(2).join(' ')}`);
}
const api = await startFakeApi({ port: 0 });
const body = { model: 'claude-haiku-4-5', max_tokens: 64, messages: [{ role: 'user' as const, content: 'bench' }] };
const captured = await fetch(`${api.url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-api-key': 'k', 'anthropic-version': '2023-06-01' }, body: JSON.stringify(body) });
const bytes = new Uint8Array(await captured.arrayBuffer());
const headers = [...captured.headers.entries()];
await api.close();

const dir = mkdtempSync(join(tmpdir(), 'claudescope-harness-'));
// No timer may fire in the counted calls: under valgrind a call takes ~50× longer, so a timer
// (the flush interval, the stats line) would fire after more or fewer calls as the machine's
// load varies, and change the work done. Events are then built and written 64 at a time, as
// under load, and at the end of each run (flush()).
const emitter = createEmitter({ dir, app: 'harness', flushIntervalMs: 3_600_000, statsIntervalMs: 3_600_000 });
const noop: Middleware = (request, next) => next(request);
/** Enough of a client for instrument(): its copies are clients too (instrument() hooks their withOptions). */
const fakeClient = { maxRetries: 2, withOptions: (o: Record<string, unknown>): unknown => ({ ...fakeClient, ...o }) };
const middleware: Middleware = variant === 'noop' ? noop : (emitter.instrument(fakeClient) as unknown as { middleware: Middleware[] }).middleware[0]!;
const next = async (): Promise<Response> => new Response(new ReadableStream({ start: (c) => (c.enqueue(bytes), c.close()) }), { status: 200, headers });
const requestHeaders = { 'content-type': 'application/json', 'anthropic-version': '2023-06-01', 'x-api-key': 'k', 'x-stainless-retry-count': '0' };

/** Through the SDK: a client per variant, its `fetch` answering from memory. */
const sdkFetch = (async () => next()) as unknown as typeof fetch;
const sdkOptions = { apiKey: 'k', baseURL: 'http://127.0.0.1:1', fetch: sdkFetch, maxRetries: 2 };
const client = via !== 'sdk' ? null
  : variant === 'bare' ? new Anthropic(sdkOptions)
  : variant === 'noop' ? new Anthropic({ ...sdkOptions, middleware: [noop] })
  : emitter.instrument(new Anthropic(sdkOptions));

async function one(): Promise<unknown> {
  if (client) return client.messages.create(body);
  const options = { method: 'post', path: '/v1/messages', body, stream: false };
  const request = { method: 'POST', headers: new Headers(requestHeaders), body: JSON.stringify(body), url: 'https://api.anthropic.com/v1/messages' };
  const response = await middleware(request as never, next as never, { options } as never);
  for (const _ of response.headers);
  return response.json();
}

async function run(n: number): Promise<void> {
  let left = n;
  await Promise.all(Array.from({ length: 8 }, async () => {
    while (left-- > 0) {
      await one();
      await new Promise((r) => setImmediate(r));
    }
  }));
  await emitter.flush();
}

await run(Number(warm));
await run(Number(calls));
await emitter.close();
rmSync(dir, { recursive: true, force: true });
