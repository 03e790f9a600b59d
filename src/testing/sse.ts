/**
 * Writes Server-Sent Events the way the API does (`event: NAME\ndata: JSON\n\n`), with the
 * faults a client must survive: pacing, a connection cut after N events, an `event: error`
 * frame after N events. Counts the events actually written before the connection closed,
 * so a test can tell how much an app that abandons a stream made the server send.
 */
import type { ServerResponse } from 'node:http';

/** One SSE frame; `delayMs` is extra wait before it (on top of the stream's pacing). */
export interface SseFrame {
  event: string;
  data: unknown;
  delayMs?: number;
}

export interface SseWriteOptions {
  /** Wait before each event after the first, in ms. */
  eventDelayMs: number;
  /** Destroy the socket once this many events are written. */
  cutAfterEvents?: number | undefined;
  /** After this many events, write `errorFrame` and end. */
  errorAfterEvents?: number | undefined;
  errorFrame?: SseFrame | undefined;
  /** Aborted when the fake API closes. */
  signal: AbortSignal;
  /** Called after each event is handed to the socket, with the running count and the frame. */
  onEvent: (count: number, frame: SseFrame) => void;
  /** Called just before the socket is destroyed for a scripted cut. */
  onCut?: () => void;
}

/** How a stream ended. */
export type SseOutcome = 'completed' | 'client_closed' | 'cut' | 'stream_error';

export function formatFrame(frame: SseFrame): string {
  return `event: ${frame.event}\ndata: ${JSON.stringify(frame.data)}\n\n`;
}

/** Resolves after `ms`, or at once when `signal` aborts; never rejects. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (ms <= 0 || signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

/** Resolves when the response's connection closes (or the fake stops). */
function closed(res: ServerResponse, signal: AbortSignal): { promise: Promise<void>; isClosed: () => boolean } {
  let isClosed = res.destroyed || signal.aborted;
  const promise = new Promise<void>((resolve) => {
    const done = (): void => {
      isClosed = true;
      // Each stream adds one listener to the server-wide stop signal: remove it, or a
      // long-running fake would leak one per stream.
      signal.removeEventListener('abort', done);
      res.off('close', done);
      resolve();
    };
    if (isClosed) return done();
    res.once('close', done);
    signal.addEventListener('abort', done, { once: true });
  });
  return { promise, isClosed: () => isClosed };
}

/** Writes one chunk and waits until it reached the socket (or the connection closed). */
function writeFlushed(res: ServerResponse, chunk: string, closing: Promise<void>): Promise<void> {
  return Promise.race([new Promise<void>((resolve) => res.write(chunk, () => resolve())), closing]);
}

/**
 * Writes `frames` to `res` (whose headers the caller has set) and resolves with how the
 * stream ended. Never throws: a client that goes away is an outcome, not an error.
 */
export async function writeSse(res: ServerResponse, frames: readonly SseFrame[], opts: SseWriteOptions): Promise<SseOutcome> {
  const close = closed(res, opts.signal);
  // A stopped stream (the client aborted) must stop its timers too.
  const pacing = new AbortController();
  void close.promise.then(() => pacing.abort());
  let written = 0;
  const emit = async (frame: SseFrame): Promise<void> => {
    // Wait for each frame to reach the socket: the count then means "sent", and a cut after
    // N events really delivers those N before the socket is destroyed.
    await writeFlushed(res, formatFrame(frame), close.promise);
    if (close.isClosed()) return;
    written++;
    opts.onEvent(written, frame);
  };

  // A fault placed at or past the end still comes before `message_stop`: the point of a cut
  // or an error frame is a stream that never finished.
  const last = Math.max(0, frames.length - 1);
  const errorAt = opts.errorAfterEvents !== undefined && opts.errorFrame ? Math.min(opts.errorAfterEvents, last) : undefined;
  const cutAt = opts.cutAfterEvents !== undefined ? Math.min(opts.cutAfterEvents, last) : undefined;
  for (const frame of frames) {
    if (close.isClosed()) return 'client_closed';
    if (errorAt !== undefined && written >= errorAt && opts.errorFrame) {
      await sleep(written > 0 ? opts.eventDelayMs : 0, pacing.signal);
      await emit(opts.errorFrame);
      if (close.isClosed()) return 'client_closed';
      res.end();
      return 'stream_error';
    }
    if (cutAt !== undefined && written >= cutAt) {
      opts.onCut?.();
      res.socket?.destroy();
      return 'cut';
    }
    const wait = (written > 0 ? opts.eventDelayMs : 0) + (frame.delayMs ?? 0);
    await sleep(wait, pacing.signal);
    if (close.isClosed()) return 'client_closed';
    await emit(frame);
  }
  if (close.isClosed()) return 'client_closed';
  res.end();
  return 'completed';
}
