/** Reading events files back in tests: every line of every file, decoded and schema-checked. */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ExecutionContext } from 'ava';
import type { CallEvent, EventLine } from '../../src/event/types.js';
import { lineDecoder } from '../../src/event/validate.js';

/** A fresh temporary folder, removed when the test ends. */
export function tempDir(t: ExecutionContext, prefix = 'claudescope-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export interface ReadResult {
  lines: EventLine[];
  calls: CallEvent[];
  files: string[];
  /** Lines that failed to decode or validate, with the reason. */
  invalid: string[];
  /** Files whose last byte is not a newline (a torn last line). */
  torn: string[];
}

/** Reads and validates every `.ndjson` file in `dir`. */
export function readEvents(dir: string): ReadResult {
  const decode = lineDecoder();
  const files = readdirSync(dir).filter((f) => f.endsWith('.ndjson')).sort();
  const out: ReadResult = { lines: [], calls: [], files, invalid: [], torn: [] };
  for (const f of files) {
    const text = readFileSync(join(dir, f), 'utf8');
    if (text.length > 0 && !text.endsWith('\n')) out.torn.push(f);
    const complete = text.endsWith('\n') ? text : text.slice(0, text.lastIndexOf('\n') + 1);
    for (const raw of complete.split('\n')) {
      if (raw === '') continue;
      const r = decode(raw);
      if (!r.ok) {
        out.invalid.push(`${f}: ${r.reason}: ${r.detail}: ${raw.slice(0, 200)}`);
        continue;
      }
      out.lines.push(r.line);
      if (r.line.t === 'call') out.calls.push(r.line);
    }
  }
  return out;
}
