/**
 * The SSE scanner reads a stream's bytes as they arrive, in pieces cut anywhere (inside a
 * frame's first line, between the two newlines ending it, inside a multi-byte character), and
 * learns the same facts as a plain reading of the whole body.
 */
import test, { type ExecutionContext } from 'ava';
import Anthropic from '@anthropic-ai/sdk';
import fc from 'fast-check';
import { fakeApiAndEmitter } from '../helpers/emitter-setup.js';
import { readEvents } from '../helpers/events.js';
import { newSseFacts, SseScanner } from '../../src/emitter/stream-observer.js';
import type { SseFacts } from '../../src/emitter/stream-observer.js';
import { startFakeApi } from '../../src/testing/index.js';
import type { FakeScript } from '../../src/testing/index.js';

/** Bodies the fake API streams: text with multi-byte characters, pings, thinking and tools, a mid-stream error. */
const SCRIPTS: FakeScript[] = [
  { content: [{ type: 'text', text: 'Zebras — naïve façade ✓ 漢字 🦓 done' }], stream: { pingEvery: 2 } },
  { content: [{ type: 'thinking', thinking: 'hmm… ok' }, { type: 'tool_use', name: 'lookup', input: { q: 'é' } }], usage: { cache_read_input_tokens: 40 } },
  { content: [{ type: 'text', text: 'one two three four five six' }], stream: { errorAfterEvents: 5 } },
  { usage: { input_tokens: 900, web_search_requests: 2 }, stream: { messageDeltas: 3, textDeltas: 12 } },
];

async function bodies(): Promise<string[]> {
  const api = await startFakeApi();
  try {
    const out: string[] = [];
    for (const script of SCRIPTS) {
      api.enqueue(script);
      const res = await fetch(`${api.url}/v1/messages`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-api-key': 'k', 'anthropic-version': '2023-06-01' },
        body: JSON.stringify({ model: 'claude-haiku-4-5', max_tokens: 256, messages: [{ role: 'user', content: 'hi' }], stream: true }),
      });
      out.push(await res.text());
    }
    return out;
  } finally {
    await api.close();
  }
}

/** What the facts should be, read plainly from the whole text: split into frames, parse each. */
function expected(body: string): Omit<SseFacts, 'firstDeltaAt'> & { sawDelta: boolean } {
  const { firstDeltaAt: _, ...facts } = newSseFacts();
  const f = { ...facts, sawDelta: false };
  const frames = body.split('\n\n');
  // What follows the last blank line is no frame (the API's body ends with one).
  frames.pop();
  for (const frame of frames) {
    const name = /^event: (\S+)/m.exec(frame)?.[1];
    const data = /^data: (.*)$/m.exec(frame)?.[1];
    if (name === 'content_block_delta') f.sawDelta = true;
    if (name === 'message_stop') f.sawMessageStop = true;
    if (data === undefined) continue;
    const d = JSON.parse(data) as Record<string, any>;
    if (name === 'message_start') {
      f.messageId = d['message'].id;
      f.model = d['message'].model;
      f.usage = { ...d['message'].usage };
    } else if (name === 'message_delta') {
      if (d['delta']?.stop_reason != null) f.stopReason = d['delta'].stop_reason;
      for (const [k, v] of Object.entries(d['usage'] ?? {})) if (v !== null) (f.usage ??= {})[k] = v;
    } else if (name === 'error') {
      f.error = { type: d['error'].type ?? null, message: d['error'].message ?? null, errorCode: d['error'].details?.error_code ?? null };
    }
  }
  return f;
}

function scan(bytes: Uint8Array, cuts: number[]): SseFacts {
  const facts = newSseFacts();
  const scanner = new SseScanner(facts);
  let from = 0;
  for (const cut of [...new Set(cuts)].sort((a, b) => a - b)) {
    scanner.push(bytes.subarray(from, cut));
    from = cut;
  }
  scanner.push(bytes.subarray(from));
  return facts;
}

function comparable(f: SseFacts): Omit<SseFacts, 'firstDeltaAt'> & { sawDelta: boolean } {
  const { firstDeltaAt, ...rest } = f;
  return { ...rest, sawDelta: firstDeltaAt !== null };
}

