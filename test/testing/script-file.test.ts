import test from 'ava';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InvalidScriptError, loadScriptFile, parseScriptFile, ScriptFileError, startFakeApi, validateScript } from '../../src/testing/index.js';

test('a YAML file with a queue and a default is read and typed', (t) => {
  const file = parseScriptFile(
    ['default:', '  stream: { eventDelayMs: 5 }', 'queue:', '  - { status: 529, retryAfterMs: 10 }', '  - content: thinking', '    times: 2'].join('\n'),
    'q.yaml',
  );
  t.deepEqual(file, { default: { stream: { eventDelayMs: 5 } }, queue: [{ status: 529, retryAfterMs: 10 }, { content: 'thinking', times: 2 }] });
});

test('a JSON array is a queue', (t) => {
  t.deepEqual(parseScriptFile('[{"status": 500}, {}]', 'q.json'), { queue: [{ status: 500 }, {}] });
});

test('a bad field is reported with the file, the line and the field path', (t) => {
  const err = t.throws(() => parseScriptFile(['queue:', '  - { status: 529 }', '  - stream:', '      textDeltas: many'].join('\n'), 'q.yaml'));
  t.true(err instanceof ScriptFileError);
  t.is(err?.message, 'q.yaml:4: queue[1].stream.textDeltas: must be an integer ≥ 0');
});

test('an unknown field is an error, not a silent default', (t) => {
  const err = t.throws(() => parseScriptFile('- { retryAfterMS: 10 }', 'q.yaml'));
  t.regex(err?.message ?? '', /^q\.yaml:1: \[0\]\.retryAfterMS: unknown field/);
});

test('syntax errors and empty files are reported', (t) => {
  t.regex(t.throws(() => parseScriptFile('queue: [ {', 'bad.yaml'))?.message ?? '', /^bad\.yaml:\d+:\d+: not valid JSON or YAML/);
  t.is(t.throws(() => parseScriptFile('', 'empty.yaml'))?.message, 'empty.yaml: the file is empty');
  t.regex(t.throws(() => parseScriptFile('42', 'n.yaml'))?.message ?? '', /holds an array of scripts/);
});

test('loadScriptFile names a missing file', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'fake-api-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await t.throwsAsync(loadScriptFile(join(dir, 'nope.yaml')), { message: /nope\.yaml: cannot read the script file: no such file or folder \(ENOENT\)$/ });
  const ok = join(dir, 'ok.json');
  await writeFile(ok, '[{"model": "m"}]');
  t.deepEqual(await loadScriptFile(ok), { queue: [{ model: 'm' }] });
});

test('validateScript checks types, ranges and enums', (t) => {
  t.notThrows(() => validateScript({ status: 429, error: { code: 'x' }, headers: { 'x-a': 'b', 'x-b': null }, match: { route: ['messages.create'] } }));
  const bad: Array<[unknown, RegExp]> = [
    [{ status: 99 }, /status: must be an integer from 100 to 599/],
    [{ content: [] }, /content: must hold at least one block/],
    [{ content: [{ type: 'image' }] }, /content\[0\]\.type: must be "text"/],
    [{ usage: { speed: 'warp' } }, /usage\.speed: must be one of/],
    [{ match: { route: 'messages.nope' } }, /match\.route: must be one of/],
    [{ headers: { 'bad header': 'x' } }, /is not a valid header name/],
    [{ headers: { 'x-a': 'a\r\nb' } }, /must not contain a line break/],
    [[], /\(root\): must be an object/],
  ];
  for (const [value, message] of bad) {
    const err = t.throws(() => validateScript(value), { instanceOf: InvalidScriptError });
    t.regex(err?.message ?? '', message);
  }
});

test('enqueue and startFakeApi reject a malformed script at once', async (t) => {
  await t.throwsAsync(startFakeApi({ queue: [{ status: 'x' } as never] }), { message: /queue\[0\]\.status/ });
  const api = await startFakeApi();
  t.teardown(() => api.close());
  t.throws(() => api.enqueue({}, { times: 0 }), { message: /enqueue\[1\]\.times: must be an integer ≥ 1/ });
  t.is(api.pendingScripts, 0);
});
