import test from 'ava';
import { AdminApiError, AdminClient, centsToNanoUsd, nanoUsdToCents, ratesFromPricer, reconcile } from '../../src/reconcile/index.js';
import { startFakeApi, type FakeApi } from '../../src/testing/index.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import { call, tempHome } from '../helpers/event-files.js';
import { freePort } from '../helpers/ports.js';
import { ADMIN_KEY, localPricer } from './helpers.js';
import { join } from 'node:path';

const DAY = 86_400_000;
const today = (): number => Math.floor(Date.now() / DAY) * DAY;

async function fake(t: import('ava').ExecutionContext): Promise<FakeApi> {
  const api = await startFakeApi();
  t.teardown(() => api.close());
  return api;
}

function emptyStore(t: import('ava').ExecutionContext): SqliteStore {
  const h = tempHome();
  t.teardown(() => h.cleanup());
  const s = SqliteStore.open({ path: join(h.data, 'claudescope.db') });
  t.teardown(() => s.close());
  return s;
}

test('cost amounts in cents with fractional minor units parse exactly into nanodollars', (t) => {
  t.is(centsToNanoUsd('1234.5678'), 12_345_678_000);
  t.is(centsToNanoUsd('0.0000001'), 1);
  t.is(centsToNanoUsd('7'), 70_000_000);
  t.is(nanoUsdToCents(12_345_678_000), '1234.5678');
  t.throws(() => centsToNanoUsd('12,5'));
});

for (const api of ['legacy', 'analytics'] as const) {
  test(`${api}: every page is followed (has_more / next_page) and no row is lost or doubled`, async (t) => {
    const fakeApi = await fake(t);
    for (let d = 1; d <= 10; d++) fakeApi.billing.addUsage({ at: today() - d * DAY + 3_600_000, model: 'claude-sonnet-5-5', output_tokens: 1000 * d });
    const client = new AdminClient({ adminKey: ADMIN_KEY, api, baseUrl: fakeApi.url, pageLimit: 3 });
    const rows = await client.usage({ start: today() - 10 * DAY, end: today() }, '1d', ['model']);
    const pages = fakeApi.requests.filter((r) => r.path.endsWith(api === 'legacy' ? '/usage_report/messages' : '/analytics/usage'));
    t.true(pages.length >= 4, `pages: ${pages.length}`);
    t.true(pages.slice(1).every((r) => typeof r.query['page'] === 'string'));
    const withTokens = rows.filter((r) => r.tokens.output > 0);
    t.is(withTokens.length, 10);
    t.is(withTokens.reduce((a, r) => a + r.tokens.output, 0), 55_000);
  });
}

test('a range longer than 31 days is split into requests the API accepts (it refuses more with a 400)', async (t) => {
  const fakeApi = await fake(t);
  const start = today() - 70 * DAY;
  for (const d of [65, 40, 5]) fakeApi.billing.addUsage({ at: today() - d * DAY, model: 'claude-haiku-5-5', uncached_input_tokens: d * 100 });
  // The fake refuses a 40-day request outright.
  const refused = await fetch(`${fakeApi.url}/v1/organizations/analytics/usage?starting_at=${new Date(today() - 40 * DAY).toISOString()}&ending_at=${new Date(today()).toISOString()}&time_bucket_width=1d`,
    { headers: { 'x-api-key': ADMIN_KEY, 'anthropic-beta': 'analytics-usage-cost-2026-08-24' } });
  t.is(refused.status, 400);
  t.regex(await refused.text(), /at most 31 days/);

  const progress: string[] = [];
  const client = new AdminClient({ adminKey: ADMIN_KEY, api: 'analytics', baseUrl: fakeApi.url, onProgress: (p) => progress.push(`${p.done}/${p.total}`) });
  const r = await reconcile({ query: emptyStore(t), client, range: { start, end: today() } });
  const usageReqs = fakeApi.requests.filter((x) => x.path.endsWith('/analytics/usage') && x.headers['user-agent']?.startsWith('Anthropic/JS'));
  t.is(usageReqs.length, 3);
  t.true(usageReqs.every((x) => x.status === 200 && Date.parse(x.query['ending_at']!) - Date.parse(x.query['starting_at']!) <= 31 * DAY));
  t.deepEqual(r.cells.map((c) => c.billed.tokens.uncached_input), [6500, 4000, 500]);
  t.true(r.cells.every((c) => c.causes[0]?.code === 'missing_calls'));
  // Progress counts every request (3 usage + 3 cost) against a plan known up front.
  t.deepEqual(progress, ['1/6', '2/6', '3/6', '4/6', '5/6', '6/6']);
});

