/**
 * A daemon stand-in for crash tests: runs the pipeline on a home folder until SIGTERM.
 * Usage: node --import tsx pipeline-runner.ts <home>   (options as JSON in RUNNER_OPTS)
 * Prints `ready` once started; exits 3 with `LOCKED …` when another daemon owns the folder.
 */
import { Pipeline } from '../../src/daemon/pipeline.js';
import { testPricer } from '../helpers/test-pricer.js';

const home = process.argv[2];
if (!home) throw new Error('usage: pipeline-runner.ts <home>');
const opts = JSON.parse(process.env['RUNNER_OPTS'] ?? '{}') as { busyMicros?: number; retention?: 'delete' | 'archive' | 'keep'; maxBatchLines?: number; pauseAfterReadyMs?: number; maxOpenFiles?: number; descriptorRecoveryMs?: number; log?: boolean };
const p = new Pipeline({
  home,
  // What the tailer says, on stderr (for a test's failure message).
  ...(opts.log ? { log: (level: string, msg: string, fields?: Record<string, unknown>) => process.stderr.write(`${level} ${msg}${fields ? ` ${JSON.stringify(fields)}` : ''}\n`) } : {}),
  pricer: testPricer({ busyMicros: opts.busyMicros ?? 0 }),
  tailer: { pollIntervalMs: 100, maxEofBackoffMs: 50, retention: opts.retention ?? 'keep', maxBatchLines: opts.maxBatchLines ?? 1000, deadWriterGraceMs: 3_600_000, ...(opts.maxOpenFiles !== undefined ? { maxOpenFiles: opts.maxOpenFiles } : {}), ...(opts.descriptorRecoveryMs !== undefined ? { descriptorRecoveryMs: opts.descriptorRecoveryMs } : {}) },
});
// The SIGTERM handler is installed before anything is printed: a parent that sees `ready` and
// signals at once must find it in place. (Installed after the `ready` line, a runner preempted
// between the two died of the signal's default action, exit code null, under load.) A SIGTERM
// during start waits for the start, then stops.
const started = p.start();
let stopping = false;
process.on('SIGTERM', () => {
  if (stopping) return;
  stopping = true;
  started
    .then(() => p.stop())
    .then(() => process.exit(0), (err: unknown) => {
      process.stderr.write(`stop failed: ${String(err)}\n`);
      process.exit(1);
    });
});
try {
  await started;
} catch (err: unknown) {
  if ((err as { code?: string }).code === 'E_DATA_DIR_LOCKED') {
    process.stdout.write(`LOCKED ${(err as Error).message}\n`);
    process.exit(3);
  }
  throw err;
}
process.stdout.write('ready\n');
// Tests stand for a runner preempted right after `ready`: it keeps the CPU a while before
// returning to the event loop, where a pending SIGTERM is handled.
if (opts.pauseAfterReadyMs) {
  const until = Date.now() + opts.pauseAfterReadyMs;
  while (Date.now() < until) { /* spin */ }
}
