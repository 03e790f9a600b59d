/** The emitter inside real child processes: exit, SIGKILL, cluster workers, and import. */
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startFakeApi, type FakeScript } from '../../src/testing/index.js';
import { readEvents, tempDir } from '../helpers/events.js';

const CHILD = fileURLToPath(new URL('../fixtures/emitter-child.ts', import.meta.url));
const INDEX = fileURLToPath(new URL('../../src/index.ts', import.meta.url));

/** `onStdout` gets what the child printed and a `kill` sending it a signal (default SIGKILL). */
function run(args: string[], env: Record<string, string>, onStdout?: (s: string, kill: (signal?: NodeJS.Signals) => void) => void): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    // Never leave a child behind, even if the test gives up on it.
    setTimeout(() => child.kill('SIGKILL'), 60_000).unref();
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.stdout.on('data', (d) => {
      stdout += d;
      onStdout?.(String(d), (signal = 'SIGKILL') => child.kill(signal));
    });
    // 'close', not 'exit': only then has all the output been read.
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/**
 * Runs the child app in `mode` against a fresh fake API (given `script`ed responses first) with
 * a flush interval longer than the run, and returns what it wrote; the child must exit 0 and
 * every line must be valid.
 */
async function childEvents(t: ExecutionContext, mode: string, count: number, o: { gc?: boolean; script?: FakeScript[] } = {}): Promise<ReturnType<typeof readEvents> & { stdout: string }> {
  const api = await startFakeApi();
  t.teardown(() => api.close());
  for (const s of o.script ?? []) api.enqueue(s);
  const dir = tempDir(t);
  let stdout = '';
  const r = await run([...(o.gc ? ['--expose-gc'] : []), CHILD, mode, api.url, String(count)], { CLAUDESCOPE_EVENTS_DIR: dir, CLAUDESCOPE_FLUSH_INTERVAL_MS: '60000' }, (s) => (stdout += s));
  t.is(r.code, 0, r.stderr);
  const ev = readEvents(dir);
  t.deepEqual(ev.invalid, []);
  return { ...ev, stdout };
}

test('a child that writes events and calls process.exit loses none', async (t) => {
  const ev = await childEvents(t, 'exit', 50);
  t.is(ev.calls.length, 50);
  t.true(ev.lines.some((l) => l.t === 'footer'));
});

for (const [mode, when] of [['flush', 'on a flush'], ['exit', 'at exit']] as const) {
  test(`an events folder that cannot be made is said once, with the folder and what to do, ${when}; a folder that can, never`, async (t) => {
    const api = await startFakeApi();
    t.teardown(() => api.close());
    const parent = tempDir(t);
    const file = join(parent, 'a-file');
    writeFileSync(file, '');
    const dir = join(file, 'events');
    const env = { CLAUDESCOPE_FLUSH_INTERVAL_MS: '60000' };
    const r = await run([CHILD, mode, api.url, '3'], { ...env, CLAUDESCOPE_EVENTS_DIR: dir });
    t.is(r.code, 0, r.stderr);
    const said = r.stderr.split('\n').filter((l) => l.includes('[CLAUDESCOPE_EVENTS_DIR_UNWRITABLE]'));
    t.is(said.length, 1, r.stderr);
    t.true(said[0]!.includes(`cannot create an event file in ${dir} (ENOTDIR): calls are not recorded`), said[0]);
    t.regex(said[0]!, /give the app write access to that folder, or choose another with CLAUDESCOPE_EVENTS_DIR/);
    const ok = await run([CHILD, mode, api.url, '3'], { ...env, CLAUDESCOPE_EVENTS_DIR: join(parent, 'events') });
    t.is(ok.code, 0, ok.stderr);
    t.false(ok.stderr.includes('CLAUDESCOPE_EVENTS_DIR_UNWRITABLE'), ok.stderr);
    t.is(readEvents(join(parent, 'events')).calls.length, 3);
  });
}

for (const mode of ['unread', 'unread-options']) {
  test(`streams the app opened, never read and let go are each written once, as aborted (${mode === 'unread' ? 'instrument()' : 'clientOptions()'})`, async (t) => {
    const ev = await childEvents(t, mode, 3, { gc: true });
    // Written when the collector freed them, not by the exit, which would write them too.
    t.regex(ev.stdout, /written before exit: 3\n/);
    t.is(ev.calls.length, 3);
    for (const e of ev.calls) t.like(e, { stream: true, status: 'aborted', http_status: 200, complete: false });
  });
}

for (const [mode, how] of [['body', 'iterated'], ['reader', 'read through getReader()'], ['fromweb', 'read through Readable.fromWeb()']] as const) {
  test(`a stream ${how} to its end through its body alone, its response let go, is written once, as ok, with its usage`, async (t) => {
    // The app holds the body it reads, not the response object: the call is not over.
    const script = Array.from({ length: 3 }, () => ({ usage: { input_tokens: 77, output_tokens: 9 }, stream: { textDeltas: 8, eventDelayMs: 5 } }));
    const ev = await childEvents(t, mode, 3, { gc: true, script });
    t.is(ev.calls.length, 3);
    for (const e of ev.calls) t.like(e, { stream: true, status: 'ok', http_status: 200, complete: true, stop_reason: 'end_turn', usage: { input_tokens: 77, output_tokens: 9 } });
  });
}

