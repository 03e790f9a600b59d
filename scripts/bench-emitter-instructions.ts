/**
 * `npm run bench:emitter-instructions`: what the emitter costs per call in instructions, counted
 * by valgrind's callgrind (Debian's valgrind package). Far steadier than CPU time on a shared VM
 * (±15-25 µs a call), yet not exact: two runs of one build differed by 1 % for the no-op
 * middleware and by 15-20k instructions (~15 %) for the emitter (where the JIT tiers up, random
 * ids), so compare builds over two runs each or more. Not time either: instructions weigh a
 * cache miss or a GC pause as little as an add, so compare builds of code alike in kind.
 *
 * The emitter's middleware is driven as the SDK drives it (scripts/emitter-harness.ts) under
 * `node --single-threaded` (compilation and GC on the main thread, at points fixed by the
 * code), for `a` and `b` calls after a warm-up; the difference over `b - a` calls is the cost
 * of one; the JIT compiler's share (a warm-up's tail) and the garbage collector's (which comes
 * in chunks, a full collection every few thousand calls) are printed apart. The same for a
 * no-op middleware gives the floor; the emitter's own cost is the difference. Prints numbers.
 *
 * With VIA=sdk the calls go through the real SDK (its `fetch` answering from memory), and the
 * SDK without middleware (`bare`) is counted too: the emitter's instructions against a whole
 * call's, which the goal is stated against. About three times as long.
 *
 * Run: npm run build && [VIA=sdk] node dist/scripts/bench-emitter-instructions.js [warm=4000] [a=2000] [b=6000]
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const [warm = '4000', a = '2000', b = '6000'] = process.argv.slice(2);
const VIA = process.env['VIA'] === 'sdk' ? 'sdk' : 'middleware';
const HARNESS = fileURLToPath(new URL('./emitter-harness.js', import.meta.url));
const out = mkdtempSync(join(tmpdir(), 'claudescope-callgrind-'));

/** V8's garbage collector: its work comes in chunks (a full collection every few thousand calls), set apart. */
const GC = /v8::internal::(Heap|MarkCompact|Marking|MainMarking|ConcurrentMarking|Scaveng|Sweep|Evacuat|RecordMigratedSlot|MinorMarkCompact|RememberedSet|SlotSet|LiveObjectRange|BodyDescriptorBase|PagedSpace|NewSpace|SemiSpace|EphemeronHashTable)|heap::base::|Builtins_RecordWrite/;

/** Instructions of one run: all, and those of V8's optimizing compiler and of its garbage collector. */
function count(variant: string, calls: string): { all: number; compiler: number; gc: number } {
  const file = join(out, `${variant}.${calls}.out`);
  const r = spawnSync('valgrind', ['--tool=callgrind', `--callgrind-out-file=${file}`, process.execPath, '--single-threaded', HARNESS, variant, warm, calls, VIA], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`valgrind ${variant} ${calls} failed (is Debian's valgrind installed?): ${r.stderr.slice(-500)}`);
  const text = execFileSync('callgrind_annotate', ['--threshold=100', file], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  let all = 0;
  let compiler = 0;
  let gc = 0;
  for (const line of text.split('\n')) {
    const m = /^\s*([\d,]+)\s+\([^)]*\)\s+(.*)$/.exec(line);
    if (!m || m[2]!.includes('PROGRAM TOTALS')) continue;
    const n = Number(m[1]!.replaceAll(',', ''));
    all += n;
    if (/v8::internal::compiler::|v8::internal::maglev::|Turbofan|Pipeline/.test(m[2]!)) compiler += n;
    else if (GC.test(m[2]!)) gc += n;
  }
  return { all, compiler, gc };
}

try {
  const calls = Number(b) - Number(a);
  const perCall: Record<string, { code: number; gc: number; compiler: number }> = {};
  const f = (n: number): string => Math.round(n).toLocaleString('en');
  console.log(VIA === 'sdk' ? 'through the SDK (messages.create, fetch answering from memory):' : 'the middleware driven as the SDK drives it (no SDK):');
  for (const variant of VIA === 'sdk' ? ['bare', 'noop', 'emitter'] : ['noop', 'emitter']) {
    const [x, y] = [count(variant, a), count(variant, b)];
    const d = (k: 'all' | 'compiler' | 'gc'): number => (y[k] - x[k]) / calls;
    perCall[variant] = { code: d('all') - d('compiler') - d('gc'), gc: d('gc'), compiler: d('compiler') };
    console.log(`${variant.padEnd(8)} ${f(perCall[variant]!.code)} instructions a call, plus ${f(perCall[variant]!.gc)} of garbage collection and ${f(perCall[variant]!.compiler)} of JIT compilation (warm-up ${warm}, calls ${a} → ${b})`);
  }
  const own = perCall['emitter']!.code - perCall['noop']!.code;
  const ownGc = perCall['emitter']!.gc - perCall['noop']!.gc;
  console.log(`the emitter's own cost: ${f(own)} instructions a call (${((own / perCall['noop']!.code) * 100).toFixed(1)} % of the no-op middleware's call), plus ${f(ownGc)} of garbage collection (in chunks: compare it over longer runs)`);
  const bare = perCall['bare'];
  if (bare) {
    const over = perCall['emitter']!.code - bare.code;
    console.log(`the emitter over the bare SDK: ${f(over)} instructions a call, ${((over / bare.code) * 100).toFixed(1)} % of a bare call's ${f(bare.code)} (garbage collection apart)`);
  }
} finally {
  rmSync(out, { recursive: true, force: true });
}
