/**
 * The daemon: the ingestion pipeline (lock, SQLite store, tailer), the Prometheus metrics fed
 * as calls commit, and the HTTP server. One line per notable thing goes to the log (stderr
 * by default); the bearer token never does.
 *
 * @example
 * const d = await Daemon.start({ config: loadDaemonConfig() });
 * console.log(d.url);   // http://127.0.0.1:9471
 * await d.stop();       // final checkpoint written, lock released
 */
import { join } from 'node:path';
import type { InfluxQueryApi } from '../store/influx-query.js';
import { UNKNOWN_PIPELINE_HEALTH, type PipelineHealth, type QueryOptions } from '../store/types.js';
import type { IncomingMessage } from 'node:http';
import { Pipeline, type CommitObserver } from './pipeline.js';
import { HttpServer, sendJson } from './http-server.js';
import { createMetrics, type Metrics } from '../metrics/index.js';
import { modelLabel } from '../metrics/claude-metrics.js';
import { isUnknownModel } from '../metrics/pricing-metrics.js';
import type { DaemonConfig } from './config.js';
import { createDaemonPricer, type DaemonPricer } from './pricer-loader.js';
import { registerRepriceRoute } from './reprice-route.js';
import { registerPricingMetrics, type PricingMetrics } from '../metrics/pricing-metrics.js';
import { pipelineHealthOf, prepareAlerting, startAlerting, type PreparedAlerting } from './alerting.js';
import { registerDashboardRoutes } from './api-routes.js';
import { ClosedSpendCache } from './dashboard-data.js';
import type { RuleEngine } from '../rules/index.js';
import { registerReconciliationMetrics } from '../metrics/reconciliation-metrics.js';
import type { ReconcileJob } from '../reconcile/daemon-job.js';
import { daemonInfluxSettings } from './influx-settings.js';
import { redactUrl } from '../notify/redact.js';
import { registerInfluxMetrics } from '../store/influx-metrics.js';

