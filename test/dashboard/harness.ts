/**
 * The browser tests' harness: a daemon on a temp home seeded through the real pipeline
 * (event files → tailer → store), and Debian's Chromium driven by playwright-core with a
 * fresh profile (never a browser download).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ExecutionContext } from 'ava';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { tempHome, writeEventFile, waitFor } from '../helpers/event-files.js';
import { testPricer } from '../helpers/test-pricer.js';
import { Daemon } from '../../src/daemon/daemon.js';
import { loadDaemonConfig, type DaemonConfig } from '../../src/daemon/config.js';
import type { CallEvent } from '../../src/event/types.js';
import { mixedWorkload } from '../daemon/workload.js';

export const CHROMIUM = '/usr/bin/chromium';
export const TOKEN = 'dashboard-test-token-0123456789';

/** Calls now, 3 hours ago and 3 days ago, so each range preset sees a different set. */
export function spreadWorkload(now = Date.now()): CallEvent[] {
  return [...mixedWorkload(30, now - 3 * 86_400_000), ...mixedWorkload(40, now - 3 * 3_600_000), ...mixedWorkload(70, now)];
}

export async function startSeededDaemon(t: ExecutionContext, events: CallEvent[], over: Partial<DaemonConfig> = {}): Promise<Daemon> {
  const h = tempHome();
  t.teardown(h.cleanup);
  if (events.length > 0) writeEventFile({ dir: h.events, calls: events, sealed: true });
  const base = loadDaemonConfig({ env: { CLAUDESCOPE_HOME: h.home }, flags: { pollIntervalMs: 50 } });
  const config: DaemonConfig = {
    ...base, listen: { host: '127.0.0.1', port: 0 },
    budgets: { dailyUsd: 0.05, monthlyUsd: 1, perFeature: {} },
    ...over,
  };
  const daemon = await Daemon.start({ config, pricer: testPricer(), log: () => {} });
  t.teardown(() => daemon.stop());
  await waitFor(() => {
    try {
      return daemon.pipeline.health().eventsInserted === events.length;
    } catch {
      return false;
    }
  }, 'every event stored');
  return daemon;
}

/**
 * Chromium with a fresh profile folder. playwright-core refuses `--user-data-dir` in `launch()`
 * and takes the folder through `launchPersistentContext` instead: the same fresh profile.
 */
export async function launch(t: ExecutionContext, o: { timezoneId?: string } = {}): Promise<BrowserContext> {
  const profile = mkdtempSync(join(tmpdir(), 'claudescope-chromium-'));
  const browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    ...o,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
  t.teardown(async () => {
    await browser.close();
    rmSync(profile, { recursive: true, force: true });
  });
  return browser;
}

/** Waits until the page finished a load after `afterGeneration`. */
export async function ready(page: Page, afterGeneration = 0): Promise<number> {
  // A function, not a string: the page's CSP forbids eval, which string predicates need.
  await page.waitForFunction((g) => {
    const body = (globalThis as unknown as { document: { body: { dataset: Record<string, string | undefined> } } }).document.body;
    return body.dataset['state'] === 'ready' && Number(body.dataset['generation']) > g;
  }, afterGeneration);
  return Number(await page.evaluate('document.body.dataset.generation'));
}

/** Fails the test on any page error or console error. */
export function watchErrors(t: ExecutionContext, page: Page): string[] {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console: ${m.text()}`);
  });
  return errors;
}