test('legacy: a 429 is retried after exactly the retry-after the API asked for', async (t) => {
  const fakeApi = await fake(t);
  fakeApi.billing.addUsage({ at: today() + 60_000, model: 'claude-sonnet-5-5', output_tokens: 42 });
  fakeApi.enqueue({ match: { route: 'admin.usage_report.messages' }, status: 429, retryAfter: 7 });
  const waits: number[] = [];
  const client = new AdminClient({ adminKey: ADMIN_KEY, api: 'legacy', baseUrl: fakeApi.url, sleep: async (ms) => { waits.push(ms); } });
  const rows = await client.usage({ start: today(), end: today() + DAY }, '1d', ['model']);
  t.deepEqual(waits, [7000]);
  t.deepEqual(fakeApi.requests.filter((r) => r.route === 'admin.usage_report.messages').map((r) => r.status), [429, 200]);
  t.is(rows.find((r) => r.model === 'claude-sonnet-5-5')?.tokens.output, 42);
});

test('legacy: a retry-after longer than allowed fails the run with a message instead of waiting', async (t) => {
  const fakeApi = await fake(t);
  fakeApi.enqueue({ match: { route: 'admin.cost_report' }, status: 429, retryAfter: 3600 });
  const client = new AdminClient({ adminKey: ADMIN_KEY, api: 'legacy', baseUrl: fakeApi.url, maxRetryAfterMs: 60_000, sleep: async () => {} });
  const err = await t.throwsAsync(client.cost({ start: today(), end: today() + DAY }, '1d', []), { instanceOf: AdminApiError });
  t.regex(err!.message, /asked to wait 3600 s/);
});

test('analytics: a retry-after longer than allowed fails the run with a message instead of waiting (the SDK alone would wait it out)', async (t) => {
  const fakeApi = await fake(t);
  fakeApi.enqueue({ match: { route: 'admin.analytics.usage' }, status: 429, retryAfter: 3600 });
  const client = new AdminClient({ adminKey: ADMIN_KEY, api: 'analytics', baseUrl: fakeApi.url, maxRetryAfterMs: 60_000 });
  const err = await t.throwsAsync(client.usage({ start: today(), end: today() + DAY }, '1d', ['model']), { instanceOf: AdminApiError });
  t.is(err!.message, 'analytics usage: the API asked to wait 3600 s (retry-after), longer than the 60 s allowed');
  t.is(err!.status, 429);
  t.deepEqual(fakeApi.requests.filter((r) => r.route === 'admin.analytics.usage').map((r) => r.status), [429]);
});

test('analytics: a 429 with retry-after is retried by the SDK and the run completes', async (t) => {
  const fakeApi = await fake(t);
  fakeApi.billing.addUsage({ at: today() + 60_000, model: 'claude-sonnet-5-5', output_tokens: 42 });
  fakeApi.enqueue({ match: { route: 'admin.analytics.usage' }, status: 429, retryAfterMs: 50 });
  const client = new AdminClient({ adminKey: ADMIN_KEY, api: 'analytics', baseUrl: fakeApi.url });
  const rows = await client.usage({ start: today(), end: today() + DAY }, '1d', ['model']);
  const reqs = fakeApi.requests.filter((r) => r.route === 'admin.analytics.usage');
  t.deepEqual(reqs.map((r) => r.status), [429, 200]);
  t.is(reqs[0]!.responseHeaders['retry-after-ms'], '50');
  t.is(reqs[1]!.headers['anthropic-beta'], 'analytics-usage-cost-2026-08-24');
  t.is(rows[0]?.tokens.output, 42);
});

for (const api of ['legacy', 'analytics'] as const) {
  test(`${api}: the admin key never appears in an error, even when the API echoes it`, async (t) => {
    const fakeApi = await fake(t);
    const route = api === 'legacy' ? 'admin.usage_report.messages' : 'admin.analytics.usage';
    fakeApi.enqueue({ match: { route }, status: 403, error: { type: 'permission_error', message: `key ${ADMIN_KEY} may not read this organization` } });
    const client = new AdminClient({ adminKey: ADMIN_KEY, api, baseUrl: fakeApi.url, maxRetries: 0 });
    const err = await t.throwsAsync(client.usage({ start: today(), end: today() + DAY }, '1d', ['model']), { instanceOf: AdminApiError });
    t.is(err!.status, 403);
    t.false(err!.message.includes(ADMIN_KEY));
    t.false(JSON.stringify(err).includes(ADMIN_KEY));
    t.regex(err!.message, /\[redacted admin key\]/);
  });
}

for (const api of ['legacy', 'analytics'] as const) {
  test(`${api}: an API that does not answer is named with its address and the system's reason, where fetch said "fetch failed" and the SDK "Connection error."`, async (t) => {
    const baseUrl = `http://127.0.0.1:${await freePort()}`;
    const client = new AdminClient({ adminKey: ADMIN_KEY, api, baseUrl, maxRetries: 1, sleep: async () => {} });
    const err = await t.throwsAsync(client.usage({ start: today(), end: today() + DAY }, '1d', ['model']), { instanceOf: AdminApiError });
    t.is(err!.status, null);
    t.regex(err!.message, new RegExp(`: network error${api === 'legacy' ? ' after 2 attempts' : ''}: cannot reach ${baseUrl} \\(connect ECONNREFUSED 127\\.0\\.0\\.1:\\d+\\): check --base-url \\(or ANTHROPIC_ADMIN_BASE_URL, reconcile\\.base_url\\) and the network$`));
  });
}

