/**
 * The calls in flight that the process's exit ends: exactly those added and not deleted since,
 * whatever the order they come and go in, each once.
 */
import test from 'ava';
import { OpenAtExit } from '../../src/emitter/exit-hook.js';

interface Item {
  id: number;
  openSlot: number;
}

/** A deterministic stream of numbers in [0, 1), so a failure replays. */
function random(seed: number): () => number {
  let s = seed;
  return () => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
}

test('ended at exit: exactly the items added and not deleted, in any order of comings and goings', (t) => {
  for (let seed = 1; seed <= 20; seed++) {
    const next = random(seed);
    const ended: number[] = [];
    const open = new OpenAtExit<Item>((item) => ended.push(item.id));
    const items: Item[] = Array.from({ length: 40 }, (_, id) => ({ id, openSlot: -1 }));
    const expected = new Set<number>();
    for (let step = 0; step < 2000; step++) {
      const item = items[Math.floor(next() * items.length)]!;
      if (next() < 0.5) {
        open.add(item);
        expected.add(item.id);
      } else {
        open.delete(item);
        expected.delete(item.id);
      }
      t.is(open.size, expected.size);
    }
    open.settleAtExit();
    t.deepEqual(ended.sort((a, b) => a - b), [...expected].sort((a, b) => a - b), `seed ${seed}`);
    for (const item of items) if (!expected.has(item.id)) t.is(item.openSlot, -1);
    for (const item of items) open.delete(item);
    t.is(open.size, 0);
  }
});

test('an item added twice is held once, and one another list holds is neither taken nor let go by this one', (t) => {
  const ended: number[] = [];
  const a = new OpenAtExit<Item>((item) => ended.push(item.id));
  const b = new OpenAtExit<Item>(() => t.fail('b holds nothing'));
  const x = { id: 1, openSlot: -1 };
  const y = { id: 2, openSlot: -1 };
  a.add(x);
  a.add(x);
  a.add(y);
  t.is(a.size, 2);
  b.add(x);
  b.delete(y);
  t.is(b.size, 0);
  t.is(a.size, 2);
  a.settleAtExit();
  t.deepEqual(ended, [1, 2]);
  a.delete(x);
  a.delete(y);
});
