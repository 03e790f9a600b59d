import test from 'ava';
import Anthropic from '@anthropic-ai/sdk';
import { createEmitter } from '../../src/index.js';
import { startFakeApi } from '../../src/testing/index.js';
import type { BilledUsage } from '../../src/testing/billing-ledger.js';
import { Pipeline } from '../../src/daemon/pipeline.js';
import { createPricer } from '../../src/pricing/cost-engine.js';
import { DEFAULT_RECONCILE, parseTolerance } from '../../src/reconcile/settings.js';
import { canonicalModelOf, runReconciliation } from '../../src/reconcile/job.js';
import { tempHome, waitFor } from '../helpers/event-files.js';
import { AdminClient, formatTable, latestRun, ratesFromPricer, reconcile, saveResult, type ReconciliationResult } from '../../src/reconcile/index.js';
import { ADMIN_KEY, LOCAL_RATES, localPricer, runWorkload, type Workload } from './helpers.js';
import { join } from 'node:path';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import type { Pricer } from '../../src/pricing/types.js';
import type { CallEvent } from '../../src/event/types.js';
import { call } from '../helpers/event-files.js';
import { tempDir } from '../helpers/events.js';

const DAY = 86_400_000;

async function run(w: Workload, api: 'analytics' | 'legacy'): Promise<ReconciliationResult> {
  const client = new AdminClient({ adminKey: ADMIN_KEY, api, baseUrl: w.api.url });
  const now = Date.now();
  return reconcile({ query: w.pipeline.query, client, range: { start: now - DAY, end: now }, rates: ratesFromPricer(localPricer()) });
}

const cellOf = (r: ReconciliationResult, model: string) => {
  const cells = r.cells.filter((c) => c.model === model && (c.billed.total_tokens > 0 || c.local.total_tokens > 0));
  if (cells.length !== 1) throw new Error(`expected one cell of ${model}, got ${cells.length}`);
  return cells[0]!;
};

for (const api of ['analytics', 'legacy'] as const) {
  test(`${api}: the report names the missing call, the stale price and the unread batch with their exact numbers`, async (t) => {
    const w = await runWorkload(t);
    const r = await run(w, api);

    // A call from a process without the emitter: Sonnet tokens billed but not recorded, prices right.
    const sonnet = cellOf(r, 'claude-sonnet-5-5');
    t.true(sonnet.flagged);
    t.is(sonnet.billed.total_tokens - sonnet.local.total_tokens, w.missingCallTokens);
    t.deepEqual(sonnet.causes.map((c) => c.code), ['missing_calls']);
    const missing = sonnet.causes[0]!;
    t.is(missing.details['missing_tokens'], w.missingCallTokens);
    t.is(missing.details['missing_output_tokens'], w.missingCallOutput);
    t.regex(missing.message, /calls from processes without the emitter/);
    t.true(missing.message.includes(`${w.missingCallTokens.toLocaleString('en-US')} tokens billed but not recorded`));
    if (api === 'analytics') {
      // The analytics API counts requests: exactly one more billed than recorded.
      t.is(missing.details['missing_requests'], 1);
      t.is(sonnet.billed.requests, 4);
    }

    // Prices out of date: Opus tokens agree, output billed at $25/MTok against a local $20.
    const opus = cellOf(r, 'claude-opus-5-5');
    t.true(opus.flagged);
    t.is(opus.diff.total_tokens, 0);
    t.is(opus.capture.tokens, 1);
    t.deepEqual(opus.causes.map((c) => c.code), ['stale_price']);
    const stale = opus.causes[0]!;
    t.is(stale.details['output_billed_usd_per_mtok'], 25);
    t.is(stale.details['output_local_usd_per_mtok'], 20);
    t.is(stale.details['difference_usd'], -(w.opusOutputTokens * 5) / 1e6);
    t.is(opus.diff.cost_usd, -(w.opusOutputTokens * 5) / 1e6);
    t.regex(stale.message, /output billed at \$25\.00\/MTok, local price \$20\.00\/MTok/);

    // Batch results not yet read: the batch tokens are billed, none recorded.
    const haiku = cellOf(r, 'claude-haiku-5-5');
    t.true(haiku.flagged);
    t.deepEqual(haiku.causes.map((c) => c.code), ['batch_unread']);
    t.is(haiku.causes[0]!.details['missing_batch_tokens'], w.batchTokens);
    t.is(haiku.causes[0]!.details['local_batch_tokens'], 0);
    t.is(haiku.billed.total_tokens - haiku.local.total_tokens, w.batchTokens);
    t.regex(haiku.causes[0]!.message, /batch results not yet read/);

    t.is(r.flagged_cells, 3);
    const table = formatTable(r);
    t.regex(table, /likely: calls from processes without the emitter/);
    t.regex(table, /likely: prices out of date/);
    t.regex(table, /likely: batch results not yet read/);
    t.false(table.includes(ADMIN_KEY));
  });
}

