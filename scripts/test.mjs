#!/usr/bin/env node
// `npm test`: type-checks the whole project, builds it (end-to-end tests run the built CLI),
// makes sure the test servers are installed, runs every ava test, and ends with the line
// `N passed, N failed` (the type-check counts as one check). Exits non-zero on any failure.
//
// Test servers (InfluxDB, promtool, Alertmanager, Chromium) come from Debian packages through
// scripts/install-test-deps.sh. Run as root with apt-get, it installs them itself; otherwise
// suites that need a missing server are skipped with a message naming the command to run.
// With CI=true a missing server is a failure, never a skip.
import { spawn, spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const bin = (name) => join(root, 'node_modules', '.bin', name);
const isCI = process.env.CI === 'true' || process.env.CI === '1';

let passed = 0;
let failed = 0;
let skipped = 0;

function step(title, cmd, args) {
  process.stdout.write(`\n== ${title}\n`);
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
  return r.status === 0;
}

if (step('type-check (tsc --noEmit)', bin('tsc'), ['-p', 'tsconfig.json', '--noEmit'])) passed++;
else failed++;

if (!step('build', 'npm', ['run', '--silent', 'build'])) {
  process.stdout.write('build failed\n');
  failed++;
}

const deps = spawnSync('bash', [join(root, 'scripts/install-test-deps.sh')], { cwd: root, stdio: 'inherit' });
if (deps.status !== 0) {
  const msg = 'test servers missing: suites that need them are skipped (install with: sudo bash scripts/install-test-deps.sh)';
  process.stdout.write(`${isCI ? 'ERROR' : 'NOTE'}: ${msg}\n`);
}

process.stdout.write('\n== tests (ava)\n');
const args = ['--tap', ...process.argv.slice(2)];
const ava = spawn(bin('ava'), args, { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
let pending = '';
ava.stdout.setEncoding('utf8');
ava.stdout.on('data', (chunk) => {
  process.stdout.write(chunk);
  pending += chunk;
  const lines = pending.split('\n');
  pending = lines.pop() ?? '';
  for (const line of lines) count(line);
});
function count(line) {
  if (/^ok \d+/.test(line)) {
    if (/# SKIP/i.test(line)) skipped++;
    else passed++;
  } else if (/^not ok \d+/.test(line)) {
    if (/# TODO/i.test(line)) skipped++;
    else failed++;
  }
}
ava.on('close', (code) => {
  if (pending) count(pending);
  // ava exits non-zero for failures it may not have printed as test lines (a crashed file,
  // an uncaught exception, a timeout): never let such a run look green.
  if (code !== 0 && failed === 0) failed++;
  process.stdout.write(`\n${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}\n`);
  process.exit(failed > 0 ? 1 : 0);
});
