import test from 'ava';
import type { RawMessageStreamEvent } from '@anthropic-ai/sdk/resources/messages';
import { estimateInputTokens } from '../../src/testing/index.js';
import { harness, hello } from './helpers.js';

const RATE_LIMIT_HEADERS = ['requests', 'tokens', 'input-tokens', 'output-tokens'].flatMap((d) =>
  ['limit', 'remaining', 'reset'].map((f) => `anthropic-ratelimit-${d}-${f}`),
);

test('non-streaming create returns every usage field and the identity and rate-limit headers', async (t) => {
  const { api, client } = await harness(t);
  api.enqueue({
    usage: {
      input_tokens: 1200,
      output_tokens: 345,
      cache_read_input_tokens: 5000,
      cache_creation: { ephemeral_5m_input_tokens: 300, ephemeral_1h_input_tokens: 700 },
      thinking_tokens: 120,
      web_search_requests: 2,
      web_fetch_requests: 1,
      service_tier: 'priority',
      speed: 'fast',
      inference_geo: 'us',
    },
  });
  const { data, response, request_id } = await client.messages.create(hello).withResponse();
  t.deepEqual(data.usage, {
    input_tokens: 1200,
    output_tokens: 345,
    cache_read_input_tokens: 5000,
    cache_creation_input_tokens: 1000,
    cache_creation: { ephemeral_5m_input_tokens: 300, ephemeral_1h_input_tokens: 700 },
    output_tokens_details: { thinking_tokens: 120 },
    server_tool_use: { web_search_requests: 2, web_fetch_requests: 1 },
    service_tier: 'priority',
    speed: 'fast',
    inference_geo: 'us',
  });
  t.is(data.model, 'claude-sonnet-5-5');
  t.is(data.type, 'message');
  t.regex(data.id, /^msg_01/);
  t.regex(request_id ?? '', /^req_011C/);
  t.is(response.headers.get('request-id'), request_id ?? null);
  t.regex(response.headers.get('anthropic-organization-id') ?? '', /^[0-9a-f-]{36}$/);
  t.regex(response.headers.get('anthropic-workspace-id') ?? '', /^wrkspc_/);
  for (const h of RATE_LIMIT_HEADERS) t.truthy(response.headers.get(h), h);
  t.regex(response.headers.get('anthropic-ratelimit-requests-reset') ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  t.is(api.requests[0]?.requestId, request_id ?? undefined);
});

test('the default reply echoes the requested model and counts input like count_tokens', async (t) => {
  const { client } = await harness(t);
  const params = { ...hello, model: 'claude-haiku-5-5', system: 'Be brief.' };
  const msg = await client.messages.create(params);
  const count = await client.messages.countTokens({ model: params.model, system: params.system, messages: params.messages });
  t.is(msg.model, 'claude-haiku-5-5');
  t.is(msg.stop_reason, 'end_turn');
  t.is(msg.content[0]?.type, 'text');
  t.true(msg.usage.output_tokens > 0);
  t.is(msg.usage.service_tier, 'standard');
  t.is(msg.usage.inference_geo, 'global');
  t.is(msg.usage.input_tokens, count.input_tokens);
  t.is(count.input_tokens, estimateInputTokens(params));
});

test('count_tokens returns only input_tokens, overridable by script', async (t) => {
  const { api, client } = await harness(t);
  api.enqueue({ usage: { input_tokens: 4242 } });
  const count = await client.messages.countTokens({ model: 'claude-opus-5-5', messages: hello.messages });
  t.deepEqual(count, { input_tokens: 4242 });
  t.is(api.requests[0]?.route, 'messages.count_tokens');
});

test('rate-limit remaining goes down as calls consume, and reset stays put within the window', async (t) => {
  const { api, client } = await harness(t, { rateLimits: { requests: 50, inputTokens: 10_000, outputTokens: 2_000 } });
  api.enqueue({ times: 2, usage: { input_tokens: 100, cache_creation: { ephemeral_5m_input_tokens: 20 }, cache_read_input_tokens: 999, output_tokens: 30 } });
  const a = await client.messages.create(hello).withResponse();
  const b = await client.messages.create(hello).withResponse();
  const h = (r: typeof a, name: string): string | null => r.response.headers.get(`anthropic-ratelimit-${name}`);
  t.is(h(a, 'requests-limit'), '50');
  t.is(h(a, 'requests-remaining'), '49');
  t.is(h(b, 'requests-remaining'), '48');
  // ITPM counts input + cache writes, not cache reads.
  t.is(h(a, 'input-tokens-remaining'), String(10_000 - 120));
  t.is(h(b, 'input-tokens-remaining'), String(10_000 - 240));
  t.is(h(b, 'output-tokens-remaining'), String(2_000 - 60));
  t.is(h(b, 'tokens-limit'), '12000');
  t.is(h(b, 'tokens-remaining'), String(12_000 - 300));
  t.is(h(a, 'requests-reset'), h(b, 'requests-reset'));
  t.true(Date.parse(h(b, 'requests-reset') ?? '') > Date.now());
});

test('messages.stream() finalMessage has the cumulative usage: cache split, grown input, server tools', async (t) => {
  const { api, client } = await harness(t);
  api.enqueue({
    content: 'thinking',
    usage: {
      input_tokens: 10_682,
      output_tokens: 510,
      cache_read_input_tokens: 2000,
      cache_creation: { ephemeral_5m_input_tokens: 300, ephemeral_1h_input_tokens: 100 },
      cache_creation_input_tokens: 650,
      thinking_tokens: 200,
      web_search_requests: 3,
    },
    stream: { messageDeltas: 3, startUsage: { input_tokens: 2679 } },
  });
  const stream = client.messages.stream(hello);
  const starts: number[] = [];
  const deltas: Array<Record<string, unknown>> = [];
  stream.on('streamEvent', (e) => {
    if (e.type === 'message_start') starts.push(e.message.usage.input_tokens);
    if (e.type === 'message_delta') deltas.push({ ...e.usage });
  });
  const final = await stream.finalMessage();
  t.deepEqual(starts, [2679]);
  t.is(deltas.length, 3);
  // Snapshots are cumulative: they never go down, and the last one holds the totals.
  const outputs = deltas.map((d) => d['output_tokens'] as number);
  t.deepEqual([...outputs].sort((a, b) => a - b), outputs);
  t.is(outputs.at(-1), 510);
  t.deepEqual(final.usage, {
    input_tokens: 10_682,
    output_tokens: 510,
    cache_read_input_tokens: 2000,
    cache_creation_input_tokens: 650,
    cache_creation: { ephemeral_5m_input_tokens: 300, ephemeral_1h_input_tokens: 100 },
    output_tokens_details: { thinking_tokens: 200 },
    server_tool_use: { web_search_requests: 3, web_fetch_requests: 0 },
    service_tier: 'standard',
    speed: 'standard',
    inference_geo: 'global',
  });
  t.deepEqual(
    final.content.map((c) => c.type),
    ['thinking', 'text'],
  );
  const thinking = final.content[0];
  t.true(thinking?.type === 'thinking' && thinking.signature.length > 0 && thinking.thinking.length > 0);
});

test('raw create({stream:true}) yields the API event sequence with tool_use input_json deltas', async (t) => {
  const { api, client } = await harness(t);
  api.enqueue({ content: [{ type: 'tool_use', name: 'lookup', input: { city: 'Paris', days: 3 } }], stream: { pingEvery: 2 } });
  const stream = await client.messages.create({ ...hello, stream: true });
  const events: RawMessageStreamEvent[] = [];
  for await (const e of stream) events.push(e);
  const types = events.map((e) => e.type);
  t.is(types[0], 'message_start');
  t.is(types.at(-1), 'message_stop');
  t.is(types.at(-2), 'message_delta');
  t.deepEqual(types.slice(1, 2), ['content_block_start']);
  const start = events[0];
  t.true(start?.type === 'message_start' && start.message.usage.output_tokens >= 1 && start.message.usage.output_tokens <= 3);
  const json = events.flatMap((e) => (e.type === 'content_block_delta' && e.delta.type === 'input_json_delta' ? [e.delta.partial_json] : [])).join('');
  t.deepEqual(JSON.parse(json), { city: 'Paris', days: 3 });
  const delta = events.at(-2);
  t.true(delta?.type === 'message_delta' && delta.delta.stop_reason === 'tool_use');
  // Pings are on the wire (the SDK skips them): message_start's ping plus one every 2 deltas.
  const rec = api.requests[0]!;
  t.is(rec.outcome, 'completed');
  t.true(rec.eventsSent > events.length);
});

test('a stream sends exactly the scripted number of text deltas', async (t) => {
  const { api, client } = await harness(t);
  api.enqueue({ stream: { textDeltas: 200 } });
  const stream = await client.messages.create({ ...hello, stream: true });
  let deltas = 0;
  for await (const e of stream) if (e.type === 'content_block_delta' && e.delta.type === 'text_delta') deltas++;
  t.is(deltas, 200);
  t.is(api.requests[0]?.textDeltasSent, 200);
});

test('beta messages work through client.beta.messages, with and without ?beta=true', async (t) => {
  const { api, client } = await harness(t);
  api.enqueue({ usage: { cache_read_input_tokens: 77 } });
  const msg = await client.beta.messages.create({ ...hello, betas: ['context-management-2025-06-27'] });
  t.is(msg.usage.cache_read_input_tokens, 77);
  const rec = api.requests[0]!;
  t.is(rec.route, 'messages.create');
  t.true(rec.beta);
  t.is(rec.headers['anthropic-beta'], 'context-management-2025-06-27');
  // Older SDKs put the beta flag in the query string.
  const res = await fetch(`${api.url}/v1/messages?beta=true`, {
    method: 'POST',
    headers: { 'x-api-key': 'test', 'content-type': 'application/json' },
    body: JSON.stringify(hello),
  });
  t.is(res.status, 200);
  t.is(api.requests[1]?.path, '/v1/messages' as string | undefined);
  t.true(api.requests[1]?.beta);
  const stream = client.beta.messages.stream({ ...hello, betas: ['x-2026-01-01'] });
  t.is((await stream.finalMessage()).stop_reason, 'end_turn');
});

test('a per-request x-fake-script header scripts that request only, and does not consume the queue', async (t) => {
  const { api, client } = await harness(t);
  api.enqueue({ model: 'queued-model' });
  const scripted = await client.messages.create(hello, {
    headers: { 'x-fake-script': JSON.stringify({ model: 'claude-fable-5-2', stopReason: 'max_tokens', usage: { output_tokens: 256 } }) },
  });
  t.is(scripted.model, 'claude-fable-5-2');
  t.is(scripted.stop_reason, 'max_tokens');
  t.is(scripted.usage.output_tokens, 256);
  t.is(api.requests[0]?.scriptSource, 'header');
  t.is(api.pendingScripts, 1);
  t.is((await client.messages.create(hello)).model, 'queued-model');
  t.is((await client.messages.create(hello)).model, hello.model);
  t.deepEqual(
    api.requests.map((r) => r.scriptSource),
    ['header', 'queue', 'default'],
  );
});

test('a malformed header script is a 400 naming the field', async (t) => {
  const { client } = await harness(t);
  const err = await t.throwsAsync(client.messages.create(hello, { headers: { 'x-fake-script': JSON.stringify({ status: 'soon' }) } }));
  t.is((err as { status?: number }).status, 400);
  t.regex(err?.message ?? '', /x-fake-script\.status: must be an integer/);
  const err2 = await t.throwsAsync(client.messages.create(hello, { headers: { 'x-fake-script': '{nope' } }));
  t.regex(err2?.message ?? '', /not valid JSON/);
});

test('queued scripts respect match and times', async (t) => {
  const { api, client } = await harness(t);
  api.enqueue({ match: { route: 'messages.create', stream: true }, model: 'for-streams' }, { match: { route: 'messages.count_tokens' }, usage: { input_tokens: 9 } }, { model: 'twice', times: 2 });
  t.is(api.pendingScripts, 4);
  t.is((await client.messages.countTokens({ model: 'x', messages: hello.messages })).input_tokens, 9);
  t.is((await client.messages.create(hello)).model, 'twice');
  t.is((await client.messages.stream(hello).finalMessage()).model, 'for-streams');
  t.is((await client.messages.create(hello)).model, 'twice');
  t.is(api.pendingScripts, 0);
});

test('invalid requests get the API validation errors; a missing key gets 401 without organization headers', async (t) => {
  const { api } = await harness(t);
  const post = (body: unknown, headers: Record<string, string> = { 'x-api-key': 'k' }): Promise<Response> =>
    fetch(`${api.url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  const noMax = await post({ model: 'm', messages: [] });
  t.is(noMax.status, 400);
  t.like(await noMax.json(), { type: 'error', error: { type: 'invalid_request_error', message: 'max_tokens: Field required' } });
  const noKey = await post(hello, {});
  t.is(noKey.status, 401);
  t.is(noKey.headers.get('anthropic-organization-id'), null);
  const body = (await noKey.json()) as { request_id: string; error: { type: string } };
  t.is(body.error.type, 'authentication_error');
  t.is(body.request_id as string | null, noKey.headers.get('request-id'));
  const unknown = await fetch(`${api.url}/v1/nothing`, { headers: { 'x-api-key': 'k' } });
  t.is(unknown.status, 404);
  t.like(await unknown.json(), { error: { type: 'not_found_error' } });
  t.is(api.requests.at(-1)?.route, null);
});

test('recorded history is bounded and reset() clears it', async (t) => {
  const { api, client } = await harness(t, { maxRecordedRequests: 3 });
  for (let i = 0; i < 5; i++) await client.messages.countTokens({ model: 'm', messages: hello.messages });
  t.is(api.requests.length, 3);
  t.is(api.totalRequests, 5);
  t.deepEqual(
    api.requests.map((r) => r.seq),
    [3, 4, 5],
  );
  api.enqueue({});
  api.reset();
  t.is(api.requests.length, 0);
  t.is(api.totalRequests, 0);
  t.is(api.pendingScripts, 0);
});

test('script headers override and remove response headers', async (t) => {
  const { api, client } = await harness(t);
  api.enqueue({ headers: { 'anthropic-organization-id': null, 'x-should-retry': 'false', 'Request-Id': 'req_custom' } });
  const { response } = await client.messages.create(hello).withResponse();
  t.is(response.headers.get('anthropic-organization-id'), null);
  t.is(response.headers.get('x-should-retry'), 'false');
  t.is(response.headers.get('request-id'), 'req_custom');
});

test('a body over maxBodyBytes gets 413 request_too_large from the edge (no organization headers)', async (t) => {
  const { api, client } = await harness(t, { maxBodyBytes: 1024 });
  const err = await t.throwsAsync(client.messages.create({ ...hello, messages: [{ role: 'user', content: 'x'.repeat(5000) }] }));
  t.is(err?.constructor.name, 'ContentTooLargeError');
  t.is((err as { type?: string }).type, 'request_too_large');
  t.is(api.requests[0]?.status, 413);
  t.is(api.requests[0]?.responseHeaders['anthropic-organization-id'], undefined);
});
