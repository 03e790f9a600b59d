import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { testWith } from '../helpers/external.js';
import { DEFAULT_RECONCILE } from '../../src/reconcile/settings.js';
import type { ModelSummary } from '../../src/reconcile/types.js';
import { CHROMIUM, launch, ready, startSeededDaemon, watchErrors } from './harness.js';
import { UNPRICED_MODEL, addUnpricedCall, runWorkload, startDaemonOver } from '../reconcile/helpers.js';

const test = testWith(CHROMIUM);
const ARTIFACTS = join(process.cwd(), '.artifacts');

/** A cell's raw number (`data-value`); null where the page shows n/a. */
const valueOf = async (page: Page, sel: string): Promise<number | null> => {
  const v = await page.getAttribute(sel, 'data-value');
  return v === null || v === '' ? null : Number(v);
};

test('the reconciliation panel shows the latest run: when, the window, local against billed cost and capture per model and in total, flagged cells with their causes, n/a where calls are unpriced', async (t) => {
  const w = await runWorkload(t, { pipeline: false });
  const calls = addUnpricedCall(w);
  const daemon = await startDaemonOver(t, w, { schedule: '0 0 1 1 *', calls });
  const r = await daemon.reconcileJob!.runNow();
  if (!r) return t.fail('the scheduled run failed');

  const browser = await launch(t);
  const page = await browser.newPage();
  await page.setViewportSize({ width: 1400, height: 1000 });
  const errors = watchErrors(t, page);
  await page.goto(`${daemon.url}/`);
  await ready(page);

  t.true(await page.isVisible('#reconcile-run'));
  t.false(await page.isVisible('#reconcile-empty'));
  t.regex((await page.textContent('#reconcile-when')) ?? '', /^ran \d{4}-\d\d-\d\d \d\d:\d\d:\d\d \(\d+ s ago\) · scheduled 0 0 1 1 \*$/);
  t.is(Number(await page.getAttribute('#reconcile-meta', 'data-from')), Date.parse(r.range.start));
  t.is(Number(await page.getAttribute('#reconcile-meta', 'data-to')), Date.parse(r.range.end));
  const utc = (iso: string) => `${iso.slice(0, 16).replace('T', ' ')} UTC`;
  t.true(((await page.textContent('#reconcile-meta')) ?? '').startsWith(`Window ${utc(r.range.start)} – ${utc(r.range.end)} (1d buckets, analytics API, tolerance 2.0%)`));

  // Per model and the total: the run's numbers, cost capture n/a where calls are unpriced.
  const rows: [string, ModelSummary][] = [...r.models.map((m): [string, ModelSummary] => [m.model!, m]), ['total', r.total]];
  t.is(await page.locator('#reconcile-models tbody tr').count(), r.models.length);
  for (const [name, m] of rows) {
    const row = `#reconcile-models tr[data-model="${name}"]`;
    t.is(await valueOf(page, `${row} td:nth-child(2)`), m.local_cost_usd, `${name}: local cost`);
    t.is(await valueOf(page, `${row} td:nth-child(3)`), m.billed_cost_usd, `${name}: billed cost`);
    t.is(await valueOf(page, `${row} td:nth-child(4)`), m.cost_capture, `${name}: cost capture`);
    t.is(await valueOf(page, `${row} td:nth-child(7)`), m.token_capture, `${name}: token capture`);
    const shown = (await page.textContent(`${row} td:nth-child(4)`)) ?? '';
    t.is(shown, m.cost_capture === null ? 'n/a' : `${(m.cost_capture * 100).toFixed(1)}%`, `${name}: cost capture as shown`);
  }
  t.is(r.total.cost_capture, null, 'the total has an unpriced call: no cost capture');
  // Its local cost is unknown (none of its calls priced); the total's is the priced calls' only.
  t.is(await page.textContent(`#reconcile-models tr[data-model="${UNPRICED_MODEL}"] td:nth-child(2)`), '1 unpriced');
  t.regex((await page.textContent('#reconcile-models tr[data-model="total"] td:nth-child(2)')) ?? '', /^\$0\.\d+ \+ 1 unpriced$/);
  t.regex((await page.textContent('#reconcile-unpriced')) ?? '', /Cost capture is n\/a where calls have no local price \(1 in all\)/);
  // Small amounts keep their digits: the Haiku bill is a fraction of a cent.
  const haiku = r.models.find((m) => m.model === 'claude-haiku-5-5')!;
  t.true(haiku.billed_cost_usd! < 0.01);
  t.is(await page.textContent('#reconcile-models tr[data-model="claude-haiku-5-5"] td:nth-child(3)'), `$${haiku.billed_cost_usd!.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 6 })}`);

  // Flagged cells, each followed by its cause lines as the CLI prints them.
  const flagged = r.cells.filter((c) => c.flagged);
  t.is(await page.locator('#reconcile-flagged tr.cell').count(), flagged.length);
  t.is(await page.textContent('#reconcile-flagged-count'), `${flagged.length} beyond the tolerance`);
  for (const c of flagged) {
    const row = page.locator(`#reconcile-flagged tr.cell[data-model="${c.model}"]`);
    t.is(await row.locator('td:nth-child(6)').getAttribute('data-value'), c.capture.cost === null ? '' : String(c.capture.cost), `${c.model}: cost capture`);
    for (const cause of c.causes) {
      const line = page.locator(`#reconcile-flagged tr.cause[data-code="${cause.code}"]`);
      t.is(await line.textContent(), `likely: ${cause.message}`, `${c.model}: ${cause.code}`);
    }
  }
  const codes = await page.locator('#reconcile-flagged tr.cause').evaluateAll((els) => els.map((e) => (e as unknown as { dataset: { code: string } }).dataset.code).sort());
  t.deepEqual(codes, ['batch_unread', 'missing_calls', 'stale_price', 'unpriced_local']);
  t.is(await page.textContent(`#reconcile-flagged tr.cell[data-model="${UNPRICED_MODEL}"] td:nth-child(6)`), 'n/a');
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.locator('#reconcile-panel').screenshot({ path: join(ARTIFACTS, 'dashboard-reconcile.png') });
  t.deepEqual(errors, []);
});

