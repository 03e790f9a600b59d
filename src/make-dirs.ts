/**
 * `mkdir -p`, for the folders the emitter and the daemon make.
 *
 * Node 20's `mkdir(path, { recursive: true })` never returns on a file system that answers
 * ENOENT for a new folder whose parent exists (procfs does: `/proc/nope`): it makes the parent,
 * which exists, and tries the folder again, forever, in the calling thread (`mkdirSync`, so an
 * app that flushes its events at exit hangs) or in a thread-pool thread that never comes back.
 * These make each missing folder from the nearest existing one down, once, so such a path fails
 * with its ENOENT. As `recursive: true` does, they accept a folder that exists (or a link to
 * one), give every folder they make `mode` (less the umask), and fail with EEXIST where a file
 * stands in the way and ENOTDIR where one lies on the path.
 */
import { mkdirSync, statSync } from 'node:fs';
import { mkdir, stat } from 'node:fs/promises';
import { dirname } from 'node:path';

export function makeDirsSync(path: string, mode = 0o777): void {
  try {
    mkdirSync(path, { mode });
    return;
  } catch (err: unknown) {
    if (errCode(err) === 'EEXIST' && isDirSync(path)) return;
    const parent = dirname(path);
    if (errCode(err) !== 'ENOENT' || parent === path) throw err;
    makeDirsSync(parent, mode);
  }
  try {
    mkdirSync(path, { mode });
  } catch (err: unknown) {
    // Made meanwhile by another process.
    if (errCode(err) !== 'EEXIST' || !isDirSync(path)) throw err;
  }
}

export async function makeDirs(path: string, mode = 0o777): Promise<void> {
  try {
    await mkdir(path, { mode });
    return;
  } catch (err: unknown) {
    if (errCode(err) === 'EEXIST' && (await isDir(path))) return;
    const parent = dirname(path);
    if (errCode(err) !== 'ENOENT' || parent === path) throw err;
    await makeDirs(parent, mode);
  }
  try {
    await mkdir(path, { mode });
  } catch (err: unknown) {
    if (errCode(err) !== 'EEXIST' || !(await isDir(path))) throw err;
  }
}

function isDirSync(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

async function isDir(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}

function errCode(err: unknown): unknown {
  return (err as NodeJS.ErrnoException | null)?.code;
}