for (const hook of ['instrument()', 'clientOptions()'] as const) {
  const m = (mode: string): string => (hook === 'instrument()' ? mode : `${mode}-options`);

  test(`streams the app holds unread when the process exits are each written once, as aborted (${hook})`, async (t) => {
    const ev = await childEvents(t, m('held'), 3);
    t.is(ev.calls.length, 3);
    for (const e of ev.calls) t.like(e, { stream: true, status: 'aborted', http_status: 200, complete: false });
  });

  test(`a stream the process exits while reading is written as aborted, with the usage read so far (${hook})`, async (t) => {
    const ev = await childEvents(t, m('partial'), 1, { script: [{ usage: { input_tokens: 321, output_tokens: 40 }, stream: { textDeltas: 50, eventDelayMs: 50 } }] });
    t.is(ev.calls.length, 1);
    t.like(ev.calls[0], { stream: true, status: 'aborted', http_status: 200, complete: false, usage: { input_tokens: 321 } });
  });

  test(`a call waiting out a retry when the process exits is written once, with the failure it would have ended as (${hook})`, async (t) => {
    const ev = await childEvents(t, m('answered'), 1, { script: [{ status: 529, retryAfterMs: 30_000 }] });
    t.is(ev.calls.length, 1);
    t.like(ev.calls[0], { status: 'error', error_type: 'overloaded_error', http_status: 529, attempts: 1 });
  });

  test(`a call waiting to retry a broken connection when the process exits is written once, as that failure (${hook})`, async (t) => {
    const ev = await childEvents(t, m('thrown'), 1);
    t.is(ev.calls.length, 1);
    t.like(ev.calls[0], { status: 'error', error_type: 'connection_error', http_status: null, attempts: 1 });
  });

  test(`a call still unanswered when the process exits is written once, as aborted (${hook})`, async (t) => {
    const ev = await childEvents(t, m('unanswered'), 1, { script: [{ delayMs: 30_000 }] });
    t.is(ev.calls.length, 1);
    t.like(ev.calls[0], { status: 'aborted', http_status: null, attempts: 0, usage: null });
  });
}

/**
 * Runs the child app in `mode` against a fresh fake API with a flush interval longer than the
 * run (so that nothing is written unless something flushes), sends it SIGTERM once it is
 * ready, and returns how it ended and the events it wrote.
 */
async function terminated(t: ExecutionContext, mode: string, count: number) {
  const api = await startFakeApi();
  t.teardown(() => api.close());
  const dir = tempDir(t);
  const r = await run([CHILD, mode, api.url, String(count)], { CLAUDESCOPE_EVENTS_DIR: dir, CLAUDESCOPE_FLUSH_INTERVAL_MS: '60000' }, (s, kill) => {
    if (s.includes('ready')) kill('SIGTERM');
  });
  return { ...r, ev: readEvents(dir) };
}

test('a child ended by SIGTERM it does not handle writes every event first, and still dies of the signal', async (t) => {
  const { signal, ev } = await terminated(t, 'signal', 7);
  t.is(signal, 'SIGTERM');
  t.deepEqual(ev.invalid, []);
  t.is(ev.calls.length, 7);
  t.true(ev.lines.some((l) => l.t === 'footer'));
});

for (const mode of ['signal-exit', 'signal-exit-late']) {
  test(`a child that also loads signal-exit (${mode === 'signal-exit' ? 'before' : 'after'} the emitter's listener) writes every event and still dies of SIGTERM`, async (t) => {
    const { signal, stdout, ev } = await terminated(t, mode, 7);
    t.is(signal, 'SIGTERM');
    t.true(stdout.includes('signal-exit handler'));
    t.deepEqual(ev.invalid, []);
    t.is(ev.calls.length, 7);
    t.true(ev.lines.some((l) => l.t === 'footer'));
  });
}

test("a child that handles SIGTERM itself keeps its handler's outcome, and its events are written", async (t) => {
  const { code, stdout, ev } = await terminated(t, 'signal-handled', 5);
  t.is(code, 3);
  t.true(stdout.includes('app handler'));
  t.is(ev.calls.length, 5);
});

test('a child killed with SIGKILL leaves only complete lines', async (t) => {
  const api = await startFakeApi();
  t.teardown(() => api.close());
  const dir = tempDir(t);
  // Killed once it has written 25 calls, while it goes on writing: a fixed delay gave too few
  // calls on a loaded machine to show anything.
  const callsWritten = (): number => readdirSync(dir).reduce((n, f) => n + (readFileSync(join(dir, f), 'utf8').match(/"t":"call"/g)?.length ?? 0), 0);
  let poll: NodeJS.Timeout | undefined;
  t.teardown(() => clearInterval(poll));
  const r = await run([CHILD, 'loop', api.url], { CLAUDESCOPE_EVENTS_DIR: dir, CLAUDESCOPE_FLUSH_INTERVAL_MS: '1' }, (s, kill) => {
    if (!s.includes('ready') || poll) return;
    poll = setInterval(() => {
      if (callsWritten() < 25) return;
      clearInterval(poll);
      kill();
    }, 10);
  });
  t.is(r.signal, 'SIGKILL');
  const ev = readEvents(dir);
  t.deepEqual(ev.invalid, []);
  t.true(ev.calls.length >= 20, `calls ${ev.calls.length}`);
  t.false(ev.lines.some((l) => l.t === 'footer'));
});

