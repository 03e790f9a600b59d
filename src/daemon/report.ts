/**
 * The numbers of `claudescope report`: cost, calls, errors, tokens by type, p50/p95/p99
 * latency and time to first token, grouped by model, feature or UTC day, over a window;
 * rendered as a table, JSON or CSV. Reads through the {@link QueryApi}, so it works on the
 * SQLite store opened read-only while the daemon writes.
 *
 * Unpriced calls are shown as such: a group whose calls are all unpriced has cost `null`
 * ("unpriced" in the table), never $0.
 */
import { isoTimeOf } from './iso-time.js';
import { formatUsd } from '../pricing/money.js';
import type { Aggregate, AggregateRow, QueryApi, TimeWindow } from '../store/types.js';

export type ReportBy = 'model' | 'feature' | 'day';
export const REPORT_BY: readonly ReportBy[] = ['model', 'feature', 'day'];
const DAY_MS = 86_400_000;

export interface ReportRow {
  /** The model, the feature tag (`(none)` without one) or the UTC day `YYYY-MM-DD`. */
  key: string;
  calls: number;
  errors: number;
  /** USD of the priced calls; null when every call of the group is unpriced. */
  cost_usd: number | null;
  unpriced_calls: number;
  input_tokens: number;
  output_tokens: number;
  cache_read_input_tokens: number;
  cache_write_5m_input_tokens: number;
  cache_write_1h_input_tokens: number;
  latency_p50_ms: number | null;
  latency_p95_ms: number | null;
  latency_p99_ms: number | null;
  ttft_p50_ms: number | null;
  ttft_p95_ms: number | null;
  ttft_p99_ms: number | null;
}

export interface Report {
  by: ReportBy;
  window: { start: string; end: string };
  rows: ReportRow[];
  total: ReportRow;
}

const SUMS: Record<string, Aggregate> = {
  calls: { op: 'count' },
  errors: { op: 'count_where', filter: { status: 'error' } },
  cost_usd: { op: 'sum', field: 'cost_usd' },
  unpriced_calls: { op: 'unpriced_count' },
  input_tokens: { op: 'sum', field: 'input_tokens' },
  output_tokens: { op: 'sum', field: 'output_tokens' },
  cache_read_input_tokens: { op: 'sum', field: 'cache_read_input_tokens' },
  cache_write_5m_input_tokens: { op: 'sum', field: 'cache_write_5m_input_tokens' },
  cache_write_1h_input_tokens: { op: 'sum', field: 'cache_write_1h_input_tokens' },
};
const PCTLS: Record<string, Aggregate> = {
  latency_p50_ms: { op: 'percentile', field: 'duration_ms', p: 50 },
  latency_p95_ms: { op: 'percentile', field: 'duration_ms', p: 95 },
  latency_p99_ms: { op: 'percentile', field: 'duration_ms', p: 99 },
  ttft_p50_ms: { op: 'percentile', field: 'ttft_ms', p: 50 },
  ttft_p95_ms: { op: 'percentile', field: 'ttft_ms', p: 95 },
  ttft_p99_ms: { op: 'percentile', field: 'ttft_ms', p: 99 },
};

/** Parses `24h`, `7d`, `30m`, `2w`, `now` or an ISO 8601 time into epoch ms (relative to `now`). */
export function parseTime(s: string, now: number, what: string): number {
  const v = s.trim();
  if (v === 'now') return now;
  const m = /^(\d+(?:\.\d+)?)(s|m|h|d|w)$/.exec(v);
  if (m) {
    const unit = { s: 1000, m: 60_000, h: 3_600_000, d: DAY_MS, w: 7 * DAY_MS }[m[2] as 's' | 'm' | 'h' | 'd' | 'w'];
    return now - Number(m[1]) * unit;
  }
  return isoTimeOf(what, s, 'a duration such as 24h, 7d, 30m, or an ISO time such as 2026-11-20 or 2026-11-20T08:00:00Z');
}

const num = (v: number | null | undefined): number => v ?? 0;
/** Percentiles to 0.1 ms (they are within 1 % anyway); USD to the nanodollar (no float noise). */
const ms = (v: number | null | undefined): number | null => (v === null || v === undefined ? null : Math.round(v * 10) / 10);
const usd = (v: number): number => Math.round(v * 1e9) / 1e9;

function rowOf(key: string, v: Record<string, number | null>): ReportRow {
  const calls = num(v['calls']);
  const unpriced = num(v['unpriced_calls']);
  return {
    key,
    calls,
    errors: num(v['errors']),
    cost_usd: calls > 0 && unpriced === calls ? null : usd(num(v['cost_usd'])),
    unpriced_calls: unpriced,
    input_tokens: num(v['input_tokens']),
    output_tokens: num(v['output_tokens']),
    cache_read_input_tokens: num(v['cache_read_input_tokens']),
    cache_write_5m_input_tokens: num(v['cache_write_5m_input_tokens']),
    cache_write_1h_input_tokens: num(v['cache_write_1h_input_tokens']),
    latency_p50_ms: ms(v['latency_p50_ms']),
    latency_p95_ms: ms(v['latency_p95_ms']),
    latency_p99_ms: ms(v['latency_p99_ms']),
    ttft_p50_ms: ms(v['ttft_p50_ms']),
    ttft_p95_ms: ms(v['ttft_p95_ms']),
    ttft_p99_ms: ms(v['ttft_p99_ms']),
  };
}

