/**
 * Points per second into InfluxDB through the sink, against the sink's physical limit: posting
 * the same points as pre-built line protocol to the same server in the same run.
 *
 *   node --import tsx scripts/bench-influx.ts [events=100000] [batch=4000]
 *
 * Needs `influxd` (Debian's influxdb package): started on a free loopback port, removed after.
 * Prints: raw v1 /write; sink v1 (line building + write + classification); and the v2 path
 * (@influxdata/influxdb-client) and raw, both through the same path-translating forwarder.
 */
import { startInfluxd } from '../test/helpers/influxd.js';
import { connection, priced, startForwarder } from '../test/influx/harness.js';
import { mixedWorkload } from '../test/daemon/workload.js';
import { InfluxSink, type SinkCall } from '../src/store/influx-sink.js';

const N = Number(process.argv[2] ?? 100_000);
const BATCH = Number(process.argv[3] ?? 4000);

const influx = await startInfluxd();
const fwd = await startForwarder(influx.url);
fwd.writes = new Proxy([], { get: (a, k) => (k === 'push' ? () => 0 : Reflect.get(a, k)) }) as never; // keep no log
let db = 0;
const fresh = async (): Promise<string> => {
  const name = `bench${++db}`;
  await influx.createDatabase(name);
  return name;
};

const events = mixedWorkload(N, Date.now());
// A bounded tag set (as in production: feature tags come from an allow-list of product features).
const base = Date.now() - N;
events.forEach((e, i) => { e.ts = base + i; e.tags = { feature: `feature-${i % 8}` }; });
const calls: SinkCall[] = priced(events, 'bench-file');
const lineSink = new InfluxSink({ connection: connection(influx.url, 'x'), deadLetterPath: '/dev/null' });
const lines = calls.map((c) => lineSink.lineOf(c));
const bytes = lines.reduce((a, l) => a + l.length + 1, 0);

async function raw(url: string): Promise<number> {
  const name = await fresh();
  const t0 = performance.now();
  for (let i = 0; i < lines.length; i += BATCH) {
    const r = await fetch(`${url}/write?db=${name}&precision=ns`, { method: 'POST', body: lines.slice(i, i + BATCH).join('\n') });
    if (r.status !== 204) throw new Error(`raw write ${r.status}`);
  }
  return lines.length / ((performance.now() - t0) / 1000);
}

async function sink(url: string, api: 'v1' | 'v2'): Promise<number> {
  const name = await fresh();
  const s = new InfluxSink({ connection: connection(url, name, { api, bucket: name, org: 'o', token: api === 'v2' ? 't' : null }), deadLetterPath: '/dev/null', maxPointsPerRequest: BATCH });
  const t0 = performance.now();
  for (let i = 0; i < calls.length; i += BATCH) await s.writeCalls(calls.slice(i, i + BATCH));
  const rate = calls.length / ((performance.now() - t0) / 1000);
  await s.close();
  const n = Number((await influx.values('SELECT COUNT("event_id") FROM claude_call', name))[0]?.[1] ?? 0);
  if (n !== calls.length) throw new Error(`expected ${calls.length} points, found ${n}`);
  return rate;
}

const t0 = performance.now();
for (const l of calls) lineSink.lineOf(l);
const buildRate = calls.length / ((performance.now() - t0) / 1000);

await raw(influx.url); // warm-up
const rounds = 3;
const res = { rawV1: [] as number[], sinkV1: [] as number[], rawFwd: [] as number[], sinkV2: [] as number[] };
for (let r = 0; r < rounds; r++) {
  res.rawV1.push(await raw(influx.url));
  res.sinkV1.push(await sink(influx.url, 'v1'));
  res.rawFwd.push(await raw(fwd.url));
  res.sinkV2.push(await sink(fwd.url, 'v2'));
}
const med = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
const f = (x: number): string => `${Math.round(x).toLocaleString('en-US')} points/s`;
console.log(`${N.toLocaleString('en-US')} calls, ${(bytes / N).toFixed(0)} bytes of line protocol each, batches of ${BATCH}, median of ${rounds} rounds`);
console.log(`line building alone:                   ${f(buildRate)}`);
console.log(`raw pre-built lines, v1 /write:        ${f(med(res.rawV1))}`);
console.log(`sink, v1 mode:                         ${f(med(res.sinkV1))}   ratio ${(med(res.sinkV1) / med(res.rawV1) * 100).toFixed(1)} % of raw`);
console.log(`raw pre-built lines via forwarder:     ${f(med(res.rawFwd))}`);
console.log(`sink, v2 mode (client) via forwarder:  ${f(med(res.sinkV2))}   ratio ${(med(res.sinkV2) / med(res.rawFwd) * 100).toFixed(1)} % of raw through the same forwarder`);
await fwd.close();
await influx.dispose();