test('before any reconciliation the panel says how to enable it, or that the schedule has not come yet', async (t) => {
  const browser = await launch(t);
  const page = await browser.newPage();
  await page.setViewportSize({ width: 1200, height: 900 });
  const errors = watchErrors(t, page);

  // Not configured: the CLI with an Admin API key, or the daemon's schedule, as docs/reconcile.md shows.
  const bare = await startSeededDaemon(t, []);
  await page.goto(`${bare.url}/`);
  await ready(page);
  t.false(await page.isVisible('#reconcile-run'));
  t.true(await page.isVisible('#reconcile-empty'));
  t.is(await page.textContent('#reconcile-when'), 'not run yet');
  const text = (await page.textContent('#reconcile-empty')) ?? '';
  t.regex(text, /Nothing has been compared with Anthropic's bill yet/);
  t.regex(text, /ANTHROPIC_ADMIN_KEY=sk-ant-admin01-… claudescope reconcile --since 7d/);
  t.regex(text, /reconcile:\n {2}schedule: "17 6 \* \* \*"/);
  t.regex(text, /docs\/reconcile\.md/);
  await page.locator('#reconcile-panel').screenshot({ path: join(ARTIFACTS, 'dashboard-reconcile-empty.png') });

  // Scheduled, not run yet.
  const scheduled = await startSeededDaemon(t, [], { reconcile: { ...DEFAULT_RECONCILE, adminKey: 'sk-ant-admin01-never-called', schedule: '0 0 1 1 *' } });
  await page.goto(`${scheduled.url}/`);
  await ready(page);
  t.true(await page.isVisible('#reconcile-empty'));
  t.is(await page.textContent('#reconcile-when'), 'scheduled 0 0 1 1 *, not run yet');
  t.regex((await page.textContent('#reconcile-empty')) ?? '', /on the schedule 0 0 1 1 \*; its first run has not come yet\. To see one now, run claudescope reconcile with ANTHROPIC_ADMIN_KEY set\./);
  t.deepEqual(errors.filter((e) => !/404/.test(e)), []);
});
