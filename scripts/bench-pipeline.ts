/**
 * Ingestion benchmark. Prints numbers, each next to the baseline measured in the same run and
 * the ratio; asserts nothing.
 *
 * 1. Throughput: events per second from event files into the SQLite store, end to end
 *    (tailer → validate → price → rows + rollups + checkpoints), against the bare minimum
 *    (read the files, split lines, JSON.parse, one prepared INSERT per row into a table with the
 *    same unique index, in batched transactions), with SQLite's default settings and again with
 *    the store's own page size and checkpoint interval. Once with a live backlog (times over
 *    10 minutes, each file in random time order: the worst case for the unique index, whose
 *    entries then land all over its recent pages), again with the daemon's metrics counting
 *    each call (against the run without), again (both it and the bare minimum) with each file
 *    in time order as emitters write them, and once with times spread over 24 h (almost every
 *    event its own rollup row).
 * 2. Visibility: p99 time from a line being appended (by another process, at ~1,000 events/s)
 *    until a query from a third process sees it, the daemon stand-in running the default tailer
 *    settings; baseline the 1 s goal. With it, what the stand-in spends meanwhile (commits, CPU,
 *    bytes written to storage), against two baselines in the same run: random (version 4) event
 *    ids with a commit per read, as before, and time-ordered ids with a commit per read.
 * 3. Scale: `big` calls (default 10 million) bulk-seeded straight into the tables by
 *    scripts/bench-seed.ts (rows with a short `event_json`, per-minute rollups built from the rows
 *    by SQL, the coarser levels from those; 3 models and features in equal shares), then the 24 h window query (p99 duration of one model; windows ending over 2 minutes) against the exact answer read from the rows, and the RSS of a
 *    daemon stand-in process that opens that store, ingests `events` more calls from files and
 *    answers the query, against its RSS before opening the store. Then the daemon's own process
 *    (the built CLI as `npm start` runs it, so `npm run build` first; skipped without a build)
 *    on that store ingests `events` more from new files and answers the dashboard's summary
 *    over 24 h over HTTP; its RSS against the stand-in's.
 *
 * Run: node --import tsx scripts/bench-pipeline.ts [events=200000] [files=8] [big=10000000] [parts=123]
 * (`big=0` skips part 3; `parts` picks the parts to run; ROUNDS, default 3, the rounds of part 1).
 */
