/**
 * Writes contract-conformant event files (header, call lines, stats, footer) for tests,
 * and small helpers around a temporary CLAUDESCOPE_HOME.
 */
import { mkdtempSync, rmSync, mkdirSync, writeFileSync, appendFileSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir, hostname } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import type { CallEvent, EmitterStats, FileFooter, FileHeader, StatsLine } from '../../src/event/types.js';

export interface TempHome {
  home: string;
  events: string;
  data: string;
  cleanup(): void;
}

/** A fresh CLAUDESCOPE_HOME with `events/` and `data/`; register `cleanup` as teardown. */
export function tempHome(): TempHome {
  const home = mkdtempSync(join(tmpdir(), 'claudescope-test-'));
  const events = join(home, 'events');
  const data = join(home, 'data');
  mkdirSync(events, { recursive: true });
  mkdirSync(data, { recursive: true });
  return { home, events, data, cleanup: () => rmSync(home, { recursive: true, force: true }) };
}

export function emptyStats(over: Partial<EmitterStats> = {}): EmitterStats {
  return { events_written: 0, events_dropped_buffer: 0, events_dropped_dir_cap: 0, events_dropped_write_error: 0, internal_errors: 0, bytes_written: 0, ...over };
}

export function header(over: Partial<FileHeader> = {}): FileHeader {
  return {
    t: 'header', v: 1, file_id: randomUUID(), app: 'test-app', host: hostname(), pid: process.pid,
    started_at: new Date().toISOString(), file_seq: 0, emitter: { name: 'claudescope-test', version: '0.0.0' }, ...over,
  };
}

let seqCounter = 0;

/** A complete, valid call event; `over` replaces top-level fields. */
export function call(over: Partial<CallEvent> = {}): CallEvent {
  const ts = over.ts ?? Date.now();
  return {
    t: 'call', v: 1, event_id: randomUUID(), seq: ++seqCounter, ts, ts_start: ts - (over.duration_ms ?? 800),
    app: 'test-app', env: 'test', host: hostname(), pid: process.pid, tags: { feature: 'chat' },
    provider: 'anthropic', operation: 'messages.create', model_requested: 'claude-test-1', model: 'claude-test-1',
    stream: false, max_tokens: 1024, tool_count: 0, status: 'ok', http_status: 200, error_type: null, error_code: null,
    stop_reason: 'end_turn', request_id: `req_${randomUUID()}`, message_id: `msg_${randomUUID()}`, organization_id: null,
    workspace_id: null, api_key_alias: null, attempts: 1,
    attempt_log: [{ status: 200, error_type: null, request_id: null, start_offset_ms: 0, duration_ms: 700, retry_after_ms: null }],
    duration_ms: 800, ttft_ms: null, output_tokens_per_second: null, complete: true,
    usage: {
      input_tokens: 100, output_tokens: 50, cache_read_input_tokens: 0, cache_creation_input_tokens: 0,
      cache_write_5m_input_tokens: 0, cache_write_1h_input_tokens: 0, cache_write_unknown_ttl_input_tokens: 0,
      thinking_tokens: null, web_search_requests: 0, web_fetch_requests: 0, code_execution_requests: 0,
      service_tier: 'standard', speed: null, inference_geo: null,
    },
    rate_limits: null,
    ...over,
  };
}

export function statsLine(fileId: string, stats: EmitterStats, ts = Date.now()): StatsLine {
  return { t: 'stats', v: 1, file_id: fileId, ts, stats };
}

export function footer(fileId: string, lines: number, stats: EmitterStats = emptyStats()): FileFooter {
  return { t: 'footer', v: 1, file_id: fileId, lines, sealed_at: new Date().toISOString(), reason: 'close', stats };
}

export const line = (v: unknown): string => `${JSON.stringify(v)}\n`;

export interface EventFileSpec {
  dir: string;
  name?: string;
  header?: FileHeader;
  calls: CallEvent[];
  sealed?: boolean;
}

/** Writes a whole event file; returns its path and header. */
export function writeEventFile(spec: EventFileSpec): { path: string; header: FileHeader } {
  const h = spec.header ?? header();
  const path = join(spec.dir, spec.name ?? `${h.app}-${h.host}-${h.pid}-${Date.now()}-${h.file_id.slice(0, 8)}.ndjson`);
  let text = line(h) + spec.calls.map(line).join('');
  if (spec.sealed) text += line(footer(h.file_id, spec.calls.length + 1, emptyStats({ events_written: spec.calls.length })));
  writeFileSync(path, text, { mode: 0o600 });
  return { path, header: h };
}

export function appendLines(path: string, ...values: unknown[]): void {
  appendFileSync(path, values.map(line).join(''));
}

/** Records of the dead-letter file (none when it does not exist). */
export function readDeadLetters(data: string): Record<string, unknown>[] {
  const p = join(data, 'dead-letter.ndjson');
  if (!existsSync(p)) return [];
  return readFileSync(p, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** Waits until `cond` holds (checked every 20 ms); throws after `timeoutMs` with `what`. */
export async function waitFor(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
