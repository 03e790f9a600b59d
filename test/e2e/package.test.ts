/**
 * What `npm install claudescope` gets: the built code, rules, docs the README links to, the
 * service files and the license; no source maps to sources it lacks, no benchmarks or tests.
 * And that its declarations type-check in TypeScript apps, CommonJS ones and ES module ones
 * (`npm run build` first: the package is packed from dist/).
 */
import test from 'ava';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir } from '../helpers/events.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

type ExportTarget = string | null | { [condition: string]: ExportTarget };

/** Every file an exports map's target names, under any condition. */
function targetsOf(target: ExportTarget): string[] {
  if (target === null) return [];
  return typeof target === 'string' ? [target] : Object.values(target).flatMap(targetsOf);
}

test('the package holds what the README and the exports name, and nothing of the build, tests or benchmarks', (t) => {
  const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  const files = new Set((JSON.parse(out) as { files: { path: string }[] }[])[0]!.files.map((f) => f.path));
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { bin: Record<string, string>; exports: Record<string, ExportTarget> };
  const wanted = ['LICENSE', 'README.md', 'package.json', 'rules/claude.yaml', 'docker/systemd/claudescope.service'];
  for (const target of [...Object.values(pkg.bin), ...Object.values(pkg.exports).flatMap(targetsOf)]) wanted.push(target.replace(/^\.\//, ''));
  // Every document the README links to.
  for (const m of readFileSync(join(ROOT, 'README.md'), 'utf8').matchAll(/\]\((docs\/[^)#\s]+)/g)) wanted.push(m[1]!);
  for (const f of wanted) t.true(files.has(f), `ships ${f}`);
  // docker/secrets holds only its .gitignore: the compose file's secrets are the user's.
  const unwanted = [...files].filter((f) => f.endsWith('.map') || /^(scripts|test|src|\.scratch|\.ci)\//.test(f) || (f.startsWith('docker/secrets/') && f !== 'docker/secrets/.gitignore'));
  t.deepEqual(unwanted, []);
});

// npm 11.16 reads `allowScripts` and warns of dependencies whose install scripts it does not
// cover; a later npm skips them, and better-sqlite3 unbuilt is a daemon that cannot start.
test('every dependency with an install script is approved in package.json, so a stricter npm still builds better-sqlite3', (t) => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { allowScripts?: Record<string, boolean> };
  t.is(pkg.allowScripts?.['better-sqlite3'], true);
  const [npmMajor = 0, npmMinor = 0] = execFileSync('npm', ['--version'], { encoding: 'utf8' }).split('.').map(Number);
  if (npmMajor < 11 || (npmMajor === 11 && npmMinor < 16)) {
    t.log(`npm ${npmMajor}.${npmMinor} has no approve-scripts; the field alone is checked`);
    return;
  }
  const out = execFileSync('npm', ['approve-scripts', '--allow-scripts-pending', '--json'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  t.deepEqual((JSON.parse(out) as { allowScripts: unknown[] }).allowScripts, []);
});

// The packed package, installed into temporary apps as npm would lay it out: the package
// unpacked in node_modules, next to its dependencies, its peer @anthropic-ai/sdk (the app's
// own) and @types/node, which are linked from this checkout's node_modules (no registry needed).
let tarball = '';
let packDir = '';

test.before(() => {
  if (!existsSync(join(ROOT, 'dist/src/index.d.cts'))) throw new Error(`${join(ROOT, 'dist')} is missing or stale: run 'npm run build' first`);
  packDir = mkdtempSync(join(tmpdir(), 'claudescope-pack-'));
  const out = execFileSync('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', packDir], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  tarball = join(packDir, (JSON.parse(out) as { filename: string }[])[0]!.filename);
});

test.after.always(() => {
  if (packDir) rmSync(packDir, { recursive: true, force: true });
});

/** A new app folder with `package.json` (`type` given or not) and the package installed. */
function appWith(dir: string, type: 'commonjs' | 'module'): void {
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'app', private: true, ...(type === 'module' ? { type } : {}) }));
  const installed = join(dir, 'node_modules', 'claudescope');
  mkdirSync(installed, { recursive: true });
  execFileSync('tar', ['-xzf', tarball, '-C', installed, '--strip-components=1']);
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string>; peerDependencies: Record<string, string> };
  for (const name of [...Object.keys(pkg.dependencies), ...Object.keys(pkg.peerDependencies), '@types/node']) {
    const link = join(dir, 'node_modules', name);
    mkdirSync(dirname(link), { recursive: true });
    symlinkSync(join(ROOT, 'node_modules', name), link, 'dir');
  }
}

// The README's uses, and the SDK's own types handed to ours (a middleware to keep), so that
// the SDK the declarations name must be the very one the app imports.
const APP_CODE = `import Anthropic from '@anthropic-ai/sdk';
import type { Middleware } from '@anthropic-ai/sdk';
import { clientOptions, instrument, withTags } from 'claudescope';
import { startFakeApi } from 'claudescope/testing';

const keep: Middleware = (request, next) => next(request);

export const constructed = new Anthropic(clientOptions({ tags: { feature: 'search' } }));
export const spread = new Anthropic({ ...clientOptions({ middleware: [keep] }), apiKey: 'key' });
export const hooked: Anthropic = instrument(new Anthropic(), { tags: { team: 'billing' }, apiKeyAlias: 'billing-prod' });
// @ts-expect-error: app is the emitter's setting, not a client's (the declarations are read, not any)
clientOptions({ app: 'x' });

export async function call(): Promise<number> {
  const api = await startFakeApi();
  const client = instrument(new Anthropic({ apiKey: 'test', baseURL: api.url }));
  const message = await withTags({ feature: 'search' }, () =>
    client.messages.create({ model: 'claude-sonnet-5-5', max_tokens: 64, messages: [{ role: 'user', content: 'hi' }] }),
  );
  await api.close();
  return message.usage.output_tokens;
}
`;

const apps: { title: string; type: 'commonjs' | 'module'; module: string }[] = [
  { title: 'a CommonJS app compiled with module node16', type: 'commonjs', module: 'node16' },
  { title: 'a CommonJS app compiled with module nodenext', type: 'commonjs', module: 'nodenext' },
  { title: 'an ES module app compiled with module nodenext', type: 'module', module: 'nodenext' },
];

for (const app of apps) {
  test(`the packed declarations type-check in ${app.title}, with no cast`, (t) => {
    const dir = tempDir(t, 'claudescope-app-');
    appWith(dir, app.type);
    writeFileSync(join(dir, 'index.ts'), APP_CODE);
    // skipLibCheck off: the package's own declarations are checked too.
    const compilerOptions = { module: app.module, moduleResolution: app.module, target: 'ES2022', strict: true, skipLibCheck: false, types: ['node'], noEmit: true };
    writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions, files: ['index.ts'] }));
    const tsc = spawnSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', dir], { cwd: dir, encoding: 'utf8' });
    t.is(tsc.status, 0, tsc.stdout + tsc.stderr);
  });
}
