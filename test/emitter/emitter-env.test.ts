import test from 'ava';
import { emitterOptionsFromEnv } from '../../src/emitter/emitter-env.js';

/** What `fn` writes to stderr. */
function stderrOf(fn: () => void): string {
  const write = process.stderr.write;
  let out = '';
  process.stderr.write = ((chunk: string | Uint8Array) => {
    out += String(chunk);
    return true;
  }) as typeof process.stderr.write;
  try {
    fn();
  } finally {
    process.stderr.write = write;
  }
  return out;
}

test('CLAUDESCOPE_TAGS entries without name=value are named on stderr, not dropped silently; the others are kept', (t) => {
  let options: ReturnType<typeof emitterOptionsFromEnv>['options'] = {};
  const err = stderrOf(() => {
    options = emitterOptionsFromEnv({ CLAUDESCOPE_TAGS: 'feature=search, team=core,oops,,=x' }).options;
  });
  t.deepEqual(options.tags, { feature: 'search', team: 'core' });
  t.regex(err, /ignoring "oops" in CLAUDESCOPE_TAGS \(expected name=value\)/);
  t.regex(err, /ignoring "=x" in CLAUDESCOPE_TAGS/);
  t.is(err.split('\n').filter(Boolean).length, 2, 'the empty entry is no mistake');
});
