import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { testWith } from '../helpers/external.js';

const run = promisify(execFile);
const test = testWith('promtool');

test('the PromQL rules pass promtool check rules', async (t) => {
  const { stdout } = await run('promtool', ['check', 'rules', 'rules/prometheus/claude.yml']);
  t.regex(stdout, /SUCCESS: 14 rules found/);
});

test('the PromQL rules pass their promtool unit tests (same thresholds as the default rules)', async (t) => {
  const { stdout } = await run('promtool', ['test', 'rules', 'claude.test.yml'], { cwd: 'rules/prometheus' });
  t.regex(stdout, /SUCCESS/);
});
