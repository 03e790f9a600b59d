/**
 * `claudescope/testing`: a fake Claude API for tests and demos, driven by the real
 * `@anthropic-ai/sdk` without a key or a network.
 *
 * @example
 * ```ts
 * import Anthropic from '@anthropic-ai/sdk';
 * import { startFakeApi, overloaded } from 'claudescope/testing';
 *
 * const api = await startFakeApi();
 * const client = new Anthropic({ apiKey: 'test', baseURL: api.url });
 * api.enqueue({ ...overloaded(), retryAfterMs: 10 }, {}); // a 529, then the default reply
 * await client.messages.create({ model: 'claude-sonnet-5-5', max_tokens: 64, messages: [{ role: 'user', content: 'hi' }] });
 * console.log(api.requests.map((r) => r.status)); // [529, 200]
 * await api.close();
 * ```
 */
export { startFakeApi } from './fake-api.js';
export type { FakeApi, FakeApiOptions } from './fake-api.js';
export type { RecordedRequest, RequestOutcome } from './recorded-request.js';
export type { RateLimitOptions } from './rate-limits.js';
export { FAKE_ROUTE_NAMES } from './script-types.js';
export type {
  BatchItemOutcome,
  FakeErrorType,
  FakeRouteName,
  FakeScript,
  FakeStopReason,
  ScriptBatch,
  ScriptContentBlock,
  ScriptError,
  ScriptFile,
  ScriptMatch,
  ScriptStartUsage,
  ScriptStream,
  ScriptUsage,
} from './script-types.js';
export { InvalidScriptError, validateScript, validateScriptFile } from './script-validate.js';
export { loadScriptFile, parseScriptFile, ScriptFileError } from './script-file.js';
export { cutStreamAfter, errorScript, overloaded, pacedStream, rateLimited, spendCapReached, streamErrorAfter } from './scripts.js';
export { estimateInputTokens } from './usage.js';
