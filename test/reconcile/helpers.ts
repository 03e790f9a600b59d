/**
 * A workload through the real SDK, the emitter and the ingestion pipeline against the fake
 * Claude API, whose bill differs from what was recorded in three known ways:
 *
 * - one Sonnet call made by a client without the emitter (a missing call);
 * - Opus output billed at $25/MTok while the local price table says $20 (a stale price);
 * - a Haiku batch whose results nobody read (billed batch tokens, none recorded).
 */
import Anthropic from '@anthropic-ai/sdk';
import type { ExecutionContext } from 'ava';
import { createEmitter } from '../../src/index.js';
import { startFakeApi, type FakeApi } from '../../src/testing/index.js';
import { Pipeline } from '../../src/daemon/pipeline.js';
import type { CallEvent } from '../../src/event/types.js';
import type { CostPart, Pricer, PriceResult } from '../../src/pricing/types.js';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { call, tempHome, waitFor, writeEventFile } from '../helpers/event-files.js';
import { Daemon } from '../../src/daemon/daemon.js';
import { loadDaemonConfig, type DaemonConfig } from '../../src/daemon/config.js';

export const ADMIN_KEY = 'sk-ant-admin01-TESTSECRET-0123456789abcdefghijklmnop';

type Rates = { input: number; output: number; cache_read: number; cache_write_5m: number; cache_write_1h: number };
/** The local price table (USD/MTok): Opus output is out of date ($20; the bill says $25). */
export const LOCAL_RATES: Record<string, Rates> = {
  'claude-sonnet-5-5': { input: 2, output: 10, cache_read: 0.1, cache_write_5m: 2.5, cache_write_1h: 4 },
  'claude-opus-5-5': { input: 4, output: 20, cache_read: 0.2, cache_write_5m: 5, cache_write_1h: 8 },
  'claude-haiku-5-5': { input: 0.1, output: 0.5, cache_read: 0.01, cache_write_5m: 0.125, cache_write_1h: 0.2 },
};

/** A pricer with {@link LOCAL_RATES}, batch at half price, in exact nanodollars. */
export function localPricer(): Pricer {
  return {
    version: 'test-local-1',
    price(e: CallEvent): PriceResult {
      const r = e.model ? LOCAL_RATES[e.model] : undefined;
      const u = e.usage;
      if (!r || !u) {
        return { cost_usd: u ? null : 0, cost_nanousd: u ? null : 0, cost_without_cache_usd: null, cost_without_cache_nanousd: null, parts: [], pricing_version: 'test-local-1', priced: !u ? true : false, model: e.model, provider: e.provider, flags: [] };
      }
      const m = u.service_tier === 'batch' ? 0.5 : 1;
      const w5 = u.cache_write_5m_input_tokens + u.cache_write_unknown_ttl_input_tokens;
      const q: [CostPart['dimension'], number, number][] = [
        ['input', u.input_tokens, r.input], ['output', u.output_tokens, r.output], ['cache_read', u.cache_read_input_tokens, r.cache_read],
        ['cache_write_5m', w5, r.cache_write_5m], ['cache_write_1h', u.cache_write_1h_input_tokens, r.cache_write_1h],
      ];
      const nano = Math.round(q.reduce((a, [, n, rate]) => a + n * rate * m * 1000, 0));
      return {
        cost_usd: nano / 1e9, cost_nanousd: nano, cost_without_cache_usd: nano / 1e9, cost_without_cache_nanousd: nano,
        parts: q.map(([dimension, quantity, rate]) => ({ dimension, quantity, rate_usd: rate * m, cost_usd: (quantity * rate * m) / 1e6, source: 'test' })),
        pricing_version: 'test-local-1', priced: true, model: e.model, provider: e.provider, flags: [],
      };
    },
  };
}

const total = (u: Anthropic.Messages.Usage): number =>
  u.input_tokens + u.output_tokens + (u.cache_read_input_tokens ?? 0) + (u.cache_creation_input_tokens ?? 0);

export interface Workload {
  api: FakeApi;
  home: string;
  pipeline: Pipeline;
  /** Tokens of the call made without the emitter. */
  missingCallTokens: number;
  missingCallOutput: number;
  /** Tokens of the unread batch's items. */
  batchTokens: number;
  /** Opus output tokens recorded (all billed at $25 instead of $20). */
  opusOutputTokens: number;
  recordedCalls: number;
}

const params = (model: string, text: string): Anthropic.Messages.MessageCreateParamsNonStreaming => ({ model, max_tokens: 256, messages: [{ role: 'user', content: text }] });