/** A log line sink; the default writes `claudescope: <msg> key=value…` to stderr. */
export type DaemonLog = (level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void;

export interface DaemonOptions {
  config: DaemonConfig;
  /** A pricer to use instead of the cost engine (tests). */
  pricer?: DaemonPricer;
  log?: DaemonLog;
  /** How often the health watcher looks for new dead letters. Default 5000 ms. */
  healthCheckIntervalMs?: number;
  /** node-cron schedule of the alert rules. Default every minute at second 0. */
  ruleSchedule?: string;
}

export function stderrLog(level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>): void {
  const kv = fields ? Object.entries(fields).map(([k, v]) => ` ${k}=${typeof v === 'string' && !/\s/.test(v) ? v : JSON.stringify(v)}`).join('') : '';
  process.stderr.write(`claudescope: ${level === 'info' ? '' : `${level}: `}${msg}${kv}\n`);
}

export class Daemon {
  readonly metrics: Metrics;
  readonly pipeline: Pipeline;
  private readonly http: HttpServer;
  private readonly pricingMetrics: PricingMetrics;
  private lastCommitMs: number | null = null;
  private readonly unpricedModelsLogged = new Set<string>();
  private healthTimer: NodeJS.Timeout | undefined;
  private deadLettersLogged = 0;
  private stopping: Promise<void> | undefined;
  /**
   * Aborted when the stop begins: ends the start's read of the stored rate limits and a
   * reprice in progress (between two chunks), and the API answers 503 from then on.
   */
  private readonly closing = new AbortController();
  /** That read (never rejects). */
  private seeding: Promise<void> | undefined;
  private engine: RuleEngine | undefined;
  private readonly closedSpend = new ClosedSpendCache();
  /** The scheduled reconciliation (when `reconcile.schedule` is set). */
  reconcileJob: ReconcileJob | undefined;

  private constructor(readonly config: DaemonConfig, private readonly pricer: DaemonPricer, private readonly log: DaemonLog, private readonly healthEveryMs: number) {
    const c = config;
    // A block the sink cannot use refuses start (ConfigError naming file, line and field).
    const influx = daemonInfluxSettings(c);
    this.pipeline = new Pipeline({
      home: c.home,
      pricer,
      tailer: { pollIntervalMs: c.tail.pollIntervalMs, batchIntervalMs: c.tail.batchIntervalMs, maxOpenFiles: c.tail.maxOpenFiles, retention: c.retention.sealedFiles },
      ...(c.retention.rowsMaxAgeMs !== undefined || c.retention.rollupsMaxAgeMs !== undefined
        ? { retention: { ...(c.retention.rowsMaxAgeMs !== undefined ? { rowsMaxAgeMs: c.retention.rowsMaxAgeMs } : {}), ...(c.retention.rollupsMaxAgeMs !== undefined ? { rollupsMaxAgeMs: c.retention.rollupsMaxAgeMs } : {}) } }
        : {}),
      log: (level, msg, fields) => this.log(level, msg, fields),
      observeCommits: () => this.observeCommits(),
      influx,
    });
    this.metrics = createMetrics({
      featureLabelAllowlist: c.metrics.featureLabelAllowlist,
      budgets: c.budgets,
      health: {
        health: () => {
          try {
            return this.pipeline.health();
          } catch {
            return null; // not started
          }
        },
        emitterStats: () => this.pipeline.emitterStats(),
        lastCommitMs: () => this.lastCommitMs,
      },
      rules: () => this.engine?.metrics() ?? null,
    });
    if (c.influxdb) {
      registerInfluxMetrics(this.metrics.registry, () => {
        try {
          return this.pipeline.health().influx;
        } catch {
          return undefined; // not started
        }
      });
    }
    // The latest reconciliation (a daemon run or a CLI run), read from the store at each scrape.
    registerReconciliationMetrics(this.metrics.registry, () => this.pipeline.store?.reconciliationCapture() ?? [], () => this.pipeline.store?.reconciliationLastRun() ?? null);
    this.pricingMetrics = registerPricingMetrics(this.metrics.registry, {
      version: pricer.version,
      catalogAsOf: pricer.catalogAsOf,
      isStale: pricer.isStale ? () => pricer.isStale?.() ?? false : undefined,
    });
    this.http = new HttpServer({
      host: c.listen.host,
      port: c.listen.port,
      token: c.auth.token,
      requireToken: c.auth.requireToken,
      onError: (err, req: IncomingMessage) => this.log('error', 'request failed', { path: req.url ?? '', err: String(err) }),
    });
    this.http.route('GET', '/metrics', async (_req, res) => {
      const { contentType, body } = await this.metrics.exposition();
      res.writeHead(200, { 'content-type': contentType, 'cache-control': 'no-store' });
      res.end(body);
    });
    this.http.route('GET', '/healthz', (_req, res) => {
      const h = this.healthz();
      sendJson(res, h.ok ? 200 : 503, h);
    });
    registerDashboardRoutes(this.http, {
      query: () => this.pipeline.query,
      rules: () => this.engine ?? null,
      config: c,
      closedSpend: this.closedSpend,
      // The latest run stored, by the schedule below or by a `claudescope reconcile` beside the daemon.
      reconciliation: { store: () => this.pipeline.store, settings: c.reconcile },
      stopping: this.closing.signal,
    });
    // A reprice rewrites stored costs: the dashboard's cached closed-day spend goes with it.
    registerRepriceRoute((m, p, h) => this.route(m, p, async (req, res, url) => {
      try {
        await h(req, res, url);
      } finally {
        this.closedSpend.clear();
      }
    }), { store: () => this.pipeline.store, pricer, influx: influx?.connection, log: (level, msg, fields) => this.log(level, msg, fields), stopping: this.closing.signal });
  }

  /** Loads the cost engine (unless a pricer is given), starts the pipeline, then the HTTP server. */
  static async start(o: DaemonOptions): Promise<Daemon> {
    const log = o.log ?? stderrLog;
    // A bad `pricing:` block refuses start here (ConfigError naming file, line and field).
    const pricer = o.pricer ?? createDaemonPricer(o.config);
    if (pricer.isStale?.()) {
      log('warn', 'the price catalog is older than 60 days: new models or prices may be missing (claudescope_price_catalog_stale); update claudescope, then claudescope reprice', { catalog_as_of: pricer.catalogAsOf ?? 'unknown', pricing: pricer.version });
    }
    // Rules and notifiers first: a malformed rule file refuses start before the data folder is locked.
    const alerting: PreparedAlerting = await prepareAlerting(o.config);
    const d = new Daemon(o.config, pricer, log, o.healthCheckIntervalMs ?? 5000);
    await d.pipeline.start();
    // The embedded store answers at once: its gauges are there before the first scrape. InfluxDB
    // alone is read in the background, the daemon serving and ingesting meanwhile: one that is
    // slow, or takes the query and never answers, would hold the start for its timeout_ms.
    d.seeding = d.seedRateLimits();
    if (d.pipeline.store !== undefined) await d.seeding;
    try {
      // A fleet's rules instance reads the central InfluxDB, and its pipeline-health rules
      // then see every host's health points rather than this daemon's alone.
      const influx = d.pipeline.influxQuery;
      const fleet = influx !== undefined && (o.config.rules.store === 'influxdb' || (o.config.rules.store === null && d.pipeline.store === undefined));
      if (o.config.rules.store === 'influxdb' && influx === undefined) throw new Error('rules.store is influxdb but no influxdb sink is configured');
      d.engine = await startAlerting({
        config: o.config,
        prepared: alerting,
        query: fleet ? influx : d.pipeline.query,
        health: fleet ? (q) => fleetHealth(influx, d.pipelineHealth().influxAuthFailed, q) : () => d.pipelineHealth(),
        onError: (message) => log('warn', `alerts: ${message}`),
        onInfo: (message) => log('info', `alerts: ${message}`),
        ...(o.ruleSchedule !== undefined ? { schedule: o.ruleSchedule } : {}),
      });
      const rc = o.config.reconcile;
      if (rc?.schedule) {
        const { startReconcileJob } = await import('../reconcile/daemon-job.js');
        d.reconcileJob = startReconcileJob({ settings: { ...rc, schedule: rc.schedule }, store: () => d.pipeline.store, pricer, log });
      }
      await d.http.listen();
    } catch (err: unknown) {
      d.closing.abort();
      await d.reconcileJob?.stop();
      await d.engine?.stop();
      await d.seeding;
      await d.pipeline.stop();
      throw listenError(err, o.config.listen) ?? err;
    }
    d.healthTimer = setInterval(() => d.watchHealth(), d.healthEveryMs);
    d.healthTimer.unref();
    log('info', `started on ${d.url}`, {
      metrics: `${d.url}/metrics`,
      events: join(o.config.home, 'events'),
      store: d.storePath,
      auth: o.config.auth.requireToken ? 'bearer token required' : 'none (loopback)',
      pricing: pricer.version,
      rules: `${alerting.rules.length} from ${alerting.rulesDirs.join(',')}`,
      notifiers: alerting.notifiers.map((n) => n.name).join(',') || 'none',
    });
    return d;
  }

  /**
   * Fills the rate-limit gauges from the latest stored headers; without them they wait for new
   * calls. Calls ingested before InfluxDB answered keep their newer headers (older rows are
   * skipped). A stop ends the read, with nothing to warn about: the next start reads them.
   */
  private async seedRateLimits(): Promise<void> {
    try {
      const rows = await this.pipeline.query.latestRateLimits(undefined, { signal: this.closing.signal });
      this.metrics.claude.seedRateLimits(rows, Date.now());
    } catch (err: unknown) {
      if (this.closing.signal.aborted) return;
      this.log('warn', 'could not read the stored rate limits: their gauges wait for new calls', { err: String(err) });
    }
  }

  /** The alert engine (after start). */
  get ruleEngine(): RuleEngine {
    if (!this.engine) throw new Error('daemon not started');
    return this.engine;
  }

  /** What `pipeline_health` rules read: tail lag, dead letters and emitter drops so far, InfluxDB refusing the credentials. */
  pipelineHealth(): PipelineHealth {
    let h: ReturnType<Pipeline['health']> | null = null;
    try {
      h = this.pipeline.health();
    } catch {
      h = null;
    }
    return pipelineHealthOf(h, this.pipeline.emitterStats());
  }

  get url(): string {
    return this.http.url;
  }

  /** The embedded store's file, or, with InfluxDB alone (`embedded_store: false`), where the calls go. */
  get storePath(): string {
    const db = join(this.config.home, 'data', 'claudescope.db');
    const i = this.config.influxdb;
    if (i === null || i['embedded_store'] !== false) return db;
    const url = typeof i['url'] === 'string' ? i['url'] : '';
    const name = typeof i['database'] === 'string' ? i['database'] : typeof i['bucket'] === 'string' ? i['bucket'] : 'claudescope';
    return `influxdb ${redactUrl(url).replace(/\/+$/, '')} (database ${name}; no embedded store)`;
  }

  /** What `/healthz` answers: ok while the pipeline runs and commits. */
  healthz(): { ok: boolean; lag_bytes: number | null; oldest_unacked_age_seconds: number | null; last_commit: string | null; events_committed: number | null; dead_letters: number | null; checkpoint_errors: number | null; unreadable_files: number | null; descriptor_shortages: number | null; store: string; events_dir: string } {
    let h: ReturnType<Pipeline['health']> | null = null;
    try {
      h = this.pipeline.health();
    } catch {
      h = null;
    }
    return {
      ok: h !== null && this.stopping === undefined,
      lag_bytes: h?.lagBytes ?? null,
      oldest_unacked_age_seconds: h ? h.oldestUnackedAgeMs / 1000 : null,
      last_commit: this.lastCommitMs === null ? null : new Date(this.lastCommitMs).toISOString(),
      events_committed: h?.eventsInserted ?? null,
      dead_letters: h ? Object.values(h.deadLettered).reduce((a, b) => a + b, 0) : null,
      checkpoint_errors: h?.checkpointErrors ?? null,
      unreadable_files: h?.filesUnreadable ?? null,
      descriptor_shortages: h?.descriptorShortages ?? null,
      store: this.storePath,
      events_dir: join(this.config.home, 'events'),
    };
  }

  /** Registers a route on the daemon's server (the dashboard's `/api/*`). */
  route(...args: Parameters<HttpServer['route']>): this {
    this.http.route(...args);
    return this;
  }

  /**
   * Stops reading, commits what is in flight and the final checkpoint, closes the server.
   * InfluxDB queries in progress are cancelled (a rule evaluation's, the start's read of the
   * rate limits, the dashboard's), so an InfluxDB that does not answer holds the stop no longer
   * than its writes do (influxdb.stop_timeout_ms). A reprice in progress ends between two
   * chunks, its caller told how far it got; API requests answer 503 from the stop's start, the
   * alert engine and the store closing meanwhile. Idempotent.
   */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      if (this.healthTimer) clearInterval(this.healthTimer);
      this.closing.abort();
      await this.engine?.stop();
      await this.seeding;
      await this.reconcileJob?.stop();
      await this.pipeline.stop();
      await this.http.close();
      this.watchHealth(true);
      this.log('info', 'stopped; final checkpoint written');
    })();
    return this.stopping;
  }

  /**
   * What the daemon makes of each transaction's new calls: counted into pending metrics as
   * they are stored, applied once the transaction committed. The calls themselves are not kept.
   */
  private observeCommits(): CommitObserver {
    const pending = this.metrics.claude.pending();
    /** Calls of a model the engine does not know, by model label. */
    const unknownModels = new Map<string, number>();
    let minTs = Infinity;
    return {
      add: (c) => {
        if (c.event.ts < minTs) minTs = c.event.ts;
        if (isUnknownModel(c)) {
          const model = modelLabel(c);
          unknownModels.set(model, (unknownModels.get(model) ?? 0) + 1);
        }
        this.metrics.claude.stage(pending, c);
      },
      commit: () => {
        // Nothing added: nothing to count.
        if (minTs === Infinity) return;
        try {
          this.metrics.claude.apply(pending);
        } finally {
          this.onCommitted(minTs, unknownModels, pending.unpricedModels());
        }
      },
    };
  }

  private onCommitted(minTs: number, unknownModels: ReadonlyMap<string, number>, unpricedModels: readonly string[]): void {
    this.lastCommitMs = Date.now();
    this.closedSpend.noteCommitted(minTs);
    for (const [model, n] of unknownModels) this.pricingMetrics.recordUnknownModel(model, n);
    const warnings = this.pricer.takeWarnings?.();
    if (warnings) {
      // The engine reports each (model, reason) once: one log line each.
      for (const w of warnings) this.log('warn', w.message, { model: w.model, reason: w.reason });
      this.pricingMetrics.recordWarnings(warnings);
      return;
    }
    // A pricer without warnings (a test stand-in): one line per unpriced model.
    for (const model of unpricedModels) {
      if (this.unpricedModelsLogged.has(model) || this.unpricedModelsLogged.size >= 1000) continue;
      this.unpricedModelsLogged.add(model);
      this.log('warn', 'calls of a model without a price are counted as unpriced (claude_unpriced_requests_total), never $0', { model });
    }
  }

  /** Logs new dead letters (once per check, with the counts by reason). */
  private watchHealth(final = false): void {
    let h: ReturnType<Pipeline['health']>;
    try {
      h = this.pipeline.health();
    } catch {
      return;
    }
    const total = Object.values(h.deadLettered).reduce((a, b) => a + b, 0);
    if (total > this.deadLettersLogged) {
      const byReason = Object.fromEntries(Object.entries(h.deadLettered).filter(([, n]) => n > 0));
      this.log('warn', `${total - this.deadLettersLogged} line(s) dead-lettered`, { total, ...byReason, file: join(this.config.home, 'data', 'dead-letter.ndjson') });
      this.deadLettersLogged = total;
    }
    void final;
  }
}

