import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { testWith } from '../helpers/external.js';
import { periodAt } from '../../src/rules/budget-period.js';
import type { QueryApi, TimeWindow } from '../../src/store/types.js';
import { CHROMIUM, TOKEN, launch, ready, spreadWorkload, startSeededDaemon, watchErrors } from './harness.js';
import { mixedWorkload } from '../daemon/workload.js';

const test = testWith(CHROMIUM);
const ARTIFACTS = join(process.cwd(), '.artifacts');

interface PageState {
  window: { from: number; to: number };
  series: { step_ms: number; t: number[] };
  charts: Record<string, { t: number[]; series: Record<string, (number | null)[]> }>;
  calls: { event_id: string; attempts: number }[];
}

const tileValue = async (page: import('playwright-core').Page, id: string): Promise<number | null> => {
  const v = await page.getAttribute(`#${id}`, 'data-value');
  return v === null || v === '' ? null : Number(v);
};

/** The headline figures as the store computes them for a window. */
async function expectedHeadline(q: QueryApi, w: TimeWindow, now: number) {
  const [win] = await q.aggregate({
    window: w,
    aggregates: { calls: { op: 'count' }, errors: { op: 'count_where', filter: { status: 'error' } }, p99: { op: 'percentile', field: 'duration_ms', p: 99 } },
  });
  const day = periodAt(now, 'day');
  const month = periodAt(now, 'month');
  const [today] = await q.aggregate({ window: { start: day.start, end: now + 1 }, aggregates: { c: { op: 'sum', field: 'cost_usd' } } });
  const [mon] = await q.aggregate({ window: { start: month.start, end: now + 1 }, aggregates: { c: { op: 'sum', field: 'cost_usd' } } });
  const limits = await q.latestRateLimits();
  const minRatio = (dim: string) => Math.min(...limits.filter((r) => r.dimension === dim && r.limit).map((r) => r.remaining! / r.limit!));
  const calls = win!.values['calls']!;
  return {
    calls, errorRate: calls > 0 ? win!.values['errors']! / calls : null, p99: win!.values['p99'] ?? null,
    today: today!.values['c'] ?? 0, month: mon!.values['c'] ?? 0, headroomRequests: minRatio('requests'), headroomTokens: minRatio('tokens'),
  };
}

const close = (a: number | null, b: number | null): boolean => (a === null || b === null ? a === b : Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(b)));

