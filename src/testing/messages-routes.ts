/** `POST /v1/messages` (JSON or SSE) and `POST /v1/messages/count_tokens`. */
import { planReply, replyFrames, replyMessage } from './message.js';
import type { Route, RouteContext } from './router.js';
import { estimateInputTokens } from './usage.js';

/**
 * The checks the API makes that matter to a client, with its message style
 * (`max_tokens: Field required`). Returns the message of the first failure, or null.
 */
export function messagesParamsError(body: unknown, needsMaxTokens: boolean): string | null {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return 'The request body must be a JSON object.';
  const b = body as Record<string, unknown>;
  if (typeof b['model'] !== 'string' || b['model'] === '') return 'model: Field required';
  if (needsMaxTokens) {
    const m = b['max_tokens'];
    if (m === undefined) return 'max_tokens: Field required';
    if (typeof m !== 'number' || !Number.isInteger(m) || m < 1) return 'max_tokens: Input should be a valid integer greater than or equal to 1';
  }
  if (!Array.isArray(b['messages'])) return 'messages: Field required';
  return null;
}

async function create(ctx: RouteContext): Promise<void> {
  const problem = messagesParamsError(ctx.body, true);
  if (problem) return ctx.error(400, { message: problem });
  const body = ctx.body as Record<string, unknown>;
  const reply = planReply(ctx.script, body, { defaultServiceTier: 'standard' });
  ctx.consume({ requests: 1, inputTokens: reply.usage.input + reply.usage.cacheWrite, outputTokens: reply.usage.output });
  if (body['stream'] === true) {
    await ctx.sse(replyFrames(reply, ctx.script));
  } else {
    ctx.json(200, replyMessage(reply));
  }
}

function countTokens(ctx: RouteContext): void {
  const problem = messagesParamsError(ctx.body, false);
  if (problem) return ctx.error(400, { message: problem });
  const input = ctx.script.usage?.input_tokens ?? estimateInputTokens(ctx.body as Record<string, unknown>);
  ctx.json(200, { input_tokens: input });
}

export const messagesRoutes: Route[] = [
  { method: 'POST', path: '/v1/messages', name: 'messages.create', handler: create },
  { method: 'POST', path: '/v1/messages/count_tokens', name: 'messages.count_tokens', handler: countTokens },
];
