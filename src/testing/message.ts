/**
 * Builds a reply from a script and the request: the content blocks, the `Message` of a
 * non-streaming reply, and the SSE frames of a streamed one (`message_start`, `ping`,
 * block start / deltas / stop, cumulative `message_delta`s, `message_stop`).
 */
import type { Message } from '@anthropic-ai/sdk/resources/messages';
import { messageId, thinkingSignature, toolUseId } from './ids.js';
import type { FakeScript, FakeStopReason, ScriptContentBlock } from './script-types.js';
import type { SseFrame } from './sse.js';
import {
  deltaSnapshots,
  estimateInputTokens,
  estimateTextTokens,
  finalUsage,
  resolveUsage,
  startUsage,
  startValues,
  type ResolvedUsage,
} from './usage.js';

const DEFAULT_TEXT = 'Hello! This is a reply from the fake Claude API.';
const DEFAULT_THINKING = 'The user greets me. I should answer briefly and politely.';
const FILLER = ['lorem', 'ipsum', 'dolor', 'sit', 'amet', 'consectetur', 'adipiscing', 'elit'];

/** A content block with the pieces a stream sends it in. */
interface PlannedBlock {
  /** The block as a non-streaming reply holds it. */
  final: Record<string, unknown>;
  /** The block as `content_block_start` announces it. */
  start: Record<string, unknown>;
  deltas: Array<Record<string, unknown>>;
  /** Text-like deltas (text, thinking), counted for `textDeltas`. */
  kind: 'text' | 'tool_use' | 'thinking';
}

/** Splits `text` into exactly `n` non-empty pieces when it is long enough, else synthesises. */
function chunks(text: string | undefined, n: number | undefined): string[] {
  if (n === undefined) {
    const source = text ?? DEFAULT_TEXT;
    // One delta per word, spaces kept, like the API's token-sized deltas.
    return source.match(/\S+\s*|\s+/g) ?? [];
  }
  if (n === 0) return [];
  if (text === undefined || text.length < n) {
    return Array.from({ length: n }, (_, i) => `${FILLER[i % FILLER.length]} `);
  }
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(text.slice(Math.floor((i * text.length) / n), Math.floor(((i + 1) * text.length) / n)));
  return out;
}

function explicitBlocks(script: FakeScript, body: Record<string, unknown>): ScriptContentBlock[] {
  const content = script.content ?? 'text';
  if (Array.isArray(content)) return content;
  switch (content) {
    case 'text':
      return [{ type: 'text' }];
    case 'thinking':
      return [{ type: 'thinking' }, { type: 'text' }];
    case 'tool_use': {
      const tools = Array.isArray(body['tools']) ? (body['tools'] as Array<Record<string, unknown>>) : [];
      const name = typeof tools[0]?.['name'] === 'string' ? (tools[0]['name'] as string) : 'get_weather';
      return [{ type: 'text', text: 'Let me check that.' }, { type: 'tool_use', name }];
    }
  }
}

function planBlocks(script: FakeScript, body: Record<string, unknown>): PlannedBlock[] {
  const blocks = explicitBlocks(script, body);
  const textBlocks = blocks.filter((b) => b.type === 'text').length;
  const total = script.stream?.textDeltas;
  let textIndex = 0;
  return blocks.map((b): PlannedBlock => {
    switch (b.type) {
      case 'text': {
        // Share `textDeltas` among the text blocks, the first ones taking the remainder.
        const share = total === undefined ? undefined : Math.floor(total / textBlocks) + (textIndex < total % textBlocks ? 1 : 0);
        textIndex++;
        const pieces = chunks(b.text, share);
        const text = b.text !== undefined && (share === undefined || b.text.length >= share) ? b.text : pieces.join('');
        return {
          kind: 'text',
          final: { type: 'text', text, citations: null },
          start: { type: 'text', text: '' },
          deltas: pieces.map((t) => ({ type: 'text_delta', text: t })),
        };
      }
      case 'tool_use': {
        const id = b.id ?? toolUseId();
        const name = b.name ?? 'get_weather';
        const input = b.input ?? { location: 'San Francisco, CA' };
        const json = JSON.stringify(input);
        const third = Math.ceil(json.length / 3);
        // The API opens with an empty partial_json, then sends the JSON in pieces.
        const parts = ['', json.slice(0, third), json.slice(third, 2 * third), json.slice(2 * third)].filter((p, i) => i === 0 || p);
        return {
          kind: 'tool_use',
          final: { type: 'tool_use', id, name, input, caller: { type: 'direct' } },
          start: { type: 'tool_use', id, name, input: {}, caller: { type: 'direct' } },
          deltas: parts.map((p) => ({ type: 'input_json_delta', partial_json: p })),
        };
      }
      case 'thinking': {
        const thinking = b.thinking ?? DEFAULT_THINKING;
        const signature = b.signature ?? thinkingSignature();
        return {
          kind: 'thinking',
          final: { type: 'thinking', thinking, signature },
          start: { type: 'thinking', thinking: '', signature: '' },
          deltas: [...chunks(thinking, undefined).map((t) => ({ type: 'thinking_delta', thinking: t })), { type: 'signature_delta', signature }],
        };
      }
    }
  });
}

