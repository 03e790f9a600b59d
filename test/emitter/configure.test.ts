/**
 * The process-wide emitter of `configure()`, `instrument()` and `clientOptions()`. Its state is
 * the module's, so the tests run serially, in the order a process would call them.
 */
import test from 'ava';
import Anthropic from '@anthropic-ai/sdk';
import { clientOptions, close, configure, instrument } from '../../src/index.js';
import { startFakeApi } from '../../src/testing/index.js';
import { readEvents, tempDir } from '../helpers/events.js';
import { warningsDuring } from '../helpers/warnings.js';

const MSG = { model: 'claude-sonnet-5', max_tokens: 16, messages: [{ role: 'user' as const, content: 'hi' }] };

test.serial('configure() before any client is hooked, even twice, gives no warning, and the clients hooked after it record with its settings', async (t) => {
  const api = await startFakeApi();
  t.teardown(() => api.close());
  const dir = tempDir(t);
  const warnings = await warningsDuring(async () => {
    configure({ dir: tempDir(t), app: 'first' });
    configure({ dir, app: 'configured', redact: () => ({ kept: true }) });
    const client = instrument(new Anthropic({ apiKey: 'k', baseURL: api.url }));
    await new Anthropic({ apiKey: 'k', baseURL: api.url, ...clientOptions() }).messages.create(MSG);
    await client.messages.create(MSG);
    await close();
  });
  t.deepEqual(warnings, []);
  const { calls } = readEvents(dir);
  t.is(calls.length, 2);
  for (const call of calls) t.like(call, { app: 'configured', content: { kept: true } });
});

test.serial('configure() after a client was hooked warns once that the client keeps the earlier settings, and what to do', async (t) => {
  const api = await startFakeApi();
  t.teardown(() => api.close());
  const earlier = tempDir(t);
  const later = tempDir(t);
  const first = configure({ dir: earlier, app: 'earlier' });
  const hookedBefore = instrument(new Anthropic({ apiKey: 'k', baseURL: api.url }));
  const warnings = await warningsDuring(() => {
    configure({ dir: later, app: 'later' });
    configure({ dir: later, app: 'later' });
  });
  t.deepEqual(warnings.map((w) => w.code), ['CLAUDESCOPE_CONFIGURED_LATE']);
  t.regex(warnings[0]!.message, /after instrument\(\) or clientOptions\(\) had hooked a client.*keep recording with the earlier settings.*Call configure\(\) before the first instrument\(\) or clientOptions\(\)/);
  // What the warning says: the client hooked before records where it was hooked, a new one where configured.
  await hookedBefore.messages.create(MSG);
  await instrument(new Anthropic({ apiKey: 'k', baseURL: api.url })).messages.create(MSG);
  await close();
  await first.close();
  t.like(readEvents(later).calls, [{ app: 'later' }]);
  t.like(readEvents(earlier).calls, [{ app: 'earlier' }]);
});
