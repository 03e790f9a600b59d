/**
 * The demo's workload: a realistic mix of Claude API calls made through the real
 * `@anthropic-ai/sdk`, hooked by the emitter, against the fake Claude API. Several models
 * (one without a known price), streaming and not, cache reads and writes, tool use, 429s and
 * 529s the SDK retries (and one it gives up on), a stream that fails mid-way, and feature tags.
 */
import Anthropic from '@anthropic-ai/sdk';
import { createEmitter } from '../emitter/emitter.js';
import { withTags } from '../emitter/tags.js';
import type { FakeApi } from '../testing/fake-api.js';
import type { FakeScript } from '../testing/script-types.js';

export interface DemoWorkloadOptions {
  api: FakeApi;
  /** The emitter's folder, `<home>/events`. */
  eventsDir: string;
  /** Calls to make. Default 60. */
  calls?: number;
  /** Stop starting calls after this long, ms. Default 15 000. */
  durationMs?: number;
  /** Called after each call. */
  onCall?: (done: number, total: number) => void;
}

export interface DemoWorkloadResult {
  calls: number;
  /** Calls the SDK finally threw on (after its retries). */
  failedCalls: number;
  /** HTTP requests the fake API answered (attempts, retries included). */
  httpRequests: number;
}

interface Scenario {
  feature: string;
  model: string;
  stream: boolean;
  /** Scripts queued for this call's attempts (the SDK's retries take the next ones). */
  queue: FakeScript[];
  tools?: boolean;
}

const SONNET = 'claude-sonnet-5-5';
const HAIKU = 'claude-haiku-5-5';
const OPUS = 'claude-opus-5-5';
/** A model the price catalog lists without a price: shown as unpriced, never $0. */
const UNPRICED = 'claude-fable-5-2';

const ok = (extra: FakeScript = {}): FakeScript => ({ delayMs: 20, ...extra });
const usage = (u: FakeScript['usage']): FakeScript => ({ usage: u ?? {} });

/** The i-th call of the mix (a cycle of 12). */
export function scenario(i: number): Scenario {
  switch (i % 12) {
    case 0: return { feature: 'chat', model: SONNET, stream: false, queue: [ok()] };
    case 1: return { feature: 'search', model: HAIKU, stream: true, queue: [ok({ stream: { textDeltas: 12, eventDelayMs: 5 } })] };
    case 2: return { feature: 'chat', model: SONNET, stream: false, queue: [ok(usage({ input_tokens: 40, cache_read_input_tokens: 4000, output_tokens: 120 }))] };
    case 3: return { feature: 'summarize', model: OPUS, stream: false, queue: [ok(usage({ input_tokens: 60, cache_creation_input_tokens: 3000, cache_creation: { ephemeral_5m_input_tokens: 2000, ephemeral_1h_input_tokens: 1000 }, output_tokens: 300 }))] };
    case 4: return { feature: 'agent', model: SONNET, stream: false, tools: true, queue: [ok({ content: 'tool_use', stopReason: 'tool_use' })] };
    case 5: return { feature: 'search', model: HAIKU, stream: false, queue: [{ status: 429, retryAfterMs: 150 }, ok()] };
    case 6: return { feature: 'chat', model: SONNET, stream: true, queue: [{ status: 529, retryAfterMs: 100 }, ok({ stream: { textDeltas: 20, eventDelayMs: 4 } })] };
    case 7: return { feature: 'search', model: HAIKU, stream: true, queue: [ok({ stream: { textDeltas: 8, eventDelayMs: 3 }, ...usage({ input_tokens: 30, cache_read_input_tokens: 2500, output_tokens: 80 }) })] };
    case 8: return { feature: 'summarize', model: UNPRICED, stream: false, queue: [ok()] };
    case 9: return { feature: 'agent', model: OPUS, stream: true, tools: true, queue: [ok({ content: 'tool_use', stopReason: 'tool_use', stream: { textDeltas: 4, eventDelayMs: 3 } })] };
    case 10: return { feature: 'chat', model: SONNET, stream: true, queue: [ok({ stream: { textDeltas: 30, eventDelayMs: 2, errorAfterEvents: 6 } })] };
    default: return { feature: 'chat', model: HAIKU, stream: false, queue: [{ status: 529, retryAfterMs: 50, times: 3 }] };
  }
}

const TOOLS = [{ name: 'get_weather', description: 'Weather for a city', input_schema: { type: 'object' as const, properties: { city: { type: 'string' } }, required: ['city'] } }];

/** Runs the workload one call at a time (the fake's queue then answers each call's attempts in order). */
export async function runDemoWorkload(o: DemoWorkloadOptions): Promise<DemoWorkloadResult> {
  const total = o.calls ?? 60;
  const deadline = Date.now() + (o.durationMs ?? 15_000);
  const emitter = createEmitter({ dir: o.eventsDir, app: 'claudescope-demo', flushIntervalMs: 100 });
  const client = emitter.instrument(new Anthropic({ apiKey: 'sk-ant-demo-not-a-real-key', baseURL: o.api.url, maxRetries: 2 }));
  let requests = 0;
  let mark = o.api.totalRequests;
  let calls = 0;
  let failed = 0;
  try {
    for (let i = 0; i < total && Date.now() < deadline; i++) {
      const s = scenario(i);
      o.api.enqueue(...s.queue);
      const body = {
        model: s.model,
        max_tokens: 512,
        messages: [{ role: 'user' as const, content: `Demo question ${i} for ${s.feature}` }],
        ...(s.tools ? { tools: TOOLS } : {}),
      };
      try {
        await withTags({ feature: s.feature, customer: `customer-${i % 5}` }, async () => {
          if (s.stream) {
            const stream = client.messages.stream(body);
            await stream.finalMessage();
          } else {
            await client.messages.create(body);
          }
        });
      } catch {
        failed++; // the 529s the SDK gave up on, the stream that failed mid-way
      }
      calls++;
      await o.api.waitForIdle().catch(() => {});
      requests += o.api.totalRequests - mark;
      // A script this call did not use must not answer the next call.
      if (o.api.pendingScripts > 0) o.api.reset();
      mark = o.api.totalRequests;
      o.onCall?.(calls, total);
    }
  } finally {
    await emitter.close();
  }
  return { calls, failedCalls: failed, httpRequests: requests };
}
