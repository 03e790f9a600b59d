/**
 * `/v1/messages/batches`: create, retrieve, list, cancel, delete, and the results as JSON
 * Lines. Succeeded items carry a full message whose usage has `service_tier: "batch"`.
 */
import { requestId } from './ids.js';
import { planReply, replyMessage } from './message.js';
import { messagesParamsError } from './messages-routes.js';
import type { Route, RouteContext } from './router.js';
import type { BatchItem, StoredBatch } from './batch-store.js';
import type { BatchItemOutcome } from './script-types.js';

const MAX_BATCH_REQUESTS = 100_000;

function outcomeFromCustomId(customId: string): BatchItemOutcome {
  for (const o of ['errored', 'canceled', 'expired'] as const) if (customId.startsWith(o)) return o;
  return 'succeeded';
}

function create(ctx: RouteContext): void {
  const body = ctx.body as Record<string, unknown> | undefined;
  const requests = body?.['requests'];
  if (!Array.isArray(requests)) return ctx.error(400, { message: 'requests: Field required' });
  if (requests.length === 0 || requests.length > MAX_BATCH_REQUESTS) {
    return ctx.error(400, { message: `requests: List should have between 1 and ${MAX_BATCH_REQUESTS} items` });
  }
  const seen = new Set<string>();
  const items: BatchItem[] = [];
  for (const [i, r] of requests.entries()) {
    const req = r as Record<string, unknown> | null;
    const customId = req?.['custom_id'];
    if (typeof customId !== 'string' || !/^[a-zA-Z0-9_-]{1,64}$/.test(customId)) {
      return ctx.error(400, { message: `requests.${i}.custom_id: String should match pattern '^[a-zA-Z0-9_-]{1,64}$'` });
    }
    if (seen.has(customId)) return ctx.error(400, { message: `requests.${i}.custom_id: Duplicate custom_id '${customId}'` });
    seen.add(customId);
    const problem = messagesParamsError(req?.['params'], true);
    if (problem) return ctx.error(400, { message: `requests.${i}.params.${problem}` });
    const outcome = ctx.script.batch?.results?.[i] ?? outcomeFromCustomId(customId);
    const item: BatchItem = { custom_id: customId, outcome };
    if (outcome === 'succeeded') {
      const params = req!['params'] as Record<string, unknown>;
      item.message = replyMessage(planReply(ctx.script, params, { defaultServiceTier: 'batch' }));
    } else if (outcome === 'errored') {
      item.error = {
        type: 'error',
        error: { type: 'invalid_request_error', message: 'The fake API was scripted to fail this request.' },
        request_id: requestId(),
      };
    }
    items.push(item);
  }
  const batch = ctx.batches.create(items, ctx.script.batch?.processingMs ?? 0);
  ctx.json(200, ctx.batches.view(batch, ctx.baseUrl, 'created'));
}

/** The batch named in the path, or a 404 sent and undefined. */
function found(ctx: RouteContext): StoredBatch | undefined {
  const id = ctx.params['id'] ?? '';
  const batch = ctx.batches.get(id);
  if (!batch) ctx.error(404, { message: `Message batch ${id} not found.` });
  return batch;
}

function retrieve(ctx: RouteContext): void {
  const b = found(ctx);
  if (b) ctx.json(200, ctx.batches.view(b, ctx.baseUrl));
}

function list(ctx: RouteContext): void {
  const limitParam = ctx.query.get('limit');
  const limit = limitParam === null ? 20 : Number(limitParam);
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) {
    return ctx.error(400, { message: 'limit: Input should be an integer between 1 and 1000' });
  }
  let all = ctx.batches.list();
  const after = ctx.query.get('after_id');
  const before = ctx.query.get('before_id');
  if (after !== null) all = all.slice(all.findIndex((b) => b.id === after) + 1);
  let page: StoredBatch[];
  let hasMore: boolean;
  if (before !== null) {
    const end = all.findIndex((b) => b.id === before);
    const upTo = end < 0 ? [] : all.slice(0, end);
    page = upTo.slice(-limit);
    hasMore = upTo.length > limit;
  } else {
    page = all.slice(0, limit);
    hasMore = all.length > limit;
  }
  ctx.json(200, {
    data: page.map((b) => ctx.batches.view(b, ctx.baseUrl)),
    has_more: hasMore,
    first_id: page[0]?.id ?? null,
    last_id: page.at(-1)?.id ?? null,
  });
}

function cancel(ctx: RouteContext): void {
  const b = found(ctx);
  if (!b) return;
  const started = ctx.batches.cancel(b);
  ctx.json(200, ctx.batches.view(b, ctx.baseUrl, started ? 'canceling' : undefined));
}

function remove(ctx: RouteContext): void {
  const b = found(ctx);
  if (!b) return;
  if (!ctx.batches.ended(b)) {
    return ctx.error(400, { message: `Message batch ${b.id} cannot be deleted while it is processing; cancel it first.` });
  }
  ctx.batches.delete(b.id);
  ctx.json(200, { id: b.id, type: 'message_batch_deleted' });
}

function results(ctx: RouteContext): void {
  const b = found(ctx);
  if (!b) return;
  if (!ctx.batches.ended(b)) return ctx.error(404, { message: `Results of message batch ${b.id} are not available until it has ended.` });
  ctx.jsonl(ctx.batches.results(b));
}

export const batchRoutes: Route[] = [
  { method: 'POST', path: '/v1/messages/batches', name: 'messages.batches.create', handler: create },
  { method: 'GET', path: '/v1/messages/batches', name: 'messages.batches.list', handler: list },
  { method: 'GET', path: '/v1/messages/batches/:id', name: 'messages.batches.retrieve', handler: retrieve },
  { method: 'DELETE', path: '/v1/messages/batches/:id', name: 'messages.batches.delete', handler: remove },
  { method: 'POST', path: '/v1/messages/batches/:id/cancel', name: 'messages.batches.cancel', handler: cancel },
  { method: 'GET', path: '/v1/messages/batches/:id/results', name: 'messages.batches.results', handler: results },
];
