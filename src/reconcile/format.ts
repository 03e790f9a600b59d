/**
 * Renderings of a reconciliation: a table for people (each cell local vs billed, the
 * difference and the capture ratio, `!` beyond the tolerance, a "likely:" line per cause),
 * CSV with every token type, and JSON (the result as is).
 */
import { formatUsd } from '../pricing/money.js';
import { TOKEN_TYPES, type ReconciliationResult, type ReconciledCell } from './types.js';

const int = (n: number): string => Math.round(n).toLocaleString('en-US');
const signedInt = (n: number): string => `${n > 0 ? '+' : ''}${int(n)}`;
const pct = (r: number | null): string => (r === null ? 'n/a' : `${(r * 100).toFixed(1)}%`);
const signedUsd = (v: number | null): string => (v === null ? 'n/a' : `${v > 0 ? '+' : ''}${formatUsd(v)}`);

function bucketLabel(c: ReconciledCell, bucket: string): string {
  return bucket === '1d' ? c.bucket_start.slice(0, 10) : c.bucket_start.slice(0, 13).replace('T', ' ') + 'h';
}

function pad(rows: string[][]): string {
  const widths: number[] = [];
  for (const r of rows) r.forEach((v, i) => { widths[i] = Math.max(widths[i] ?? 0, v.length); });
  return rows.map((r) => r.map((v, i) => (i <= 1 ? v.padEnd(widths[i] ?? 0) : v.padStart(widths[i] ?? 0))).join('  ').trimEnd()).join('\n');
}

export function formatTable(r: ReconciliationResult): string {
  const out: string[] = [];
  out.push(`Reconciliation ${r.range.start} .. ${r.range.end} (${r.api} API, ${r.bucket} buckets, tolerance ${pct(r.tolerance)})${r.data_refreshed_at ? `, billed data refreshed at ${r.data_refreshed_at}` : ''}`);
  out.push('');
  const head = ['bucket', 'model', ...(r.split_by.includes('workspace') ? ['workspace'] : []), ...(r.split_by.includes('api_key') ? ['api key'] : []),
    'local tokens', 'billed tokens', 'diff', 'capture', 'local cost', 'billed cost', 'diff', 'capture', ''];
  const rows: string[][] = [head];
  const causeLines = new Map<number, string[]>();
  r.cells.forEach((c, i) => {
    rows.push([
      bucketLabel(c, r.bucket), c.model ?? '(no model)',
      ...(r.split_by.includes('workspace') ? [c.workspace ?? '(default)'] : []),
      ...(r.split_by.includes('api_key') ? [c.api_key ?? '(no key)'] : []),
      int(c.local.total_tokens), int(c.billed.total_tokens), signedInt(c.diff.total_tokens), pct(c.capture.tokens),
      formatUsd(c.local.cost_usd), formatUsd(c.billed.cost_usd), signedUsd(c.diff.cost_usd), pct(c.capture.cost),
      c.flagged ? '!' : '',
    ]);
    if (c.flagged) causeLines.set(i + 1, c.causes.map((x) => `    likely: ${x.message}`));
  });
  const table = pad(rows).split('\n');
  table.forEach((line, i) => {
    out.push(line);
    for (const l of causeLines.get(i) ?? []) out.push(l);
  });
  if (r.cells.length === 0) out.push('(no usage on either side in this range)');
  out.push('');
  out.push('Capture by model (local ÷ billed over the range):');
  const srows: string[][] = [['model', '', 'local tokens', 'billed tokens', 'capture', 'local cost', 'billed cost', 'capture']];
  for (const m of [...r.models, { ...r.total, model: 'total' }]) {
    srows.push([m.model ?? '(no model)', '', int(m.local_tokens), int(m.billed_tokens), pct(m.token_capture), formatUsd(m.local_cost_usd), formatUsd(m.billed_cost_usd), pct(m.cost_capture)]);
  }
  out.push(pad(srows));
  const unpriced = r.total.unpriced_calls ?? 0;
  if (unpriced > 0) out.push(`Cost capture is n/a where calls have no local price (${int(unpriced)} in all): their cost is unknown, not $0, and the local cost is the priced calls' only.`);
  out.push('');
  out.push(r.flagged_cells === 0 ? 'Every cell is within the tolerance.' : `${r.flagged_cells} cell(s) beyond the tolerance (marked !).`);
  return `${out.join('\n')}\n`;
}

const csvCell = (v: string | number | null | undefined): string => {
  if (v === null || v === undefined) return '';
  const s = String(v);
  return /[",\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
};

export function formatCsv(r: ReconciliationResult): string {
  const head = ['bucket_start', 'bucket_end', 'model', 'workspace', 'api_key',
    ...TOKEN_TYPES.flatMap((t) => [`local_${t}_tokens`, `billed_${t}_tokens`]),
    'local_total_tokens', 'billed_total_tokens', 'diff_total_tokens', 'token_capture',
    'local_cost_usd', 'billed_cost_usd', 'diff_cost_usd', 'cost_capture', 'local_calls', 'billed_requests', 'flagged', 'causes'];
  const lines = [head.join(',')];
  for (const c of r.cells) {
    lines.push([
      c.bucket_start, c.bucket_end, c.model, c.workspace ?? null, c.api_key ?? null,
      ...TOKEN_TYPES.flatMap((t) => [c.local.tokens[t], c.billed.tokens[t]]),
      c.local.total_tokens, c.billed.total_tokens, c.diff.total_tokens, c.capture.tokens,
      c.local.cost_usd, c.billed.cost_usd, c.diff.cost_usd, c.capture.cost, c.local.calls, c.billed.requests,
      c.flagged ? 'true' : 'false', c.causes.map((x) => x.message).join(' | '),
    ].map(csvCell).join(','));
  }
  return `${lines.join('\n')}\n`;
}

export function formatJson(r: ReconciliationResult): string {
  return `${JSON.stringify(r, null, 2)}\n`;
}
