/**
 * `npm run bench:emitter`: what the emitter costs the app, against the fake Claude API on
 * loopback, in one process with interleaved rounds (so machine noise hits every variant
 * alike), medians over rounds:
 *
 * - `bare`: the SDK as it comes;
 * - `noop-mw`: the SDK with a middleware that only calls `next` (the floor of any hook);
 * - `emitter`: the SDK with the emitter writing to a temporary folder.
 *
 * Non-streaming calls, and streams of about 200 events. Prints calls per second, p50 and p99
 * per call, and CPU per call (process user+system time / calls), with the emitter's extra CPU
 * over bare per call and per stream event. The fake API runs in a child process so its CPU
 * is not counted. Not a test: it prints numbers.
 */
import Anthropic from '@anthropic-ai/sdk';
import type { Middleware } from '@anthropic-ai/sdk';
import type { Tracer, TracerProvider } from '@opentelemetry/api';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createEmitter } from '../src/index.js';

/** A tracer whose spans say they record (so the SDK feeds them) and keep nothing. */
class DiscardingSpan {
  spanContext() {
    return { traceId: '0'.repeat(32), spanId: '0'.repeat(16), traceFlags: 0 };
  }
  setAttribute() {
    return this;
  }
  setAttributes() {
    return this;
  }
  addEvent() {
    return this;
  }
  addLink() {
    return this;
  }
  addLinks() {
    return this;
  }
  setStatus() {
    return this;
  }
  updateName() {
    return this;
  }
  end() {}
  isRecording() {
    return true;
  }
  recordException() {}
}
class DiscardingTracerProvider implements TracerProvider {
  getTracer(): Tracer {
    return {
      startSpan: () => new DiscardingSpan(),
      startActiveSpan: (() => undefined) as never,
    } as unknown as Tracer;
  }
}

const ROUNDS = Number(process.env['ROUNDS'] ?? 15);
const CALLS = Number(process.env['CALLS'] ?? 400);
const STREAM_CALLS = Number(process.env['STREAM_CALLS'] ?? 60);
const CONCURRENCY = 8;
const STREAM_DELTAS = 196; // + message_start, block start/stop, message_delta/stop ≈ 200 events

