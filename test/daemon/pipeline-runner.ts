/**
 * A daemon stand-in for crash tests: runs the pipeline on a home folder until SIGTERM.
 * Usage: node --import tsx pipeline-runner.ts <home>   (options as JSON in RUNNER_OPTS)
 * Prints `ready` once started; exits 3 with `LOCKED …` when another daemon owns the folder.
 */
import { Pipeline } from '../../src/daemon/pipeline.js';
import { testPricer } from '../helpers/test-pricer.js';

const home = process.argv[2];
if (!home) throw new Error('usage: pipeline-runner.ts <home>');
const opts = JSON.parse(process.env['RUNNER_OPTS'] ?? '{}') as { busyMicros?: number; retention?: 'delete' | 'archive' | 'keep'; maxBatchLines?: number };
const p = new Pipeline({
  home,
  pricer: testPricer({ busyMicros: opts.busyMicros ?? 0 }),
  tailer: { pollIntervalMs: 100, maxEofBackoffMs: 50, retention: opts.retention ?? 'keep', maxBatchLines: opts.maxBatchLines ?? 1000, deadWriterGraceMs: 3_600_000 },
});
try {
  await p.start();
} catch (err: unknown) {
  if ((err as { code?: string }).code === 'E_DATA_DIR_LOCKED') {
    process.stdout.write(`LOCKED ${(err as Error).message}\n`);
    process.exit(3);
  }
  throw err;
}
process.stdout.write('ready\n');
process.on('SIGTERM', () => {
  void p.stop().then(() => process.exit(0));
});
