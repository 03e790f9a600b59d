/**
 * The InfluxDB sink's own checkpoints: how far each event file is acknowledged by InfluxDB.
 * A JSON file under `<home>/data/`, replaced atomically and durably on every save (write a
 * temporary file, fsync, rename, fsync the folder: the tailer rules, 4), so a crash leaves
 * either the old or the new checkpoints, never a torn file.
 */
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { Checkpoint, CheckpointSource } from '../tail/types.js';

export class InfluxCheckpointFile implements CheckpointSource {
  private readonly map = new Map<string, Checkpoint>();
  private loaded = false;

  /** @param path e.g. `<home>/data/influx-checkpoints.json` */
  constructor(readonly path: string) {}

  loadCheckpoints(): Checkpoint[] {
    if (!this.loaded) {
      this.loaded = true;
      let text: string | null = null;
      try {
        text = readFileSync(this.path, 'utf8');
      } catch (err: unknown) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
      if (text !== null) {
        const v = JSON.parse(text) as { v: number; checkpoints: Checkpoint[] };
        for (const c of v.checkpoints) this.map.set(c.fileKey, c);
      }
    }
    return [...this.map.values()];
  }

  /** Records checkpoints (after InfluxDB acknowledged their lines) and persists durably. */
  save(checkpoints: readonly Checkpoint[]): void {
    if (!this.loaded) this.loadCheckpoints();
    if (checkpoints.length === 0) return;
    for (const c of checkpoints) this.map.set(c.fileKey, { ...c });
    this.persist();
  }

  forgetCheckpoint(fileKey: string): void {
    if (this.map.delete(fileKey)) this.persist();
  }

  private persist(): void {
    const tmp = join(dirname(this.path), `.${basename(this.path)}.tmp`);
    const fd = openSync(tmp, 'w', 0o600);
    try {
      writeSync(fd, JSON.stringify({ v: 1, checkpoints: [...this.map.values()] }));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.path);
    try {
      const dfd = openSync(dirname(this.path), 'r');
      try {
        fsyncSync(dfd);
      } finally {
        closeSync(dfd);
      }
    } catch {
      // Some file systems refuse to fsync a folder; the rename is still atomic.
    }
  }
}

/**
 * Two sinks' checkpoints seen as one: a file resumes from the lower of the two offsets (a
 * file one sink has never acknowledged resumes from 0), so neither sink misses a line; the
 * one ahead ignores the replay (SQLite by event id, InfluxDB by overwriting the same point).
 */
export class LowerCheckpoints implements CheckpointSource {
  constructor(private readonly a: CheckpointSource, private readonly b: CheckpointSource) {}

  loadCheckpoints(): Checkpoint[] {
    const bs = new Map(this.b.loadCheckpoints().map((c) => [c.fileKey, c]));
    const out: Checkpoint[] = [];
    for (const ca of this.a.loadCheckpoints()) {
      const cb = bs.get(ca.fileKey);
      if (!cb) continue;
      out.push(cb.offset < ca.offset ? cb : ca);
    }
    return out;
  }

  forgetCheckpoint(fileKey: string): void {
    this.a.forgetCheckpoint(fileKey);
    this.b.forgetCheckpoint(fileKey);
  }
}
