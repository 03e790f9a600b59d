import test from 'ava';
import type { MessageBatchIndividualResponse } from '@anthropic-ai/sdk/resources/messages/batches';
import { NotFoundError } from '@anthropic-ai/sdk';
import { harness, hello } from './helpers.js';

const requests = (...ids: string[]) => ids.map((custom_id) => ({ custom_id, params: hello }));

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

test('batch create, retrieve and results (JSONL) with every item outcome and batch-tier usage', async (t) => {
  const { api, client } = await harness(t);
  const created = await client.messages.batches.create({ requests: requests('a-1', 'errored-2', 'canceled-3', 'expired-4', 'b-5') });
  t.regex(created.id, /^msgbatch_01/);
  t.is(created.type, 'message_batch');
  t.is(created.processing_status, 'in_progress');
  t.is(created.results_url, null);
  t.deepEqual(created.request_counts, { processing: 5, succeeded: 0, errored: 0, canceled: 0, expired: 0 });

  const batch = await client.messages.batches.retrieve(created.id);
  t.is(batch.processing_status, 'ended');
  t.deepEqual(batch.request_counts, { processing: 0, succeeded: 2, errored: 1, canceled: 1, expired: 1 });
  t.is(batch.results_url, `${api.url}/v1/messages/batches/${created.id}/results`);
  t.truthy(batch.ended_at);

  const lines: MessageBatchIndividualResponse[] = await collect(await client.messages.batches.results(created.id));
  t.deepEqual(
    lines.map((l) => [l.custom_id, l.result.type]),
    [
      ['a-1', 'succeeded'],
      ['errored-2', 'errored'],
      ['canceled-3', 'canceled'],
      ['expired-4', 'expired'],
      ['b-5', 'succeeded'],
    ],
  );
  const ok = lines[0]!.result;
  t.true(ok.type === 'succeeded' && ok.message.usage.service_tier === 'batch' && ok.message.model === hello.model);
  const bad = lines[1]!.result;
  t.true(bad.type === 'errored' && bad.error.type === 'error' && bad.error.error.type === 'invalid_request_error');
  t.deepEqual(
    api.requests.map((r) => r.route),
    ['messages.batches.create', 'messages.batches.retrieve', 'messages.batches.retrieve', 'messages.batches.results'],
  );
});

test('a script decides item outcomes, usage and processing time', async (t) => {
  const { api, client } = await harness(t);
  api.enqueue({ batch: { results: ['errored', 'succeeded'], processingMs: 10_000 }, usage: { cache_read_input_tokens: 321 } });
  const created = await client.messages.batches.create({ requests: requests('x', 'y') });
  const still = await client.messages.batches.retrieve(created.id);
  t.is(still.processing_status, 'in_progress');
  await t.throwsAsync(client.messages.batches.results(created.id), { message: /results_url/ });

  // Cancel: canceling at once, then ended with unprocessed items canceled.
  const canceling = await client.messages.batches.cancel(created.id);
  t.is(canceling.processing_status, 'canceling');
  t.truthy(canceling.cancel_initiated_at);
  await new Promise((r) => setTimeout(r, 5));
  const ended = await client.messages.batches.retrieve(created.id);
  t.is(ended.processing_status, 'ended');
  t.deepEqual(ended.request_counts, { processing: 0, succeeded: 0, errored: 1, canceled: 1, expired: 0 });

  api.enqueue({ batch: { results: ['succeeded'] }, usage: { cache_read_input_tokens: 321 } });
  const b2 = await client.messages.batches.create({ requests: requests('z') });
  const [line] = await collect(await client.messages.batches.results(b2.id));
  t.true(line?.result.type === 'succeeded' && line.result.message.usage.cache_read_input_tokens === 321);
});

test('batch list pages newest first; delete removes an ended batch', async (t) => {
  const { client } = await harness(t);
  const ids: string[] = [];
  for (let i = 0; i < 3; i++) ids.push((await client.messages.batches.create({ requests: requests(`r${i}`) })).id);
  const page = await client.messages.batches.list({ limit: 2 });
  t.deepEqual(
    page.data.map((b) => b.id),
    [ids[2], ids[1]],
  );
  t.true(page.has_more);
  const all: string[] = [];
  for await (const b of client.messages.batches.list({ limit: 2 })) all.push(b.id);
  t.deepEqual(all, [...ids].reverse());

  const deleted = await client.messages.batches.delete(ids[0]!);
  t.deepEqual(deleted, { id: ids[0], type: 'message_batch_deleted' });
  const err = await t.throwsAsync(client.messages.batches.retrieve(ids[0]!));
  t.true(err instanceof NotFoundError);
});

test('a batch still processing cannot be deleted; invalid batches are refused', async (t) => {
  const { api, client } = await harness(t);
  api.enqueue({ batch: { processingMs: 60_000 } });
  const b = await client.messages.batches.create({ requests: requests('slow') });
  const err = await t.throwsAsync(client.messages.batches.delete(b.id));
  t.is((err as { status?: number }).status, 400);
  await t.throwsAsync(client.messages.batches.create({ requests: requests('dup', 'dup') }), { message: /Duplicate custom_id/ });
  await t.throwsAsync(client.messages.batches.create({ requests: [] }), { message: /between 1 and/ });
});

test('beta batches use the same paths with the anthropic-beta header', async (t) => {
  const { api, client } = await harness(t);
  const created = await client.beta.messages.batches.create({ requests: requests('beta-1'), betas: ['message-batches-2024-09-24'] });
  const lines = await collect(await client.beta.messages.batches.results(created.id, { betas: ['message-batches-2024-09-24'] }));
  t.is(lines[0]?.result.type, 'succeeded');
  t.true(api.requests.every((r) => r.beta));
  t.is(api.requests[0]?.path, '/v1/messages/batches');
});
