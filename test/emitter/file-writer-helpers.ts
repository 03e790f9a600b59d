// Shared by the file-writer tests: a realistic call event, temp folders, and file readers.
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ExecutionContext } from 'ava';
import type { CallEventInput } from '../../src/emitter/file-writer.js';

/** A call event of about 1 KB, as the middleware produces for a finished messages.create. */
export function callEvent(i: number): CallEventInput {
  const ts = 1_760_000_000_000 + i;
  return {
    t: 'call',
    v: 1,
    event_id: `evt_${i.toString().padStart(10, '0')}_0123456789abcdef`,
    ts,
    ts_start: ts - 1234,
    app: 'bench',
    env: 'prod',
    host: 'host-1',
    pid: 4242,
    tags: { feature: 'summarise', customer: 'acme-corp' },
    provider: 'anthropic',
    operation: 'messages.create',
    model_requested: 'claude-sonnet-4-5',
    model: 'claude-sonnet-4-5-20250929',
    stream: false,
    max_tokens: 1024,
    tool_count: 2,
    status: 'ok',
    http_status: 200,
    error_type: null,
    error_code: null,
    stop_reason: 'end_turn',
    request_id: 'req_011CUQZ8sF5J3xLw3nJ2kB4m',
    message_id: 'msg_01XFDUDYJgAACzvnptvVoYEL',
    organization_id: 'org_0123456789',
    workspace_id: null,
    api_key_alias: 'backend',
    attempts: 2,
    attempt_log: [
      { status: 529, error_type: 'overloaded_error', request_id: 'req_011CUQZ8a', start_offset_ms: 0, duration_ms: 210, retry_after_ms: 500 },
      { status: 200, error_type: null, request_id: 'req_011CUQZ8sF5J3xLw3nJ2kB4m', start_offset_ms: 720, duration_ms: 514, retry_after_ms: null },
    ],
    duration_ms: 1234,
    ttft_ms: null,
    output_tokens_per_second: null,
    complete: true,
    usage: {
      input_tokens: 1520,
      output_tokens: 312,
      cache_read_input_tokens: 20480,
      cache_creation_input_tokens: 0,
      cache_write_5m_input_tokens: 0,
      cache_write_1h_input_tokens: 0,
      cache_write_unknown_ttl_input_tokens: 0,
      thinking_tokens: null,
      web_search_requests: 0,
      web_fetch_requests: 0,
      code_execution_requests: 0,
      service_tier: 'standard',
      speed: null,
      inference_geo: null,
    },
    rate_limits: {
      requests: { limit: 4000, remaining: 3999, reset: '2025-10-09T12:00:01Z' },
      tokens: { limit: 2000000, remaining: 1978000, reset: '2025-10-09T12:00:01Z' },
      input_tokens: { limit: 1600000, remaining: 1580000, reset: '2025-10-09T12:00:01Z' },
      output_tokens: { limit: 400000, remaining: 399600, reset: '2025-10-09T12:00:01Z' },
    },
  };
}

/** A fresh temp folder removed after the test. */
export function tempDir(t: ExecutionContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'cs-writer-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** The events files of `dir`, in file_seq order. */
export function eventFiles(dir: string): string[] {
  const seqOf = (name: string): number => Number(/-(\d+)\.ndjson$/.exec(name)?.[1] ?? -1);
  return readdirSync(dir)
    .filter((n) => n.endsWith('.ndjson'))
    .sort((a, b) => seqOf(a) - seqOf(b))
    .map((n) => join(dir, n));
}

export type Line = Record<string, unknown> & { t: string };

/** Every line of a file, parsed; throws on a torn or unterminated line. */
export function readLines(file: string): Line[] {
  const text = readFileSync(file, 'utf8');
  if (text !== '' && !text.endsWith('\n')) throw new Error(`${file}: unterminated last line`);
  return text
    .split('\n')
    .slice(0, -1)
    .map((l) => JSON.parse(l) as Line);
}

const WRITER_CHILD = fileURLToPath(new URL('../fixtures/writer-child.ts', import.meta.url));

export interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs test/fixtures/writer-child.ts with `args`; `onStdout` sees its output so far and may kill it. */
export function runWriterChild(args: string[], onStdout?: (text: string, kill: () => void) => void): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import=tsx', WRITER_CHILD, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    // Never leave a child behind, even if the test gives up on it.
    setTimeout(() => child.kill('SIGKILL'), 60_000).unref();
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      onStdout?.(stdout, () => child.kill('SIGKILL'));
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}
