/** Builds call events for pricing tests from a few fields. */
import type { CallEvent, Provider, Usage } from '../../src/event/types.js';
import { usageFromApi } from '../../src/event/usage.js';

export interface EventFields {
  model: string | null;
  date: string | number;
  usage: Usage | null;
  provider?: Provider;
  model_requested?: string | null;
  operation?: string;
  status?: CallEvent['status'];
  http_status?: number | null;
  complete?: boolean;
  batch_result_type?: string;
  stream?: boolean;
}

/** A complete, schema-shaped call event around the fields pricing reads. */
export function callEvent(f: EventFields): CallEvent {
  const ts = typeof f.date === 'number' ? f.date : Date.parse(f.date);
  const event: CallEvent = {
    t: 'call',
    v: 1,
    event_id: `evt_${ts}`,
    seq: 1,
    ts,
    ts_start: ts,
    app: 'test',
    env: null,
    host: 'host',
    pid: 1,
    tags: {},
    provider: f.provider ?? 'anthropic',
    operation: f.operation ?? (f.stream ? 'messages.stream' : 'messages.create'),
    model_requested: f.model_requested === undefined ? f.model : f.model_requested,
    model: f.model,
    stream: f.stream ?? false,
    max_tokens: 4096,
    tool_count: 0,
    status: f.status ?? 'ok',
    http_status: f.http_status === undefined ? 200 : f.http_status,
    error_type: null,
    error_code: null,
    stop_reason: 'end_turn',
    request_id: 'req_1',
    message_id: 'msg_1',
    organization_id: null,
    workspace_id: null,
    api_key_alias: null,
    attempts: 1,
    attempt_log: [],
    duration_ms: 100,
    ttft_ms: null,
    output_tokens_per_second: null,
    complete: f.complete ?? true,
    usage: f.usage,
    rate_limits: null,
  };
  if (f.batch_result_type !== undefined) event.batch = { batch_id: 'msgbatch_1', result_type: f.batch_result_type };
  return event;
}

/** Usage from a raw API usage object (shorthand for tests). */
export function apiUsage(raw: Record<string, unknown>): Usage {
  return usageFromApi(raw);
}