test('every headline figure and sampled chart series equal the store; the range picker changes them; a call shows its attempts and price', async (t) => {
  const daemon = await startSeededDaemon(t, spreadWorkload());
  const q = daemon.pipeline.query;
  const browser = await launch(t);
  const page = await browser.newPage();
  await page.setViewportSize({ width: 1400, height: 1000 });
  const errors = watchErrors(t, page);
  await page.goto(`${daemon.url}/`);
  let gen = await ready(page);

  const check = async (label: string) => {
    const s = (await page.evaluate('window.dashboard')) as PageState;
    const w = { start: s.window.from, end: s.window.to };
    const want = await expectedHeadline(q, w, Date.now());
    t.is(await tileValue(page, 'tile-calls'), want.calls, `${label}: calls`);
    t.true(close(await tileValue(page, 'tile-error-rate'), want.errorRate), `${label}: error rate`);
    t.true(close(await tileValue(page, 'tile-p99'), want.p99), `${label}: p99`);
    t.true(close(await tileValue(page, 'tile-spend-today'), want.today), `${label}: spend today`);
    t.true(close(await tileValue(page, 'tile-spend-month'), want.month), `${label}: spend this month`);
    t.true(close(await tileValue(page, 'tile-headroom-requests'), want.headroomRequests), `${label}: request headroom`);
    t.true(close(await tileValue(page, 'tile-headroom-tokens'), want.headroomTokens), `${label}: token headroom`);
    t.is(await page.textContent('#tile-calls .value'), want.calls.toLocaleString('en-US'), `${label}: calls as shown`);
    // Chart series: the store's series over the same buckets.
    const step = s.series.step_ms;
    const rows = await q.series({ window: w, stepMs: step, aggregates: { input: { op: 'sum', field: 'input_tokens' }, n: { op: 'count' }, cost: { op: 'sum', field: 'cost_usd' } } });
    const byT = new Map(rows.map((r) => [r.t, r.values]));
    const tokens = s.charts['chart-tokens']!;
    const calls = s.charts['chart-calls']!;
    t.true(rows.length > 0, `${label}: some buckets`);
    tokens.t.forEach((bt, i) => {
      t.is(tokens.series['input']![i], byT.get(bt)?.['input'] ?? 0, `${label}: input tokens at ${bt}`);
      t.is(calls.series['calls']![i], byT.get(bt)?.['n'] ?? 0, `${label}: calls at ${bt}`);
    });
    const modelRows = await q.series({ window: w, stepMs: step, groupBy: ['model'], aggregates: { cost: { op: 'sum', field: 'cost_usd' } } });
    const cost = s.charts['chart-cost']!;
    for (const r of modelRows) {
      const i = cost.t.indexOf(r.t);
      t.true(close(cost.series[r.group.model ?? '(none)']![i] ?? 0, r.values['cost'] ?? 0), `${label}: cost of ${r.group.model} at ${r.t}`);
    }
    return want.calls;
  };

  const calls24h = await check('24h');
  t.is(calls24h, 110, 'the 24 h window holds the calls of now and 3 h ago');
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: join(ARTIFACTS, 'dashboard.png'), fullPage: true });

  await page.selectOption('#range', '1h');
  gen = await ready(page, gen);
  t.is(await check('1h'), 70);
  await page.selectOption('#range', '7d');
  gen = await ready(page, gen);
  t.is(await check('7d'), 140);

  // Custom range: from 4 h ago to 2 h ago holds only the calls of 3 h ago.
  await page.selectOption('#range', 'custom');
  const local = (ms: number) => new Date(ms - new Date(ms).getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
  await page.fill('#from', local(Date.now() - 4 * 3_600_000));
  await page.fill('#to', local(Date.now() - 2 * 3_600_000));
  await page.click('#apply');
  gen = await ready(page, gen);
  t.is(await check('custom'), 40);

  // A call with retries: its detail lists every attempt and the price part by part.
  const s = (await page.evaluate('window.dashboard')) as PageState;
  const retried = s.calls.find((c) => c.attempts >= 3)!;
  t.truthy(retried, 'a call with 3 attempts in the table');
  await page.click(`#calls tr[data-id="${retried.event_id}"]`);
  await page.waitForSelector('#drawer:not([hidden]) #attempts');
  t.is(await page.locator('#attempts tbody tr').count(), retried.attempts);
  t.regex((await page.textContent('#attempts tbody')) ?? '', /529/);
  const stored = await q.call(retried.event_id);
  t.is(stored!.attempts, retried.attempts);
  const priced = s.calls.find((c) => c.attempts === 1 && (c as unknown as { cost_usd: number | null }).cost_usd !== null)!;
  await page.click('#drawer-close');
  await page.click(`#calls tr[data-id="${priced.event_id}"]`);
  await page.waitForFunction((id) => {
    const doc = (globalThis as unknown as { document: { querySelector(s: string): { getAttribute(a: string): string | null } | null } }).document;
    return doc.querySelector('#drawer')?.getAttribute('data-id') === id && doc.querySelector('#price-parts') !== null;
  }, priced.event_id);
  const partsShown = await page.locator('#price-parts tbody tr').count();
  const detail = await q.call(priced.event_id);
  const storedParts = Object.values((detail!.price as { parts: Record<string, number | null> }).parts).filter((v) => v !== null);
  t.is(partsShown, storedParts.length, 'one row per stored price part');
  await page.screenshot({ path: join(ARTIFACTS, 'dashboard-detail.png') });
  t.deepEqual(errors, []);
});

test('on a phone and in dark mode the page lays out without horizontal scrolling', async (t) => {
  const daemon = await startSeededDaemon(t, spreadWorkload());
  const browser = await launch(t);
  const page = await browser.newPage();
  await page.setViewportSize({ width: 390, height: 844 });
  await page.emulateMedia({ colorScheme: 'dark' });
  const errors = watchErrors(t, page);
  await page.goto(`${daemon.url}/`);
  await ready(page);
  const overflow = (await page.evaluate('document.documentElement.scrollWidth - document.documentElement.clientWidth')) as number;
  t.true(overflow <= 0, `page wider than the phone by ${overflow}px`);
  const bg = await page.evaluate('getComputedStyle(document.body).backgroundColor');
  t.is(bg, 'rgb(22, 22, 26)', 'dark background from prefers-color-scheme');
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: join(ARTIFACTS, 'dashboard-phone-dark.png') });
  // The toggle switches to light and is remembered.
  await page.click('#theme');
  t.is(await page.evaluate('getComputedStyle(document.body).backgroundColor'), 'rgb(246, 245, 241)');
  t.deepEqual(errors, []);
});