/**
 * A fleet's pipeline health, read from InfluxDB, with whether InfluxDB refuses this daemon's own
 * credentials: only this daemon can know that (a refused host cannot report there), and with it
 * refused, the fleet's health may not be readable either.
 */
async function fleetHealth(influx: InfluxQueryApi, ownAuthFailed: number | null, o: QueryOptions): Promise<PipelineHealth> {
  try {
    return { ...(await influx.pipelineHealth(o)), influxAuthFailed: ownAuthFailed };
  } catch (err: unknown) {
    if (ownAuthFailed !== 1) throw err;
    return { ...UNKNOWN_PIPELINE_HEALTH, influxAuthFailed: 1 };
  }
}

/**
 * Why the server could not listen, said in the settings' terms, or null for any other failure.
 * Node names only the system call (`listen EADDRNOTAVAIL`, `getaddrinfo ENOTFOUND 10.0.0.9:80`):
 * the operator needs to hear which setting to change.
 */
export function listenError(err: unknown, listen: { host: string; port: number }): Error | null {
  const at = `cannot listen on ${listen.host}:${listen.port}`;
  switch ((err as NodeJS.ErrnoException | null)?.code) {
    case 'EADDRINUSE':
      return new Error(`${at}: the port is in use (choose another with --port or listen.port)`, { cause: err });
    case 'EACCES':
      // A privileged port (below 1024 unless net.ipv4.ip_unprivileged_port_start says otherwise)
      // for a user without CAP_NET_BIND_SERVICE.
      return new Error(`${at}: the port needs privileges this user lacks (ports below 1024 do, on most systems): choose one of 1024 or above with --port or listen.port, or grant the daemon CAP_NET_BIND_SERVICE (AmbientCapabilities=CAP_NET_BIND_SERVICE in its systemd unit)`, { cause: err });
    case 'EADDRNOTAVAIL':
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new Error(`${at}: ${listen.host} is not an address of this machine (set --host or listen.host to one of its addresses or host names, without a port: 127.0.0.1, or 0.0.0.0 for every interface)`, { cause: err });
    default:
      return null;
  }
}
