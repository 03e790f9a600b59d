/** Shared set-up for the fake API's tests: one fake per test, closed in teardown. */
import Anthropic from '@anthropic-ai/sdk';
import type { ExecutionContext } from 'ava';
import { startFakeApi, type FakeApi, type FakeApiOptions } from '../../src/testing/index.js';

export interface Harness {
  api: FakeApi;
  client: Anthropic;
}

/** A fake API and an SDK client pointed at it; both closed when the test ends. */
export async function harness(t: ExecutionContext, options: FakeApiOptions = {}, clientOptions: { maxRetries?: number } = {}): Promise<Harness> {
  const api = await startFakeApi(options);
  t.teardown(() => api.close());
  const client = new Anthropic({ apiKey: 'test', baseURL: api.url, maxRetries: clientOptions.maxRetries ?? 0 });
  return { api, client };
}

/** A minimal valid Messages request. */
export const hello = {
  model: 'claude-sonnet-5-5',
  max_tokens: 256,
  messages: [{ role: 'user' as const, content: 'Hello, Claude' }],
};
