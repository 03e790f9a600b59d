/**
 * One `process.on('exit')` listener shared by every open writer, added when the first
 * writer opens a file and removed when the last one closes. Importing this module adds
 * nothing: a library must not leave listeners behind in a host that never used it.
 */

/** What the exit listener calls: must be synchronous, must not throw. */
export interface ExitFlushable {
  flushSync(): void;
}

const open = new Set<ExitFlushable>();
let installed = false;

function onExit(): void {
  // Copy: flushSync() unregisters the writer while we iterate.
  for (const writer of [...open]) {
    try {
      writer.flushSync();
    } catch {
      // An exit listener that throws would replace the app's exit code with a crash.
    }
  }
}

/** Flush `writer` synchronously when the process exits. Idempotent. */
export function registerExitFlush(writer: ExitFlushable): void {
  open.add(writer);
  if (!installed) {
    process.on('exit', onExit);
    installed = true;
  }
}

/** Stop flushing `writer` on exit; removes the listener when no writer is left. */
export function unregisterExitFlush(writer: ExitFlushable): void {
  open.delete(writer);
  if (installed && open.size === 0) {
    process.removeListener('exit', onExit);
    installed = false;
  }
}
