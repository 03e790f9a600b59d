import test from 'ava';
import Anthropic, {
  APIError,
  AuthenticationError,
  BadRequestError,
  ContentTooLargeError,
  GatewayTimeoutError,
  InternalServerError,
  NotFoundError,
  OverloadedError,
  PaymentRequiredError,
  PermissionDeniedError,
  RateLimitError,
} from '@anthropic-ai/sdk';
import { EnforcedSpendLimitReachedError } from '@anthropic-ai/sdk/resources/shared';
import { cutStreamAfter, overloaded, rateLimited, spendCapReached, streamErrorAfter } from '../../src/testing/index.js';
import { harness, hello } from './helpers.js';

const cases: Array<[number, string, abstract new (...args: never[]) => APIError]> = [
  [400, 'invalid_request_error', BadRequestError],
  [401, 'authentication_error', AuthenticationError],
  [402, 'billing_error', PaymentRequiredError],
  [403, 'permission_error', PermissionDeniedError],
  [404, 'not_found_error', NotFoundError],
  [413, 'request_too_large', ContentTooLargeError],
  [429, 'rate_limit_error', RateLimitError],
  [500, 'api_error', InternalServerError],
  [504, 'timeout_error', GatewayTimeoutError],
  [529, 'overloaded_error', OverloadedError],
];

for (const [status, type, errorClass] of cases) {
  test(`a scripted ${status} surfaces as ${errorClass.name} with status, requestID and type`, async (t) => {
    const { api, client } = await harness(t);
    api.enqueue({ status });
    const err = await t.throwsAsync(client.messages.create(hello));
    t.true(err instanceof errorClass, err?.constructor.name);
    const apiErr = err as APIError;
    t.is(apiErr.status, status);
    t.is(apiErr.type as string | null, type);
    t.like(apiErr.error, { type: 'error', error: { type } });
    t.regex(apiErr.requestID ?? '', /^req_011C/);
    t.is((apiErr.error as { request_id?: string }).request_id, apiErr.requestID ?? undefined);
    t.is(api.requests[0]?.outcome, 'error');
  });
}

test('a plain 429 carries retry-after and rate-limit headers with requests remaining 0', async (t) => {
  const { api, client } = await harness(t);
  api.enqueue(rateLimited());
  const err = (await t.throwsAsync(client.messages.create(hello))) as RateLimitError;
  t.is(err.headers.get('retry-after'), '1');
  t.is(err.headers.get('anthropic-ratelimit-requests-remaining'), '0');
  t.is(err.errorCode, null);
});

test('a 429 can omit retry-after or send retry-after-ms', async (t) => {
  const { api, client } = await harness(t);
  api.enqueue(rateLimited({ retryAfter: null }), rateLimited({ retryAfterMs: 10 }));
  const a = (await t.throwsAsync(client.messages.create(hello))) as RateLimitError;
  t.is(a.headers.get('retry-after'), null);
  t.is(a.headers.get('retry-after-ms'), null);
  const b = (await t.throwsAsync(client.messages.create(hello))) as RateLimitError;
  t.is(b.headers.get('retry-after-ms'), '10');
});

test('the spend-cap 429 has error_code enforced_spend_limit_reached and no retry-after', async (t) => {
  const { api, client } = await harness(t);
  api.enqueue(spendCapReached());
  const err = (await t.throwsAsync(client.messages.create(hello))) as RateLimitError;
  t.true(err instanceof EnforcedSpendLimitReachedError);
  t.true(err instanceof RateLimitError);
  t.is(err.status, 429);
  t.is(err.errorCode, 'enforced_spend_limit_reached');
  t.is(err.type, 'rate_limit_error');
  t.is(err.headers.get('retry-after'), null);
  t.deepEqual(err.details, { error_code: 'enforced_spend_limit_reached' });
});

test('a 529 then a 200 is retried by the SDK and succeeds', async (t) => {
  const { api } = await harness(t);
  const client = new Anthropic({ apiKey: 'test', baseURL: api.url, maxRetries: 2 });
  api.enqueue({ ...overloaded(), retryAfterMs: 10 }, {});
  const msg = await client.messages.create(hello);
  t.is(msg.type, 'message');
  t.is(api.totalRequests, 2);
  t.deepEqual(
    api.requests.map((r) => [r.status, r.retryCount]),
    [
      [529, 0],
      [200, 1],
    ],
  );
});

