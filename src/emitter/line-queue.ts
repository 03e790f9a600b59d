/**
 * The event writer's buffer: lines waiting for the disk, already encoded as UTF-8 in blocks
 * of bytes. A call event is encoded in place ({@link LineQueue.openLine}); a stats line is a
 * string encoded when it is buffered ({@link LineQueue.stage}), so it dies young (a string
 * kept until its write survives scavenges and is copied by the GC). A write needs no join or
 * encoding: it is one block, or a copy of a few into one buffer.
 *
 * Sizes are exact UTF-8 bytes, newline included: the caps and rotation count what lands on
 * disk.
 */
import type { JsonBytes } from './call-event-json.js';
import { MAX_WRITE_BYTES } from './writer-options.js';

/**
 * A block's size; a longer line gets a block of its own size. As large as one write, so that
 * under load a write is one block as it is: with 64 KiB blocks, gathering them into one
 * buffer per write (an allocation and a copy of every line) cost ~10 % of the writer's
 * events/s in scripts/bench-writer.ts. Only the pages a block's lines touch take memory.
 */
export const BLOCK_BYTES = MAX_WRITE_BYTES;
/**
 * Written blocks kept for reuse; the rest are left to the GC. Under load two circulate (one
 * being written, one being filled), but a write that ends with no line arrived meanwhile hands
 * its block back while the other still waits here: with one kept, that block was dropped and
 * the next write that overlapped new lines took a new one. 44,000 calls through the SDK then
 * allocated ~310 blocks of 1 MiB, and V8 counts each as external memory: 9 full collections,
 * against 4 with two kept (scripts/emitter-harness.ts through the SDK; a no-op middleware has 3).
 * A closed writer keeps none.
 */
const FREE_BLOCKS = 2;
const NEWLINE = 0x0a;
/**
 * Free bytes a block needs for a line to begin in it; a line that outgrows them moves (a
 * copy), so this is above a usual call event (~1.5 KB).
 */
const MIN_LINE_ROOM = 4 * 1024;

/** Encoded lines in one buffer: bytes `[0, end)` are committed lines, past `end` scratch. */
interface Block {
  readonly buf: Buffer;
  end: number;
  lines: number;
  /** Call events among those lines (the rest are stats lines). */
  events: number;
}

/**
 * Blocks of {@link BLOCK_BYTES} kept once written, shared by one writer's queues. A block
 * returns here only when no write can still read it.
 */
export class BlockPool {
  #free: Buffer[] = [];

  /** A block holding at least `bytes`. */
  get(bytes: number): Buffer {
    if (bytes > BLOCK_BYTES) return Buffer.allocUnsafeSlow(bytes);
    return this.#free.pop() ?? Buffer.allocUnsafeSlow(BLOCK_BYTES);
  }

  put(buf: Buffer): void {
    if (buf.length === BLOCK_BYTES && this.#free.length < FREE_BLOCKS) this.#free.push(buf);
  }

  /** Lets every kept block go (an idle writer holds no memory). */
  clear(): void {
    this.#free = [];
  }
}

/** Lines taken from a queue for one write. */
export interface TakenLines {
  /** The prefix, then the lines, each ending in `\n`. */
  readonly buf: Buffer;
  readonly lines: number;
  readonly events: number;
  /** Bytes of lines (prefix excluded), as counted when they were committed. */
  readonly bytes: number;
  /** The block `buf` is a view of: back to the pool once the write is done with it. */
  readonly block: Buffer | null;
}

/**
 * Lines of one file waiting for the disk, oldest first. A line is staged (encoded past the
 * last committed byte), then committed once the caller's caps accept it, or abandoned by
 * staging the next one over it.
 *
 * @example
 * queue.openLine(out);
 * encoder.encode(out, event, seq);
 * const bytes = queue.closeLine(out);
 * if (bytes <= room) queue.commit(bytes, 1);
 */
export class LineQueue {
  readonly #pool: BlockPool;
  #blocks: Block[] = [];
  /** Committed bytes not yet taken. */
  bytes = 0;

  constructor(pool: BlockPool) {
    this.#pool = pool;
  }

