/**
 * The SDK versions the package takes (its peer dependency on `@anthropic-ai/sdk`): the oldest
 * one (0.101.0, the first with middleware) records every kind of call through `instrument()`,
 * the first with call spans (0.134.0) through `clientOptions()` too, as the current one does;
 * and a client the emitter cannot record is never left unrecorded silently.
 */
import test from 'ava';
import type { ExecutionContext } from 'ava';
import CurrentSdk from '@anthropic-ai/sdk';
import OldestSdk from 'anthropic-sdk-0-101';
import CallSpansSdk from 'anthropic-sdk-0-134';
import PreMiddlewareSdk from 'anthropic-sdk-0-100';
import { readFileSync } from 'node:fs';
import { readEvents } from '../helpers/events.js';
import { fakeApiAndEmitter, type EmitterSetup } from '../helpers/emitter-setup.js';
import { warningsDuring } from '../helpers/warnings.js';

/** The version of an installed package (these SDKs export no `./package.json`). */
const versionOf = (name: string): string => (JSON.parse(readFileSync(new URL(`../../node_modules/${name}/package.json`, import.meta.url), 'utf8')) as { version: string }).version;
const MSG = { model: 'claude-haiku-4-5', max_tokens: 64, messages: [{ role: 'user' as const, content: 'hello' }] };

const setup = fakeApiAndEmitter;

/** The calls every supported SDK must record: JSON, a stream, `messages.stream()`, a retried 529, an error, token counting. */
async function recordsEveryKind(t: ExecutionContext, setup: EmitterSetup, client: Client, BadRequest: new (...args: never[]) => Error): Promise<void> {
  const { api, dir, emitter } = setup;
  api.enqueue({ usage: { input_tokens: 11, output_tokens: 7, cache_read_input_tokens: 100 } });
  const created = await client.messages.create(MSG);
  const stream = await client.messages.create({ ...MSG, stream: true });
  for await (const _ of stream);
  const final = await client.messages.stream(MSG).finalMessage();
  api.enqueue({ status: 529 });
  api.enqueue({});
  await client.messages.create(MSG);
  const failed = await client.messages.create(MSG, { headers: { 'x-fake-script': '{"status":400}' } }).catch((err: unknown) => err);
  t.true(failed instanceof BadRequest);
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
}

/** What the scenario needs of a client, whichever SDK made it. */
interface Client {
  messages: {
    create(body: object, options?: object): Promise<{ id: string }> & Promise<AsyncIterable<unknown>>;
    stream(body: object): { finalMessage(): Promise<{ usage: { output_tokens: number } }> };
    countTokens(body: object): Promise<unknown>;
  };
}

const SDKS = [
  { name: 'anthropic-sdk-0-101', version: '0.101.0', Sdk: OldestSdk, hooks: ['instrument'] },
  { name: 'anthropic-sdk-0-134', version: '0.134.0', Sdk: CallSpansSdk, hooks: ['instrument', 'clientOptions'] },
  { name: '@anthropic-ai/sdk', version: '1.14.0', Sdk: CurrentSdk, hooks: ['instrument', 'clientOptions'] },
] as const;

// Declared before the tests that provoke warnings: each is given once per process.
for (const { name, version, Sdk, hooks } of SDKS) {
  for (const hook of hooks) {
    test.serial(`SDK ${version} through ${hook}() records each call once, and warns of nothing: JSON, streams, a retried 529, an error and token counting`, async (t) => {
      t.true(versionOf(name).startsWith(version.replace(/\.0$/, '.')), `${name} is ${versionOf(name)}`);
      const s = await setup(t);
      const options = { apiKey: 'k', baseURL: s.api.url, maxRetries: 2 };
      const warnings = await warningsDuring(async () => {
        // (Typed against the current SDK's options; each SDK checks its own at run time.)
        const client = (hook === 'instrument' ? s.emitter.instrument(new Sdk(options)) : new Sdk({ ...options, ...(s.emitter.clientOptions() as object) })) as unknown as Client;
        await recordsEveryKind(t, s, client, Sdk.BadRequestError);
      });
      t.deepEqual(warnings.map((w) => w.code), []);
    });
  }
}

test.serial('a client of an SDK without call spans (0.101.0) made with clientOptions() warns once, naming instrument() and the version to upgrade to', async (t) => {
  const { api, dir, emitter } = await setup(t);
  // TypeScript already refuses this (the SDK's middleware context lacks what the emitter's type names).
  const client = new OldestSdk({ apiKey: 'k', baseURL: api.url, ...(emitter.clientOptions() as object) });
  const warnings = await warningsDuring(async () => {
    await client.messages.create(MSG);
    await client.messages.create(MSG);
  });
  t.deepEqual(warnings.map((w) => w.code), ['CLAUDESCOPE_SDK_WITHOUT_CALL_SPANS']);
  t.regex(warnings[0]!.message, /clientOptions\(\) opened no call span.*0\.134\.0.*None of its calls is recorded\. Use instrument\(client\) \(SDK 0\.101\.0 or later\)/);
  await emitter.flush();
  t.is(readEvents(dir).calls.length, 0);
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
