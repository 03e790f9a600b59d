import { mkdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { makeDirs, makeDirsSync } from '../src/make-dirs.js';
import { tempDir } from './helpers/events.js';

/** procfs answers ENOENT for a new folder whose parent exists: where Node's `recursive: true` loops forever. */
const PROC_PATH = '/proc/claudescope-no-such-folder/events';
const hasProcfs = (() => {
  try {
    return statSync('/proc/self').isDirectory();
  } catch {
    return false;
  }
})();

const flavours = [
  ['makeDirsSync', async (p: string, mode?: number) => makeDirsSync(p, mode)],
  ['makeDirs', makeDirs],
] as const;

for (const [name, make] of flavours) {
  test(`${name} makes the missing folders with the mode, and accepts a folder or a link to one that exists`, async (t) => {
    const root = tempDir(t);
    const deep = join(root, 'a', 'b', 'c');
    await make(deep, 0o700);
    for (const p of [join(root, 'a'), join(root, 'a', 'b'), deep]) {
      t.true(statSync(p).isDirectory(), p);
      t.is(statSync(p).mode & 0o777, 0o700, p);
    }
    await make(deep, 0o700);
    symlinkSync(deep, join(root, 'link'));
    await make(join(root, 'link'), 0o700);
    t.true(statSync(join(root, 'link')).isDirectory());
  });

  test(`${name} fails with EEXIST where a file stands and ENOTDIR where one lies on the path`, async (t) => {
    const root = tempDir(t);
    writeFileSync(join(root, 'f'), 'x');
    await t.throwsAsync(() => make(join(root, 'f'), 0o700), { code: 'EEXIST' });
    await t.throwsAsync(() => make(join(root, 'f', 'sub'), 0o700), { code: 'ENOTDIR' });
    mkdirSync(join(root, 'ro'), { mode: 0o500 });
    if (process.getuid?.() !== 0) await t.throwsAsync(() => make(join(root, 'ro', 'x'), 0o700), { code: 'EACCES' });
  });

  (hasProcfs ? test : test.skip)(`${name} fails with ENOENT under /proc, where Node's recursive mkdir never returns`, async (t) => {
    await t.throwsAsync(() => make(PROC_PATH, 0o700), { code: 'ENOENT' });
  });
}
