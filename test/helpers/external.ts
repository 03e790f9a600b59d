/**
 * Suites that need a server or tool from Debian's packages (installed by
 * scripts/install-test-deps.sh) declare it here. Present: the tests run. Missing: the tests are
 * skipped with a note naming the install command, except with CI=true, where a missing tool
 * is a failure, never a skip.
 */
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import test from 'ava';

const isCI = process.env.CI === 'true' || process.env.CI === '1';

/** Absolute path of an executable on PATH (or given absolutely), or null. */
export function findExecutable(name: string): string | null {
  const candidates = name.includes('/') ? [name] : (process.env.PATH ?? '').split(delimiter).map((d) => join(d, name));
  for (const c of candidates) {
    try {
      accessSync(c, constants.X_OK);
      return c;
    } catch {
      // not here
    }
  }
  return null;
}

/**
 * `test` when every tool is present; otherwise `test.skip` (locally) or a test that fails
 * with the missing tools named (CI).
 */
export function testWith(...tools: string[]): typeof test {
  const missing = tools.filter((t) => findExecutable(t) === null);
  if (missing.length === 0) return test;
  const note = `missing ${missing.join(', ')}: run 'sudo bash scripts/install-test-deps.sh'`;
  if (isCI) {
    const failing = ((title: string) =>
      test(title, (t) => {
        t.fail(`${note} (CI=true: a missing test server is a failure)`);
      })) as unknown as typeof test;
    return Object.assign(failing, { serial: failing, skip: test.skip, only: test.only, before: test.before, after: test.after, beforeEach: test.beforeEach, afterEach: test.afterEach, todo: test.todo, failing: test.failing, macro: test.macro, meta: test.meta });
  }
  console.warn(`[skip] ${note}`);
  return test.skip as unknown as typeof test;
}
