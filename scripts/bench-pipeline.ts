/**
 * Ingestion benchmark: events per second from event files into the SQLite store, end to end
 * (tailer → validate → price → store with rollups and checkpoints), against the bare minimum
 * in the same run (read the files, split lines, JSON.parse, one prepared INSERT per row into a
 * table with the same unique index, in batched transactions). Then a window query: p99 of one
 * model over 24 h. Prints numbers; asserts nothing.
 *
 * Run: node --import tsx scripts/bench-pipeline.ts [events=200000] [files=8]
 */
import { mkdtempSync, mkdirSync, writeFileSync, readdirSync, openSync, readSync, closeSync, rmSync } from 'node:fs';
import { tmpdir, hostname } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import Database from 'better-sqlite3';
import { Pipeline } from '../src/daemon/pipeline.js';
import type { CallEvent } from '../src/event/types.js';
import type { Pricer, PriceResult } from '../src/pricing/types.js';

const EVENTS = Number(process.argv[2] ?? 200_000);
const FILES = Number(process.argv[3] ?? 8);
const BATCH = 4000;
/** Ingested events are timed over the last 10 minutes, as a busy app's backlog would be. */
const DENSE_SPAN_MS = 600_000;

const pricer: Pricer = {
  version: 'bench',
  price(e: CallEvent): PriceResult {
    const u = e.usage;
    const nano = u ? u.input_tokens * 3000 + u.output_tokens * 15000 + u.cache_read_input_tokens * 300 : 0;
    return { cost_usd: nano / 1e9, cost_nanousd: nano, cost_without_cache_usd: nano / 1e9, cost_without_cache_nanousd: nano, parts: [], pricing_version: 'bench', priced: true, model: e.model, provider: e.provider, flags: [] };
  },
};

/** `spanMs`: the period the events' times spread over (a live backlog is dense; the query set spans 24 h). */
function makeEvent(i: number, now: number, spanMs = DENSE_SPAN_MS): CallEvent {
  const ts = now - Math.floor(Math.random() * spanMs);
  return {
    t: 'call', v: 1, event_id: randomUUID(), seq: i + 1, ts, ts_start: ts - 900, app: 'bench', env: 'prod', host: hostname(), pid: 4242,
    tags: { feature: ['chat', 'search', 'summarise'][i % 3]! }, provider: 'anthropic', operation: 'messages.create',
    model_requested: 'claude-sonnet-4-5', model: ['claude-sonnet-4-5', 'claude-haiku-4-5', 'claude-opus-4-1'][i % 3]!, stream: i % 2 === 0,
    max_tokens: 1024, tool_count: 0, status: i % 50 === 0 ? 'error' : 'ok', http_status: i % 50 === 0 ? 529 : 200,
    error_type: i % 50 === 0 ? 'overloaded_error' : null, error_code: null, stop_reason: 'end_turn', request_id: `req_${randomUUID()}`,
    message_id: `msg_${randomUUID()}`, organization_id: null, workspace_id: null, api_key_alias: null, attempts: 1,
    attempt_log: [{ status: 200, error_type: null, request_id: null, start_offset_ms: 0, duration_ms: 850, retry_after_ms: null }],
    duration_ms: 200 + Math.floor(Math.random() * 5000), ttft_ms: i % 2 === 0 ? 100 + Math.floor(Math.random() * 900) : null,
    output_tokens_per_second: null, complete: true,
    usage: {
      input_tokens: 1200, output_tokens: 300, cache_read_input_tokens: 4000, cache_creation_input_tokens: 0, cache_write_5m_input_tokens: 0,
      cache_write_1h_input_tokens: 0, cache_write_unknown_ttl_input_tokens: 0, thinking_tokens: null, web_search_requests: 0,
      web_fetch_requests: 0, code_execution_requests: 0, service_tier: 'standard', speed: null, inference_geo: null,
    },
    rate_limits: { requests: { limit: 4000, remaining: 3999, reset: null } },
  };
}

function writeFiles(dir: string): number {
  const now = Date.now();
  let bytes = 0;
  const per = Math.ceil(EVENTS / FILES);
  for (let f = 0; f < FILES; f++) {
    const fileId = randomUUID();
    const lines = [JSON.stringify({ t: 'header', v: 1, file_id: fileId, app: 'bench', host: hostname(), pid: 4242, started_at: new Date().toISOString(), file_seq: f, emitter: { name: 'bench', version: '0' } })];
    for (let i = f * per; i < Math.min(EVENTS, (f + 1) * per); i++) lines.push(JSON.stringify(makeEvent(i, now)));
    const text = `${lines.join('\n')}\n`;
    bytes += Buffer.byteLength(text);
    writeFileSync(join(dir, `bench-${f}.ndjson`), text);
  }
  return bytes;
}