import { mkdtempSync, mkdirSync, writeFileSync, readdirSync, openSync, readSync, closeSync, rmSync, readFileSync, copyFileSync, cpSync, existsSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { tmpdir, hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { randomUUID } from 'node:crypto';
import Database from 'better-sqlite3';
import { Pipeline, type CommitObserver } from '../src/daemon/pipeline.js';
import { createMetrics } from '../src/metrics/index.js';
import { SqliteStore } from '../src/store/sqlite-store.js';
import type { AggregateQuery } from '../src/store/types.js';
import type { CallEvent } from '../src/event/types.js';
import type { Pricer, PriceResult } from '../src/pricing/types.js';
import { bulkSeed, uniform } from './bench-seed.js';
import { newEventId } from '../src/emitter/event-id.js';

const SELF = fileURLToPath(import.meta.url);
const BATCH = 4000;
const DAY_MS = 86_400_000;
/** Ingested events are timed over the last 10 minutes, as a busy app's backlog would be. */
const DENSE_SPAN_MS = 600_000;
const VISIBILITY_RATE = 1000;
const VISIBILITY_SECONDS = 10;
const QUERY_REPS = 40;
const MB = 1024 * 1024;

const pricer: Pricer = {
  version: 'bench',
  price(e: CallEvent): PriceResult {
    const u = e.usage;
    const nano = u ? u.input_tokens * 3000 + u.output_tokens * 15000 + u.cache_read_input_tokens * 300 : 0;
    return { cost_usd: nano / 1e9, cost_nanousd: nano, cost_without_cache_usd: nano / 1e9, cost_without_cache_nanousd: nano, parts: [], pricing_version: 'bench', priced: true, model: e.model, provider: e.provider, flags: [] };
  },
};

const MODELS = ['claude-sonnet-4-5', 'claude-haiku-4-5', 'claude-opus-4-1'] as const;
const FEATURES = ['chat', 'search', 'summarise'] as const;

/** `spanMs`: the period the events' times spread over, ending now. */
function makeEvent(i: number, now: number, spanMs = DENSE_SPAN_MS): CallEvent {
  const ts = now - Math.floor(Math.random() * spanMs);
  return {
    t: 'call', v: 1, event_id: newEventId(ts), seq: i + 1, ts, ts_start: ts - 900, app: 'bench', env: 'prod', host: hostname(), pid: 4242,
    tags: { feature: FEATURES[i % 3]! }, provider: 'anthropic', operation: 'messages.create',
    model_requested: 'claude-sonnet-4-5', model: MODELS[i % 3]!, stream: i % 2 === 0,
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

const headerLine = (f: number): string => JSON.stringify({ t: 'header', v: 1, file_id: randomUUID(), app: 'bench', host: hostname(), pid: 4242, started_at: new Date().toISOString(), file_seq: f, emitter: { name: 'bench', version: '0' } });

/**
 * Writes `events` calls into `files` files. Each file's calls are in random time order over
 * `spanMs` unless `inTimeOrder`: the order an emitter writes them in (each at its end, with an
 * id that begins with that time), so that each file's ids grow as the lines go.
 */
function writeFiles(dir: string, events: number, files: number, spanMs: number, inTimeOrder = false): number {
  const now = Date.now();
  let bytes = 0;
  const per = Math.ceil(events / files);
  for (let f = 0; f < files; f++) {
    const lines = [headerLine(f)];
    const calls: CallEvent[] = [];
    for (let i = f * per; i < Math.min(events, (f + 1) * per); i++) calls.push(makeEvent(i, now, spanMs));
    if (inTimeOrder) calls.sort((a, b) => a.ts - b.ts);
    for (const c of calls) lines.push(JSON.stringify(c));
    const text = `${lines.join('\n')}\n`;
    bytes += Buffer.byteLength(text);
    writeFileSync(join(dir, `bench-${f}.ndjson`), text);
  }
  return bytes;
}

/** The bare minimum; `pragmas` run before the table is created. */
function bareMinimum(eventsDir: string, dbPath: string, expected: number, pragmas: string[]): number {
  const t0 = performance.now();
  const db = new Database(dbPath);
  for (const p of pragmas) db.pragma(p);
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
  if (n !== expected) throw new Error(`bare minimum stored ${n} of ${expected}`);
  return expected / secs;
}

/** The daemon's metrics hook: each transaction's calls counted into pending metrics, applied once it committed. */
function daemonMetrics(): () => CommitObserver {
  const metrics = createMetrics({ processMetrics: false });
  return () => {
    const pending = metrics.claude.pending();
    return { add: (c) => metrics.claude.stage(pending, c), commit: () => metrics.claude.apply(pending) };
  };
}

async function endToEnd(home: string, expected: number, withMetrics = false): Promise<number> {
  const p = new Pipeline({
    home, pricer, tailer: { retention: 'keep', watch: false, maxBatchLines: BATCH, pollIntervalMs: 200 },
    ...(withMetrics ? { observeCommits: daemonMetrics() } : {}),
  });
  const t0 = performance.now();
  await p.start();
  while (p.health().eventsInserted < expected) await new Promise((r) => setTimeout(r, 5));
  // Done when every rollup level is, too: the coarse levels folded from the per-minute one.
  p.store!.foldRollups();
  const secs = (performance.now() - t0) / 1000;
  await p.stop();
  return expected / secs;
}

const windowQuery = (now: number): AggregateQuery => ({
  window: { start: now - DAY_MS, end: now }, filter: { model: MODELS[0] },
  aggregates: { p99: { op: 'percentile', field: 'duration_ms', p: 99 }, n: { op: 'count' } },
});

function pct(sorted: number[], p: number): number {
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
}

/**
 * Milliseconds of each of `reps` runs of the window query, after one warm-up. Each run ends its
 * window 3.001 s earlier than the one before, so that the partial minutes at the window's edges
 * (read from the rows: what a query costs most for) take every size over the runs.
 */
/** `live`: every window ends at the time it is asked (a dashboard's), not over the 2 minutes before `now`. */
async function timeQuery(store: SqliteStore, now: number, reps: number, live = false): Promise<{ ms: number[]; values: Record<string, number | null> | undefined }> {
  const res = await store.aggregate(windowQuery(now));
  const ms: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await store.aggregate(windowQuery(live ? Date.now() : now - i * 3001));
    ms.push(performance.now() - t0);
  }
  return { ms: ms.sort((a, b) => a - b), values: res[0]?.values };
}

interface Mem { rss: number; peak: number; heapUsed: number; heapTotal: number; external: number }

/** Bytes this process has caused to be written to storage (Linux; NaN elsewhere). */
function writtenBytes(): number {
  try {
    return Number(/write_bytes: (\d+)/.exec(readFileSync('/proc/self/io', 'utf8'))?.[1] ?? NaN);
  } catch {
    return NaN;
  }
}

function rssMb(): Mem {
  const m = process.memoryUsage();
  const js = { heapUsed: m.heapUsed / MB, heapTotal: m.heapTotal / MB, external: m.external / MB };
  try {
    const s = readFileSync('/proc/self/status', 'utf8');
    const kb = (k: string): number => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(s)?.[1] ?? NaN) / 1024;
    return { rss: kb('VmRSS'), peak: kb('VmHWM'), ...js };
  } catch {
    return { rss: m.rss / MB, peak: NaN, ...js };
  }
}

// ---------------------------------------------------------------------------------------------
// The daemon stand-in: a child process running the pipeline with the daemon's tailer defaults.

type ChildMsg =
  | { kind: 'ready'; before: Mem; after: Mem }
  | { kind: 'health'; inserted: number; mem: Mem; batches: number; cpuMs: number; writtenBytes: number }
  | { kind: 'query'; ms: number[]; values: Record<string, number | null> | undefined; mem: Mem };

async function daemonChild(home: string): Promise<void> {
  const before = rssMb();
  // BENCH_TAILER: JSON tailer options to try (the daemon's defaults otherwise).
  const tailer = JSON.parse(process.env['BENCH_TAILER'] ?? '{}') as Record<string, unknown>;
  // As the daemon: its metrics count each call while its transaction is open, applied once it committed.
  const p = new Pipeline({ home, pricer, tailer: { retention: 'keep', ...tailer }, observeCommits: daemonMetrics() });
  await p.start();
  const send = (m: ChildMsg): void => void process.send?.(m);
  process.on('message', (m: { cmd: string; now?: number; live?: boolean }) => {
    if (m.cmd === 'health') {
      const h = p.health();
      const cpu = process.cpuUsage();
      send({ kind: 'health', inserted: h.eventsInserted, mem: rssMb(), batches: h.batchesCommitted, cpuMs: (cpu.user + cpu.system) / 1000, writtenBytes: writtenBytes() });
    }
    else if (m.cmd === 'query') void timeQuery(p.store!, m.now ?? Date.now(), QUERY_REPS, m.live === true).then((q) => send({ kind: 'query', ...q, mem: rssMb() }));
    else if (m.cmd === 'stop') void p.stop().then(() => process.exit(0));
  });
  send({ kind: 'ready', before, after: rssMb() });
}

/**
 * This script bundled as plain JavaScript, so the daemon stand-in runs without the TypeScript
 * loader (which alone adds ~40 MB of RSS the real, compiled daemon does not have). The native
 * better-sqlite3 stays external, imported from this checkout; the event schema is copied along.
 */
async function bundleSelf(dir: string): Promise<string> {
  const { build } = await import('esbuild');
  const sqlite = createRequire(import.meta.url).resolve('better-sqlite3');
  const out = join(dir, 'bench-daemon.mjs');
  await build({
    entryPoints: [SELF], outfile: out, bundle: true, platform: 'node', format: 'esm', target: 'node20', logLevel: 'error',
    banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
    plugins: [{ name: 'native-external', setup(b) { b.onResolve({ filter: /^better-sqlite3$/ }, () => ({ path: sqlite, external: true })); } }],
  });
  copyFileSync(join(dirname(SELF), '..', 'src', 'event', 'event.schema.json'), join(dir, 'event.schema.json'));
  return out;
}

class Child {
  readonly proc: ChildProcess;
  private waiters: ((m: ChildMsg) => void)[] = [];
  /** `bundle`: run this plain-JS file instead of this script through tsx; `tailer`: tailer options to try. */
  constructor(home: string, bundle?: string, tailer?: Record<string, unknown>) {
    const args = bundle ? [bundle, '--daemon', home] : ['--import', 'tsx', SELF, '--daemon', home];
    // The bundle sits outside this checkout: the store loads better-sqlite3 lazily (by a
    // `require` the bundler cannot see), so it is found through NODE_PATH.
    const modules = dirname(dirname(createRequire(import.meta.url).resolve('better-sqlite3/package.json')));
    const env = { ...process.env, ...(bundle ? { NODE_PATH: modules } : {}), ...(tailer ? { BENCH_TAILER: JSON.stringify(tailer) } : {}) };
    this.proc = spawn(process.execPath, args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], env });
    this.proc.on('message', (m: ChildMsg) => this.waiters.shift()?.(m));
  }
  next<K extends ChildMsg['kind']>(kind: K, cmd?: Record<string, unknown>): Promise<Extract<ChildMsg, { kind: K }>> {
    return new Promise((resolve, reject) => {
      this.waiters.push((m) => (m.kind === kind ? resolve(m as Extract<ChildMsg, { kind: K }>) : reject(new Error(`expected ${kind}, got ${m.kind}`))));
      if (cmd) this.proc.send(cmd);
    });
  }
  async stop(): Promise<void> {
    const exited = once(this.proc, 'exit');
    this.proc.send({ cmd: 'stop' });
    await exited;
  }
}