test('cells within the tolerance are not flagged and name no cause', async (t) => {
  const w = await runWorkload(t);
  const client = new AdminClient({ adminKey: ADMIN_KEY, api: 'analytics', baseUrl: w.api.url });
  const now = Date.now();
  // A tolerance so wide that every difference of this workload passes.
  const r = await reconcile({ query: w.pipeline.query, client, range: { start: now - DAY, end: now }, tolerance: 10, rates: ratesFromPricer(localPricer()) });
  t.is(r.flagged_cells, 0);
  t.true(r.cells.every((c) => c.causes.length === 0));
  t.regex(formatTable(r), /Every cell is within the tolerance/);
});

test('results are stored and the latest capture per model is read back', async (t) => {
  const w = await runWorkload(t);
  const r = await run(w, 'analytics');
  const db = w.pipeline.store!.db;
  saveResult(db, r);
  const latest = latestRun(db, 0)!;
  t.is(latest.run_id, r.run_id);
  const sonnet = latest.models.find((x) => x.model === 'claude-sonnet-5-5')!;
  t.is(sonnet.token_capture, cellOf(r, 'claude-sonnet-5-5').capture.tokens);
  t.true(sonnet.token_capture! < 1);
  const stored = (await w.pipeline.store!.reconciliationCapture()).find((x) => x.model === 'claude-sonnet-5-5');
  t.is(stored?.tokenCapture, sonnet.token_capture, 'the store reads the same capture');
  t.is((db.prepare('SELECT COUNT(*) AS n FROM reconciliation WHERE run_id = ?').get(r.run_id) as { n: number }).n, r.cells.length);
  t.is((db.prepare("SELECT causes FROM reconciliation WHERE model = 'claude-opus-5-5' AND flagged = 1").get() as { causes: string }).causes, 'stale_price');

  // A backfill of an older window run by hand afterwards is stored, but the latest capture (the
  // metric, the rule, the dashboard's panel) stays that of the latest window.
  const at = (iso: string, ms: number): string => new Date(Date.parse(iso) + ms).toISOString();
  const shifted = (runId: string, windowMs: number, finishedMs: number, capture: number): ReconciliationResult => ({
    ...r, run_id: runId, range: { start: at(r.range.start, windowMs), end: at(r.range.end, windowMs) }, finished_at: at(r.finished_at, finishedMs),
    models: r.models.map((m) => ({ ...m, token_capture: capture, cost_capture: capture })),
  });
  saveResult(db, shifted('backfill', -30 * DAY, 60_000, 0.5));
  t.is(latestRun(db, 5)?.run_id, r.run_id);
  t.true((await w.pipeline.store!.reconciliationCapture()).every((x) => x.tokenCapture !== 0.5));
  // A run of a later window is the latest, whenever it finished.
  saveResult(db, shifted('next', DAY, 120_000, 0.75));
  t.is(latestRun(db, 5)?.run_id, 'next');
  t.true((await w.pipeline.store!.reconciliationCapture()).every((x) => x.tokenCapture === 0.75));
});

/** A pipeline pricing with the cost engine over `home`, once it stored `calls` calls. */
async function pricedPipeline(t: import('ava').ExecutionContext, home: string, calls: number): Promise<{ pipeline: Pipeline; pricer: Pricer }> {
  const pricer = createPricer();
  const pipeline = new Pipeline({ home, pricer, tailer: { pollIntervalMs: 20 } });
  await pipeline.start();
  t.teardown(() => pipeline.stop());
  await waitFor(() => pipeline.health().eventsInserted >= calls, 'the calls stored');
  return { pipeline, pricer };
}