test('an array header script answers each retry attempt in turn', async (t) => {
  const { api } = await harness(t);
  const client = new Anthropic({ apiKey: 'test', baseURL: api.url, maxRetries: 3 });
  const script = [rateLimited({ retryAfterMs: 5 }), { status: 500, retryAfterMs: 5 }, { model: 'third-time' }];
  const msg = await client.messages.create(hello, { headers: { 'x-fake-script': JSON.stringify(script) } });
  t.is(msg.model, 'third-time');
  t.deepEqual(
    api.requests.map((r) => r.status),
    [429, 500, 200],
  );
});

test('a mid-stream error frame throws an APIError with status undefined and type overloaded_error', async (t) => {
  const { api, client } = await harness(t);
  api.enqueue(streamErrorAfter(4));
  const stream = await client.messages.create({ ...hello, stream: true });
  const seen: string[] = [];
  const err = await t.throwsAsync(async () => {
    for await (const e of stream) seen.push(e.type);
  });
  t.true(err instanceof APIError);
  const apiErr = err as APIError;
  t.is(apiErr.status, undefined);
  t.is(apiErr.type, 'overloaded_error');
  t.regex(apiErr.requestID ?? '', /^req_/);
  t.false(seen.includes('message_stop'));
  const rec = api.requests[0]!;
  t.is(rec.status, 200);
  t.is(rec.outcome, 'stream_error');
  t.is(rec.eventsSent, 5); // 4 events and the error frame
});

test('a mid-stream error can carry another type; MessageStream rejects with it', async (t) => {
  const { api, client } = await harness(t);
  api.enqueue(streamErrorAfter(3, { type: 'api_error', message: 'Internal server error' }));
  const err = (await t.throwsAsync(client.messages.stream(hello).finalMessage())) as APIError;
  t.is(err.status, undefined);
  t.is(err.type, 'api_error');
});

test('an error placed past the end still comes before message_stop', async (t) => {
  const { api, client } = await harness(t);
  api.enqueue(streamErrorAfter(10_000));
  const err = (await t.throwsAsync(client.messages.stream(hello).finalMessage())) as APIError;
  t.is(err.type, 'overloaded_error');
  t.is(api.requests[0]?.outcome, 'stream_error');
});

test('a stream cut mid-way makes the SDK throw', async (t) => {
  const { api, client } = await harness(t);
  api.enqueue(cutStreamAfter(4));
  const stream = await client.messages.create({ ...hello, stream: true });
  const seen: string[] = [];
  await t.throwsAsync(async () => {
    for await (const e of stream) seen.push(e.type);
  });
  t.false(seen.includes('message_stop'));
  await api.waitForIdle();
  const rec = api.requests[0]!;
  t.is(rec.outcome, 'cut');
  t.is(rec.eventsSent, 4);
  t.false(rec.clientClosed);

  api.enqueue(cutStreamAfter(2));
  await t.throwsAsync(client.messages.stream(hello).finalMessage());
});

test('delayMs holds the headers back, and an SDK timeout gives up on it', async (t) => {
  const { api, client } = await harness(t);
  api.enqueue({ delayMs: 60 });
  const t0 = Date.now();
  await client.messages.create(hello);
  t.true(Date.now() - t0 >= 55);
  // A timeout long enough for the request to reach the server on a loaded machine (at 50 ms the
  // client could give up before sending it, and the server would have nothing to see closed).
  api.enqueue({ delayMs: 20_000 });
  const err = await t.throwsAsync(client.messages.create(hello, { timeout: 1000 }));
  t.is(err?.constructor.name, 'APIConnectionTimeoutError');
  // The server notices the closed connection on its own time: wait for it (bounded).
  const deadline = Date.now() + 10_000;
  let delayed = api.requests.find((r) => r.outcome === 'client_closed');
  while (delayed === undefined && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
    delayed = api.requests.find((r) => r.outcome === 'client_closed');
  }
  t.is(delayed?.outcome, 'client_closed');
  t.true(delayed?.clientClosed);
});
