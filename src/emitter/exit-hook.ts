/**
 * One `process.on('exit')` listener (and one for each terminating signal, see {@link SIGNALS})
 * shared by every emitter and open writer, added when the first registers and removed when
 * the last one leaves. Importing this module adds nothing: a
 * library must not leave listeners behind in a host that never used it.
 *
 * At exit, calls still in flight are ended first (each becomes an event, deferred to its
 * writer), then every writer, those the first phase opened included, writes what it holds.
 */

/** What the exit listener calls: must be synchronous, must not throw. */
export interface ExitFlushable {
  flushSync(): void;
}

/** Ends what is still in flight at exit, before any writer flushes: synchronous, never throws. */
interface ExitSettleable {
  settleAtExit(): void;
}

const settlers = new Set<ExitSettleable>();
const open = new Set<ExitFlushable>();
let installed = false;

function onExit(): void {
  for (const s of [...settlers]) {
    try {
      s.settleAtExit();
    } catch {
      // An exit listener that throws would replace the app's exit code with a crash.
    }
  }
  // Copy after the settlers ran (they may open a writer); flushSync() unregisters the writer
  // while we iterate.
  for (const writer of [...open]) {
    try {
      writer.flushSync();
    } catch {
      // As above.
    }
  }
}

/**
 * Signals that end a process without `exit` when it has no listener of its own (what
 * `docker stop`, Kubernetes and Ctrl-C send). The emitter's listener writes what it holds,
 * then, when it is the only listener, takes itself off and raises the signal again, so the
 * process ends as it would have; an app that listens for the signal itself decides (and its
 * later `exit` flushes again).
 */
const SIGNALS = process.platform === 'win32' ? (['SIGINT'] as const) : (['SIGTERM', 'SIGINT', 'SIGHUP'] as const);

function onSignal(signal: NodeJS.Signals): void {
  // Counted first: flushing takes the listener off when it leaves nothing to do at exit.
  const alone = appListenerCount(signal) === 0;
  onExit();
  if (alone) {
    if (installed) uninstall();
    process.kill(process.pid, signal);
  }
}

/** Marks the signal listeners of this module, in any copy of it a process loads. */
const RAISES_AGAIN = Symbol.for('claudescope.raisesSignalAgain');

/**
 * Listeners of `signal` that are the app's: not those that, like this one, raise the signal
 * again when no other listener is there. Those are another copy of claudescope's (marked) and
 * signal-exit's (loaded by execa, write-file-atomic, proper-lockfile and many more), which counts
 * its own in a global. Each would take the other for the app's, and neither raise the signal:
 * the process would no longer die of SIGTERM or Ctrl-C.
 */
function appListenerCount(signal: NodeJS.Signals): number {
  let count = 0;
  for (const listener of process.listeners(signal)) if ((listener as { [RAISES_AGAIN]?: true })[RAISES_AGAIN] !== true) count++;
  return count - signalExitListenerCount();
}

/** Listeners signal-exit has on each signal: v4 counts them in a global emitter, v3 on `process`. */
function signalExitListenerCount(): number {
  const v4 = (globalThis as { [key: symbol]: { count?: unknown } | undefined })[Symbol.for('signal-exit emitter')];
  const v3 = (process as { __signal_exit_emitter__?: { count?: unknown } }).__signal_exit_emitter__;
  return (typeof v4?.count === 'number' ? v4.count : 0) + (typeof v3?.count === 'number' ? v3.count : 0);
}

const signalListeners = new Map<NodeJS.Signals, () => void>(
  SIGNALS.map((signal) => [signal, Object.assign(() => onSignal(signal), { [RAISES_AGAIN]: true as const })]),
);

function install(): void {
  if (!installed) {
    process.on('exit', onExit);
    for (const [signal, listener] of signalListeners) process.on(signal, listener);
    installed = true;
  }
}

function uninstall(): void {
  process.removeListener('exit', onExit);
  for (const [signal, listener] of signalListeners) process.removeListener(signal, listener);
  installed = false;
}

function uninstallIfIdle(): void {
  if (installed && open.size === 0 && settlers.size === 0) uninstall();
}

/** Flush `writer` synchronously when the process exits. Idempotent. */
export function registerExitFlush(writer: ExitFlushable): void {
  open.add(writer);
  install();
}

/** Stop flushing `writer` on exit; removes the listener when nothing is left to do at exit. */
export function unregisterExitFlush(writer: ExitFlushable): void {
  open.delete(writer);
  uninstallIfIdle();
}

/** Let `settler` end its calls in flight when the process exits, before writers flush. Idempotent. */
function registerExitSettle(settler: ExitSettleable): void {
  settlers.add(settler);
  install();
}

/** The reverse of {@link registerExitSettle}. */
function unregisterExitSettle(settler: ExitSettleable): void {
  settlers.delete(settler);
  uninstallIfIdle();
}

/** Calls a set holds at most (far above any app's concurrency). */
const MAX_OPEN_CALLS = 100_000;

/** Where an item is in an {@link OpenAtExit}'s list: its index there, -1 while in none. */
export interface OpenSlot {
  openSlot: number;
}

/**
 * Calls begun and not ended yet, each ended by `endAtExit` if the process exits first; registered
 * for exit while it holds any. Bounded: were calls ever left unended (an emitter fault), it would
 * not grow past {@link MAX_OPEN_CALLS}.
 *
 * A list that knows each item's place (the last item moves into the place of one that leaves),
 * not a `Set`: a set a few calls at a time go in and out of is rebuilt whenever it shrinks to a
 * quarter of its room and again when it grows back, a new table each time.
 */
export class OpenAtExit<T extends OpenSlot> implements ExitSettleable {
  readonly #open: T[] = [];

  constructor(private readonly endAtExit: (item: T) => void) {}

  add(item: T): void {
    if (item.openSlot !== -1 || this.#open.length >= MAX_OPEN_CALLS) return;
    item.openSlot = this.#open.length;
    this.#open.push(item);
    if (this.#open.length === 1) registerExitSettle(this);
  }

  delete(item: T): void {
    const at = item.openSlot;
    if (at < 0 || this.#open[at] !== item) return;
    const last = this.#open.pop() as T;
    if (last !== item) {
      this.#open[at] = last;
      last.openSlot = at;
    }
    item.openSlot = -1;
    if (this.#open.length === 0) unregisterExitSettle(this);
  }

  /** How many items it holds. */
  get size(): number {
    return this.#open.length;
  }

  settleAtExit(): void {
    for (const item of [...this.#open]) this.endAtExit(item);
  }
}
