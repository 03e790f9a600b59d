import test from 'ava';
import { RateLimiter } from '../../src/testing/rate-limits.js';
import { deltaSnapshots, finalUsage, resolveUsage, startUsage, startValues, type UsageDefaults } from '../../src/testing/usage.js';

const defaults: UsageDefaults = { input: 50, output: 20, thinking: null, serviceTier: 'standard', speed: 'standard', geo: 'global' };

test('a plain stream reports input at message_start and only output in message_delta', (t) => {
  const u = resolveUsage({ cache_read_input_tokens: 10 }, defaults);
  const start = startValues(u, undefined);
  t.like(startUsage(u, start), { input_tokens: 50, cache_read_input_tokens: 10, output_tokens: 1, service_tier: 'standard' });
  t.deepEqual(deltaSnapshots(u, start, undefined), [{ output_tokens: 20 }]);
});

test('cache writes beyond the TTL split show only in the final totals', (t) => {
  const u = resolveUsage({ cache_creation: { ephemeral_5m_input_tokens: 40 }, cache_creation_input_tokens: 100 }, defaults);
  t.like(finalUsage(u), { cache_creation_input_tokens: 100, cache_creation: { ephemeral_5m_input_tokens: 40, ephemeral_1h_input_tokens: 0 } });
  const start = startValues(u, undefined);
  t.is(startUsage(u, start).cache_creation_input_tokens, 40);
  t.like(deltaSnapshots(u, start, undefined).at(-1), { cache_creation_input_tokens: 100, output_tokens: 20 });
});

test('message_delta snapshots are cumulative and never decrease; the last equals the finals', (t) => {
  const u = resolveUsage({ input_tokens: 1000, output_tokens: 97, web_search_requests: 3, thinking_tokens: 40 }, defaults);
  const start = startValues(u, { messageDeltas: 4 });
  t.is(start.input, 250);
  const snaps = deltaSnapshots(u, start, { messageDeltas: 4 });
  t.is(snaps.length, 4);
  for (let i = 1; i < snaps.length; i++) {
    t.true(snaps[i]!.output_tokens >= snaps[i - 1]!.output_tokens);
    t.true(snaps[i]!.input_tokens! >= snaps[i - 1]!.input_tokens!);
    t.true((snaps[i]!.server_tool_use?.web_search_requests ?? 0) >= (snaps[i - 1]!.server_tool_use?.web_search_requests ?? 0));
  }
  t.deepEqual(snaps.at(-1), {
    output_tokens: 97,
    input_tokens: 1000,
    cache_creation_input_tokens: 0,
    cache_read_input_tokens: 0,
    server_tool_use: { web_search_requests: 3, web_fetch_requests: 0 },
    output_tokens_details: { thinking_tokens: 40 },
  });
});

test('output never falls below thinking tokens', (t) => {
  t.is(resolveUsage({ thinking_tokens: 500 }, defaults).output, 500);
});

test('the rate limiter counts within a window and refills after it', (t) => {
  let now = Date.parse('2026-11-27T10:00:00Z');
  const limits = new RateLimiter({ requests: 10, inputTokens: 1000, outputTokens: 100, windowMs: 60_000 }, () => now);
  t.like(limits.headers(), { 'anthropic-ratelimit-requests-remaining': '10', 'anthropic-ratelimit-requests-reset': '2026-11-27T10:00:00Z' });
  limits.consume({ requests: 1, inputTokens: 300, outputTokens: 30 });
  now += 1000;
  limits.consume({ requests: 1, inputTokens: 300, outputTokens: 30 });
  t.like(limits.headers(), {
    'anthropic-ratelimit-requests-remaining': '8',
    'anthropic-ratelimit-input-tokens-remaining': '400',
    'anthropic-ratelimit-output-tokens-remaining': '40',
    'anthropic-ratelimit-tokens-limit': '1100',
    'anthropic-ratelimit-tokens-remaining': '440',
    'anthropic-ratelimit-requests-reset': '2026-11-27T10:01:00Z',
  });
  t.is(limits.headers(true)['anthropic-ratelimit-requests-remaining'], '0');
  now += 60_000;
  t.like(limits.headers(), { 'anthropic-ratelimit-requests-remaining': '10', 'anthropic-ratelimit-output-tokens-remaining': '100' });
  t.throws(() => new RateLimiter({ requests: 0 }), { message: /requests must be a positive integer/ });
});