test('the fake reports amounts as decimal strings in cents and lists empty buckets in the older report', async (t) => {
  const fakeApi = await fake(t);
  fakeApi.billing.addUsage({ at: today() + 60_000, model: 'claude-sonnet-5-5', output_tokens: 1_000_000 });
  const h = { 'x-api-key': ADMIN_KEY };
  const s = new Date(today() - 2 * DAY).toISOString();
  const e = new Date(today() + DAY).toISOString();
  const usage = (await (await fetch(`${fakeApi.url}/v1/organizations/usage_report/messages?starting_at=${s}&ending_at=${e}&group_by[]=model`, { headers: h })).json()) as { data: { results: unknown[] }[] };
  t.deepEqual(usage.data.map((b) => b.results.length), [0, 0, 1]);
  const cost = (await (await fetch(`${fakeApi.url}/v1/organizations/cost_report?starting_at=${s}&ending_at=${e}&group_by[]=description`, { headers: h })).json()) as { data: { results: { amount: string; currency: string; token_type: string }[] }[] };
  // 1M output tokens of Sonnet 5.5 at $10/MTok = 1000 cents.
  t.deepEqual(cost.data[2]!.results, [{ currency: 'USD', amount: '1000', description: 'claude-sonnet-5-5 Output Tokens', cost_type: 'tokens', token_type: 'output_tokens',
    model: 'claude-sonnet-5-5', service_tier: 'standard', context_window: '0-200k', inference_geo: 'global', workspace_id: null } as never]);
  const hourly = await fetch(`${fakeApi.url}/v1/organizations/cost_report?starting_at=${s}&bucket_width=1h`, { headers: h });
  t.is(hourly.status, 400);
  const notAdmin = await fetch(`${fakeApi.url}/v1/organizations/cost_report?starting_at=${s}`, { headers: { 'x-api-key': 'sk-ant-api03-app' } });
  t.is(notAdmin.status, 401);
});

test('legacy --by api_key: the cost report cannot split by key, so only tokens are compared, with no $0 billed per key and no whole bill on the cell without a key', async (t) => {
  const fakeApi = await fake(t);
  const store = emptyStore(t);
  const model = 'claude-sonnet-5-5';
  const at = Date.now() - 60_000;
  const calls = ['checkout', 'search'].map((alias) => {
    const e = call({ ts: at, model, model_requested: model, api_key_alias: alias });
    fakeApi.billing.addUsage({ at, model, apiKeyId: `apikey_01${alias}`, uncached_input_tokens: e.usage!.input_tokens, output_tokens: e.usage!.output_tokens });
    return { event: e, raw: JSON.stringify(e), price: localPricer().price(e) };
  });
  store.commitBatch({ calls, checkpoints: [], emitterStats: [] });
  const client = new AdminClient({ adminKey: ADMIN_KEY, api: 'legacy', baseUrl: fakeApi.url });
  const r = await reconcile({
    query: store, client, range: { start: at - DAY, end: at + 60_000 }, split: ['api_key'],
    apiKeys: { checkout: 'apikey_01checkout', search: 'apikey_01search' }, rates: ratesFromPricer(localPricer()),
  });
  t.deepEqual(r.cells.map((c) => [c.api_key, c.billed.total_tokens - c.local.total_tokens, c.billed.cost_usd, c.flagged]), [
    ['checkout', 0, null, false],
    ['search', 0, null, false],
  ]);
  t.is(fakeApi.requests.filter((x) => x.route === 'admin.cost_report').length, 0);
  t.is(r.flagged_cells, 0);
});

test('analytics --by workspace --by api_key: the usage request keeps within the 5 group_by dimensions the API takes, adding inference_geo but not speed', async (t) => {
  const fakeApi = await fake(t);
  fakeApi.billing.addUsage({ at: Date.now() - 60_000, model: 'claude-sonnet-5-5', output_tokens: 42, workspaceId: 'wrkspc_01a', apiKeyId: 'apikey_01a' });
  const client = new AdminClient({ adminKey: ADMIN_KEY, api: 'analytics', baseUrl: fakeApi.url });
  const r = await reconcile({ query: emptyStore(t), client, range: { start: today(), end: today() + DAY }, split: ['workspace', 'api_key'] });
  const usage = fakeApi.requests.filter((x) => x.route === 'admin.analytics.usage');
  // The fake refuses a sixth dimension with a 400, as the API does.
  t.deepEqual(usage.map((x) => x.status), [200]);
  t.is(usage[0]!.query['group_by[]'] ?? usage[0]!.query['group_by'], 'inference_geo');
  t.is(r.cells[0]?.billed.tokens.output, 42);
});