/**
 * Appends `rate` events/s for `seconds` through an open descriptor, each stamped with its append
 * time, with ids as the emitter makes them (time-ordered, src/emitter/event-id.ts) or random
 * (version 4) ones.
 */
const WRITER_SRC = `
const fs = require('node:fs'); const { randomUUID } = require('node:crypto');
const [path, tmpl, rate, seconds, randomIds] = [process.argv[1], JSON.parse(process.argv[2]), Number(process.argv[3]), Number(process.argv[4]), process.argv[6] === 'random'];
const timeId = (ms) => { const h = ms.toString(16).padStart(12, '0'); return h.slice(0, 8) + '-' + h.slice(8) + '-7' + randomUUID().slice(15); };
const fd = fs.openSync(path, 'a', 0o600);
fs.writeSync(fd, process.argv[5] + '\\n');
const total = rate * seconds; const t0 = Date.now(); let n = 0;
const tick = () => {
  const due = Math.min(total, Math.floor(((Date.now() - t0) / 1000) * rate));
  let out = '';
  for (; n < due; n++) { const ts = Date.now(); out += JSON.stringify({ ...tmpl, event_id: randomIds ? randomUUID() : timeId(ts), seq: n + 1, ts, ts_start: ts - 900 }) + '\\n'; }
  if (out) fs.writeSync(fd, out);
  if (n < total) setTimeout(tick, 2); else fs.closeSync(fd);
};
tick();
`;

