/**
 * `npm run bench:emitter`: what the emitter costs the app, in one process with interleaved
 * rounds (so machine noise hits every variant alike), medians over rounds:
 *
 * - `bare`: the SDK as it comes;
 * - `noop-mw`: the SDK with a middleware that only calls `next` (the floor of any hook);
 * - `sdk-span`: a no-op middleware and the SDK's own call spans, fed to a tracer that keeps
 *   nothing (the floor of a design that takes call boundaries from the SDK's spans);
 * - `emitter`: `instrument(client)`, the middleware alone, writing to a temporary folder;
 * - `emitter-span`: `clientOptions()`, where the SDK's call span ends each call.
 *
 * Twice: with the SDK's `fetch` option answering from memory (the same SDK code, no sockets:
 * the SDK's and the hook's CPU without the HTTP stack's), and against the fake Claude API on
 * loopback in a child process (its CPU is not counted). Non-streaming calls, and streams of
 * about 200 events. Prints calls per second, p50 and p99 per call, CPU per call (process
 * user+system time / calls) and each variant's extra CPU over bare, paired per round. An
 * emitter variant's round ends once its events are on disk (`flush()`), so that the work it
 * defers is counted in its own round. Not a test: it prints numbers.
 *
 * Environment: ROUNDS (15), CALLS (400 per round on loopback, 4× in process), ONLY=in-process
 * or ONLY=loopback for one transport, NO_STREAM=1 to skip streams.
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
import type { Emitter } from '../src/index.js';

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

/**
 * `yieldEach`: each worker lets the event loop turn after every call. The in-process transport
 * answers in microtasks alone, so without it a whole batch runs in one turn and the emitter's
 * file writes (callbacks on the loop) could not complete until it ends.
 */
async function runBatch(client: Anthropic, calls: number, stream: boolean, yieldEach = false, flush?: () => Promise<void>): Promise<Sample> {
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
      if (yieldEach) await new Promise((r) => setImmediate(r));
    }
  }
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  // The emitter's work for these calls (building, encoding and writing their events) inside
  // this batch's measure, not the next variant's.
  await flush?.();
  const wallMs = performance.now() - t0;
  const c = process.cpuUsage(cpu0);
  return { wallMs, cpuUs: c.user + c.system, latencies, events };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
};

/** A captured answer of the fake API, replayed from memory by {@link cannedFetch}. */
interface Canned {
  status: number;
  headers: [string, string][];
  /** The body, one chunk per SSE frame for a stream. */
  chunks: Uint8Array[];
}

async function capture(url: string, stream: boolean): Promise<Canned> {
  const res = await fetch(`${url}/v1/messages`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json', 'x-api-key': 'bench', 'anthropic-version': '2023-06-01',
      ...(stream ? { 'x-fake-script': JSON.stringify({ stream: { textDeltas: STREAM_DELTAS } }) } : {}),
    },
    body: JSON.stringify({ model: 'claude-haiku-4-5', max_tokens: 64, messages: [{ role: 'user', content: 'bench' }], stream }),
  });
  const text = await res.text();
  const enc = new TextEncoder();
  const chunks = stream ? text.split(/(?<=\n\n)/).map((f) => enc.encode(f)) : [enc.encode(text)];
  return { status: res.status, headers: [...res.headers.entries()], chunks };
}

/**
 * The SDK's `fetch` option answering from memory: the same SDK code paths with no sockets, so
 * what the SDK and a hook cost stands out of the HTTP stack's CPU and noise.
 */
function cannedFetch(plain: Canned, streamed: Canned): typeof fetch {
  return (async (_url: unknown, init?: RequestInit) => {
    const c = typeof init?.body === 'string' && init.body.includes('"stream":true') ? streamed : plain;
    let i = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        const chunk = c.chunks[i++];
        if (chunk === undefined) controller.close();
        else controller.enqueue(chunk);
      },
    });
    return new Response(body, { status: c.status, headers: c.headers });
  }) as typeof fetch;
}

type Clients = Record<string, Anthropic>;

/** One client per variant, all with `options` (the transport). */
function variants(emitter: Emitter, options: ConstructorParameters<typeof Anthropic>[0]): Clients {
  const noop: Middleware = (req, next) => next(req);
  return {
    bare: new Anthropic(options),
    'noop-mw': new Anthropic({ ...options, middleware: [noop] }),
    // The SDK's own tracing, fed to spans that record nothing: the floor of a design that
    // takes call boundaries from the SDK's call span.
    'sdk-span': new Anthropic({ ...options, middleware: [noop], openTelemetry: { tracerProvider: new DiscardingTracerProvider(), propagation: false } }),
    // instrument(client): the middleware alone finds and ends each call.
    emitter: emitter.instrument(new Anthropic(options)),
    // clientOptions(): the SDK's call span ends each call.
    'emitter-span': new Anthropic({ ...options, ...emitter.clientOptions() }),
  };
}

