/**
 * The SDK versions the package takes (its peer dependency on `@anthropic-ai/sdk`): the oldest
 * one records every kind of call as the current one does, and a client of an SDK without
 * middleware (older than that) is not silently left unrecorded.
 */
import test from 'ava';
import OldestSdk from 'anthropic-sdk-0-101';
import PreMiddlewareSdk from 'anthropic-sdk-0-100';
import { readFileSync } from 'node:fs';
import { readEvents } from '../helpers/events.js';
import { fakeApiAndEmitter } from '../helpers/emitter-setup.js';

/** The version of an installed package (these SDKs export no `./package.json`). */
const versionOf = (name: string): string => (JSON.parse(readFileSync(new URL(`../../node_modules/${name}/package.json`, import.meta.url), 'utf8')) as { version: string }).version;
const MSG = { model: 'claude-haiku-4-5', max_tokens: 64, messages: [{ role: 'user' as const, content: 'hello' }] };

/** The process warnings emitted while `fn` runs (they are emitted on the next tick). */
async function warningsDuring(fn: () => unknown): Promise<NodeJS.ErrnoException[]> {
  const seen: NodeJS.ErrnoException[] = [];
  const listener = (w: Error): void => void seen.push(w as NodeJS.ErrnoException);
  process.on('warning', listener);
  try {
    await fn();
    await new Promise((resolve) => setImmediate(resolve));
  } finally {
    process.off('warning', listener);
  }
  return seen.filter((w) => w.code?.startsWith('CLAUDESCOPE_'));
}

const setup = fakeApiAndEmitter;

test.serial('the oldest SDK the package takes (0.101.0, the first with middleware) records each call once: JSON, streams, a retried 529, an error and token counting', async (t) => {
  t.is(versionOf('anthropic-sdk-0-101'), '0.101.0');
  const { api, dir, emitter } = await setup(t);
  let client!: OldestSdk;
  t.deepEqual(await warningsDuring(() => (client = emitter.instrument(new OldestSdk({ apiKey: 'k', baseURL: api.url, maxRetries: 2 })))), []);
  api.enqueue({ usage: { input_tokens: 11, output_tokens: 7, cache_read_input_tokens: 100 } });
  const created = await client.messages.create(MSG);
  const stream = await client.messages.create({ ...MSG, stream: true });
  for await (const _ of stream);
  const final = await client.messages.stream(MSG).finalMessage();
  api.enqueue({ status: 529 });
  api.enqueue({});
  await client.messages.create(MSG);
  const failed = await client.messages.create(MSG, { headers: { 'x-fake-script': '{"status":400}' } }).catch((err: unknown) => err);
  t.true(failed instanceof OldestSdk.BadRequestError);
  await client.messages.countTokens({ model: MSG.model, messages: MSG.messages });
  await emitter.flush();
  const r = readEvents(dir);
  t.deepEqual(r.invalid, []);
  t.deepEqual(r.calls.map((e) => [e.operation, e.status, e.http_status, e.attempts]), [
    ['messages.create', 'ok', 200, 1],
    ['messages.create', 'ok', 200, 1],
    ['messages.stream', 'ok', 200, 1],
    ['messages.create', 'ok', 200, 2],
    ['messages.create', 'error', 400, 1],
    ['messages.count_tokens', 'ok', 200, 1],
  ]);
  t.deepEqual([r.calls[0]!.usage?.input_tokens, r.calls[0]!.usage?.output_tokens, r.calls[0]!.usage?.cache_read_input_tokens], [11, 7, 100]);
  t.is(r.calls[0]!.message_id, created.id);
  t.is(r.calls[1]!.stream, true);
  t.is(r.calls[2]!.usage?.output_tokens, final.usage.output_tokens);
  t.deepEqual(r.calls[3]!.attempt_log.map((a) => a.status), [529, 200]);
  t.is(r.calls[4]!.error_type, 'invalid_request_error');
});

test.serial('instrument() of a client whose SDK takes no middleware (0.100.0) warns once, with the version to upgrade to, and the client works as before', async (t) => {
  t.is(versionOf('anthropic-sdk-0-100'), '0.100.0');
  const { api, dir, emitter } = await setup(t);
  let client!: PreMiddlewareSdk;
  const warnings = await warningsDuring(() => {
    client = emitter.instrument(new PreMiddlewareSdk({ apiKey: 'k', baseURL: api.url }));
    emitter.instrument(new PreMiddlewareSdk({ apiKey: 'k', baseURL: api.url }));
  });
  t.deepEqual(warnings.map((w) => w.code), ['CLAUDESCOPE_SDK_WITHOUT_MIDDLEWARE']);
  t.regex(warnings[0]!.message, /takes no middleware.*not recorded.*Upgrade @anthropic-ai\/sdk to 0\.101\.0 or later/);
  const m = await client.messages.create(MSG);
  t.is(m.type, 'message');
  await emitter.flush();
  // What the warning says: nothing was recorded.
  t.is(readEvents(dir).calls.length, 0);
});

test.serial('instrument() of something that is not an SDK client warns once and returns it as it is', async (t) => {
  const { emitter } = await setup(t);
  const notAClient = { messages: {} };
  let returned: unknown;
  const warnings = await warningsDuring(() => {
    returned = emitter.instrument(notAClient);
    emitter.instrument(notAClient);
  });
  t.is(returned, notAClient);
  t.deepEqual(warnings.map((w) => w.code), ['CLAUDESCOPE_NOT_A_CLIENT']);
  t.regex(warnings[0]!.message, /not an @anthropic-ai\/sdk client/);
});

test("the package's peer range on @anthropic-ai/sdk starts at the oldest version tested here", (t) => {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    peerDependencies: Record<string, string>; dependencies: Record<string, string>; devDependencies: Record<string, string>;
  };
  const range = pkg.peerDependencies['@anthropic-ai/sdk'];
  t.is(range?.match(/^>=(\d+\.\d+\.\d+)/)?.[1], versionOf('anthropic-sdk-0-101'));
  // The app's own SDK is the one the emitter hooks: the package brings no copy of its own.
  t.is(pkg.dependencies['@anthropic-ai/sdk'], undefined);
  t.is(pkg.devDependencies['anthropic-sdk-0-101'], `npm:@anthropic-ai/sdk@${versionOf('anthropic-sdk-0-101')}`);
});