interface Visibility {
  p50: number;
  p99: number;
  max: number;
  n: number;
  /**
   * The daemon stand-in's batches committed, CPU (ms per s) and bytes written to storage (per s
   * and per event; /proc/self/io `write_bytes`: pages dirtied for writeback) while the lines came.
   */
  batchesPerSecond: number;
  cpuMsPerSecond: number;
  writtenMBPerSecond: number;
  writtenKBPerEvent: number;
}

async function visibility(root: string, ids: 'time' | 'random', tailer?: Record<string, unknown>): Promise<Visibility> {
  const home = join(root, 'vis');
  rmSync(home, { recursive: true, force: true });
  mkdirSync(join(home, 'events'), { recursive: true });
  const child = new Child(home, undefined, tailer);
  await child.next('ready');
  const total = VISIBILITY_RATE * VISIBILITY_SECONDS;
  const h0 = await child.next('health', { cmd: 'health' });
  const t0 = performance.now();
  const writer = spawn(process.execPath, ['-e', WRITER_SRC, join(home, 'events', 'vis.ndjson'), JSON.stringify(makeEvent(0, Date.now())), String(VISIBILITY_RATE), String(VISIBILITY_SECONDS), headerLine(0), ids], { stdio: 'inherit' });
  const writerExited = once(writer, 'exit');
  const reader = SqliteStore.open({ path: join(home, 'data', 'claudescope.db'), readonly: true });
  const poll = reader.db.prepare('SELECT id, ts FROM calls WHERE id > ? ORDER BY id');
  const lat: number[] = [];
  let last = 0;
  const deadline = Date.now() + VISIBILITY_SECONDS * 1000 + 30_000;
  while (lat.length < total && Date.now() < deadline) {
    const now = Date.now();
    for (const r of poll.all(last) as { id: number; ts: number }[]) {
      lat.push(now - r.ts);
      last = r.id;
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  reader.close();
  await writerExited;
  const h1 = await child.next('health', { cmd: 'health' });
  const secs = (performance.now() - t0) / 1000;
  await child.stop();
  lat.sort((a, b) => a - b);
  return {
    p50: pct(lat, 50), p99: pct(lat, 99), max: lat[lat.length - 1] ?? NaN, n: lat.length,
    batchesPerSecond: (h1.batches - h0.batches) / secs, cpuMsPerSecond: (h1.cpuMs - h0.cpuMs) / secs,
    writtenMBPerSecond: (h1.writtenBytes - h0.writtenBytes) / MB / secs, writtenKBPerEvent: (h1.writtenBytes - h0.writtenBytes) / 1024 / lat.length,
  };
}

/** The exact p99 (nearest rank) and count, read from the rows: what the rollups replace. */
function exactFromRows(store: SqliteStore, now: number): { ms: number; p99: number; n: number } {
  const t0 = performance.now();
  const d = (store.db.prepare('SELECT duration_ms FROM calls WHERE ts >= ? AND ts < ? AND model = ?').pluck().all(now - DAY_MS, now, MODELS[0]) as number[]);
  const sorted = Float64Array.from(d).sort();
  const p99 = sorted[Math.max(0, Math.ceil(0.99 * sorted.length) - 1)] ?? NaN;
  return { ms: performance.now() - t0, p99, n: sorted.length };
}

const fmt = (x: number): string => Math.round(x).toLocaleString('en');
const f1 = (x: number): string => x.toFixed(1);

async function main(): Promise<void> {
  const EVENTS = Number(process.argv[2] ?? 200_000);
  const FILES = Number(process.argv[3] ?? 8);
  const BIG = Number(process.argv[4] ?? 10_000_000);
  const PARTS = process.argv[5] ?? '123';
  const root = mkdtempSync(join(tmpdir(), 'claudescope-bench-'));
  try {
    if (PARTS.includes('1')) await throughput(root, EVENTS, FILES);
    if (PARTS.includes('2')) {
      // Baselines: random ids and a commit per read (as before), then the ids alone.
      const runs: [string, Visibility][] = [
        ['random ids, a commit per read', await visibility(root, 'random', { batchIntervalMs: 0 })],
        ['time-ordered ids, a commit per read', await visibility(root, 'time', { batchIntervalMs: 0 })],
        ['time-ordered ids, the daemon defaults', await visibility(root, 'time', {})],
      ];
      const [base] = runs[0]!;
      for (const [label, v] of runs) {
        console.log(`visibility at ${VISIBILITY_RATE} events/s for ${VISIBILITY_SECONDS} s, ${label} (append → seen by another process's query), ${v.n} events: p50 ${fmt(v.p50)} ms, p99 ${fmt(v.p99)} ms, max ${fmt(v.max)} ms; p99 ratio to the 1,000 ms goal ${f1((v.p99 / 1000) * 100)} %`);
        const b = runs[0]![1];
        console.log(`  daemon stand-in meanwhile: ${f1(v.batchesPerSecond)} batches committed/s, CPU ${fmt(v.cpuMsPerSecond)} ms/s, written to storage ${f1(v.writtenMBPerSecond)} MB/s (${f1(v.writtenKBPerEvent)} KB per event); ratio to "${base}": CPU ${f1((v.cpuMsPerSecond / b.cpuMsPerSecond) * 100)} %, writes ${f1((v.writtenMBPerSecond / b.writtenMBPerSecond) * 100)} %`);
      }
      rmSync(join(root, 'vis'), { recursive: true, force: true });
    }
    if (PARTS.includes('3') && BIG > 0) await scale(root, EVENTS, FILES, BIG);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

/**
 * Part 1. The variants run in `ROUNDS` rounds (default 3), each round in a rotated order and on
 * fresh copies of the files and stores, so that a slow spell of a shared machine falls on every
 * variant alike; rates are medians over rounds, ratios medians of the ratios paired per round.
 */
async function throughput(root: string, EVENTS: number, FILES: number): Promise<void> {
  const source = join(root, 'source-events');
  mkdirSync(source, { recursive: true });
  const bytes = writeFiles(source, EVENTS, FILES, DENSE_SPAN_MS);
  // The same span with each file in time order, as emitters write them.
  const ordered = join(root, 'source-ordered');
  mkdirSync(ordered, { recursive: true });
  writeFiles(ordered, EVENTS, FILES, DENSE_SPAN_MS, true);
  const rounds = Math.max(1, Number(process.env['ROUNDS'] ?? 3));
  console.log(`events: ${EVENTS} in ${FILES} files, ${(bytes / 1e6).toFixed(1)} MB (${Math.round(bytes / EVENTS)} B/event); ${rounds} round(s), each variant once a round in a rotated order`);
  // A fresh folder for a variant's run (with a copy of the files for the pipeline, which keeps its checkpoints there).
  const fresh = (name: string, events: boolean, from = source): string => {
    const dir = join(root, name);
    rmSync(dir, { recursive: true, force: true });
    if (events) cpSync(from, join(dir, 'events'), { recursive: true });
    else mkdirSync(dir, { recursive: true });
    return dir;
  };
  const variants: Record<string, () => Promise<number>> = {
    bare: async () => bareMinimum(source, join(fresh('run', false), 'bare.db'), EVENTS, []),
    bareTuned: async () => bareMinimum(source, join(fresh('run', false), 'bare.db'), EVENTS, ['page_size = 8192', 'wal_autocheckpoint = 4000']),
    e2e: () => endToEnd(fresh('run', true), EVENTS),
    e2eMetrics: () => endToEnd(fresh('run', true), EVENTS, true),
    bareInOrder: async () => bareMinimum(ordered, join(fresh('run', false), 'bare.db'), EVENTS, []),
    e2eInOrder: () => endToEnd(fresh('run', true, ordered), EVENTS),
  };
  const names = Object.keys(variants);
  const rates: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < names.length; i++) {
      const n = names[(i + r) % names.length]!;
      rates[n]!.push(await variants[n]!());
      rmSync(join(root, 'run'), { recursive: true, force: true });
    }
    console.log(`  round ${r + 1}: ${names.map((n) => `${n} ${fmt(rates[n]![r]!)}`).join(', ')} events/s`);
  }
  const med = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const ratio = (a: string, b: string): string => f1(med(rates[a]!.map((x, i) => x / rates[b]![i]!)) * 100);
  console.log(`bare minimum (read, split, JSON.parse, INSERT with unique index), SQLite defaults: ${fmt(med(rates['bare']!))} events/s`);
  console.log(`bare minimum with the store's page size and checkpoint interval: ${fmt(med(rates['bareTuned']!))} events/s`);
  console.log(`end to end (tail, validate, price, rows + rollups + checkpoints), times over 10 min: ${fmt(med(rates['e2e']!))} events/s; ratio ${ratio('e2e', 'bare')} % of the bare minimum, ${ratio('e2e', 'bareTuned')} % of the tuned bare minimum (medians of the ratios paired per round)`);
  console.log(`the same with the daemon's metrics counting each call: ${fmt(med(rates['e2eMetrics']!))} events/s; ratio ${ratio('e2eMetrics', 'bare')} % of the bare minimum, ${ratio('e2eMetrics', 'e2e')} % of end to end without them`);
  console.log(`files in time order, as emitters write them: bare minimum ${fmt(med(rates['bareInOrder']!))} events/s, end to end ${fmt(med(rates['e2eInOrder']!))} events/s; ratio ${ratio('e2eInOrder', 'bareInOrder')} % of that bare minimum, ${ratio('e2eInOrder', 'e2e')} % of end to end over files in random time order`);
  const spreadHome = join(root, 'spread');
  mkdirSync(join(spreadHome, 'events'), { recursive: true });
  writeFiles(join(spreadHome, 'events'), EVENTS, FILES, DAY_MS);
  const spread = await endToEnd(spreadHome, EVENTS);
  console.log(`end to end, times over 24 h (a rollup row per event, nearly), once: ${fmt(spread)} events/s; ratio ${f1((spread / med(rates['bare']!)) * 100)} % / ${f1((spread / med(rates['bareTuned']!)) * 100)} % of the median bare minimums`);
  rmSync(source, { recursive: true, force: true });
  rmSync(ordered, { recursive: true, force: true });
  rmSync(spreadHome, { recursive: true, force: true });
}

async function scale(root: string, EVENTS: number, FILES: number, BIG: number): Promise<void> {
  const bigHome = join(root, 'big');
  mkdirSync(join(bigHome, 'events'), { recursive: true });
  mkdirSync(join(bigHome, 'data'), { recursive: true });
  const dbPath = join(bigHome, 'data', 'claudescope.db');
  const now = Date.now();
  let t0 = performance.now();
  bulkSeed(dbPath, { calls: BIG, from: now - DAY_MS, to: now, models: uniform(MODELS), features: uniform(FEATURES) });
  console.log(`seeded ${fmt(BIG)} calls over 24 h (bench-seed.ts: rows with a short event_json, rollups from the rows) in ${f1((performance.now() - t0) / 1000)} s`);
  const store = SqliteStore.open({ path: dbPath });
  const q = await timeQuery(store, now, QUERY_REPS);
  const exact = exactFromRows(store, now);
  store.close();
  console.log(`window query with ${fmt(BIG)} calls stored (p99 duration of one model over 24 h), ${QUERY_REPS} runs, windows ending over 2 min: p50 ${f1(pct(q.ms, 50))} ms, p99 ${f1(pct(q.ms, 99))} ms, max ${f1(q.ms[q.ms.length - 1] ?? NaN)} ms; baseline (exact p99 read from the rows) ${f1(exact.ms)} ms, ratio ${f1((pct(q.ms, 50) / exact.ms) * 100)} %; answer ${JSON.stringify(q.values)} vs exact ${JSON.stringify({ p99: exact.p99, n: exact.n })}`);
  writeFiles(join(bigHome, 'events'), EVENTS, FILES, DENSE_SPAN_MS);
  t0 = performance.now();
  const child = new Child(bigHome, await bundleSelf(root));
  const ready = await child.next('ready');
  let h = await child.next('health', { cmd: 'health' });
  while (h.inserted < EVENTS) {
    await new Promise((r) => setTimeout(r, 200));
    h = await child.next('health', { cmd: 'health' });
  }
  const ingestSecs = (performance.now() - t0) / 1000;
  const cq = await child.next('query', { cmd: 'query', now });
  const live = await child.next('query', { cmd: 'query', live: true });
  await child.stop();
  console.log(`daemon stand-in on ${fmt(BIG)} stored calls: ingested ${fmt(EVENTS)} more at ${fmt(EVENTS / ingestSecs)} events/s (start included); window query there (the same runs; the last minutes hold the backlog's calls, interleaved from ${FILES} files): p50 ${f1(pct(cq.ms, 50))} ms, p99 ${f1(pct(cq.ms, 99))} ms, max ${f1(cq.ms[cq.ms.length - 1] ?? NaN)} ms; windows ending as they are asked (a dashboard's): p50 ${f1(pct(live.ms, 50))} ms, p99 ${f1(pct(live.ms, 99))} ms`);
  console.log(`daemon stand-in RSS: ${f1(cq.mem.rss)} MB after ingesting and querying (peak ${f1(cq.mem.peak)} MB); baseline before opening the store ${f1(ready.before.rss)} MB (node + modules, bundled, no TypeScript loader), ratio ${f1(cq.mem.rss / ready.before.rss)}×; goal 150 MB: ${f1((cq.mem.peak / 150) * 100)} % at peak (V8 heap ${f1(cq.mem.heapUsed)} of ${f1(cq.mem.heapTotal)} MB, external ${f1(cq.mem.external)} MB)`);
  // The same again with the daemon itself, as `npm start` runs it, on new files.
  for (const f of readdirSync(join(bigHome, 'events'))) rmSync(join(bigHome, 'events', f), { force: true });
  writeFiles(join(bigHome, 'events'), EVENTS, FILES, DENSE_SPAN_MS);
  await realDaemon(bigHome, EVENTS, cq.mem.peak);
}

/** The port of a server that listened on an ephemeral port of loopback and closed. */
async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  server.close();
  await once(server, 'close');
  return port;
}

function procMb(pid: number): { rss: number; peak: number } {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string): number => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(s)?.[1] ?? NaN) / 1024;
  return { rss: kb('VmRSS'), peak: kb('VmHWM') };
}

