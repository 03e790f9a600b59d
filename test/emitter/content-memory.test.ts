// What an event with large redacted content holds in memory until it is written: about the
// content's own size, where the buffer cap counts it (it once took six times that).
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import test from 'ava';
import { BLOCK_BYTES } from '../../src/emitter/line-queue.js';

const CHILD = fileURLToPath(new URL('../fixtures/content-memory-child.ts', import.meta.url));

interface Measured {
  contentBytes: number;
  heldAtWrite: number;
  written: boolean;
}

async function measure(bytes: number, char: string): Promise<Measured> {
  // A process of its own: nothing else allocates between the measures.
  const { stdout } = await promisify(execFile)(process.execPath, ['--expose-gc', '--import=tsx', CHILD, String(bytes), char], { timeout: 60_000 });
  return JSON.parse(stdout) as Measured;
}

for (const [name, char] of [
  ['ASCII', 'x'],
  ['2-byte characters', 'ж'],
] as const) {
  test(`content of 3 MB of ${name} is encoded and written from one buffer of about its size`, async (t) => {
    const m = await measure(3_000_000, char);
    t.true(m.written);
    // The line (the content and ~64 KiB of room), and the writer's one pooled block. Room for
    // three bytes a character made it 6 times the content in ASCII, 3 times in 2-byte
    // characters, and the file's first write copied it once more behind the header.
    t.true(m.heldAtWrite < 1.5 * m.contentBytes + BLOCK_BYTES, `held ${m.heldAtWrite} bytes for ${m.contentBytes} bytes of content`);
  });
}
