import test from 'ava';
import fc from 'fast-check';
import { UsageFolder, foldUsage, usageFromApi } from '../../src/event/usage.js';

test('a non-streamed usage maps field by field, keeping the TTL split', (t) => {
  const u = usageFromApi({
    input_tokens: 10,
    output_tokens: 20,
    cache_read_input_tokens: 30,
    cache_creation_input_tokens: 40,
    cache_creation: { ephemeral_5m_input_tokens: 15, ephemeral_1h_input_tokens: 25 },
    output_tokens_details: { thinking_tokens: 5 },
    server_tool_use: { web_search_requests: 2, web_fetch_requests: 1 },
    service_tier: 'batch',
    speed: 'fast',
    inference_geo: 'us',
  });
  t.deepEqual(u, {
    input_tokens: 10,
    output_tokens: 20,
    cache_read_input_tokens: 30,
    cache_creation_input_tokens: 40,
    cache_write_5m_input_tokens: 15,
    cache_write_1h_input_tokens: 25,
    cache_write_unknown_ttl_input_tokens: 0,
    thinking_tokens: 5,
    web_search_requests: 2,
    web_fetch_requests: 1,
    code_execution_requests: 0,
    service_tier: 'batch',
    speed: 'fast',
    inference_geo: 'us',
  });
});

test('stream snapshots replace, never add; message_start keeps tier, speed, geo and split', (t) => {
  const u = foldUsage([
    { type: 'message_start', message: { usage: { input_tokens: 2679, output_tokens: 3, cache_read_input_tokens: 100, cache_creation_input_tokens: 1000, cache_creation: { ephemeral_5m_input_tokens: 1000, ephemeral_1h_input_tokens: 0 }, service_tier: 'standard', speed: 'standard', inference_geo: 'global' } } },
    { type: 'message_delta', usage: { output_tokens: 100 } },
    { type: 'message_delta', usage: { output_tokens: 510, input_tokens: 10682, cache_read_input_tokens: null, cache_creation_input_tokens: 1500, server_tool_use: { web_search_requests: 1, web_fetch_requests: 0 } } },
  ]);
  t.is(u.input_tokens, 10682);
  t.is(u.output_tokens, 510);
  t.is(u.cache_read_input_tokens, 100); // null does not replace
  t.is(u.cache_write_5m_input_tokens, 1000);
  t.is(u.cache_write_unknown_ttl_input_tokens, 500); // excess over the message_start split
  t.is(u.cache_creation_input_tokens, 1500);
  t.is(u.web_search_requests, 1);
  t.is(u.service_tier, 'standard');
  t.is(u.inference_geo, 'global');
});

test('writes without a TTL split are all TTL-unknown, never dropped', (t) => {
  const u = usageFromApi({ input_tokens: 1, output_tokens: 1, cache_creation_input_tokens: 800, cache_creation: null });
  t.is(u.cache_write_unknown_ttl_input_tokens, 800);
  t.is(u.cache_write_5m_input_tokens + u.cache_write_1h_input_tokens, 0);
});

test('a partial stream (message_start only) keeps its input and is marked by sawDelta=false', (t) => {
  const f = new UsageFolder().add({ type: 'message_start', message: { usage: { input_tokens: 500, output_tokens: 1 } } });
  t.false(f.sawDelta);
  t.is(f.usage().input_tokens, 500);
  f.add({ type: 'message_delta', usage: { output_tokens: 42 } });
  t.true(f.sawDelta);
  t.is(f.usage().output_tokens, 42);
});

test('beta iterations are carried', (t) => {
  const u = usageFromApi({ input_tokens: 1, output_tokens: 2, iterations: [{ type: 'compaction', input_tokens: 100, output_tokens: 10, cache_read_input_tokens: 0, cache_creation_input_tokens: 0 }, 'junk'] });
  t.deepEqual(u.iterations, [{ type: 'compaction', model: null, input_tokens: 100, output_tokens: 10, cache_read_input_tokens: 0, cache_creation_input_tokens: 0 }]);
});

test('never throws and always returns a valid Usage, whatever the input', (t) => {
  fc.assert(
    fc.property(fc.anything({ withNullPrototype: true, withMap: true, withTypedArray: true }), fc.array(fc.anything()), (one, many) => {
      for (const u of [usageFromApi(one), foldUsage(many as unknown[]), foldUsage(one as Iterable<unknown>)]) {
        for (const k of ['input_tokens', 'output_tokens', 'cache_read_input_tokens', 'cache_creation_input_tokens', 'cache_write_5m_input_tokens', 'cache_write_1h_input_tokens', 'cache_write_unknown_ttl_input_tokens', 'web_search_requests'] as const) {
          if (!Number.isSafeInteger(u[k]) || u[k] < 0) return false;
        }
        if (u.cache_creation_input_tokens !== u.cache_write_5m_input_tokens + u.cache_write_1h_input_tokens + u.cache_write_unknown_ttl_input_tokens) return false;
      }
      return true;
    }),
    { numRuns: 2000 },
  );
  const hostile = { get input_tokens(): number { throw new Error('boom'); }, output_tokens: 5 };
  t.notThrows(() => usageFromApi(hostile));
  t.notThrows(() => foldUsage({ [Symbol.iterator]() { throw new Error('boom'); } } as Iterable<unknown>));
  t.is(usageFromApi({ input_tokens: -5, output_tokens: 2.7, cache_read_input_tokens: '12' }).output_tokens, 2);
  t.is(usageFromApi({ input_tokens: -5 }).input_tokens, 0);
  t.is(usageFromApi({ cache_read_input_tokens: '12' }).cache_read_input_tokens, 12);
});
