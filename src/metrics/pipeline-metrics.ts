/**
 * The daemon's own health as `claudescope_*` metrics, read from the pipeline at scrape time
 * (nothing is counted twice: each scrape copies the pipeline's cumulative counters).
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { EmitterStats } from '../event/types.js';

/** The pipeline health the metrics read (a subset of the pipeline's `health()`). */
export interface PipelineHealthSnapshot {
  lagBytes: number;
  oldestUnackedAgeMs: number;
  linesRead: number;
  eventsInserted: number;
  eventsIgnored: number;
  pricingErrors: number;
  batchesCommitted: number;
  deadLettered: Record<string, number>;
  checkpointErrors: number;
  truncations: number;
  replacements: number;
  filesTracked: number;
  filesUnreadable: number;
  filesOpen: number;
  maxOpenFiles: number;
  descriptorShortages: number;
}

/** The latest counters of one emitter process. */
export interface EmitterStatsSnapshot {
  app: string;
  host: string;
  stats: EmitterStats;
}

export interface PipelineMetricsSource {
  /** Null before the pipeline started. */
  health(): PipelineHealthSnapshot | null;
  emitterStats(): EmitterStatsSnapshot[];
  /** Epoch ms of the last commit that stored calls, or null. */
  lastCommitMs(): number | null;
}

/** A counter whose value is copied from a cumulative source at each scrape. */
function mirrorCounter<L extends string>(registry: Registry, name: string, help: string, labelNames: L[], read: (set: (labels: Partial<Record<L, string>>, v: number) => void) => void): void {
  new Counter<L>({
    name, help, labelNames, registers: [registry],
    collect() {
      this.reset();
      read((labels, v) => {
        if (v > 0) this.inc(labels, v);
        else this.inc(labels, 0);
      });
    },
  });
}

function mirrorGauge<L extends string>(registry: Registry, name: string, help: string, labelNames: L[], read: (set: (labels: Partial<Record<L, string>>, v: number) => void) => void): void {
  new Gauge<L>({
    name, help, labelNames, registers: [registry],
    collect() {
      this.reset();
      read((labels, v) => this.set(labels, v));
    },
  });
}

const DROP_REASONS: [string, keyof EmitterStats][] = [
  ['buffer_full', 'events_dropped_buffer'],
  ['dir_cap', 'events_dropped_dir_cap'],
  ['write_error', 'events_dropped_write_error'],
];

export function registerPipelineMetrics(registry: Registry, src: PipelineMetricsSource): void {
  const h = (f: (x: PipelineHealthSnapshot) => number) => (set: (l: Record<string, string>, v: number) => void): void => {
    const x = src.health();
    if (x) set({}, f(x));
  };
  mirrorGauge(registry, 'claudescope_tail_lag_bytes', 'Bytes in event files not yet committed to the store', [], h((x) => x.lagBytes));
  mirrorGauge(registry, 'claudescope_tail_oldest_unacked_age_seconds', 'Age of the oldest bytes read but not committed (0 when caught up)', [], h((x) => x.oldestUnackedAgeMs / 1000));
  mirrorGauge(registry, 'claudescope_tail_files', 'Event files tracked by the tailer', [], h((x) => x.filesTracked));
  mirrorGauge(registry, 'claudescope_tail_unreadable_files', 'Event files in the events folder the daemon may not open (their calls are not counted)', [], h((x) => x.filesUnreadable));
  mirrorGauge(registry, 'claudescope_tail_open_files', 'Event files the tailer holds open', [], h((x) => x.filesOpen));
  mirrorGauge(registry, 'claudescope_tail_max_open_files', 'Most event files the tailer holds open at once (tail.max_open_files, halved when the process ran out of descriptors)', [], h((x) => x.maxOpenFiles));
  mirrorCounter(registry, 'claudescope_tail_descriptor_shortages_total', 'Shortages of file descriptors the tailer found (EMFILE, ENFILE): an event file or the events folder it could not open, an event file given one of the last descriptors under the limit, or too few left after a failed commit', [], h((x) => x.descriptorShortages));
  mirrorCounter(registry, 'claudescope_tail_lines_read_total', 'Lines read from event files', [], h((x) => x.linesRead));
  mirrorCounter(registry, 'claudescope_events_committed_total', 'Calls stored for the first time', [], h((x) => x.eventsInserted));
  mirrorCounter(registry, 'claudescope_events_replayed_total', 'Calls read again and ignored because already stored (replays are harmless)', [], h((x) => x.eventsIgnored));
  mirrorCounter(registry, 'claudescope_pricing_errors_total', 'Calls whose pricing failed (stored as unpriced)', [], h((x) => x.pricingErrors));
  mirrorCounter(registry, 'claudescope_batches_committed_total', 'Batches committed to the store', [], h((x) => x.batchesCommitted));
  mirrorCounter(registry, 'claudescope_checkpoint_errors_total', 'Failed commits of rows and checkpoints', [], h((x) => x.checkpointErrors));
  mirrorCounter(registry, 'claudescope_truncations_total', 'Event files found truncated or rewritten (re-read from 0)', [], h((x) => x.truncations));
  mirrorCounter(registry, 'claudescope_replacements_total', 'Event files replaced at the same path', [], h((x) => x.replacements));
  mirrorCounter<'reason'>(registry, 'claudescope_dead_letters_total', 'Lines the daemon could not use, recorded in the dead-letter file', ['reason'], (set) => {
    const x = src.health();
    if (!x) return;
    for (const [reason, n] of Object.entries(x.deadLettered)) set({ reason }, n);
  });
  mirrorGauge(registry, 'claudescope_last_commit_timestamp_seconds', 'Time of the last commit that stored calls', [], (set) => {
    const t = src.lastCommitMs();
    if (t !== null) set({}, t / 1000);
  });
  // Emitters report cumulative counters per process; the sum over processes per app and host.
  const perAppHost = (pick: (s: EmitterStats) => [string, number][]): ((set: (l: Record<string, string>, v: number) => void) => void) => (set) => {
    const sums = new Map<string, { labels: Record<string, string>; v: number }>();
    for (const r of src.emitterStats()) {
      for (const [reason, v] of pick(r.stats)) {
        const labels: Record<string, string> = reason === '' ? { app: r.app, host: r.host } : { app: r.app, host: r.host, reason };
        const key = JSON.stringify(labels);
        const cur = sums.get(key);
        if (cur) cur.v += v;
        else sums.set(key, { labels, v });
      }
    }
    for (const { labels, v } of sums.values()) set(labels, v);
  };
  mirrorCounter<'app' | 'host' | 'reason'>(registry, 'claudescope_emitter_dropped_events_total', 'Events emitters dropped rather than slow the app (buffer full, folder cap, write error)', ['app', 'host', 'reason'],
    perAppHost((s) => DROP_REASONS.map(([reason, k]) => [reason, Number(s[k] ?? 0)])));
  mirrorCounter<'app' | 'host'>(registry, 'claudescope_emitter_internal_errors_total', 'Faults emitters caught inside themselves (the app was not affected)', ['app', 'host'],
    perAppHost((s) => [['', s.internal_errors]]));
  mirrorCounter<'app' | 'host'>(registry, 'claudescope_emitter_events_written_total', 'Events emitters handed to their files', ['app', 'host'],
    perAppHost((s) => [['', s.events_written]]));
}