async function suite(title: string, clients: Clients, rounds: number, plan: readonly (readonly [string, boolean, number])[], yieldEach: boolean, emitter: Emitter): Promise<void> {
  const names = Object.keys(clients);
  const flush = (n: string) => (n.startsWith('emitter') ? () => emitter.flush() : undefined);
  console.log(`\n## ${title}`);
  for (const [label, stream, calls] of plan) {
    // Warm-up: JIT and connection pools.
    for (const n of names) await runBatch(clients[n]!, Math.ceil(calls / 4), stream, yieldEach, flush(n));
    const samples: Record<string, Sample[]> = Object.fromEntries(names.map((n) => [n, []]));
    for (let r = 0; r < rounds; r++) {
      // Rotate the order each round so no variant always runs first.
      for (let i = 0; i < names.length; i++) {
        const n = names[(i + r) % names.length]!;
        samples[n]!.push(await runBatch(clients[n]!, calls, stream, yieldEach, flush(n)));
      }
    }
    console.log(`\n${label}: ${rounds} rounds x ${calls} calls, concurrency ${CONCURRENCY}, medians over rounds`);
    console.log('variant        calls/s   p50 ms   p99 ms   CPU µs/call' + (stream ? '   CPU µs/event' : ''));
    const evPerCall: Record<string, number> = {};
    for (const n of names) {
      const ss = samples[n]!;
      const rate = median(ss.map((s) => (calls / s.wallMs) * 1000));
      const p50 = median(ss.map((s) => pct(s.latencies, 50)));
      const p99 = median(ss.map((s) => pct(s.latencies, 99)));
      const cpu = median(ss.map((s) => s.cpuUs / calls));
      evPerCall[n] = ss[0]!.events / calls;
      const perEvent = stream ? `   ${(cpu / evPerCall[n]!).toFixed(2).padStart(12)}` : '';
      console.log(`${n.padEnd(13)} ${rate.toFixed(0).padStart(8)} ${p50.toFixed(2).padStart(8)} ${p99.toFixed(2).padStart(8)} ${cpu.toFixed(1).padStart(13)}${perEvent}`);
    }
    // Differences paired within each round (the variants ran back to back), then the median
    // over rounds: slow drifts of the machine's load cancel out of a paired difference.
    const diffs = (n: string, base = 'bare'): number[] => samples[n]!.map((x, i) => (x.cpuUs - samples[base]![i]!.cpuUs) / calls).sort((a, b) => a - b);
    const paired = (n: string, base = 'bare'): string => {
      const d = diffs(n, base);
      return `${median(d).toFixed(1)} (IQR ${d[Math.floor(d.length / 4)]!.toFixed(1)}..${d[Math.floor((3 * d.length) / 4)]!.toFixed(1)})`;
    };
    console.log(`extra CPU over bare, µs/call, paired per round, median: noop-mw ${paired('noop-mw')}; sdk-span ${paired('sdk-span')}; emitter ${paired('emitter')}; emitter-span ${paired('emitter-span')}`);
    console.log(`emitter over the no-op middleware (the hook's floor): ${paired('emitter', 'noop-mw')} µs/call`);
    if (stream) {
      const perEvent = median(diffs('emitter')) / evPerCall['emitter']!;
      console.log(`emitter extra CPU per stream event over bare: ${perEvent.toFixed(3)} µs (${evPerCall['emitter']!.toFixed(0)} events/call)`);
    }
  }
}

async function main(): Promise<void> {
  const api = await startApiChild();
  const dir = mkdtempSync(join(tmpdir(), 'claudescope-bench-'));
  const emitter = createEmitter({ dir, app: 'bench' });
  const plan = [['non-streaming', false, CALLS], ['streaming (~200 events)', true, STREAM_CALLS]] as const;
  const only = process.env['ONLY'];
  const kinds = plan.filter(([, stream]) => !(stream && process.env['NO_STREAM'] === '1'));
  const canned = { plain: await capture(api.url, false), streamed: await capture(api.url, true) };
  if (only !== 'loopback') {
    await suite('in-process transport (the SDK with a `fetch` answering from memory: SDK and hook CPU only)',
      variants(emitter, { apiKey: 'bench', baseURL: api.url, fetch: cannedFetch(canned.plain, canned.streamed) }), ROUNDS,
      kinds.map(([l, s, n]) => [l, s, n * 4] as const), true, emitter);
  }
  if (only !== 'in-process') {
    await suite('fake Claude API on loopback (a child process; its CPU is not counted)', variants(emitter, { apiKey: 'bench', baseURL: api.url }), ROUNDS, kinds, false, emitter);
  }
  await emitter.close();
  const st = emitter.stats();
  console.log(`\nemitter wrote ${st.events_written} events, dropped ${st.events_dropped_buffer + st.events_dropped_dir_cap + st.events_dropped_write_error}, internal errors ${st.internal_errors}`);
  rmSync(dir, { recursive: true, force: true });
  api.stop();
}

await main();