/** Everything needed to answer one successful Messages call. */
export interface PlannedReply {
  id: string;
  model: string;
  stopReason: FakeStopReason;
  blocks: PlannedBlock[];
  usage: ResolvedUsage;
}

export interface ReplyContext {
  /** `service_tier` reported when neither the script nor the request say otherwise. */
  defaultServiceTier: 'standard' | 'batch';
}

export function planReply(script: FakeScript, body: Record<string, unknown>, ctx: ReplyContext): PlannedReply {
  const blocks = planBlocks(script, body);
  let output = 0;
  let thinking: number | null = null;
  for (const b of blocks) {
    if (b.kind === 'text') output += estimateTextTokens(String(b.final['text']));
    else if (b.kind === 'tool_use') output += estimateTextTokens(JSON.stringify(b.final['input']));
    else {
      const t = estimateTextTokens(String(b.final['thinking']));
      thinking = (thinking ?? 0) + t;
      output += t;
    }
  }
  const requestedTier = body['service_tier'];
  const requestedSpeed = body['speed'];
  const requestedGeo = body['inference_geo'];
  const usage = resolveUsage(script.usage, {
    input: estimateInputTokens(body),
    output: Math.max(1, output),
    thinking,
    // `auto` and `standard_only` are request values; the tier that served it is reported.
    serviceTier: ctx.defaultServiceTier === 'batch' ? 'batch' : requestedTier === 'priority' ? 'priority' : 'standard',
    speed: requestedSpeed === 'fast' ? 'fast' : 'standard',
    geo: typeof requestedGeo === 'string' ? requestedGeo : 'global',
  });
  const lastKind = blocks.at(-1)?.kind;
  return {
    id: messageId(),
    model: script.model ?? (typeof body['model'] === 'string' ? body['model'] : 'claude-sonnet-5-5'),
    stopReason: script.stopReason ?? (lastKind === 'tool_use' ? 'tool_use' : 'end_turn'),
    blocks,
    usage,
  };
}

function messageShell(reply: PlannedReply): Omit<Message, 'content' | 'usage' | 'stop_reason'> {
  return {
    id: reply.id,
    type: 'message',
    role: 'assistant',
    model: reply.model,
    stop_sequence: null,
    stop_details: null,
    container: null,
    diagnostics: null,
  };
}

/** The body of a non-streaming reply. */
export function replyMessage(reply: PlannedReply): Message {
  return {
    ...messageShell(reply),
    content: reply.blocks.map((b) => b.final) as unknown as Message['content'],
    stop_reason: reply.stopReason,
    usage: finalUsage(reply.usage),
  };
}

/** The SSE frames of a streamed reply, in the API's order. */
export function replyFrames(reply: PlannedReply, script: FakeScript): SseFrame[] {
  const stream = script.stream;
  const start = startValues(reply.usage, stream);
  const frames: SseFrame[] = [
    {
      event: 'message_start',
      data: {
        type: 'message_start',
        message: { ...messageShell(reply), content: [], stop_reason: null, usage: startUsage(reply.usage, start) },
      },
    },
    { event: 'ping', data: { type: 'ping' } },
  ];
  let deltas = 0;
  reply.blocks.forEach((block, index) => {
    frames.push({ event: 'content_block_start', data: { type: 'content_block_start', index, content_block: block.start } });
    for (const delta of block.deltas) {
      const frame: SseFrame = { event: 'content_block_delta', data: { type: 'content_block_delta', index, delta } };
      if (deltas === 0 && stream?.firstDeltaDelayMs) frame.delayMs = stream.firstDeltaDelayMs;
      frames.push(frame);
      deltas++;
      if (stream?.pingEvery && deltas % stream.pingEvery === 0) frames.push({ event: 'ping', data: { type: 'ping' } });
    }
    frames.push({ event: 'content_block_stop', data: { type: 'content_block_stop', index } });
  });
  const snapshots = deltaSnapshots(reply.usage, start, stream);
  snapshots.forEach((usage, i) => {
    const last = i === snapshots.length - 1;
    frames.push({
      event: 'message_delta',
      data: {
        type: 'message_delta',
        delta: { stop_reason: last ? reply.stopReason : null, stop_sequence: null, stop_details: null, container: null },
        usage,
      },
    });
  });
  frames.push({ event: 'message_stop', data: { type: 'message_stop' } });
  return frames;
}
