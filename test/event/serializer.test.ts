import test from 'ava';
import Anthropic from '@anthropic-ai/sdk';
import { compileCallSerializer } from '../../src/event/serializer.js';
import { createEmitter } from '../../src/index.js';
import { startFakeApi } from '../../src/testing/index.js';
import { readEvents, tempDir } from '../helpers/events.js';

test('the compiled serializer writes the same JSON values as JSON.stringify for real events', async (t) => {
  const api = await startFakeApi();
  t.teardown(() => api.close());
  const dir = tempDir(t);
  const emitter = createEmitter({ dir, app: 'ser' });
  const client = emitter.instrument(new Anthropic({ apiKey: 'k', baseURL: api.url, maxRetries: 1 }));
  const body = { model: 'claude-haiku-4-5', max_tokens: 32, messages: [{ role: 'user' as const, content: 'x' }] };
  api.enqueue({ status: 529, headers: { 'retry-after-ms': '1' } }, { usage: { cache_read_input_tokens: 5, web_search_requests: 1, cache_creation: { ephemeral_1h_input_tokens: 3 } } });
  await client.messages.create(body);
  for await (const _ of await client.messages.create({ ...body, stream: true }));
  await client.messages.countTokens({ model: body.model, messages: body.messages });
  await emitter.close();
  const events = readEvents(dir).calls;
  t.is(events.length, 3);
  const serialize = compileCallSerializer();
  for (const e of [...events, { ...events[0]!, tags: { feature: 'a"b\\n' }, content: { any: ['thing', 1, null] }, ttft_ms: 12.5 }]) {
    t.deepEqual(JSON.parse(serialize(e)), JSON.parse(JSON.stringify(e)));
  }
});