/** Runs the workload and waits until the pipeline stored every recorded call. */
export async function runWorkload(t: ExecutionContext, opts: { pipeline?: boolean } = {}): Promise<Workload> {
  const api = await startFakeApi();
  t.teardown(() => api.close());
  // The bill: Opus output at $25/MTok (the local table still says $20).
  api.billing.setPrices('claude-opus-5-5', { input: 4, output: 25, cache_read: 0.2, cache_write_5m: 5, cache_write_1h: 8 });
  const h = tempHome();
  t.teardown(() => h.cleanup());
  const emitter = createEmitter({ dir: h.events, app: 'recon-test', flushIntervalMs: 5 });
  t.teardown(() => emitter.close());
  const client = emitter.instrument(new Anthropic({ apiKey: 'sk-ant-api03-app', baseURL: api.url, maxRetries: 0 }));
  const bare = new Anthropic({ apiKey: 'sk-ant-api03-app', baseURL: api.url, maxRetries: 0 });

  // Recorded: 3 Sonnet calls (one streamed, one with cache use), 2 Opus, 1 Haiku.
  await client.messages.create(params('claude-sonnet-5-5', 'What is the capital of France?'));
  api.enqueue({ usage: { cache_read_input_tokens: 1200, cache_creation: { ephemeral_5m_input_tokens: 300, ephemeral_1h_input_tokens: 100 } } });
  await client.messages.create(params('claude-sonnet-5-5', 'Summarise this document for me, please.'));
  const stream = client.messages.stream(params('claude-sonnet-5-5', 'Write a haiku about the sea.'));
  await stream.finalMessage();
  let opusOutputTokens = 0;
  for (const q of ['Prove that there are infinitely many primes.', 'Explain monads briefly.']) {
    const m = await client.messages.create(params('claude-opus-5-5', q));
    opusOutputTokens += m.usage.output_tokens;
  }
  await client.messages.create(params('claude-haiku-5-5', 'Classify: spam or not?'));
  // A batch created through the instrumented client whose results nobody reads.
  const batch = await client.messages.batches.create({
    requests: [
      { custom_id: 'a', params: params('claude-haiku-5-5', 'Tag this ticket: printer on fire.') },
      { custom_id: 'b', params: params('claude-haiku-5-5', 'Tag this ticket: password reset.') },
    ],
  });
  // Missing: a call from a process without the emitter.
  const missing = await bare.messages.create(params('claude-sonnet-5-5', 'A call nobody instrumented, from a cron job.'));
  // Read the batch results without the emitter, only to know their tokens.
  let batchTokens = 0;
  for await (const item of await bare.messages.batches.results(batch.id)) {
    if (item.result.type === 'succeeded') batchTokens += total(item.result.message.usage);
  }
  await emitter.flush();

  const pipeline = new Pipeline({ home: h.home, pricer: localPricer(), tailer: { pollIntervalMs: 20 } });
  const recordedCalls = 7; // 6 messages + the batch creation
  if (opts.pipeline ?? true) {
    await pipeline.start();
    t.teardown(() => pipeline.stop());
    await waitFor(() => pipeline.health().eventsInserted >= recordedCalls, 'every recorded call stored');
  }
  return { api, home: h.home, pipeline, missingCallTokens: total(missing.usage), missingCallOutput: missing.usage.output_tokens, batchTokens, opusOutputTokens, recordedCalls };
}

/** A model the local price table does not know (its calls are stored unpriced), billed all the same. */
export const UNPRICED_MODEL = 'claude-mystery-5-5';

/**
 * Adds to the workload one recorded call of {@link UNPRICED_MODEL}, which the bill has too: its
 * cell is compared on tokens only (`unpriced_local`), and its model's and the total's cost
 * capture are n/a. Call before the pipeline starts; returns the calls the store will hold.
 */
export function addUnpricedCall(w: Workload): number {
  const now = Date.now();
  const e = call({ ts: now, model: UNPRICED_MODEL, model_requested: UNPRICED_MODEL, app: 'recon-test' });
  writeEventFile({ dir: join(w.home, 'events'), calls: [e], sealed: true });
  w.api.billing.setPrices(UNPRICED_MODEL, { input: 1, output: 5, cache_read: 0.1, cache_write_5m: 1.25, cache_write_1h: 2 });
  w.api.billing.addUsage({ at: now, model: UNPRICED_MODEL, uncached_input_tokens: e.usage!.input_tokens, output_tokens: e.usage!.output_tokens });
  return w.recordedCalls + 1;
}

/**
 * A daemon over the workload's home, its Admin API the fake one, with {@link localPricer}.
 * `schedule`: a `reconcile:` block with that schedule (one that never comes due in a test, so
 * runs are started by hand); null: no block and no key, as a daemon that never reconciles.
 */
export async function startDaemonOver(t: ExecutionContext, w: Workload, o: { schedule: string | null; calls: number; over?: Partial<DaemonConfig> }): Promise<Daemon> {
  const cfgPath = join(w.home, 'config.yaml');
  writeFileSync(cfgPath, o.schedule === null ? '' : `reconcile:\n  schedule: "${o.schedule}"\n  api: analytics\n  lookback_days: 1\n  base_url: ${w.api.url}\n`);
  const env = { CLAUDESCOPE_HOME: w.home, ...(o.schedule === null ? {} : { ANTHROPIC_ADMIN_KEY: ADMIN_KEY }) };
  const config = { ...loadDaemonConfig({ env, flags: { pollIntervalMs: 50 } }), listen: { host: '127.0.0.1', port: 0 }, ...o.over };
  const d = await Daemon.start({ config, pricer: localPricer(), log: () => {}, ruleSchedule: '0 0 1 1 *' });
  t.teardown(() => d.stop());
  await waitFor(() => d.pipeline.health().eventsInserted >= o.calls, 'every recorded call stored');
  return d;
}