/** The scanner learns `want` from `bytes` in one piece, one byte at a time, and cut anywhere. */
function sameFactsCutAnywhere(t: ExecutionContext, bytes: Uint8Array, want: ReturnType<typeof expected>): void {
  t.deepEqual(comparable(scan(bytes, [])), want, 'one piece');
  t.deepEqual(comparable(scan(bytes, Array.from({ length: bytes.length }, (_, i) => i))), want, 'one byte at a time');
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 1, max: bytes.length - 1 }), { maxLength: 40 }), (cuts) => {
      t.deepEqual(comparable(scan(bytes, cuts)), want);
    }),
    { numRuns: 150 },
  );
}

test('the SSE scanner learns the same facts from a body cut anywhere as from the whole text', async (t) => {
  const texts = await bodies();
  for (const text of texts) {
    const want = expected(text);
    t.truthy(want.usage, 'the body has usage');
    sameFactsCutAnywhere(t, new TextEncoder().encode(text), want);
  }
  t.truthy(expected(texts[2]!).error, 'one body has a mid-stream error');
});

for (const [name, eol] of [['CRLF', '\r\n'], ['CR alone', '\r']] as const) {
  test(`a body whose lines end with ${name} (as SSE allows, and a proxy may send) gives the same facts, cut anywhere`, async (t) => {
    for (const text of await bodies()) sameFactsCutAnywhere(t, new TextEncoder().encode(text.replaceAll('\n', eol)), expected(text));
  });
}

/**
 * The body's frames written with the other forms SSE allows, as a proxy may re-frame them: a
 * comment frame, and in each frame a comment and an `id:` line first, no space after `event:`,
 * and the JSON of `data:` over two lines (SSE joins them with a newline).
 */