for (const how of ['with prices', 'without prices (--no-prices)'] as const) test(`a model the report names by its alias lands in the cell of the calls stored under its canonical id, ${how}`, async (t) => {
  const api = await startFakeApi();
  t.teardown(() => api.close());
  const h = tempHome();
  t.teardown(() => h.cleanup());
  const emitter = createEmitter({ dir: h.events, app: 'recon-alias', flushIntervalMs: 5 });
  t.teardown(() => emitter.close());
  const client = emitter.instrument(new Anthropic({ apiKey: 'sk-ant-api03-app', baseURL: api.url, maxRetries: 0 }));
  // Asked for by its alias; the cost engine stores the call under the dated id.
  await client.messages.create({ model: 'claude-haiku-4-5', max_tokens: 64, messages: [{ role: 'user', content: 'Classify: spam or not?' }] });
  await emitter.flush();
  const { pipeline, pricer } = await pricedPipeline(t, h.home, 1);
  const now = Date.now();
  const r = await runReconciliation({
    settings: { ...DEFAULT_RECONCILE, adminKey: ADMIN_KEY, baseUrl: api.url },
    query: pipeline.query, range: { start: now - DAY, end: now },
    ...(how === 'with prices' ? { pricer } : { canonicalModel: canonicalModelOf(pricer) }),
  });
  const cells = r.cells.filter((c) => c.billed.total_tokens > 0 || c.local.total_tokens > 0);
  t.deepEqual(cells.map((c) => c.model), ['claude-haiku-4-5-20251001']);
  t.is(cells[0]!.diff.total_tokens, 0);
  t.is(cells[0]!.capture.tokens, 1);
});

test('--tolerance: a bare number of 1 or more is refused (2 would be 200 %, flagging nothing), saying to write 2%', (t) => {
  t.is(parseTolerance('2%'), 0.02);
  t.is(parseTolerance('0.02'), 0.02);
  t.is(parseTolerance('0'), 0);
  t.throws(() => parseTolerance('2'), { message: /--tolerance: 2 is a fraction of 200%; write 2% for 2 percent, or a fraction below 1 such as 0\.02/ });
  t.throws(() => parseTolerance('1'), { message: /write 1%/ });
});

/**
 * 100 Sonnet calls, all billed at the local prices, `unpriced` of them on the priority tier,
 * which the local price table does not price (their cost is unknown locally, not $0).
 */
async function partlyUnpriced(t: import('ava').ExecutionContext, unpriced: number, withRates: boolean, unanswered: Partial<CallEvent>[] = []): Promise<ReconciliationResult> {
  const model = 'claude-sonnet-5-5';
  const api = await startFakeApi();
  t.teardown(() => api.close());
  const r = LOCAL_RATES[model]!;
  api.billing.setPrices(model, r);
  const base = localPricer();
  const pricer: Pricer = {
    version: base.version,
    price: (e) => (e.usage?.service_tier === 'priority'
      ? { cost_usd: null, cost_nanousd: null, cost_without_cache_usd: null, cost_without_cache_nanousd: null, parts: [], pricing_version: base.version, priced: false, model: e.model, provider: e.provider, flags: ['service_tier_unpriced:priority'] }
      : base.price(e)),
  };
  const store = SqliteStore.open({ path: join(tempDir(t, 'claudescope-recon-'), 'claudescope.db') });
  t.teardown(() => store.close());
  const now = Date.now();
  const at = now - 60_000;
  const calls = Array.from({ length: 100 }, (_, i) => {
    const tier = i < unpriced ? 'priority' : 'standard';
    const e = call({ ts: at, model, model_requested: model });
    e.usage = { ...e.usage!, service_tier: tier };
    api.billing.addUsage({ at, model, serviceTier: tier, uncached_input_tokens: e.usage.input_tokens, output_tokens: e.usage.output_tokens });
    return { event: e, raw: JSON.stringify(e), price: pricer.price(e) };
  });
  for (const over of unanswered) {
    // Priced as the cost engine prices a call without usage: unknown, never $0.
    const e = call({ ...over, ts: at, model, model_requested: model });
    calls.push({ event: e, raw: JSON.stringify(e), price: createPricer().price(e) });
  }
  store.commitBatch({ calls, checkpoints: [], emitterStats: [] });
  const client = new AdminClient({ adminKey: ADMIN_KEY, api: 'analytics', baseUrl: api.url });
  return reconcile({ query: store, client, range: { start: now - DAY, end: now }, ...(withRates ? { rates: ratesFromPricer(pricer) } : {}) });
}

