/**
 * The daemon stand-in (pipeline-runner.ts) as a child process, and the store it fills as
 * another process reads it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { SqliteStore } from '../../src/store/sqlite-store.js';

export const RUNNER = join(import.meta.dirname, 'pipeline-runner.ts');
export const WRITER = join(import.meta.dirname, 'pipeline-writer.ts');

/** The runner on `home`; `out()` is what it printed, `err()` what it wrote to stderr (passed on to the test's). */
export function runner(home: string, opts: Record<string, unknown> = {}): { child: ChildProcess; out: () => string; err: () => string } {
  const child = spawn(process.execPath, ['--import', 'tsx', RUNNER, home], { env: { ...process.env, RUNNER_OPTS: JSON.stringify(opts) }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => {
    err += d.toString();
    process.stderr.write(d);
  });
  return { child, out: () => out, err: () => err };
}

export async function kill(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill(signal);
  await exited;
}

/** Counts in the store as another process sees it (read-only, as the CLI does). */
export function counts(data: string): { rows: number; rollup: number; ids: string[] } {
  let store: SqliteStore;
  try {
    store = SqliteStore.open({ path: join(data, 'claudescope.db'), readonly: true });
  } catch {
    return { rows: 0, rollup: 0, ids: [] };
  }
  try {
    const ids = (store.db.prepare('SELECT event_id FROM calls').all() as { event_id: string }[]).map((r) => r.event_id);
    // The per-minute level as a reader sees it: merged groups and the deltas of batches not yet folded.
    const rollup = (store.db.prepare('SELECT (SELECT COALESCE(SUM(count), 0) FROM rollup_minute) + (SELECT COALESCE(SUM(count), 0) FROM rollup_minute_delta) AS n').get() as { n: number }).n;
    return { rows: ids.length, rollup, ids };
  } catch {
    return { rows: 0, rollup: 0, ids: [] };
  } finally {
    store.close();
  }
}
