/**
 * Who a file is, and whether the bytes already consumed are still the ones we consumed.
 *
 * Identity comes from the writer: the header's `file_id`. A file without a valid header falls
 * back to device + inode + a hash of its first line (at most 1 KiB), so an old offset is never
 * applied to a new file after inode reuse. The check hash covers the first KiB and the 256
 * bytes before a checkpoint: a truncated-and-rewritten or replaced file no longer matches.
 */
import { createHash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import type { FileHeader } from '../event/types.js';
import type { LineDecoder } from '../event/validate.js';

export const HEAD_BYTES = 1024;
export const TAIL_BYTES = 256;
/** Longest header line looked for. */
const FIRST_LINE_MAX_BYTES = 64 * 1024;

/** Hash of the head and of the tail before `offset`; '' for offset 0. */
export async function checkHash(fh: FileHandle, offset: number): Promise<string> {
  if (offset <= 0) return '';
  const headLen = Math.min(offset, HEAD_BYTES);
  const tailStart = Math.max(headLen, offset - TAIL_BYTES);
  const buf = Buffer.alloc(headLen + (offset - tailStart));
  const a = await fh.read(buf, 0, headLen, 0);
  const b = offset > tailStart ? await fh.read(buf, headLen, offset - tailStart, tailStart) : { bytesRead: 0 };
  const h = createHash('sha1').update(buf.subarray(0, a.bytesRead + b.bytesRead));
  return `${offset}:${h.digest('hex').slice(0, 24)}`;
}

export interface FileIdentity {
  key: string;
  header: FileHeader | null;
  /** Bytes of the first line, its newline included (the bytes that name the file). */
  firstLineBytes: number;
}

/**
 * Identifies a file from its first line; null while it has no complete first line yet.
 */
export async function identify(fh: FileHandle, st: Stats, decode: LineDecoder): Promise<FileIdentity | null> {
  const buf = Buffer.allocUnsafe(Math.min(FIRST_LINE_MAX_BYTES, Math.max(st.size, 1)));
  const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
  const view = buf.subarray(0, bytesRead);
  const nl = view.indexOf(0x0a);
  if (nl < 0 && bytesRead < FIRST_LINE_MAX_BYTES) return null;
  const firstLineEnd = nl < 0 ? bytesRead : nl;
  const firstLineBytes = nl < 0 ? bytesRead : nl + 1;
  if (nl >= 0) {
    const r = decode(view.toString('utf8', 0, nl));
    if (r.ok && r.line.t === 'header') return { key: r.line.file_id, header: r.line, firstLineBytes };
  }
  const hash = createHash('sha1').update(view.subarray(0, Math.min(firstLineEnd, HEAD_BYTES))).digest('hex').slice(0, 16);
  return { key: `ino:${st.dev}:${st.ino}:${hash}`, header: null, firstLineBytes };
}
