/**
 * A real InfluxDB 1.x (Debian's `influxd`) for tests: a temporary folder for meta, data and
 * WAL, every listener on 127.0.0.1 at a port influxd picks itself (HTTP and the RPC service,
 * bound to port 0: the HTTP port is read from its "Listening on HTTP" line; graphite,
 * collectd, opentsdb and UDP off), reporting and the `_internal` monitor off. A port found
 * free beforehand could be taken by a concurrent test's server before influxd binds it.
 * Waits for `/ping`; `stop()` ends it, `restart()` brings it back on the same port and data
 * (outage tests), trying again for a while when that port is briefly taken.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, isAddressInUse, listenedPort } from './ports.js';

export { freePort };

export interface InfluxdOptions {
  /** `[http] max-body-size` in bytes (0: InfluxDB's default of 25 MB). */
  maxBodySize?: number;
  /** Enable `[http] auth-enabled` (an admin user must then be created). Default false. */
  authEnabled?: boolean;
  /** How long a start waits for `/ping`. Default 30 s. */
  startTimeoutMs?: number;
}

export interface Influxd {
  /** `http://127.0.0.1:<port>` */
  url: string;
  port: number;
  dir: string;
  /** Runs InfluxQL (POST /query); throws on an HTTP or statement error. */
  query(q: string, db?: string, extra?: Record<string, string>): Promise<InfluxResult[]>;
  /** Posts line protocol to `/write?db=` (ns precision), into `rp` when given (else the database's default). */
  write(db: string, lines: string, rp?: string): Promise<void>;
  /** The first series' values of a single-statement query (empty when none). */
  values(q: string, db: string): Promise<unknown[][]>;
  createDatabase(db: string): Promise<void>;
  /** Ends the server (SIGTERM, then SIGKILL after 10 s). */
  stop(): Promise<void>;
  /** Starts it again on the same port and folder. */
  restart(): Promise<void>;
  /** Stops it and removes its folder. */
  dispose(): Promise<void>;
}

export interface InfluxSeries {
  name: string;
  tags?: Record<string, string>;
  columns: string[];
  values?: unknown[][];
}
export interface InfluxResult {
  statement_id: number;
  series?: InfluxSeries[];
  error?: string;
}

function configText(dir: string, httpPort: number, o: InfluxdOptions): string {
  return `reporting-disabled = true
bind-address = "127.0.0.1:0"

[meta]
  dir = "${join(dir, 'meta')}"
  logging-enabled = false

[data]
  dir = "${join(dir, 'data')}"
  wal-dir = "${join(dir, 'wal')}"
  query-log-enabled = false
  wal-fsync-delay = "0s"

[coordinator]
  log-queries-after = "0s"

[retention]
  enabled = false

[monitor]
  store-enabled = false

[http]
  enabled = true
  bind-address = "127.0.0.1:${httpPort}"
  auth-enabled = ${o.authEnabled ? 'true' : 'false'}
  log-enabled = false
  max-body-size = ${o.maxBodySize ?? 25000000}

[[graphite]]
  enabled = false
  bind-address = "127.0.0.1:0"

[[collectd]]
  enabled = false

[[opentsdb]]
  enabled = false

[[udp]]
  enabled = false

[continuous_queries]
  enabled = false

[subscriber]
  enabled = false
`;
}

/** Starts a fresh `influxd`; register `dispose` as teardown. */
export async function startInfluxd(o: InfluxdOptions = {}): Promise<Influxd> {
  const dir = mkdtempSync(join(tmpdir(), 'claudescope-influxd-'));
  const conf = join(dir, 'influxdb.conf');
  let port = 0;
  let url = '';
  let child: ChildProcess | undefined;
  let log = '';

  /** One influxd on `port` (0: one it picks, read from its log); rejects when it exits or never answers. */
  const once = async (): Promise<void> => {
    writeFileSync(conf, configText(dir, port, o));
    log = '';
    const c = spawn('influxd', ['-config', conf], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, INFLUXDB_REPORTING_DISABLED: 'true' } });
    child = c;
    // Its own "Listening on HTTP" line, read as it comes (later lines could push it out of the
    // kept tail), names the port it got, and says it is influxd and not some other server that
    // holds a restart's port which answers there.
    let at = 0;
    let closed = false;
    const take = (d: Buffer): void => {
      log = (log + d.toString()).slice(-4000);
      if (at === 0) at = listenedPort(log, /Listening on HTTP/) ?? 0;
    };
    c.stdout?.on('data', take);
    c.stderr?.on('data', take);
    c.once('close', () => { closed = true; });
    const deadline = Date.now() + (o.startTimeoutMs ?? 30_000);
    for (;;) {
      // 'close', not 'exit': by then its last words (address in use) are in the log.
      if (closed) throw new Error(`influxd exited with ${c.exitCode ?? c.signalCode}: ${log}`);
      if (at !== 0) {
        try {
          // Bounded: a server that does not answer must not stall the start.
          const r = await fetch(`http://127.0.0.1:${at}/ping`, { signal: AbortSignal.timeout(1000) });
          if (r.status === 204) {
            port = at;
            return;
          }
        } catch {
          // not up yet
        }
      }
      if (Date.now() > deadline) {
        // Running but not answering: it must not outlive the failed start (nothing else holds it).
        await stop();
        throw new Error(`influxd did not answer /ping within ${o.startTimeoutMs ?? 30_000} ms: ${log}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  };

  /**
   * Starts it. On its first start no port is given, so none can be taken; a restart needs the
   * same port, which another test's server may hold for a moment (a free-port probe): it is
   * tried again while the port is in use, for a few seconds.
   */
  const launch = async (): Promise<void> => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await once();
      } catch (err) {
        if (port === 0 || attempt >= 20 || !isAddressInUse(log)) throw err;
        await new Promise((r) => setTimeout(r, 250));
      }
    }
  };

  const stop = async (): Promise<void> => {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise<void>((r) => c.once('exit', () => r()));
    c.kill('SIGTERM');
    const t = setTimeout(() => c.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(t);
  };

  const query = async (q: string, db?: string, extra: Record<string, string> = {}): Promise<InfluxResult[]> => {
    const body = new URLSearchParams({ q, ...(db ? { db } : {}), ...extra });
    const r = await fetch(`${url}/query`, { method: 'POST', body });
    const text = await r.text();
    if (!r.ok) throw new Error(`query failed (${r.status}): ${text}: ${q}`);
    const json = JSON.parse(text) as { results?: InfluxResult[]; error?: string };
    if (json.error) throw new Error(`query failed: ${json.error}: ${q}`);
    for (const res of json.results ?? []) if (res.error) throw new Error(`statement failed: ${res.error}: ${q}`);
    return json.results ?? [];
  };

  try {
    await launch();
  } catch (err) {
    // No handle reaches the caller: what the failed start left goes now.
    await stop();
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  url = `http://127.0.0.1:${port}`;
  return {
    url, port, dir, query,
    async write(db, lines, rp) {
      const q = new URLSearchParams({ db, precision: 'ns', ...(rp ? { rp } : {}) });
      const r = await fetch(`${url}/write?${q.toString()}`, { method: 'POST', body: lines });
      if (r.status !== 204) throw new Error(`write failed (${r.status}): ${await r.text()}`);
    },
    async values(q, db) {
      const res = await query(q, db);
      return res[0]?.series?.[0]?.values ?? [];
    },
    async createDatabase(db) {
      await query(`CREATE DATABASE "${db}"`);
    },
    stop,
    restart: launch,
    async dispose() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