test('with an empty store the page tells a new user to run claudescope demo', async (t) => {
  const daemon = await startSeededDaemon(t, []);
  const browser = await launch(t);
  const page = await browser.newPage();
  await page.setViewportSize({ width: 1200, height: 900 });
  const errors = watchErrors(t, page);
  await page.goto(`${daemon.url}/`);
  await ready(page);
  t.true(await page.isVisible('#empty'));
  t.regex((await page.textContent('#empty')) ?? '', /claudescope demo/);
  t.is(await page.textContent('#tile-calls .value'), '0');
  t.true(await page.isVisible('#calls-panel .empty-row'));
  t.is(await page.locator('.chart-empty').count(), 6, 'every chart says it has no data');
  await page.screenshot({ path: join(ARTIFACTS, 'dashboard-empty.png') });
  t.deepEqual(errors.filter((e) => !/404/.test(e)), []);
});

test('a window whose calls all lack a price shows its cost as unpriced, not $0.00', async (t) => {
  const unpriced = mixedWorkload(20).map((e) => ({ ...e, model: 'unpriced-model', model_requested: 'unpriced-model' }));
  const daemon = await startSeededDaemon(t, unpriced);
  const browser = await launch(t);
  const page = await browser.newPage();
  const errors = watchErrors(t, page);
  await page.goto(`${daemon.url}/`);
  await ready(page);
  const sub = (await page.textContent('#tile-calls')) ?? '';
  t.regex(sub, /unpriced in window/);
  t.notRegex(sub, /\$0\.00 in window/);
  // Today's and the month's spend too (the calls are seconds old: today, this month).
  const spend = ((await (await fetch(`${daemon.url}/api/summary`)).json()) as { spend: Record<string, number | null> }).spend;
  t.true((spend['today_calls'] ?? 0) > 0 && spend['today_unpriced_calls'] === spend['today_calls']);
  t.deepEqual([spend['today_usd'], spend['month_usd'], spend['projected_month_usd']], [null, null, null]);
  for (const id of ['tile-spend-today', 'tile-spend-month']) t.is(await page.textContent(`#${id} .value`), 'unpriced', id);
  t.deepEqual(errors, []);
});

test('with a token required, the API refuses a request without it and the page asks for it once', async (t) => {
  const daemon = await startSeededDaemon(t, spreadWorkload(), { auth: { token: TOKEN, requireToken: true } });
  const res = await fetch(`${daemon.url}/api/summary`);
  t.is(res.status, 401);
  t.is((await fetch(`${daemon.url}/api/summary`, { headers: { authorization: 'Bearer wrong-token-0123456789' } })).status, 401);
  t.is((await fetch(`${daemon.url}/api/summary`, { headers: { authorization: `Bearer ${TOKEN}` } })).status, 200);

  const browser = await launch(t);
  const page = await browser.newPage();
  await page.goto(`${daemon.url}/`);
  await page.waitForSelector('#token-dialog[open]');
  t.is(await page.evaluate('document.body.dataset.auth'), 'asking');
  await page.fill('#token-input', 'not-the-token-0123456789');
  await page.click('#token-submit');
  await page.waitForSelector('#token-dialog[open] #token-error:not([hidden])');
  await page.fill('#token-input', TOKEN);
  await page.click('#token-submit');
  const gen = await ready(page);
  t.is(await tileValue(page, 'tile-calls'), 110);
  // Asked once: a refresh in the same tab uses the stored token.
  await page.selectOption('#range', '1h');
  await ready(page, gen);
  t.false(await page.isVisible('#token-dialog'));
});