function reframed(body: string): string {
  const frames = body.split('\n\n').filter((f) => f !== '');
  return `: keep-alive\n\n${frames.map((f, i) => `: via a proxy\nid: ${i}\n${f.replace(/^event: /m, 'event:').replace(/^data: (\{"type":"[a-z_]+",)/m, 'data:$1\ndata: ')}\n\n`).join('')}`;
}

test('frames in the other forms SSE allows (comments, id lines, no space after the colon, data over two lines) give the same facts, cut anywhere', async (t) => {
  for (const text of await bodies()) {
    const body = reframed(text);
    t.regex(body, /^event:message_start$/m);
    t.regex(body, /^data:\{"type":"message_start",\ndata: /m);
    sameFactsCutAnywhere(t, new TextEncoder().encode(body), expected(text));
  }
});

test('a stream whose lines end with \\n and, from some frame on, with \\r alone, or with \\r\\n and then every ending SSE allows mixed, cut anywhere, gives the same facts', async (t) => {
  const endings = ['\n', '\r\n', '\r'];
  for (const text of await bodies()) {
    const frames = text.split('\n\n').slice(0, -1).map((f) => `${f}\n\n`);
    fc.assert(
      fc.property(fc.integer({ min: 0, max: frames.length - 1 }), fc.array(fc.integer({ min: 0, max: 2 }), { minLength: 1, maxLength: 64 }), fc.array(fc.integer({ min: 1, max: text.length }), { maxLength: 30 }), fc.boolean(), (from, picks, cuts, bare) => {
        let k = 0;
        const pick = (): string => endings[picks[k++ % picks.length]!]!;
        const mixed = frames.map((frame, i) => {
          if (i < from) return frame;
          if (bare) return frame.replaceAll('\n', '\r');
          if (i === from) return frame.replaceAll('\n', '\r\n');
          // A blank line stays one: a `\r` then a `\n` would be a single line's end (`\r\n`).
          return frame.replace(/\n\n?/g, (m) => {
            const first = pick();
            if (m.length === 1) return first;
            const second = pick();
            return first + (first === '\r' && second === '\n' ? '\r\n' : second);
          });
        });
        const bytes = new TextEncoder().encode(mixed.join(''));
        t.deepEqual(comparable(scan(bytes, cuts.map((c) => Math.min(c, bytes.length - 1)))), expected(text));
      }),
      { numRuns: 150 },
    );
  }
});

test('what SSE would not read as a frame of the API is not taken for one, however the stream is cut: a longer name, a frame without data, a byte order mark past the stream\'s start', (t) => {
  const start = 'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_1","model":"m","usage":{"input_tokens":3}}}\n\n';
  const cases: [string, string, Partial<SseFacts>][] = [
    ['a name that only begins like content_block_delta', 'event: content_block_deltas\ndata: {}\n\n', { firstDeltaAt: null }],
    ['a message_stop with no data (the SDK skips it)', `${start}event: message_stop\n\n`, { messageId: 'msg_1', sawMessageStop: false }],
    ['a byte order mark at the start, dropped', `\uFEFF${start}event: message_stop\ndata: {}\n\n`, { messageId: 'msg_1', sawMessageStop: true }],
    ['a byte order mark before a later frame, part of its field name', `${start}event: ping\ndata: {}\n\n\uFEFFevent: message_stop\ndata: {}\n\n`, { messageId: 'msg_1', sawMessageStop: false }],
  ];
  for (const [what, body, want] of cases) {
    const bytes = new TextEncoder().encode(body);
    for (let cut = 0; cut < bytes.length; cut++) t.like(scan(bytes, cut === 0 ? [] : [cut]), want, `${what}, cut at ${cut}`);
    t.like(scan(bytes, Array.from({ length: bytes.length }, (_, i) => i)), want, `${what}, a byte at a time`);
  }
});

test('blank lines and carriage returns between frames are skipped', (t) => {
  const body = '\r\nevent: message_start\ndata: {"type":"message_start","message":{"id":"msg_1","model":"m","usage":{"input_tokens":3}}}\n\n\n\r\nevent: content_block_delta\ndata: {}\n\nevent: message_stop\ndata: {}\n\n';
  const facts = scan(new TextEncoder().encode(body), [1, 30, 130]);
  t.is(facts.messageId, 'msg_1');
  t.deepEqual(facts.usage, { input_tokens: 3 });
  t.not(facts.firstDeltaAt, null);
  t.true(facts.sawMessageStop);
});

/** How a proxy may re-frame a stream, as SSE allows: lines ended otherwise, fields written otherwise. */
const PROXIES: [string, (body: string) => string][] = [
  ['lines ending with CRLF', (body) => body.replaceAll('\n', '\r\n')],
  ['lines ending with CR alone', (body) => body.replaceAll('\n', '\r')],
  ['comments, id lines, no space after the colon and data over two lines', reframed],
];

for (const hook of ['instrument', 'clientOptions'] as const) for (const [name, reframe] of PROXIES) {
  test(`${hook}: a stream a proxy re-framed (${name}) is recorded with its usage, stop reason and first token, and the app reads it unchanged`, async (t) => {
    const s = await fakeApiAndEmitter(t);
    // The fake API's answer re-framed, and sent on in pieces of 7 bytes (frames and lines cut anywhere).
    const viaProxy = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
      const res = await fetch(input, init);
      if (!res.body) return res;
      const bytes = new TextEncoder().encode(reframe(await res.text()));
      const body = new ReadableStream<Uint8Array>({
        start(out) {
          for (let at = 0; at < bytes.length; at += 7) out.enqueue(bytes.slice(at, at + 7));
          out.close();
        },
      });
      return new Response(body, { status: res.status, headers: res.headers });
    };
    const options = { apiKey: 'k', baseURL: s.api.url, fetch: viaProxy };
    const client = hook === 'instrument' ? s.emitter.instrument(new Anthropic(options)) : new Anthropic({ ...options, ...s.emitter.clientOptions() });
    s.api.enqueue({ content: [{ type: 'text', text: 'one two three' }], usage: { input_tokens: 321, output_tokens: 7 }, stream: { messageDeltas: 2 } });
    const stream = await client.messages.create({ model: 'claude-haiku-4-5', max_tokens: 64, messages: [{ role: 'user', content: 'hi' }], stream: true });
    let text = '';
    for await (const e of stream) if (e.type === 'content_block_delta' && e.delta.type === 'text_delta') text += e.delta.text;
    t.is(text, 'one two three');
    await s.emitter.flush();
    const [call] = readEvents(s.dir).calls;
    t.like(call, { status: 'ok', complete: true, stop_reason: 'end_turn', usage: { input_tokens: 321, output_tokens: 7 } });
    t.not(call?.ttft_ms, null);
    t.truthy(call?.message_id);
  });
}
