// Throughput of the emitter's file writer against a raw baseline, in one process.
//   node --import=tsx scripts/bench-writer.ts [events]
// Writer: write() of N call events (one JSON.stringify each) in bursts of 500 with the event
// loop turning between bursts (as in an app), then await close().
// Baseline: the same events pre-serialised, appended with fs.writeSync in 64 KiB chunks
// (the disk's cost without serialisation or buffering). Prints events/s of both and the ratio.
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventWriter } from '../src/emitter/file-writer.js';
import { callEvent } from '../test/emitter/file-writer-helpers.js';

const N = Number(process.argv[2] ?? 200_000);
const ROUNDS = 3;
const BURST = 500;
const dir = mkdtempSync(join(tmpdir(), 'cs-bench-'));

/** A lighter ~1 KB event: no rate limits, one attempt. */
function smallEvent(i: number): ReturnType<typeof callEvent> {
  const e = callEvent(i);
  e.rate_limits = null;
  e.attempt_log = e.attempt_log.slice(1);
  e.attempts = 1;
  return e;
}

async function benchWriter(make: (i: number) => ReturnType<typeof callEvent>, round: number): Promise<number> {
  const events = Array.from({ length: N }, (_, i) => make(i));
  const writer = new EventWriter({ dir: join(dir, `w${round}`), app: 'bench', maxBufferBytes: 2 ** 31 - 1, maxFileBytes: 2 ** 40, maxDirBytes: 2 ** 40 });
  const start = process.hrtime.bigint();
  // Like an app: bursts of calls, with the event loop turning between them.
  for (let i = 0; i < N; i++) {
    writer.write(events[i] as ReturnType<typeof callEvent>);
    if (i % BURST === BURST - 1) await new Promise((r) => setImmediate(r));
  }
  await writer.close();
  const s = Number(process.hrtime.bigint() - start) / 1e9;
  const st = writer.stats();
  if (st.events_written !== N) throw new Error(`writer kept ${st.events_written} of ${N}`);
  return N / s;
}

function benchBaseline(make: (i: number) => ReturnType<typeof callEvent>, round: number): number {
  const lines = Array.from({ length: N }, (_, i) => JSON.stringify({ ...make(i), seq: i + 1 }) + '\n');
  const fd = openSync(join(dir, `base${round}.ndjson`), 'a', 0o600);
  const start = process.hrtime.bigint();
  let chunk = '';
  for (const line of lines) {
    chunk += line;
    if (chunk.length >= 64 * 1024) {
      writeSync(fd, chunk);
      chunk = '';
    }
  }
  if (chunk !== '') writeSync(fd, chunk);
  closeSync(fd);
  const s = Number(process.hrtime.bigint() - start) / 1e9;
  return N / s;
}

/** JSON.stringify alone: the floor any NDJSON writer of these events pays. */
function benchStringify(make: (i: number) => ReturnType<typeof callEvent>): number {
  const events = Array.from({ length: N }, (_, i) => make(i));
  let n = 0;
  const start = process.hrtime.bigint();
  for (let i = 0; i < N; i++) {
    const e = events[i] as ReturnType<typeof callEvent>;
    e.seq = i + 1;
    n += JSON.stringify(e).length;
  }
  const s = Number(process.hrtime.bigint() - start) / 1e9;
  if (n === 0) throw new Error('unreachable');
  return N / s;
}

/** The hot path alone: what write() costs the app per call (serialise + buffer). */
function benchWriteCall(make: (i: number) => ReturnType<typeof callEvent>, round: number): number {
  const events = Array.from({ length: N }, (_, i) => make(i));
  const writer = new EventWriter({ dir: join(dir, `c${round}`), app: 'bench', maxBufferBytes: 2 ** 31 - 1, maxFileBytes: 2 ** 40, maxDirBytes: 2 ** 40 });
  const start = process.hrtime.bigint();
  for (let i = 0; i < N; i++) writer.write(events[i] as ReturnType<typeof callEvent>);
  const s = Number(process.hrtime.bigint() - start) / 1e9;
  writer.flushSync();
  return N / s;
}

const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');
try {
  for (const [label, make] of [
    ['~1.7 KB event (2 attempts, rate limits)', callEvent],
    ['~1 KB event (1 attempt, no rate limits)', smallEvent],
  ] as const) {
    const bytes = JSON.stringify({ ...make(1), seq: 1 }).length + 1;
    let best = { writer: 0, base: 0, call: 0, json: 0 };
    for (let r = 0; r < ROUNDS; r++) {
      best = {
        writer: Math.max(best.writer, await benchWriter(make, r)),
        base: Math.max(best.base, benchBaseline(make, r)),
        call: Math.max(best.call, benchWriteCall(make, r)),
        json: Math.max(best.json, benchStringify(make)),
      };
      rmSync(dir, { recursive: true, force: true });
    }
    console.log(`${label}: ${bytes} bytes/line, ${N} events, best of ${ROUNDS}`);
    console.log(`  writer (write() + close, to disk): ${fmt(best.writer)} events/s (${(best.writer * bytes / 2 ** 20).toFixed(0)} MiB/s)`);
    console.log(`  write() call alone (app's cost):  ${fmt(best.call)} events/s (${(1e6 / best.call).toFixed(2)} µs/event)`);
    console.log(`  JSON.stringify alone (floor):     ${fmt(best.json)} events/s`);
    console.log(`  baseline writeSync 64 KiB chunks: ${fmt(best.base)} events/s`);
    console.log(`  ratio writer/baseline: ${(best.writer / best.base).toFixed(2)}   goal >= 200,000 events/s: ${best.writer >= 200_000 ? 'met' : 'NOT met'}`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
