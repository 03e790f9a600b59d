/**
 * A `middleware` option spread after `clientOptions()` replaces the emitter's: the client's
 * calls would be written without status, attempts or usage, and nothing else would say so.
 */
import test from 'ava';
import Anthropic from '@anthropic-ai/sdk';
import type { Middleware } from '@anthropic-ai/sdk';
import { readEvents } from '../helpers/events.js';
import { fakeApiAndEmitter } from '../helpers/emitter-setup.js';
import { warningsDuring } from '../helpers/warnings.js';

const MSG = { model: 'claude-haiku-4-5', max_tokens: 64, messages: [{ role: 'user' as const, content: 'hello' }] };

test.serial('the app\'s middleware given to clientOptions() runs after the emitter\'s, which records the call, and no warning is given', async (t) => {
  const s = await fakeApiAndEmitter(t);
  let ran = 0;
  const mine: Middleware = (request, next) => {
    ran++;
    return next(request);
  };
  const client = new Anthropic({ apiKey: 'k', baseURL: s.api.url, ...s.emitter.clientOptions({ middleware: [mine] }) });
  t.deepEqual(await warningsDuring(() => client.messages.create(MSG)), []);
  await s.emitter.flush();
  t.is(ran, 1);
  t.like(readEvents(s.dir).calls[0], { status: 'ok', attempts: 1, http_status: 200 });
});

test.serial('a middleware option given after clientOptions() is warned about once (CLAUDESCOPE_MIDDLEWARE_REPLACED), naming the fix', async (t) => {
  const s = await fakeApiAndEmitter(t);
  const mine: Middleware = (request, next) => next(request);
  const client = new Anthropic({ apiKey: 'k', baseURL: s.api.url, ...s.emitter.clientOptions(), middleware: [mine] });
  const first = await warningsDuring(() => client.messages.create(MSG));
  t.deepEqual(first.map((w) => w.code), ['CLAUDESCOPE_MIDDLEWARE_REPLACED']);
  t.regex(first[0]!.message, /clientOptions\(\{ middleware: \[\.\.\.\] \}\)/);
  t.deepEqual(await warningsDuring(() => client.messages.create(MSG)), [], 'once per process');
  // The calls are still written (the span ends them), without what only the middleware sees.
  await s.emitter.flush();
  t.deepEqual(readEvents(s.dir).calls.map((c) => c.attempts), [0, 0]);
});