test('recent calls: a double click on Load more adds the next page once, and a filter changed twice in a row lists only the last filter\'s calls', async (t) => {
  const daemon = await startSeededDaemon(t, spreadWorkload());
  const browser = await launch(t);
  const page = await browser.newPage();
  await page.setViewportSize({ width: 1400, height: 1000 });
  const errors = watchErrors(t, page);
  await page.goto(`${daemon.url}/`);
  await ready(page);
  const rows = (): Promise<{ id: string; status: string }[]> => page.$$eval('#calls tbody tr', (trs) => trs.map((tr) => ({
    id: (tr as unknown as { dataset: Record<string, string> }).dataset['id']!, status: tr.className.replace('status-', ''),
  })));
  const settle = (n: number) => page.waitForFunction((want) => {
    const doc = (globalThis as unknown as { document: { querySelectorAll(s: string): { length: number } } }).document;
    return doc.querySelectorAll('#calls tbody tr').length >= want;
  }, n);
  /** Both clicks or changes are made before either answer comes back. */
  const twice = (fn: () => void) => page.evaluate(fn);

  t.is((await rows()).length, 50);
  await twice(() => {
    const more = (globalThis as unknown as { document: { querySelector(s: string): { click(): void } } }).document.querySelector('#more');
    more.click();
    more.click();
  });
  await settle(100);
  await page.waitForTimeout(300);
  const shown = (await rows()).map((r) => r.id);
  t.is(shown.length, 100, 'the 24 h window holds 110 calls: two pages of 50');
  t.is(new Set(shown).size, 100, 'no call listed twice');

  const want = (await (await fetch(`${daemon.url}/api/calls?from=now-24h&to=now&status=ok&limit=50`)).json()) as { calls: { event_id: string }[] };
  await twice(() => {
    const sel = (globalThis as unknown as { document: { querySelector(s: string): { value: string; dispatchEvent(e: unknown): void } } }).document.querySelector('#f-status');
    for (const v of ['error', 'ok']) {
      sel.value = v;
      sel.dispatchEvent(new Event('change'));
    }
  });
  await settle(want.calls.length);
  await page.waitForTimeout(300);
  const filtered = await rows();
  t.deepEqual([...new Set(filtered.map((r) => r.status))], ['ok'], 'only calls of the filter shown');
  t.deepEqual(filtered.map((r) => r.id), want.calls.map((c) => c.event_id));
  t.deepEqual(errors, []);
});

test('when the daemon stops, a refresh says it did not answer and marks the figures still shown as those of the last load, for its window', async (t) => {
  const daemon = await startSeededDaemon(t, spreadWorkload());
  const browser = await launch(t);
  const page = await browser.newPage();
  await page.setViewportSize({ width: 1400, height: 1000 });
  await page.goto(`${daemon.url}/`);
  await ready(page);
  const shown = await page.textContent('#tile-calls .value');
  const loaded = (await page.evaluate('window.dashboard.window')) as { from: number; to: number };
  t.is(await page.evaluate('document.body.dataset.stale'), undefined);

  await daemon.stop();
  // The range now picked (1 h) is not the one of the figures on the page (24 h).
  await page.selectOption('#range', '1h');
  await page.waitForFunction(() => (globalThis as unknown as { document: { body: { dataset: Record<string, string> } } }).document.body.dataset['state'] === 'error');
  const message = (await page.textContent('#error')) ?? '';
  t.regex(message, /the daemon did not answer/);
  t.notRegex(message, /Failed to fetch/);
  // The page's own formatting of a time (the browser's time zone).
  const time = (ms: number) => page.evaluate(async ([v, mod]) => ((await import(mod)) as { time(ms: number): string }).time(v), [ms, './format.js'] as const);
  t.true(message.includes(`for ${await time(loaded.from)} – ${await time(loaded.to)}`), message);
  t.regex(message, /loaded at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d/);
  t.is(await page.evaluate('document.body.dataset.stale'), 'true');
  t.is(await page.textContent('#tile-calls .value'), shown, 'the last figures stay, marked');
  t.true(Number(await page.evaluate('getComputedStyle(document.querySelector(".tiles")).opacity')) < 1, 'dimmed');
});

test('in a browser outside UTC, the spend tiles say their day and month are UTC ones, as the figures are', async (t) => {
  const daemon = await startSeededDaemon(t, spreadWorkload());
  const browser = await launch(t, { timezoneId: 'America/Los_Angeles' });
  const page = await browser.newPage();
  const errors = watchErrors(t, page);
  await page.goto(`${daemon.url}/`);
  await ready(page);
  t.not(await page.evaluate('new Date(0).getTimezoneOffset()'), 0, 'the browser is not on UTC');
  const s = (await page.evaluate('window.dashboard.summary')) as { spend: { day_start: number; month_start: number; today_usd: number } };
  t.is(s.spend.day_start % 86_400_000, 0, 'the day the figure covers starts at midnight UTC');
  t.is(new Date(s.spend.month_start).getUTCDate(), 1);
  t.is(new Date(s.spend.month_start).getUTCHours(), 0);
  t.is(await tileValue(page, 'tile-spend-today'), s.spend.today_usd);
  t.is(await page.textContent('#tile-spend-today h3'), 'Spend today (UTC)');
  t.is(await page.textContent('#tile-spend-month h3'), 'Spend this month (UTC)');
  t.deepEqual(errors, []);
});
