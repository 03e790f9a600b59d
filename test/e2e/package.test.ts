/**
 * What `npm install claudescope` gets: the built code, rules, docs the README links to, the
 * service files and the license; no source maps to sources it lacks, no benchmarks or tests.
 */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

test('the package holds what the README and the exports name, and nothing of the build, tests or benchmarks', (t) => {
  const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  const files = new Set((JSON.parse(out) as { files: { path: string }[] }[])[0]!.files.map((f) => f.path));
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { bin: Record<string, string>; exports: Record<string, string | Record<string, string>> };
  const wanted = ['LICENSE', 'README.md', 'package.json', 'rules/claude.yaml', 'docker/systemd/claudescope.service'];
  for (const target of [...Object.values(pkg.bin), ...Object.values(pkg.exports).flatMap((e) => (typeof e === 'string' ? [e] : Object.values(e)))]) wanted.push(target.replace(/^\.\//, ''));
  // Every document the README links to.
  for (const m of readFileSync(join(ROOT, 'README.md'), 'utf8').matchAll(/\]\((docs\/[^)#\s]+)/g)) wanted.push(m[1]!);
  for (const f of wanted) t.true(files.has(f), `ships ${f}`);
  // docker/secrets holds only its .gitignore: the compose file's secrets are the user's.
  const unwanted = [...files].filter((f) => f.endsWith('.map') || /^(scripts|test|src|\.scratch|\.ci)\//.test(f) || (f.startsWith('docker/secrets/') && f !== 'docker/secrets/.gitignore'));
  t.deepEqual(unwanted, []);
});
