/**
 * Reads complete lines from a file by byte offset.
 *
 * Lines are bytes: the buffer is split on `\n` before any UTF-8 decoding, so offsets are
 * exact whatever the text. An unterminated last line is left unread (its writer is still
 * appending). A line longer than `maxLineBytes` is skipped to its newline, reading in chunks
 * so memory stays bounded, and reported by offset and length only.
 */
import type { FileHandle } from 'node:fs/promises';

/** Where a file is read. Mutated by {@link readRecords}. */
export interface ReaderPosition {
  /** End of the last complete record: the only place a checkpoint may point. */
  lineOffset: number;
  /** Where the next read starts; ahead of `lineOffset` only while skipping an oversize line. */
  cursor: number;
  /** Start of the oversize line being skipped, or null. */
  skipFrom: number | null;
}

export type LineRecord =
  /** A complete line: its text without `\n`; `end` is the offset just past its `\n`. */
  | { kind: 'line'; offset: number; end: number; text: string }
  /** A line over the size limit, skipped unread; `length` excludes the `\n`. */
  | { kind: 'oversize'; offset: number; end: number; length: number };

export interface LineReaderOptions {
  /** Bytes read per call. */
  chunkBytes: number;
  /** Longest line accepted, excluding `\n`. */
  maxLineBytes: number;
}

const NL = 0x0a;

/**
 * Reads the next chunk at `pos.cursor` and appends the complete records it holds to `out`.
 * `scratch` (at least `chunkBytes` long) is read into instead of a fresh buffer: records are
 * copied out as strings, so nothing refers to it once this returns, and a caller reading one
 * chunk at a time can reuse one buffer instead of allocating (and later collecting) a chunk
 * of memory outside the JS heap per read.
 * @returns bytes read (0 at end of file).
 */
export async function readRecords(fh: FileHandle, pos: ReaderPosition, opts: LineReaderOptions, out: LineRecord[], scratch?: Buffer): Promise<number> {
  const base = pos.cursor;
  let buf = scratch !== undefined && scratch.length >= opts.chunkBytes ? scratch.subarray(0, opts.chunkBytes) : Buffer.allocUnsafe(opts.chunkBytes);
  let { bytesRead: n } = await fh.read(buf, 0, buf.length, base);
  if (n === 0) return 0;

  if (pos.skipFrom !== null) {
    const nl = buf.subarray(0, n).indexOf(NL);
    if (nl < 0) {
      pos.cursor = base + n;
      return n;
    }
    const end = base + nl;
    out.push({ kind: 'oversize', offset: pos.skipFrom, end: end + 1, length: end - pos.skipFrom });
    pos.skipFrom = null;
    pos.cursor = pos.lineOffset = end + 1;
    return n;
  }

  let view = buf.subarray(0, n);
  // A full chunk without any newline may hold one long (but allowed) line: read it whole.
  if (n === buf.length && view.indexOf(NL) < 0 && buf.length <= opts.maxLineBytes) {
    buf = Buffer.allocUnsafe(opts.maxLineBytes + 1);
    n = (await fh.read(buf, 0, buf.length, base)).bytesRead;
    view = buf.subarray(0, n);
  }
  let start = 0;
  for (;;) {
    const nl = view.indexOf(NL, start);
    if (nl < 0) break;
    const len = nl - start;
    if (len > opts.maxLineBytes) out.push({ kind: 'oversize', offset: base + start, end: base + nl + 1, length: len });
    else if (len > 0) out.push({ kind: 'line', offset: base + start, end: base + nl + 1, text: view.toString('utf8', start, nl) });
    start = nl + 1;
  }
  pos.cursor = pos.lineOffset = base + start;
  if (n - start > opts.maxLineBytes) {
    // The unterminated rest is already too long: skip it to its newline, wherever that is.
    pos.skipFrom = base + start;
    pos.cursor = base + n;
  }
  return n;
}