async function startApiChild(): Promise<{ url: string; stop: () => void }> {
  const here = fileURLToPath(new URL('.', import.meta.url));
  // Built layout: dist/scripts/bench-emitter.js next to dist/src/cli/main.js.
  const cli = join(here, '..', 'src', 'cli', 'main.js');
  const child = spawn(process.execPath, [cli, 'fake-api', '--port', '0', '--quiet'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      const m = /(http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    child.on('exit', (c) => reject(new Error(`fake-api exited ${c}`)));
  });
  return { url, stop: () => child.kill('SIGTERM') };
}

interface Sample {
  wallMs: number;
  cpuUs: number;
  latencies: number[];
  events: number;
}

async function runBatch(client: Anthropic, calls: number, stream: boolean): Promise<Sample> {
  const latencies: number[] = [];
  let events = 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let next = 0;
  const body = { model: 'claude-haiku-4-5', max_tokens: 64, messages: [{ role: 'user' as const, content: 'bench' }] };
  const headers = stream ? { 'x-fake-script': JSON.stringify({ stream: { textDeltas: STREAM_DELTAS } }) } : {};
  async function worker(): Promise<void> {
    while (next < calls) {
      next++;
      const s = performance.now();
      if (stream) {
        const st = await client.messages.create({ ...body, stream: true }, { headers });
        for await (const _ of st) events++;
      } else {
        await client.messages.create(body);
      }
      latencies.push(performance.now() - s);
    }
  }
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const wallMs = performance.now() - t0;
  const c = process.cpuUsage(cpu0);
  return { wallMs, cpuUs: c.user + c.system, latencies, events };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
};

async function main(): Promise<void> {
  const api = await startApiChild();
  const dir = mkdtempSync(join(tmpdir(), 'claudescope-bench-'));
  const emitter = createEmitter({ dir, app: 'bench' });
  const noop: Middleware = (req, next) => next(req);
  const clients: Record<string, Anthropic> = {
    bare: new Anthropic({ apiKey: 'bench', baseURL: api.url }),
    'noop-mw': new Anthropic({ apiKey: 'bench', baseURL: api.url, middleware: [noop] }),
    // The SDK's own tracing, fed to spans that record nothing: the floor of a design that
    // takes call boundaries from the SDK's call span.
    'sdk-span': new Anthropic({ apiKey: 'bench', baseURL: api.url, middleware: [noop], openTelemetry: { tracerProvider: new DiscardingTracerProvider(), propagation: false } }),
    emitter: emitter.instrument(new Anthropic({ apiKey: 'bench', baseURL: api.url })),
  };
  const names = Object.keys(clients);
  for (const [label, stream, calls] of [['non-streaming', false, CALLS], ['streaming (~200 events)', true, STREAM_CALLS]] as const) {
    // Warm-up: JIT and connection pools.
    for (const n of names) await runBatch(clients[n]!, Math.ceil(calls / 4), stream);
    const samples: Record<string, Sample[]> = Object.fromEntries(names.map((n) => [n, []]));
    for (let r = 0; r < ROUNDS; r++) {
      // Rotate the order each round so no variant always runs first.
      for (let i = 0; i < names.length; i++) {
        const n = names[(i + r) % names.length]!;
        samples[n]!.push(await runBatch(clients[n]!, calls, stream));
      }
    }
    console.log(`\n${label}: ${ROUNDS} rounds x ${calls} calls, concurrency ${CONCURRENCY}, medians over rounds`);
    console.log('variant    calls/s   p50 ms   p99 ms   CPU µs/call' + (stream ? '   CPU µs/event' : ''));
    const cpuPerCall: Record<string, number> = {};
    const evPerCall: Record<string, number> = {};
    for (const n of names) {
      const ss = samples[n]!;
      const rate = median(ss.map((s) => (calls / s.wallMs) * 1000));
      const p50 = median(ss.map((s) => pct(s.latencies, 50)));
      const p99 = median(ss.map((s) => pct(s.latencies, 99)));
      const cpu = median(ss.map((s) => s.cpuUs / calls));
      cpuPerCall[n] = cpu;
      evPerCall[n] = ss[0]!.events / calls;
      const perEvent = stream ? `   ${(cpu / evPerCall[n]!).toFixed(2).padStart(12)}` : '';
      console.log(`${n.padEnd(9)} ${rate.toFixed(0).padStart(8)} ${p50.toFixed(2).padStart(8)} ${p99.toFixed(2).padStart(8)} ${cpu.toFixed(1).padStart(13)}${perEvent}`);
    }
    // Differences paired within each round (the variants ran back to back), then the median
    // over rounds: slow drifts of the machine's load cancel out of a paired difference.
    const paired = (n: string): number => median(samples[n]!.map((x, i) => (x.cpuUs - samples['bare']![i]!.cpuUs) / calls));
    const spread = (n: string): string => {
      const d = samples[n]!.map((x, i) => (x.cpuUs - samples['bare']![i]!.cpuUs) / calls).sort((a, b) => a - b);
      return `${d[Math.floor(d.length / 4)]!.toFixed(1)}..${d[Math.floor((3 * d.length) / 4)]!.toFixed(1)}`;
    };
    const extra = paired('emitter');
    const floor = paired('noop-mw');
    const spanFloor = paired('sdk-span');
    console.log(`paired with bare, µs/call, median (interquartile range): noop-mw ${floor.toFixed(1)} (${spread('noop-mw')}), sdk-span ${spanFloor.toFixed(1)} (${spread('sdk-span')}), emitter ${extra.toFixed(1)} (${spread('emitter')})`);
    console.log(`emitter extra CPU over bare: ${extra.toFixed(1)} µs/call (a no-op middleware alone: ${floor.toFixed(1)}; the SDK's own span work: ${spanFloor.toFixed(1)}; the emitter over that floor: ${(extra - spanFloor).toFixed(1)})`);
    if (stream) console.log(`emitter extra CPU per stream event: ${(extra / evPerCall['emitter']!).toFixed(3)} µs (${evPerCall['emitter']!.toFixed(0)} events/call)`);
  }
  await emitter.close();
  const st = emitter.stats();
  console.log(`\nemitter wrote ${st.events_written} events, dropped ${st.events_dropped_buffer + st.events_dropped_dir_cap + st.events_dropped_write_error}, internal errors ${st.internal_errors}`);
  rmSync(dir, { recursive: true, force: true });
  api.stop();
}

await main();