test('a cell with unpriced local calls does not compare the priced part with the whole bill: its cost is not compared, and the report says how many calls have no price', async (t) => {
  // 1 call in 100 unpriced: the priced part is 99 % of the bill, within the 2 % tolerance.
  const r = await partlyUnpriced(t, 1, true);
  const c = cellOf(r, 'claude-sonnet-5-5');
  t.is(c.capture.tokens, 1);
  t.is(c.local.calls, 100);
  t.is(c.local.unpriced_calls, 1);
  t.is(c.capture.cost, null, 'the local cost is unknown, so no cost capture');
  t.is(c.diff.cost_usd, null);
  t.true(c.flagged, 'a cost that cannot be compared is flagged');
  t.deepEqual(c.causes.map((x) => x.code), ['unpriced_local']);
  t.is(c.causes[0]!.details['unpriced_calls'], 1);
  t.regex(c.causes[0]!.message, /1 of 100 recorded call\(s\) have no local price/);
  t.regex(c.causes[0]!.message, /the local cost \$0\.0693 is that of the 99 priced call\(s\) only/);
  // The model's summary and the total neither: their metric would report 99 % cost capture.
  const m = r.models.find((x) => x.model === 'claude-sonnet-5-5')!;
  t.is(m.cost_capture, null);
  t.is(m.unpriced_calls, 1);
  t.is(r.total.cost_capture, null);
  const table = formatTable(r);
  t.regex(table, /likely: 1 of 100 recorded call\(s\) have no local price/);
  t.false(table.includes('Every cell is within the tolerance'));
  t.regex(table, /Cost capture is n\/a where calls have no local price \(1 in all\)/);
});

test('calls that failed or were aborted before any usage came leave a cell\'s cost compared, as they leave a budget\'s spend known', async (t) => {
  // Every answered call priced and billed; a timeout and an abort with no usage, hence no price.
  const lost = { status: 'error', http_status: null, error_type: 'timeout', usage: null, complete: false } as const;
  const r = await partlyUnpriced(t, 0, true, [lost, { ...lost, status: 'aborted', error_type: 'aborted' }]);
  const c = cellOf(r, 'claude-sonnet-5-5');
  t.is(c.local.calls, 102);
  t.is(c.local.unpriced_calls, 0);
  t.is(c.capture.cost, 1);
  t.false(c.flagged, JSON.stringify(c.causes));
  t.is(r.models.find((x) => x.model === 'claude-sonnet-5-5')?.cost_capture, 1);
  t.is(r.total.cost_capture, 1);
});

test('without local rates (--no-prices), unpriced calls are not taken for prices out of date', async (t) => {
  const r = await partlyUnpriced(t, 10, false);
  const c = cellOf(r, 'claude-sonnet-5-5');
  t.is(c.capture.cost, null);
  t.deepEqual(c.causes.map((x) => x.code), ['unpriced_local']);
});

test('the local request count is one per message and per batch result read, through client.beta too; a results download and a token count are none', async (t) => {
  const { readLocal } = await import('../../src/reconcile/local-side.js');
  const store = SqliteStore.open({ path: join(tempDir(t, 'claudescope-recon-'), 'claudescope.db') });
  t.teardown(() => store.close());
  const now = Date.now();
  const model = 'claude-sonnet-5-5';
  const operations = [
    'messages.create', 'beta.messages.create', 'messages.stream', 'beta.messages.stream',
    'messages.batches.result', 'messages.batches.result', 'beta.messages.batches.result',
    'messages.batches.results', 'beta.messages.batches.results', 'messages.count_tokens', 'beta.messages.count_tokens',
  ];
  const calls = operations.map((operation) => {
    const e = call({ ts: now - 60_000, model, model_requested: model, operation });
    return { event: e, raw: JSON.stringify(e), price: localPricer().price(e) };
  });
  store.commitBatch({ calls, checkpoints: [], emitterStats: [] });
  const cells = new Map();
  await readLocal(store, { start: now - DAY, end: now }, '1d', [], cells);
  const local = [...cells.values()].map((c) => c.local);
  t.is(local.length, 1);
  t.is(local[0]!.requests, 7);
});

/** Opus 4.8 billed as run in the US (× 1.1) or in fast mode ($10 / $50), at the local catalog's own prices. */
const BILLED_AS: Record<'us' | 'fast', { usage: Record<string, string>; billed: Partial<BilledUsage>; prices: { input: number; output: number; cache_read: number; cache_write_5m: number; cache_write_1h: number } }> = {
  us: { usage: { inference_geo: 'us' }, billed: { inferenceGeo: 'us' }, prices: { input: 5.5, output: 27.5, cache_read: 0.55, cache_write_5m: 6.875, cache_write_1h: 11 } },
  fast: { usage: { speed: 'fast' }, billed: { speed: 'fast' }, prices: { input: 10, output: 50, cache_read: 1, cache_write_5m: 12.5, cache_write_1h: 20 } },
};

