// Throughput of the emitter's file writer against a raw baseline, in one process.
//   node --import=tsx scripts/bench-writer.ts [events]
// Writer: write() of N call events in bursts of 500 with the event loop turning between
// bursts (as in an app), then await close(). The same run gives the
// app's cost per event: the write() calls themselves (the request path), and the event loop's
// busy time until close (write() plus the writer's later work on the app's thread: chunks,
// write callbacks, the GC they cause).
// Baseline: the same events pre-serialised, appended with fs.writeSync in 64 KiB chunks
// (the disk's cost without serialisation or buffering). The writer's own encoder alone (into
// one buffer) is its floor. JSON.stringify alone, and with a UTF-8 encode into a buffer, is
// what a writer built on JSON.stringify pays at the least (this one was, before its encoder).
// Prints events/s, µs/event and ratios, with the load.
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { CallEventEncoder, JsonBytes } from '../src/emitter/call-event-json.js';
import { EventWriter } from '../src/emitter/file-writer.js';
import { callEvent } from '../test/emitter/file-writer-helpers.js';

const N = Number(process.argv[2] ?? 200_000);
const ROUNDS = 3;
const BURST = 500;
const dir = mkdtempSync(join(tmpdir(), 'cs-bench-'));

/** A lighter ~1.3 KB event: no rate limits, one attempt. */
function smallEvent(i: number): ReturnType<typeof callEvent> {
  const e = callEvent(i);
  e.rate_limits = null;
  e.attempt_log = e.attempt_log.slice(1);
  e.attempts = 1;
  return e;
}

interface WriterRun {
  /** Events/s from the first write() to the end of close(). */
  perSecond: number;
  /** µs per event inside write() calls. */
  callUs: number;
  /** µs per event of the event loop's busy time, close included. */
  threadUs: number;
}