function bareMinimum(eventsDir: string, dbPath: string): number {
  const t0 = performance.now();
  const db = new Database(dbPath);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.exec('CREATE TABLE calls (id INTEGER PRIMARY KEY, event_id TEXT NOT NULL UNIQUE, ts INTEGER NOT NULL, event_json TEXT NOT NULL)');
  const insert = db.prepare('INSERT OR IGNORE INTO calls (event_id, ts, event_json) VALUES (?, ?, ?)');
  const tx = db.transaction((rows: [string, number, string][]) => {
    for (const r of rows) insert.run(r);
  });
  let n = 0;
  let rows: [string, number, string][] = [];
  const buf = Buffer.allocUnsafe(256 * 1024);
  for (const name of readdirSync(eventsDir).filter((x) => x.endsWith('.ndjson'))) {
    const fd = openSync(join(eventsDir, name), 'r');
    let pos = 0;
    let carry = Buffer.alloc(0);
    for (;;) {
      const got = readSync(fd, buf, 0, buf.length, pos);
      if (got === 0) break;
      pos += got;
      const chunk = carry.length ? Buffer.concat([carry, buf.subarray(0, got)]) : buf.subarray(0, got);
      let start = 0;
      for (let nl = chunk.indexOf(10, start); nl >= 0; nl = chunk.indexOf(10, start)) {
        const text = chunk.toString('utf8', start, nl);
        start = nl + 1;
        const o = JSON.parse(text) as { t: string; event_id: string; ts: number };
        if (o.t !== 'call') continue;
        rows.push([o.event_id, o.ts, text]);
        if (rows.length >= BATCH) {
          tx(rows);
          n += rows.length;
          rows = [];
        }
      }
      carry = Buffer.from(chunk.subarray(start));
    }
    closeSync(fd);
  }
  tx(rows);
  n += rows.length;
  db.close();
  const secs = (performance.now() - t0) / 1000;
  if (n !== EVENTS) throw new Error(`bare minimum stored ${n} of ${EVENTS}`);
  return EVENTS / secs;
}

async function endToEnd(home: string): Promise<{ rate: number; pipeline: Pipeline }> {
  const p = new Pipeline({ home, pricer, tailer: { retention: 'keep', watch: false, maxBatchLines: BATCH, pollIntervalMs: 200 } });
  const t0 = performance.now();
  await p.start();
  while (p.health().eventsInserted < EVENTS) await new Promise((r) => setTimeout(r, 5));
  const secs = (performance.now() - t0) / 1000;
  return { rate: EVENTS / secs, pipeline: p };
}

const root = mkdtempSync(join(tmpdir(), 'claudescope-bench-'));
try {
  const home = join(root, 'home');
  mkdirSync(join(home, 'events'), { recursive: true });
  const bytes = writeFiles(join(home, 'events'));
  console.log(`events: ${EVENTS} in ${FILES} files, ${(bytes / 1e6).toFixed(1)} MB (${Math.round(bytes / EVENTS)} B/event)`);
  const bare = bareMinimum(join(home, 'events'), join(root, 'bare.db'));
  console.log(`bare minimum (read, split, JSON.parse, INSERT with unique index): ${Math.round(bare).toLocaleString('en')} events/s`);
  const { rate, pipeline } = await endToEnd(home);
  console.log(`end to end (tail, validate, price, rows + rollups + checkpoints): ${Math.round(rate).toLocaleString('en')} events/s`);
  console.log(`ratio end-to-end / bare minimum: ${((rate / bare) * 100).toFixed(1)} %`);
  // The query set: as many calls again, spread over 24 h (stored directly, not timed).
  const now = Date.now();
  const store = pipeline.store!;
  for (let i = 0; i < EVENTS; i += BATCH) {
    const calls = Array.from({ length: Math.min(BATCH, EVENTS - i) }, (_, k) => {
      const e = makeEvent(i + k, now, 86_400_000);
      return { event: e, raw: JSON.stringify(e), price: pricer.price(e) };
    });
    store.commitBatch({ calls, checkpoints: [], emitterStats: [] });
  }
  const q = pipeline.query;
  const runQuery = () => q.aggregate({ window: { start: now - 86_400_000, end: now }, filter: { model: 'claude-sonnet-4-5' }, aggregates: { p99: { op: 'percentile', field: 'duration_ms', p: 99 }, n: { op: 'count' } } });
  await runQuery();
  const t0 = performance.now();
  const reps = 5;
  let res;
  for (let i = 0; i < reps; i++) res = await runQuery();
  console.log(`window query (p99 duration of one model over 24 h, ${2 * EVENTS} calls stored, half over 24 h): ${((performance.now() - t0) / reps).toFixed(1)} ms; result ${JSON.stringify(res?.[0]?.values)}`);
  await pipeline.stop();
} finally {
  rmSync(root, { recursive: true, force: true });
}