/**
 * The daemon's own process (the built CLI, `claudescope daemon`, with the arguments `npm start`
 * gives it and the repository's rules) on the big store: ingests `events` more calls from
 * files, then answers the dashboard's summary over 24 h (latency percentiles among its
 * figures), 40 times; its RSS read from /proc, against the stand-in's peak.
 */
async function realDaemon(home: string, events: number, standInPeak: number): Promise<void> {
  const root = join(dirname(SELF), '..');
  const main = join(root, 'dist', 'src', 'cli', 'main.js');
  if (!existsSync(main)) {
    console.log('daemon process: skipped (no build: run `npm run build` first)');
    return;
  }
  const start = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).scripts.start as string;
  // `node <flags> dist/src/cli/main.js daemon`: the flags `npm start` passes to node, if any.
  const flags = start.split(/\s+/).slice(1, start.split(/\s+/).indexOf('dist/src/cli/main.js'));
  const port = await freePort();
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('CLAUDESCOPE_')));
  const t0 = performance.now();
  const child = spawn(process.execPath, [...flags, main, 'daemon', '--home', home, '--port', String(port), '--sealed-files', 'keep'], { cwd: root, env, stdio: ['ignore', 'ignore', 'inherit'] });
  const exited = once(child, 'exit');
  try {
    const base = `http://127.0.0.1:${port}`;
    let committed = 0;
    while (committed < events) {
      await new Promise((r) => setTimeout(r, 200));
      if (child.exitCode !== null) throw new Error(`the daemon exited with ${child.exitCode}`);
      committed = await fetch(`${base}/healthz`).then(async (r) => ((await r.json()) as { events_committed: number }).events_committed, () => 0);
    }
    const ingestSecs = (performance.now() - t0) / 1000;
    const now = Date.now();
    const ms: number[] = [];
    for (let i = 0; i < QUERY_REPS; i++) {
      const q0 = performance.now();
      const r = await fetch(`${base}/api/summary?to=${now - i * 3001}`);
      if (!r.ok) throw new Error(`summary: HTTP ${r.status}`);
      await r.arrayBuffer();
      ms.push(performance.now() - q0);
    }
    ms.sort((a, b) => a - b);
    const liveMs: number[] = [];
    for (let i = 0; i < QUERY_REPS; i++) {
      const q0 = performance.now();
      const r = await fetch(`${base}/api/summary`);
      if (!r.ok) throw new Error(`summary: HTTP ${r.status}`);
      await r.arrayBuffer();
      liveMs.push(performance.now() - q0);
    }
    liveMs.sort((a, b) => a - b);
    const mem = procMb(child.pid!);
    console.log(`daemon process (${['node', ...flags, 'dist/src/cli/main.js daemon'].join(' ')}) on the same store: ingested ${fmt(events)} more at ${fmt(events / ingestSecs)} events/s (start included); the dashboard's /api/summary over 24 h (spend, calls, errors, latency and TTFT percentiles…) over HTTP, ${QUERY_REPS} runs, windows ending over 2 min: p50 ${f1(pct(ms, 50))} ms, p99 ${f1(pct(ms, 99))} ms; ending now (the dashboard's default): p50 ${f1(pct(liveMs, 50))} ms, p99 ${f1(pct(liveMs, 99))} ms`);
    console.log(`daemon process RSS: ${f1(mem.rss)} MB after ingesting and answering (peak ${f1(mem.peak)} MB); ratio to the stand-in's peak ${f1((mem.peak / standInPeak) * 100)} %; goal 150 MB: ${f1((mem.peak / 150) * 100)} % at peak`);
  } finally {
    child.kill('SIGTERM');
    await exited;
  }
}

if (process.argv[2] === '--daemon') await daemonChild(process.argv[3]!);
else await main();
