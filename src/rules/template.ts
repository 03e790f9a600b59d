/**
 * Label and annotation templates in the Prometheus manner, the subset alert texts use:
 * `{{ $value }}`, `{{ $labels.model }}` (or `{{ .Labels.model }}`), `{{ $threshold }}`, and the
 * pipes `humanize`, `humanizePercentage`, `humanizeDuration` (seconds), `printf "%.2f"`.
 * Templates are compiled when a rule loads, so a typo fails at start, never at fire time.
 */
import { formatDuration } from './duration.js';

export interface TemplateData {
  value: number | null;
  threshold: number;
  labels: Record<string, string>;
}

export type CompiledTemplate = (data: TemplateData) => string;

export class TemplateError extends Error {
  readonly code = 'E_RULE_TEMPLATE';
}

type Piece = string | ((d: TemplateData) => string);
const ACTION_RE = /\{\{-?\s*(.*?)\s*-?\}\}/g;

/** Compiles a template; throws {@link TemplateError} naming the bad action. */
export function compileTemplate(text: string): CompiledTemplate {
  const pieces: Piece[] = [];
  let last = 0;
  for (const m of text.matchAll(ACTION_RE)) {
    pieces.push(text.slice(last, m.index));
    pieces.push(compileAction(m[1] ?? ''));
    last = (m.index ?? 0) + m[0].length;
  }
  pieces.push(text.slice(last));
  if (/\{\{|\}\}/.test(pieces.filter((p) => typeof p === 'string').join(''))) throw new TemplateError(`unbalanced {{ }} in ${JSON.stringify(text)}`);
  return (d) => pieces.map((p) => (typeof p === 'string' ? p : p(d))).join('');
}

function compileAction(action: string): (d: TemplateData) => string {
  const stages = action.split('|').map((s) => s.trim());
  const [head, ...pipes] = stages;
  let source: (d: TemplateData) => unknown;
  let printfFmt: string | null = null;
  const printf = /^printf\s+"([^"]*)"\s+(.+)$/.exec(head ?? '');
  const expr = printf ? (printf[2] ?? '').trim() : (head ?? '');
  if (printf) printfFmt = printf[1] ?? '';
  const label = /^(?:\$labels|\.Labels)\.([A-Za-z_][A-Za-z0-9_]*)$/.exec(expr);
  if (expr === '$value' || expr === '.Value') source = (d) => d.value;
  else if (expr === '$threshold') source = (d) => d.threshold;
  else if (label) {
    const key = label[1] ?? '';
    source = (d) => d.labels[key] ?? '';
  } else throw new TemplateError(`unknown template action {{ ${action} }}: use $value, $threshold or $labels.<name>`);
  const fns = pipes.map((p) => {
    switch (p) {
      case 'humanize': return humanize;
      case 'humanizePercentage': return humanizePercentage;
      case 'humanizeDuration': return humanizeDuration;
      default: throw new TemplateError(`unknown template function ${JSON.stringify(p)} in {{ ${action} }}`);
    }
  });
  return (d) => {
    let v: unknown = source(d);
    if (printfFmt !== null) v = sprintf(printfFmt, v);
    for (const f of fns) v = f(v);
    return fmt(v);
  };
}

function fmt(v: unknown): string {
  if (v === null || v === undefined) return 'unknown';
  // 15 significant digits: float noise (0.30000000000000004) goes, the value's own digits stay
  // (6 would print 1234567 as 1234570, a different number).
  if (typeof v === 'number') return Number.isFinite(v) ? String(Number(v.toPrecision(15))) : String(v);
  return String(v);
}

function trim(v: number): string {
  return String(Number(v.toFixed(2)));
}

/**
 * A number for people to read: two decimals from 1 up (12.35, 1234567.89), four significant
 * digits below (0.3636, 0.000123), where two decimals would print a small value as 0.
 */
export function readableNumber(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  return Math.abs(v) >= 1 || v === 0 ? trim(v) : String(Number(v.toPrecision(4)));
}

/** A ratio as a percentage: 0.3636… is 36.36%, 0.00000123 is 0.000123% (not 0%). */
export function humanizePercentage(v: unknown): string {
  return typeof v === 'number' && Number.isFinite(v) ? `${readableNumber(v * 100)}%` : fmt(v);
}

export function humanize(v: unknown): string {
  if (typeof v !== 'number' || !Number.isFinite(v)) return fmt(v);
  const a = Math.abs(v);
  for (const [s, n] of [['T', 1e12], ['G', 1e9], ['M', 1e6], ['k', 1e3]] as const) if (a >= n) return `${trim(v / n)}${s}`;
  if (a >= 1 || a === 0) return trim(v);
  // Below 1, SI prefixes as Prometheus's humanize: 0.000123 is 123µ, not 0.
  for (const [s, n] of [['m', 1e-3], ['µ', 1e-6], ['n', 1e-9]] as const) if (a >= n) return `${trim(v / n)}${s}`;
  return `${trim(v / 1e-12)}p`;
}

/** Seconds as a duration: `1h30m`, `12s`, `250ms`, `123µs` (not `0ms`), `-2s`. */
export function humanizeDuration(v: unknown): string {
  if (typeof v !== 'number' || !Number.isFinite(v)) return fmt(v);
  const a = Math.abs(v);
  const sign = v < 0 ? '-' : '';
  if (a === 0 || a >= 1) return sign + formatDuration(a * 1000);
  if (a >= 1e-3) return `${sign}${trim(a * 1e3)}ms`;
  if (a >= 1e-6) return `${sign}${trim(a * 1e6)}µs`;
  return `${sign}${trim(a * 1e9)}ns`;
}

function sprintf(format: string, v: unknown): string {
  return format.replace(/%(?:\.(\d+))?([dfsv%])/g, (_m, prec: string | undefined, conv: string) => {
    if (conv === '%') return '%';
    if (typeof v !== 'number') return fmt(v);
    if (conv === 'd') return String(Math.round(v));
    if (conv === 'f') return v.toFixed(prec === undefined ? 6 : Number(prec));
    return fmt(v);
  });
}
