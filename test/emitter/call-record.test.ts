/**
 * The record of a call: what it keeps between the end of the call and the build of its event,
 * which the writer does later, with other calls' events.
 */
import test from 'ava';
import { CallRecord } from '../../src/emitter/call-record.js';
import type { Attempt } from '../../src/event/types.js';

const origin = { app: 'test', env: null, host: 'h', apiKeyAlias: null, provider: 'anthropic' as const };

test("a success's headers are read when its call ends, not held until the event is built", (t) => {
  const record = new CallRecord('messages.create', origin, {});
  const attempt: Attempt = { status: 200, error_type: null, request_id: null, start_offset_ms: 0, duration_ms: 1, retry_after_ms: null };
  record.attempts.push(attempt);
  record.httpStatus = 200;
  const headers = new Headers({ 'request-id': 'req_at_end', 'anthropic-ratelimit-requests-remaining': '49', 'anthropic-ratelimit-requests-limit': '50' });
  record.deferHeaders(attempt, headers);
  record.keepOnlyEventFacts();
  // Held until the build, the headers would now read differently (a response's are
  // immutable; these stand for any later read of an object the record should have let go).
  headers.set('request-id', 'req_later');
  headers.set('anthropic-ratelimit-requests-remaining', '0');
  const event = record.toEvent('0190c4a2-0000-7000-8000-000000000000', Date.now());
  t.is(event.request_id, 'req_at_end');
  t.is(event.attempt_log[0]?.request_id, 'req_at_end');
  t.deepEqual(event.rate_limits?.requests, { limit: 50, remaining: 49, reset: null });
});