  /**
   * Encodes `line` and a newline after the last committed line, without committing it, and
   * returns their size in bytes. Only the next {@link commit} keeps them.
   */
  stage(line: string): number {
    const tail = this.#blocks[this.#blocks.length - 1];
    if (tail !== undefined) {
      const room = tail.buf.length - tail.end;
      // A UTF-16 unit takes at most 3 bytes (a surrogate pair 4 for 2 units).
      if (line.length * 3 < room) return encode(tail.buf, tail.end, line);
      if (line.length < room) {
        // May fit: write() stops before a character that does not. Short by less than 4
        // bytes of the room means it may have stopped early; the exact size tells.
        const n = tail.buf.write(line, tail.end, room - 1, 'utf8');
        if (n <= room - 5 || n === Buffer.byteLength(line, 'utf8')) {
          tail.buf[tail.end + n] = NEWLINE;
          return n + 1;
        }
      }
      if (tail.end === 0) {
        // No line in it yet (a line staged there was not kept): swap it for a larger one.
        this.#blocks.pop();
        this.#pool.put(tail.buf);
      }
    }
    const block: Block = { buf: this.#pool.get(Buffer.byteLength(line, 'utf8') + 1), end: 0, lines: 0, events: 0 };
    this.#blocks.push(block);
    return encode(block.buf, 0, line);
  }

  /**
   * Starts a line encoded in place by `out`: at the free end of the last block, or in a new
   * block when less than {@link MIN_LINE_ROOM} is free. {@link closeLine} ends it.
   */
  openLine(out: JsonBytes): void {
    const tail = this.#blocks[this.#blocks.length - 1];
    if (tail !== undefined && tail.buf.length - tail.end >= MIN_LINE_ROOM) {
      out.begin(tail.buf, tail.end);
      return;
    }
    const block: Block = { buf: this.#pool.get(BLOCK_BYTES), end: 0, lines: 0, events: 0 };
    this.#blocks.push(block);
    out.begin(block.buf, 0);
  }

  /**
   * Ends the line `out` encoded since {@link openLine} with its newline, staged like
   * {@link stage}; returns its size in bytes.
   */
  closeLine(out: JsonBytes): number {
    out.byte(NEWLINE);
    const tail = this.#blocks[this.#blocks.length - 1] as Block;
    if (out.buf !== tail.buf) {
      // The line outgrew the block's free end and moved to a buffer of its own.
      if (tail.end === 0) {
        this.#blocks.pop();
        this.#pool.put(tail.buf);
      }
      this.#blocks.push({ buf: out.buf, end: 0, lines: 0, events: 0 });
    }
    return out.pos - out.start;
  }

  /** Keeps the line last staged, of `bytes` bytes; `events` is 1 for a call event, 0 for a stats line. */
  commit(bytes: number, events: number): void {
    const tail = this.#blocks[this.#blocks.length - 1] as Block;
    tail.end += bytes;
    tail.lines++;
    tail.events += events;
    this.bytes += bytes;
  }

  /**
   * Takes the oldest lines for one write: whole blocks, at least one, more while the total
   * stays within `maxBytes`, after `prefix` (a torn fragment's terminator, the header); or
   * `prefix` alone when the first block would take it past `maxBytes`.
   */
  take(maxBytes: number, prefix: string): TakenLines {
    const first = this.#blocks[0];
    if (prefix !== '' && first !== undefined && first.end + Buffer.byteLength(prefix, 'utf8') > maxBytes) {
      // The prefix goes alone, and the block with the next write as it is: joined, a long line
      // (large redacted content, up to half the buffer cap) would be copied whole for one write.
      return { buf: Buffer.from(prefix, 'utf8'), lines: 0, events: 0, bytes: 0, block: null };
    }
    let n = 0;
    let bytes = 0;
    let lines = 0;
    let events = 0;
    for (const b of this.#blocks) {
      if (n > 0 && bytes + b.end > maxBytes) break;
      bytes += b.end;
      lines += b.lines;
      events += b.events;
      n++;
    }
    const taken = this.#blocks.splice(0, n);
    this.bytes -= bytes;
    const only = taken[0];
    if (prefix === '' && n === 1 && only !== undefined) {
      // One block (a timer's flush of a few lines, a long line): written as it is, back to
      // the pool after the write. Under load a write gathers several, copied into one.
      return { buf: only.buf.subarray(0, only.end), lines, events, bytes, block: only.buf };
    }
    const prefixBytes = Buffer.byteLength(prefix, 'utf8');
    const buf = Buffer.allocUnsafe(prefixBytes + bytes);
    let off = buf.write(prefix, 0, 'utf8');
    for (const b of taken) {
      off += b.buf.copy(buf, off, 0, b.end);
      this.#pool.put(b.buf);
    }
    return { buf, lines, events, bytes, block: null };
  }

  /** Forgets every line; returns how many call events and bytes that was. */
  drop(): { events: number; bytes: number } {
    let events = 0;
    for (const b of this.#blocks) {
      events += b.events;
      this.#pool.put(b.buf);
    }
    const bytes = this.bytes;
    this.#blocks = [];
    this.bytes = 0;
    return { events, bytes };
  }
}

function encode(buf: Buffer, at: number, line: string): number {
  const n = buf.write(line, at, 'utf8');
  buf[at + n] = NEWLINE;
  return n + 1;
}
