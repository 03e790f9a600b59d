/**
 * Reading a response's headers: ids, the retry hint and every rate-limit bucket, and nothing
 * from a header that only looks like one.
 */
import test from 'ava';
import { rateHeaderIndex, readResponseFacts } from '../../src/emitter/response-headers.js';

const DIMENSIONS = ['requests', 'tokens', 'input-tokens', 'output-tokens'];
const FIELDS = ['limit', 'remaining', 'reset'];

test('each of the twelve rate-limit headers has its own slot, dimension by dimension', (t) => {
  const seen = new Set<number>();
  DIMENSIONS.forEach((dimension, d) =>
    FIELDS.forEach((field, f) => {
      const i = rateHeaderIndex(`anthropic-ratelimit-${dimension}-${field}`);
      t.is(i, d * 3 + f, `${dimension}-${field}`);
      seen.add(i);
    }),
  );
  t.is(seen.size, 12);
});

test('a header that only looks like a rate-limit header has no slot', (t) => {
  for (const name of [
    'anthropic-ratelimit-requests-limits',
    'anthropic-ratelimit-requests-limi',
    'anthropic-ratelimit-tokens-remain',
    'anthropic-ratelimit-tokens-resets',
    'anthropic-ratelimit-unified-reset',
    'anthropic-ratelimit-unified-status',
    'anthropic-ratelimit-input-tokens-lxmit',
    'anthropic-ratelimit-output-tokenz-limit',
    'anthropic-ratelimit-requests',
    'anthropic-ratelimit-',
    'x-anthropic-ratelimit-requests-limit',
    'anthropic-organization-id',
    'request-id',
    '',
  ]) {
    t.is(rateHeaderIndex(name), -1, name);
  }
});

test('the facts of a response: its ids, retry hint and each bucket present, none made up for an absent one', (t) => {
  const headers = new Headers({
    'request-id': 'req_1',
    'anthropic-organization-id': 'org_1',
    'anthropic-workspace-id': 'wrk_1',
    'retry-after': '3',
    'anthropic-ratelimit-requests-limit': '50',
    'anthropic-ratelimit-requests-remaining': '49',
    'anthropic-ratelimit-requests-reset': '2026-11-29T10:00:00Z',
    'anthropic-ratelimit-output-tokens-limit': '8000',
    'anthropic-ratelimit-output-tokens-remaining': '7000',
    'anthropic-ratelimit-unified-status': 'allowed',
    'content-type': 'application/json',
  });
  t.deepEqual(readResponseFacts(headers), {
    requestId: 'req_1',
    organizationId: 'org_1',
    workspaceId: 'wrk_1',
    retryAfterMs: 3000,
    rateLimits: {
      requests: { limit: 50, remaining: 49, reset: '2026-11-29T10:00:00Z' },
      output_tokens: { limit: 8000, remaining: 7000, reset: null },
    },
  });
  t.deepEqual(readResponseFacts(new Headers({ 'retry-after-ms': '1500', 'retry-after': '9' })), {
    requestId: null,
    organizationId: null,
    workspaceId: null,
    retryAfterMs: 1500,
    rateLimits: null,
  });
});