for (const api of ['analytics', 'legacy'] as const) for (const kind of ['us', 'fast'] as const) {
  test(`${api}: tokens billed ${kind === 'us' ? 'in the US' : 'in fast mode'} are priced at the local ${kind === 'us' ? 'US' : 'fast-mode'} rates, not named as prices out of date`, async (t) => {
    const fakeApi = await startFakeApi();
    t.teardown(() => fakeApi.close());
    const model = 'claude-opus-4-8';
    fakeApi.billing.setPrices(model, BILLED_AS[kind].prices);
    const h = tempHome();
    t.teardown(() => h.cleanup());
    const emitter = createEmitter({ dir: h.events, app: 'recon-class', flushIntervalMs: 5 });
    t.teardown(() => emitter.close());
    const client = emitter.instrument(new Anthropic({ apiKey: 'sk-ant-api03-app', baseURL: fakeApi.url, maxRetries: 0 }));
    for (let i = 0; i < 3; i++) {
      fakeApi.enqueue({ usage: BILLED_AS[kind].usage });
      await client.messages.create({ model, max_tokens: 64, messages: [{ role: 'user', content: 'Classify: spam or not?' }] });
    }
    // A call made without the emitter flags the cell: its causes must not include a price.
    fakeApi.billing.addUsage({ at: Date.now(), model, uncached_input_tokens: 500, output_tokens: 200, ...BILLED_AS[kind].billed });
    await emitter.flush();
    const { pipeline, pricer } = await pricedPipeline(t, h.home, 3);
    const now = Date.now();
    const r = await runReconciliation({ settings: { ...DEFAULT_RECONCILE, api, adminKey: ADMIN_KEY, baseUrl: fakeApi.url }, query: pipeline.query, range: { start: now - DAY, end: now }, pricer });
    const c = cellOf(r, model);
    t.true(c.flagged);
    t.deepEqual(c.causes.map((x) => x.code), ['missing_calls'], c.causes.map((x) => x.message).join('\n'));
    if (api === 'legacy') {
      // The older report groups by speed only with the fast-mode beta header.
      t.true(fakeApi.requests.filter((x) => x.route === 'admin.usage_report.messages').every((x) => x.headers['anthropic-beta'] === 'fast-mode-2026-02-01'));
    }
  });
}

/** 10 recorded Sonnet calls (1,000 input, 500 output tokens in all) against a bill of `billed` tokens, at the local prices. */
async function againstBill(t: import('ava').ExecutionContext, billed: { uncached_input_tokens: number; output_tokens: number }): Promise<ReconciliationResult> {
  const api = await startFakeApi();
  t.teardown(() => api.close());
  const model = 'claude-sonnet-5-5';
  api.billing.setPrices(model, LOCAL_RATES[model]!);
  const store = SqliteStore.open({ path: join(tempDir(t, 'claudescope-recon-'), 'claudescope.db') });
  t.teardown(() => store.close());
  const at = Date.now() - 60_000;
  const calls = Array.from({ length: 10 }, () => {
    const e = call({ ts: at, model, model_requested: model });
    return { event: e, raw: JSON.stringify(e), price: localPricer().price(e) };
  });
  store.commitBatch({ calls, checkpoints: [], emitterStats: [] });
  api.billing.addUsage({ at, model, ...billed, requests: 10 });
  const client = new AdminClient({ adminKey: ADMIN_KEY, api: 'analytics', baseUrl: api.url });
  return reconcile({ query: store, client, range: { start: at - DAY, end: at + 60_000 }, rates: ratesFromPricer(localPricer()) });
}

test('more output recorded than billed, within the tolerance in tokens but beyond it in cost, is named with its token type and cost', async (t) => {
  // 20 output tokens more recorded (1.4 % of the tokens) cost $0.0002 (2.9 % of the bill).
  const c = cellOf(await againstBill(t, { uncached_input_tokens: 1000, output_tokens: 480 }), 'claude-sonnet-5-5');
  t.true(c.flagged);
  t.deepEqual(c.causes.map((x) => x.code), ['local_exceeds_billed']);
  t.is(c.causes[0]!.details['extra_output_tokens'], 20);
  t.is(c.causes[0]!.details['extra_cost_usd'], 0.0002);
  t.regex(c.causes[0]!.message, /^20 more tokens recorded than billed \(output 20\), about \$0\.0002: the report may lag/);
});

test('a flagged cell with no single cause says which token types differ and by how much, where the table shows only totals', async (t) => {
  // The same number of tokens on both sides, 20 input billed as output locally: the cost is 2.3 % apart.
  const c = cellOf(await againstBill(t, { uncached_input_tokens: 1020, output_tokens: 480 }), 'claude-sonnet-5-5');
  t.true(c.flagged);
  t.is(c.diff.total_tokens, 0);
  t.deepEqual(c.causes.map((x) => x.code), ['no_billed_data']);
  t.is(c.causes[0]!.message, 'no single cause stands out: recorded − billed tokens by type: input -20, output +20');
  t.like(c.causes[0]!.details, { diff_uncached_input_tokens: -20, diff_output_tokens: 20 });
});
