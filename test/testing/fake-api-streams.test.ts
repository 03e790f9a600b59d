import test from 'ava';
import { pacedStream, startFakeApi } from '../../src/testing/index.js';
import { harness, hello } from './helpers.js';
import Anthropic from '@anthropic-ai/sdk';

// These measure time and counts of a paced stream: keep them serial.

test.serial('counts the events sent before a client that breaks out early closes the connection', async (t) => {
  const { api, client } = await harness(t);
  api.enqueue(pacedStream(100, 20));
  const stream = await client.messages.create({ ...hello, stream: true });
  let received = 0;
  for await (const e of stream) {
    if (e.type === 'content_block_delta') received++;
    if (received === 5) break;
  }
  await api.waitForIdle();
  const rec = api.requests[0]!;
  t.true(rec.clientClosed);
  t.is(rec.outcome, 'client_closed');
  t.true(rec.textDeltasSent >= 5, `text deltas sent: ${rec.textDeltasSent}`);
  // 106 events were planned (100 text deltas plus start, ping, block start/stop,
  // message_delta, message_stop); the server stopped soon after the client left.
  t.true(rec.eventsSent < 40, `events sent: ${rec.eventsSent}`);
  t.true(rec.endedAt !== null);
});

test.serial('the same counter reports a full stream as completed', async (t) => {
  const { api, client } = await harness(t);
  api.enqueue(pacedStream(20, 1));
  await client.messages.stream(hello).finalMessage();
  await api.waitForIdle();
  const rec = api.requests[0]!;
  t.false(rec.clientClosed);
  t.is(rec.outcome, 'completed');
  // message_start, ping, block start, 20 deltas, block stop, message_delta, message_stop
  t.is(rec.eventsSent, 26);
});

test.serial('pacing spaces the events out and firstDeltaDelayMs delays the first token', async (t) => {
  const { api, client } = await harness(t);
  api.enqueue({ stream: { textDeltas: 10, eventDelayMs: 15, firstDeltaDelayMs: 100 } });
  const t0 = Date.now();
  let firstDelta = 0;
  const stream = await client.messages.create({ ...hello, stream: true });
  for await (const e of stream) if (e.type === 'content_block_delta' && !firstDelta) firstDelta = Date.now() - t0;
  const total = Date.now() - t0;
  t.true(firstDelta >= 100, `first delta after ${firstDelta} ms`);
  // 15 events (ping included) after the first, 15 ms apart, plus the first-delta delay.
  t.true(total >= 100 + 14 * 15 - 20, `stream took ${total} ms`);
});

test.serial('close() ends open streams and keep-alive sockets at once', async (t) => {
  const api = await startFakeApi({ defaultScript: pacedStream(1000, 50) });
  const client = new Anthropic({ apiKey: 'test', baseURL: api.url, maxRetries: 0 });
  const stream = await client.messages.create({ ...hello, stream: true });
  const reading = (async () => {
    for await (const _ of stream) {
      // read until the server goes away
    }
  })();
  const t0 = Date.now();
  await api.close();
  t.true(Date.now() - t0 < 1000);
  await t.throwsAsync(reading);
  await api.close(); // idempotent
  await t.throwsAsync(client.messages.create(hello));
});

test.serial('waitForIdle rejects when a response stays in progress', async (t) => {
  const { api, client } = await harness(t);
  api.enqueue({ delayMs: 1000 });
  const pending = client.messages.create(hello);
  await new Promise((r) => setTimeout(r, 20));
  await t.throwsAsync(api.waitForIdle(30), { message: /still in progress/ });
  await pending;
  await api.waitForIdle();
  t.is(api.requests[0]?.outcome, 'completed');
});
