/**
 * Test harness around a real influxd: a forwarder on 127.0.0.1:0 that translates the v2
 * write path as InfluxDB 1.8 reads it (`/api/v2/write?org=&bucket=DB/RP&precision=P` →
 * `/write?db=DB&rp=RP&precision=P`, the retention policy optional; InfluxDB 1.6 lacks the v2
 * path) and can answer scripted faults (429, 413, 500, 400, 401) instead of forwarding; a
 * silent server, an InfluxDB that takes connections and requests but never answers; and
 * helpers to build settings and priced calls.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTcpServer, type AddressInfo, type Socket } from 'node:net';
import { gunzipSync } from 'node:zlib';
import type { CallEvent } from '../../src/event/types.js';
import type { InfluxConnection } from '../../src/store/influx-writer.js';
import type { SinkCall } from '../../src/store/influx-sink.js';
import { testPricer } from '../helpers/test-pricer.js';

export interface Fault {
  status: number;
  headers?: Record<string, string>;
  body?: string;
}

export interface Forwarder {
  url: string;
  /** Faults answered to the next write requests, in order (status 0: forward that one); then writes are forwarded again. */
  faults: Fault[];
  /** Write requests seen (forwarded or faulted), with their line counts. */
  writes: { path: string; lines: number; answered: number }[];
  /** When true, every write gets 503 until set back (an outage without stopping the server). */
  down: boolean;
  close(): Promise<void>;
}

async function body(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** A path-translating, fault-injecting forwarder in front of `target`. */
export async function startForwarder(target: string): Promise<Forwarder> {
  const state: Omit<Forwarder, 'url' | 'close'> = { faults: [], writes: [], down: false };
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    void (async () => {
      const data = await body(req);
      const u = new URL(req.url ?? '/', 'http://x');
      let path = u.pathname + u.search;
      const isWrite = u.pathname === '/api/v2/write' || u.pathname === '/write';
      if (u.pathname === '/api/v2/write') {
        // InfluxDB 1.8 splits the bucket at its first slash into database and retention policy.
        const bucket = u.searchParams.get('bucket') ?? '';
        const slash = bucket.indexOf('/');
        const q = new URLSearchParams({ db: slash < 0 ? bucket : bucket.slice(0, slash), precision: u.searchParams.get('precision') ?? 'ns' });
        if (slash >= 0 && slash < bucket.length - 1) q.set('rp', bucket.slice(slash + 1));
        path = `/write?${q.toString()}`;
      }
      if (isWrite) {
        const text = req.headers['content-encoding'] === 'gzip' ? gunzipSync(data).toString('utf8') : data.toString('utf8');
        const lines = text.split('\n').filter(Boolean).length;
        const fault = state.down ? { status: 503, body: '{"error":"down"}' } : state.faults.shift();
        if (fault && fault.status !== 0) {
          state.writes.push({ path: u.pathname, lines, answered: fault.status });
          res.writeHead(fault.status, { 'content-type': 'application/json', ...fault.headers });
          res.end(fault.body ?? `{"error":"scripted ${fault.status}"}`);
          return;
        }
        state.writes.push({ path: u.pathname, lines, answered: 0 });
      }
      try {
        const r = await fetch(`${target}${path}`, { method: req.method ?? 'GET', headers: { 'content-type': req.headers['content-type'] ?? 'text/plain', ...(req.headers['content-encoding'] ? { 'content-encoding': req.headers['content-encoding'] } : {}) }, ...(req.method === 'GET' || req.method === 'HEAD' ? {} : { body: data }) });
        const last = state.writes[state.writes.length - 1];
        if (isWrite && last) last.answered = r.status;
        const out = Buffer.from(await r.arrayBuffer());
        res.writeHead(r.status, { 'content-type': r.headers.get('content-type') ?? 'application/json' });
        res.end(out);
      } catch (err: unknown) {
        res.writeHead(502);
        res.end(String(err));
      }
    })();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return Object.assign(state, {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    }),
  }) as Forwarder;
}

export function connection(url: string, db: string, over: Partial<InfluxConnection> = {}): InfluxConnection {
  return { url, api: 'v1', org: '', bucket: db, database: db, retentionPolicy: null, token: null, username: null, password: null, timeoutMs: 10_000, ...over };
}

const pricer = testPricer();

/** Calls priced with the test pricer, each with a distinct file source. */
export function priced(events: CallEvent[], fileKey = 'file-a'): SinkCall[] {
  return events.map((event, i) => ({ event, price: pricer.price(event), source: { fileKey, path: `/tmp/${fileKey}.ndjson`, offset: i * 100, length: 99 } }));
}

export interface SilentServer {
  url: string;
  /** Requests received, all or those to one path (`/query`, `/write`, `/api/v2/write`). */
  requested(path?: string): number;
  /** Connections a request came on, still open (one the client keeps idle in its pool has none); all or to one path. */
  waiting(path?: string): number;
  close(): Promise<void>;
}

/** Accepts connections and reads what comes, never answering. */
export async function silentServer(): Promise<SilentServer> {
  const sockets = new Set<Socket>();
  // Each connection a request came on, with the request's path, while it is open. Never
  // answered, a connection carries one request.
  const waiting = new Map<Socket, string>();
  const requested: string[] = [];
  const server = createTcpServer((s) => {
    sockets.add(s);
    s.once('data', (d: Buffer) => {
      const path = (/^\S+ (\S+)/.exec(d.toString('latin1'))?.[1] ?? '').replace(/\?.*$/, '');
      requested.push(path);
      waiting.set(s, path);
    });
    s.on('data', () => {});
    s.on('error', () => {});
    s.on('close', () => {
      sockets.delete(s);
      waiting.delete(s);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requested: (path) => requested.filter((p) => path === undefined || p === path).length,
    waiting: (path) => [...waiting.values()].filter((p) => path === undefined || p === path).length,
    close: () => new Promise<void>((r) => {
      for (const s of sockets) s.destroy();
      server.close(() => r());
    }),
  };
}