async function benchWriter(make: (i: number) => ReturnType<typeof callEvent>, round: number): Promise<WriterRun> {
  const events = Array.from({ length: N }, (_, i) => make(i));
  // No drops: the buffer may hold whatever the disk has not taken yet.
  const writer = new EventWriter({ dir: join(dir, `w${round}`), app: 'bench', maxBufferBytes: 2 ** 31 - 1, maxFileBytes: 2 ** 40, maxDirBytes: 2 ** 40 });
  const elu = performance.eventLoopUtilization();
  const start = process.hrtime.bigint();
  let inCalls = 0n;
  // Like an app: bursts of calls, with the event loop turning between them.
  for (let i = 0; i < N; i += BURST) {
    const burstStart = process.hrtime.bigint();
    for (let j = i; j < Math.min(N, i + BURST); j++) writer.write(events[j] as ReturnType<typeof callEvent>);
    inCalls += process.hrtime.bigint() - burstStart;
    await new Promise((r) => setImmediate(r));
  }
  await writer.close();
  const s = Number(process.hrtime.bigint() - start) / 1e9;
  const busyMs = performance.eventLoopUtilization(elu).active;
  const st = writer.stats();
  if (st.events_written !== N) throw new Error(`writer kept ${st.events_written} of ${N}`);
  return { perSecond: N / s, callUs: Number(inCalls) / 1e3 / N, threadUs: (busyMs * 1e3) / N };
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

/**
 * JSON.stringify alone: the floor any NDJSON writer of these events pays. With `encode`, each
 * line is also written as UTF-8 into one reused buffer: the floor of any writer that puts
 * the line on disk. JSON.stringify returns a string of concatenated parts (a cons string),
 * which V8 copies into one flat string before it can encode it: `.length` alone never does.
 */
function benchStringify(make: (i: number) => ReturnType<typeof callEvent>, encode: boolean): number {
  const events = Array.from({ length: N }, (_, i) => make(i));
  const buf = Buffer.allocUnsafe(64 * 1024);
  let off = 0;
  let n = 0;
  const start = process.hrtime.bigint();
  for (let i = 0; i < N; i++) {
    const e = events[i] as ReturnType<typeof callEvent>;
    e.seq = i + 1;
    const line = JSON.stringify(e);
    if (!encode) {
      n += line.length;
      continue;
    }
    if (off + 3 * line.length >= buf.length) off = 0;
    off += buf.write(line, off, 'utf8') + 1;
    n++;
  }
  const s = Number(process.hrtime.bigint() - start) / 1e9;
  if (n === 0) throw new Error('unreachable');
  return N / s;
}

/** Events/s of the writer's encoder alone, each line into the same 64 KiB buffer. */
function benchEncoder(make: (i: number) => ReturnType<typeof callEvent>): number {
  const events = Array.from({ length: N }, (_, i) => make(i));
  const encoder = new CallEventEncoder();
  const out = new JsonBytes();
  const buf = Buffer.allocUnsafe(64 * 1024);
  let n = 0;
  const start = process.hrtime.bigint();
  for (let i = 0; i < N; i++) {
    out.begin(buf, 0);
    encoder.encode(out, events[i] as ReturnType<typeof callEvent>, i + 1);
    n += out.pos;
  }
  const s = Number(process.hrtime.bigint() - start) / 1e9;
  if (n === 0) throw new Error('unreachable');
  return N / s;
}

const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');
const load = (): string => loadavg().map((x) => x.toFixed(2)).join(', ');
try {
  console.log(`load average before: ${load()}`);
  for (const [label, make] of [
    ['~1.7 KB event (2 attempts, rate limits)', callEvent],
    ['~1.3 KB event (1 attempt, no rate limits)', smallEvent],
  ] as const) {
    const bytes = Buffer.byteLength(JSON.stringify({ ...make(1), seq: 1 })) + 1;
    let best = { writer: 0, call: Infinity, thread: Infinity, base: 0, own: 0, json: 0, encoded: 0 };
    const writerRuns: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      const w = await benchWriter(make, r);
      writerRuns.push(w.perSecond);
      best = {
        writer: Math.max(best.writer, w.perSecond),
        call: Math.min(best.call, w.callUs),
        thread: Math.min(best.thread, w.threadUs),
        base: Math.max(best.base, benchBaseline(make, r)),
        own: Math.max(best.own, benchEncoder(make)),
        json: Math.max(best.json, benchStringify(make, false)),
        encoded: Math.max(best.encoded, benchStringify(make, true)),
      };
      rmSync(dir, { recursive: true, force: true });
    }
    const ownUs = 1e6 / best.own;
    const us = (perSecond: number): string => `${(1e6 / perSecond).toFixed(2)} µs/event`;
    console.log(`${label}: ${bytes} bytes/line, ${N} events, best of ${ROUNDS}`);
    console.log(`  writer (write() + close, to disk): ${fmt(best.writer)} events/s (${(best.writer * bytes / 2 ** 20).toFixed(0)} MiB/s; rounds ${writerRuns.map(fmt).join(', ')})`);
    console.log(`  its encoder alone (floor):        ${fmt(best.own)} events/s (${us(best.own)})`);
    console.log(`  JSON.stringify alone:             ${fmt(best.json)} events/s (${us(best.json)})`);
    console.log(`  JSON.stringify + UTF-8 encoding:  ${fmt(best.encoded)} events/s (${us(best.encoded)})`);
    console.log(`  baseline writeSync 64 KiB chunks: ${fmt(best.base)} events/s`);
    console.log(`  app's thread per event: ${best.call.toFixed(2)} µs in write(), ${best.thread.toFixed(2)} µs busy in all (floor ${ownUs.toFixed(2)}: +${(best.thread - ownUs).toFixed(2)} µs)`);
    console.log(`  ratio writer/floor: ${(best.writer / best.own).toFixed(2)}   writer/(stringify + encoding): ${(best.writer / best.encoded).toFixed(2)}   writer/baseline: ${(best.writer / best.base).toFixed(2)}   goal >= 200,000 events/s: ${best.writer >= 200_000 ? 'met' : 'NOT met'}`);
  }
  console.log(`load average after: ${load()}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
