/** Identifiers shaped like the API's: `req_011C…`, `msg_01…`, `toolu_01…`, `msgbatch_01…`. */
import { randomBytes } from 'node:crypto';

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

function base62(length: number): string {
  const bytes = randomBytes(length);
  let out = '';
  // 256 % 62 bias is irrelevant for fake ids.
  for (const b of bytes) out += BASE62[b % 62];
  return out;
}

export const requestId = (): string => `req_011C${base62(20)}`;
export const messageId = (): string => `msg_01${base62(22)}`;
export const toolUseId = (): string => `toolu_01${base62(22)}`;
export const batchId = (): string => `msgbatch_01${base62(22)}`;
/** A fake signature for thinking blocks (the API's is opaque base64). */
export const thinkingSignature = (): string => randomBytes(48).toString('base64');
