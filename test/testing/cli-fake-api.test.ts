import test from 'ava';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type AddressInfo } from 'node:net';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Anthropic, { OverloadedError } from '@anthropic-ai/sdk';
import { hello } from './helpers.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

function run(...args: string[]): ChildProcessWithoutNullStreams {
  return spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'fake-api', ...args], { cwd: root });
}

/** Resolves with the listening URL from the first stdout line. */
function listeningUrl(child: ChildProcessWithoutNullStreams): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
      const m = /^fake Claude API listening on (http:\/\/\S+)\n/.exec(out);
      if (m) resolve(m[1]!);
    });
    child.once('exit', (code) => reject(new Error(`exited ${code} before listening: ${err}`)));
  });
}

test('the CLI prints its URL, answers the SDK, and stops on SIGTERM', async (t) => {
  const child = run('--port', '0');
  t.teardown(() => child.kill('SIGKILL'));
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const url = await listeningUrl(child);
  t.regex(url, /^http:\/\/127\.0\.0\.1:\d+$/);
  const client = new Anthropic({ apiKey: 'sk-ant-secret-key', baseURL: url, maxRetries: 0 });
  const msg = await client.messages.create(hello);
  t.is(msg.model, hello.model);
  child.kill('SIGTERM');
  const [code] = await once(child, 'exit');
  t.is(code, 0);
  t.regex(stderr, /POST \/v1\/messages 200 completed/);
  t.notRegex(stderr, /sk-ant-secret-key/);
});

test('the CLI on a port in use says so and what to do, exit 2', async (t) => {
  const taken = createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  t.teardown(() => taken.close());
  const port = (taken.address() as AddressInfo).port;
  const child = run('--port', String(port));
  t.teardown(() => child.kill('SIGKILL'));
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const [code] = await once(child, 'exit');
  t.is(code, 2);
  t.is(stderr, `claudescope: cannot listen on 127.0.0.1:${port}: the port is in use (choose another with --port, or --port 0 for any free one)\n`);
});

test('the CLI answers from a --script queue', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'fake-api-cli-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'queue.yaml');
  await writeFile(file, 'queue:\n  - { status: 529 }\ndefault: { model: from-file }\n');
  const child = run('--script', file, '--quiet');
  t.teardown(() => child.kill('SIGKILL'));
  const url = await listeningUrl(child);
  const client = new Anthropic({ apiKey: 'test', baseURL: url, maxRetries: 0 });
  await t.throwsAsync(client.messages.create(hello), { instanceOf: OverloadedError });
  t.is((await client.messages.create(hello)).model, 'from-file');
  child.kill('SIGINT');
  const [code] = await once(child, 'exit');
  t.is(code, 0);
});

test('the CLI refuses a bad script file with a clear message', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'fake-api-cli-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'bad.json');
  await writeFile(file, '[{"status": 200}, {"stream": {"cutAfterEvents": -1}}]');
  const child = run('--script', file);
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const [code] = await once(child, 'exit');
  t.is(code, 2);
  t.regex(stderr, /bad\.json:1: \[1\]\.stream\.cutAfterEvents: must be an integer ≥ 0/);
});

test('the documented example script (docs/examples/retries.yaml) does what its comments say', async (t) => {
  const child = run('--port', '0', '--quiet', '--script', 'docs/examples/retries.yaml');
  t.teardown(() => child.kill('SIGKILL'));
  const url = await listeningUrl(child);
  const client = new Anthropic({ apiKey: 'sk-ant-any', baseURL: url });
  // 529, then 429, both retried; the third attempt succeeds with cache reads and thinking.
  const { data, response } = await client.messages.create(hello).withResponse();
  t.is(response.status, 200);
  t.is(data.usage.cache_read_input_tokens, 1200);
  t.true(data.content.some((b) => b.type === 'thinking'));
  // A stream: an error event after 5 events.
  const stream = await client.messages.create({ ...hello, stream: true });
  const err = await t.throwsAsync(async () => {
    for await (const _ of stream) {
      // read to the error
    }
  });
  t.regex(String(err?.message), /Overloaded/);
  // The spend cap: a 429 with its error code (asked without retries).
  const cap = await t.throwsAsync(client.messages.create(hello, { maxRetries: 0 }));
  t.is((cap as { status?: number }).status, 429);
  t.regex(JSON.stringify((cap as { error?: unknown }).error), /enforced_spend_limit_reached/);
  t.is((cap as { headers?: Headers }).headers?.get('retry-after'), null);
  // Then the default reply: a streamed one paced 20 ms per event.
  const t0 = performance.now();
  const s2 = await client.messages.create({ ...hello, stream: true });
  let events = 0;
  for await (const _ of s2) events++;
  t.true(events > 3);
  t.true(performance.now() - t0 >= 20 * (events - 2), 'paced by the default script');
});
