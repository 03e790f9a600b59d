/**
 * The platform of a call, for a client whose scope names none: the host of its base URL. The
 * SDK's Bedrock, Vertex and Foundry clients run the app's middleware on the canonical request,
 * so the real SDK with such a base URL (its requests carried to the fake API by a `fetch` that
 * keeps only their path) is what those clients show the emitter.
 */
import test from 'ava';
import Anthropic from '@anthropic-ai/sdk';
import { readEvents } from '../helpers/events.js';
import { fakeApiAndEmitter } from '../helpers/emitter-setup.js';
import { providerOfUrl } from '../../src/emitter/provider.js';
import type { Provider } from '../../src/event/types.js';

const MSG = { model: 'claude-haiku-4-5', max_tokens: 64, messages: [{ role: 'user' as const, content: 'hello' }] };

test('the provider comes from the host of the base URL: Bedrock, Vertex (global, regional, multi-region) and Foundry endpoints, anything else anthropic', (t) => {
  const cases: [string, Provider][] = [
    ['https://api.anthropic.com/v1/messages', 'anthropic'],
    ['https://bedrock-runtime.us-east-1.amazonaws.com/v1/messages', 'bedrock'],
    ['https://bedrock-runtime-fips.us-gov-west-1.amazonaws.com/v1/messages', 'bedrock'],
    ['https://bedrock-runtime.cn-north-1.amazonaws.com.cn/v1/messages', 'bedrock'],
    ['https://BEDROCK-RUNTIME.eu-west-1.AMAZONAWS.com:443/v1/messages?beta=true', 'bedrock'],
    ['https://aiplatform.googleapis.com/v1/v1/messages', 'vertex'],
    ['https://us-east5-aiplatform.googleapis.com/v1/v1/messages', 'vertex'],
    ['https://aiplatform.us.rep.googleapis.com/v1/v1/messages', 'vertex'],
    ['https://my-resource.services.ai.azure.com/anthropic/v1/messages', 'foundry'],
    ['https://example-resource.azure.anthropic.com/anthropic/v1/messages', 'foundry'],
    ['http://127.0.0.1:8080/v1/messages', 'anthropic'],
    ['https://llm-proxy.internal.example/v1/messages', 'anthropic'],
    // Only the host counts: a proxy's path or credentials naming a platform do not.
    ['https://proxy.example/bedrock-runtime.us-east-1.amazonaws.com/v1/messages', 'anthropic'],
    ['https://bedrock-runtime.us-east-1.amazonaws.com@proxy.example/v1/messages', 'anthropic'],
    ['https://storage.googleapis.com/v1/messages', 'anthropic'],
    ['not a url', 'anthropic'],
  ];
  for (const [url, provider] of cases) t.is(providerOfUrl(url), provider, url);
  // The last URL's platform is kept: asked again, each in a row and after another, the same answer.
  for (const [url, provider] of [...cases, ...cases.slice().reverse()]) {
    t.is(providerOfUrl(url), provider, `${url} asked again`);
    t.is(providerOfUrl(url), provider, `${url} asked twice in a row`);
  }
});

for (const hook of ['instrument', 'clientOptions'] as const) {
  test(`${hook}: a client of a Bedrock or Vertex endpoint records its calls as that provider, unless the scope names one`, async (t) => {
    const s = await fakeApiAndEmitter(t);
    // Carries each request to the fake API, keeping its path past the base URL's: the SDK and the emitter saw the platform's URL.
    const toFakeApi = (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
      const url = new URL(typeof input === 'string' || input instanceof URL ? input : input.url);
      return fetch(`${s.api.url}${url.pathname.slice(url.pathname.lastIndexOf('/v1/'))}${url.search}`, init);
    };
    const make = (baseURL: string, provider?: 'anthropic' | 'vertex') => {
      const scope = provider ? { provider } : undefined;
      const options = { apiKey: 'k', baseURL, fetch: toFakeApi };
      return hook === 'instrument' ? s.emitter.instrument(new Anthropic(options), scope) : new Anthropic({ ...options, ...s.emitter.clientOptions(scope) });
    };
    await make('https://bedrock-runtime.us-east-1.amazonaws.com').messages.create(MSG);
    await make('https://us-east5-aiplatform.googleapis.com/v1').messages.create({ ...MSG, stream: true }).then(async (stream) => {
      for await (const _ of stream);
    });
    await make('https://my-resource.services.ai.azure.com/anthropic').messages.countTokens(MSG);
    await make(s.api.url).messages.create(MSG);
    // A scope's own provider wins over the host.
    await make('https://bedrock-runtime.us-east-1.amazonaws.com', 'vertex').messages.create(MSG);
    await make('https://bedrock-runtime.us-east-1.amazonaws.com', 'anthropic').messages.create(MSG);
    await s.emitter.flush();
    const calls = readEvents(s.dir).calls;
    t.deepEqual(
      calls.map((c) => [c.operation, c.stream, c.provider, c.status]),
      [
        ['messages.create', false, 'bedrock', 'ok'],
        ['messages.create', true, 'vertex', 'ok'],
        ['messages.count_tokens', false, 'foundry', 'ok'],
        ['messages.create', false, 'anthropic', 'ok'],
        ['messages.create', false, 'vertex', 'ok'],
        ['messages.create', false, 'anthropic', 'ok'],
      ],
    );
    t.true(calls.every((c) => c.usage !== null || c.operation === 'messages.count_tokens'));
  });
}