test('cluster workers each write their own file', async (t) => {
  const api = await startFakeApi();
  t.teardown(() => api.close());
  const dir = tempDir(t);
  const r = await run([CHILD, 'cluster', api.url, '10'], { CLAUDESCOPE_EVENTS_DIR: dir });
  t.is(r.code, 0, r.stderr);
  const ev = readEvents(dir);
  t.is(ev.files.length, 2);
  t.is(ev.calls.length, 20);
  t.is(new Set(ev.calls.map((e) => e.pid)).size, 2);
  const headers = ev.lines.filter((l) => l.t === 'header');
  t.is(new Set(headers.map((h) => h.file_id)).size, 2);
});

test('worker threads each write their own file: one that returns or calls process.exit loses none, nor one stopped by terminate() after a flush()', async (t) => {
  const api = await startFakeApi();
  t.teardown(() => api.close());
  const dir = tempDir(t);
  const r = await run([CHILD, 'threads', api.url, '10'], { CLAUDESCOPE_EVENTS_DIR: dir, CLAUDESCOPE_FLUSH_INTERVAL_MS: '60000' });
  t.is(r.code, 0, r.stderr);
  const ev = readEvents(dir);
  t.deepEqual(ev.invalid, []);
  t.is(ev.files.length, 4, 'the main thread and each worker');
  t.is(ev.calls.length, 40);
  t.is(new Set(ev.calls.map((e) => e.event_id)).size, 40);
  t.is(new Set(ev.lines.filter((l) => l.t === 'header').map((h) => h.file_id)).size, 4);
});

test('importing the package adds no process listener, starts no timer and opens no file', async (t) => {
  const home = tempDir(t);
  const code = `
    import { readdirSync, readlinkSync } from 'node:fs';
    const events = ['exit', 'beforeExit', 'SIGINT', 'SIGTERM', 'uncaughtException', 'unhandledRejection'];
    const listeners = () => events.map((e) => process.listenerCount(e)).join(',');
    const ourFiles = () => readdirSync('/proc/self/fd').map((fd) => { try { return readlinkSync('/proc/self/fd/' + fd); } catch { return ''; } }).filter((p) => p.startsWith(process.env.CLAUDESCOPE_HOME)).length;
    const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout' || r === 'Immediate').length;
    const before = [listeners(), ourFiles(), timers()];
    const mod = await import(${JSON.stringify(INDEX)});
    if (typeof mod.instrument !== 'function') throw new Error('no instrument export');
    const after = [listeners(), ourFiles(), timers()];
    process.stdout.write(JSON.stringify({ before, after, home: readdirSync(process.env.CLAUDESCOPE_HOME) }));
  `;
  const out = await new Promise<string>((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { env: { ...process.env, CLAUDESCOPE_HOME: home }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (c) => (c === 0 ? resolve(stdout) : reject(new Error(stderr))));
  });
  const { before, after, home: created } = JSON.parse(out) as { before: unknown[]; after: unknown[]; home: string[] };
  t.deepEqual(after, before);
  t.deepEqual(before.slice(1), [0, 0]);
  t.deepEqual(created, [], 'nothing created under CLAUDESCOPE_HOME');
});

test('an app that froze Response.prototype (hardening) still gets each call recorded with its usage, at once', async (t) => {
  const api = await startFakeApi();
  t.teardown(() => api.close());
  const dir = tempDir(t);
  const code = `
    Object.freeze(Response.prototype);
    const { default: Anthropic } = await import('@anthropic-ai/sdk');
    const { createEmitter } = await import(${JSON.stringify(INDEX)});
    const emitter = createEmitter({ dir: ${JSON.stringify(dir)}, app: 'frozen' });
    const client = emitter.instrument(new Anthropic({ apiKey: 'k', baseURL: ${JSON.stringify(api.url)} }));
    const reply = await client.messages.create({ model: 'claude-haiku-4-5', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] });
    await emitter.close();
    process.stdout.write(JSON.stringify({ output: reply.usage.output_tokens, frozen: Object.isFrozen(Response.prototype) }));
  `;
  const out = await new Promise<string>((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (c) => (c === 0 ? resolve(stdout) : reject(new Error(stderr))));
  });
  const { output, frozen } = JSON.parse(out) as { output: number; frozen: boolean };
  t.true(frozen);
  const r = readEvents(dir);
  t.deepEqual(r.invalid, []);
  t.is(r.calls.length, 1);
  // Usage comes only from the parse: a call ended by the wait for an unread body has none.
  t.is(r.calls[0]!.usage?.output_tokens, output);
  t.true(r.calls[0]!.complete);
});