/**
 * Builds the report, in steps (sums, then percentiles; for `day`, a day at a time) so
 * `progress(done, total)` can be shown on long windows.
 */
export async function buildReport(q: QueryApi, by: ReportBy, window: TimeWindow, progress: (done: number, total: number, what: string) => void = () => {}): Promise<Report> {
  const merged = new Map<string, Record<string, number | null>>();
  const put = (rows: AggregateRow[], keyOf: (r: AggregateRow) => string): void => {
    for (const r of rows) {
      const k = keyOf(r);
      merged.set(k, { ...(merged.get(k) ?? {}), ...r.values });
    }
  };
  const aggregates = { ...SUMS, ...PCTLS };
  if (by === 'day') {
    const days: TimeWindow[] = [];
    for (let s = Math.floor(window.start / DAY_MS) * DAY_MS; s < window.end; s += DAY_MS) days.push({ start: Math.max(s, window.start), end: Math.min(s + DAY_MS, window.end) });
    for (let i = 0; i < days.length; i++) {
      progress(i, days.length + 1, 'days');
      const d = days[i]!;
      const rows = await q.aggregate({ window: d, aggregates });
      const key = new Date(d.start).toISOString().slice(0, 10);
      if ((rows[0]?.values['calls'] ?? 0) > 0) put(rows, () => key);
    }
  } else {
    progress(0, 3, 'sums');
    put(await q.aggregate({ window, groupBy: [by], aggregates: SUMS }), (r) => r.group[by] ?? '(none)');
    progress(1, 3, 'percentiles');
    put(await q.aggregate({ window, groupBy: [by], aggregates: PCTLS }), (r) => r.group[by] ?? '(none)');
  }
  progress(by === 'day' ? 1 : 2, by === 'day' ? 1 : 3, 'total');
  const [total] = await q.aggregate({ window, aggregates });
  const rows = [...merged.entries()].map(([k, v]) => rowOf(k, v));
  if (by === 'day') rows.sort((a, b) => (a.key < b.key ? -1 : 1));
  else rows.sort((a, b) => num(b.cost_usd) - num(a.cost_usd) || b.calls - a.calls || (a.key < b.key ? -1 : 1));
  return { by, window: { start: new Date(window.start).toISOString(), end: new Date(window.end).toISOString() }, rows, total: rowOf('total', total?.values ?? {}) };
}

const COLUMNS: [keyof ReportRow, string][] = [
  ['key', ''], ['calls', 'calls'], ['errors', 'errors'], ['cost_usd', 'cost USD'], ['unpriced_calls', 'unpriced'],
  ['input_tokens', 'input'], ['output_tokens', 'output'], ['cache_read_input_tokens', 'cache read'],
  ['cache_write_5m_input_tokens', 'cache w 5m'], ['cache_write_1h_input_tokens', 'cache w 1h'],
  ['latency_p50_ms', 'p50 ms'], ['latency_p95_ms', 'p95 ms'], ['latency_p99_ms', 'p99 ms'],
  ['ttft_p50_ms', 'ttft p50 ms'], ['ttft_p95_ms', 'ttft p95 ms'], ['ttft_p99_ms', 'ttft p99 ms'],
];

function cell(r: ReportRow, k: keyof ReportRow): string {
  const v = r[k];
  if (k === 'cost_usd') {
    const s = formatUsd(v as number | null, 'unpriced');
    if (v === null) return s;
    return r.unpriced_calls > 0 ? `${s}+?` : s;
  }
  if (v === null) return '-';
  // Whole numbers with thousands separators, a percentile's tenths rounded off: 2,000 ms whether it was 2000 or 2000.4.
  if (typeof v === 'number') return Math.round(v).toLocaleString('en-US');
  return v;
}

/** A plain-text table; `+?` after a cost means some calls of the row are unpriced. */
export function formatTable(rep: Report): string {
  const head = COLUMNS.map(([, h], i) => (i === 0 ? rep.by : h));
  const body = [...rep.rows, rep.total].map((r) => COLUMNS.map(([k]) => cell(r, k)));
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const fmt = (cols: string[]): string => cols.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd();
  const lines = [`${rep.window.start} .. ${rep.window.end}`, fmt(head), ...body.slice(0, -1).map(fmt), widths.map((w) => '-'.repeat(w)).join('  '), fmt(body.at(-1)!)];
  if (rep.total.unpriced_calls > 0) lines.push(`${rep.total.unpriced_calls} call(s) could not be priced: their cost is unknown, not $0 (+? marks rows that include them).`);
  return `${lines.join('\n')}\n`;
}

export function formatCsv(rep: Report): string {
  const keys = COLUMNS.map(([k]) => k);
  const esc = (v: unknown): string => {
    const s = v === null ? '' : String(v);
    return /[",\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
  };
  const header = [rep.by, ...keys.slice(1)].join(',');
  return `${[header, ...[...rep.rows, rep.total].map((r) => keys.map((k) => esc(r[k])).join(','))].join('\n')}\n`;
}
