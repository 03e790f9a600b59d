/**
 * One daemon owns a data folder: an O_EXCL lock file holding the owner's pid.
 *
 * A lock left by a dead process (SIGKILL, power loss) is stale: it is taken over, so a crash
 * never needs manual cleanup. A live owner makes a second daemon fail with a clear error.
 */
import { openSync, writeSync, closeSync, readFileSync, unlinkSync } from 'node:fs';

export class DataDirLockedError extends Error {
  readonly code = 'E_DATA_DIR_LOCKED';
  constructor(readonly lockPath: string, readonly ownerPid: number) {
    super(`another claudescope daemon (pid ${ownerPid}) owns this data folder (lock ${lockPath}); stop it first`);
    this.name = 'DataDirLockedError';
  }
}

export interface DataDirLock {
  readonly path: string;
  release(): void;
}

/** True when a process with this pid exists (EPERM means it exists but is not ours). */
export function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err: unknown) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Takes the lock or throws {@link DataDirLockedError}. */
export function acquireLock(path: string): DataDirLock {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, 'wx', 0o600);
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      let released = false;
      return {
        path,
        release() {
          if (released) return;
          released = true;
          try {
            if (Number(readFileSync(path, 'utf8').trim()) === process.pid) unlinkSync(path);
          } catch {
            // already gone
          }
        },
      };
    } catch (err: unknown) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      let owner = NaN;
      try {
        owner = Number(readFileSync(path, 'utf8').trim());
      } catch {
        // removed between open and read: retry
      }
      if (owner === process.pid || pidAlive(owner)) throw new DataDirLockedError(path, owner);
      try {
        unlinkSync(path); // stale: its owner is dead
      } catch {
        // someone else removed it first; retry
      }
    }
  }
  throw new DataDirLockedError(path, NaN);
}
